"""Showing a run's progress: the `Progress` protocol the runner reports to, and its three displays.

The runner calls `start` once, then `cell_started` and `cell_finished` per cell (in the driver process,
whatever the executor). Any object with those three methods is a progress sink; `mebench.run` and
`mebench.evaluate` also take a plain function, called with a `CellFinished` event per finished cell.

- `RichBar`: the command line's bar on a terminal.
- `LineProgress`: a plain line now and then (cells done/total, elapsed, ETA, the last finished cell), for log
  files, CI and notebooks, where a redrawn bar is lost or garbles the output.
- `CallbackProgress`: adapts a function taking `CellFinished`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, TextIO, runtime_checkable

from mebench.errors import ConfigError

if TYPE_CHECKING:  # rich loads only for the bar
    from rich.progress import TaskID

__all__ = ["Progress", "CellFinished", "ProgressCounter", "SilentProgress", "LineProgress", "CallbackProgress",
           "RichBar", "as_progress", "terminal_progress", "format_seconds"]


@runtime_checkable
class Progress(Protocol):
    """What a run reports while it goes: `start(total, skipped)` once (cells planned, and those finished before),
    then `cell_started(spec)` and `cell_finished(spec, ok)` for every cell it computes (`spec`: a
    mebench.engine.CellSpec)."""

    def start(self, total: int, skipped: int) -> None: ...

    def cell_started(self, spec) -> None: ...

    def cell_finished(self, spec, ok: bool) -> None: ...


@dataclass(frozen=True)
class CellFinished:
    """One finished cell, as a progress callback receives it."""

    method: str
    fold: str
    seed: int
    training: str  # "full", "validation:K:P", "inner:K" or "checkpoint"
    ok: bool  # False: the cell failed (its error is stored in the run folder)
    done: int  # cells finished so far, those finished before this run (skipped) included
    total: int
    elapsed_s: float  # since the run started
    eta_s: float | None  # estimated seconds left, from this run's pace; None before the first cell

    def describe(self) -> str:
        return f"{self.method} fold {self.fold} seed {self.seed}" + ("" if self.training == "full" else
                                                                    f" ({self.training})")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ProgressCounter:
    """Counts finished cells and estimates the time left from this run's pace (cells skipped as finished
    before count as done but not towards the pace)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.total = self.skipped = self.finished = 0
        self.started = clock()

    def start(self, total: int, skipped: int) -> None:
        self.total, self.skipped, self.finished, self.started = total, skipped, 0, self.clock()

    def cell_finished(self, spec, ok: bool) -> CellFinished:
        self.finished += 1
        elapsed = self.clock() - self.started
        left = max(self.total - self.skipped - self.finished, 0)
        eta = elapsed / self.finished * left
        return CellFinished(method=spec.method, fold=spec.fold, seed=spec.seed, training=spec.training, ok=ok,
                            done=self.skipped + self.finished, total=self.total, elapsed_s=elapsed, eta_s=eta)


class SilentProgress:
    """Shows nothing (the Python API's default)."""

    def start(self, total: int, skipped: int) -> None: ...

    def cell_started(self, spec) -> None: ...

    def cell_finished(self, spec, ok: bool) -> None: ...


class CallbackProgress:
    """Calls `callback(CellFinished)` for every finished cell."""

    def __init__(self, callback: Callable[[CellFinished], object], clock: Callable[[], float] = time.monotonic) -> None:
        self.callback = callback
        self.counter = ProgressCounter(clock)

    def start(self, total: int, skipped: int) -> None:
        self.counter.start(total, skipped)

    def cell_started(self, spec) -> None: ...

    def cell_finished(self, spec, ok: bool) -> None:
        self.callback(self.counter.cell_finished(spec, ok))


class LineProgress:
    """A plain line per finished cell, at most one per `every` seconds (the last cell's always, and every failure
    at once): `cells 12/208 (6%) | elapsed 0:41 | eta 11:10 | last: htnet fold casme2/sub01 seed 0`."""

    def __init__(self, stream: TextIO | None = None, every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.every = every
        self.counter = ProgressCounter(clock)
        self.last_line = float("-inf")

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr  # looked up when written: pytest and notebooks swap sys.stderr
        print(text, file=stream, flush=True)

    def start(self, total: int, skipped: int) -> None:
        self.counter.start(total, skipped)
        self._write(f"resuming: {skipped} of {total} cells already finished" if skipped else f"cells: {total} planned")

    def cell_started(self, spec) -> None: ...

    def cell_finished(self, spec, ok: bool) -> None:
        event = self.counter.cell_finished(spec, ok)
        if not ok:
            self._write(f"failed: {event.describe()}")
        now = self.counter.clock()
        if event.done < event.total and now - self.last_line < self.every:
            return
        self.last_line = now
        share = f" ({100 * event.done // event.total}%)" if event.total else ""
        self._write(f"cells {event.done}/{event.total}{share} | elapsed {format_seconds(event.elapsed_s)} | "
                    f"eta {format_seconds(event.eta_s)} | last: {event.describe()}")

    def stop(self) -> None: ...


class RichBar:
    """One redrawn bar for all workers on a terminal: cells done, cells running (and the last one started), time
    left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self.task: TaskID | None = None  # the bar's one task, from start()
        self.running: set[str] = set()
        self.last = ""

    def start(self, total: int, skipped: int) -> None:
        if skipped:
            self.bar.console.print(f"resuming: {skipped} of {total} cells already finished", markup=False,
                                   highlight=False)
        self.bar.start()
        self.task = self.bar.add_task("starting", total=total - skipped)

    def _describe(self) -> str:
        return f"{len(self.running)} running | {self.last}"

    def _started_task(self) -> TaskID:
        if self.task is None:
            raise RuntimeError("RichBar: start() is called before the first cell")
        return self.task

    def cell_started(self, spec) -> None:
        self.running.add(spec.key)
        self.last = f"{spec.method} | fold {spec.fold} | seed {spec.seed}"
        self.bar.update(self._started_task(), description=self._describe())

    def cell_finished(self, spec, ok: bool) -> None:
        self.running.discard(spec.key)
        if not ok:
            self.bar.console.print(f"failed: {spec.describe()}", markup=False, highlight=False)
        self.bar.update(self._started_task(), advance=1, description=self._describe())

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


def terminal_progress(stream: TextIO | None = None) -> RichBar | LineProgress:
    """The command line's display: the redrawn bar on a terminal, plain lines otherwise (a log file, CI)."""
    stream = stream or sys.stderr
    return RichBar() if stream.isatty() else LineProgress(stream)


def as_progress(progress: Progress | Callable[[CellFinished], object] | None) -> Progress:
    """The sink the runner reports to: a Progress as given, a function wrapped in `CallbackProgress`, None silent."""
    if progress is None:
        return SilentProgress()
    if isinstance(progress, Progress):
        return progress
    if callable(progress):
        return CallbackProgress(progress)
    raise ConfigError(f"progress takes a function called with a mebench.progress.CellFinished per finished cell, or an "
                      f"object with start, cell_started and cell_finished methods; not {progress!r}")
