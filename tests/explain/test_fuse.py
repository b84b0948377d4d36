"""Several layers per call: the fusion rule by hand, its agreement with pytorch-grad-cam's
multi-layer Grad-CAM, and how a result holds per-layer and fused maps."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers.models import TinyGapNet

import seewhy
from seewhy.explain.fuse import fuse_attributions, fuse_maps, minmax


def test_minmax_scales_each_map_and_zeroes_a_constant_one() -> None:
    maps = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]], [[3.0, 3.0], [3.0, 3.0]]]])
    expected = torch.tensor([[[[0.0, 1 / 3], [2 / 3, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]])
    torch.testing.assert_close(minmax(maps), expected)


def test_fuse_maps_is_the_mean_of_the_scaled_maps_upsampled_to_the_input() -> None:
    fine = torch.tensor([[[[-1.0, 1.0], [3.0, 7.0]]]])  # (1, 1, 2, 2): scaled 0, .25, .5, 1
    coarse = torch.tensor([[[[5.0]]]])  # constant: scaled to 0, upsampled to 0
    fused = fuse_maps([fine, coarse], (2, 2))
    torch.testing.assert_close(fused, torch.tensor([[[[0.0, 0.125], [0.25, 0.5]]]]))
    # Scaled at the layer's resolution, then upsampled: a 1 x 2 map [0, 4] -> [0, 1] -> 4 px
    # with half-pixel centres: 0, .25, .75, 1.
    row = fuse_maps([torch.tensor([[[[0.0, 4.0]]]])], (1, 4))
    torch.testing.assert_close(row, torch.tensor([[[[0.0, 0.25, 0.75, 1.0]]]]))


def test_fuse_attributions_scales_each_by_its_peak_magnitude_without_shifting() -> None:
    a = torch.tensor([-2.0, 1.0]).reshape(1, 1, 2, 1, 1)  # peak 2: -1, .5
    b = torch.tensor([0.5, 0.25]).reshape(1, 1, 2, 1, 1)  # peak .5: 1, .5
    zero = torch.zeros(1, 1, 2, 1, 1)
    fused = fuse_attributions([a, b, zero])
    torch.testing.assert_close(fused.flatten(), torch.tensor([0.0, 1 / 3]))


def test_fused_gradcam_equals_pytorch_grad_cam_on_resnet18_layer3_and_layer4() -> None:
    """pytorch-grad-cam's GradCAM(target_layers=[layer3, layer4]) min-max scales the mean
    again; after a min-max of ours the two agree (measured: <= 1.8e-6)."""
    pgc = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    res = seewhy.Explainer(model, layer=["layer3", "layer4"], fast=False).explain(
        x, ["gradcam"], "top2"
    )
    assert res.layers["gradcam"] == ["layer3", "layer4"]
    for t in range(2):
        targets = [ClassifierOutputTarget(int(c)) for c in res.targets[:, t]]
        with pgc.GradCAM(model, target_layers=[model.layer3, model.layer4]) as peer:
            expected = torch.from_numpy(peer(x.clone().requires_grad_(True), targets))
        ours = minmax(res.maps["gradcam"][:, t])
        assert float(expected.std()) > 0.05  # not a degenerate map
        torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)


def test_several_layers_give_per_layer_and_fused_maps_from_one_call() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    methods = ["gradcam", "guided_gradcam", "saliency", "smooth:gradcam"]
    options = {name: ({"n": 2, "seed": 0} if name.startswith("smooth") else {}) for name in methods}
    res = seewhy.Explainer(model, layer=["layer3", "layer4"]).explain(x, options, "top2")
    assert res.methods == methods
    assert res.layers == {m: ["layer3", "layer4"] for m in methods if m != "saliency"}
    assert set(res.layer_maps) == {
        "gradcam@layer3",
        "gradcam@layer4",
        "smooth:gradcam@layer3",
        "smooth:gradcam@layer4",
    }
    assert res.layer_maps["gradcam@layer3"].shape == (1, 2, 4, 4)
    assert res.layer_maps["gradcam@layer4"].shape == (1, 2, 2, 2)
    only3 = seewhy.Explainer(model, layer="layer3").explain(
        x, ["gradcam", "guided_gradcam"], "top2"
    )
    torch.testing.assert_close(res.maps_by_layer["gradcam"]["layer3"], only3.maps["gradcam"])
    torch.testing.assert_close(
        res.maps_by_layer["guided_gradcam"]["layer3"], only3.maps["guided_gradcam"]
    )
    for method in ("gradcam", "guided_gradcam", "smooth:gradcam"):
        by_layer = res.maps_by_layer[method]
        expected = (minmax(by_layer["layer3"]) + minmax(by_layer["layer4"])) / 2
        if method != "guided_gradcam":  # CAM maps are scaled at the layer's resolution
            expected = fuse_maps(
                [res.layer_maps[f"{method}@layer3"], res.layer_maps[f"{method}@layer4"]], (64, 64)
            )
        torch.testing.assert_close(res.maps[method], expected)
        assert res.maps[method].shape == (1, 2, 64, 64)
    assert res.attributions["guided_gradcam"].shape == (1, 2, 3, 64, 64)
    assert float(res.attributions["guided_gradcam"].abs().amax()) <= 1.0
    assert "saliency" not in res.maps_by_layer


def test_one_layer_keeps_the_single_layer_result() -> None:
    torch.manual_seed(0)
    res = seewhy.Explainer(TinyGapNet(), layer="features").explain(
        torch.randn(2, 3, 16, 16), ["gradcam", "saliency"], "top2"
    )
    assert res.layers == {"gradcam": "features"}
    assert set(res.layer_maps) == {"gradcam"}
    assert res.maps_by_layer["gradcam"]["features"] is res.maps["gradcam"]
    normalized = res.normalized()
    torch.testing.assert_close(
        normalized.maps_by_layer["gradcam"]["features"], normalized.maps["gradcam"]
    )
    assert float(normalized.maps["gradcam"].amax()) == pytest.approx(1.0, abs=1e-4)
