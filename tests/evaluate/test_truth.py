"""Ground truth in the model's input pixels: the geometry of display's resize and crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seewhy.datasets.base import Sample, Truth
from seewhy.evaluate.truth import image_truth, measured_classes
from seewhy.models import LoadedModel


def model(**fields) -> LoadedModel:
    return LoadedModel(module=torch.nn.Identity(), input_size=8, **fields)


def marked(width: int, height: int, box: tuple[int, int, int, int]) -> np.ndarray:
    pixels = np.zeros((height, width, 3), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0 : y1 + 1, x0 : x1 + 1] = 255
    return pixels


@pytest.mark.parametrize(
    ("fields", "size", "box", "expected"),
    [
        ({}, (16, 32), (4, 8, 7, 15), (2, 2, 3, 3)),  # squash: x / 2, y / 4
        ({}, (16, 32), (0, 0, 15, 31), (0, 0, 7, 7)),
        ({}, (12, 12), (3, 3, 5, 5), (2, 2, 3, 3)),  # [3, 6) * 2/3 = [2, 4)
        ({"resize": False}, (10, 6), (1, 2, 3, 4), (1, 2, 3, 4)),
        # crop: shorter side 9 (int(8 / 0.875)), 18 x 9 for 32 x 16, left int(round(5.0)) = 5
        ({"crop": True}, (32, 16), (0, 0, 31, 15), (0, 0, 7, 7)),
        ({"crop": True}, (32, 16), (0, 0, 7, 15), None),  # in the cut-off left part
        ({"crop": True}, (32, 16), (12, 2, 17, 5), (1, 1, 5, 3)),  # [6.75, 10.125) - 5
    ],
)
def test_a_box_lands_where_display_puts_its_pixels(fields, size, box, expected):
    lm = model(**fields)
    geometry = lm.geometry(*size)
    assert geometry.box(box) == expected
    if expected is not None and fields.get("resize", True) and size == (16, 32):
        shown = lm.display(marked(*size, box))[..., 0] > 127  # the resize blurs the edges
        ys, xs = np.nonzero(shown)
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == expected


def test_display_keeps_its_crop():
    lm = model(crop=True)
    pixels = np.random.default_rng(0).integers(0, 256, (16, 32, 3), dtype=np.uint8)
    resized = np.asarray(Image.fromarray(pixels).resize((18, 9), Image.Resampling.BILINEAR))
    assert np.array_equal(lm.display(pixels), resized[0:8, 5:13])


def test_masks_and_boxes_per_class_and_for_every_object():
    mask = np.zeros((32, 16), dtype=bool)
    mask[0:16, 0:8] = True
    sample = Sample(
        "a.png",
        lambda: None,
        labels=(3,),
        objects=(Truth(3, box=(8, 16, 15, 31)), Truth(5, mask=mask), Truth(3, box=(0, 0, 3, 3))),
    )
    truth = image_truth(sample, model().geometry(16, 32))
    assert truth.boxes[3].tolist() == [[4, 4, 7, 7], [0, 0, 1, 0]]
    assert 5 not in truth.boxes and truth.boxes[-1].shape == (2, 4)
    assert truth.masks[5][:4, :4].all() and truth.masks[5].sum() == 16
    assert truth.segmentations[5].sum() == 16 and 3 not in truth.segmentations
    assert (
        truth.masks[3].sum() == 16 + 2 and truth.masks[-1].sum() == 16 + 16
    )  # the small box lies in the mask
    assert measured_classes(sample) == [3]
    assert measured_classes(Sample("b", lambda: None, objects=sample.objects)) == [3, 5]
