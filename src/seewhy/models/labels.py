"""Class names for the models seewhy knows."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

#: The 1000 names, one per line: torchvision's weights metadata (``ResNet50_Weights.
#: IMAGENET1K_V2.meta["categories"]``), copied so that the bundled models start without
#: importing torchvision (``tests/models/test_labels.py`` checks the copy).
IMAGENET_LABELS_FILE = Path(__file__).resolve().parent.parent / "data" / "imagenet_labels.txt"


@functools.lru_cache(maxsize=1)
def _imagenet_labels() -> tuple[str, ...]:
    return tuple(IMAGENET_LABELS_FILE.read_text(encoding="utf-8").splitlines())


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names by index (``[285] == "Egyptian cat"``), torchvision's
    names; nothing is downloaded."""
    return list(_imagenet_labels())


def read_labels(path: str | os.PathLike) -> list[str]:
    """Class names from a file: a JSON list (``["cat", "dog"]``), a JSON dict from class id
    to name (``{"0": "cat", "1": "dog"}``, ids 0..N-1), or else one name per line (blank
    lines at the end ignored).

    Raises:
        ModelError: the file cannot be read, is empty, or a dict misses a class id.
    """
    from seewhy.errors import ModelError

    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read labels file {name!r}: {error}") from None
    stripped = text.strip()
    if not stripped:
        raise ModelError(f"labels file {name!r} is empty; give one class name per line")
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ModelError(f"labels file {name!r} is not valid JSON: {error}") from None
        if isinstance(data, list):
            return [str(item) for item in data]
        try:
            by_id = {int(key): str(value) for key, value in data.items()}
        except (ValueError, AttributeError):
            raise ModelError(
                f"labels file {name!r}: a JSON dict must map class ids (0, 1, ...) to names"
            ) from None
        missing = [i for i in range(len(by_id)) if i not in by_id]
        if missing:
            raise ModelError(
                f"labels file {name!r} has no name for class {missing[0]}: a JSON dict must "
                f"map every class id 0..{len(by_id) - 1} to a name"
            )
        return [by_id[i] for i in range(len(by_id))]
    return [line.strip() for line in stripped.splitlines()]
