"""``seewhy evaluate``: score methods, layers and models on a data set.

A thin shell over :func:`seewhy.evaluate.evaluate` and
:func:`seewhy.evaluate.report.write_outputs`::

    seewhy evaluate --data samples --method gradcam --method gradcam++ --out eval/
    torchrun --nproc-per-node 4 -m seewhy evaluate --data samples --method gradcam --out eval/

writes ``eval/results.json``, ``eval/report.md``, ``eval/plots/``, ``eval/failures/`` and
``eval/examples/``; per-image progress in ``eval/progress/`` lets the same command resume.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``evaluate`` subcommand on the ``add_subparsers()`` object ``commands``."""
    from seewhy.cli.visualize import add_fast_flag
    from seewhy.engine.targets import SCORES

    parser = commands.add_parser(
        "evaluate",
        help="score explanation methods on a data set (pointing, boxes, deletion, ...)",
        description="Explain every image of a data set with every method (one pass per batch) "
        "and score the maps with every metric the data supports. Resumable (run the same "
        "command again) and shardable (torchrun --nproc-per-node K -m seewhy evaluate ...).",
    )
    parser.add_argument(
        "--data",
        default="samples",
        help="a folder (class sub-folders, or flat with --boxes), or 'samples' (the built-in "
        "benchmark; default)",
    )
    parser.add_argument(
        "--boxes",
        default=None,
        metavar="PATH",
        help="annotations: a folder of VOC XML files, a COCO instances JSON, or a CSV/JSON of "
        "image, class, x0, y0, x1, y1",
    )
    parser.add_argument(
        "--class-map",
        default=None,
        metavar="FILE",
        help="what the data set's class names (class folders, VOC/COCO/table classes) mean to "
        'the model: a JSON object {"cat": 285, "dog": "golden retriever", "person": null} '
        '(a class index, a label of the model, or null to leave the class out; the key "*" '
        "stands for every name that names no class), or a CSV/TSV of two columns, name then "
        "class (empty: leave it out). Needed for names that are not the model's labels, such "
        "as VOC's and COCO's 'cat' with an ImageNet model",
    )
    parser.add_argument(
        "--model", action="append", help="model name (repeatable; default efficientnet_lite0)"
    )
    parser.add_argument("--crop", action="store_true", help="resize then centre-crop the images")
    parser.add_argument(
        "--method", action="append", help="method name (repeatable; default gradcam)"
    )
    parser.add_argument(
        "--option", action="append", metavar="METHOD:KEY=VALUE", help="a method's option"
    )
    parser.add_argument("--layer", action="append", help="layer name or 'auto' (repeatable)")
    parser.add_argument(
        "--score",
        action="append",
        choices=SCORES,
        help="what the maps explain: logit (default), prob or logprob; repeat to compare them "
        "(each is a separate run of every method; the report says which localizes best)",
    )
    parser.add_argument(
        "--metric",
        action="append",
        help="metric name (repeatable; default: every metric the data supports; 'road' is "
        "opt-in). `seewhy evaluate --list-metrics` lists them",
    )
    parser.add_argument(
        "--metric-option",
        action="append",
        metavar="METRIC:KEY=VALUE",
        help="a metric's option, e.g. deletion:pixels_per_step=448 (repeatable)",
    )
    parser.add_argument("--list-metrics", action="store_true", help="list the metrics and exit")
    parser.add_argument("--limit", type=int, default=None, help="the first N images only")
    parser.add_argument(
        "--batch-size", type=int, default=8, help="images per explanation pass (default 8)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the model's)")
    add_fast_flag(parser, "1.1-3x less time")
    parser.add_argument(
        "--no-figures",
        action="store_true",
        help="write results.json and report.md only (no plots, failure or example figures)",
    )
    parser.add_argument("--out", default="seewhy-eval", help="output folder (default seewhy-eval)")
    return parser


def _metric_options(options: list[str] | None) -> dict[str, dict[str, Any]]:
    """``--metric-option METRIC:KEY=VALUE`` values by metric (each metric checked)."""
    from seewhy.cli.main import parse_option
    from seewhy.metrics.registry import get_metric

    found: dict[str, dict[str, Any]] = {}
    for text in options or []:
        metric, key, value = parse_option(text, "--metric-option", "deletion:pixels_per_step=448")
        get_metric(metric).resolved({key: value})
        found.setdefault(metric, {})[key] = value
    return found


def _command(argv: list[str]) -> str:
    """The command line as results.json records it (``--out`` left out: where the files go
    does not change them)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--out":
            skip = True
            continue
        if arg.startswith("--out="):
            continue
        kept.append(arg)
    return "seewhy " + " ".join(shlex.quote(a) for a in kept)


def _open(args: argparse.Namespace, labels: list[str] | None) -> Any:
    from seewhy.errors import OptionError

    try:
        from seewhy.datasets import open_dataset  # type: ignore[attr-defined]
    except ImportError as error:  # pragma: no cover - until the readers land
        raise OptionError(
            "this seewhy has no data readers (seewhy.datasets.open_dataset)"
        ) from error
    from seewhy.datasets.classes import read_class_map

    class_map = None if args.class_map is None else read_class_map(args.class_map)
    return open_dataset(args.data, args.boxes, labels=labels, limit=args.limit, class_map=class_map)


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """Run ``seewhy evaluate``; bad options raise ``SeewhyError`` (exit 2 in ``main``)."""
    from seewhy.cli.main import with_options
    from seewhy.errors import OptionError
    from seewhy.evaluate import EvaluationRequest, evaluate
    from seewhy.evaluate.distributed import join
    from seewhy.evaluate.report import write_outputs
    from seewhy.evaluate.runner import data_has
    from seewhy.methods.registry import normalize_methods
    from seewhy.metrics.registry import available_metrics, default_metrics
    from seewhy.models import load_model

    if args.list_metrics:
        for name, spec in available_metrics().items():
            needs = ", ".join(spec.needs) or "the model"
            default = "" if spec.default else " (opt-in)"
            print(f"{name:<20} needs {needs}{default}: {spec.summary}")
        return 0
    methods = with_options(normalize_methods(args.method or ["gradcam"]), args.option or [])
    world = join(args.device)
    try:
        models = [
            load_model(name, device=args.device, crop=args.crop or None)
            for name in args.model or ["efficientnet_lite0"]
        ]
        dataset = _open(args, models[0].labels)
        options = _metric_options(args.metric_option)
        names = args.metric or default_metrics(data_has(dataset, dataset.samples[: args.limit]))
        unused = [name for name in options if name not in names]
        if unused:
            raise OptionError(
                f"--metric-option for {unused[0]!r}, which is not run (metrics: {', '.join(names)})"
            )
        metrics = {name: options.get(name, {}) for name in names}
        request = EvaluationRequest(
            models=models,
            methods=methods,
            layer=args.layer or "auto",
            scores=args.score or ["logit"],
            metrics=metrics,
            limit=args.limit,
            batch_size=args.batch_size,
            device=args.device,
            fast=args.fast,
        )
        evaluation = evaluate(dataset, request, args.out, world=world, progress=world.rank == 0)
        if world.rank != 0:
            return 0
        for key, reason in evaluation.skipped:
            print(f"seewhy: skipped {key}: {reason}", file=sys.stderr)
        described = {
            "command": _command(argv if argv is not None else sys.argv[1:]),
            "data": args.data,
            "boxes": args.boxes,
            "class_map": args.class_map,
            "models": [m.name for m in models],
            "layer": request.layer,
            "scores": list(request.scores),
            "limit": args.limit,
            "batch_size": args.batch_size,
            "device": args.device,
            "fast": args.fast,
        }
        paths = write_outputs(evaluation, dataset, described, args.out, figures=not args.no_figures)
        _print_table(evaluation.rows)
        print(f"wrote {paths['results']} and {paths['report'].name}")
        return 0
    finally:
        world.barrier()
        world.close()


def _print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        value = "n/a" if row["value"] is None else f"{row['value']:.4f}"
        print(
            f"{row['model']:<20} {row['method']:<16} {row['score']:<8} {row['metric']:<20} "
            f"{value:>10}  n={row['n']}"
        )
