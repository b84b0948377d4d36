"""The FastAPI app of ``seewhy serve``: the page (``/``), the JSON API (``/api``) and, when
its module is present, the study routes (``/study``).

``create_app(settings)`` builds it; ``app_from_env()`` builds it from ``SEEWHY_SERVE_*``
environment variables, for running several worker processes::

    SEEWHY_SERVE_WORKERS=1 uvicorn --factory seewhy.serve.app:app_from_env --workers 4

Every explanation runs in a bounded pool of worker threads (:mod:`seewhy.serve.pool`),
so the event loop keeps answering (``/api/health`` included) while they work.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from seewhy._version import __version__
from seewhy.errors import SeewhyError
from seewhy.methods import available_methods
from seewhy.serve.archive import ARCHIVE_DESCRIPTION, archive
from seewhy.serve.explain import Clock, ExplainRequest, explain_images
from seewhy.serve.models import ModelPool, UnknownName, bundled
from seewhy.serve.pool import Busy, WorkerPool
from seewhy.serve.samples import sample_png, samples
from seewhy.serve.schemas import (
    ErrorAnswer,
    ExplainAnswer,
    Health,
    LabelsAnswer,
    LayerAnswer,
    LayersAnswer,
    MethodAnswer,
    ModelAnswer,
    SampleAnswer,
)
from seewhy.serve.settings import ServeSettings
from seewhy.serve.uploads import BodyLimit, UploadError, display_name, read_upload

try:
    from seewhy.serve import study
except ImportError:  # the study routes are optional
    study = None

__all__ = ["MAX_IMAGES", "app_from_env", "create_app"]

STATIC = Path(__file__).parent / "static"
#: Most images one request may explain.
MAX_IMAGES = 8
ERRORS = {
    status: {"model": ErrorAnswer, "description": text}
    for status, text in (
        (413, "the upload is over the size limit, or an image over the pixel limit"),
        (415, "an upload is not a readable image"),
        (
            422,
            "an unknown model, method, layer or class (the valid choices listed), or a bad value",
        ),
        (503, "every worker is busy and the queue is full: retry after Retry-After seconds"),
    )
}


def create_app(settings: ServeSettings) -> FastAPI:
    """The app serving ``settings.model_names`` with ``settings``' limits."""
    pool = ModelPool(settings.model_names)
    workers = WorkerPool(settings.workers, settings.queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        workers.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="seewhy",
        version=__version__,
        description="Why did the CNN say that? Class activation maps, gradients and their "
        "faithfulness for uploaded images. The page at / uses this API.",
    )
    max_pixels = int(settings.max_megapixels * 1_000_000)
    app.state.settings, app.state.models, app.state.workers = settings, pool, workers
    app.add_middleware(BodyLimit, max_bytes=int(settings.max_upload_mb * 2**20))
    _errors(app)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/health", response_model=Health, tags=["server"])
    def health() -> Health:
        """Answers at once, however busy the workers are."""
        return Health(
            version=__version__,
            workers=workers.workers,
            queue=workers.queue,
            admitted=workers.admitted,
            study=study is not None,
        )

    @app.get("/api/models", response_model=list[ModelAnswer], tags=["models"])
    def models() -> list[ModelAnswer]:
        """The models this server offers; the first is the default."""
        return [ModelAnswer(name=n, bundled=bundled(n), loaded=pool.loaded(n)) for n in pool.names]

    @app.get(
        "/api/models/{name}/layers", response_model=LayersAnswer, responses=ERRORS, tags=["models"]
    )
    async def layers(name: str) -> LayersAnswer:
        """The candidate layers (modules whose output reads as a map), the automatic one
        named; loads the model on first use."""
        pool.check(name)
        auto, found = await workers.run(lambda: pool.layers(name))
        return LayersAnswer(
            model=name,
            auto=auto,
            layers=[
                LayerAnswer(name=c.name, kind=c.kind, shape=list(c.shape), reading=c.reading)
                for c in found
            ],
        )

    @app.get(
        "/api/models/{name}/labels", response_model=LabelsAnswer, responses=ERRORS, tags=["models"]
    )
    async def labels(name: str) -> LabelsAnswer:
        """The model's class names by id, for choosing classes by name."""
        pool.check(name)
        model = await workers.run(lambda: pool.get_model(name))
        return LabelsAnswer(model=name, labels=list(model.labels or []))

    @app.get("/api/methods", response_model=list[MethodAnswer], tags=["methods"])
    def methods() -> list[MethodAnswer]:
        """The registered methods (``smooth:<method>`` is accepted for any of them too)."""
        return [
            MethodAnswer(name=n, family=s.family, display=s.display, summary=s.summary)
            for n, s in available_methods().items()
        ]

    @app.get("/api/samples", response_model=list[SampleAnswer], tags=["samples"])
    def sample_list() -> list[SampleAnswer]:
        """Sample photos to try the page with."""
        return [SampleAnswer(id=s.id, title=s.title, source=s.source) for s in samples().values()]

    @app.get(
        "/api/samples/{sample_id}",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: {"model": ErrorAnswer}},
        tags=["samples"],
    )
    def sample(sample_id: str) -> Response:
        """One sample photo as PNG."""
        if sample_id not in samples():
            return _error(404, f"no sample {sample_id!r}", list(samples()))
        return Response(sample_png(sample_id), media_type="image/png")

    @app.post("/api/explain", response_model=ExplainAnswer, responses=ERRORS, tags=["explain"])
    async def explain(
        image: Annotated[list[UploadFile], File(description="image files (repeat the field)")],
        model: Annotated[
            list[str] | None,
            Form(
                description="model name; repeat it for models side by side on the first "
                "model's classes (default: the server's first model)"
            ),
        ] = None,
        layer: Annotated[str, Form(description="'auto' or a name from /layers")] = "auto",
        methods: Annotated[
            list[str] | None,
            Form(description="method names, repeated or comma separated (default gradcam)"),
        ] = None,
        targets: Annotated[
            str, Form(description="'top1'..'top10', or class ids / names, comma separated")
        ] = "top5",
        score: Annotated[str, Form(description="logit, prob or logprob")] = "logit",
        counterfactual: Annotated[bool, Form(description="explain what argues against")] = False,
        faithfulness_steps: Annotated[
            int, Form(description="steps of each deletion / insertion curve; 0: none")
        ] = 8,
    ) -> Response:
        """Explain one or several images: predictions, one map per method and class (PNG
        plus statistics), each map's box and deletion / insertion AUC, and timings."""
        clock = Clock()
        request = ExplainRequest(
            models=tuple(model or pool.names[:1]),
            layer=layer,
            methods=tuple(_split(methods) or ["gradcam"]),
            targets=targets,
            score=score,
            counterfactual=counterfactual,
            faithfulness_steps=faithfulness_steps,
        )
        request.check(pool)
        if len(image) > MAX_IMAGES:
            raise SeewhyError(f"at most {MAX_IMAGES} images per request, got {len(image)}")
        uploads = []
        try:
            for upload in image:
                uploads.append((upload.filename, await upload.read()))
        finally:
            for upload in image:
                await upload.close()
        queued = time.perf_counter()

        def work() -> Response:
            # decoded here, in the worker: a large image never stalls the event loop
            start = clock.add("wait", queued)
            read = [(display_name(n), read_upload(n, data, max_pixels)) for n, data in uploads]
            uploads.clear()
            clock.add("read", start)
            answer = explain_images(pool, request, read, clock)
            # serialized here too: a megabyte of JSON stays off the event loop
            return Response(answer.model_dump_json(), media_type="application/json")

        return await workers.run(work)

    @app.post(
        "/api/archive",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}, **ERRORS},
        tags=["explain"],
    )
    async def zip_archive(answer: ExplainAnswer) -> Response:
        return Response(
            await workers.run(lambda: archive(answer, max_pixels)),
            media_type="application/zip",
            headers={"Content-Disposition": 'attachment; filename="seewhy.zip"'},
        )

    zip_archive.__doc__ = ARCHIVE_DESCRIPTION

    if study is not None:
        app.include_router(study.router(settings, get_model=pool.get_model, run=workers.run))

    return app


def _split(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated form values as one list."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _error(
    status: int,
    detail: str,
    choices: list[str] | None = None,
    closest: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorAnswer(detail=detail, choices=choices, closest=closest)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _errors(app: FastAPI) -> None:
    """Every refusal as :class:`ErrorAnswer` JSON with its status."""

    @app.exception_handler(UnknownName)
    async def unknown(_: Request, error: UnknownName) -> JSONResponse:
        return _error(422, str(error), error.choices, error.closest[0] if error.closest else None)

    @app.exception_handler(UploadError)
    async def upload(_: Request, error: UploadError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(Busy)
    async def busy(_: Request, error: Busy) -> JSONResponse:
        return _error(503, str(error), headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(SeewhyError)
    async def refused(_: Request, error: SeewhyError) -> JSONResponse:
        return _error(422, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return _error(422, "; ".join(parts) or "invalid request")


def app_from_env() -> FastAPI:
    """:func:`create_app` with settings from the environment, for ``uvicorn --factory`` and
    gunicorn: ``SEEWHY_SERVE_MODELS`` (comma separated), ``SEEWHY_SERVE_MAX_UPLOAD_MB``,
    ``SEEWHY_SERVE_MAX_MEGAPIXELS``, ``SEEWHY_SERVE_WORKERS``, ``SEEWHY_SERVE_QUEUE``,
    ``SEEWHY_SERVE_STUDY_DB``, ``SEEWHY_SERVE_STUDY_IMAGES``."""
    env = os.environ
    values: dict = {}
    if env.get("SEEWHY_SERVE_MODELS"):
        values["models"] = tuple(
            m.strip() for m in env["SEEWHY_SERVE_MODELS"].split(",") if m.strip()
        )
    for key, kind in (
        ("max_upload_mb", float),
        ("max_megapixels", float),
        ("workers", int),
        ("queue", int),
    ):
        text = env.get(f"SEEWHY_SERVE_{key.upper()}")
        if text:
            values[key] = kind(text)
    for key in ("study_db", "study_images"):
        text = env.get(f"SEEWHY_SERVE_{key.upper()}")
        if text:
            values[key] = Path(text)
    return create_app(ServeSettings(**values))
