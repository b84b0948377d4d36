"""Input gradients: one forward for every rule and target, ReLU rules, the model left as found."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers.engine import capture
from helpers.models import TinyGapNet, dirty, resnet18, snapshot, vgg11
from torch import nn

import seewhy
from seewhy.engine.backprop import ReluRules
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
    with pytest.raises(seewhy.MethodError, match="unknown ReLU rule"):
        with ReluRules().using("leaky"):
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


def test_guided_rules_on_a_model_without_nn_relu_warn_and_name_its_activations() -> None:
    relu6 = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU6(), nn.Conv2d(4, 4, 3), nn.ReLU6(), nn.Hardswish()
    )
    model = nn.Sequential(relu6, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    x = torch.randn(1, 3, 12, 12)
    with pytest.warns(UserWarning, match=r"nn.ReLU modules .*ReLU6 x 2, Hardswish x 1"):
        res = seewhy.Explainer(model, layer="0.2").explain(x, ["guided_backprop", "gradient"])
    torch.testing.assert_close(
        res.attributions["guided_backprop"], res.attributions["gradient"], rtol=0, atol=0
    )


def test_guided_rules_on_a_model_with_nn_relu_do_not_warn() -> None:
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seewhy.Explainer(resnet18(), layer="layer4").explain(x, ["deconvnet", "saliency"])
