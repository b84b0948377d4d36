"""``seewhy sanity``: sanity.json, the plot and the grid, and one clear line for bad options."""

from __future__ import annotations

import json

from PIL import Image

from seewhy.cli.main import main


def test_sanity_writes_the_json_plot_and_grid(tmp_path, capsys, chelsea_path) -> None:
    argv = ["sanity", chelsea_path, "--method", "gradient", "--method", "guided_backprop"]
    argv += ["--randomize", "classifier", "--randomize", "conv_head+bn2", "--out", str(tmp_path)]
    assert main(argv) == 0
    written = json.loads((tmp_path / "sanity.json").read_text())
    assert list(written) == ["gradient", "guided_backprop"]
    assert written["gradient"]["layers"] == ["trained", "classifier", "conv_head+bn2"]
    assert list(written["gradient"]) == ["layers", "spearman", "spearman_abs", "ssim", "hog"]
    assert written["guided_backprop"]["spearman"][0] == 1.0
    assert written["guided_backprop"]["spearman"][2] > 0.99
    assert written["gradient"]["spearman_abs"][1] < 0.5
    plot = Image.open(tmp_path / "sanity_plot.png")
    grid = Image.open(tmp_path / "sanity_grid.png")
    assert plot.mode == grid.mode == "RGB"
    assert 3 * 224 < grid.size[1] < 4 * 224 + 60  # three rows of panels, colour bars below
    out = capsys.readouterr().out
    assert "gradient (cascading, 1 images)" in out and "conv_head+bn2" in out
    assert out.strip().endswith("sanity_grid.png")


def test_bad_step_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    argv = ["sanity", "--randomize", "clasifier", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seewhy: error: no layer named 'clasifier'")
    assert "Did you mean 'classifier'" in err and len(err.strip().splitlines()) == 1


def test_an_empty_name_in_randomize_is_one_cli_line(tmp_path, capsys) -> None:
    # Before: the Python message, "each entry of layers= is ...", which no CLI option names.
    argv = ["sanity", "--randomize", "classifier+", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seewhy: error: bad --randomize 'classifier+': give a module name")
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())
