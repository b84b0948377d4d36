"""seewhy.report: report.json entries for explained and unreadable inputs, and the files
save_results writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seewhy.report import _safe, error_entries, report_entry, save_results, write_report
from seewhy.result import ExplanationResult, InputRecord

SOURCES = ("photos/cat one.png", "photos/bad.jpg", "dog.png")
RECORDS = [
    InputRecord(SOURCES[0], 0, None),
    InputRecord(SOURCES[1], None, "photos/bad.jpg: not an image"),
    InputRecord(SOURCES[2], 1, None),
]


def _result(model_name: str = "tiny net", offset: float = 0.0) -> ExplanationResult:
    """Two readable images x two targets, one CAM and one input-space method, by hand."""
    cam = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).reshape(2, 2, 4, 4) + offset
    attribution = torch.linspace(-1, 1, 2 * 2 * 3 * 4 * 4).reshape(2, 2, 3, 4, 4)
    return ExplanationResult(
        maps={"gradcam": cam, "smooth:saliency": attribution.abs().amax(dim=2)},
        layer_maps={"gradcam": cam[..., :2, :2]},
        targets=torch.tensor([[285, 281], [3, -1]]),
        scores=torch.tensor([[2.5, 1.0], [0.5, 7.0]]),
        probs=torch.tensor([[0.75, 0.25], [0.5, float("nan")]]),
        labels=[["Egyptian cat", "tabby"], ["tiger shark", "target 1"]],
        images=lambda: np.full((2, 4, 4, 3), 100, dtype=np.uint8),
        records=list(RECORDS),
        model_name=model_name,
        layers={"gradcam": "features.3"},
        attributions={"smooth:saliency": attribution},
        deltas={"smooth:saliency": torch.tensor([[0.125, -0.5], [0.0, 2.0]])},
        displays={"smooth:saliency": "abs"},
    )


OK_ENTRY = {
    "image": SOURCES[0],
    "status": "ok",
    "error": None,
    "model": "tiny net",
    "targets": [
        {"class": 285, "label": "Egyptian cat", "score": 2.5, "prob": 0.75},
        {"class": 281, "label": "tabby", "score": 1.0, "prob": 0.25},
    ],
    "maps": {},
    "layers": {"gradcam": "features.3"},
    "refused": {},
    "request": {"scale": "image", "box_threshold": None},
}
ERROR_ENTRY = {
    "image": SOURCES[1],
    "status": "error",
    "error": "photos/bad.jpg: not an image",
    "model": "tiny net",
    "targets": [],
    "maps": {},
}


def test_entries_of_an_explained_and_an_unreadable_input() -> None:
    result = _result()
    assert report_entry(result, RECORDS[0]) == OK_ENTRY
    assert report_entry(result, RECORDS[1]) == ERROR_ENTRY
    callable_target = report_entry(result, RECORDS[2])["targets"][1]
    assert callable_target == {"class": -1, "label": "target 1", "score": 7.0, "prob": None}
    assert result.report() == [report_entry(result, r) for r in RECORDS]


def test_no_labels_give_none() -> None:
    result = _result()
    result.labels = None
    assert [t["label"] for t in report_entry(result, RECORDS[0])["targets"]] == [None, None]


def test_error_entries_have_the_shape_of_a_result_s_error_entry() -> None:
    records = [RECORDS[1], InputRecord("gone.png", None, "gone.png: no such file")]
    entries = error_entries(records, "tiny net")
    assert entries[0] == ERROR_ENTRY == report_entry(_result(), RECORDS[1])
    assert entries[1] == {**ERROR_ENTRY, "image": "gone.png", "error": "gone.png: no such file"}


def test_write_report_makes_the_folder_and_writes_the_entries(tmp_path: Path) -> None:
    path = write_report(error_entries([RECORDS[1]], "tiny net"), tmp_path / "a" / "b")
    assert path == tmp_path / "a" / "b" / "report.json"
    assert json.loads(path.read_text()) == [ERROR_ENTRY]
    assert path.read_text().startswith('[\n  {\n    "image"')  # indented for people


def test_save_results_writes_maps_overlays_figures_and_the_report(tmp_path: Path) -> None:
    result = _result()
    path = save_results([result], tmp_path, what=["figure", "overlays", "maps"])
    assert path == tmp_path / "report.json"
    report = json.loads(path.read_text())
    assert [(e["image"], e["status"]) for e in report] == [
        (SOURCES[0], "ok"),
        (SOURCES[1], "error"),
        (SOURCES[2], "ok"),
    ]
    assert report[1] == ERROR_ENTRY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000_cat_one", "002_dog", "report.json"]

    entry = report[2]
    files = ("maps", "figure", "input", "layer_maps")
    without_files = {k: v for k, v in entry.items() if k not in files}
    assert without_files == {
        k: v for k, v in report_entry(result, RECORDS[2]).items() if k != "maps"
    }
    assert entry["figure"] == "002_dog/figure.png"
    assert entry["input"] == "002_dog/tiny_net/input.png"
    assert entry["layer_maps"] == {"gradcam": "002_dog/tiny_net/gradcam.layer.npy"}
    assert entry["maps"] == {
        "gradcam": {
            "npy": "002_dog/tiny_net/gradcam.npy",
            "overlays": ["002_dog/tiny_net/gradcam_t0.png", "002_dog/tiny_net/gradcam_t1.png"],
            "display": "cam",
        },
        "smooth:saliency": {
            "npy": "002_dog/tiny_net/smooth_saliency.npy",
            "overlays": [
                "002_dog/tiny_net/smooth_saliency_t0.png",
                "002_dog/tiny_net/smooth_saliency_t1.png",
            ],
            "display": "abs",
            "attribution": "002_dog/tiny_net/smooth_saliency_attribution.npy",
            "delta": [0.0, 2.0],
        },
    }
    assert report[0]["maps"]["smooth:saliency"]["delta"] == [0.125, -0.5]
    np.testing.assert_array_equal(
        np.load(tmp_path / entry["maps"]["gradcam"]["npy"]), result.maps["gradcam"][1].numpy()
    )
    np.testing.assert_array_equal(
        np.load(tmp_path / entry["maps"]["smooth:saliency"]["attribution"]),
        result.attributions["smooth:saliency"][1].numpy(),
    )
    overlay = Image.open(tmp_path / entry["maps"]["gradcam"]["overlays"][1])
    np.testing.assert_array_equal(np.asarray(overlay), np.asarray(result.overlay(1, "gradcam", 1)))
    figure = Image.open(tmp_path / entry["figure"])
    assert figure.size == result.figure(1).size


def test_results_of_several_models_share_one_figure_per_input(tmp_path: Path) -> None:
    first, second = _result("tiny net"), _result("other/net", offset=1.0)
    report = json.loads(save_results([first, second], tmp_path).read_text())
    assert [(e["image"], e["model"]) for e in report] == [
        (source, model) for source in SOURCES for model in ("tiny net", "other/net")
    ]
    assert report[0]["figure"] == report[1]["figure"] == "000_cat_one/figure.png"
    assert report[1]["maps"]["gradcam"]["npy"] == "000_cat_one/other_net/gradcam.npy"
    np.testing.assert_array_equal(
        np.load(tmp_path / report[1]["maps"]["gradcam"]["npy"]),
        second.maps["gradcam"][0].numpy(),
    )
    one_block = Image.open(tmp_path / "000_cat_one" / "figure.png")
    assert one_block.size[1] > first.figure(0).size[1]  # two blocks stacked


def test_result_save_is_save_results_of_the_one_result(tmp_path: Path) -> None:
    result = _result()
    path = result.save(tmp_path / "one")
    assert path == tmp_path / "one" / "report.json"
    save_results([result], tmp_path / "two")
    assert path.read_text() == (tmp_path / "two" / "report.json").read_text()


def test_boxes_go_to_the_report_and_onto_the_overlays_only_when_asked(tmp_path: Path) -> None:
    """At 0.9 of the max: image 0 (values 0..15, 16..31) keeps 14, 15 then the last row; image
    1 (32..47, 48..63) keeps 43..47 then 57..63, both the bottom two rows."""
    result = _result()
    assert "boxes" not in report_entry(result, RECORDS[0])
    saved = save_results([result], tmp_path, what=["overlays"], box_threshold=0.9)
    report = json.loads(saved.read_text())
    assert report[0]["box_threshold"] == 0.9
    assert report[0]["boxes"]["gradcam"] == [[2, 3, 3, 3], [0, 3, 3, 3]]
    assert report[2]["boxes"]["gradcam"] == [[0, 2, 3, 3], [0, 2, 3, 3]]
    assert set(report[2]["boxes"]) == {"gradcam", "smooth:saliency"}
    assert "boxes" not in report[1]  # the unreadable input
    assert result.report(box_threshold=0.9)[2]["boxes"] == report[2]["boxes"]
    drawn = np.asarray(Image.open(tmp_path / report[2]["maps"]["gradcam"]["overlays"][0]))
    plain = np.asarray(result.overlay(1, "gradcam", 0))
    assert (drawn[2:4] == 255).all()  # the box's two rows, white
    assert (drawn[1] == 0).all()  # the black edge just above
    np.testing.assert_array_equal(drawn[0], plain[0])


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("cat one", "cat_one"),
        ("other/net", "other_net"),
        ("smooth:gradcam++", "smooth_gradcam++"),
        ("__x__", "x"),
        ("///", "x"),
        ("a.b@c-d", "a.b@c-d"),
    ],
)
def test_safe_file_names(text: str, name: str) -> None:
    assert _safe(text) == name


def test_a_method_at_several_layers_saves_the_fused_map_and_each_layer_s(tmp_path: Path) -> None:
    result = _result()
    fused = result.maps["gradcam"]
    result.layers["gradcam"] = ["features.2", "features.3"]
    result.maps_by_layer["gradcam"] = {"features.2": fused * 2, "features.3": fused * 3}
    entry = json.loads(save_results([result], tmp_path).read_text())[2]
    assert entry["layers"] == {"gradcam": ["features.2", "features.3"]}
    files = entry["maps"]["gradcam"]
    assert files["npy"] == "002_dog/tiny_net/gradcam.npy"
    assert files["layers"] == {
        "features.2": "002_dog/tiny_net/gradcam@features.2.npy",
        "features.3": "002_dog/tiny_net/gradcam@features.3.npy",
    }
    np.testing.assert_array_equal(np.load(tmp_path / files["npy"]), fused[1].numpy())
    np.testing.assert_array_equal(
        np.load(tmp_path / files["layers"]["features.3"]), 3 * fused[1].numpy()
    )
    assert "layers" not in entry["maps"]["smooth:saliency"]


def test_a_refused_method_is_in_the_report_with_its_reason_and_no_files(tmp_path: Path) -> None:
    result = _result()
    result.refused["cam"] = "cam needs a head of global average pooling"
    result.options["methods"] = {"cam": {}, "gradcam": {}, "smooth:saliency": {}}
    entry = json.loads(save_results([result], tmp_path).read_text())[0]
    assert entry["refused"] == {"cam": "cam needs a head of global average pooling"}
    assert set(entry["maps"]) == {"gradcam", "smooth:saliency"}
    assert result.block(0).methods == ["cam", "gradcam\nlayer features.3", "smooth:saliency"]
    assert Image.open(tmp_path / entry["figure"]).size == result.figure(0).size


def test_result_writer_numbers_the_inputs_of_each_write_after_the_last(tmp_path: Path) -> None:
    from seewhy.report import ResultWriter

    one = save_results([_result()], tmp_path / "one")
    with ResultWriter(tmp_path / "two") as writer:
        writer.write([_result()])
        writer.write([_result()])
        writer.skipped(["photos/notes.txt"])
    first = json.loads(one.read_text())
    both = json.loads(writer.report.read_text())
    assert writer.report == tmp_path / "two" / "report.json"
    renumbered = json.loads(json.dumps(first).replace('"000_', '"003_').replace('"002_', '"005_'))
    renumbered = json.loads(json.dumps(renumbered).replace('"001_', '"004_'))
    assert both[:3] == first and both[3:6] == renumbered
    assert both[6]["status"] == "skipped" and both[6]["image"] == "photos/notes.txt"
    for name in ("000_cat_one", "003_cat_one", "005_dog"):
        assert (tmp_path / "two" / name / "figure.png").read_bytes() == (
            tmp_path / "one" / name.replace("003", "000").replace("005", "002") / "figure.png"
        ).read_bytes()


def test_result_writer_global_scale_takes_one_write_and_a_failure_leaves_no_folder(
    tmp_path: Path,
) -> None:
    from seewhy.errors import OptionError
    from seewhy.report import ResultWriter

    with pytest.raises(OptionError, match="write all results at once"):
        with ResultWriter(tmp_path / "global", scale="global") as writer:
            writer.write([_result()])
            writer.write([_result()])
    with pytest.raises(RuntimeError, match="explaining failed"):
        with ResultWriter(tmp_path / "never"):
            raise RuntimeError("explaining failed")
    assert not (tmp_path / "never").exists()
    with ResultWriter(tmp_path / "errors") as writer:
        writer.write_errors([RECORDS[1]], "tiny net")
    assert json.loads(writer.report.read_text()) == [ERROR_ENTRY]
