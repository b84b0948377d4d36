"""``synthesize`` on the bundled EfficientNet-Lite0 and on a tiny model.

Measured on this repository's 2-core CPU (single thread): the class-285 image written by the
CLI after 64 steps keeps p(285) > 0.9999 under 16 unseen jitter+scale draws; the filter
test raises channel 7 of ``blocks.2`` from about 1.6 (noise start) to about 28 (fast default).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.models import TinyGapNet, count_folds, resnet18, snapshot, with_statistics
from PIL import Image
from torch import nn

import seewhy
from seewhy.cli.main import main
from seewhy.engine import layout
from seewhy.errors import LayerError, MethodError, TargetError
from seewhy.synthesis import Channel, Class, Neuron, Transforms, Unit, synthesize

CAT = 285


def unseen_views(x: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` copies of ``x`` shifted by up to 4 px and scaled by 0.95-1.05 (new generator)."""
    generator = torch.Generator().manual_seed(seed)
    shift = (torch.rand(count, 2, generator=generator) * 8 - 4) * (2 / x.shape[-1])
    zoom = 0.95 + 0.1 * torch.rand(count, generator=generator)
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / zoom
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [count, *x.shape[1:]], align_corners=False)
    return F.grid_sample(x.expand(count, -1, -1, -1), grid, align_corners=False)


@pytest.mark.slow
def test_class_image_read_back_from_disk_is_recognized_under_unseen_jitter(
    lite0, tmp_path, capsys
) -> None:
    code = main(["visualize", "--class", "Egyptian cat", "--steps", "64", "--out", str(tmp_path)])
    assert code == 0
    path = tmp_path / "class_285_egyptian_cat.png"
    assert capsys.readouterr().out.strip() == str(path)
    image = Image.open(path)
    assert image.mode == "RGB" and image.size == (224, 224)
    views = unseen_views(lite0.preprocess(image), count=16, seed=1234)
    with torch.no_grad():
        probs = torch.softmax(lite0.module(views), dim=1)[:, CAT]
    assert probs.min().item() > 0.9, probs


def test_filter_visualization_raises_the_filter_far_above_its_start(lite0) -> None:
    result = synthesize(lite0, Channel("blocks.2", 7), steps=24, start="noise", progress=False)
    start, final = result.start_values[0].item(), result.final_values[0].item()
    # Measured: about 1.6 -> 28 (the mean activation of channel 7 on the noise start image).
    assert start > 0.5
    assert final > 10 * start and final - start > 15
    assert result.history.shape == (24, 1)
    assert result.objective == ["channel 7 of blocks.2"]


def test_same_seed_same_image_other_seed_other_image(lite0) -> None:
    def run(seed: int) -> np.ndarray:
        objectives = [Channel("blocks.1", 3), Neuron("blocks.1", 5)]
        options = {"steps": 3, "size": 64, "start": "noise", "progress": False}
        return synthesize(lite0, objectives, seed=seed, **options).images

    first, again, other = run(0), run(0), run(1)
    assert first.shape == (2, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_tensor_is_the_normalized_saved_image(lite0) -> None:
    result = synthesize(
        lite0, [Class(CAT), "unit:classifier:281"], steps=2, size=64, progress=False
    )
    assert result.tensor.shape == (2, 3, 64, 64)
    torch.testing.assert_close(result.tensor, lite0.normalize(list(result.images)))
    with torch.no_grad():
        logits = lite0.module(result.tensor)
    torch.testing.assert_close(result.final_values, logits[[0, 1], [CAT, 281]])
    assert result.objective == ["class 285 (Egyptian cat)", "unit 281 of classifier"]


def tiny() -> seewhy.LoadedModel:
    torch.manual_seed(0)
    return seewhy.load_model(TinyGapNet(), input_size=16)


def test_a_batch_runs_one_forward_per_step_and_each_image_follows_its_own_objective() -> None:
    model = tiny()
    calls: list[int] = []
    handle = model.module.register_forward_pre_hook(lambda _m, inputs: calls.append(len(inputs[0])))
    objectives = [Channel("features.2", 0), Channel("features.2", 1), Class(3)]
    try:
        result = synthesize(model, objectives, steps=5, lr=0.5, transforms=None, progress=False)
    finally:
        handle.remove()
    # a one-image probe of the shapes, then the start, the steps, the final measurement
    assert calls == [1] + [3] * (1 + 5 + 1)
    assert (result.final_values > result.start_values).all()
    assert result.history.shape == (5, 3)


def test_zero_start_without_regularizers_starts_at_the_mean_image() -> None:
    model = tiny()
    result = synthesize(model, Class(0), steps=0, transforms=None, progress=False)
    expected = np.round(np.array(model.mean) * 255 + 1e-9).astype(np.uint8)
    assert (result.images == expected).all()


def test_image_start_keeps_the_image_when_no_step_is_taken(chelsea_path) -> None:
    model = tiny()
    photo = Image.open(chelsea_path)
    result = synthesize(model, Class(0), steps=0, start=photo, parameterization="pixel")
    difference = result.images[0].astype(int) - model.display(photo).astype(int)
    assert np.abs(difference).max() <= 1


@pytest.mark.parametrize(
    ("objective", "options", "error", "message"),
    [
        (Channel("featurs.2", 0), {}, LayerError, "Did you mean 'features.2'"),
        (Channel("features.2", 6), {}, TargetError, "channel 6 is out of range"),
        (Unit("fc", 9), {}, TargetError, "unit 9 is out of range"),
        (Class(0), {"steps": -1}, MethodError, "steps must be"),
        (Class(0), {"parameterization": "wavelet"}, MethodError, "'pixel' or 'fourier'"),
        (Class(0), {"start": "ones"}, MethodError, "'zeros', 'noise'"),
        (Class(0), {"size": 0}, MethodError, "size must be"),
        (Class(0), {"transforms": Transforms(scale=(1.1, 0.9))}, MethodError, "0 < low <= high"),
    ],
)
def test_errors_leave_the_model_as_found(objective, options, error, message) -> None:
    model = tiny()
    model.module.train()
    model.module.fc.requires_grad_(False)
    user_hook = model.module.features.register_forward_hook(lambda *args: None)
    before = snapshot(model.module)
    with pytest.raises(error, match=message):
        synthesize(model, objective, **{"steps": 2, "progress": False, **options})
    assert snapshot(model.module) == before
    user_hook.remove()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lr": float("inf")}, "lr must be a positive finite number, got inf"),
        ({"lr": "0.1"}, "lr must be a positive finite number, got '0.1'"),
        ({"l2": float("nan")}, "l2 must be a finite number, at least 0"),
        ({"tv": float("inf")}, "tv must be a finite number, at least 0"),
        ({"l1": -1.0}, "l1 must be a finite number, at least 0"),
        ({"seed": 1.5}, "seed must be a whole number, got 1.5"),
        ({"seed": None}, "seed must be a whole number, got None"),
        ({"seed": 2**70}, "seed must be a whole number from -2\\*\\*63"),
        ({"transforms": Transforms(jitter=float("nan"))}, "transforms must hold finite"),
        ({"transforms": Transforms(rotate=-10)}, "at least 0; got jitter=8.0, rotate=-10"),
        ({"transforms": {"jitter": 2}}, "transforms must be a Transforms"),
        ({"decorrelate": "no"}, "decorrelate must be True or False, got 'no'"),
    ],
)
def test_non_finite_or_wrong_type_options_are_refused_before_any_work(options, message) -> None:
    # Before: an infinite lr or NaN weight gave a flat black or grey "result" (every pixel
    # NaN), a NaN jitter a flat grey one, and wrong types bare TypeErrors.
    model = tiny()
    calls: list[int] = []
    handle = model.module.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        with pytest.raises(MethodError, match=message):
            synthesize(model, Class(0), steps=2, progress=False, **options)
    finally:
        handle.remove()
    assert not calls


def test_a_plain_module_is_wrapped_like_load_model_wraps_it() -> None:
    torch.manual_seed(0)
    module = TinyGapNet().eval()
    result = synthesize(module, [Class(3), Channel("features.0", 1)], steps=2, size=16)
    assert result.objective == ["class 3", "channel 1 of features.0"]
    assert result.images.shape == (2, 16, 16, 3)
    with pytest.raises(MethodError, match="model must be a LoadedModel .* got str"):
        synthesize("TinyGapNet", Class(0), steps=1)


def test_an_index_past_the_layer_is_refused_before_the_batch_is_made(monkeypatch) -> None:
    # Before: the (N, 3, H, W) parameters and a forward of N images came first, so a
    # channel range of 10**8 ended in a MemoryError traceback instead of this line.
    module = importlib.import_module("seewhy.synthesis.synthesize")  # not the function
    made: list[tuple[int, ...]] = []
    real = module.make_image
    monkeypatch.setattr(
        module, "make_image", lambda kind, shape, *a: made.append(shape) or real(kind, shape, *a)
    )
    channels = [Channel("features.2", k) for k in range(40)]
    with pytest.raises(TargetError, match="channel 6 is out of range"):
        synthesize(tiny(), channels, steps=1, progress=False)
    assert not made


class Dead(nn.Module):
    """A class score that does not depend on the image: ReLU after a conv with a very
    negative bias, so every gradient is exactly zero."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.bias.fill_(-1e3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_an_image_no_step_changed_is_named_in_a_warning() -> None:
    # Before: a flat image of the start colour came back (EfficientNet-Lite0's classes at
    # 32 px), silently, as though it were what maximizes the class.
    model = seewhy.load_model(Dead().eval(), input_size=16)
    with pytest.warns(
        seewhy.SeewhyWarning, match=r"^class 1: the gradient was exactly zero"
    ) as caught:
        synthesize(model, [Class(1), Channel("conv", 0)], steps=3, start="noise")
    assert len(caught) == 1 and "conv" not in str(caught[0].message)  # the channel moved


def test_a_raising_callback_leaves_the_model_as_found() -> None:
    model = tiny()
    model.module.train()
    before = snapshot(model.module)

    def stop(step: int, values: torch.Tensor) -> None:
        if step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(model, Neuron("features.0", 2), steps=5, progress=False, callback=stop)
    assert snapshot(model.module) == before
    assert model.module.features[1].inplace is True


def test_success_leaves_the_model_as_found(lite0) -> None:
    before = snapshot(lite0.module)
    synthesize(lite0, Channel("blocks.0", 1), steps=1, size=32, transforms=Transforms())
    assert snapshot(lite0.module) == before


def test_fast_synthesis_folds_all_but_the_read_layers_pair_and_agrees(monkeypatch) -> None:
    engine = importlib.import_module("seewhy.engine.passes")  # the one fast-path set-up
    model = seewhy.load_model(with_statistics(resnet18(seed=1)), input_size=64)
    objectives = [Class(3), Channel("layer2.0.conv1", 5)]  # conv1's BatchNorm stays
    folded = count_folds(monkeypatch, engine)
    before = snapshot(model.module)
    fast = synthesize(model, objectives, steps=3, progress=False)
    assert folded == [38]
    assert snapshot(model.module) == before
    again = synthesize(model, objectives, steps=3, progress=False)
    assert np.array_equal(again.images, fast.images)  # same seed, same images
    folded.clear()
    exact = synthesize(model, objectives, steps=3, progress=False, fast=False)
    assert not folded
    # The same function: the starting values agree to rounding (the ascent then diverges).
    torch.testing.assert_close(fast.start_values, exact.start_values, rtol=1e-4, atol=1e-4)


class ViewsItsConvOutput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, stride=4)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.shape[0], -1))


def test_fast_synthesis_falls_back_to_contiguous_images() -> None:
    module = ViewsItsConvOutput().eval()
    model = seewhy.load_model(module, input_size=16)
    fast = synthesize(model, [Class(2), Channel("conv", 1)], steps=2, progress=False)
    assert module in layout._CONTIGUOUS_ONLY
    exact = synthesize(model, [Class(2), Channel("conv", 1)], steps=2, progress=False, fast=False)
    torch.testing.assert_close(fast.final_values, exact.final_values)
