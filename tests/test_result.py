"""ExplanationResult's lazily upsampled maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers.models import TinyGapNet

import seewhy
from seewhy.result import LazyMaps


def test_lazy_maps_compute_once_and_keep_order() -> None:
    calls: list[str] = []

    def make(value: float) -> torch.Tensor:
        calls.append("made")
        return torch.full((1, 1, 2, 2), value)

    maps = LazyMaps({"a": lambda: make(1.0), "b": torch.zeros(1, 1, 2, 2)})
    assert list(maps) == ["a", "b"] and len(maps) == 2 and calls == []
    assert float(maps["a"].sum()) == 4.0
    assert maps["a"] is maps["a"] and calls == ["made"]
    maps["c"] = torch.ones(1)
    del maps["b"]
    assert list(maps) == ["a", "c"]


def test_result_maps_are_the_bilinear_upsampled_layer_maps() -> None:
    torch.manual_seed(0)
    res = seewhy.Explainer(TinyGapNet(), layer="features").explain(
        torch.randn(2, 3, 16, 16), ["gradcam", "layercam"], "top2"
    )
    assert isinstance(res.maps, LazyMaps)
    for key in ("gradcam", "layercam"):
        expected = F.interpolate(
            res.layer_maps[key], size=(16, 16), mode="bilinear", align_corners=False
        )
        torch.testing.assert_close(res.maps[key], expected)
    assert set(res.normalized().maps) == {"gradcam", "layercam"}
