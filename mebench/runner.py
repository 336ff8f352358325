"""Execute a prepared plan (mebench.plan): store every planned cell, hand the cells to an executor, and store
each one as it finishes.

The driver does everything stateful: `mebench.plan.prepare_run` has checked and resolved the run without
touching its folder; here the run's specification and every planned cell (pending) are recorded, each method's
input is computed once, the cells go to an executor, and every outcome is written to the results database.
Executing a cell is the pure `mebench.engine.execute`. Finished cells are skipped on the next run (resume); a
cell that raises is stored as failed with its error and the grid goes on. Checkpoint evaluation
(mebench.checkpoints) executes its plan the same way.
"""

from __future__ import annotations

import json
import platform
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mebench.dataset import Dataset
from mebench.engine import CellInputs, CellOutcome, CellSpec, canonical_json
from mebench.plan import PlannedMethod, RunConfig, RunPlan, Slot, prepare_run
from mebench.progress import CellFinished, Progress, as_progress
from mebench.store import PredictionRow, ResultStore
from mebench.trackers import make_tracker
from mebench.tuning import best_first
from mebench.version import __version__

__all__ = ["RunSummary", "Progress", "run_grid", "execute_plan"]


@dataclass
class RunSummary:
    """What a run did: cells planned, skipped (finished before), run and failed, and notes (e.g. which
    methods a global --param did not reach)."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell description, error)
    notes: list[str] = field(default_factory=list)
    out: Path | None = None


def versions() -> dict[str, str]:
    import torch

    return {"mebench": __version__, "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def choose_winners(store: ResultStore, slots: Sequence[Slot]) -> tuple[list[CellSpec], list[Slot]]:
    """The nested rule's choices that can be made now: for each slot whose configurations' inner cells are all
    done, the outer cells of the configuration with the best UF1 on its held-out training subjects (ties: the
    first in grid order). Only the inner cells' predictions are read. Returns (their cells, the slots left)."""
    from mebench.metrics import uf1

    if not slots or not store.exists():
        return [], list(slots)
    preds = store.cell_predictions({k for slot in slots for k in slot.inner})
    by_key = {k: (part["y_true"].to_numpy(), part["y_pred"].to_numpy()) for k, part in preds.groupby("cell_key")}
    chosen: list[CellSpec] = []
    left: list[Slot] = []
    for slot in slots:
        scores = [uf1(*by_key[k], slot.n_classes) if k in by_key else None for k in slot.inner]
        best = best_first(scores)
        if best is None:
            left.append(slot)
        else:
            chosen.extend(slot.outer[best])
    return chosen, left


def plan_record(spec: CellSpec, dataset: Dataset, method: PlannedMethod, selections: Sequence[str], run_id: int | None,
                roles: Sequence[str] = ("run",)) -> dict[str, Any]:
    """A cell's row in the results database, without outcome; `roles`: what it is planned for (run: a result row
    of its own; fixed: a configuration's row of a search; search: read by a search's rule only; inner: a nested
    search's inner training)."""
    return dict(key=spec.key, roles=json.dumps(list(roles)), run_id=run_id, method=spec.method, preset=spec.preset,
                params=canonical_json(spec.params), params_hash=spec.params_hash, dataset=dataset.name,
                dataset_source=dataset.source, dataset_fingerprint=dataset.fingerprint, protocol=spec.protocol,
                fold=spec.fold, n_folds=spec.n_folds, seed=spec.seed, training=spec.training,
                selections=json.dumps(list(selections)), record_epochs=int(spec.record_epochs),
                precision=spec.precision, class_names=json.dumps(list(dataset.class_names)),
                mebench_version=__version__, versions=json.dumps(versions()), display_name=method.display_name,
                method_version=method.version)


def cell_inputs(dataset: Dataset, representation: str) -> CellInputs:
    s = dataset.samples
    return CellInputs(dataset.features(representation), dataset.labels(), s["subject_key"].to_numpy(),
                      s["dataset"].to_numpy(), list(s["sample"]), len(dataset.class_names))


def store_outcome(store: ResultStore, dataset: Dataset, spec: CellSpec, record: dict[str, Any],
                  outcome: CellOutcome | None, error: str | None, started_at: str) -> bool:
    """Write a finished cell: its outcome, predictions and epoch record, or its error. False when a failure
    was not written because the cell holds a finished result from before (kept)."""
    base = {**record, "started_at": started_at, "finished_at": now()}
    if outcome is None:
        return store.save_cell({**base, "status": "failed", "error": error})
    table = dataset.samples.iloc[dataset.rows(spec.test)]
    preds = [PredictionRow(sample=s, dataset=d, subject=subj, y_true=int(t), y_pred=int(p.argmax()), proba=p.tolist(),
                           epoch=int(e) if e >= 0 else None)
             for s, d, subj, t, p, e in zip(table["sample"], table["dataset"], table["subject"], table["label_index"],
                                            outcome.proba, outcome.epochs)]
    # the sizes (counted by the worker) are stored with every cell, so methods.csv lists them even after the
    # method's plugin is uninstalled
    return store.save_cell({**base, **outcome.size, "status": "done", "error": None, "seconds": outcome.seconds,
                            "selected_epochs": json.dumps(outcome.details) if outcome.details else None,
                            "device": outcome.runtime.get("device"), "runtime": json.dumps(outcome.runtime)},
                           preds, (spec.test, outcome.record) if outcome.record is not None else None,
                           outcome.epoch_metrics)


def record_data(store: ResultStore, plan: RunPlan) -> None:
    """Before a cell is planned into a run folder: refuse data that differ from what its results were computed
    on (store.record_data), and store the protocol's reporting groups."""
    dataset, label = plan.dataset, plan.protocol.label()
    store.record_data(dataset.source, plan.pipeline.text(), label, dataset.fingerprint, dataset.samples)
    store.save_groups(label, dataset.fingerprint, plan.protocol.groups(dataset.samples), dataset.samples["sample"])


def run_grid(config: RunConfig, progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Prepare the run (mebench.plan.prepare_run: every check before the run folder is touched) and execute it."""
    return execute_plan(prepare_run(config), progress)


def execute_plan(plan: RunPlan, progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Run every cell of a prepared plan that is not finished yet (all of them with `plan.rerun`), storing each.

    A nested search runs in two rounds: its inner cells (with every other cell), then the outer trainings of the
    configurations they chose (those known from an earlier run join the first round)."""
    from mebench.executors import Interrupted, Task, make_executor

    progress = as_progress(progress)
    tracker = make_tracker(plan.tracker, plan.out)
    dataset, run = plan.dataset, plan.execution
    roles = {k: list(v) for k, v in plan.roles.items()}  # grows by the nested winners, as they are chosen

    def add(spec: CellSpec, role: str) -> None:
        if role not in roles.setdefault(spec.key, []):
            roles[spec.key].append(role)

    def executor_for(n_tasks: int):
        return make_executor(run.executor, run.device, run.workers, run.cells_per_gpu, run.retries, run.ray_address,
                             n_tasks=n_tasks, cell_timeout=run.cell_timeout)

    store = ResultStore(plan.out)
    store.ensure_writable()
    with store.lock(plan.command):
        record_data(store, plan)
        for search in plan.searches:
            store.save_search(dict(search))
        cells = list(plan.cells)
        waiting = list(plan.slots)
        if not plan.rerun:  # choices whose inner cells finished in an earlier run: their winners join this round
            known, waiting = choose_winners(store, waiting)
            for spec in known:
                if spec.key not in roles:
                    cells.append(spec)
                add(spec, "search")
        # a selection added on resume (final, then final,oracle) may need the epochs a finished cell did not record
        finished = set() if plan.rerun else store.finished_keys({c.key for c in cells if c.record_epochs})
        todo = [c for c in cells if c.key not in finished]
        # the winners' cells, planned after the inner cells are scored
        later = sum(len(plan.methods[s.method].selection.trainings()) for s in waiting)
        executor = executor_for(len(todo) + later)
        run_id = store.begin_run(plan.command, {**plan.spec, "execution": executor.describe()}, socket.gethostname(),
                                 versions(), now())

        def record_of(spec: CellSpec) -> dict[str, Any]:
            method = plan.methods[spec.method]
            return plan_record(spec, dataset, method, method.selections_of(spec.training), run_id, roles[spec.key])

        records = {c.key: record_of(c) for c in cells}
        store.plan(records.values())
        # a cell whose stored plan records its epochs (an earlier run read oracle off it) records them again
        recording = store.recording_keys()
        todo = [replace(c, record_epochs=True) if c.key in recording and not c.record_epochs else c for c in todo]
        summary = RunSummary(total=len(cells) + later, skipped=len(cells) - len(todo), out=plan.out,
                             notes=list(plan.notes))
        inputs: dict[str, CellInputs] = {}  # every method's input once, before any training starts

        def tasks_of(specs: Sequence[CellSpec]) -> list[Task]:
            for spec in specs:
                representation = plan.methods[spec.method].representation
                if representation not in inputs:
                    inputs[representation] = cell_inputs(dataset, representation)
            return [Task(spec, plan.methods[spec.method].ref, plan.methods[spec.method].representation)
                    for spec in specs]

        tasks = tasks_of(todo)
        started_at: dict[str, str] = {}

        def started(spec: CellSpec) -> None:
            started_at[spec.key] = now()
            store.mark_running(spec.key, started_at[spec.key])
            progress.cell_started(spec)

        def done(spec: CellSpec, outcome: CellOutcome | None, error: str | None) -> None:
            written = store_outcome(store, dataset, spec, records[spec.key], outcome, error,
                                    started_at.get(spec.key, now()))
            if outcome is not None:
                summary.done += 1
                if tracker is not None and outcome.epoch_metrics:
                    tracker.log_cell(spec, outcome.epoch_metrics)
            else:
                kept = "" if written else " (its earlier finished result is kept)"
                summary.failed.append((spec.describe() + kept, (error or "?").split("\n", 1)[0]))
            progress.cell_finished(spec, outcome is not None)

        progress.start(summary.total, summary.skipped)
        try:
            executor.run(tasks, inputs, started, done)
            if waiting:  # the nested choices of this round's inner cells: train the winners
                chosen, left = choose_winners(store, waiting)
                fresh = [c for c in dict((c.key, c) for c in chosen).values() if c.key not in records]
                for spec in chosen:
                    add(spec, "search")
                records.update({c.key: record_of(c) for c in fresh})
                store.plan([records[c.key] for c in fresh])
                finished = set() if plan.rerun else store.finished_keys({c.key for c in fresh if c.record_epochs})
                todo = [c for c in fresh if c.key not in finished]
                summary.total -= later - len(fresh)
                summary.skipped += len(fresh) - len(todo)
                for spec in fresh:
                    if spec.key in finished:
                        progress.cell_finished(spec, True)
                if todo:
                    executor_for(len(todo)).run(tasks_of(todo), inputs, started, done)
                for slot in left:
                    summary.notes.append(f"--tuning nested: {slot.method} fold {slot.fold} seed {slot.seed}: no "
                                         "configuration chosen, since some of its inner cells did not finish; run the "
                                         "same command again to compute them")
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(f"interrupted: {summary.done + summary.skipped} of {summary.total} cells are finished "
                              f"and stored in {plan.out}; run the same command again to compute the rest") from None
        finally:
            if tracker is not None:
                tracker.close()
        store.finish_run(run_id, now())
    return summary
