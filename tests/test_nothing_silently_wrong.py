"""Faults that once gave a wrong table with exit 0, lost a finished result or hung (issue 22): data that
changed under a run folder, stale reuse, a selection added on resume, broken protocol folds, a failed
rerun, hanging cells and workers, unreachable clusters, hostile lock files and cache entries, and
values that are not what their contract says."""

from __future__ import annotations

import os
import signal
import sqlite3
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.cache import ArrayCache
from mebench.errors import ConfigError, DataError
from mebench.executors import LocalExecutor, Placement, StallWatch, Task, placements, probe_ray_address
from mebench.method import MethodInfo
from mebench.protocol import Fold, Protocol, loso_folds
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochSelection
from mebench.store import LOCK_NAME, ResultStore
from tests.plugin_fixtures import NearestCentroid, ScriptedEpochs, Sleeper, killer
from tests.test_htnet_release import CSV_NAME, FACE_DIR, FLOW_DIR, make_fake_release


@pytest.fixture
def registered():
    """Register test methods and protocols in-process; unregistered after the test."""
    methods, protocols = [], []

    def add(obj):
        if isinstance(obj, type) and issubclass(obj, Protocol):
            plugins.register_protocol(obj)
            protocols.append(obj.name)
            return obj.name
        plugins.register_method(obj)
        methods.append(obj.info.name)
        return obj.info.name

    yield add
    for name in methods:
        plugins.methods.unregister(name)
    for name in protocols:
        plugins.protocols.unregister(name)


def release_run(root: Path, out: Path, **kw):
    return run_grid(RunConfig(methods=("majority",), protocol="loso", out=out, data=f"htnet-release:{root}",
                              cache_dir=out.parent / "cache", **kw))


# -- 1, 2: data that changed under a run folder --------------------------------------------------------
def test_resuming_on_relabelled_data_is_refused_naming_the_change(tmp_path):
    root = make_fake_release(tmp_path / "release")
    out = tmp_path / "run"
    release_run(root, out)
    table = pd.read_csv(root / CSV_NAME, dtype=str, keep_default_na=False)
    table.loc[0, "label"] = "2"
    table.to_csv(root / CSV_NAME, index=False)
    with pytest.raises(DataError, match=r"1 clip\(s\) relabelled: smic/s01/s01_ne_01 \(negative -> surprise\)"):
        release_run(root, out)
    assert len(ResultStore(out).predictions()) == 3, "nothing of the other data was added"


def test_resuming_with_a_clip_removed_is_refused(tmp_path):
    root = make_fake_release(tmp_path / "release")
    out = tmp_path / "run"
    release_run(root, out)
    table = pd.read_csv(root / CSV_NAME, dtype=str, keep_default_na=False)
    table.iloc[:2].to_csv(root / CSV_NAME, index=False)
    with pytest.raises(DataError, match=r"1 clip\(s\) removed: samm/006/006_1_2"):
        release_run(root, out)


def test_replaced_apex_faces_change_the_fingerprint_and_are_named(tmp_path):
    root = make_fake_release(tmp_path / "release")
    out = tmp_path / "run"
    release_run(root, out)
    face = root / FACE_DIR / "006_006_1_2.jpg"
    cv2.imwrite(str(face), np.full((48, 40, 3), 7, np.uint8))
    with pytest.raises(DataError, match=r"1 clip\(s\) with changed files: samm/006/006_1_2"):
        release_run(root, out)


def test_a_report_over_two_versions_of_the_data_keeps_them_apart(tmp_path):
    from reports.results import load_run

    root = make_fake_release(tmp_path / "release")
    release_run(root, tmp_path / "a")
    cv2.imwrite(str(root / FACE_DIR / "006_006_1_2.jpg"), np.full((48, 40, 3), 7, np.uint8))
    release_run(root, tmp_path / "b")
    run = load_run([tmp_path / "a", tmp_path / "b"])
    variants = sorted(run.preds["variant"].unique())
    assert len(variants) == 2 and all("@htnet-release#" in v for v in variants), variants
    assert run.preds.groupby("variant").size().tolist() == [3, 3], "each version pools its own 3 predictions"


# -- 3: a selection added on resume ------------------------------------------------------------------------
def test_a_selection_added_on_resume_trains_what_it_needs(tmp_path, tiny_data, registered):
    name = registered(ScriptedEpochs)
    common = dict(methods=(name,), protocol="loso", out=tmp_path, data=tiny_data)
    run_grid(RunConfig(**common))
    summary = run_grid(RunConfig(selection=EpochSelection("final,oracle"), **common))
    assert summary.done == 6 and summary.skipped == 0, "the finished cells had no epoch record: trained again"
    from reports.results import load_run

    assert set(load_run(tmp_path).preds["epoch_selection"]) == {"final", "oracle"}
    again = run_grid(RunConfig(selection=EpochSelection("final,oracle"), **common))
    assert again.done == 0 and again.skipped == 6


def test_an_epoch_beyond_the_budget_is_refused_up_front(tmp_path, tiny_data, registered):
    name = registered(ScriptedEpochs)
    with pytest.raises(ConfigError, match=r"epoch:5.*trains 2 epochs"):
        run_grid(RunConfig(methods=(name,), protocol="loso", out=tmp_path / "run", data=tiny_data,
                           selection=EpochSelection("final,epoch:5"), params=(("epochs", 2),)))
    assert not (tmp_path / "run").exists(), "a refused run creates no folder, database or lock"


# -- 5: protocol folds checked before training -------------------------------------------------------------
class LeakyFolds(Protocol):
    name = "leaky-folds"
    summary = "tests a subject that is also trained on (test plugin)"

    def folds(self, samples):
        return [Fold(f.id, tuple(samples["sample"].drop(samples.index[samples["sample"] == f.test[0]])), f.test[:1])
                for f in loso_folds(samples)]

    def groups(self, samples):
        return {"Full": pd.Series(True, index=samples.index)}


class SharedIds(LeakyFolds):
    name = "shared-ids"
    summary = "four folds with one id (test plugin)"

    def folds(self, samples):
        return [Fold("same", f.train, f.test) for f in loso_folds(samples)][:4]


@pytest.mark.parametrize("protocol, message", [(LeakyFolds, "both in training and in the test set"),
                                               (SharedIds, r"fold ids must be unique.*'same'")])
@pytest.mark.parametrize("executor", ["serial", "local"])
def test_broken_protocol_folds_are_refused_before_training(tmp_path, tiny_data, registered, protocol, message,
                                                           executor):
    with pytest.raises(DataError, match=message):
        run_grid(RunConfig(methods=("majority",), protocol=registered(protocol), out=tmp_path / "run",
                           data=tiny_data, executor=executor, workers=2))
    assert not (tmp_path / "run").exists()


# -- 7: a failed rerun keeps the finished result -------------------------------------------------------------
class FailsWhenAsked(NearestCentroid):
    info = MethodInfo(name="fails-when-asked", summary="fails while FAIL is set (test plugin)", input="flow",
                      citation="test", presets={"paper": {}, "quick": {}}, iterative=False)
    FAIL = False

    def fit(self, X, y, *, epoch_callback=None):
        if FailsWhenAsked.FAIL:
            raise RuntimeError("the retry fails")
        return super().fit(X, y)


def test_a_failed_rerun_never_destroys_a_finished_result(tmp_path, tiny_data, registered):
    name = registered(FailsWhenAsked)
    config = RunConfig(methods=(name,), protocol="loso", out=tmp_path, data=tiny_data)
    run_grid(config)
    before = ResultStore(tmp_path).predictions()
    FailsWhenAsked.FAIL = True
    try:
        summary = run_grid(RunConfig(**{**config.__dict__, "rerun": True}))
    finally:
        FailsWhenAsked.FAIL = False
    assert len(summary.failed) == 6 and all("earlier finished result is kept" in cell for cell, _ in summary.failed)
    cells = ResultStore(tmp_path).cells()
    assert set(cells["status"]) == {"done"} and cells["error"].str.contains("the retry fails").all()
    pd.testing.assert_frame_equal(ResultStore(tmp_path).predictions(), before)


# -- 8, 9: hangs ---------------------------------------------------------------------------------------------------
class SleepsForEver(Sleeper):
    info = MethodInfo(name="sleeps-for-ever", summary="sleeps in fit (test plugin)", input="flow", citation="test",
                      presets={"paper": {}, "quick": {}}, iterative=False)

    def fit(self, X, y):
        try:
            time.sleep(3600)
        except Exception:  # noqa: BLE001 - a hostile plugin that swallows everything
            pass
        return super().fit(X, y)


def test_serial_cell_timeout_fails_and_retries_the_cell(tmp_path, tiny_data, registered):
    name = registered(SleepsForEver)
    begun = time.monotonic()
    summary = run_grid(RunConfig(methods=(name,), protocol="loso", out=tmp_path, data=tiny_data, executor="serial",
                                 cell_timeout=0.3, retries=1))
    assert len(summary.failed) == 6 and all("CellTimeout" in error for _, error in summary.failed)
    assert time.monotonic() - begun < 30, "no cell hung"
    assert set(ResultStore(tmp_path).cells()["status"]) == {"failed"}


def test_local_cell_timeout_kills_the_worker_and_the_grid_ends(tmp_path, tiny_data, registered):
    name = registered(SleepsForEver)
    summary = run_grid(RunConfig(methods=(name,), protocol="loso", out=tmp_path, data=tiny_data, executor="local",
                                 workers=2, cell_timeout=2, retries=0))
    assert len(summary.failed) == 6 and all("CellTimeout" in error and "killed" in error for _, error in summary.failed)


def test_a_stopped_worker_is_detected_by_its_heartbeat_and_its_cell_retried(tmp_path, tiny_data):
    from mebench.engine import CellSpec, MethodRef
    from mebench.plan import load_dataset
    from mebench.runner import cell_inputs

    dataset = load_dataset(tiny_data)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    folds = loso_folds(dataset.samples)[:2]
    tasks = [Task(CellSpec("sleeper", "paper", {"num_classes": 3, "delay": 1.0, "pid_dir": str(pid_dir)}, "loso", f.id,
                           f.train, f.test, 0), MethodRef("sleeper", cls=Sleeper), "flow") for f in folds]
    stop, stopped = threading.Event(), []
    thread = killer(pid_dir, stop, stopped, signal.SIGSTOP)
    outcomes = {}
    executor = LocalExecutor([Placement("cpu", 1)] * 2, retries=1, heartbeat_timeout=3)
    executor.run(tasks, {"flow": cell_inputs(dataset, "flow")}, lambda spec: None,
                 lambda spec, outcome, error: outcomes.setdefault(spec.fold, (outcome, error)))
    stop.set()
    thread.join()
    assert stopped, "the test stopped a worker mid-cell"
    assert all(outcome is not None for outcome, _ in outcomes.values()) and len(outcomes) == 2
    with pytest.raises(ProcessLookupError):
        os.kill(stopped[0], 0)  # the stopped worker was killed, not left behind


def test_a_stall_is_named_in_a_warning_once():
    from mebench.engine import CellSpec

    watch = StallWatch(after=10)
    spec = CellSpec("m", "paper", {}, "loso", "a/b", ("x",), ("y",), 0)
    watch.finished(1.0)
    watch.check(spec, 5)  # under the floor: quiet
    with pytest.warns(UserWarning, match=r"cell m fold a/b seed 0 has run for 11 s \(the median cell took 1 s\)"):
        watch.check(spec, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        watch.check(spec, 50)  # named once


def test_an_unreachable_ray_address_fails_fast_naming_it(tmp_path, tiny_data):
    begun = time.monotonic()
    with pytest.raises(ConfigError, match=r"--ray-address 127\.0\.0\.1:1: cannot reach a Ray cluster"):
        probe_ray_address("127.0.0.1:1", timeout=2)
    assert time.monotonic() - begun < 10
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        probe_ray_address("nowhere")
    pytest.importorskip("ray", reason="Ray is not installed")
    with pytest.raises(ConfigError, match=r"127\.0\.0\.1:1"):
        run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path / "run", data=tiny_data,
                           executor="ray", ray_address="127.0.0.1:1"))
    assert not (tmp_path / "run").exists()


# -- 11 and the weak answers ----------------------------------------------------------------------------------
def test_a_lock_that_is_a_symlink_or_a_folder_is_refused_untouched(tmp_path, tiny_data):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(DataError, match="symbolic link"):
        run_grid(RunConfig(methods=("majority",), protocol="loso", out=out, data=tiny_data))
    assert victim.read_text() == "precious"
    (out / LOCK_NAME).unlink()
    (out / LOCK_NAME).mkdir()
    with pytest.raises(DataError, match="not a file"):
        run_grid(RunConfig(methods=("majority",), protocol="loso", out=out, data=tiny_data))


def test_a_cache_dir_that_is_a_file_is_refused_before_any_work(tmp_path, tiny_data):
    (tmp_path / "cache").write_text("")
    with pytest.raises(ConfigError, match="--cache-dir .* is a file"):
        run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path / "run", data=tiny_data,
                           cache_dir=tmp_path / "cache"))
    assert not (tmp_path / "run").exists()


def test_a_cache_entry_copied_from_another_key_is_not_taken(tmp_path):
    cache = ArrayCache(tmp_path)
    cache.get_or_compute("ns", {"data": "a"}, lambda: np.zeros(3))
    os.replace(cache.path("ns", {"data": "a"}), cache.path("ns", {"data": "b"}))  # a file copied under b's name
    with pytest.warns(UserWarning, match="written for another entry"):
        value = cache.get_or_compute("ns", {"data": "b"}, lambda: np.ones(3))
    np.testing.assert_array_equal(value, np.ones(3))


def test_too_many_workers_are_capped_with_a_warning():
    with pytest.warns(UserWarning, match="--workers 1000: .*using"):
        slots = placements("cpu", 1000, 1)
    assert len(slots) == len(os.sched_getaffinity(0))


def test_non_finite_features_name_the_sample():
    from mebench.datasets.synthetic import load_synthetic

    data = load_synthetic(None)
    flow = data.primitive("flow-image").copy()
    flow[3, 0, 0, 0] = np.nan
    data._primitives.clear()
    data.feature_function = lambda name: flow
    with pytest.raises(DataError, match=f"NaN or infinite values for 1 sample\\(s\\): {data.samples['sample'][3]}"):
        data.features("flow")


class Logits(NearestCentroid):
    info = MethodInfo(name="logits", summary="returns scores that are not probabilities (test plugin)", input="flow",
                      citation="test", presets={"paper": {}, "quick": {}}, iterative=False)

    def predict_proba(self, X):
        return np.tile([2.0, -1.0, 0.5], (len(X), 1))


def test_scores_that_are_not_probabilities_fail_the_cell(tmp_path, tiny_data, registered):
    summary = run_grid(RunConfig(methods=(registered(Logits),), protocol="loso", out=tmp_path, data=tiny_data))
    assert len(summary.failed) == 6 and all("must return probabilities" in error for _, error in summary.failed)


def test_a_flow_symlink_leaving_the_release_is_refused(tmp_path):
    from mebench.datasets.htnet_release import load_htnet_release

    root = make_fake_release(tmp_path / "release")
    outside = tmp_path / "outside.png"
    os.replace(root / FLOW_DIR / "006_006_1_2 .png", outside)
    (root / FLOW_DIR / "006_006_1_2 .png").symlink_to(outside)
    with pytest.raises(DataError, match="symbolic link leading out of"):
        load_htnet_release(str(root), cache_dir=tmp_path / "cache")


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG file whose header claims width x height pixels (its pixel data would take gigabytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def test_a_huge_image_is_refused_from_its_header(tmp_path, monkeypatch):
    from mebench.datasets import htnet_release

    root = make_fake_release(tmp_path / "release")
    huge = png_header_only(20000, 20000)
    (root / FLOW_DIR / "006_006_1_2 .png").write_bytes(huge)
    decode = htnet_release.cv2.imdecode

    def only_small(buf, flags):
        assert buf.tobytes() != huge, "the huge image's pixels were decoded"
        return decode(buf, flags)

    monkeypatch.setattr(htnet_release.cv2, "imdecode", only_small)
    with pytest.raises(DataError, match="header says (20000x20000|over 8192) px"):
        htnet_release.load_htnet_release(str(root), cache_dir=tmp_path / "cache")


def test_each_cell_records_its_method_version(tmp_path, tiny_data):
    run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data))
    versions = set(ResultStore(tmp_path).cells()["method_version"])
    assert len(versions) == 1 and next(iter(versions)).startswith("mebench ") and " src:" in next(iter(versions))


def test_an_old_results_database_gains_the_new_columns(tmp_path, tiny_data):
    run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data))
    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        conn.execute("ALTER TABLE cells DROP COLUMN method_version")
    summary = run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data))
    assert summary.skipped == 6
    assert "method_version" in ResultStore(tmp_path).cells().columns


def test_a_rerun_with_fewer_selections_keeps_the_others(tmp_path, tiny_data, registered):
    from reports.results import load_run

    name = registered(ScriptedEpochs)
    common = dict(methods=(name,), protocol="loso", out=tmp_path, data=tiny_data)
    run_grid(RunConfig(selection=EpochSelection("final,oracle"), **common))
    before = load_run(tmp_path).preds.sort_values(["epoch_selection", "sample"]).reset_index(drop=True)
    summary = run_grid(RunConfig(rerun=True, **common))  # final alone, every cell trained again
    assert summary.done == 6
    after = load_run(tmp_path).preds.sort_values(["epoch_selection", "sample"]).reset_index(drop=True)
    assert set(after["epoch_selection"]) == {"final", "oracle"}, "the oracle rows were not dropped"
    pd.testing.assert_frame_equal(after[["epoch_selection", "sample", "y_pred"]],
                                  before[["epoch_selection", "sample", "y_pred"]])


def test_oracle_stop_gets_its_paired_leakage_gap(tmp_path, tiny_data, registered):
    from mebench.reports.writer import write_report

    name = registered(ScriptedEpochs)
    run_grid(RunConfig(methods=(name,), protocol="loso", out=tmp_path / "run", data=tiny_data,
                       selection=EpochSelection("final,oracle,oracle-stop")))
    write_report(tmp_path / "run", tmp_path / "report", figures=False, n_resamples=50, n_permutations=50)
    leakage = pd.read_csv(tmp_path / "report" / "leakage.csv")
    pairs = set(zip(leakage["method"], leakage["oracle_method"]))
    assert {(name, f"{name} (oracle)"), (name, f"{name} (oracle-stop)")} <= pairs, pairs
