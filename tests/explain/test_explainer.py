"""The Explainer end to end: inputs of every kind, bad files in a batch, the bundled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from helpers.models import TinyGapNet
from PIL import Image

import seewhy
from seewhy.models import LoadedModel


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel(TinyGapNet(), "tiny", input_size=16)


def test_paths_pil_arrays_and_tensors_agree(tiny, tmp_path) -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(array).save(path)
    ex = seewhy.Explainer(tiny, layer="features")
    by_path = ex.explain([str(path)], ["gradcam"], "top2")
    by_pil = ex.explain(Image.fromarray(array), ["gradcam"], "top2")
    by_array = ex.explain([array], ["gradcam"], "top2")
    by_tensor = ex.explain(tiny.preprocess(array), ["gradcam"], "top2")
    for other in (by_pil, by_array, by_tensor):
        torch.testing.assert_close(other.maps["gradcam"], by_path.maps["gradcam"])
        assert other.targets.tolist() == by_path.targets.tolist()
    assert by_path.sources == [str(path)]
    assert by_tensor.sources == ["tensor[0]"]
    assert np.array_equal(by_path.images[0], array)


def test_bad_file_in_a_batch_is_reported_and_others_run(tiny, tmp_path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (20, 20), (200, 10, 10)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    res = seewhy.Explainer(tiny, layer="features").explain([str(bad), str(good)], ["gradcam"])
    assert len(res) == 1 and res.sources == [str(good)]
    assert [r.ok for r in res.records] == [False, True]
    assert "bad.png" in res.records[0].error
    report = res.report()
    assert report[0]["status"] == "error" and report[1]["status"] == "ok"
    with pytest.raises(seewhy.ImageError, match="bad.png"):
        seewhy.Explainer(tiny, layer="features").explain([str(bad)])


def test_unknown_method_and_bad_option_fail_before_any_work(tiny) -> None:
    ex = seewhy.Explainer(tiny, layer="features")
    with pytest.raises(seewhy.MethodError, match="'gradcam'"):
        ex.explain(torch.zeros(1, 3, 16, 16), ["gradcamm"])
    with pytest.raises(seewhy.MethodError, match="Allowed options: relu"):
        ex.explain(torch.zeros(1, 3, 16, 16), {"gradcam": {"bogus": 1}})


def test_normalized_keeps_zero_maps_zero_and_scales_to_one(tiny) -> None:
    res = seewhy.Explainer(tiny, layer="features").explain(
        torch.randn(2, 3, 16, 16), ["gradcam", "layercam"], "top3"
    )
    norm = res.normalized()
    for key, maps in norm.maps.items():
        raw = res.maps[key].flatten(2).double()
        low, high = raw.amin(-1, keepdim=True), raw.amax(-1, keepdim=True)
        expected = ((raw - low) / (high - low + 1e-8)).float()
        torch.testing.assert_close(maps.flatten(2), expected)
        assert float(maps.amax()) == pytest.approx(1.0, abs=1e-3)
    zero = torch.zeros(1, 1, 4, 4)
    res.maps["zero"] = zero
    res.layer_maps["zero"] = zero
    assert torch.equal(res.normalized().maps["zero"], zero)


def test_batches_give_the_same_maps_as_one_pass(tiny) -> None:
    x = torch.randn(5, 3, 16, 16)
    whole = seewhy.Explainer(tiny, layer="features", batch_size=8).explain(x, ["gradcam++"], "top2")
    split = seewhy.Explainer(tiny, layer="features", batch_size=2).explain(x, ["gradcam++"], "top2")
    torch.testing.assert_close(whole.maps["gradcam++"], split.maps["gradcam++"])


def test_save_writes_figures_maps_and_report(tiny, tmp_path) -> None:
    import json

    res = seewhy.Explainer(tiny, layer="features").explain(
        torch.randn(2, 3, 16, 16), ["gradcam", "eigencam"], "top2"
    )
    report_path = res.save(tmp_path / "out", what=["figure", "overlays", "maps"])
    report = json.loads(report_path.read_text())
    assert [entry["status"] for entry in report] == ["ok", "ok"]
    entry = report[0]
    assert entry["model"] == "tiny" and len(entry["targets"]) == 2
    saved = np.load(tmp_path / "out" / entry["maps"]["gradcam"]["npy"])
    np.testing.assert_allclose(saved, res.maps["gradcam"][0].numpy())
    assert Image.open(tmp_path / "out" / entry["maps"]["eigencam"]["overlays"][1]).size == (16, 16)
    assert Image.open(tmp_path / "out" / entry["figure"]).mode == "RGB"
    assert res._repr_png_().startswith(b"\x89PNG")


def test_bundled_model_sees_the_cat_and_gradcam_mass_lies_on_it(lite0, chelsea_path) -> None:
    """Chelsea pasted in the top-left quadrant of a gray canvas: the map must find her there."""
    canvas = Image.new("RGB", (448, 448), (128, 128, 128))
    canvas.paste(Image.open(chelsea_path).convert("RGB").resize((224, 224)), (0, 0))
    res = seewhy.Explainer(lite0).explain([canvas, Image.open(chelsea_path)], ["gradcam"], "top1")
    assert 281 <= int(res.targets[0, 0]) <= 285 and int(res.targets[1, 0]) == 285
    assert float(res.probs[1, 0]) == pytest.approx(0.79, abs=0.03)
    heat = res.maps["gradcam"][0, 0]
    share = float(heat[:112, :112].sum() / heat.sum())
    assert share > 0.6, share  # chance would be 0.25


def test_device_is_honoured(tiny) -> None:
    ex = seewhy.Explainer(tiny, layer="features", device="cpu")
    assert ex.device == torch.device("cpu")
    assert ex.explain(torch.zeros(1, 3, 16, 16)).maps["gradcam"].device.type == "cpu"


def _live(name: str, size: int) -> torch.nn.Module:
    """A torchvision model with random weights whose BatchNorm statistics are measured on
    random batches: with made-up statistics most of these nets are dead (the same output
    for every input), and dead nets' maps are rounding noise on both paths."""
    model = getattr(torchvision.models, name)(weights=None)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, size, size, generator=generator))
    return model.eval()


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "shufflenet_v2_x0_5", "regnet_y_400mf"])
def test_fast_and_exact_agree_on_varied_architectures(name: str) -> None:
    """Squeeze-excitation, Hardswish, channel-shuffle views: the fast path (folded
    BatchNorms, channels-last) gives the model-as-given maps for every family of methods."""
    model = _live(name, 64)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    methods = {
        "gradcam": {},
        "layercam": {},
        "saliency": {},
        "integrated_gradients": {"steps": 4},
        "occlusion": {"window": 16, "stride": 16},
    }
    fast = seewhy.Explainer(model, layer="auto").explain(x, methods, "top2", progress=False)
    exact = seewhy.Explainer(model, layer="auto", fast=False).explain(
        x, methods, "top2", progress=False
    )
    assert torch.equal(fast.targets, exact.targets)
    assert not torch.allclose(exact.scores[0], exact.scores[1])  # a live network
    for key in fast.maps:
        ours, reference = fast.maps[key].flatten(), exact.maps[key].flatten()
        cosine = float(ours @ reference / (ours.norm() * reference.norm()))
        assert cosine > 0.999, (key, cosine)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, seewhy.OptionError, "at least 1; got 0"),
        ({"batch_size": 2.5}, seewhy.OptionError, "got 2.5"),
        ({"fast": "yes"}, seewhy.OptionError, "fast must be True or False"),
        ({"layer": []}, seewhy.LayerError, "names no layer"),
        ({"layer": [3]}, seewhy.LayerError, "a layer is named by a string"),
    ],
)
def test_bad_constructor_values_raise_seewhy_errors(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        seewhy.Explainer(TinyGapNet(), **kwargs)
    assert issubclass(error, seewhy.SeewhyError)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ({"score": "probability"}, seewhy.TargetError, "score='probability' is not allowed"),
        ({"counterfactual": "yes"}, seewhy.TargetError, "counterfactual must be True or False"),
        ({"methods": 3}, seewhy.MethodError, "is not understood"),
        ({"methods": {"gradcam": 1}}, seewhy.MethodError, "must be a dict"),
    ],
)
def test_bad_call_values_raise_seewhy_errors_before_any_work(call, error, message) -> None:
    explainer = seewhy.Explainer(TinyGapNet(), layer="features")
    with pytest.raises(error, match=message):
        explainer.explain(torch.zeros(1, 3, 8, 8), **call)


@pytest.fixture(scope="module")
def mobilenet() -> torch.nn.Module:
    """torchvision MobileNetV3-Small, random weights: its head is GAP -> Linear -> Hardswish
    -> Dropout -> Linear, not CAM's GAP + one Linear."""
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v3_small(weights=None).eval()


def test_a_refused_method_is_recorded_and_the_others_run(mobilenet, recwarn) -> None:
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    res = seewhy.Explainer(mobilenet, batch_size=2).explain(x, ["gradcam", "cam", "saliency"])
    assert res.methods == ["gradcam", "saliency"]
    assert list(res.refused) == ["cam"]
    assert res.refused["cam"].startswith("cam needs a head of global average pooling")
    assert res.maps["gradcam"].shape == (3, 1, 64, 64)
    assert torch.isfinite(res.maps["gradcam"]).all()
    assert "cam" not in res.layers and "cam" not in res.layer_maps
    # One warning for the call, not one per batch (two batches here).
    ours = [w for w in recwarn if "was not run" in str(w.message)]
    assert len(ours) == 1
    assert str(ours[0].message) == f"cam was not run: {res.refused['cam']}"
    assert ours[0].filename == __file__  # points at the caller's line
    assert [t.split("\n")[0] for t in res.block(0).methods] == ["gradcam", "cam", "saliency"]
    assert res.block(0).notes == [None, f"not run: {res.refused['cam']}", None]
    assert res.report()[0]["refused"] == res.refused
    with pytest.raises(seewhy.MethodError, match="'cam' was not run: cam needs a head"):
        res.overlay(0, "cam")


@pytest.mark.parametrize(
    ("request_", "name"),
    [
        ({"gradcam": {}, "smooth:cam": {"n": 2}}, "smooth:cam"),
        ({"gradcam": {}, "guided_gradcam": {"cam": "cam"}}, "guided_gradcam"),
    ],
)
def test_a_refused_companion_or_smoothed_method_refuses_its_method(
    mobilenet, request_, name
) -> None:
    with pytest.warns(UserWarning, match=f"{name} was not run: cam needs a head"):
        res = seewhy.Explainer(mobilenet).explain(torch.randn(1, 3, 64, 64), request_)
    assert res.methods == ["gradcam"] and list(res.refused) == [name]


def test_every_method_refused_raises_with_the_reasons(mobilenet) -> None:
    with pytest.raises(seewhy.MethodRefusal, match="no requested method can run") as caught:
        seewhy.Explainer(mobilenet).explain(torch.randn(1, 3, 64, 64), ["cam", "smooth:cam"])
    assert "cam was not run: cam needs a head" in str(caught.value)
    assert "smooth:cam was not run: cam needs a head" in str(caught.value)
    assert isinstance(caught.value, seewhy.MethodError)


def test_a_callable_target_for_cam_is_an_error_of_the_call_not_a_refusal(tiny) -> None:
    with pytest.raises(seewhy.MethodError, match="class indices only") as caught:
        seewhy.Explainer(tiny, layer="features").explain(
            torch.randn(1, 3, 16, 16), ["gradcam", "cam"], targets=lambda out: out[:, 0]
        )
    assert not isinstance(caught.value, seewhy.MethodRefusal)


def test_prepare_gives_records_and_the_batch_of_the_readable_inputs(tmp_path) -> None:
    from PIL import Image

    import seewhy

    explainer = seewhy.Explainer(seewhy.load_model("efficientnet_lite0"))
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    records, batch = explainer.prepare([str(good), str(bad)])
    assert [(r.source, r.index) for r in records] == [(str(good), 0), (str(bad), None)]
    assert records[1].error and "bad.png" in records[1].error
    assert tuple(batch.shape) == (1, 3, 224, 224)
    torch.testing.assert_close(batch, explainer.model.preprocess([Image.open(good)]))


@pytest.mark.parametrize(
    ("batch", "error", "message"),
    [
        (torch.zeros(0, 3, 8, 8), seewhy.ImageError, "holds no image"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), seewhy.ImageError, "preprocessed floats"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.complex64), seewhy.ImageError, "complex64"),
        (torch.zeros(1, 1, 8, 8), seewhy.ModelError, "takes images of 3 channels and was given 1"),
    ],
)
def test_tensor_inputs_the_model_cannot_take_are_refused_by_name(batch, error, message) -> None:
    with pytest.raises(error, match=message):
        seewhy.Explainer(TinyGapNet(), layer="features").explain(batch, ["gradcam"])


def test_a_float64_model_is_told_that_tensor_inputs_are_read_in_float32() -> None:
    explainer = seewhy.Explainer(TinyGapNet().double(), layer="features")
    with pytest.warns(seewhy.SeewhyWarning, match="rounded to about 7 significant digits"):
        explainer.explain(torch.rand(1, 3, 8, 8, dtype=torch.float64), ["gradcam"])


def test_a_target_function_with_per_image_data_scores_each_copy_for_its_own_image() -> None:
    """An embedding similarity to one reference per image: occlusion's masked copies (here
    as many per forward as there are images, all of one image) are scored against their own
    image's reference, as when each image is explained alone."""
    torch.manual_seed(0)
    model = TinyGapNet()
    images = torch.randn(2, 3, 16, 16)
    refs = torch.randn(2, 5)

    def similarity(out: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cosine_similarity(out, refs, dim=1)

    methods = {
        "occlusion": {"window": 8, "stride": 8, "batch_size": 2},
        "smoothgrad": {"n": 3, "seed": 0},
    }
    both = seewhy.Explainer(model, layer="features", batch_size=1).explain(
        images, methods, targets=similarity
    )
    for i in range(2):
        alone = seewhy.Explainer(model, layer="features").explain(
            images[i : i + 1],
            methods,
            targets=lambda out, i=i: torch.nn.functional.cosine_similarity(out, refs[i : i + 1]),
        )
        for method in methods:
            torch.testing.assert_close(both.maps[method][i], alone.maps[method][0])


def test_a_tensor_image_with_nan_or_inf_is_an_input_error_and_the_others_run() -> None:
    explainer = seewhy.Explainer(TinyGapNet(), layer="features")
    images = torch.rand(3, 3, 16, 16)
    images[1, 0, 2, 2] = float("nan")
    with pytest.warns(seewhy.SeewhyWarning, match=r"tensor\[1\] not explained: NaN"):
        result = explainer.explain(images, ["gradcam"], 2)
    assert [r.index for r in result.records] == [0, None, 1]
    assert "NaN or infinite" in (result.records[1].error or "")
    alone = explainer.explain(images[2:], ["gradcam"], 2)
    torch.testing.assert_close(result.maps["gradcam"][1], alone.maps["gradcam"][0])
    images[:] = float("inf")
    with pytest.raises(seewhy.ImageError, match="no image could be read: tensor.0.: holds NaN"):
        explainer.explain(images, ["gradcam"], 2)
