"""``explain_images`` without HTTP: what the route and the benchmark both call."""

from __future__ import annotations

import threading
import time

from PIL import Image

from seewhy.data import example_image
from seewhy.serve.explain import Clock, ExplainRequest, explain_images
from seewhy.serve.models import ModelPool, module_lock


def test_waiting_for_a_model_another_request_holds_is_wait_not_explain():
    pool = ModelPool(["efficientnet_lite0"])
    model = pool.get_model("efficientnet_lite0")
    pool.explainer("efficientnet_lite0")  # built beforehand: the worker goes straight to the lock
    request = ExplainRequest(targets="top1", faithfulness_steps=0)
    image = Image.open(example_image()).convert("RGB")
    answers = []
    worker = threading.Thread(
        target=lambda: answers.append(explain_images(pool, request, [("cat", image)], Clock()))
    )
    with module_lock(model.module):  # as a request running the model holds it
        worker.start()
        time.sleep(0.6)
    worker.join()
    timings = answers[0].timings
    assert timings.wait >= 300  # the 0.6 s held, less the worker's start
    assert 0 < timings.explain < timings.total - timings.wait
