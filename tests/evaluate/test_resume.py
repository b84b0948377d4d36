"""Resume and sharding: a run killed part-way and run again, and a run over K processes,
give the results.json of one uninterrupted process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from seewhy.evaluate.runner import KILL_AFTER

SCRIPT = Path(__file__).resolve().parent.parent / "helpers" / "evaluate_script.py"


def run(out: Path, count: int, env: dict[str, str] | None = None, processes: int = 1):
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(out), str(count)]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={processes}", str(SCRIPT), str(out), str(count),
        ]  # fmt: skip
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


def stored(out: Path) -> int:
    count = 0
    for path in (out / "progress").glob("rank*.sqlite"):
        with sqlite3.connect(path) as connection:
            count += connection.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    return count


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    done = run(out, 10)
    assert done.returncode == 0, done.stderr
    return json.loads((out / "results.json").read_text())


def test_a_killed_run_resumes_to_the_same_results(uninterrupted, tmp_path):
    killed = run(tmp_path, 10, {KILL_AFTER: "4"})
    assert killed.returncode == -9  # SIGKILL after the second batch of two images
    assert not (tmp_path / "results.json").exists()
    assert stored(tmp_path) == 2 * 4  # two methods x four images, committed
    resumed = run(tmp_path, 10)
    assert resumed.returncode == 0, resumed.stderr
    assert stored(tmp_path) == 2 * 10
    assert json.loads((tmp_path / "results.json").read_text()) == uninterrupted


@pytest.mark.slow
def test_three_processes_give_the_rows_of_one(uninterrupted, tmp_path):
    sharded = run(tmp_path, 10, processes=3)  # 10 images over 3 ranks: 4, 3, 3
    assert sharded.returncode == 0, sharded.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["rows"] == uninterrupted["rows"]
    assert results == uninterrupted  # per-image records and skipped images too
    files = sorted(p.name for p in (tmp_path / "progress").glob("*.sqlite"))
    assert files == ["rank0.sqlite", "rank1.sqlite", "rank2.sqlite"]
    with sqlite3.connect(tmp_path / "progress" / "rank1.sqlite") as connection:
        keys = {k.split("#")[0] for (k,) in connection.execute("SELECT key FROM records")}
    assert keys == {"img01.png", "img04.png", "img07.png"}  # rank 1 of 3: 1, 4, 7 (key#print)


@pytest.mark.slow
def test_a_sharded_run_resumes_with_another_process_count(uninterrupted, tmp_path):
    killed = run(tmp_path, 10, {KILL_AFTER: "2"}, processes=2)
    assert killed.returncode != 0
    resumed = run(tmp_path, 10, processes=3)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((tmp_path / "results.json").read_text()) == uninterrupted


@pytest.mark.slow
def test_torchrun_seewhy_evaluate_on_samples_gives_the_rows_of_one_process(tmp_path):
    """The acceptance run: ``torchrun --standalone --nproc-per-node 3 -m seewhy evaluate``
    on ``--data samples --limit 10`` (4 / 3 / 3 images) against one process."""
    args = ["evaluate", "--data", "samples", "--limit", "10", "--method", "gradcam"]
    args += ["--method", "gradcam++", "--metric", "pointing", "--metric", "energy_pointing"]
    args += ["--metric", "grid_pointing", "--metric", "average_drop", "--no-figures"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "seewhy", *args, "--out", str(tmp_path / "one")],
        env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    three = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3",
            "-m", "seewhy", *args, "--out", str(tmp_path / "three"),
        ],
        env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert three.returncode == 0, three.stderr
    single = json.loads((tmp_path / "one" / "results.json").read_text())
    sharded = json.loads((tmp_path / "three" / "results.json").read_text())
    assert sharded["rows"] == single["rows"]
    assert sharded == single
    assert len(list((tmp_path / "three" / "progress").glob("rank*.sqlite"))) == 3
