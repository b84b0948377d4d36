"""seewhy.metrics.localization: MaxBoxAcc(V2), PxAP and the ILSVRC localization error, by hand
and against wsolevaluation's own code (tests/helpers/wsolevaluation.py) where OpenCV is installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from helpers.wsolevaluation import mask_auc, max_box_acc, normalize_scoremap

from seewhy.errors import OptionError
from seewhy.metrics import (
    BoxAccuracyAccumulator,
    PixelAPAccumulator,
    box_accuracy,
    localization_error,
    pixel_average_precision,
)


def two_tiny_maps() -> tuple[np.ndarray, list[list[tuple[int, int, int, int]]]]:
    """Image A: a 3 x 3 block of 1.0; its GT box is the block. Image B: rows 0-1 at 1.0 and
    rows 2-5 at 0.5 (uint8 127 after scaling); its GT box is rows 0-1."""
    a = np.zeros((10, 10))
    a[2:5, 2:5] = 1.0
    b = np.zeros((10, 10))
    b[0:2, :] = 1.0
    b[2:6, :] = 0.5
    return np.stack([a, b]), [[(2, 2, 4, 4)], [(0, 0, 9, 1)]]


def test_box_accuracy_on_two_tiny_maps_by_hand() -> None:
    """A's box is (2, 2, 5, 5) at every threshold (the reference's boxes end one pixel past the
    segment): IoU 9 / 16 = 0.5625 with its GT. B's 0.5 rows are foreground while
    127 > int(255 t), i.e. t <= 0.49: box (0, 0, 9, 6), IoU 20 / 70; from t = 0.50 the box is
    (0, 0, 9, 2), IoU 20 / 30. So at IoU 0.3 and 0.5 both images are localized from t = 0.50
    (A alone below it), and at IoU 0.7 neither ever is."""
    maps, gt = two_tiny_maps()
    result = box_accuracy(torch.from_numpy(maps), gt)
    expected_curve = np.array([0.5] * 50 + [1.0] * 50)
    np.testing.assert_array_equal(result.curves[0.3], expected_curve)
    np.testing.assert_array_equal(result.curves[0.5], expected_curve)
    np.testing.assert_array_equal(result.curves[0.7], np.zeros(100))
    assert result.accuracy == {0.3: 1.0, 0.5: 1.0, 0.7: 0.0}
    assert result.best_threshold == {0.3: 0.5, 0.5: 0.5, 0.7: 0.0}  # the lowest on ties
    assert result.mean == pytest.approx(2 / 3)
    assert result.images == 2


def test_largest_takes_one_box_and_all_takes_the_best_of_them() -> None:
    heat = np.zeros((12, 12))
    heat[0:5, 0:5] = 1.0  # 25 px, far from the GT
    heat[9:11, 9:11] = 1.0  # 4 px, on the GT
    gt = [[(9, 9, 10, 10)]]  # the small blob's box (1 px wider in the reference: IoU 4 / 9)
    assert box_accuracy(heat[None], gt, iou=(0.4,)).mean == 1.0
    assert box_accuracy(heat[None], gt, iou=(0.4,), segments="largest").mean == 0.0


def test_a_constant_map_has_the_reference_s_empty_box() -> None:
    """No foreground at any threshold: the box (0, 0, 0, 0), a hit only for a GT at the origin."""
    flat = np.full((1, 6, 6), 3.0)
    assert box_accuracy(flat, [[(0, 0, 0, 0)]], iou=(0.5,)).mean == 1.0
    assert box_accuracy(flat, [[(1, 1, 3, 3)]], iou=(0.5,)).mean == 0.0


def gaussian_maps(count: int, seed: int, most: int) -> tuple[np.ndarray, list[list[list[int]]]]:
    """``count`` 48 x 56 maps of 1 to ``most`` Gaussian blobs (no holes in their level sets),
    with one GT box around each blob at 0.5 to 2.5 of its sigmas."""
    rng = np.random.default_rng(seed)
    height, width = 48, 56
    ys, xs = np.mgrid[:height, :width]
    maps, gts = [], []
    for _ in range(count):
        heat, boxes = np.zeros((height, width)), []
        for _ in range(rng.integers(1, most + 1)):
            cy, cx = rng.uniform(0, height), rng.uniform(0, width)
            sy, sx = rng.uniform(2, 12), rng.uniform(2, 12)
            heat += rng.uniform(0.3, 1) * np.exp(
                -((ys - cy) ** 2 / (2 * sy**2) + (xs - cx) ** 2 / (2 * sx**2))
            )
            k = rng.uniform(0.5, 2.5)
            boxes.append(
                [
                    max(0, int(cx - k * sx)),
                    max(0, int(cy - k * sy)),
                    min(width - 1, int(cx + k * sx)),
                    min(height - 1, int(cy + k * sy)),
                ]
            )
        maps.append(heat)
        gts.append(boxes)
    return np.stack(maps), gts


@pytest.mark.parametrize(("segments", "most"), [("all", 2), ("largest", 1)])
def test_box_accuracy_curves_equal_wsolevaluation_s_code(segments, most) -> None:
    """Every threshold's accuracy equals the reference's (OpenCV contours) on maps without
    holes (and, for the largest box, with one segment: OpenCV ranks segments by contour area)."""
    pytest.importorskip("cv2")
    maps, gts = gaussian_maps(40, seed=1, most=most)
    maps = maps.astype(np.float32).astype(np.float64)  # what ours reads a float32 map as
    thresholds = list(np.arange(0, 1, 0.01))
    reference = max_box_acc(
        [normalize_scoremap(m.copy()) for m in maps],
        gts,
        thresholds,
        [30, 50, 70],
        segments == "all",
    )
    ours = box_accuracy(torch.from_numpy(maps).float(), gts, segments=segments)
    for curve, level in zip(reference, (0.3, 0.5, 0.7)):
        np.testing.assert_allclose(100 * ours.curves[level], curve, rtol=0, atol=1e-9)
    assert 0.3 < ours.accuracy[0.5] < 1.0  # neither trivial nor hopeless


def test_the_largest_segment_has_the_most_pixels_not_the_largest_contour_area() -> None:
    """Where seewhy and the reference part: a 1 x 10 line (10 px, contour area 0) beats a
    3 x 3 square (9 px, contour area 4) here; OpenCV would take the square."""
    heat = np.zeros((8, 14))
    heat[0, 0:10] = 1.0
    heat[4:7, 4:7] = 1.0
    line_box = [[(0, 0, 10, 1)]]  # the line's box as the reference draws it (1 px past)
    assert box_accuracy(heat[None], line_box, iou=(0.99,), segments="largest").mean == 1.0
    if importlib.util.find_spec("cv2") is not None:  # the reference takes the square
        reference = max_box_acc([heat], line_box, [0.5], [99], multi_contour_eval=False)
        assert reference[0].tolist() == [0.0]


def test_shards_merged_equal_one_pass_exactly() -> None:
    maps, gts = gaussian_maps(12, seed=2, most=2)
    whole = BoxAccuracyAccumulator().update(maps, gts)
    first = BoxAccuracyAccumulator().update(maps[:5], gts[:5])
    second = BoxAccuracyAccumulator().update(maps[5:], gts[5:])
    merged = first.merge(second)
    np.testing.assert_array_equal(merged.correct, whole.correct)
    assert merged.compute().accuracy == whole.compute().accuracy
    masks = maps > 0.5
    pixels = PixelAPAccumulator().update(maps, masks)
    shards = PixelAPAccumulator().update(maps[:7], masks[:7])
    shards.merge(PixelAPAccumulator().update(maps[7:], masks[7:]))
    np.testing.assert_array_equal(shards.positives, pixels.positives)
    np.testing.assert_array_equal(shards.negatives, pixels.negatives)
    assert shards.compute() == pixels.compute()


def test_accumulators_with_other_settings_do_not_merge() -> None:
    with pytest.raises(OptionError, match="same thresholds, iou and segments"):
        BoxAccuracyAccumulator().merge(BoxAccuracyAccumulator(segments="largest"))
    with pytest.raises(OptionError, match="same thresholds"):
        PixelAPAccumulator().merge(PixelAPAccumulator(thresholds=[0.0, 0.5]))


def test_pxap_by_hand() -> None:
    """Scores 1.0 (object), 0.6, 0.3 (background), 0.0 (object). From the top: P = 1 at R = 1/2,
    then 1/2 and 1/3 at R = 1/2, then 1/2 at R = 1: AP = 1 * 1/2 + 1/2 * 1/2 = 0.75."""
    heat = np.array([[[1.0, 0.6, 0.3, 0.0]]])
    assert pixel_average_precision(heat, np.array([[[True, False, False, True]]])) == 0.75
    assert pixel_average_precision(heat, np.array([[[True, True, False, False]]])) == 1.0
    assert np.isnan(pixel_average_precision(heat, np.zeros((1, 1, 4), dtype=bool)))


def test_ignored_pixels_leave_the_negatives() -> None:
    heat = np.array([[[1.0, 0.6, 0.3, 0.0]]])
    mask = np.array([[[True, False, False, True]]])
    ignore = np.array([[[False, True, True, False]]])  # the two background pixels
    assert pixel_average_precision(heat, mask, ignore=ignore) == 1.0


def test_pxap_equals_wsolevaluation_s_and_sklearn_s_average_precision_of_the_bins() -> None:
    maps, _ = gaussian_maps(10, seed=3, most=2)
    rng = np.random.default_rng(4)
    masks = (maps + rng.normal(0, 0.2, maps.shape)) > 0.6
    ours = pixel_average_precision(torch.from_numpy(maps), torch.from_numpy(masks))
    scores = [normalize_scoremap(m.copy()) for m in maps]
    thresholds = np.arange(0, 1, 0.01)
    assert 100 * ours == pytest.approx(
        mask_auc(scores, masks.astype(np.uint8), thresholds), abs=1e-9
    )
    metrics = pytest.importorskip("sklearn.metrics")
    edges = np.append(thresholds, [1.0, 2.0, 3.0])
    bins = np.searchsorted(edges, np.stack(scores).ravel(), side="right")
    sklearn_ap = metrics.average_precision_score(masks.ravel(), bins)
    assert ours == pytest.approx(sklearn_ap, abs=1e-12)
    assert 0.5 < ours < 1.0


def test_localization_error_with_the_ilsvrc_rule() -> None:
    good, bad = (10, 10, 29, 29), (40, 40, 49, 49)
    predictions = [
        {5: good, 7: bad},  # right class, right box at rank 1
        {3: good, 9: good},  # wrong class first, right at rank 2
        {9: None, 4: good},  # right class without a box; class 4 is not in the image
        {9: bad, 2: bad},  # right class, box off
    ]
    gt = [{5: [good]}, {9: [bad, good]}, {9: good}, {9: [good]}]
    assert localization_error(predictions, gt) == {1: 0.75, 5: 0.5}
    assert localization_error(predictions, gt, topk=(2,), iou=0.0) == {2: 0.25}


def test_box_accuracy_refuses_a_missing_ground_truth() -> None:
    maps, gt = two_tiny_maps()
    with pytest.raises(OptionError, match="image 1 has no ground-truth box"):
        box_accuracy(maps, [gt[0], []])
    with pytest.raises(OptionError, match="1 entries for 2 maps"):
        box_accuracy(maps, gt[:1])
