"""Rendering: heatmap overlays, attribution images, scales and the per-image figure (NumPy + PIL)."""

from __future__ import annotations

from seewhy.render.attribution import gradient_image, magnitude_heatmap, render_panel
from seewhy.render.figure import (
    FigureBlock,
    FigureLayout,
    explanation_figure,
    figure_layout,
    save_figure,
)
from seewhy.render.overlay import blend, colorize, normalize_map, overlay, overlay_signed
from seewhy.render.png import encode_png, save_png
from seewhy.render.scale import SCALES, Scale, colorbar, scale_of, shared, sign_legend

__all__ = [
    "SCALES",
    "FigureBlock",
    "FigureLayout",
    "Scale",
    "blend",
    "colorbar",
    "colorize",
    "encode_png",
    "explanation_figure",
    "figure_layout",
    "gradient_image",
    "magnitude_heatmap",
    "normalize_map",
    "overlay",
    "overlay_signed",
    "render_panel",
    "save_figure",
    "save_png",
    "scale_of",
    "shared",
    "sign_legend",
]
