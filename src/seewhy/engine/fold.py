"""Eval-mode BatchNorm folded into the convolution before it, for the heavy passes.

In eval mode a BatchNorm is a fixed per-channel affine map, so a convolution followed by
it is one convolution (Ioffe & Szegedy 2015; the usual inference fold)::

    bn(conv(x)) = conv'(x),  W' = W * s,  b' = (b - mu) * s + beta,  s = gamma / sqrt(var + eps)

with ``s``, ``mu`` and ``var`` per output channel. The function is the same to float
rounding (measured: 3e-7 of the output's peak on ResNet-50), and so are its gradients;
every forward and every backward skips one pass over the activations. The input-space
methods run whole forwards and backwards to the input over and over (SmoothGrad and
integrated gradients: 50 copies; guided Grad-CAM: one backward per class), the
perturbation methods hundreds of whole forwards (occlusion, Score-CAM), and PyTorch's
BatchNorm backward is not cheap on the CPU: folded, ResNet-50's forward and backward to the
input for 10 images takes 0.86 s instead of 1.28 s (``bench/engine.py``'s machine).

How: the model is traced once with ``torch.fx`` (convolutions and BatchNorms kept whole) to
find each convolution whose output goes only to the BatchNorm right after it. During a
pass the convolution's ``forward`` computes with the folded weights and the BatchNorm's is
the identity (timm's ``BatchNormAct2d`` keeps its activation). The patches are
instance-level ``forward`` entries (:class:`~seewhy.engine.guard.ForwardPatch`) that the
caller removes like hooks, so the model itself never changes. The folded weights are kept
beside the model and made again when a weight, a running statistic (tensor version counters
and storage) or ``eps`` changes, or a module is swapped; the folded convolution is a fresh
shallow copy on every pass, so it always has the convolution's current stride, padding and
other settings.

Left as they are (the result is the same, only slower): modules in training mode,
BatchNorms without running statistics, convolution types that transform their weight
(weight standardization) or carry an instance-level ``forward``, modules with hooks
(someone is watching their outputs), the chosen layers themselves, and the whole model
when ``torch.fx`` can't trace it or global module hooks are registered. The trace runs the
model's Python ``forward`` once on symbolic values, so it is not tried while any module
of the model has hooks (they would see those values); a model traced earlier keeps its
pairs, less the hooked ones.
"""

from __future__ import annotations

import copy
import weakref
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.nn.modules import module as module_globals

from seewhy.engine.guard import ForwardPatch, has_hooks

# Convolutions whose forward reads ``self.weight`` and ``self.bias`` as they are.
_PLAIN_CONVS = {
    (nn.Conv2d.__module__, "Conv2d"),
    ("timm.layers.conv2d_same", "Conv2dSame"),
    ("seewhy.models.efficientnet_lite_arch", "Conv2dSame"),
}
# Batch norms followed by their own ``drop`` and ``act`` children (timm's and the bundled
# EfficientNet-Lite's, which copies it).
_ACT_NORMS = {
    ("timm.layers.norm_act", "BatchNormAct2d"),
    ("seewhy.models.efficientnet_lite_arch", "BatchNormAct2d"),
}


def _foldable_conv(m: nn.Module) -> bool:
    return (type(m).__module__, type(m).__name__) in _PLAIN_CONVS


def _is_act_norm(m: nn.Module) -> bool:
    """timm's ``BatchNormAct2d`` (or the bundled copy): batch norm, then ``drop``, then ``act``."""
    return (type(m).__module__, type(m).__name__) in _ACT_NORMS


def _foldable_norm(m: nn.Module) -> bool:
    return type(m) is nn.BatchNorm2d or _is_act_norm(m)


class _Tracer(fx.Tracer):
    """Keeps every convolution and BatchNorm whole (timm's same-padding convs included)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def conv_norm_pairs(module: nn.Module) -> list[tuple[str, str]]:
    """Names ``(conv, norm)`` of every convolution whose only use is the BatchNorm after it.

    Both must run exactly once per forward, and the BatchNorm must take the convolution's
    output as its only argument. An empty list when ``torch.fx`` can't trace ``module``.
    """
    try:
        graph = _Tracer().trace(module)
    except Exception:  # noqa: BLE001 - any trace failure means: fold nothing
        return []
    modules = dict(module.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or calls[node.target] != 1:
            continue
        if not _foldable_norm(modules[node.target]) or len(node.args) != 1 or node.kwargs:
            continue
        (source,) = node.args
        if (
            isinstance(source, fx.Node)
            and source.op == "call_module"
            and calls[source.target] == 1
            and len(source.users) == 1
            and _foldable_conv(modules[source.target])
        ):
            pairs.append((str(source.target), str(node.target)))
    return pairs


def _state(m: nn.Module) -> tuple:
    """What the folded weights depend on: each tensor's identity, version and storage."""
    tensors = [*m._parameters.values(), *m._buffers.values()]
    return tuple((id(t), t._version, t.data_ptr()) if t is not None else None for t in tensors)


def _folded_weights(conv: nn.Module, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``W * s`` and ``(b - mu) * s + beta`` in ``conv``'s dtype, computed in float64."""
    with torch.no_grad():
        scale = torch.rsqrt(norm.running_var.double() + norm.eps)
        shift = -norm.running_mean.double() * scale
        if norm.weight is not None:
            scale = scale * norm.weight.double()
            shift = shift * norm.weight.double()
        if norm.bias is not None:
            shift = shift + norm.bias.double()
        dtype = conv.weight.dtype
        weight = conv.weight.double() * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    return weight.to(dtype), bias.to(dtype)


@dataclass
class _Pair:
    """One foldable pair of a traced model, and its folded weights once computed."""

    names: tuple[str, str]
    conv: nn.Module
    norm: nn.Module
    weights: tuple[torch.Tensor, torch.Tensor] | None = None
    state: tuple = ()  # what ``weights`` were computed from

    def folded_conv(self) -> nn.Module:
        """A shallow copy of the convolution as it is now, holding the folded weights.

        The weights are computed again when a tensor of the pair or ``eps`` changed; the
        copy is made on every call (cheap), so it never keeps an old stride or padding.
        """
        state = (*_state(self.conv), *_state(self.norm), self.norm.eps)
        if self.weights is None or state != self.state:
            self.weights, self.state = _folded_weights(self.conv, self.norm), state
        weight, bias = self.weights
        proxy = copy.copy(self.conv)
        proxy._parameters = {**self.conv._parameters, "weight": weight, "bias": bias}
        return proxy


@dataclass
class _Plan:
    """The traced pairs of one model, valid while its submodules are the same objects."""

    modules: list[nn.Module]
    pairs: list[_Pair]


_PLANS: weakref.WeakKeyDictionary[nn.Module, _Plan] = weakref.WeakKeyDictionary()


def _plan(module: nn.Module) -> _Plan:
    # The submodules only: a plan holding the model itself would keep its own weak key alive.
    modules = list(module.modules())[1:]
    plan = _PLANS.get(module)
    if (
        plan is not None
        and len(plan.modules) == len(modules)
        and all(a is b for a, b in zip(plan.modules, modules, strict=True))
    ):
        return plan
    if has_hooks(module) or any(has_hooks(m) for m in modules):
        # Tracing runs the containers' hooks on symbolic values: the user's hooks must not
        # see those. Nothing is folded, and the trace is tried again on a later call.
        return _Plan(modules, [])
    named = dict(module.named_modules())
    pairs = [_Pair(names, named[names[0]], named[names[1]]) for names in conv_norm_pairs(module)]
    plan = _Plan(modules, pairs)
    _PLANS[module] = plan
    return plan


def _usable(conv: nn.Module, norm: nn.Module) -> bool:
    """Both in eval mode with running statistics, and nothing watching or replacing them."""
    if conv.training or norm.training:
        return False
    if norm.running_mean is None or norm.running_var is None:
        return False
    return not any(has_hooks(m) or "forward" in m.__dict__ for m in (conv, norm))


def _norm_forward(norm: nn.Module):
    if _is_act_norm(norm):
        return lambda x: norm.act(norm.drop(x))
    return lambda x: x


def fold_batchnorm(module: nn.Module, keep: Collection[str] = ()) -> list[ForwardPatch]:
    """Patch every foldable (convolution, BatchNorm) pair of ``module`` for one pass.

    Call it inside :func:`~seewhy.engine.guard.preserved` (eval mode set) and put the
    returned patches with its handles; pairs naming a layer in ``keep`` stay as they are,
    so the chosen layers' outputs are the model's own.
    """
    if module_globals._global_forward_hooks or module_globals._global_forward_pre_hooks:
        return []
    patches: list[ForwardPatch] = []
    for pair in _plan(module).pairs:
        conv, norm = pair.conv, pair.norm
        if any(name in keep for name in pair.names) or not _usable(conv, norm):
            continue
        forward = type(conv).forward.__get__(pair.folded_conv())
        patches.append(ForwardPatch(conv, forward))
        patches.append(ForwardPatch(norm, _norm_forward(norm)))
    return patches
