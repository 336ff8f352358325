"""Results are unchanged by the refactoring of issues 23 and 24: a run folder written by mebench before them
(tests/data/run_before_issue24, synthetic data) reports today with the numbers that mebench reported then."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mebench.reports.csvsafe import write_csv
from mebench.reports.writer import write_report

BEFORE = Path(__file__).parent / "data" / "run_before_issue24"


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> dict[str, pd.DataFrame]:
    run = tmp_path_factory.mktemp("before") / "run"
    run.mkdir()
    shutil.copy(BEFORE / "results.sqlite", run / "results.sqlite")  # reading never writes, but stay off the fixture
    report = write_report(run, write=False, n_resamples=200, n_permutations=200, figures=False)
    out = {}
    for name in ("results", "stats", "leakage", "summary"):
        path = run.parent / f"{name}.csv"
        write_csv(report.tables[name], path)  # through the same CSV writer, so floats print alike
        out[name] = pd.read_csv(path)
    return out


@pytest.mark.parametrize("name", ["results", "stats", "leakage", "summary"])
def test_a_run_folder_written_before_reports_the_same_numbers(today, name):
    before = pd.read_csv(BEFORE / f"report_{name}.csv")
    now = today[name]
    assert set(before.columns) <= set(now.columns), f"{name}.csv lost columns"
    pd.testing.assert_frame_equal(now[list(before.columns)], before, check_exact=True)
