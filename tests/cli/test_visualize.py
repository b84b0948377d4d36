"""``seewhy visualize``: filter grids, and one clear line with exit 2 for bad options."""

from __future__ import annotations

import pytest
from PIL import Image

from seewhy.cli.main import main
from seewhy.cli.visualize import parse_channels


def test_parse_channels() -> None:
    assert parse_channels("0-3") == [0, 1, 2, 3]
    assert parse_channels("7") == [7]
    assert parse_channels("0, 3,8-9,3") == [0, 3, 8, 9]
    assert len(parse_channels("0-4095")) == 4096


def test_a_range_past_what_one_run_can_optimise_is_refused_at_once() -> None:
    """Before: 0-99999999 spent minutes building 10^8 objectives, then failed."""
    import time

    from seewhy.errors import SeewhyError

    started = time.perf_counter()
    with pytest.raises(SeewhyError, match="asks for more than 4096 filters"):
        parse_channels("0-99999999")
    with pytest.raises(SeewhyError, match="more than 4096"):
        parse_channels("0-4000,5000-5100")
    assert time.perf_counter() - started < 5  # refused before building the list


def test_channel_range_writes_each_filter_and_a_4x4_grid(tmp_path, capsys) -> None:
    argv = ["visualize", "--layer", "blocks.0", "--channel", "0-15", "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    grid = Image.open(tmp_path / "blocks.0_channels_grid.png")
    # each tile labelled with its channel in a 16 px band under it
    assert grid.size == (4 * 224 + 3 * 4, 4 * (224 + 16) + 3 * 4) and grid.mode == "RGB"
    singles = sorted(tmp_path.glob("blocks.0_channel_*.png"))
    assert [p.name for p in singles][::15] == [
        "blocks.0_channel_000.png",
        "blocks.0_channel_015.png",
    ]
    assert len(singles) == 16 and Image.open(singles[0]).size == (224, 224)
    assert len(capsys.readouterr().out.splitlines()) == 17


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--layer", "block.0"], "no layer named 'block.0'"),
        (["--layer", "blocks.0", "--channel", "10-40"], "channel 16 is out of range"),
        (["--layer", "blocks.0", "--channel", "0-x"], "bad --channel '0-x'"),
        (["--layer", "blocks.0", "--channel", "5-2"], "the end is before the start"),
        (["--class", "egyptian kat"], "Did you mean 'Egyptian cat'"),
        (["--class", "1000"], "class id 1000 is out of range"),
        (["--channel", "3"], "--channel needs --layer"),
        ([], "give --layer"),
        (["--class", "285", "--steps", "0"], "--steps must be at least 1"),
        (["--layer", "blocks.0", "--channel", ""], "bad --channel ''"),
        (["--class", "285", "--lr", "inf"], "lr must be a positive finite number, got inf"),
        (["--class", "285", "--seed", str(2**70)], "seed must be a whole number from"),
        (["--layer", "blocks.0", "--channel", "0-1000"], "channel 16 is out of range"),
        (["--class", "285", "--size", "64"], "--size sets the side of filter images"),
    ],
)
def test_bad_options_exit_2_with_one_line(argv, message, tmp_path, capsys) -> None:
    code = main(["visualize", "--steps", "1", *argv, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("seewhy: error: ") and message in err[-1], err
    assert not list(tmp_path.iterdir())


def test_fast_flag_reaches_synthesize(tmp_path, monkeypatch, capsys) -> None:
    import seewhy.synthesis

    seen: list[bool] = []
    real = seewhy.synthesis.synthesize

    def spy(*args, **kwargs):
        seen.append(kwargs["fast"])
        return real(*args, **kwargs)

    monkeypatch.setattr(seewhy.synthesis, "synthesize", spy)
    for flag in ("--no-fast", "--fast"):
        argv = ["visualize", "--class", "285", "--steps", "1", flag, "--out", str(tmp_path / flag)]
        assert main(argv) == 0
    assert seen == [False, True]
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_one_class_named_twice_makes_one_png_listed_once(tmp_path, capsys) -> None:
    # Before: two images of class 285 were made, the second overwrote the first's file and
    # the path was printed twice.
    argv = ["visualize", "--class", "285", "--class", "Egyptian cat", "--class", " 285 "]
    argv += ["--class", "tabby", "--steps", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out.split()
    assert out == [
        str(tmp_path / "class_285_egyptian_cat.png"),
        str(tmp_path / "class_281_tabby.png"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "class_281_tabby.png",
        "class_285_egyptian_cat.png",
    ]
