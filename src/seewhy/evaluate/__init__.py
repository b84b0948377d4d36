"""``seewhy evaluate``: which method, layer and model explain a data set best.

:func:`~seewhy.evaluate.runner.evaluate` explains every image once per batch for all
methods and scores the maps with the metric registry (:mod:`seewhy.metrics.registry`);
:mod:`~seewhy.evaluate.store` keeps per-image results so a run resumes;
:mod:`~seewhy.evaluate.distributed` shards images over ``torchrun`` processes;
:mod:`~seewhy.evaluate.report` writes ``results.json``, ``report.md`` and the figures.
"""

from seewhy.evaluate.runner import Evaluation, EvaluationRequest, evaluate

__all__ = ["Evaluation", "EvaluationRequest", "evaluate"]
