"""The explanation figure: one block per model, rows = targets, columns = photo + methods.

Composed with PIL: each panel is pasted at its pixel size, text is drawn with the DejaVu
fonts matplotlib ships, and under each method's column a colour bar says what its colours
stand for (a strip drawn once per colour map and size). No matplotlib figure or axes is
made, so a figure costs a few milliseconds beside its panels (an axes per panel cost about
0.25 s per figure), it is thread safe and needs no display. Sizes are given at 100 dpi and
scale with ``dpi``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from seewhy.errors import ImageShapeError, OptionError
from seewhy.io.rgb import as_rgb_uint8
from seewhy.render.attribution import render_panel
from seewhy.render.overlay import to_numpy
from seewhy.render.png import save_png
from seewhy.render.scale import Scale, colorbar, format_value

__all__ = [
    "FigureBlock",
    "FigureLayout",
    "explanation_figure",
    "figure_layout",
    "save_figure",
]

# Layout, in pixels at 100 dpi.
_PANEL = 224  # side of one square panel
_GAP = 8  # between panels
_LABEL_W = 190  # left column holding the row labels
_MARGIN = 20  # around the whole figure
_TITLE_H = 50  # figure title
_BLOCK_TITLE_H = 32  # model name above a block
_SUBTITLE_H = 28  # what was computed, under the model name
_COL_LINE_H = (22, 16)  # a column title's first line, and each further line
_BAR_GAP = 8  # between the last row and the colour bars
_BAR_H = 12  # colour bar strip
_TICK_H = 17  # the values under a colour bar
_CAPTION_LINE_H = 15  # each line of a colour bar's caption
_CAPTION_LINES = 6  # a caption is cut after this many lines
_BLOCK_GAP = 26  # between two blocks
_NOTE_LINES = 12  # an empty cell's text is cut after this many lines

# Font sizes in pixels at 100 dpi.
_SIZES = {"title": 22, "block": 18, "subtitle": 13, "column": 15, "column2": 12, "row": 13}
_SIZES |= {"tick": 12, "caption": 12, "note": 11}
_GREY, _DARK, _EMPTY, _EMPTY_EDGE = (90, 90, 90), (20, 20, 20), (238, 238, 238), (187, 187, 187)


@dataclass
class FigureBlock:
    """One model's part of the figure.

    Attributes:
        title: block title, e.g. the model name.
        image: ``(H, W, 3)`` uint8 photo as the model saw it.
        methods: column titles, one per method; a title may have several lines (the first
            is the method, the others say more in smaller grey type, e.g. its layer).
        row_labels: one label per target row, e.g. ``'Egyptian cat (285)  p=0.79'``.
        maps: ``(T, M, H, W)`` raw float maps with ``T = len(row_labels)`` and
            ``M = len(methods)``.
        kinds: how each method's map is drawn (see :func:`~seewhy.render.render_panel`):
            ``"cam"`` (default: jet overlay), ``"abs"``, ``"signed"`` or ``"rgb"``.
        attributions: per method, its ``(T, C, H, W)`` attribution for ``"rgb"`` panels,
            or None.
        notes: per method, a text drawn in an empty cell instead of its map (a method that
            was not run, and why), or None; its ``maps`` entries are ignored.
        scales: per method, one :class:`~seewhy.render.Scale` per row, or None to draw each
            map on its own scale (and always for ``"rgb"`` columns). The colour bar under
            the column shows the values when its rows share one scale, ``0 .. max`` when not.
        captions: per method, the text under its colour bar (what the scale is and what
            the colours mean), or None.
        subtitle: a line under the title, e.g. the score kind and the layer.
        panels: per row, per method, the panel already drawn (e.g. to write it as a file
            too), or None to draw it here from ``maps`` (with ``kinds``, ``attributions``
            and ``scales``).
    """

    title: str
    image: np.ndarray
    methods: list[str]
    row_labels: list[str]
    maps: np.ndarray
    kinds: list[str] | None = None
    attributions: list[np.ndarray | None] | None = None
    notes: list[str | None] | None = None
    scales: list[list[Scale] | None] | None = None
    captions: list[str | None] | None = None
    subtitle: str | None = None
    panels: list[list[Image.Image | None]] | None = None


@dataclass
class FigureLayout:
    """Where things are in a figure, in pixels from the top left: ``(left, top, right,
    bottom)`` boxes.

    Attributes:
        size: ``(width, height)`` of the figure.
        panels: ``(block, row, column)`` -> box; column 0 is the photo, column ``m + 1``
            the block's method ``m``.
        bars: ``(block, column)`` -> the colour bar strip under a method's column (columns
            from 1; none for ``"rgb"`` columns and empty cells).
    """

    size: tuple[int, int]
    panels: dict[tuple[int, int, int], tuple[int, int, int, int]] = field(default_factory=dict)
    bars: dict[tuple[int, int], tuple[int, int, int, int]] = field(default_factory=dict)


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The DejaVu font matplotlib ships, one object per thread (a FreeType face is not
    meant to be shared between threads drawing at once)."""
    return _thread_font(size, bold, threading.get_ident())


@lru_cache(maxsize=128)
def _thread_font(size: int, bold: bool, thread: int) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    with _OPENING:  # FreeType's library is not meant to open faces from two threads at once
        return ImageFont.truetype(
            str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size
        )


_OPENING = threading.Lock()


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` pixels (at spaces; a word wider
    than the line stands alone); its own newlines are kept. Found once per text, font and
    width (a run's figures repeat their captions and titles)."""
    return list(_wrapped(text, font, width))


@lru_cache(maxsize=4096)
def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: float) -> tuple[str, ...]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return tuple(lines)


def _text(
    canvas: Image.Image,
    xy: tuple[int, int],
    text: str,
    fill: tuple[int, int, int],
    font: ImageFont.FreeTypeFont,
    anchor: str,
) -> None:
    """``ImageDraw.text(xy, text, fill, font, anchor)`` for one line at whole pixels, the
    same pixels, with the text's bitmap rendered once per font and anchor (:func:`_glyphs`):
    a run's figures repeat their column titles, captions and colour bar values, and
    FreeType's rendering was a quarter of composing a figure."""
    mask, left, top = _glyphs(text, font, anchor)
    if mask is not None:
        canvas.paste(fill, (xy[0] + left, xy[1] + top), mask)


@lru_cache(maxsize=4096)
def _glyphs(
    text: str, font: ImageFont.FreeTypeFont, anchor: str
) -> tuple[Image.Image | None, int, int]:
    """``text``'s coverage (an ``"L"`` image) and its offset from the anchor point."""
    left, top, right, bottom = font.getbbox(text, anchor=anchor)
    if right <= left or bottom <= top:
        return None, 0, 0
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, 255, font, anchor)
    return mask, left, top


def _cut(lines: list[str], count: int) -> list[str]:
    return lines if len(lines) <= count else [*lines[: count - 1], lines[count - 1] + " ..."]


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
    named = (
        ("kinds", block.kinds),
        ("attributions", block.attributions),
        ("notes", block.notes),
        ("scales", block.scales),
        ("captions", block.captions),
    )
    for name, values in named:
        if values is not None and len(values) != n_methods:
            raise OptionError(
                f"block {block.title!r}: {name} must have one entry per method ({n_methods}), "
                f"got {len(values)}"
            )
    for scales in block.scales or []:
        if scales is not None and len(scales) != n_rows:
            raise OptionError(
                f"block {block.title!r}: scales must have one Scale per row ({n_rows}), "
                f"got {len(scales)}"
            )
    if block.panels is not None and (
        len(block.panels) != n_rows or any(len(row) != n_methods for row in block.panels)
    ):
        raise OptionError(
            f"block {block.title!r}: panels must be {n_rows} rows of {n_methods} panels"
        )
    try:
        image = as_rgb_uint8(block.image)
    except ImageShapeError as exc:
        raise ImageShapeError(f"block {block.title!r}: {exc}") from None
    return image, maps


class _Sizes:
    """The layout's pixel sizes and fonts at one dpi."""

    def __init__(self, dpi: int) -> None:
        self.k = dpi / 100
        self.panel, self.gap, self.label_w, self.margin = map(
            self.px, (_PANEL, _GAP, _LABEL_W, _MARGIN)
        )
        self.title_h, self.block_title_h, self.subtitle_h, self.block_gap = map(
            self.px, (_TITLE_H, _BLOCK_TITLE_H, _SUBTITLE_H, _BLOCK_GAP)
        )
        self.bar_gap, self.bar_h, self.tick_h, self.caption_line_h = map(
            self.px, (_BAR_GAP, _BAR_H, _TICK_H, _CAPTION_LINE_H)
        )

    def px(self, value: float) -> int:
        return max(1, round(value * self.k))

    def font(self, role: str, bold: bool = False) -> ImageFont.FreeTypeFont:
        return _font(max(6, self.px(_SIZES[role])), bold)

    def column_titles_h(self, block: FigureBlock) -> int:
        lines = max((len(t.split("\n")) for t in block.methods), default=1)
        return self.px(_COL_LINE_H[0] + (lines - 1) * _COL_LINE_H[1])

    def header_h(self, block: FigureBlock) -> int:
        """The height above a block's first row: title, subtitle and column titles."""
        subtitle = self.subtitle_h if block.subtitle else 0
        return self.block_title_h + subtitle + self.column_titles_h(block)


def _column(block: FigureBlock, m: int) -> tuple[str, list[Scale] | None, str | None, bool]:
    """Method ``m``'s kind, scales, caption and whether its cell is empty (a note)."""
    kind = (block.kinds or ["cam"] * len(block.methods))[m]
    scales = block.scales[m] if block.scales else None
    caption = block.captions[m] if block.captions else None
    empty = bool(block.notes and block.notes[m] is not None)
    if kind == "rgb" and caption is None:
        caption = "gradient image: grey = 0,\neach image on its own spread"
    return kind, scales, caption, empty


def _caption_lines(block: FigureBlock, s: _Sizes) -> list[list[str]]:
    font = s.font("caption")
    lines = []
    for m in range(len(block.methods)):
        _, _, caption, empty = _column(block, m)
        lines.append(
            [] if empty or not caption else _cut(_wrap(caption, font, s.panel), _CAPTION_LINES)
        )
    return lines


def _has_bar(block: FigureBlock, m: int) -> bool:
    kind, _, _, empty = _column(block, m)
    return not empty and kind != "rgb"


def _block_height(block: FigureBlock, s: _Sizes) -> int:
    rows = len(block.row_labels)
    height = s.header_h(block) + rows * s.panel + (rows - 1) * s.gap
    captions = max((len(c) for c in _caption_lines(block, s)), default=0)
    if captions or any(_has_bar(block, m) for m in range(len(block.methods))):
        height += s.bar_gap + s.bar_h + s.tick_h + captions * s.caption_line_h
    return height


def figure_layout(
    blocks: list[FigureBlock], title: str | None = None, dpi: int = 100
) -> FigureLayout:
    """Where :func:`explanation_figure` puts each panel and colour bar (same arguments)."""
    s = _Sizes(dpi)
    n_cols = max(1 + len(b.methods) for b in blocks)
    width = 2 * s.margin + s.label_w + n_cols * s.panel + (n_cols - 1) * s.gap
    heights = [_block_height(b, s) for b in blocks]
    top = s.margin + (s.title_h if title else 0)
    layout = FigureLayout((width, top + sum(heights) + (len(blocks) - 1) * s.block_gap + s.margin))
    x0 = s.margin + s.label_w
    for i, block in enumerate(blocks):
        y = top + s.header_h(block)
        for t in range(len(block.row_labels)):
            for c in range(1 + len(block.methods)):
                left = x0 + c * (s.panel + s.gap)
                layout.panels[i, t, c] = (left, y, left + s.panel, y + s.panel)
            y += s.panel + s.gap
        y += s.bar_gap - s.gap
        for m in range(len(block.methods)):
            if _has_bar(block, m):
                left = x0 + (m + 1) * (s.panel + s.gap)
                layout.bars[i, m + 1] = (left, y, left + s.panel, y + s.bar_h)
        top += heights[i] + s.block_gap
    return layout


def explanation_figure(
    blocks: list[FigureBlock], title: str | None = None, dpi: int = 100
) -> Image.Image:
    """The figure for one input image, as an RGB PIL image.

    Blocks (one per model) are stacked vertically and may have different numbers of rows and
    methods. A block is titled with ``block.title`` and its ``subtitle``; each row is a
    target, labelled on the left with its row label; the columns are the input photo followed
    by one panel per method, titled with the method name: a jet overlay (alpha 0.5) for CAM
    maps, and for other maps the drawing of their kind (diverging overlay, magnitude heatmap
    or gradient image, see :func:`~seewhy.render.render_panel`), each in its row's
    ``scales`` entry, or for a method with a note (one that was not run) a light grey empty
    cell with the note. Under each method's column, a colour bar with its end values (and 0
    at the centre of a signed one) and the column's caption.

    Raises:
        ValueError: no blocks, or a block whose ``maps`` is not ``(T, M, H, W)`` with
            ``T = len(row_labels)`` and ``M = len(methods)``, or whose per-method lists have
            another length; an :class:`~seewhy.errors.ImageShapeError` (also a
            ``ValueError``) for a block image :func:`~seewhy.io.rgb.as_rgb_uint8` cannot read.
    """
    if not blocks:
        raise OptionError("explanation_figure needs at least one FigureBlock")
    checked = [_check_block(b) for b in blocks]
    s = _Sizes(dpi)
    layout = figure_layout(blocks, title, dpi)
    canvas = Image.new("RGB", layout.size, "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        font = s.font("title", bold=True)
        left = s.margin + s.label_w  # centred over the panels, as the block titles are
        text = _cut(_wrap(title, font, layout.size[0] - left - s.margin), 1)[0]
        centre = (left + layout.size[0] - s.margin) // 2
        _text(canvas, (centre, s.margin + s.title_h // 2), text, _DARK, font, "mm")
    for i, (block, (image, maps)) in enumerate(zip(blocks, checked, strict=True)):
        _draw_block(canvas, draw, layout, i, block, image, maps, s)
    return canvas


def _draw_block(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    layout: FigureLayout,
    i: int,
    block: FigureBlock,
    image: np.ndarray,
    maps: np.ndarray,
    s: _Sizes,
) -> None:
    cols = 1 + len(block.methods)
    first, last = layout.panels[i, 0, 0], layout.panels[i, 0, cols - 1]
    centre = (first[0] + last[2]) // 2
    y = first[1] - s.header_h(block)
    _text(
        canvas, (centre, y + s.block_title_h // 2), block.title, _DARK, s.font("block", True), "mm"
    )
    y += s.block_title_h
    if block.subtitle:
        font = s.font("subtitle")
        text = _cut(_wrap(block.subtitle, font, last[2] - first[0]), 1)[0]
        _text(canvas, (centre, y + s.px(2)), text, _GREY, font, "ma")
    for c, column_title in enumerate(["input", *block.methods]):
        left, top = layout.panels[i, 0, c][:2]
        lines = column_title.split("\n")
        y = top - s.column_titles_h(block)
        _text(canvas, (left + s.panel // 2, y), lines[0], _DARK, s.font("column"), "ma")
        y += s.px(_COL_LINE_H[0])
        font = s.font("column2")
        for line in lines[1:]:
            text = _cut(_wrap(line, font, s.panel), 1)[0]
            _text(canvas, (left + s.panel // 2, y), text, _GREY, font, "ma")
            y += s.px(_COL_LINE_H[1])

    photo = _fit(Image.fromarray(image), s.panel)
    attributions = block.attributions or [None] * len(block.methods)
    for t, label in enumerate(block.row_labels):
        box = layout.panels[i, t, 0]
        canvas.paste(photo, box[:2])
        font = s.font("row")
        lines = _wrap(label, font, s.label_w - 12)
        draw.multiline_text(
            (box[0] - s.px(10), (box[1] + box[3]) // 2), "\n".join(lines), _DARK, font,
            "rm", spacing=s.px(4), align="right",
        )  # fmt: skip
        for m in range(len(block.methods)):
            box = layout.panels[i, t, m + 1]
            kind, scales, _, empty = _column(block, m)
            if empty:
                _empty_cell(draw, box, (block.notes or [])[m] or "", s)
                continue
            attribution = attributions[m]
            panel = block.panels[t][m] if block.panels else None
            if panel is None:
                panel = render_panel(
                    image,
                    maps[t, m],
                    kind,
                    None if attribution is None else attribution[t],
                    scale=scales[t] if scales else None,
                )
            canvas.paste(_fit(panel, s.panel), box[:2])

    captions = _caption_lines(block, s)
    for m in range(len(block.methods)):
        left = layout.panels[i, 0, m + 1][0]
        y = layout.panels[i, len(block.row_labels) - 1, 0][3] + s.bar_gap
        if (i, m + 1) in layout.bars:
            kind, scales, _, _ = _column(block, m)
            _draw_bar(canvas, draw, layout.bars[i, m + 1], kind, scales, s)
            y += s.bar_h + s.tick_h
        font = s.font("caption")
        for line in captions[m]:
            _text(canvas, (left, y), line, _DARK, font, "la")
            y += s.caption_line_h


def _fit(image: Image.Image, side: int) -> Image.Image:
    if image.size == (side, side):
        return image
    return image.resize((side, side), Image.Resampling.BILINEAR)


def _draw_bar(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    kind: str,
    scales: list[Scale] | None,
    s: _Sizes,
) -> None:
    """The colour strip and its values: the ends (and 0 in the middle when signed) when the
    rows share one scale; ``0 .. max`` (``-max 0 max``) when each map has its own."""
    shared = scales[0] if scales and all(sc == scales[0] for sc in scales) else None
    signed = shared.signed if shared else bool(scales and scales[0].signed) or kind == "signed"
    cmap = shared.cmap if shared else ("bwr" if signed else {"abs": "gray"}.get(kind, "jet"))
    left, top, right, bottom = box
    canvas.paste(Image.fromarray(colorbar(cmap, right - left, bottom - top)), (left, top))
    draw.rectangle((left, top, right - 1, bottom - 1), outline=_EMPTY_EDGE)
    if shared is not None:
        ends = (format_value(shared.low), format_value(shared.high))
    else:
        ends = ("-max", "max") if signed else ("0", "max")
    font, y = s.font("tick"), bottom + s.px(2)
    _text(canvas, (left, y), ends[0], _DARK, font, "la")
    _text(canvas, (right, y), ends[1], _DARK, font, "ra")
    if signed:
        draw.line(((left + right) // 2, top, (left + right) // 2, bottom + s.px(2)), _DARK)
        _text(canvas, ((left + right) // 2, y), "0", _DARK, font, "ma")


def _empty_cell(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], note: str, s: _Sizes
) -> None:
    """A light grey panel with ``note`` wrapped inside, in place of a map."""
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=_EMPTY, outline=_EMPTY_EDGE)
    font = s.font("note")
    lines = _cut(_wrap(note, font, s.panel - s.px(20)), _NOTE_LINES)
    draw.multiline_text(
        ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), "\n".join(lines), (68, 68, 68), font,
        "mm", spacing=s.px(3), align="center",
    )  # fmt: skip


def save_figure(image: Image.Image, path: str | PathLike[str]) -> None:
    """Write ``image`` as a PNG to ``path`` (fast, see :mod:`seewhy.render.png`), creating
    missing parent directories."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_png(image, out)
