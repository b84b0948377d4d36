"""Fast path sweep: seewhy's ``fast`` default against ``fast=False`` on many architectures.

Run ``python bench/fastpath.py`` (``--markdown`` for a Markdown table, ``--models a,b`` for
some of them). For each torchvision model (random weights, no download) the script measures
every BatchNorm's running statistics on random batches, so the network is live (with
made-up statistics most of these nets give the same output for every input, and their maps
are rounding noise), then runs one ``explain`` call with a CAM, gradient, integrated
gradients and perturbation methods for the top 2 classes of 2 random images, once with the
``fast`` default (BatchNorms folded into their convolutions, images channels-last) and once
with ``fast=False`` (the model exactly as given).

Columns: the wall time of each call (one run each, after no warm-up: read the ratio, not
the seconds), the speed-up, whether the model ran channels-last or fell back to contiguous
inputs, and the agreement of the two calls' maps: the lowest cosine similarity over all
methods and the method it belongs to. Cosines below 1 come from rounding: where a ReLU's
input lies within rounding of 0, the gradient mask flips (see the README, "How it stays
fast").
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torchvision

import seewhy
from seewhy.engine import layout

MODELS = (
    "resnet18,mobilenet_v3_small,efficientnet_b0,shufflenet_v2_x0_5,convnext_tiny,googlenet,"
    "regnet_y_400mf,vgg11_bn,squeezenet1_1,mnasnet0_5,densenet121,inception_v3"
)
METHODS = {
    "gradcam": {},
    "gradcam++": {},
    "layercam": {},
    "saliency": {},
    "guided_gradcam": {},
    "integrated_gradients": {"steps": 8},
    "scorecam": {"batch_size": 64},
    "occlusion": {"window": 32, "stride": 32},
}


def live_model(name: str, size: int) -> torch.nn.Module:
    """Random weights, BatchNorm affine parameters spread out, statistics measured."""
    options: dict = {"weights": None}
    if name in ("googlenet", "inception_v3"):
        options.update(aux_logits=False, init_weights=True)
    model = getattr(torchvision.models, name)(**options)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the batches below
            with torch.no_grad():
                module.weight.copy_(1 + 0.3 * torch.randn(module.num_features, generator=generator))
                module.bias.copy_(0.2 * torch.randn(module.num_features, generator=generator))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, size, size, generator=generator))
    return model.eval()


def compare(name: str) -> tuple:
    size = 160 if name == "inception_v3" else 128
    model = live_model(name, size)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    results, seconds = {}, {}
    for fast in (True, False):
        explainer = seewhy.Explainer(model, layer="auto", fast=fast)
        start = time.perf_counter()
        results[fast] = explainer.explain(x, METHODS, "top2", progress=False)
        seconds[fast] = time.perf_counter() - start
    cosines = []
    for key in results[True].maps:
        ours, theirs = results[True].maps[key].flatten(), results[False].maps[key].flatten()
        cosines.append((float(ours @ theirs / (ours.norm() * theirs.norm())), key))
    worst = min(cosines)
    layout_used = "contiguous" if model in layout._CONTIGUOUS_ONLY else "channels-last"
    same_targets = torch.equal(results[True].targets, results[False].targets)
    return name, seconds[True], seconds[False], layout_used, same_targets, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS, help="comma-separated torchvision names")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    header = [
        "model",
        "fast s",
        "fast=False s",
        "speed-up",
        "layout",
        "same targets",
        "lowest cosine",
    ]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|---|---:|---:|---:|---|---|---|")
    else:
        print("  ".join(header))
    for name in args.models.split(","):
        name, fast, exact, layout_used, same, (cosine, key) = compare(name.strip())
        cells = [
            name,
            f"{fast:.1f}",
            f"{exact:.1f}",
            f"{exact / fast:.2f}x",
            layout_used,
            "yes" if same else "NO",
            f"{cosine:.6f} ({key})",
        ]
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
