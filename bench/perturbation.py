"""Perturbation benchmark: occlusion, Score-CAM and Ablation-CAM beside their peers, on the CPU.

The peers are Captum, pytorch-grad-cam and torchcam.

Run ``python bench/perturbation.py`` (``--markdown`` for a Markdown table). One random 224 px
image (``--batch``), the model's top-5 classes found once by a forward pass, and for each
method a row for 1 and for 5 targets, seewhy beside its peers: Captum's ``Occlusion`` and
pytorch-grad-cam's ``ScoreCAM`` / ``AblationCAM`` explain one target per call, so 5 targets
take 5 calls. Timing as in ``bench/engine.py`` (whose helpers this imports): rows interleaved,
median of ``--repeats``; see ``bench/README.md``. A last line gives synthesis iterations per
second (``bench/synthesis.py`` has the full table).

Nothing here downloads anything: ResNet-18 has random weights, EfficientNet-Lite0 the weights
bundled with seewhy.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import seewhy
from seewhy.synthesis import Class

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine  # noqa: E402  (bench/engine.py)
import synthesis as synthesis_bench  # noqa: E402  (bench/synthesis.py)
from engine import OtherLoad, PeakRSS, Row  # noqa: E402

SIZE = engine.SIZE
TOPK = 5
WINDOW, STRIDE = 16, 8
PEER_BATCHES = (8, 16, 32)  # copies per forward tried for the peers
WARMUP_LIMIT = 2.0  # a first run shorter than this (s) is a warm-up; longer ones are timed
MIN_CORRELATION = 0.9
TARGET_SPEEDUP = 4.0
# peer row -> the seewhy row computing the same maps for the same targets
PAIRS = {
    "captum_occ1": "sw_occ1",
    "captum_occ5": "sw_occ5",
    "pgc_score1": "sw_score1",
    "pgc_score5": "sw_score5",
    "tc_score1": "sw_score1",
    "tc_score5": "sw_score5",
    "pgc_abl1": "sw_abl1",
    "pgc_abl5": "sw_abl5",
}


def quiet_pgc() -> None:
    """pytorch-grad-cam's ScoreCAM and AblationCAM draw a tqdm bar per image: disable them."""
    import tqdm
    from pytorch_grad_cam import ablation_cam, score_cam

    silent = types.SimpleNamespace(tqdm=functools.partial(tqdm.tqdm, disable=True))
    score_cam.tqdm = ablation_cam.tqdm = silent


def build(name: str) -> tuple[nn.Module | seewhy.LoadedModel, nn.Module, str, str]:
    """(what seewhy gets, the bare module, layer name, description); see engine.build."""
    if name == "resnet18":
        import torchvision

        torch.manual_seed(0)
        module = torchvision.models.resnet18(weights=None).eval().requires_grad_(True)
        return module, module, "layer4", "ResNet-18 (random weights)"
    if name == "efficientnet_lite0":
        return engine.build(name)
    raise SystemExit(f"unknown model {name!r}; use resnet18 or efficientnet_lite0")


def captum_occlusion(
    model: nn.Module,
    x: torch.Tensor,
    classes: list[list[int]],
    k: int,
    batch: int,
    stride: int = STRIDE,
) -> torch.Tensor:
    """Captum ``Occlusion`` once per target rank: (B, k, H, W)."""
    from captum.attr import Occlusion

    occlusion = Occlusion(model)
    maps = [
        occlusion.attribute(
            x,
            sliding_window_shapes=(3, WINDOW, WINDOW),
            strides=(3, stride, stride),
            baselines=0,
            target=[row[rank] for row in classes],
            perturbations_per_eval=max(1, batch // x.shape[0]),
        )[:, 0]  # the same value in every channel
        for rank in range(k)
    ]
    return torch.stack(maps, 1)


def fastest_peer_batch(model: nn.Module, x: torch.Tensor, classes: list[list[int]]) -> tuple:
    """The copies per forward in ``PEER_BATCHES`` at which the model runs fastest: the best of
    two timed Captum occlusion calls each (top-1, stride 16: a quarter of the windows)."""
    captum_occlusion(model, x, classes, 1, PEER_BATCHES[0], stride=WINDOW)
    times = {batch: float("inf") for batch in PEER_BATCHES}
    for _ in range(2):
        for batch in PEER_BATCHES:
            start = time.perf_counter()
            captum_occlusion(model, x, classes, 1, batch, stride=WINDOW)
            times[batch] = min(times[batch], time.perf_counter() - start)
    return min(times, key=times.__getitem__), times


def make_rows(
    target: nn.Module | seewhy.LoadedModel,
    model: nn.Module,
    layer_name: str,
    x: torch.Tensor,
    classes: list[list[int]],
    peer_batch: int,
    *,
    torchcam: bool,
) -> list[Row]:
    """Every row for one model. Each run returns its maps, (B, targets, H, W) at 224 px.

    ``Row.slow`` marks the peers' 5-target rows (5 calls): at most --baseline-repeats runs."""
    from pytorch_grad_cam import AblationCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = dict(model.named_modules())[layer_name]
    explainer = seewhy.Explainer(target, layer=layer_name)

    def bare_forward() -> object:
        with torch.no_grad():
            return model(x)

    def seewhy_run(method: str, options: dict, k: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            res = explainer.explain(x, methods={method: options}, targets=f"top{k}", progress=False)
            return res.maps[method]

        return run

    def pgc_run(cam_class: type, k: int) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with cam_class(model=model, target_layers=[layer]) as cam:
                cam.batch_size = peer_batch  # copies per forward (per image)
                maps = []
                for rank in range(k):
                    targets = [ClassifierOutputTarget(row[rank]) for row in classes]
                    maps.append(cam(input_tensor=x, targets=targets))
            return torch.from_numpy(np.stack(maps, 1))

        return run

    def torchcam_run(k: int) -> Callable[[], torch.Tensor]:
        from torchcam.methods import ScoreCAM as TorchcamScoreCAM

        def run() -> torch.Tensor:
            with TorchcamScoreCAM(model, layer_name, batch_size=peer_batch) as extractor:
                with torch.no_grad():
                    model(x)  # the hooks catch the layer's output and the input
                maps = [extractor(class_idx=[row[rank] for row in classes])[0] for rank in range(k)]
            return engine._upsample(torch.stack(maps, 1))

        return run

    occlusion = {"window": WINDOW, "stride": STRIDE}
    per = f"{peer_batch} copies per forward"
    rows = [
        Row("bare", "bare forward (no_grad)", bare_forward),
        Row("sw_occ1", "seewhy occlusion, 1 target", seewhy_run("occlusion", occlusion, 1)),
        Row("sw_occ5", "seewhy occlusion, top-5", seewhy_run("occlusion", occlusion, 5)),
        Row(
            "captum_occ1",
            f"Captum Occlusion, 1 target ({per})",
            lambda: captum_occlusion(model, x, classes, 1, peer_batch),
        ),
        Row(
            "captum_occ5",
            "Captum Occlusion, top-5 (5 calls)",
            lambda: captum_occlusion(model, x, classes, TOPK, peer_batch),
            slow=True,
        ),
        Row("sw_score1", "seewhy Score-CAM, 1 target", seewhy_run("scorecam", {}, 1)),
        Row("sw_score5", "seewhy Score-CAM, top-5", seewhy_run("scorecam", {}, 5)),
        Row("pgc_score1", f"pytorch-grad-cam ScoreCAM, 1 target ({per})", pgc_run(ScoreCAM, 1)),
        Row(
            "pgc_score5",
            "pytorch-grad-cam ScoreCAM, top-5 (5 calls)",
            pgc_run(ScoreCAM, TOPK),
            slow=True,
        ),
    ]
    if torchcam:
        rows += [
            Row("tc_score1", f"torchcam 0.5 ScoreCAM, 1 target ({per})", torchcam_run(1)),
            Row(
                "tc_score5",
                "torchcam 0.5 ScoreCAM, top-5 (1 fwd + 5 calls)",
                torchcam_run(TOPK),
                slow=True,
            ),
        ]
    rows += [
        Row("sw_abl1", "seewhy Ablation-CAM, 1 target", seewhy_run("ablationcam", {}, 1)),
        Row("sw_abl5", "seewhy Ablation-CAM, top-5", seewhy_run("ablationcam", {}, 5)),
        Row(
            "pgc_abl1",
            f"pytorch-grad-cam AblationCAM, 1 target ({per})",
            pgc_run(AblationCAM, 1),
        ),
        Row(
            "pgc_abl5",
            "pytorch-grad-cam AblationCAM, top-5 (5 calls)",
            pgc_run(AblationCAM, TOPK),
            slow=True,
        ),
    ]
    return rows


def measure(rows: list[Row], repeats: int, slow_repeats: int) -> dict[str, torch.Tensor]:
    """Interleaved runs as in ``engine.measure``; returns each row's first maps.

    Every row's first run measures its peak memory. Where it takes under ``WARMUP_LIMIT``
    seconds it is a warm-up and not timed; the longer rows (hundreds of forwards, where
    one-time costs vanish) count it as their first timed run.
    """
    rows[0].run()  # one-time initialisation (thread pools, oneDNN) is nobody's row
    first = {}
    for row in rows:
        with PeakRSS() as memory:
            start = time.perf_counter()
            first[row.key] = row.run()
            seconds = time.perf_counter() - start
        row.peak_mb = memory.delta_mb
        if seconds >= WARMUP_LIMIT:
            row.times.append(seconds)
    for _ in range(repeats):
        for row in rows:
            if len(row.times) >= (slow_repeats if row.slow else repeats):
                continue
            start = time.perf_counter()
            result = row.run()
            row.times.append(time.perf_counter() - start)
            del result
    return first


def agreement(first: dict[str, torch.Tensor]) -> list[str]:
    """Each peer's maps against seewhy's for the same targets: the lowest Pearson correlation
    over the (image, target) maps (min-max normalization does not change it)."""
    lines = []
    for peer, ours in PAIRS.items():
        if peer not in first:
            continue
        theirs = first[peer].flatten(2).double()
        mine = first[ours].flatten(2).double()
        theirs = theirs - theirs.mean(-1, keepdim=True)
        mine = mine - mine.mean(-1, keepdim=True)
        corr = (theirs * mine).sum(-1) / (theirs.norm(dim=-1) * mine.norm(dim=-1) + 1e-12)
        low = corr.min().item()
        flag = "ok  " if low > MIN_CORRELATION else "WARN"
        lines.append(f"{flag}  {peer} vs {ours}: maps correlate at least {low:.4f}")
    return lines


# --------------------------------------------------------------------------- report

Result = tuple[str, list[Row]]


def table(results: list[Result], markdown: bool) -> str:
    header = ["model", "row", "seconds (median)", "min s", "x bare forward", "runs"]
    header += ["peak MB", "seewhy faster"]
    lines = []
    for desc, rows in results:
        by = {row.key: row.seconds for row in rows}
        for row in rows:
            ours = PAIRS.get(row.key)
            lines.append(
                [
                    desc,
                    row.label,
                    f"{row.seconds:.3f}",
                    f"{min(row.times):.3f}",
                    f"{row.seconds / by['bare']:.1f}",
                    str(len(row.times)),
                    f"{row.peak_mb:.0f}",
                    f"{row.seconds / by[ours]:.1f}x" if ours else "",
                ]
            )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * 6) + "|"]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(c) for c in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header)] + [fmt.format(*line) for line in lines])


def checks(results: list[Result]) -> tuple[list[str], bool]:
    lines, ok = [], True
    for desc, rows in results:
        by = {row.key: row.seconds for row in rows}
        for label, ours, theirs in (
            ("Score-CAM top-5 vs pytorch-grad-cam ScoreCAM x 5", "sw_score5", "pgc_score5"),
            ("occlusion top-5 vs Captum Occlusion x 5", "sw_occ5", "captum_occ5"),
        ):
            speedup = by[theirs] / by[ours]
            passed = speedup >= TARGET_SPEEDUP
            ok &= passed
            lines.append(
                f"{'PASS' if passed else 'MISS'}  {desc}: {label} >= {TARGET_SPEEDUP:.0f}x "
                f"faster ({speedup:.1f}x)"
            )
        lines.append(
            f"info  {desc}: Ablation-CAM top-5 vs pytorch-grad-cam AblationCAM x 5: "
            f"{by['pgc_abl5'] / by['sw_abl5']:.0f}x faster"
        )
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument(
        "--baseline-repeats",
        type=int,
        default=1,
        help="timed runs of the peers' 5-target rows (5 calls each, 1-2 minutes a run), at "
        "most --repeats",
    )
    parser.add_argument("--batch", type=int, default=1, help="images (default 1)")
    parser.add_argument("--models", default="resnet18", help="resnet18,efficientnet_lite0")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument(
        "--peer-batch",
        type=int,
        default=None,
        help="copies per forward for the peers (default: the fastest of 8/16/32 in a trial)",
    )
    parser.add_argument("--torchcam", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--synthesis-steps", type=int, default=10, help="timed synthesis steps (0: skip)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if min(args.repeats, args.baseline_repeats, args.batch, args.threads) < 1:
        parser.error("--repeats, --baseline-repeats, --batch and --threads must be at least 1")

    warnings.filterwarnings("ignore")
    quiet_pgc()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: list[Result] = []
    notes, agree = [], []
    with OtherLoad() as other:
        for name in [n.strip() for n in args.models.split(",") if n.strip()]:
            target, module, layer_name, desc = build(name)
            desc = f"{desc}, {layer_name}"
            torch.manual_seed(0)
            x = torch.randn(args.batch, 3, SIZE, SIZE)
            with torch.no_grad():
                classes = module(x).topk(TOPK, dim=1).indices.tolist()
            peer_batch = args.peer_batch
            if peer_batch is None:
                peer_batch, trial = fastest_peer_batch(module, x, classes)
                tried = ", ".join(f"{b}: {s:.2f} s" for b, s in trial.items())
                notes.append(
                    f"{desc}: peers run {peer_batch} copies per forward, the fastest in a "
                    f"trial (Captum occlusion, 1 target, stride {WINDOW}, best of 2: {tried})"
                )
            print(f"[{time.perf_counter() - started:6.1f}s] {desc} ...", file=sys.stderr)
            rows = make_rows(
                target, module, layer_name, x, classes, peer_batch, torchcam=args.torchcam
            )
            first = measure(rows, args.repeats, min(args.repeats, args.baseline_repeats))
            agree += [f"{line} ({desc})" for line in agreement(first)]
            results.append((desc, rows))
        rate = None
        if args.synthesis_steps > 0:
            print(f"[{time.perf_counter() - started:6.1f}s] synthesis ...", file=sys.stderr)
            rate = synthesis_bench.iterations_per_second(
                seewhy.load_model("efficientnet_lite0"),
                [Class(285)],
                "fourier",
                args.synthesis_steps,
                2,
            )

    load = ""
    if other.cores == other.cores:  # not NaN
        load = f"; other processes used {other.cores:.2f} CPU cores on average meanwhile"
        if other.cores > 0.2:
            load += " (so times are inflated and noisy)"
    slow_repeats = min(args.repeats, args.baseline_repeats)
    print(
        f"\n{args.batch} x 3 x {SIZE} x {SIZE}, CPU, torch {torch.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs{load}.\n"
        f"seconds: median of {args.repeats} runs ({slow_repeats} for the peers' 5-target "
        f"rows), interleaved across rows; runs under {WARMUP_LIMIT:.0f} s follow an untimed "
        "warm-up. seewhy faster: the peer's seconds / seewhy's for the same targets. "
        f"Occlusion: {WINDOW} px windows, stride {STRIDE}, baseline 0; seewhy uses its default "
        "batching (8 copies of a 224 px image per forward)."
    )
    print("\n".join(notes) + "\n")
    print(table(results, args.markdown))
    if rate is not None:
        print(
            f"\nsynthesis: {rate:.2f} iterations/s (seewhy.synthesize, Class(285), "
            f"EfficientNet-Lite0, fourier, batch 1, {SIZE} px; bench/synthesis.py has the rest)"
        )
    lines, ok = checks(results)
    print("\n" + "\n".join(agree + lines))
    print(f"\ntotal {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
