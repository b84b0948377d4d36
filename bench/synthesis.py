"""Synthesis benchmark: optimizer iterations per second on the CPU.

Run ``python bench/synthesis.py`` (``--markdown`` for a Markdown table). Each row runs
:func:`seewhy.synthesis.synthesize` on the bundled EfficientNet-Lite0 at 224 px with the
default regularizers (random jitter, scale and rotation), for one image (batch 1) or sixteen
(batch 16: sixteen classes or sixteen filters optimized together, one forward/backward per
step). The rate is taken from the step callbacks after ``--warmup`` steps, so loading and the
first (probe) forward are not counted. An iteration of a batch updates every image in it;
images per second = iterations per second x batch.

Rows: class visualization (``Class``, the full network) and filter visualization
(``Channel`` of ``--layer``: the forward pass stops after that layer), each with the
``pixel`` and ``fourier`` parameterizations. Each row runs with seewhy's ``fast`` default
(BatchNorms folded into their convolutions, images channels-last) and with ``fast=False``
(the model exactly as given), one after the other.
"""

from __future__ import annotations

import argparse
import time

import torch

import seewhy
from seewhy.synthesis import Channel, Class, synthesize

SIZE = 224


def iterations_per_second(
    model, objectives, parameterization: str, steps: int, warmup: int, fast: bool = True
):
    stamps: list[float] = []
    synthesize(
        model,
        objectives,
        steps=warmup + steps,
        parameterization=parameterization,
        progress=False,
        callback=lambda step, values: stamps.append(time.perf_counter()),
        fast=fast,
    )
    return steps / (stamps[-1] - stamps[warmup - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--layer", default="blocks.4", help="filter layer (default blocks.4)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = seewhy.load_model("efficientnet_lite0")
    rows = []
    for kind in ("class", "filter"):
        for parameterization in ("pixel", "fourier"):
            for batch in (1, 16):
                if kind == "class":
                    objectives = [Class(285 + k) for k in range(batch)]
                else:
                    objectives = [Channel(args.layer, k) for k in range(batch)]
                rate, exact = (
                    iterations_per_second(
                        model,
                        objectives,
                        parameterization,
                        args.steps,
                        max(args.warmup, 1),
                        fast=fast,
                    )
                    for fast in (True, False)
                )
                rows.append((kind, parameterization, batch, rate, rate * batch, exact))
    print(f"EfficientNet-Lite0, {SIZE} px, CPU, {torch.get_num_threads()} thread(s)")
    if args.markdown:
        print(
            "| objective | parameterization | batch | it/s | images/s | it/s fast=False | fast gain |"
        )
        print("|---|---|---|---:|---:|---:|---:|")
        for kind, parameterization, batch, rate, images, exact in rows:
            label = "class" if kind == "class" else f"filter ({args.layer})"
            print(
                f"| {label} | {parameterization} | {batch} | {rate:.2f} | {images:.2f} "
                f"| {exact:.2f} | {rate / exact:.2f}x |"
            )
        return
    header = f"{'objective':<18} {'param':<8} {'batch':>5} {'it/s':>8} {'images/s':>9}"
    print(f"{header} {'fast=False':>10} {'gain':>6}")
    for kind, parameterization, batch, rate, images, exact in rows:
        label = "class" if kind == "class" else f"filter {args.layer}"
        print(
            f"{label:<18} {parameterization:<8} {batch:>5} {rate:>8.2f} {images:>9.2f} "
            f"{exact:>10.2f} {rate / exact:>5.2f}x"
        )


if __name__ == "__main__":
    main()
