"""The Python API (mebench.run / evaluate / report) and the command line that explains itself:
--version, --json, datasets show, one error style, per-method --param, reports of several folders,
methods.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import mebench
from mebench.cli import app
from mebench.errors import ConfigError


def invoke(*args, width=200):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(width)})


def test_public_names():
    names = dir(mebench)
    for name in ("run", "evaluate", "report", "Method", "MethodInfo", "TorchMethod", "Protocol", "Fold", "Dataset",
                 "register_method", "register_protocol", "register_dataset", "method_checks", "protocol_checks",
                 "dataset_checks", "load_published", "MebenchError", "__version__"):
        assert name in names and getattr(mebench, name) is not None
    assert callable(mebench.run) and callable(mebench.evaluate) and callable(mebench.report)


def test_run_and_report_return_objects_a_notebook_uses(tmp_path, tiny_data):
    summary = mebench.run(["majority", "ststnet"], protocol="composite", data=[tiny_data], preset="quick",
                          seeds=[0, 1], params={"ststnet.epochs": 1}, out=tmp_path)
    assert (summary.total, summary.done, summary.failed, summary.out) == (24, 24, [], tmp_path)
    rep = mebench.report(tmp_path, figures=False, resamples=20, permutations=20)
    assert isinstance(rep.summary, pd.DataFrame) and {"method", "group", "metric", "mean", "std", "ci_low"} <= set(rep.summary)
    assert isinstance(rep.stats, pd.DataFrame) and rep.reference == "majority"
    assert set(rep.summary["method"]) == {"majority", "ststnet"}


@pytest.mark.parametrize("call, match", [
    (lambda: mebench.run("majority"), "methods takes a list, e.g. \\['htnet', 'baseline'\\], not the string 'majority'"),
    (lambda: mebench.run(["majority"], data="synthetic"), "data takes a list"),
    (lambda: mebench.run(["majority"], seeds=3), "seeds takes a list"),
    (lambda: mebench.run(["majority"], epoch_selection="final"), "epoch_selection takes a list"),
    (lambda: mebench.report(["a", "b"]), "needs out"),
])
def test_bare_strings_where_lists_are_meant_are_refused(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_per_method_and_global_params(tmp_path, tiny_data):
    result = invoke("run", "--methods", "ststnet,majority", "--data", tiny_data, "--preset", "quick", "--protocol",
                    "loso", "--param", "ststnet.epochs=1", "--param", "lr=0.01", "--out", tmp_path, "--executor", "serial")
    assert result.exit_code == 0, result.output
    assert "note: --param lr applies to ststnet; not to majority (no such parameter)" in result.output
    from mebench.store import ResultStore

    params = json.loads(ResultStore(tmp_path).cells().query("method == 'ststnet'")["params"].iloc[0])
    assert params["epochs"] == 1 and params["lr"] == 0.01
    bad = invoke("run", "--methods", "ststnet", "--data", tiny_data, "--param", "stsnet.epochs=1", "--out", tmp_path)
    assert bad.exit_code == 2 and "'stsnet' is not a method of this run; did you mean 'ststnet'?" in bad.output
    bad = invoke("run", "--methods", "ststnet", "--data", tiny_data, "--param", "ststnet.depth=1", "--out", tmp_path)
    assert bad.exit_code == 2 and "method 'ststnet' has no parameter 'depth'" in bad.output


def test_variants_are_labelled_by_what_differs(tmp_path, tiny_data):
    for lr in ("0.001", "0.01"):
        mebench.run(["ststnet"], protocol="loso", data=[tiny_data], preset="quick",
                    params={"epochs": 1, "lr": lr}, out=tmp_path)
    rep = mebench.report(tmp_path, figures=False, resamples=10, permutations=10)
    assert set(rep.summary["method"]) == {"ststnet (lr=0.001)", "ststnet (lr=0.01)"}


def test_report_of_several_folders_together(tmp_path, tiny_data):
    mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "a")
    mebench.run(["stratified"], protocol="loso", data=[tiny_data], out=tmp_path / "b")
    result = invoke("report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "both", "--no-figures",
                    "--resamples", "10", "--permutations", "10")
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "both" / "summary.csv")
    assert set(summary["method"]) == {"majority", "stratified"}
    md = (tmp_path / "both" / "report.md").read_text()
    assert f"(folder {tmp_path / 'a'})" in md and f"(folder {tmp_path / 'b'})" in md
    missing_out = invoke("report", tmp_path / "a", tmp_path / "b")
    assert missing_out.exit_code == 2 and "needs out" in missing_out.output


def test_methods_csv_gives_size_flops_time_and_device(tmp_path, tiny_data):
    mebench.run(["ststnet", "majority"], protocol="loso", data=[tiny_data], preset="quick", params={"epochs": 1},
                out=tmp_path)
    mebench.report(tmp_path, figures=False, resamples=10, permutations=10)
    costs = pd.read_csv(tmp_path / "methods.csv").set_index("method")
    assert costs.loc["ststnet", "parameters"] == 1683  # as the STSTNet paper counts
    assert costs.loc["ststnet", "flops_per_sample"] > 0 and costs.loc["ststnet", "seconds_per_fold"] > 0
    assert costs.loc["ststnet", "devices"] == "cpu" and np.isnan(costs.loc["majority", "parameters"])
    assert "Methods: size and cost" in (tmp_path / "table.md").read_text()
    assert "1.68k" in (tmp_path / "table_methods.tex").read_text()


# ---------------------------------------------------------------------------- a CLI that explains itself
def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"mebench {mebench.__version__}"


@pytest.mark.parametrize("args", [["methods", "list"], ["methods", "show", "htnet"], ["protocols", "list"],
                                  ["protocols", "show", "loso:classes=samm-5"], ["datasets", "list"],
                                  ["datasets", "show", "casme2"]])
def test_json_output(args):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data
    if args == ["methods", "show", "htnet"]:
        assert data["display_name"] == "HTNet" and any(p["name"] == "epochs" for p in data["parameters"])
    if args[:2] == ["protocols", "show"]:
        assert data["label"] == "loso:classes=samm-5" and data["counts"]["samm"]["total"] == 136


def test_datasets_show_explains_a_kind():
    result = invoke("datasets", "show", "casme2")
    assert result.exit_code == 0 and "CASME2-coding" in result.output and "--pipeline applies: yes" in result.output


def test_usage_errors_are_one_line_like_the_others():
    for args in (["run"], ["run", "--methods", "x", "--bogus"], ["nonsense"], ["report", "--digits", "many"]):
        result = invoke(*args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert "╭" not in result.output and "Usage:" not in result.output


def test_listings_are_not_cut_at_80_columns():
    result = invoke("methods", "list", width=80)
    summary = mebench.plugins.methods.get("htnet-casme3").info.summary
    assert summary in result.output and "…" not in result.output


def test_help_never_points_at_a_source_file():
    for args in (["run"], ["evaluate"], ["report"], ["datasets", "check"], ["datasets", "prepare"],
                 ["protocols", "show"], ["methods", "show"]):
        result = invoke(*args, "--help")
        assert result.exit_code == 0 and ".py" not in result.output, result.output
