"""``seewhy evaluate`` benchmark: images per second of the whole evaluation against the same
work done with the peers in a loop, on the CPU.

Run ``python bench/evaluate.py`` (``--images N``, ``--markdown`` for a Markdown table).

The work, per image: Grad-CAM and Grad-CAM++ maps of the top-1 class of the bundled
EfficientNet-Lite0 at its automatic layer, then for each map RISE's deletion and insertion
(224 pixels per step, 225 points per curve) and the pointing game against a box. The images
are bench/metrics.py's photo variants (scikit-image and matplotlib photos, flipped, rotated,
cropped), each labelled with its top-1 class and boxed by its central 60 % (the box only
sets what the pointing game reads; the timing does not depend on it).

- **seewhy evaluate**: :func:`seewhy.evaluate.evaluate` (one explanation pass per batch for
  both methods, the metrics from the registry, per-image records written to SQLite as they
  finish), a fresh output folder each repeat.
- **pytorch-grad-cam + torchcam**: per batch, pytorch-grad-cam's ``GradCAM`` and
  ``GradCAMPlusPlus`` (one call each, as their API takes one method per call), torchcam's
  ``DeletionInsertionMetric`` given those maps (both curves in one ``update``, softmax
  scores), and the argmax-in-box test of the pointing game in NumPy.

Target: seewhy at least 3x the images per second of the peer loop (printed PASS / MISS).
Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

import seewhy
from seewhy.datasets.base import Dataset, Sample, Truth
from seewhy.evaluate import EvaluationRequest, evaluate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import MapExtractor, image_set  # noqa: E402  (bench/metrics.py)

TARGET = 3.0
METHODS = ("gradcam", "gradcam++")
METRICS = ("deletion", "insertion", "pointing")


def data(model: seewhy.LoadedModel, count: int) -> Dataset:
    images = image_set(count)
    top1 = model.module(model.preprocess(images)).argmax(1).tolist()
    samples = []
    for i, (image, label) in enumerate(zip(images, top1)):
        w, h = image.size
        box = (int(w * 0.2), int(h * 0.2), int(w * 0.8) - 1, int(h * 0.8) - 1)
        samples.append(
            Sample(f"image{i:03d}", lambda im=image: im, (label,), (Truth(label, box=box),))
        )
    return Dataset("bench", samples)


def seewhy_run(model: seewhy.LoadedModel, dataset: Dataset, batch: int) -> float:
    out = Path(tempfile.mkdtemp(prefix="seewhy-bench-"))
    try:
        request = EvaluationRequest(
            models=[model], methods=METHODS, metrics=METRICS, batch_size=batch
        )
        start = time.perf_counter()
        evaluate(dataset, request, out, progress=False)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out)


def peer_run(model: seewhy.LoadedModel, dataset: Dataset, layer: str, batch: int) -> float:
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchcam.metrics import DeletionInsertionMetric

    module = model.module.eval()
    target_layer = dict(module.named_modules())[layer]
    start = time.perf_counter()
    hits = []
    for first in range(0, len(dataset.samples), batch):
        samples = dataset.samples[first : first + batch]
        images = [s.load() for s in samples]
        x = model.preprocess(images)
        labels = [s.labels[0] for s in samples]
        targets = [ClassifierOutputTarget(c) for c in labels]
        for peer in (GradCAM, GradCAMPlusPlus):
            with peer(model=module, target_layers=[target_layer]) as cam:
                maps = torch.from_numpy(cam(input_tensor=x, targets=targets))
            metric = DeletionInsertionMetric(
                MapExtractor(module, maps), partial(torch.softmax, dim=-1), steps=224,
                batch_size=batch * 8,
            )  # fmt: skip
            metric.update(x, class_idx=labels)
            metric.summary()
            for heat, sample, image in zip(maps.numpy(), samples, images):
                y, xx = np.unravel_index(np.argmax(heat), heat.shape)
                box = model.geometry(*image.size).box(sample.objects[0].box)
                hits.append(box[0] <= xx <= box[2] and box[1] <= y <= box[3])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = seewhy.load_model("efficientnet_lite0")
    dataset = data(model, args.images)
    layer = seewhy.Explainer(model).layers_for(model.preprocess([dataset.samples[0].load()]))[0]
    ours = min(seewhy_run(model, dataset, args.batch_size) for _ in range(args.repeats))
    print(f"seewhy evaluate: {ours:.1f} s", file=sys.stderr, flush=True)
    theirs = min(peer_run(model, dataset, layer, args.batch_size) for _ in range(args.repeats))
    print(f"peers: {theirs:.1f} s", file=sys.stderr, flush=True)
    n = len(dataset.samples)
    rows = [
        ("seewhy evaluate", ours, n / ours),
        ("pytorch-grad-cam + torchcam loop", theirs, n / theirs),
    ]
    speedup = theirs / ours
    what = f"{n} images, Grad-CAM + Grad-CAM++ at {layer}, deletion + insertion + pointing"
    if args.markdown:
        print(f"{what}\n\n| run | seconds | images / s |\n|---|---:|---:|")
        for name, seconds, rate in rows:
            print(f"| {name} | {seconds:.1f} | {rate:.2f} |")
    else:
        print(what)
        for name, seconds, rate in rows:
            print(f"{name:<34} {seconds:8.1f} s  {rate:6.2f} images/s")
    passed = speedup >= TARGET
    print(
        f"{'PASS' if passed else 'MISS'}  seewhy evaluate >= {TARGET:.0f}x the peers: {speedup:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
