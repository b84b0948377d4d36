"""Score-CAM (``methods/scorecam.py``): pytorch-grad-cam's ``ScoreCAM``, the formula by hand,
each distinct mask run once, the counterfactual sign and the options.

Peers: ResNet-18 and VGG-11's layout (``helpers.perturbation``). Then, on a net with channels
made by hand (copies, an all-zero and a constant one), the paper's formula computed channel by
channel, and the number of masked forwards: identical and constant channels run once.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.perturbation import (
    PEER_MODELS,
    PGC_ATOL,
    Calls,
    Peer,
    assert_bad_options_raise,
    assert_informative,
    assert_unknown_option_lists_the_allowed_ones,
    distinct_masks,
    explain,
    explained_peer,
    layer_output,
    normalize,
)
from pytorch_grad_cam import ScoreCAM
from scipy.stats import spearmanr
from torch import nn


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


# ---------------------------------------------------------------- peers


@pytest.fixture(scope="module", params=PEER_MODELS)
def peer(request: pytest.FixtureRequest) -> Peer:
    return explained_peer(request.param, {"scorecam": {"align_corners": True, "batch_size": 64}})


def test_scorecam_align_corners_matches_pytorch_grad_cam(peer: Peer) -> None:
    t = 1  # the second target: a batched, non-top-1 column
    expected = peer.pgc(ScoreCAM, t)
    ours = normalize(peer.res.maps["scorecam"][:, t]).numpy()
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


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("methods", "match"),
    [
        ({"scorecam": {"batch_size": 0}}, "batch_size must be a positive int"),
        ({"scorecam": {"align_corners": "yes"}}, "'align_corners' of 'scorecam' must be bool"),
    ],
)
def test_bad_options_raise_method_errors(methods: dict, match: str) -> None:
    assert_bad_options_raise(methods, match)


def test_unknown_option_lists_the_allowed_ones_before_any_forward() -> None:
    assert_unknown_option_lists_the_allowed_ones("scorecam", "batch_size, align_corners, relu")
