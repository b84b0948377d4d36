"""Rendering: heatmap overlays, attribution images and the per-image figure (NumPy + matplotlib Agg)."""

from __future__ import annotations

from seewhy.render.attribution import gradient_image, magnitude_heatmap, render_panel
from seewhy.render.figure import FigureBlock, explanation_figure, save_figure
from seewhy.render.overlay import colorize, normalize_map, overlay, overlay_signed

__all__ = [
    "FigureBlock",
    "colorize",
    "explanation_figure",
    "gradient_image",
    "magnitude_heatmap",
    "normalize_map",
    "overlay",
    "overlay_signed",
    "render_panel",
    "save_figure",
]
