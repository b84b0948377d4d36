"""One exception hierarchy for every error a user can act on.

Messages name the bad value, list what is allowed and suggest the closest name.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seewhy.result import InputRecord


class SeewhyWarning(UserWarning):
    """Every warning seewhy gives on purpose (filter them with this category)."""


def warn(message: str, category: type[Warning] = SeewhyWarning) -> None:
    """``warnings.warn`` pointing at the first frame outside seewhy: the user's line that
    called it, however deep in the package the warning arises."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


class SeewhyError(Exception):
    """Base class of every error seewhy raises on purpose."""


class ImageError(SeewhyError):
    """An input image is missing, unreadable, too large or not an image.

    Attributes:
        records: when the error ends a call because no input could be read, every input's
            :class:`~seewhy.result.InputRecord` (with its error), so a caller can report
            them without reading the inputs again; ``None`` when the raiser did not give them.
    """

    def __init__(self, *args: object, records: Sequence[InputRecord] | None = None) -> None:
        super().__init__(*args)
        self.records: list[InputRecord] | None = None if records is None else list(records)


class PixelLimitError(ImageError):
    """An image file has more pixels than the reader's limit (a decompression bomb: a few
    kilobytes of PNG that decode to gigabytes); refused from its header, before decoding."""


class ImageShapeError(ImageError, ValueError):
    """An in-memory image (array, tensor) has a shape or dtype that is not a picture.

    Also a ``ValueError``, as the converters it replaced raised, so ``except ValueError``
    keeps catching it.
    """


class ModelError(SeewhyError):
    """A model name, checkpoint or output selector is wrong."""


class LayerError(SeewhyError):
    """A layer name does not exist or its output cannot be explained."""


class MethodError(SeewhyError):
    """An unknown method, a bad method option, or a model the method does not fit."""


class MethodRefusal(MethodError):
    """A method cannot run on this model or layer: a precondition of the method itself is not
    met (``cam`` on a head that is not global average pooling + one Linear layer).

    Raised by a method, it refuses that method only: the call records the message in
    ``result.refused[method]``, warns once, and produces the other methods' maps. Only when
    every requested method is refused does the call raise it. Bad input from the caller (an
    unknown option, a callable target for ``cam``) is a plain :class:`MethodError` and ends
    the call: it is fixed by changing the call, not by choosing other methods.
    """


class TargetError(SeewhyError):
    """A target (class id, label name, top-k or callable) is wrong."""


class DataError(SeewhyError, ValueError):
    """A data set for ``seewhy evaluate`` cannot be read as asked: a class folder or an
    annotated class that names no class of the model, an annotation file of an unknown format
    or with a bad entry (the message names the file and the entry)."""


class OptionError(SeewhyError, ValueError):
    """A bad value for an argument that is not a model, layer, method or target: a batch
    size, a drawing option, a flag that is not True or False."""


class MethodOptionError(MethodError, OptionError):
    """A method's option of the wrong type: both a :class:`MethodError` (as an unknown
    option is) and an :class:`OptionError`."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The up to ``n`` names in ``choices`` that are most like ``name``."""
    choices = list(choices)
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    if not found:
        lowered = name.lower()
        found = [c for c in choices if lowered and lowered in c.lower()][:n]
    return found


def suggestion(name: str, choices: Iterable[str], n: int = 3) -> str:
    """A ``" Did you mean ...?"`` suffix, or an empty string when nothing is close."""
    found = closest(name, choices, n)
    if not found:
        return ""
    return " Did you mean " + " or ".join(repr(f) for f in found) + "?"
