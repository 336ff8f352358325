"""The results database: one SQLite file per run folder.

`runs` has a row per `mebench run` / `mebench evaluate` invocation with its whole specification
(JSON). `sample_groups` holds the protocol's reporting groups (Full, SMIC, ...) per sample, so a
run reports without the protocol plugin that made it. `cells` has a row per training: (method, parameters, dataset, protocol, fold, seed, training,
precision), with the epoch selections it is read with. Every planned cell is written as `pending`
before the first one trains, so a report knows which results are missing; it becomes `done` or
`failed` when computed. `predictions` has a row per test sample of a finished cell (the final
epoch's prediction, or validation's), `epoch_predictions` every epoch's test predictions of a cell
that records them (float16 probabilities and the exact predicted classes, one blob each), from
which the report derives `oracle` and `epoch:E`. `training_epochs` has a row per training epoch of a finished
torch cell: its training loss, accuracy and learning rate (mebench.training.EpochMetrics). `searches` has a row per hyperparameter search (mebench.tuning):
its grid, its configurations' parameter hashes in grid order, the inner split of the nested rule and the rules asked;
a cell's `roles` say what it was planned for (a row of its own, a search's configuration, a nested inner training).
A cell and its predictions are written in one transaction, so an interrupted run never leaves half a cell behind.

Reading never creates anything: a missing folder or database is a DataError, and so is a file
that is not a results database of this schema.

Migrations: a table added to schema 3 after its first release (`training_epochs`) is created, and a column of
`ADDED_COLUMNS` added, when a run next writes the folder; readers of an older database see them empty.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from mebench.errors import DataError

DB_NAME = "results.sqlite"
LOCK_NAME = ".mebench.lock"
SCHEMA_VERSION = 3

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
    training TEXT NOT NULL,
    selections TEXT NOT NULL,
    record_epochs INTEGER NOT NULL DEFAULT 0,
    precision TEXT NOT NULL DEFAULT 'fp32',
    selected_epochs TEXT,
    class_names TEXT NOT NULL,
    mebench_version TEXT NOT NULL,
    versions TEXT NOT NULL,
    device TEXT,
    runtime TEXT,
    started_at TEXT,
    finished_at TEXT,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    claimed_by TEXT,
    heartbeat TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    display_name TEXT,
    method_version TEXT
);
CREATE TABLE IF NOT EXISTS epoch_predictions (
    cell_key TEXT PRIMARY KEY REFERENCES cells(key) ON DELETE CASCADE,
    samples TEXT NOT NULL,
    n_epochs INTEGER NOT NULL,
    n_classes INTEGER NOT NULL,
    proba BLOB NOT NULL,
    pred BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_groups (
    protocol TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    position INTEGER NOT NULL,
    grp TEXT NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (protocol, dataset_fingerprint, grp, sample)
);
CREATE TABLE IF NOT EXISTS data_samples (
    data_source TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    protocol TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    sample TEXT NOT NULL,
    label TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (data_source, pipeline, protocol, dataset_fingerprint, sample)
);
CREATE TABLE IF NOT EXISTS searches (
    id TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    preset TEXT NOT NULL,
    protocol TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    precision TEXT NOT NULL,
    source TEXT NOT NULL,
    names TEXT NOT NULL,
    grid TEXT NOT NULL,
    configs TEXT NOT NULL,
    inner_subjects INTEGER NOT NULL,
    rules TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS training_epochs (
    cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    train_accuracy REAL,
    lr REAL,
    PRIMARY KEY (cell_key, epoch)
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
                "dataset_fingerprint", "protocol", "fold", "n_folds", "seed", "training", "selections", "record_epochs",
                "precision", "selected_epochs", "class_names", "mebench_version", "versions", "device", "runtime",
                "started_at", "finished_at", "seconds", "status", "claimed_by", "heartbeat", "attempts", "error",
                "display_name", "method_version", "parameters", "flops")
# Columns added to schema 3 after its first release: (table, column, declaration), added on open. `parameters` and
# `flops`: the network's trainable parameters and forward FLOPs per sample, counted when the cell ran (mebench.sizes).
ADDED_COLUMNS = (("cells", "display_name", "TEXT"), ("cells", "method_version", "TEXT"), ("cells", "roles", "TEXT"),
                 ("cells", "parameters", "REAL"), ("cells", "flops", "REAL"))
# What planning writes (and a later plan of the same cell may update); the rest is the outcome.
PLAN_COLUMNS = ("key", "run_id", "method", "preset", "params", "params_hash", "dataset", "dataset_source",
                "dataset_fingerprint", "protocol", "fold", "n_folds", "seed", "training", "selections", "record_epochs",
                "precision", "class_names", "mebench_version", "versions", "display_name", "method_version", "roles")
# `roles` (a JSON list; NULL in databases older than the column, read as ["run"]): what a cell is planned for.
# run: a result row of its own; fixed: a configuration's row of a hyperparameter search; search: read by a search's
# rule only (nested, test-scored); inner: a nested search's inner training, never a result row. Plans merge them.
SEARCH_COLUMNS = ("id", "method", "preset", "protocol", "dataset_fingerprint", "precision", "source", "names", "grid",
                  "configs", "inner_subjects", "rules")


def describe_data_change(before: Sequence[tuple], after: Sequence[tuple], shown: int = 5) -> str:
    """What changed between two (sample, label, content, ...) lists: clips added, removed, relabelled, files changed."""
    old = {r[0]: (r[1], r[2]) for r in before}
    new = {r[-3]: (r[-2], r[-1]) for r in after}

    def names(items: list[str]) -> str:
        return ", ".join(items[:shown]) + (f" and {len(items) - shown} more" if len(items) > shown else "")

    added = [s for s in new if s not in old]
    removed = [s for s in old if s not in new]
    relabelled = [f"{s} ({old[s][0]} -> {new[s][0]})" for s in new if s in old and old[s][0] != new[s][0]]
    changed = [s for s in new if s in old and old[s][0] == new[s][0] and old[s][1] != new[s][1]]
    parts = [f"{len(items)} clip(s) {what}: {names(items)}" for what, items in
             (("added", added), ("removed", removed), ("relabelled", relabelled), ("with changed files", changed))
             if items]
    return "; ".join(parts) or "the same clips and labels, but other data options or files"


# What every plan of a cell adds to (`ResultStore.plan`): an outcome written later never narrows them.
MERGED_COLUMNS = ("selections", "record_epochs", "roles")


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
        self._schema_written = False  # once per store: each write would otherwise commit (and sync) twice

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
        if (version == 0 and "cells" in tables) or 0 < version < SCHEMA_VERSION:
            raise DataError(f"{self.path} was written by an earlier mebench (results schema {version or 1}, this one "
                            f"reads {SCHEMA_VERSION}); report it with that version, or run into a new --out folder")
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
            if self._schema_written:
                return conn
            self._check_schema(conn)
            with conn:
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                for table, column, declaration in ADDED_COLUMNS:
                    present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                    if column not in present:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            self._schema_written = True
        except sqlite3.Error as exc:
            raise self._fail(exc, "write") from None
        return conn

    def exists(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def lock(self, what: str):
        """Hold the run folder for one `mebench run`/`evaluate`: a second one on the same folder is refused,
        naming the process that holds it (an OS lock, released when that process ends, even if killed).
        The lock file is opened without following a symbolic link: a link there is refused, never truncated."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        if path.is_symlink():
            raise DataError(f"{path} is a symbolic link (to {os.readlink(path)}); mebench writes its lock there and "
                            "never follows a link: remove it")
        if path.exists() and not path.is_file():
            raise DataError(f"{path} exists and is not a file (mebench's run lock); remove it")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise DataError(f"cannot open the run lock {path}: {exc.strerror or exc}") from None
        handle = os.fdopen(fd, "r+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise DataError(f"the run folder {self.folder} is in use by {holder}; wait for it to finish (or stop "
                                "it), or give this run another --out") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"mebench {what} (pid {os.getpid()} on {socket.gethostname()}, since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')})")
            handle.flush()
            yield
        finally:
            handle.close()  # closing releases the lock

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
        """Record planned cells as pending. A cell already stored keeps its status and outcome; the
        selections it is read with grow to include the new plan's, and it is marked to record its epochs
        when the new plan needs that."""
        cells = list(cells)

        def write(conn: sqlite3.Connection) -> None:
            known = {k: (json.loads(sel), rec, roles) for k, sel, rec, roles in
                     conn.execute("SELECT key, selections, record_epochs, roles FROM cells")}
            for c in cells:
                if c["key"] in known:
                    old, rec, roles = known[c["key"]]
                    merged = list(dict.fromkeys(old + list(json.loads(c["selections"]))))
                    roles = list(dict.fromkeys(json.loads(roles) if roles else ["run"]))
                    roles += [r for r in json.loads(c.get("roles") or '["run"]') if r not in roles]
                    conn.execute("UPDATE cells SET selections = ?, record_epochs = ?, roles = ? WHERE key = ?",
                                 (json.dumps(merged), int(bool(rec) or bool(c["record_epochs"])), json.dumps(roles),
                                  c["key"]))
                else:
                    row = {**{k: c.get(k) for k in PLAN_COLUMNS}, "status": "pending", "attempts": 0}
                    conn.execute(f"INSERT INTO cells ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                 tuple(row.values()))

        self._execute("write", write)

    def save_search(self, search: dict[str, Any]) -> None:
        """Record a hyperparameter search (mebench.tuning): its grid, its configurations' parameter hashes in grid
        order and the inner split; the rules asked of it grow with each run that names it."""
        row = {k: search[k] for k in SEARCH_COLUMNS}

        def write(conn: sqlite3.Connection) -> None:
            before = conn.execute("SELECT rules FROM searches WHERE id = ?", (row["id"],)).fetchone()
            if before is not None:
                rules = list(dict.fromkeys(json.loads(before[0]) + json.loads(row["rules"])))
                conn.execute("UPDATE searches SET rules = ? WHERE id = ?", (json.dumps(rules), row["id"]))
            else:
                conn.execute(f"INSERT INTO searches ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                             tuple(row.values()))

        self._execute("write", write)

    def searches(self) -> pd.DataFrame:
        """Every recorded hyperparameter search (SEARCH_COLUMNS); empty for a folder without one (or written before
        searches were recorded)."""
        conn = self._read()
        try:
            present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'searches'").fetchone()
        finally:
            conn.close()
        if not present:
            return pd.DataFrame(columns=list(SEARCH_COLUMNS))
        return self._query("SELECT * FROM searches ORDER BY rowid")

    def cell_predictions(self, keys: Iterable[str]) -> pd.DataFrame:
        """cell_key, sample, y_true, y_pred of the finished cells among `keys` (a nested search's inner cells)."""
        keys = sorted(set(keys))
        if not keys or not self.exists():
            return pd.DataFrame(columns=["cell_key", "sample", "y_true", "y_pred"])
        conn = self._read()
        try:
            parts = []
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                parts.append(pd.read_sql_query(
                    "SELECT p.cell_key, p.sample, p.y_true, p.y_pred FROM predictions p JOIN cells c ON c.key = p.cell_key "
                    f"WHERE c.status = 'done' AND p.cell_key IN ({', '.join('?' * len(chunk))}) ORDER BY p.cell_key, p.sample",
                    conn, params=chunk))
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            raise self._fail(sqlite3.DatabaseError(str(exc)), "read") from None
        finally:
            conn.close()
        return pd.concat(parts, ignore_index=True)

    def record_data(self, source: str, pipeline: str, protocol: str, fingerprint: str, table: pd.DataFrame) -> None:
        """Remember which samples (labels, file contents) the cells of `source` under `protocol` were computed
        on, and refuse other data under the same names: a run resumed after the data changed (clips added,
        removed or relabelled, files changed) would pool two versions of the data in one result row.
        `table`: the sample table (sample, label, and `content`, a digest of the sample's files, if known)."""
        content = table["content"] if "content" in table.columns else pd.Series("", index=table.index)
        rows = [(source, pipeline, protocol, fingerprint, str(s), str(l), str(c))
                for s, l, c in zip(table["sample"], table["label"], content)]

        def write(conn: sqlite3.Connection) -> None:
            other = conn.execute(
                "SELECT DISTINCT dataset_fingerprint FROM data_samples WHERE data_source = ? AND pipeline = ? AND "
                "protocol = ? AND dataset_fingerprint != ?", (source, pipeline, protocol, fingerprint)).fetchall()
            if other:
                before = conn.execute(
                    "SELECT sample, label, content FROM data_samples WHERE data_source = ? AND pipeline = ? AND "
                    "protocol = ? AND dataset_fingerprint = ?", (source, pipeline, protocol, other[0][0])).fetchall()
                raise DataError(f"{self.folder} holds results of {source} (protocol {protocol}"
                                f"{', pipeline ' + pipeline if pipeline else ''}) computed on other data (fingerprint "
                                f"{other[0][0]}, now {fingerprint}): {describe_data_change(before, rows)}. Resuming "
                                "would pool both versions in one result; give this run another --out (or restore the "
                                "data)")
            conn.executemany("INSERT OR IGNORE INTO data_samples VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

        self._execute("write", write)

    def save_groups(self, protocol: str, fingerprint: str, groups: dict, samples) -> None:
        """The protocol's reporting groups (name -> boolean mask over `samples`), in table order."""
        samples = list(samples)
        rows = [(protocol, fingerprint, pos, name, s) for pos, (name, mask) in enumerate(groups.items())
                for s, inside in zip(samples, list(mask)) if inside]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sample_groups WHERE protocol = ? AND dataset_fingerprint = ?", (protocol, fingerprint))
            conn.executemany("INSERT INTO sample_groups VALUES (?, ?, ?, ?, ?)", rows)

        self._execute("write", write)

    def finished_keys(self, recording: Iterable[str] = ()) -> set[str]:
        """Cells done, and holding their epoch record if their stored plan, or the plan about to be stored
        (`recording`: the keys that must record their epochs now), asks for one."""
        if not self.exists():
            return set()
        recording = set(recording)
        rows = self._execute("read", lambda conn: conn.execute(
            "SELECT key, record_epochs, key IN (SELECT cell_key FROM epoch_predictions) FROM cells "
            "WHERE status = 'done'").fetchall())
        return {key for key, stored, has_record in rows if has_record or not (stored or key in recording)}

    def mark_running(self, key: str, started_at: str) -> None:
        """A cell handed to a worker (its outcome replaces the state); `status` shows it as running."""
        self._execute("write", lambda conn: conn.execute(
            "UPDATE cells SET status = 'running', started_at = ? WHERE key = ? AND status != 'done'", (started_at, key)))

    def in_use(self) -> bool:
        """Whether a `mebench run`/`evaluate` holds the run folder's lock now."""
        path = self.folder / LOCK_NAME
        if not path.is_file() or path.is_symlink():
            return False
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def recording_keys(self) -> set[str]:
        """Cells whose plan (merged over every run) records their epochs."""
        if not self.exists():
            return set()
        return self._execute("read", lambda conn: {r[0] for r in conn.execute(
            "SELECT key FROM cells WHERE record_epochs = 1")})

    def save_cell(self, cell: dict[str, Any], predictions: Iterable[PredictionRow] = (),
                  record: tuple[Sequence[str], Any] | None = None, epoch_metrics: Sequence[Any] = ()) -> bool:
        """Write one cell's outcome (replacing an earlier attempt), its predictions and, if given, its
        epoch record (test sample ids, mebench.selection.EpochRecord) and its training epochs
        (mebench.training.EpochMetrics), in one transaction. A failure never
        replaces a finished result (a failed `--rerun` keeps it, noting the failure in `error`): then
        False is returned and nothing else changes."""
        row = {k: cell.get(k) for k in CELL_COLUMNS if k in cell}
        values = [(row["key"], p.sample, p.dataset, p.subject, int(p.y_true), int(p.y_pred),
                   json.dumps([round(float(x), 6) for x in p.proba]), p.epoch) for p in predictions]

        def write(conn: sqlite3.Connection) -> bool:
            if row.get("status") == "failed":
                before = conn.execute("SELECT status FROM cells WHERE key = ?", (row["key"],)).fetchone()
                if before is not None and before[0] == "done":  # a failed rerun: the finished result stays
                    conn.execute("UPDATE cells SET error = ?, attempts = attempts + 1 WHERE key = ?",
                                 (f"a later attempt ({row.get('finished_at')}) failed; this finished result is kept: "
                                  f"{row.get('error')}", row["key"]))
                    return False
            conn.execute("DELETE FROM predictions WHERE cell_key = ?", (row["key"],))
            conn.execute("DELETE FROM epoch_predictions WHERE cell_key = ?", (row["key"],))
            conn.execute("DELETE FROM training_epochs WHERE cell_key = ?", (row["key"],))
            # an upsert keeps the row (and so the planned order) of a pending cell, and what plans merged into it
            updated = [k for k in row if k not in ("key", *MERGED_COLUMNS)]
            conn.execute(
                f"INSERT INTO cells ({', '.join(row)}) VALUES ({', '.join('?' * len(row))}) "
                f"ON CONFLICT(key) DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in updated)}",
                tuple(row.values()))
            conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", values)
            conn.executemany("INSERT INTO training_epochs VALUES (?, ?, ?, ?, ?)",
                             [(row["key"], int(m.epoch), float(m.train_loss), float(m.train_accuracy), float(m.lr))
                              for m in epoch_metrics])
            if record is not None:
                samples, rec = record
                conn.execute("INSERT INTO epoch_predictions VALUES (?, ?, ?, ?, ?, ?)",
                             (row["key"], json.dumps(list(samples)), int(rec.pred.shape[0]), int(rec.proba.shape[2]),
                              np.ascontiguousarray(rec.proba, dtype=np.float16).tobytes(),
                              np.ascontiguousarray(rec.pred, dtype=np.uint8).tobytes()))
            return True

        return self._execute("write", write)

    def epoch_records(self) -> dict[str, tuple[list[str], Any]]:
        """cell key -> (test sample ids, EpochRecord) of every stored record."""
        from mebench.selection import EpochRecord

        conn = self._read()
        try:
            rows = conn.execute("SELECT e.cell_key, e.samples, e.n_epochs, e.n_classes, e.proba, e.pred, c.method, c.fold, "
                                "c.seed FROM epoch_predictions e LEFT JOIN cells c ON c.key = e.cell_key").fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc, "read") from None
        finally:
            conn.close()
        out = {}
        for key, samples, n_epochs, n_classes, proba, pred, method, fold, seed in rows:
            def damaged(what: str) -> DataError:
                return DataError(f"{self.path}: the epoch record of the cell (method {method!r}, fold {fold!r}, seed "
                                 f"{seed}) is damaged: {what}; rerun that cell (`mebench run ... --rerun`) or leave "
                                 "its folder out of the report")
            try:
                samples = json.loads(samples)
            except (TypeError, ValueError):
                raise damaged("its sample list is not valid JSON") from None
            if not (isinstance(samples, list) and all(isinstance(s, str) for s in samples)):
                raise damaged("its sample list is not a JSON list of sample ids")
            if not all(isinstance(v, int) and v > 0 for v in (n_epochs, n_classes)):
                raise damaged(f"{n_epochs!r} epochs of {n_classes!r} classes")
            shape = (n_epochs, len(samples))
            for name, blob, itemsize, size in (("probabilities", proba, 2, n_epochs * len(samples) * n_classes),
                                               ("predicted classes", pred, 1, n_epochs * len(samples))):
                if not isinstance(blob, bytes) or len(blob) != itemsize * size:
                    got = f"{len(blob)} bytes" if isinstance(blob, bytes) else type(blob).__name__
                    raise damaged(f"its {name} hold {got} instead of {itemsize * size} ({n_epochs} epochs x "
                                  f"{len(samples)} samples{f' x {n_classes} classes' if itemsize == 2 else ''}); "
                                  "the blob is truncated or corrupt")
            classes = np.frombuffer(pred, dtype=np.uint8).reshape(shape)
            if classes.size and int(classes.max()) >= n_classes:
                raise damaged(f"a predicted class {int(classes.max())} outside the {n_classes} classes")
            out[key] = (samples, EpochRecord(np.frombuffer(proba, dtype=np.float16).reshape(*shape, n_classes), classes))
        return out

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
        """Every cell, whatever its status (pending, running, done, failed)."""
        cells = self._query("SELECT * FROM cells ORDER BY method, protocol, seed, fold")
        for _, column, _ in ADDED_COLUMNS:
            if column not in cells.columns:  # a database written before the column existed
                cells[column] = None
        return cells

    def training_epochs(self) -> pd.DataFrame:
        """Every training epoch of the finished cells: the cell's method, display_name, preset, params_hash,
        precision, protocol, fold, seed and training, then epoch, train_loss, train_accuracy and lr (empty for a
        database written before the records existed)."""
        conn = self._read()
        try:
            present = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'training_epochs'"
                                   ).fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc, "read") from None
        finally:
            conn.close()
        columns = ["cell_key", "method", "display_name", "preset", "params_hash", "precision", "protocol", "fold",
                   "seed", "training", "epoch", "train_loss", "train_accuracy", "lr"]
        if not present:
            return pd.DataFrame(columns=columns)
        return self._query("""
            SELECT c.key AS cell_key, c.method, c.display_name, c.preset, c.params_hash, c.precision, c.protocol,
                   c.fold, c.seed, c.training, t.epoch, t.train_loss, t.train_accuracy, t.lr
            FROM training_epochs t JOIN cells c ON c.key = t.cell_key
            WHERE c.status = 'done'
            ORDER BY c.method, c.protocol, c.training, c.seed, c.fold, t.epoch
        """)[columns]

    def predictions(self) -> pd.DataFrame:
        """Predictions of finished cells joined with their cell's description; `cell_order` is the order in
        which cells were planned (a run plans its methods in the order they were named)."""
        preds = self._query("""
            SELECT c.rowid AS cell_order, c.key AS cell_key, c.method, c.preset, c.params_hash, c.precision,
                   c.dataset AS data, c.dataset_fingerprint, c.protocol, c.training, c.selections, c.seed, c.fold,
                   c.class_names,
                   p.dataset, p.subject, p.sample, p.y_true, p.y_pred, p.proba, p.epoch
            FROM predictions p JOIN cells c ON c.key = p.cell_key
            WHERE c.status = 'done'
            ORDER BY c.method, c.protocol, c.training, c.seed, c.fold, p.sample
        """)
        self._check_predictions(preds)
        return preds

    def _check_predictions(self, preds: pd.DataFrame) -> None:
        """DataError naming the cell (method, fold, seed) and this file for a prediction a report cannot read:
        class names or selections that are not JSON lists, a true or predicted class outside the class names."""
        def bad(row, what: str) -> DataError:
            return DataError(f"{self.path}: the cell (method {row.method!r}, fold {row.fold!r}, seed {row.seed}) "
                             f"{what}; rerun that cell (`mebench run ... --rerun`) or leave its folder out of the report")

        n_classes = {}
        for row in preds.drop_duplicates("cell_key").itertuples(index=False):
            for column in ("class_names", "selections"):
                try:
                    value = json.loads(getattr(row, column))
                except (TypeError, ValueError):
                    value = None
                if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                    raise bad(row, f"has {column} that are not a JSON list of names: {getattr(row, column)!r}")
                if column == "class_names":
                    n_classes[row.cell_key] = len(value)
        n = preds["cell_key"].map(n_classes)
        for column in ("y_true", "y_pred"):
            values = pd.to_numeric(preds[column], errors="coerce")
            outside = ~((values >= 0) & (values < n) & (values == values.round()))
            if outside.any():
                row = next(preds[outside].itertuples(index=False))
                raise bad(row, f"has {column} = {getattr(row, column)!r} for sample {row.sample!r}, outside its "
                               f"{n_classes[row.cell_key]} classes")
