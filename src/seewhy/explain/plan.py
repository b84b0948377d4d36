"""The plan of one call: which pass a batch needs, what each method receives, in what order.

:class:`Plan` is made once per call from the requested methods and the resolved layers. Its
:meth:`~Plan.run` explains one batch through the call's
:class:`~seewhy.engine.runner.Runner`: one capture pass (the layers' activations and
gradients, and the input gradients under every backward rule the methods declared), then
the pure methods, each handed the engine's interfaces for the extra passes it makes. A
method that multiplies by a companion CAM (guided Grad-CAM) says so in its registration;
the ``smooth:`` wrapper (:mod:`seewhy.methods.smooth`) gets a function that runs the
wrapped method's own plan on noisy copies of the batch.

A method that raises :class:`~seewhy.errors.MethodRefusal` (a precondition of the method,
not met by this model or layer) is refused for the whole call: :attr:`Plan.refused` keeps its
reason, its outputs of the batch are dropped, and later batches skip it. A refusal at any of
several layers refuses the method: a fusion of only the layers where it ran would not be the
map asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from seewhy.engine.capture import Capture
from seewhy.engine.runner import Runner
from seewhy.engine.targets import ResolvedTargets
from seewhy.errors import MethodRefusal
from seewhy.methods import CamInputs, InputGradientInputs, MethodSpec, SmoothInputs
from seewhy.methods.registry import companion_of, get_method, run_method

#: The kinds of tensors a batch produces, as :class:`ChunkMaps` holds them.
OUTPUTS = ("layer_maps", "maps", "attributions", "deltas")


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
        methods: key -> the requested method it belongs to (``gradcam@layer3`` ->
            ``gradcam``), so a call can group a method's layers.
        layers: key -> the layer it was computed at (CAM and guided Grad-CAM keys).
        displays: key -> how to draw its map (see :class:`~seewhy.methods.MethodSpec`).
    """

    targets: ResolvedTargets
    layer_maps: dict[str, torch.Tensor] = field(default_factory=dict)
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    deltas: dict[str, torch.Tensor] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)
    displays: dict[str, str] = field(default_factory=dict)

    def tensors(self) -> dict[str, dict[str, torch.Tensor]]:
        return {kind: getattr(self, kind) for kind in OUTPUTS}

    def drop(self, method: str) -> None:
        """Forget every key of ``method`` and its outputs (a refused method's partial work)."""
        keys = [key for key in self.order if self.methods[key] == method]
        self.order = [key for key in self.order if key not in keys]
        for mapping in (*self.tensors().values(), self.methods, self.layers, self.displays):
            for key in keys:
                mapping.pop(key, None)

    def add(self, key: str, method: str, spec: MethodSpec, layer: str | None) -> None:
        """Record ``key`` of ``method`` in the request's order, with how it is drawn and its
        layer."""
        self.order.append(key)
        self.methods[key] = method
        self.displays[key] = spec.display
        if layer is not None:
            self.layers[key] = layer


def method_key(name: str, layer: str | None, layers: list[str]) -> str:
    return name if layer is None or len(layers) == 1 else f"{name}@{layer}"


@dataclass(frozen=True)
class Plan:
    """What one call runs on every batch.

    Attributes:
        request: method name -> options, checked (see
            :func:`~seewhy.methods.registry.normalize_methods`).
        layers: the resolved layer names (empty when no method works on a layer).
        progress: the perturbation methods' progress bars (None: shown for long work).
        refused: method name -> why it cannot run here (the
            :class:`~seewhy.errors.MethodRefusal`'s message), filled as batches run; a
            refused method is skipped on the call's later batches.
    """

    request: Mapping[str, Mapping[str, Any]]
    layers: list[str]
    progress: bool | None = None
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def specs(self) -> dict[str, MethodSpec]:
        """The specs of the methods still to run (a refused method's backward rules and
        needs cost later batches nothing)."""
        return {name: get_method(name) for name in self.request if name not in self.refused}

    @staticmethod
    def needs_layers(request: Mapping[str, Mapping[str, Any]]) -> bool:
        """Whether any requested method (or smoothed method) works on a layer."""
        return any(get_method(name).needs_layer for name in request)

    def cam_specs(self) -> list[MethodSpec]:
        """The CAM-family specs whose needs (gradients, head) the capture must meet: the
        requested CAM methods and the companions of the methods that multiply by one."""
        specs = []
        for name, options in self.request.items():
            if name in self.refused:
                continue
            spec = get_method(name)
            companion = companion_of(spec, options)
            if spec.family == "cam":
                specs.append(spec)
            elif companion is not None:
                specs += [spec, companion]
        return specs

    def run(self, runner: Runner, inputs: torch.Tensor) -> ChunkMaps:
        """Every method of the request on one batch ``inputs`` (B, C, H, W).

        One forward pass serves every target and method; SmoothGrad, integrated gradients
        and ``smooth:`` add batched passes over their copies (:meth:`Runner.gradients`), the
        perturbation methods forwards without gradients (:meth:`Runner.scores`,
        :meth:`Runner.head_scores`).
        """
        specs = self.specs
        cams = self.cam_specs()
        captured = runner.capture(
            inputs,
            self.layers,
            rules=[spec.input_rule for spec in specs.values() if spec.input_rule is not None],
            need_gradients=any(spec.needs_gradients for spec in cams),
            need_heads=any(spec.needs_head for spec in cams),
        )
        copies = runner.copies(captured)
        cam_inputs = {
            layer: self._cam_inputs(copies, inputs, captured, layer) for layer in self.layers
        }
        out = ChunkMaps(captured.targets)
        for name, options in self.request.items():
            if name in self.refused:
                continue
            try:
                if specs[name].family == "smooth":
                    self._smooth(out, copies, inputs, name, specs[name], options)
                else:
                    self._method(out, copies, inputs, captured, cam_inputs, name, options)
            except MethodRefusal as refusal:
                self.refused[name] = str(refusal)
                out.drop(name)
        return out

    def _method(
        self,
        out: ChunkMaps,
        copies: Runner,
        inputs: torch.Tensor,
        captured: Capture,
        cam_inputs: Mapping[str, CamInputs],
        name: str,
        options: Mapping[str, Any],
    ) -> None:
        """One CAM or input-space method at each of its layers (or none)."""
        spec = get_method(name)
        for layer in self.layers if spec.needs_layer else [None]:
            key = method_key(name, layer, self.layers)
            out.add(key, name, spec, layer)
            if spec.family == "cam":
                out.layer_maps[key] = run_method(name, cam_inputs[layer], options).detach()
                continue
            given = InputGradientInputs(
                inputs=inputs.detach(),
                gradients=captured.input_gradients,
                objective=captured.targets.objective,
                targets=captured.targets.indices,
                gradient_fn=copies.gradients,
                cam=cam_inputs.get(layer) if layer is not None else None,
                forward_fn=copies.scores,
                progress=self.progress,
            )
            result = run_method(name, given, options)
            out.maps[key] = result.map.detach()
            out.attributions[key] = result.attribution.detach()
            if result.delta is not None:
                out.deltas[key] = result.delta.detach()

    def _cam_inputs(
        self, copies: Runner, inputs: torch.Tensor, captured: Capture, layer: str
    ) -> CamInputs:
        # Already a (B, K, h, w) map: the capture reads tokens and grids as maps
        # (seewhy.engine.spatial) or refuses the layer.
        return CamInputs(
            activations=captured.activations[layer],
            gradients=captured.gradients.get(layer),
            targets=captured.targets.indices,
            head=captured.heads.get(layer),
            layer=layer,
            inputs=inputs.detach(),
            objective=captured.targets.objective,
            forward_fn=copies.scores,
            head_fn=copies.head_scores(layer, inputs, captured),
            counterfactual=copies.objective.counterfactual,
            progress=self.progress,
        )

    def _smooth(
        self,
        out: ChunkMaps,
        copies: Runner,
        inputs: torch.Tensor,
        name: str,
        spec: MethodSpec,
        options: Mapping[str, Any],
    ) -> None:
        """``smooth:<method>``: the wrapped method's plan run on noisy copies, averaged."""
        assert spec.inner is not None
        prefix = name[: len(name) - len(spec.inner)]
        inner_spec = get_method(spec.inner)

        def run(noisy: torch.Tensor, rows: torch.Tensor, inner: Mapping[str, Any]):
            plan = Plan({spec.inner: dict(inner)}, self.layers, self.progress)
            tensors = plan.run(copies.for_rows(rows), noisy).tensors()
            if plan.refused:  # the wrapped method's refusal is the wrapper's
                raise MethodRefusal(*plan.refused.values())
            return tensors

        averaged = run_method(name, SmoothInputs(inputs.detach(), run), options)
        for layer in self.layers if inner_spec.needs_layer else [None]:
            key = prefix + method_key(spec.inner, layer, self.layers)
            out.add(key, name, spec, layer)
        for kind, tensors in averaged.items():
            getattr(out, kind).update({prefix + key: value for key, value in tensors.items()})
