import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from mebench import plugins
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochSelection
from mebench.store import ResultStore
from mebench.reports.results import load_predictions
from tests.conftest import REPO
from tests.plugin_fixtures import NearestCentroid, ScriptedEpochs


@pytest.fixture
def test_methods():
    for cls in (NearestCentroid, ScriptedEpochs):
        plugins.register_method(cls)
    yield
    for cls in (NearestCentroid, ScriptedEpochs):
        plugins.methods.unregister(cls.info.name)


def test_grid_stores_every_cell_and_prediction(tmp_path, tiny_data, test_methods):
    config = RunConfig(methods=("centroid", "ststnet"), protocol="composite", out=tmp_path, data=tiny_data,
                       preset="quick", seeds=(0, 1), params=(("epochs", 2),))
    summary = run_grid(config)
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (24, 24, 0, [])
    cells = ResultStore(tmp_path).cells()
    assert set(cells["status"]) == {"done"}
    row = cells[cells["method"] == "ststnet"].iloc[0]
    params = json.loads(row["params"])
    assert params["epochs"] == 2 and params["lr"] == 1e-3 and params["num_classes"] == 3
    assert row["training"] == "full" and json.loads(row["selections"]) == ["final"]
    assert row["dataset_fingerprint"] and row["mebench_version"] and row["precision"] == "fp32"
    assert json.loads(row["versions"])["torch"]
    preds = ResultStore(tmp_path).predictions()
    # each of the 36 samples predicted once per method and seed
    assert preds.groupby(["method", "seed"])["sample"].nunique().eq(36).all()
    assert len(preds) == 2 * 2 * 36
    assert all(abs(sum(json.loads(p)) - 1) < 1e-4 for p in preds["proba"])


def test_failing_cell_is_stored_and_the_grid_goes_on(tmp_path, tiny_data, test_methods):
    config = RunConfig(methods=("centroid",), protocol="loso", out=tmp_path, data=tiny_data,
                       params=(("fail_on_fold_with", "6"),))  # every fold has 6 test samples
    summary = run_grid(config)
    assert summary.done == 0 and len(summary.failed) == 6
    assert "RuntimeError: deliberate failure" in summary.failed[0][1]
    cells = ResultStore(tmp_path).cells()
    assert set(cells["status"]) == {"failed"} and cells["error"].str.contains("deliberate failure").all()
    # a rerun without the fault retries failed cells and keeps nothing of the failure
    summary = run_grid(RunConfig(methods=("centroid",), protocol="loso", out=tmp_path, data=tiny_data,
                                 params=(("fail_on_fold_with", "6"),)))
    assert summary.skipped == 0


def test_oracle_selects_the_best_epoch_on_the_test_subject(tmp_path, tiny_data, test_methods):
    run_grid(RunConfig(methods=("scripted",), protocol="loso", out=tmp_path / "final", data=tiny_data))
    run_grid(RunConfig(methods=("scripted",), protocol="loso", out=tmp_path / "oracle", data=tiny_data,
                       selection=EpochSelection("oracle")))
    final = load_predictions(tmp_path / "final")
    oracle = load_predictions(tmp_path / "oracle")
    assert (final["y_pred"] == 0).all() and final["epoch"].isna().all()  # last epoch predicts class 0
    # every tiny subject has 2 clips of each class, so every epoch's accuracy ties at 1/3:
    # the published `<=` keeps the latest best epoch, i.e. epoch 5
    assert set(oracle["epoch_selection"]) == {"oracle"} and (oracle["epoch"] == 5).all()
    cells = ResultStore(tmp_path / "oracle").cells()
    assert set(cells["training"]) == {"full"} and all(json.loads(s) == ["oracle"] for s in cells["selections"])


def test_oracle_picks_per_subject_maximum(tmp_path, test_methods):
    """A subject whose samples are all class 1 gets epoch 4 (the later of the epochs predicting 1)."""
    from mebench.dataset import Dataset, make_sample_table, table_fingerprint
    import numpy as np

    rows = [dict(dataset="samm", subject=s, clip=f"c{i}", label=lab)
            for s, lab in (("001", "positive"), ("002", "surprise"), ("003", "negative")) for i in range(3)]
    table = make_sample_table(pd.DataFrame(rows), ("negative", "positive", "surprise"))
    X = np.zeros((9, 3, 28, 28), np.float32)
    ds = Dataset("t", "t", ("negative", "positive", "surprise"), table, table_fingerprint(table), lambda r: X)
    plugins.datasets.register("t3", lambda path=None, *, cache_dir=None: ds, source="test")
    try:
        run_grid(RunConfig(methods=("scripted",), protocol="loso", out=tmp_path, data="t3", selection=EpochSelection("oracle")))
    finally:
        plugins.datasets.unregister("t3")
    preds = load_predictions(tmp_path).set_index("subject")
    assert preds.loc["001", "epoch"].tolist() == [4, 4, 4]  # class 1 at epochs 2 and 4
    assert preds.loc["002", "epoch"].tolist() == [3, 3, 3]  # class 2 only at epoch 3
    assert preds.loc["003", "epoch"].tolist() == [5, 5, 5]  # class 0 at epochs 1 and 5
    assert (preds["y_pred"] == preds["y_true"]).all()  # the inflation the oracle buys


@pytest.fixture
def plugin_path(tmp_path):
    """A fake distribution exposing the tiny dataset and the test methods to a subprocess."""
    site = tmp_path / "site"
    site.mkdir()
    dist = site / "mebench_testplugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mebench-testplugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""
        [mebench.methods]
        centroid = tests.plugin_fixtures:NearestCentroid
        [mebench.datasets]
        tiny = tests.conftest:make_tiny_dataset
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
    return env


def _done_cells(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM cells WHERE status = 'done'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_run_resumes_without_recomputing(tmp_path, plugin_path):
    from typer.testing import CliRunner

    from mebench.cli import app

    args = ["run", "--methods", "centroid", "--protocol", "composite", "--data", "tiny", "--seeds", "0,1,2",
            "--param", "delay=0.25"]
    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "mebench.cli", *args, "--out", str(interrupted)], env=plugin_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _done_cells(interrupted / "results.sqlite") < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    planned = ResultStore(interrupted).cells().set_index("key")
    assert len(planned) == 18, "every cell is recorded (pending) before the first one trains"
    before = planned[planned["status"] == "done"]
    assert 5 <= len(before) < 18, f"the run was not interrupted mid-grid ({len(before)} cells)"

    os.environ["PYTHONPATH"] = plugin_path["PYTHONPATH"]  # CliRunner runs in-process
    sys.path.insert(0, plugin_path["PYTHONPATH"].split(os.pathsep)[0])
    try:
        result = CliRunner().invoke(app, [*args, "--out", str(interrupted)])
        assert result.exit_code == 0, result.output
        assert f"resuming: {len(before)} of 18 cells already finished" in result.output
        fresh = tmp_path / "fresh"
        assert CliRunner().invoke(app, [*args, "--out", str(fresh)]).exit_code == 0
    finally:
        sys.path.pop(0)
        plugins.methods.unregister("centroid")
        plugins.datasets.unregister("tiny")
    after = ResultStore(interrupted).cells().set_index("key")
    assert len(after) == 18 and set(after["status"]) == {"done"}
    # no finished cell was recomputed
    pd.testing.assert_series_equal(after.loc[before.index, "finished_at"], before["finished_at"])
    # the same final table as an uninterrupted run
    from mebench.reports.writer import write_report

    write_report(interrupted)
    write_report(fresh)
    assert (interrupted / "results.csv").read_text() == (fresh / "results.csv").read_text()
    assert (interrupted / "table.tex").read_text() == (fresh / "table.tex").read_text()
