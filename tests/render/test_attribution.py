"""gradient_image, magnitude_heatmap, render_panel, and input-space panels in the figure."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from helpers.models import resnet18
from PIL import Image

import seewhy
from seewhy.render import (
    FigureBlock,
    explanation_figure,
    gradient_image,
    magnitude_heatmap,
    overlay,
    render_panel,
)


def test_gradient_image_normalization() -> None:
    """(a - mean) / std * 0.1 + 0.5, clipped, per image over every channel."""
    rng = np.random.default_rng(0)
    attribution = rng.normal(size=(3, 5, 4)) * 7.0 + 2.0
    attribution[0, 0, 0] = 1e3  # far beyond 5 std: clipped to white
    out = np.asarray(gradient_image(attribution))
    assert out.shape == (5, 4, 3) and out.dtype == np.uint8
    a = np.moveaxis(attribution, 0, -1)
    expected = np.clip((a - a.mean()) / a.std() * 0.1 + 0.5, 0, 1)
    np.testing.assert_array_equal(out, np.rint(expected * 255).astype(np.uint8))
    # The scale does not matter: an attribution of spread 1e-8 is drawn as the same image
    # (the authors' std + 1e-5 drew it mid-grey).
    np.testing.assert_array_equal(np.asarray(gradient_image(attribution * 1e-9)), out)
    assert out[0, 0, 0] == 255
    zero = np.asarray(gradient_image(np.zeros((3, 2, 2))))
    assert (zero == 128).all()  # no signal: mid-grey
    grey = np.asarray(gradient_image(np.arange(4.0).reshape(1, 2, 2)))
    assert (grey[..., 0] == grey[..., 1]).all()
    with pytest.raises(ValueError, match="C = 1 or 3"):
        gradient_image(np.zeros((4, 2, 2)))


def test_magnitude_heatmap_clips_at_the_percentile() -> None:
    heat = np.arange(100.0).reshape(10, 10) - 50.0  # |heat| from 0 to 50
    heat[0, 0] = -1e6  # one extreme pixel
    out = np.asarray(magnitude_heatmap(heat, clip_percentile=90.0))
    scale = np.percentile(np.abs(heat), 90.0)
    gray = matplotlib.colormaps["gray"]
    expected = gray(np.clip(np.abs(heat) / scale, 0, 1), bytes=True)[..., :3]
    np.testing.assert_array_equal(out, expected)
    assert (out[0, 0] == 255).all()
    assert (out.reshape(-1, 3)[:, 0] < 255).sum() > 80  # the rest is not washed out
    assert (np.asarray(magnitude_heatmap(np.zeros((3, 3)))) == 0).all()
    assert magnitude_heatmap(np.ones((4, 4)), size=(8, 6)).size == (6, 8)


def test_render_panel_by_kind() -> None:
    photo = np.full((8, 8, 3), 100, dtype=np.uint8)
    heat = np.linspace(-1, 1, 64).reshape(8, 8)
    evidence = heat + 1.0  # 0 .. 2: drawn 0 .. max, which is min-max here
    assert np.array_equal(
        np.asarray(render_panel(photo, evidence, "cam")), np.asarray(overlay(photo, evidence))
    )
    # A CAM with negative values (relu=False) is drawn on the diverging map, as "signed" is.
    assert np.array_equal(
        np.asarray(render_panel(photo, heat, "cam")),
        np.asarray(render_panel(photo, heat, "signed", clip_percentile=100.0)),
    )
    signed = np.asarray(render_panel(photo, heat, "signed"))
    assert signed[0, 0, 2] > signed[0, 0, 0] and signed[-1, -1, 0] > signed[-1, -1, 2]  # blue, red
    attribution = np.random.default_rng(1).normal(size=(3, 4, 4))
    rgb = render_panel(photo, heat, "rgb", attribution)
    assert rgb.size == (8, 8)  # resized to the photo
    assert np.array_equal(
        np.asarray(render_panel(photo, heat, "rgb")), np.asarray(render_panel(photo, heat, "abs"))
    )
    with pytest.raises(ValueError, match="kind must be one of"):
        render_panel(photo, heat, "sepia")


def test_figure_block_rejects_kinds_of_the_wrong_length() -> None:
    block = FigureBlock(
        "m", np.zeros((4, 4, 3), np.uint8), ["a", "b"], ["t0"], np.zeros((1, 2, 4, 4)), ["cam"]
    )
    with pytest.raises(ValueError, match="kinds must have one entry per method"):
        explanation_figure([block])


def test_result_figure_shows_cam_and_input_methods_side_by_side(tmp_path) -> None:
    methods = ["gradcam", "saliency", "guided_gradcam", "integrated_gradients"]
    res = seewhy.Explainer(resnet18(), layer="layer4").explain(
        torch.randn(1, 3, 64, 64),
        {**dict.fromkeys(methods, {}), "integrated_gradients": {"steps": 2}},
    )
    assert res.methods == methods
    assert [res.displays[m] for m in methods] == ["cam", "abs", "rgb", "signed"]
    block = res.block(0)
    assert block.kinds == ["cam", "abs", "rgb", "signed"]
    assert block.attributions[0] is None and block.attributions[2].shape == (1, 3, 64, 64)
    figure = res.figure(0)
    assert isinstance(figure, Image.Image)
    # Each panel is what render_panel draws for that method.
    for method in methods:
        panel = res.overlay(0, method, 0)
        attribution = res.attributions.get(method)
        expected = render_panel(
            res.images[0],
            res.maps[method][0, 0].numpy(),
            res.displays[method],
            None if attribution is None else attribution[0, 0].numpy(),
        )
        assert np.array_equal(np.asarray(panel), np.asarray(expected))
    report = res.save(tmp_path)
    assert report.exists()
    folder = next(tmp_path.glob("000_*"))
    assert (folder / "ResNet" / "guided_gradcam_attribution.npy").exists()
    assert not (folder / "ResNet" / "gradcam_attribution.npy").exists()
