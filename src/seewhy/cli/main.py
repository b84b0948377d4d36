"""``seewhy``: explain, list layers, list models and methods, visualize, sanity-check.

Each subcommand parses its options, calls the Python API and formats the answer; bad
options end with a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from seewhy.cli import evaluate, sanity, serve, visualize
from seewhy.data import example_image
from seewhy.engine.targets import SCORES
from seewhy.errors import SeewhyError


def build_parser() -> argparse.ArgumentParser:
    from seewhy._version import __version__

    parser = argparse.ArgumentParser(prog="seewhy", description="Show why a CNN made a prediction.")
    parser.add_argument("--version", action="version", version=f"seewhy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    explain = commands.add_parser(
        "explain", help="explain images with one or more methods and models"
    )
    explain.add_argument(
        "inputs", nargs="*", help="image files or folders (default: the bundled cat photo)"
    )
    explain.add_argument(
        "--model",
        action="append",
        help="model name (repeat for models side by side, all explaining the first model's "
        "classes; default efficientnet_lite0)",
    )
    explain.add_argument(
        "--weights",
        action="append",
        help="checkpoint path, or 'random' (one per --model, or one for all)",
    )
    explain.add_argument(
        "--labels",
        action="append",
        metavar="FILE",
        help="class names: one per line, or a JSON list or {id: name} dict (one per --model, or one for all)",
    )
    explain.add_argument(
        "--crop",
        action="store_true",
        help="resize the shorter side, then centre-crop (torchvision's convention) instead of "
        "squashing the whole photo to a square",
    )
    explain.add_argument("--layer", action="append", help="layer name or 'auto' (repeatable)")
    explain.add_argument(
        "--method", action="append", help="method name (repeatable; default gradcam)"
    )
    explain.add_argument(
        "--option",
        action="append",
        metavar="METHOD:KEY=VALUE",
        help="a method's option, e.g. occlusion:window=32 or scorecam:batch_size=64 (repeatable)",
    )
    group = explain.add_mutually_exclusive_group()
    group.add_argument("--top", type=int, metavar="K", help="explain the top K classes (default 1)")
    group.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="C",
        help="class id or label name (repeatable)",
    )
    explain.add_argument(
        "--score",
        default="logit",
        choices=SCORES,
        help="what to differentiate (default logit)",
    )
    explain.add_argument(
        "--counterfactual",
        action="store_true",
        help="negate the gradients: regions that argue against the class",
    )
    explain.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, ... (default: the model's device)"
    )
    explain.add_argument(
        "--batch-size", type=int, default=16, help="images per forward pass (default 16)"
    )
    visualize.add_fast_flag(explain, "1.1-3x less time")
    explain.add_argument(
        "--boxes",
        action="store_true",
        help="draw each map's localization box (its largest segment at --box-threshold of its "
        "max) on its panel (figure and overlays) and list the boxes in report.json",
    )
    explain.add_argument(
        "--box-threshold",
        type=float,
        default=None,
        metavar="SHARE",
        help="the share of a map's maximum its box's pixels reach (default 0.15, Grad-CAM's); "
        "implies --boxes",
    )
    explain.add_argument("--out", default="seewhy-out", help="output folder (default seewhy-out)")
    explain.add_argument(
        "--scale",
        default="image",
        choices=("map", "image", "global"),
        help="which maps share a colour scale: each map its own, one per method for an "
        "image's targets (default), or one per method for the whole run",
    )
    explain.add_argument(
        "--save",
        default="figure,maps",
        metavar="WHAT",
        help="files to write, comma separated from figure, overlays (one picture per map), "
        "maps (.npy); report.json is always written (default figure,maps)",
    )
    explain.add_argument(
        "--overlay-format",
        default="png",
        choices=("png", "jpeg", "webp"),
        help="overlay image format (default png)",
    )

    layers = commands.add_parser(
        "layers", help="list a model's candidate layers, the automatic choice marked"
    )
    layers.add_argument("model")
    layers.add_argument(
        "--weights",
        default=None,
        help="checkpoint path (default: random weights; the layers are the same)",
    )
    layers.add_argument(
        "--all",
        action="store_true",
        help="list every module, not only those with a map, grid or token output "
        "(Identity and pure containers included)",
    )

    commands.add_parser("models", help="list bundled and known model names")
    commands.add_parser("methods", help="list the registered explanation methods")
    visualize.add_parser(commands)
    sanity.add_parser(commands)
    evaluate.add_parser(commands)
    serve.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seewhy`` console script."""

    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "out", None) is not None:
            check_out(args.out)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            if args.command == "evaluate":
                return evaluate.run(args, list(argv) if argv is not None else None)
            return _run(args)
    except SeewhyError as error:
        print(f"seewhy: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file that could not be written (a full disk, permissions)
        where = f" ({error.filename})" if error.filename else ""
        print(f"seewhy: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("seewhy: interrupted", file=sys.stderr)
        return 130


def check_out(path: str) -> None:
    """A SeewhyError, before any work, when ``--out`` cannot be a folder: a file is there,
    or its nearest existing parent is not a folder this process can write into."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise SeewhyError(f"--out {path!r} is a file, not a folder: give a folder to write into")
    parent = target
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SeewhyError(
            f"--out {path!r} cannot be made: {parent} is not a folder seewhy can write into"
        )


def run() -> None:
    """The ``seewhy`` console script and ``python -m seewhy``: :func:`main`, then exit at once.

    Once ``main`` has returned, every file is written and closed and every thread joined;
    what is left is the interpreter tearing down its modules, which with PyTorch loaded
    takes 0.5-1 s (``python -c "import torch"``: 4.1 s against 3.3 s with ``os._exit``,
    2 cores). So the standard streams are flushed and the process exits with ``os._exit``.
    An exception from ``main`` propagates as usual (with the normal teardown).
    """
    try:
        code = main()
    except BrokenPipeError:  # the reader left while a print filled the pipe's buffer
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):  # a closed pipe, e.g. `seewhy ... | head`
        code = code or 1
    os._exit(code)


def _run(args: argparse.Namespace) -> int:
    if args.command == "explain":
        return _explain(args)
    if args.command == "layers":
        return _layers(args)
    if args.command == "models":
        return _models()
    if args.command == "visualize":
        return visualize.run(args)
    if args.command == "sanity":
        return sanity.run(args)
    if args.command == "serve":
        return serve.run(args)
    return _methods()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """seewhy's own warnings as one line, like its errors; others as Python prints them."""
    import seewhy
    from seewhy.errors import SeewhyWarning

    package = os.path.dirname(os.path.abspath(seewhy.__file__))
    if issubclass(category, SeewhyWarning) or os.path.abspath(filename).startswith(package):
        print(f"seewhy: warning: {message}", file=file or sys.stderr)
    else:
        print(
            warnings.formatwarning(message, category, filename, lineno, line),
            end="",
            file=file or sys.stderr,
        )


def parse_option(
    text: str, flag: str = "--option", example: str = "occlusion:window=32"
) -> tuple[str, str, object]:
    """``"METHOD:KEY=VALUE"`` -> (method, key, value), the value read by :func:`parse_value`.

    The method is everything before the last ``:`` ahead of ``=``, so
    ``smooth:gradcam:relu=false`` sets ``relu`` of ``smooth:gradcam``. ``flag`` and
    ``example`` name the option in the error (``--metric-option``: a metric's)."""
    from seewhy.errors import SeewhyError

    left, equals, raw = text.partition("=")
    method, colon, key = left.rpartition(":")
    if not (colon and equals and method.strip() and key.strip()):
        what = "METRIC" if flag == "--metric-option" else "METHOD"
        raise SeewhyError(f"{flag} {text!r} is not {what}:KEY=VALUE (for example {example})")
    return method.strip(), key.strip(), parse_value(raw)


def parse_value(text: str) -> object:
    """An option's value from its text: ``true``/``false`` in any case as booleans, ``none``
    as None, whole numbers as ints, other numbers as floats, ``(16, 8)`` or ``[16, 8]`` as a
    tuple, ``{...}`` as a dict; anything else is the string itself. Whether the value fits
    the option is the method's declared type's to say (:func:`check_options`)."""
    import ast

    raw = text.strip()
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    if raw[:1] in ("(", "[", "{"):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw
        return tuple(value) if isinstance(value, list) else value
    return raw


def with_options(
    methods: dict[str, dict[str, Any]], options: list[str]
) -> dict[str, dict[str, Any]]:
    """``methods`` with each ``--option`` added to its method, which must be requested; each
    value checked against the type the method declares for it."""
    from seewhy.errors import MethodError, suggestion
    from seewhy.methods.registry import check_options

    for text in options:
        method, key, value = parse_option(text)
        if method not in methods:
            raise MethodError(
                f"--option {text!r} is for {method!r}, which is not requested.{suggestion(method, methods)} "
                f"Requested: {', '.join(methods)}"
            )
        check_options(method, {key: value})
        methods[method][key] = value
    return methods


#: Images explained per call of ``seewhy explain``: the writing of one part overlaps the
#: explanation of the next (one batch at the default ``--batch-size`` of 16).
CHUNK = 16


def _distinct_names(models: list[Any], weights: list[str | None]) -> None:
    """Models given more than once (``--model M --weights a.pth --model M --weights b.pth``)
    renamed by their weights file (``M@a``), else by their place (``M#2``): results, their
    files and figures are told apart by the model's name."""
    names = [m.name for m in models]
    for i, model in enumerate(models):
        if names.count(model.name) > 1:
            model.name = f"{names[i]}@{Path(weights[i]).stem}" if weights[i] else names[i]
    renamed = [m.name for m in models]
    for i, model in enumerate(models):
        if renamed.count(renamed[i]) > 1:
            model.name = f"{names[i]}#{i + 1}"


def _explain(args: argparse.Namespace) -> int:
    """``seewhy explain``: the inputs explained a part (:data:`CHUNK` images) at a time,
    each part written by a :class:`~seewhy.report.ResultWriter` in worker threads while the
    next is explained (with ``--scale global`` all at once: one scale needs every map)."""
    from seewhy.errors import ImageError, warn
    from seewhy.explain import Explainer, explain_models
    from seewhy.io import list_inputs, load_inputs, skipped_note
    from seewhy.methods.registry import normalize_methods
    from seewhy.models import load_model
    from seewhy.report import ResultWriter
    from seewhy.result import InputRecord

    models = args.model or ["efficientnet_lite0"]
    weights = _per_model(args.weights, models, "--weights")
    labels = _per_model(args.labels, models, "--labels")
    methods = with_options(normalize_methods(args.method or ["gradcam"]), args.option or [])
    if args.top is not None and args.top < 1:
        raise SeewhyError(f"--top must be at least 1, got {args.top}")
    if args.box_threshold is not None:
        args.boxes = True  # a threshold asks for boxes
    else:
        args.box_threshold = 0.15
    if not 0.0 <= args.box_threshold <= 1.0:
        raise SeewhyError(
            f"--box-threshold is a share of the map's maximum in [0, 1], got {args.box_threshold}"
        )
    what = [part.strip() for part in args.save.split(",") if part.strip()]
    targets = _per_image(args.classes if args.classes else f"top{args.top or 1}")
    try:
        inputs, skipped = list_inputs(args.inputs or [str(example_image())])
    except ImageError as error:  # nothing to read (an empty folder, a missing file): 1
        print(f"seewhy: error: {error}", file=sys.stderr)
        return 1
    if skipped:
        warn(skipped_note(skipped))
    explainers = [
        Explainer(
            load_model(name, weight, labels=label, device=args.device, crop=args.crop or None),
            layer=args.layer or "auto",
            batch_size=args.batch_size,
            fast=args.fast,
        )
        for name, weight, label in zip(models, weights, labels)
    ]
    _distinct_names([e.model for e in explainers], weights)
    chunk = len(inputs) if args.scale == "global" else CHUNK
    lines: list[list[str]] = [[] for _ in explainers]  # printed model by model
    errors: list[InputRecord] = []
    failure: ImageError | None = None
    with ResultWriter(
        args.out,
        scale=args.scale,
        what=what,
        overlay_format=args.overlay_format,
        box_threshold=args.box_threshold if args.boxes else None,
        total=len(inputs),
        progress=len(inputs) * len(explainers) > 4,
    ) as writer:
        writer.skipped(skipped)
        for start in range(0, len(inputs), chunk):
            part = inputs[start : start + chunk]
            try:
                results = explain_models(
                    explainers,
                    part,
                    methods,
                    targets,
                    score=args.score,
                    counterfactual=args.counterfactual,
                    progress=False,
                )
            except ImageError as error:  # no image of this part could be read
                records = error.records
                if records is None:  # the raiser did not list the inputs: read them to know why
                    records = [InputRecord(i.source, None, i.error) for i in load_inputs(part)]
                if any(r.ok for r in records):
                    raise
                writer.write_errors(records, explainers[0].model.name)
                errors += records
                failure = error
                continue
            writer.write(results)
            errors += results[0].errors
            for own, result in zip(lines, results):
                own += [
                    f"{source} [{result.model_name}]: {result.target_label(b, 0)}"
                    for b, source in enumerate(result.sources)
                ]
    if not lines[0]:
        for record in errors:
            print(f"seewhy: {record.error}", file=sys.stderr)
        print(f"seewhy: error: {failure or 'no image could be read'}", file=sys.stderr)
        return 1
    for record in errors:
        print(f"seewhy: skipped {record.error}", file=sys.stderr)
    print("\n".join(line for own in lines for line in own))
    written = [{"figure": "figures"}.get(w, w) for w in what]
    print(f"wrote {writer.report.parent}/ ({', '.join([*written, writer.report.name])})")
    return 0


def _per_model(values: list[str] | None, models: list[str], flag: str) -> list[str | None]:
    """One value of a repeatable flag per model: none given (None each), one for all, or
    one per ``--model`` in order."""
    if not values:
        return [None] * len(models)
    if len(values) == 1:
        return values * len(models)
    if len(values) != len(models):
        raise SeewhyError(
            f"give one {flag} for all models or one per --model, in order: got "
            f"{len(values)} {flag} for {len(models)} models"
        )
    return list(values)


def _per_image(targets: object) -> object:
    """CLI classes apply to every image: one class, or several as :class:`Classes`."""
    from seewhy.engine.targets import Classes

    if isinstance(targets, list):
        return targets[0] if len(targets) == 1 else Classes(targets)
    return targets


def _layers(args: argparse.Namespace) -> int:
    import torch

    from seewhy.engine.layers import auto_layer, probe_layers
    from seewhy.models import load_model

    model = load_model(args.model, args.weights or _random_unless_bundled(args.model))
    example = torch.zeros(1, len(model.mean), model.input_size, model.input_size)
    chosen = auto_layer(model.module, example)
    for info in probe_layers(model.module, example):
        if not (args.all or (info.spatial and not info.redundant) or info.name == chosen):
            continue
        mark = "*" if info.name == chosen else " "
        shape = "x".join(map(str, info.shape[1:])) if info.shape else "-"
        reading = f"  ({info.reading})" if info.reading not in (None, "channels-first") else ""
        print(f"{mark} {info.name:<40} {info.kind:<24} {shape}{reading}")
    print(f"(* = layer='auto' picks {chosen!r})")
    return 0


def _random_unless_bundled(name: str) -> str | None:
    """The bundled weights (on disk), else random ones: the layers are the same, and a
    library model's pretrained weights would be downloaded only to list them."""
    from seewhy.models.registry import BUNDLED

    return None if name.removeprefix("bundled:") in BUNDLED else "random"


def _models() -> int:
    from seewhy.models import known_models

    for name, description in known_models().items():
        print(f"{name:<22} {description}")
    print(
        "Also: any torchvision classifier name (e.g. resnet50) and any timm name (e.g. timm:convnext_tiny)."
    )
    return 0


def _methods() -> int:
    from seewhy.methods import available_methods

    methods = available_methods()
    for family in ("cam", "input"):
        for name, spec in methods.items():
            if spec.family == family:
                print(f"{name:<22} {spec.summary}")
    print(
        f"{'smooth:<method>':<22} any method above averaged over noisy copies (e.g. smooth:gradcam++)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
