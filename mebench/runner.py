"""Plan the grid methods x protocol folds x seeds, execute its cells, and store each one as it finishes.

The driver does everything stateful: it checks what can be checked without training (method
parameters against their declarations, seeds, protocol options, the data, that the run folder can
be written), records the run's specification and every planned cell (pending), computes each
method's input once, hands the cells to an executor, and writes every outcome to the results
database. Executing a cell is the pure `mebench.engine.execute`. Finished cells are skipped on the
next run (resume); a cell that raises is stored as failed with its error and the grid goes on.
"""

from __future__ import annotations

import json
import platform
import socket
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mebench import plugins
from mebench.dataset import Dataset, parse_data_spec
from mebench.engine import PRECISIONS, CellInputs, CellOutcome, CellSpec, canonical_json, execute
from mebench.errors import ConfigError
from mebench.method import Method
from mebench.params import SEED_MAX
from mebench.protocol import Fold, Protocol, make_protocol
from mebench.selection import FULL, EpochSelection
from mebench.store import PredictionRow, ResultStore
from mebench.version import __version__

# Set by the runner for every cell, never by a preset or --param.
RUNNER_PARAMS = ("num_classes", "seed")

__all__ = ["RunConfig", "RunSummary", "Progress", "run_grid", "load_dataset", "plan_cells", "check_config"]


@dataclass(frozen=True)
class RunConfig:
    methods: tuple[str, ...]
    protocol: str
    out: Path
    data: str | tuple[str, ...] = "synthetic"  # one KIND[:PATH] spec, or several combined
    preset: str = "paper"
    seeds: tuple[int, ...] = (0,)
    selection: EpochSelection = EpochSelection()
    params: tuple[tuple[str, Any], ...] = ()  # overrides applied to every method that has the parameter
    rerun: bool = False
    cache_dir: Path | None = None
    pipeline: str = ""  # raw datasets' preprocessing options, e.g. "htnet-casme3" or "flow=farneback"
    precision: str = "fp32"  # part of every cell's identity
    device: str = "cpu"  # where cells run (not part of their identity): auto, cpu, cuda, cuda:N, mps
    executor: str = "serial"  # serial, local, ray, or auto (the CLI's default)
    workers: int | str = "auto"  # local worker processes / Ray cells in flight
    cells_per_gpu: int = 1
    retries: int = 1  # tries again a cell whose worker died
    ray_address: str | None = None  # a running Ray cluster; none: a local instance for this run

    def spec(self) -> dict[str, Any]:
        """The run's specification as stored in the results database (JSON-serialisable)."""
        from mebench.datasets.raw.pipeline import PipelineConfig

        return {"methods": list(self.methods), "protocol": self.protocol,
                "data": [self.data] if isinstance(self.data, str) else list(self.data),
                "pipeline": PipelineConfig.from_text(self.pipeline).text(), "preset": self.preset,
                "seeds": list(self.seeds), "epoch_selection": asdict(self.selection),
                "params": [[k, v] for k, v in self.params], "rerun": self.rerun, "precision": self.precision,
                "device": self.device, "executor": self.executor, "workers": self.workers,
                "cells_per_gpu": self.cells_per_gpu, "retries": self.retries, "ray_address": self.ray_address}


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


class Progress:
    """Callbacks the CLI implements to show progress; the default does nothing."""

    def start(self, total: int, skipped: int) -> None: ...

    def cell_started(self, spec: CellSpec) -> None: ...

    def cell_finished(self, spec: CellSpec, ok: bool) -> None: ...


def versions() -> dict[str, str]:
    import torch

    return {"mebench": __version__, "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_dataset(spec: str | Sequence[str], cache_dir: Path | None = None, pipeline: str = "") -> Dataset:
    """One `--data` spec, or several combined into one dataset (mebench.datasets.combine). `pipeline`:
    the raw datasets' preprocessing options (mebench.datasets.raw.pipeline.PipelineConfig.from_text);
    a dataset kind without a pipeline refuses options other than the defaults."""
    import inspect

    from mebench.datasets.raw.pipeline import PipelineConfig

    if not isinstance(spec, str):
        specs = list(spec)
        if len(specs) != 1:
            from mebench.datasets.combine import combine_datasets

            return combine_datasets([load_dataset(s, cache_dir, pipeline) for s in specs])
        spec = specs[0]
    kind, path = parse_data_spec(spec)
    loader = plugins.datasets.get(kind)
    config = PipelineConfig.from_text(pipeline)
    if "pipeline" in inspect.signature(loader).parameters:
        return loader(path, cache_dir=cache_dir, pipeline=config)
    if config != PipelineConfig():
        raise ConfigError(f"--pipeline {config.text()}: dataset kind {kind!r} has no preprocessing pipeline "
                          "(the options apply to raw datasets: casme2, samm, smic, casme3, mmew, casme1)")
    return loader(path, cache_dir=cache_dir)


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """Seeds as a tuple in the order given, each once; ConfigError for a seed out of range."""
    if not seeds:
        raise ConfigError("--seeds is empty")
    out: list[int] = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) <= SEED_MAX:
            raise ConfigError(f"--seeds {s!r}: a seed is an integer from 0 to {SEED_MAX}")
        if int(s) not in out:
            out.append(int(s))
    return tuple(out)


def method_params(cls: type[Method], preset: str, overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The method's checked parameters for `preset` with the overrides that reach it (no seed, no num_classes):
    a global NAME where it has NAME, and every METHOD.NAME of this method."""
    name = cls.info.name
    if preset not in cls.info.presets:
        raise ConfigError(f"method {name!r} has no preset {preset!r}; presets: {', '.join(cls.info.presets)}")
    names = set(cls.param_names())
    keys = {k.split(".", 1)[1] if "." in k else k for k, _ in overrides}
    fixed = sorted(keys & set(RUNNER_PARAMS))
    if fixed:
        raise ConfigError(f"--param {', '.join(fixed)}: set by mebench for every cell (use --seeds for the seed)")
    params = dict(cls.param_defaults())
    params.update(cls.info.presets[preset])
    params.update({k: v for k, v in overrides if "." not in k and k in names})
    for key, value in overrides:
        target, sep, param = key.partition(".")
        if sep and target == name:
            if param not in names:
                raise ConfigError(f"--param {key}: method {name!r} has no parameter {param!r}; its parameters: "
                                  f"{', '.join(n for n in cls.param_names() if n not in RUNNER_PARAMS)}")
            params[param] = value
    for runner_param in RUNNER_PARAMS:
        params.pop(runner_param, None)
    return cls.check_params(params)


def param_notes(classes: dict[str, type[Method]], overrides: Sequence[tuple[str, Any]]) -> list[str]:
    """What each override reaches: a global NAME that some of the methods lack is named with them; a
    NAME no method has, or a METHOD.NAME for a method not in the run, is an error."""
    notes = []
    for key, _ in overrides:
        target, sep, param = key.partition(".")
        if sep:
            if target not in classes:
                import difflib

                close = difflib.get_close_matches(target, list(classes), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; the run's methods: {', '.join(classes)}"
                raise ConfigError(f"--param {key}: {target!r} is not a method of this run{hint}")
            continue
        having = [n for n, cls in classes.items() if key in cls.param_names()]
        if not having:
            raise ConfigError(f"--param {key}: no selected method has such a parameter")
        lacking = [n for n in classes if n not in having]
        if lacking:
            notes.append(f"--param {key} applies to {', '.join(having)}; not to {', '.join(lacking)} "
                         "(no such parameter)")
    return notes


def check_config(config: RunConfig) -> dict[str, tuple[type[Method], dict[str, Any]]]:
    """Validate the options that need no data (so a typo fails before any feature is computed):
    method name -> (class, checked parameters)."""
    from mebench.datasets.raw.pipeline import PipelineConfig

    check_seeds(config.seeds)
    make_protocol(config.protocol)
    PipelineConfig.from_text(config.pipeline)
    if config.precision not in PRECISIONS:
        raise ConfigError(f"--precision {config.precision!r}: one of {', '.join(PRECISIONS)}")
    classes = {name: plugins.methods.get(name) for name in config.methods}
    param_notes(classes, config.params)
    resolved = {}
    for name, cls in classes.items():
        resolved[name] = (cls, method_params(cls, config.preset, config.params))
        needs = config.selection.needs_iterations()
        if needs and not cls.info.iterative:
            raise ConfigError(f"--epoch-selection {','.join(needs)}: method {name!r} does not train in epochs "
                              "(MethodInfo.iterative is False), so it has no epoch to select; use final")
        if config.precision != "fp32" and not hasattr(cls, "build_network"):
            raise ConfigError(f"--precision {config.precision}: method {name!r} is not a torch method")
    return resolved


def check_selection(selection: EpochSelection, dataset: Dataset, folds: Sequence[Fold]) -> None:
    """Options of the epoch selection that depend on the folds (before anything trains)."""
    if "validation" not in selection.names:
        return
    subject_of = dict(zip(dataset.samples["sample"], dataset.samples["subject_key"]))
    fewest = min(folds, key=lambda f: len({subject_of[s] for s in f.train}))
    n = len({subject_of[s] for s in fewest.train})
    if selection.validation_subjects >= n:
        raise ConfigError(f"--validation-subjects {selection.validation_subjects}: fold {fewest.id} has only {n} "
                          f"training subjects; hold out fewer than {n}")


def plan_cells(config: RunConfig, dataset: Dataset, protocol: Protocol) -> list[CellSpec]:
    resolved = check_config(config)
    folds = protocol.folds(dataset.samples)
    check_selection(config.selection, dataset, folds)
    num_classes = len(dataset.class_names)
    trainings = config.selection.trainings()
    cells = []
    for name, (cls, params) in resolved.items():
        base = cls.check_params({**params, "num_classes": num_classes})
        for training in trainings:
            record = training == FULL and config.selection.records_epochs()
            for seed in check_seeds(config.seeds):
                for fold in folds:
                    cells.append(CellSpec(name, config.preset, base, protocol.label(), fold.id, fold.train, fold.test,
                                          seed, training, record, config.precision, dataset.fingerprint, len(folds)))
    return cells


def plan_record(spec: CellSpec, dataset: Dataset, selections: Sequence[str], run_id: int | None) -> dict[str, Any]:
    """A cell's row in the results database, without outcome."""
    return dict(key=spec.key, run_id=run_id, method=spec.method, preset=spec.preset, params=canonical_json(spec.params),
                params_hash=spec.params_hash, dataset=dataset.name, dataset_source=dataset.source,
                dataset_fingerprint=dataset.fingerprint, protocol=spec.protocol, fold=spec.fold, n_folds=spec.n_folds,
                seed=spec.seed, training=spec.training, selections=json.dumps(list(selections)),
                record_epochs=int(spec.record_epochs), precision=spec.precision,
                class_names=json.dumps(list(dataset.class_names)), mebench_version=__version__,
                versions=json.dumps(versions()), display_name=plugins.methods.get(spec.method).info.display_name)


def cell_inputs(dataset: Dataset, representation: str) -> CellInputs:
    s = dataset.samples
    return CellInputs(dataset.features(representation), dataset.labels(), s["subject_key"].to_numpy(),
                      s["dataset"].to_numpy(), list(s["sample"]), len(dataset.class_names))


def store_outcome(store: ResultStore, dataset: Dataset, spec: CellSpec, record: dict[str, Any],
                  outcome: CellOutcome | None, error: str | None, started_at: str) -> None:
    """Write a finished cell: its outcome, predictions and epoch record, or its error."""
    base = {**record, "started_at": started_at, "finished_at": now()}
    if outcome is None:
        store.save_cell({**base, "status": "failed", "error": error})
        return
    table = dataset.samples.iloc[dataset.rows(spec.test)]
    preds = [PredictionRow(sample=s, dataset=d, subject=subj, y_true=int(t), y_pred=int(p.argmax()), proba=p.tolist(),
                           epoch=int(e) if e >= 0 else None)
             for s, d, subj, t, p, e in zip(table["sample"], table["dataset"], table["subject"], table["label_index"],
                                            outcome.proba, outcome.epochs)]
    store.save_cell({**base, "status": "done", "error": None, "seconds": outcome.seconds,
                     "selected_epochs": json.dumps(outcome.details) if outcome.details else None,
                     "device": outcome.runtime.get("device"), "runtime": json.dumps(outcome.runtime)},
                    preds, (spec.test, outcome.record) if outcome.record is not None else None)


def execute_or_error(spec: CellSpec, inputs: CellInputs, device: str,
                     compute: Callable[..., CellOutcome] = execute) -> tuple[CellOutcome | None, str | None]:
    try:
        return compute(spec, inputs, device=device), None
    except Exception as exc:  # noqa: BLE001 - a failing cell is stored, never fatal to the grid
        return None, f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=8)


def method_reference(name: str) -> Any:
    """What a worker needs to find a method: its name when every worker has it as an entry point of the
    installed environment, else its class (registered in this process; pickled by reference)."""
    if name in plugins.methods._entry_points():
        return name
    return plugins.methods.get(name)


def run_grid(config: RunConfig, progress: Progress | None = None) -> RunSummary:
    """Run every cell of the grid that is not finished yet (all of them with `rerun`)."""
    from mebench.executors import Interrupted, Task, make_executor
    from mebench.training import resolve_device

    progress = progress or Progress()
    check_config(config)
    device = resolve_device(config.device)
    store = ResultStore(config.out)
    store.ensure_writable()
    with store.lock("run"):
        protocol = make_protocol(config.protocol)
        dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, config.pipeline))
        cells = plan_cells(config, dataset, protocol)
        trainings = config.selection.trainings()
        finished = set() if config.rerun else store.finished_keys()
        todo = [c for c in cells if c.key not in finished]
        executor = make_executor(config.executor, device, config.workers, config.cells_per_gpu, config.retries,
                                 config.ray_address, n_tasks=len(todo))
        run_id = store.begin_run("run", {**config.spec(), "execution": executor.describe()}, socket.gethostname(),
                                 versions(), now())
        records = {c.key: plan_record(c, dataset, trainings[c.training], run_id) for c in cells}
        store.plan(records.values())
        store.save_groups(protocol.label(), dataset.fingerprint, protocol.groups(dataset.samples),
                          dataset.samples["sample"])
        summary = RunSummary(total=len(cells), skipped=len(cells) - len(todo), out=Path(config.out),
                             notes=param_notes({m: plugins.methods.get(m) for m in config.methods}, config.params))
        # every method's input first, once, so a data problem surfaces before any training starts
        representation = {name: plugins.methods.get(name).info.input for name in dict.fromkeys(c.method for c in todo)}
        inputs = {rep: cell_inputs(dataset, rep) for rep in dict.fromkeys(representation.values())}
        tasks = [Task(spec, method_reference(spec.method), representation[spec.method]) for spec in todo]
        started_at: dict[str, str] = {}

        def started(spec: CellSpec) -> None:
            started_at[spec.key] = now()
            progress.cell_started(spec)

        def done(spec: CellSpec, outcome: CellOutcome | None, error: str | None) -> None:
            store_outcome(store, dataset, spec, records[spec.key], outcome, error, started_at.get(spec.key, now()))
            if outcome is not None:
                summary.done += 1
            else:
                summary.failed.append((spec.describe(), (error or "?").split("\n", 1)[0]))
            progress.cell_finished(spec, outcome is not None)

        progress.start(len(cells), summary.skipped)
        try:
            executor.run(tasks, inputs, started, done)
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(f"interrupted: {summary.done + summary.skipped} of {summary.total} cells are finished "
                              f"and stored in {config.out}; run the same command again to compute the rest") from None
        store.finish_run(run_id, now())
    return summary
