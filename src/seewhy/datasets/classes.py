"""From a class as a data set names it (a folder name, a VOC ``<name>``, a COCO category, a
table's ``class`` cell) to the model's class index: the one rule every reader uses.

A name is, in this order:

1. a key of ``class_map`` (an explicit mapping, ``{"cat": 285}``): its value, an index or a
   name resolved by the rules below, or ``None`` to leave that class out (its objects are
   dropped, its class folder's images skipped);
2. a class index: digits only (``"285"``), checked against the number of labels;
3. a WordNet synset id (``n02124075``): its position in ``synsets`` (by default, for a model with
   1000 labels, the ImageNet-1k synsets in the standard sorted order, from timm's
   ``ImageNetInfo``);
4. a label of the model, compared case-insensitively with ``_`` read as a space
   (``egyptian_cat`` names ``"Egyptian cat"``), or one of a label's comma-separated aliases
   when the labels have them (``"tabby, tabby cat"`` is named by ``tabby cat`` too).

Nothing looser: a word is never matched to a label that merely contains it. VOC's ``cat`` is not
an ImageNet class (ImageNet has "tabby", "tiger cat", "Persian cat", "Egyptian cat"...), and
choosing one for it would silently change what the evaluation measures; such a name is an error
that lists the labels having it as a word (else the closest by spelling), and ``class_map``
says what it should mean. A name that matches
two labels is an error too. A ``"*"`` key of ``class_map`` stands for every name that the
rules resolve to no class: ``{"dog": 207, "*": None}`` keeps a COCO file's dogs and leaves out
its people, cars...
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping, Sequence

from seewhy.errors import DataError, suggestion

__all__ = ["ClassNames", "imagenet_synsets", "read_class_map"]

_SYNSET = re.compile(r"^n\d{8}$")

#: How the messages name a class map: the Python argument and the ``seewhy evaluate`` flag.
_CLASS_MAP = "a class map (class_map= in Python, --class-map FILE with seewhy evaluate)"


@functools.lru_cache(maxsize=1)
def _imagenet_synsets() -> tuple[str, ...]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_label_name(i) for i in range(info.num_classes()))


def imagenet_synsets() -> list[str]:
    """The 1000 ImageNet-1k synset ids by class index (``[285] == "n02124075"``), from timm's
    package data (nothing is downloaded)."""
    return list(_imagenet_synsets())


def read_class_map(path: str | os.PathLike[str]) -> dict[str, int | str | None]:
    """A ``class_map`` from a file (``seewhy evaluate --class-map FILE``): a JSON object
    (``{"cat": 285, "dog": "golden retriever", "*": null}``) or lines of two columns,
    ``name,class`` (a CSV without header) or ``name<TAB>class`` (a TSV); ``class`` is a class
    index, a label, or empty (JSON: ``null``) to leave the class out.

    Raises:
        DataError: naming the file and the entry: the file cannot be read, is not a JSON
            object, a line has not two columns, or a JSON value is not an index, a label or
            null.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read class map {name!r}: {error}") from None
    if text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"class map {name!r} is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise DataError(
                f"class map {name!r} is a JSON {type(data).__name__}, not an object of "
                '{"data set name": class index or label}'
            )
        for key, value in data.items():
            if value is None or isinstance(value, str):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataError(
                    f"class map {name!r}: {key!r} maps to {value!r}; a class map's values are a "
                    "class index (0, 1, ...), a label of the model, or null (leave it out)"
                )
        return {str(key): value for key, value in data.items()}
    mapping: dict[str, int | str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" in line:  # TSV
            parts = line.split("\t")
            if len(parts) == 3 and not parts[2].strip():  # a trailing tab
                parts = parts[:2]
        else:  # CSV, split at the last comma: a name may have commas, the class not
            parts = line.rsplit(",", 1)
        if len(parts) != 2:
            raise DataError(
                f"{name}, line {number}: {line!r} is not 'name,class' or 'name<TAB>class' (two "
                "columns: the data set's name, then a class index, a label, or empty)"
            )
        key, value = (part.strip() for part in parts)
        if not key:
            raise DataError(f"{name}, line {number}: {line!r} has no name before the class")
        mapping[key] = int(value) if value.isascii() and value.isdigit() else (value or None)
    return mapping


def _key(text: str) -> str:
    return " ".join(text.replace("_", " ").split()).lower()


class ClassNames:
    """Resolves the class names of a data set to class indices of one model (see the module
    docstring for the rules).

    Args:
        labels: the model's class names by index (may be empty: then only indices, synsets
            and ``class_map`` entries resolve, and indices are not range-checked).
        synsets: the synset id of each class; ``None`` takes ImageNet-1k's for a model with
            1000 labels.
        class_map: explicit names (compared as labels are) to an index, a label name, or
            ``None`` (leave the class out); the key ``"*"`` stands for every name that
            resolves to no class.
    """

    def __init__(
        self,
        labels: Sequence[str] | None,
        synsets: Sequence[str] | None = None,
        class_map: Mapping[str, int | str | None] | None = None,
    ) -> None:
        self.labels = [str(label) for label in labels or ()]
        if synsets is not None and self.labels and len(synsets) != len(self.labels):
            raise DataError(
                f"synsets has {len(synsets)} ids but the model has {len(self.labels)} labels"
            )
        self._synsets = None if synsets is None else [str(s) for s in synsets]
        self._by_name: dict[str, list[int]] = {}
        for index, label in enumerate(self.labels):
            names = {_key(label)} | {_key(alias) for alias in label.split(",") if alias.strip()}
            for name in names:
                self._by_name.setdefault(name, []).append(index)
        self._class_map = {_key(name): value for name, value in (class_map or {}).items()}
        self._cache: dict[str, int | None] = {}

    @property
    def synsets(self) -> list[str] | None:
        """The synset id of each class, or ``None`` when the model's classes have none."""
        if self._synsets is None and len(self.labels) == 1000:
            self._synsets = imagenet_synsets()
        return self._synsets

    def index(self, name: str | int, where: str) -> int | None:
        """The class index ``name`` stands for, or ``None`` when ``class_map`` leaves it out.

        Args:
            name: a class as the data set names it.
            where: what names it, for the error message (``"class folder 'data/kitty'"``).

        Raises:
            DataError: naming ``where``, when ``name`` resolves to no class, to two, or to an
                index out of range; with the closest labels as a suggestion.
        """
        text = str(name).strip()
        if text not in self._cache:
            self._cache[text] = self._mapped(text, where)
        return self._cache[text]

    def _mapped(self, text: str, where: str) -> int | None:
        key = _key(text)
        if key in self._class_map:
            return self._target(text, self._class_map[key], where)
        try:
            return self._resolve(text, where)
        except DataError:
            if "*" not in self._class_map:
                raise
            return self._target(text, self._class_map["*"], where)

    def _target(self, text: str, mapped: int | str | None, where: str) -> int | None:
        if mapped is None:
            return None
        if isinstance(mapped, str) and _key(mapped) in self._class_map:
            raise DataError(f"class_map maps {text!r} to {mapped!r}, another class_map key")
        return self._resolve(str(mapped), f"{where} (class_map: {text!r} -> {mapped!r})")

    def _resolve(self, text: str, where: str) -> int:
        if text.isdigit():
            return self._checked(int(text), where)
        if _SYNSET.match(text):
            synsets = self.synsets
            if synsets is None:
                raise DataError(
                    f"{where}: {text!r} is a synset id, but the model's {len(self.labels)} "
                    f"classes have none; pass synsets= (one id per class) or use {_CLASS_MAP}"
                )
            if text in synsets:
                return synsets.index(text)
            raise DataError(
                f"{where}: synset {text!r} is not one of the model's {len(synsets)} classes"
                f".{suggestion(text, synsets)}"
            )
        found = self._by_name.get(_key(text), [])
        if len(found) == 1:
            return found[0]
        if found:
            named = ", ".join(f"{i} ({self.labels[i]!r})" for i in found)
            raise DataError(
                f"{where}: {text!r} names {len(found)} classes: {named}; use the class index "
                f"or {_CLASS_MAP}"
            )
        if not self.labels:
            raise DataError(
                f"{where}: {text!r} is not a class index or synset id, and the model has no "
                f"class names; use indices, synsets or {_CLASS_MAP}"
            )
        raise DataError(
            f"{where}: {text!r} is not a class of the model.{self._hint(text)} Name classes "
            "by a label (case-insensitive), a synset id (n02124075) or a class index (285), or "
            f"map the name with {_CLASS_MAP}: a JSON object or two-column CSV of name to class "
            'index or label, e.g. {"cat": 285}.'
        )

    def _hint(self, text: str) -> str:
        """The labels that have ``text`` as a word (VOC's ``cat``: ``tiger cat``, ``Persian
        cat``...), else the closest labels by spelling."""
        word = re.compile(rf"\b{re.escape(_key(text))}\b", re.IGNORECASE)
        having = [label for label in self.labels if word.search(label)]
        if not having:
            return suggestion(text.replace("_", " "), self.labels)
        listed = ", ".join(repr(label) for label in having[:5])
        more = f" and {len(having) - 5} more" if len(having) > 5 else ""
        return f" Labels with that word: {listed}{more}; a class map says which one it means."

    def _checked(self, index: int, where: str) -> int:
        if self.labels and not 0 <= index < len(self.labels):
            raise DataError(
                f"{where}: class index {index} is out of range: the model has "
                f"{len(self.labels)} classes (0-{len(self.labels) - 1})"
            )
        return index
