"""What a method receives (CAM family and input space), and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass(frozen=True)
class LinearHead:
    """The weight (C, K) and bias (C,) of a classifier that follows global average pooling."""

    weight: torch.Tensor
    bias: torch.Tensor | None


class ForwardFunction(Protocol):
    """The engine's interface for the masked forwards of perturbation methods.

    ``forward_fn(x, rows)`` runs one forward of ``x`` (N, C, H, W) without gradients, each
    copy scored for the targets of image ``rows[i]`` of the batch (the targets resolved on
    the clean input), and returns the explained scores (N, T) (negated when
    counterfactual). Every target of an image comes from the same forward.
    """

    def __call__(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor: ...


class HeadFunction(Protocol):
    """The engine's interface for forwards from a layer's (edited) activations.

    ``head_fn(activations, rows)`` runs the part of the network after the layer on
    ``activations`` (N, K, h, w), copy i standing for image ``rows[i]``, without gradients,
    and returns the explained scores (N, T) (negated when counterfactual). Where the model
    cannot be cut at the layer, the engine runs the whole model with the layer's output
    replaced (see :mod:`seewhy.engine.tail`). The network may change ``activations`` in
    place (DenseNet applies an in-place ReLU right after ``norm5``): pass copies you own.
    """

    def __call__(self, activations: torch.Tensor, rows: torch.Tensor) -> torch.Tensor: ...


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
        inputs: the (preprocessed) input ``x`` (B, C, H, W), for masked forwards.
        objective: (B, T) the explained score at ``x`` (negated when counterfactual).
        forward_fn: masked forwards of the whole model (Score-CAM); see
            :class:`ForwardFunction`.
        head_fn: forwards from edited activations of this layer (Ablation-CAM); see
            :class:`HeadFunction`.
        counterfactual: whether the call explains the negated score.
        progress: a progress bar for long perturbation work: True, False, or None (shown
            when a call makes many forwards).
    """

    activations: torch.Tensor
    gradients: torch.Tensor | None
    targets: torch.Tensor
    head: LinearHead | None = None
    layer: str = ""
    inputs: torch.Tensor | None = None
    objective: torch.Tensor | None = None
    forward_fn: ForwardFunction | None = None
    head_fn: HeadFunction | None = None
    counterfactual: bool = False
    progress: bool | None = None

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[1])

    @cached_property
    def workspace(self) -> torch.Tensor:
        """A scratch tensor shaped like the gradients (B, T, K, h, w) for the methods'
        element-wise passes, made once per call and shared: a method may overwrite it and
        must not keep it. Writing into one buffer instead of allocating a fresh 10 MB tensor
        per pass keeps the CPU from faulting in new pages for every method (a few
        milliseconds on EfficientNet-Lite0 x top-5, as much as the methods' arithmetic)."""
        return torch.empty_like(require_gradients(self, "this method"))


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


class GradientFunction(Protocol):
    """The engine's one interface for the extra passes of SmoothGrad and integrated gradients.

    ``gradient_fn(x, rows)`` runs one forward of ``x`` (N, C, H, W), each image explained for
    the targets of image ``rows[i]`` of the batch (the targets stay those resolved on the
    clean input), and returns ``(objective (N, T), gradients (N, T, C, H, W))``: the explained
    scores and their gradients with respect to ``x`` (normal ReLU backward), all T targets
    from one batched backward. Scores alone come from :class:`ForwardFunction`.
    """

    def __call__(
        self, x: torch.Tensor, rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class InputGradientInputs:
    """Everything an input-space method may use.

    Attributes:
        inputs: the (preprocessed) input ``x``, shape (B, C, H, W).
        gradients: backward rule (``"normal"``, ``"guided"``, ``"deconv"``) -> ``dS/dx`` for
            every target, (B, T, C, H, W), from the one forward pass of the call; holds the
            rules the requested methods declared.
        objective: (B, T) the explained score ``S`` at ``x`` (negated when counterfactual).
        targets: (B, T) class index of each target (-1 for callable targets).
        gradient_fn: the engine's interface for extra forwards and backwards (SmoothGrad's
            noisy copies, integrated gradients' path); see :data:`GradientFunction`.
        cam: the layer's activations and gradients, for methods that multiply by a CAM.
        forward_fn: forwards without gradients (occlusion); see :class:`ForwardFunction`.
        progress: a progress bar for long perturbation work (see :class:`CamInputs`).
    """

    inputs: torch.Tensor
    gradients: dict[str, torch.Tensor]
    objective: torch.Tensor
    targets: torch.Tensor
    gradient_fn: GradientFunction
    cam: CamInputs | None = None
    forward_fn: ForwardFunction | None = None
    progress: bool | None = None

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.inputs.shape[-2]), int(self.inputs.shape[-1])


@dataclass(frozen=True)
class InputAttribution:
    """What an input-space method returns.

    Attributes:
        attribution: (B, T, C, H, W) raw attribution, with the input's channels.
        map: (B, T, H, W) its per-pixel map.
        delta: (B, T) a convergence delta, for methods that have one (integrated gradients).
    """

    attribution: torch.Tensor
    map: torch.Tensor
    delta: torch.Tensor | None = None


def require_input_gradients(inputs: InputGradientInputs, rule: str, method: str) -> torch.Tensor:
    """The input gradients under ``rule``, or a clear error when the engine did not compute them."""
    if rule not in inputs.gradients:
        from seewhy.errors import MethodError

        raise MethodError(f"{method} needs input gradients ({rule} rule), but none were computed")
    return inputs.gradients[rule]


def max_abs_over_channels(attribution: torch.Tensor) -> torch.Tensor:
    """``max_c |a_c|``: (..., C, H, W) -> (..., H, W), Simonyan et al.'s map for gradients."""
    return attribution.abs().amax(dim=-3)


def sum_over_channels(attribution: torch.Tensor) -> torch.Tensor:
    """``sum_c a_c``: (..., C, H, W) -> (..., H, W), the signed map of additive attributions."""
    return attribution.sum(dim=-3)


def to_input_size(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, h, w) -> (B, T, H, W), bilinear with half-pixel centres, as the papers draw maps."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


#: Values per forward pass when ``batch_size=None``: 8 images of 3 x 224 x 224. Per-image
#: cost on the CPU is lowest around there (ResNet-50: 0.10 s at 8, 0.14 s at 1, 0.15 s at 40).
AUTO_VALUES = 8 * 3 * 224 * 224


def auto_batch_size(inputs: torch.Tensor, batch_size: int | None, values: int = AUTO_VALUES) -> int:
    """``batch_size``, or when None the number of copies of one of ``inputs``' rows that
    fit ``values`` values per pass."""
    if batch_size is not None:
        return batch_size
    per_image = max(1, inputs[0].numel())
    return max(1, values // per_image)


def spans(count: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges over ``count`` items, at most ``size`` each, as even as
    possible: 50 copies at 8 per pass run as 7 passes of 7 or 8, not 6 of 8 and one of 2
    (a nearly empty last pass costs almost a full one on the CPU)."""
    pieces = max(1, -(-count // max(1, size)))
    edges = [count * i // pieces for i in range(pieces + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def check_batch_size(batch_size: int | None) -> None:
    if batch_size is None:
        return
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        from seewhy.errors import MethodError

        raise MethodError(f"batch_size must be a positive int or None, got {batch_size!r}")


#: Copies per call from which a perturbation method shows a progress bar by default.
LONG_WORK = 256


def work_bar(total: int, desc: str, progress: bool | None) -> tqdm:
    """A progress bar over ``total`` copies, shown when ``progress`` (None: for long work)."""
    show = progress if progress is not None else total >= LONG_WORK
    return tqdm(total=total, desc=desc, unit="copy", disable=not show, leave=False)


def require_engine(function: object, what: str, method: str) -> None:
    """A clear error when the engine did not hand a method the function it needs."""
    if function is None:
        from seewhy.errors import MethodError

        raise MethodError(f"{method} needs the engine's {what}, but none was given")
