"""What one pass captures: layer activations made roots of the graph, batched gradients.

For the CAM methods each chosen layer's output is cut from the graph before it and made a
leaf that requires grad (:class:`LayerRoots`), so autograd records only the part of the
network after the layer; where the input itself is in the graph (input-space methods) the
layers' outputs stay in it. Gradients for all T targets of all B images then come from
batched vector-Jacobian products (:func:`target_gradients`). Both are then read as
spatial maps (B, K, h, w) by each layer's :class:`~seewhy.engine.spatial.SpatialView`
(tokens and channels-last grids included), so the methods see only maps. The pass itself
is :meth:`seewhy.engine.runner.Runner.capture`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from seewhy.engine.inputs import as_float32, model_dtype, tolerance
from seewhy.engine.passes import Pass
from seewhy.engine.spatial import SpatialView, spatial_gradients
from seewhy.engine.targets import ResolvedTargets
from seewhy.errors import LayerError, warn
from seewhy.methods.contract import LinearHead

try:  # what torch.autograd.grad(..., is_grads_batched=True) runs, without its checks
    from torch._vmap_internals import _vmap
    from torch.autograd.graph import _engine_run_backward
except ImportError:  # pragma: no cover - a PyTorch without them takes the public path
    _vmap = _engine_run_backward = None


@dataclass(frozen=True)
class Capture:
    """What one pass over a batch produced.

    Attributes:
        output: (B, C) the model's selected output, detached.
        targets: the resolved targets (indices, scores, probabilities) and the explained
            objective (negated when counterfactual), detached.
        activations: layer name -> (B, K, h, w), detached: the layer's output read as a
            spatial map (see :mod:`seewhy.engine.spatial`).
        gradients: layer name -> (B, T, K, h, w) ``dS/dA`` (negated when counterfactual),
            read the same way; empty when no gradients were asked for.
        heads: layer name -> the verified GAP + Linear head after it, or None.
        input_gradients: backward rule -> (B, T, C, H, W) ``dS/dx`` (negated when
            counterfactual); empty when the input was not in the graph.
        raw: layer name -> the layer's output as the model gave it, detached (tokens,
            channels-last); absent: the same as ``activations``.
        views: layer name -> how ``raw`` is read as ``activations`` and written back;
            absent: channels-first as it is.
    """

    output: torch.Tensor
    targets: ResolvedTargets
    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    heads: dict[str, LinearHead | None]
    input_gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    raw: dict[str, torch.Tensor] = field(default_factory=dict)
    views: dict[str, SpatialView] = field(default_factory=dict)


class LayerRoots:
    """Forward hooks that make each chosen layer's output a root of the autograd graph."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        self.roots: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = dict.fromkeys(self.names, 0)

    def hook_for(self, name: str):
        def hook(module: nn.Module, _inputs: object, output: object) -> torch.Tensor:
            if not isinstance(output, torch.Tensor):
                raise LayerError(
                    f"layer {name!r} ({type(module).__name__}) returns {type(output).__name__}, "
                    "not a tensor; pick a module that outputs a tensor: a (B, C, h, w) map, "
                    "(B, h, w, C) grid or (B, N, C) tokens"
                )
            self.calls[name] += 1
            if self.calls[name] > 1:
                raise LayerError(
                    f"layer {name!r} runs more than once per forward pass (a shared module); "
                    "pick a module that runs once"
                )
            # Downstream of another chosen layer the output is already in the graph;
            # otherwise cut it from everything before it.
            root = output if output.requires_grad else output.detach().requires_grad_(True)
            self.roots[name] = root
            # A clone goes on, so in-place ops further down (DenseNet's F.relu(inplace=True)
            # after norm5) change the copy, never the captured activations.
            return root.clone()

        return hook

    def install(self, run: Pass) -> None:
        """Hook every chosen layer for the pass ``run``."""
        for name in self.names:
            run.hook(name, self.hook_for(name))

    def reset(self) -> None:
        """Forget what a failed forward collected, before running it again."""
        self.roots.clear()
        self.calls = dict.fromkeys(self.names, 0)

    def collected(self) -> list[torch.Tensor]:
        """The roots in the order of ``names``, or a LayerError naming layers that never ran."""
        missing = [name for name in self.names if name not in self.roots]
        if missing:
            raise LayerError(
                f"layer(s) {', '.join(map(repr, missing))} did not run in the forward pass"
            )
        return [self.roots[name] for name in self.names]


def target_gradients(
    objective: torch.Tensor, roots: list[torch.Tensor], *, retain_graph: bool = False
) -> list[torch.Tensor]:
    """``d objective[:, t] / d root`` for every t: a list of (B, T, *root.shape[1:]).

    ``retain_graph=True`` keeps the graph for another backward over the same forward.

    Images in a batch are independent (eval mode), so one backward of ``objective[:, t].sum()``
    gives target t for every image; the T backward passes run as one batched
    vector-Jacobian product, or as a loop over the head when batching is not supported.

    The gradients come back contiguous and in float32 on every path (a half-precision
    model's gradients are cast): the methods' element-wise passes over (B, T, K, h, w) run
    markedly faster on a contiguous tensor, and a channels-last pass gives channels-last
    gradients.
    """
    batch, count = objective.shape
    if count == 1:
        grads = torch.autograd.grad(
            objective.sum(), roots, allow_unused=True, retain_graph=retain_graph
        )
        return [as_float32(_or_zeros(g, r)).unsqueeze(1).contiguous() for g, r in zip(grads, roots)]
    basis = torch.eye(count, dtype=objective.dtype, device=objective.device)
    grad_outputs = basis.unsqueeze(1).expand(count, batch, count)
    try:
        grads = batched_grad(objective, roots, grad_outputs)
        # (T, B, ...) -> (B, T, ...), made contiguous once here.
        stacked = [
            as_float32(_or_zeros(g, r, count)).transpose(0, 1).contiguous()
            for g, r in zip(grads, roots)
        ]
    except RuntimeError:
        per_target = [
            torch.autograd.grad(objective[:, t].sum(), roots, retain_graph=True, allow_unused=True)
            for t in range(count)
        ]
        stacked = [
            as_float32(
                torch.stack([_or_zeros(grads[i], root) for grads in per_target], dim=1)
            ).contiguous()
            for i, root in enumerate(roots)
        ]
    return stacked


def batched_grad(
    objective: torch.Tensor, roots: Sequence[torch.Tensor], grad_outputs: torch.Tensor
) -> tuple[torch.Tensor | None, ...]:
    """``torch.autograd.grad(objective, roots, grad_outputs, is_grads_batched=True,
    retain_graph=True)``: per row ``v`` of ``grad_outputs`` (T, *objective.shape), the
    vector-Jacobian product ``v . d objective / d root`` of each root, stacked (T, ...).

    The same vmapped backward pass ``torch.autograd.grad`` runs, without its check of
    ``grad_outputs``' shape (``_make_grads``), which imports ``sympy`` through
    ``torch.fx.experimental.symbolic_shapes`` on first use: 0.6 s of the first explanation
    in a new process (``seewhy explain``, a served model), for a check that cannot fail
    here (``grad_outputs`` is made from ``objective``'s shape and dtype). A tensor subclass
    with ``__torch_function__``, or a PyTorch without these internals, takes the public
    call. Same errors: an unused root is a ``RuntimeError``.
    """
    if (
        _vmap is None
        or _engine_run_backward is None
        or torch.overrides.has_torch_function((objective, *roots))
        or grad_outputs.shape[1:] != objective.shape
        or grad_outputs.dtype != objective.dtype
    ):
        return torch.autograd.grad(
            objective, roots, grad_outputs=grad_outputs, is_grads_batched=True, retain_graph=True
        )
    inputs = tuple(roots)

    def vjp(vector: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return _engine_run_backward(
            (objective,), (vector,), True, False, inputs, False, accumulate_grad=False
        )

    return _vmap(vjp, 0, 0, allow_none_pass_through=True)(grad_outputs)


def _or_zeros(grad: torch.Tensor | None, root: torch.Tensor, count: int = 0) -> torch.Tensor:
    if grad is not None:
        return grad
    shape = ((count,) if count else ()) + tuple(root.shape)
    return torch.zeros(shape, dtype=root.dtype, device=root.device)


def find_linear_head(
    model: nn.Module, activations: torch.Tensor, output: torch.Tensor
) -> LinearHead | None:
    """The Linear layer that, applied to the global average of ``activations``, gives ``output``.

    Checked numerically, so a CAM is only drawn where CAM's premise (GAP -> one Linear) holds:
    to 1e-3 of the output's peak, looser in half precision, where the model's own rounding
    is larger (:func:`~seewhy.engine.inputs.tolerance`). ``activations`` is the layer's map
    (B, K, h, w), so a channels-last grid (Swin's final ``norm``, pooled and fed to one
    Linear) qualifies as a CNN's last stage does.
    """
    if output.dim() != 2:
        return None
    pooled = activations.mean(dim=(-2, -1))
    rtol = max(1e-3, tolerance(model_dtype(model)))
    for module in model.modules():
        if not isinstance(module, nn.Linear):
            continue
        if module.in_features != pooled.shape[1] or module.out_features != output.shape[1]:
            continue
        weight = module.weight.detach().to(pooled)
        bias = module.bias.detach().to(pooled) if module.bias is not None else None
        predicted = torch.nn.functional.linear(pooled, weight, bias)
        scale = output.abs().max().clamp_min(1.0)
        if torch.allclose(predicted, output.to(predicted), rtol=rtol, atol=rtol * float(scale)):
            return LinearHead(weight, bias)
    return None


def finish_capture(
    module: nn.Module,
    output: torch.Tensor,
    resolved: ResolvedTargets,
    roots: LayerRoots,
    views: dict[str, SpatialView],
    gradients: dict[str, torch.Tensor],
    input_gradients: dict[str, torch.Tensor],
    need_heads: bool,
) -> Capture:
    """The detached :class:`Capture` of a pass: the layers' outputs and gradients read as
    float32 maps by ``views``, with the GAP + Linear heads found on the maps if asked."""
    raw = {name: root.detach() for name, root in zip(roots.names, roots.collected())}
    activations = {
        name: as_float32(views[name].to_spatial(out)).contiguous() for name, out in raw.items()
    }
    gradients = {name: spatial_gradients(views[name], g) for name, g in gradients.items()}
    output = output.detach()
    heads = {
        name: find_linear_head(module, acts, output) if need_heads else None
        for name, acts in activations.items()
    }
    return Capture(
        output,
        resolved.detached(),
        activations,
        gradients,
        heads,
        input_gradients,
        raw=raw,
        views=views,
    )


def warn_if_zero(gradients: dict[str, torch.Tensor], warned: set[str]) -> None:
    """Warn once per layer (``warned`` holds the layers already warned about) when the
    gradient of every target's score at the layer's map is exactly zero."""
    for name, grads in gradients.items():
        if name in warned or bool(grads.any()):
            continue
        warned.add(name)
        warn(
            f"the gradient of every target's score with respect to layer {name!r} is exactly "
            "zero, so the gradient-based maps there are blank. The output does not depend on "
            "this layer's map: a classifier head still at its zero initialisation "
            "(torchvision's ViT starts so; load trained weights), or a head that reads only "
            "the class token after this layer (pick an earlier layer, e.g. the last block's "
            "first norm; `seewhy layers MODEL` lists them)"
        )
