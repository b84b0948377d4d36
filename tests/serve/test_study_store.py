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


def test_answers_are_stored_once_and_read_with_their_trial_joined(tmp_path):
    from seewhy.serve.study_store import ANSWER_COLUMNS, ANSWER_FIELDS, TRIAL_COLUMNS

    store = StudyStore(tmp_path / "s.sqlite3")
    study = store.add_study({"task": "discrimination"})
    trial = {name: None for name in TRIAL_COLUMNS}
    trial.update(
        trial_id="t1", study_id=study, participant="p", task="discrimination", image="cat.png",
        method="gradcam", model_a="m", target_class=285, target_label="cat", served_at="now",
    )  # fmt: skip
    store.add_trial(trial, 1.0)
    answer = {"answer": 1, "answer_label": "cat", "correct": 1, "score": None,
              "response_ms": 900, "server_ms": 950}  # fmt: skip
    written = store.add_answer(trial, answer)
    assert list(written) == list(ANSWER_COLUMNS)
    assert store.answers(study) == [written] and store.answers() == [written]
    assert store.answered(study, "p") == 1 and store.answered(study, "q") == 0
    assert store.studies()[0]["answers"] == 1
    with sqlite3.connect(tmp_path / "s.sqlite3") as db:  # each trial column kept once
        stored = [row[1] for row in db.execute("PRAGMA table_info(answers)")]
    assert stored == ["answer_id", "trial_id", *ANSWER_FIELDS]


def test_a_database_of_the_earlier_layout_is_refused_with_what_to_do(tmp_path):
    from seewhy.errors import SeewhyError

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE answers (answer_id INTEGER PRIMARY KEY, participant TEXT)")
    with pytest.raises(SeewhyError, match="earlier layout.*export its CSV"):
        StudyStore(path)
