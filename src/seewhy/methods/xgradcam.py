"""XGrad-CAM (Fu et al., BMVC 2020, https://arxiv.org/abs/2008.02312).

.. math::
    w^c_k = \\frac{\\sum_{i,j} g_{ij}^k A^k_{ij}}{\\sum_{i,j} A^k_{ij} + \\epsilon}, \\qquad
    L^c = \\mathrm{ReLU}\\Big(\\sum_k w^c_k A^k\\Big)

``eps`` (default 1e-7, as pytorch-grad-cam) only guards channels whose activations sum to 0.
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs, require_gradients
from seewhy.methods.ops import maybe_relu, weighted_sum
from seewhy.methods.registry import register


@register("xgradcam")
def xgradcam(inputs: CamInputs, relu: bool = True, eps: float = 1e-7) -> torch.Tensor:
    """XGrad-CAM: gradients weighted by the normalized activations (axiom-based)."""
    gradients = require_gradients(inputs, "xgradcam")
    activations = inputs.activations
    sums = activations.sum(dim=(-2, -1)).unsqueeze(1) + eps  # (B, 1, K)
    products = torch.mul(gradients, activations.unsqueeze(1), out=inputs.workspace)
    weights = products.sum(dim=(-2, -1)) / sums
    return maybe_relu(weighted_sum(weights, activations), relu)
