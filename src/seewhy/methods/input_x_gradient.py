"""Input x gradient (Shrikumar et al., 2016, https://arxiv.org/abs/1605.01713).

.. math:: a_{c,i,j} = x_{c,i,j} \\, \\frac{\\partial S}{\\partial x_{c,i,j}}, \\qquad
    M_{ij} = \\sum_c a_{c,i,j}

The first-order Taylor contribution of each input value (a zero baseline), as Captum's
``InputXGradient``. The map sums the signed contributions over channels.
"""

from __future__ import annotations

from seewhy.methods.contract import InputAttribution, InputGradientInputs, require_input_gradients
from seewhy.methods.ops import sum_over_channels
from seewhy.methods.registry import register


@register("input_x_gradient", family="input", input_rule="normal", display="signed")
def input_x_gradient(inputs: InputGradientInputs) -> InputAttribution:
    """Input x gradient: x * dS/dx, map summed over channels (signed)."""
    gradients = require_input_gradients(inputs, "normal", "input_x_gradient")
    attribution = inputs.inputs.unsqueeze(1) * gradients
    return InputAttribution(attribution, sum_over_channels(attribution))
