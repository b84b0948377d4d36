"""The ZIP the page downloads: built from an answer of ``POST /api/explain`` that the client
sends back (the server keeps no answer and no upload), as PNGs plus ``answer.json``."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile

import numpy as np

from seewhy.errors import SeewhyError
from seewhy.io.images import read_image
from seewhy.render import blend, encode_png
from seewhy.serve.schemas import ExplainAnswer
from seewhy.serve.uploads import UploadError

__all__ = ["ARCHIVE_DESCRIPTION", "archive"]

ARCHIVE_DESCRIPTION = """A ZIP of an answer of POST /api/explain (send it back as JSON):
`NN_image/MODEL/input.png` (the image as the model saw it), `NN_image/MODEL/METHOD_tK_CLASS.png` (each map drawn over the input at
opacity 0.5, or alone for grey and gradient-image methods) and `answer.json` (the answer with
every image replaced by its file's name in the archive)."""

_PREFIX = "data:image/png;base64,"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str) -> str:
    """``text`` as one harmless file name inside the archive (no folders, no dots first)."""
    return _UNSAFE.sub("_", text).lstrip("._")[:80] or "x"


def _pixels(url: str, max_pixels: int) -> np.ndarray:
    if not url.startswith(_PREFIX):
        raise SeewhyError("the archive takes the answer as /api/explain gave it: PNG data URLs")
    try:
        data = base64.b64decode(url[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SeewhyError("an image of the answer is not valid base64") from None
    try:
        return np.asarray(read_image(io.BytesIO(data), "an image of the answer", max_pixels))
    except SeewhyError as error:
        raise UploadError(415, str(error)) from None


def archive(answer: ExplainAnswer, max_pixels: int) -> bytes:
    """The ZIP's bytes (stored PNGs: they are compressed already)."""
    record = answer.model_dump()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for i, (image, entry) in enumerate(zip(answer.images, record["images"])):
            folder = f"{i:02d}_{safe_name(image.name.rsplit('.', 1)[0])}"
            for result, result_entry in zip(image.results, entry["results"]):
                model = safe_name(result.model)
                photo = _pixels(result.input, max_pixels)
                zf.writestr(f"{folder}/{model}/input.png", encode_png(photo))
                result_entry["input"] = f"{folder}/{model}/input.png"
                for method, maps in result.maps.items():
                    for t, (drawn, target) in enumerate(zip(maps, result.targets)):
                        pixels = _pixels(drawn.png, max_pixels)
                        if drawn.blend and pixels.shape == photo.shape:
                            pixels = np.asarray(blend(photo, pixels, 0.5))
                        name = f"{folder}/{model}/{safe_name(method)}_t{t}_{target.class_id}.png"
                        zf.writestr(name, encode_png(pixels))
                        result_entry["maps"][method][t]["png"] = name
                for scale in result_entry["scales"].values():
                    if scale is not None:
                        scale.pop("colorbar", None)
        zf.writestr("answer.json", json.dumps(record, indent=2))
    return buffer.getvalue()
