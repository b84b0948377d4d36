"""Input gradients: one forward for every rule and target, ReLU rules, the model left as found."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from helpers.engine import capture
from helpers.models import TinyGapNet, dirty, resnet18, snapshot, vgg11
from PIL import Image
from torch import nn

import seewhy
import seewhy.engine
from seewhy.data import example_image
from seewhy.engine.backprop import BackwardRules
from seewhy.engine.runner import Runner
from seewhy.models import LoadedModel

INPUT_METHODS = {
    "saliency": {},
    "input_x_gradient": {},
    "guided_backprop": {},
    "deconvnet": {},
    "guided_gradcam": {},
    "smoothgrad": {"n": 2, "seed": 0},
    "integrated_gradients": {"steps": 3},
    "smooth:gradcam": {"n": 2, "seed": 0},
}


class Counting(nn.Module):
    """Counts the forward passes of the model it wraps (not the symbolic ``torch.fx`` trace
    that finds the BatchNorms to fold: it computes nothing)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.fx.Proxy):
            self.calls += 1
        return self.inner(x)


def _modules(model: nn.Module) -> dict[str, tuple[type, int, bool]]:
    return {
        name: (type(m), id(m), "forward" in vars(m))  # no forward patched on the instance
        for name, m in model.named_modules()
    }


def test_one_forward_serves_cam_and_every_input_gradient() -> None:
    model = Counting(resnet18())
    methods = ["gradcam", "gradcam++", "saliency", "gradient", "guided_backprop", "deconvnet"]
    methods += ["guided_gradcam", "deconv_gradcam", "input_x_gradient"]
    res = seewhy.Explainer(model, layer="inner.layer4").explain(
        torch.randn(2, 3, 64, 64), methods, "top3"
    )
    assert model.calls == 1
    assert set(res.maps) == set(methods)


def test_cam_maps_are_the_same_on_both_paths() -> None:
    """With an input-space method in the request, CAM maps come from the input-gradient pass."""
    ex = seewhy.Explainer(resnet18(), layer="layer4")
    x = torch.randn(2, 3, 64, 64)
    alone = ex.explain(x, ["gradcam", "hirescam"], "top2")
    mixed = ex.explain(x, ["gradcam", "hirescam", "guided_backprop"], "top2")
    for method in ("gradcam", "hirescam"):
        torch.testing.assert_close(mixed.layer_maps[method], alone.layer_maps[method])
    assert set(alone.layer_maps) == {"gradcam", "hirescam"}
    assert set(mixed.layer_maps) == {"gradcam", "hirescam"}  # no layer map for input methods


def test_cam_only_requests_keep_the_head_only_pass(monkeypatch) -> None:
    rules: list[list[str]] = []
    original = Runner.capture

    def spy(self: Runner, inputs: torch.Tensor, layers: list[str], **kwargs: object):
        rules.append(list(kwargs["rules"]))  # type: ignore[call-overload]
        return original(self, inputs, layers, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Runner, "capture", spy)
    model = TinyGapNet()
    seen: list[bool] = []
    handle = model.features[0].register_forward_hook(lambda m, i, o: seen.append(o.requires_grad))
    try:
        seewhy.Explainer(model, layer="features").explain(torch.randn(1, 3, 8, 8), ["gradcam"])
        # SmoothGrad needs no gradient at the clean input: its clean pass is head-only too.
        seewhy.Explainer(model, layer="features").explain(
            torch.randn(1, 3, 8, 8), {"smoothgrad": {"n": 1}}
        )
    finally:
        handle.remove()
    assert seen[:2] == [False, False]
    assert rules[:2] == [[], []]  # no rule: the input is not in the graph


def test_normal_rule_equals_autograd_and_layer_gradients_equal_capture() -> None:
    model = vgg11()
    lm = LoadedModel(model, "vgg11")
    x = torch.randn(2, 3, 64, 64)
    passed = capture(lm, x, ["features.18"], "top2", rules=("normal", "guided"), fast=False)
    leaf = x.clone().requires_grad_(True)
    output = model(leaf)
    for t in range(2):
        score = output.gather(1, passed.targets.indices[:, t : t + 1]).sum()
        (expected,) = torch.autograd.grad(score, leaf, retain_graph=True)
        torch.testing.assert_close(passed.input_gradients["normal"][:, t], expected)
    plain = capture(lm, x, ["features.18"], "top2")
    torch.testing.assert_close(passed.gradients["features.18"], plain.gradients["features.18"])
    assert not torch.allclose(passed.input_gradients["guided"], passed.input_gradients["normal"])
    model.zero_grad(set_to_none=True)


def test_relu_rules_reject_unknown_rule() -> None:
    with pytest.raises(seewhy.MethodError, match="unknown backward rule"):
        with BackwardRules().using("leaky"):
            pass


def test_counterfactual_negates_the_explained_score() -> None:
    ex = seewhy.Explainer(resnet18(), layer="layer4")
    x = torch.randn(1, 3, 64, 64)
    plain = ex.explain(x, ["gradient", "guided_backprop"], 4)
    counter = ex.explain(x, ["gradient", "guided_backprop"], 4, counterfactual=True)
    torch.testing.assert_close(counter.attributions["gradient"], -plain.attributions["gradient"])
    # The guided rule is not linear in the gradient: -S gives another map, not the negation.
    assert not torch.allclose(
        counter.attributions["guided_backprop"], -plain.attributions["guided_backprop"]
    )


@pytest.mark.parametrize("build", [resnet18, vgg11])
def test_model_unchanged_after_input_methods(build) -> None:
    model = dirty(build())
    before, modules = snapshot(model), _modules(model)
    grad = list(model.parameters())[-1].grad.clone()
    x = torch.randn(1, 3, 64, 64)
    layer = "layer4" if build is resnet18 else "features.18"
    seewhy.Explainer(model, layer=layer).explain(x, INPUT_METHODS, "top2")
    assert snapshot(model) == before and _modules(model) == modules
    assert torch.equal(list(model.parameters())[-1].grad, grad)
    assert before["hooks"] == 0
    assert any(getattr(m, "inplace", False) for m in model.modules())
    assert not x.requires_grad and x.grad is None


@pytest.mark.parametrize("fail_on_call", [1, 2])
def test_model_unchanged_after_an_exception_midway(fail_on_call) -> None:
    """The target raises during the ruled pass (call 1) or in SmoothGrad's extra pass (call 2)."""
    model = dirty(resnet18())
    before, modules = snapshot(model), _modules(model)
    calls = [0]

    def target(output: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == fail_on_call:
            # By now the ReLU hooks are installed and in-place flags turned off.
            assert not any(getattr(m, "inplace", False) for m in model.modules())
            raise RuntimeError("boom inside the target")
        return output[:, 3]

    ex = seewhy.Explainer(model, layer="layer4")
    methods = {"guided_gradcam": {}, "smoothgrad": {"n": 2, "seed": 0}}
    with pytest.raises(RuntimeError, match="boom"):
        ex.explain(torch.randn(1, 3, 64, 64), methods, target)
    assert calls[0] == fail_on_call
    assert snapshot(model) == before and _modules(model) == modules


def test_model_unchanged_after_an_exception_in_the_backward(monkeypatch) -> None:
    model = dirty(vgg11())
    before = snapshot(model)
    from seewhy.engine import backprop

    def broken_backward(ctx, grad):
        raise RuntimeError("boom inside the ReLU rule")

    monkeypatch.setattr(backprop._RuledReLU, "backward", staticmethod(broken_backward))
    with pytest.raises(RuntimeError, match="boom inside the ReLU rule"):
        seewhy.Explainer(model).explain(torch.randn(1, 3, 64, 64), ["guided_backprop"])
    assert snapshot(model) == before


def test_callable_targets_work_for_input_methods() -> None:
    ex = seewhy.Explainer(resnet18(), layer="layer4")
    x = torch.randn(2, 3, 64, 64)
    methods = {"guided_gradcam": {}, "smoothgrad": {"n": 2, "seed": 0}, "saliency": {}}
    by_class = ex.explain(x, methods, 42)
    by_function = ex.explain(x, methods, lambda out: out[:, 42])
    for method in methods:
        torch.testing.assert_close(by_function.attributions[method], by_class.attributions[method])


def test_guided_rules_on_a_model_without_a_supported_activation_warn_and_name_its_modules() -> None:
    tanh = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.Conv2d(4, 4, 3), nn.Sigmoid())
    model = nn.Sequential(tanh, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(1, 3, 12, 12)
    with pytest.warns(UserWarning, match=r"activation modules: Tanh x 1, Sigmoid x 1"):
        res = seewhy.Explainer(model, layer="0.2").explain(x, ["guided_backprop", "gradient"])
    torch.testing.assert_close(
        res.attributions["guided_backprop"], res.attributions["gradient"], rtol=0, atol=0
    )


def test_a_model_of_timm_gelus_without_rule_names_timms_class() -> None:
    from timm.layers.activations import GELU, Sigmoid

    model = nn.Sequential(nn.Conv2d(3, 4, 3), Sigmoid(), nn.Flatten(), nn.LazyLinear(3))
    model(torch.zeros(1, 3, 6, 6))
    assert "GELU" in ruled_names() and GELU.__module__.startswith("timm.layers.activations")
    with pytest.warns(UserWarning, match=r"activation modules: Sigmoid x 1"):
        seewhy.Explainer(model.eval(), layer="0").explain(torch.randn(1, 3, 6, 6), ["deconvnet"])


def ruled_names() -> frozenset[str]:
    from seewhy.engine.backprop import RULED_ACTIVATIONS

    return RULED_ACTIVATIONS


class ReLU6Net(nn.Module):
    """x (1, 3, 1, 1) -> Linear(3, 3) -> ReLU6 -> Linear(3, 2), weights set by hand::

        W1 = [[4, 0, 0], [0, 1, 0], [0, 0, 1]]    W2 = [[1, -2, 3], [1, 1, 1]]

    For x = (2, 3, -1) the hidden pre-activations are (8, 3, -1): saturated above 6, live,
    and below 0.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(3, 3, bias=False)
        self.act = nn.ReLU6()
        self.out = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[4.0, 0, 0], [0, 1, 0], [0, 0, 1]]))
            self.out.weight.copy_(torch.tensor([[1.0, -2, 3], [1, 1, 1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(x.flatten(1))))


def test_relu6_rules_by_hand() -> None:
    x = torch.tensor([2.0, 3.0, -1.0]).view(1, 3, 1, 1)
    res = seewhy.Explainer(ReLU6Net(), fast=False).explain(
        x, ["gradient", "guided_backprop", "deconvnet"], seewhy.engine.Classes([0, 1])
    )
    # Target 0: g = W2[0] = (1, -2, 3) at the hidden units (8, 3, -1).
    #   normal: g * [0 < h < 6] = (0, -2, 0); back through W1 (diagonal 4, 1, 1): (0, -2, 0)
    #   guided: that, and g > 0 only: (0, 0, 0)
    #   deconv: relu(g) = (1, 0, 3), through W1: (4, 0, 3)
    # Target 1: g = (1, 1, 1): normal (0, 1, 0); guided (0, 1, 0); deconv (4, 1, 1).
    grads = {
        "gradient": [[0.0, -2, 0], [0, 1, 0]],
        "guided_backprop": [[0.0, 0, 0], [0, 1, 0]],
        "deconvnet": [[4.0, 0, 3], [4, 1, 1]],
    }
    for method, expected in grads.items():
        got = res.attributions[method][0, :, :, 0, 0]
        torch.testing.assert_close(got, torch.tensor(expected), rtol=0, atol=0)


@pytest.mark.parametrize(
    "activation", [nn.SiLU(), nn.GELU(), nn.Mish(), nn.ELU(), nn.LeakyReLU(0.1), nn.Hardswish()]
)
def test_the_guided_rule_is_the_local_gradient_times_the_positive_incoming_one(activation) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), activation, nn.Conv2d(8, 8, 3, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4),
    ).eval()  # fmt: skip
    x = torch.randn(2, 3, 10, 10)
    methods = ["gradient", "guided_backprop", "deconvnet"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a rule exists: no warning
        res = seewhy.Explainer(model, layer="2", fast=False).explain(x, methods, "top2")
    # By hand: the gradient g arriving at the activation's output, then the rule, then the
    # first convolution's backward.
    leaf = x.clone().requires_grad_(True)
    pre = model[0](leaf)
    pre_leaf = pre.detach().requires_grad_(True)
    output = model[2:](model[1](pre_leaf))
    for t in range(2):
        classes = res.targets[:, t : t + 1]
        score = output.gather(1, classes).sum()
        (g_out,) = torch.autograd.grad(score, pre_leaf, retain_graph=True)  # f'(x) g
        act_in = pre.detach().requires_grad_(True)
        act_out = model[1](act_in)
        post = act_out.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(model[2:](post).gather(1, classes).sum(), post)
        (local,) = torch.autograd.grad(act_out, act_in, grad_outputs=g)
        torch.testing.assert_close(local, g_out)
        guided = torch.where(g > 0, local, 0).clamp_min(0)
        deconv = g.clamp_min(0)
        for method, at_pre in (
            ("gradient", local),
            ("guided_backprop", guided),
            ("deconvnet", deconv),
        ):
            (expected,) = torch.autograd.grad(pre, leaf, grad_outputs=at_pre, retain_graph=True)
            torch.testing.assert_close(
                res.attributions[method][:, t], expected, rtol=1e-5, atol=1e-7
            )
    assert not torch.allclose(res.attributions["guided_backprop"], res.attributions["gradient"])


def test_guided_backprop_on_the_bundled_lite0_differs_from_the_gradient(lite0) -> None:
    x = lite0.preprocess(np.asarray(Image.open(example_image()).convert("RGB")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = seewhy.Explainer(lite0).explain(x, ["gradient", "guided_backprop", "deconvnet"])
    guided, plain = res.attributions["guided_backprop"], res.attributions["gradient"]
    assert guided.abs().sum() > 0
    assert not torch.allclose(guided, plain, atol=1e-3 * float(plain.abs().max()))
    assert not torch.allclose(res.attributions["deconvnet"], plain)


def test_guided_rules_on_a_model_with_nn_relu_do_not_warn() -> None:
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seewhy.Explainer(resnet18(), layer="layer4").explain(x, ["deconvnet", "saliency"])


def test_model_unchanged_after_rules_on_every_kind_of_activation() -> None:
    from timm.layers.activations import GELU as TimmGELU
    from timm.layers.activations_me import SwishMe

    torch.manual_seed(0)
    model = dirty(
        nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.SiLU(inplace=True), nn.Conv2d(6, 6, 3),
            TimmGELU(), nn.Conv2d(6, 6, 3), SwishMe(), nn.Hardswish(inplace=True),
            nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4),
        )
    )  # fmt: skip
    before, modules = snapshot(model), _modules(model)
    methods = {"guided_gradcam": {}, "deconvnet": {}, "saliency": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = seewhy.Explainer(model, layer="4").explain(torch.randn(2, 3, 12, 12), methods, "top2")
    assert snapshot(model) == before and _modules(model) == modules
    assert model[1].inplace and model[6].inplace and model[7].inplace
    assert not torch.allclose(res.attributions["deconvnet"], res.attributions["saliency"])
