"""The user's model is left exactly as it was found, on every path."""

from __future__ import annotations

import pytest
import torch
from helpers.models import TinyGapNet, dirty, resnet18, snapshot

import seewhy
from seewhy.engine.guard import preserved


@pytest.mark.parametrize("methods", [["gradcam", "cam", "eigencam"], ["gradcam++", "layercam"]])
def test_model_unchanged_after_explain(methods: list[str]) -> None:
    model = dirty(TinyGapNet())
    before = snapshot(model)
    grad_before = list(model.parameters())[-1].grad.clone()
    seewhy.Explainer(model, layer="features").explain(torch.randn(2, 3, 16, 16), methods, "top2")
    assert snapshot(model) == before
    assert torch.equal(list(model.parameters())[-1].grad, grad_before)
    assert model.features[1].inplace is True


def test_model_unchanged_after_exception_in_target_callable() -> None:
    model = dirty(resnet18())
    before = snapshot(model)

    def broken(output: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom inside the target")

    with pytest.raises(RuntimeError, match="boom inside the target"):
        seewhy.Explainer(model, layer="layer4").explain(torch.randn(1, 3, 64, 64), targets=broken)
    assert snapshot(model) == before
    assert before["hooks"] == 0


def test_model_unchanged_after_error_in_method() -> None:
    model = dirty(resnet18())
    before = snapshot(model)
    with pytest.raises(seewhy.MethodError):
        # layer3 is not followed by GAP + Linear: CAM refuses, after the pass.
        seewhy.Explainer(model, layer="layer3").explain(torch.randn(1, 3, 64, 64), ["cam"])
    assert snapshot(model) == before


def test_preserved_sets_and_restores_flags() -> None:
    model = dirty(TinyGapNet())
    with preserved(model) as handles:
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())
        assert model.features[1].inplace is False
        handles.append(model.fc.register_forward_hook(lambda *a: None))
        assert len(model.fc._forward_hooks) == 1
    assert model.training
    assert model.features[1].inplace is True
    assert len(model.fc._forward_hooks) == 0
    assert [p.requires_grad for p in model.parameters()][0] is False
    assert [p.requires_grad for p in model.parameters()][1] is True


def test_explain_runs_in_eval_mode() -> None:
    """Batch norm uses running statistics during the call, even for a model left in train mode."""
    model = resnet18()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    model.train()
    res = seewhy.Explainer(model, layer="layer4").explain(x, ["gradcam"], "top1")
    top = expected.max(dim=1)
    assert torch.equal(res.targets[:, 0], top.indices)
    assert torch.allclose(res.scores[:, 0], top.values, atol=1e-5)
    assert model.training


# ---- every method, every path (as Captum generates its hook-removal test per method) ----

#: Small options, so each method runs in milliseconds on the tiny network.
OPTIONS: dict[str, dict[str, object]] = {
    "smoothgrad": {"n": 2, "seed": 0},
    "smoothgrad_sq": {"n": 2, "seed": 0},
    "vargrad": {"n": 2, "seed": 0},
    "integrated_gradients": {"steps": 2},
    "occlusion": {"window": 8, "stride": 8},
    "smooth:gradcam": {"n": 2, "seed": 0},
    "smooth:guided_gradcam": {"n": 2, "seed": 0},
    "smooth:saliency": {"n": 2, "seed": 0},
}
EVERY_METHOD = [
    *seewhy.available_methods(),
    "smooth:gradcam",
    "smooth:guided_gradcam",
    "smooth:saliency",
]


class TinyBatchNormNet(torch.nn.Module):
    """conv -> BN -> ReLU(inplace) -> conv -> BN -> ReLU -> GAP -> Linear: the fold, the ReLU
    rules and the in-place flags all have something to change."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=True),
            nn.Conv2d(6, 6, 3, padding=1, stride=2),
            nn.BatchNorm2d(6),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def _explain(model: torch.nn.Module, method: str, targets: object, fast: bool):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    explainer = seewhy.Explainer(model, layer="features", fast=fast)
    return explainer.explain(x, {method: OPTIONS.get(method, {})}, targets, progress=False)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "exact"])
@pytest.mark.parametrize("method", EVERY_METHOD)
def test_every_method_leaves_the_model_as_found(method: str, fast: bool) -> None:
    torch.manual_seed(0)
    model = dirty(TinyBatchNormNet())
    before = snapshot(model)
    grad = list(model.parameters())[-1].grad.clone()
    res = _explain(model, method, "top2", fast)
    assert snapshot(model) == before
    assert torch.equal(list(model.parameters())[-1].grad, grad)
    assert model.features[2].inplace is True and model.training
    assert before["hooks"] == 0 and not before["patched"]
    assert res.maps[method].shape[:2] == (2, 2)


@pytest.mark.parametrize("method", EVERY_METHOD)
def test_every_method_leaves_the_model_as_found_when_a_pass_fails(method: str) -> None:
    """The target raises in the capture pass, then (where the method makes more passes) in
    each later pass in turn: copies' scores, their gradients, the head after the layer."""
    torch.manual_seed(0)
    model = dirty(TinyBatchNormNet())
    before = snapshot(model)
    calls = [0]

    def counting(output: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        return output[:, 1] - output[:, 3]

    if method == "cam":  # class targets only: refused after the pass
        with pytest.raises(seewhy.MethodError, match="class indices only"):
            _explain(model, method, counting, True)
        assert snapshot(model) == before
    else:
        _explain(model, method, counting, True)
    total = calls[0]
    assert total >= 1
    for failing in sorted({1, 2, total}):
        calls[0] = 0

        def failing_target(output: torch.Tensor, failing: int = failing) -> torch.Tensor:
            calls[0] += 1
            if calls[0] == failing:
                raise RuntimeError(f"boom in call {failing}")
            return output[:, 1] - output[:, 3]

        if failing > total:
            continue
        with pytest.raises(RuntimeError, match=f"boom in call {failing}"):
            _explain(model, method, failing_target, True)
        assert snapshot(model) == before, f"after a failure in call {failing} of {total}"


@pytest.mark.parametrize(
    ("methods", "targets", "error"),
    [
        ({"scorecam": {"batch_size": 0}}, "top1", seewhy.MethodError),
        ({"occlusion": {"window": 64}}, "top1", seewhy.MethodError),
        ({"guided_gradcam": {"cam": "saliency"}}, "top1", seewhy.MethodError),
        ({"gradcam": {}}, 99, seewhy.TargetError),  # class out of range, found in the pass
        ({"saliency": {}}, lambda out: out.sum(), seewhy.TargetError),  # a scalar target
        ({"gradcam": {}}, "top9", seewhy.TargetError),
    ],
)
def test_error_paths_leave_the_model_as_found(methods, targets, error) -> None:
    model = dirty(TinyBatchNormNet())
    before = snapshot(model)
    explainer = seewhy.Explainer(model, layer="features")
    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(error):
        explainer.explain(x, methods, targets, progress=False)
    assert snapshot(model) == before
