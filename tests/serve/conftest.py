"""The running server and a headless browser on it, for the page's and the study's tests.

``live_server`` starts ``uvicorn --factory seewhy.serve.app:app_from_env`` in a subprocess on
a free local port (its study database in a temporary folder) and stops it at the end of the
session; it is the base URL (``live_server.pid`` is the server's process id).
``browser_page`` is a fresh page of Debian's chromium (``/usr/bin/chromium``) driven by
Playwright; no browser is ever downloaded. Tests skip when FastAPI, uvicorn, Playwright or
chromium are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SRC = Path(__file__).resolve().parents[2] / "src"


class LiveServer(str):
    """The base URL (``http://127.0.0.1:PORT``), with the server's ``pid``."""

    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = free_port()
    folder = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "SEEWHY_SERVE_STUDY_DB": str(folder / "study.sqlite3"),
        "SEEWHY_SERVE_WORKERS": "1",
        "SEEWHY_SERVE_QUEUE": "8",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed at teardown)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "seewhy.serve.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
    )  # fmt: skip
    url = LiveServer(f"http://127.0.0.1:{port}")
    url.pid = process.pid
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start:\n{(folder / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: Playwright's sync API allows one instance at a time in a
    thread, so it is closed before another module (or a test of its own) starts one."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(browser, live_server):
    """A fresh page (1400 x 1000) with the live server's address as ``page.base_url``;
    navigate with ``page.goto(live_server + "/")``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(180_000)
    yield page
    context.close()
