"""Activations called as functions follow the backward rules, exactly as their modules do."""

from __future__ import annotations

import copy
import types
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import Deconvolution, GuidedBackprop
from helpers.models import dirty, snapshot
from torch import nn
from torch.overrides import _get_current_function_mode_stack

import seewhy
from seewhy.engine import Classes

RULE_METHODS = ["gradient", "guided_backprop", "deconvnet"]

#: Every way of calling a ReLU as a function; the in-place ones change their input.
RELU_CALLS = {
    "F.relu": lambda h: F.relu(h),
    "F.relu(inplace=True)": lambda h: F.relu(h, inplace=True),
    "F.relu_": lambda h: F.relu_(h),
    "torch.relu": lambda h: torch.relu(h),
    "torch.relu_": lambda h: torch.relu_(h),
    "Tensor.relu": lambda h: h.relu(),
    "Tensor.relu_": lambda h: (h.relu_(), h)[1],  # the result unused: h itself changed
}


class HandReLUNet(nn.Module):
    """x (1, 3, 1, 1) -> Linear(3, 3) -> ``relu`` (a function) -> Linear(3, 2), by hand::

    W1 = [[1, 0, 1], [0, 1, -1], [1, 1, 0]]    W2 = [[2, 3, -1], [1, 1, 1]]
    """

    def __init__(self, relu) -> None:
        super().__init__()
        self.hidden = nn.Linear(3, 3, bias=False)
        self.out = nn.Linear(3, 2, bias=False)
        self.relu = relu
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, 0, 1], [0, 1, -1], [1, 1, 0]]))
            self.out.weight.copy_(torch.tensor([[2.0, 3, -1], [1, 1, 1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.relu(self.hidden(x.flatten(1))))


@pytest.mark.parametrize("call", list(RELU_CALLS))
def test_every_functional_relu_follows_the_rules_by_hand(call) -> None:
    """x = (1, 2, 3): z = W1 x = (4, -1, 3), g = W2[0] = (2, 3, -1) at the ReLU's output;

    - backprop ``g [z > 0] = (2, 0, -1)``, through W1: (1, -1, 2)
    - guided ``g [z > 0] [g > 0] = (2, 0, 0)``: (2, 0, 2)
    - deconvnet ``g [g > 0] = (2, 3, 0)``: (2, 3, -1)
    """
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the functions are ruled: no "no activation" warning
        res = seewhy.Explainer(HandReLUNet(RELU_CALLS[call]), fast=False).explain(
            x, RULE_METHODS, Classes([0])
        )
    expected = {"gradient": [1, -1, 2], "guided_backprop": [2, 0, 2], "deconvnet": [2, 3, -1]}
    for method, values in expected.items():
        assert res.attributions[method].flatten().tolist() == [float(v) for v in values], method


class ConvReLUs(nn.Module):
    """Four convolutions, each followed by a ReLU called one way (``modules=False``) or by an
    ``nn.ReLU(inplace=True)`` module (the twin Captum rules), then GAP and a Linear head."""

    def __init__(self, modules: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.convs = nn.ModuleList(nn.Conv2d(c, 8, 3, padding=1) for c in (3, 8, 8, 8))
        self.relus = nn.ModuleList(nn.ReLU(inplace=True) for _ in range(4)) if modules else None
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        calls = [
            lambda h: F.relu(h, inplace=True),
            torch.relu,
            lambda h: (h.relu_(), h)[1],
            lambda h: h.relu(),
        ]
        for i, conv in enumerate(self.convs):
            x = conv(x)
            x = self.relus[i](x) if self.relus is not None else calls[i](x)
        return self.fc(x.mean((2, 3)))


def captum_rules(model: nn.Module, x: torch.Tensor, target: list[int]) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum warns that it sets hooks on ReLUs
        return {
            "guided_backprop": GuidedBackprop(model).attribute(x, target=target),
            "deconvnet": Deconvolution(model).attribute(x, target=target),
        }


def test_functional_relus_agree_with_captum_on_the_module_twin() -> None:
    """Captum rules only ``nn.ReLU`` modules: its answer on the twin whose ReLUs are modules
    is the oracle for the model that calls them."""
    x = torch.randn(2, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    res = seewhy.Explainer(ConvReLUs(modules=False).eval(), layer="convs.2", fast=False).explain(
        x, ["guided_backprop", "deconvnet"], "top2"
    )
    twin = ConvReLUs(modules=True).eval()
    for rank in range(2):
        reference = captum_rules(twin, x, res.targets[:, rank].tolist())
        for method, expected in reference.items():
            torch.testing.assert_close(res.attributions[method][:, rank], expected)


ACTIVATION_TWINS = {
    "F.silu": (lambda h: F.silu(h), nn.SiLU()),
    "F.silu(inplace=True)": (lambda h: F.silu(h, inplace=True), nn.SiLU()),
    "F.gelu": (lambda h: F.gelu(h), nn.GELU()),
    "F.gelu(tanh)": (lambda h: F.gelu(h, approximate="tanh"), nn.GELU("tanh")),
    "F.mish": (lambda h: F.mish(h), nn.Mish()),
    "F.hardswish": (lambda h: F.hardswish(h), nn.Hardswish()),
    "F.elu": (lambda h: F.elu(h, 0.5), nn.ELU(0.5)),
    "F.elu_": (lambda h: F.elu_(h, 0.5), nn.ELU(0.5)),
    "F.leaky_relu": (lambda h: F.leaky_relu(h, 0.1), nn.LeakyReLU(0.1)),
    "F.leaky_relu_": (lambda h: F.leaky_relu_(h, 0.1), nn.LeakyReLU(0.1)),
    "F.relu6": (lambda h: F.relu6(h), nn.ReLU6()),
    "F.hardtanh(0, 6)": (lambda h: F.hardtanh(h, 0.0, 6.0, True), nn.ReLU6()),
    "F.hardtanh_(0, 6)": (lambda h: F.hardtanh_(h, 0.0, 6.0), nn.ReLU6()),
}


class Activated(nn.Module):
    """conv -> activation (a function or a module) -> conv -> GAP -> Linear, scaled so
    pre-activations reach the activations' every regime (ReLU6 saturates, SiLU dips)."""

    def __init__(self, activation) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Conv2d(3, 8, 3, padding=1)
        self.activation = activation
        self.second = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():
            self.first.weight.mul_(8.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.second(self.activation(self.first(x))).mean((2, 3)))


@pytest.mark.parametrize("call", list(ACTIVATION_TWINS))
def test_a_functional_activation_follows_the_rule_of_its_module(call) -> None:
    function, module = ACTIVATION_TWINS[call]
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    maps = {}
    for kind, activation in (("function", function), ("module", module)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            maps[kind] = seewhy.Explainer(Activated(activation).eval(), fast=False).explain(
                x, RULE_METHODS, Classes([0, 3])
            )
    for method in RULE_METHODS:
        torch.testing.assert_close(
            maps["function"].attributions[method],
            maps["module"].attributions[method],
            rtol=0,
            atol=0,
        )
    guided = maps["function"].attributions["guided_backprop"]
    assert not torch.allclose(guided, maps["function"].attributions["gradient"])


def test_hardtanh_with_other_bounds_keeps_its_gradient() -> None:
    model = Activated(lambda h: F.hardtanh(h, -1.0, 1.0)).eval()
    x = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    with pytest.warns(UserWarning, match="ran none"):
        res = seewhy.Explainer(model, fast=False).explain(x, ["gradient", "guided_backprop"])
    torch.testing.assert_close(
        res.attributions["guided_backprop"], res.attributions["gradient"], rtol=0, atol=0
    )


def test_a_gate_calling_relu6_keeps_its_gradient() -> None:
    """timm's ``HardSigmoid`` is ``relu6(x + 3) / 6``: a gate, not a ReLU6; its ``F.relu6``
    is the module's, so nothing in this model is ruled (and the warning says so)."""
    from timm.layers.activations import HardSigmoid

    model = Activated(HardSigmoid()).eval()
    x = torch.randn(1, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    with pytest.warns(UserWarning, match=r"activation modules: HardSigmoid x 1"):
        res = seewhy.Explainer(model, fast=False).explain(x, ["gradient", "guided_backprop"])
    torch.testing.assert_close(
        res.attributions["guided_backprop"], res.attributions["gradient"], rtol=0, atol=0
    )


def test_a_module_calling_a_ruled_function_is_ruled_once() -> None:
    """timm's ``HardSwish`` is ``x relu6(x + 3) / 6``: ruled as a Hardswish module (the
    local gradient of the whole), not its ``relu6`` on top; so it matches ``nn.Hardswish``."""
    from timm.layers.activations import HardSwish

    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    timm_res, torch_res = (
        seewhy.Explainer(Activated(activation).eval(), fast=False).explain(
            x, RULE_METHODS, Classes([0, 3])
        )
        for activation in (HardSwish(), nn.Hardswish())
    )
    for method in RULE_METHODS:
        torch.testing.assert_close(
            timm_res.attributions[method], torch_res.attributions[method], rtol=1e-5, atol=1e-6
        )


def googlenet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.googlenet(weights=None, init_weights=True, aux_logits=False).eval()


def with_relu_modules(model: nn.Module) -> nn.Module:
    """A copy of GoogLeNet whose ``BasicConv2d`` blocks call an ``nn.ReLU(inplace=True)``
    module instead of ``F.relu(x, inplace=True)``: the same function, ruled by Captum."""
    twin = copy.deepcopy(model)
    for block in twin.modules():
        if type(block).__name__ == "BasicConv2d":
            block.relu = nn.ReLU(inplace=True)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.relu(self.bn(self.conv(x)))

            block.forward = types.MethodType(forward, block)
    return twin


def test_googlenet_functional_in_place_relus_agree_with_captum_on_the_module_twin() -> None:
    model = dirty(googlenet())
    before = snapshot(model)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GoogLeNet has no ReLU module: its F.relu are ruled
        res = seewhy.Explainer(model, layer="inception5b", fast=False).explain(
            x, RULE_METHODS, "top2"
        )
    assert snapshot(model) == before
    assert _get_current_function_mode_stack() == []
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    twin = with_relu_modules(model).eval()
    for rank in range(2):
        target = res.targets[:, rank].tolist()
        for method, expected in captum_rules(twin, x, target).items():
            got = res.attributions[method][:, rank]
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max())
    guided, plain = res.attributions["guided_backprop"], res.attributions["gradient"]
    assert (guided - plain).abs().max() > 0.1 * plain.abs().max()  # init_weights: tiny values


def test_the_mode_is_gone_after_a_forward_that_raises() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(x)
            raise RuntimeError("boom after a ruled relu")

    with pytest.raises(RuntimeError, match="boom after a ruled relu"):
        seewhy.Explainer(Broken(), fast=False).explain(torch.randn(1, 3, 4, 4), ["guided_backprop"])
    assert _get_current_function_mode_stack() == []


def test_functional_relus_outside_the_ruled_pass_run_as_they_are() -> None:
    """Normal gradients (saliency, SmoothGrad) and forwards without gradients install nothing:
    an in-place functional ReLU changes its input as usual."""
    seen: list[int] = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(len(_get_current_function_mode_stack()))
            h = x.flatten(1) * 2
            F.relu(h, inplace=True)
            return h[:, :4]

    x = torch.randn(2, 3, 2, 2)
    seewhy.Explainer(Spy(), fast=False).explain(
        x, {"saliency": {}, "smoothgrad": {"n": 2, "seed": 0}, "guided_backprop": {}}, 0
    )
    assert sorted(seen) == [0, 1]  # the clean pass (guided_backprop's) only, then SmoothGrad's
