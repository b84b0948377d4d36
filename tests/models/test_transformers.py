"""Vision transformers: the automatic layer, Grad-CAM against pytorch-grad-cam, every method.

The peer comparison follows ``tests/methods/test_peers.py``: the same model (random weights
under a fixed seed, weights frozen), layer, input and target; pytorch-grad-cam is given its
documented ``reshape_transform`` for the layer, and its post-processing is reproduced on
``res.layer_maps`` (ReLU, min-max, bilinear ``cv2.resize`` to the input, min-max).
Measured max abs difference of the [0, 1] maps: <= 1e-6 on all five models; the tolerance
is the issue's 1e-3 (on random-weight transformers a direct float32 computation and
pytorch-grad-cam have been seen to differ by up to 2e-4).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import timm
import torch
import torchvision
from helpers.engine import capture, loaded
from helpers.models import dirty, snapshot
from helpers.transformers import tiny_swin, tiny_vit
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import seewhy
from seewhy.engine import Objective, Runner
from seewhy.engine.layers import auto_layer
from seewhy.engine.spatial import Tokens

PGC_ATOL = 1e-3


def vit_reshape(prefix: int, side: int = 14) -> Callable[[torch.Tensor], torch.Tensor]:
    """pytorch-grad-cam's documented ViT ``reshape_transform`` (prefix tokens dropped)."""

    def reshape(tensor: torch.Tensor) -> torch.Tensor:
        result = tensor[:, prefix:, :].reshape(tensor.size(0), side, side, tensor.size(2))
        return result.transpose(2, 3).transpose(1, 2)

    return reshape


def swin_reshape(tensor: torch.Tensor, height: int = 7, width: int = 7) -> torch.Tensor:
    """pytorch-grad-cam's documented Swin ``reshape_transform`` for a (B, h, w, C) grid."""
    result = tensor.reshape(tensor.size(0), height, width, tensor.size(-1))
    return result.transpose(2, 3).transpose(1, 2)


#: name -> (builder, the layer layer="auto" picks, pytorch-grad-cam's reshape for it)
MODELS: dict[str, tuple[Callable[[], nn.Module], str, Callable]] = {
    "timm_vit_tiny": (
        lambda: timm.create_model("vit_tiny_patch16_224", pretrained=False),
        "blocks.11.norm1",
        vit_reshape(1),
    ),
    "timm_deit_tiny_distilled": (
        lambda: timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False),
        "blocks.11.norm1",
        vit_reshape(2),
    ),
    "timm_swin_tiny": (
        lambda: timm.create_model("swin_tiny_patch4_window7_224", pretrained=False),
        "norm",
        swin_reshape,
    ),
    "torchvision_vit_b_16": (
        lambda: torchvision.models.vit_b_16(weights=None),
        "encoder.layers.encoder_layer_11.ln_1",
        vit_reshape(1),
    ),
    "torchvision_swin_t": (lambda: torchvision.models.swin_t(weights=None), "norm", swin_reshape),
}


@functools.cache
def build(name: str) -> nn.Module:
    """The model, random weights under a fixed seed, weights frozen; built once."""
    torch.manual_seed(0)
    model = MODELS[name][0]().eval()
    if name == "torchvision_vit_b_16":
        # torchvision initialises the head to zeros: every gradient would be 0.
        nn.init.normal_(model.heads.head.weight, std=0.02)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    yield
    build.cache_clear()


def image(seed: int = 1) -> torch.Tensor:
    return torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def pgc_postprocess(layer_maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam 1.5's post-processing of one layer's (B, h, w) maps (as in
    ``tests/methods/test_peers.py``)."""
    resized = []
    for cam in np.maximum(layer_maps, 0):
        cam = cam - cam.min()
        cam = cam / (1e-7 + cam.max())
        resized.append(cv2.resize(np.float32(cam), (size[1], size[0])))
    out = np.maximum(np.float32(resized), 0)
    out = out - out.min(axis=(1, 2), keepdims=True)
    return np.float32(out / (1e-7 + out.max(axis=(1, 2), keepdims=True)))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_auto_layer(name: str) -> None:
    assert auto_layer(build(name), image()) == MODELS[name][1]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_gradcam_agrees_with_pytorch_grad_cam(name: str) -> None:
    model, (_, layer, reshape) = build(name), MODELS[name]
    x = image()
    res = seewhy.Explainer(model).explain(x, ["gradcam"])
    assert res.layers["gradcam"] == layer
    ours = pgc_postprocess(res.layer_maps["gradcam"][:, 0].numpy(), (224, 224))
    cam = GradCAM(model, target_layers=[model.get_submodule(layer)], reshape_transform=reshape)
    with cam:
        theirs = cam(
            input_tensor=x.clone().requires_grad_(True),
            targets=[ClassifierOutputTarget(int(res.targets[0, 0]))],
        )
    assert float(theirs.std()) > 0.05  # not a degenerate map
    assert np.abs(ours - theirs).max() <= PGC_ATOL


@pytest.mark.slow
def test_a_zero_head_warns_once_per_call() -> None:
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()  # head initialised to zeros
    x = torch.cat([image(1), image(2)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = seewhy.Explainer(model, batch_size=1).explain(x, ["gradcam"])
    zero = [w for w in caught if "exactly zero" in str(w.message)]
    assert len(zero) == 1
    assert "encoder.layers.encoder_layer_11.ln_1" in str(zero[0].message)
    assert float(res.layer_maps["gradcam"].abs().amax()) == 0


def test_tiny_zero_head_warns_and_a_trained_head_does_not() -> None:
    model = tiny_vit()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a live head: no warning
        seewhy.Explainer(model).explain(x, ["gradcam"])
    nn.init.zeros_(model.head.weight)
    with pytest.warns(UserWarning, match="blocks.1.norm1.*exactly zero.*trained weights"):
        seewhy.Explainer(model).explain(x, ["gradcam"])


def test_the_final_norm_of_a_class_token_vit_gets_zero_gradient_and_a_warning() -> None:
    # Why layer="auto" is blocks.<last>.norm1: after the last block only the class token
    # reaches the head.
    with pytest.warns(UserWarning, match="'norm'.*exactly zero"):
        seewhy.Explainer(tiny_vit(), layer="norm").explain(torch.randn(1, 3, 32, 32))


EVERY_METHOD = [m for m in seewhy.available_methods() if m != "cam"]  # ViT: no GAP head
OPTIONS = {
    "occlusion": {"window": 8, "stride": 8},
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"n": 2},
    "smoothgrad_sq": {"n": 2},
    "vargrad": {"n": 2},
}


@pytest.mark.parametrize("reg_tokens", [0, 2])
def test_every_method_runs_on_a_tiny_vit(reg_tokens: int) -> None:
    model = tiny_vit(reg_tokens=reg_tokens)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    methods = {m: OPTIONS.get(m, {}) for m in EVERY_METHOD}
    res = seewhy.Explainer(model).explain(x, methods)
    assert res.layers["gradcam"] == "blocks.1.norm1"
    assert res.layer_maps["gradcam"].shape == (2, 1, 4, 4)
    for method in EVERY_METHOD:
        maps = res.maps[method]
        assert maps.shape == (2, 1, 32, 32), method
        assert bool(torch.isfinite(maps).all()), method
        spread = maps.flatten(1).std(dim=1)
        assert bool((spread > 0).all()), f"{method}: a constant map"


def test_ablationcam_tail_on_tokens_reproduces_the_scores() -> None:
    # Unedited maps written back to tokens (prefix tokens restored) give the clean scores,
    # through a traced tail (after a block) and through whole forwards (inside one).
    model = tiny_vit(reg_tokens=2)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for layer in ("blocks.1.norm1", "blocks.0"):
        captured = capture(model, x, [layer], "top2", need_gradients=False)
        assert captured.views[layer] == Tokens(3, 4, 4)
        assert captured.activations[layer].shape == (2, 16, 4, 4)
        runner = Runner(loaded(model), Objective("top2")).copies(captured)
        head = runner.head_scores(layer, x, captured)
        scores = head(captured.activations[layer].clone(), torch.arange(2))
        torch.testing.assert_close(scores, captured.targets.objective, rtol=1e-5, atol=1e-5)


def test_cam_equals_gradcam_on_a_swin_final_norm() -> None:
    # Channels-last (B, 4, 4, C) -> GAP -> Linear: CAM's premise holds at "norm", where the
    # gradient is w_c / (h w) at every cell, so Grad-CAM = ReLU(CAM) / (h w).
    model = tiny_swin()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    res = seewhy.Explainer(model).explain(x, ["gradcam", "cam"])
    assert res.layers["gradcam"] == "norm"
    cam, gradcam = res.layer_maps["cam"], res.layer_maps["gradcam"]
    assert cam.shape == (2, 1, 4, 4)
    expected = torch.relu(cam) / 16
    assert float(expected.amax()) > 0
    torch.testing.assert_close(gradcam, expected, rtol=1e-4, atol=1e-6 * float(cam.abs().max()))


def test_ablation_and_score_cam_run_on_a_tiny_swin() -> None:
    model = tiny_swin()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    res = seewhy.Explainer(model).explain(
        x, {"ablationcam": {"relu": False}, "scorecam": {}, "guided_gradcam": {}}
    )
    for method in ("ablationcam", "scorecam", "guided_gradcam"):
        maps = res.maps[method]
        assert bool(torch.isfinite(maps).all()) and float(maps.std()) > 0, method


@pytest.mark.parametrize("build_model", [tiny_vit, tiny_swin])
def test_model_left_as_found(build_model) -> None:
    model = dirty(build_model())
    before = snapshot(model)
    x = torch.randn(1, 3, 32, 32)
    seewhy.Explainer(model).explain(x, ["gradcam", "ablationcam", "guided_gradcam", "scorecam"])
    with pytest.raises(seewhy.LayerError):
        seewhy.Explainer(model, reshape=lambda t: t.flatten(1)).explain(x, ["gradcam"])
    assert snapshot(model) == before
