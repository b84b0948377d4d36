"""Study mode in a real browser: Debian's Chromium, driven by Playwright, against uvicorn on a
free local port; one trial answered in the page is stored and counted on the results page."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from seewhy.serve import study
from seewhy.serve.settings import ServeSettings
from seewhy.serve.study_store import StudyStore

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path, lite0) -> Iterator[tuple[str, Path]]:
    """The study router on uvicorn in a thread; the bundled Lite0 for every model name."""
    uvicorn = pytest.importorskip("uvicorn")
    db = tmp_path / "study.sqlite3"
    app = FastAPI()
    models = {name: lite0 for name in ServeSettings().model_names}
    app.include_router(
        study.router(ServeSettings(study_db=db), get_model=models.__getitem__, rng=random.Random(1))
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        running.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 900})
        finally:
            browser.close()


def test_one_trial_answered_in_the_page_is_stored_and_counted(server, page):
    base, db = server
    import httpx

    # the experimenter's form: one pair, guided Grad-CAM, class discrimination only
    page.goto(f"{base}/study/setup")
    page.uncheck('input[name="tasks"][value="trust"]')
    for box in page.query_selector_all('input[name="selected-samples"]'):
        if box.get_attribute("value") != "chelsea+coffee":
            box.uncheck()
    for box in page.query_selector_all('input[name="discrimination_methods"]'):
        box.uncheck()
    page.click("text=Save and make active")
    page.wait_for_selector("#status.bad")
    assert page.inner_text("#status").startswith("choose at least one discrimination method")
    page.check('input[name="discrimination_methods"][value="guided_gradcam"]')
    page.fill('input[name="trials"]', "3")
    page.click("text=Save and make active")
    page.wait_for_selector("#status.ok")
    active = httpx.get(f"{base}/study/api/study").json()["config"]
    assert active["tasks"] == ["discrimination"] and active["selected"] == ["chelsea+coffee"]
    assert active["discrimination_methods"] == ["guided_gradcam"] and active["trials"] == 3

    page.goto(f"{base}/study")
    page.wait_for_selector("#start", state="visible")
    participant = page.inner_text("#participant-id")
    assert participant.startswith("P-")
    page.click("#start")
    page.wait_for_selector(".choices button:not([disabled])", timeout=60_000)
    assert page.eval_on_selector("#map", "img => img.naturalWidth") == 448
    assert page.inner_text("#question") == (
        "Which of the two object categories is depicted in the image?"
    )
    labels = page.eval_on_selector_all(".choices button", "bs => bs.map(b => b.textContent)")
    assert sorted(label[1:].strip() for label in labels) == ["Egyptian cat", "espresso"]
    page.click(".choices button >> nth=0")
    page.wait_for_function(
        "document.getElementById('progress-text').textContent.startsWith('Picture 2')",
        timeout=60_000,
    )

    (row,) = StudyStore(db).answers()
    assert row["participant"] == participant and row["task"] == "discrimination"
    assert row["method"] == "guided_gradcam" and row["response_ms"] >= 0
    assert row["answer"] in (285, 967) and row["correct"] == int(
        row["answer"] == row["target_class"]
    )

    page.goto(f"{base}/study/results")
    cells = page.inner_text("table.results >> nth=0")
    assert f"{row['correct']} / 1" in cells
    assert "61.2 %" in cells  # the paper's number beside it
    assert "1 answer from 1 participant." in page.inner_text(".lede")

    # the same browser comes back as the same participant, finishes, and hands over
    page.goto(f"{base}/study")
    page.wait_for_selector("#start", state="visible")
    assert page.inner_text("#participant-id") == participant
    page.click("#start")
    for number in (2, 3):
        page.wait_for_function(
            f"document.getElementById('progress-text').textContent.startsWith('Picture {number}')"
            " && !document.querySelector('.choices button').disabled",
            timeout=60_000,
        )
        page.keyboard.press("2")  # the second answer, by key
    page.wait_for_selector("#done", state="visible", timeout=60_000)
    assert page.inner_text("#done-id") == participant
    assert len(StudyStore(db).answers()) == 3
    page.click("#next-participant")
    page.wait_for_selector("#start", state="visible")
    assert page.inner_text("#participant-id") not in ("", participant)
