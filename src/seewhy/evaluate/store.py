"""Per-image results on disk, appended as they finish, so an interrupted run resumes.

Each process writes its own SQLite file, ``<out>/progress/rank<r>.sqlite`` (one writer per
file: no locking across machines or a shared file system), and every process reads all the
files of the folder, so a run resumed with another number of processes still finds every
image done. A row is keyed by the *configuration* of its work (model, score, method and its
options, layer, metrics and their options, data: :func:`config_key`) and the image's
:func:`sample_key`: its key and a fingerprint of its file (resolved path, size,
modification time) and its ground truth (classes, boxes, masks). A different
configuration, another folder of the same name, an edited image or changed annotations in
the same ``--out`` are kept apart and never mixed in: that image is computed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seewhy.datasets.base import Sample

__all__ = ["Store", "config_key", "sample_key"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    config TEXT NOT NULL,
    key TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (config, key)
)
"""


def config_key(config: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-ready configuration (keys sorted)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def sample_key(sample: Sample) -> str:
    """The store's key of ``sample``: its key, then a hash of what its record depends on
    besides the configuration: its file (resolved path, size and modification time, when
    ``sample.load`` names a ``path``), its classes and objects (boxes, crowd flags, masks or
    their COCO RLE)."""
    objects = []
    for truth in sample.objects:
        rle = getattr(truth, "rle", None)
        if rle is not None:
            mask: object = rle
        elif truth.mask is not None:
            mask = hashlib.sha256(np.packbits(np.asarray(truth.mask, bool)).tobytes()).hexdigest()
        else:
            mask = None
        objects.append([truth.label, truth.box, truth.crowd, mask])
    path = getattr(sample.load, "path", None)
    file: object = None
    if path is not None:
        try:
            stat = os.stat(path)
            file = [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]
        except OSError:
            file = [str(path), "missing"]
    identity = {"kind": sample.kind, "labels": list(sample.labels), "objects": objects}
    return f"{sample.key}#{config_key({**identity, 'file': file})}"


class Store:
    """The progress files of one ``--out`` folder; this process writes ``rank<rank>``."""

    def __init__(self, out: str | Path, rank: int = 0) -> None:
        self.folder = Path(out) / "progress"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"rank{rank}.sqlite"
        self.connection = sqlite3.connect(self.path, timeout=60)
        self.connection.execute(SCHEMA)
        self.connection.commit()

    def done(self, config: str) -> dict[str, dict[str, Any]]:
        """image key -> record, for ``config``, from every progress file of the folder."""
        found: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob("rank*.sqlite")):
            if path == self.path:
                connection = self.connection
            else:
                connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
            try:
                rows = connection.execute(
                    "SELECT key, record FROM records WHERE config = ?", (config,)
                ).fetchall()
            except sqlite3.DatabaseError:
                rows = []  # a file another process is creating: its rows come next time
            finally:
                if connection is not self.connection:
                    connection.close()
            for key, record in rows:
                found.setdefault(key, json.loads(record))
        return found

    def add(self, config: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Append records (``(image key, record)``) of ``config`` and commit."""
        self.connection.executemany(
            "INSERT OR REPLACE INTO records (config, key, record) VALUES (?, ?, ?)",
            [(config, key, json.dumps(record)) for key, record in records],
        )
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()
