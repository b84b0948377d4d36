"""The study's state and logic behind the router: the database, the image sources, the
renderer and the random draws; checking what clients send and shaping what they get.

Everything a client sends is a name, an id or a number checked here: a bad one is an
``HTTPException`` 422 whose detail names the ``field``, says what was wrong and lists the valid
``choices`` (409 when the request is well-formed but the study cannot serve it).
"""

from __future__ import annotations

import csv
import io
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from seewhy.errors import SeewhyError
from seewhy.methods import available_methods
from seewhy.models import LoadedModel
from seewhy.serve.settings import ServeSettings
from seewhy.serve.study_config import TASKS, ChoiceError, StudyConfig, check_config
from seewhy.serve.study_images import ImageSource, folder_source, sample_source
from seewhy.serve.study_render import StudyRenderer
from seewhy.serve.study_stats import (
    PAPER_DISCRIMINATION,
    PAPER_TRUST,
    discrimination_summary,
    trust_summary,
)
from seewhy.serve.study_store import ANSWER_COLUMNS, AlreadyAnswered, StudyStore, utc_now
from seewhy.serve.study_trials import (
    RATINGS,
    NoTrials,
    draw_trial,
    new_trial_id,
    normalised_score,
)

__all__ = [
    "AnswerRequest",
    "Run",
    "StudyService",
    "TrialRequest",
    "new_participant_id",
    "unprocessable",
]

T = TypeVar("T")
Run = Callable[[Callable[[], T]], Awaitable[T]]

PARTICIPANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
PICTURES = {"discrimination": ("map",), "trust": ("photo", "a", "b")}
QUESTION = "Which of the two object categories is depicted in the image?"
TRUST_QUESTION = (
    "Both models predicted the same class. Judging by what each one looked at, "
    "which model do you find more reliable?"
)
MAX_RESPONSE_MS = 24 * 3600 * 1000


def unprocessable(field: str, message: str, choices: list[Any] | None = None) -> HTTPException:
    return HTTPException(422, {"field": field, "message": message, "choices": choices or []})


def new_participant_id() -> str:
    """``P-`` and 8 random letters and digits, easy to read out (no 0/O, 1/I)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "P-" + "".join(secrets.choice(alphabet) for _ in range(8))


class TrialRequest(BaseModel):
    participant: str = Field(description="the participant's id (POST /study/api/participants)")


class AnswerRequest(BaseModel):
    trial_id: str = Field(description="the id POST /study/api/trials gave")
    participant: str = Field(description="the participant the trial was served to")
    answer: int = Field(
        description="discrimination: the chosen class id (one of the trial's two options); "
        "trust: -2 (Model A much more reliable) .. +2 (Model B much more reliable)"
    )
    response_ms: int | None = Field(
        None, description="time from the pictures' display to the answer, measured in the page"
    )


class StudyService:
    """The study's state: settings, database, image sources, renderer and random draws."""

    def __init__(
        self,
        settings: ServeSettings,
        get_model: Callable[[str], LoadedModel],
        run: Run | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._store: StudyStore | None = None
        self._opening = threading.Lock()
        self._defaulting = threading.Lock()
        self.renderer = StudyRenderer(get_model)
        self.run = run or run_in_threadpool
        self.rng = rng or random.Random()
        self.sources: dict[str, ImageSource] = {"samples": sample_source()}
        if settings.study_images is not None:
            self.sources["folder"] = folder_source(settings.study_images)

    @property
    def store(self) -> StudyStore:
        """The database, opened (and its folder made) on first use, not when the app is built."""
        with self._opening:
            if self._store is None:
                self._store = StudyStore(self.settings.study_db)
            return self._store

    # configuration

    def choices(self) -> dict[str, Any]:
        """Everything the setup form may choose from."""
        return {
            "models": list(self.settings.model_names),
            "methods": list(available_methods()),
            "images": {name: source.keys() for name, source in self.sources.items()},
            "tasks": list(TASKS),
        }

    def check(self, fields: dict[str, Any]) -> StudyConfig:
        choices = self.choices()
        return check_config(fields, models=choices["models"], image_sources=choices["images"])

    def active(self) -> tuple[int, StudyConfig, str]:
        """The newest saved configuration (the default one is saved on first use). One that
        names what this server no longer offers (a folder, a model) is a 409."""
        found = self.store.active_study()
        if found is None:
            with self._defaulting:  # two first requests at once save one default
                found = self.store.active_study()
                if found is None:
                    self.store.add_study(self.check({}).as_dict())
                    found = self.store.active_study()
            assert found is not None
        study_id, stored, created = found
        try:
            return study_id, self.check(stored), created
        except ChoiceError as exc:
            raise HTTPException(
                409,
                {
                    "field": exc.field,
                    "message": f"the active study #{study_id} cannot run on this server: "
                    f"{exc.message}. Save a new one at /study/setup.",
                    "choices": exc.choices,
                },
            ) from None

    def study_choice(self, study: str | None) -> int | None:
        """``?study=``: an id, ``all`` (None), or the active study when not given."""
        if study is None:
            return self.active()[0]
        if study == "all":
            return None
        ids = [row["study_id"] for row in self.store.studies()]
        if not study.isdigit() or int(study) not in ids:
            raise unprocessable("study", f"unknown study {study!r}", ["all", *ids])
        return int(study)

    # trials

    def check_participant(self, participant: str) -> str:
        if not PARTICIPANT.fullmatch(participant):
            raise unprocessable(
                "participant",
                f"a participant id is 1-64 letters, digits, '-' or '_'; got {participant!r}",
            )
        return participant

    async def new_trial(self, participant: str) -> dict[str, Any]:
        participant = self.check_participant(participant)
        study_id, config, _ = await run_in_threadpool(self.active)
        answered = await run_in_threadpool(self.store.answered, study_id, participant)
        if answered >= config.trials:
            return {"done": True, "answered": answered, "total": config.trials}
        served = {
            task: await run_in_threadpool(self.store.served, study_id, task)
            for task in config.tasks
        }
        source = self.sources[config.images]
        try:
            drawn = await self.run(
                lambda: draw_trial(config, source, self.renderer, served, participant, self.rng)
            )
        except (NoTrials, SeewhyError) as exc:
            # no image fits, or the images or models cannot serve this configuration
            detail = {"field": "study", "message": str(exc), "choices": []}
            raise HTTPException(409, detail) from None
        trial = {"trial_id": new_trial_id(), "study_id": study_id, **drawn, "served_at": utc_now()}
        await run_in_threadpool(self.store.add_trial, trial, time.time())
        return self.trial_view(trial, answered, config)

    def trial_view(self, trial: dict[str, Any], answered: int, config: StudyConfig) -> dict:
        """What the page gets: the question, picture URLs and answers, nothing that gives the
        answer away (no class shown, method or model names)."""
        base = f"/study/api/trials/{trial['trial_id']}"
        view: dict[str, Any] = {
            "done": False,
            "trial_id": trial["trial_id"],
            "participant": trial["participant"],
            "task": trial["task"],
            "number": answered + 1,
            "total": config.trials,
            "pictures": {name: f"{base}/{name}.png" for name in PICTURES[trial["task"]]},
        }
        if trial["task"] == "discrimination":
            view["question"] = QUESTION
            view["options"] = [
                {"class": trial[f"option_{i}_class"], "label": trial[f"option_{i}_label"]}
                for i in (1, 2)
            ]
        else:
            view["question"] = TRUST_QUESTION
            view["prediction"] = trial["target_label"]
            view["ratings"] = [{"value": v, "label": text} for v, text in RATINGS.items()]
        return view

    def known_trial(self, trial_id: str) -> dict[str, Any]:
        trial = self.store.trial(trial_id)
        if trial is None:
            raise unprocessable(
                "trial_id", f"unknown trial id {trial_id!r}: POST /study/api/trials draws one"
            )
        return trial

    async def picture(self, trial_id: str, picture: str) -> bytes:
        trial = await run_in_threadpool(self.known_trial, trial_id)
        names = PICTURES[trial["task"]]
        if picture not in names:
            raise unprocessable("picture", f"unknown picture {picture!r}", list(names))
        config = await run_in_threadpool(self.config_of, trial["study_id"])
        source = self.sources[config.images]
        pool = source.discrimination if trial["task"] == "discrimination" else source.trust
        image = pool.get(trial["image"])
        if image is None:
            detail = {"field": "picture", "message": f"{trial['image']} is gone from the study's "
                      "images", "choices": []}  # fmt: skip
            raise HTTPException(409, detail)
        try:
            return await self.run(lambda: self.draw(trial, picture, image, config))
        except SeewhyError as exc:  # the model or method fails on this image
            detail = {"field": "picture", "message": str(exc), "choices": []}
            raise HTTPException(409, detail) from None

    def draw(self, trial: dict[str, Any], picture: str, image: Any, config: StudyConfig) -> bytes:
        """One picture of a trial (blocking: the model may run)."""
        if picture == "photo":
            return self.renderer.photo_png(image)
        if trial["task"] == "discrimination":
            model = trial["model_a"]
            classes = [trial["option_1_class"], trial["option_2_class"]]
            methods = config.discrimination_methods
        else:
            model = trial["shown_first"] if picture == "a" else other(trial)
            classes = [trial["target_class"]]
            methods = config.trust_methods
        return self.renderer.map_png(
            image, model, trial["method"], trial["target_class"], methods=methods, classes=classes
        )

    def config_of(self, study_id: int) -> StudyConfig:
        """A stored study's configuration, checked against this server (409 when it names
        what the server no longer offers)."""
        try:
            return self.check(self.store_config(study_id))
        except ChoiceError as exc:
            detail = {"field": exc.field, "message": f"study #{study_id}: {exc.message}",
                      "choices": exc.choices}  # fmt: skip
            raise HTTPException(409, detail) from None

    def store_config(self, study_id: int) -> dict[str, Any]:
        for row in self.store.studies():
            if row["study_id"] == study_id:
                return row["config"]
        raise unprocessable("study", f"unknown study {study_id}")

    def answer(self, request: AnswerRequest) -> dict[str, Any]:
        trial = self.known_trial(request.trial_id)
        if request.participant != trial["participant"]:
            raise unprocessable("participant", "this trial was served to another participant", [])
        if request.response_ms is not None and not 0 <= request.response_ms <= MAX_RESPONSE_MS:
            raise unprocessable(
                "response_ms",
                f"response_ms must be 0..{MAX_RESPONSE_MS}, got {request.response_ms}",
            )
        value = request.answer
        fields: dict[str, Any]
        if trial["task"] == "discrimination":
            options = {
                trial["option_1_class"]: trial["option_1_label"],
                trial["option_2_class"]: trial["option_2_label"],
            }
            if value not in options:
                raise unprocessable(
                    "answer",
                    f"answer {value} is not one of this trial's two classes "
                    + " and ".join(f"{c} ({label})" for c, label in options.items()),
                    list(options),
                )
            fields = {
                "answer": value,
                "answer_label": options[value],
                "correct": int(value == trial["target_class"]),
                "score": None,
            }
        else:
            if value not in RATINGS:
                raise unprocessable(
                    "answer", f"a trust rating is -2..2, got {value}", list(RATINGS)
                )
            fields = {
                "answer": value,
                "answer_label": RATINGS[value],
                "correct": None,
                "score": normalised_score(value, trial["shown_first"], trial["model_a"]),
            }
        fields["response_ms"] = request.response_ms
        fields["server_ms"] = max(0, round((time.time() - trial["served_clock"]) * 1000))
        try:
            row = self.store.add_answer(trial, fields)
        except AlreadyAnswered:
            raise HTTPException(
                409, {"field": "trial_id", "message": "this trial is answered already",
                      "choices": []},
            ) from None  # fmt: skip
        study = self.store_config(trial["study_id"])
        answered = self.store.answered(trial["study_id"], trial["participant"])
        return {
            "stored": row,
            "answered": answered,
            "total": study["trials"],
            "done": answered >= study["trials"],
        }

    # results

    def summary(self, study_id: int | None) -> dict[str, Any]:
        rows = self.store.answers(study_id)
        discrimination = [row for row in rows if row["task"] == "discrimination"]
        trust = [row for row in rows if row["task"] == "trust"]
        table = discrimination_summary(discrimination)
        scores = trust_summary(trust)
        return {
            "study": study_id if study_id is not None else "all",
            "answers": len(rows),
            "participants": len({row["participant"] for row in rows}),
            "discrimination": [
                {**entry, "accuracy": entry["accuracy"].as_dict()} for entry in table
            ],
            "trust": [{**entry, "score": entry["score"].as_dict()} for entry in scores],
            "intervals": {
                "accuracy": "95 % Wilson score interval",
                "trust": "95 % Student t interval of the mean",
            },
            "paper": {"discrimination": PAPER_DISCRIMINATION, "trust": PAPER_TRUST},
        }

    def csv(self, study_id: int | None) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ANSWER_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.store.answers(study_id):
            writer.writerow(row)
        return out.getvalue()


def other(trial: dict[str, Any]) -> str:
    """The trust model not shown first."""
    return trial["model_b"] if trial["shown_first"] == trial["model_a"] else trial["model_a"]
