"""Activations called as functions, under the backward rules of :mod:`~seewhy.engine.backprop`.

The module patches rule every activation *module*; many forwards call the activation
itself: torchvision's GoogLeNet and Inception3 (``F.relu(x, inplace=True)`` in every
``BasicConv2d``) and DenseNet (after ``norm5``), timm's NASNet, PNASNet and Xception
(``F.relu`` before the head) and MobileViT-v2 (``F.relu(value)`` in its attention),
torch.nn's Transformer layers (``activation=F.relu`` or ``F.gelu``), and users' models.
While the forward pass of an input-gradient capture runs, :class:`RuledCalls` (a
``TorchFunctionMode``) sends these calls to the ruled functions the modules use, so with
``x`` the call's input and ``g`` the gradient arriving at its output:

- ``F.relu``, ``torch.relu``, ``Tensor.relu`` and the in-place ``F.relu(x, inplace=True)``,
  ``F.relu_``, ``torch.relu_``, ``Tensor.relu_``: as ``nn.ReLU``, guided
  ``g [x > 0] [g > 0]``, deconvnet ``g [g > 0]``;
- ``F.relu6``, ``F.hardtanh(x, 0, 6)`` and ``F.hardtanh_(x, 0, 6)``: as ``nn.ReLU6``, guided
  ``g [0 < x < 6] [g > 0]``, deconvnet ``g [g > 0]``; other Hardtanh bounds keep their
  gradient;
- ``F.leaky_relu``, ``F.leaky_relu_``, ``F.elu``, ``F.elu_``, ``F.silu``, ``F.gelu``,
  ``F.hardswish`` and ``F.mish`` (in-place or not): as their modules, guided
  ``max(f'(x), 0) g [g > 0]`` (nothing passes where the local gradient is negative),
  deconvnet ``g [g > 0]``.

The normal rule is autograd's own gradient in every case. Anything else (``torch.clamp``,
``sigmoid``, ``tanh``, ``softplus``) keeps its gradient. Inside an activation module's own
forward the calls are left alone (:attr:`BackwardRules.inside
<seewhy.engine.backprop.BackwardRules.inside>`): a supported module is ruled once, as a
module (``nn.GELU`` calls ``F.gelu``), and a gate keeps its gradient (timm's
``HardSigmoid`` computes ``relu6(x + 3) / 6``). A call is ruled where autograd records it
(grad enabled, its input requiring grad); in-place forms are computed out of place under
the rule and written back into their input, so the caller sees its tensor changed in
place and autograd follows the ruled result.

The mode sees every torch call of that one forward pass (a Python call each, about 300
per EfficientNet-Lite0 forward): measured on 2 CPU threads at 224 px, one image, a forward
takes 41 ms instead of 35 ms, and guided backprop for the top 5 classes 167 ms instead of
163 ms (noise of the same order). Nothing is installed in other passes (saliency,
SmoothGrad, perturbation forwards), which cost what they did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from seewhy.engine.backprop import (
    BackwardRules,
    _RuledActivation,
    _RuledReLU,
    _RuledReLU6,
    warn_no_rule,
)

#: The functions ruled, by kind: ``"relu"`` and ``"relu6"`` (``"hardtanh"`` when its bounds
#: are 0 and 6) compute the modules' ruled autograd functions, ``"activation"`` its own
#: forward with the rule on its backward. The second entry is the out-of-place twin of an
#: in-place builtin (None: the call is out of place, or says so by its ``inplace`` argument).
_FUNCTIONS: dict[Callable[..., object], tuple[str, Callable[..., torch.Tensor] | None]] = {
    F.relu: ("relu", None),
    torch.relu: ("relu", None),
    torch.Tensor.relu: ("relu", None),
    torch.relu_: ("relu", torch.relu),  # F.relu_ too
    torch.Tensor.relu_: ("relu", torch.relu),
    F.relu6: ("relu6", None),
    F.hardtanh: ("hardtanh", None),
    F.hardtanh_: ("hardtanh", torch._C._nn.hardtanh),
    F.leaky_relu: ("activation", None),
    F.leaky_relu_: ("activation", torch._C._nn.leaky_relu),
    F.elu: ("activation", None),
    F.elu_: ("activation", torch._C._nn.elu),
    F.silu: ("activation", None),
    F.gelu: ("activation", None),
    F.hardswish: ("activation", None),
    F.mish: ("activation", None),
}


class RuledCalls(TorchFunctionMode):
    """While active, the activation functions of :data:`_FUNCTIONS` compute under ``rules``
    (see the module's docstring); every other call runs as it is."""

    def __init__(self, rules: BackwardRules) -> None:
        super().__init__()
        self.rules = rules

    def __torch_function__(
        self,
        func: Callable[..., object],
        types: object,
        args: tuple = (),
        kwargs: dict | None = None,
    ) -> object:
        kwargs = kwargs or {}
        entry = _FUNCTIONS.get(func)
        if (
            entry is None
            or self.rules.inside
            or not args
            or not isinstance(args[0], torch.Tensor)
            or not args[0].requires_grad
            or not torch.is_grad_enabled()
        ):
            return func(*args, **kwargs)
        # The mode is off while this runs: the calls below are not seen again.
        return _ruled_call(self.rules, func, entry, args, kwargs)


def _ruled_call(
    rules: BackwardRules,
    func: Callable[..., torch.Tensor],
    entry: tuple[str, Callable[..., torch.Tensor] | None],
    args: tuple,
    kwargs: dict,
) -> torch.Tensor:
    """``func(*args, **kwargs)`` under ``rules``, in place if the call is."""
    kind, out_of_place = entry
    x, rest = args[0], args[1:]
    if kind == "hardtanh":
        low = rest[0] if rest else kwargs.get("min_val", -1.0)
        high = rest[1] if len(rest) > 1 else kwargs.get("max_val", 1.0)
        if (low, high) != (0, 6):
            return func(*args, **kwargs)
        kind = "relu6"
    if out_of_place is not None:
        in_place = True
    else:
        in_place = bool(kwargs.get("inplace", False))
        out_of_place = func
        if in_place:
            kwargs = {**kwargs, "inplace": False}
    if kind == "relu":
        y = _RuledReLU.apply(x, rules)
    elif kind == "relu6":
        y = _RuledReLU6.apply(x, rules)
    else:

        def activation(source: torch.Tensor) -> torch.Tensor:
            return out_of_place(source, *rest, **kwargs)

        # In place, the activation saves a copy of x for its backward: x is overwritten.
        y = _RuledActivation(activation, rules)(x.clone() if in_place else x)
    return x.copy_(y) if in_place else y


@contextmanager
def ruled_calls(rules: BackwardRules, module: nn.Module, names: Sequence[str]) -> Iterator[None]:
    """The forward pass of ``module`` inside the block computes its activation functions
    under ``rules`` when a rule other than ``"normal"`` is among ``names``; if that forward
    ruled no activation, module or function, a warning names the model's activation
    modules (:func:`~seewhy.engine.backprop.warn_no_rule`)."""
    modified = [name for name in names if name != "normal"]
    if not modified:
        yield
        return
    before = rules.ruled
    with RuledCalls(rules):
        yield
    if rules.ruled == before:
        warn_no_rule(module, modified)
