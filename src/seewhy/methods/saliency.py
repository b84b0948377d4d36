"""Vanilla gradients (Simonyan et al., ICLR workshop 2014, https://arxiv.org/abs/1312.6034).

The attribution of ``saliency`` is the absolute gradient of the score with respect to the
input, as Captum's ``Saliency(abs=True)``; its map is the paper's image-specific class
saliency

.. math:: M_{ij} = \\max_c \\left| \\frac{\\partial S}{\\partial x_{c,i,j}} \\right|

``gradient`` keeps the sign: attribution ``dS/dx`` and map ``sum_c dS/dx_c`` (the change of
S when the pixel brightens in every channel at once), drawn with a diverging colormap.
"""

from __future__ import annotations

from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_input_gradients
from seewhy.methods.ops import max_abs_over_channels, sum_over_channels
from seewhy.methods.registry import register


@register("saliency", family="input", input_rule="normal", display="abs")
def saliency(inputs: InputGradientInputs) -> InputAttribution:
    """Saliency: |dS/dx|, map max over channels (Simonyan 2014)."""
    gradients = require_input_gradients(inputs, "normal", "saliency")
    return InputAttribution(gradients.abs(), max_abs_over_channels(gradients))


@register("gradient", family="input", input_rule="normal", display="signed")
def gradient(inputs: InputGradientInputs) -> InputAttribution:
    """Signed input gradient dS/dx, map summed over channels."""
    attribution = require_input_gradients(inputs, "normal", "gradient")
    return InputAttribution(attribution, sum_over_channels(attribution))
