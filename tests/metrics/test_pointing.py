"""seewhy.metrics.pointing: the pointing game (TorchRay's tolerance rule) and the energy
pointing game (Score-CAM's), on hand-built maps and masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seewhy.errors import OptionError
from seewhy.localize import box_mask
from seewhy.metrics import energy_pointing_game, pointing_accuracy, pointing_game


def peak_at(y: int, x: int, size: tuple[int, int] = (40, 50)) -> np.ndarray:
    heat = np.zeros(size)
    heat[y, x] = 1.0
    return heat


def mask_of(*pixels: tuple[int, int], size: tuple[int, int] = (40, 50)) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    for y, x in pixels:
        mask[y, x] = True
    return mask


@pytest.mark.parametrize(
    ("pixel", "hit"),
    [
        ((0, 14), 1.0),  # 14 px away
        ((0, 15), 0.0),  # exactly 15: not strictly within
        ((9, 11), 1.0),  # sqrt(81 + 121) = 14.2
        ((9, 12), 0.0),  # sqrt(81 + 144) = 15
        ((0, 0), 1.0),  # on the peak
    ],
)
def test_a_hit_is_strictly_within_the_tolerance(pixel, hit) -> None:
    assert pointing_game(peak_at(0, 0), mask_of(pixel)).tolist() == [hit]


def test_a_constant_map_points_at_its_first_pixel_and_misses_a_far_mask() -> None:
    constant = np.ones((2, 40, 50))
    far = box_mask([(30, 20, 40, 30)], (40, 50))  # nearest pixel (20, 30): 36 px from (0, 0)
    near = box_mask([(10, 0, 20, 5)], (40, 50))  # (0, 10): 10 px from (0, 0)
    assert pointing_game(constant, np.stack([far, near])).tolist() == [0.0, 1.0]


def test_an_empty_mask_is_nan_not_a_hit() -> None:
    hits = pointing_game(np.stack([peak_at(3, 3)] * 2), np.stack([mask_of(), mask_of((3, 3))]))
    assert np.isnan(hits[0]) and hits[1] == 1.0


def test_the_first_maximum_in_row_major_order_is_the_point() -> None:
    heat = peak_at(30, 0) + peak_at(0, 49)  # (0, 49) comes first
    assert pointing_game(heat, mask_of((0, 40))).tolist() == [1.0]
    assert pointing_game(heat, mask_of((30, 5))).tolist() == [0.0]


def test_equals_torchray_s_acceptance_region_on_random_maps() -> None:
    """TorchRay's ``PointingGame.evaluate``: a disc of squared radius < tolerance^2 around the
    argmax must meet the mask (its rule re-stated, not copied: CC BY-NC)."""
    rng = np.random.default_rng(0)
    maps = rng.random((20, 30, 40))
    masks = rng.random((20, 30, 40)) > 0.995
    ys, xs = np.mgrid[:30, :40]
    expected = []
    for heat, mask in zip(maps, masks):
        py, px = np.unravel_index(np.argmax(heat), heat.shape)
        accept = (ys - py) ** 2 + (xs - px) ** 2 < 15**2
        expected.append(float((accept & mask).any()) if mask.any() else np.nan)
    hits = pointing_game(torch.from_numpy(maps), torch.from_numpy(masks))
    np.testing.assert_array_equal(hits, expected)
    assert 0 < np.nansum(hits) < np.sum(~np.isnan(hits))  # both outcomes occur


def test_pointing_accuracy_is_the_mean_of_per_class_rates_without_nans() -> None:
    hits = [1.0, 0.0, 1.0, np.nan, 1.0, 0.0, 0.0]
    classes = [0, 0, 1, 1, 2, 2, 2]
    # class 0: 1/2, class 1: 1/1 (the NaN left out), class 2: 1/3
    assert pointing_accuracy(hits, classes) == pytest.approx((0.5 + 1.0 + 1 / 3) / 3)
    assert np.isnan(pointing_accuracy([np.nan], [4]))


def test_a_map_of_1_in_the_box_and_0_outside_scores_1_on_energy_pointing() -> None:
    mask = box_mask([(5, 2, 20, 9)], (12, 30))  # not square: rows are y
    assert energy_pointing_game(mask.astype(float), mask).tolist() == [1.0]


def test_energy_pointing_is_the_share_of_positive_mass_inside() -> None:
    heat = np.array([[2.0, 1.0, -5.0], [1.0, 0.0, 4.0]])
    mask = np.array([[True, False, True], [False, False, False]])
    # clipped: 2 + 1 + 0 + 1 + 0 + 4 = 8; inside: 2 + 0 = 2
    assert energy_pointing_game(heat, mask).tolist() == [0.25]
    assert np.isnan(energy_pointing_game(-np.ones((2, 3)), mask)[0])


def test_bfloat16_maps_and_bool_tensor_masks_are_read() -> None:
    heat = torch.zeros(1, 4, 5, dtype=torch.bfloat16)
    heat[0, 1, 2] = 3.0
    mask = torch.zeros(1, 4, 5, dtype=torch.bool)
    mask[0, 1, 2] = True
    assert energy_pointing_game(heat, mask).tolist() == [1.0]
    assert pointing_game(heat, mask, tolerance=1).tolist() == [1.0]


def test_maps_and_masks_must_have_the_same_shape() -> None:
    with pytest.raises(OptionError, match=r"same shape, got \(1, 4, 5\) and \(1, 5, 4\)"):
        pointing_game(np.zeros((4, 5)), np.zeros((5, 4), dtype=bool))


def test_a_nan_pixel_is_never_the_peak() -> None:
    heat = np.zeros((5, 5))
    heat[4, 4], heat[0, 0] = 1.0, np.nan
    assert pointing_game(heat, mask_of((0, 0), size=(5, 5)), tolerance=1).tolist() == [0.0]
    assert pointing_game(heat, mask_of((4, 4), size=(5, 5)), tolerance=1).tolist() == [1.0]
    assert np.isnan(pointing_game(np.full((5, 5), np.nan), mask_of((0, 0), size=(5, 5)))).all()


@pytest.mark.parametrize("tolerance", [-15, float("nan"), "15", True])
def test_a_bad_tolerance_is_refused(tolerance) -> None:
    with pytest.raises(OptionError, match="tolerance must be a number of pixels >= 0"):
        pointing_game(peak_at(1, 1), mask_of((1, 1)), tolerance=tolerance)
