"""The front door: :class:`Explainer` plans a call and drives it through the engine.

``io`` reads the images, ``models`` prepares them, :class:`~seewhy.explain.plan.Plan` decides
what each batch runs, and :class:`~seewhy.engine.runner.Runner` runs the passes; the result is
an :class:`~seewhy.result.ExplanationResult`.
"""

from seewhy.explain.explainer import Explainer
from seewhy.explain.plan import ChunkMaps, Plan
from seewhy.explain.side_by_side import explain_models

__all__ = ["ChunkMaps", "Explainer", "Plan", "explain_models"]
