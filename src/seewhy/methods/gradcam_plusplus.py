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

from seewhy.methods.contract import CamInputs, require_gradients
from seewhy.methods.ops import maybe_relu, weighted_sum
from seewhy.methods.registry import register


@register("gradcam++")
def gradcam_plusplus(inputs: CamInputs, relu: bool = True) -> torch.Tensor:
    """Grad-CAM++: pixel-wise weighted positive gradients (closed form, eq. 19)."""
    gradients = require_gradients(inputs, "gradcam++")
    activation_sums = inputs.activations.sum(dim=(-2, -1), keepdim=True).unsqueeze(1)
    # alpha * ReLU(g) = g^2 / (g^2 (2 + s g)) * g = g / (2 + s g) = 1 / (2/g + s) where
    # g > 0, and 0 where g <= 0 (1/g = inf there, and 1/inf = 0) or where the denominator
    # vanishes (s < 0 only; set to 0 after the division): the closed form in a few in-place
    # passes over one buffer.
    terms = torch.clamp(gradients, min=0, out=inputs.workspace)
    terms.reciprocal_().mul_(2).add_(activation_sums).reciprocal_()
    if bool((activation_sums < 0).any()):
        terms = torch.nan_to_num_(terms, nan=0.0, posinf=0.0, neginf=0.0)
    weights = terms.sum(dim=(-2, -1))
    return maybe_relu(weighted_sum(weights, inputs.activations), relu)
