"""Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391).

.. math::
    \\alpha^c_k = \\frac{1}{Z} \\sum_{i,j} \\frac{\\partial S_c}{\\partial A^k_{ij}}, \\qquad
    L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha^c_k A^k\\Big)

With negated gradients (``counterfactual=True``) it shows the regions that argue against c.
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs, require_gradients
from seewhy.methods.ops import maybe_relu, weighted_sum
from seewhy.methods.registry import register


@register("gradcam")
def gradcam(inputs: CamInputs, relu: bool = True) -> torch.Tensor:
    """Grad-CAM: channels weighted by their spatially averaged gradient."""
    gradients = require_gradients(inputs, "gradcam")
    weights = gradients.mean(dim=(-2, -1))
    return maybe_relu(weighted_sum(weights, inputs.activations), relu)
