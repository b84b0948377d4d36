"""ExplanationResult's pictures: shared scales, signed maps, colour bars, titles that say what
was computed, and the files save writes. On a hand-built result, read from the pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seewhy.render import Scale, blend, colorbar, explanation_figure, figure_layout
from seewhy.render.overlay import colormap_table
from seewhy.result import ExplanationResult, InputRecord

SIZE = 224  # the panel side at 100 dpi: panels are pasted without resizing
GREY = 100


def _bump(peak: float) -> torch.Tensor:
    """A (SIZE, SIZE) map: 0 at the border rising to ``peak`` in the middle."""
    axis = torch.linspace(-1, 1, SIZE)
    return peak * torch.clamp(1 - axis[:, None] ** 2 - axis[None, :] ** 2, min=0)


def _result(counterfactual: bool = False, source: str = "/home/someone/photos/cat one.png"):
    """One image, two targets (p = 0.995 and p = 0.005): Grad-CAM, HiResCAM (signed by its
    default relu=False), saliency ("abs") and guided backprop ("rgb")."""
    gradcam = torch.stack([_bump(3.0), _bump(0.015)])[None]  # the weak class: 1/200
    hirescam = torch.stack([_bump(2.0) - 0.5, _bump(0.01)])[None]
    saliency = torch.stack([_bump(1.0), _bump(0.5)])[None]
    attribution = torch.randn(1, 2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    maps = {"gradcam": gradcam, "hirescam": hirescam, "saliency": saliency}
    maps["guided_backprop"] = attribution.abs().amax(dim=2)
    return ExplanationResult(
        maps=maps,
        layer_maps={},
        targets=torch.tensor([[285, 281]]),
        scores=torch.tensor([[9.0, 3.7]]),
        probs=torch.tensor([[0.995, 0.005]]),
        labels=[["Egyptian cat", "tabby"]],
        images=np.full((1, SIZE, SIZE, 3), GREY, dtype=np.uint8),
        records=[InputRecord(source, 0, None)],
        model_name="tiny",
        layers={"gradcam": "features.3", "hirescam": "features.3"},
        options={"score": "logit", "counterfactual": counterfactual, "methods": {}},
        attributions={"guided_backprop": attribution},
        displays={"saliency": "abs", "guided_backprop": "rgb"},
    )


def _panel(figure: Image.Image, res: ExplanationResult, row: int, column: int) -> np.ndarray:
    box = figure_layout([res.block(0)], title="t").panels[0, row, column]
    return np.asarray(figure)[box[1] : box[3], box[0] : box[2]]


def test_a_weak_class_looks_as_weak_as_it_is_beside_the_top_class() -> None:
    """The shared scale: the p = 0.005 class's Grad-CAM peaks at 1/200 of the top class's,
    so its panel uses no colour above 1/200 of the jet scale (its own scale would use all)."""
    res = _result()
    figure = res.figure(0)
    photo = np.full((SIZE, SIZE, 3), GREY, np.uint8)
    jet = colormap_table("jet")
    # Blends of the grey photo with each jet colour: which colour each pixel was drawn with.
    drawn = [np.asarray(blend(photo[:1, :1], c.reshape(1, 1, 3), 0.5))[0, 0] for c in jet]
    weak = _panel(figure, res, 1, 1).reshape(-1, 3)
    used = {i for i, colour in enumerate(drawn) if (weak == colour).all(axis=1).any()}
    assert max(used) <= np.ceil(256 / 200)  # at most 1/200 of the way up the scale
    strong = _panel(figure, res, 0, 1).reshape(-1, 3)
    assert (strong == drawn[255]).all(axis=1).any()  # the top class reaches the top colour
    # Each map on its own scale: the weak map is as hot as the strong one.
    own = _panel(res.figure(0, scale="map"), res, 1, 1).reshape(-1, 3)
    assert (own == drawn[255]).all(axis=1).any()
    peak = float(res.maps["gradcam"].max())
    assert res.scales(0, "gradcam") == [Scale("cam", 0.0, peak)] * 2
    assert [s.high for s in res.scales(0, "gradcam", "map")] == pytest.approx(
        [3.0, 0.015], rel=1e-4
    )


def test_signed_maps_are_decided_by_the_method_and_drawn_centred_on_zero() -> None:
    res = _result()
    assert res.signed("hirescam")  # HiResCAM's relu is off by default
    assert not res.signed("gradcam") and not res.signed("saliency")
    res.options["methods"] = {"gradcam": {"relu": False}}
    assert res.signed("gradcam")  # as the request turned it off
    res.options["methods"] = {}
    res.maps["mine"] = torch.full((1, 2, 4, 4), -1.0)  # no known method: its data decides
    assert res.signed("mine")
    del res.maps["mine"]
    figure = res.figure(0)
    zero = _panel(figure, res, 0, 2)[0, 0]  # HiResCAM is -0.5 at the border: blue
    assert zero[2] > zero[0]
    # The weak row's HiResCAM is 0 at the border: bwr's white centre over the grey photo.
    centre = np.asarray(
        blend(np.full((1, 1, 3), GREY, np.uint8), colormap_table("bwr")[128:129][None], 0.5)
    )
    assert _panel(figure, res, 1, 2)[0, 0].tolist() == centre[0, 0].tolist()


def test_every_method_column_has_a_colour_bar_and_a_caption() -> None:
    res = _result()
    block = res.block(0)
    figure = np.asarray(explanation_figure([block], title="t"))
    layout = figure_layout([block], title="t")
    cmaps = {1: "jet", 2: "bwr", 3: "gray"}  # gradcam, hirescam (signed), saliency
    assert set(layout.bars) == {(0, c) for c in cmaps}  # guided backprop ("rgb"): no bar
    for column, cmap in cmaps.items():
        left, top, right, bottom = layout.bars[0, column]
        middle = figure[(top + bottom) // 2, left + 1 : right - 1]
        expected = colorbar(cmap, right - left, 1)[0, 1:-1]
        if cmap == "bwr":  # a tick marks 0 at the centre
            keep = np.arange(len(middle)) != (right - left) // 2 - 1
            middle, expected = middle[keep], expected[keep]
        np.testing.assert_array_equal(middle, expected)
    captions = dict(zip(res.columns(), block.captions, strict=True))
    assert captions["gradcam"] == "one scale for this image's targets"
    assert captions["hirescam"].endswith("red: raises the row's class score, blue: lowers it")
    assert "99th percentile" in captions["saliency"]
    assert captions["guided_backprop"].startswith("gradient image: grey = 0")
    assert res.block(0, "global").captions[0] == "one scale for every image of the run"


def test_titles_say_what_was_computed() -> None:
    res = _result(counterfactual=True)
    block = res.block(0)
    assert block.row_labels == [
        "against: Egyptian cat (285)  p=1.00",
        "against: tabby (281)  p=0.00",
    ]
    assert block.subtitle.startswith("score: -logit (counterfactual")
    assert block.methods[:2] == ["gradcam\nlayer features.3", "hirescam\nlayer features.3"]
    assert _result().block(0).subtitle == "score: logit of each row's class"
    # The figure's title is the file's name, not the machine's path to it.
    expected = explanation_figure([block], title="cat one.png")
    assert np.array_equal(np.asarray(res.figure(0)), np.asarray(expected))


def test_save_writes_what_is_asked_and_overlays_are_the_figure_s_panels(tmp_path: Path) -> None:
    res = _result()
    entry = json.loads(res.save(tmp_path / "default").read_text())[0]
    assert set(entry["maps"]["gradcam"]) == {"npy", "display"} and "figure" in entry
    entry = json.loads(
        res.save(tmp_path / "all", what=["figure", "overlays", "maps"], scale="map").read_text()
    )[0]
    weak = Image.open(tmp_path / "all" / entry["maps"]["gradcam"]["overlays"][1])
    assert np.array_equal(np.asarray(weak), np.asarray(res.overlay(0, "gradcam", 1, scale="map")))
    figure = Image.open(tmp_path / "all" / entry["figure"])
    assert np.array_equal(_panel(figure, res, 1, 1), np.asarray(weak))
    entry = json.loads(
        res.save(tmp_path / "jpeg", what=["overlays"], overlay_format="jpeg").read_text()
    )[0]
    assert "figure" not in entry and "npy" not in entry["maps"]["gradcam"]
    assert Image.open(tmp_path / "jpeg" / entry["maps"]["gradcam"]["overlays"][0]).format == "JPEG"
    with pytest.raises(ValueError, match="cannot save 'figures'.*Did you mean 'figure'"):
        res.save(tmp_path / "bad", what=["figures"])
    with pytest.raises(ValueError, match="scale must be one of map, image, global"):
        res.save(tmp_path / "bad", scale="shared")


def test_a_fused_column_says_its_strengths_do_not_compare() -> None:
    """fuse_maps scales each layer's map to [0, 1] alone: a weak class's fused map can be as
    bright as a strong one's, so the shared scale's caption must not be read as comparing."""
    from helpers.models import TinyGapNet

    import seewhy

    torch.manual_seed(0)
    explainer = seewhy.Explainer(TinyGapNet(), layer=["features.1", "features"])
    fused = explainer.explain(torch.randn(1, 3, 16, 16), ["gradcam"], "top2")
    one = seewhy.Explainer(TinyGapNet(), layer="features").explain(
        torch.randn(1, 3, 16, 16), ["gradcam"], "top2"
    )
    caption = fused.block(0).captions[0 + fused.columns().index("gradcam")]
    assert "strengths do not compare" in caption
    assert "strengths do not compare" not in one.block(0).captions[0]
