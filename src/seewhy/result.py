"""What an explanation call returns: maps, targets, scores, and ways to look at them.

Keeping them on disk (files and ``report.json``) is :mod:`seewhy.report`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from seewhy.render import (
    SCALES,
    FigureBlock,
    Scale,
    explanation_figure,
    normalize_map,
    render_panel,
    scale_of,
    shared,
    sign_legend,
)

_SHARING = {
    "map": "each map on its own scale",
    "image": "one scale for this image's targets",
    "global": "one scale for every image of the run",
}

if TYPE_CHECKING:
    from seewhy.localize import Segments


class LazyMaps(MutableMapping[str, torch.Tensor]):
    """A dict of maps whose entries may be computed on first read, then kept.

    ``res.maps`` holds the CAM maps at input resolution this way: upsampling hundreds of maps
    to 224 px costs as much as the methods themselves, so it is done for the maps a caller
    reads (all of them for ``save`` and figures), once each.
    """

    def __init__(self, entries: Mapping[str, torch.Tensor | Callable[[], torch.Tensor]]) -> None:
        self._entries: dict[str, torch.Tensor | Callable[[], torch.Tensor]] = dict(entries)

    def __getitem__(self, key: str) -> torch.Tensor:
        value = self._entries[key]
        if not isinstance(value, torch.Tensor):
            value = self._entries[key] = value()
        return value

    def __setitem__(self, key: str, value: torch.Tensor) -> None:
        self._entries[key] = value

    def __delitem__(self, key: str) -> None:
        del self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LazyMaps({list(self._entries)})"


class LazyField:
    """A dataclass field that takes a value or a function making it, called on first read.

    ``res.images`` is one: turning the batch back into uint8 pictures costs a few
    milliseconds, paid only by callers that draw.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_lazy_" + name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            raise AttributeError(self.slot)  # dataclasses: the field has no default
        value = instance.__dict__[self.slot]
        if callable(value):
            value = instance.__dict__[self.slot] = value()
        return value

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__[self.slot] = value


@dataclass(frozen=True)
class InputRecord:
    """One input of the call: its name, its row in the batch, or why it could not be read."""

    source: str
    index: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ExplanationResult:
    """Maps for B images x T targets for each method.

    Every tensor in it is float32 (scores and probabilities included), whatever the
    model's dtype: a float64, float16 or bfloat16 model's values are cast.

    Attributes:
        maps: method -> (B, T, H, W) at input resolution, raw (after the method's own ReLU);
            for input-space methods the per-pixel map of the attribution. A method computed at
            several layers has the fused map here: the mean of its per-layer maps, each
            min-max scaled to [0, 1] first (see :func:`seewhy.explain.fuse.fuse_maps`).
        layer_maps: method -> (B, T, h, w) at the layer's resolution, raw (CAM methods only);
            with several layers one entry per layer, keyed ``"method@layer"``.
        targets: (B, T) the class (or target) index of each map; -1 for callable targets.
        scores: (B, T) the model's score (logit) for each target.
        probs: (B, T) its softmax probability (NaN for callable targets).
        labels: class names of each target, where the model has them.
        images: (B, H, W, 3) uint8, each input as the model saw it (may be given as a
            function that makes it; called on first read).
        records: every input of the call in order, with its batch row or its error.
        model_name: the model's display name.
        layers: method -> the layer it was computed at, or the list of its layers when
            there are several (methods that work on no layer have no entry).
        options: every parameter of the call, JSON-ready (``report.json``'s ``request``):
            ``model`` (name, source, weights, classes, preprocessing), ``layers`` (as
            requested), ``methods`` (each with all its options, defaults included),
            ``targets`` (as requested: ``"top5"``, a class list...), ``score``,
            ``counterfactual``, ``fast``, ``batch_size``, ``device``, ``versions`` (seewhy,
            torch, Python); see :meth:`seewhy.explain.Explainer.request`.
        skipped: the files in the call's folders left out as not images by suffix.
        attributions: input-space method -> (B, T, C, H, W) raw attribution over the
            input's channels.
        deltas: method -> (B, T) convergence delta (integrated gradients: the sum of the
            attributions minus ``S(x) - S(baseline)``).
        displays: method -> how its map is drawn (``"cam"``, ``"abs"``, ``"signed"``,
            ``"rgb"``; see :func:`seewhy.render.render_panel`); ``"cam"`` when missing.
            With several layers, the fused attribution of an ``"rgb"`` method is the mean of
            its per-layer attributions, each divided by its peak magnitude
            (:func:`seewhy.explain.fuse.fuse_attributions`).
        maps_by_layer: method -> layer -> (B, T, H, W), each layer's own map at input
            resolution (upsampled on first read), for every method that works on a layer;
            with one layer, the same tensor as ``maps[method]``.
        refused: method -> why it could not run on this model or layer (a
            :class:`~seewhy.errors.MethodRefusal`'s message); such a method has no maps and
            is drawn as a labelled empty cell in the figure.
    """

    maps: MutableMapping[str, torch.Tensor]
    layer_maps: dict[str, torch.Tensor]
    targets: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor
    labels: list[list[str]] | None
    images: np.ndarray = LazyField()  # type: ignore[assignment]
    records: list[InputRecord]
    model_name: str = "model"
    layers: dict[str, str | list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    attributions: dict[str, torch.Tensor] = field(default_factory=dict)
    deltas: dict[str, torch.Tensor] = field(default_factory=dict)
    displays: dict[str, str] = field(default_factory=dict)
    maps_by_layer: dict[str, MutableMapping[str, torch.Tensor]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    _scales: dict[tuple[str, int], Scale] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _found_boxes: dict[tuple[str, int, float], list[Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def methods(self) -> list[str]:
        return list(self.maps)

    @property
    def sources(self) -> list[str]:
        """The names of the explained inputs, by batch row."""
        return [r.source for r in self.records if r.ok]

    @property
    def errors(self) -> list[InputRecord]:
        """The inputs that could not be read."""
        return [r for r in self.records if not r.ok]

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def normalized(self, eps: float = 1e-8) -> ExplanationResult:
        """A copy whose maps are min-max scaled to [0, 1] per map; an all-zero map stays zero."""

        def scale(maps: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {
                key: torch.from_numpy(normalize_map(value.numpy(), eps=eps)).to(value.dtype)
                for key, value in maps.items()
            }

        return replace(
            self,
            maps=scale(self.maps),
            layer_maps=scale(self.layer_maps),
            maps_by_layer={method: scale(maps) for method, maps in self.maps_by_layer.items()},
        )

    def target_label(self, index: int, target: int) -> str:
        """``'Egyptian cat (285)  p=0.79'`` for image ``index``, target ``target``."""
        class_id = int(self.targets[index, target])
        prob = float(self.probs[index, target])
        name = self.labels[index][target] if self.labels else None
        if class_id < 0:
            text = f"target {target}  score={float(self.scores[index, target]):.3g}"
        else:
            text = f"{name} ({class_id})" if name else f"class {class_id}"
        if not np.isnan(prob):
            text += f"  p={prob:.2f}"
        return text

    def _check_method(self, method: str) -> None:
        if method not in self.maps:
            from seewhy.errors import MethodError, suggestion

            if method in self.refused:
                raise MethodError(f"{method!r} was not run: {self.refused[method]}")
            raise MethodError(f"no {method!r} maps in this result.{suggestion(method, self.maps)}")

    def signed(self, method: str) -> bool:
        """Whether ``method``'s maps are drawn on the diverging scale centred on zero.

        Decided by the method, not by each map, so every image of a run is drawn alike:
        its display is ``"signed"`` (gradient, input x gradient, integrated gradients,
        occlusion), or it is a CAM whose ``relu`` is off, as the request gave it or as the
        method's default (HiResCAM's is off). Only a map of no known method or without a
        ``relu`` option is judged by its data: signed when any value is negative.
        """
        display = self.displays.get(method, "cam")
        if display != "cam":
            return display == "signed"
        relu = _relu_option(method, (self.options.get("methods") or {}).get(method))
        if relu is not None:
            return not relu
        return bool((self.maps[method] < 0).any())

    def scales(self, index: int, method: str, scale: str = "image") -> list[Scale] | None:
        """The scale each target's map of ``method`` on image ``index`` is drawn with (None
        for ``"rgb"`` methods, drawn as gradient images).

        ``scale``: ``"map"`` (each map its own), ``"image"`` (one for the image's targets,
        the default) or ``"global"`` (one for every image of this result; computed once).
        """
        from seewhy.errors import OptionError

        if scale not in SCALES:
            raise OptionError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        self._check_method(method)
        display = self.displays.get(method, "cam")
        if display == "rgb":
            return None
        signed, maps = self.signed(method), self.maps[method]
        count = maps.shape[1]
        if scale == "map":
            return [scale_of(maps[index, t], display, signed) for t in range(count)]  # type: ignore[misc]
        if scale == "image":
            return [scale_of(maps[index], display, signed)] * count  # type: ignore[list-item]
        key = (method, id(maps))
        if key not in self._scales:
            per_image = [scale_of(maps[b], display, signed) for b in range(maps.shape[0])]
            self._scales[key] = shared(s for s in per_image if s is not None)
        return [self._scales[key]] * count

    def overlay(
        self,
        index: int,
        method: str,
        target: int = 0,
        alpha: float = 0.5,
        scale: str | None = None,
    ) -> Image.Image:
        """One map drawn as a PIL image, as in the figure: a jet heatmap over the photo for
        CAM methods (diverging when signed); for input-space methods the drawing of their kind
        (see :func:`seewhy.render.render_panel`). ``scale`` as in :meth:`scales` (``None``:
        the one the result was saved with, else ``"image"``)."""
        scales = self.scales(index, method, self._drawn(scale, None)[0])
        return self._panel(index, method, target, None if scales is None else scales[target], alpha)

    def _panel(
        self, index: int, method: str, target: int, scale: Scale | None, alpha: float = 0.5
    ) -> Image.Image:
        attribution = self.attributions.get(method)
        return render_panel(
            self.images[index],
            self.maps[method][index, target].numpy(),
            self.displays.get(method, "cam"),
            None if attribution is None else attribution[index, target].numpy(),
            alpha=alpha,
            scale=scale,
        )

    def columns(self) -> list[str]:
        """The figure's method columns: the methods with maps and the refused ones, in the
        order of the request."""
        requested = list(self.options.get("methods") or {})
        shown = set(self.maps) | set(self.refused)
        ordered = [m for m in requested if m in shown]
        return ordered + [m for m in (*self.maps, *self.refused) if m not in ordered]

    def caption(self, method: str, scales: list[Scale] | None, scale: str = "image") -> str:
        """What the colours of ``method``'s column mean, printed under its colour bar (whose
        ends show the values): which maps share the scale, where it is clipped, and what
        red and blue mean on a signed map. One line per statement."""
        display = self.displays.get(method, "cam")
        if scales is None:
            return "gradient image: grey = 0,\neach image on its own spread"
        one = scales[0]
        lines = [_SHARING[scale]]
        if all(s.high == s.low for s in scales):
            lines = [f"{_SHARING[scale]}: every map is 0"]
        if isinstance(self.layers.get(method), list) and len(self.layers[method]) > 1:
            # fuse_maps scales each layer's map to [0, 1] on its own before the mean: a weak
            # class's fused map can be as bright as a strong one's, whatever the scale
            lines.append("fused: each layer scaled alone,\nstrengths do not compare")
        if display != "cam":
            lines.append("clipped at |map|'s 99th percentile")
        if one.signed:
            lines.append(sign_legend(method, bool(self.options.get("counterfactual"))))
        elif display == "abs":
            lines.append("brighter: larger magnitude")
        elif self.options.get("counterfactual"):
            lines.append("warm: evidence against the row's class")
        return "\n".join(lines)

    def subtitle(self) -> str:
        """What the maps explain: the score and whether it is counterfactual."""
        score = self.options.get("score", "logit")
        if self.options.get("counterfactual"):
            return f"score: -{score} (counterfactual: each map shows what argues against its class)"
        return f"score: {score} of each row's class"

    def _drawn(self, scale: str | None, box_threshold: float | None) -> tuple[str, float | None]:
        """The scale and box threshold to draw with: those given, else the ones the result
        was saved with (a loaded result's ``options``), else ``"image"`` and no boxes."""
        if scale is None:
            scale = self.options.get("scale") or "image"
        if box_threshold is None:
            box_threshold = self.options.get("box_threshold")
        return scale, box_threshold

    def block(
        self, index: int, scale: str | None = None, box_threshold: float | None = None
    ) -> FigureBlock:
        """The figure block of one image: rows = targets ("against: ..." when
        counterfactual), columns = methods titled with their layer (a fused map's names its
        layers), each drawn in its ``scale`` (see :meth:`scales`) with a caption saying what
        it is; a refused method's column is an empty cell labelled with its reason. Its
        ``panels`` are drawn here, as :meth:`overlay` draws them, with each map's box
        (:func:`seewhy.localize.boxes` at ``box_threshold``) outlined when one is given.
        ``None``: as the result was saved (see :meth:`_drawn`)."""
        scale, box_threshold = self._drawn(scale, box_threshold)
        columns = self.columns()
        count, size = self.targets.shape[1], self.images.shape[1:3]
        empty = np.zeros((count, *size), np.float32)
        maps = np.stack(  # (T, M, H, W); NumPy's copy, torch.stack's threads cost 10x here
            [self.maps[m][index].numpy() if m in self.maps else empty for m in columns], axis=1
        )
        against = "against: " if self.options.get("counterfactual") else ""
        rows = [against + self.target_label(index, t) for t in range(count)]
        kinds = [self.displays.get(m, "cam") for m in columns]
        attributions = [
            self.attributions[m][index].numpy() if m in self.attributions else None for m in columns
        ]
        notes = [f"not run: {self.refused[m]}" if m in self.refused else None for m in columns]
        scales = [self.scales(index, m, scale) if m in self.maps else None for m in columns]
        captions = [
            self.caption(m, s, scale) if m in self.maps else None
            for m, s in zip(columns, scales, strict=True)
        ]
        panels = [
            [
                self._panel(index, m, t, None if s is None else s[t]) if m in self.maps else None
                for m, s in zip(columns, scales, strict=True)
            ]
            for t in range(count)
        ]
        if box_threshold is not None:
            from seewhy.render.boxes import draw_boxes

            for c, method in enumerate(columns):
                if method in self.maps:
                    found = self.boxes_of(index, method, box_threshold)
                    for t, box in enumerate(found):
                        panel = panels[t][c]
                        if panel is not None and box is not None:
                            panels[t][c] = draw_boxes(panel, [box])
        return FigureBlock(
            self.model_name,
            self.images[index],
            [_column_title(m, self.layers.get(m)) for m in columns],
            rows,
            maps,
            kinds,
            attributions,
            notes if any(notes) else None,
            scales,
            captions,
            self.subtitle(),
            panels,
        )

    def boxes_of(self, index: int, method: str, threshold: float) -> list[Any]:
        """Each target's box of ``method`` on image ``index`` (:func:`seewhy.localize.boxes`,
        largest segment, None where a map has none), found once per threshold: the report
        entry and the drawn panels of a save share them."""
        key = (method, index, threshold)
        if key not in self._found_boxes:
            from seewhy.localize import boxes

            self._found_boxes[key] = boxes(self.maps[method][index], threshold)  # type: ignore[assignment]
        return self._found_boxes[key]

    def figure(
        self, index: int = 0, scale: str | None = None, box_threshold: float | None = None
    ) -> Image.Image:
        """The figure of one image, titled with its file's name, as a PIL image; ``scale``
        as in :meth:`scales`, boxes as in :meth:`block` (``None``: as the result was saved,
        else ``"image"`` and no boxes)."""
        return explanation_figure(
            [self.block(index, scale, box_threshold)], title=source_name(self.sources[index])
        )

    def report(self, box_threshold: float | None = None) -> list[dict[str, Any]]:
        """One JSON-ready entry per input (maps left out; :meth:`save` adds their files), with
        each map's box when ``box_threshold`` is given; see :mod:`seewhy.report`."""
        from seewhy.report import report_entry  # report.py imports this module

        return [report_entry(self, record, box_threshold) for record in self.records]

    def save(
        self,
        directory: str | Path,
        scale: str = "image",
        what: Sequence[str] = ("figure", "maps"),
        overlay_format: str = "png",
        box_threshold: float | None = None,
    ) -> Path:
        """Write figures and maps (.npy) (``what`` may add ``"overlays"``, one picture per
        map, in ``overlay_format`` ``"png"``, ``"jpeg"`` or ``"webp"``) and ``report.json``;
        returns the report path. With ``box_threshold`` (e.g. 0.15) each map's box is in the
        report and drawn on its panel. See :func:`seewhy.report.save_results`."""
        from seewhy.report import save_results  # report.py imports this module

        return save_results(
            [self],
            directory,
            scale=scale,
            what=what,
            overlay_format=overlay_format,
            box_threshold=box_threshold,
        )

    def boxes(
        self, method: str, threshold: float = 0.15, segments: Segments = "largest"
    ) -> list[list[Any]]:
        """Weakly supervised localization boxes of ``method``'s maps, per image and target.

        ``res.boxes(m)[b][t]`` is :func:`seewhy.localize.boxes` of ``res.maps[m][b, t]``: the
        :class:`~seewhy.localize.Box` ``(x0, y0, x1, y1)`` (inclusive, in the pixels of
        ``res.images``) of the largest segment at ``threshold`` times the map's maximum, or
        ``None`` when the map has no positive value; with ``segments="all"`` the list of
        every segment's box, largest first.
        """
        from seewhy.localize import boxes

        if method not in self.maps:
            from seewhy.errors import MethodError, suggestion

            raise MethodError(f"no {method!r} maps in this result.{suggestion(method, self.maps)}")
        maps = self.maps[method]
        found = boxes(maps.flatten(0, 1), threshold, segments)  # type: ignore[call-overload]
        count = maps.shape[1]
        return [list(found[b * count : (b + 1) * count]) for b in range(maps.shape[0])]

    def _repr_png_(self) -> bytes:
        import io

        buffer = io.BytesIO()
        self.figure(0).save(buffer, format="PNG")
        return buffer.getvalue()

    def __repr__(self) -> str:
        batch, count = self.targets.shape
        return (
            f"ExplanationResult(model={self.model_name!r}, images={batch}, targets={count}, "
            f"methods={self.methods}, errors={len(self.errors)})"
        )


def source_name(source: str) -> str:
    """A figure's title: the input's file name, not the machine's path to it."""
    return Path(source).name or source


def _column_title(method: str, layer: str | list[str] | None) -> str:
    """``method`` over a line naming its layer (``"fused: a + b"`` for several)."""
    if isinstance(layer, list):
        return f"{method}\nfused: {' + '.join(layer)}"
    return f"{method}\nlayer {layer}" if layer else method


def _relu_option(method: str, options: Mapping[str, Any] | None) -> bool | None:
    """Whether ``method`` applies its ReLU, from the request's options or the method's
    default; None for a method that is not registered or has no ``relu`` option."""
    import inspect

    from seewhy.errors import MethodError
    from seewhy.methods.registry import get_method

    if options and "relu" in options:
        return bool(options["relu"])
    try:
        spec = get_method(method)
        while spec.inner is not None:  # smooth:<method> takes the method's own options
            spec = get_method(spec.inner)
    except MethodError:
        return None
    parameter = inspect.signature(spec.function).parameters.get("relu")
    return None if parameter is None else bool(parameter.default)
