"""Output benchmark: writing the pictures beside explaining them, and ``seewhy explain`` beside
a pytorch-grad-cam script, on a folder of photos.

Run ``python bench/output.py`` (``--markdown`` for Markdown tables). It writes a folder of
``--images`` photos (default 64: scikit-image's chelsea, coffee, astronaut, rocket, camera,
immunohistochemistry and hubble_deep_field, and matplotlib's grace_hopper.jpg, each in its 8
flips and rotations, as JPEG), then explains the top 5 classes with Grad-CAM, Grad-CAM++,
LayerCAM and HiResCAM on EfficientNet-Lite0 (bundled weights, layer ``bn2``), four ways:

- **seewhy, Python**: in this process, the model loaded, ``Explainer.explain(paths, ...)``
  (files read included), then ``save_results`` with the default output (figure and maps);
  the seconds split into load (reading and resizing the files), explain and write.
- **seewhy, Python, overlays only as JPEG**: the same ``save_results`` with
  ``what=["overlays"]`` and ``overlay_format="jpeg"``: the least writing.
- **seewhy CLI**: ``python -m seewhy explain FOLDER --top 5 --method ...`` in a new process,
  default output (figure and maps), and again with ``--save figure,overlays,maps``: the wall
  time a user waits, interpreter start, imports and model loading included.
- **pytorch-grad-cam script**: a new process running :func:`pgc_script`: the same model and
  preprocessing, per batch of 16 one ``cam(input_tensor, targets)`` call per method and rank
  (its API takes one target per image), then per map ``show_cam_on_image`` and one
  ``cv2.imwrite`` PNG, as its README does; it times its own load / explain / write.

Each is run ``--repeats`` times (default 1) after a warm-up of the in-process rows on 2 images;
the table shows the median. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402  (bench/tables.py)

METHODS = ["gradcam", "gradcam++", "layercam", "hirescam"]
TOP = 5
BATCH = 16
MODEL = "efficientnet_lite0"
SKIMAGE_PHOTOS = (
    "chelsea",
    "coffee",
    "astronaut",
    "rocket",
    "camera",
    "immunohistochemistry",
    "hubble_deep_field",
)


def photos() -> dict[str, np.ndarray]:
    """The scikit-image and matplotlib sample photos, (H, W, 3) uint8."""
    import skimage.data
    from matplotlib import cbook

    found = {name: getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS}
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        found["grace_hopper"] = np.asarray(Image.open(handle).convert("RGB"))
    return {name: np.asarray(Image.fromarray(a).convert("RGB")) for name, a in found.items()}


def make_folder(folder: Path, count: int) -> list[Path]:
    """``count`` JPEGs in ``folder``: each photo in its 8 flips and rotations, in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    transforms = [lambda a, k=k: np.rot90(a, k) for k in range(4)]
    transforms += [lambda a, k=k: np.rot90(np.fliplr(a), k) for k in range(4)]
    sources = list(photos().items())
    paths = []
    for i in range(count):
        name, image = sources[i % len(sources)]
        turn = (i // len(sources)) % len(transforms)
        path = folder / f"{i:03d}_{name}_{turn}.jpg"
        Image.fromarray(np.ascontiguousarray(transforms[turn](image))).save(path, quality=95)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- the peer script


def pgc_script(folder: str, out: str, threads: int) -> dict[str, float]:
    """pytorch-grad-cam's way: top-5 maps of the four methods, one PNG overlay per map."""
    import cv2
    import torch
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    import seewhy

    torch.set_num_threads(threads)
    seconds = {"load": 0.0, "explain": 0.0, "write": 0.0}
    started = time.perf_counter()
    model = seewhy.load_model(MODEL)
    module = model.module.eval()
    layer = dict(module.named_modules())["bn2"]
    cams = {
        "gradcam": GradCAM(module, [layer]),
        "gradcam++": GradCAMPlusPlus(module, [layer]),
        "layercam": LayerCAM(module, [layer]),
        "hirescam": HiResCAM(module, [layer]),
    }
    mean = torch.tensor(model.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.std).view(1, 3, 1, 1)
    seconds["model"] = time.perf_counter() - started
    paths = sorted(Path(folder).glob("*.jpg"))
    for start in range(0, len(paths), BATCH):
        tick = time.perf_counter()
        batch = paths[start : start + BATCH]
        size = (model.input_size, model.input_size)
        rgb = [
            np.asarray(Image.open(p).convert("RGB").resize(size, Image.Resampling.BILINEAR))
            for p in batch
        ]
        floats = np.stack(rgb).astype(np.float32) / 255.0
        x = (torch.from_numpy(floats).permute(0, 3, 1, 2) - mean) / std
        tock = time.perf_counter()
        seconds["load"] += tock - tick
        with torch.no_grad():
            top = module(x).topk(TOP, dim=1).indices.tolist()
        maps = {
            (name, rank): cam(
                input_tensor=x, targets=[ClassifierOutputTarget(row[rank]) for row in top]
            )
            for name, cam in cams.items()
            for rank in range(TOP)
        }
        tick = time.perf_counter()
        seconds["explain"] += tick - tock
        for (name, rank), grayscale in maps.items():
            for i, path in enumerate(batch):
                overlay = show_cam_on_image(floats[i], grayscale[i], use_rgb=True)
                target = Path(out) / path.stem / f"{name}_t{rank}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        seconds["write"] += time.perf_counter() - tick
    seconds["total"] = time.perf_counter() - started
    return seconds


# --------------------------------------------------------------------------- runs


def _run_process(argv: list[str], threads: int) -> tuple[float, str]:
    """Wall seconds of a new Python process and its standard output."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def seewhy_python(paths: list[Path], out: Path, **save: object) -> dict[str, float]:
    """Load / explain / write seconds of the Python API, the model already loaded."""
    import seewhy
    from seewhy.io import load_inputs
    from seewhy.report import save_results

    explainer = _explainer()
    files = [str(p) for p in paths]
    tick = time.perf_counter()
    for item in load_inputs(files):
        explainer.model.display(item.image)  # type: ignore[arg-type]
    load = time.perf_counter() - tick
    tick = time.perf_counter()
    result = explainer.explain(files, METHODS, f"top{TOP}", progress=False)
    both = time.perf_counter() - tick
    shutil.rmtree(out, ignore_errors=True)
    tick = time.perf_counter()
    save_results([result], out, **save)  # type: ignore[arg-type]
    write = time.perf_counter() - tick
    del seewhy
    return {"load": load, "explain": both - load, "write": write, "total": both + write}


_EXPLAINERS: dict[str, object] = {}


def _explainer():  # type: ignore[no-untyped-def]
    import seewhy

    if MODEL not in _EXPLAINERS:
        _EXPLAINERS[MODEL] = seewhy.Explainer(seewhy.load_model(MODEL))
    return _EXPLAINERS[MODEL]


def _saves_choices() -> bool:
    """Whether this seewhy's ``save_results`` takes ``what=`` (so the benchmark also runs
    on versions from before it, for a before/after table)."""
    import inspect

    from seewhy.report import save_results

    return "what" in inspect.signature(save_results).parameters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="photos in the folder")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each row (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads, every row")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--keep", default=None, help="work in this folder and keep it")
    parser.add_argument(
        "--rows",
        default="python,jpeg,cli,cli-all,script",
        help="rows to run, comma separated from python, jpeg, cli, cli-all, script",
    )
    parser.add_argument("--pgc-script", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.pgc_script:
        print(json.dumps(pgc_script(*args.pgc_script, args.threads)))
        return 0
    if min(args.images, args.repeats, args.threads) < 1:
        parser.error("--images, --repeats and --threads must be at least 1")

    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.keep or tempfile.mkdtemp(prefix="seewhy-bench-output-"))
    paths = make_folder(work / "photos", args.images)
    _explainer().explain([str(p) for p in paths[:2]], METHODS, f"top{TOP}", progress=False)

    rows: dict[str, list[dict[str, float]]] = {}
    cli = ["-m", "seewhy", "explain", str(work / "photos"), "--top", str(TOP)]
    cli += [arg for m in METHODS for arg in ("--method", m)]
    wanted = {part.strip() for part in args.rows.split(",")}
    for _ in range(args.repeats):
        if "python" in wanted:
            rows.setdefault("seewhy, Python", []).append(seewhy_python(paths, work / "py"))
        if "jpeg" in wanted and _saves_choices():
            rows.setdefault("seewhy, Python, overlays only as JPEG", []).append(
                seewhy_python(paths, work / "jpeg", what=["overlays"], overlay_format="jpeg")
            )
        if "cli" in wanted:
            shutil.rmtree(work / "cli", ignore_errors=True)
            seconds, _ = _run_process([*cli, "--out", str(work / "cli")], args.threads)
            rows.setdefault("seewhy CLI, default output", []).append({"total": seconds})
        if "cli-all" in wanted:
            shutil.rmtree(work / "cli", ignore_errors=True)
            everything = [*cli, "--save", "figure,overlays,maps", "--out", str(work / "cli")]
            seconds, _ = _run_process(everything, args.threads)
            rows.setdefault("seewhy CLI, --save figure,overlays,maps", []).append(
                {"total": seconds}
            )
        if "script" in wanted:
            shutil.rmtree(work / "pgc", ignore_errors=True)
            script = [__file__, "--threads", str(args.threads), "--pgc-script"]
            script += [str(work / "photos"), str(work / "pgc")]
            seconds, stdout = _run_process(script, args.threads)
            rows.setdefault("pytorch-grad-cam script", []).append(
                {**json.loads(stdout.strip().splitlines()[-1]), "total": seconds}
            )
    table = {
        name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for name, runs in rows.items()
    }
    _print(table, args)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _print(table: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    images = args.images
    python = table.get("seewhy, Python", {})
    explained = python.get("load", float("nan")) + python.get("explain", float("nan"))
    script = table.get("pytorch-grad-cam script", {}).get("total", float("nan"))
    header = [
        "run",
        "load s",
        "explain s",
        "write s",
        "total s",
        "images/s",
        "x Python explanation",
        "x script's images/s",
    ]
    lines = []
    for name, seconds in table.items():
        cells = [f"{seconds[k]:.2f}" if k in seconds else "-" for k in ("load", "explain", "write")]
        lines.append(
            [
                name,
                *cells,
                f"{seconds['total']:.2f}",
                f"{images / seconds['total']:.1f}",
                f"{seconds['total'] / explained:.1f}",
                f"{script / seconds['total']:.1f}",
            ]
        )
    setting = (
        f"{images} photos, top-{TOP}, {', '.join(METHODS)} on {MODEL} (layer bn2), "
        f"{args.threads} torch threads, median of {args.repeats}; CLI and script rows in a new "
        "process (interpreter, imports and model loading included)"
    )
    print_table(setting, header, lines, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
