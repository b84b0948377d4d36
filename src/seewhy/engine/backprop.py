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
(``F.relu``, ``x.relu_()``, ``F.gelu``) go to the same ruled functions during the forward
(:mod:`~seewhy.engine.ruled_calls`); inside an activation module they are left to the
module, so nothing is ruled twice. The patches are removed with the pass's other handles
(:func:`~seewhy.engine.passes.model_pass`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from seewhy.engine.capture import target_gradients
from seewhy.engine.guard import ForwardPatch
from seewhy.errors import MethodError, warn
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
        #: How many activations (module or function calls) the forward passes ruled.
        self.ruled = 0
        #: How deep the forward is inside activation modules' own forwards: function calls
        #: made there are the module's business (:mod:`~seewhy.engine.ruled_calls`).
        self.inside = 0

    def patches(self, rules: Sequence[str]) -> Callable[[nn.Module], list[ForwardPatch]] | None:
        """What :func:`~seewhy.engine.passes.model_pass` installs for backwards under
        ``rules``: the activation patches when a rule other than ``"normal"`` is among them,
        else None. Whether anything was ruled is known after the forward
        (:func:`~seewhy.engine.ruled_calls.ruled_calls` warns then)."""
        if all(rule == "normal" for rule in rules):
            return None
        return self.install

    def install(self, module: nn.Module) -> list[ForwardPatch]:
        """Every supported activation of ``module`` runs under the rules: ``nn.ReLU`` and
        ``nn.ReLU6`` compute :class:`_RuledReLU` and :class:`_RuledReLU6` instead of their own
        forward, the others their own forward with
        the rule applied to their backward (:class:`_RuledActivation`). Other activation
        modules (gates such as Sigmoid, timm's ``HardSigmoid``, whose ``relu6(x + 3) / 6`` is
        no ReLU6) keep their gradient: their forward runs :class:`_AsIs`. The caller calls
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
            elif _is_activation(m):
                patches.append(ForwardPatch(m, _AsIs(m.forward, self)))
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


def _is_activation(module: nn.Module) -> bool:
    """Whether ``module`` is one of torch.nn's or timm's activation modules (any kind)."""
    name = type(module).__module__
    return name == nn.modules.activation.__name__ or name.startswith("timm.layers.activations")


def _activation_modules(module: nn.Module) -> Counter[str]:
    """The activation-like modules of ``module`` (torch.nn's and timm's), by class name."""
    return Counter(type(m).__name__ for m in module.modules() if _is_activation(m))


def warn_no_rule(module: nn.Module, rules: Sequence[str]) -> None:
    """Say that the guided / deconvnet rules changed nothing in a forward of ``module``: it
    ran no supported activation, module or function."""
    found = ", ".join(f"{name} x {n}" for name, n in _activation_modules(module).most_common())
    warn(
        f"the {' and '.join(map(repr, rules))} backward rule applies to the activation modules "
        f"{', '.join(sorted(RULED_ACTIVATIONS))} and to the functions F.relu, F.relu6, "
        "F.hardtanh(x, 0, 6), F.leaky_relu, F.elu, F.silu, F.gelu, F.hardswish, F.mish, "
        f"torch.relu and Tensor.relu (in-place forms too); the forward of "
        f"{type(module).__name__} ran none (activation modules: {found or 'none'}), so "
        "guided_backprop, deconvnet and their Grad-CAM products use the plain gradient there."
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


def _relu6_local(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    # ``grad * [0 < output < 6]``: autograd's own ReLU6 (Hardtanh) backward.
    return torch.ops.aten.hardtanh_backward(grad, output, 0.0, 6.0)


class _RuledReLU(_RuledIndicator):
    """``relu(x)`` under the rules."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rules: BackwardRules) -> torch.Tensor:  # type: ignore[override]
        output = torch.relu(x)
        ctx.save_for_backward(output)
        ctx.rules, ctx.local = rules, _relu_local
        rules.ruled += 1
        return output


class _RuledReLU6(_RuledIndicator):
    """``relu6(x)`` under the rules: the bundled EfficientNet-Lite's activation, as cheap as
    :class:`_RuledReLU` (a hook-based rule costs ~2x per backward)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rules: BackwardRules) -> torch.Tensor:  # type: ignore[override]
        output = torch.nn.functional.hardtanh(x, 0.0, 6.0)
        # [0 < output < 6] = [0 < x < 6]; the output, not x, so an in-place call may
        # overwrite x (as autograd's own hardtanh_ does).
        ctx.save_for_backward(output)
        ctx.rules, ctx.local = rules, _relu6_local
        rules.ruled += 1
        return output


class _AsIs:
    """An activation module's own forward, run as it is: function calls inside it (timm's
    ``HardSigmoid`` computes ``relu6(x + 3) / 6``) are the module's, not ruled on their own
    (:mod:`~seewhy.engine.ruled_calls`)."""

    def __init__(self, forward: Callable[..., torch.Tensor], rules: BackwardRules) -> None:
        self.forward = forward
        self.rules = rules

    def __call__(self, *args: object, **kwargs: object) -> torch.Tensor:
        self.rules.inside += 1
        try:
            return self.forward(*args, **kwargs)
        finally:
            self.rules.inside -= 1


class _RuledActivation(_AsIs):
    """An activation's own forward, with the rule applied to its backward.

    The input goes in through an alias (``x.view_as(x)``), so a hook on the alias sees the
    gradient through this activation alone (``f'(x) g``, from the activation's own backward,
    whatever it is: a fused kernel, timm's memory-efficient autograd function), and a hook
    on the output sees ``g``; the rule turns the pair into the gradient passed on. Under the
    ``"normal"`` rule nothing is changed. An output that is not shaped like the input (not
    an element-wise activation) is left alone. The forward is a module's (function calls
    inside it are not ruled again) or a function's (``F.gelu``).
    """

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if not (torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad):
            return super().__call__(x, *args, **kwargs)
        alias = x.view_as(x)
        y = super().__call__(alias, *args, **kwargs)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape or not y.requires_grad:
            return y
        incoming: dict[str, torch.Tensor] = {}
        rules = self.rules
        rules.ruled += 1

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
