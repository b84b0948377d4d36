"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020, https://arxiv.org/abs/2008.00299).

The projection of the (centered) activations on their first principal component:

.. math:: L = \\mathrm{ReLU}\\big((\\tilde A^\\top) v_1\\big)

with ``\\tilde A`` the (h w, K) activations less their mean over positions and ``v_1`` the
first right singular vector. Class-agnostic: every target gets the same map. A singular
vector's sign is arbitrary; it is chosen so the map correlates positively with the mean
activation over channels (pytorch-grad-cam keeps whatever sign the SVD returns).
"""

from __future__ import annotations

import torch

from seewhy.methods.contract import CamInputs
from seewhy.methods.ops import maybe_relu
from seewhy.methods.registry import register


def first_component(centered: torch.Tensor) -> torch.Tensor:
    """``centered @ v_1`` for (B, n, K) rows, ``v_1`` the first right singular vector.

    Computed from the smaller of the two Gram matrices with a symmetric eigensolver, which is
    many times cheaper than a full SVD: with ``centered = U S V^T``, the projection equals
    ``S_1 u_1``, the top eigenvector of ``centered centered^T`` scaled by ``sqrt(lambda_1)``.
    """
    rows, columns = centered.shape[-2:]
    if rows <= columns:
        values, vectors = torch.linalg.eigh(centered @ centered.transpose(1, 2))
        return vectors[..., -1] * values[..., -1:].clamp_min(0).sqrt()
    _, vectors = torch.linalg.eigh(centered.transpose(1, 2) @ centered)
    return (centered @ vectors[..., -1:]).squeeze(-1)


@register("eigencam", needs_gradients=False)
def eigencam(inputs: CamInputs, relu: bool = True) -> torch.Tensor:
    """Eigen-CAM: the first principal component of the activations (no gradients)."""
    activations = torch.nan_to_num(inputs.activations.detach())
    batch, channels, height, width = activations.shape
    flat = activations.reshape(batch, channels, height * width).transpose(1, 2)  # (B, hw, K)
    centered = (flat - flat.mean(dim=1, keepdim=True)).double()
    projection = first_component(centered)  # (B, hw)
    reference = flat.double().mean(dim=2)
    reference = reference - reference.mean(dim=1, keepdim=True)
    sign = torch.sign((projection * reference).sum(dim=1, keepdim=True))
    projection = projection * torch.where(sign == 0, torch.ones_like(sign), sign)
    cam = projection.to(activations.dtype).reshape(batch, 1, height, width)
    return maybe_relu(cam.expand(batch, inputs.num_targets, height, width).contiguous(), relu)
