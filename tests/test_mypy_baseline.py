"""The mypy baseline check's logic (.ci/mypy_check.py) on made-up mypy output; mypy itself is not run here
(too slow for the default suite: CI runs the real check, .ci/run)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "mypy_check.py"


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("mypy_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OUTPUT = """\
reports/results.py:12: error: Argument 1 to "loads" has incompatible type "int"; expected "str"  [arg-type]
reports/results.py:12: note: See https://mypy.readthedocs.io/en/stable/
reports/results.py:40: error: Argument 1 to "loads" has incompatible type "int"; expected "str"  [arg-type]
mebench\\runner.py:7:5: error: Name "x" already defined on line 3  [no-redef]
methods/htnet.py:99: error: Module object is not iterable  [misc]
Found 4 errors in 3 files (checked 89 source files)
"""


def test_parse_normalises_lines_away(check):
    errors = check.parse(OUTPUT)
    assert [e.key for e in errors] == [
        ("reports/results.py", "arg-type", 'Argument 1 to "loads" has incompatible type "int"; expected "str"'),
        ("reports/results.py", "arg-type", 'Argument 1 to "loads" has incompatible type "int"; expected "str"'),
        ("mebench/runner.py", "no-redef", 'Name "x" already defined'),  # no line number, no column, "/" paths
        ("methods/htnet.py", "misc", "Module object is not iterable"),
    ]
    assert [e.line for e in errors] == [12, 40, 7, 99]


def test_baseline_round_trip(check):
    errors = check.parse(OUTPUT)
    text = check.baseline_text(errors)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert body == sorted(body) and len(body) == 4
    assert check.read_baseline(text) == Counter(e.key for e in errors)
    assert check.header_of(check.baseline_text(errors, "# why\n")) == "# why\n"  # --update keeps the header


def test_same_errors_on_other_lines_pass(check, capsys):
    baseline = Counter(e.key for e in check.parse(OUTPUT))
    moved = OUTPUT.replace("py:12:", "py:15:").replace("py:99:", "py:120:")
    new, fixed = check.compare(check.parse(moved), baseline)
    assert new == [] and not fixed
    assert check.report(new, fixed, "baseline.txt") == 0
    assert "no new error" in capsys.readouterr().out


def test_new_error_fails_and_names_its_line(check, capsys):
    baseline = Counter(e.key for e in check.parse(OUTPUT))
    extra = "reports/index.py:170: error: Argument 1 to \"command_line\" has incompatible type \"int\"  [arg-type]\n"
    new, fixed = check.compare(check.parse(OUTPUT + extra), baseline)
    assert check.report(new, fixed, "baseline.txt") == 1
    out = capsys.readouterr().out
    assert "1 new error" in out and "reports/index.py:170: error:" in out


def test_one_more_of_an_accepted_error_fails(check, capsys):
    baseline = Counter(e.key for e in check.parse(OUTPUT))
    again = OUTPUT.splitlines()[0].replace(":12:", ":77:") + "\n"  # the error of lines 12 and 40, once more
    new, fixed = check.compare(check.parse(OUTPUT + again), baseline)
    assert [(n, [e.line for e in lines]) for n, lines in new] == [(1, [12, 40, 77])]
    assert check.report(new, fixed, "baseline.txt") == 1
    assert "1 more than the 2 accepted" in capsys.readouterr().out


def test_fixed_error_passes_with_a_note(check, capsys):
    baseline = Counter(e.key for e in check.parse(OUTPUT))
    fewer = "".join(line + "\n" for line in OUTPUT.splitlines() if "htnet" not in line)
    new, fixed = check.compare(check.parse(fewer), baseline)
    assert new == [] and fixed == Counter({("methods/htnet.py", "misc", "Module object is not iterable"): 1})
    assert check.report(new, fixed, "baseline.txt") == 0
    out = capsys.readouterr().out
    assert "no longer occur" in out and "--update" in out and "methods/htnet.py: error: Module object" in out


def test_the_baseline_file_parses(check):
    # read_baseline raises on a line that is not an error line; the baseline may be empty (no error accepted)
    counts = check.read_baseline(check.BASELINE.read_text(encoding="utf-8"))
    assert all(path and code and message for path, code, message in counts)
