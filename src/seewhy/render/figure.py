"""The explanation figure: one block per model, rows = targets, columns = photo + methods.

Drawn with ``matplotlib.figure.Figure`` and ``FigureCanvasAgg`` directly (no pyplot), so it is
thread safe and needs no display. The layout is computed in inches, so panels keep their size
(about 2.2 inches) whatever the number of rows, methods or blocks.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from seewhy.errors import ImageShapeError, OptionError
from seewhy.io.rgb import as_rgb_uint8
from seewhy.render.attribution import render_panel
from seewhy.render.overlay import to_numpy

__all__ = ["FigureBlock", "explanation_figure", "save_figure"]

# Layout, in inches.
_PANEL = 2.2  # side of one square panel
_GAP = 0.08  # between panels
_LABEL_W = 1.9  # left column holding the row labels
_MARGIN = 0.2  # around the whole figure
_COL_TITLE_H = 0.32  # method names above the first row of a block
_BLOCK_TITLE_H = 0.42  # model name above a block
_BLOCK_GAP = 0.35  # between two blocks
_TITLE_H = 0.55  # figure title
_LABEL_CHARS = 22  # wrap row labels at this many characters
_NOTE_CHARS = 30  # wrap the text of an empty cell at this many characters
_NOTE_LINES = 11  # and cut it after this many lines


@dataclass
class FigureBlock:
    """One model's part of the figure.

    Attributes:
        title: block title, e.g. the model name.
        image: ``(H, W, 3)`` uint8 photo as the model saw it.
        methods: column titles, one per method.
        row_labels: one label per target row, e.g. ``'Egyptian cat (285)  p=0.79'``.
        maps: ``(T, M, H, W)`` raw float maps with ``T = len(row_labels)`` and
            ``M = len(methods)``; each is min-max normalized on its own when drawn.
        kinds: how each method's map is drawn (see :func:`~seewhy.render.render_panel`):
            ``"cam"`` (default: jet overlay), ``"abs"``, ``"signed"`` or ``"rgb"``.
        attributions: per method, its ``(T, C, H, W)`` attribution for ``"rgb"`` panels,
            or None.
        notes: per method, a text drawn in an empty cell instead of its map (a method that
            was not run, and why), or None; its ``maps`` entries are ignored.
    """

    title: str
    image: np.ndarray
    methods: list[str]
    row_labels: list[str]
    maps: np.ndarray
    kinds: list[str] | None = None
    attributions: list[np.ndarray | None] | None = None
    notes: list[str | None] | None = None


def _check_block(block: FigureBlock) -> tuple[np.ndarray, np.ndarray]:
    """The block's photo and maps as arrays, or ``ValueError`` naming the expected shape."""
    n_rows, n_methods = len(block.row_labels), len(block.methods)
    maps = to_numpy(block.maps)
    expected = f"(T, M, H, W) = ({n_rows}, {n_methods}, H, W)"
    if maps.ndim != 4 or maps.shape[:2] != (n_rows, n_methods):
        raise OptionError(
            f"block {block.title!r}: maps must have shape {expected} for {n_rows} row labels "
            f"and {n_methods} methods, got {tuple(maps.shape)}"
        )
    if n_rows == 0:
        raise OptionError(f"block {block.title!r}: needs at least one row label")
    named = (("kinds", block.kinds), ("attributions", block.attributions), ("notes", block.notes))
    for name, values in named:
        if values is not None and len(values) != n_methods:
            raise OptionError(
                f"block {block.title!r}: {name} must have one entry per method ({n_methods}), "
                f"got {len(values)}"
            )
    try:
        image = as_rgb_uint8(block.image)
    except ImageShapeError as exc:
        raise ImageShapeError(f"block {block.title!r}: {exc}") from None
    return image, maps


def _block_height(n_rows: int) -> float:
    return _BLOCK_TITLE_H + _COL_TITLE_H + n_rows * _PANEL + (n_rows - 1) * _GAP


def explanation_figure(
    blocks: list[FigureBlock], title: str | None = None, dpi: int = 100
) -> Image.Image:
    """The figure for one input image, as an RGB PIL image.

    Blocks (one per model) are stacked vertically and may have different numbers of rows and
    methods. In a block each row is a target, labelled on the left with its row label; the
    columns are the input photo followed by one panel per method, titled with the method
    name: a jet overlay (alpha 0.5) for CAM maps, and for input-space maps the drawing of their
    kind (magnitude heatmap, signed overlay or gradient image, see
    :func:`~seewhy.render.render_panel`), or for a method with a note (one that was not run)
    a light grey empty cell with the note; the block is titled with ``block.title``.

    Raises:
        ValueError: no blocks, or a block whose ``maps`` is not ``(T, M, H, W)`` with
            ``T = len(row_labels)`` and ``M = len(methods)``; an
            :class:`~seewhy.errors.ImageShapeError` (also a ``ValueError``) for a block
            image :func:`~seewhy.io.rgb.as_rgb_uint8` cannot read.
    """
    if not blocks:
        raise OptionError("explanation_figure needs at least one FigureBlock")
    checked = [_check_block(b) for b in blocks]

    n_cols = max(1 + len(b.methods) for b in blocks)
    width = 2 * _MARGIN + _LABEL_W + n_cols * _PANEL + (n_cols - 1) * _GAP
    top = _MARGIN + (_TITLE_H if title else 0.0)
    height = top + sum(_block_height(len(b.row_labels)) for b in blocks)
    height += (len(blocks) - 1) * _BLOCK_GAP + _MARGIN

    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)

    def rect(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        """Inches from the top-left corner -> figure fractions from the bottom-left."""
        return (x / width, 1.0 - (y + h) / height, w / width, h / height)

    if title:
        fig.text(
            0.5, 1.0 - (_MARGIN + _TITLE_H / 2) / height, title,
            ha="center", va="center", fontsize=16, fontweight="bold",
        )  # fmt: skip

    x0 = _MARGIN + _LABEL_W
    y = top
    for block, (image, maps) in zip(blocks, checked, strict=True):
        cols = 1 + len(block.methods)
        block_w = cols * _PANEL + (cols - 1) * _GAP
        fig.text(
            (x0 + block_w / 2) / width, 1.0 - (y + _BLOCK_TITLE_H / 2) / height, block.title,
            ha="center", va="center", fontsize=14, fontweight="bold",
        )  # fmt: skip
        y += _BLOCK_TITLE_H + _COL_TITLE_H
        col_titles = ["input", *block.methods]
        kinds = block.kinds or ["cam"] * len(block.methods)
        attributions = block.attributions or [None] * len(block.methods)
        notes = block.notes or [None] * len(block.methods)
        for t, label in enumerate(block.row_labels):
            for c in range(cols):
                ax = fig.add_axes(rect(x0 + c * (_PANEL + _GAP), y, _PANEL, _PANEL))
                if t == 0:
                    ax.set_title(col_titles[c], fontsize=11, pad=4)
                note = notes[c - 1] if c > 0 else None
                if note is not None:
                    _empty_cell(ax, note)
                    continue
                if c == 0:
                    panel = image
                else:
                    attribution = attributions[c - 1]
                    panel = render_panel(
                        image,
                        maps[t, c - 1],
                        kinds[c - 1],
                        None if attribution is None else attribution[t],
                    )
                ax.imshow(np.asarray(panel), aspect="auto")
                ax.set_axis_off()
            fig.text(
                (x0 - 0.12) / width, 1.0 - (y + _PANEL / 2) / height,
                textwrap.fill(label, _LABEL_CHARS),
                ha="right", va="center", fontsize=10, linespacing=1.3,
            )  # fmt: skip
            y += _PANEL + _GAP
        y += _BLOCK_GAP - _GAP

    canvas = fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))


def _empty_cell(ax: Axes, note: str) -> None:
    """A light grey panel with ``note`` wrapped inside, in place of a map."""
    ax.set_facecolor("#eeeeee")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#bbbbbb")
    lines = textwrap.wrap(note, _NOTE_CHARS)
    if len(lines) > _NOTE_LINES:
        lines = [*lines[: _NOTE_LINES - 1], lines[_NOTE_LINES - 1] + " ..."]
    ax.text(
        0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=7.5, color="#444444",
        transform=ax.transAxes, linespacing=1.25,
    )  # fmt: skip


def save_figure(image: Image.Image, path: str | PathLike[str]) -> None:
    """Write ``image`` as a PNG to ``path``, creating missing parent directories."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG")
