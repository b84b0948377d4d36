"""Gradients with respect to the input, under each backward rule of the activations.

For input-space methods the input itself requires grad, so autograd records the whole
network; the chosen layers' outputs stay in that graph
(:class:`~seewhy.engine.capture.LayerRoots` keeps an output that already requires grad), so
one forward pass serves the CAM methods (the normal backward from the scores to the layer)
and every input gradient: the normal one (saliency), the guided one and the deconvnet one
(a backward with a modified rule at every supported activation: ReLU, ReLU6, LeakyReLU, ELU,
SiLU, GELU, Hardswish, Mish, torch.nn's and timm's classes, :data:`RULED_ACTIVATIONS`), each
for all T targets of all B images: one backward per target over the whole batch, no forward
repeated.

The rule is chosen at backward time: while the forward runs, every ``nn.ReLU`` and
``nn.ReLU6`` module computes :class:`_RuledReLU` or :class:`_RuledReLU6`, and every other
supported activation its own forward through :class:`_RuledActivation` (instance-level
``forward`` entries); their backward reads the rule
from a shared :class:`BackwardRules` switch and applies it from the methods' table
(:data:`~seewhy.methods.contract.BACKWARD_RULES`). Activations called as functions
(``F.relu``, ``F.gelu``) are not modules and keep their normal gradient, as in Captum. The
patches are removed with the pass's other handles (:func:`~seewhy.engine.passes.model_pass`).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from seewhy.engine.capture import target_gradients
from seewhy.engine.guard import ForwardPatch
from seewhy.errors import MethodError
from seewhy.methods.contract import BACKWARD_RULES

#: The activation modules whose backward the rules change, by class name: torch.nn's and
#: torchvision's (``torch.nn`` classes), and timm's (``timm.layers.activations`` and its
#: memory-efficient ``_me`` twins). Gates (Sigmoid, Hardsigmoid) and Tanh keep their own
#: gradient, as in guided backpropagation.
RULED_ACTIVATIONS = frozenset(
    {
        "ReLU",
        "ReLU6",
        "LeakyReLU",
        "ELU",
        "SiLU",
        "GELU",
        "Hardswish",
        "Mish",
        "Swish",
        "SwishMe",
        "HardSwish",
        "HardSwishMe",
        "MishMe",
        "GELUTanh",
        "QuickGELU",
    }
)
_LIBRARIES = ("torch.nn.", "timm.")


def ruled(module: nn.Module) -> bool:
    """Whether the backward rules apply to ``module`` (one of :data:`RULED_ACTIVATIONS`)."""
    kind = type(module)
    return kind.__name__ in RULED_ACTIVATIONS and kind.__module__.startswith(_LIBRARIES)


class BackwardRules:
    """The backward rule every patched activation applies, read when the backward runs.

    With ``x`` an activation's forward input and ``g`` the incoming gradient: ``"normal"``
    passes the activation's own backward ``f'(x) g``, ``"guided"`` ``max(f'(x), 0) g [g > 0]``
    (Springenberg 2015 for ReLU), ``"deconv"`` ``g [g > 0]`` (Zeiler 2014); see
    :data:`~seewhy.methods.contract.BACKWARD_RULES`.
    """

    def __init__(self) -> None:
        self.rule = "normal"

    def patches(self, rules: Sequence[str]) -> Callable[[nn.Module], list[ForwardPatch]] | None:
        """What :func:`~seewhy.engine.passes.model_pass` installs for backwards under
        ``rules``: the activation patches when a rule other than ``"normal"`` is among them
        (with a warning when the model has no supported activation), else None."""
        modified = [rule for rule in rules if rule != "normal"]
        if not modified:
            return None

        def install(module: nn.Module) -> list[ForwardPatch]:
            found = self.install(module)
            if not found:
                _warn_no_rule(module, modified)
            return found

        return install

    def install(self, module: nn.Module) -> list[ForwardPatch]:
        """Every supported activation of ``module`` runs under the rules: ``nn.ReLU`` and
        ``nn.ReLU6`` compute :class:`_RuledReLU` and :class:`_RuledReLU6` instead of their own
        forward, the others their own forward with
        the rule applied to their backward (:class:`_RuledActivation`). The caller calls
        ``remove()`` on the returned patches, which puts each module's forward back. The
        module's own hooks still run around the patched forward."""

        def relu(x: torch.Tensor) -> torch.Tensor:
            return _RuledReLU.apply(x, self)

        def relu6(x: torch.Tensor) -> torch.Tensor:
            return _RuledReLU6.apply(x, self)

        patches = []
        for m in module.modules():
            if isinstance(m, nn.ReLU):
                patches.append(ForwardPatch(m, relu))
            elif type(m) is nn.ReLU6:
                patches.append(ForwardPatch(m, relu6))
            elif ruled(m):
                patches.append(ForwardPatch(m, _RuledActivation(m.forward, self)))
        return patches

    @contextmanager
    def using(self, rule: str) -> Iterator[None]:
        """Backward passes inside the block use ``rule``."""
        if rule not in BACKWARD_RULES:
            raise MethodError(f"unknown backward rule {rule!r}; use one of {tuple(BACKWARD_RULES)}")
        previous, self.rule = self.rule, rule
        try:
            yield
        finally:
            self.rule = previous


def _activation_modules(module: nn.Module) -> Counter[str]:
    """The activation-like modules of ``module`` (torch.nn's and timm's), by class name."""
    return Counter(
        type(m).__name__
        for m in module.modules()
        if type(m).__module__ == nn.modules.activation.__name__
        or type(m).__module__.startswith("timm.layers.activations")
    )


def _warn_no_rule(module: nn.Module, rules: Sequence[str]) -> None:
    """Say that the guided / deconvnet rules change nothing in a model without a supported
    activation module."""
    found = ", ".join(f"{name} x {n}" for name, n in _activation_modules(module).most_common())
    warnings.warn(
        f"the {' and '.join(map(repr, rules))} backward rule applies to the activation modules "
        f"{', '.join(sorted(RULED_ACTIVATIONS))} and {type(module).__name__} has none "
        f"(activation modules: {found or 'none'}), so guided_backprop, deconvnet and their "
        "Grad-CAM products use the plain gradient there. Activations called as functions "
        "(F.relu, F.gelu) keep their usual gradient.",
        UserWarning,
        stacklevel=2,
    )


class _RuledIndicator(torch.autograd.Function):
    """An activation whose local gradient is an indicator (ReLU ``[x > 0]``, ReLU6
    ``[0 < x < 6]``), its backward following ``rules.rule`` (works under batched VJPs too).

    A subclass's ``forward`` saves one tensor and sets ``ctx.local(grad, saved)`` to the
    activation's own autograd backward, so the normal rule is autograd's exactly. An indicator
    is never negative, so the table's guided rule ``max(local, 0) [g > 0]`` is
    ``max(local, 0)``, computed in place; deconvnet needs no local gradient.
    """

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (saved,) = ctx.saved_tensors
        rule = ctx.rules.rule
        if rule == "deconv":
            return BACKWARD_RULES[rule](grad, grad), None
        local = ctx.local(grad, saved)
        if rule == "guided":
            return local.relu_(), None
        return BACKWARD_RULES[rule](grad, local), None


def _relu_local(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    # ``grad * [output > 0]`` in one fused pass: autograd's own ReLU backward.
    return torch.ops.aten.threshold_backward(grad, output, 0)


def _relu6_local(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # ``grad * [0 < x < 6]``: autograd's own ReLU6 (Hardtanh) backward.
    return torch.ops.aten.hardtanh_backward(grad, x, 0.0, 6.0)


class _RuledReLU(_RuledIndicator):
    """``relu(x)`` under the rules."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rules: BackwardRules) -> torch.Tensor:  # type: ignore[override]
        output = torch.relu(x)
        ctx.save_for_backward(output)
        ctx.rules, ctx.local = rules, _relu_local
        return output


class _RuledReLU6(_RuledIndicator):
    """``relu6(x)`` under the rules: the bundled EfficientNet-Lite's activation, as cheap as
    :class:`_RuledReLU` (a hook-based rule costs ~2x per backward)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rules: BackwardRules) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.rules, ctx.local = rules, _relu6_local
        return torch.nn.functional.hardtanh(x, 0.0, 6.0)


class _RuledActivation:
    """An activation module's own forward, with the rule applied to its backward.

    The input goes in through an alias (``x.view_as(x)``), so a hook on the alias sees the
    gradient through this activation alone (``f'(x) g``, from the activation's own backward,
    whatever it is: a fused kernel, timm's memory-efficient autograd function), and a hook
    on the output sees ``g``; the rule turns the pair into the gradient passed on. Under the
    ``"normal"`` rule nothing is changed. An output that is not shaped like the input (not
    an element-wise activation) is left alone.
    """

    def __init__(self, forward: Callable[..., torch.Tensor], rules: BackwardRules) -> None:
        self.forward = forward
        self.rules = rules

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad):
            return self.forward(x, *args, **kwargs)
        alias = x.view_as(x)
        y = self.forward(alias, *args, **kwargs)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape or not y.requires_grad:
            return y
        incoming: dict[str, torch.Tensor] = {}
        rules = self.rules

        def keep(grad: torch.Tensor) -> None:
            incoming["g"] = grad

        def apply(local: torch.Tensor) -> torch.Tensor | None:
            grad = incoming.pop("g", None)
            if rules.rule == "normal" or grad is None:
                return None
            return BACKWARD_RULES[rules.rule](grad, local)

        y.register_hook(keep)
        alias.register_hook(apply)
        return y


def input_gradient(
    objective: torch.Tensor, x: torch.Tensor, *, retain_graph: bool = False
) -> torch.Tensor:
    """``d objective[:, t] / dx`` for every t: (B, T, *x.shape[1:]).

    Each backward runs through the whole network. On the CPU a loop of T backward passes
    (each over all B images) beats the batched vector-Jacobian product: measured 6.6 vs 7.8
    (EfficientNet-Lite0, B = 1) and 7.4 vs 9.1 (ResNet-50, B = 4) bare forwards for a forward
    and 5 targets; elsewhere the batched product of :func:`target_gradients` is used.
    """
    count = objective.shape[1]
    if x.device.type != "cpu" or count == 1:
        return target_gradients(objective, [x], retain_graph=retain_graph)[0]
    grads = [
        torch.autograd.grad(objective[:, t].sum(), x, retain_graph=retain_graph or t < count - 1)[0]
        for t in range(count)
    ]
    return torch.stack(grads, dim=1).contiguous()
