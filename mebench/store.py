"""The results database: one SQLite file per run folder.

`cells` has a row per (method, parameters, dataset, protocol, fold, seed, epoch selection) with
its status; `predictions` a row per test sample of a finished cell. A cell and its predictions
are written in one transaction, so an interrupted run never leaves half a cell behind.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

DB_NAME = "results.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    preset TEXT NOT NULL,
    params TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_source TEXT NOT NULL,
    dataset_fingerprint TEXT NOT NULL,
    protocol TEXT NOT NULL,
    fold TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epoch_selection TEXT NOT NULL,
    selected_epochs TEXT,
    class_names TEXT NOT NULL,
    mebench_version TEXT NOT NULL,
    versions TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT
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

CELL_COLUMNS = ("key", "method", "preset", "params", "params_hash", "dataset", "dataset_source", "dataset_fingerprint",
                "protocol", "fold", "seed", "epoch_selection", "selected_epochs", "class_names", "mebench_version",
                "versions", "started_at", "finished_at", "status", "error")


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

    def _connect(self) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        return conn

    def finished_keys(self) -> set[str]:
        with self._connect() as conn:
            return {r[0] for r in conn.execute("SELECT key FROM cells WHERE status = 'done'")}

    def save_cell(self, cell: dict[str, Any], predictions: Iterable[PredictionRow] = ()) -> None:
        """Write one cell (replacing an earlier attempt) and its predictions atomically."""
        row = {k: cell.get(k) for k in CELL_COLUMNS}
        conn = self._connect()
        try:
            with conn:  # one transaction
                conn.execute("DELETE FROM predictions WHERE cell_key = ?", (row["key"],))
                conn.execute(
                    f"INSERT OR REPLACE INTO cells ({', '.join(CELL_COLUMNS)}) VALUES ({', '.join('?' * len(CELL_COLUMNS))})",
                    tuple(row.values()),
                )
                conn.executemany(
                    "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(row["key"], p.sample, p.dataset, p.subject, int(p.y_true), int(p.y_pred),
                      json.dumps([round(float(x), 6) for x in p.proba]), p.epoch) for p in predictions],
                )
        finally:
            conn.close()

    def cells(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame(columns=list(CELL_COLUMNS))
        with self._connect() as conn:
            return pd.read_sql_query("SELECT * FROM cells ORDER BY method, protocol, seed, fold", conn)

    def predictions(self) -> pd.DataFrame:
        """Predictions of finished cells joined with their cell's description; `cell_order` is the order in
        which cells were stored (a run stores its methods in the order they were named)."""
        if not self.path.exists():
            return pd.DataFrame()
        query = """
            SELECT c.rowid AS cell_order, c.method, c.preset, c.params_hash, c.dataset AS data, c.dataset_fingerprint, c.protocol,
                   c.epoch_selection, c.seed, c.fold, c.class_names,
                   p.dataset, p.subject, p.sample, p.y_true, p.y_pred, p.proba, p.epoch
            FROM predictions p JOIN cells c ON c.key = p.cell_key
            WHERE c.status = 'done'
            ORDER BY c.method, c.protocol, c.epoch_selection, c.seed, c.fold, p.sample
        """
        with self._connect() as conn:
            return pd.read_sql_query(query, conn)
