"""Occlusion (``methods/occlusion.py``): Captum's ``Occlusion`` on the peers and on a tiny net
(square, rectangular and cut-off windows; number, mean and tensor baselines; the
probability score), the counterfactual sign and the options.

Peers: ResNet-18 and VGG-11's layout (``helpers.perturbation``).
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion
from helpers.perturbation import (
    PEER_MODELS,
    Peer,
    assert_bad_options_raise,
    assert_unknown_option_lists_the_allowed_ones,
    explain,
    explained_peer,
    tiny,
)

CAPTUM_RTOL = 1e-4  # occlusion differences, relative to the largest one; measured <= 1e-6


# ---------------------------------------------------------------- peers


@pytest.fixture(scope="module", params=PEER_MODELS)
def peer(request: pytest.FixtureRequest) -> Peer:
    return explained_peer(
        request.param, {"occlusion": {"window": 16, "stride": 8, "batch_size": 64}}
    )


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


# ---------------------------------------------------------------- counterfactual


def test_occlusion_counterfactual_negates_the_attribution() -> None:
    model = tiny()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(10))
    methods = {"occlusion": {"window": 4, "stride": 2}}
    plain = explain(model, x, methods, "top2")
    res = explain(model, x, methods, "top2", counterfactual=True)
    assert plain.attributions["occlusion"].abs().max() > 0
    torch.testing.assert_close(res.attributions["occlusion"], -plain.attributions["occlusion"])


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("methods", "match"),
    [
        ({"occlusion": {"window": 20}}, r"window \(20, 20\) is larger than the input \(16, 16\)"),
        ({"occlusion": {"window": 4, "stride": 5}}, "stride 5 is larger than the window 4"),
        ({"occlusion": {"baseline": "zeros"}}, "baseline='zeros' is not allowed.*'mean'"),
        ({"occlusion": {"window": 0}}, "window must be a positive int"),
        ({"occlusion": {"batch_size": 0}}, "batch_size must be a positive int"),
    ],
)
def test_bad_options_raise_method_errors(methods: dict, match: str) -> None:
    assert_bad_options_raise(methods, match)


def test_unknown_option_lists_the_allowed_ones_before_any_forward() -> None:
    assert_unknown_option_lists_the_allowed_ones(
        "occlusion", "window, stride, baseline, batch_size"
    )
