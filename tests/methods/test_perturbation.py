"""Occlusion, Score-CAM and Ablation-CAM: peers, hand-computed values, cost and hygiene.

Peers: Captum's ``Occlusion`` and pytorch-grad-cam's ``ScoreCAM`` / ``AblationCAM`` on
torchvision ResNet-18 (residual, ``layer4``) and VGG-11's layout (plain, in-place ReLUs,
``features.19``, its last ReLU). The fast VGG is VGG-11 at 1/8 of its width, so Score-CAM's
masked forwards stay cheap; the real VGG-11 runs under ``-m slow``. pytorch-grad-cam's maps
are min-max normalized, so ours are compared after ``(m - min) / (max - min + 1e-7)``.

Then, on tiny models: the Score-CAM and Ablation-CAM formulas computed by hand, the number of
forwards (top-5 costs what top-1 costs; identical, constant and dead channels run once or
never), counterfactual signs, option errors and the model left as found.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import Occlusion
from helpers.models import TinyGapNet, dirty, snapshot
from pytorch_grad_cam import AblationCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from scipy.stats import spearmanr
from torch import nn

import seewhy

PGC_ATOL = 1e-4  # normalized maps in [0, 1]; measured <= 2e-6
CAPTUM_RTOL = 1e-4  # occlusion differences, relative to the largest one; measured <= 1e-6

# ---------------------------------------------------------------- models


class NarrowVGG11(nn.Module):
    """VGG-11's layout (torchvision's ``make_layers``: 8 convs, in-place ReLUs, 5 max-pools;
    7x7 adaptive pool; classifier with in-place ReLUs and dropout) at 1/8 of the width."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        cfg: list[int | str] = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]
        self.features = torchvision.models.vgg.make_layers(cfg)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(128, 128),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(128, classes),
        )
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # torchvision's VGG init: activations keep scale
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class DupNet(nn.Module):
    """conv (stride 2) -> ReLU -> GAP -> Linear with 6 channels made by hand: 0 and 1 random,
    2 a copy of 0, 5 a copy of 1, 3 all zero, 4 the constant 0.7. Per image Score-CAM has 3
    distinct masks (channel 0's, channel 1's and the zero mask)."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 6, 3, padding=1, stride=2)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, classes)
        with torch.no_grad():
            weight, bias = self.conv.weight, self.conv.bias
            weight[2], bias[2] = weight[0], bias[0]
            weight[5], bias[5] = weight[1], bias[1]
            weight[3], bias[3] = 0.0, 0.0
            weight[4], bias[4] = 0.0, 0.7

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))


def dead_gapnet(classes: int = 8, dead: tuple[int, ...] = (1, 4)) -> TinyGapNet:
    """TinyGapNet whose ``dead`` channels at ``features`` are all zero (weight 0, bias -1)."""
    torch.manual_seed(2)
    model = TinyGapNet(classes=classes, channels=6).eval()
    with torch.no_grad():
        for k in dead:
            model.features[2].weight[k] = 0.0
            model.features[2].bias[k] = -1.0
    return model


def tiny(classes: int = 8) -> TinyGapNet:
    torch.manual_seed(0)
    return TinyGapNet(classes=classes, channels=6).eval()


# ---------------------------------------------------------------- helpers


def normalize(maps: torch.Tensor) -> torch.Tensor:
    """pytorch-grad-cam's final scaling: ``(m - min) / (max - min + 1e-7)`` per map."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    maps = maps - low
    return maps / (maps.amax(dim=(-2, -1), keepdim=True) + 1e-7)


def assert_informative(normalized: np.ndarray) -> None:
    spread = normalized.reshape(len(normalized), -1).std(axis=1)
    assert (spread > 0.05).all(), f"degenerate maps, spreads {spread}"


class Calls:
    """A user's forward pre-hook on a module, counting calls and the rows they carry."""

    def __init__(self, module: nn.Module) -> None:
        self.sizes: list[int] = []
        self.handle = module.register_forward_pre_hook(self)

    def __call__(self, _module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        self.sizes.append(int(args[0].shape[0]))

    @property
    def count(self) -> int:
        return len(self.sizes)

    def assert_passes(self, copies: int, batch_size: int) -> None:
        """The calls so far carried ``copies`` rows in as few passes as ``batch_size`` allows."""
        assert sum(self.sizes) == copies, self.sizes
        assert len(self.sizes) == math.ceil(copies / batch_size), self.sizes
        assert max(self.sizes) <= batch_size, self.sizes

    def reset(self) -> None:
        self.sizes.clear()


def layer_output(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """The layer's output from a plain hook (cloned: in-place ops after it can't change it)."""
    stored: dict[str, torch.Tensor] = {}

    def hook(_m: nn.Module, _i: object, output: torch.Tensor) -> None:
        stored["A"] = output.detach().clone()

    handle = model.get_submodule(layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return stored["A"]


def distinct_masks(activations: torch.Tensor) -> int:
    """How many different Score-CAM masks a batch has: a constant channel's mask is zero."""
    total = 0
    for image in activations:
        keys = set()
        for channel in image:
            flat = channel.flatten()
            constant = bool(flat.max() == flat.min())
            keys.add(None if constant else tuple(flat.tolist()))
        total += len(keys)
    return total


def naive_scorecam(
    model: nn.Module,
    x: torch.Tensor,
    activations: torch.Tensor,
    classes: torch.Tensor,
    *,
    sign: float = 1.0,
    align_corners: bool = False,
) -> torch.Tensor:
    """Score-CAM channel by channel, as the paper writes it: (B, T, h, w).

    Masks in float64, where a constant channel's upsampling rounds to a mask of ~1e-8 (in
    float32 the rounding of a constant channel's bilinear upsampling can be stretched to 1
    by the min-max).
    """
    maps = []
    for b in range(x.shape[0]):
        up = F.interpolate(
            activations[b].double().unsqueeze(1),
            size=x.shape[-2:],
            mode="bilinear",
            align_corners=align_corners,
        )
        low = up.amin(dim=(1, 2, 3), keepdim=True)
        high = up.amax(dim=(1, 2, 3), keepdim=True)
        masks = ((up - low) / (high - low + 1e-8)).float()  # (K, 1, H, W)
        with torch.no_grad():
            logits = model(x[b : b + 1] * masks)  # (K, classes)
        scores = sign * logits[:, classes[b]]  # (K, T)
        alpha = torch.softmax(scores, dim=0)
        maps.append(torch.relu(torch.einsum("kt,khw->thw", alpha, activations[b])))
    return torch.stack(maps)


def explain(model: nn.Module, x: torch.Tensor, methods: dict, targets: object = "top2", **kw):
    layer = kw.pop("layer", "features")
    return seewhy.Explainer(model, layer=layer).explain(
        x, methods, targets=targets, progress=False, **kw
    )


# ---------------------------------------------------------------- peers


@functools.cache
def build(name: str) -> tuple[nn.Module, str, torch.Tensor]:
    """(model, layer, input), built once per session."""
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    if name == "resnet18":
        model: nn.Module = torchvision.models.resnet18(weights=None, num_classes=10)
        return model.eval(), "layer4", torch.randn(1, 3, 64, 64, generator=generator)
    if name == "narrow_vgg11":
        x = torch.randn(2, 3, 64, 64, generator=generator)
        return NarrowVGG11().eval(), "features.19", x
    if name == "vgg11":
        model = torchvision.models.vgg11(weights=None, num_classes=10)
        return model.eval(), "features.19", torch.randn(1, 3, 32, 32, generator=generator)
    raise KeyError(name)


@dataclass
class Peer:
    name: str
    module: nn.Module
    layer: str
    x: torch.Tensor
    res: seewhy.ExplanationResult
    cache: dict[str, np.ndarray] = field(default_factory=dict)

    def classes(self, t: int) -> list[int]:
        return [int(c) for c in self.res.targets[:, t]]

    def pgc(self, cls: type, t: int) -> np.ndarray:
        """pytorch-grad-cam's map for target column ``t``, computed once."""
        key = f"{cls.__name__}{t}"
        if key not in self.cache:
            kwargs = {"batch_size": 64} if cls is AblationCAM else {}
            targets = [ClassifierOutputTarget(c) for c in self.classes(t)]
            layer = self.module.get_submodule(self.layer)
            with cls(model=self.module, target_layers=[layer], **kwargs) as cam:
                cam.batch_size = 64
                self.cache[key] = cam(input_tensor=self.x, targets=targets)
        return self.cache[key]


PEER_METHODS = {
    "scorecam": {"align_corners": True, "batch_size": 64},
    "ablationcam": {"batch_size": 64},
    "occlusion": {"window": 16, "stride": 8, "batch_size": 64},
}


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    yield
    build.cache_clear()


@pytest.fixture(
    scope="module",
    params=["resnet18", "narrow_vgg11", pytest.param("vgg11", marks=pytest.mark.slow)],
)
def peer(request: pytest.FixtureRequest) -> Peer:
    model, layer, x = build(request.param)
    res = seewhy.Explainer(model, layer=layer).explain(
        x, PEER_METHODS, targets="top2", progress=False
    )
    return Peer(request.param, model, layer, x, res)


def test_peer_layer_is_post_relu(peer: Peer) -> None:
    """pytorch-grad-cam ablates with 0 only where the layer's minimum is 0: it is, here."""
    activations = layer_output(peer.module, peer.layer, peer.x)
    assert float(activations.min()) == 0.0
    assert float(activations.max()) > 0.0


def test_scorecam_align_corners_matches_pytorch_grad_cam(peer: Peer) -> None:
    t = 1  # the second target: a batched, non-top-1 column
    expected = peer.pgc(ScoreCAM, t)
    ours = normalize(peer.res.maps["scorecam"][:, t]).numpy()
    assert_informative(expected)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=PGC_ATOL)


def test_ablationcam_matches_pytorch_grad_cam(peer: Peer) -> None:
    t = 1
    expected = peer.pgc(AblationCAM, t)
    ours = normalize(peer.res.maps["ablationcam"][:, t]).numpy()
    assert_informative(expected)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=PGC_ATOL)


@pytest.mark.parametrize(
    "peer",
    [
        "narrow_vgg11",
        pytest.param("vgg11", marks=pytest.mark.slow),
        pytest.param("resnet18", marks=pytest.mark.slow),  # 512 more masked forwards
    ],
    indirect=True,
)
def test_scorecam_default_align_corners_ranks_like_pytorch_grad_cam(peer: Peer) -> None:
    """Half-pixel masks (the default) change the weights a little, not the map's ranking."""
    t = 1
    expected = peer.pgc(ScoreCAM, t)
    res = explain(peer.module, peer.x, {"scorecam": {"batch_size": 64}}, "top2", layer=peer.layer)
    assert torch.equal(res.targets, peer.res.targets)
    ours = normalize(res.maps["scorecam"][:, t]).numpy()
    for b in range(len(expected)):
        rho = spearmanr(ours[b].ravel(), expected[b].ravel()).statistic
        assert rho > 0.9, rho
    assert np.abs(ours - expected).max() > 10 * PGC_ATOL  # the option does change the maps


def captum_occlusion(
    peer: Peer, t: int, window: int, stride: int, baseline: float, forward=None
) -> torch.Tensor:
    occlusion = Occlusion(forward or peer.module)
    with torch.no_grad():
        return occlusion.attribute(
            peer.x,
            sliding_window_shapes=(3, window, window),
            strides=(3, stride, stride),
            baselines=baseline,
            target=torch.tensor(peer.classes(t)),
            perturbations_per_eval=64,
        )


def assert_close_to_peer(ours: torch.Tensor, expected: torch.Tensor) -> None:
    scale = float(expected.abs().max())
    assert scale > 0
    torch.testing.assert_close(ours / scale, expected / scale, rtol=0, atol=CAPTUM_RTOL)


@pytest.mark.parametrize(
    ("window", "stride", "baseline"),
    [(16, 8, 0.0), (10, 7, 0.5)],  # 64 px, window 10, stride 7: the last window is cut
    ids=["even-zero", "uneven-float"],
)
def test_occlusion_matches_captum(peer: Peer, window: int, stride: int, baseline: float) -> None:
    if (window, stride, baseline) == (16, 8, 0.0):
        res = peer.res
    else:
        options = {"window": window, "stride": stride, "baseline": baseline, "batch_size": 64}
        res = explain(peer.module, peer.x, {"occlusion": options}, "top2", layer=peer.layer)
    attribution = res.attributions["occlusion"]
    assert attribution.shape == (*peer.x.shape[:1], 2, *peer.x.shape[1:])
    for t in range(2):
        expected = captum_occlusion(peer, t, window, stride, baseline)
        assert_close_to_peer(attribution[:, t], expected)
    # The map is the attribution's value, the same in every channel.
    torch.testing.assert_close(res.maps["occlusion"], attribution[:, :, 0], rtol=0, atol=0)
    torch.testing.assert_close(res.maps["occlusion"], attribution.mean(dim=2))


def test_occlusion_prob_score_matches_captum_on_softmax() -> None:
    model = tiny()
    x = torch.randn(2, 3, 24, 24, generator=torch.Generator().manual_seed(4))
    options = {"window": 6, "stride": 3}
    res = explain(model, x, {"occlusion": options}, "top2", score="prob")
    logits = explain(model, x, {"occlusion": options}, "top2")
    peer = Peer("tiny", model, "features", x, res)
    for t in range(2):
        expected = captum_occlusion(peer, t, 6, 3, 0.0, lambda v: torch.softmax(model(v), dim=1))
        assert_close_to_peer(res.attributions["occlusion"][:, t], expected)
    assert (res.maps["occlusion"] - logits.maps["occlusion"]).abs().max() > 1e-3


@pytest.mark.parametrize("baseline", ["number", "mean", "tensor"])
def test_occlusion_rectangular_window_and_baselines_match_captum(baseline: str) -> None:
    model = tiny()
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 24, 20, generator=generator)
    fill = torch.randn(3, 24, 20, generator=generator)
    option, peer_baseline = {
        "number": (-0.25, -0.25),
        "mean": ("mean", x.mean(dim=(-2, -1), keepdim=True).expand_as(x)),
        "tensor": (fill, fill[None]),
    }[baseline]
    options = {"window": (8, 5), "stride": (5, 3), "baseline": option}
    res = explain(model, x, {"occlusion": options}, "top2")
    for t in range(2):
        with torch.no_grad():
            expected = Occlusion(model).attribute(
                x,
                sliding_window_shapes=(3, 8, 5),
                strides=(3, 5, 3),
                baselines=peer_baseline,
                target=res.targets[:, t],
            )
        assert_close_to_peer(res.attributions["occlusion"][:, t], expected)


# ---------------------------------------------------------------- formulas by hand


def test_scorecam_equals_the_formula_and_runs_each_distinct_mask_once() -> None:
    model = DupNet()
    calls = Calls(model)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    activations = layer_output(model, "relu", x)
    # The hand-made channels are what the test relies on.
    assert torch.equal(activations[:, 2], activations[:, 0])
    assert torch.equal(activations[:, 5], activations[:, 1])
    assert not activations[:, 3].any() and bool((activations[:, 4] == 0.7).all())
    assert distinct_masks(activations) == 6  # 3 per image, out of 12 channels
    for align_corners in (False, True):
        calls.reset()
        options = {"batch_size": 4, "align_corners": align_corners}
        res = explain(model, x, {"scorecam": options}, "top2", layer="relu")
        assert calls.sizes[0] == 2  # the capture pass
        del calls.sizes[0]
        calls.assert_passes(6, 4)  # 6 masked copies, not 12
        expected = naive_scorecam(model, x, activations, res.targets, align_corners=align_corners)
        torch.testing.assert_close(res.layer_maps["scorecam"], expected, rtol=1e-5, atol=1e-6)
        assert expected.amax() > 0


def test_scorecam_weights_are_a_softmax_of_the_negated_scores_when_counterfactual() -> None:
    model = DupNet()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    activations = layer_output(model, "relu", x)
    plain = explain(model, x, {"scorecam": {}}, "top2", layer="relu")
    res = explain(model, x, {"scorecam": {}}, "top2", layer="relu", counterfactual=True)
    expected = naive_scorecam(model, x, activations, res.targets, sign=-1.0)
    torch.testing.assert_close(res.layer_maps["scorecam"], expected, rtol=1e-5, atol=1e-6)
    assert (res.layer_maps["scorecam"] - plain.layer_maps["scorecam"]).abs().max() > 1e-4


def test_ablationcam_on_a_gap_linear_head_equals_the_closed_form() -> None:
    """Zeroing channel k lowers S by W[c, k] mean(A_k): w_k = W[c, k] mean(A_k) / S."""
    model = dead_gapnet(dead=(1, 4))
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(8))
    activations = layer_output(model, "features", x)  # (2, 6, 8, 8)
    with torch.no_grad():
        logits = model(x)
    assert not activations[:, [1, 4]].any()
    live = int(activations.flatten(2).ne(0).any(dim=2).sum())
    assert live == 8  # 4 live channels per image
    fc_calls = Calls(model.fc)
    res = explain(model, x, {"ablationcam": {"batch_size": 3, "relu": False}}, "top3")
    classes = res.targets  # (2, 3)
    score = logits.gather(1, classes)  # (B, T)
    weight = model.fc.weight[classes].detach()  # (B, T, K)
    means = activations.mean(dim=(-2, -1))  # (B, K)
    w = weight * means[:, None, :] / score[:, :, None]
    expected = torch.einsum("btk,bkhw->bthw", w, activations)
    torch.testing.assert_close(res.layer_maps["ablationcam"], expected, rtol=1e-4, atol=1e-6)
    # The capture pass, the tail's check, then the 8 live channels 3 a pass: dead ones never run.
    assert fc_calls.sizes[:2] == [2, 2]
    del fc_calls.sizes[:2]
    fc_calls.assert_passes(8, 3)
    relu = explain(model, x, {"ablationcam": {}}, "top3")
    torch.testing.assert_close(relu.layer_maps["ablationcam"], torch.relu(expected))


def test_ablationcam_counterfactual_negates_the_signed_map() -> None:
    model = dead_gapnet()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    methods = {"ablationcam": {"relu": False}}
    plain = explain(model, x, methods, "top2")
    res = explain(model, x, methods, "top2", counterfactual=True)
    assert torch.equal(res.targets, plain.targets)
    assert plain.layer_maps["ablationcam"].abs().max() > 0
    torch.testing.assert_close(res.layer_maps["ablationcam"], -plain.layer_maps["ablationcam"])
    relu = explain(model, x, {"ablationcam": {}}, "top2", counterfactual=True)
    torch.testing.assert_close(
        relu.layer_maps["ablationcam"], torch.relu(-plain.layer_maps["ablationcam"])
    )


def test_occlusion_counterfactual_negates_the_attribution() -> None:
    model = tiny()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(10))
    methods = {"occlusion": {"window": 4, "stride": 2}}
    plain = explain(model, x, methods, "top2")
    res = explain(model, x, methods, "top2", counterfactual=True)
    assert plain.attributions["occlusion"].abs().max() > 0
    torch.testing.assert_close(res.attributions["occlusion"], -plain.attributions["occlusion"])


# ---------------------------------------------------------------- top-k costs one set of forwards


TOPK_METHODS = {
    "scorecam": {"batch_size": 5},
    "ablationcam": {"batch_size": 5},
    "occlusion": {"window": 4, "stride": 4, "batch_size": 5},
}


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_top5_equals_five_single_runs_with_one_set_of_forwards(method: str) -> None:
    model = tiny()
    calls = Calls(model)
    fc_calls = Calls(model.fc)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    methods = {method: TOPK_METHODS[method]}
    top1 = explain(model, x, methods, "top1")
    counts = (calls.count, sum(fc_calls.sizes))
    calls.reset()
    fc_calls.reset()
    top5 = explain(model, x, methods, "top5")
    assert (calls.count, sum(fc_calls.sizes)) == counts

    activations = layer_output(model, "features", x)
    if method == "scorecam":
        assert counts[0] == 1 + math.ceil(distinct_masks(activations) / 5)
    elif method == "ablationcam":
        live = int(activations.flatten(2).ne(0).any(dim=2).sum())
        assert counts == (1, 2 + 2 + live)  # one model forward; fc: capture, check, ablations
    else:
        assert counts[0] == 1 + math.ceil(2 * 16 / 5)  # 4 x 4 windows per image

    kind = "attributions" if method == "occlusion" else "layer_maps"
    assert getattr(top5, kind)[method].shape[1] == 5
    torch.testing.assert_close(getattr(top1, kind)[method][:, 0], getattr(top5, kind)[method][:, 0])
    for t in range(5):
        single = explain(model, x, methods, [int(c) for c in top5.targets[:, t]])
        torch.testing.assert_close(
            getattr(single, kind)[method][:, 0], getattr(top5, kind)[method][:, t]
        )


def test_images_split_over_explainer_batches_give_the_same_maps() -> None:
    model = tiny()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(12))
    methods = dict(TOPK_METHODS)
    whole = seewhy.Explainer(model, layer="features").explain(x, methods, "top2", progress=False)
    split = seewhy.Explainer(model, layer="features", batch_size=2).explain(
        x, methods, "top2", progress=False
    )
    for name in ("scorecam", "ablationcam"):
        torch.testing.assert_close(split.layer_maps[name], whole.layer_maps[name])
    torch.testing.assert_close(split.attributions["occlusion"], whole.attributions["occlusion"])


# ---------------------------------------------------------------- callable targets


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_callable_targets_equal_class_targets(method: str) -> None:
    model = tiny()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(13))
    methods = {method: TOPK_METHODS[method]}
    kind = "attributions" if method == "occlusion" else "layer_maps"
    by_class = explain(model, x, methods, 3)
    by_function = explain(model, x, methods, lambda out: out[:, 3])
    torch.testing.assert_close(getattr(by_function, kind)[method], getattr(by_class, kind)[method])
    two = explain(model, x, methods, lambda out: out[:, [3, 1]])
    listed = explain(model, x, methods, [[3, 1], [3, 1]])
    torch.testing.assert_close(getattr(two, kind)[method], getattr(listed, kind)[method])


# ---------------------------------------------------------------- the model as found


@pytest.mark.parametrize("method", list(TOPK_METHODS))
def test_model_unchanged_after_each_method(method: str) -> None:
    model = dirty(tiny())
    before = snapshot(model)
    grad = list(model.parameters())[-1].grad.clone()
    res = explain(model, torch.randn(2, 3, 16, 16), {method: TOPK_METHODS[method]}, "top2")
    assert method in res.maps
    assert snapshot(model) == before
    assert torch.equal(list(model.parameters())[-1].grad, grad)
    assert model.features[1].inplace is True


@pytest.mark.parametrize(
    ("method", "fallback"),
    [
        ("scorecam", False),
        ("ablationcam", False),
        ("ablationcam", True),  # whole forwards with a hook replacing the layer's output
        ("occlusion", False),
    ],
)
def test_model_unchanged_after_a_target_that_fails_in_the_perturbation_forwards(
    method: str, fallback: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callable target is called again on the copies' outputs; it fails on its second call."""
    if fallback:
        monkeypatch.setattr("seewhy.engine.runner.layer_tail", lambda *args: None)
    model = dirty(tiny())
    before = snapshot(model)
    seen: list[int] = []

    def target(output: torch.Tensor) -> torch.Tensor:
        seen.append(output.shape[0])
        if len(seen) == 2:
            raise RuntimeError("boom in the second call")
        return output[:, 3]

    with pytest.raises(RuntimeError, match="boom in the second call"):
        explain(model, torch.randn(2, 3, 16, 16), {method: TOPK_METHODS[method]}, target)
    assert seen[0] == 2 and len(seen) == 2
    assert snapshot(model) == before
    assert before["hooks"] == 0


# ---------------------------------------------------------------- bad options


@pytest.mark.parametrize(
    ("methods", "match"),
    [
        ({"occlusion": {"window": 20}}, r"window \(20, 20\) is larger than the input \(16, 16\)"),
        ({"occlusion": {"window": 4, "stride": 5}}, "stride 5 is larger than the window 4"),
        ({"occlusion": {"baseline": "zeros"}}, "baseline='zeros' is not allowed.*'mean'"),
        ({"occlusion": {"window": 0}}, "window must be a positive int"),
        ({"occlusion": {"batch_size": 0}}, "batch_size must be a positive int"),
        ({"scorecam": {"batch_size": 0}}, "batch_size must be a positive int"),
        ({"ablationcam": {"batch_size": 0}}, "batch_size must be a positive int"),
        ({"ablationcam": {"batch_size": 2.5}}, "batch_size must be a positive int"),
        ({"scorecam": {"align_corners": "yes"}}, "align_corners must be True or False"),
    ],
)
def test_bad_options_raise_method_errors(methods: dict, match: str) -> None:
    model = dirty(tiny())
    before = snapshot(model)
    with pytest.raises(seewhy.MethodError, match=match):
        explain(model, torch.randn(1, 3, 16, 16), methods)
    assert snapshot(model) == before


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("scorecam", "batch_size, align_corners, relu"),
        ("ablationcam", "batch_size, relu"),
        ("occlusion", "window, stride, baseline, batch_size"),
    ],
)
def test_unknown_option_lists_the_allowed_ones_before_any_forward(
    method: str, allowed: str
) -> None:
    model = tiny()
    calls = Calls(model)
    with pytest.raises(seewhy.MethodError, match=f"Allowed options: {allowed}$"):
        explain(model, torch.randn(1, 3, 16, 16), {method: {"foo": 1}})
    assert calls.count == 0
