"""The contract between the engine and the methods.

What a method receives (:class:`CamInputs`, :class:`InputGradientInputs`, :class:`SmoothInputs`),
what it returns (:class:`InputAttribution`), the engine's interfaces for extra passes
(:class:`ForwardFunction`, :class:`HeadFunction`, :class:`GradientFunction`), what a
registration declares (:class:`MethodSpec`), and the two tables both sides read: the backward
rules an input-space method may ask for (:data:`BACKWARD_RULES`) and how a map may be drawn
(:data:`DISPLAYS`). Nothing here runs a model; the arithmetic the methods share is in
:mod:`seewhy.methods.ops`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, TypeVar

import torch

from seewhy.errors import MethodError

MethodFunction = Callable[..., Any]
_T = TypeVar("_T")


def _normal(grad: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    return local


def _guided(grad: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    # Where g > 0 the local gradient times g, clipped at 0; elsewhere 0 (written in place).
    return torch.where(grad > 0, local, 0).relu_()


def _deconv(grad: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    return torch.relu(grad)


#: The backward rules of the activations an input-space method may ask the engine for:
#: rule -> ``backward(g, f'(x) g)``, with ``g`` the gradient arriving from above and
#: ``f'(x) g`` what the activation's own backward gives (its local gradient at its input
#: ``x`` times ``g``):
#:
#: - ``"normal"``: ``f'(x) g``, the activation's own backward (autograd's, untouched);
#: - ``"guided"``: ``max(f'(x) g, 0) [g > 0]`` = ``max(f'(x), 0) g [g > 0]``: the local
#:   gradient, times only the positive incoming gradient, and where the local gradient is
#:   negative (SiLU, GELU and Mish below about -1.28, -0.75 and -1.19) nothing passes, so a
#:   guided signal never changes sign. For ReLU this is Springenberg et al.'s
#:   ``g [x > 0] [g > 0]``; for ReLU6 ``g [0 < x < 6] [g > 0]``; for LeakyReLU and ELU
#:   ``g [g > 0]`` times their slope (1 above 0, the small slope or ``alpha e^x`` below);
#: - ``"deconv"``: ``g [g > 0]`` whatever the activation (Zeiler & Fergus 2014).
#:
#: The registry checks ``input_rule`` against it; the engine's backward applies it to every
#: supported activation module and function call (:mod:`seewhy.engine.backprop`,
#: :mod:`seewhy.engine.ruled_calls`).
BACKWARD_RULES: Mapping[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "normal": _normal,
    "guided": _guided,
    "deconv": _deconv,
}

#: How a method's per-pixel map is drawn (see :func:`seewhy.render.render_panel`): ``"cam"``
#: (jet overlay), ``"abs"`` (magnitude heatmap), ``"signed"`` (diverging overlay), ``"rgb"``
#: (gradient image).
DISPLAYS = ("cam", "abs", "signed", "rgb")


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


def require_gradients(inputs: CamInputs, method: str) -> torch.Tensor:
    """The gradients, or a clear error when the engine did not compute them."""
    if inputs.gradients is None:
        raise MethodError(f"{method} needs gradients, but none were computed")
    return inputs.gradients


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
        raise MethodError(f"{method} needs input gradients ({rule} rule), but none were computed")
    return inputs.gradients[rule]


@dataclass(frozen=True)
class SmoothInputs:
    """What the ``smooth:`` wrapper receives (see :mod:`seewhy.methods.smooth`).

    Attributes:
        inputs: the (preprocessed) clean batch ``x`` (B, C, H, W).
        run: ``run(copies, rows, options)`` explains noisy ``copies`` (N, C, H, W), copy i
            standing for image ``rows[i]`` (targets resolved on the clean batch), with the
            wrapped method and its ``options``, and returns its outputs by kind
            (``"layer_maps"``, ``"maps"``, ``"attributions"``, ``"deltas"``) and key, each
            with the N copies first.
    """

    inputs: torch.Tensor
    run: Callable[
        [torch.Tensor, torch.Tensor, Mapping[str, Any]], dict[str, dict[str, torch.Tensor]]
    ]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method.

    Attributes:
        name: the registered name (``"gradcam++"``).
        function: the pure function (see :mod:`seewhy.methods.registry` for the families).
        family: ``"cam"``, ``"input"`` or ``"smooth"``.
        needs_gradients: whether the engine must compute ``dS/dA`` at the layer for it.
        needs_head: whether it needs a verified GAP + Linear head (CAM).
        summary: one line for ``seewhy methods`` and the docs.
        input_rule: for input-space methods that use the gradient at the clean input, the
            backward rule of the activation modules it is taken with (a key of
            :data:`BACKWARD_RULES`); None when the method only asks for extra forwards.
        companion: for an input-space method that multiplies by a CAM (guided Grad-CAM),
            the name of its option that names the CAM method; the engine then captures
            that CAM's needs at the layer, and the method's maps are keyed per layer.
        companion_default: the CAM used when that option is not given.
        display: how its map is drawn, one of :data:`DISPLAYS`.
        inner: for ``smooth:<method>``, the smoothed method's name.
    """

    name: str
    function: MethodFunction
    family: str
    needs_gradients: bool
    needs_head: bool
    summary: str
    input_rule: str | None = None
    companion: str | None = None
    companion_default: str | None = None
    display: str = "cam"
    inner: str | None = None
    inner_needs_layer: bool = False

    @property
    def uses_layer(self) -> bool:
        """An input-space method that also needs a CAM at the layer (guided Grad-CAM)."""
        return self.companion is not None

    @property
    def needs_layer(self) -> bool:
        """Whether the method (or the method it smooths) works on a layer's activations."""
        return self.family == "cam" or self.uses_layer or self.inner_needs_layer


def require_engine(function: _T | None, what: str, method: str) -> _T:
    """``function``, or a clear error when the engine did not hand a method what it needs."""
    if function is None:
        raise MethodError(f"{method} needs the engine's {what}, but none was given")
    return function
