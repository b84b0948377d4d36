"""The study's statistics (``seewhy.serve.study_stats``) against hand computations."""

from __future__ import annotations

import math

import pytest

from seewhy.serve.study_stats import (
    PAPER_DISCRIMINATION,
    discrimination_summary,
    mean_interval,
    trust_summary,
    wilson_interval,
)


def test_the_wilson_interval_of_7_in_10():
    z = 1.959963984540054  # the normal quantile of 0.975
    n, p = 10, 0.7
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    found = wilson_interval(7, 10)
    assert found.estimate == 0.7 and found.n == 10
    assert found.low == pytest.approx((centre - half) / (1 + z * z / n), abs=1e-12)
    assert found.high == pytest.approx((centre + half) / (1 + z * z / n), abs=1e-12)
    assert (round(found.low, 4), round(found.high, 4)) == (0.3968, 0.8922)
    assert wilson_interval(10, 10).high == 1.0 and wilson_interval(10, 10).low < 1.0
    assert wilson_interval(0, 0).estimate is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_the_trust_interval_is_student_t():
    values = [2, 1, 0, 2]
    mean, sd = 1.25, math.sqrt(sum((v - 1.25) ** 2 for v in values) / 3)
    half = 3.182446305284263 * sd / 2  # t(0.975, 3 df) s / sqrt(4)
    found = mean_interval(values)
    assert (found.estimate, found.n) == (mean, 4)
    assert found.low == pytest.approx(mean - half) and found.high == pytest.approx(mean + half)
    assert mean_interval([1]).low is None and mean_interval([]).estimate is None


def test_the_summaries_keep_the_paper_s_methods_beside_its_numbers():
    rows = [{"method": "gradcam", "correct": 1}, {"method": "deconvnet", "correct": 0}]
    table = discrimination_summary(rows)
    assert [e["method"] for e in table] == [*PAPER_DISCRIMINATION, "gradcam"]
    deconvnet = table[list(PAPER_DISCRIMINATION).index("deconvnet")]
    assert (deconvnet["correct"], deconvnet["accuracy"].n, deconvnet["paper"]) == (0, 1, 0.5333)
    assert table[-1]["paper"] is None
    empty = trust_summary([])
    assert [(e["method"], e["model_a"], e["score"].n, e["paper"]) for e in empty] == [
        ("guided_gradcam", None, 0, 1.27),
        ("guided_backprop", None, 0, 1.00),
    ]
