"""Grad-CAM++ (Chattopadhay et al., WACV 2018, https://arxiv.org/abs/1710.11063).

With ``Y = exp(S)`` the higher derivatives are powers of ``g = dS/dA`` and eq. 19 reads

.. math::
    \\alpha^{kc}_{ij} = \\frac{g_{ij}^2}{2 g_{ij}^2 + \\sum_{a,b} A^k_{ab}\\, g_{ij}^3}, \\qquad
    w^c_k = \\sum_{i,j} \\alpha^{kc}_{ij} \\mathrm{ReLU}(g_{ij}), \\qquad
    L^c = \\mathrm{ReLU}\\Big(\\sum_k w^c_k A^k\\Big)

This is the paper's closed form: alpha is 0 where the denominator is 0 and no epsilon is
added. pytorch-grad-cam adds 1e-6 to the denominator, and torchcam 0.5 sums
``A_ab * g_ab^3`` position by position; both differ from the paper where gradients are small.
"""

from __future__ import annotations

import torch

from seewhy.methods.base import CamInputs, maybe_relu, require_gradients, weighted_sum
from seewhy.methods.registry import register


@register("gradcam++")
def gradcam_plusplus(inputs: CamInputs, relu: bool = True) -> torch.Tensor:
    """Grad-CAM++: pixel-wise weighted positive gradients (closed form, eq. 19)."""
    require_gradients(inputs, "gradcam++")
    activation_sums = inputs.activations.sum(dim=(-2, -1), keepdim=True).unsqueeze(1)
    # alpha * ReLU(g) = g^2 / (g^2 (2 + s g)) * g = g / (2 + s g) where g > 0, and 0 where
    # g <= 0 or the denominator g^2 (2 + s g) vanishes (the division gives inf there, set to
    # 0): the same closed form in a few element-wise passes.
    positive = inputs.positive_gradients  # shared: not changed in place
    denominator = torch.mul(positive, activation_sums).add_(2)
    terms = torch.nan_to_num_(positive / denominator, nan=0.0, posinf=0.0, neginf=0.0)
    weights = terms.sum(dim=(-2, -1))
    return maybe_relu(weighted_sum(weights, inputs.activations), relu)
