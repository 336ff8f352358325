"""What mebench refuses, and how: bad options and data are caught before anything trains, each
with one `error:` line naming the file, sample or option (exit code 2), and nothing finished is
lost. One test (or a parametrised group) per finding of the bad-input probe."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from mebench.store import ResultStore
from mebench.methods.ststnet import STSTNet
from tests.plugin_fixtures import SPY_LOG, NearestCentroid, Spy
from tests.test_htnet_release import FAKE_ROWS, make_fake_release

WIDE = {"COLUMNS": "200"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=WIDE)


def one_error_line(result) -> str:
    """The single `error:` line of a refused command (exit code 2, no traceback)."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


@pytest.fixture
def spy():
    """A method that logs every fit: proves that a refused run trained nothing."""
    SPY_LOG.clear()
    plugins.register_method(Spy)
    yield "spy"
    plugins.methods.unregister("spy")


# ---------------------------------------------------------------------------- parameters and options
@pytest.mark.parametrize("param, expected", [
    ("epochs=0", "parameter epochs=0: expected an integer >= 1"),
    ("epochs=-1", "parameter epochs=-1: expected an integer >= 1"),
    ("epochs=abc", "parameter epochs=abc: expected an integer >= 1"),
    ("batch_size=0", "parameter batch_size=0: expected an integer >= 1"),
    ("lr=-1", "parameter lr=-1: expected a number > 0"),
    ("dropout=2", "parameter dropout=2: expected a number >= 0 and < 1"),
    ("shuffle=maybe", "parameter shuffle=maybe: expected true or false"),
])
def test_bad_method_parameters_are_refused_before_anything_runs(tmp_path, tiny_data, param, expected):
    out = tmp_path / "run"
    line = one_error_line(invoke("run", "--methods", "ststnet", "--data", tiny_data, "--preset", "quick",
                                 "--param", param, "--out", out))
    assert f"method 'ststnet': {expected}" in line
    assert not out.exists(), "a refused run creates nothing"


def test_parameter_values_are_read_by_their_declared_type():
    cls = plugins.methods.get("htnet")
    assert cls.check_params({"epochs": "12", "block_repeats": "[1, 1, 2]", "shuffle": "true", "lr": "1e-3"}) == {
        "epochs": 12, "block_repeats": (1, 1, 2), "shuffle": True, "lr": 1e-3}
    assert plugins.methods.get("rcn-a").check_params({"image_size": "null"}) == {"image_size": None}


@pytest.mark.parametrize("seeds", ["-1", str(2**32), "0,4294967296"])
def test_seeds_out_of_range_are_refused(tmp_path, tiny_data, spy, seeds):
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--seeds", seeds, "--out", tmp_path / "r"))
    assert "--seeds" in line and "from 0 to 4294967295" in line
    assert SPY_LOG == []


def test_repeated_seeds_train_once(tmp_path, tiny_data, spy):
    result = invoke("run", "--methods", spy, "--data", tiny_data, "--seeds", "0,0,1,0", "--out", tmp_path,
                    "--executor", "serial")  # the spy logs in this process
    assert result.exit_code == 0, result.output
    cells = ResultStore(tmp_path).cells()
    assert sorted(cells["seed"].unique()) == [0, 1] and len(cells) == 2 * 6  # 6 subjects
    assert sum(1 for what, _ in SPY_LOG if what == "fit") == 12


def test_too_many_validation_subjects_refused_before_training(tmp_path, tiny_data, spy):
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--epoch-selection", "validation",
                                 "--validation-subjects", "1000", "--out", tmp_path / "r"))
    assert "--validation-subjects 1000" in line and "training subjects" in line
    assert SPY_LOG == []


def test_unknown_evaluate_config_is_one_error_not_a_failure_per_fold(tmp_path, tiny_data):
    weights = tmp_path / "w"
    weights.mkdir()
    line = one_error_line(invoke("evaluate", "--method", "ststnet", "--weights", weights, "--data", tiny_data,
                                 "--config", "bogus=1", "--out", tmp_path / "r"))
    assert "'bogus'" in line and "no parameter" in line
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------- the run folder
def test_file_typed_out_refused(tmp_path, tiny_data, spy):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--out", target))
    assert str(target) in line and "is a file, not a folder" in line
    assert SPY_LOG == []


def _mount(args: list[str], target: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a file system for this test needs root")
    done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a test file system here: {done.stderr.strip()}")


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    _mount(["--bind", "-o", "ro", str(folder)], folder)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def full_folder(tmp_path):
    folder = tmp_path / "full"
    folder.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=16k", "tmpfs"], folder)
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_read_only_out_refused_before_training(read_only_folder, tiny_data, spy):
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--out", read_only_folder / "run"))
    assert str(read_only_folder / "run") in line
    assert SPY_LOG == []


def test_full_disk_refused_before_training(full_folder, tiny_data, spy):
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--out", full_folder))
    assert str(full_folder) in line and "No space left" in line
    assert SPY_LOG == []


def test_disk_full_mid_run_stops_with_one_line_and_keeps_finished_cells(tmp_path, tiny_data, spy, monkeypatch):
    original = ResultStore.save_cell
    saved = []

    def save_until_full(self, cell, predictions=(), record=None, epoch_metrics=()):
        if len(saved) == 3:
            raise ResultStore._fail(self, sqlite3.OperationalError("database or disk is full"), "write")
        original(self, cell, predictions, record, epoch_metrics)
        saved.append(cell["key"])

    monkeypatch.setattr(ResultStore, "save_cell", save_until_full)
    line = one_error_line(invoke("run", "--methods", spy, "--data", tiny_data, "--out", tmp_path))
    assert "no space left on the device" in line and str(tmp_path / "results.sqlite") in line
    monkeypatch.undo()
    cells = ResultStore(tmp_path).cells()
    assert set(cells.loc[cells["key"].isin(saved), "status"]) == {"done"} and len(saved) == 3
    resumed = invoke("run", "--methods", spy, "--data", tiny_data, "--out", tmp_path)
    assert resumed.exit_code == 0 and "resuming: 3 of 6 cells already finished" in resumed.output


@pytest.mark.parametrize("command", ["report", "run"])
def test_corrupt_results_database_is_one_line(tmp_path, tiny_data, spy, command):
    (tmp_path / "results.sqlite").write_bytes(np.random.default_rng(0).bytes(4096))
    args = ["report", tmp_path] if command == "report" else ["run", "--methods", spy, "--data", tiny_data, "--out", tmp_path]
    line = one_error_line(invoke(*args))
    assert str(tmp_path / "results.sqlite") in line and "not a mebench results database, or it is corrupt" in line
    assert SPY_LOG == []


def test_report_on_a_missing_folder_creates_nothing(tmp_path):
    missing = tmp_path / "nope" / "deeper"
    line = one_error_line(invoke("report", missing))
    assert str(missing) in line and not (tmp_path / "nope").exists()


def test_failed_report_leaves_no_folder_behind(tmp_path, tiny_data, monkeypatch):
    plugins.register_method(NearestCentroid)
    try:
        assert invoke("run", "--methods", "centroid", "--data", tiny_data, "--out", tmp_path / "run").exit_code == 0
    finally:
        plugins.methods.unregister("centroid")
    from mebench.reports import tables

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tables, "latex_table", broken)
    monkeypatch.setattr("mebench.reports.outputs.latex_table", broken)
    with pytest.raises(OSError):
        from mebench.reports.writer import write_report

        write_report(tmp_path / "run", tmp_path / "new" / "report", figures=False)
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------------------- checkpoints
class Unpicklable:
    """An object torch's safe loader refuses to rebuild."""


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty (0 bytes)"),
    (b"these are not weights\n", "not a torch checkpoint"),
    (np.random.default_rng(1).bytes(2000), "not a torch checkpoint"),
    ("tensor", "holds a tensor of shape (3, 3), not a state dict"),
    ("pickle", "holds Python objects besides tensors"),
])
def test_bad_checkpoint_files_are_named(tmp_path, tiny_data, content, expected):
    weights = tmp_path / "w"
    weights.mkdir()
    folds = ["casme2_s1", "sub02", "006", "007", "smic_s1", "s2"]
    for i, name in enumerate(folds):
        torch.save(STSTNet().state_dict(), weights / f"{name}.pth")
    bad = weights / "006.pth"
    if content == "tensor":
        torch.save(torch.zeros(3, 3), bad)
    elif content == "pickle":
        torch.save({"conv1.weight": torch.zeros(3), "note": Unpicklable()}, bad)
    else:
        bad.write_bytes(content)
    result = invoke("evaluate", "--method", "ststnet", "--weights", weights, "--data", tiny_data, "--out", tmp_path / "r")
    assert result.exit_code == 1, result.output  # the other folds are evaluated and kept
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ststnet fold samm/006 (006.pth)")]
    assert len(failed) == 1 and str(bad) in failed[0] and expected in failed[0], result.output
    assert "weights_only=False" not in result.output and "Traceback" not in result.output
    cells = ResultStore(tmp_path / "r").cells()
    assert (cells["status"] == "done").sum() == 5


# ---------------------------------------------------------------------------- the release
def _release(tmp_path, rows=FAKE_ROWS) -> Path:
    return make_fake_release(tmp_path / "release", rows)


@pytest.mark.parametrize("which", ["flow", "face"])
def test_zero_byte_image_in_the_release_is_named(tmp_path, which):
    from mebench.datasets.htnet_release import FACE_DIR, FLOW_DIR, flow_file_name

    root = _release(tmp_path)
    file = (root / FLOW_DIR / flow_file_name("sub01", "EP02_01f")) if which == "flow" else (root / FACE_DIR / FAKE_ROWS[1][4])
    file.write_bytes(b"")
    line = one_error_line(invoke("run", "--methods", "majority", "--data", f"htnet-release:{root}", "--out", tmp_path / "r"))
    assert str(file) in line or "1 problem" in line
    result = invoke("datasets", "check", f"htnet-release:{root}", "--no-faces")
    assert result.exit_code == 1 and str(file) in result.output and "empty file (0 bytes)" in result.output


def test_tiny_apex_face_is_named(tmp_path):
    import cv2

    from mebench.datasets.htnet_release import FACE_DIR

    root = _release(tmp_path)
    face = root / FACE_DIR / FAKE_ROWS[2][4]
    cv2.imwrite(str(face), np.zeros((1, 1, 3), np.uint8))
    result = invoke("datasets", "check", f"htnet-release:{root}")
    assert result.exit_code == 1 and str(face) in result.output and "1x1 px: too small" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("column, value, expected", [
    ("imagename", "../../etc/passwd", "points outside combined_datasets_whole/"),
    ("imagename", "/etc/passwd", "points outside combined_datasets_whole/"),
    ("sub", "../x", "which leaves STSNet_whole_norm_u_v_os/"),
])
def test_release_csv_may_not_point_outside_the_release(tmp_path, column, value, expected):
    from mebench.datasets.htnet_release import CSV_NAME

    root = _release(tmp_path)
    table = pd.read_csv(root / CSV_NAME, dtype=str, keep_default_na=False)
    table.loc[1, column] = value
    table.to_csv(root / CSV_NAME, index=False)
    result = invoke("datasets", "check", f"htnet-release:{root}", "--no-faces")
    assert result.exit_code == 1 and f"{CSV_NAME} line 3" in result.output and expected in result.output


def test_faces_not_found_are_counted_and_named_at_check_and_run_time(tmp_path, monkeypatch):
    import cv2

    from mebench.datasets import htnet_release

    from mebench.datasets.htnet_release import FACE_DIR

    root = _release(tmp_path)
    cv2.imwrite(str(root / FACE_DIR / FAKE_ROWS[0][4]), np.full((64, 64, 3), 255, np.uint8))  # blank: no face
    check = invoke("datasets", "check", f"htnet-release:{root}")
    assert check.exit_code == 0, check.output
    assert "faces: 0 detected, 3 not found" in check.output and "smic/s01/s01_ne_01" in check.output
    run = invoke("run", "--methods", "htnet", "--preset", "quick", "--param", "epochs=1", "--data",
                 f"htnet-release:{root}", "--protocol", "loso", "--out", tmp_path / "r")
    assert run.exit_code == 0, run.output
    warning = [line for line in run.output.splitlines() if line.startswith("warning: htnet-release: no face found")]
    assert len(warning) == 1 and "3 of 3 apex faces" in warning[0] and "smic/s01/s01_ne_01" in warning[0]
    # a run names the first few; the check names every one
    monkeypatch.setattr(htnet_release, "MISSING_FACES_SHOWN", 2)
    run = invoke("run", "--methods", "htnet", "--preset", "quick", "--param", "epochs=1", "--data",
                 f"htnet-release:{root}", "--protocol", "loso", "--out", tmp_path / "r2", "--seeds", "1")
    warning = [line for line in run.output.splitlines() if line.startswith("warning: htnet-release: no face found")]
    assert len(warning) == 1 and f"and 1 more (`mebench datasets check htnet-release:{root}` lists" in warning[0]


# ---------------------------------------------------------------------------- the feature cache
def test_corrupt_or_mismatched_cache_entries_are_recomputed_with_a_warning(tmp_path):
    from mebench.cache import ArrayCache

    cache = ArrayCache(tmp_path)
    key = {"what": "test"}
    good = cache.get_or_compute("ns", key, lambda: np.arange(12, dtype=np.float32).reshape(3, 4),
                                shape=(3, 4), dtype=np.float32)
    path = cache.path("ns", key)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=f"{path}.*checksum mismatch"):
        again = cache.get_or_compute("ns", key, lambda: np.arange(12, dtype=np.float32).reshape(3, 4),
                                     shape=(3, 4), dtype=np.float32)
    np.testing.assert_array_equal(again, good)
    with pytest.warns(UserWarning, match=r"shape \(3, 4\), expected \(4, \*\)"):
        other = cache.get_or_compute("ns", key, lambda: np.zeros((4, 2), np.float32), shape=(4, None),
                                     dtype=np.float32)
    assert other.shape == (4, 2) and len(cache.computed) == 3
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.warns(UserWarning, match="feature cache entry .* is invalid"):
        cache.get_or_compute("ns", key, lambda: np.zeros((4, 2), np.float32), shape=(4, None), dtype=np.float32)
