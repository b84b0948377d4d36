"""The metric registry: names, needs, defaults, and exact additive states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seewhy.errors import OptionError
from seewhy.metrics import box_accuracy, pointing_accuracy
from seewhy.metrics.localization import BoxAccuracyAccumulator
from seewhy.metrics.registry import available_metrics, default_metrics, get_metric
from seewhy.metrics.states import BoxAccuracyState, ClassMeanState, MeanState


def test_unknown_metric_lists_the_metrics_and_the_closest():
    with pytest.raises(OptionError) as error:
        get_metric("pointin")
    text = str(error.value)
    assert "Did you mean 'pointing'" in text
    for name in ("deletion", "insertion", "box_accuracy", "grid_pointing", "road"):
        assert name in text


def test_defaults_follow_what_the_data_has():
    faithful = ["deletion", "insertion", "average_drop", "average_increase"]
    assert default_metrics(set()) == faithful
    assert set(default_metrics({"boxes", "regions", "labels"})) == {
        *faithful,
        "pointing",
        "energy_pointing",
        "box_accuracy",
        "localization_error",
    }
    assert "grid_pointing" in default_metrics({"grid"})
    assert "road" not in default_metrics({"boxes", "regions", "masks", "labels", "grid"})
    assert "road" in available_metrics()


def test_every_metric_says_its_direction_and_options_are_checked():
    assert get_metric("deletion").higher_is_better is False
    assert get_metric("insertion").higher_is_better is True
    assert get_metric("localization_error").higher_is_better is False
    assert get_metric("deletion").resolved({"pixels_per_step": 448}) == {"pixels_per_step": 448}
    with pytest.raises(OptionError, match="no option 'steps'; its options: pixels_per_step"):
        get_metric("deletion").resolved({"steps": 3})


def test_mean_state_is_exact_under_any_split():
    rng = np.random.default_rng(0)
    values = list(rng.normal(size=101) * 10.0 ** rng.integers(-8, 8, size=101))
    whole = MeanState()
    for v in values:
        whole.add(v)
    parts = [MeanState() for _ in range(3)]
    for i, v in enumerate(reversed(values)):
        parts[i % 3].add(v)
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert whole.compute() == merged.compute() == math.fsum(values) / len(values)
    assert whole.n == merged.n == 101
    whole.add(None)
    whole.add(float("nan"))
    assert whole.n == 101


def test_class_mean_state_is_the_pointing_accuracy():
    hits = [1, 0, 1, 1, 0, 1, 1]
    classes = [3, 3, 1, 2, 2, 2, 1]
    state = ClassMeanState()
    for c, h in zip(classes, hits):
        state.add([c, h])
    assert state.compute() == pointing_accuracy(hits, classes)


def test_box_accuracy_state_from_best_ious_is_box_accuracy():
    rng = np.random.default_rng(1)
    maps = rng.random((4, 12, 12))
    boxes = [[(1, 1, 6, 6)], [(3, 2, 11, 9)], [(0, 0, 4, 11)], [(5, 5, 8, 8)]]
    accumulator = BoxAccuracyAccumulator()
    halves = [BoxAccuracyState(), BoxAccuracyState()]
    for i, (heat, gt) in enumerate(zip(maps, boxes)):
        halves[i % 2].add(accumulator.best_ious(heat, np.asarray(gt, float)))
    assert halves[0].merge(halves[1]).compute() == box_accuracy(maps, boxes).mean
