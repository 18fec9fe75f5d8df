"""The server's memory across restarts: subjects and jobs in one SQLite file (stdlib sqlite3, WAL).

Only rows live here; photos and expression sets are files under the data dir (see backend/serving/data_dir.py). One
connection is shared by the worker and the request threads, serialised by a lock; every call is one transaction.
"""
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS subjects (
    subject_id TEXT PRIMARY KEY,
    photo_file TEXT NOT NULL,          -- file name under subjects/<subject_id>/
    info TEXT NOT NULL,                -- SubjectInfo as JSON
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- submission order: the queue order after a restart
    job_id TEXT NOT NULL UNIQUE,
    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,             -- JobRequest as JSON
    expressions TEXT NOT NULL,         -- [ExpressionProgress] as JSON
    error TEXT,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class StoredSubject:
    subject_id: str
    photo_file: str
    info: dict
    created: str = field(default_factory=now)


@dataclass
class StoredJob:
    job_id: str
    subject_id: str
    status: str
    request: dict
    expressions: list[dict]
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    created: str = field(default_factory=now)
    started: str | None = None
    finished: str | None = None


_JOB_COLUMNS = ("job_id", "subject_id", "status", "progress", "message", "request", "expressions", "error",
                "created", "started", "finished")
_JSON_COLUMNS = ("request", "expressions")


class JobStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} was written by a newer PromptFace (schema {version}); this one reads "
                               f"schema {SCHEMA_VERSION} — update PromptFace or use another --data-dir")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Subjects

    def add_subject(self, row: StoredSubject) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO subjects VALUES (?, ?, ?, ?)",
                             (row.subject_id, row.photo_file, json.dumps(row.info), row.created))

    def subject(self, subject_id: str) -> StoredSubject | None:
        with self._lock:
            found = self._db.execute("SELECT subject_id, photo_file, info, created FROM subjects "
                                     "WHERE subject_id = ?", (subject_id,)).fetchone()
        return None if found is None else StoredSubject(found[0], found[1], json.loads(found[2]), found[3])

    def subjects(self) -> list[StoredSubject]:
        """Every subject, oldest first."""
        with self._lock:
            found = self._db.execute("SELECT subject_id, photo_file, info, created FROM subjects "
                                     "ORDER BY created, subject_id").fetchall()
        return [StoredSubject(row[0], row[1], json.loads(row[2]), row[3]) for row in found]

    def delete_subject(self, subject_id: str) -> None:
        """Remove a subject and every job of it (one transaction)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM jobs WHERE subject_id = ?", (subject_id,))
            self._db.execute("DELETE FROM subjects WHERE subject_id = ?", (subject_id,))
            self._db.execute("COMMIT")

    # Jobs

    def add_job(self, row: StoredJob) -> None:
        values = [getattr(row, name) for name in _JOB_COLUMNS]
        values = [json.dumps(value) if name in _JSON_COLUMNS else value
                  for name, value in zip(_JOB_COLUMNS, values, strict=True)]
        with self._lock:
            self._db.execute(f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_JOB_COLUMNS))})", values)

    def job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            found = self._db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id = ?",
                                     (job_id,)).fetchone()
        return None if found is None else _job_row(found)

    def jobs(self, status: str) -> list[StoredJob]:
        """The jobs in one status, in submission order."""
        with self._lock:
            found = self._db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE status = ? ORDER BY seq",
                                     (status,)).fetchall()
        return [_job_row(values) for values in found]

    def jobs_of_subject(self, subject_id: str) -> list[StoredJob]:
        with self._lock:
            found = self._db.execute(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE subject_id = ? ORDER BY seq",
                                     (subject_id,)).fetchall()
        return [_job_row(values) for values in found]

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def update_job(self, job_id: str, **changes) -> None:
        """Set some columns of one job (expressions and request as Python values)."""
        unknown = set(changes) - set(_JOB_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job columns: {', '.join(sorted(unknown))}")
        names = list(changes)
        values = [json.dumps(changes[name]) if name in _JSON_COLUMNS else changes[name] for name in names]
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {', '.join(f'{name} = ?' for name in names)} WHERE job_id = ?",
                             [*values, job_id])


def _job_row(values: tuple) -> StoredJob:
    columns = dict(zip(_JOB_COLUMNS, values, strict=True))
    for name in _JSON_COLUMNS:
        columns[name] = json.loads(columns[name])
    return StoredJob(**columns)
