"""``seewhy``: explain, list layers, list models and methods.

Each subcommand parses its options, calls the Python API and formats the answer; bad
options end with a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from seewhy.cli import visualize
from seewhy.data import example_image
from seewhy.engine.targets import SCORES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seewhy", description="Show why a CNN made a prediction.")
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
        help="model name (repeat for models side by side; default efficientnet_lite0)",
    )
    explain.add_argument(
        "--weights",
        action="append",
        help="checkpoint path, or 'random' (one per --model, or one for all)",
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
        "--all", action="store_true", help="list every module, not only spatial ones"
    )

    commands.add_parser("models", help="list bundled and known model names")
    commands.add_parser("methods", help="list the registered explanation methods")
    visualize.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seewhy`` console script."""
    from seewhy.errors import SeewhyError

    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _run(args)
    except SeewhyError as error:
        print(f"seewhy: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seewhy: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "explain":
        return _explain(args)
    if args.command == "layers":
        return _layers(args)
    if args.command == "models":
        return _models()
    if args.command == "visualize":
        return visualize.run(args)
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


def parse_option(text: str) -> tuple[str, str, object]:
    """``"METHOD:KEY=VALUE"`` -> (method, key, value); the value is a Python literal when it
    reads as one (``32``, ``0.5``, ``True``, ``(16, 8)``), else the string itself."""
    import ast

    from seewhy.errors import SeewhyError

    method, colon, rest = text.partition(":")
    key, equals, raw = rest.partition("=")
    if not (colon and equals and method and key):
        raise SeewhyError(
            f"--option {text!r} is not METHOD:KEY=VALUE (for example occlusion:window=32)"
        )
    try:
        value: object = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return method.strip(), key.strip(), value


def with_options(
    methods: dict[str, dict[str, Any]], options: list[str]
) -> dict[str, dict[str, Any]]:
    """``methods`` with each ``--option`` added to its method, which must be requested."""
    from seewhy.errors import MethodError, suggestion

    for text in options:
        method, key, value = parse_option(text)
        if method not in methods:
            raise MethodError(
                f"--option {text!r} is for {method!r}, which is not requested.{suggestion(method, methods)} "
                f"Requested: {', '.join(methods)}"
            )
        methods[method][key] = value
    return methods


def _explain(args: argparse.Namespace) -> int:
    from seewhy.errors import ImageError, SeewhyError
    from seewhy.explain import Explainer
    from seewhy.io import load_inputs
    from seewhy.methods.registry import normalize_methods
    from seewhy.models import load_model
    from seewhy.report import error_entries, save_results, write_report
    from seewhy.result import InputRecord

    models = args.model or ["efficientnet_lite0"]
    weights = args.weights or [None]
    if len(weights) not in (1, len(models)):
        raise SeewhyError(
            f"give one --weights for all models or one per --model: got {len(weights)} for {len(models)} models"
        )
    if len(weights) == 1:
        weights = weights * len(models)
    methods = with_options(normalize_methods(args.method or ["gradcam"]), args.option or [])
    if args.top is not None and args.top < 1:
        raise SeewhyError(f"--top must be at least 1, got {args.top}")
    targets = args.classes if args.classes else f"top{args.top or 1}"
    inputs = args.inputs or [str(example_image())]
    loaded = [
        Explainer(
            load_model(name, weight, device=args.device),
            layer=args.layer or "auto",
            batch_size=args.batch_size,
            fast=args.fast,
        )
        for name, weight in zip(models, weights)
    ]
    results = []
    for explainer in loaded:
        try:
            result = explainer.explain(
                inputs,
                methods,
                _per_image(targets),
                score=args.score,
                counterfactual=args.counterfactual,
                progress=None,
            )
        except ImageError as error:
            records = error.records
            if records is None:  # the raiser did not list the inputs: read them to know why
                records = [InputRecord(i.source, None, i.error) for i in load_inputs(inputs)]
            if any(r.ok for r in records):
                raise
            for record in records:
                print(f"seewhy: {record.error}", file=sys.stderr)
            write_report(error_entries(records, explainer.model.name), args.out)
            print(f"seewhy: error: {error}", file=sys.stderr)
            return 1
        results.append(result)
    what = [part.strip() for part in args.save.split(",") if part.strip()]
    report = save_results(
        results, args.out, scale=args.scale, what=what, overlay_format=args.overlay_format
    )
    for record in results[0].errors:
        print(f"seewhy: skipped {record.error}", file=sys.stderr)
    for result in results:
        for b, source in enumerate(result.sources):
            print(f"{source} [{result.model_name}]: {result.target_label(b, 0)}")
    written = [{"figure": "figures"}.get(w, w) for w in what]
    print(f"wrote {report.parent}/ ({', '.join([*written, report.name])})")
    return 0 if len(results[0]) > 0 else 1


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
        if not (args.all or info.spatial):
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
