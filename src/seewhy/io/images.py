"""Turn paths, folders, PIL images and arrays into RGB images, with one-line errors.

Files are identified by content, not by extension. Every file becomes an 8-bit RGB
``PIL.Image.Image``: EXIF orientation is applied, then the pixels follow
:func:`seewhy.io.rgb.as_rgb_uint8` (transparency composited onto white, 16-bit and float
images scaled to 8 bit); animated images give their first frame. No global Pillow setting
is changed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from seewhy.errors import ImageError, PixelLimitError
from seewhy.io.rgb import as_rgb_uint8

#: Default limit on width * height of an image file, the same as Pillow's default.
MAX_PIXELS: int = 89_478_485

#: Suffixes (lower case) of the files a folder expands to. Single files are read whatever
#: their name is.
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".bmp", ".dib", ".gif",
    ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico",
)  # fmt: skip

_ALLOWED = "a path (str or pathlib.Path), a folder, a PIL.Image.Image or a numpy array"


@dataclass
class LoadedInput:
    """One input after loading: its display name and its image, or why it could not be read.

    Attributes:
        source: the path as given, or ``"image[i]"`` for an in-memory input at position ``i``.
        image: an RGB PIL image for files and PIL inputs; numpy arrays are passed through;
            ``None`` when the input could not be read.
        error: a one-line message naming the file when it could not be read, else ``None``.
    """

    source: str
    image: Image.Image | np.ndarray | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the input was read (it has an image and no error)."""
        return self.error is None and self.image is not None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``img``: EXIF orientation applied, pixels by :func:`as_rgb_uint8`."""
    img = ImageOps.exif_transpose(img)
    if img.mode == "RGB" and "transparency" not in img.info:
        return img  # as_rgb_uint8 would give these pixels unchanged
    return Image.fromarray(as_rgb_uint8(img))


def load_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open one file as an RGB PIL image.

    Args:
        path: the file; its content decides the format, not its extension.
        max_pixels: refuse images whose width * height is larger (checked before decoding).

    Raises:
        ImageError: with a one-line message naming the file, when it is missing, empty,
            a directory, unreadable, not an image, truncated or corrupt, or too large.
    """
    name = os.fspath(path)
    name = name if isinstance(name, str) else os.fsdecode(name)
    if not os.path.exists(name):
        raise ImageError(f"{name}: no such file")
    if os.path.isdir(name):
        raise ImageError(f"{name}: is a directory, not an image file")
    try:
        if os.path.getsize(name) == 0:
            raise ImageError(f"{name}: is empty (0 bytes), not an image")
        with open(name, "rb") as fh:
            return read_image(fh, name, max_pixels)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except Exception as exc:  # OS errors
        raise ImageError(f"{name}: cannot read image ({_one_line(exc)})") from exc


def read_image(fh: BinaryIO, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode the image in the open binary file ``fh`` (a file, or ``io.BytesIO`` of an
    upload) as an RGB PIL image; ``name`` is what messages call it.

    Raises:
        PixelLimitError: width * height is above ``max_pixels`` (checked from the header,
            before decoding: a decompression bomb is refused without being expanded).
        ImageError: not an image, truncated or corrupt.
    """
    try:
        with warnings.catch_warnings(record=True):
            # Recording keeps every warning (DecompressionBombWarning included) from escaping;
            # the pixel limit below is what decides.
            warnings.simplefilter("always")
            try:
                img = Image.open(fh)
            except UnidentifiedImageError:
                raise ImageError(f"{name}: not an image (or a format Pillow cannot read)") from None
            with img:
                width, height = img.size
                if width * height > max_pixels:
                    raise PixelLimitError(
                        f"{name}: too many pixels ({width} x {height} = {width * height}, "
                        f"limit {max_pixels})"
                    )
                try:
                    img.load()
                except Exception as exc:  # every decoder failure is a bad file
                    raise ImageError(f"{name}: truncated or corrupt ({_one_line(exc)})") from exc
                return _to_rgb(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise PixelLimitError(f"{name}: too many pixels ({_one_line(exc)})") from None
    except Exception as exc:  # header parse errors, odd modes
        raise ImageError(f"{name}: cannot read image ({_one_line(exc)})") from exc


def _is_path(item: object) -> bool:
    return isinstance(item, (str, os.PathLike))


def _as_str_path(item: object) -> str:
    path = os.fspath(item)  # type: ignore[arg-type]
    return path if isinstance(path, str) else os.fsdecode(path)


def _folder_files(folder: str) -> tuple[list[str], list[str]]:
    """A folder's files sorted by name, split into images and others by suffix (see
    :data:`IMAGE_SUFFIXES`); hidden files and subfolders are in neither."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ImageError(f"{folder}: cannot list folder ({_one_line(exc)})") from None
    if not names:
        raise ImageError(f"{folder}: folder is empty")
    images: list[str] = []
    others: list[str] = []
    for name in names:
        path = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        is_image = os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
        (images if is_image else others).append(path)
    if not images:
        raise ImageError(
            f"{folder}: folder has no image files (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return images, others


def list_inputs(items: object) -> tuple[list[str | Image.Image | np.ndarray], list[str]]:
    """:func:`expand_inputs` and :func:`skipped_files` together, from one listing of each
    folder: ``(inputs, skipped)``."""
    seq = list(items) if isinstance(items, (list, tuple)) else [items]
    out: list[str | Image.Image | np.ndarray] = []
    skipped: list[str] = []
    for i, item in enumerate(seq):
        if isinstance(item, (Image.Image, np.ndarray)):
            out.append(item)
        elif _is_path(item):
            path = _as_str_path(item)
            if os.path.isdir(path):
                images, others = _folder_files(path)
                out.extend(images)
                skipped.extend(others)
            else:
                out.append(path)
        else:
            where = f"input {i}" if isinstance(items, (list, tuple)) else "input"
            raise ImageError(
                f"{where} has type {type(item).__name__} ({item!r:.60}); expected {_ALLOWED}"
            )
    return out, skipped


def skipped_note(skipped: Sequence[str]) -> str:
    """The one line that says which files of a folder were left out (warned once per call)."""
    what = "files that are not images" if len(skipped) > 1 else "file that is not an image"
    return f"skipped {len(skipped)} {what} (by suffix): {', '.join(skipped)}"


def skipped_files(items: object) -> list[str]:
    """The files in the folders among ``items`` that :func:`expand_inputs` leaves out as not
    images by their suffix (``notes.txt``, ``logo.svg``), sorted by name; hidden files
    (``.DS_Store``) and subfolders are not listed. A caller says which were skipped (the
    Explainer warns once and ``report.json`` names them).

    Raises:
        ImageError: as :func:`expand_inputs`.
    """
    return list_inputs(items)[1]


def expand_inputs(items: object) -> list[str | Image.Image | np.ndarray]:
    """Flatten one input or a list/tuple of inputs into a list of paths, PIL images and arrays.

    Paths (``str`` or ``os.PathLike``) become ``str``; a folder becomes its image files
    (by suffix, see :data:`IMAGE_SUFFIXES`; sorted by name, not recursive, hidden files
    skipped). PIL images and numpy arrays pass through. Paths that do not exist pass through
    too (:func:`load_inputs` reports them).

    Raises:
        ImageError: for an item of another type, an empty folder or a folder without images.
    """
    return list_inputs(items)[0]


def load_inputs(items: object, max_pixels: int = MAX_PIXELS) -> list[LoadedInput]:
    """Expand ``items`` (see :func:`expand_inputs`) and load each one.

    A file that cannot be read (missing, empty, corrupt, too large...) becomes a
    :class:`LoadedInput` with ``error`` set; the others still load. PIL images are converted
    to RGB, numpy arrays are passed through unchanged.

    Raises:
        ImageError: only for inputs of a wrong type or folders without images.
    """
    loaded: list[LoadedInput] = []
    for i, item in enumerate(expand_inputs(items)):
        if isinstance(item, str):
            try:
                loaded.append(LoadedInput(item, load_image(item, max_pixels)))
            except ImageError as exc:
                loaded.append(LoadedInput(item, None, str(exc)))
            continue
        source = f"image[{i}]"
        if isinstance(item, np.ndarray):
            loaded.append(LoadedInput(source, item))
            continue
        try:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                loaded.append(LoadedInput(source, _to_rgb(item)))
        except Exception as exc:  # a lazy PIL image may fail to decode
            loaded.append(
                LoadedInput(source, None, f"{source}: cannot read image ({_one_line(exc)})")
            )
    return loaded
