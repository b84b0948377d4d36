"""One call's pass context: the model, the objective and the fast path, held once.

A :class:`Runner` is built once per explanation call from the model, the
:class:`~seewhy.engine.targets.Objective` (targets, score kind, counterfactual sign) and
``fast``. Every pass the call needs goes through it, and so through one set-up
(:func:`~seewhy.engine.passes.model_pass`: guard, BatchNorm fold, channels-last):

- :meth:`Runner.capture`: the one forward pass of a batch: the chosen layers' activations,
  their gradients for every target, and the input gradients under each backward rule;
- :meth:`Runner.scores`: scores of copies of the images, without gradients (occlusion,
  Score-CAM; :class:`~seewhy.methods.contract.ForwardFunction`);
- :meth:`Runner.gradients`: scores and input gradients of copies (SmoothGrad, integrated
  gradients; :class:`~seewhy.methods.contract.GradientFunction`);
- :meth:`Runner.head_scores`: scores of edited layer outputs through the network after the
  layer (Ablation-CAM; :class:`~seewhy.methods.contract.HeadFunction`).

Copies are scored for the targets resolved on the clean batch: :meth:`Runner.copies` pins
them after the capture. A multi-input model's other inputs (:class:`ForwardArgs`) are held
here too, and follow the images: sliced with them (:meth:`Runner.images`) and indexed for
their copies (:meth:`Runner.for_rows`).

The model runs in its own dtype (:func:`~seewhy.engine.inputs.call_model` casts its
inputs); what the passes return is float32: the model's output is read in float32 before
the targets are resolved, and the activations and gradients are float32 (see
:mod:`seewhy.engine.inputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import torch
from torch import nn

from seewhy.engine.backprop import BackwardRules, input_gradient
from seewhy.engine.capture import (
    Capture,
    LayerRoots,
    finish_capture,
    target_gradients,
    warn_if_zero,
)
from seewhy.engine.guard import preserved
from seewhy.engine.inputs import NO_ARGS, ForwardArgs, as_float32, model_dtype
from seewhy.engine.passes import model_pass
from seewhy.engine.ruled_calls import ruled_calls
from seewhy.engine.spatial import ChannelsFirst, Reshape, spatial_view
from seewhy.engine.tail import layer_tail
from seewhy.engine.targets import Objective
from seewhy.errors import LayerError


class Explained(Protocol):
    """What the engine needs of a model (a :class:`~seewhy.models.LoadedModel` has it)."""

    module: nn.Module
    labels: list[str] | None

    def select_output(self, raw: object) -> torch.Tensor: ...


@dataclass(frozen=True)
class Runner:
    """The passes of one call over ``model`` for ``objective``.

    Args:
        model: the model (its ``module``, ``select_output`` and ``labels``).
        objective: targets, score kind and counterfactual sign.
        fast: fold BatchNorms and run channels-last in every pass (see
            :mod:`seewhy.engine.passes`); ``False`` runs the model exactly as given.
        extra: the model's inputs after the image, fed to every pass.
        reshape: the user's reading of every layer's output as (B, C, h, w); None: read
            by :func:`~seewhy.engine.spatial.spatial_view` (maps, grids, tokens).
    """

    model: Explained
    objective: Objective
    fast: bool = True
    extra: ForwardArgs = NO_ARGS
    reshape: Reshape | None = None
    # The layers already warned about in this call (shared by the runners made from it).
    warned: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def module(self) -> nn.Module:
        return self.model.module

    def images(self, start: int, stop: int) -> Runner:
        """The runner of the call's images ``start..stop-1`` (per-image targets and inputs
        sliced)."""
        return replace(
            self, objective=self.objective.images(start, stop), extra=self.extra.images(start, stop)
        )

    def copies(self, captured: Capture) -> Runner:
        """The runner that scores copies of a captured batch's images for its targets."""
        return replace(self, objective=self.objective.fixed(captured.targets))

    def for_rows(self, rows: torch.Tensor) -> Runner:
        """The runner of a batch of copies of images ``rows`` (after :meth:`copies`)."""
        return replace(self, objective=self.objective.for_rows(rows), extra=self.extra.rows(rows))

    def capture(
        self,
        inputs: torch.Tensor,
        layers: Sequence[str],
        *,
        rules: Sequence[str] = (),
        need_gradients: bool = True,
        need_heads: bool = False,
    ) -> Capture:
        """One forward pass of ``inputs`` (B, C, H, W) and, for every target, the gradients
        at each of ``layers`` (if ``need_gradients``) and at the input under each backward
        rule in ``rules`` (none: the input stays out of the graph, so autograd records only
        the network after the layers). ``need_heads`` looks for each layer's GAP + Linear
        head (CAM). Each layer's output and gradients are handed on as maps (B, K, h, w)
        and (B, T, K, h, w) (:mod:`seewhy.engine.spatial`); a warning says when every
        target's gradient at a layer is exactly zero.
        """
        roots = LayerRoots(layers)
        rules = list(dict.fromkeys(rules))
        relus = BackwardRules()
        # Without input gradients nothing before the first layer requires grad and after it
        # the graph starts at a clone, where the model's own in-place ops are as safe as in
        # training: in-place flags stay as they are (turning them off costs ~20% on
        # EfficientNet-Lite0).
        with model_pass(
            self.module,
            fast=self.fast,
            keep=roots.names,
            patches=relus.patches(rules),
            in_place_off=bool(rules),
        ) as run:
            roots.install(run)
            with torch.enable_grad():
                with ruled_calls(relus, self.module, rules):
                    x, raw = run.forward(
                        inputs,
                        requires_grad=bool(rules),
                        before_retry=roots.reset,
                        extra=self.extra,
                    )
                output = as_float32(self.model.select_output(raw))
                resolved = self.objective.resolve(output, self.model.labels)
                root_list = roots.collected()
                size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
                views = {
                    name: spatial_view(name, self.module, root.detach(), size, self.reshape)
                    for name, root in zip(roots.names, root_list)
                }
                gradients: dict[str, torch.Tensor] = {}
                if need_gradients and root_list:
                    grads = target_gradients(
                        resolved.objective, root_list, retain_graph=bool(rules)
                    )
                    gradients = dict(zip(roots.names, grads))
                input_gradients: dict[str, torch.Tensor] = {}
                for i, rule in enumerate(rules):
                    with relus.using(rule):
                        input_gradients[rule] = input_gradient(
                            resolved.objective, x, retain_graph=i < len(rules) - 1
                        )
        captured = finish_capture(
            self.module, output, resolved, roots, views, gradients, input_gradients, need_heads
        )
        warn_if_zero(captured.gradients, self.warned)
        return captured

    def _objective_of_copies(self, raw: object, rows: torch.Tensor) -> torch.Tensor:
        """(N, T) the explained scores of copies: copy i for the targets of image ``rows[i]``."""
        output = as_float32(self.model.select_output(raw))
        return self.objective.for_rows(rows).resolve(output, self.model.labels).objective

    def scores(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The :class:`~seewhy.methods.contract.ForwardFunction`: one forward of the copies
        ``x`` without gradients, their explained scores (N, T)."""
        # Without a graph the model's own in-place activations are safe, so they stay on
        # (turning them off costs about 9% per forward on EfficientNet-Lite0).
        with model_pass(self.module, fast=self.fast, in_place_off=False) as run, torch.no_grad():
            _, raw = run.forward(x, requires_grad=False, extra=self.extra.rows(rows))
            return self._objective_of_copies(raw, rows)

    def gradients(self, x: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The :class:`~seewhy.methods.contract.GradientFunction`: one forward of the copies
        ``x``, their explained scores (N, T) and input gradients (N, T, C, H, W), one backward
        to the input per target."""
        with model_pass(self.module, fast=self.fast) as run, torch.enable_grad():
            leaf, raw = run.forward(x, extra=self.extra.rows(rows))
            objective = self._objective_of_copies(raw, rows)
            grads = input_gradient(objective, leaf)
        return objective.detach(), grads

    def head_scores(self, layer: str, inputs: torch.Tensor, captured: Capture) -> HeadScores:
        """The :class:`~seewhy.methods.contract.HeadFunction` of ``layer`` for the captured
        batch ``inputs``."""
        return HeadScores(self, layer, inputs.detach(), captured)


class _Replace:
    """A forward hook that swaps a layer's output for given activations (the fallback)."""

    def __init__(self, name: str, value: torch.Tensor) -> None:
        self.name = name
        self.value = value

    def __call__(self, _module: nn.Module, _inputs: object, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.shape != self.value.shape:
            raise LayerError(f"layer {self.name!r} did not give the shape the method edits")
        return self.value


class HeadScores:
    """Scores of edited copies of a layer's output, through the network after the layer.

    The tail (:func:`~seewhy.engine.tail.layer_tail`) is traced and checked against the
    captured activations and output on the first call, so calls that never edit activations
    cost nothing. Where the model can't be cut at the layer, whole forwards of the images
    run with the layer's output replaced by a hook: the same scores, more slowly. Edited
    maps (N, K, h, w) are written back to the layer's own layout first (tokens, with the
    prefix tokens of the captured output; channels-last), by the layer's
    :class:`~seewhy.engine.spatial.SpatialView`.
    """

    _UNTRACED = object()

    def __init__(self, runner: Runner, layer: str, inputs: torch.Tensor, captured: Capture):
        self.runner = runner
        self.layer = layer
        self.inputs = inputs
        self.captured = captured
        self.raw = captured.raw.get(layer, captured.activations[layer])
        self.view = captured.views.get(layer, ChannelsFirst())
        self._tail: object = self._UNTRACED

    def tail(self) -> nn.Module | None:
        if self._tail is self._UNTRACED:
            module = self.runner.module
            with preserved(module):
                self._tail = layer_tail(
                    module,
                    self.layer,
                    self.raw,
                    self.captured.output,
                    lambda raw: as_float32(self.runner.model.select_output(raw)),
                )
        return self._tail  # type: ignore[return-value]

    def __call__(self, edited: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        cut = self.tail()
        runner = self.runner
        # Every reading writes back in the dtype of the map it is given: the model's.
        edited = self.view.to_raw(
            edited.to(model_dtype(runner.module)), self.raw[rows.to(self.raw.device)]
        )
        with model_pass(runner.module, fast=False, in_place_off=False) as run, torch.no_grad():
            if cut is not None:
                raw = cut(edited)
            else:
                run.hook(self.layer, _Replace(self.layer, edited))
                _, raw = run.forward(
                    self.inputs[rows.to(self.inputs.device)],
                    requires_grad=False,
                    extra=runner.extra.rows(rows),
                )
            return runner._objective_of_copies(raw, rows)
