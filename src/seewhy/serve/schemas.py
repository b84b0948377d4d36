"""The JSON the API answers with, as pydantic models: FastAPI checks every answer against
them and documents them in the app's OpenAPI schema (``/openapi.json``, ``/docs``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "ErrorAnswer",
    "ExplainAnswer",
    "Faithfulness",
    "FaithfulnessSettings",
    "Health",
    "ImageAnswer",
    "LayerAnswer",
    "LayersAnswer",
    "LabelsAnswer",
    "MapAnswer",
    "MapStats",
    "MethodAnswer",
    "ModelAnswer",
    "ModelResult",
    "Prediction",
    "ScaleAnswer",
    "SampleAnswer",
    "Timings",
]


class ErrorAnswer(BaseModel):
    """Every 4xx and 503: what was wrong, and for an unknown name the valid ones."""

    detail: str = Field(description="a readable one-line message")
    choices: list[str] | None = Field(None, description="the valid names (unknown name: 422)")
    closest: str | None = Field(None, description="the valid name closest to the one sent")


class Health(BaseModel):
    status: str = Field("ok", description="always 'ok' while the process answers")
    version: str
    workers: int = Field(description="worker threads explanations run in")
    queue: int = Field(description="requests that may wait for a worker; more get 503")
    admitted: int = Field(description="requests running or waiting now")
    study: bool = Field(description="whether the /study routes are mounted")


class ModelAnswer(BaseModel):
    name: str
    bundled: bool = Field(description="shipped with seewhy (no download)")
    loaded: bool = Field(description="already in memory (else loaded on first use)")


class LayerAnswer(BaseModel):
    name: str = Field(description="dotted module name, as Explainer(layer=...) takes it")
    kind: str = Field(description="the module's class")
    shape: list[int] = Field(description="output shape for one image, batch dimension left out")
    reading: str = Field(description="channels-first, channels-last or tokens")


class LayersAnswer(BaseModel):
    model: str
    auto: str = Field(description="the layer layer='auto' picks")
    layers: list[LayerAnswer]


class LabelsAnswer(BaseModel):
    model: str
    labels: list[str] = Field(description="class names by class id (empty: the model has none)")


class MethodAnswer(BaseModel):
    name: str
    family: str = Field(description="'cam' (a layer's map) or 'input' (input space)")
    display: str = Field(description="how it is drawn: cam, abs, signed or rgb")
    summary: str


class SampleAnswer(BaseModel):
    id: str = Field(description="GET /api/samples/{id} answers the image")
    title: str
    source: str = Field(description="where the photo comes from")


class Prediction(BaseModel):
    class_id: int
    label: str | None
    prob: float = Field(description="softmax probability")
    score: float = Field(description="logit")


class MapStats(BaseModel):
    """Statistics of the raw map (before any colour scale), at input resolution."""

    min: float
    max: float
    mean: float
    std: float


class Faithfulness(BaseModel):
    deletion_auc: float = Field(description="RISE deletion AUC: lower is more faithful")
    insertion_auc: float = Field(description="RISE insertion AUC: higher is more faithful")


class MapAnswer(BaseModel):
    png: str = Field(
        description="data:image/png;base64 URL at the input's size: the map in its scale's "
        "colours alone when `blend` (draw it over the input with the opacity you like), else "
        "the whole panel (grey magnitude, gradient image)"
    )
    blend: bool = Field(description="draw `png` over the input image (True) or alone (False)")
    stats: MapStats
    box: list[int] | None = Field(
        description="(x0, y0, x1, y1) inclusive, in input pixels: the largest segment at 15% of "
        "the map's max (seewhy.localize.boxes); null when the map has no positive value"
    )
    faithfulness: Faithfulness | None = Field(description="null when not asked for")


class ScaleAnswer(BaseModel):
    """The colour scale of one method on one image (every target shares it)."""

    kind: str = Field(description="cam (jet, 0..high), signed (bwr, -high..high) or abs (grey)")
    low: float
    high: float
    colorbar: str = Field(description="data:image/png;base64 URL, low on the left")
    caption: str


class ModelResult(BaseModel):
    """One model's answer for one image."""

    model: str
    input: str = Field(description="data:image/png;base64 URL: the image as this model saw it")
    size: list[int] = Field(description="(width, height) of `input`, the maps and the boxes")
    layers: dict[str, str | list[str]] = Field(description="method -> the layer it ran at")
    predictions: list[Prediction] = Field(description="the model's top 5 on this image")
    targets: list[Prediction] = Field(description="the explained classes: the rows of `maps`")
    maps: dict[str, list[MapAnswer]] = Field(description="method -> one map per target")
    scales: dict[str, ScaleAnswer | None] = Field(description="method -> scale (null: rgb)")
    refused: dict[str, str] = Field(description="method -> why it could not run here")
    pixels_per_step: int = Field(
        0,
        description="ceil(H * W / steps) pixels changed per step of this model's faithfulness "
        "curves, H x W its input size (`size`); 0: not computed",
    )


class ImageAnswer(BaseModel):
    name: str = Field(description="the uploaded file's name, for display only")
    width: int = Field(description="the upload's width in pixels")
    height: int
    results: list[ModelResult] = Field(description="one per model, in the order asked")


class FaithfulnessSettings(BaseModel):
    steps: int = Field(description="steps of each curve (0: not computed)")
    pixels_per_step: int = Field(
        description="the first model's ceil(H * W / steps) pixels changed per step (each "
        "result gives its own model's: models side by side may differ in size)"
    )
    deletion_substrate: str = "zeros"
    insertion_substrate: str = "blur"


class Timings(BaseModel):
    """Milliseconds spent on each part of the request, server side."""

    read: float = Field(description="decoding the uploads")
    wait: float = Field(
        description="waiting for a worker, then for the models (another request running one)"
    )
    explain: float = Field(description="the explanation (every model)")
    predictions: float = Field(
        description="each model's top 5 (a forward, unless it explained its own top 5 or more)"
    )
    faithfulness: float = Field(description="deletion and insertion")
    render: float = Field(description="colours, PNGs, boxes and statistics")
    total: float


class ExplainAnswer(BaseModel):
    models: list[str]
    methods: list[str]
    targets: str = Field(description="the targets as asked ('top5', or the classes)")
    score: str
    counterfactual: bool
    faithfulness: FaithfulnessSettings
    images: list[ImageAnswer]
    timings: Timings
