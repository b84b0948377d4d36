"""Metrics benchmark: deletion / insertion and ROAD beside torchcam and pytorch-grad-cam, on the CPU.

Run ``python bench/metrics.py`` (``--markdown`` for a Markdown table; ``--quick`` for a
development run: 4 images, one method, pytorch-grad-cam's ROAD on 2 of them; ``--road-only``
for the ROAD rows alone).

The images: scikit-image's ``chelsea``, ``coffee``, ``astronaut``, ``rocket``, ``camera`` and
matplotlib's ``grace_hopper.jpg``, each as it is, flipped, rotated and cropped, 64 in all,
resized to 224 px for the bundled EfficientNet-Lite0. Their maps (Grad-CAM and Grad-CAM++ at
the automatic layer, for the top-1 class) are computed once, outside the timings.

Rows (each the median of ``--repeats`` runs):

- **bare forwards**: ``module(x)`` under ``no_grad`` for as many images, in batches of the
  same size, as deletion + insertion score (``2 * N * 225`` copies per method). Timed on
  ``--bare-sample`` batches just before and just after each seewhy row (the mean of the
  two), scaled to the full count.
- **seewhy deletion + insertion**: ``seewhy.metrics.deletion`` and ``insertion`` (RISE:
  224 pixels per step, zeros and blur substrates) for each method.
- ``--exact``: seewhy again with ``fast=False`` (the model run as given, as the peers run it).
- **torchcam**: ``DeletionInsertionMetric(steps=224, batch_size=...)`` given the same maps
  (through a stub extractor), softmax scores: both curves in one ``update``.
- **seewhy ROAD**: ``seewhy.metrics.road`` MoRF + LeRF at 10..90 %, per image.
- **pytorch-grad-cam ROADCombined**: the same 9 percentiles, MoRF + LeRF, softmax targets,
  per image, on ``--road-peer-images`` images (about 10 s each).

Targets (printed as PASS / MISS): deletion + insertion within 1.3x of their bare forwards
and at least 3x faster than torchcam's; ROAD at least 10x faster per image than
pytorch-grad-cam's. Agreement lines: torchcam's deletion AUC against seewhy's (the same
definition), its insertion (zeros start) against seewhy's (blur start), and
pytorch-grad-cam's ROADCombined against ``road_combined`` (different noise draws).

Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import seewhy
import seewhy.metrics as metrics
from seewhy.methods.ops import auto_batch_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import OtherLoad  # noqa: E402  (bench/engine.py)

SIZE = 224
STEP = 224  # RISE's pixels per step: 225 points per curve at 224 px
PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "camera.png")
DELETION_TARGET, TORCHCAM_TARGET, ROAD_TARGET = 1.3, 3.0, 10.0


def photos() -> list[Image.Image]:
    import matplotlib.cbook
    import skimage.data

    folder = os.path.dirname(skimage.data.__file__)
    images = [Image.open(os.path.join(folder, name)).convert("RGB") for name in PHOTOS]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        images.append(Image.open(handle).convert("RGB"))
    return images


def variants(image: Image.Image) -> list[Image.Image]:
    """11 views of a photo: as it is, flipped, rotated, cropped."""
    w, h = image.size

    def crop(share: float, x: float = 0.5, y: float = 0.5) -> Image.Image:
        cw, ch = int(w * share), int(h * share)
        left, top = int((w - cw) * x), int((h - ch) * y)
        return image.crop((left, top, left + cw, top + ch))

    t = Image.Transpose
    return [
        image,
        image.transpose(t.FLIP_LEFT_RIGHT),
        image.transpose(t.FLIP_TOP_BOTTOM),
        image.transpose(t.ROTATE_90),
        image.transpose(t.ROTATE_180),
        image.transpose(t.ROTATE_270),
        crop(0.8),
        crop(0.6),
        crop(0.7, 0, 0),
        crop(0.7, 1, 1),
        crop(0.8).transpose(t.FLIP_LEFT_RIGHT),
    ]


def image_set(count: int) -> list[Image.Image]:
    views = [variants(photo) for photo in photos()]
    mixed = [v[i] for i in range(len(views[0])) for v in views]  # every photo early
    return mixed[:count]


class MapExtractor:
    """Just enough of a torchcam CAM extractor to hand its metric given maps."""

    def __init__(self, model: torch.nn.Module, maps: torch.Tensor) -> None:
        self.model, self.maps = model, maps

    def __call__(self, class_idx=None, scores=None, **kwargs):  # noqa: ANN001
        return [self.maps]

    def fuse_cams(self, cams):  # noqa: ANN001
        return cams[0]

    def _hooks_off(self):  # noqa: ANN202
        return contextlib.nullcontext()


def timed(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--methods", default="gradcam,gradcam++")
    parser.add_argument("--batch-size", type=int, default=None, help="copies per forward")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--bare-sample", type=int, default=40, help="bare batches timed")
    parser.add_argument("--road-peer-images", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="4 images, gradcam, 2 peer ROADs")
    parser.add_argument("--no-torchcam", action="store_true")
    parser.add_argument(
        "--road-only", action="store_true", help="only the ROAD rows (no deletion / insertion)"
    )
    parser.add_argument(
        "--exact", action="store_true", help="also time seewhy with fast=False (as given)"
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.methods, args.road_peer_images = 4, "gradcam", 2
        args.bare_sample = min(args.bare_sample, 10)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr)

    lm = seewhy.load_model("efficientnet_lite0")
    module = lm.module.eval()
    x = lm.preprocess(image_set(args.images))
    n = x.shape[0]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    res = seewhy.Explainer(lm).explain(x, methods=methods, targets="top1", progress=False)
    with torch.no_grad():
        targets = module(x).argmax(1)
    maps = {m: res.maps[m][:, 0] for m in methods}
    batch = args.batch_size or auto_batch_size(x[:1], None)
    say(f"{n} images, {methods}, {batch} copies per forward")

    class Rows(list):
        """The table's rows, each also printed to stderr as it is measured."""

        def append(self, row: tuple[str, float, str]) -> None:
            say(f"{row[0]}: {row[1]:.3f} s {row[2]}")
            super().append(row)

    rows: list[tuple[str, float, str]] = Rows()  # (label, seconds, note)
    checks: list[str] = []
    notes: list[str] = []
    missed = False
    with OtherLoad() as other:
        copies = 2 * n * (SIZE * SIZE // STEP + 1)
        sample = torch.cat([x] * (-(-batch // n)))[:batch]

        def bare_seconds() -> float:
            """The bare forwards of ``copies`` images, from ``--bare-sample`` timed batches."""
            with torch.no_grad():
                module(sample)
                start = time.perf_counter()
                for _ in range(args.bare_sample):
                    module(sample)
                per_copy = (time.perf_counter() - start) / (args.bare_sample * batch)
            return per_copy * copies

        for method in [] if args.road_only else methods:
            say(f"deletion + insertion, {method}")

            def ours(method: str = method, fast: bool = True) -> tuple:
                kw = {"batch_size": batch, "progress": False, "fast": fast}
                d = metrics.deletion(lm, x, maps[method], targets, **kw)
                i = metrics.insertion(lm, x, maps[method], targets, **kw)
                return d, i

            # the bare forwards are sampled just before and after, against drifting load
            before = bare_seconds()
            seconds, (d, i) = timed(ours, args.repeats)
            bare = (before + bare_seconds()) / 2
            rows.append((f"bare forwards, {copies} images ({method} row)", bare, "1.0x bare"))
            ratio = seconds / bare
            rows.append((f"seewhy deletion + insertion, {method}", seconds, f"{ratio:.2f}x bare"))
            if args.exact:
                exact, _ = timed(partial(ours, method, False), args.repeats)
                rows.append(
                    (
                        f"seewhy deletion + insertion, {method}, fast=False",
                        exact,
                        f"{exact / bare:.2f}x bare",
                    )
                )
            passed = ratio <= DELETION_TARGET
            missed |= not passed
            checks.append(
                f"{'PASS' if passed else 'MISS'}  deletion + insertion ({method}) within "
                f"{DELETION_TARGET}x of the bare forwards: {ratio:.2f}x"
            )
            notes.append(
                f"{method}: deletion AUC {d.auc.mean():.4f}, insertion AUC {i.auc.mean():.4f} "
                f"(mean of {n})"
            )
            if args.no_torchcam:
                continue
            from torchcam.metrics import DeletionInsertionMetric

            say(f"torchcam DeletionInsertionMetric, {method}")

            def theirs(method: str = method) -> dict:
                metric = DeletionInsertionMetric(
                    MapExtractor(module, maps[method]),
                    partial(torch.softmax, dim=-1),
                    steps=SIZE * SIZE // STEP,
                    batch_size=batch,
                )
                metric.update(x, class_idx=targets.tolist())
                return metric.summary()

            peer, summary = timed(theirs, args.repeats)
            speedup = peer / seconds
            rows.append(
                (
                    f"torchcam DeletionInsertionMetric, {method}",
                    peer,
                    f"seewhy {speedup:.1f}x faster",
                )
            )
            passed = speedup >= TORCHCAM_TARGET
            missed |= not passed
            checks.append(
                f"{'PASS' if passed else 'MISS'}  deletion + insertion ({method}) >= "
                f"{TORCHCAM_TARGET:.0f}x faster than torchcam: {speedup:.1f}x"
            )
            notes.append(
                f"{method}: torchcam deletion AUC {summary['deletion_auc']:.6f} vs seewhy "
                f"{d.auc.mean():.6f} (same definition); insertion {summary['insertion_auc']:.4f} "
                f"(from zeros) vs seewhy {i.auc.mean():.4f} (from RISE's blur)"
            )

        method = methods[0]
        say(f"ROAD MoRF + LeRF, {method}")

        def road_ours() -> tuple:
            kw = {"batch_size": batch, "progress": False}
            morf = metrics.road(lm, x, maps[method], targets, order="morf", **kw)
            lerf = metrics.road(lm, x, maps[method], targets, order="lerf", **kw)
            return morf, lerf

        seconds, (morf, lerf) = timed(road_ours, args.repeats)
        ours_per_image = seconds / n
        rows.append((f"seewhy ROAD MoRF + LeRF x 9, {method}, per image", ours_per_image, ""))
        combined = metrics.road_combined(morf, lerf)

        from pytorch_grad_cam.metrics.road import ROADCombined
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

        k = min(args.road_peer_images, n)
        say(f"pytorch-grad-cam ROADCombined on {k} images")
        scaled = maps[method][:k]
        flat = scaled.flatten(1)
        low, high = flat.amin(1)[:, None, None], flat.amax(1)[:, None, None]
        cams = ((scaled - low) / (high - low).clamp_min(1e-12)).numpy()
        soft = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets[:k]]

        def road_theirs() -> np.ndarray:
            torch.manual_seed(0)
            return np.concatenate(
                [
                    ROADCombined()(x[j : j + 1], cams[j : j + 1], soft[j : j + 1], module)
                    for j in range(k)
                ]
            )

        peer, pgc = timed(road_theirs, args.repeats)
        peer_per_image = peer / k
        speedup = peer_per_image / ours_per_image
        rows.append(
            (
                f"pytorch-grad-cam ROADCombined, {method}, per image ({k} images)",
                peer_per_image,
                f"seewhy {speedup:.1f}x faster",
            )
        )
        passed = speedup >= ROAD_TARGET
        missed |= not passed
        checks.append(
            f"{'PASS' if passed else 'MISS'}  ROAD per image >= {ROAD_TARGET:.0f}x faster than "
            f"pytorch-grad-cam: {speedup:.1f}x"
        )
        notes.append(
            f"ROADCombined ({method}, first {k} images): pytorch-grad-cam "
            f"{np.round(pgc, 4).tolist()} vs seewhy {np.round(combined[:k], 4).tolist()} "
            f"(noise drawn differently; seewhy's noise is 0.01 in pixel units)"
        )

    header = ["row", "seconds", "note"]
    lines = [[label, f"{s:.3f}", note] for label, s, note in rows]
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|---|---:|---|")
        print("\n".join("| " + " | ".join(line) + " |" for line in lines))
    else:
        width = max(len(line[0]) for line in lines)
        for line in lines:
            print(f"{line[0]:<{width}}  {line[1]:>9}  {line[2]}")
    print()
    print("\n".join(checks))
    print("\n".join(f"info  {note}" for note in notes))
    print(
        f"info  threads {args.threads}; other processes used {other.cores:.2f} cores on "
        f"average while this ran; total {time.perf_counter() - started:.0f} s"
    )
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
