"""The CLI through Typer's test runner: every command, errors as one line and an exit code."""

import sqlite3

import pytest
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from tests.plugin_fixtures import NearestCentroid

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def invoke(*args):
    return runner.invoke(app, list(args), env=WIDE)


@pytest.mark.parametrize("command", [["run"], ["report"], ["methods", "list"], ["protocols", "list"], ["datasets", "list"]])
def test_help_shows_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example: mebench " + " ".join(command) in " ".join(result.output.split())


def test_list_commands():
    assert "ststnet" in invoke("methods", "list").output
    protocols = invoke("protocols", "list")
    assert protocols.exit_code == 0 and "composite" in protocols.output and "loso" in protocols.output
    datasets = invoke("datasets", "list")
    assert datasets.exit_code == 0 and "synthetic" in datasets.output and "htnet-release" in datasets.output


def test_unknown_method_is_one_line_with_a_suggestion(tmp_path):
    result = invoke("run", "--methods", "htnt", "--protocol", "composite", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == "error: unknown method 'htnt', did you mean 'htnet'?"
    assert "Traceback" not in result.output


def test_bad_options_name_the_option(tmp_path):
    cases = [
        (["--seeds", "0,x"], "--seeds '0,x'"),
        (["--epoch-selection", "best"], "--epoch-selection 'best'"),
        (["--param", "epochs"], "--param 'epochs'"),
        (["--param", "nonsense=1"], "--param nonsense"),
        (["--protocol", "lsoo"], "did you mean 'loso'"),
        (["--data", "htnet-release"], "htnet-release:PATH"),
        (["--preset", "fast"], "no preset 'fast'"),
        (["--param", "epochs=2", "--param", "epochs=3"], "--param epochs is given twice"),
    ]
    for extra, expected in cases:
        result = invoke("run", "--methods", "ststnet", "--out", str(tmp_path), *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert expected in result.output, (extra, result.output)


def test_debug_flag_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "run", "--methods", "htnt", "--out", str(tmp_path)])
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "UnknownNameError"


def test_report_on_an_empty_folder_is_a_clear_error(tmp_path):
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert "holds no results database" in result.output


def test_run_and_report(tmp_path, tiny_data):
    plugins.register_method(NearestCentroid)
    try:
        result = invoke("run", "--methods", "centroid,ststnet", "--protocol", "composite", "--data", tiny_data,
                        "--preset", "quick", "--param", "epochs=2", "--seeds", "0,1", "--out", str(tmp_path))
        assert result.exit_code == 0, result.output
        assert "24 cells run, 0 already finished, 0 failed" in result.output
        again = invoke("run", "--methods", "centroid,ststnet", "--protocol", "composite", "--data", tiny_data,
                       "--preset", "quick", "--param", "epochs=2", "--seeds", "0,1", "--out", str(tmp_path))
        assert "0 cells run, 24 already finished" in again.output
        report = invoke("report", str(tmp_path))
        assert report.exit_code == 0, report.output
        for name in ("results.csv", "predictions.csv", "table.tex"):
            assert (tmp_path / name).exists() and name in report.output
        assert "CASME II UF1" in report.output and "centroid" in report.output
    finally:
        plugins.methods.unregister("centroid")


def test_failed_cells_exit_non_zero_after_the_grid(tmp_path, tiny_data):
    plugins.register_method(NearestCentroid)
    try:
        result = invoke("run", "--methods", "centroid", "--protocol", "loso", "--data", tiny_data,
                        "--param", "fail_on_fold_with=6", "--out", str(tmp_path))
    finally:
        plugins.methods.unregister("centroid")
    assert result.exit_code == 1
    assert "error: 6 of 6 cells failed" in result.output
    assert "failed: centroid fold casme2/s1 seed 0: RuntimeError: deliberate failure" in result.output


def test_status_and_errors_show_each_methods_cells_and_the_stored_errors(tmp_path, tiny_data):
    from mebench import plugins
    from mebench.plan import RunConfig
    from mebench.runner import run_grid
    from tests.plugin_fixtures import NearestCentroid

    plugins.register_method(NearestCentroid)
    try:  # fails on the folds testing 6 samples: every fold of the tiny dataset
        run_grid(RunConfig(methods=("centroid", "majority"), protocol="loso", out=tmp_path, data=tiny_data,
                           params=(("centroid.fail_on_fold_with", "6"),)))
    finally:
        plugins.methods.unregister("centroid")
    result = invoke("status", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line.split()}
    assert lines["centroid"][-5:] == ["0", "0", "6", "0", "6"] and lines["Majority"][-5:] == ["6", "0", "0", "0", "6"]
    assert "mebench errors" in result.output
    errors = invoke("errors", str(tmp_path))
    assert errors.exit_code == 0
    assert errors.output.count("RuntimeError: deliberate failure for the test") == 6 and "Traceback" not in errors.output
    assert "Traceback" in invoke("errors", str(tmp_path), "--full").output
    missing = invoke("status", str(tmp_path / "none"))
    assert missing.exit_code == 2 and "error:" in missing.output


def test_status_counts_running_cells_only_while_a_run_holds_the_folder(tmp_path, tiny_data):
    from mebench import api
    from mebench.plan import RunConfig
    from mebench.runner import run_grid
    from mebench.store import ResultStore

    run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data))
    store = ResultStore(tmp_path)
    with sqlite3.connect(store.path) as conn:  # as a run that was killed mid-cell leaves it
        conn.execute("UPDATE cells SET status = 'running' WHERE rowid = (SELECT MIN(rowid) FROM cells)")
    assert api.status(tmp_path)[["done", "running", "pending"]].values.tolist() == [[5, 0, 1]]
    with store.lock("run"):
        assert api.status(tmp_path)[["done", "running", "pending"]].values.tolist() == [[5, 1, 0]]
