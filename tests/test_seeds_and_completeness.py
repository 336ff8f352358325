"""End to end through `mebench run` and `mebench report`: several seeds make one row per method
(the seed identifies a cell, not a method variant), and methods with missing folds are marked
incomplete in every table."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from mebench.store import ResultStore
from tests.plugin_fixtures import NearestCentroid

WIDE = {"COLUMNS": "200"}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env=WIDE)


def test_three_methods_two_seeds_one_row_each_with_std_and_every_comparison(tmp_path, tiny_data):
    plugins.register_method(NearestCentroid)
    try:
        run = invoke("run", "--methods", "centroid,majority,stratified", "--data", tiny_data, "--preset", "quick",
                     "--seeds", "0,1", "--out", tmp_path)
        assert run.exit_code == 0, run.output
        report = invoke("report", tmp_path, "--no-figures", "--resamples", "50", "--permutations", "50")
    finally:
        plugins.methods.unregister("centroid")
    assert report.exit_code == 0, report.output
    cells = ResultStore(tmp_path).cells()
    assert cells.groupby("method")["params_hash"].nunique().eq(1).all(), "the seed must not change the variant"
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["method"].tolist() == ["centroid", "majority", "stratified"]
    assert (summary["seeds"] == 2).all() and summary["Full_uf1_std"].notna().all()
    assert summary["display_name"].tolist() == ["centroid", "Majority class", "Stratified random"]
    table = (tmp_path / "table.tex").read_text()
    for shown in ("centroid", "Majority class", "Stratified random"):  # the tables use display names
        assert sum(line.startswith(shown + " ") or line.startswith(shown + "$") for line in table.splitlines()) == 1
    assert table.count(r"\mebenchpm{") >= 3 * 8  # mean ± std in every score cell
    stats = pd.read_csv(tmp_path / "stats.csv")
    compared = stats[stats["seed"] == "all"]
    assert set(compared["method"]) == {"majority", "stratified"} and (compared["reference"] == "centroid").all()
    report_md = (tmp_path / "report.md").read_text()
    assert "not compared" not in report_md and "shares no seed" not in report_md
    assert "Every planned fold of every method and seed has a result." in report_md


def test_missing_and_failed_folds_are_marked_incomplete_everywhere(tmp_path, tiny_data):
    plugins.register_method(NearestCentroid)
    try:
        # every tiny fold has 6 test samples, so every centroid cell fails
        run = invoke("run", "--methods", "majority,centroid", "--data", tiny_data, "--protocol", "loso",
                     "--param", "fail_on_fold_with=6", "--out", tmp_path)
        assert run.exit_code == 1
        report = invoke("report", tmp_path, "--no-figures", "--resamples", "20", "--permutations", "20")
    finally:
        plugins.methods.unregister("centroid")
    # every centroid fold failed, so only majority has results: it is complete; centroid has none, and
    # report.md says so (the tables have no row for it)
    assert report.exit_code == 0, report.output
    assert "‡" not in (tmp_path / "table.md").read_text()
    assert "- `centroid` (loso): 0 of 6 folds done (seed 0: 6 failed)" in (tmp_path / "report.md").read_text()

    # now a method with some folds done and some not: mark the DB's cells of one fold of majority pending
    store = ResultStore(tmp_path)
    import sqlite3

    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE cells SET status = 'failed', error = 'x' WHERE method = 'majority' AND fold = 'samm/006'")
        conn.execute("DELETE FROM predictions WHERE cell_key IN (SELECT key FROM cells WHERE status != 'done')")
    report = invoke("report", tmp_path, "--no-figures", "--resamples", "20", "--permutations", "20")
    assert report.exit_code == 0, report.output
    expected = "Majority class: 5 of 6 folds done (seed 0: 1 failed)"
    tex = (tmp_path / "table.tex").read_text()
    assert r"Majority class$^\ddagger$" in tex and expected in tex and r"$^\ddagger$ Incomplete" in tex
    assert r"Majority class$^\ddagger$" in (tmp_path / "table_datasets.tex").read_text()
    md = (tmp_path / "table.md").read_text()
    assert "Majority class ‡" in md and expected in md
    # an incomplete row pools fewer samples: it is never marked best or second
    assert all("**" not in line and "_0." not in line for line in md.splitlines() if line.startswith("| Majority"))
    assert r"\textbf" not in tex and r"\underline" not in tex.split(r"\midrule", 1)[1]
    report_md = (tmp_path / "report.md").read_text()
    assert "### Incomplete results (‡)" in report_md and "`majority` (loso): 5 of 6 folds done" in report_md
    assert "‡ (incomplete)" in report.output
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.set_index("method").loc["majority", "complete"] == False  # noqa: E712
    results = pd.read_csv(tmp_path / "results.csv")
    assert not results["complete"].any()
