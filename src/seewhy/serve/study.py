"""Study mode: the Grad-CAM paper's two human studies at ``/study``, as a FastAPI router.

``app.include_router(study.router(settings, get_model=..., run=...))`` adds:

- ``GET /study``: the participant's page; ``GET /study/setup``: the experimenter's form;
  ``GET /study/results``: accuracy and trust beside the paper's numbers;
  ``GET /study/results.csv`` and ``/study/results.json``.
- ``GET /study/api/study`` (the active configuration and the valid choices),
  ``POST /study/api/studies`` (save a configuration), ``POST /study/api/participants``,
  ``POST /study/api/trials`` (draw a trial), ``GET /study/api/trials/{id}/{picture}.png``,
  ``POST /study/api/answers``.

A bad name or value answers 422 with ``{"detail": {"field", "message", "choices"}}``. Clients
send names, ids and numbers only: images are the experimenter's (``--study-images`` or the
bundled samples), listed on the server, and a trial's pictures are found from its id.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, HTTPException
from fastapi.responses import HTMLResponse, Response

from seewhy.models import LoadedModel, load_model
from seewhy.serve.settings import ServeSettings
from seewhy.serve.study_config import (
    DEFAULT_DISCRIMINATION_METHODS,
    DEFAULT_TRUST_METHODS,
    ChoiceError,
)
from seewhy.serve.study_pages import results_page, setup_page
from seewhy.serve.study_service import (
    AnswerRequest,
    Run,
    StudyService,
    TrialRequest,
    new_participant_id,
    unprocessable,
)
from seewhy.serve.study_trials import study_images

__all__ = ["StudyService", "cached_loader", "router"]

STATIC = Path(__file__).parent / "static" / "study"
STUDY_BODY = Body(
    ...,
    description="Any of the fields of a study (missing ones take the defaults): name, tasks "
    "(discrimination, trust), images (samples, folder), selected (image keys; [] for all), "
    "discrimination_model, discrimination_methods, trust_models (two; a positive score "
    "favours the first), trust_methods, trials (per participant). GET /study/api/study lists "
    "the valid choices.",
    examples=[
        {
            "name": "pilot",
            "tasks": ["discrimination", "trust"],
            "images": "samples",
            "selected": [],
            "discrimination_model": "efficientnet_lite0",
            "discrimination_methods": list(DEFAULT_DISCRIMINATION_METHODS),
            "trust_models": ["efficientnet_lite2", "efficientnet_lite0"],
            "trust_methods": list(DEFAULT_TRUST_METHODS),
            "trials": 20,
        }
    ],
)


def cached_loader() -> Callable[[str], LoadedModel]:
    """``seewhy.load_model`` behind a cache: one load per name (for running the study alone)."""
    return lru_cache(maxsize=None)(load_model)


def _static_files() -> dict[str, tuple[Path, str]]:
    types = {".css": "text/css", ".js": "text/javascript", ".html": "text/html"}
    return {
        path.name: (path, types[path.suffix])
        for path in sorted(STATIC.iterdir())
        if path.is_file() and path.suffix in types
    }


def router(
    settings: ServeSettings,
    *,
    get_model: Callable[[str], LoadedModel],
    run: Run | None = None,
    rng: random.Random | None = None,
) -> APIRouter:
    """The study's routes (see the module's docstring).

    Args:
        settings: ``study_db`` (made with its folder when missing) and ``study_images``.
        get_model: a loaded model by name (``seewhy.load_model`` semantics; e.g.
            :func:`cached_loader`).
        run: runs a blocking explanation in the app's bounded worker pool (default:
            Starlette's thread pool).
        rng: the draws' random generator (seed it for reproducible draws in tests).
    """
    service = StudyService(settings, get_model, run, rng)
    static = _static_files()
    api = APIRouter(tags=["study"])

    @api.get("/study", response_class=HTMLResponse, include_in_schema=False)
    def participant_page() -> HTMLResponse:
        return HTMLResponse(static["study.html"][0].read_text(encoding="utf-8"))

    @api.get("/study/setup", response_class=HTMLResponse, include_in_schema=False)
    def setup() -> HTMLResponse:
        study_id, config, created = service.active()
        samples = service.sources["samples"]
        groups = {
            "samples": [
                ("Pairs, for class discrimination", list(samples.discrimination)),
                ("Photos, for trust", list(samples.trust)),
            ]
        }
        return HTMLResponse(setup_page(study_id, config, created, service.choices(), groups))

    @api.get("/study/results", response_class=HTMLResponse, include_in_schema=False)
    def results(study: str | None = None) -> HTMLResponse:
        study_id = service.study_choice(study)
        return HTMLResponse(
            results_page(service.summary(study_id), service.store.studies(), study_id)
        )

    @api.get("/study/results.json", summary="The study's results beside the paper's")
    def results_json(study: str | None = None) -> dict[str, Any]:
        return service.summary(service.study_choice(study))

    @api.get(
        "/study/results.csv",
        summary="Every answer, one row each",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    def results_csv(study: str | None = None) -> Response:
        study_id = service.study_choice(study)
        name = "study-all" if study_id is None else f"study-{study_id}"
        return Response(
            service.csv(study_id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    @api.get("/study/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name not in static:
            raise HTTPException(404, "no such file")
        path, media_type = static[name]
        return Response(path.read_bytes(), media_type=media_type)

    @api.get("/study/api/study", summary="The active study and the valid choices")
    def active_study() -> dict[str, Any]:
        study_id, config, created = service.active()
        return {
            "study_id": study_id,
            "created_at": created,
            "config": config.as_dict(),
            "choices": service.choices(),
        }

    @api.post("/study/api/studies", status_code=201, summary="Save a study; it becomes active")
    def save_study(fields: dict[str, Any] = STUDY_BODY) -> dict[str, Any]:
        try:
            config = service.check(fields)
        except ChoiceError as exc:
            raise HTTPException(422, exc.detail()) from None
        source = service.sources[config.images]
        if not any(study_images(config, source, task) for task in config.tasks):
            raise unprocessable(
                "selected", "the selected images serve none of the chosen studies",
                source.keys(),
            )  # fmt: skip
        study_id = service.store.add_study(config.as_dict())
        return {"study_id": study_id, "config": config.as_dict()}

    @api.post("/study/api/participants", summary="A new random participant id")
    def new_participant() -> dict[str, str]:
        return {"participant": new_participant_id()}

    @api.post("/study/api/trials", summary="Draw the participant's next trial")
    async def trial(request: TrialRequest) -> dict[str, Any]:
        return await service.new_trial(request.participant)

    @api.get(
        "/study/api/trials/{trial_id}/{picture}.png",
        summary="One picture of a trial",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    async def trial_picture(trial_id: str, picture: str) -> Response:
        png = await service.picture(trial_id, picture)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @api.post("/study/api/answers", status_code=201, summary="Store an answer")
    def answer(request: AnswerRequest) -> dict[str, Any]:
        return service.answer(request)

    return api
