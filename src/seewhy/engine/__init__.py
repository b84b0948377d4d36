"""The engine runs passes: one forward, layer activations, batched gradients, restore.

It knows nothing of files, model names, results or pictures: :mod:`seewhy.explain` plans a
call and drives it through a :class:`~seewhy.engine.runner.Runner`.
"""

from seewhy.engine.capture import Capture, target_gradients
from seewhy.engine.guard import preserved
from seewhy.engine.layers import LayerInfo, auto_layer, get_module, probe_layers
from seewhy.engine.passes import model_pass
from seewhy.engine.runner import Runner
from seewhy.engine.targets import Classes, Objective, ResolvedTargets, resolve_targets

__all__ = [
    "Capture",
    "Classes",
    "LayerInfo",
    "Objective",
    "ResolvedTargets",
    "Runner",
    "auto_layer",
    "get_module",
    "model_pass",
    "preserved",
    "probe_layers",
    "resolve_targets",
    "target_gradients",
]
