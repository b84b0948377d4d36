"""Rendering: heatmap overlays and the per-image explanation figure (NumPy + matplotlib Agg)."""

from __future__ import annotations

from seewhy.render.figure import FigureBlock, explanation_figure, save_figure
from seewhy.render.overlay import colorize, normalize_map, overlay, overlay_signed

__all__ = [
    "FigureBlock",
    "colorize",
    "explanation_figure",
    "normalize_map",
    "overlay",
    "overlay_signed",
    "save_figure",
]
