"""Progress that survives log files and notebooks (issue 23 §3): plain periodic lines without a terminal, a
callback with a typed event in the Python API, one `Progress` protocol for every display (issue 24), and help
text at the terminal's width."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

import mebench
from mebench.cli import app
from mebench.errors import ConfigError
from mebench.progress import (CallbackProgress, CellFinished, LineProgress, Progress, RichBar, SilentProgress,
                              as_progress, terminal_progress)


@dataclass
class FakeSpec:
    method: str
    fold: str
    seed: int = 0
    training: str = "full"
    key: str = ""

    def describe(self) -> str:
        return f"{self.method} fold {self.fold} seed {self.seed}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_progress_prints_done_total_elapsed_eta_and_the_last_cell_now_and_then():
    clock, out = Clock(), io.StringIO()
    lines = LineProgress(out, every=30, clock=clock)
    lines.start(10, 2)
    for i, seconds in enumerate([10, 10, 5, 40]):  # finish 4 cells of the 8 left
        clock.now += seconds
        lines.cell_finished(FakeSpec("htnet", f"f{i}"), True)
    text = out.getvalue().splitlines()
    assert text[0] == "resuming: 2 of 10 cells already finished"
    # the first cell's line, then nothing for 25 s, then the 4th cell's (65 s in: 16.25 s a cell, 4 left)
    assert text[1:] == ["cells 3/10 (30%) | elapsed 0:10 | eta 1:10 | last: htnet fold f0 seed 0",
                        "cells 6/10 (60%) | elapsed 1:05 | eta 1:05 | last: htnet fold f3 seed 0"]


def test_line_progress_prints_every_failure_and_always_the_last_cell():
    clock, out = Clock(), io.StringIO()
    lines = LineProgress(out, every=3600, clock=clock)
    lines.start(3, 0)
    lines.cell_finished(FakeSpec("ststnet", "a"), True)
    clock.now += 1
    lines.cell_finished(FakeSpec("ststnet", "b"), False)
    clock.now += 1
    lines.cell_finished(FakeSpec("ststnet", "c"), True)
    assert out.getvalue().splitlines() == [
        "cells: 3 planned", "cells 1/3 (33%) | elapsed 0:00 | eta 0:00 | last: ststnet fold a seed 0",
        "failed: ststnet fold b seed 0", "cells 3/3 (100%) | elapsed 0:02 | eta 0:00 | last: ststnet fold c seed 0"]


def test_every_display_is_a_progress_and_a_function_becomes_one():
    assert all(isinstance(p, Progress) for p in (RichBar(), LineProgress(), SilentProgress(), CallbackProgress(print)))
    assert isinstance(as_progress(print), CallbackProgress) and isinstance(as_progress(None), SilentProgress)
    bar = LineProgress()
    assert as_progress(bar) is bar
    with pytest.raises(ConfigError, match="progress takes a function"):
        as_progress(42)


def test_the_terminal_gets_the_bar_and_a_log_gets_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(terminal_progress(Terminal()), RichBar)
    assert isinstance(terminal_progress(io.StringIO()), LineProgress)


def test_the_api_calls_the_progress_function_with_one_event_per_finished_cell(tmp_path, tiny_data):
    events: list[CellFinished] = []
    summary = mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "run", progress=events.append)
    assert summary.done == 6 and len(events) == 6
    assert all(isinstance(e, CellFinished) and e.ok and e.total == 6 and e.method == "majority" for e in events)
    assert [e.done for e in events] == [1, 2, 3, 4, 5, 6] and events[-1].eta_s == 0
    assert sorted(e.fold for e in events) == sorted(["smic/s1", "smic/s2", "casme2/s1", "casme2/sub02", "samm/006",
                                                     "samm/007"])
    events.clear()  # resumed: nothing computed, nothing reported
    assert mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "run",
                       progress=events.append).skipped == 6 and events == []
    with pytest.raises(ConfigError, match="progress takes"):
        mebench.run(["majority"], protocol="loso", data=[tiny_data], out=tmp_path / "other", progress="bar")
    assert not (tmp_path / "other").exists()


def test_a_run_without_a_terminal_prints_plain_progress_lines(tmp_path, tiny_data):
    result = CliRunner().invoke(app, ["run", "--methods", "majority", "--protocol", "loso", "--data", tiny_data,
                                      "--executor", "serial", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "cells: 6 planned" in result.output
    last = [line for line in result.output.splitlines() if line.startswith("cells 6/6 (100%) | elapsed ")]
    assert len(last) == 1 and " | eta 0:00 | last: majority fold " in last[0]
    assert "\x1b[" not in result.output and "\r" not in result.output  # no redrawn bar in a log


def help_lines(columns: int) -> list[str]:
    """`mebench run --help` as a terminal of that width shows it (click's test runner forces 80 columns)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    result = subprocess.run([sys.executable, "-c", "from mebench.cli import main; main()", "run", "--help"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_help_uses_the_whole_terminal_width():
    widest = max(map(len, help_lines(200)))
    assert 150 < widest <= 200, widest
    assert max(map(len, help_lines(100))) <= 100


def test_evaluate_calls_the_progress_function_per_checkpoint(tmp_path, tiny_data):
    import torch

    from mebench.methods.ststnet import STSTNet
    from tests.test_evaluate import FOLDS, file_name

    weights = tmp_path / "weights"
    weights.mkdir()
    for fold in FOLDS:
        torch.save(STSTNet().state_dict(), weights / file_name(fold))
    events: list[CellFinished] = []
    summary = mebench.evaluate("ststnet", weights, data=[tiny_data], out=tmp_path / "run", device="cpu",
                               progress=events.append)
    assert summary.done == 6 and [e.done for e in events] == [1, 2, 3, 4, 5, 6]
    assert sorted(e.fold for e in events) == sorted(FOLDS) and {e.training for e in events} == {"checkpoint"}
