"""Ablation-CAM (``methods/ablationcam.py``): pytorch-grad-cam's ``AblationCAM``, the closed
form on a GAP + Linear head, dead channels never ablated, the counterfactual sign and the
options.

Peers: ResNet-18 and VGG-11's layout (``helpers.perturbation``), at layers right after a ReLU,
where pytorch-grad-cam ablates with 0 as the paper and seewhy do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import TinyGapNet
from helpers.perturbation import (
    PEER_MODELS,
    PGC_ATOL,
    Calls,
    Peer,
    assert_bad_options_raise,
    assert_informative,
    assert_unknown_option_lists_the_allowed_ones,
    explain,
    explained_peer,
    layer_output,
    normalize,
)
from pytorch_grad_cam import AblationCAM


def dead_gapnet(classes: int = 8, dead: tuple[int, ...] = (1, 4)) -> TinyGapNet:
    """TinyGapNet whose ``dead`` channels at ``features`` are all zero (weight 0, bias -1)."""
    torch.manual_seed(2)
    model = TinyGapNet(classes=classes, channels=6).eval()
    with torch.no_grad():
        for k in dead:
            model.features[2].weight[k] = 0.0
            model.features[2].bias[k] = -1.0
    return model


# ---------------------------------------------------------------- peers


@pytest.fixture(scope="module", params=PEER_MODELS)
def peer(request: pytest.FixtureRequest) -> Peer:
    return explained_peer(request.param, {"ablationcam": {"batch_size": 64}})


def test_peer_layer_is_post_relu(peer: Peer) -> None:
    """pytorch-grad-cam ablates with 0 only where the layer's minimum is 0: it is, here."""
    activations = layer_output(peer.module, peer.layer, peer.x)
    assert float(activations.min()) == 0.0
    assert float(activations.max()) > 0.0


def test_ablationcam_matches_pytorch_grad_cam(peer: Peer) -> None:
    t = 1
    expected = peer.pgc(AblationCAM, t)
    ours = normalize(peer.res.maps["ablationcam"][:, t]).numpy()
    assert_informative(expected)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=PGC_ATOL)


# ---------------------------------------------------------------- formulas by hand


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


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("methods", "match"),
    [
        ({"ablationcam": {"batch_size": 0}}, "batch_size must be a positive int"),
        (
            {"ablationcam": {"batch_size": 2.5}},
            r"'batch_size' of 'ablationcam' must be int \| None",
        ),
    ],
)
def test_bad_options_raise_method_errors(methods: dict, match: str) -> None:
    assert_bad_options_raise(methods, match)


def test_unknown_option_lists_the_allowed_ones_before_any_forward() -> None:
    assert_unknown_option_lists_the_allowed_ones("ablationcam", "batch_size, relu")
