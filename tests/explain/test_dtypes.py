"""Any dtype, any device, 1-channel models, explained from image files (issue 11, item 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import snapshot
from PIL import Image
from torch import nn

import seewhy
from seewhy import Explainer
from seewhy.data import example_image
from seewhy.errors import OptionError
from seewhy.models import LoadedModel

SIZE = 32

#: Every registered method with options that keep it cheap, and a ``smooth:`` wrapper.
CHEAP = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"n": 3, "seed": 0},
    "smoothgrad_sq": {"n": 3, "seed": 0},
    "vargrad": {"n": 3, "seed": 0},
    "occlusion": {"window": 16, "stride": 16},
    "smooth:gradcam": {"n": 3, "seed": 0},
}
METHODS = {name: CHEAP.get(name, {}) for name in [*seewhy.available_methods(), "smooth:gradcam"]}


class ConvBNNet(nn.Module):
    """conv-BN-ReLU x 2 (BatchNorms with statistics: the fold runs) -> GAP -> Linear."""

    def __init__(self, channels_in: int = 3, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(channels_in, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1, stride=2),
            nn.BatchNorm2d(8),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)
        for norm in (self.features[1], self.features[4]):
            norm.running_mean.normal_(0, 0.3)
            norm.running_var.uniform_(0.5, 2.0)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@pytest.fixture(scope="module")
def image_files(tmp_path_factory) -> list[str]:
    """Two PNGs: a crop of the bundled photo and random colours."""
    folder = tmp_path_factory.mktemp("images")
    photo = Image.open(example_image()).convert("RGB").resize((48, 40))
    noise = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    paths = [str(folder / "photo.png"), str(folder / "noise.png")]
    photo.save(paths[0])
    Image.fromarray(noise).save(paths[1])
    return paths


def explain(model: nn.Module, files: list[str], methods=None, **kw) -> seewhy.ExplanationResult:
    loaded = LoadedModel.wrap(model, input_size=SIZE)
    ex = Explainer(loaded, layer="features", batch_size=1, **kw)
    return ex.explain(files, methods or METHODS, targets="top2")


@pytest.fixture(scope="module")
def reference(image_files) -> seewhy.ExplanationResult:
    return explain(ConvBNNet(), image_files, ["gradcam", "cam", "ablationcam"])


# Measured (max |difference| / peak of Grad-CAM, CAM and Ablation-CAM against the float32
# model): float64 3e-7, float16 1.2e-3, bfloat16 7e-3.
@pytest.mark.parametrize(
    ("dtype", "tolerance"),
    [(torch.float64, 1e-5), (torch.float16, 3e-3), (torch.bfloat16, 3e-2)],
)
def test_every_method_in_every_dtype_from_files(image_files, reference, dtype, tolerance):
    model = ConvBNNet().to(dtype)
    before = snapshot(model)
    res = explain(model, image_files)
    for name in METHODS:
        maps = res.maps[name]
        assert maps.dtype == torch.float32, name
        assert torch.isfinite(maps).all(), name
        assert maps.abs().amax() > 0, name
    for kind in (res.scores, res.probs, *res.attributions.values(), *res.layer_maps.values()):
        assert kind.dtype == torch.float32
    # The same targets as the float32 model, and the same maps to the dtype's rounding.
    assert torch.equal(res.targets, reference.targets)
    for name in ("gradcam", "cam", "ablationcam"):
        ours, theirs = res.layer_maps[name], reference.layer_maps[name]
        assert (ours - theirs).abs().max() <= tolerance * theirs.abs().max(), name
    assert {p.dtype for p in model.parameters()} == {dtype}
    assert {b.dtype for b in model.buffers() if b.is_floating_point()} == {dtype}
    assert snapshot(model) == before


def test_half_precision_model_fast_and_exact_agree(image_files):
    """The BatchNorm fold (weights folded in float64, rounded once to float16)."""
    model = ConvBNNet().half()
    fast = explain(model, image_files, ["gradcam"])
    exact = explain(model, image_files, ["gradcam"], fast=False)
    peak = exact.layer_maps["gradcam"].abs().max()
    assert (fast.layer_maps["gradcam"] - exact.layer_maps["gradcam"]).abs().max() <= 3e-3 * peak


def test_one_channel_model_reads_the_luma_of_image_files(image_files):
    model = ConvBNNet(channels_in=1)
    ex = Explainer(model, layer="features")
    assert ex.model.mean == (0.459,) and ex.model.std == (0.2256,)
    ex.model.input_size = SIZE
    res = ex.explain(image_files, METHODS, targets="top2")
    for name in METHODS:
        assert res.maps[name].dtype == torch.float32 and torch.isfinite(res.maps[name]).all()
    assert res.attributions["saliency"].shape[2] == 1
    # The input is the luma of the RGB display, normalized with the one-channel mean and std.
    display = ex.model.display(Image.open(image_files[0])).astype(np.float64) / 255
    luma = display @ np.array([0.299, 0.587, 0.114])
    by_hand = torch.tensor((luma - 0.459) / 0.2256, dtype=torch.float32)[None, None]
    alone = ex.explain(by_hand, ["gradcam", "saliency"], targets="top2")
    torch.testing.assert_close(res.maps["gradcam"][:1], alone.maps["gradcam"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        res.maps["saliency"][:1], alone.maps["saliency"], atol=1e-5, rtol=1e-4
    )
    # The overlays are drawn on what the model saw: the gray image, in three channels.
    images = res.images
    assert images.shape == (2, SIZE, SIZE, 3)
    assert (images[..., 0] == images[..., 1]).all() and (images[..., 1] == images[..., 2]).all()
    assert np.abs(images[0, ..., 0] / 255 - luma).max() < 1 / 255 + 1e-6


def test_bad_device_names_the_value_and_what_is_allowed():
    with pytest.raises(OptionError, match=r"device='gpu' is not a device name.*'cpu'"):
        Explainer(ConvBNNet(), device="gpu")
    if torch.cuda.device_count() < 10:
        with pytest.raises(OptionError, match=r"device='cuda:9' is not available.*'cpu'"):
            Explainer(ConvBNNet(), device="cuda:9")
    assert Explainer(ConvBNNet(), device="cpu").device == torch.device("cpu")


ACCELERATORS = [
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
    pytest.param(
        "mps", marks=pytest.mark.skipif(not torch.backends.mps.is_available(), reason="no MPS")
    ),
]


@pytest.mark.parametrize("device", ACCELERATORS)
def test_device_moves_a_cpu_model_for_the_call_and_back(image_files, reference, device):
    model = ConvBNNet()
    parameters = list(model.parameters())
    before = snapshot(model)
    res = explain(model, image_files, ["gradcam", "cam", "ablationcam"], device=device)
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert all(a is b for a, b in zip(parameters, model.parameters()))
    assert snapshot(model) == before
    for name in ("gradcam", "cam", "ablationcam"):
        ours, theirs = res.layer_maps[name], reference.layer_maps[name]
        assert ours.device.type == "cpu"
        assert (ours - theirs).abs().max() <= 1e-4 * theirs.abs().max()


@pytest.mark.parametrize("device", ACCELERATORS)
def test_a_model_on_the_device_runs_there(image_files, device):
    model = ConvBNNet().to(device).half()
    res = explain(model, image_files, ["gradcam", "saliency"])
    assert {p.device.type for p in model.parameters()} == {device}
    assert res.maps["gradcam"].device.type == "cpu" and torch.isfinite(res.maps["gradcam"]).all()
