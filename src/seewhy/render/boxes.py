"""Boxes drawn over an overlay: white, edged in black so they show on any colour of the jet map."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PIL import Image, ImageDraw

__all__ = ["draw_boxes"]


def draw_boxes(
    image: Image.Image, boxes: Iterable[Sequence[int] | None], width: int = 2
) -> Image.Image:
    """A copy of ``image`` with each ``(x0, y0, x1, y1)`` box (inclusive pixel ends, as
    :func:`seewhy.localize.boxes` gives them) outlined; ``None`` entries are skipped.

    The white line covers the box's outermost ``width`` pixels; a one-pixel black line runs
    just outside it where the image has room.
    """
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    for box in boxes:
        if box is None:
            continue
        x0, y0, x1, y1 = (int(v) for v in box)
        draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), outline=(0, 0, 0), width=1)
        draw.rectangle((x0, y0, x1, y1), outline=(255, 255, 255), width=width)
    return out
