"""seewhy.render.boxes: the outline's pixels, on a grey image."""

from __future__ import annotations

import numpy as np
from PIL import Image

from seewhy.render.boxes import draw_boxes


def test_a_box_is_outlined_in_white_on_its_own_edge_pixels_and_black_outside() -> None:
    image = Image.fromarray(np.full((12, 12, 3), 128, dtype=np.uint8))
    drawn = np.asarray(draw_boxes(image, [(3, 4, 8, 9), None], width=1))
    assert (drawn[4, 3:9] == 255).all() and (drawn[9, 3:9] == 255).all()  # top, bottom rows
    assert (drawn[4:10, 3] == 255).all() and (drawn[4:10, 8] == 255).all()  # left, right
    assert (drawn[3, 2:10] == 0).all() and (drawn[10, 2:10] == 0).all()  # black just outside
    assert (drawn[5:9, 4:8] == 128).all()  # inside untouched
    assert (np.asarray(image) == 128).all()  # a copy: the input is unchanged
