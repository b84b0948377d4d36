"""The engine: one forward pass, layer activations, batched gradients, model restoration."""

from seewhy.engine.capture import Capture, capture, target_gradients
from seewhy.engine.guard import preserved
from seewhy.engine.layers import LayerInfo, auto_layer, get_module, probe_layers
from seewhy.engine.targets import ResolvedTargets, resolve_targets

__all__ = [
    "Capture",
    "LayerInfo",
    "ResolvedTargets",
    "auto_layer",
    "capture",
    "get_module",
    "preserved",
    "probe_layers",
    "resolve_targets",
    "target_gradients",
]
