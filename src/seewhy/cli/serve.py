"""``seewhy serve``: the explanation page and its JSON API on uvicorn.

A thin shell over :func:`seewhy.serve.app.create_app`::

    seewhy serve                         # http://127.0.0.1:8000, the bundled EfficientNet-Lite0/1/2
    seewhy serve --model resnet50 --port 8080 --workers 2 --queue 16

Binds to localhost unless ``--host`` says otherwise. Needs ``pip install 'seewhy[serve]'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

INSTALL = "pip install 'seewhy[serve]'"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``serve`` subcommand on the ``add_subparsers()`` object ``commands``."""
    from seewhy.serve.settings import ServeSettings, default_study_db

    defaults = ServeSettings()
    parser = commands.add_parser(
        "serve", help="the explanation page and JSON API in the browser (FastAPI on uvicorn)"
    )
    parser.add_argument(
        "--host", default=defaults.host, help=f"address to listen on (default {defaults.host})"
    )
    parser.add_argument("--port", type=int, default=defaults.port, help="default 8000")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME[=CHECKPOINT]",
        help="a model to offer besides the bundled EfficientNet-Lite0/1/2, as seewhy explain "
        "--model takes it, with its weights from CHECKPOINT if given (repeatable)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=defaults.max_upload_mb,
        help=f"refuse larger requests with 413 (default {defaults.max_upload_mb:g})",
    )
    parser.add_argument(
        "--max-megapixels",
        type=float,
        default=defaults.max_megapixels,
        help=f"refuse images with more pixels with 413 (default {defaults.max_megapixels:g})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.workers,
        help=f"threads explanations run in (default {defaults.workers})",
    )
    parser.add_argument(
        "--queue",
        type=int,
        default=defaults.queue,
        help=f"requests that may wait for a worker; more get 503 (default {defaults.queue})",
    )
    parser.add_argument(
        "--study-db",
        type=Path,
        default=None,
        help=f"SQLite database of the study answers (default {default_study_db()})",
    )
    parser.add_argument(
        "--study-images",
        type=Path,
        default=None,
        help="folder of the study's images (default: the bundled sample photos)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from seewhy.errors import SeewhyError

    try:
        import uvicorn

        from seewhy.serve.app import create_app
    except ImportError as error:
        raise SeewhyError(f"seewhy serve needs FastAPI and uvicorn ({error}): {INSTALL}") from None
    from seewhy.serve.settings import ServeSettings

    if args.workers < 1 or args.queue < 0:
        raise SeewhyError(
            f"--workers must be at least 1 and --queue at least 0, got {args.workers} and {args.queue}"
        )
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise SeewhyError("--max-upload-mb and --max-megapixels must be positive")
    extra = {"study_db": args.study_db} if args.study_db is not None else {}
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        models=tuple(args.model),
        max_upload_mb=args.max_upload_mb,
        max_megapixels=args.max_megapixels,
        workers=args.workers,
        queue=args.queue,
        study_images=args.study_images,
        **extra,
    )
    print(f"seewhy serve: http://{_shown(settings.host)}:{settings.port}/", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host
