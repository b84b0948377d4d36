"""Channels-last inputs (engine/layout.py): the fallback to contiguous and the outputs."""

from __future__ import annotations

import pytest
import torch
from helpers.models import close, with_statistics
from torch import nn

import seewhy
from seewhy.engine import layout

X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


class Viewed(nn.Module):
    """Flattens a conv output with ``.view``: fails on a channels-last tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 16 * 16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.view(y.shape[0], -1))


class TinySegmenter(nn.Module):
    """Fully convolutional: (B, 3, H, W) -> (B, 3 classes, H/2, W/2) scores per pixel."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(6)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.body = nn.Conv2d(8, 8, 3, padding=1)
        self.classifier = nn.Conv2d(8, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.body(self.relu(self.bn(self.conv(x))))))


def test_a_segmentation_region_target_agrees_on_the_fast_path() -> None:
    model = with_statistics(TinySegmenter())
    region = torch.zeros(32, 32)
    region[8:20, 4:16] = 1

    def target(out: torch.Tensor) -> torch.Tensor:
        assert out.shape[1:] == (3, 32, 32)
        return (out[:, 2] * region).sum(dim=(1, 2))

    methods = ["gradcam", "layercam", "saliency"]
    fast = seewhy.Explainer(model, layer="body").explain(X, methods, target)
    exact = seewhy.Explainer(model, layer="body", fast=False).explain(X, methods, target)
    torch.testing.assert_close(fast.scores, exact.scores, rtol=1e-5, atol=1e-5)
    for name in methods:
        close(fast.maps[name], exact.maps[name], rtol=1e-4)
        assert fast.maps[name].abs().sum() > 0


class DictSegmenter(TinySegmenter):
    """Returns ``{"out": scores}``, as torchvision's segmentation models do."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": super().forward(x)}


def test_a_target_may_view_the_models_output_on_the_fast_path() -> None:
    """A channels-last pass gives channels-last outputs; they reach the target contiguous."""
    model = with_statistics(DictSegmenter())
    region = torch.zeros(3, 32, 32)
    region[1, 8:20, 4:16] = 1

    def target(out: torch.Tensor) -> torch.Tensor:
        return out.view(out.shape[0], -1) @ region.view(-1)  # .view needs contiguous scores

    methods = ["gradcam", "saliency", "occlusion"]
    fast = seewhy.Explainer(model, layer="body").explain(X, methods, target)
    exact = seewhy.Explainer(model, layer="body", fast=False).explain(X, methods, target)
    assert model not in layout._CONTIGUOUS_ONLY  # the model itself ran channels-last
    for name in methods:
        close(fast.maps[name], exact.maps[name], rtol=1e-4)


def test_a_cam_pass_on_a_model_that_views_its_conv_output_falls_back() -> None:
    model = with_statistics(Viewed())
    fast = seewhy.Explainer(model, layer="conv").explain(X, ["gradcam", "layercam"], "top2")
    assert model in layout._CONTIGUOUS_ONLY
    exact = seewhy.Explainer(model, layer="conv", fast=False).explain(X, ["gradcam"], "top2")
    close(fast.layer_maps["gradcam"], exact.layer_maps["gradcam"], rtol=1e-4)


def test_a_model_that_views_its_conv_output_falls_back_to_contiguous() -> None:
    model = with_statistics(Viewed())
    assert model not in layout._CONTIGUOUS_ONLY
    fast = seewhy.Explainer(model, layer="conv").explain(X, ["gradient", "gradcam"], "top2")
    assert model in layout._CONTIGUOUS_ONLY
    exact = seewhy.Explainer(model, layer="conv", fast=False).explain(X, ["gradient"], "top2")
    close(fast.attributions["gradient"], exact.attributions["gradient"], rtol=1e-4)
    assert fast.layer_maps["gradcam"].abs().sum() > 0


def test_an_error_of_the_models_own_is_raised_and_does_not_disable_channels_last() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("the model's own failure")

    model = Broken()
    with pytest.raises(RuntimeError, match="own failure"):
        seewhy.Explainer(model, layer="conv").explain(X, ["gradient"], 0)
    assert model not in layout._CONTIGUOUS_ONLY
    assert not any("forward" in vars(m) for m in model.modules())
