"""Uploads: the request-size limit while the body streams, and reading each upload as an
image in memory.

Nothing a client sends becomes a path: an upload is read from its bytes
(:func:`seewhy.io.images.read_image`), its file name is only displayed, and the bytes are
dropped with the request.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from seewhy.errors import ImageError, PixelLimitError
from seewhy.io.images import read_image

__all__ = ["BodyLimit", "UploadError", "read_upload"]


class UploadError(Exception):
    """An upload the server refuses: ``status`` 413 (too large) or 415 (not an image)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_upload(name: str, data: bytes, max_pixels: int) -> Image.Image:
    """The RGB image in ``data``; :class:`UploadError` 413 past ``max_pixels`` (refused from
    the header, before decoding), 415 when it is not a readable image."""
    shown = display_name(name)
    if not data:
        raise UploadError(415, f"{shown}: is empty (0 bytes), not an image")
    try:
        return read_image(io.BytesIO(data), shown, max_pixels)
    except PixelLimitError as error:
        raise UploadError(413, str(error)) from None
    except ImageError as error:
        raise UploadError(415, str(error)) from None


def display_name(name: str | None) -> str:
    """The last part of an upload's file name, printable and short: only ever shown."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(ch for ch in base if ch.isprintable())[:120]
    return shown or "upload"


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 before it is read whole.

    A ``Content-Length`` over the limit is refused before one byte of the body is read; a
    body without one (chunked) is counted while it streams, and refused the moment the
    count passes the limit (what the app had started to answer is dropped).
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        state = {"seen": 0, "over": False, "started": False}

        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_bytes:
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: dict) -> None:
            if state["over"]:
                return
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        limit = self.max_bytes / 2**20
        body = json.dumps(
            {"detail": f"the upload is larger than the server's limit of {limit:.3g} MB"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
