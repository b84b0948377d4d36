"""The API with FastAPI's test client: every endpoint and every refusal."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import os
import sys
import tempfile
import types
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi import APIRouter  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from seewhy.data import example_image  # noqa: E402
from seewhy.serve.app import app_from_env, create_app  # noqa: E402
from seewhy.serve.pool import Busy, WorkerPool  # noqa: E402
from seewhy.serve.settings import ServeSettings  # noqa: E402

CAT = example_image().read_bytes()
FAST = {"faithfulness_steps": "0", "targets": "top1"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeSettings())) as test_client:
        yield test_client


def cat(name: str = "cat.png") -> list:
    return [("image", (name, CAT, "image/png"))]


def png_of(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


def test_health(client):
    answer = client.get("/api/health").json()
    assert answer["status"] == "ok" and answer["workers"] == 1 and answer["queue"] == 8
    import seewhy.serve.app as app_module

    assert answer["study"] is (app_module.study is not None)  # mounted when the module exists


def test_models_lists_the_bundled_ones_first(client):
    names = [m["name"] for m in client.get("/api/models").json()]
    assert names == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]


def test_layers_and_labels(client):
    layers = client.get("/api/models/efficientnet_lite0/layers").json()
    assert layers["auto"] == "bn2"
    bn2 = next(layer for layer in layers["layers"] if layer["name"] == "bn2")
    assert bn2["shape"] == [1280, 7, 7] and bn2["reading"] == "channels-first"
    labels = client.get("/api/models/efficientnet_lite0/labels").json()["labels"]
    assert len(labels) == 1000 and labels[285] == "Egyptian cat"


def test_unknown_model_lists_the_choices(client):
    response = client.get("/api/models/efficientnet_lite9/layers")
    assert response.status_code == 422
    body = response.json()
    assert body["closest"] == "efficientnet_lite2" and "efficientnet_lite0" in body["choices"]


def test_methods(client):
    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    assert methods["gradcam++"]["family"] == "cam"
    assert methods["guided_backprop"]["display"] == "rgb"


def test_samples(client):
    ids = [s["id"] for s in client.get("/api/samples").json()]
    assert ids[0] == "chelsea"
    response = client.get("/api/samples/chelsea")
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (451, 300)
    assert client.get("/api/samples/..%2Fetc%2Fpasswd").status_code == 404


def test_explain_top5_with_maps_boxes_and_faithfulness(client):
    data = {"methods": "gradcam,saliency", "targets": "top5", "faithfulness_steps": "2"}
    response = client.post("/api/explain", files=cat(), data=data)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["faithfulness"]["pixels_per_step"] == math.ceil(224 * 224 / 2)
    image = answer["images"][0]
    assert (image["name"], image["width"], image["height"]) == ("cat.png", 451, 300)
    result = image["results"][0]
    assert result["size"] == [224, 224] and png_of(result["input"]).size == (224, 224)
    assert result["predictions"][0]["label"] == "Egyptian cat"
    assert [t["class_id"] for t in result["targets"]] == [
        p["class_id"] for p in result["predictions"]
    ]
    assert len(result["maps"]["gradcam"]) == 5
    first = result["maps"]["gradcam"][0]
    assert first["blend"] is True and png_of(first["png"]).size == (224, 224)
    assert first["stats"]["max"] >= first["stats"]["mean"] >= first["stats"]["min"] >= 0
    x0, y0, x1, y1 = first["box"]
    assert 0 <= x0 <= x1 < 224 and 0 <= y0 <= y1 < 224
    f = first["faithfulness"]
    assert 0 <= f["deletion_auc"] <= 1 and 0 <= f["insertion_auc"] <= 1
    assert result["maps"]["saliency"][0]["blend"] is False
    assert result["scales"]["gradcam"]["kind"] == "cam" and result["scales"]["gradcam"]["low"] == 0
    assert result["scales"]["gradcam"]["high"] == pytest.approx(first["stats"]["max"], rel=1e-5)
    assert answer["timings"]["total"] >= answer["timings"]["explain"] > 0


def test_explain_classes_by_name_and_id_on_two_images(client):
    files = cat("a.png") + cat("b.png")
    data = {**FAST, "targets": "tabby, 285", "methods": "gradcam++"}
    answer = client.post("/api/explain", files=files, data=data).json()
    assert [i["name"] for i in answer["images"]] == ["a.png", "b.png"]
    for image in answer["images"]:
        result = image["results"][0]
        assert [t["class_id"] for t in result["targets"]] == [281, 285]
        assert result["predictions"][0]["class_id"] == 285  # the top 5 from its own forward


def test_explain_two_models_side_by_side(client):
    data = {**FAST, "model": ["efficientnet_lite0", "efficientnet_lite1"], "targets": "top2"}
    answer = client.post("/api/explain", files=cat(), data=data).json()
    first, second = answer["images"][0]["results"]
    assert (first["model"], second["model"]) == ("efficientnet_lite0", "efficientnet_lite1")
    assert [t["class_id"] for t in second["targets"]] == [t["class_id"] for t in first["targets"]]
    assert second["size"] == [240, 240]


def test_models_side_by_side_each_give_their_own_top5_and_pixels_per_step(client):
    data = {"model": ["efficientnet_lite0", "efficientnet_lite1"], "targets": "top5"}
    answer = client.post("/api/explain", files=cat(), data={**data, "faithfulness_steps": "2"})
    first, second = answer.json()["images"][0]["results"]
    alone = {**FAST, "model": "efficientnet_lite1", "targets": "top5"}
    own = client.post("/api/explain", files=cat(), data=alone).json()["images"][0]["results"][0]
    # Lite1's top 5 on the cat is not Lite0's: 281 before 282, 793 where Lite0 has 728
    assert [p["class_id"] for p in own["predictions"]] == [285, 281, 282, 287, 793]
    assert [p["class_id"] for p in second["predictions"]] == [285, 281, 282, 287, 793]
    assert [p["prob"] for p in second["predictions"]] == pytest.approx(
        [p["prob"] for p in own["predictions"]], abs=1e-4
    )
    assert [p["class_id"] for p in first["predictions"]] == [285, 282, 281, 287, 728]
    # the explained classes stay the first model's, row by row
    assert [t["class_id"] for t in second["targets"]] == [285, 282, 281, 287, 728]
    assert first["pixels_per_step"] == math.ceil(224 * 224 / 2)
    assert second["pixels_per_step"] == math.ceil(240 * 240 / 2)
    assert answer.json()["faithfulness"]["pixels_per_step"] == first["pixels_per_step"]


@pytest.mark.parametrize(
    ("field", "value", "closest"),
    [
        ("methods", "gradcm", "gradcam"),
        ("model", "efficientnet_lite7", "efficientnet_lite2"),
        ("layer", "bn3", "bn2"),
        ("score", "logits", "logit"),
    ],
)
def test_unknown_names_are_422_with_choices(client, field, value, closest):
    response = client.post("/api/explain", files=cat(), data={**FAST, field: value})
    assert response.status_code == 422
    body = response.json()
    assert value in body["detail"] and body["closest"] == closest and closest in body["choices"]


def test_unknown_class_is_422_with_a_suggestion(client):
    response = client.post("/api/explain", files=cat(), data={**FAST, "targets": "tigr cat"})
    assert response.status_code == 422 and "Did you mean 'tiger cat'" in response.json()["detail"]


def test_unknown_class_name_is_422_with_the_labels_as_choices(client):
    response = client.post("/api/explain", files=cat(), data={**FAST, "targets": "285, kitty"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("unknown class name 'kitty'. Did you mean 'kite'?")
    assert body["closest"] == "kite"
    assert len(body["choices"]) == 1000 and body["choices"][285] == "Egyptian cat"


def test_missing_image_is_422(client):
    response = client.post("/api/explain", data=FAST)
    assert response.status_code == 422 and "image" in response.json()["detail"]


def test_a_text_file_is_415(client):
    files = [("image", ("notes.txt", b"not a picture", "text/plain"))]
    response = client.post("/api/explain", files=files, data=FAST)
    assert response.status_code == 415
    assert response.json()["detail"] == "notes.txt: not an image (or a format Pillow cannot read)"


def test_a_decompression_bomb_is_413_from_its_header(client):
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")  # 25 Mpx in a few KB
    assert len(buffer.getvalue()) < 40_000
    files = [("image", ("bomb.png", buffer.getvalue(), "image/png"))]
    response = client.post("/api/explain", files=files, data=FAST)
    assert response.status_code == 413
    assert "too many pixels (5000 x 5000 = 25000000, limit 16000000)" in response.json()["detail"]


def test_a_client_file_name_is_never_a_path(client):
    files = [("image", ("../../etc/passwd", CAT, "image/png"))]
    answer = client.post("/api/explain", files=files, data=FAST).json()
    assert answer["images"][0]["name"] == "passwd"


def test_upload_over_the_limit_is_413_before_the_body_is_read():
    app = create_app(ServeSettings(max_upload_mb=0.05))
    read = []

    async def receive():  # would hand over the body; must never be called
        read.append(True)
        return {"type": "http.request", "body": b"x" * 100_000, "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/explain",
        "headers": [(b"content-length", b"100000"), (b"content-type", b"multipart/form-data")],
        "query_string": b"",
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and not read
    assert b"limit of 0.05 MB" in sent[1]["body"]


def test_upload_over_the_limit_without_length_is_413_while_streaming():
    with TestClient(create_app(ServeSettings(max_upload_mb=0.05))) as small:
        chunks = iter([b"--b\r\n"] + [b"x" * 8192] * 20)
        response = small.post(
            "/api/explain",
            content=chunks,
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 413
        assert small.get("/api/health").status_code == 200


def test_a_full_queue_is_503_with_retry_after_and_health_still_answers():
    app = create_app(ServeSettings(workers=1, queue=0))
    with TestClient(app) as busy:
        app.state.workers._admit()  # one job running: the worker is taken, no queue
        try:
            response = busy.post("/api/explain", files=cat(), data=FAST)
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) >= 1
            assert busy.get("/api/health").json()["admitted"] == 1
        finally:
            app.state.workers._release(0.0)
        assert busy.post("/api/explain", files=cat(), data=FAST).status_code == 200


def test_worker_pool_admits_workers_plus_queue():
    async def scenario():
        pool = WorkerPool(workers=1, queue=1)
        gate = asyncio.Event()
        loop = asyncio.get_running_loop()
        import threading

        release = threading.Event()
        first = asyncio.ensure_future(pool.run(release.wait))
        second = asyncio.ensure_future(pool.run(lambda: 2))
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await pool.run(lambda: 3)
        release.set()
        assert await second == 2 and await first is True
        assert pool.admitted == 0 and await pool.run(lambda: 4) == 4
        gate.set()
        pool.shutdown()
        del loop

    asyncio.run(scenario())


def open_files_under(folder: str) -> list[str]:
    """What this process's open file descriptors point at inside ``folder`` (Linux)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder):
            found.append(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd")
def test_no_upload_is_kept(client, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where uploads over 1 MB spool
    big = np.random.default_rng(0).integers(0, 255, (900, 900, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 2**20  # spooled to a temporary file while parsed
    files = [("image", ("noise.png", buffer.getvalue(), "image/png"))]
    assert client.post("/api/explain", files=files, data=FAST).status_code == 200
    left = [name for name in os.listdir(tmp_path) if not name.startswith("torchinductor")]
    assert left == [] and open_files_under(str(tmp_path)) == []


def test_archive_holds_the_pngs_and_the_answer(client):
    data = {**FAST, "methods": "gradcam,guided_backprop", "targets": "top2"}
    answer = client.post("/api/explain", files=cat("my cat.png"), data=data).json()
    response = client.post("/api/archive", json=answer)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = set(zf.namelist())
        record = json.loads(zf.read("answer.json"))
        first_id = answer["images"][0]["results"][0]["targets"][0]["class_id"]
        overlay = f"00_my_cat/efficientnet_lite0/gradcam_t0_{first_id}.png"
        assert {"answer.json", "00_my_cat/efficientnet_lite0/input.png", overlay} <= names
        assert len([n for n in names if n.endswith(".png")]) == 1 + 2 * 2
        assert Image.open(io.BytesIO(zf.read(overlay))).size == (224, 224)
    assert record["images"][0]["results"][0]["maps"]["gradcam"][0]["png"] == overlay


def test_archive_refuses_what_is_not_an_answer(client):
    assert client.post("/api/archive", json={"images": 3}).status_code == 422


def test_openapi_documents_every_route():
    schema = create_app(ServeSettings()).openapi()
    paths = schema["paths"]
    for path in (
        "/api/health",
        "/api/models",
        "/api/models/{name}/layers",
        "/api/models/{name}/labels",
        "/api/methods",
        "/api/samples",
        "/api/explain",
        "/api/archive",
    ):
        assert path in paths
    explain = paths["/api/explain"]["post"]
    assert {"200", "413", "415", "422", "503"} <= set(explain["responses"])
    body = explain["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][body.rsplit("/", 1)[-1]]["properties"]
    assert {"image", "model", "layer", "methods", "targets", "score", "counterfactual"} <= set(
        fields
    )
    assert "ExplainAnswer" in schema["components"]["schemas"]


def test_the_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert "http" not in client.get("/static/app.css").text  # nothing from the internet


def test_study_routes_are_mounted_when_the_module_exists(monkeypatch):
    seen = {}

    def router(settings, get_model, run):
        seen.update(settings=settings, get_model=get_model, run=run)
        routes = APIRouter()

        @routes.get("/study")
        def study_page() -> dict:
            return {"study": True}

        return routes

    module = types.ModuleType("seewhy.serve.study")
    module.router = router
    monkeypatch.setitem(sys.modules, "seewhy.serve.study", module)
    import seewhy.serve.app as app_module

    monkeypatch.setattr(app_module, "study", module)
    with TestClient(create_app(ServeSettings())) as with_study:
        assert with_study.get("/study").json() == {"study": True}
        assert with_study.get("/api/health").json()["study"] is True
    assert callable(seen["get_model"]) and callable(seen["run"])


def test_app_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SEEWHY_SERVE_WORKERS", "3")
    monkeypatch.setenv("SEEWHY_SERVE_QUEUE", "5")
    monkeypatch.setenv("SEEWHY_SERVE_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("SEEWHY_SERVE_STUDY_DB", str(tmp_path / "s.sqlite3"))
    app = app_from_env()
    settings = app.state.settings
    assert (settings.workers, settings.queue, settings.max_upload_mb) == (3, 5, 2.5)
    assert settings.study_db == tmp_path / "s.sqlite3"
