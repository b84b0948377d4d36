"""The study database (``seewhy.serve.study_store``): concurrent writers, WAL, one answer per
trial."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from seewhy.serve.study_store import AlreadyAnswered, StudyStore

BASE = {"task": "trust", "image": "i", "method": "m", "model_a": "a", "model_b": "b",
        "shown_first": "a", "target_class": 1, "target_label": "one", "option_1_class": None,
        "option_1_label": None, "option_2_class": None, "option_2_label": None,
        "served_at": "now"}  # fmt: skip
ANSWER = {"answer": 1, "answer_label": "x", "correct": None, "score": -1, "response_ms": 5,
          "server_ms": 5}  # fmt: skip


def test_the_store_takes_concurrent_answers(tmp_path):
    store = StudyStore(tmp_path / "deep" / "folder" / "s.sqlite3")
    study_id = store.add_study({"name": "x"})
    base = {**BASE, "study_id": study_id}
    trials = [{**base, "trial_id": f"t{i}", "participant": f"p{i % 4}"} for i in range(40)]

    def work(chunk):
        for t in chunk:
            store.add_trial(t, 0.0)
            store.add_answer(t, ANSWER)

    threads = [threading.Thread(target=work, args=(trials[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.answers(study_id)) == 40
    assert {store.answered(study_id, f"p{i}") for i in range(4)} == {10}
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_trial_is_answered_once_and_studies_are_listed(tmp_path):
    store = StudyStore(tmp_path / "s.sqlite3")
    first = store.add_study({"name": "one"})
    second = store.add_study({"name": "two"})
    assert store.active_study()[:2] == (second, {"name": "two"})
    trial = {**BASE, "study_id": first, "trial_id": "t", "participant": "p"}
    store.add_trial(trial, 0.0)
    row = store.add_answer(trial, ANSWER)
    assert row["answer_id"] == 1 and row["participant"] == "p" and row["answered_at"]
    with pytest.raises(AlreadyAnswered):
        store.add_answer(trial, ANSWER)
    assert [(s["study_id"], s["answers"]) for s in store.studies()] == [(first, 1), (second, 0)]
    assert store.answers(second) == [] and len(store.answers()) == 1
    assert store.trial("missing") is None
