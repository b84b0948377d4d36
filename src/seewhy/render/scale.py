"""What a map's colours stand for: the limits a map is drawn with, and its colour bar.

A heatmap means nothing without its scale: scaled on its own, a class the model gives
p = 0.00 looks as red as the top class. Every map is drawn with a :class:`Scale`, and the
figure prints it under each method's column. Which maps share a scale is the ``scale``
choice (:data:`SCALES`):

- ``"map"``: each map on its own (``0 .. its max``); shapes, but no strengths, compare.
- ``"image"`` (default): all targets of one method on one image share one scale, so a weak
  class's map looks as weak as it is beside the top class's.
- ``"global"``: one scale per method for every image of the result (the whole run).

How the values become colours (:func:`scale_of`):

- ``"cam"``: ``[0, max]`` on jet, over the photo (a CAM after its ReLU is evidence >= 0).
- ``"signed"``: ``[-m, m]`` on the diverging ``bwr`` map over the photo, so 0 is its white
  centre, red positive (raises the score), blue negative. ``m`` is the largest magnitude for
  a CAM, the 99th percentile of ``|map|`` for input-space maps (a few extreme pixels would
  wash the rest out; beyond it the colour saturates).
- ``"abs"``: ``[0, 99th percentile of |map|]`` on grey, alone (saliency, SmoothGrad).
- ``"rgb"`` maps (guided backprop) are drawn as gradient images, each normalized by its own
  spread (:func:`~seewhy.render.gradient_image`); they have no scale.

With several maps the limit is the largest of the maps' own limits (their max, or their
99th percentile), so the strongest map is drawn as it would be on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from seewhy.errors import OptionError
from seewhy.render.overlay import colorize, colormap_table, finite, to_numpy

__all__ = ["SCALES", "Scale", "colorbar", "format_value", "scale_of", "shared", "sign_legend"]

SCALES = ("map", "image", "global")
_CMAPS = {"cam": "jet", "signed": "bwr", "abs": "gray"}


@dataclass(frozen=True)
class Scale:
    """The values at the two ends of a map's colour map.

    Attributes:
        kind: ``"cam"`` (jet, ``low = 0``), ``"signed"`` (bwr, ``low = -high``: 0 is the
            centre colour) or ``"abs"`` (grey, the magnitude, ``low = 0``).
        low: the value drawn with the colour map's first colour.
        high: the value drawn with its last colour; values beyond the ends are clipped.
    """

    kind: str
    low: float
    high: float

    def __post_init__(self) -> None:
        if self.kind not in _CMAPS:
            raise OptionError(
                f"a scale's kind must be one of {', '.join(_CMAPS)}, got {self.kind!r}"
            )

    @property
    def cmap(self) -> str:
        return _CMAPS[self.kind]

    @property
    def signed(self) -> bool:
        return self.kind == "signed"

    def unit(self, heat: Any) -> np.ndarray:
        """``heat`` mapped to ``[0, 1]``: 0 the low end, 1 the high end (0.5 is zero when
        signed); an empty scale (``high == low``) maps everything to zero's place."""
        h = finite(np.array(to_numpy(heat), dtype=np.float32))
        if self.kind == "abs":
            np.abs(h, out=h)
        span = self.high - self.low
        if span <= 0.0:
            return np.full(h.shape, 0.5 if self.signed else 0.0, dtype=np.float32)
        h -= self.low
        h /= span
        return np.clip(h, 0.0, 1.0, out=h)

    def colorize(self, heat: Any) -> np.ndarray:
        """``heat`` as an ``(H, W, 3)`` uint8 image in this scale's colours: the colours of
        :func:`~seewhy.render.colorize` on :meth:`unit`, in one pass over the map."""
        table = colormap_table(self.cmap)
        h = np.array(to_numpy(heat), dtype=np.float32)
        np.copyto(h, 0.0, where=np.isnan(h))  # NaN as 0; infinities are clipped below
        if self.kind == "abs":
            np.abs(h, out=h)
        span = self.high - self.low
        if span <= 0.0:
            return colorize(np.full(h.shape, 0.5 if self.signed else 0.0), self.cmap)
        h -= self.low
        h *= len(table) / span
        kind = np.uint8 if len(table) <= 256 else np.intp  # a byte index: faster lookups
        index = np.clip(h, 0, len(table) - 1, out=h).astype(kind)
        return np.take(table, index, axis=0)


def _peaks(maps: np.ndarray, kind: str, clip_percentile: float) -> np.ndarray:
    """Each map's own limit: its max (``"cam"``), largest magnitude (signed CAM) or the
    ``clip_percentile`` percentile of its magnitude (input-space ``"signed"`` and ``"abs"``)."""
    flat = maps.reshape(maps.shape[0], -1)
    if kind == "cam":
        return flat.max(axis=1)
    if kind == "signed_cam":
        return np.abs(flat).max(axis=1)
    magnitude = np.abs(flat)
    peaks = np.percentile(magnitude, clip_percentile, axis=1)
    return np.where(peaks > 0.0, peaks, magnitude.max(axis=1))  # sparse maps: their max


def scale_of(
    maps: Any, display: str, signed: bool = False, clip_percentile: float = 99.0
) -> Scale | None:
    """The one scale shared by ``maps`` (``(..., H, W)``) of a method drawn as ``display``
    (``"cam"``, ``"signed"``, ``"abs"``; None for ``"rgb"``, which has no scale).

    ``signed=True`` draws a ``"cam"`` map on the diverging scale (HiResCAM, any CAM with
    ``relu=False``); a ``"signed"`` display is always signed. ``clip_percentile`` is the
    percentile of ``|map|`` that ends an input-space map's scale.
    """
    if display == "rgb":
        return None
    if display not in _CMAPS:
        raise OptionError(f"display must be one of cam, signed, abs, rgb; got {display!r}")
    if not 0.0 < clip_percentile <= 100.0:
        raise OptionError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    values = finite(to_numpy(maps).astype(np.float64))
    if values.ndim < 2:
        raise OptionError(f"maps must have shape (..., H, W), got {tuple(values.shape)}")
    values = values.reshape(-1, *values.shape[-2:])
    kind = "signed" if signed or display == "signed" else display
    if values.size == 0:
        return Scale(kind, 0.0, 0.0)
    if kind == "cam":
        return Scale("cam", 0.0, max(float(_peaks(values, "cam", clip_percentile).max()), 0.0))
    if kind == "abs":
        return Scale("abs", 0.0, float(_peaks(values, "abs", clip_percentile).max()))
    rule = "signed_cam" if display == "cam" else "signed"
    peak = float(_peaks(values, rule, clip_percentile).max())
    return Scale("signed", -peak, peak)


def format_value(value: float) -> str:
    """A colour bar's end value: 3 significant digits (``3.21``, ``0.0123``, ``1.2e+04``)."""
    return "0" if value == 0.0 else f"{value:.3g}"


@lru_cache(maxsize=64)
def colorbar(cmap: str, width: int, height: int) -> np.ndarray:
    """A horizontal ``(height, width, 3)`` strip of ``cmap`` from its first colour (left) to
    its last (right), each column the colour of its centre's value."""
    values = (np.arange(width) + 0.5) / width
    strip = np.ascontiguousarray(np.broadcast_to(colorize(values[None], cmap), (height, width, 3)))
    strip.setflags(write=False)
    return strip


def sign_legend(method: str, counterfactual: bool = False) -> str:
    """What red and blue mean on a signed map of ``method`` (``"smooth:occlusion"`` reads as
    occlusion).

    Red is positive. A map's value is the change it makes to the explained score ``S``; an
    occlusion map's is ``S(x) - S(x with the patch hidden)``, positive where hiding the patch
    lowered the score: the region supports the class. A counterfactual map explains ``-S``,
    so red then lowers the class's score.
    """
    if method.rsplit(":", 1)[-1] == "occlusion":
        if counterfactual:
            return "red: hiding it raised the score (it argues against the class), blue: lowered it"
        return "red: hiding it lowered the score (it supports the class), blue: raised it"
    if counterfactual:
        return "red: lowers the row's class score, blue: raises it"
    return "red: raises the row's class score, blue: lowers it"


def shared(scales: Iterable[Scale]) -> Scale:
    """The one scale covering all of ``scales`` (of one kind): the widest ends, so it is the
    scale :func:`scale_of` gives all their maps together."""
    scales = list(scales)
    if not scales:
        raise OptionError("shared() needs at least one scale")
    kinds = {s.kind for s in scales}
    if len(kinds) != 1:
        raise OptionError(f"cannot share one scale between kinds {sorted(kinds)}")
    return Scale(scales[0].kind, min(s.low for s in scales), max(s.high for s in scales))
