"""Run every requested method on one batch: one forward pass, then the pure methods.

:func:`explain_chunk` picks the pass the request needs (CAM methods only: the head-only
capture; any input gradient: :func:`~seewhy.engine.backprop.capture_inputs`, still one
forward), builds what each family of methods receives, and runs them. The ``smooth:``
wrapper runs the inner method through :func:`explain_chunk` again on batches of noisy copies,
with the targets resolved on the clean input, and averages its outputs per image and target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from seewhy.engine.backprop import FixedTargets, capture_inputs, gradient_function
from seewhy.engine.capture import capture
from seewhy.engine.perturb import forward_function, head_function
from seewhy.engine.targets import ResolvedTargets, TargetSpec
from seewhy.errors import LayerError
from seewhy.methods import CamInputs, InputGradientInputs, MethodSpec, get_method, run_method
from seewhy.methods.base import auto_batch_size, spans
from seewhy.methods.guided_gradcam import check_cam
from seewhy.methods.noise import NoiseSource, check_smoothing
from seewhy.methods.registry import SMOOTH_OPTIONS, SMOOTH_PREFIX
from seewhy.methods.smoothgrad import DEFAULT_N, DEFAULT_NOISE
from seewhy.models import LoadedModel


@dataclass
class ChunkMaps:
    """Every output of one batch, keyed ``method`` or ``method@layer`` (several layers).

    Attributes:
        targets: the resolved targets (detached).
        layer_maps: CAM-family maps (B, T, h, w) at the layer's resolution.
        maps: input-space maps (B, T, H, W) at the input's resolution.
        attributions: input-space attributions (B, T, C, H, W).
        deltas: convergence deltas (B, T) of the methods that have one.
        order: every key, in the order of the request.
        layers: key -> the layer it was computed at (CAM and guided Grad-CAM keys).
        displays: key -> how to draw its map (see :class:`~seewhy.methods.MethodSpec`).
    """

    targets: ResolvedTargets
    layer_maps: dict[str, torch.Tensor] = field(default_factory=dict)
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    deltas: dict[str, torch.Tensor] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    layers: dict[str, str] = field(default_factory=dict)
    displays: dict[str, str] = field(default_factory=dict)

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            "layer_maps": self.layer_maps,
            "maps": self.maps,
            "attributions": self.attributions,
            "deltas": self.deltas,
        }


def method_key(name: str, layer: str | None, layers: list[str]) -> str:
    return name if layer is None or len(layers) == 1 else f"{name}@{layer}"


def needs_layers(request: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any requested method (or smoothed method) works on a layer."""
    return any(get_method(name).needs_layer for name in request)


def _cam_specs(request: Mapping[str, Mapping[str, Any]]) -> list[MethodSpec]:
    """The CAM-family specs whose needs (gradients, head) the layer capture must meet."""
    specs = []
    for name, options in request.items():
        spec = get_method(name)
        if spec.family == "cam":
            specs.append(spec)
        elif spec.uses_layer and spec.family == "input":
            cam = options.get("cam", "gradcam")
            check_cam(cam)
            specs += [spec, get_method(cam)]
    return specs


def explain_chunk(
    model: LoadedModel,
    inputs: torch.Tensor,
    layers: list[str],
    targets: TargetSpec,
    request: Mapping[str, Mapping[str, Any]],
    *,
    score: str = "logit",
    counterfactual: bool = False,
    progress: bool | None = None,
    fast: bool = True,
) -> ChunkMaps:
    """Every method of ``request`` on one batch ``inputs`` (B, C, H, W).

    One forward pass serves every target and method; SmoothGrad, integrated gradients and
    ``smooth:`` add batched passes over their copies through the methods' ``gradient_fn``;
    the perturbation methods add forwards without gradients through ``forward_fn`` (whole
    model) and ``head_fn`` (the network after the layer). ``progress`` goes to the
    perturbation methods' progress bars (None: shown for long work). ``fast`` goes to the
    capture pass (:func:`~seewhy.engine.capture.capture` or
    :func:`~seewhy.engine.backprop.capture_inputs`), the methods' gradient passes and the
    whole-model perturbation forwards (:func:`~seewhy.engine.perturb.forward_function`).
    """
    specs = {name: get_method(name) for name in request}
    cams = _cam_specs(request)
    need_gradients = any(spec.needs_gradients for spec in cams)
    need_heads = any(spec.needs_head for spec in cams)
    rules = [spec.input_rule for spec in specs.values() if spec.input_rule is not None]
    if rules:
        passed = capture_inputs(
            model,
            inputs,
            layers,
            targets,
            rules=rules,
            score=score,
            counterfactual=counterfactual,
            need_gradients=need_gradients,
            need_heads=need_heads,
            fast=fast,
        )
        captured = passed.capture
        input_gradients, objective = passed.input_gradients, passed.objective
    else:
        captured = capture(
            model,
            inputs,
            layers,
            targets,
            score=score,
            counterfactual=counterfactual,
            need_gradients=need_gradients,
            need_heads=need_heads,
            fast=fast,
        )
        input_gradients = {}
        objective = captured.targets.objective
        objective = -objective if counterfactual else objective

    fixed = FixedTargets.of(captured.targets, targets)
    forward_fn = forward_function(
        model, fixed, score=score, counterfactual=counterfactual, fast=fast
    )
    cam_inputs: dict[str, CamInputs] = {}
    for layer in layers:
        activations = captured.activations[layer]
        if activations.dim() != 4:
            raise LayerError(
                f"layer {layer!r} outputs shape {tuple(activations.shape)}; CAM methods "
                "need a (B, C, h, w) map"
            )
        cam_inputs[layer] = CamInputs(
            activations=activations,
            gradients=captured.gradients.get(layer),
            targets=captured.targets.indices,
            head=captured.heads.get(layer),
            layer=layer,
            inputs=inputs.detach(),
            objective=objective,
            forward_fn=forward_fn,
            head_fn=head_function(
                model,
                layer,
                inputs.detach(),
                activations,
                captured.output,
                fixed,
                score=score,
                counterfactual=counterfactual,
            ),
            counterfactual=counterfactual,
            progress=progress,
        )
    gradient_fn = gradient_function(
        model, fixed, score=score, counterfactual=counterfactual, fast=fast
    )

    out = ChunkMaps(captured.targets)
    for name, options in request.items():
        spec = specs[name]
        if spec.family == "smooth":
            smoothed = smooth_chunk(
                model,
                inputs,
                layers,
                fixed,
                spec,
                options,
                score=score,
                counterfactual=counterfactual,
                progress=progress,
                fast=fast,
            )
            _merge(out, smoothed)
            continue
        for layer in layers if spec.needs_layer else [None]:
            key = method_key(name, layer, layers)
            out.order.append(key)
            out.displays[key] = spec.display
            if layer is not None:
                out.layers[key] = layer
            if spec.family == "cam":
                out.layer_maps[key] = run_method(name, cam_inputs[layer], dict(options)).detach()
                continue
            given = InputGradientInputs(
                inputs=inputs.detach(),
                gradients=input_gradients,
                objective=objective,
                targets=captured.targets.indices,
                gradient_fn=gradient_fn,
                cam=cam_inputs.get(layer) if layer is not None else None,
                forward_fn=forward_fn,
                progress=progress,
            )
            result = run_method(name, given, dict(options))
            out.maps[key] = result.map.detach()
            out.attributions[key] = result.attribution.detach()
            if result.delta is not None:
                out.deltas[key] = result.delta.detach()
    return out


def _merge(out: ChunkMaps, part: ChunkMaps) -> None:
    for name, tensors in part.tensors().items():
        out.tensors()[name].update(tensors)
    out.order += part.order
    out.layers.update(part.layers)
    out.displays.update(part.displays)


def smooth_chunk(
    model: LoadedModel,
    inputs: torch.Tensor,
    layers: list[str],
    targets: FixedTargets,
    spec: MethodSpec,
    options: Mapping[str, Any],
    *,
    score: str = "logit",
    counterfactual: bool = False,
    progress: bool | None = None,
    fast: bool = True,
) -> ChunkMaps:
    """``smooth:<method>``: the method's outputs averaged over ``n`` noisy copies per image.

    Options ``n`` (50), ``noise`` (0.15, a share of each image's range), ``seed``,
    ``batch_size`` (copies per forward; None: about 8 images of 224 x 224) and ``noise_tensors`` are the wrapper's, as in
    :func:`~seewhy.methods.smoothgrad.smoothgrad`; any other option goes to the method. Maps,
    attributions and deltas are averaged (for CAM methods the layer-resolution maps, so
    Smooth Grad-CAM++ here averages maps, where Omeiza et al. average the gradients).
    """
    assert spec.inner is not None
    n = options.get("n", DEFAULT_N)
    noise = options.get("noise", DEFAULT_NOISE)
    batch_size = options.get("batch_size")
    check_smoothing(n, noise, batch_size)
    batch_size = auto_batch_size(inputs, batch_size)
    inner_options = {k: v for k, v in options.items() if k not in SMOOTH_OPTIONS}
    inner_request = {spec.inner: inner_options}
    source = NoiseSource(inputs, n, noise, options.get("seed"), options.get("noise_tensors"))
    batch = inputs.shape[0]
    sums: dict[str, dict[str, torch.Tensor]] = {}
    template: ChunkMaps | None = None
    for start, stop in spans(source.total, batch_size):
        rows, noisy = source.take(start, stop)
        part = explain_chunk(
            model,
            noisy,
            layers,
            targets.for_rows(rows),
            inner_request,
            score=score,
            counterfactual=counterfactual,
            progress=progress,
            fast=fast,
        )
        template = template or part
        for name, tensors in part.tensors().items():
            for key, value in tensors.items():
                total = sums.setdefault(name, {}).get(key)
                if total is None:
                    total = value.new_zeros((batch, *value.shape[1:]))
                    sums[name][key] = total
                total.index_add_(0, rows.to(value.device), value)
    assert template is not None
    out = ChunkMaps(template.targets)
    for name, tensors in sums.items():
        out.tensors()[name].update(
            {SMOOTH_PREFIX + key: value / n for key, value in tensors.items()}
        )
    out.order = [SMOOTH_PREFIX + key for key in template.order]
    out.layers = {SMOOTH_PREFIX + key: layer for key, layer in template.layers.items()}
    out.displays = {SMOOTH_PREFIX + key: display for key, display in template.displays.items()}
    return out
