"""The results database's schema versions (mebench.store): a database of this schema's first release (built
here by hand, without the tables and columns added since) is read as it is and migrated when a run writes to
it; an older or newer schema, another program's database and a file that is no database are refused, naming
the file, without being changed."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mebench.errors import DataError
from mebench.store import DB_NAME, SCHEMA_VERSION, ResultStore

# The schema 3 tables as first released: `cells` without display_name, method_version and roles (and what came
# later), no searches, data_samples or later tables.
FIRST_RELEASE = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, spec TEXT NOT NULL,
                   host TEXT NOT NULL, versions TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT);
CREATE TABLE cells (key TEXT PRIMARY KEY, run_id INTEGER REFERENCES runs(id), method TEXT NOT NULL,
                    preset TEXT NOT NULL, params TEXT NOT NULL, params_hash TEXT NOT NULL, dataset TEXT NOT NULL,
                    dataset_source TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL, protocol TEXT NOT NULL,
                    fold TEXT NOT NULL, n_folds INTEGER NOT NULL, seed INTEGER NOT NULL, training TEXT NOT NULL,
                    selections TEXT NOT NULL, record_epochs INTEGER NOT NULL DEFAULT 0,
                    precision TEXT NOT NULL DEFAULT 'fp32', selected_epochs TEXT, class_names TEXT NOT NULL,
                    mebench_version TEXT NOT NULL, versions TEXT NOT NULL, device TEXT, runtime TEXT, started_at TEXT,
                    finished_at TEXT, seconds REAL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
                    claimed_by TEXT, heartbeat TEXT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT);
CREATE TABLE epoch_predictions (cell_key TEXT PRIMARY KEY REFERENCES cells(key) ON DELETE CASCADE,
                                samples TEXT NOT NULL, n_epochs INTEGER NOT NULL, n_classes INTEGER NOT NULL,
                                proba BLOB NOT NULL, pred BLOB NOT NULL);
CREATE TABLE sample_groups (protocol TEXT NOT NULL, dataset_fingerprint TEXT NOT NULL, position INTEGER NOT NULL,
                            grp TEXT NOT NULL, sample TEXT NOT NULL,
                            PRIMARY KEY (protocol, dataset_fingerprint, grp, sample));
CREATE TABLE predictions (cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE, sample TEXT NOT NULL,
                          dataset TEXT NOT NULL, subject TEXT NOT NULL, y_true INTEGER NOT NULL,
                          y_pred INTEGER NOT NULL, proba TEXT NOT NULL, epoch INTEGER, PRIMARY KEY (cell_key, sample));
INSERT INTO runs VALUES (1, 'mebench run', '{}', 'host', '{}', '2025-01-01T00:00:00', '2025-01-01T00:01:00');
INSERT INTO cells (key, run_id, method, preset, params, params_hash, dataset, dataset_source, dataset_fingerprint,
                   protocol, fold, n_folds, seed, training, selections, class_names, mebench_version, versions,
                   status, seconds)
    VALUES ('k1', 1, 'ststnet', 'paper', '{}', 'abc', 'tiny', 'tiny', 'fp', 'loso', 'smic/s1', 2, 0, 'full',
            '["final"]', '["negative", "positive", "surprise"]', '0.1.0', '{}', 'done', 1.5);
INSERT INTO predictions VALUES ('k1', 'smic/s1/c0', 'smic', 's1', 0, 0, '[0.8, 0.1, 0.1]', NULL),
                               ('k1', 'smic/s1/c1', 'smic', 's1', 1, 2, '[0.2, 0.3, 0.5]', NULL);
"""


def make_database(folder, script: str, version: int):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DB_NAME
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return path


def layout(path) -> tuple[int, dict[str, list[str]]]:
    """(user_version, table -> column names)."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    return version, out


def start_run(store: ResultStore) -> int:
    store.folder.mkdir(parents=True, exist_ok=True)  # as `mebench run` does before its first write
    return store.begin_run("mebench run", {"methods": ["majority"]}, "host", {}, "2025-02-01T00:00:00")


def test_a_new_database_has_this_schema_version(tmp_path):
    start_run(ResultStore(tmp_path))
    version, tables = layout(tmp_path / DB_NAME)
    assert version == SCHEMA_VERSION == 3
    assert {"runs", "cells", "predictions", "epoch_predictions", "sample_groups", "searches"} <= set(tables)


def test_a_first_release_database_is_read_as_it_is(tmp_path):
    path = make_database(tmp_path, FIRST_RELEASE, 3)
    before = path.read_bytes()
    store = ResultStore(tmp_path)
    cells = store.cells()
    assert cells["key"].tolist() == ["k1"] and cells["status"].tolist() == ["done"]
    assert cells[["display_name", "method_version", "roles"]].isna().all().all()  # columns it predates
    preds = store.predictions()
    assert preds["sample"].tolist() == ["smic/s1/c0", "smic/s1/c1"] and preds["y_pred"].tolist() == [0, 2]
    assert json.loads(preds["proba"].iloc[1]) == [0.2, 0.3, 0.5]
    assert path.read_bytes() == before, "reading never changes the database"


def test_writing_to_a_first_release_database_migrates_it_to_the_current_layout(tmp_path):
    path = make_database(tmp_path / "old", FIRST_RELEASE, 3)
    start_run(ResultStore(tmp_path / "fresh"))
    run_id = start_run(ResultStore(tmp_path / "old"))
    assert run_id == 2
    assert layout(path) == layout(tmp_path / "fresh" / DB_NAME), "the migrated layout is a new database's"
    with sqlite3.connect(path) as conn:  # what it held is kept, the added columns empty
        row = conn.execute("SELECT status, seconds, display_name, method_version, roles FROM cells").fetchall()
        n_predictions = conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    conn.close()
    assert row == [("done", 1.5, None, None, None)] and n_predictions == 2
    assert ResultStore(tmp_path / "old").cells()["key"].tolist() == ["k1"]


@pytest.mark.parametrize("version, message", [
    (0, r"written by an earlier mebench \(results schema 1, this one reads 3\)"),  # schema 1 set no user_version
    (2, r"written by an earlier mebench \(results schema 2, this one reads 3\)"),
    (SCHEMA_VERSION + 1, rf"written by a newer mebench \(results schema {SCHEMA_VERSION + 1}\); upgrade mebench"),
])
def test_another_schema_version_is_refused_and_left_unchanged(tmp_path, version, message):
    path = make_database(tmp_path, FIRST_RELEASE, version)
    before = path.read_bytes()
    with pytest.raises(DataError, match=message) as exc:
        ResultStore(tmp_path).cells()
    assert str(path) in str(exc.value)
    with pytest.raises(DataError, match=message):
        start_run(ResultStore(tmp_path))
    assert path.read_bytes() == before


def test_another_program_s_database_is_refused_naming_its_tables(tmp_path):
    path = make_database(tmp_path, "CREATE TABLE invoices (id INTEGER); CREATE TABLE customers (id INTEGER);", 0)
    for action in (lambda: ResultStore(tmp_path).runs(), lambda: start_run(ResultStore(tmp_path))):
        with pytest.raises(DataError, match=rf"{path} is not a mebench results database \(tables: customers, invoices"):
            action()
    assert set(layout(path)[1]) == {"invoices", "customers"}


def test_a_file_that_is_no_database_is_refused(tmp_path):
    (tmp_path / DB_NAME).write_text("results, but as text\n" * 100)
    with pytest.raises(DataError, match="not a mebench results database, or it is corrupt"):
        ResultStore(tmp_path).cells()


def test_reading_where_there_is_no_database_creates_nothing(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        ResultStore(tmp_path / "missing").cells()
    with pytest.raises(DataError, match="holds no results database"):
        ResultStore(tmp_path).cells()
    assert not (tmp_path / "missing").exists() and not (tmp_path / DB_NAME).exists()
