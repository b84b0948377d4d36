"""The ``seewhy`` command: end to end, and one clear message per bad option."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seewhy.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_explain_top2_two_methods(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys,
        "explain",
        chelsea_path,
        "--top",
        "2",
        "--method",
        "gradcam",
        "--method",
        "gradcam++",
        "--out",
        str(out),
        "--save",
        "figure,overlays,maps",
    )
    assert code == 0
    assert "Egyptian cat (285)" in stdout
    report = json.loads((out / "report.json").read_text())
    assert len(report) == 1
    entry = report[0]
    assert entry["status"] == "ok" and entry["model"] == "efficientnet_lite0"
    assert [t["class"] for t in entry["targets"]][0] == 285
    assert set(entry["maps"]) == {"gradcam", "gradcam++"}
    assert (out / entry["figure"]).exists()
    assert len(entry["maps"]["gradcam++"]["overlays"]) == 2


def test_explain_boxes_writes_boxes_in_the_report_and_on_the_overlays(
    capsys, tmp_path, chelsea_path
) -> None:
    out = tmp_path / "out"
    code, _, _ = run(
        capsys,
        "explain",
        "--boxes",
        chelsea_path,
        "--box-threshold",
        "0.5",
        "--save",
        "figure,overlays",
        "--out",
        str(out),
    )
    assert code == 0
    entry = json.loads((out / "report.json").read_text())[0]
    assert entry["box_threshold"] == 0.5
    [box] = entry["boxes"]["gradcam"]
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= 223 and 0 <= y0 < y1 <= 223
    overlay = np.asarray(Image.open(out / entry["maps"]["gradcam"]["overlays"][0]))
    assert (overlay[y0, x0 : x1 + 1] == 255).all() and (overlay[y0 : y1 + 1, x1] == 255).all()
    code, _, _ = run(capsys, "explain", chelsea_path, "--boxes", "--out", str(tmp_path / "b"))
    assert json.loads((tmp_path / "b" / "report.json").read_text())[0]["box_threshold"] == 0.15
    code, _, err = run(capsys, "explain", chelsea_path, "--boxes", "--box-threshold", "2")
    assert code == 2 and "--box-threshold is a share of the map's maximum in [0, 1], got 2.0" in err


def test_explain_scale_and_save_choose_the_drawing_and_the_files(
    capsys, tmp_path, chelsea_path
) -> None:
    out = tmp_path / "out"
    argv = ["explain", chelsea_path, "--top", "2", "--scale", "map", "--out", str(out)]
    code, stdout, _ = run(capsys, *argv, "--save", "figure", "--overlay-format", "jpeg")
    assert code == 0 and stdout.strip().endswith("(figures, report.json)")
    entry = json.loads((out / "report.json").read_text())[0]
    assert (out / entry["figure"]).exists() and entry["maps"]["gradcam"] == {"display": "cam"}
    assert not list(out.rglob("*.npy"))
    code, _, stderr = run(capsys, *argv, "--save", "figure,overlay")
    assert code == 2 and "cannot save 'overlay'" in stderr and "'overlays'" in stderr


def test_explain_with_the_layer_repeated_fuses_the_layers(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    code, _, _ = run(
        capsys, "explain", chelsea_path, "--layer", "blocks.5", "--layer", "bn2",
        "--method", "gradcam", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    entry = json.loads((out / "report.json").read_text())[0]
    assert entry["layers"] == {"gradcam": ["blocks.5", "bn2"]}
    files = entry["maps"]["gradcam"]
    assert set(files["layers"]) == {"blocks.5", "bn2"}
    fused = np.load(out / files["npy"])
    layers = [np.load(out / files["layers"][name]) for name in ("blocks.5", "bn2")]
    assert fused.shape == layers[0].shape == (1, 224, 224)
    assert 0.0 <= fused.min() and fused.max() <= 1.0  # the mean of maps scaled to [0, 1]
    assert not np.allclose(layers[0], layers[1])


def test_a_refused_method_exits_0_with_the_others_maps_and_its_reason(
    capsys, tmp_path, chelsea_path
) -> None:
    """MobileNetV3's head is not GAP + one Linear: cam is refused, Grad-CAM still runs."""
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "explain", chelsea_path, "--model", "mobilenet_v3_small", "--weights", "random",
        "--method", "gradcam", "--method", "cam", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    assert err.count("seewhy: warning: cam was not run: cam needs a head") == 1
    entry = json.loads((out / "report.json").read_text())[0]
    assert entry["status"] == "ok" and set(entry["maps"]) == {"gradcam"}
    assert entry["refused"]["cam"].startswith("cam needs a head of global average pooling")
    assert np.load(out / entry["maps"]["gradcam"]["npy"]).shape == (1, 224, 224)
    assert (out / entry["figure"]).exists()


def test_models_side_by_side_and_a_bad_file_in_a_folder(capsys, tmp_path, chelsea_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(chelsea_path).save(folder / "a_cat.png")
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    code, _, err = run(
        capsys,
        "explain",
        str(folder),
        "--model",
        "efficientnet_lite0",
        "--model",
        "efficientnet_lite1",
        "--class",
        "Egyptian cat",
        "--out",
        str(out),
    )
    assert code == 0
    assert "b_broken.jpg" in err
    report = json.loads((out / "report.json").read_text())
    assert [(e["model"], e["status"]) for e in report] == [
        ("efficientnet_lite0", "ok"),
        ("efficientnet_lite1", "ok"),
        ("efficientnet_lite0", "error"),
        ("efficientnet_lite1", "error"),
    ]
    assert report[0]["targets"][0]["class"] == 285 and report[1]["targets"][0]["class"] == 285
    assert "b_broken.jpg" in report[2]["error"]
    assert report[0]["figure"] == report[1]["figure"]  # one figure, one block per model
    assert Image.open(out / report[0]["figure"]).size[1] > 600


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "resnet5O", "--weights", "random"], "Did you mean 'resnet50'"),
        (["--method", "gradcamm"], "unknown method 'gradcamm'. Did you mean 'gradcam'"),
        (["--layer", "blocks.99"], "no layer named 'blocks.99'"),
        (["--class", "1000"], "class id 1000 is out of range"),
        (["--class", "Egyptian kat"], "Did you mean 'Egyptian cat'"),
        (["--top", "0"], "--top must be at least 1"),
        (["--method", "cam", "--layer", "blocks.5"], "no requested method can run on this model"),
        (["--score", "logit", "--method", "cam", "--layer", "blocks.5"], "cam needs a head"),
        (["--method", "occlusion", "--option", "occlusion:windw=8"], "Did you mean 'window'"),
        (["--option", "occlusion:window=8"], "which is not requested"),
        (["--option", "window=8"], "is not METHOD:KEY=VALUE"),
        (["--method", "occlusion", "--option", "occlusion:stride=40"], "stride 40 is larger"),
        (["--batch-size", "0"], "batch_size must be a whole number of images per forward pass"),
        (["--batch-size", "-3"], "at least 1; got -3"),
    ],
)
def test_bad_options_exit_2_with_one_clear_line(
    capsys, tmp_path, chelsea_path, argv, message
) -> None:
    code, _, err = run(capsys, "explain", chelsea_path, "--out", str(tmp_path / "o"), *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_no_readable_image_exits_1_with_report(capsys, tmp_path) -> None:
    missing = tmp_path / "nope.png"
    code, _, err = run(capsys, "explain", str(missing), "--out", str(tmp_path / "o"))
    assert code == 1
    assert "nope.png" in err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report[0]["status"] == "error" and "nope.png" in report[0]["error"]


def test_no_readable_image_report_comes_from_the_error_without_reading_again(
    capsys, tmp_path, monkeypatch
) -> None:
    import seewhy.io

    def read_again(*args, **kwargs):
        raise AssertionError("the CLI read the inputs a second time")

    monkeypatch.setattr(seewhy.io, "load_inputs", read_again)  # the CLI imports it when it runs
    missing, empty = tmp_path / "nope.png", tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, _, err = run(capsys, "explain", str(missing), str(empty), "--out", str(tmp_path / "o"))
    assert code == 1
    errors = [f"{missing}: no such file", f"{empty}: is empty (0 bytes), not an image"]
    assert err.splitlines() == [
        f"seewhy: {errors[0]}",
        f"seewhy: {errors[1]}",
        f"seewhy: error: no image could be read: {errors[0]}; {errors[1]}",
    ]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report == [
        {
            "image": str(path),
            "status": "error",
            "error": error,
            "model": "efficientnet_lite0",
            "targets": [],
            "maps": {},
        }
        for path, error in zip((missing, empty), errors)
    ]


def test_an_image_error_without_records_falls_back_to_reading_the_inputs(
    capsys, tmp_path, chelsea_path, monkeypatch
) -> None:
    import seewhy.explain as engine
    from seewhy.errors import ImageError

    def explain(self, images, *args, **kwargs):
        raise ImageError("raised without records")

    monkeypatch.setattr(engine.Explainer, "explain", explain)
    missing = tmp_path / "nope.png"
    code, _, err = run(capsys, "explain", str(missing), "--out", str(tmp_path / "o"))
    assert code == 1
    assert err.splitlines() == [
        f"seewhy: {missing}: no such file",
        "seewhy: error: raised without records",
    ]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [(e["image"], e["status"], e["error"]) for e in report] == [
        (str(missing), "error", f"{missing}: no such file")
    ]
    # A readable input among them: the error is not about unreadable files, so it stands.
    code, _, err = run(capsys, "explain", chelsea_path, "--out", str(tmp_path / "p"))
    assert code == 2 and err == "seewhy: error: raised without records\n"
    assert not (tmp_path / "p").exists()


def test_layers_models_methods(capsys) -> None:
    code, stdout, _ = run(capsys, "layers", "efficientnet_lite0")
    assert code == 0
    assert any(line.startswith("* bn2 ") for line in stdout.splitlines())
    assert "1280x7x7" in stdout
    code, stdout, _ = run(capsys, "models")
    assert code == 0 and stdout.splitlines()[0].startswith("efficientnet_lite0")
    code, stdout, _ = run(capsys, "methods")
    assert code == 0 and "gradcam++" in stdout and "eigencam" in stdout


def test_layers_of_a_transformer_mark_tokens_and_grids_with_random_weights(
    capsys, monkeypatch
) -> None:
    import torchvision

    def no_download(*args, **kwargs):
        raise AssertionError("`seewhy layers` must not download weights")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", no_download)
    code, stdout, _ = run(capsys, "layers", "swin_t")
    assert code == 0
    lines = stdout.splitlines()
    assert any(line.startswith("* norm ") and line.endswith("(channels-last)") for line in lines)
    assert lines[-1] == "(* = layer='auto' picks 'norm')"
    code, stdout, _ = run(capsys, "layers", "timm:vit_tiny_patch16_224")
    assert code == 0
    lines = stdout.splitlines()
    assert any(
        line.startswith("* blocks.11.norm1 ") and "197x192  (tokens)" in line for line in lines
    )


@pytest.mark.slow
def test_console_script_end_to_end(tmp_path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "seewhy",
            "explain",
            "--top",
            "3",
            "--method",
            "layercam",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (out / "report.json").exists()
    assert Path(out / "000_chelsea" / "figure.png").exists()
    assert "wrote" in done.stdout  # flushed before the process exits with os._exit


def test_run_exits_with_mains_code_after_flushing_the_streams() -> None:
    """``run`` (the console script) ends with ``os._exit``: the exit code and everything
    printed must still come out, also through a pipe that closes early."""
    ok = subprocess.run(
        [sys.executable, "-m", "seewhy", "methods"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0 and "gradcam" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "seewhy", "explain", "--method", "gradcan"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "gradcam" in bad.stderr
    code = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'seewhy', 'methods'], stdout=subprocess.PIPE); p.stdout.read(10); p.stdout.close(); sys.exit(p.wait())"
    closed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert closed.returncode in (0, 1), closed.stderr
    assert "Traceback" not in closed.stderr


def test_explain_input_space_and_cam_methods_in_one_figure(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    argv = [
        "explain",
        chelsea_path,
        "--top",
        "2",
        "--out",
        str(out),
        "--save",
        "figure,overlays,maps",
    ]
    for method in ("gradcam", "guided_gradcam", "saliency", "smooth:gradcam"):
        argv += ["--method", method]
    code, stdout, stderr = run(capsys, *argv)
    assert code == 0 and "Egyptian cat (285)" in stdout
    # EfficientNet-Lite0's activations are ReLU6, which the guided rule now covers: no warning.
    assert "warning" not in stderr and "UserWarning" not in stderr
    entry = json.loads((out / "report.json").read_text())[0]
    assert list(entry["maps"]) == ["gradcam", "guided_gradcam", "saliency", "smooth:gradcam"]
    assert "attribution" in entry["maps"]["guided_gradcam"]
    assert "attribution" not in entry["maps"]["gradcam"]
    assert len(entry["maps"]["saliency"]["overlays"]) == 2
    assert Image.open(out / entry["figure"]).size[0] > 1000  # input + 4 panels per row
    code, stdout, _ = run(capsys, "methods")
    assert "integrated_gradients" in stdout and "smooth:<method>" in stdout


def test_perturbation_methods_with_options(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    argv = ["explain", chelsea_path, "--top", "2", "--out", str(out), "--method", "occlusion"]
    argv += ["--method", "ablationcam", "--option", "occlusion:window=56"]
    argv += ["--option", "occlusion:stride=56", "--option", "ablationcam:batch_size=512"]
    code, _, _ = run(capsys, *argv)
    assert code == 0
    entry = json.loads((out / "report.json").read_text())[0]
    assert list(entry["maps"]) == ["occlusion", "ablationcam"]
    occlusion = np.load(out / entry["maps"]["occlusion"]["npy"])
    assert occlusion.shape == (2, 224, 224)
    # 56 px windows with stride 56: the map is constant on each of the 4 x 4 blocks
    block = occlusion[0, :56, :56]
    assert np.allclose(block, block[0, 0]) and not np.allclose(occlusion[0], occlusion[0, 0, 0])


def test_fast_flag_reaches_the_explainer(capsys, tmp_path, chelsea_path, monkeypatch) -> None:
    import seewhy.explain as engine

    seen = []

    class Recording(engine.Explainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.fast)

    monkeypatch.setattr(engine, "Explainer", Recording)  # the CLI imports it when it runs
    maps = []
    for flag in ("--no-fast", "--fast"):
        out = tmp_path / flag.strip("-")
        code, _, _ = run(
            capsys, "explain", chelsea_path, "--method", "saliency", "--out", str(out), flag
        )
        assert code == 0
        entry = json.loads((out / "report.json").read_text())[0]
        maps.append(np.load(out / entry["maps"]["saliency"]["npy"]))
    assert seen == [False, True]
    # The bundled Lite0 with its BatchNorms folded and channels-last: the same map to rounding,
    # except where a ReLU6 input lies within rounding of a kink (0 or 6) and the mask flips:
    # measured, one 7 x 7 patch (46 pixels) of this map, up to 9% of the peak; the exact
    # path is within 6e-7 of float64 there.
    exact, fast = maps
    differs = np.abs(fast - exact) > 1e-4 * np.abs(exact).max()
    assert differs.mean() < 0.005
    cosine = (fast * exact).sum() / np.sqrt((fast**2).sum() * (exact**2).sum())
    assert cosine > 0.999


def test_seewhys_warnings_print_as_one_line_and_others_as_python_does() -> None:
    import io
    import os

    import seewhy
    from seewhy.cli.main import _show_warning

    inside = os.path.join(os.path.dirname(seewhy.__file__), "engine", "backprop.py")
    out = io.StringIO()
    _show_warning("the 'guided' backward rule ...", UserWarning, inside, 10, out)
    assert out.getvalue() == "seewhy: warning: the 'guided' backward rule ...\n"
    out = io.StringIO()
    _show_warning("elsewhere", UserWarning, "/somewhere/else.py", 3, out)
    assert out.getvalue().startswith("/somewhere/else.py:3: UserWarning: elsewhere")


def test_explain_in_parts_writes_what_one_part_writes(
    capsys, tmp_path, chelsea_path, monkeypatch
) -> None:
    """The CLI explains CHUNK images at a time and writes each part while explaining the
    next: the folders, figures, maps and report are those of a single part."""
    import seewhy.cli.main as cli

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = Image.open(chelsea_path).convert("RGB")
    for i, turn in enumerate((0, 90, 180)):
        photo.rotate(turn).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / "p3_broken.png").write_bytes(b"not a png")
    argv = ["explain", str(folder), "--top", "2", "--method", "gradcam", "--out"]
    import seewhy.explain

    calls = []
    real = seewhy.explain.explain_models
    monkeypatch.setattr(
        seewhy.explain, "explain_models", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k)
    )
    outputs = {}
    for chunk in (2, 100):
        monkeypatch.setattr(cli, "CHUNK", chunk)
        code, out, err = run(capsys, *argv, str(tmp_path / f"c{chunk}"))
        assert code == 0, err
        outputs[chunk] = (out, err)
    assert outputs[2] == (
        outputs[100][0].replace("c100", "c2"),
        outputs[100][1],
    )
    assert "skipped 1 file that is not an image (by suffix)" in outputs[2][1]
    assert calls == [2, 2, 4]  # two parts, then one
    # the same entries; scores equal to float precision (a part's batch differs in size)
    first, second = (json.loads((tmp_path / f"c{c}" / "report.json").read_text()) for c in (2, 100))
    assert [e["status"] for e in first] == ["ok", "ok", "ok", "error", "skipped"]
    for a, b in zip(first, second, strict=True):
        assert {k: v for k, v in a.items() if k != "targets"} == {
            k: v for k, v in b.items() if k != "targets"
        }
        for x, y in zip(a["targets"], b["targets"], strict=True):
            assert x["class"] == y["class"] and x["label"] == y["label"]
            assert x["prob"] == pytest.approx(y["prob"], abs=1e-5)
    files = sorted(p.relative_to(tmp_path / "c2") for p in (tmp_path / "c2").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "c100") for p in (tmp_path / "c100").rglob("*"))
    for name in ("000_p0", "002_p2"):
        pair = [
            np.asarray(Image.open(tmp_path / c / name / "figure.png"), np.int16)
            for c in ("c2", "c100")
        ]
        assert pair[0].shape == pair[1].shape and np.abs(pair[0] - pair[1]).max() <= 2


@pytest.mark.parametrize("command", ["explain", "sanity", "evaluate", "visualize"])
def test_an_out_that_cannot_be_a_folder_is_refused_before_any_work(
    capsys, tmp_path, command
) -> None:
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"not a folder")
    args = {"explain": ["x.png"], "sanity": ["x.png"], "evaluate": [], "visualize": []}[command]
    code, _, err = run(capsys, command, *args, "--out", str(taken))
    assert code == 2 and f"--out '{taken}' is a file, not a folder" in err
    code, _, err = run(capsys, command, *args, "--out", str(taken / "below"))
    assert code == 2 and "is not a folder seewhy can write into" in err


def test_no_image_to_read_exits_1_as_documented(capsys, tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "explain", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert code == 1 and "folder is empty" in err
    code, _, err = run(capsys, "explain", str(tmp_path / "nosuch.png"), "--out", str(tmp_path))
    assert code == 1 and "no such file" in err


def test_a_box_threshold_asks_for_boxes(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "explain", chelsea_path, "--weights", "random", "--box-threshold", "0.5",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    entry = json.loads((out / "report.json").read_text())[0]
    assert entry["box_threshold"] == 0.5 and entry["boxes"]["gradcam"][0] is not None
