"""``seewhy sanity``: Adebayo et al.'s model parameter randomisation test from the shell.

A thin shell over :func:`seewhy.metrics.sanity_check`::

    seewhy sanity cat.jpg --method gradcam --method guided_backprop --mode cascading --out sanity/

writes ``sanity.json`` (``{method: {"layers", "spearman", "spearman_abs", "ssim", "hog"}}``,
averaged over the images, one value per step, ``"trained"`` first), ``sanity_plot.png`` and
``sanity_grid.png`` (the first image's maps, one row per step), and prints the table.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``sanity`` subcommand on the ``add_subparsers()`` object ``commands``."""
    from seewhy.cli.visualize import add_fast_flag
    from seewhy.metrics.randomize import INITS
    from seewhy.metrics.sanity import DRAWS, MODES

    parser = commands.add_parser(
        "sanity",
        help="randomise the model's layers from the output down and measure how much each "
        "method's maps change (Adebayo et al. 2018)",
    )
    parser.add_argument(
        "inputs", nargs="*", help="image files or folders (default: the bundled cat photo)"
    )
    parser.add_argument(
        "--model", default="efficientnet_lite0", help="model name (default efficientnet_lite0)"
    )
    parser.add_argument("--weights", default=None, help="checkpoint path")
    parser.add_argument(
        "--method",
        action="append",
        help="method name (repeatable; default gradcam, gradient, guided_backprop)",
    )
    parser.add_argument("--mode", choices=MODES, default="cascading", help="default cascading")
    parser.add_argument(
        "--randomize",
        action="append",
        metavar="NAMES",
        help="one step: a module name, or names joined by '+' randomised together "
        "(repeatable, from the output down; default: the model's blocks)",
    )
    parser.add_argument("--layer", action="append", help="layer of the CAM methods (default auto)")
    parser.add_argument(
        "--init", choices=INITS, default="normal", help="how weights are drawn (default normal)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--draws",
        type=int,
        default=DRAWS,
        help=f"independent randomisations averaged (default {DRAWS})",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the model's)")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="images per forward pass (default 16)"
    )
    add_fast_flag(parser, "1.1-3x less time")
    parser.add_argument("--out", default="seewhy-sanity", help="output folder")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``seewhy sanity``; bad options raise ``SeewhyError`` (exit 2 in ``main``)."""
    from seewhy.data import example_image
    from seewhy.errors import SeewhyError
    from seewhy.metrics import sanity_check
    from seewhy.metrics.sanity import METRICS
    from seewhy.models import load_model

    for step in args.randomize or []:
        if not all(name.strip() for name in step.split("+")):
            raise SeewhyError(
                f"bad --randomize {step!r}: give a module name, or names joined by '+' "
                "(conv_head+bn2); `seewhy layers MODEL --all` lists them"
            )
    model = load_model(args.model, args.weights, device=args.device)
    result = sanity_check(
        model,
        args.inputs or [str(example_image())],
        args.method or ["gradcam", "gradient", "guided_backprop"],
        args.mode,
        layers=[step.split("+") for step in args.randomize] if args.randomize else None,
        layer=args.layer or "auto",
        init=args.init,
        seed=args.seed,
        draws=args.draws,
        fast=args.fast,
        batch_size=args.batch_size,
        progress=True,
    )
    for error in result.skipped:
        print(f"seewhy: skipped {error}", file=sys.stderr)
    paths = result.save(args.out)
    summary = result.summary()
    width = max(len(step) for step in result.steps)
    for method in result.methods:
        draws = f", mean of {result.draws} draws" if result.draws > 1 else ""
        print(f"{method} ({args.mode}, {len(result.sources)} images{draws})")
        print(f"  {'randomised':<{width}}  " + "  ".join(f"{m:>12}" for m in METRICS))
        for row, step in enumerate(result.steps):
            values = [summary[method][metric][row] for metric in METRICS]
            cells = ["nan" if v is None else f"{v:.3f}" for v in values]
            print(f"  {step:<{width}}  " + "  ".join(f"{c:>12}" for c in cells))
    for method, reason in result.refused.items():
        print(f"seewhy: {method} was not run: {reason}", file=sys.stderr)
    print(f"wrote {paths['json']}, {paths['plot'].name}, {paths['grid'].name}")
    return 0
