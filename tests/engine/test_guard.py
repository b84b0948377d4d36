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
