"""``synthesize``: gradient ascent on an input image to maximize a class, filter or neuron."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from seewhy.engine.passes import Pass, model_pass
from seewhy.errors import LayerError, MethodError, warn
from seewhy.models.base import LoadedModel
from seewhy.synthesis.objectives import (
    ObjectiveSpec,
    ResolvedObjective,
    as_objective,
    layer_of,
    resolve_objective,
)
from seewhy.synthesis.parameterization import make_image, noise_std
from seewhy.synthesis.regularizers import Penalties, Transforms, penalties, random_transform
from seewhy.synthesis.result import SynthesisResult

__all__ = ["synthesize"]

DEFAULT_TRANSFORMS = Transforms()
PROGRESS_FROM = 50  # runs of this many steps or more show a progress bar unless told otherwise
Start = Literal["zeros", "noise"] | torch.Tensor | Image.Image | np.ndarray
#: Called after every step with the step number and the (N,) objective values of that step.
Callback = Callable[[int, torch.Tensor], None]


class _Captured(Exception):
    """Raised by the last needed hook: the rest of the forward pass is not needed."""


class _Forward:
    """The model's forward pass, returning the outputs the objectives read.

    Forward hooks on the pass (removed with it, on every path) keep each needed layer's
    first output. When no objective reads the class scores, the pass stops right after the
    last needed layer. The pass was set up by :func:`~seewhy.engine.passes.model_pass`
    with the needed layers kept, as every explanation pass is.
    """

    def __init__(self, model: LoadedModel, layers: list[str], run: Pass, need_output: bool):
        self.model = model
        self.layers = layers
        self.need_output = need_output
        self.captured: dict[str, torch.Tensor] = {}
        self.run = run
        for name in self.layers:
            run.hook(name, self._hook(name))

    def _hook(self, name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if name in self.captured:
                return
            if not isinstance(output, torch.Tensor):
                raise LayerError(
                    f"layer {name!r} outputs {type(output).__name__}, not a tensor; pick another"
                )
            self.captured[name] = output
            if not self.need_output and len(self.captured) == len(self.layers):
                raise _Captured

        return hook

    def __call__(self, inputs: torch.Tensor) -> dict[str | None, torch.Tensor]:
        self.captured = {}
        try:
            # ``contiguous`` is differentiable: the image's parameters stay in the graph.
            _, raw = self.run.forward_made(
                lambda layout: inputs.contiguous(memory_format=layout),
                inputs,
                before_retry=self.captured.clear,
            )
        except _Captured:
            raw = None
        outputs: dict[str | None, torch.Tensor] = dict(self.captured)
        missing = [name for name in self.layers if name not in outputs]
        if missing:
            raise LayerError(f"layer {missing[0]!r} did not run in the model's forward pass")
        if self.need_output:
            outputs[None] = self.model.select_output(raw)
        return outputs


def _values(
    resolved: list[ResolvedObjective], outputs: dict[str | None, torch.Tensor]
) -> torch.Tensor:
    """(N,) the objective of image n measured on its own row of its layer's output."""
    return torch.stack([r.measure(outputs[r.layer][n]) for n, r in enumerate(resolved)])


def _start_pixels(
    start: Start, model: LoadedModel, count: int, size: int, device: torch.device
) -> torch.Tensor | None:
    """(N, 3, size, size) starting pixels in [0, 1] for a tensor or image start, else None."""
    if isinstance(start, str):
        if start not in ("zeros", "noise"):
            raise MethodError(
                f"start={start!r} is not allowed; use 'zeros', 'noise', a normalized tensor "
                "or an image"
            )
        return None
    if isinstance(start, (Image.Image, np.ndarray)):
        start = model.preprocess(start)
    if not isinstance(start, torch.Tensor):
        raise MethodError(f"start must be 'zeros', 'noise', a tensor or an image, not {start!r}")
    tensor = start.detach().float().to(device)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[1] != 3 or tensor.shape[0] not in (1, count):
        raise MethodError(
            f"a start tensor must be a normalized (1, 3, H, W) or ({count}, 3, H, W) input, "
            f"got shape {tuple(start.shape)}"
        )
    if tensor.shape[-2:] != (size, size):
        tensor = nn.functional.interpolate(
            tensor, size=(size, size), mode="bilinear", align_corners=False
        )
    mean = torch.tensor(model.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(model.std, device=device).view(1, -1, 1, 1)
    return (tensor * std + mean).expand(count, -1, -1, -1)


def _real(value: object) -> bool:
    """Whether ``value`` is a plain real number (an int or a float, not a bool)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _check_options(
    steps: int,
    lr: float,
    parameterization: str,
    size: int | None,
    transforms: Transforms | None,
    *,
    seed: int = 0,
    decorrelate: bool = True,
    penalty: dict[str, float] | None = None,
) -> None:
    """A MethodError naming the first bad option and what it may be, before any work: a
    NaN or infinite rate, weight or transform would turn every pixel into NaN and leave a
    flat image that looks like a result."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise MethodError(f"steps must be a non-negative int, got {steps!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise MethodError(f"size must be a positive int, got {size!r}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise MethodError(f"seed must be a whole number, got {seed!r}")
    if not -(2**63) <= int(seed) < 2**64:
        raise MethodError(f"seed must be a whole number from -2**63 to 2**64 - 1, got {seed!r}")
    if not isinstance(decorrelate, (bool, np.bool_)):
        raise MethodError(f"decorrelate must be True or False, got {decorrelate!r}")
    if transforms is not None:
        if not isinstance(transforms, Transforms):
            raise MethodError(
                f"transforms must be a Transforms(jitter=, scale=, rotate=) or None, "
                f"got {transforms!r}"
            )
        scale = transforms.scale
        pair = isinstance(scale, (tuple, list)) and len(scale) == 2
        numbers = [transforms.jitter, transforms.rotate, *scale] if pair else []
        if not numbers or not all(_real(v) and math.isfinite(v) for v in numbers):
            raise MethodError(
                f"transforms must hold finite numbers (jitter, rotate, scale=(low, high)), "
                f"got {transforms!r}"
            )
        if transforms.jitter < 0 or transforms.rotate < 0:
            raise MethodError(
                f"transforms.jitter and transforms.rotate are largest amounts, at least 0; "
                f"got jitter={transforms.jitter!r}, rotate={transforms.rotate!r}"
            )
        if not 0 < scale[0] <= scale[1]:
            raise MethodError(
                f"transforms.scale must be (low, high) with 0 < low <= high, got {scale!r}"
            )
    if not (_real(lr) and math.isfinite(lr) and lr > 0):
        raise MethodError(f"lr must be a positive finite number, got {lr!r}")
    for name, weight in (penalty or {}).items():
        if not (_real(weight) and math.isfinite(weight) and weight >= 0):
            raise MethodError(
                f"{name} must be a finite number, at least 0 (0: off), got {weight!r}"
            )
    if parameterization not in ("pixel", "fourier"):
        raise MethodError(
            f"parameterization={parameterization!r} is not allowed; use 'pixel' or 'fourier'"
        )


def _warn_unchanged(
    resolved: list[ResolvedObjective], param: torch.Tensor, initial: torch.Tensor, steps: int
) -> None:
    """Warn, naming them, about the images that no step changed: their objective's gradient
    (and the penalties') was exactly zero at every step, e.g. a class of EfficientNet-Lite0 at
    32 px, whose ReLU6s are all saturated, so the saved PNG is the start image, not a result."""
    if steps == 0:
        return
    still = [r.description for n, r in enumerate(resolved) if torch.equal(param[n], initial[n])]
    if still:
        warn(
            f"{'; '.join(still)}: the gradient was exactly zero at every step, so the image "
            "is the start image, unchanged; try start='noise', a larger size or another "
            "layer or unit"
        )


def synthesize(
    model: LoadedModel | nn.Module,
    objective: ObjectiveSpec | Sequence[ObjectiveSpec],
    *,
    steps: int = 128,
    lr: float = 0.05,
    seed: int = 0,
    start: Start = "zeros",
    parameterization: Literal["pixel", "fourier"] = "fourier",
    decorrelate: bool = True,
    transforms: Transforms | None = DEFAULT_TRANSFORMS,
    l2: float = 0.0,
    l1: float = 0.0,
    tv: float = 0.0,
    size: int | None = None,
    progress: bool | None = None,
    callback: Callback | None = None,
    fast: bool = True,
) -> SynthesisResult:
    """Images that maximize ``objective`` by gradient ascent on the input (Adam).

    Each image ``I`` (one per objective; several objectives run as one batch, each image
    optimized for its own objective in the same forward/backward pass) maximizes

    .. math:: f(T(I)) - \\lambda_2 \\overline{I^2} - \\lambda_1 \\overline{|I|}
              - \\lambda_{tv} \\mathrm{TV}(P)

    where ``f`` is the objective, ``T`` a random jitter/scale/rotation drawn per image and per
    step, ``I`` the normalized input and ``P`` its pixels in [0, 1]
    (:class:`~seewhy.synthesis.regularizers.Penalties`).

    - Class-model visualization (Simonyan et al. 2014, https://arxiv.org/abs/1312.6034):
      ``Class(c)``, ``start="zeros"``, ``l2 > 0``; its L1 variant ``y_c - lambda sum|x|``
      from the seeds: ``l1 > 0``. The paper's plain setting is ``parameterization="pixel",
      decorrelate=False, transforms=None``.
    - Activation maximization (Erhan et al. 2009,
      https://www.researchgate.net/publication/265022827): ``Channel``, ``Neuron``, ``Unit``
      or ``Class``.
    - The defaults follow Olah et al. 2017 (https://distill.pub/2017/feature-visualization/)
      and Lucid: a colour-decorrelated Fourier parameterization with 1/f frequency scaling
      and transformation robustness; they make images the model recognizes under new
      jitter, and that people can read.

    The model is frozen and left exactly as found (hooks removed, modes and flags restored),
    also when an error is raised mid-way.

    Args:
        model: from :func:`seewhy.load_model`; its mean/std map pixels to the model input.
            A plain ``nn.Module`` is wrapped as ``load_model`` wraps one (ImageNet's mean
            and std, 224 px).
        objective: one objective or a list; see :mod:`seewhy.synthesis.objectives`
            (``Class(285)``, ``"class:Egyptian cat"``, ``Channel("blocks.3", 7)``, ...).
        steps: optimizer steps.
        lr: Adam's learning rate.
        seed: seeds the starting noise and the random transforms (same seed, same image).
        start: ``"zeros"`` (the mean image), ``"noise"``, or a normalized (1 or N, 3, H, W)
            tensor or an image to start from (resized to ``size`` if needed).
        parameterization: ``"fourier"`` or ``"pixel"``
            (:mod:`seewhy.synthesis.parameterization`).
        decorrelate: mix colours through ImageNet's decorrelation matrix.
        transforms: the random transforms, or None for none.
        l2, l1, tv: penalty weights.
        size: the image side (default: the model's input size).
        progress: show a progress bar; by default for 50 steps or more.
        callback: called after each step with ``(step, values)``.
        fast: fold eval-mode BatchNorms into their convolutions
            (:mod:`seewhy.engine.fold`) and, on the CPU, run the images channels-last
            (:mod:`seewhy.engine.layout`): the same function, rounded differently, and about
            1.5x the steps per second on EfficientNet-Lite0. Gradient ascent amplifies
            rounding, so the images differ from ``fast=False``'s (each is reproducible with
            its seed). ``False`` runs the model exactly as given.

    Raises:
        LayerError: an unknown layer (with the closest names) or one that does not run.
        TargetError: a bad objective, index out of range or unknown class name.
        MethodError: a bad option.
    """
    if isinstance(model, nn.Module):
        model = LoadedModel.wrap(model)
    elif not isinstance(model, LoadedModel):
        raise MethodError(
            f"model must be a LoadedModel (seewhy.load_model) or an nn.Module, "
            f"got {type(model).__name__}"
        )
    _check_options(
        steps,
        lr,
        parameterization,
        size,
        transforms,
        seed=seed,
        decorrelate=decorrelate,
        penalty={"l2": l2, "l1": l1, "tv": tv},
    )
    specs = (
        [objective]
        if isinstance(objective, (str, int)) or not isinstance(objective, Sequence)
        else list(objective)
    )
    if not specs:
        raise MethodError("synthesize needs at least one objective")
    objectives = [as_objective(spec) for spec in specs]
    count, side = len(objectives), size or model.input_size
    parameter = next(model.module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    mean = torch.tensor(model.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(model.std, device=device).view(1, -1, 1, 1)

    wanted = [layer_of(o) for o in objectives]
    layers = list(dict.fromkeys(name for name in wanted if name is not None))
    with model_pass(model.module, fast=fast, keep=layers) as run:
        forward = _Forward(model, layers, run, need_output=None in wanted)
        with torch.no_grad():
            # Every index is checked on one image's shapes before the batch is made: a
            # channel range past the layer's end is an error at once, not after allocating
            # and running one image per (impossible) channel.
            probe = forward(torch.zeros(1, 3, side, side, device=device))
            resolved = [
                resolve_objective(o, probe[layer_of(o)].shape, model.labels) for o in objectives
            ]
        image = make_image(
            parameterization, (count, 3, side, side), model.mean, decorrelate, device
        )
        start_pixels = _start_pixels(start, model, count, side, device)
        if start_pixels is not None:
            image.set_pixels(start_pixels)
        elif start == "noise":
            with torch.no_grad():
                noise = torch.randn(image.param.shape, generator=generator, device=device)
                image.param.copy_(noise * noise_std(parameterization))
        weights = Penalties(l2=l2, l1=l1, tv=tv)
        optimizer = torch.optim.Adam([image.param], lr=lr)
        initial = image.param.detach().clone()
        history: list[torch.Tensor] = []
        show = progress if progress is not None else steps >= PROGRESS_FROM
        with torch.no_grad():
            start_values = _values(resolved, forward((image.pixels() - mean) / std))
        with tqdm(total=steps, desc="synthesizing", unit="step", disable=not show) as bar:
            for step in range(steps):
                optimizer.zero_grad(set_to_none=True)
                pixels = image.pixels()
                normalized = (pixels - mean) / std
                seen = (
                    random_transform(normalized, transforms, generator)
                    if transforms
                    else normalized
                )
                values = _values(resolved, forward(seen))
                loss = (penalties(pixels, normalized, weights) - values).sum()
                loss.backward()
                optimizer.step()
                history.append(values.detach())
                bar.update()
                bar.set_postfix(objective=f"{values.mean().item():.3g}", refresh=False)
                if callback is not None:
                    callback(step, values.detach())
        with torch.no_grad():
            images = (image.pixels().permute(0, 2, 3, 1) * 255 + 0.5).floor().clamp(0, 255)
            images = images.to(torch.uint8)
            tensor = (images.permute(0, 3, 1, 2).float() / 255 - mean) / std
            final_values = _values(resolved, forward(tensor))

    _warn_unchanged(resolved, image.param.detach(), initial, steps)
    return SynthesisResult(
        images=images.cpu().numpy(),
        tensor=tensor,
        history=torch.stack(history) if history else torch.empty(0, count),
        objective=[r.description for r in resolved],
        start_values=start_values,
        final_values=final_values,
    )
