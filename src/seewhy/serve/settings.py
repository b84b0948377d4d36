"""What one ``seewhy serve`` process was started with; the app, the API and the study
routes all read this one object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BUNDLED_MODELS", "ServeSettings", "default_study_db"]

#: Served with no ``--model`` flag.
BUNDLED_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def default_study_db() -> Path:
    """``$XDG_DATA_HOME/seewhy/study.sqlite3`` (``~/.local/share/seewhy/...`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "seewhy" / "study.sqlite3"


@dataclass(frozen=True)
class ServeSettings:
    """``seewhy serve``'s options.

    Attributes:
        host, port: where uvicorn listens (localhost unless told otherwise).
        models: model names or checkpoint paths, as ``seewhy explain --model`` takes them;
            the bundled EfficientNet-Lite0/1/2 are always offered as well.
        max_upload_mb: a larger upload is refused with 413 before it is read whole.
        max_megapixels: an image with more pixels is refused with 413 from its header,
            before it is decoded (a decompression bomb: a few KB of PNG, gigabytes of pixels).
        workers: explanations run in a pool of this many threads, off the event loop.
        queue: requests waiting for a worker beyond this answer 503 with ``Retry-After``.
        study_db: the SQLite database of the study answers.
        study_images: the experimenter's folder of study images (``None``: the bundled samples).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    models: tuple[str, ...] = ()
    max_upload_mb: float = 20.0
    max_megapixels: float = 16.0
    workers: int = 1
    queue: int = 8
    study_db: Path = field(default_factory=default_study_db)
    study_images: Path | None = None

    @property
    def model_names(self) -> tuple[str, ...]:
        """The bundled models, then the ones asked for, each once."""
        return tuple(dict.fromkeys((*BUNDLED_MODELS, *self.models)))
