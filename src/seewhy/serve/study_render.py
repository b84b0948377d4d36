"""The pictures a trial shows, made with seewhy's Python API and renderers, cached in memory.

One :meth:`seewhy.Explainer.explain` call per (image, model, classes) makes every method the
study compares for those classes, and each map is drawn as the figure draws it
(:meth:`~seewhy.ExplanationResult.overlay`): guided backprop, deconvnet and their Grad-CAM
products as gradient images (grey is 0, as the Grad-CAM paper shows them), CAMs as a jet
heatmap over the photo. Each map is drawn on its own scale, so a map's strength does not give
its class away. The PNGs are kept per (image, model, method, class) in a byte-bounded LRU
cache, so later trials on the same image are served without running the model.

Everything here blocks: the router calls it through the app's worker pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
from PIL import Image

from seewhy.engine.targets import Classes, class_index
from seewhy.errors import ImageError, MethodRefusal, warn
from seewhy.explain import Explainer
from seewhy.models import LoadedModel
from seewhy.render import encode_png
from seewhy.serve.models import module_lock
from seewhy.serve.study_images import ClassName, StudyImage

__all__ = ["DISPLAY_MAX", "PngCache", "StudyRenderer", "display_size"]

#: Longest side of a picture as shown to a participant, in pixels.
DISPLAY_MAX = 448


def display_size(width: int, height: int, longest: int = DISPLAY_MAX) -> tuple[int, int]:
    """(width, height) scaled so the longest side is ``longest``, the aspect kept."""
    factor = longest / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


class PngCache:
    """A thread-safe LRU cache of PNG bytes, bounded by their total size."""

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], png: bytes) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            self._size -= len(old) if old is not None else 0
            self._items[key] = png
            self._size += len(png)
            while self._size > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


class StudyRenderer:
    """Predictions, photos and explanation PNGs for the study's trials.

    Args:
        get_model: a model by name (``seewhy.load_model`` semantics), e.g. the app's cache.
        cache_bytes: the PNG cache's bound.
    """

    def __init__(
        self, get_model: Callable[[str], LoadedModel], cache_bytes: int = 64 * 2**20
    ) -> None:
        self.get_model = get_model
        self.pngs = PngCache(cache_bytes)
        self._images: dict[str, Image.Image] = {}
        self._top: dict[tuple[str, str], list[int]] = {}
        self._explainers: dict[str, Explainer] = {}
        #: image key -> why it cannot be read; such images are left out of the draws
        self.broken: dict[str, str] = {}
        self._lock = threading.Lock()

    def _model_lock(self, model: str) -> threading.Lock:
        return module_lock(self.get_model(model).module)

    def _explainer(self, model: str) -> Explainer:
        with self._lock:
            if model not in self._explainers:
                self._explainers[model] = Explainer(self.get_model(model))
            return self._explainers[model]

    def image(self, image: StudyImage) -> Image.Image:
        """The RGB image, read (or composed) once."""
        with self._lock:
            found = self._images.get(image.key)
        if found is None:
            try:
                found = image.load()
            except ImageError as exc:
                if image.key not in self.broken:
                    self.broken[image.key] = str(exc)
                    warn(f"study image {image.key!r} left out: {exc}")
                raise
            with self._lock:
                self._images[image.key] = found
        return found

    def labels(self, model: str) -> list[str]:
        """The model's class names (``class N`` where it has none)."""
        lm = self.get_model(model)
        count = lm.num_classes or 0
        return list(lm.labels) if lm.labels else [f"class {i}" for i in range(count)]

    def class_id(self, model: str, value: ClassName) -> int:
        """A class id from an id or a label name of ``model`` (a TargetError otherwise)."""
        lm = self.get_model(model)
        return class_index(value, lm.num_classes or len(lm.labels or ()), lm.labels)

    def top(self, image: StudyImage, model: str, k: int = 2) -> list[int]:
        """The model's top-``k`` classes for the image (computed once per image and model)."""
        key = (image.key, model)
        if key not in self._top or len(self._top[key]) < k:
            lm = self.get_model(model)
            batch = lm.preprocess(self.image(image))
            with self._model_lock(model), torch.no_grad():
                device = next(lm.module.parameters()).device
                scores = lm.select_output(lm.module(batch.to(device)))
            self._top[key] = [int(i) for i in scores[0].topk(max(k, 2)).indices]
        return self._top[key][:k]

    def photo_png(self, image: StudyImage) -> bytes:
        """The image itself at display size."""
        key = ("photo", image.key)
        found = self.pngs.get(key)
        if found is None:
            photo = self.image(image)
            found = encode_png(photo.resize(display_size(*photo.size), Image.Resampling.LANCZOS))
            self.pngs.put(key, found)
        return found

    def map_png(
        self,
        image: StudyImage,
        model: str,
        method: str,
        target: int,
        *,
        methods: Sequence[str],
        classes: Sequence[int],
    ) -> bytes:
        """``method``'s map of ``target`` on the image, drawn at display size.

        On a miss, every method of ``methods`` is explained for every class of ``classes``
        (``target`` among them) in one call, and all their pictures are cached.
        """
        key = (image.key, model, method, target)
        found = self.pngs.get(key)
        if found is not None:
            return found
        methods = list(dict.fromkeys([method, *methods]))
        classes = list(dict.fromkeys([target, *classes]))
        photo = self.image(image)
        size = display_size(*photo.size)
        explainer = self._explainer(model)
        with self._model_lock(model):
            found = self.pngs.get(key)  # made by another trial while this one waited
            if found is not None:
                return found
            result = explainer.explain(
                [photo], methods=methods, targets=Classes(classes), progress=False
            )
        for name in methods:
            if name not in result.maps:
                continue  # refused on this model (its reason was warned)
            for t, cls in enumerate(classes):
                drawn = result.overlay(0, name, t, scale="map")
                self.pngs.put(
                    (image.key, model, name, cls),
                    encode_png(drawn.resize(size, Image.Resampling.BILINEAR)),
                )
        found = self.pngs.get(key)
        if found is None:
            reason = result.refused.get(method, "it made no map")
            raise MethodRefusal(f"{method} cannot explain {model}: {reason}")
        return found
