"""What the experimenter chooses for a study, checked against what this server offers.

The setup form (``/study/setup``) posts these fields; each one that names something unknown is
refused with the valid choices, and a saved configuration is stored in the study database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from seewhy.errors import suggestion
from seewhy.methods import available_methods

__all__ = [
    "DEFAULT_DISCRIMINATION_METHODS",
    "DEFAULT_TRUST_METHODS",
    "TASKS",
    "ChoiceError",
    "StudyConfig",
    "check_config",
    "config_from_dict",
]

#: The two studies: class discrimination (a) and trust (b).
TASKS = ("discrimination", "trust")
#: The paper's four visualizations of the class discrimination study.
DEFAULT_DISCRIMINATION_METHODS = (
    "guided_backprop",
    "guided_gradcam",
    "deconvnet",
    "deconv_gradcam",
)
#: The paper's two visualizations of the trust study.
DEFAULT_TRUST_METHODS = ("guided_backprop", "guided_gradcam")
MAX_TRIALS = 1000


class ChoiceError(ValueError):
    """A field names something this server does not offer; ``choices`` are the valid ones."""

    def __init__(self, field: str, message: str, choices: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.choices = list(choices)

    def detail(self) -> dict[str, Any]:
        return {"field": self.field, "message": self.message, "choices": self.choices}


@dataclass(frozen=True)
class StudyConfig:
    """One study as the experimenter set it up.

    Attributes:
        name: a title for the experimenter's records.
        images: ``"samples"`` (bundled) or ``"folder"`` (the server's ``--study-images``).
        selected: the image keys to use (empty: all of the source's).
        tasks: which studies the participants do (both alternate).
        discrimination_model: the model whose maps the discrimination study shows.
        discrimination_methods: the visualizations it compares.
        trust_models: the pair the trust study compares; a positive score favours the first.
        trust_methods: the visualizations the trust study shows.
        trials: trials per participant before the page thanks them.
    """

    name: str = "Grad-CAM human studies"
    images: str = "samples"
    selected: tuple[str, ...] = ()
    tasks: tuple[str, ...] = TASKS
    discrimination_model: str = "efficientnet_lite0"
    discrimination_methods: tuple[str, ...] = DEFAULT_DISCRIMINATION_METHODS
    trust_models: tuple[str, str] = ("efficientnet_lite2", "efficientnet_lite0")
    trust_methods: tuple[str, ...] = DEFAULT_TRUST_METHODS
    trials: int = 20

    def as_dict(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}


_WHAT = {"selected": "image", "tasks": "task"}


def _names(value: Any, field: str, choices: Sequence[str], *, empty_ok: bool = False) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ChoiceError(field, f"{field} must be a list of names", choices)
    if not value and not empty_ok:
        what = _WHAT.get(field, field.rstrip("s").replace("_", " "))
        raise ChoiceError(field, f"choose at least one {what}", choices)
    for name in value:
        if name not in choices:
            raise ChoiceError(
                field,
                f"unknown {_WHAT.get(field, field.rstrip('s').replace('_', ' '))} {name!r}.{suggestion(name, choices)}"
                f" Valid: {', '.join(choices[:30])}{' ...' if len(choices) > 30 else ''}",
                choices,
            )
    return tuple(dict.fromkeys(value))


def _model(value: Any, field: str, models: Sequence[str]) -> str:
    return _names([value] if isinstance(value, str) else value, field, models)[0]


def check_config(
    fields: Mapping[str, Any],
    *,
    models: Sequence[str],
    image_sources: Mapping[str, Sequence[str]],
) -> StudyConfig:
    """A :class:`StudyConfig` from posted ``fields`` (missing ones take the defaults).

    Args:
        models: the model names this server offers.
        image_sources: source name -> its image keys (``"folder"`` only with
            ``--study-images``).

    Raises:
        ChoiceError: an unknown field, model, method, task, image source or image; two equal
            trust models; a trial count outside 1..1000.
    """
    defaults = StudyConfig()
    known = set(defaults.as_dict())
    for key in fields:
        if key not in known:
            raise ChoiceError(key, f"unknown field {key!r}", sorted(known))
    methods = list(available_methods())
    models = list(models)
    name = fields.get("name", defaults.name)
    if not isinstance(name, str) or len(name) > 200:
        raise ChoiceError("name", "name must be text of at most 200 characters")
    source = fields.get("images", "folder" if "folder" in image_sources else defaults.images)
    if source not in image_sources:
        raise ChoiceError(
            "images",
            f"unknown image source {source!r}; valid: {', '.join(image_sources)}",
            list(image_sources),
        )
    keys = list(image_sources[source])
    selected = _names(fields.get("selected", []), "selected", keys, empty_ok=True)
    tasks = _names(fields.get("tasks", list(TASKS)), "tasks", TASKS)
    discrimination_model = _model(
        fields.get("discrimination_model", defaults.discrimination_model),
        "discrimination_model",
        models,
    )
    discrimination_methods = _names(
        fields.get("discrimination_methods", list(defaults.discrimination_methods)),
        "discrimination_methods",
        methods,
    )
    pair = fields.get("trust_models", list(defaults.trust_models))
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise ChoiceError("trust_models", "trust_models must name two models", models)
    trust_models = _names(list(pair), "trust_models", models)
    if len(trust_models) != 2:
        raise ChoiceError("trust_models", "the trust study needs two different models", models)
    trust_methods = _names(
        fields.get("trust_methods", list(defaults.trust_methods)), "trust_methods", methods
    )
    trials = fields.get("trials", defaults.trials)
    if isinstance(trials, str) and trials.strip().isdigit():
        trials = int(trials)
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= MAX_TRIALS:
        raise ChoiceError("trials", f"trials must be a whole number from 1 to {MAX_TRIALS}")
    return StudyConfig(
        name=name.strip() or defaults.name,
        images=source,
        selected=selected,
        tasks=tasks,
        discrimination_model=discrimination_model,
        discrimination_methods=discrimination_methods,
        trust_models=(trust_models[0], trust_models[1]),
        trust_methods=trust_methods,
        trials=trials,
    )


def config_from_dict(stored: Mapping[str, Any]) -> StudyConfig:
    """A stored configuration back as a :class:`StudyConfig` (no checks: it was checked)."""
    values = {
        key: tuple(value) if isinstance(value, list) else value for key, value in stored.items()
    }
    return StudyConfig(**values)
