"""seewhy's CAM maps agree with pytorch-grad-cam, Captum and torchcam wherever the definitions agree.

Every comparison runs on the same model, layer, input and targets, and reproduces the peer's
own post-processing on ``res.layer_maps`` (never the other way round), so a disagreement of
more than float rounding is a real difference. Measured agreement (max abs difference) on the
models below is <= 3e-6 on normalized maps and <= 5e-7 relative on Captum's raw maps; the
tolerances (1e-4) leave a margin for other BLAS builds and no more.

Architectures: torchvision ResNet-18 (residual), VGG-11 (plain, no BN, 14x14 layer),
MobileNetV3-Small (inverted residual, squeeze-excitation, hardswish), DenseNet-121 (dense
concatenation), all with random weights under a fixed seed, and the bundled EfficientNet-Lite0
with its real ImageNet weights at ``layer="auto"`` on a photo.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
import torch
import torchvision
from captum.attr import LayerGradCam
from PIL import Image
from pytorch_grad_cam import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchcam.methods import GradCAM as TCGradCAM
from torchcam.methods import LayerCAM as TCLayerCAM
from torchcam.methods import XGradCAM as TCXGradCAM

import seewhy
from seewhy.data import example_image
from seewhy.methods import CamInputs, get_method

METHODS = {
    "gradcam": {},
    "gradcam++": {},
    "xgradcam": {},
    "layercam": {},
    "hirescam": {},
    "eigencam": {"relu": False},  # the sign is compared separately
}
TARGETS = 2  # top-2 per image: also exercises the batched multi-target gradients
PGC_ATOL = 1e-4  # normalized maps in [0, 1]; measured <= 3e-6 (torchcam too)
CAPTUM_RTOL = 1e-4  # raw maps, relative to each map's peak; measured <= 5e-7


def calibrate_batchnorm(model: nn.Module, seed: int = 5) -> nn.Module:
    """Give a random-weight model's BatchNorm layers the statistics of a random batch.

    With init statistics (mean 0, var 1) MobileNetV3's activations shrink layer by layer in
    eval mode (logits ~1e-9): comparisons would be between degenerate near-zero maps.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: one pass sets the batch statistics
    model.train()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model(torch.randn(8, 3, 224, 224, generator=generator))
    return model.eval()


def frozen(model: nn.Module) -> nn.Module:
    """No weight gradients: the peers then backpropagate only to the input (2-3x faster on VGG)."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@functools.cache
def build(name: str) -> tuple[nn.Module | seewhy.LoadedModel, str]:
    """(model, layer) by name, built once per test session; weights frozen."""
    model, layer = _build(name)
    frozen(model.module if isinstance(model, seewhy.LoadedModel) else model)
    return model, layer


def _build(name: str) -> tuple[nn.Module | seewhy.LoadedModel, str]:
    torch.manual_seed(0)
    if name == "resnet18":
        return torchvision.models.resnet18(weights=None).eval(), "layer4"
    if name == "vgg11":
        return torchvision.models.vgg11(weights=None).eval(), "features.19"
    if name == "mobilenet_v3_small":
        return calibrate_batchnorm(torchvision.models.mobilenet_v3_small(weights=None)), "features"
    if name == "densenet121":
        # Not "features.norm5": see test_densenet_norm5_peers_read_activations_after_inplace_relu.
        return torchvision.models.densenet121(weights=None).eval(), "features.denseblock4"
    if name == "efficientnet_lite0":
        return seewhy.load_model("efficientnet_lite0"), "auto"
    raise KeyError(name)


def inputs_for(name: str, model: nn.Module | seewhy.LoadedModel) -> torch.Tensor:
    if isinstance(model, seewhy.LoadedModel):
        photo = Image.open(example_image()).convert("RGB")
        return model.preprocess([photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 224, 224, generator=generator)


@dataclass
class Case:
    name: str
    module: nn.Module
    layer: str
    layer_module: nn.Module
    x: torch.Tensor
    res: seewhy.ExplanationResult
    hooked: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    @property
    def peer_input(self) -> torch.Tensor:
        """The input for the peers; it requires grad because the weights are frozen."""
        return self.x.clone().requires_grad_(True)

    def activations_and_gradients(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A and dS/dA for target column ``t`` from plain hooks, computed once."""
        if t not in self.hooked:
            self.hooked[t] = hooked_activations_and_gradients(self, self.classes(t))
        return self.hooked[t]

    @property
    def size(self) -> tuple[int, int]:
        return int(self.x.shape[-2]), int(self.x.shape[-1])

    def classes(self, t: int) -> list[int]:
        return [int(c) for c in self.res.targets[:, t]]


ARCHS = ["resnet18", "vgg11", "mobilenet_v3_small", "densenet121", "efficientnet_lite0"]


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    """Free the models (VGG-11 holds 0.5 GB) when this module's tests are done."""
    yield
    build.cache_clear()


@pytest.fixture(scope="module", params=ARCHS)
def case(request: pytest.FixtureRequest) -> Case:
    model, layer = build(request.param)
    x = inputs_for(request.param, model)
    res = seewhy.Explainer(model, layer=layer).explain(x, METHODS, targets=f"top{TARGETS}")
    module = model.module if isinstance(model, seewhy.LoadedModel) else model
    layer = res.layers["gradcam"]
    return Case(request.param, module, layer, module.get_submodule(layer), x, res)


# ---------------------------------------------------------------- helpers


def pgc_postprocess(layer_maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam 1.5's post-processing of one layer's (B, h, w) maps.

    ``BaseCAM.compute_cam_per_layer``: ReLU, ``scale_cam_image`` (``x - min``, ``/ (1e-7 +
    max)`` at layer resolution, then ``cv2.resize``, bilinear, to the input size);
    ``aggregate_multi_layers``: ReLU, mean over the one layer, ``scale_cam_image`` again.
    """
    height, width = size
    resized = []
    for cam in np.maximum(layer_maps, 0):
        cam = cam - cam.min()
        cam = cam / (1e-7 + cam.max())
        resized.append(cv2.resize(np.float32(cam), (width, height)))  # default INTER_LINEAR
    out = np.maximum(np.float32(resized), 0)
    out = out - out.min(axis=(1, 2), keepdims=True)
    return np.float32(out / (1e-7 + out.max(axis=(1, 2), keepdims=True)))


def minmax(maps: torch.Tensor, eps: float) -> torch.Tensor:
    """Min-max over the last two dims, ``(x - min) / (max - min + eps)``."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    maps = maps - low
    return maps / (maps.amax(dim=(-2, -1), keepdim=True) + eps)


def assert_informative(normalized: np.ndarray) -> None:
    """The maps compared are not degenerate (constant or all zero)."""
    spread = normalized.reshape(len(normalized), -1).std(axis=1)
    assert (spread > 0.05).all(), f"degenerate maps, spreads {spread}"


def columns(method: str) -> range:
    """Target columns to compare: all for Grad-CAM, the second (a batched, non-top-1 target)
    for the others, which share the same gradients (one peer call per column: keeps it fast)."""
    return range(TARGETS) if method == "gradcam" else range(TARGETS - 1, TARGETS)


def run_pgc(cls: type, case: Case, classes: list[int] | None) -> np.ndarray:
    targets = None if classes is None else [ClassifierOutputTarget(c) for c in classes]
    with cls(model=case.module, target_layers=[case.layer_module]) as cam:
        return cam(input_tensor=case.peer_input, targets=targets)


def hooked_activations_and_gradients(
    case: Case, classes: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A and dS_c/dA from a plain forward hook and ``torch.autograd.grad``, independent of seewhy."""
    stored: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        stored["A"] = output
        return output.clone()  # in-place ops after the layer must not change A

    handle = case.layer_module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = case.module(case.peer_input)
            score = logits.gather(1, torch.tensor(classes)[:, None]).sum()
            (gradients,) = torch.autograd.grad(score, stored["A"])
    finally:
        handle.remove()
    return stored["A"].detach(), gradients.detach()


def gradcam_plusplus_closed_form(
    activations: torch.Tensor, gradients: torch.Tensor, eps: float = 0.0
) -> torch.Tensor:
    """Grad-CAM++ eq. 19 in float64: alpha = g^2 / (2 g^2 + sum(A) g^3 [+ eps]).

    ``eps=0``: the paper (alpha = 0 where the denominator is 0). ``eps=1e-6``: pytorch-grad-cam,
    which also zeroes alpha where g == 0.
    """
    a, g = activations.double(), gradients.double()
    g2 = g.pow(2)
    denominator = 2 * g2 + a.sum(dim=(-2, -1), keepdim=True) * g2 * g + eps
    alpha = torch.where(denominator != 0, g2 / denominator, torch.zeros_like(g))
    alpha = torch.where(g != 0, alpha, torch.zeros_like(g))
    weights = (alpha * torch.relu(g)).sum(dim=(-2, -1))
    return torch.relu((weights[:, :, None, None] * a).sum(dim=1))


# ---------------------------------------------------------------- pytorch-grad-cam

PGC_METHODS = {"gradcam": GradCAM, "xgradcam": XGradCAM, "layercam": LayerCAM, "hirescam": HiResCAM}


@pytest.mark.parametrize("method", list(PGC_METHODS))
def test_pytorch_grad_cam(case: Case, method: str) -> None:
    for t in columns(method):
        peer = run_pgc(PGC_METHODS[method], case, case.classes(t))
        # ReLU first: HiResCAM is signed in seewhy (as in the paper), ReLU'd in pytorch-grad-cam.
        ours = pgc_postprocess(torch.relu(case.res.layer_maps[method][:, t]).numpy(), case.size)
        assert_informative(peer)
        np.testing.assert_allclose(ours, peer, rtol=0, atol=PGC_ATOL)


def test_pytorch_grad_cam_upsampling_matches_ours(case: Case) -> None:
    """cv2's INTER_LINEAR equals our bilinear ``align_corners=False`` upsampling of ``res.maps``."""
    peer = run_pgc(GradCAM, case, case.classes(0))
    ours = minmax(case.res.maps["gradcam"][:, 0], eps=0).numpy()  # already ReLU'd
    np.testing.assert_allclose(ours, peer, rtol=0, atol=PGC_ATOL)


def test_pytorch_grad_cam_eigencam_up_to_sign(case: Case) -> None:
    """Same projection; pytorch-grad-cam keeps the SVD's arbitrary sign, seewhy fixes it."""
    peer = run_pgc(EigenCAM, case, None)
    assert_informative(peer)
    signed = case.res.layer_maps["eigencam"]  # relu=False
    for t in range(TARGETS):
        assert torch.equal(signed[:, t], signed[:, 0])  # class-agnostic
    for b in range(len(peer)):
        errors = [
            np.abs(pgc_postprocess(sign * signed[b : b + 1, 0].numpy(), case.size) - peer[b]).max()
            for sign in (1, -1)
        ]
        assert min(errors) < PGC_ATOL, errors
    # seewhy's sign: the map correlates positively with the channel-mean activation.
    activations, _ = case.activations_and_gradients(0)
    mean_map = activations.mean(dim=1)
    mean_map = mean_map - mean_map.mean(dim=(-2, -1), keepdim=True)
    assert ((signed[:, 0] * mean_map).sum(dim=(-2, -1)) > 0).all()


def test_pytorch_grad_cam_plusplus_differs_from_the_paper_only_by_its_epsilon(case: Case) -> None:
    classes = case.classes(0)
    peer = run_pgc(GradCAMPlusPlus, case, classes)
    activations, gradients = case.activations_and_gradients(0)
    with_eps = gradcam_plusplus_closed_form(activations, gradients, eps=1e-6)
    assert_informative(peer)
    np.testing.assert_allclose(
        pgc_postprocess(with_eps.float().numpy(), case.size), peer, rtol=0, atol=PGC_ATOL
    )
    # ... and the epsilon matters: seewhy's (paper) maps differ from the peer's by 5e-3 (VGG-11)
    # to 0.3 (MobileNetV3), 0.05 on EfficientNet-Lite0 with real weights.
    ours = pgc_postprocess(case.res.layer_maps["gradcam++"][:, 0].numpy(), case.size)
    assert np.abs(ours - peer).max() > 10 * PGC_ATOL


# ---------------------------------------------------------------- Grad-CAM++ (paper)


def test_gradcam_plusplus_equals_the_papers_closed_form(case: Case) -> None:
    for t in range(TARGETS):
        activations, gradients = case.activations_and_gradients(t)
        expected = gradcam_plusplus_closed_form(activations, gradients).float()
        ours = case.res.layer_maps["gradcam++"][:, t]
        peak = expected.amax(dim=(-2, -1), keepdim=True)
        assert (peak > 0).all()
        torch.testing.assert_close(ours / peak, expected / peak, rtol=0, atol=1e-4)
        # The method function on the hooked tensors gives the same map.
        inputs = CamInputs(activations, gradients[:, None], torch.tensor([case.classes(t)]).T)
        direct = get_method("gradcam++").function(inputs)[:, 0]
        torch.testing.assert_close(direct / peak, expected / peak, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- Captum


def test_captum_layer_gradcam_raw(case: Case) -> None:
    explainer = LayerGradCam(case.module, case.layer_module)
    for t in range(TARGETS):
        peer = explainer.attribute(
            case.peer_input, target=torch.tensor(case.classes(t)), relu_attributions=True
        )[:, 0].detach()
        ours = case.res.layer_maps["gradcam"][:, t]
        peak = peer.amax(dim=(-2, -1), keepdim=True)
        assert (peak > 0).all()
        torch.testing.assert_close(ours / peak, peer / peak, rtol=0, atol=CAPTUM_RTOL)


# ---------------------------------------------------------------- torchcam

TORCHCAM_METHODS = {"gradcam": TCGradCAM, "xgradcam": TCXGradCAM, "layercam": TCLayerCAM}


@pytest.mark.parametrize("method", list(TORCHCAM_METHODS))
def test_torchcam(case: Case, method: str) -> None:
    """torchcam ReLUs and min-maxes at layer resolution: ``(x - min) / (max + 1e-8)``."""
    for t in columns(method):
        with TORCHCAM_METHODS[method](case.module, case.layer) as extractor, torch.enable_grad():
            scores = case.module(case.peer_input)
            (peer,) = extractor(class_idx=case.classes(t), scores=scores)
        ours = minmax(torch.relu(case.res.layer_maps[method][:, t]), eps=1e-8)
        assert_informative(peer.numpy())
        torch.testing.assert_close(ours, peer, rtol=0, atol=PGC_ATOL)


# ---------------------------------------------------------------- a documented peer difference


def test_densenet_norm5_peers_read_activations_after_inplace_relu() -> None:
    """At DenseNet's ``features.norm5`` pytorch-grad-cam and torchcam disagree with seewhy.

    ``DenseNet.forward`` applies ``F.relu(features, inplace=True)`` to norm5's output A. Both
    peers keep a detached view of that tensor, so the activations they use are ReLU(A), not
    the layer's output. pytorch-grad-cam's tensor hook still sees dS/dA; torchcam takes
    ``autograd.grad`` w.r.t. the tensor after the in-place op, i.e. dS/dReLU(A), which under
    DenseNet's GAP + Linear head is W_c / Z everywhere. seewhy (which hands a clone to the
    rest of the network) and Captum use A and dS/dA. This test pins those causes exactly.
    """
    model, _ = build("densenet121")
    layer = "features.norm5"
    x = inputs_for("densenet121", model)
    classes = [150, 865]
    res = seewhy.Explainer(model, layer=layer).explain(x, {"gradcam": {"relu": False}}, classes)
    case = Case("densenet121", model, layer, model.get_submodule(layer), x, res)
    activations, gradients = case.activations_and_gradients(0)
    assert (activations < 0).any()
    gradcam = get_method("gradcam").function
    targets = torch.tensor(classes)[:, None]
    ours = gradcam(CamInputs(activations, gradients[:, None], targets), relu=False)[:, 0]
    torch.testing.assert_close(ours, res.layer_maps["gradcam"][:, 0], rtol=1e-4, atol=1e-6)

    peer = run_pgc(GradCAM, case, classes)
    post_relu = gradcam(CamInputs(torch.relu(activations), gradients[:, None], targets))[:, 0]
    np.testing.assert_allclose(pgc_postprocess(post_relu.numpy(), case.size), peer, atol=PGC_ATOL)
    assert np.abs(pgc_postprocess(ours.numpy(), case.size) - peer).max() > 0.05

    with TCGradCAM(model, layer) as extractor, torch.enable_grad():
        (tc,) = extractor(class_idx=classes, scores=model(case.peer_input))
    weights = model.classifier.weight[classes]  # (B, K): the head's gradient times Z
    post_relu_cam = torch.relu(torch.einsum("bk,bkhw->bhw", weights, torch.relu(activations)))
    torch.testing.assert_close(minmax(post_relu_cam, 1e-8), tc, rtol=0, atol=PGC_ATOL)
    assert (minmax(torch.relu(ours), 1e-8) - tc).abs().max() > 0.05

    # Captum's layer hook reads norm5's output before the in-place ReLU, as seewhy does.
    captum = LayerGradCam(model, case.layer_module).attribute(case.peer_input, target=targets[:, 0])
    peak = ours.abs().amax()
    torch.testing.assert_close(ours / peak, captum[:, 0].detach() / peak, rtol=0, atol=CAPTUM_RTOL)
