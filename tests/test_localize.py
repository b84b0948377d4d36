"""seewhy.localize: boxes of maps' segments, IoU and box masks, on hand-built maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seewhy.errors import OptionError
from seewhy.localize import Box, box_iou, box_mask, boxes


def two_blobs() -> np.ndarray:
    """A 10 x 12 map: a 3 x 4 blob of 1.0 (12 px) top left, a 2 x 2 blob of 0.5 bottom right."""
    heat = np.zeros((10, 12))
    heat[1:4, 2:6] = 1.0
    heat[7:9, 9:11] = 0.5
    return heat


def test_the_largest_segment_s_box_has_inclusive_ends() -> None:
    assert boxes(two_blobs()) == Box(2, 1, 5, 3)
    assert Box(2, 1, 5, 3).width == 4 and Box(2, 1, 5, 3).height == 3
    assert Box(2, 1, 5, 3).area == 12


def test_two_separated_blobs_give_two_boxes_largest_first() -> None:
    assert boxes(two_blobs(), segments="all") == [Box(2, 1, 5, 3), Box(9, 7, 10, 8)]


def test_pixels_at_exactly_the_threshold_count_and_below_do_not() -> None:
    heat = two_blobs()
    # 0.5 >= 0.5 * 1.0: the second blob is in; just above, it is out
    assert len(boxes(heat, threshold=0.5, segments="all")) == 2
    assert boxes(heat, threshold=0.51, segments="all") == [Box(2, 1, 5, 3)]


def test_diagonal_neighbours_are_one_segment() -> None:
    heat = np.zeros((4, 4))
    heat[0, 0] = heat[1, 1] = heat[2, 2] = 1.0  # 8-connected: one segment of 3
    heat[0, 3] = 1.0
    assert boxes(heat, segments="all") == [Box(0, 0, 2, 2), Box(3, 0, 3, 0)]


def test_equal_segments_go_in_raster_order() -> None:
    heat = np.zeros((5, 5))
    heat[3, 0] = 1.0  # first pixel in row 3
    heat[1, 4] = 1.0  # first pixel in row 1: comes first
    assert boxes(heat) == Box(4, 1, 4, 1)
    assert boxes(heat, segments="all") == [Box(4, 1, 4, 1), Box(0, 3, 0, 3)]


def test_many_segments_are_boxed_alike_largest_first_then_in_raster_order() -> None:
    """Past 8 segments the boxes come from ``find_objects``: the same boxes, the same order."""
    heat = np.zeros((8, 8))
    heat[0:5:2, 0:7:2] = 1.0  # 12 isolated pixels
    heat[6, 0:2] = 1.0  # one segment of 2
    singles = [Box(x, y, x, y) for y in (0, 2, 4) for x in (0, 2, 4, 6)]
    assert boxes(heat, segments="all") == [Box(0, 6, 1, 6), *singles]
    assert boxes(heat[:5], segments="all") == singles


def test_a_map_whose_max_is_not_positive_has_no_box() -> None:
    assert boxes(np.zeros((3, 3))) is None
    assert boxes(-np.ones((3, 3)), segments="all") == []
    assert boxes(np.full((3, 3), np.nan)) is None


def test_negative_pixels_never_join_and_nan_pixels_are_background() -> None:
    heat = np.array([[1.0, np.nan, 1.0], [-1.0, -1.0, -1.0]])
    assert boxes(heat, threshold=0.0, segments="all") == [Box(0, 0, 0, 0), Box(2, 0, 2, 0)]


def test_batches_of_tensors_give_a_list_per_map() -> None:
    batch = torch.from_numpy(np.stack([two_blobs(), np.zeros((10, 12))])).float()
    assert boxes(batch) == [Box(2, 1, 5, 3), None]
    assert boxes(batch, segments="all") == [[Box(2, 1, 5, 3), Box(9, 7, 10, 8)], []]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segments": "biggest"}, "segments must be 'largest' or 'all'"),
        ({"threshold": 1.5}, "threshold must be in [0, 1]"),
    ],
)
def test_bad_options_say_what_is_allowed(kwargs, message) -> None:
    with pytest.raises(OptionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        boxes(two_blobs(), **kwargs)


def test_a_map_of_the_wrong_rank_is_refused() -> None:
    with pytest.raises(OptionError, match=r"\(H, W\) or \(N, H, W\)"):
        boxes(np.zeros((1, 2, 3, 4)))


def test_iou_counts_pixels_with_inclusive_ends() -> None:
    # (0,0)-(1,1) is 4 px, (1,1)-(2,2) is 4 px, they share 1 px: 1 / 7
    iou = box_iou([(0, 0, 1, 1), (0, 0, 1, 1)], [(1, 1, 2, 2), (0, 0, 1, 1), (5, 5, 6, 6)])
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0], [1 / 7, 1.0, 0.0]])
    assert box_iou([(3, 3, 3, 3)], [(3, 3, 3, 3)])[0, 0] == 1.0  # one pixel is a box


def test_box_mask_is_true_inside_the_inclusive_box() -> None:
    mask = box_mask([(1, 0, 2, 1)], (3, 4))
    assert mask.tolist() == [
        [False, True, True, False],
        [False, True, True, False],
        [False, False, False, False],
    ]


def test_res_boxes_are_the_boxes_of_each_image_and_target_s_map(lite0, chelsea_path) -> None:
    """``res.boxes`` on a real explanation (the bundled Lite0 on chelsea, top 2): the boxes of
    ``res.maps`` per image and target. At 15 % Grad-CAM covers the whole 224 px photo (the cat
    fills it); at half the maximum the box sits inside it."""
    import seewhy

    res = seewhy.Explainer(lite0).explain([chelsea_path], ["gradcam"], "top2")
    full = Box(0, 0, 223, 223)
    assert res.boxes("gradcam") == [[full, full]]
    half = res.boxes("gradcam", threshold=0.5)
    assert half == [[boxes(res.maps["gradcam"][0, t], 0.5) for t in range(2)]]
    assert all(0 < box.area < full.area for box in half[0])
    every = res.boxes("gradcam", threshold=0.5, segments="all")
    assert [found[0] for found in every[0]] == half[0]
    with pytest.raises(seewhy.MethodError, match="no 'gradcam\\+\\+' maps"):
        res.boxes("gradcam++")


def test_box_mask_leaves_out_boxes_wholly_outside_the_image() -> None:
    assert box_mask([(-10, -10, -2, -2)], (5, 5)).sum() == 0  # not 16 from wrapped ends
    assert box_mask([(-10, 2, -1, 3), (7, 0, 9, 4)], (5, 5)).sum() == 0
    assert box_mask([(-10, -10, 1, 1)], (5, 5)).sum() == 4  # clipped


def test_an_infinite_peak_with_threshold_zero_boxes_the_non_negative_pixels() -> None:
    heat = np.full((4, 4), -1.0)
    heat[1, 1], heat[1, 2] = np.inf, 0.0
    assert boxes(heat, threshold=0) == Box(1, 1, 2, 1)
    assert boxes(heat, threshold=0.5) == Box(1, 1, 1, 1)
