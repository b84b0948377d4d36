"""Feature synthesis: images that maximize a class, a filter, a neuron or a unit.

>>> import seewhy
>>> from seewhy.synthesis import Channel, Class, synthesize
>>> lm = seewhy.load_model("efficientnet_lite0")
>>> cat = synthesize(lm, Class("Egyptian cat"), steps=128)          # doctest: +SKIP
>>> filters = synthesize(lm, [Channel("blocks.3", k) for k in range(16)])  # doctest: +SKIP
>>> cat.save("out")                                                # doctest: +SKIP

The path of a request: :mod:`~seewhy.synthesis.objectives` (what to maximize) ->
:mod:`~seewhy.synthesis.parameterization` (pixels or a Fourier spectrum) ->
:mod:`~seewhy.synthesis.regularizers` (random transforms, penalties) ->
:mod:`~seewhy.synthesis.synthesize` (the optimization loop) ->
:mod:`~seewhy.synthesis.result` (images, grid, PNGs).
"""

from seewhy.synthesis.objectives import (
    Channel,
    Class,
    Neuron,
    Objective,
    ObjectiveSpec,
    Unit,
    parse_objective,
)
from seewhy.synthesis.regularizers import Transforms
from seewhy.synthesis.result import SynthesisResult, image_grid
from seewhy.synthesis.synthesize import synthesize

__all__ = [
    "Channel",
    "Class",
    "Neuron",
    "Objective",
    "ObjectiveSpec",
    "SynthesisResult",
    "Transforms",
    "Unit",
    "image_grid",
    "parse_objective",
    "synthesize",
]
