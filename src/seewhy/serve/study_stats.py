"""The study's numbers: accuracy with Wilson intervals, mean trust with t intervals, and the
Grad-CAM paper's results to read them beside.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017 (arXiv:1610.02391), Sec. 5:

- Class discrimination: 43 AMT workers, 90 image-category pairs (images with two object
  categories) x 4 visualizations, 9 ratings each, "Which of the two object categories is
  depicted in the image?": guided Grad-CAM 61.23 %, guided backprop 44.44 %, deconvnet
  Grad-CAM 60.37 %, deconvnet 53.33 %.
- Trust: 54 AMT workers, images where both VGG-16 and AlexNet predict the ground truth, the two
  explanations side by side in random order, relative reliability rated from -2 to +2: mean
  1.27 with guided Grad-CAM and 1.00 with guided backprop, in favour of VGG-16 (the more
  accurate model). The paper gives no intervals or per-rating counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats

__all__ = [
    "PAPER_DISCRIMINATION",
    "PAPER_TRUST",
    "Interval",
    "discrimination_summary",
    "mean_interval",
    "trust_summary",
    "wilson_interval",
]

#: The paper's class discrimination accuracy (share of correct answers) per method.
PAPER_DISCRIMINATION: dict[str, float] = {
    "guided_gradcam": 0.6123,
    "guided_backprop": 0.4444,
    "deconv_gradcam": 0.6037,
    "deconvnet": 0.5333,
}
#: The paper's mean trust score per method (positive: the more accurate model, VGG-16).
PAPER_TRUST: dict[str, float] = {"guided_gradcam": 1.27, "guided_backprop": 1.00}

#: Two-sided 95 %.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided confidence interval over ``n`` answers (bounds are
    ``None`` when ``n`` is too small for one)."""

    estimate: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The share ``successes / n`` with its Wilson score interval (Wilson 1927).

    With ``p = k / n`` and ``z`` the normal quantile of ``(1 + confidence) / 2`` (1.95996 for
    95 %): ``(p + z^2 / 2n +- z sqrt(p (1 - p) / n + z^2 / 4n^2)) / (1 + z^2 / n)``. Unlike
    the normal approximation it stays within [0, 1] and is not empty at p = 0 or 1.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..n={n}, got {successes}")
    if n == 0:
        return Interval(None, None, None, 0)
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    low = 0.0 if successes == 0 else (centre - half) / scale  # exactly 0 and 1 at the ends
    high = 1.0 if successes == n else (centre + half) / scale
    return Interval(p, low, high, n)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean with its Student t interval: ``mean +- t_{n-1} s / sqrt(n)``.

    ``s`` is the sample standard deviation (n - 1 in the denominator) and ``t_{n-1}`` the t
    quantile of ``(1 + confidence) / 2`` with n - 1 degrees of freedom. One answer has a mean
    but no interval; when every answer is the same the interval is that value.
    """
    n = len(values)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def _methods_in_order(rows: Iterable[Mapping[str, Any]], paper: Mapping[str, float]) -> list[str]:
    """The paper's methods (always, so its numbers are shown), then the others answered."""
    return list(dict.fromkeys([*paper, *(row["method"] for row in rows)]))


def discrimination_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Accuracy per method over discrimination answers (``method``, ``correct`` 0/1): each
    entry ``{method, correct, accuracy: Interval, paper}``; the paper's methods first, with
    n = 0 when nobody saw them."""
    table = []
    for method in _methods_in_order(rows, PAPER_DISCRIMINATION):
        answers = [int(row["correct"]) for row in rows if row["method"] == method]
        table.append(
            {
                "method": method,
                "correct": sum(answers),
                "accuracy": wilson_interval(sum(answers), len(answers)),
                "paper": PAPER_DISCRIMINATION.get(method),
            }
        )
    return table


def trust_summary(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean trust score per (method, model pair) over trust answers (``method``, ``model_a``,
    ``model_b``, ``score`` with positive favouring ``model_a``): each entry
    ``{method, model_a, model_b, score: Interval, paper}``. Before any answer, the paper's
    methods with no models and n = 0."""
    table = []
    pairs = list(dict.fromkeys((row["model_a"], row["model_b"]) for row in rows)) or [(None, None)]
    for model_a, model_b in pairs:
        of_pair = [row for row in rows if (row["model_a"], row["model_b"]) == (model_a, model_b)]
        for method in _methods_in_order(of_pair, PAPER_TRUST):
            scores = [float(row["score"]) for row in of_pair if row["method"] == method]
            table.append(
                {
                    "method": method,
                    "model_a": model_a,
                    "model_b": model_b,
                    "score": mean_interval(scores),
                    "paper": PAPER_TRUST.get(method),
                }
            )
    return table
