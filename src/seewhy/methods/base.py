"""What a CAM-family method receives, and the shape it returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LinearHead:
    """The weight (C, K) and bias (C,) of a classifier that follows global average pooling."""

    weight: torch.Tensor
    bias: torch.Tensor | None


@dataclass(frozen=True)
class CamInputs:
    """Everything a CAM-family method may use, captured by one forward pass.

    Attributes:
        activations: the layer's output ``A``, shape (B, K, h, w).
        gradients: ``dS/dA`` for every target, shape (B, T, K, h, w); None when no method
            of the call needs gradients. Already negated for counterfactual explanations.
        targets: (B, T) class index of each target (-1 for callable targets).
        head: the GAP + Linear head after the layer, when the engine verified one.
        layer: the layer's dotted name, for error messages.
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None
    targets: torch.Tensor
    head: LinearHead | None = None
    layer: str = ""

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[1])


def weighted_sum(weights: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """``sum_k weights[b, t, k] * A[b, k]``: (B, T, K) x (B, K, h, w) -> (B, T, h, w)."""
    return torch.einsum("btk,bkhw->bthw", weights, activations)


def require_gradients(inputs: CamInputs, method: str) -> torch.Tensor:
    """The gradients, or a clear error when the engine did not compute them."""
    if inputs.gradients is None:
        from seewhy.errors import MethodError

        raise MethodError(f"{method} needs gradients, but none were computed")
    return inputs.gradients


def maybe_relu(cam: torch.Tensor, relu: bool) -> torch.Tensor:
    return torch.relu(cam) if relu else cam
