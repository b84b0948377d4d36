"""Server benchmark: ``POST /api/explain`` on a running ``seewhy serve`` beside the same
explanation in-process.

Run ``python bench/serve.py`` (``--markdown`` for a Markdown table). It starts ``uvicorn
--factory seewhy.serve.app:app_from_env`` in a new process on a free local port (one worker
thread, ``--threads`` torch threads) and asks for the bundled EfficientNet-Lite0's top 5 with
Grad-CAM, Grad-CAM++ and LayerCAM on scikit-image's chelsea (seewhy's bundled copy), three ways:

- **in-process**: :func:`seewhy.serve.explain.explain_images` called in this process: the
  upload decoded from its PNG bytes, the explanation, the PNGs, boxes and statistics: the
  answer the server sends, without HTTP, multipart parsing, JSON and the worker hand-off.
- **server, 1 client**: the same request over HTTP, one at a time, interleaved with the
  in-process calls so both see the same machine. The summary also gives the part of each
  request's latency that the server's own ``timings.total`` does not cover (HTTP, multipart
  parsing, JSON both ways): the web layer's cost, which a busy machine's noise hides less.
- **server, 4 clients**: 4 threads posting at once (the server's one worker takes them in turn);
  the latency each client sees and the requests per second the server completes.

Faithfulness is off (``--faithfulness-steps 0``) unless asked for: with it the deletion and
insertion forwards dominate both sides alike and hide the web layer's cost. Target: the
server's median (1 client) within 1.15x of in-process (PASS / MISS). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402  (bench/tables.py)

METHODS = ["gradcam", "gradcam++", "layercam"]
TOP = 5
MODEL = "efficientnet_lite0"
TARGET = 1.15
SRC = Path(__file__).resolve().parents[1] / "src"


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def start_server(threads: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": str(threads),
        "SEEWHY_SERVE_WORKERS": "1",
        "SEEWHY_SERVE_QUEUE": "16",
        "SEEWHY_SERVE_STUDY_DB": str(Path(tempfile.gettempdir()) / "seewhy-bench-study.sqlite3"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "seewhy.serve.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def form(image: bytes, steps: int) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    fields = {
        "model": MODEL,
        "methods": ",".join(METHODS),
        "targets": f"top{TOP}",
        "faithfulness_steps": str(steps),
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="chelsea.png"'
        f"\r\nContent-Type: image/png\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


WEB: list[float] = []  # per request: seconds outside the server's own timings (HTTP, JSON)


def post(url: str, body: bytes, boundary: str) -> float:
    """Seconds until the whole answer is read and parsed; what of it the server's own
    ``timings.total`` does not account for goes to :data:`WEB`."""
    request = urllib.request.Request(
        f"{url}/api/explain",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    seconds = time.perf_counter() - start
    assert answer["images"][0]["results"][0]["predictions"][0]["class_id"] == 285
    WEB.append(seconds - answer["timings"]["total"] / 1000.0)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="requests per row")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, both sides")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--faithfulness-steps", type=int, default=0, help="0: none")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    if min(args.repeats, args.threads, args.clients) < 1:
        parser.error("--repeats, --threads and --clients must be at least 1")

    import torch

    from seewhy.data import example_image
    from seewhy.serve.explain import ExplainRequest, explain_images
    from seewhy.serve.models import ModelPool
    from seewhy.serve.uploads import read_upload

    torch.set_num_threads(args.threads)
    image = example_image().read_bytes()
    pool = ModelPool([MODEL])
    request = ExplainRequest(
        models=(MODEL,),
        methods=tuple(METHODS),
        targets=f"top{TOP}",
        faithfulness_steps=args.faithfulness_steps,
    )

    def in_process() -> float:
        start = time.perf_counter()
        explain_images(
            pool, request, [("chelsea.png", read_upload("chelsea.png", image, 16_000_000))]
        )
        return time.perf_counter() - start

    load_before = os.getloadavg()[0]
    process, url = start_server(args.threads)
    try:
        body, boundary = form(image, args.faithfulness_steps)
        for _ in range(3):  # warm-up: models loaded, layers found, caches filled
            in_process()
            post(url, body, boundary)
        local, served = [], []
        WEB.clear()
        for _ in range(args.repeats):
            local.append(in_process())
            served.append(post(url, body, boundary))
        web = list(WEB)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as clients:
            together = list(
                clients.map(lambda _: post(url, body, boundary), range(args.repeats * 2))
            )
        wall = time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=30)
    load_after = os.getloadavg()[0]

    rows = [
        ("in-process explain_images", local, len(local) / sum(local)),
        ("server, 1 client", served, len(served) / sum(served)),
        (f"server, {args.clients} concurrent clients", together, len(together) / wall),
    ]
    ratio = statistics.median(served) / statistics.median(local)
    verdict = "PASS" if ratio <= TARGET else "MISS"
    setting = (
        f"POST /api/explain: {MODEL} top-{TOP}, {', '.join(METHODS)}, faithfulness steps "
        f"{args.faithfulness_steps}, one 451x300 PNG; {args.threads} torch threads, "
        f"{args.repeats} requests per row ({args.repeats * 2} for the concurrent one), "
        f"{os.cpu_count()} CPUs, load average {load_before:.2f} before, {load_after:.2f} after"
    )
    header = ["run", "median ms", "p95 ms", "requests/s", "x in-process median"]
    lines = [
        [
            name,
            f"{statistics.median(values) * 1000:.0f}",
            f"{percentile(values, 0.95) * 1000:.0f}",
            f"{rate:.2f}",
            f"{statistics.median(values) / statistics.median(local):.2f}",
        ]
        for name, values, rate in rows
    ]
    summary = (
        f"server median / in-process median = {ratio:.3f} (target <= {TARGET}): {verdict}; "
        f"outside the server's own timings (HTTP, multipart, JSON both ways): median "
        f"{statistics.median(web) * 1000:.0f} ms, p95 {percentile(web, 0.95) * 1000:.0f} ms "
        "per request (1 client)"
    )
    print_table(setting, header, lines, args.markdown)
    print(("\n" if args.markdown else "") + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
