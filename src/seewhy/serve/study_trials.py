"""Drawing a trial: which study, image, method, class, answer order and model order.

Every choice is drawn at random and recorded with the trial. The draws are balanced as a
study needs them to be: a participant gets the study they have done less of, then the
(image, method) they have seen least (the image first, so one person rarely sees one image
twice; then the method, so each person sees every method alike), then of those the one served least to everybody; a discrimination trial then shows the
image's class shown less often with that method. Ties are broken at random, and so are the
order of the two answers and which model of the trust pair is shown first. An image that
cannot be read is left out from then on (with one warning naming it).

Protocol, as in the Grad-CAM paper (Sec. 5):

- **Class discrimination.** An image with two categories, one visualization of one of them, and
  the question "Which of the two object categories is depicted in the image?" with the two
  category names as answers. Correct when the answer is the class the map was made for.
- **Trust.** Images where both models make the same prediction (the label's, when the image
  has one); both models' visualizations for that class side by side as "Model A" and
  "Model B"; the participant rates from -2 (A much more reliable) to +2 (B much more
  reliable). The stored ``score`` is the rating turned so that a positive score favours the
  configuration's first trust model whichever side it was shown on.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from seewhy.errors import ImageError
from seewhy.serve.study_config import StudyConfig
from seewhy.serve.study_images import ImageSource, StudyImage
from seewhy.serve.study_render import StudyRenderer

__all__ = ["RATINGS", "NoTrials", "draw_trial", "normalised_score", "study_images", "trust_pool"]

#: The trust ratings: value -> what its button says (A is the model shown on the left).
RATINGS: dict[int, str] = {
    -2: "Model A is much more reliable",
    -1: "Model A is slightly more reliable",
    0: "Both are equally reliable",
    1: "Model B is slightly more reliable",
    2: "Model B is much more reliable",
}


class NoTrials(Exception):
    """No trial can be drawn for this configuration (the message says why)."""


def normalised_score(rating: int, shown_first: str, model_a: str) -> int:
    """The rating turned so that a positive score favours ``model_a`` (the configuration's
    first trust model): ``-rating`` when ``model_a`` was shown first (as "Model A"), else
    ``rating``."""
    return -rating if shown_first == model_a else rating


def study_images(config: StudyConfig, source: ImageSource, task: str) -> list[StudyImage]:
    """The images of ``task`` the configuration uses (its selection, or all of them)."""
    pool = source.discrimination if task == "discrimination" else source.trust
    keys = [key for key in pool if not config.selected or key in config.selected]
    return [pool[key] for key in keys]


def discrimination_classes(
    image: StudyImage, config: StudyConfig, renderer: StudyRenderer
) -> tuple[int, int]:
    """The image's two categories as class ids of the discrimination model: its own two
    classes, or the model's top-2 predictions."""
    model = config.discrimination_model
    if len(image.classes) == 2:
        first, second = (renderer.class_id(model, value) for value in image.classes)
        return first, second
    first, second = renderer.top(image, model, 2)
    return first, second


def trust_pool(
    config: StudyConfig, source: ImageSource, renderer: StudyRenderer
) -> list[tuple[StudyImage, int]]:
    """The trust images with the class both models predict: images where the two models'
    top-1 agree, and, where the image names its classes, is one of them."""
    first, second = config.trust_models
    pool = []
    for image in study_images(config, source, "trust"):
        if image.key in renderer.broken:
            continue
        try:
            top_first = renderer.top(image, first, 1)[0]
        except ImageError:
            continue  # unreadable: recorded in renderer.broken and warned about
        if renderer.top(image, second, 1)[0] != top_first:
            continue
        if image.classes and top_first not in {
            renderer.class_id(first, value) for value in image.classes
        }:
            continue
        pool.append((image, top_first))
    return pool


def _pick(
    options: Sequence[tuple[str, str]],
    served: Sequence[Mapping[str, Any]],
    participant: str,
    rng: random.Random,
) -> tuple[str, str]:
    """The (image, method) this participant saw least (the image, the pair, the method), then
    the one served least to everybody."""
    mine = [row for row in served if row["participant"] == participant]
    seen_image = Counter(row["image"] for row in mine)
    seen_pair = Counter((row["image"], row["method"]) for row in mine)
    seen_method = Counter(row["method"] for row in mine)
    everyone = Counter((row["image"], row["method"]) for row in served)

    def rank(option: tuple[str, str]) -> tuple[int, int, int, int]:
        return seen_image[option[0]], seen_pair[option], seen_method[option[1]], everyone[option]

    best = min(rank(option) for option in options)
    return rng.choice([option for option in options if rank(option) == best])


def draw_trial(
    config: StudyConfig,
    source: ImageSource,
    renderer: StudyRenderer,
    served: Mapping[str, Sequence[Mapping[str, Any]]],
    participant: str,
    rng: random.Random,
) -> dict[str, Any]:
    """Draw one trial's parameters (the columns of a trial row but the id, study and time)
    and make its pictures (so they are cached when the page asks for them).

    Args:
        served: task -> the trials of that task served so far (:meth:`StudyStore.served`).

    Raises:
        NoTrials: the configuration has no image for any of its tasks.
    """
    reasons = []
    counts = {
        task: sum(row["participant"] == participant for row in served.get(task, ()))
        for task in config.tasks
    }
    order = sorted(config.tasks, key=lambda task: (counts[task], rng.random()))
    for task in order:
        if task == "discrimination":
            while True:
                images = [
                    image
                    for image in study_images(config, source, task)
                    if image.key not in renderer.broken
                ]
                if not images:
                    break
                try:
                    return _discrimination(config, images, renderer, served, participant, rng)
                except ImageError:
                    continue  # the image drawn is unreadable (now in renderer.broken): again
            reasons.append("no readable image for the class discrimination study")
        else:
            pool = trust_pool(config, source, renderer)
            if pool:
                return _trust(config, pool, renderer, served, participant, rng)
            reasons.append(
                f"no trust image where {config.trust_models[0]} and {config.trust_models[1]} "
                "make the same prediction"
            )
    raise NoTrials("; ".join(reasons))


def _discrimination(
    config: StudyConfig,
    images: list[StudyImage],
    renderer: StudyRenderer,
    served: Mapping[str, Sequence[Mapping[str, Any]]],
    participant: str,
    rng: random.Random,
) -> dict[str, Any]:
    rows = served.get("discrimination", ())
    options = [(image.key, method) for image in images for method in config.discrimination_methods]
    key, method = _pick(options, rows, participant, rng)
    image = next(image for image in images if image.key == key)
    classes = discrimination_classes(image, config, renderer)
    shown = Counter(
        row["target_class"] for row in rows if (row["image"], row["method"]) == (key, method)
    )
    fewest = min(shown[c] for c in classes)
    target = rng.choice([c for c in classes if shown[c] == fewest])
    first, second = rng.sample(list(classes), 2)
    model = config.discrimination_model
    renderer.map_png(
        image, model, method, target, methods=config.discrimination_methods, classes=classes
    )
    labels = renderer.labels(model)
    return {
        "participant": participant,
        "task": "discrimination",
        "image": key,
        "method": method,
        "model_a": model,
        "model_b": None,
        "shown_first": None,
        "target_class": target,
        "target_label": labels[target],
        "option_1_class": first,
        "option_1_label": labels[first],
        "option_2_class": second,
        "option_2_label": labels[second],
    }


def _trust(
    config: StudyConfig,
    pool: list[tuple[StudyImage, int]],
    renderer: StudyRenderer,
    served: Mapping[str, Sequence[Mapping[str, Any]]],
    participant: str,
    rng: random.Random,
) -> dict[str, Any]:
    options = [(image.key, method) for image, _ in pool for method in config.trust_methods]
    key, method = _pick(options, served.get("trust", ()), participant, rng)
    image, target = next((image, target) for image, target in pool if image.key == key)
    model_a, model_b = config.trust_models
    shown_first = rng.choice([model_a, model_b])
    for model in (model_a, model_b):
        renderer.map_png(
            image, model, method, target, methods=config.trust_methods, classes=[target]
        )
    renderer.photo_png(image)
    return {
        "participant": participant,
        "task": "trust",
        "image": key,
        "method": method,
        "model_a": model_a,
        "model_b": model_b,
        "shown_first": shown_first,
        "target_class": target,
        "target_label": renderer.labels(model_a)[target],
        "option_1_class": None,
        "option_1_label": None,
        "option_2_class": None,
        "option_2_label": None,
    }


def new_trial_id() -> str:
    """A random, unguessable trial id."""
    return secrets.token_hex(8)
