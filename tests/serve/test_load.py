"""Load: 16 concurrent clients x 5 explanations against the running server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from seewhy.data import example_image

pytestmark = pytest.mark.slow

CLIENTS, REQUESTS = 16, 5


def multipart(fields: dict[str, str], image: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="cat.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + image
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def post(url: str) -> tuple[int, dict, dict]:
    body, boundary = multipart(
        {"methods": "gradcam", "targets": "top1", "faithfulness_steps": "0"},
        example_image().read_bytes(),
    )
    request = urllib.request.Request(
        f"{url}/api/explain",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                json.loads(response.read()),
            )
    except urllib.error.HTTPError as error:
        return (
            error.code,
            {k.lower(): v for k, v in error.headers.items()},
            json.loads(error.read() or b"{}"),
        )


def resident_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_sixteen_clients_get_answers_or_deliberate_503s(live_server):
    status, _, _ = post(live_server)  # warm-up: the model loaded, its layer found
    assert status == 200
    post(live_server)
    before = resident_kb(live_server.pid)

    def client(_: int) -> list[tuple[int, dict, dict]]:
        return [post(live_server) for _ in range(REQUESTS)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        running = pool.map(client, range(CLIENTS))
        health = []
        for _ in range(5):  # the event loop answers while the worker explains
            time.sleep(0.3)
            start = time.perf_counter()
            with urllib.request.urlopen(f"{live_server}/api/health", timeout=30) as response:
                admitted = json.loads(response.read())["admitted"]
            health.append((time.perf_counter() - start, admitted))
        answers = [a for batch in running for a in batch]
    assert max(seconds for seconds, _ in health) < 2.0, health
    assert max(admitted for _, admitted in health) >= 2  # it answered while work was queued
    assert len(answers) == CLIENTS * REQUESTS
    served = 0
    for status, headers, body in answers:
        assert status in (200, 503), (status, body)
        if status == 503:
            assert int(headers["retry-after"]) >= 1 and "busy" in body["detail"]
            continue
        served += 1
        result = body["images"][0]["results"][0]
        assert result["predictions"][0]["label"] == "Egyptian cat"
        assert len(result["maps"]["gradcam"]) == 1
        assert result["maps"]["gradcam"][0]["png"].startswith("data:image/png;base64,")
    assert served >= 9  # at least one worker plus the queue of 8 were served in the first wave
    time.sleep(1.0)
    after = resident_kb(live_server.pid)
    print(f"served {served} of {len(answers)}; resident memory {before} kB -> {after} kB")
    assert after <= 1.2 * before, f"resident memory {before} kB before the load, {after} kB after"
