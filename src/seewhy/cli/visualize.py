"""``seewhy visualize``: synthesize images of filters or classes and write them as PNGs.

A thin shell over :func:`seewhy.synthesis.synthesize`::

    seewhy visualize --layer blocks.3 --channel 0-15 --out filters/
    seewhy visualize --class 285 --class "tabby" --out classes/

``--channel`` writes one PNG per filter and a grid of all of them, each labelled with its
channel; ``--class`` (id or label name, repeatable; a class named twice is made once) writes
one PNG per class at the model's input size, plain RGB.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "parse_channels", "run"]

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def add_fast_flag(parser: argparse.ArgumentParser, gain: str) -> None:
    """``--fast/--no-fast``, the same flag for every command that runs a model."""
    parser.add_argument(
        "--fast",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="every pass over the model: fold BatchNorms and run channels-last, the same "
        f"function rounded differently, {gain} (default); --no-fast runs the model exactly "
        "as given",
    )


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``visualize`` subcommand on the ``add_subparsers()`` object ``commands``."""
    parser = commands.add_parser(
        "visualize",
        help="synthesize images that maximize filters (--layer/--channel) or classes (--class)",
    )
    parser.add_argument(
        "--model", default="efficientnet_lite0", help="model name (default efficientnet_lite0)"
    )
    parser.add_argument("--weights", default=None, help="checkpoint path, or 'random'")
    parser.add_argument("--layer", help="layer whose filters to visualize (see `seewhy layers`)")
    parser.add_argument(
        "--channel",
        metavar="SPEC",
        help="filters of --layer: 7, 0-15 or 0,3,8-11 (default 0-15)",
    )
    parser.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="C",
        help="class id or label name (repeatable)",
    )
    parser.add_argument("--steps", type=int, default=128, help="optimizer steps (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate (default 0.05)")
    parser.add_argument(
        "--param",
        choices=["fourier", "pixel"],
        default="fourier",
        help="image parameterization (default fourier)",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="filter image side in pixels (default: the model's)"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the model's)")
    add_fast_flag(parser, "about 1.5x the steps per second")
    parser.add_argument("--out", default="seewhy-visualize", help="output folder")
    return parser


#: Filters in one run: each is an image in one batch, with Adam's two moments; 4096 at 224 px
#: is 2.5 GB of pixels alone before the activations.
MAX_FILTERS = 4096


def parse_channels(spec: str) -> list[int]:
    """Channel ids from ``"7"``, ``"0-15"`` or ``"0,3,8-11"`` (inclusive ranges, in order)."""
    from seewhy.errors import SeewhyError

    channels: list[int] = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not match:
            raise SeewhyError(
                f"bad --channel {spec!r}: use a channel id (7), a range (0-15) or a "
                "comma-separated list (0,3,8-11)"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise SeewhyError(f"bad --channel range {part.strip()!r}: the end is before the start")
        if len(channels) + last - first + 1 > MAX_FILTERS:
            raise SeewhyError(
                f"--channel {spec!r} asks for more than {MAX_FILTERS} filters: each is one "
                "image optimised in one batch, so give a narrower range (and see `seewhy "
                "layers` for the layer's channel count)"
            )
        channels.extend(range(first, last + 1))
    return list(dict.fromkeys(channels))


def run(args: argparse.Namespace) -> int:
    """Run ``seewhy visualize``; bad options raise ``SeewhyError`` (exit 2 in ``main``)."""
    from seewhy.errors import SeewhyError

    if args.channel is not None and not args.layer:
        raise SeewhyError("--channel needs --layer")
    if not args.layer and not args.classes:
        raise SeewhyError("give --layer (with --channel) for filters, or --class for classes")
    if args.steps < 1:
        raise SeewhyError(f"--steps must be at least 1, got {args.steps}")
    if args.size is not None and not args.layer:
        raise SeewhyError(
            "--size sets the side of filter images (--layer); class images are made at the "
            "model's input size, so drop --size"
        )
    if args.size is not None and args.size < 8:
        raise SeewhyError(f"--size must be at least 8 pixels, got {args.size}")
    channels = (
        parse_channels("0-15" if args.channel is None else args.channel) if args.layer else []
    )

    from seewhy.models import load_model

    model = load_model(args.model, args.weights, device=args.device)
    out = Path(args.out)
    written: list[Path] = []
    if channels:
        written += _filters(model, args, channels, out)
    if args.classes:
        written += _classes(model, args, out)
    for path in written:
        print(path)
    return 0


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "steps": args.steps,
        "seed": args.seed,
        "lr": args.lr,
        "parameterization": args.param,
        "progress": True,
        "fast": args.fast,
    }


def _filters(model: Any, args: argparse.Namespace, channels: list[int], out: Path) -> list[Path]:
    from PIL import Image

    from seewhy.synthesis import Channel, synthesize
    from seewhy.synthesis.result import slug

    result = synthesize(
        model, [Channel(args.layer, k) for k in channels], size=args.size, **_options(args)
    )
    stem = slug(args.layer)
    paths = result.save(out, names=[f"{stem}_channel_{k:03d}" for k in channels])
    grid = out / f"{stem}_channels_grid.png"
    Image.fromarray(result.grid(labels=[f"channel {k}" for k in channels])).save(grid)
    return [*paths, grid]


def _classes(model: Any, args: argparse.Namespace, out: Path) -> list[Path]:
    from seewhy.synthesis import Class, synthesize
    from seewhy.synthesis.result import slug

    classes = _unique_classes(model, args.classes)
    result = synthesize(model, [Class(target) for target in classes], **_options(args))
    names = [slug(description) for description in result.objective]
    return result.save(out, names=names)


def _unique_classes(model: Any, classes: list[str]) -> list[str]:
    """``--class`` values naming distinct classes, in order: ``285`` and ``"Egyptian cat"``
    are one class and make one PNG (the file is named by the class, so a second image of it
    would overwrite the first). A value that names no class is an error here."""
    from seewhy.engine.targets import class_index

    if not model.num_classes:
        return list(dict.fromkeys(classes))
    unique: dict[int, str] = {}
    for target in classes:
        unique.setdefault(class_index(target, model.num_classes, model.labels), target)
    return list(unique.values())
