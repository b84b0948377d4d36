"""The model parameter randomisation test: do a method's maps depend on the model's weights?

Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for Saliency Maps",
NeurIPS 2018, https://arxiv.org/abs/1810.03292, section 3. Layers are re-initialised from the
output down, cumulatively (*cascading*) or one at a time with the others trained
(*independent*); after each step the same images are explained for the same targets and each
map is compared with the trained model's map by the measures of
:mod:`seewhy.metrics.similarity`. A method whose maps stay alike while the weights they
should explain are destroyed explains the input more than the model: the paper finds that
the gradient and Grad-CAM lose their similarity and guided backpropagation keeps most of it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from seewhy.errors import ImageError, OptionError
from seewhy.explain import Explainer
from seewhy.explain.explainer import PROGRESS_FROM, ImageInput
from seewhy.methods.registry import MethodRequest, normalize_methods, resolved_options
from seewhy.metrics.randomize import randomize, restore, snapshot_step, steps_of
from seewhy.metrics.similarity import HOG_CELL, hog_correlation, spearman, ssim
from seewhy.models import LoadedModel, load_model
from seewhy.result import ExplanationResult

__all__ = ["DRAWS", "METRICS", "MODES", "SanityResult", "sanity_check"]

MODES = ("cascading", "independent")
#: Independent randomisations averaged by default.
DRAWS = 1
#: The similarity measures, in the order of ``sanity.json``.
METRICS = ("spearman", "spearman_abs", "ssim", "hog")
#: The name of the first step: the unrandomised copy against the model.
TRAINED = "trained"


@dataclass
class SanityResult:
    """What :func:`sanity_check` measured.

    Attributes:
        mode: ``"cascading"`` or ``"independent"``.
        steps: ``"trained"``, then each randomisation step's name (its module names joined
            by ``+``), from the output down; ``sanity.json`` calls them ``layers``.
        methods: the methods compared (those the model refused are in ``refused``).
        values: method -> measure (:data:`METRICS`) -> ``(S, D * N)`` float64, one row per
            step and one column per image and draw (the D draws' N images side by side).
            Row 0 compares the maps of an unrandomised copy of the model with the model's
            own: 1 unless the maps are not reproducible (NaN where a correlation is
            undefined, a constant map).
        targets: ``(N,)`` the class explained for each image at every step: the trained
            model's top-1 class unless ``targets=`` said otherwise.
        sources: the images' names.
        skipped: why each input that could not be read was left out.
        images: ``(K, H, W, 3)`` uint8, the first ``K`` images as the model saw them.
        maps: method -> ``(S, K, H, W)``, each step's maps of those images, as the method
            draws them (``ExplanationResult.maps``), for :meth:`grid`.
        attributions: method -> ``(S, K, C, H, W)`` for input-space methods.
        displays: method -> how its maps are drawn.
        refused: method -> why the model refused it.
        baseline: method -> measure -> the mean similarity of the trained model's maps of
            *different* images (image ``i`` against image ``i + 1``, cyclically): what the
            measure gives for unrelated maps of this method, the "randomization baseline" of
            Arun et al. 2021 (https://doi.org/10.1148/ryai.2021200267). A map has lost its
            similarity once it is down to this level; for smooth maps (Grad-CAM upsampled from
            7 x 7) SSIM stays high even for unrelated maps. NaN with one image.
        model_name, init, seed, draws: what was randomised and how.
    """

    mode: str
    steps: list[str]
    methods: list[str]
    values: dict[str, dict[str, np.ndarray]]
    targets: torch.Tensor
    sources: list[str]
    images: np.ndarray
    maps: dict[str, torch.Tensor]
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    displays: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: list[str] | None = None
    skipped: list[str] = field(default_factory=list)
    model_name: str = "model"
    init: str = "normal"
    seed: int = 0
    draws: int = 1

    def mean(self, method: str, metric: str) -> np.ndarray:
        """``(S,)``: ``metric`` of ``method`` at each step, averaged over the images and
        draws (NaNs, undefined correlations, left out; NaN where every image's is)."""
        if method not in self.values:
            from seewhy.errors import MethodError, suggestion

            raise MethodError(f"no {method!r} in this result.{suggestion(method, self.values)}")
        if metric not in METRICS:
            raise OptionError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        rows = self.values[method][metric]
        counts = np.sum(~np.isnan(rows), axis=1)
        sums = np.nansum(rows, axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def summary(self) -> dict[str, dict[str, list[Any]]]:
        """What ``sanity.json`` holds: ``{method: {"layers": [...], "spearman": [...],
        "spearman_abs": [...], "ssim": [...], "hog": [...]}}``, the values averaged over the
        images and draws, one per entry of ``layers`` (``null`` where undefined)."""
        return {
            method: {
                "layers": list(self.steps),
                **{
                    metric: [
                        None if np.isnan(v) else round(float(v), 6)
                        for v in self.mean(method, metric)
                    ]
                    for metric in METRICS
                },
            }
            for method in self.methods
        }

    def plot(self) -> Image.Image:
        """Each measure against the randomised depth, one line per method."""
        from seewhy.render.sanity import similarity_plot

        curves = {
            metric: {method: self.mean(method, metric) for method in self.methods}
            for metric in METRICS
        }
        draws = f", mean of {self.draws} draws" if self.draws > 1 else ""
        title = f"{self.model_name}: {self.mode} randomisation ({len(self.sources)} images{draws})"
        baselines = {
            metric: {m: self.baseline[m][metric] for m in self.methods if m in self.baseline}
            for metric in METRICS
        }
        return similarity_plot(self.steps, curves, baselines=baselines, title=title)

    def grid(self, index: int = 0) -> Image.Image:
        """One image's maps: rows = steps (trained first), columns = methods."""
        from seewhy.render import FigureBlock, explanation_figure

        if not 0 <= index < len(self.images):
            raise OptionError(
                f"maps were kept for images 0..{len(self.images) - 1} (keep_maps=), got {index}"
            )
        prefix = "up to " if self.mode == "cascading" else "only "
        rows = [TRAINED] + [prefix + step for step in self.steps[1:]]
        maps = torch.stack([self.maps[m][:, index] for m in self.methods], dim=1)
        attributions = [
            self.attributions[m][:, index].numpy() if m in self.attributions else None
            for m in self.methods
        ]
        target = int(self.targets[index])
        name = f"{self.labels[index]} ({target})" if self.labels else f"class {target}"
        block = FigureBlock(
            f"{self.model_name}, {self.mode} randomisation, target {name}",
            self.images[index],
            list(self.methods),
            rows,
            maps.numpy(),
            [self.displays.get(m, "cam") for m in self.methods],
            attributions,
            captions=[self._caption(m) for m in self.methods],
        )
        from seewhy.result import source_name

        return explanation_figure([block], title=source_name(self.sources[index]))

    def _caption(self, method: str) -> str | None:
        """The text under ``method``'s colour bar in :meth:`grid`: every map there is drawn
        on its own scale (a randomised Grad-CAM that is nearly flat looks as bright as the
        trained one), so the bar's ends are ``0 .. max``, not values that rows share; None
        for gradient images, which say so themselves."""
        from seewhy.render.scale import sign_legend

        display = self.displays.get(method, "cam")
        if display == "rgb":
            return None
        lines = ["each map on its own scale,\nstrengths do not compare"]
        if display != "cam":
            lines.append("clipped at |map|'s 99th percentile")
        if display == "signed":
            lines.append(sign_legend(method).replace("the row's class score", "the target's score"))
        return "\n".join(lines)

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write ``sanity.json``, ``sanity_plot.png`` and ``sanity_grid.png`` (the first
        image) to ``directory``; returns their paths by kind."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": out / "sanity.json",
            "plot": out / "sanity_plot.png",
            "grid": out / "sanity_grid.png",
        }
        paths["json"].write_text(json.dumps(self.summary(), indent=2) + "\n")
        self.plot().save(paths["plot"], format="PNG")
        self.grid(0).save(paths["grid"], format="PNG")
        return paths


def seeded(request: dict[str, dict[str, Any]], seed: int) -> dict[str, dict[str, Any]]:
    """``request`` with ``seed`` given to every noisy method that was given none (SmoothGrad,
    VarGrad, ``smooth:<method>``): unseeded, each explanation draws new noise, so even the
    unrandomised ``trained`` step reads about 0.03 instead of 1 and every step measures the
    noise, not the weights. With one seed each step sees the same noise on the same image."""
    return {
        name: (
            {**options, "seed": seed}
            if "seed" in resolved_options(name, options) and options.get("seed") is None
            else options
        )
        for name, options in request.items()
    }


def sanity_check(
    model: LoadedModel | nn.Module | str,
    images: ImageInput,
    methods: MethodRequest = ("gradcam", "gradient", "guided_backprop"),
    mode: str = "cascading",
    *,
    layers: Sequence[str | Sequence[str]] | None = None,
    targets: Any = "top1",
    layer: str | Sequence[str] = "auto",
    init: str = "normal",
    seed: int = 0,
    draws: int = DRAWS,
    fast: bool = True,
    batch_size: int = 16,
    keep_maps: int = 1,
    progress: bool | None = None,
) -> SanityResult:
    """Adebayo et al.'s model parameter randomisation test of ``methods`` on ``images``.

    Works on a deep copy: ``model`` itself is never changed. The steps (``layers``, default
    :func:`~seewhy.metrics.randomize.sanity_layers`: for EfficientNet-Lite0 the classifier,
    ``conv_head+bn2``, ``blocks.6`` ... ``blocks.0``, ``conv_stem+bn1``) are randomised from
    the first to the last: in ``"cascading"`` mode each step adds its layers to those already
    random (by the last step the whole network is random); in ``"independent"`` mode each
    step randomises its layers alone, the others keeping the trained weights. How the
    weights are drawn: :func:`~seewhy.metrics.randomize.randomize` (``init``: ``"normal"``,
    a truncated normal with each tensor's trained standard deviation, or ``"reset"``, each
    layer's ``reset_parameters()``; norm layers back to scale 1 and shift 0, running
    statistics kept), every draw seeded by ``seed``. Noisy methods given no seed
    (SmoothGrad, VarGrad, ``smooth:<method>``) take ``seed`` too (:func:`seeded`), so every
    step explains with the same noise and only the weights differ.

    ``draws`` (default 1) runs the whole sequence that many times from the trained weights,
    each with new random weights (one seeded stream: the first draw is the ``draws=1``
    run), and every measure is averaged over the draws as over the images. One draw on few
    images is a noisy estimate: on the bundled Lite0 and ``chelsea``, Grad-CAM's SSIM at
    full randomisation is 0.40, 0.53 and 0.54 in the three draws of seed 0, and 0.07 and
    0.15 with seeds 1 and 2 alone.

    After each step the images are explained with :class:`~seewhy.Explainer` (``layer``,
    ``fast``, ``batch_size`` as there) for the same targets: the trained model's top-1
    class by default (``targets=`` takes anything ``Explainer.explain`` does that gives one
    target per image), kept fixed, as the randomised model's own prediction is meaningless
    (the authors' code explains the randomised model's top class instead). Each map is
    compared with the trained model's by (:mod:`seewhy.metrics.similarity`):

    - ``spearman``: Spearman's rank correlation of the signed maps;
    - ``spearman_abs``: the same of their absolute values;
    - ``ssim``: SSIM of the signed maps min-max scaled to [0, 1], window 5;
    - ``hog``: Pearson's correlation of their HOG features, 16 px cells (on images under
      48 px, the largest cell whose block of 3 x 3 cells fits: ``min(H, W) // 3``).

    A method's signed map is the sum over channels of its attribution for input-space
    methods (the gradient, guided backpropagation: the PAIR ``saliency`` library's
    "diverging" map, which the paper draws) and its map for the others (Grad-CAM); its
    absolute map is the sum over channels of the attribution's magnitude (the library's
    "grayscale" map), or the map's magnitude.

    Args:
        draws: how many independent randomisations are averaged (at least 1); each costs
            one explanation per step.
        keep_maps: how many images (the first ones) keep their maps at every step in the
            result (from the first draw), for :meth:`SanityResult.grid`.
        progress: a bar over the steps; by default shown when there are more than 4.

    Returns:
        A :class:`SanityResult`; its first step, ``"trained"``, compares an unrandomised
        copy with the model (1.0 for reproducible maps).
    """
    if mode not in MODES:
        raise OptionError(f"mode must be {' or '.join(map(repr, MODES))}, got {mode!r}")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise OptionError(f"draws must be a whole number, at least 1; got {draws!r}")
    if (
        isinstance(seed, (bool, np.bool_))
        or not isinstance(seed, (int, np.integer))
        or not -(2**63) <= int(seed) < 2**64
    ):
        raise OptionError(f"seed must be a whole number from -2**63 to 2**64 - 1, got {seed!r}")
    if isinstance(keep_maps, bool) or not isinstance(keep_maps, int) or keep_maps < 1:
        raise OptionError(
            f"keep_maps must be a whole number of images, at least 1; got {keep_maps!r}"
        )
    if isinstance(model, nn.Module):
        model = LoadedModel.wrap(model)
    elif not isinstance(model, LoadedModel):
        model = load_model(model)
    request = seeded(normalize_methods(methods), int(seed))
    steps = steps_of(model.module, layers)
    options = {"layer": layer, "fast": fast, "batch_size": batch_size}

    trained = Explainer(model, **options)
    records, batch = trained.prepare(images)
    if batch.shape[0] == 0:
        if not records:
            raise ImageError(
                "no images were given: pass image paths, folders or a tensor", records=records
            )
        errors = "; ".join(r.error or "" for r in records)
        raise ImageError(f"no image could be read: {errors}", records=records)
    reference = trained.explain(batch, request, targets, progress=False)
    if reference.targets.shape[1] != 1:
        raise OptionError(
            f"a sanity check explains one target per image; targets={targets!r} gives "
            f"{reference.targets.shape[1]}"
        )
    fixed = [int(t) for t in reference.targets[:, 0]]
    methods_run = [m for m in request if m in reference.maps]
    keep = min(keep_maps, batch.shape[0])
    trained_maps = _comparable(reference, methods_run)
    kept_maps: dict[str, list[torch.Tensor]] = {m: [] for m in methods_run}
    kept_attributions: dict[str, list[torch.Tensor]] = {
        m: [] for m in methods_run if m in reference.attributions
    }

    # 16 px HOG cells; on maps under 48 px the largest cell whose 3 x 3 block fits
    cell = max(1, min(HOG_CELL, min(batch.shape[-2:]) // 3))

    def compare(
        first: dict[str, dict[str, torch.Tensor]], second: dict[str, dict[str, torch.Tensor]]
    ) -> dict[str, dict[str, np.ndarray]]:
        return {
            m: {
                "spearman": spearman(first["signed"][m], second["signed"][m]),
                "spearman_abs": spearman(first["absolute"][m], second["absolute"][m]),
                "ssim": ssim(first["signed"][m], second["signed"][m]),
                "hog": hog_correlation(first["signed"][m], second["signed"][m], cell=cell),
            }
            for m in methods_run
        }

    baseline = _baseline(trained_maps, compare, methods_run)

    def measure(result: ExplanationResult, keeping: bool) -> dict[str, dict[str, np.ndarray]]:
        if keeping:
            for m, maps in kept_maps.items():
                maps.append(result.maps[m][:keep, 0])
            for m, attributions in kept_attributions.items():
                attributions.append(result.attributions[m][:keep, 0])
        return compare(trained_maps, _comparable(result, methods_run))

    generator = torch.Generator().manual_seed(int(seed))
    show = progress if progress is not None else len(steps) * draws > PROGRESS_FROM
    request_run = {m: request[m] for m in methods_run}
    bar = tqdm(
        total=len(steps) * draws, desc=f"{mode} randomisation", unit="step", disable=not show
    )
    draws_rows: list[list[dict[str, dict[str, np.ndarray]]]] = []
    with bar:
        for draw in range(draws):
            copied = dataclasses.replace(model, module=copy.deepcopy(model.module))
            explainer = Explainer(copied, **options)

            def explain(explainer: Explainer = explainer) -> ExplanationResult:
                return explainer.explain(batch, request_run, fixed, progress=False)

            # the unrandomised copy is the same in every draw: measured once
            rows = [measure(explain(), True)] if draw == 0 else [draws_rows[0][0]]
            for step in steps:
                saved = snapshot_step(copied.module, step) if mode == "independent" else None
                randomize(copied.module, step, init=init, generator=generator)
                rows.append(measure(explain(), draw == 0))
                if saved is not None:
                    restore(copied.module, saved)
                bar.update()
            draws_rows.append(rows)

    return SanityResult(
        mode=mode,
        steps=[TRAINED, *("+".join(step) for step in steps)],
        methods=methods_run,
        values={
            m: {
                # (S, draws * N): each draw's images side by side
                metric: np.concatenate(
                    [np.stack([row[m][metric] for row in rows]) for rows in draws_rows], axis=1
                )
                for metric in METRICS
            }
            for m in methods_run
        },
        targets=reference.targets[:, 0].clone(),
        sources=[r.source for r in records if r.ok],
        skipped=[r.error or r.source for r in records if not r.ok],
        images=reference.images[:keep],
        maps={m: torch.stack(maps) for m, maps in kept_maps.items()},
        attributions={m: torch.stack(a) for m, a in kept_attributions.items()},
        displays={m: reference.displays.get(m, "cam") for m in methods_run},
        refused=dict(reference.refused),
        baseline=baseline,
        labels=[row[0] for row in reference.labels] if reference.labels else None,
        model_name=model.name,
        init=init,
        seed=int(seed),
        draws=draws,
    )


def _comparable(
    result: ExplanationResult, methods: Sequence[str]
) -> dict[str, dict[str, torch.Tensor]]:
    """``{"signed": {method: maps}, "absolute": {...}}``, ``(N, H, W)`` maps of the first target."""
    signed: dict[str, torch.Tensor] = {}
    absolute: dict[str, torch.Tensor] = {}
    for method in methods:
        attribution = result.attributions.get(method)
        if attribution is not None:
            signed[method] = attribution[:, 0].sum(dim=1)
            absolute[method] = attribution[:, 0].abs().sum(dim=1)
        else:
            signed[method] = result.maps[method][:, 0]
            absolute[method] = signed[method].abs()
    return {"signed": signed, "absolute": absolute}


def _baseline(
    trained: dict[str, dict[str, torch.Tensor]],
    compare: Callable[..., dict[str, dict[str, np.ndarray]]],
    methods: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Each measure between the trained maps of image ``i`` and image ``i + 1`` (cyclically),
    averaged over the images; NaN with one image."""
    count = next(iter(trained["signed"].values())).shape[0] if methods else 0
    if count < 2:
        return {m: dict.fromkeys(METRICS, float("nan")) for m in methods}
    shift = torch.roll(torch.arange(count), -1)
    rolled = {kind: {m: maps[shift] for m, maps in by.items()} for kind, by in trained.items()}
    values = compare(trained, rolled)
    return {
        m: {metric: float(np.nanmean(values[m][metric])) for metric in METRICS} for m in methods
    }
