"""Engine benchmark: seewhy's one-pass CAM engine against the usual CAM libraries, on the CPU.

Run ``python bench/engine.py`` (``--markdown`` for a Markdown table). For each model, a batch
of 8 random 224 px images and every row below, the wall time is the median of ``--repeats``
runs after one warm-up run; the rows are interleaved (repeat 1 of every row, then repeat 2...)
so background load hits them alike. See ``bench/README.md`` for what each row does.

Nothing here downloads anything: ResNet-50 has random weights, EfficientNet-Lite0 the weights
bundled with seewhy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
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


def _rss_bytes() -> int | None:
    """The resident set size of this process, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakRSS:
    """Samples the process RSS every ``interval`` s in a thread; ``delta_mb`` is the peak
    above the RSS at entry. Torch's CPU allocations do not show in tracemalloc, and
    ``ru_maxrss`` is a process-wide high-water mark, so sampling is the honest per-row view
    (allocations that live shorter than the interval can be missed)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_bytes() or 0
            if rss > self.peak:
                self.peak = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss_bytes() or 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        rss = _rss_bytes() or 0
        self.peak = max(self.peak, rss)
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def delta_mb(self) -> float:
        return max(0, self.peak - self.base) / 2**20


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    key: str
    label: str
    run: Callable[[], object]
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def peak_mb(self) -> float:
        return statistics.median(self.peaks)


def _upsample(maps: torch.Tensor) -> torch.Tensor:
    return F.interpolate(maps, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def _gradcam_maps(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """(B, K, h, w) x (B, K, h, w) -> (B, 1, h, w) Grad-CAM."""
    weights = gradients.mean(dim=(-2, -1), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1, keepdim=True))


def make_rows(model: nn.Module, layer_name: str, x: torch.Tensor, *, pgc_seven: bool) -> list[Row]:
    """Every benchmark row for one model and its target layer."""
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
    explainer = seewhy.Explainer(model, layer=layer_name)

    def bare_forward() -> object:
        with torch.no_grad():
            return model(x)

    def seewhy_run(methods: list[str], targets: str) -> Callable[[], object]:
        return lambda: explainer.explain(x, methods=methods, targets=targets, progress=False)

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
        Row("pgc", "pytorch-grad-cam GradCAM, top-5 (5 calls)", pgc_top5),
    ]
    if pgc_seven:
        rows.append(
            Row("pgc7", "pytorch-grad-cam 5 grad methods x 5 calls + EigenCAM", pgc_seven_run)
        )
    rows += [
        Row("captum", "Captum LayerGradCam, top-5 (1 fwd + 5 calls)", captum_top5),
        Row("torchcam", "torchcam 0.5 GradCAM, top-5 (1 fwd + 5 grads)", torchcam_top5),
        Row(
            "hand_full",
            "hand-written: 1 fwd + 5 x backward() through the network",
            lambda: handwritten_top5(True),
        ),
        Row(
            "hand_head",
            "hand-written: 1 fwd + 5 x autograd.grad to the layer",
            lambda: handwritten_top5(False),
        ),
    ]
    return rows


def measure(rows: list[Row], repeats: int) -> None:
    """One warm-up run of every row, then ``repeats`` interleaved timed runs."""
    for row in rows:
        row.run()
    for _ in range(repeats):
        for row in rows:
            with PeakRSS() as memory:
                start = time.perf_counter()
                result = row.run()
                row.times.append(time.perf_counter() - start)
            del result
            row.peaks.append(memory.delta_mb)


# --------------------------------------------------------------------------- models


def build(name: str) -> tuple[nn.Module, str, str]:
    """(module in eval mode, layer name, description) for a model name."""
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision

        module = torchvision.models.resnet50(weights=None).eval()
        return module, "layer4", "ResNet-50 (random weights)"
    if name == "efficientnet_lite0":
        loaded = seewhy.load_model("efficientnet_lite0")
        module = loaded.module.eval()
        example = torch.zeros(1, 3, SIZE, SIZE)
        layer = seewhy.Explainer(loaded, layer="auto").layers_for(example)[0]
        return module, layer, "EfficientNet-Lite0 (bundled weights)"
    raise SystemExit(f"unknown model {name!r}; use resnet50 or efficientnet_lite0")


# --------------------------------------------------------------------------- report


Result = tuple[str, str, list[Row]]  # (description, layer name, rows)


def table(results: list[Result], markdown: bool) -> str:
    header = ["model", "layer", "row", "seconds (median)", "x bare forward", "peak RSS +MB"]
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
                    f"{row.peak_mb:.0f}",
                ]
            )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 3) + "|"]
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
            ("all 7 x top-5 vs torchcam 0.5 GradCAM top-5", seven, by["torchcam"]),
            ("all 7 x top-5 vs hand-written head-only top-5", seven, by["hand_head"]),
            ("seewhy Grad-CAM top-5 vs pytorch-grad-cam GradCAM top-5", by["sw_top5"], by["pgc"]),
        ]
        for label, ours, theirs in info:
            lines.append(f"info  {desc}: {label}: {theirs / ours:.2f}x faster")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median)")
    parser.add_argument("--batch", type=int, default=BATCH_DEFAULT, help="images per batch")
    parser.add_argument("--models", default="resnet50,efficientnet_lite0")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--pgc-seven",
        action="store_true",
        help="also time pytorch-grad-cam's six equivalent methods x top-5 (slow: ~5x its row)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1:
        parser.error("--repeats and --batch must be at least 1")

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: list[Result] = []
    for name in [n.strip() for n in args.models.split(",") if n.strip()]:
        module, layer_name, desc = build(name)
        torch.manual_seed(0)
        x = torch.randn(args.batch, 3, SIZE, SIZE)
        rows = make_rows(module, layer_name, x, pgc_seven=args.pgc_seven)
        print(f"[{time.perf_counter() - started:6.1f}s] {desc}, layer {layer_name!r} ...", file=sys.stderr)
        measure(rows, args.repeats)
        results.append((desc, layer_name, rows))

    print(
        f"\nbatch {args.batch} x 3 x {SIZE} x {SIZE}, CPU, torch {torch.__version__}, "
        f"{args.threads} threads; median of {args.repeats} interleaved runs after 1 warm-up; "
        "peak RSS +MB = median over runs of the peak resident set size (sampled every 5 ms) "
        "above the RSS just before the run\n"
    )
    print(table(results, args.markdown))
    print()
    lines, ok = checks(results)
    print("\n".join(lines))
    print(f"\ntotal {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
