"""Average drop / increase and the occlusion rank correlation: hand cases and peers."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
from helpers.models import TinyGapNet, dirty, snapshot
from helpers.torchcam_stub import MapExtractor
from scipy.stats import spearmanr
from torch import nn

import seewhy
from seewhy.metrics import average_drop_increase, occlusion_correlation, occlusion_maps


class Sum(nn.Module):
    """logits ``[sum x, 0]``: the probability of class 0 is ``sigmoid(sum x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


IMAGES = torch.tensor([[[[2.0, 4.0]]], [[[-2.0, 4.0]]]])
MAPS = torch.tensor([[[1.0, 3.0]], [[5.0, 7.0]]])  # both scale to [0, 1]: E = [0, 4]


def test_average_drop_and_increase_by_hand():
    result = average_drop_increase(Sum(), IMAGES, MAPS, [0, 0])
    y, o = [sigmoid(6), sigmoid(2)], [sigmoid(4), sigmoid(4)]
    np.testing.assert_allclose(result.scores, y, rtol=1e-6)
    np.testing.assert_allclose(result.masked_scores, o, rtol=1e-6)
    drop = 100 * (sigmoid(6) - sigmoid(4)) / sigmoid(6)  # 1.5552 (float32 softmax: rtol 1e-4)
    np.testing.assert_allclose(result.drops, [drop, 0.0], rtol=1e-4)
    assert result.drop == pytest.approx(drop / 2, rel=1e-4)
    assert result.drop == pytest.approx(0.7776, abs=1e-4)
    assert result.increases.tolist() == [False, True]
    assert result.increase == 50.0


def test_pixel_space_multiplies_the_pixels():
    model = seewhy.LoadedModel.wrap(Sum(), mean=(0.5,), std=(0.25,))
    # pixels x * 0.25 + 0.5: [1, 1.5]; times [0, 1]: [0, 1.5]; normalized: [-2, 4]
    result = average_drop_increase(model, IMAGES[:1], MAPS[:1], 0, space="pixels")
    assert result.masked_scores[0] == pytest.approx(sigmoid(2), rel=1e-6)
    with pytest.raises(seewhy.SeewhyError, match="space='image'"):
        average_drop_increase(model, IMAGES, MAPS, 0, space="image")


def test_a_constant_map_scales_to_zero():
    result = average_drop_increase(Sum(), IMAGES[:1], torch.ones(1, 1, 2), 0)
    assert result.masked_scores[0] == pytest.approx(0.5)


def test_peers_torchcam_agrees_pytorch_grad_cam_forgets_to_divide():
    from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    from torchcam.metrics import ClassificationMetric

    torch.manual_seed(0)
    model = TinyGapNet().eval()
    model.fc.weight.data *= 30
    images, maps = torch.randn(6, 3, 12, 12), torch.rand(6, 12, 12)
    targets = [0, 1, 2, 3, 4, 0]
    ours = average_drop_increase(model, images, maps, targets, fast=False)
    # the peers multiply the maps as given (torchcam's extractors min-max scale them): scale
    flat = maps.flatten(1)
    low, high = flat.amin(1)[:, None, None], flat.amax(1)[:, None, None]
    scaled = (maps - low) / (high - low)
    metric = ClassificationMetric(MapExtractor(model, scaled), partial(torch.softmax, dim=-1))
    metric.update(images, class_idx=targets)
    summary = metric.summary()  # fractions, and Y + 1e-7 below the line
    assert 100 * summary["avg_drop"] == pytest.approx(ours.drop, rel=1e-5)
    assert 100 * summary["conf_increase"] == pytest.approx(ours.increase)
    # pytorch-grad-cam: max(0, Y - O), not divided by Y
    pgc_targets = [ClassifierOutputSoftmaxTarget(t) for t in targets]
    pgc_drop = DropInConfidence()(images, scaled.numpy(), pgc_targets, model)
    np.testing.assert_allclose(pgc_drop, ours.drops / 100 * ours.scores, atol=1e-6)
    pgc_increase = IncreaseInConfidence()(images, scaled.numpy(), pgc_targets, model)
    np.testing.assert_array_equal(pgc_increase.astype(bool), ours.increases)


def test_average_drop_leaves_the_model_as_found():
    model = dirty(TinyGapNet())
    before = snapshot(model)
    average_drop_increase(model, torch.randn(2, 3, 8, 8), torch.rand(2, 8, 8), [0, 1])
    assert snapshot(model) == before


def test_occlusion_correlation_by_hand_with_ties():
    a = np.array([[1.0, 2.0], [2.0, 3.0]])  # ranks 1, 2.5, 2.5, 4
    b = np.array([[1.0, 1.0], [2.0, 2.0]])  # ranks 1.5, 1.5, 3.5, 3.5
    # centred ranks (-1.5, 0, 0, 1.5) and (-1, -1, 1, 1): 3 / (sqrt(4.5) * 2) = 1 / sqrt(2)
    np.testing.assert_allclose(occlusion_correlation(a, b), [1 / math.sqrt(2)])
    np.testing.assert_allclose(occlusion_correlation(a, -b), [-1 / math.sqrt(2)])
    stack = np.stack([a, a])
    result = occlusion_correlation(torch.from_numpy(stack), np.stack([b, np.ones((2, 2))]))
    assert result[0] == pytest.approx(1 / math.sqrt(2)) and np.isnan(result[1])


def test_occlusion_correlation_is_scipys_spearman():
    rng = np.random.default_rng(0)
    maps = rng.integers(0, 5, (3, 6, 7)).astype(float)  # many ties
    other = maps + rng.normal(0, 2, maps.shape)
    expected = [spearmanr(maps[i].ravel(), other[i].ravel()).statistic for i in range(3)]
    np.testing.assert_allclose(occlusion_correlation(maps, other), expected, rtol=1e-12)
    with pytest.raises(seewhy.SeewhyError, match="one shape"):
        occlusion_correlation(maps, other[:, :5])


def test_occlusion_maps_are_seewhys_occlusion_for_each_target():
    torch.manual_seed(1)
    model = TinyGapNet().eval()
    images = torch.randn(2, 3, 16, 16)
    maps = occlusion_maps(model, images, [3, 1], window=4, stride=4)
    res = seewhy.Explainer(model).explain(
        images, methods={"occlusion": {"window": 4, "stride": 4}}, targets=[3, 1], progress=False
    )
    torch.testing.assert_close(maps, res.maps["occlusion"][:, 0])
    assert maps.shape == (2, 16, 16)
