"""Models side by side on the same classes: the first model picks the targets, every model
explains them.

``explain_models([a, b], images, targets="top5")`` explains the images with ``a`` for its
top 5 classes, then with ``b`` for those same classes, image by image, so row ``t`` of
every model's figure block is one class; each result keeps its own model's score and
probability for it. Class ids must mean the same thing to every model: the models must
score as many classes, with the same names where both have names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from seewhy.errors import TargetError
from seewhy.explain.explainer import Explainer, ImageInput
from seewhy.methods.registry import MethodRequest
from seewhy.models.base import LoadedModel, check_distinct_names
from seewhy.result import ExplanationResult

__all__ = ["explain_models"]


def explain_models(
    models: Sequence[Explainer | LoadedModel | nn.Module | str],
    images: ImageInput,
    methods: MethodRequest = ("gradcam",),
    targets: Any = "top1",
    **options: Any,
) -> list[ExplanationResult]:
    """One result per model for the same images and the same classes.

    Args:
        models: Explainers, or models (loaded, ``nn.Module`` or names) to wrap in an
            ``Explainer`` with its defaults.
        images, methods, targets: as :meth:`Explainer.explain`; ``targets`` is resolved on
            the first model (``"top5"``: the first model's top 5), and the other models
            explain the classes it gave, per image. A function target is given to every
            model as it is.
        options: more keywords of :meth:`Explainer.explain` (``score``, ``counterfactual``,
            ``progress``, ``forward_args``...), the same for every model.

    Raises:
        TargetError: the models' class counts differ, or their class names do.
        OptionError: two models have the same name.
    """
    explainers = [m if isinstance(m, Explainer) else Explainer(m) for m in models]
    if not explainers:
        raise TargetError("explain_models needs at least one model")
    check_distinct_names([e.model for e in explainers], "results, their files and figures")
    for other in explainers[1:]:
        check_same_classes(explainers[0].model, other.model)
    first = explainers[0].explain(images, methods, targets, **options)
    shared = targets if callable(targets) else first.targets.tolist()
    results = [first]
    for explainer in explainers[1:]:
        result = explainer.explain(images, methods, shared, **options)
        result.options["targets"] = first.options["targets"]
        result.options["targets_from"] = first.model_name
        results.append(result)
    return results


def check_same_classes(first: LoadedModel, other: LoadedModel) -> None:
    """A TargetError when ``other``'s class ids cannot mean ``first``'s: a different number
    of classes (where both are known), or different names (where both have names)."""
    counts = first.num_classes, other.num_classes
    if None not in counts and counts[0] != counts[1]:
        raise TargetError(
            f"models side by side explain the same classes, but {first.name!r} has "
            f"{counts[0]} classes and {other.name!r} has {counts[1]}; explain them apart"
        )
    if first.labels and other.labels and list(first.labels) != list(other.labels):
        index = next(
            (i for i, (a, b) in enumerate(zip(first.labels, other.labels)) if a != b),
            min(len(first.labels), len(other.labels)),
        )
        mine = first.labels[index] if index < len(first.labels) else None
        theirs = other.labels[index] if index < len(other.labels) else None
        raise TargetError(
            f"models side by side explain the same classes, but class {index} is {mine!r} "
            f"for {first.name!r} and {theirs!r} for {other.name!r}; give both the same "
            "labels (labels=, --labels) or explain them apart"
        )
