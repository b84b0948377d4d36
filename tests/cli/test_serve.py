"""``seewhy serve``: options into ServeSettings, uvicorn started with the app, and a clear
message when the serve extra is missing."""

from __future__ import annotations

import sys

import pytest

from seewhy.cli.main import build_parser, main


def test_defaults_bind_to_localhost():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.model, args.max_upload_mb) == ("127.0.0.1", 8000, [], 20.0)
    assert (args.workers, args.queue, args.study_db, args.study_images) == (1, 8, None, None)


def test_serve_runs_uvicorn_with_the_settings(monkeypatch, tmp_path):
    uvicorn = pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    argv = ["serve", "--port", "8123", "--model", "resnet18", "--workers", "2", "--queue", "3"]
    argv += ["--max-upload-mb", "5", "--study-db", str(tmp_path / "s.db")]
    assert main(argv) == 0
    settings = seen["app"].state.settings
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert settings.model_names == (
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "resnet18",
    )
    assert (settings.workers, settings.queue, settings.max_upload_mb) == (2, 3, 5.0)
    assert settings.study_db == tmp_path / "s.db"


def test_bad_pool_sizes_are_one_line_errors(capsys):
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_missing_serve_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn raises ImportError
    assert main(["serve"]) == 2
    assert "pip install 'seewhy[serve]'" in capsys.readouterr().err
