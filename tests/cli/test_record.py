"""``seewhy explain`` records its whole request, parses options strictly, aligns models'
classes, and takes --version, --labels, --crop and per-model --weights."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import seewhy
from seewhy.cli.main import main, parse_option, parse_value


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("false", False),
        ("FALSE", False),
        ("True", True),
        ("none", None),
        ("None", None),
        ("32", 32),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("(16, 8)", (16, 8)),
        ("[16, 8]", (16, 8)),
        ("gausslegendre", "gausslegendre"),
        ("maybe", "maybe"),
    ],
)
def test_option_values_are_read_as_booleans_none_numbers_tuples_or_strings(text, value) -> None:
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_a_smooth_method_s_option_names_the_smooth_method() -> None:
    assert parse_option("smooth:gradcam:relu=false") == ("smooth:gradcam", "relu", False)
    assert parse_option("occlusion:window=32") == ("occlusion", "window", 32)


def _request(out) -> dict:
    return json.loads((out / "report.json").read_text())[0]["request"]


def test_report_json_records_every_request_parameter(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    code, _, err = run(
        capsys,
        "explain",
        chelsea_path,
        "--weights",
        "random",
        "--method",
        "gradcam",
        "--method",
        "smooth:gradcam",
        "--option",
        "gradcam:relu=false",
        "--option",
        "smooth:gradcam:relu=FALSE",
        "--option",
        "smooth:gradcam:n=2",
        "--top",
        "3",
        "--score",
        "prob",
        "--counterfactual",
        "--batch-size",
        "4",
        "--no-fast",
        "--out",
        str(out),
    )
    assert code == 0, err
    request = _request(out)
    assert request["model"]["name"] == "efficientnet_lite0"
    assert request["model"]["weights"] == "random"
    assert request["model"]["crop"] is False
    assert request["layers"] == ["auto"]
    assert request["methods"]["gradcam"] == {"relu": False}  # parsed, not the string "false"
    assert request["methods"]["smooth:gradcam"] == {
        "relu": False,
        "n": 2,
        "noise": 0.15,
        "seed": None,
        "batch_size": None,
        "noise_tensors": None,
    }
    assert request["targets"] == "top3"
    assert (request["score"], request["counterfactual"]) == ("prob", True)
    assert (request["fast"], request["batch_size"], request["device"]) == (False, 4, "cpu")
    assert request["versions"]["seewhy"] == seewhy.__version__
    assert request["versions"]["torch"] == torch.__version__


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("gradcam:relu=maybe", "option 'relu' of 'gradcam' must be bool, got 'maybe'"),
        ("gradcam:relu=1", "must be bool, got 1 (int)"),
        ("occlusion:window=3.5", "must be int | tuple[int, int], got 3.5"),
        ("smooth:gradcam:relu=no", "option 'relu' of 'smooth:gradcam' must be bool"),
        ("smooth:gradcam:n=many", "option 'n' of 'smooth:gradcam' must be int"),
        ("smooth:gradcam:rleu=false", "has no option 'rleu'. Did you mean 'relu'"),
    ],
)
def test_an_option_of_the_wrong_type_is_refused_naming_the_type(
    capsys, tmp_path, chelsea_path, option, message
) -> None:
    methods = ["--method", "gradcam", "--method", "occlusion", "--method", "smooth:gradcam"]
    code, _, err = run(
        capsys, "explain", chelsea_path, *methods, "--option", option, "--out", str(tmp_path)
    )
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"seewhy {seewhy.__version__}"


def test_labels_from_a_file_name_the_classes(capsys, tmp_path, chelsea_path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("".join(f"thing {i}\n" for i in range(1000)))
    out = tmp_path / "out"
    code, stdout, _ = run(
        capsys,
        "explain",
        chelsea_path,
        "--weights",
        "random",
        "--labels",
        str(names),
        "--class",
        "thing 7",
        "--out",
        str(out),
    )
    assert code == 0
    entry = json.loads((out / "report.json").read_text())[0]
    assert entry["targets"][0]["class"] == 7 and entry["targets"][0]["label"] == "thing 7"
    assert entry["request"]["model"]["labels"] == str(names)
    assert "thing 7 (7)" in stdout


def test_crop_reaches_the_model_and_the_record(capsys, tmp_path, chelsea_path) -> None:
    out = tmp_path / "out"
    code, _, _ = run(
        capsys, "explain", chelsea_path, "--weights", "random", "--crop", "--out", str(out)
    )
    assert code == 0
    assert _request(out)["model"]["crop"] is True


def test_one_weights_per_model_in_order(capsys, tmp_path, chelsea_path) -> None:
    checkpoint = tmp_path / "lite0.pth"
    torch.save(seewhy.load_model("efficientnet_lite0", "random").module.state_dict(), checkpoint)
    out = tmp_path / "out"
    models = ["--model", "efficientnet_lite0", "--model", "efficientnet_lite0"]
    weights = ["--weights", "random", "--weights", str(checkpoint)]
    code, _, err = run(capsys, "explain", chelsea_path, *models, *weights, "--out", str(out))
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [e["request"]["model"]["weights"] for e in report] == ["random", str(checkpoint)]
    # one model twice: named by its weights, each with its own files, read back as two
    assert [e["model"] for e in report] == ["efficientnet_lite0@random", "efficientnet_lite0@lite0"]
    assert report[0]["maps"]["gradcam"]["npy"] != report[1]["maps"]["gradcam"]["npy"]
    back = seewhy.load_results(out)
    assert [r.model_name for r in back] == [e["model"] for e in report] and len(back[0]) == 1
    code, _, err = run(capsys, "explain", chelsea_path, *models, *weights, "--weights", "random")
    assert code == 2 and "got 3 --weights for 2 models" in err


def test_models_side_by_side_explain_the_first_model_s_top_k(
    capsys, tmp_path, chelsea_path
) -> None:
    out = tmp_path / "out"
    models = ["--model", "efficientnet_lite0", "--model", "efficientnet_lite1"]
    code, _, err = run(
        capsys,
        "explain",
        chelsea_path,
        *models,
        "--weights",
        "random",
        "--top",
        "3",
        "--out",
        str(out),
    )
    assert code == 0, err
    first, second = json.loads((out / "report.json").read_text())
    assert [t["class"] for t in first["targets"]] == [t["class"] for t in second["targets"]]
    assert [t["prob"] for t in first["targets"]] != [t["prob"] for t in second["targets"]]
    assert second["request"]["targets"] == "top3"
    assert second["request"]["targets_from"] == "efficientnet_lite0"


def test_files_skipped_in_a_folder_are_counted_and_named(capsys, tmp_path, chelsea_path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(chelsea_path).save(folder / "cat.png")
    (folder / "logo.svg").write_text("<svg/>")
    (folder / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    code, _, err = run(capsys, "explain", str(folder), "--weights", "random", "--out", str(out))
    assert code == 0
    lines = [line for line in err.splitlines() if "skipped" in line]
    assert lines == [
        f"seewhy: warning: skipped 2 files that are not images (by suffix): "
        f"{folder / 'logo.svg'}, {folder / 'notes.txt'}"
    ]
    report = json.loads((out / "report.json").read_text())
    assert [(e["image"], e["status"]) for e in report] == [
        (str(folder / "cat.png"), "ok"),
        (str(folder / "logo.svg"), "skipped"),
        (str(folder / "notes.txt"), "skipped"),
    ]
