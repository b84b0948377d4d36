"""Identities between methods that the papers prove, checked on real models and crafted tensors.

On a head of global average pooling followed by one Linear layer, ``dS_c/dA^k_ij = w_ck / Z``
at every position, so with ``CAM = sum_k w_ck A^k``:

- Grad-CAM before its ReLU is ``CAM / Z`` (the channel weights are the mean gradient, w / Z);
- HiResCAM is ``sum_k (w_ck / Z) A^k = CAM / Z`` too (HiResCAM paper);
- XGrad-CAM's weights ``sum(g A) / sum(A)`` are w / Z as well, so it equals Grad-CAM;
- LayerCAM is ``ReLU(sum_k ReLU(w_ck) A^k) / Z``;
- the mean of CAM over positions plus the bias is the logit.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers.models import TinyGapNet
from helpers.perturbation import layer_output
from PIL import Image
from torch import nn

import seewhy
from seewhy.data import example_image
from seewhy.methods import CamInputs, get_method

RTOL = 1e-4


class FlattenHeadNet(nn.Module):
    """The same trunk with a Flatten + Linear head over the 4x4 map: no global pooling."""

    def __init__(self, classes: int = 5, channels: int = 8) -> None:
        super().__init__()
        self.features = TinyGapNet(classes, channels).features
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * 4 * 4, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MlpHeadNet(nn.Module):
    """GAP followed by two Linear layers (K -> K -> classes): CAM's premise fails."""

    def __init__(self, classes: int = 5, channels: int = 8) -> None:
        super().__init__()
        self.features = TinyGapNet(classes, channels).features
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, channels),
            nn.ReLU(),
            nn.Linear(channels, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def gap_case(name: str) -> tuple[nn.Module, str, nn.Linear, torch.Tensor]:
    """(module, layer, the head's Linear, input) for a GAP + Linear model."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    if name == "tiny":
        model = TinyGapNet(channels=8).eval()
        return model, "features", model.fc, torch.randn(2, 3, 16, 16, generator=generator)
    if name == "resnet18":
        model = torchvision.models.resnet18(weights=None).eval()
        return model, "layer4", model.fc, torch.randn(2, 3, 160, 160, generator=generator)
    loaded = seewhy.load_model("efficientnet_lite0")
    photo = Image.open(example_image()).convert("RGB")
    x = loaded.preprocess([photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    return loaded.module, "bn2", loaded.module.classifier, x


def assert_close_to_scale(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """rtol 1e-4 relative to each map's largest magnitude (maps are signed and cross zero)."""
    scale = expected.abs().amax(dim=(-2, -1), keepdim=True)
    assert (scale > 0).all()
    torch.testing.assert_close(actual / scale, expected / scale, rtol=0, atol=RTOL)


@pytest.mark.parametrize("name", ["tiny", "resnet18", "efficientnet_lite0"])
def test_gap_linear_head_identities(name: str) -> None:
    model, layer, linear, x = gap_case(name)
    methods = {"cam": {}, "gradcam": {"relu": False}, "hirescam": {}, "xgradcam": {"relu": False}}
    res = seewhy.Explainer(model, layer=layer).explain(x, methods, targets="top3")
    cam = res.layer_maps["cam"]
    height, width = cam.shape[-2:]
    z = height * width
    assert z > 1

    # CAM is the Linear row of each class over the layer's channels.
    activations = layer_output(model, layer, x)
    weights = linear.weight.detach()[res.targets]  # (B, T, K)
    assert_close_to_scale(cam, torch.einsum("btk,bkhw->bthw", weights, activations))
    # Mean over positions + bias = the logit.
    logits = cam.mean(dim=(-2, -1)) + linear.bias.detach()[res.targets]
    torch.testing.assert_close(logits, res.scores, rtol=RTOL, atol=RTOL * res.scores.abs().max())

    assert_close_to_scale(res.layer_maps["gradcam"] * z, cam)
    assert_close_to_scale(res.layer_maps["hirescam"] * z, cam)
    assert_close_to_scale(res.layer_maps["xgradcam"] * z, cam)
    # Upsampling is linear, so the input-resolution maps keep the identities.
    assert_close_to_scale(res.maps["gradcam"] * z, res.maps["cam"])
    assert_close_to_scale(res.maps["hirescam"] * z, res.maps["cam"])

    relued = seewhy.Explainer(model, layer=layer).explain(
        x, ["gradcam", "layercam"], targets=res.targets.tolist()
    )
    torch.testing.assert_close(
        relued.layer_maps["gradcam"] * z, torch.relu(cam), rtol=RTOL, atol=RTOL * cam.abs().max()
    )
    positive = torch.einsum("btk,bkhw->bthw", torch.relu(weights), activations)
    assert_close_to_scale(relued.layer_maps["layercam"] * z, torch.relu(positive))


@pytest.mark.parametrize("head", [FlattenHeadNet, MlpHeadNet])
def test_cam_refuses_a_head_that_is_not_gap_then_one_linear(head: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = head().eval()
    x = torch.randn(2, 3, 8, 8)
    explainer = seewhy.Explainer(model, layer="features")
    with pytest.raises(seewhy.MethodError, match="Linear"):
        explainer.explain(x, ["cam"])
    # Grad-CAM has no such premise: it still gives a map, the mean-gradient one.
    res = explainer.explain(x, {"gradcam": {"relu": False}})
    activations = layer_output(model, "features", x)
    x_leaf = activations.clone().requires_grad_(True)
    score = model.head(x_leaf).gather(1, res.targets).sum()
    (gradients,) = torch.autograd.grad(score, x_leaf)
    expected = (gradients.mean(dim=(-2, -1))[:, :, None, None] * activations).sum(dim=1)
    assert_close_to_scale(res.layer_maps["gradcam"][:, 0], expected)


def crafted_constant_alpha(alpha: float) -> CamInputs:
    """Positive activations and per-channel constant gradients with every Grad-CAM++ alpha = ``alpha``.

    ``alpha_ij = 1 / (2 + S_k g_k)`` when g is constant over positions, so
    ``g_k = (1 / alpha - 2) / S_k`` (positive, since S_k > 0 and 1 / alpha > 2).
    """
    generator = torch.Generator().manual_seed(3)
    activations = torch.rand(2, 4, 3, 5, generator=generator, dtype=torch.float64) + 0.1
    sums = activations.sum(dim=(-2, -1))  # (B, K), different for every image and channel
    gradients = ((1 / alpha - 2) / sums)[:, None, :, None, None].expand(2, 1, 4, 3, 5)
    return CamInputs(activations, gradients.contiguous(), torch.tensor([[0], [2]]))


def test_gradcam_plusplus_equals_gradcam_when_every_alpha_is_one_over_z() -> None:
    z = 3 * 5
    inputs = crafted_constant_alpha(1 / z)
    g = inputs.gradients
    a = inputs.activations
    alpha = g**2 / (2 * g**2 + a.sum(dim=(-2, -1))[:, None, :, None, None] * g**3)
    torch.testing.assert_close(alpha, torch.full_like(alpha, 1 / z))
    plusplus = get_method("gradcam++").function(inputs, relu=False)
    gradcam = get_method("gradcam").function(inputs, relu=False)
    assert gradcam.abs().min() > 0
    torch.testing.assert_close(plusplus, gradcam, rtol=1e-12, atol=0)


@pytest.mark.parametrize("alpha", [0.02, 0.3])
def test_gradcam_plusplus_is_gradcam_times_alpha_z_for_any_constant_alpha(alpha: float) -> None:
    """With alpha constant, w_k = alpha * Z * mean(g): a positive scale of Grad-CAM."""
    z = 3 * 5
    inputs = crafted_constant_alpha(alpha)
    plusplus = get_method("gradcam++").function(inputs)
    gradcam = get_method("gradcam").function(inputs)
    torch.testing.assert_close(plusplus, alpha * z * gradcam, rtol=1e-12, atol=0)
