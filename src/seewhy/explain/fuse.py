"""A call's outputs per method, with one method's maps from several layers fused into one.

``Explainer(model, layer=["layer3", "layer4"])`` computes every layer method at each layer
from the same forward pass, keyed ``method@layer`` by the plan; :func:`by_method` groups them
per method. :func:`fuse_maps` is the one rule that turns the per-layer maps into
``res.maps[method]``, and :func:`fuse_attributions` the one for the attributions an
input-space layer method (guided Grad-CAM) draws.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch

from seewhy.methods.ops import to_input_size
from seewhy.result import LazyMaps


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Each map (over the last two dims) scaled to [0, 1]: ``(m - min) / (max - min)``; a
    constant map becomes all zero."""
    low = maps.amin(dim=(-2, -1), keepdim=True)
    span = maps.amax(dim=(-2, -1), keepdim=True) - low
    return torch.where(span > 0, (maps - low) / span.clamp_min(torch.finfo(maps.dtype).tiny), 0)


def fuse_maps(maps: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """The fused map of several layers' maps of one method: (B, T, h_l, w_l) each -> (B, T, H, W).

    .. math:: M = \\frac{1}{L} \\sum_l \\mathrm{up}\\big(\\mathrm{minmax}(M_l)\\big)

    Each layer's map is min-max scaled to [0, 1] on its own, at the resolution the method
    gives it (the layer's for CAM methods), then upsampled to the input (bilinear, half-pixel
    centres: :func:`~seewhy.methods.ops.to_input_size`), and the L maps are averaged element
    by element. The result lies in [0, 1] but its own minimum and maximum need not be 0 and 1.

    pytorch-grad-cam (``BaseCAM.compute_cam_per_layer`` and ``aggregate_multi_layers``) does
    the same with three differences: it clips each layer's map at 0 before scaling (seewhy's
    CAM methods apply their own ReLU, ``relu=False`` keeps the sign and so does this rule);
    it divides by ``max - min + 1e-7`` (a difference of at most 1e-7 relative); and it clips
    the mean at 0 and min-max scales it again. After a min-max of our fused map the two agree
    to float rounding (``cv2.resize`` INTER_LINEAR and PyTorch's bilinear upsampling sample
    at the same half-pixel centres; measured on ResNet-18 ``layer3 + layer4``: see
    ``tests/explain/test_fuse.py``).
    """
    scaled = [to_input_size(minmax(m.float()), size) for m in maps]
    return torch.stack(scaled).mean(dim=0)


def fuse_attributions(attributions: Sequence[torch.Tensor]) -> torch.Tensor:
    """The fused attribution of several layers' attributions: (B, T, C, H, W) each -> same.

    .. math:: a = \\frac{1}{L} \\sum_l \\frac{a_l}{\\max |a_l|}

    Each layer's attribution is divided by its peak magnitude per image and target (over
    channels and pixels; an all-zero one stays zero), then averaged. Attributions are signed,
    so unlike :func:`fuse_maps` they are only scaled, never shifted: a shift would move zero,
    and with it which pixels count for and against the target.
    """
    scaled = []
    for attribution in attributions:
        peak = attribution.abs().amax(dim=(-3, -2, -1), keepdim=True)
        scaled.append(torch.where(peak > 0, attribution / peak.clamp_min(1e-30), 0))
    return torch.stack(scaled).mean(dim=0)


@dataclass
class MethodOutputs:
    """A call's outputs keyed by method, as :class:`~seewhy.result.ExplanationResult` holds
    them (see its attributes)."""

    maps: LazyMaps = field(default_factory=lambda: LazyMaps({}))
    layer_maps: dict[str, torch.Tensor] = field(default_factory=dict)
    maps_by_layer: dict[str, MutableMapping[str, torch.Tensor]] = field(default_factory=dict)
    layers: dict[str, str | list[str]] = field(default_factory=dict)
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    deltas: dict[str, torch.Tensor] = field(default_factory=dict)


def by_method(
    joined: Mapping[str, Mapping[str, torch.Tensor]],
    order: Sequence[str],
    methods: Mapping[str, str],
    layers: Mapping[str, str],
    size: tuple[int, int],
) -> MethodOutputs:
    """The outputs of a call's keys (``joined[kind][key]``, kinds as
    :class:`~seewhy.explain.plan.ChunkMaps`) grouped per method.

    A method computed at one layer, or at none, keeps its key's outputs as they are. A method
    computed at several layers gets the fused map (:func:`fuse_maps`) in ``maps``, the fused
    attribution (:func:`fuse_attributions`) in ``attributions``, its layers as a list in
    ``layers``, each layer's map at input resolution in ``maps_by_layer[method][layer]``, and
    for CAM methods each layer's raw map at its own resolution in
    ``layer_maps["method@layer"]`` (the resolutions differ, so they cannot share a tensor);
    per-layer attributions and deltas are not kept. Maps at a layer's resolution are upsampled
    on first read.
    """
    layer_maps = joined.get("layer_maps", {})
    input_maps = joined.get("maps", {})
    attributions = joined.get("attributions", {})
    deltas = joined.get("deltas", {})

    def at_input(key: str) -> torch.Tensor | partial[torch.Tensor]:
        if key in layer_maps:
            return partial(to_input_size, layer_maps[key], size)
        return input_maps[key]

    grouped: dict[str, list[str]] = {}
    for key in order:
        grouped.setdefault(methods[key], []).append(key)
    out = MethodOutputs()
    for method, keys in grouped.items():
        if len(keys) == 1:
            (key,) = keys
            out.maps[method] = at_input(key)  # type: ignore[assignment]
            if key in layers:
                out.layers[method] = layers[key]
                out.maps_by_layer[method] = LazyMaps(
                    {layers[key]: partial(out.maps.__getitem__, method)}
                )
            for kind, source in (
                ("layer_maps", layer_maps),
                ("attributions", attributions),
                ("deltas", deltas),
            ):
                if key in source:
                    getattr(out, kind)[method] = source[key]
            continue
        names = [layers[key] for key in keys]
        out.layers[method] = names
        out.maps_by_layer[method] = LazyMaps({layers[key]: at_input(key) for key in keys})
        out.maps[method] = partial(  # type: ignore[assignment]
            fuse_maps,
            [layer_maps[key] if key in layer_maps else input_maps[key] for key in keys],
            size,
        )
        out.layer_maps.update({key: layer_maps[key] for key in keys if key in layer_maps})
        if all(key in attributions for key in keys):
            out.attributions[method] = fuse_attributions([attributions[key] for key in keys])
    return out
