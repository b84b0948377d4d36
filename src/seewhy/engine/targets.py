"""Turn a target request into the (B, T) scores whose gradients explain each map.

One place decides the objective of every pass: the targets (top-k classes, explicit class
ids or label names for all images, one per image or a list per image, or any differentiable
function of the model's output), the score kind (logit, probability or log-probability),
and the counterfactual sign. :class:`Objective` holds the three; its :meth:`~Objective.resolve`
is the only place the sign is applied and the score kind read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Union

import numpy as np
import torch

from seewhy.errors import TargetError, suggestion

ScoreFunction = Callable[[torch.Tensor], torch.Tensor]
TargetSpec = Union[
    "Classes",
    str,
    int,
    Sequence[int | str],
    Sequence[Sequence[int | str]],
    ScoreFunction,
    torch.Tensor,
]
SCORES = ("logit", "prob", "logprob")
_TOPK = re.compile(r"^top(\d+)$")


@dataclass(frozen=True)
class Classes:
    """The same classes (ids or label names) for every image: ``Classes([281, "tabby"])``.

    A plain list means one target per image; wrap it to ask for all of them on each image.
    """

    classes: Sequence[int | str]


@dataclass(frozen=True)
class ResolvedTargets:
    """The targets of a batch.

    Attributes:
        indices: (B, T) class index of each target; -1 for callable targets.
        objective: (B, T) differentiable scores to take gradients of (logit, prob or logprob),
            negated for a counterfactual objective.
        scores: (B, T) the model's logit for each class target (the callable's value otherwise).
        probs: (B, T) the softmax probability of each class target (NaN for callables).
    """

    indices: torch.Tensor
    objective: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor

    def detached(self) -> ResolvedTargets:
        return replace(self, objective=self.objective.detach())


def parse_topk(spec: object) -> int | None:
    """``k`` for ``"top5"``, None for anything else."""
    if isinstance(spec, str):
        match = _TOPK.match(spec.strip().lower())
        if match:
            return int(match.group(1))
    return None


def plain_targets(spec: object) -> object:
    """``spec`` with NumPy values as Python ones (an array as its list, an ``np.int64`` as
    an int, in lists too); everything else as it is."""
    if isinstance(spec, np.ndarray):
        return spec.tolist()
    if isinstance(spec, np.generic):
        return spec.item()
    if isinstance(spec, (list, tuple)):
        return type(spec)(plain_targets(item) for item in spec)
    return spec


def class_index(value: int | str, num_classes: int, labels: Sequence[str] | None) -> int:
    """A class id from an int, a numeric string or a label name, checked against the range."""
    value = plain_targets(value)  # type: ignore[assignment]
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            value = int(text)
        elif labels:
            exact = [i for i, label in enumerate(labels) if label == text]
            if len(exact) == 1:  # an exact match wins: "cardigan" the sweater, not "Cardigan"
                return exact[0]
            folded = [i for i, label in enumerate(labels) if label.lower() == text.lower()]
            if len(folded) == 1:
                return folded[0]
            if folded:
                named = ", ".join(f"{labels[i]!r} ({i})" for i in folded)
                raise TargetError(
                    f"class name {value!r} names {len(folded)} classes ({named}): give the "
                    "class id, or the name exactly as spelled"
                )
            raise TargetError(f"unknown class name {value!r}.{suggestion(text, labels)}")
        else:
            raise TargetError(
                f"class {value!r} is not a class id, and this model has no class names"
            )
    if isinstance(value, bool) or not isinstance(value, int):
        raise TargetError(f"a class target must be an int or a label name, got {value!r}")
    if not 0 <= value < num_classes:
        raise TargetError(
            f"class id {value} is out of range: the model has {num_classes} classes (0-{num_classes - 1})"
        )
    return value


def class_indices(
    spec: TargetSpec, output: torch.Tensor, labels: Sequence[str] | None
) -> torch.Tensor:
    """The (B, T) class ids a non-callable spec asks for on this output."""
    batch, num_classes = output.shape
    spec = plain_targets(spec)  # type: ignore[assignment]
    k = parse_topk(spec)
    if k is not None:
        if not 1 <= k <= num_classes:
            raise TargetError(f"{spec!r} asks for {k} classes; the model has {num_classes}")
        return output.detach().topk(k, dim=1).indices
    if isinstance(spec, Classes):
        if not spec.classes:
            raise TargetError("Classes() needs at least one class")
        ids = [class_index(item, num_classes, labels) for item in spec.classes]
        return torch.tensor(ids, dtype=torch.long, device=output.device).expand(batch, -1)
    if isinstance(spec, torch.Tensor):
        spec = spec.tolist()
    if isinstance(spec, (int, str)):
        index = class_index(spec, num_classes, labels)
        return torch.full((batch, 1), index, dtype=torch.long, device=output.device)
    if isinstance(spec, Sequence):
        check_count(spec, batch)
        rows = [list(item) if _is_list(item) else [item] for item in spec]
        if len({len(row) for row in rows}) != 1:
            raise TargetError("every image must have the same number of targets")
        if rows and not rows[0]:
            raise TargetError("every image needs at least one target; got empty lists")
        ids = [[class_index(item, num_classes, labels) for item in row] for row in rows]
        return torch.tensor(ids, dtype=torch.long, device=output.device)
    raise TargetError(
        f"targets={spec!r} is not understood: use 'top1'..'topK', a class id or name, one per "
        "image, a list per image, or a function of the model's output"
    )


def _is_list(item: object) -> bool:
    """Whether a per-image entry is a list of targets (not one id or name)."""
    return isinstance(item, Sequence) and not isinstance(item, str)


def per_image(spec: TargetSpec) -> bool:
    """Whether ``spec`` gives one target (or one list of targets) per image."""
    return isinstance(spec, Sequence) and not isinstance(spec, (str, torch.Tensor))


def check_count(spec: TargetSpec, images: int, what: str = "images") -> None:
    """A TargetError when a per-image ``spec`` does not have one entry per image."""
    if per_image(spec) and len(spec) != images:  # type: ignore[arg-type]
        raise TargetError(
            f"got {len(spec)} targets for {images} {what}: give one target (or one list of "  # type: ignore[arg-type]
            "targets) per image, or a single target for all"
        )


def resolve_targets(
    output: torch.Tensor,
    spec: TargetSpec = "top1",
    score: str = "logit",
    labels: Sequence[str] | None = None,
) -> ResolvedTargets:
    """Resolve ``spec`` against the model's output (B, C) into differentiable scores
    (``Objective(spec, score).resolve(output, labels)``)."""
    return Objective(spec, score).resolve(output, labels)


def _resolve(
    output: torch.Tensor, spec: TargetSpec, score: str, labels: Sequence[str] | None
) -> ResolvedTargets:
    """The targets of ``spec`` on ``output`` and their ``score`` (checked by Objective)."""
    if callable(spec) and not isinstance(spec, torch.Tensor):
        values = spec(output)
        if not isinstance(spec, ImageRows):  # checked inside, on the outputs it was given
            check_values(values, output.shape[0])
        if values.dim() == 1:
            values = values.unsqueeze(1)
        # Checked where gradients flow (score-only passes run without a graph).
        if output.requires_grad and not values.requires_grad:
            raise TargetError("the target function's value does not depend on the model's output")
        nan = torch.full(values.shape, float("nan"), device=values.device)
        indices = torch.full(values.shape, -1, dtype=torch.long, device=values.device)
        return ResolvedTargets(indices, values, values.detach(), nan)
    if output.dim() != 2:
        raise TargetError(
            f"class targets need a (B, classes) output, but the model's output has shape "
            f"{tuple(output.shape)}; pass a function as targets= (e.g. a region's summed logits)"
        )
    indices = class_indices(spec, output, labels)
    logits = output.gather(1, indices)
    probs = torch.softmax(output.detach(), dim=1).gather(1, indices)
    if score == "logit":
        objective = logits
    elif score == "prob":
        objective = torch.softmax(output, dim=1).gather(1, indices)
    else:
        objective = torch.log_softmax(output, dim=1).gather(1, indices)
    return ResolvedTargets(indices, objective, logits.detach(), probs)


def check_values(values: object, images: int) -> None:
    """A TargetError unless a target function's ``values`` are a (B,) or (B, T) tensor, T > 0,
    for ``images`` = B images."""
    if not isinstance(values, torch.Tensor):
        raise TargetError(f"the target function returned {type(values).__name__}, not a tensor")
    if values.dim() not in (1, 2) or values.shape[0] != images:
        raise TargetError(
            f"the target function must return a tensor (B,) or (B, T) for B={images}"
            f" images, got shape {tuple(values.shape)}"
        )
    if values.dim() == 2 and values.shape[1] == 0:
        raise TargetError(
            f"the target function returned no target (shape {tuple(values.shape)}): give at "
            "least one score per image"
        )


@dataclass(frozen=True)
class ImageRows:
    """A target function called as if on the outputs of all the call's images, row i image i.

    A target function may hold per-image data: a reference embedding per image
    (``cosine_similarity(out, refs)``), an answer per image (``out[arange(B), answers]``).
    Its rows then mean images, but the passes give it other outputs: a chunk of the call's
    images (``batch_size``), or copies of them (occlusion's masked, SmoothGrad's noisy
    ones, several of one image in a row). Read as they came, the copies would be scored
    against the wrong images' data, or fail on the mismatched sizes.

    So each output row ``j``, which stands for image ``rows[j]``, is placed at row
    ``rows[j]`` of an ``images``-row output and the function called on that; rows of images
    with no copy there are filled with another row of the same call, and their values
    dropped. Copies of the same image go in separate calls (as many calls as the most copies
    of one image), so a function that treats rows independently gives exactly its own
    values. Outputs that are already the call's images in order go straight through.
    """

    function: ScoreFunction
    images: int
    rows: torch.Tensor

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        rows = self.rows.to(output.device)
        count = rows.shape[0]
        if count != output.shape[0]:
            raise TargetError(
                f"a target function was given {output.shape[0]} outputs for {count} rows"
            )
        if count == self.images and torch.equal(rows, torch.arange(count, device=rows.device)):
            values = self.function(output)
            check_values(values, self.images)
            return values
        # rank[j]: how many earlier rows stand for the same image; one call per rank.
        order = torch.argsort(rows, stable=True)
        ordered = rows[order]
        rank = torch.empty_like(rows)
        rank[order] = torch.arange(count, device=rows.device) - torch.searchsorted(ordered, ordered)
        pieces, places = [], []
        for step in range(int(rank.max()) + 1):
            taken = (rank == step).nonzero().flatten()
            index = torch.full((self.images,), int(taken[0]), device=rows.device)
            index[rows[taken]] = taken
            values = self.function(output[index])
            check_values(values, self.images)
            pieces.append(values[rows[taken]])
            places.append(taken)
        return torch.cat(pieces)[torch.argsort(torch.cat(places))]

    def images_of(self, rows: torch.Tensor) -> ImageRows:
        """The function on outputs whose row ``j`` is this one's row ``rows[j]``."""
        return replace(self, rows=self.rows[rows.to(self.rows.device)])


@dataclass(frozen=True)
class FixedTargets:
    """The targets resolved on a clean batch, to explain again on copies of its images.

    Attributes:
        indices: (B, T) class indices (-1 for a callable target).
        function: the callable target, evaluated on the copies' outputs; None for classes.
    """

    indices: torch.Tensor
    function: ScoreFunction | None = None

    def for_rows(self, rows: torch.Tensor) -> TargetSpec:
        """The target spec of copies of images ``rows``."""
        if self.function is not None:
            function = self.function
            if not isinstance(function, ImageRows):
                images = self.indices.shape[0]
                function = ImageRows(function, images, torch.arange(images))
            return function.images_of(rows)
        return self.indices[rows.to(self.indices.device)]


@dataclass(frozen=True)
class Objective:
    """What a pass explains: the targets, the score kind and the counterfactual sign.

    Args:
        targets: any :data:`TargetSpec`.
        score: ``"logit"`` (as the papers), ``"prob"`` or ``"logprob"``.
        counterfactual: explain ``-S``: every gradient negated (regions that argue against
            the target), every score of a copy negated.

    A per-image ``targets`` list is sliced with :meth:`images` for a chunk of the call's
    images; :meth:`fixed` pins the targets resolved on a clean batch, and :meth:`for_rows`
    gives the objective of copies of its images (noisy, masked or scaled).
    """

    targets: TargetSpec = "top1"
    score: str = "logit"
    counterfactual: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", plain_targets(self.targets))
        if self.score not in SCORES:
            raise TargetError(
                f"score={self.score!r} is not allowed; use one of {', '.join(SCORES)}"
            )
        if not isinstance(self.counterfactual, bool):
            raise TargetError(f"counterfactual must be True or False, got {self.counterfactual!r}")
        function = callable(self.targets) and not isinstance(self.targets, torch.Tensor)
        if function and self.score != "logit":
            # The function's values are what is explained; a score kind would be ignored
            # while the request recorded it.
            raise TargetError(
                f"score={self.score!r} does not apply to a target function: its values are "
                "explained as returned. Compute the score inside it (e.g. "
                "out.log_softmax(1)[:, k]) and leave score='logit'"
            )

    def resolve(self, output: torch.Tensor, labels: Sequence[str] | None = None) -> ResolvedTargets:
        """The targets on ``output`` (B, classes), their objective negated when counterfactual.

        Negation is exact, so the gradients of ``-S`` are exactly those of ``S`` negated.
        """
        resolved = _resolve(output, self.targets, self.score, labels)
        if not self.counterfactual:
            return resolved
        return replace(resolved, objective=-resolved.objective)

    def images(self, start: int, stop: int) -> Objective:
        """The objective of the call's images ``start..stop-1`` (a per-image list sliced, a
        target function given their rows: :meth:`of_images`)."""
        if isinstance(self.targets, ImageRows):
            return replace(self, targets=self.targets.images_of(torch.arange(start, stop)))
        if not per_image(self.targets):
            return self
        return replace(self, targets=list(self.targets[start:stop]))  # type: ignore[index]

    def of_images(self, images: int) -> Objective:
        """This objective for a call on ``images`` images: a target function then always
        sees outputs laid out as the call's images, row i image i (:class:`ImageRows`),
        whatever chunk or copies a pass runs."""
        if not callable(self.targets) or isinstance(self.targets, (torch.Tensor, ImageRows)):
            return self
        rows = torch.arange(images)
        return replace(self, targets=ImageRows(self.targets, images, rows))  # type: ignore[arg-type]

    def fixed(self, resolved: ResolvedTargets) -> Objective:
        """This objective with the targets pinned to those ``resolved`` on a clean batch."""
        if bool((resolved.indices < 0).any()):
            return replace(self, targets=FixedTargets(resolved.indices, self.targets))  # type: ignore[arg-type]
        return replace(self, targets=FixedTargets(resolved.indices))

    def for_rows(self, rows: torch.Tensor) -> Objective:
        """The objective of copies of images ``rows`` (after :meth:`fixed`)."""
        if not isinstance(self.targets, FixedTargets):
            raise TargetError("for_rows needs targets fixed on a clean batch (Objective.fixed)")
        return replace(self, targets=self.targets.for_rows(rows))
