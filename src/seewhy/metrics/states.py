"""Additive metric states: ``add`` one image's record, ``merge`` another shard's state,
``compute`` the value. Every state holds integers only (counts, histograms, and sums of
floats kept exactly as integer multiples of the smallest double), so a data set split into
shards in any way, reduced in any order, gives the same value to the last bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from seewhy.errors import OptionError
from seewhy.metrics.localization import BoxAccuracyAccumulator, PixelAPAccumulator

__all__ = ["BoxAccuracyState", "ClassMeanState", "MeanState", "MetricState", "PixelAPState"]

#: Every finite double is an integer multiple of 2**-1074 (the smallest subnormal).
_ULP_EXPONENT = 1074


class MetricState:
    """What every state does; ``n`` counts the values (or images) it holds."""

    n: int

    def add(self, entry: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def merge(self, other: MetricState) -> MetricState:  # pragma: no cover - interface
        raise NotImplementedError

    def compute(self) -> float:  # pragma: no cover - interface
        raise NotImplementedError


class MeanState(MetricState):
    """The mean of float values, exact under any split: the sum is kept as an integer count
    of ``2**-1074`` (every finite double is one), so

    .. math:: \\bar v = \\operatorname{round}\\Big(\\sum_i v_i\\Big) / n

    is ``math.fsum(values) / n`` whatever the order the values came in. ``None`` / NaN
    values are not counted (a map that cannot be scored, e.g. an empty mask). ``pick``
    reads the value out of an entry that holds more (a curve with its AUC)."""

    def __init__(self, pick: Callable[[Any], float] | None = None) -> None:
        self.pick = pick
        self.total = 0
        self.n = 0

    def add(self, entry: Any) -> None:
        if entry is None:
            return
        value = float(self.pick(entry) if self.pick is not None else entry)
        if np.isnan(value):
            return
        if not np.isfinite(value):
            raise OptionError(f"a metric value must be finite, got {value}")
        self.total += int(Fraction(value) * (1 << _ULP_EXPONENT))
        self.n += 1

    def merge(self, other: MetricState) -> MeanState:
        assert isinstance(other, MeanState)
        self.total += other.total
        self.n += other.n
        return self

    def compute(self) -> float:
        if self.n == 0:
            return float("nan")
        return float(Fraction(self.total, 1 << _ULP_EXPONENT)) / self.n


class ClassMeanState(MetricState):
    """The pointing game's number (:func:`~seewhy.metrics.pointing_accuracy`): per class
    hit and trial counts; the mean over the classes seen of each class's hit rate. Entries
    are ``(class, hit)`` with hit 0 or 1, or None."""

    def __init__(self) -> None:
        self.hits: dict[int, int] = {}
        self.trials: dict[int, int] = {}
        self.n = 0

    def add(self, entry: Any) -> None:
        if entry is None:
            return
        label, hit = int(entry[0]), int(entry[1])
        self.hits[label] = self.hits.get(label, 0) + hit
        self.trials[label] = self.trials.get(label, 0) + 1
        self.n += 1

    def merge(self, other: MetricState) -> ClassMeanState:
        assert isinstance(other, ClassMeanState)
        for label, count in other.trials.items():
            self.trials[label] = self.trials.get(label, 0) + count
            self.hits[label] = self.hits.get(label, 0) + other.hits[label]
        self.n += other.n
        return self

    def compute(self) -> float:
        if not self.trials:
            return float("nan")
        rates = np.array([self.hits[c] / self.trials[c] for c in sorted(self.trials)])
        return float(np.mean(rates))


class BoxAccuracyState(MetricState):
    """MaxBoxAccV2 counts (:class:`~seewhy.metrics.BoxAccuracyAccumulator`); an entry is one
    map's best IoU at each map threshold (``BoxAccuracyAccumulator.best_ious``)."""

    def __init__(self, iou: Sequence[float] = (0.3, 0.5, 0.7), segments: str = "all") -> None:
        self.accumulator = BoxAccuracyAccumulator(iou=iou, segments=segments)  # type: ignore[arg-type]

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.accumulator.images

    def add(self, entry: Any) -> None:
        if entry is None:
            return
        best = np.asarray(entry, dtype=np.float64)
        for k, needed in enumerate(self.accumulator.iou):
            self.accumulator.correct[k] += best >= needed
        self.accumulator.images += 1

    def merge(self, other: MetricState) -> BoxAccuracyState:
        assert isinstance(other, BoxAccuracyState)
        self.accumulator.merge(other.accumulator)
        return self

    def compute(self) -> float:
        if self.accumulator.images == 0:
            return float("nan")
        return self.accumulator.compute().mean


class PixelAPState(MetricState):
    """PxAP histograms (:class:`~seewhy.metrics.PixelAPAccumulator`); an entry is one map's
    ``(positives, negatives)`` histogram counts."""

    def __init__(self) -> None:
        self.accumulator = PixelAPAccumulator()
        self.n = 0

    def add(self, entry: Any) -> None:
        if entry is None:
            return
        self.accumulator.positives += np.asarray(entry[0], dtype=np.int64)
        self.accumulator.negatives += np.asarray(entry[1], dtype=np.int64)
        self.n += 1

    def merge(self, other: MetricState) -> PixelAPState:
        assert isinstance(other, PixelAPState)
        self.accumulator.merge(other.accumulator)
        self.n += other.n
        return self

    def compute(self) -> float:
        return self.accumulator.compute()
