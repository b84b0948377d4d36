"""Guided backpropagation (Springenberg et al., ICLR workshop 2015,
https://arxiv.org/abs/1412.6806) and the deconvnet (Zeiler & Fergus, ECCV 2014,
https://arxiv.org/abs/1311.2901): input gradients with a modified backward rule at every
activation.

With ``x`` an activation's forward input, ``f'(x)`` its local gradient and ``g`` the gradient
arriving from above:

.. math::
    \\text{backprop: } f'(x)\\, g, \\qquad
    \\text{deconvnet: } g \\cdot [g > 0], \\qquad
    \\text{guided: } \\max(f'(x), 0)\\, g \\cdot [g > 0]

For ReLU, ``f'(x) = [x > 0]``: the papers' rules. The same rules hold for ReLU6
(``[0 < x < 6]``), LeakyReLU, ELU, SiLU, GELU, Hardswish and Mish, torch.nn's and timm's
classes; where the local gradient is negative (SiLU, GELU, Mish for some ``x < 0``) the guided
rule passes nothing, so a guided signal never changes sign
(:data:`~seewhy.methods.contract.BACKWARD_RULES`). The engine applies the rule to every such
module (in-place or not) for the backward pass of these methods only, and restores the model
afterwards. Activations called as functions in a ``forward`` (``F.relu(x, inplace=True)`` in
torchvision's GoogLeNet and Inception3, ``torch.relu``, ``x.relu_()``, ``F.relu6``,
``F.hardtanh(x, 0, 6)``, ``F.leaky_relu``, ``F.elu``, ``F.silu``, ``F.gelu``,
``F.hardswish``, ``F.mish``) follow the same rule as their modules
(:mod:`~seewhy.engine.ruled_calls`), where Captum's ``GuidedBackprop`` and ``Deconvolution``
rule ``nn.ReLU`` modules only. A model whose forward runs no supported activation gets a
warning naming its activation modules.

Maps: the maximum over channels of the absolute attribution, as for saliency; the figure
draws the attribution itself as an RGB gradient image, as the papers do.
"""

from __future__ import annotations

from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_input_gradients
from seewhy.methods.ops import max_abs_over_channels
from seewhy.methods.registry import register


@register("guided_backprop", family="input", input_rule="guided", display="rgb")
def guided_backprop(inputs: InputGradientInputs) -> InputAttribution:
    """Guided backpropagation: ReLUs pass only positive gradients of active units (Springenberg 2015)."""
    attribution = require_input_gradients(inputs, "guided", "guided_backprop")
    return InputAttribution(attribution, max_abs_over_channels(attribution))


@register("deconvnet", family="input", input_rule="deconv", display="rgb")
def deconvnet(inputs: InputGradientInputs) -> InputAttribution:
    """Deconvnet: ReLUs pass only positive gradients, whatever the forward input (Zeiler 2014)."""
    attribution = require_input_gradients(inputs, "deconv", "deconvnet")
    return InputAttribution(attribution, max_abs_over_channels(attribution))
