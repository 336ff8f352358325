"""The results database: one SQLite file per run folder.

`runs` has a row per `mebench run` / `mebench evaluate` invocation with its whole specification
(JSON). `sample_groups` holds the protocol's reporting groups (Full, SMIC, ...) per sample, so a
run reports without the protocol plugin that made it. `cells` has a row per (method, parameters, dataset, protocol, fold, seed, epoch selection):
every planned cell is written as `pending` before the first one trains, so a report knows which
results are missing; it becomes `done` or `failed` when computed. `predictions` has a row per test
sample of a finished cell. A cell and its predictions are written in one transaction, so an
interrupted run never leaves half a cell behind.

Reading never creates anything: a missing folder or database is a DataError, and so is a file
that is not a results database of this schema.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from mebench.errors import DataError

DB_NAME = "results.sqlite"
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    spec TEXT NOT NULL,
    host TEXT NOT NULL,
    versions TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    method TEXT NOT NULL,
    preset TEXT NOT NULL,
    params TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_source TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    protocol TEXT NOT NULL,
    fold TEXT NOT NULL,
    n_folds INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    epoch_selection TEXT NOT NULL,
    selected_epochs TEXT,
    class_names TEXT NOT NULL,
    mebench_version TEXT NOT NULL,
    versions TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    error TEXT
);
CREATE TABLE IF NOT EXISTS sample_groups (
    protocol TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    position INTEGER NOT NULL,
    grp TEXT NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (protocol, dataset_fingerprint, grp, sample)
);
CREATE TABLE IF NOT EXISTS predictions (
    cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
    sample TEXT NOT NULL,
    dataset TEXT NOT NULL,
    subject TEXT NOT NULL,
    y_true INTEGER NOT NULL,
    y_pred INTEGER NOT NULL,
    proba TEXT NOT NULL,
    epoch INTEGER,
    PRIMARY KEY (cell_key, sample)
);
"""

CELL_COLUMNS = ("key", "run_id", "method", "preset", "params", "params_hash", "dataset", "dataset_source",
                "dataset_fingerprint", "protocol", "fold", "n_folds", "seed", "epoch_selection", "selected_epochs",
                "class_names", "mebench_version", "versions", "started_at", "finished_at", "status", "error")


@dataclass(frozen=True)
class PredictionRow:
    sample: str
    dataset: str
    subject: str
    y_true: int
    y_pred: int
    proba: Sequence[float]
    epoch: int | None


class ResultStore:
    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME

    # -- connections -----------------------------------------------------------------------------
    def _fail(self, exc: sqlite3.Error, doing: str) -> DataError:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            why = "the folder or file is read-only"
        elif "disk is full" in text or "disk I/O" in text:
            why = "no space left on the device"
        elif "not a database" in text or "malformed" in text:
            why = "the file is not a mebench results database, or it is corrupt"
        else:
            why = text
        return DataError(f"cannot {doing} {self.path}: {why} ({type(exc).__name__}: {text})")

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == SCHEMA_VERSION:
            return
        if version == 0 and "cells" in tables and "runs" not in tables:
            raise DataError(f"{self.path} was written by an earlier mebench (results schema 1, before mebench 0.2); "
                            "report it with that version, or run into a new --out folder")
        if version > SCHEMA_VERSION:
            raise DataError(f"{self.path} was written by a newer mebench (results schema {version}); upgrade mebench")
        if tables - {"sqlite_sequence"}:
            raise DataError(f"{self.path} is not a mebench results database (tables: {', '.join(sorted(tables))})")

    def _read(self) -> sqlite3.Connection:
        """A read-only connection; DataError when there is no database or it is not ours."""
        if not self.folder.is_dir():
            raise DataError(f"{self.folder} is not a folder (no results there); run `mebench run --out {self.folder}` first")
        if not self.path.is_file():
            raise DataError(f"{self.folder} holds no results database ({DB_NAME}); "
                            f"run `mebench run --out {self.folder}` first")
        try:
            conn = sqlite3.connect(f"file:{self.path.absolute()}?mode=ro", uri=True, timeout=30)
            self._check_schema(conn)
        except sqlite3.Error as exc:
            raise self._fail(exc, "read") from None
        return conn

    def _write(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA foreign_keys = ON")
            self._check_schema(conn)
            with conn:
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise self._fail(exc, "write") from None
        return conn

    def exists(self) -> bool:
        return self.path.is_file()

    def ensure_writable(self) -> None:
        """Create the folder and database if needed and prove that both can be written, before any
        work starts: a file where the folder should be, a read-only place or a full disk fail here."""
        if self.folder.exists() and not self.folder.is_dir():
            raise DataError(f"--out {self.folder} is a file, not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the run folder {self.folder}: {exc.strerror or exc}") from None
        if self.path.exists() and not self.path.is_file():
            raise DataError(f"{self.path} exists and is not a file")
        probe = self.folder / f".mebench-write-probe-{uuid.uuid4().hex}"
        try:
            with open(probe, "wb") as fh:
                fh.write(b"\0" * 65536)  # room for at least a cell's predictions
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise DataError(f"cannot write into the run folder {self.folder}: {exc.strerror or exc}") from None
        finally:
            probe.unlink(missing_ok=True)
        conn = self._write()
        try:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: fails on a read-only database
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._fail(exc, "write") from None
        finally:
            conn.close()

    def _execute(self, doing: str, statements) -> Any:
        conn = self._write()
        try:
            with conn:
                return statements(conn)
        except sqlite3.Error as exc:
            raise self._fail(exc, doing) from None
        finally:
            conn.close()

    # -- writing ---------------------------------------------------------------------------------
    def begin_run(self, command: str, spec: dict[str, Any], host: str, versions: dict[str, str], started_at: str) -> int:
        """Record an invocation's whole specification; returns its run id."""
        return self._execute("write", lambda conn: conn.execute(
            "INSERT INTO runs (command, spec, host, versions, started_at) VALUES (?, ?, ?, ?, ?)",
            (command, json.dumps(spec, sort_keys=True), host, json.dumps(versions, sort_keys=True), started_at)).lastrowid)

    def finish_run(self, run_id: int, finished_at: str) -> None:
        self._execute("write", lambda conn: conn.execute("UPDATE runs SET finished_at = ? WHERE id = ?",
                                                         (finished_at, run_id)))

    def plan(self, cells: Iterable[dict[str, Any]]) -> None:
        """Record planned cells as pending; cells already stored (done, failed or pending) are kept."""
        rows = [tuple({**c, "status": "pending"}.get(k) for k in CELL_COLUMNS) for c in cells]
        self._execute("write", lambda conn: conn.executemany(
            f"INSERT OR IGNORE INTO cells ({', '.join(CELL_COLUMNS)}) VALUES ({', '.join('?' * len(CELL_COLUMNS))})",
            rows))

    def save_groups(self, protocol: str, fingerprint: str, groups: dict, samples) -> None:
        """The protocol's reporting groups (name -> boolean mask over `samples`), in table order."""
        samples = list(samples)
        rows = [(protocol, fingerprint, pos, name, s) for pos, (name, mask) in enumerate(groups.items())
                for s, inside in zip(samples, list(mask)) if inside]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sample_groups WHERE protocol = ? AND dataset_fingerprint = ?", (protocol, fingerprint))
            conn.executemany("INSERT INTO sample_groups VALUES (?, ?, ?, ?, ?)", rows)

        self._execute("write", write)

    def finished_keys(self) -> set[str]:
        if not self.exists():
            return set()
        return self._execute("read", lambda conn: {
            r[0] for r in conn.execute("SELECT key FROM cells WHERE status = 'done'")})

    def save_cell(self, cell: dict[str, Any], predictions: Iterable[PredictionRow] = ()) -> None:
        """Write one cell (replacing an earlier attempt) and its predictions atomically."""
        row = {k: cell.get(k) for k in CELL_COLUMNS}
        values = [(row["key"], p.sample, p.dataset, p.subject, int(p.y_true), int(p.y_pred),
                   json.dumps([round(float(x), 6) for x in p.proba]), p.epoch) for p in predictions]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM predictions WHERE cell_key = ?", (row["key"],))
            conn.execute(  # an upsert keeps the row (and so the planned order) of a pending cell
                f"INSERT INTO cells ({', '.join(CELL_COLUMNS)}) VALUES ({', '.join('?' * len(CELL_COLUMNS))}) "
                f"ON CONFLICT(key) DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in CELL_COLUMNS[1:])}",
                tuple(row.values()))
            conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)

        self._execute("write", write)

    # -- reading ---------------------------------------------------------------------------------
    def _query(self, sql: str) -> pd.DataFrame:
        conn = self._read()
        try:
            return pd.read_sql_query(sql, conn)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:  # pandas wraps sqlite's errors
            raise self._fail(sqlite3.DatabaseError(str(exc)), "read") from None
        finally:
            conn.close()

    def groups(self) -> pd.DataFrame:
        """protocol, dataset_fingerprint, position, grp, sample: the stored reporting groups."""
        return self._query("SELECT * FROM sample_groups ORDER BY protocol, dataset_fingerprint, position, sample")

    def runs(self) -> pd.DataFrame:
        return self._query("SELECT * FROM runs ORDER BY id")

    def cells(self) -> pd.DataFrame:
        """Every cell, whatever its status (pending, done, failed)."""
        return self._query("SELECT * FROM cells ORDER BY method, protocol, seed, fold")

    def predictions(self) -> pd.DataFrame:
        """Predictions of finished cells joined with their cell's description; `cell_order` is the order in
        which cells were planned (a run plans its methods in the order they were named)."""
        return self._query("""
            SELECT c.rowid AS cell_order, c.method, c.preset, c.params_hash, c.dataset AS data, c.dataset_fingerprint,
                   c.protocol, c.epoch_selection, c.seed, c.fold, c.class_names,
                   p.dataset, p.subject, p.sample, p.y_true, p.y_pred, p.proba, p.epoch
            FROM predictions p JOIN cells c ON c.key = p.cell_key
            WHERE c.status = 'done'
            ORDER BY c.method, c.protocol, c.epoch_selection, c.seed, c.fold, p.sample
        """)
