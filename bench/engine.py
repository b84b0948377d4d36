"""Engine benchmark: seewhy's one-pass CAM engine against the usual CAM libraries, on the CPU.

Run ``python bench/engine.py`` (``--markdown`` for a Markdown table). For each model, a batch
of 8 random 224 px images and every row below, the wall time is the median of ``--repeats``
runs after one warm-up run; the rows are interleaved (repeat 1 of every row, then repeat 2...)
so background load hits them alike. See ``bench/README.md`` for what each row does. The
input-space rows (guided Grad-CAM, SmoothGrad and integrated gradients beside Captum) run on
``--input-images`` images (default 1), in a block with its own bare-forward row.

Nothing here downloads anything: ResNet-50 has random weights, EfficientNet-Lite0 the weights
bundled with seewhy.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

import seewhy

SEVEN = ["cam", "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam"]
BATCH_DEFAULT = 8
SIZE = 224
TOPK = 5


# --------------------------------------------------------------------------- memory


def _status_mb(field_name: str) -> float | None:
    """A ``Vm*`` field of /proc/self/status in MB (Linux), or None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _malloc_trim() -> None:
    """Give glibc's free heap pages back to the OS, so RSS counts live memory only."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak resident-set growth of one run, in MB, from the kernel's own high-water mark.

    Torch's CPU tensors are invisible to ``tracemalloc``, and ``ru_maxrss`` never resets, so
    before the run: ``gc.collect()``, ``malloc_trim(0)`` (freed heap pages leave RSS), then
    ``5`` written to ``/proc/self/clear_refs`` resets ``VmHWM`` to the current RSS. After the
    run, ``VmHWM - VmRSS(before)`` is the run's peak growth, nothing missed between samples.
    Where that is unavailable (not Linux, no permission) ``delta_mb`` is NaN.
    """

    def __init__(self) -> None:
        self.base: float | None = None
        self.delta_mb = float("nan")

    def __enter__(self) -> PeakRSS:
        gc.collect()
        _malloc_trim()
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            return self
        self.base = _status_mb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_mb("VmHWM")
        if self.base is not None and peak is not None:
            self.delta_mb = max(0.0, peak - self.base)


class OtherLoad:
    """CPU time other processes used while the block ran, in cores (Linux): all CPUs' busy
    time from /proc/stat less this process's own user + system time."""

    def __init__(self) -> None:
        self.cores = float("nan")

    @staticmethod
    def _busy_seconds() -> float | None:
        try:
            with open("/proc/stat") as handle:
                fields = [int(v) for v in handle.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> OtherLoad:
        self._busy, self._own, self._wall = (
            self._busy_seconds(),
            self._own_seconds(),
            time.perf_counter(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        busy = self._busy_seconds()
        if busy is None or self._busy is None:
            return
        own = self._own_seconds() - self._own
        wall = time.perf_counter() - self._wall
        self.cores = max(0.0, (busy - self._busy - own) / wall)


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    key: str
    label: str
    run: Callable[[], object]
    slow: bool = False  # a many-pass baseline: timed at most --baseline-repeats times
    times: list[float] = field(default_factory=list)
    peak_mb: float = float("nan")

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)


def _upsample(maps: torch.Tensor) -> torch.Tensor:
    return F.interpolate(maps, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def _gradcam_maps(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) x (B, K, h, w) -> (B, 1, h, w) Grad-CAM."""
    weights = gradients.mean(dim=(-2, -1), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1, keepdim=True))


def make_rows(
    target: nn.Module | seewhy.LoadedModel,
    model: nn.Module,
    layer_name: str,
    x: torch.Tensor,
    *,
    pgc_seven: bool,
) -> list[Row]:
    """Every benchmark row for one model (``target`` for seewhy, ``model`` for the rest)."""
    from captum.attr import LayerAttribution, LayerGradCam
    from pytorch_grad_cam import (
        EigenCAM,
        GradCAM,
        GradCAMPlusPlus,
        HiResCAM,
        LayerCAM,
        XGradCAM,
    )
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.methods import GradCAM as TorchcamGradCAM

    layer = dict(model.named_modules())[layer_name]
    explainer = seewhy.Explainer(target, layer=layer_name)
    exact = seewhy.Explainer(target, layer=layer_name, fast=False)

    def bare_forward() -> object:
        with torch.no_grad():
            return model(x)

    def seewhy_run(methods: list[str], targets: str, fast: bool = True) -> Callable[[], object]:
        runner = explainer if fast else exact
        return lambda: runner.explain(x, methods=methods, targets=targets, progress=False)

    def seewhy_read_all() -> object:
        # res.maps upsamples on first read; this row pays for reading every 224 px map.
        res = explainer.explain(x, methods=SEVEN, targets="top5", progress=False)
        return [res.maps[key] for key in res.maps]

    def pgc_top5(cam_class: type = GradCAM) -> list:
        # The first call explains the top-1 class and exposes the output, from which the
        # other four ranks are read: no extra forward pass to find the top 5.
        with cam_class(model=model, target_layers=[layer]) as cam:
            maps = [cam(input_tensor=x, targets=None)]
            top = cam.outputs.detach().topk(TOPK, dim=1).indices.tolist()
            for rank in range(1, TOPK):
                targets = [ClassifierOutputTarget(row[rank]) for row in top]
                maps.append(cam(input_tensor=x, targets=targets))
        model.zero_grad(set_to_none=True)
        return maps

    def pgc_seven_run() -> list:
        # pytorch-grad-cam has no plain CAM (Grad-CAM equals it on GAP + Linear heads);
        # EigenCAM is class-agnostic, so one call serves all five targets.
        maps = []
        for cam_class in (GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM):
            maps.extend(pgc_top5(cam_class))
        with EigenCAM(model=model, target_layers=[layer]) as cam:
            maps.append(cam(input_tensor=x, targets=None))
        return maps

    def captum_top5() -> list:
        with torch.no_grad():  # Captum needs the classes up front: one forward to find them
            top = model(x).topk(TOPK, dim=1).indices
        explainer_captum = LayerGradCam(model, layer)
        maps = []
        for rank in range(TOPK):
            attribution = explainer_captum.attribute(
                x, target=top[:, rank].tolist(), relu_attributions=True
            )
            maps.append(
                LayerAttribution.interpolate(attribution, (SIZE, SIZE), interpolate_mode="bilinear")
            )
        return maps

    def torchcam_top5() -> list:
        with TorchcamGradCAM(model, layer_name) as extractor:
            scores = model(x)
            top = scores.detach().topk(TOPK, dim=1).indices
            maps = []
            for rank in range(TOPK):
                (cam,) = extractor(
                    class_idx=top[:, rank].tolist(), scores=scores, retain_graph=rank < TOPK - 1
                )
                maps.append(_upsample(cam.unsqueeze(1)))
        return maps

    def handwritten_top5(whole_network: bool) -> list:
        """One forward with a hook, five backward passes with ``retain_graph=True``.

        ``whole_network``: ``score.backward()``, as torchcam <= 0.4 and most tutorials do:
        autograd runs back through the whole network (and fills every parameter's .grad),
        the layer's gradient is caught by a tensor hook. Otherwise ``autograd.grad`` w.r.t.
        the layer's output only, which stops at the layer (what torchcam 0.5 does).
        """
        store: dict[str, torch.Tensor] = {}

        def forward_hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            store["act"] = output
            if whole_network:
                output.register_hook(lambda grad: store.__setitem__("grad", grad))

        handle = layer.register_forward_hook(forward_hook)
        try:
            scores = model(x)
        finally:
            handle.remove()
        activations = store["act"]
        top = scores.detach().topk(TOPK, dim=1).indices
        maps = []
        for rank in range(TOPK):
            score = scores.gather(1, top[:, rank : rank + 1]).sum()
            retain = rank < TOPK - 1
            if whole_network:
                model.zero_grad(set_to_none=True)
                score.backward(retain_graph=retain)
                gradients = store["grad"]
            else:
                (gradients,) = torch.autograd.grad(score, activations, retain_graph=retain)
            maps.append(_upsample(_gradcam_maps(activations.detach(), gradients)))
        model.zero_grad(set_to_none=True)
        return maps

    rows = [
        Row("bare", "bare forward (no_grad)", bare_forward),
        Row("sw_top1", "seewhy Grad-CAM, top-1", seewhy_run(["gradcam"], "top1")),
        Row("sw_top5", "seewhy Grad-CAM, top-5", seewhy_run(["gradcam"], "top5")),
        Row("sw_all", "seewhy all 7 methods x top-5 (one call)", seewhy_run(SEVEN, "top5")),
        Row(
            "sw_all_exact",
            "seewhy all 7 methods x top-5, fast=False (the model as given)",
            seewhy_run(SEVEN, "top5", fast=False),
        ),
        Row("sw_all_read", "seewhy all 7 x top-5, every 224 px map read", seewhy_read_all),
        Row("pgc", "pytorch-grad-cam GradCAM, top-5 (5 calls)", pgc_top5, slow=True),
    ]
    if pgc_seven:
        rows.append(
            Row(
                "pgc7",
                "pytorch-grad-cam 5 grad methods x 5 calls + EigenCAM",
                pgc_seven_run,
                slow=True,
            )
        )
    rows += [
        Row("captum", "Captum LayerGradCam, top-5 (1 fwd + 5 calls)", captum_top5, slow=True),
        Row("torchcam", "torchcam 0.5 GradCAM, top-5 (1 fwd + 5 grads)", torchcam_top5),
        Row(
            "hand_full",
            "hand-written: 1 fwd + 5 x backward() through the network",
            lambda: handwritten_top5(True),
            slow=True,
        ),
        Row(
            "hand_head",
            "hand-written: 1 fwd + 5 x autograd.grad to the layer",
            lambda: handwritten_top5(False),
        ),
    ]
    return rows


def measure(rows: list[Row], repeats: int, slow_repeats: int) -> None:
    """A warm-up run of every row (its peak memory measured), then interleaved timed runs:
    repeat 1 of every row, repeat 2 of every row, ...; slow rows stop after ``slow_repeats``."""
    rows[0].run()  # one-time initialisation (thread pools, oneDNN) is nobody's row
    for row in rows:
        with PeakRSS() as memory:
            row.run()
        row.peak_mb = memory.delta_mb
    for repeat in range(repeats):
        for row in rows:
            if row.slow and repeat >= slow_repeats:
                continue
            start = time.perf_counter()
            result = row.run()
            row.times.append(time.perf_counter() - start)
            del result


# --------------------------------------------------------------------------- input space


INPUT_IMAGES = 1  # these rows run 50-100 passes per image: one image keeps them short
SMOOTH_SAMPLES = 50
IG_STEPS = 50
CAPTUM_BATCHES = (5, 10, 25)  # Captum batch sizes tried (samples or steps per pass)


def _fastest(run: Callable[[int, int], object], count: int) -> int:
    """The batch size in ``CAPTUM_BATCHES`` for which ``run(batch, count)`` is fastest.

    Each is timed once on ``count`` samples (after one warm-up run): the per-sample cost at a
    batch size is what decides, and half the samples keeps the search short.
    """
    run(CAPTUM_BATCHES[0], count)
    times = {}
    for batch in CAPTUM_BATCHES:
        start = time.perf_counter()
        run(batch, count)
        times[batch] = time.perf_counter() - start
    return min(times, key=times.__getitem__)


def input_space_rows(
    target: nn.Module | seewhy.LoadedModel, model: nn.Module, layer_name: str, x: torch.Tensor
) -> list[Row]:
    """Guided Grad-CAM for the top 5 classes, SmoothGrad (n = 50) and integrated gradients
    (50 Gauss-Legendre steps) for the top class: seewhy beside Captum's equivalents.

    Captum needs its classes up front (one no-grad forward) and explains one class per call;
    it gets its best batching: ``nt_samples_batch_size`` and ``internal_batch_size`` are the
    fastest of ``CAPTUM_BATCHES`` in a timed run each before the measurement. seewhy runs
    with its defaults (about 8 images of 224 px per pass, BatchNorms folded, channels-last)
    and, in the ``*_exact`` rows, with ``fast=False`` (the model as given, as Captum runs
    it), so the table shows what the engine's choices are worth.
    """
    from captum.attr import GuidedGradCam, IntegratedGradients, NoiseTunnel, Saliency

    layer = dict(model.named_modules())[layer_name]
    explainer = seewhy.Explainer(target, layer=layer_name)
    exact = seewhy.Explainer(target, layer=layer_name, fast=False)
    sigma = 0.15 * float(x.max() - x.min())  # seewhy's default noise: 0.15 of the range

    def bare_forward() -> object:
        with torch.no_grad():
            return model(x)

    def top(k: int) -> torch.Tensor:
        with torch.no_grad():
            return model(x).topk(k, dim=1).indices

    def seewhy_run(
        methods: dict[str, dict], targets: str, fast: bool = True
    ) -> Callable[[], object]:
        runner = explainer if fast else exact
        return lambda: runner.explain(x, methods=methods, targets=targets, progress=False)

    def captum_guided() -> list:
        classes = top(TOPK)
        guided = GuidedGradCam(model, layer)
        return [
            guided.attribute(x, target=classes[:, rank].tolist(), interpolate_mode="bilinear")
            for rank in range(TOPK)
        ]

    def captum_smoothgrad(batch: int, samples: int = SMOOTH_SAMPLES) -> object:
        return NoiseTunnel(Saliency(model)).attribute(
            x,
            nt_type="smoothgrad",
            nt_samples=samples,
            nt_samples_batch_size=batch,
            stdevs=sigma,
            target=top(1)[:, 0].tolist(),
        )

    def captum_ig(batch: int, steps: int = IG_STEPS) -> object:
        # With the convergence delta, as seewhy always reports it (res.deltas).
        return IntegratedGradients(model).attribute(
            x,
            target=top(1)[:, 0].tolist(),
            n_steps=steps,
            method="gausslegendre",
            internal_batch_size=batch * x.shape[0],
            return_convergence_delta=True,
        )

    smooth_batch = _fastest(captum_smoothgrad, SMOOTH_SAMPLES // 2)
    ig_batch = _fastest(captum_ig, IG_STEPS // 2)
    tried = "/".join(map(str, CAPTUM_BATCHES))
    images = f"{x.shape[0]} image" + ("s" if x.shape[0] > 1 else "")
    return [
        Row("bare", f"bare forward (no_grad), {images}", bare_forward),
        Row(
            "sw_guided",
            "seewhy guided Grad-CAM, top-5 (1 call)",
            seewhy_run({"guided_gradcam": {}}, "top5"),
        ),
        Row(
            "sw_guided_exact",
            "seewhy guided Grad-CAM, top-5, fast=False (the model as given)",
            seewhy_run({"guided_gradcam": {}}, "top5", fast=False),
        ),
        Row("captum_guided", "Captum GuidedGradCam, top-5 (1 fwd + 5 calls)", captum_guided),
        Row(
            "sw_smooth",
            f"seewhy SmoothGrad, n={SMOOTH_SAMPLES}, top-1",
            seewhy_run({"smoothgrad": {"n": SMOOTH_SAMPLES, "seed": 0}}, "top1"),
            slow=True,
        ),
        Row(
            "sw_smooth_exact",
            f"seewhy SmoothGrad, n={SMOOTH_SAMPLES}, top-1, fast=False",
            seewhy_run({"smoothgrad": {"n": SMOOTH_SAMPLES, "seed": 0}}, "top1", fast=False),
            slow=True,
        ),
        Row(
            "captum_smooth",
            f"Captum NoiseTunnel(Saliency), n={SMOOTH_SAMPLES}, {smooth_batch} per pass "
            f"(fastest of {tried})",
            lambda: captum_smoothgrad(smooth_batch),
            slow=True,
        ),
        Row(
            "sw_ig",
            f"seewhy integrated gradients, {IG_STEPS} steps, top-1",
            seewhy_run({"integrated_gradients": {"steps": IG_STEPS}}, "top1"),
            slow=True,
        ),
        Row(
            "sw_ig_exact",
            f"seewhy integrated gradients, {IG_STEPS} steps, top-1, fast=False",
            seewhy_run({"integrated_gradients": {"steps": IG_STEPS}}, "top1", fast=False),
            slow=True,
        ),
        Row(
            "captum_ig",
            f"Captum IntegratedGradients + delta, {IG_STEPS} steps, {ig_batch} per pass "
            f"(fastest of {tried})",
            lambda: captum_ig(ig_batch),
            slow=True,
        ),
    ]


def input_space_checks(results: list[Result]) -> tuple[list[str], bool]:
    """PASS/FAIL of the input-space targets, plus each seewhy row's cost in bare forwards."""
    lines, ok = [], True
    for desc, _layer, rows in results:
        by = {row.key: row.seconds for row in rows}
        required = [
            (
                "(d) guided Grad-CAM top-5 <= 0.4x Captum GuidedGradCam x 5",
                by["sw_guided"] <= 0.4 * by["captum_guided"],
                by["sw_guided"] / by["captum_guided"],
            ),
            (
                f"(e) SmoothGrad n={SMOOTH_SAMPLES} no slower than Captum NoiseTunnel at its best",
                by["sw_smooth"] <= by["captum_smooth"],
                by["sw_smooth"] / by["captum_smooth"],
            ),
            (
                f"(f) IG {IG_STEPS} steps no slower than Captum IntegratedGradients at its best",
                by["sw_ig"] <= by["captum_ig"],
                by["sw_ig"] / by["captum_ig"],
            ),
        ]
        for label, passed, ratio in required:
            ok &= passed
            lines.append(f"{'PASS' if passed else 'FAIL'}  {desc}: {label} ({ratio:.2f}x)")
        for key in ("sw_guided", "sw_smooth", "sw_ig"):
            lines.append(f"info  {desc}: {key} = {by[key] / by['bare']:.1f} bare forwards")
        for key, peer in (
            ("sw_guided", "captum_guided"),
            ("sw_smooth", "captum_smooth"),
            ("sw_ig", "captum_ig"),
        ):
            lines.append(
                f"info  {desc}: {key} with fast=False (BatchNorms not folded, contiguous "
                f"input): {by[key + '_exact'] / by[peer]:.2f}x {peer}, "
                f"{by[key + '_exact'] / by[key]:.2f}x the fast default"
            )
    return lines, ok


# --------------------------------------------------------------------------- models


def build(name: str) -> tuple[nn.Module | seewhy.LoadedModel, nn.Module, str, str]:
    """(what seewhy gets, the bare module, layer name, description) for a model name.

    Parameters keep ``requires_grad=True``, as a freshly loaded model has them: that is what
    the other libraries and the hand-written baselines meet (seewhy freezes them per call).
    """
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision

        module = torchvision.models.resnet50(weights=None).eval().requires_grad_(True)
        return module, module, "layer4", "ResNet-50 (random weights)"
    if name == "efficientnet_lite0":
        loaded = seewhy.load_model("efficientnet_lite0")
        module = loaded.module.eval().requires_grad_(True)
        example = torch.zeros(1, 3, SIZE, SIZE)
        layer = seewhy.Explainer(loaded, layer="auto").layers_for(example)[0]
        return loaded, module, layer, "EfficientNet-Lite0 (bundled weights)"
    raise SystemExit(f"unknown model {name!r}; use resnet50 or efficientnet_lite0")


# --------------------------------------------------------------------------- report


Result = tuple[str, str, list[Row]]  # (description, layer name, rows)


def table(results: list[Result], markdown: bool) -> str:
    header = [
        "model",
        "layer",
        "row",
        "seconds (median)",
        "x bare forward",
        "min s",
        "runs",
        "peak MB",
    ]
    lines = []
    for desc, layer, rows in results:
        bare = rows[0].seconds
        for row in rows:
            lines.append(
                [
                    desc,
                    layer,
                    row.label,
                    f"{row.seconds:.3f}",
                    f"{row.seconds / bare:.2f}",
                    f"{min(row.times):.3f}",
                    str(len(row.times)),
                    f"{row.peak_mb:.0f}",
                ]
            )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 5) + "|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def checks(results: list[Result]) -> tuple[list[str], bool]:
    lines, ok = [], True
    for desc, _layer, rows in results:
        by = {row.key: row.seconds for row in rows}
        bare, seven = by["bare"], by["sw_all"]
        required = [
            (
                "(a) all 7 x top-5 <= 1.2x bare forward",
                seven <= 1.2 * bare,
                f"{seven / bare:.2f}x",
            ),
            (
                "(b) all 7 x top-5 <= hand-written torchcam-style Grad-CAM top-5",
                seven <= by["hand_full"],
                f"{seven:.3f}s vs {by['hand_full']:.3f}s",
            ),
            (
                "(c) all 7 x top-5 >= 10x faster than pytorch-grad-cam GradCAM top-5",
                by["pgc"] / seven >= 10,
                f"{by['pgc'] / seven:.1f}x faster",
            ),
        ]
        for label, passed, detail in required:
            ok &= passed
            lines.append(f"{'PASS' if passed else 'FAIL'}  {desc}: {label} ({detail})")
        info = [
            ("all 7 x top-5 fast=False vs the fast default", seven, by["sw_all_exact"]),
            ("all 7 x top-5 vs torchcam 0.5 GradCAM top-5", seven, by["torchcam"]),
            (
                "all 7 x top-5 fast=False vs torchcam 0.5 GradCAM top-5",
                by["sw_all_exact"],
                by["torchcam"],
            ),
            ("all 7 x top-5 vs hand-written head-only top-5", seven, by["hand_head"]),
            (
                "seewhy Grad-CAM top-5 vs hand-written head-only top-5",
                by["sw_top5"],
                by["hand_head"],
            ),
            ("seewhy Grad-CAM top-5 vs pytorch-grad-cam GradCAM top-5", by["sw_top5"], by["pgc"]),
        ]
        for label, ours, theirs in info:
            lines.append(f"info  {desc}: {label}: {theirs / ours:.2f}x (> 1: seewhy faster)")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument(
        "--baseline-repeats",
        type=int,
        default=3,
        help="timed runs of the many-pass baselines (pytorch-grad-cam, Captum, whole-network "
        "backward), at most --repeats; they are 5-70x slower, so 3 keep the run short",
    )
    parser.add_argument("--batch", type=int, default=BATCH_DEFAULT, help="images per batch")
    parser.add_argument("--models", default="resnet50,efficientnet_lite0")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--pgc-seven",
        action="store_true",
        help="also time pytorch-grad-cam's six equivalent methods x top-5 (slow: ~5x its row)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target check fails")
    parser.add_argument(
        "--input-images",
        type=int,
        default=INPUT_IMAGES,
        help="images for the input-space rows (guided Grad-CAM, SmoothGrad, IG; 0 skips them)",
    )
    args = parser.parse_args(argv)
    if min(args.repeats, args.baseline_repeats, args.batch, args.threads) < 1:
        parser.error("--repeats, --baseline-repeats, --batch and --threads must be at least 1")
    slow_repeats = min(args.repeats, args.baseline_repeats)

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with OtherLoad() as other:
        results: list[Result] = []
        input_results: list[Result] = []
        for name in [n.strip() for n in args.models.split(",") if n.strip()]:
            target, module, layer_name, desc = build(name)
            torch.manual_seed(0)
            x = torch.randn(args.batch, 3, SIZE, SIZE)
            rows = make_rows(target, module, layer_name, x, pgc_seven=args.pgc_seven)
            print(
                f"[{time.perf_counter() - started:6.1f}s] {desc}, layer {layer_name!r} ...",
                file=sys.stderr,
            )
            measure(rows, args.repeats, slow_repeats)
            results.append((desc, layer_name, rows))
            if args.input_images > 0:
                x = torch.randn(args.input_images, 3, SIZE, SIZE)
                rows = input_space_rows(target, module, layer_name, x)
                measure(rows, args.repeats, slow_repeats)
                input_results.append((f"{desc}, input space", layer_name, rows))

    load = ""
    if other.cores == other.cores:  # not NaN
        load = f"; other processes used {other.cores:.2f} CPU cores on average meanwhile"
        if other.cores > 0.2:
            load += " (so times are inflated and noisy)"
    print(
        f"\nbatch {args.batch} x 3 x {SIZE} x {SIZE}, CPU, torch {torch.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs{load}.\n"
        f"seconds: median of {args.repeats} timed runs ({slow_repeats} for the many-pass "
        "baselines), interleaved across rows, after 1 warm-up run. peak MB: growth of the "
        "process's peak RSS during the warm-up run (kernel VmHWM reset via "
        "/proc/self/clear_refs after gc + malloc_trim).\n"
    )
    print(table(results + input_results, args.markdown))
    print()
    lines, ok = checks(results)
    input_lines, input_ok = input_space_checks(input_results)
    print("\n".join(lines + input_lines))
    ok &= input_ok
    print(f"\ntotal {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
