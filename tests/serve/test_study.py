"""Study mode (``seewhy.serve.study``) through FastAPI's test client, on tiny models and a
folder of small made-up images (the bundled samples with the real EfficientNet-Lite0 once)."""

from __future__ import annotations

import io
import json
import math
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers.models import TinyGapNet
from PIL import Image

from seewhy.errors import OptionError
from seewhy.models import LoadedModel
from seewhy.serve import study
from seewhy.serve.settings import BUNDLED_MODELS, ServeSettings
from seewhy.serve.study_images import folder_source, sample_source
from seewhy.serve.study_render import PngCache
from seewhy.serve.study_stats import wilson_interval
from seewhy.serve.study_trials import normalised_score

LABELS = ["cat", "dog", "cup", "car", "tree"]


@pytest.fixture(scope="module")
def tiny_models() -> dict[str, LoadedModel]:
    """Every bundled name answers with one tiny 5-class model (so the two trust models agree)."""
    import torch

    torch.manual_seed(0)
    lm = LoadedModel.wrap(TinyGapNet(classes=5), name="tiny", labels=LABELS, input_size=32)
    return {name: lm for name in BUNDLED_MODELS}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(images / name)
    (images / "notes.txt").write_text("not an image")
    (images / "study.json").write_text(json.dumps({"a.png": ["cat", "cup"]}))
    return images


def make_app(
    tmp_path: Path, models, folder: Path | None, seed: int = 0
) -> tuple[TestClient, study.StudyService]:
    settings = ServeSettings(study_db=tmp_path / "data" / "study.sqlite3", study_images=folder)
    app = FastAPI()
    app.include_router(
        study.router(settings, get_model=models.__getitem__, rng=random.Random(seed))
    )
    service = study.StudyService(settings, models.__getitem__)  # same database, for reading
    return TestClient(app), service


@pytest.fixture
def client(tmp_path, tiny_models, folder):
    return make_app(tmp_path, tiny_models, folder)


def trial(client: TestClient, participant: str = "P-TEST") -> dict:
    response = client.post("/study/api/trials", json={"participant": participant})
    assert response.status_code == 200, response.text
    return response.json()


def answer(client: TestClient, view: dict, value: int, participant: str = "P-TEST"):
    return client.post(
        "/study/api/answers",
        json={"trial_id": view["trial_id"], "participant": participant, "answer": value,
              "response_ms": 1500},
    )  # fmt: skip


def test_a_trial_is_drawn_at_random_and_recorded(client):
    client, service = client
    first = trial(client)
    second = trial(client)
    # the participant gets the study they have done less of: one of each
    assert {first["task"], second["task"]} == {"discrimination", "trust"}
    d = first if first["task"] == "discrimination" else second
    row = service.store.trial(d["trial_id"])
    assert row["participant"] == "P-TEST" and row["study_id"] == 1
    assert row["image"] in {"a.png", "b.png", "c.png"}
    assert row["method"] in {"guided_backprop", "guided_gradcam", "deconvnet", "deconv_gradcam"}
    assert row["model_a"] == "efficientnet_lite0"
    options = [row["option_1_class"], row["option_2_class"]]
    assert row["target_class"] in options and len(set(options)) == 2
    assert [o["class"] for o in d["options"]] == options  # shown in the recorded order
    if row["image"] == "a.png":  # the sidecar's two classes
        assert sorted(options) == [0, 2]
    assert "target_class" not in d and "method" not in d  # nothing gives the answer away
    t = first if first["task"] == "trust" else second
    row = service.store.trial(t["trial_id"])
    assert row["shown_first"] in {"efficientnet_lite2", "efficientnet_lite0"}
    assert (row["model_a"], row["model_b"]) == ("efficientnet_lite2", "efficientnet_lite0")
    assert row["method"] in {"guided_backprop", "guided_gradcam"}
    for name, url in {**d["pictures"], **t["pictures"]}.items():
        png = client.get(url)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png", name
        assert Image.open(io.BytesIO(png.content)).size[0] > 0


def test_the_same_seed_draws_the_same_trials(tmp_path, tiny_models, folder):
    drawn = []
    for run in ("one", "two"):
        client, service = make_app(tmp_path / run, tiny_models, folder, seed=7)
        views = [trial(client) for _ in range(4)]
        keys = ("task", "image", "method", "target_class", "option_1_class", "shown_first")
        drawn.append([tuple(service.store.trial(v["trial_id"])[k] for k in keys) for v in views])
    assert drawn[0] == drawn[1]


def test_every_method_is_shown_alike_to_one_participant(client):
    client, service = client
    client.post("/study/api/studies", json={"tasks": ["discrimination"], "trials": 50})
    methods = [service.store.trial(trial(client)["trial_id"])["method"] for _ in range(8)]
    assert sorted(methods) == sorted(2 * ["guided_backprop", "guided_gradcam", "deconvnet",
                                          "deconv_gradcam"])  # fmt: skip


def test_an_answer_is_stored_counted_and_exported(client):
    client, service = client
    client.post("/study/api/studies", json={"tasks": ["discrimination"]})
    view = trial(client)
    row = service.store.trial(view["trial_id"])
    response = answer(client, view, row["target_class"])
    assert response.status_code == 201, response.text
    stored = response.json()["stored"]
    assert stored["participant"] == "P-TEST" and stored["correct"] == 1
    assert stored["answer"] == row["target_class"] and stored["response_ms"] == 1500
    assert stored["server_ms"] >= 0 and stored["answered_at"]
    results = client.get("/study/results.json").json()
    (entry,) = [e for e in results["discrimination"] if e["accuracy"]["n"]]
    assert entry["method"] == row["method"] and entry["correct"] == 1
    assert [e["method"] for e in results["discrimination"]][:4] == [
        "guided_gradcam",
        "guided_backprop",
        "deconv_gradcam",
        "deconvnet",
    ]  # the paper's, always shown beside its numbers
    assert entry["accuracy"]["n"] == 1 and entry["accuracy"]["estimate"] == 1.0
    csv = client.get("/study/results.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("answer_id,trial_id,study_id,participant")
    assert view["trial_id"] in lines[1] and "P-TEST" in lines[1]
    page = client.get("/study/results")
    assert page.status_code == 200 and "1 / 1" in page.text and "61.2 %" in page.text


def test_the_wilson_interval_is_the_hand_computed_one(client):
    # k = 2 of n = 3, z = 1.959964: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    z, k, n = 1.959963984540054, 2, 3
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)
    assert (round(low, 4), round(high, 4)) == (0.2077, 0.9385)
    client, service = client
    client.post("/study/api/studies", json={"tasks": ["discrimination"],
                                            "discrimination_methods": ["gradcam"]})  # fmt: skip
    for right in (True, True, False):
        view = trial(client)
        row = service.store.trial(view["trial_id"])
        wrong = next(o["class"] for o in view["options"] if o["class"] != row["target_class"])
        assert answer(client, view, row["target_class"] if right else wrong).status_code == 201
    (entry,) = [e for e in client.get("/study/results.json").json()["discrimination"]
                if e["method"] == "gradcam"]  # fmt: skip
    assert entry["accuracy"]["n"] == 3 and entry["correct"] == 2
    assert entry["accuracy"]["low"] == pytest.approx(low, abs=1e-12)
    assert entry["accuracy"]["high"] == pytest.approx(high, abs=1e-12)
    assert wilson_interval(0, 10).low == 0.0 and wilson_interval(0, 10).high > 0.25


def test_a_trust_rating_is_turned_to_favour_the_first_model(client):
    assert normalised_score(-2, "m1", "m1") == 2  # "A much more reliable", A was m1
    assert normalised_score(-2, "m2", "m1") == -2  # A was the other model
    client, service = client
    client.post("/study/api/studies", json={"tasks": ["trust"]})
    scores = []
    for _ in range(6):
        view = trial(client)
        assert view["task"] == "trust" and [r["value"] for r in view["ratings"]] == [
            -2,
            -1,
            0,
            1,
            2,
        ]
        stored = answer(client, view, 2).json()["stored"]  # "Model B much more reliable"
        first = stored["shown_first"]
        assert stored["score"] == (-2 if first == "efficientnet_lite2" else 2)
        scores.append(stored["score"])
    table = client.get("/study/results.json").json()["trust"]
    assert {(e["model_a"], e["model_b"]) for e in table} == {
        ("efficientnet_lite2", "efficientnet_lite0")
    }
    assert sum(e["score"]["n"] for e in table) == 6
    assert sum(e["score"]["estimate"] * e["score"]["n"] for e in table if e["score"]["n"]) == sum(
        scores
    )


def test_bad_input_is_422_with_the_valid_choices(client):
    client, _ = client
    unknown = answer(client, {"trial_id": "0123456789abcdef"}, 1)
    assert unknown.status_code == 422 and unknown.json()["detail"]["field"] == "trial_id"

    client.post("/study/api/studies", json={"tasks": ["trust"]})
    view = trial(client)
    out = answer(client, view, 3)
    assert out.status_code == 422
    assert out.json()["detail"]["choices"] == [-2, -1, 0, 1, 2]
    assert answer(client, view, 0, participant="P-OTHER").status_code == 422
    assert answer(client, view, 0).status_code == 201
    assert answer(client, view, 1).status_code == 409  # one answer per trial

    client.post("/study/api/studies", json={"tasks": ["discrimination"]})
    view = trial(client)
    options = [o["class"] for o in view["options"]]
    out = answer(client, view, next(c for c in range(5) if c not in options))
    assert out.status_code == 422 and out.json()["detail"]["choices"] == options

    bad_method = client.post("/study/api/studies", json={"discrimination_methods": ["gradkam"]})
    assert bad_method.status_code == 422
    detail = bad_method.json()["detail"]
    assert detail["field"] == "discrimination_methods" and "gradcam" in detail["choices"]
    assert "Did you mean 'gradcam'" in detail["message"]
    bad_model = client.post(
        "/study/api/studies", json={"trust_models": ["resnet50", "efficientnet_lite0"]}
    )
    assert bad_model.status_code == 422
    assert bad_model.json()["detail"]["choices"] == list(BUNDLED_MODELS)
    same = client.post("/study/api/studies", json={"trust_models": ["efficientnet_lite0"] * 2})
    assert same.status_code == 422
    assert client.post("/study/api/studies", json={"colour": "red"}).status_code == 422
    assert client.post("/study/api/studies", json={"trials": 0}).status_code == 422
    bad_task = client.post("/study/api/studies", json={"tasks": ["pointing"]})
    assert bad_task.json()["detail"]["choices"] == ["discrimination", "trust"]
    bad_study = client.get("/study/results.json?study=99")
    assert bad_study.status_code == 422 and "all" in bad_study.json()["detail"]["choices"]
    bad_picture = client.get(f"/study/api/trials/{view['trial_id']}/a.png")
    assert bad_picture.status_code == 422 and bad_picture.json()["detail"]["choices"] == ["map"]
    for bad in ("../../etc", "P-1\n", "", "x" * 65):
        bad_id = client.post("/study/api/trials", json={"participant": bad})
        assert bad_id.status_code == 422 and bad_id.json()["detail"]["field"] == "participant"


def test_nothing_a_client_sends_becomes_a_file_path(client, folder):
    client, _ = client
    outside = folder.parent / "secret.png"
    Image.new("RGB", (8, 8)).save(outside)
    for key in ("../secret.png", str(outside), "a.png/../../secret.png"):
        response = client.post("/study/api/studies", json={"images": "folder", "selected": [key]})
        assert response.status_code == 422
        assert response.json()["detail"]["choices"] == ["a.png", "b.png", "c.png"]
    assert client.post("/study/api/studies", json={"images": "/etc"}).status_code == 422
    assert client.get("/study/static/study.css").status_code == 200
    for name in ("..%2Fsettings.py", "..%2F..%2Fstudy.py", "samples", "%2Fetc%2Fpasswd"):
        assert client.get(f"/study/static/{name}").status_code == 404
    for trial_id in ("..%2F..%2Fetc", "%2Fetc%2Fpasswd"):
        assert client.get(f"/study/api/trials/{trial_id}/map.png").status_code in (404, 422)


def test_a_participant_is_done_after_the_study_s_trials(client):
    client, _ = client
    client.post("/study/api/studies", json={"tasks": ["discrimination"], "trials": 2})
    participant = client.post("/study/api/participants").json()["participant"]
    assert participant.startswith("P-") and len(participant) == 10
    for number in (1, 2):
        view = trial(client, participant)
        assert (view["number"], view["total"]) == (number, 2)
        reply = answer(client, view, view["options"][0]["class"], participant).json()
        assert reply["answered"] == number and reply["done"] == (number == 2)
    assert trial(client, participant) == {"done": True, "answered": 2, "total": 2}


def test_setup_saves_a_configuration_that_becomes_active(client):
    client, service = client
    page = client.get("/study/setup")
    assert page.status_code == 200 and "Guided Grad-CAM" in page.text and "a.png" in page.text
    saved = client.post("/study/api/studies", json={
        "name": "pilot", "images": "samples", "selected": ["chelsea+coffee"],
        "discrimination_methods": ["guided_gradcam", "gradcam"], "trials": 5,
    })  # fmt: skip
    assert saved.status_code == 201
    active = client.get("/study/api/study").json()
    assert active["study_id"] == saved.json()["study_id"]
    assert active["config"]["name"] == "pilot" and active["config"]["selected"] == [
        "chelsea+coffee"
    ]
    assert "chelsea+camera" in active["choices"]["images"]["samples"]
    assert [row["config"]["name"] for row in service.store.studies()][-1] == "pilot"


def test_the_pages_are_served(client):
    client, _ = client
    page = client.get("/study")
    assert page.status_code == 200 and "/study/static/study.js" in page.text
    results = client.get("/study/results")
    for number in ("61.2 %", "44.4 %", "53.3 %", "60.4 %", "+1.27", "+1.00"):
        assert number in results.text
    assert (
        client.get("/study/static/study.js").headers["content-type"].startswith("text/javascript")
    )


def test_a_bad_sidecar_is_named(folder):
    (folder / "study.json").write_text(json.dumps({"z.png": "cat"}))
    with pytest.raises(OptionError, match="'z.png' is not an image file"):
        folder_source(folder)
    (folder / "study.json").write_text(json.dumps({"a.png": ["cat", "dog", "cup"]}))
    with pytest.raises(OptionError, match="one class"):
        folder_source(folder)
    (folder / "study.json").write_text(json.dumps({"a.png": "cat"}))
    source = folder_source(folder)
    assert list(source.trust) == ["a.png", "b.png", "c.png"]
    assert list(source.discrimination) == ["b.png", "c.png"]  # a label alone: trust only


def test_the_png_cache_is_bounded():
    cache = PngCache(max_bytes=10)
    cache.put(("a",), b"123456")
    cache.put(("b",), b"123456")
    assert cache.get(("a",)) is None and cache.get(("b",)) == b"123456" and len(cache) == 1


def test_the_bundled_pairs_show_each_photo_s_class():
    source = sample_source()
    assert list(source.discrimination) == [
        "chelsea+coffee", "chelsea+camera", "chelsea+grace_hopper",
        "coffee+camera", "coffee+grace_hopper", "camera+grace_hopper",
    ]  # fmt: skip
    assert source.discrimination["chelsea+coffee"].classes == (285, 967)
    pair = source.discrimination["coffee+camera"].load()
    assert pair.size == (448, 224)
    assert source.trust["grace_hopper"].classes == (652,)


@pytest.mark.slow
def test_the_bundled_samples_on_the_real_model(tmp_path, lite0):
    """Lite0's guided Grad-CAM of a bundled pair, served as a trial with the pair's classes."""
    client, service = make_app(tmp_path, {"efficientnet_lite0": lite0}, None)
    client.post("/study/api/studies", json={
        "tasks": ["discrimination"], "selected": ["chelsea+coffee"],
        "discrimination_methods": ["guided_gradcam"],
    })  # fmt: skip
    view = trial(client)
    assert sorted((o["class"], o["label"]) for o in view["options"]) == [
        (285, "Egyptian cat"),
        (967, "espresso"),
    ]
    png = client.get(view["pictures"]["map"])
    assert png.status_code == 200
    assert Image.open(io.BytesIO(png.content)).size == (448, 224)


def test_no_trust_image_is_a_409_that_says_why(tmp_path, tiny_models, folder):
    import torch

    lm = tiny_models["efficientnet_lite0"]
    labels = {}
    for name in ("a.png", "b.png", "c.png"):
        with torch.no_grad():
            top = int(lm.module(lm.preprocess(Image.open(folder / name).convert("RGB"))).argmax())
        labels[name] = LABELS[(top + 1) % len(LABELS)]  # a label neither model predicts
    (folder / "study.json").write_text(json.dumps(labels))
    client, _ = make_app(tmp_path, tiny_models, folder)
    assert client.post("/study/api/studies", json={"tasks": ["trust"]}).status_code == 201
    response = client.post("/study/api/trials", json={"participant": "P-X"})
    assert response.status_code == 409
    assert "make the same prediction" in response.json()["detail"]["message"]
    # the discrimination study has no image either (every image has a label alone)
    refused = client.post("/study/api/studies", json={"tasks": ["discrimination"]})
    assert refused.status_code == 422 and refused.json()["detail"]["field"] == "selected"


def test_building_the_router_touches_no_database_and_documents_the_api(tmp_path, tiny_models):
    db = tmp_path / "not" / "yet" / "study.sqlite3"
    app = FastAPI()
    app.include_router(study.router(ServeSettings(study_db=db), get_model=tiny_models.__getitem__))
    assert not db.parent.exists()
    paths = app.openapi()["paths"]
    for path in ("/study/api/trials", "/study/api/answers", "/study/results.csv"):
        assert path in paths
    assert TestClient(app).get("/study/results.json").status_code == 200
    assert db.exists()


@pytest.mark.slow
def test_each_bundled_pair_shows_its_classes_apart_and_each_photo_its_label(lite0):
    """Grad-CAM of each photo's class on Lite0 lies mostly on that photo's half of the pair
    (0.76-0.99 measured), and Lite0's top-1 on each trust photo is its label."""
    import torch

    from seewhy import Explainer
    from seewhy.engine.targets import Classes

    source = sample_source()
    explainer = Explainer(lite0)
    for key, image in source.discrimination.items():
        result = explainer.explain(
            [image.load()],
            methods=["gradcam"],
            targets=Classes(list(image.classes)),
            progress=False,
        )
        maps = result.maps["gradcam"][0]
        half = maps.shape[-1] // 2
        left = float(maps[0][:, :half].sum() / maps[0].sum())
        right = float(maps[1][:, half:].sum() / maps[1].sum())
        assert left > 0.7 and right > 0.7, key
    for key, image in source.trust.items():
        with torch.no_grad():
            scores = lite0.select_output(lite0.module(lite0.preprocess(image.load())))
        assert int(scores.argmax()) == image.classes[0], key


def test_participants_answering_at_once_are_all_stored(client):
    client, service = client
    client.post("/study/api/studies", json={"trials": 50})
    errors = []

    def participant(name: str) -> None:
        try:
            for _ in range(3):
                view = trial(client, name)
                value = view["options"][1]["class"] if view["task"] == "discrimination" else -1
                assert answer(client, view, value, name).status_code == 201
        except Exception as exc:  # reported below with the others
            errors.append(repr(exc))

    threads = [threading.Thread(target=participant, args=(f"P-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = service.store.answers()
    assert len(rows) == 12 and {row["participant"] for row in rows} == {f"P-{i}" for i in range(4)}
    assert len({row["trial_id"] for row in rows}) == 12


def test_an_unreadable_image_is_left_out_with_a_warning(tmp_path, tiny_models, folder):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    client, service = make_app(tmp_path, tiny_models, folder)
    with pytest.warns(UserWarning, match="'broken.png' left out"):
        views = [trial(client) for _ in range(12)]
    images = {service.store.trial(view["trial_id"])["image"] for view in views}
    assert "broken.png" not in images and images <= {"a.png", "b.png", "c.png"}
