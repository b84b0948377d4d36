"""Box tables: a CSV file with a header, or a JSON list of objects, with the columns
``image, class, x0, y0, x1, y1``::

    image,class,x0,y0,x1,y1
    cat1.jpg,n02124075,10,20,120,200
    n02124075/cat2.jpg,285,0,0,63,47
    dog.jpg,golden retriever,,,,

    [{"image": "cat1.jpg", "class": "Egyptian cat", "x0": 10, "y0": 20, "x1": 120, "y1": 200}]

One row per object; several rows may name the same image. ``image`` is a path relative to the
data folder, a file name, or a file name without its suffix. ``class`` is a label, a synset
id or a class index (:mod:`seewhy.datasets.classes`). Coordinates are the contract's: pixels of
the image file, 0-based, ends included (``0, 0, 63, 47`` is the top-left 64 x 48 pixels); they
must be whole numbers. A row whose four coordinates are all empty (CSV) or absent / null
(JSON) gives the image that class without a box. Other columns are ignored; header names are
matched case-insensitively.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from typing import Any

from seewhy.datasets.annotations import Annotated, clip_box
from seewhy.datasets.base import Truth
from seewhy.datasets.classes import ClassNames
from seewhy.errors import DataError

__all__ = ["COLUMNS", "read_csv", "read_records"]

#: The columns a table must have.
COLUMNS = ("image", "class", "x0", "y0", "x1", "y1")
_COORDINATES = COLUMNS[2:]


def _coordinate(value: Any, column: str, where: str) -> int:
    if isinstance(value, bool):
        raise DataError(f"{where}: {column} is {value!r}, not a pixel index")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {column} is {value!r}, not a number") from None
    if not number.is_integer():
        raise DataError(
            f"{where}: {column} is {value!r}; table boxes are whole pixel indices (0-based, "
            "ends included)"
        )
    return int(number)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _rows_to_annotated(
    rows: Sequence[tuple[str, Mapping[str, Any]]], classes: ClassNames
) -> list[Annotated]:
    by_image: dict[str, Annotated] = {}
    for where, row in rows:
        image = "" if _blank(row.get("image")) else str(row["image"]).strip()
        if not image:
            raise DataError(f"{where}: no image")
        if _blank(row.get("class")):
            raise DataError(f"{where}: no class")
        label = classes.index(str(row["class"]), f"{where}: class")
        annotated = by_image.setdefault(image, Annotated(image))
        if label is None:  # left out by the class_map
            continue
        values = [row.get(column) for column in _COORDINATES]
        if all(_blank(v) for v in values):
            annotated.add(None, label)
            continue
        if any(_blank(v) for v in values):
            raise DataError(f"{where}: give all of x0, y0, x1, y1 or none of them")
        box = tuple(_coordinate(v, c, where) for v, c in zip(values, _COORDINATES))
        if min(box) < 0 or clip_box(box, None) is None:  # type: ignore[arg-type]
            raise DataError(
                f"{where}: box {box} is not x0 <= x1, y0 <= y1 with non-negative pixel indices"
            )
        annotated.add(Truth(label, box), label)  # type: ignore[arg-type]
    return list(by_image.values())


def read_csv(path: str | os.PathLike[str], classes: ClassNames) -> list[Annotated]:
    """The rows of a CSV box table (header required), grouped by image in order of first row.

    Raises:
        DataError: the file cannot be read, the header misses a column, or a row is bad
            (named by its line number).
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{name}: empty; a CSV table needs the header {','.join(COLUMNS)}")
            header = [column.strip().lower() for column in header]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{name}: the header has no {', '.join(missing)} column; a CSV table needs "
                    f"a header with {','.join(COLUMNS)} (got {','.join(header)})"
                )
            rows = [
                (f"{name}, line {reader.line_num}", dict(zip(header, cells)))
                for cells in reader
                if any(cell.strip() for cell in cells)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{name}: cannot read CSV ({error})") from None
    return _rows_to_annotated(rows, classes)


def read_records(records: Sequence[Any], classes: ClassNames, *, source: str) -> list[Annotated]:
    """The entries of a JSON box table (a list of objects with the :data:`COLUMNS` keys).

    Raises:
        DataError: an entry is not an object, or is bad (named by its position).
    """
    rows = []
    for number, record in enumerate(records):
        where = f"{source}: entry {number}"
        if not isinstance(record, Mapping):
            raise DataError(f"{where} is {type(record).__name__}, not an object with {COLUMNS}")
        rows.append((where, {str(k).strip().lower(): v for k, v in record.items()}))
    return _rows_to_annotated(rows, classes)
