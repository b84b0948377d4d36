"""The study database: SQLite at ``--study-db``, one row per answer.

Three tables:

- ``studies``: each configuration the experimenter saved (JSON), the newest one active.
- ``trials``: each trial served, with every parameter drawn for it (image, method, models,
  class shown, answer order, which model was shown first) and when.
- ``answers``: one row per answer, keyed by its trial: the answer, whether it was right
  (discrimination) or the normalised score (trust), the response time measured in the page
  and on the server, and when. A trial is answered at most once; an answer is read with its
  trial's parameters joined (:data:`ANSWER_COLUMNS`).

Every call opens its own connection (so any thread may call), the database runs in WAL mode
(readers do not block the writer), writes take ``BEGIN IMMEDIATE`` behind a process-wide lock,
and other processes writing the same file wait up to 30 s for their turn.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "ANSWER_COLUMNS",
    "ANSWER_FIELDS",
    "TRIAL_COLUMNS",
    "AlreadyAnswered",
    "StudyStore",
    "utc_now",
]

#: What a trial records, in order.
TRIAL_COLUMNS = (
    "trial_id",
    "study_id",
    "participant",
    "task",
    "image",
    "method",
    "model_a",
    "model_b",
    "shown_first",
    "target_class",
    "target_label",
    "option_1_class",
    "option_1_label",
    "option_2_class",
    "option_2_label",
    "served_at",
)
#: What an answer records besides its trial, in order.
ANSWER_FIELDS = (
    "answer",
    "answer_label",
    "correct",
    "score",
    "response_ms",
    "server_ms",
    "answered_at",
)
#: One answer as read (and the CSV export's columns), in order: its trial's parameters joined.
ANSWER_COLUMNS = ("answer_id", *TRIAL_COLUMNS, *ANSWER_FIELDS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(study_id),
    participant TEXT NOT NULL,
    task TEXT NOT NULL,
    image TEXT NOT NULL,
    method TEXT NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT,
    shown_first TEXT,
    target_class INTEGER NOT NULL,
    target_label TEXT NOT NULL,
    option_1_class INTEGER,
    option_1_label TEXT,
    option_2_class INTEGER,
    option_2_label TEXT,
    served_at TEXT NOT NULL,
    served_clock REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS trials_by_study ON trials(study_id, task, participant);
CREATE TABLE IF NOT EXISTS answers (
    answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL UNIQUE REFERENCES trials(trial_id),
    answer INTEGER NOT NULL,
    answer_label TEXT NOT NULL,
    correct INTEGER,
    score INTEGER,
    response_ms INTEGER,
    server_ms INTEGER NOT NULL,
    answered_at TEXT NOT NULL
);
"""


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class AlreadyAnswered(Exception):
    """The trial has an answer already."""


class StudyStore:
    """The study's SQLite file; the folder is made when missing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            answer_columns = {row["name"] for row in db.execute("PRAGMA table_info(answers)")}
        if "participant" in answer_columns:  # the first layout copied every trial column
            from seewhy.errors import SeewhyError

            raise SeewhyError(
                f"study database {self.path} has the earlier layout, whose answers copy their "
                "trials' columns; export its CSV with the seewhy that wrote it, then give "
                "--study-db a new file"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with self._write, self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # studies

    def add_study(self, config: Mapping[str, Any]) -> int:
        """Save a configuration; it becomes the active one. Returns its id."""
        with self._writing() as db:
            cursor = db.execute(
                "INSERT INTO studies (created_at, config) VALUES (?, ?)",
                (utc_now(), json.dumps(dict(config), sort_keys=True)),
            )
            return int(cursor.lastrowid or 0)

    def active_study(self) -> tuple[int, dict[str, Any], str] | None:
        """The newest configuration: (id, config, created_at), or None before the first."""
        with self._connect() as db:
            row = db.execute(
                "SELECT study_id, config, created_at FROM studies ORDER BY study_id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return int(row["study_id"]), json.loads(row["config"]), str(row["created_at"])

    def studies(self) -> list[dict[str, Any]]:
        """Every saved configuration, oldest first: study_id, created_at, config, answers."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT s.study_id, s.created_at, s.config, COUNT(a.answer_id) AS answers "
                "FROM studies s LEFT JOIN trials t ON t.study_id = s.study_id "
                "LEFT JOIN answers a ON a.trial_id = t.trial_id "
                "GROUP BY s.study_id ORDER BY s.study_id"
            ).fetchall()
        return [{**dict(row), "config": json.loads(row["config"])} for row in rows]

    # trials

    def add_trial(self, trial: Mapping[str, Any], served_clock: float) -> None:
        """Record a served trial (every column of :data:`TRIAL_COLUMNS`)."""
        names = [*TRIAL_COLUMNS, "served_clock"]
        values = [trial[name] for name in TRIAL_COLUMNS] + [served_clock]
        with self._writing() as db:
            db.execute(
                f"INSERT INTO trials ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                values,
            )

    def trial(self, trial_id: str) -> dict[str, Any] | None:
        """A served trial by id (with ``served_clock``), or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM trials WHERE trial_id = ?", (trial_id,)).fetchone()
        return None if row is None else dict(row)

    def served(self, study_id: int, task: str) -> list[dict[str, Any]]:
        """Every trial of the study's task served so far: participant, image, method,
        target_class, and whether it was answered."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT t.participant, t.image, t.method, t.target_class, "
                "a.answer_id IS NOT NULL AS answered FROM trials t "
                "LEFT JOIN answers a ON a.trial_id = t.trial_id "
                "WHERE t.study_id = ? AND t.task = ?",
                (study_id, task),
            ).fetchall()
        return [dict(row) for row in rows]

    # answers

    def add_answer(self, trial: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
        """Store the answer to ``trial`` (``answer``'s fields: answer, answer_label, correct,
        score, response_ms, server_ms) and return it as :meth:`answers` reads it. Raises
        :class:`AlreadyAnswered` when the trial has one."""
        row = {**answer, "answered_at": utc_now()}
        names = ["trial_id", *ANSWER_FIELDS]
        try:
            with self._writing() as db:
                cursor = db.execute(
                    f"INSERT INTO answers ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' * len(names))})",
                    [trial["trial_id"], *(row[name] for name in ANSWER_FIELDS)],
                )
                answer_id = int(cursor.lastrowid or 0)
        except sqlite3.IntegrityError:
            raise AlreadyAnswered(trial["trial_id"]) from None
        return {"answer_id": answer_id, **{n: trial[n] for n in TRIAL_COLUMNS}, **row}

    def answers(self, study_id: int | None = None) -> list[dict[str, Any]]:
        """Every answer (of one study, or of all), oldest first, as :data:`ANSWER_COLUMNS`."""
        columns = [
            "a.answer_id",
            *(f"t.{n}" for n in TRIAL_COLUMNS),
            *(f"a.{n}" for n in ANSWER_FIELDS),
        ]
        query = f"SELECT {', '.join(columns)} FROM answers a JOIN trials t USING (trial_id)"
        args: tuple[Any, ...] = ()
        if study_id is not None:
            query += " WHERE t.study_id = ?"
            args = (study_id,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY a.answer_id", args).fetchall()
        return [dict(row) for row in rows]

    def answered(self, study_id: int, participant: str) -> int:
        """How many trials of the study ``participant`` has answered."""
        with self._connect() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM answers a JOIN trials t USING (trial_id) "
                "WHERE t.study_id = ? AND t.participant = ?",
                (study_id, participant),
            ).fetchone()
        return int(row[0])
