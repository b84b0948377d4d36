"""The part of a network after a layer, as a module of its own (for Ablation-CAM).

Ablation-CAM needs the score for K edited copies of one layer's output. Everything before
the layer is the same for every copy, so only the network after it needs to run.
:func:`layer_tail` cuts it out with ``torch.fx``: the model is traced with every module
that is not an ancestor of the layer kept whole (so only the ``forward`` methods that lead
to the layer are traced, which keeps the trace robust for timm and torchvision models),
and the nodes that depend on the layer's output become a new
:class:`torch.fx.GraphModule` from that output to the model's output. It shares the
model's submodules; nothing is copied.

A tail is used only when it can stand alone and is checked: the trace must succeed, the
layer must be called once, the nodes after it may use nothing computed before it except
the layer's output and constants (a U-Net skip connection can't be cut), and the tail run
on the captured activations must reproduce the model's output. Otherwise
:func:`layer_tail` returns None and the engine falls back to whole forwards of the model
with the layer's output replaced by a hook: the same scores at the cost of full forwards.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch import fx, nn

from seewhy.engine.guard import has_hooks
from seewhy.engine.inputs import tolerance
from seewhy.engine.layers import get_module

_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[str, fx.GraphModule | None]] = (
    weakref.WeakKeyDictionary()
)


class _AncestorTracer(fx.Tracer):
    """Traces only the ``forward`` of the layer's ancestors; every other module is a leaf."""

    def __init__(self, ancestors: set[str]) -> None:
        super().__init__()
        self.ancestors = ancestors

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name not in self.ancestors


def _ancestors(layer: str) -> set[str]:
    parts = layer.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def trace_tail(module: nn.Module, layer: str) -> fx.GraphModule | None:
    """The graph from ``layer``'s output to ``module``'s output, or None where it can't be cut.

    Not checked numerically; :func:`layer_tail` does that.
    """
    try:
        graph = _AncestorTracer(_ancestors(layer)).trace(module)
    except Exception:  # noqa: BLE001 - any trace failure means: use the fallback
        return None
    nodes = list(graph.nodes)
    starts = [n for n in nodes if n.op == "call_module" and n.target == layer]
    if len(starts) != 1:
        return None
    start = starts[0]
    after: set[fx.Node] = {start}
    for node in nodes[nodes.index(start) + 1 :]:
        if any(arg in after for arg in node.all_input_nodes):
            after.add(node)
    output = nodes[-1]
    if output.op != "output" or output not in after:
        return None
    for node in after - {start}:
        for arg in node.all_input_nodes:
            if arg not in after and arg.op != "get_attr":
                return None  # uses a value computed before the layer (a skip connection)
    tail = fx.Graph()
    env: dict[fx.Node, fx.Node] = {start: tail.placeholder("activations")}
    for node in nodes:
        if node is start:
            continue
        if node.op == "get_attr" and any(user in after for user in node.users):
            env[node] = tail.node_copy(node, lambda n: env[n])
        elif node in after:
            env[node] = tail.node_copy(node, lambda n: env[n])
    try:
        return fx.GraphModule(module, tail)
    except Exception:  # noqa: BLE001
        return None


def layer_tail(
    module: nn.Module,
    layer: str,
    activations: torch.Tensor,
    output: torch.Tensor,
    select: Callable[[object], torch.Tensor],
) -> fx.GraphModule | None:
    """The checked tail of ``module`` after ``layer``, or None (use whole forwards).

    ``activations`` (B, K, h, w) are the layer's captured output (in the model's dtype) and
    ``output`` the model's output for them after ``select`` (the model's output selector);
    the tail, followed by ``select``, must reproduce it (to 1e-4, or a few roundings of a
    half-precision model: :func:`~seewhy.engine.inputs.tolerance`). Call it with the model frozen and in eval mode. Traces are
    cached per model and layer; the check runs every time, and a cached trace that fails it
    (the model was changed since) is traced again. While an ancestor of the layer carries
    hooks, nothing is traced and the answer is None.
    """
    if any(has_hooks(get_module(module, name)) for name in _ancestors(layer)):
        # The trace runs the ancestors' forwards, hooks included, on symbolic values; the
        # user's hooks must not see those: whole forwards instead (not cached).
        return None
    per_model = _CACHE.setdefault(module, {})
    cached = layer in per_model
    if not cached:
        per_model[layer] = trace_tail(module, layer)
    tail = per_model[layer]
    if tail is not None and _reproduces(tail, activations, output, select):
        return tail
    if cached and tail is not None:
        # The model may have changed since it was traced (a submodule replaced): once more.
        per_model[layer] = tail = trace_tail(module, layer)
        if tail is not None and _reproduces(tail, activations, output, select):
            return tail
    return None


def _reproduces(
    tail: fx.GraphModule,
    activations: torch.Tensor,
    output: torch.Tensor,
    select: Callable[[object], torch.Tensor],
) -> bool:
    try:
        with torch.no_grad():
            produced = select(tail(activations.clone()))
    except Exception:  # noqa: BLE001
        return False
    if not isinstance(produced, torch.Tensor) or produced.shape != output.shape:
        return False
    scale = float(output.abs().max().clamp_min(1.0))
    rtol = tolerance(activations.dtype)
    return torch.allclose(produced.to(output), output, rtol=rtol, atol=rtol * scale)
