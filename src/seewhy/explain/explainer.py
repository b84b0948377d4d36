"""The Explainer: images in, every requested map out, from one forward pass per batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from seewhy.engine.device import placed, resolve_device
from seewhy.engine.inputs import NO_ARGS, ForwardArgs, model_dtype
from seewhy.engine.layers import auto_layer, get_module
from seewhy.engine.runner import Runner
from seewhy.engine.spatial import Reshape
from seewhy.engine.targets import Objective, TargetSpec, check_count
from seewhy.errors import ImageError, LayerError, MethodRefusal, OptionError, warn
from seewhy.explain.fuse import by_method
from seewhy.explain.plan import Plan
from seewhy.io import list_inputs, load_inputs, skipped_note
from seewhy.methods.registry import MethodRequest, normalize_methods, resolved_options
from seewhy.models import LoadedModel, load_model
from seewhy.record import jsonable, versions
from seewhy.result import ExplanationResult, InputRecord

ImageInput = Any  # a path, folder, PIL image, array, a list of those, or a (B, C, H, W) tensor
PROGRESS_FROM = 4  # more images than this get a progress bar unless progress= says otherwise


class Explainer:
    """Explains a model's predictions with any registered methods.

    Args:
        model: a :class:`~seewhy.models.LoadedModel`, a model name for
            :func:`seewhy.load_model`, or any ``nn.Module``.
        layer: ``"auto"`` (see :func:`~seewhy.engine.layers.auto_layer`: the last block's
            ``norm1`` of a ViT or DeiT, the final norm of a Swin, else the last module with
            a spatial output), a dotted module name, or a list of names. With several layers one forward pass serves them all; every method
            that works on a layer runs at each, ``res.maps_by_layer[method][layer]`` holds
            each layer's map and ``res.maps[method]`` their fusion: the mean of the per-layer
            maps, each min-max scaled to [0, 1] first, as pytorch-grad-cam averages
            (:func:`~seewhy.explain.fuse.fuse_maps` says where the two differ). A layer may output
            a channels-first map (B, C, h, w), a channels-last grid (B, h, w, C) (Swin) or
            tokens (B, N, C) (ViT, DeiT, BEiT, EVA): grids and tokens are read as maps,
            the token grid taken from the input size and the model's patch size (or the
            token count) and the class, distillation and register tokens dropped (see
            :mod:`seewhy.engine.spatial`). Other outputs are refused; give ``reshape=``.
        reshape: ``f(output) -> (B, C, h, w)``, how to read every chosen layer's output as a
            map, when the automatic reading does not fit (pytorch-grad-cam's
            ``reshape_transform``); applied to the activations and to their gradients. For
            Ablation-CAM it must be a pure selection and permutation of the output's
            elements (slicing, ``reshape``, ``permute``), so edited maps can be written back.
        device: where to run (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``); default the
            model's device. A model elsewhere is moved there for each call and put back
            where it was afterwards (:func:`~seewhy.engine.device.placed`); a device this
            machine lacks is an :class:`~seewhy.errors.OptionError`.
        batch_size: images per forward pass.
        fast: in every pass over the whole model (the one pass that serves the CAM
            methods, the passes that differentiate to the input, and the perturbation
            methods' forwards), fold eval-mode BatchNorms into the convolution before
            them (:mod:`seewhy.engine.fold`; the chosen layers' own pairs excepted) and,
            on the CPU, run the images channels-last: the same function, rounded
            differently, and 1.1-3x faster on the CPU. Where an activation's input lies
            within rounding of its kink (0 for ReLU; 0 and 6 for ReLU6) the gradient's
            mask can flip, so a small patch of a gradient map may differ from the
            unfused model's (measured: one 7 x 7 patch, up to 9% of the peak, in the
            bundled EfficientNet-Lite0's saliency of ``chelsea``). ``False`` runs the
            model exactly as given, as Captum does, for results that match it to
            rounding.

    A model in float64, float16 or bfloat16 runs in its own dtype: the images (and the
    floating-point ``forward_args``) are cast to it where the model is called, and the
    activations, gradients, scores and every map come back in float32
    (:mod:`seewhy.engine.inputs`); the model itself is never converted. A raw ``nn.Module``
    whose first convolution takes one channel gets the luma of image files
    (:meth:`~seewhy.models.LoadedModel.wrap`).

    Example:
        >>> ex = Explainer(load_model("efficientnet_lite0"))
        >>> res = ex.explain(["cat.jpg"], methods=["gradcam", "gradcam++"], targets="top5")
        >>> res.maps["gradcam"].shape  # (B, T, H, W)
    """

    def __init__(
        self,
        model: LoadedModel | nn.Module | str,
        layer: str | Sequence[str] = "auto",
        *,
        device: str | torch.device | None = None,
        batch_size: int = 16,
        fast: bool = True,
        reshape: Reshape | None = None,
    ) -> None:
        if isinstance(model, nn.Module):
            # Wrapped as it is: the engine switches to eval mode only during each call.
            model = LoadedModel.wrap(model)
        elif not isinstance(model, LoadedModel):
            model = load_model(model)
        self.model = model
        if device is None:
            parameter = next(model.module.parameters(), None)
            device = parameter.device if parameter is not None else torch.device("cpu")
        self.device = resolve_device(device)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise OptionError(
                f"batch_size must be a whole number of images per forward pass, at least 1; "
                f"got {batch_size!r}"
            )
        self.batch_size = batch_size
        if not isinstance(fast, bool):
            raise OptionError(f"fast must be True or False, got {fast!r}")
        self.fast = fast
        if reshape is not None and not callable(reshape):
            raise OptionError(
                f"reshape must be a function from a layer's output to a (B, C, h, w) map, "
                f"got {reshape!r}"
            )
        self.reshape = reshape
        if not isinstance(layer, (str, Sequence)):
            # A module object or a number is a natural slip: say what names a layer.
            raise LayerError(
                f"layer= takes 'auto', a dotted module name (e.g. 'layer4') or a list of them, "
                f"got {layer!r}"
            )
        self.layer_request = [layer] if isinstance(layer, str) else list(layer)
        if not self.layer_request:
            raise LayerError("layer= names no layer")
        for name in self.layer_request:
            if not isinstance(name, str):
                raise LayerError(f"a layer is named by a string, got {name!r}")
            if name != "auto":
                get_module(model.module, name)
        self._auto: dict[tuple[int, ...], str] = {}

    def layers_for(self, example: torch.Tensor, extra: ForwardArgs = NO_ARGS) -> list[str]:
        """The resolved layer names for inputs shaped like ``example`` (``extra``: the
        model's other inputs for the images of ``example``)."""
        names = []
        for name in self.layer_request:
            if name == "auto":
                key = tuple(example.shape[1:])
                if key not in self._auto:
                    self._auto[key] = auto_layer(
                        self.model.module, example[:1].to(self.device), extra.images(0, 1)
                    )
                name = self._auto[key]
            names.append(name)
        return list(dict.fromkeys(names))

    def explain(
        self,
        images: ImageInput,
        methods: MethodRequest = ("gradcam",),
        targets: TargetSpec = "top1",
        *,
        score: str = "logit",
        counterfactual: bool = False,
        progress: bool | None = None,
        forward_args: Sequence[Any] | None = None,
        forward_kwargs: Mapping[str, Any] | None = None,
    ) -> ExplanationResult:
        """Explain ``images`` with every method in ``methods`` for every target.

        Args:
            images: paths, folders, PIL images, NumPy arrays, or a preprocessed (B, C, H, W)
                tensor used as it is.
            methods: method names, or ``{name: options}``: CAM methods (``"gradcam"``...),
                input-space methods (``"saliency"``, ``"guided_gradcam"``,
                ``"integrated_gradients"``...) and ``"smooth:<method>"`` for any of them;
                ``seewhy.available_methods()`` lists the names. All share one forward pass
                per batch (SmoothGrad, integrated gradients and ``smooth:`` add batched passes
                over their noisy or scaled copies; ``occlusion``, ``scorecam`` and
                ``ablationcam`` add batched forwards without gradients).
            targets: ``"top1"``..``"topK"``, a class id or label name, one per image, a list
                per image, or ``f(output) -> Tensor (B,) | (B, T)`` (any output shape, e.g.
                a caption model's (B, L, V): ``lambda out: out.log_softmax(-1)[:, 3, word]``).
            score: ``"logit"`` (as the papers), ``"prob"`` or ``"logprob"``.
            counterfactual: negate the gradients (regions that argue against the target).
            progress: show progress bars; by default the images' bar when there are more
                than 4 images, and a perturbation method's bar when it runs many copies.
            forward_args: the model's inputs after the image, ``module(image, *forward_args,
                **forward_kwargs)`` (a question, caption tokens, a mask), in every pass. A
                tensor whose first dimension is the number of inputs is given per image
                (sliced with the batches, repeated for an image's noisy or masked copies);
                anything else, a ``(1, ...)`` tensor included, is the same for every image.
                See ``docs/multi-input.md``.
            forward_kwargs: keyword inputs, read the same way.

        Returns:
            An :class:`~seewhy.result.ExplanationResult`. Inputs that could not be read are
            listed in ``result.records`` with their error; the others are explained. Maps,
            scores and attributions are float32 whatever the model's dtype. A method
            that cannot run on this model or layer (``cam`` without a GAP + Linear head) is
            left out of the maps, with its reason in ``result.refused[method]`` and one
            warning per call naming every refused method; the others run.

        Raises:
            MethodRefusal: every requested method was refused (nothing to return); the
                message gives each one's reason.
        """
        request = normalize_methods(methods)
        objective = Objective(targets, score, counterfactual)
        skipped: list[str] = []
        if not isinstance(images, torch.Tensor):
            images, skipped = list_inputs(images)  # each folder listed once
        if skipped:
            warn(skipped_note(skipped))
        records, batch = self.prepare(images)
        if batch.shape[0] == 0:
            errors = "; ".join(r.error or "" for r in records)
            raise ImageError(f"no image could be read: {errors}", records=records)
        check_count(objective.targets, batch.shape[0], "readable images")
        extra = self._forward_args(forward_args, forward_kwargs, records)
        options = self.request(request, objective, forward_args, forward_kwargs)
        objective = objective.of_images(batch.shape[0])
        with placed(self.model.module, self.device):
            return self._explain(
                batch, records, request, objective, extra, progress, options, skipped
            )

    def request(
        self,
        methods: Mapping[str, Mapping[str, Any]],
        objective: Objective,
        forward_args: Sequence[Any] | None = None,
        forward_kwargs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Every parameter of a call, JSON-ready (:mod:`seewhy.record`): ``res.options`` and
        ``report.json``'s ``request``. ``methods`` carry every option, defaults included;
        ``layers`` is the request (``res.layers`` has the layers each method ran at);
        ``targets`` the request as given (``"top5"``, a class list...)."""
        return jsonable(
            {
                "model": self.model.describe(),
                "layers": self.layer_request,
                "methods": {name: resolved_options(name, o) for name, o in methods.items()},
                "targets": objective.targets,
                "score": objective.score,
                "counterfactual": objective.counterfactual,
                "fast": self.fast,
                "batch_size": self.batch_size,
                "device": str(self.device),
                "reshape": self.reshape,
                "forward_args": None if forward_args is None else list(forward_args),
                "forward_kwargs": None if forward_kwargs is None else dict(forward_kwargs),
                "versions": versions(),
            }
        )

    def _forward_args(
        self,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        records: list[InputRecord],
    ) -> ForwardArgs:
        """The model's other inputs for the readable images, on the call's device."""
        extra = ForwardArgs.of(args, kwargs, len(records))
        readable = [i for i, record in enumerate(records) if record.index is not None]
        if len(readable) < len(records):
            extra = extra.rows(torch.tensor(readable, dtype=torch.long))
        return extra.to(self.device)

    def _explain(
        self,
        batch: torch.Tensor,
        records: list[InputRecord],
        request: dict[str, dict[str, Any]],
        objective: Objective,
        extra: ForwardArgs,
        progress: bool | None,
        options: dict[str, Any],
        skipped: list[str],
    ) -> ExplanationResult:
        """The call on the readable images ``batch``, with the model on the call's device;
        ``options`` is the call's request (:meth:`request`), ``skipped`` the files left out."""
        plan = Plan(
            request,
            self.layers_for(batch, extra) if Plan.needs_layers(request) else [],
            progress,
        )
        runner = Runner(self.model, objective, fast=self.fast, extra=extra, reshape=self.reshape)
        size = (int(batch.shape[-2]), int(batch.shape[-1]))

        parts: dict[str, list[Any]] = {"indices": [], "scores": [], "probs": []}
        outputs: dict[str, dict[str, list[torch.Tensor]]] = {}
        order: list[str] = []
        key_methods: dict[str, str] = {}
        key_layers: dict[str, str] = {}
        displays: dict[str, str] = {}
        show = progress if progress is not None else batch.shape[0] > PROGRESS_FROM
        bar = tqdm(total=batch.shape[0], desc="explaining", unit="image", disable=not show)
        for start in range(0, batch.shape[0], self.batch_size):
            chunk = batch[start : start + self.batch_size].to(self.device)
            part = plan.run(runner.images(start, start + chunk.shape[0]), chunk)
            parts["indices"].append(part.targets.indices.cpu())
            parts["scores"].append(part.targets.scores.cpu())
            parts["probs"].append(part.targets.probs.cpu())
            for kind, tensors in part.tensors().items():
                for key, value in tensors.items():
                    outputs.setdefault(kind, {}).setdefault(key, []).append(value.cpu())
            order, key_layers = part.order, part.layers
            key_methods.update(part.methods)
            displays = {part.methods[key]: display for key, display in part.displays.items()}
            bar.update(chunk.shape[0])
            if len(plan.refused) == len(request):
                break
        bar.close()
        refused = check_refusals(plan.refused, request)

        joined = {
            kind: {
                key: torch.cat(chunks)
                for key, chunks in tensors.items()
                if key_methods[key] not in refused  # refused after earlier batches ran it
            }
            for kind, tensors in outputs.items()
        }
        per_method = by_method(joined, order, key_methods, key_layers, size)
        indices = torch.cat(parts["indices"])
        labels = self._labels(indices)
        return ExplanationResult(
            maps=per_method.maps,
            layer_maps=per_method.layer_maps,
            targets=indices,
            scores=torch.cat(parts["scores"]),
            probs=torch.cat(parts["probs"]),
            labels=labels,
            images=partial(self.model.denormalize, batch),
            records=records,
            model_name=self.model.name,
            layers=per_method.layers,
            options=options,
            skipped=skipped,
            attributions=per_method.attributions,
            deltas=per_method.deltas,
            displays=displays,
            maps_by_layer=per_method.maps_by_layer,
            refused=refused,
        )

    def _labels(self, indices: torch.Tensor) -> list[list[str]] | None:
        names = self.model.labels
        if not names:
            return None
        return [
            [names[i] if 0 <= i < len(names) else f"target {i}" for i in row]
            for row in indices.tolist()
        ]

    def prepare(self, images: ImageInput) -> tuple[list[InputRecord], torch.Tensor]:
        """What :meth:`explain` reads first: a record for every input (its source, its row
        in the batch or why it could not be read) and the preprocessed (B, C, H, W) batch of
        the readable ones, in the model's input size (a tensor is taken as it is). For
        callers that explain the same images more than once (``sanity_check``)."""
        if isinstance(images, torch.Tensor):
            batch = images.detach()
            if batch.dim() == 3:
                batch = batch.unsqueeze(0)
            if batch.dim() != 4:
                raise ImageError(
                    f"a tensor input must be (B, C, H, W) or (C, H, W), got {tuple(images.shape)}"
                )
            if batch.shape[0] == 0:
                raise ImageError("the tensor input holds no image (its batch dimension is 0)")
            if not batch.is_floating_point():
                raise ImageError(
                    f"a tensor input is taken as preprocessed floats, got {batch.dtype}: give "
                    "the images as files, PIL images or arrays to have them preprocessed, or "
                    "pass model.preprocess(images)"
                )
            if batch.dtype == torch.float64 and model_dtype(self.model.module) == torch.float64:
                warn(
                    "seewhy reads tensor inputs in float32 (the methods work in float32): "
                    "this float64 model sees the images rounded to about 7 significant "
                    "digits, so differences smaller than that do not reach it"
                )
            # A NaN or infinite pixel makes the output and every map of the image NaN: such
            # an image is an input error, as an unreadable file is; the others are explained.
            finite = torch.isfinite(batch).flatten(1).all(dim=1).tolist()
            records, row = [], 0
            for i, ok in enumerate(finite):
                if ok:
                    records.append(InputRecord(f"tensor[{i}]", row, None))
                    row += 1
                else:
                    error = f"tensor[{i}]: holds NaN or infinite values; give finite pixels"
                    records.append(InputRecord(f"tensor[{i}]", None, error))
            if not all(finite):
                batch = batch[torch.tensor(finite)]
                if batch.shape[0]:  # with none left, explain raises an ImageError instead
                    bad = ", ".join(r.source for r in records if r.error)
                    warn(
                        f"{bad} not explained: NaN or infinite values; the result's rows "
                        "are the other images (result.records maps each input to its row)"
                    )
            return records, batch.float()
        loaded = load_inputs(images)
        records: list[InputRecord] = []
        displays: list[np.ndarray] = []
        for item in loaded:
            if not item.ok:
                records.append(InputRecord(item.source, None, item.error))
                continue
            try:
                display = self.model.display(item.image)  # type: ignore[arg-type]
            except (ImageError, ValueError, OSError) as error:
                records.append(InputRecord(item.source, None, f"{item.source}: {error}"))
                continue
            records.append(InputRecord(item.source, len(displays), None))
            displays.append(display)
        if not displays:
            return records, torch.zeros(0)
        shapes = {d.shape for d in displays}
        if len(shapes) > 1:
            raise ImageError(
                f"images of different sizes {sorted(shapes)} for a model that does not resize"
            )
        return records, self.model.normalize(displays)


def check_refusals(refused: dict[str, str], request: Mapping[str, Any]) -> dict[str, str]:
    """The call's refusals, in the request's order, after one warning naming them all; a
    :class:`~seewhy.errors.MethodRefusal` when every requested method was refused."""
    ordered = {name: refused[name] for name in request if name in refused}
    reasons = "; ".join(f"{name} was not run: {reason}" for name, reason in ordered.items())
    if ordered and len(ordered) == len(request):
        raise MethodRefusal(f"no requested method can run on this model: {reasons}")
    if ordered:
        warn(reasons)
    return ordered
