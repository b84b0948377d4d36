"""The sanity-check plot: each similarity measure against the randomised depth.

As Adebayo et al. 2018 draw it (figures 4 and 5): one panel per measure, the steps on the x
axis from the trained model to the last randomised layer, one line per method. Drawn with
``matplotlib.figure.Figure`` and ``FigureCanvasAgg`` (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from seewhy.errors import OptionError

__all__ = ["METRIC_TITLES", "similarity_plot"]

METRIC_TITLES = {
    "spearman": "Spearman rank correlation (signed)",
    "spearman_abs": "Spearman rank correlation (absolute values)",
    "ssim": "SSIM",
    "hog": "HOG Pearson correlation",
}


def similarity_plot(
    steps: Sequence[str],
    curves: Mapping[str, Mapping[str, np.ndarray]],
    *,
    baselines: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Image.Image:
    """``curves[metric][method]``, one value per step, as a 2-column grid of panels (RGB PIL).

    Undefined values (NaN) leave gaps in their line. ``baselines[metric][method]``, where
    given and not NaN, is drawn as a dotted horizontal line in the method's colour (the
    similarity of unrelated maps). The y axis spans [-1, 1] for every panel, so panels
    compare at a glance; a grey dashed line marks 0.
    """
    if not curves:
        raise OptionError("similarity_plot needs at least one measure")
    for metric, lines in curves.items():
        for method, values in lines.items():
            if len(values) != len(steps):
                raise OptionError(f"{metric}/{method}: {len(values)} values for {len(steps)} steps")
    columns = 2 if len(curves) > 1 else 1
    rows = -(-len(curves) // columns)
    width = max(6.0, 0.42 * len(steps) + 2.0)
    fig = Figure(figsize=(columns * width, rows * 3.9 + 0.6), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False)
    x = np.arange(len(steps))
    dotted = False
    for ax, (metric, lines) in zip(axes.flat, curves.items()):
        for method, values in lines.items():
            (line,) = ax.plot(
                x, np.asarray(values, dtype=float), marker="o", markersize=4, label=method
            )
            level = (baselines or {}).get(metric, {}).get(method)
            if level is not None and not np.isnan(level):
                ax.axhline(level, color=line.get_color(), linewidth=1.0, linestyle=":")
                dotted = True
        ax.axhline(0.0, color="#999999", linewidth=0.8, linestyle="--")
        ax.set_ylim(-1.05, 1.05)
        ax.set_xticks(x)
        ax.set_xticklabels(steps, rotation=60, ha="right", fontsize=8)
        ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    for ax in list(axes.flat)[len(curves) :]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=13, fontweight="bold")
    if dotted:
        fig.text(
            0.5, 0.005, "dotted: the same measure between the trained model's maps of different images",
            ha="center", va="bottom", fontsize=9, color="#444444",
        )  # fmt: skip
    fig.tight_layout(rect=(0, 0.03 if dotted else 0, 1, 1))
    canvas = fig.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
