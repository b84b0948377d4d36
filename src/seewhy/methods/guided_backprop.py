"""Guided backpropagation (Springenberg et al., ICLR workshop 2015,
https://arxiv.org/abs/1412.6806) and the deconvnet (Zeiler & Fergus, ECCV 2014,
https://arxiv.org/abs/1311.2901): input gradients with a modified backward rule at every ReLU.

With ``x`` the ReLU's forward input and ``g`` the gradient arriving from above:

.. math::
    \\text{backprop: } g \\cdot [x > 0], \\qquad
    \\text{deconvnet: } g \\cdot [g > 0], \\qquad
    \\text{guided: } g \\cdot [x > 0] \\cdot [g > 0]

The engine applies the rule to every ``nn.ReLU`` module (in-place or not) for the backward
pass of these methods only, and restores the model afterwards. ReLUs called as functions in
the model's ``forward`` (``F.relu``, ``torch.relu``) keep their normal gradient, as in
Captum's ``GuidedBackprop`` and ``Deconvolution``; so do other activations (ReLU6, GELU...).

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
