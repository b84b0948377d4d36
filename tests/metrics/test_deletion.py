"""Deletion / insertion: hand-computed curves, RISE's reference loop and torchcam's metric."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from helpers.models import TinyGapNet, dirty, snapshot
from helpers.torchcam_stub import MapExtractor
from scipy.ndimage import gaussian_filter
from torch import nn

import seewhy
from seewhy.metrics import deletion, insertion, rise_blur


class ConstantLogits(nn.Module):
    """Scores that ignore the input: softmax([1, 2, 0.5])."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([1.0, 2.0, 0.5]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1) + 0 * x.sum()


class LogSum(nn.Module):
    """logits ``[log(sum x), 0]``: the probability of class 0 is ``s / (s + 1)``, ``s = sum x``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).sum(1)
        return torch.stack([s.log(), torch.zeros_like(s)], 1)


def test_deletion_auc_of_a_model_that_ignores_the_input_is_its_score():
    torch.manual_seed(0)
    images, maps = torch.randn(2, 3, 6, 7), torch.rand(2, 6, 7)
    p = torch.softmax(torch.tensor([1.0, 2.0, 0.5]), 0)[[1, 2]].double().numpy()
    for step in (1, 5, 42):  # 42 pixels: one step
        curves = deletion(ConstantLogits(), images, maps, [1, 2], pixels_per_step=step)
        np.testing.assert_allclose(curves.auc, p, rtol=1e-6)
        np.testing.assert_allclose(
            curves.scores, np.repeat(p[:, None], curves.scores.shape[1], 1), rtol=1e-6
        )
    assert curves.scores.shape == (2, 2)


IMAGE = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
MAP = torch.tensor([[[0.1, 0.4], [0.3, 0.2]]])  # order: 2, 3, 4, 1


def test_deletion_by_hand():
    curves = deletion(LogSum(), IMAGE, MAP, [0], pixels_per_step=1)
    # sums after 0..4 deletions: 10, 8, 5, 1, 0 -> probabilities s / (s + 1)
    scores = [10 / 11, 8 / 9, 5 / 6, 1 / 2, 0]
    np.testing.assert_allclose(curves.scores[0], scores, atol=1e-6)
    np.testing.assert_allclose(curves.fractions, [0, 0.25, 0.5, 0.75, 1])
    auc = (sum(scores) - scores[0] / 2 - scores[-1] / 2) / 4
    np.testing.assert_allclose(curves.auc, [auc], rtol=1e-6)
    assert curves.auc[0] == pytest.approx(0.6691919, abs=1e-6)  # 2.6767677 / 4
    # 3 pixels per step: 0, 3, 4 pixels deleted; the short last step counts as a full one
    curves = deletion(LogSum(), IMAGE, MAP, [0], pixels_per_step=3)
    np.testing.assert_allclose(curves.scores[0], [10 / 11, 1 / 2, 0], atol=1e-6)
    np.testing.assert_allclose(curves.auc, [(10 / 11 / 2 + 1 / 2) / 2], rtol=1e-6)


def test_insertion_by_hand():
    curves = insertion(LogSum(), IMAGE, MAP, 0, pixels_per_step=1, substrate="zeros")
    scores = [0, 2 / 3, 5 / 6, 9 / 10, 10 / 11]  # sums 0, 2, 5, 9, 10
    np.testing.assert_allclose(curves.scores[0], scores, atol=1e-6)
    np.testing.assert_allclose(curves.auc, [(sum(scores) - 5 / 11) / 4], rtol=1e-6)
    assert curves.mode == "insertion" and curves.targets.tolist() == [0]


def test_ties_go_in_row_major_order():
    image = torch.tensor([[[[1.0, 2.0, 4.0]]]])
    curves = deletion(LogSum(), image, torch.zeros(1, 1, 3), [0], pixels_per_step=1)
    np.testing.assert_allclose(curves.scores[0], [7 / 8, 6 / 7, 4 / 5, 0], atol=1e-6)


def test_rise_blur_is_the_reference_kernel():
    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    kernel = gaussian_filter(delta, 5).astype(np.float32)
    reference = np.zeros((3, 3, 11, 11), np.float32)  # gkern(11, 5)
    for c in range(3):
        reference[c, c] = kernel
    torch.manual_seed(0)
    x = torch.randn(2, 3, 20, 24)
    expected = nn.functional.conv2d(x, torch.from_numpy(reference), padding=5)
    torch.testing.assert_close(rise_blur(x), expected, atol=1e-5, rtol=1e-5)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-6)


def rise_reference(model, images, maps, targets, step, substrate):
    """RISE's ``CausalMetric.single_run`` (deletion, softmax model), one image at a time."""
    n, c, h, w = images.shape
    steps = (h * w + step - 1) // step
    out = np.empty((n, steps + 1))
    for i in range(n):
        start, finish = images[i : i + 1].clone(), substrate[i : i + 1]
        order = torch.argsort(maps[i].flatten(), descending=True, stable=True)
        for s in range(steps + 1):
            with torch.no_grad():
                out[i, s] = torch.softmax(model(start), 1)[0, targets[i]].item()
            coords = order[step * s : step * (s + 1)]
            start.view(1, c, h * w)[0, :, coords] = finish.reshape(1, c, h * w)[0, :, coords]
    return out


@pytest.mark.parametrize("step", [7, 16])
def test_deletion_and_insertion_match_the_rise_loop(step):
    torch.manual_seed(1)
    model = TinyGapNet().eval()
    images, maps = torch.randn(3, 3, 12, 12), torch.rand(3, 12, 12)
    targets = [0, 3, 4]
    ours = deletion(model, images, maps, targets, pixels_per_step=step, fast=False)
    expected = rise_reference(model, images, maps, targets, step, torch.zeros_like(images))
    np.testing.assert_allclose(ours.scores, expected, atol=1e-6)
    ours = insertion(model, images, maps, targets, pixels_per_step=step, fast=False)
    blur = rise_blur(images)
    # insertion is deletion from the blur towards the image
    expected = rise_reference(model, blur, maps, targets, step, images)
    np.testing.assert_allclose(ours.scores, expected, atol=1e-6)


def test_deletion_and_insertion_match_torchcam_where_the_definitions_agree():
    from torchcam.metrics import DeletionInsertionMetric

    torch.manual_seed(2)
    model = TinyGapNet().eval()
    model.fc.weight.data *= 30  # probabilities that move with the pixels
    images, maps = torch.randn(4, 3, 16, 16), torch.rand(4, 16, 16)
    targets = [1, 0, 4, 2]
    softmax = partial(torch.softmax, dim=-1)
    ours_del = deletion(model, images, maps, targets, pixels_per_step=8, fast=False)
    ours_ins = insertion(model, images, maps, targets, pixels_per_step=8, fast=False)
    # torchcam: steps = HW / pixels_per_step; one baseline for both curves
    for baseline, ours, key in (
        (None, ours_del, "deletion_auc"),  # zeros: RISE's deletion
        (rise_blur, ours_ins, "insertion_auc"),  # the blur: RISE's insertion
    ):
        metric = DeletionInsertionMetric(
            MapExtractor(model, maps), softmax, steps=32, baseline=baseline
        )
        metric.update(images, class_idx=targets)
        assert metric.summary()[key] == pytest.approx(ours.auc.mean(), abs=1e-6)
    # torchcam's default insertion starts from zeros, not from RISE's blur
    metric = DeletionInsertionMetric(MapExtractor(model, maps), softmax, steps=32)
    metric.update(images, class_idx=targets)
    zeros_start = insertion(model, images, maps, targets, pixels_per_step=8, substrate="zeros")
    assert metric.summary()["insertion_auc"] == pytest.approx(zeros_start.auc.mean(), abs=1e-5)
    assert np.abs(zeros_start.scores - ours_ins.scores).max() > 1e-3


def test_batches_fast_path_and_model_left_as_found():
    torch.manual_seed(3)
    model = dirty(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 3),
        )
    )
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2)
    before = snapshot(model)
    images, maps = torch.randn(3, 3, 9, 9), torch.rand(3, 9, 9)
    exact = deletion(model, images, maps, [0, 1, 2], pixels_per_step=10, fast=False, batch_size=1)
    for batch_size in (None, 4, 7):
        fast = deletion(model, images, maps, [0, 1, 2], pixels_per_step=10, batch_size=batch_size)
        np.testing.assert_allclose(fast.scores, exact.scores, atol=1e-5)
    assert snapshot(model) == before
    assert model.training


def test_targets_default_to_the_top_class_and_loaded_models_select_their_output():
    torch.manual_seed(4)
    module = TinyGapNet().eval()
    images, maps = torch.randn(2, 3, 8, 8), torch.rand(2, 8, 8)
    top = module(images).argmax(1).tolist()
    curves = deletion(module, images, maps)
    assert curves.targets.tolist() == top
    wrapped = seewhy.LoadedModel(module=nn.Sequential(module), output=lambda raw: raw * 1.0)
    np.testing.assert_allclose(deletion(wrapped, images, maps, top).auc, curves.auc, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"maps": torch.rand(2, 4, 4)}, "maps must be"),
        ({"substrate": "noise"}, "substrate='noise'"),
        ({"pixels_per_step": 0}, "pixels_per_step"),
        ({"targets": [0, 1, 2]}, "targets must be 2"),
        ({"targets": [0.5, 1.0]}, "class ids"),
        ({"targets": -1}, "each an int >= 0; got -1"),
        ({"targets": "cat"}, "class ids .* got 'cat'"),
        ({"targets": [0, 5]}, "target class 5 is out of range: the model has 5 classes"),
        ({"images": torch.randn(0, 3, 8, 8), "maps": torch.rand(0, 8, 8)}, "holds no image"),
        ({"images": torch.ones(2, 3, 8, 8, dtype=torch.uint8)}, "preprocessed floats"),
    ],
)
def test_errors_say_what_is_wrong(kwargs, message):
    args = {"images": torch.randn(2, 3, 8, 8), "maps": torch.rand(2, 8, 8), "targets": [0, 1]}
    with pytest.raises(seewhy.SeewhyError, match=message):
        deletion(TinyGapNet(), **{**args, **kwargs})


@pytest.mark.slow
def test_gradcam_is_more_faithful_than_its_reverse_on_lite0(lite0, chelsea_path):
    from PIL import Image

    from seewhy.metrics import road

    x = lite0.preprocess(Image.open(chelsea_path))
    res = seewhy.Explainer(lite0).explain(x, methods=["gradcam"], targets="top1", progress=False)
    gradcam = res.maps["gradcam"][:, 0]
    step = 224 * 16  # 15 points a curve
    kept = deletion(lite0, x, gradcam, pixels_per_step=step)
    reverse = deletion(lite0, x, -gradcam, pixels_per_step=step)
    assert kept.auc[0] < reverse.auc[0] - 0.1
    assert (
        insertion(lite0, x, gradcam, pixels_per_step=step).auc[0]
        > insertion(lite0, x, -gradcam, pixels_per_step=step).auc[0]
    )
    morf = road(lite0, x, gradcam, percentiles=(50,), order="morf")
    lerf = road(lite0, x, gradcam, percentiles=(50,), order="lerf")
    assert morf.scores[0, 0] < lerf.scores[0, 0]
