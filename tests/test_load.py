"""seewhy.load: a saved result read back equals the saved one and draws the same figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seewhy
from seewhy.errors import SeewhyError
from seewhy.report import save_results


@pytest.fixture(scope="module")
def saved(tmp_path_factory, chelsea_image_folder):
    model = seewhy.load_model("efficientnet_lite0", "random")
    explainer = seewhy.Explainer(model, layer=["blocks.5", "auto"])
    with pytest.warns(seewhy.SeewhyWarning, match="skipped 1 file that is not an image"):
        result = explainer.explain(
            chelsea_image_folder,
            {"gradcam": {"relu": False}, "saliency": {}, "smooth:gradcam++": {"n": 2, "seed": 0}},
            targets="top2",
        )
    out = tmp_path_factory.mktemp("saved")
    result.save(out)
    return result, out


@pytest.fixture(scope="module")
def chelsea_image_folder(tmp_path_factory):
    from PIL import Image

    from seewhy.data import example_image

    folder = tmp_path_factory.mktemp("photos")
    photo = Image.open(example_image())
    photo.save(folder / "a_cat.png")
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "b_flipped.jpg")
    (folder / "c_broken.png").write_bytes(b"not a png")
    (folder / "d_notes.txt").write_text("skipped")
    return folder


def test_the_round_trip_keeps_maps_targets_scores_labels_and_the_request(saved) -> None:
    result, out = saved
    loaded = seewhy.load_result(out)
    assert loaded.model_name == result.model_name
    assert loaded.records == result.records
    assert loaded.skipped == result.skipped and len(loaded.skipped) == 1
    assert loaded.methods == result.methods
    for method in result.maps:
        torch.testing.assert_close(loaded.maps[method], result.maps[method], rtol=0, atol=0)
    for method, layers in result.maps_by_layer.items():
        for layer, maps in layers.items():
            torch.testing.assert_close(loaded.maps_by_layer[method][layer], maps, rtol=0, atol=0)
    for key, maps in result.layer_maps.items():
        torch.testing.assert_close(loaded.layer_maps[key], maps, rtol=0, atol=0)
    for method, attribution in result.attributions.items():
        torch.testing.assert_close(loaded.attributions[method], attribution, rtol=0, atol=0)
    assert torch.equal(loaded.targets, result.targets)
    assert torch.equal(loaded.scores, result.scores)
    torch.testing.assert_close(loaded.probs, result.probs, rtol=0, atol=0, equal_nan=True)
    assert loaded.labels == result.labels
    assert loaded.layers == result.layers
    assert loaded.refused == result.refused
    # the request, and how the folder's pictures were drawn
    assert loaded.options == {**result.options, "scale": "image", "box_threshold": None}
    assert loaded.options["methods"]["gradcam"] == {"relu": False}
    np.testing.assert_array_equal(loaded.images, result.images)


def test_a_loaded_result_draws_the_same_figure_pixel_for_pixel(saved) -> None:
    result, out = saved
    loaded = seewhy.load_result(out)
    for index in range(len(result)):
        np.testing.assert_array_equal(
            np.asarray(loaded.figure(index)), np.asarray(result.figure(index))
        )
    np.testing.assert_array_equal(
        np.asarray(loaded.overlay(1, "saliency", 1)), np.asarray(result.overlay(1, "saliency", 1))
    )


def test_models_side_by_side_load_as_a_list_or_by_name(tmp_path, chelsea_path) -> None:
    models = [seewhy.load_model(n, "random") for n in ("efficientnet_lite0", "efficientnet_lite1")]
    results = seewhy.explain_models(models, chelsea_path, targets="top2")
    save_results(results, tmp_path)
    loaded = seewhy.load_results(tmp_path)
    assert [r.model_name for r in loaded] == ["efficientnet_lite0", "efficientnet_lite1"]
    assert torch.equal(loaded[1].scores, results[1].scores)
    assert (
        seewhy.load_result(tmp_path, model="efficientnet_lite1").model_name == "efficientnet_lite1"
    )
    with pytest.raises(SeewhyError, match="holds 2 models"):
        seewhy.load_result(tmp_path)
    with pytest.raises(SeewhyError, match="Did you mean 'efficientnet_lite1'"):
        seewhy.load_result(tmp_path, model="efficientnet_lite")


def test_a_folder_without_a_report_is_named(tmp_path) -> None:
    with pytest.raises(SeewhyError, match="no report.json here"):
        seewhy.load_result(tmp_path)


@pytest.mark.parametrize(("scale", "box_threshold"), [("map", None), ("global", 0.15)])
def test_a_folder_saved_with_another_scale_or_boxes_draws_its_saved_figure(
    saved, tmp_path, scale, box_threshold
) -> None:
    from PIL import Image

    result, _ = saved
    result.save(tmp_path, scale=scale, box_threshold=box_threshold)
    loaded = seewhy.load_result(tmp_path)
    assert loaded.options["scale"] == scale and loaded.options["box_threshold"] == box_threshold
    figure = next(tmp_path.glob("000_*/figure.png"))
    np.testing.assert_array_equal(
        np.asarray(loaded.figure(0).convert("RGB")), np.asarray(Image.open(figure).convert("RGB"))
    )
    assert not np.array_equal(  # the default drawing differs: the test can fail
        np.asarray(loaded.figure(0, scale="image", box_threshold=None)),
        np.asarray(result.figure(0, scale=scale, box_threshold=box_threshold)),
    ) or (scale, box_threshold) == ("image", None)


def test_a_folder_saved_without_maps_says_so(saved, tmp_path) -> None:
    result, _ = saved
    result.save(tmp_path, what=["figure"])
    with pytest.raises(SeewhyError, match="the maps were not saved"):
        seewhy.load_result(tmp_path)
