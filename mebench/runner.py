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
from dataclasses import asdict, dataclass, field, replace
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
from mebench.protocol import Fold, Protocol, check_folds, make_protocol
from mebench.representations import check_inputs
from mebench.progress import CellFinished, Progress, as_progress
from mebench.selection import FULL, EpochSelection, fixed_epochs
from mebench.sizes import stored_size
from mebench.store import PredictionRow, ResultStore
from mebench.trackers import make_tracker
from mebench.tuning import Search, best_first, check_rules, inner_training, is_inner, resolve_searches
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
    retries: int = 1  # tries again a cell whose worker died, stalled or ran out of time
    ray_address: str | None = None  # a running Ray cluster; none: a local instance for this run
    cell_timeout: float | None = None  # seconds one cell may take before it fails (and is retried); None: no limit
    tuning: tuple[str, ...] = ()  # hyperparameter search rules (mebench.tuning): nested, test-scored, fixed
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # the user's grid: (NAME or METHOD.NAME, values)
    tracker: str = ""  # also write each training's epochs to "tensorboard" or "mlflow" (mebench.trackers)

    def spec(self) -> dict[str, Any]:
        """The run's specification as stored in the results database (JSON-serialisable)."""
        from mebench.datasets.raw.pipeline import PipelineConfig

        return {"methods": list(self.methods), "protocol": self.protocol,
                "data": [self.data] if isinstance(self.data, str) else list(self.data),
                "pipeline": PipelineConfig.from_text(self.pipeline).text(), "preset": self.preset,
                "seeds": list(self.seeds), "epoch_selection": asdict(self.selection),
                "params": [[k, v] for k, v in self.params], "rerun": self.rerun, "precision": self.precision,
                "device": self.device, "executor": self.executor, "workers": self.workers,
                "cells_per_gpu": self.cells_per_gpu, "retries": self.retries, "ray_address": self.ray_address,
                "cell_timeout": self.cell_timeout, "tuning": list(self.tuning),
                "grid": [[k, list(v)] for k, v in self.grid], "tracker": self.tracker}


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
        from mebench.datasets.raw import raw_kinds

        raise ConfigError(f"--pipeline {config.text()}: dataset kind {kind!r} has no preprocessing pipeline "
                          f"(the options apply to raw datasets: {', '.join(raw_kinds())})")
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
    if config.cache_dir is not None and Path(config.cache_dir).exists() and not Path(config.cache_dir).is_dir():
        raise ConfigError(f"--cache-dir {config.cache_dir} is a file, not a folder")
    if config.cell_timeout is not None and not config.cell_timeout > 0:
        raise ConfigError(f"--cell-timeout {config.cell_timeout}: a number of seconds above 0 (or none for no limit)")
    classes = {name: plugins.methods.get(name) for name in config.methods}
    param_notes(classes, config.params)
    resolved = {}
    for name, cls in classes.items():
        resolved[name] = (cls, method_params(cls, config.preset, config.params))
        method_selection(config.selection, cls)  # refuses a method that no asked selection applies to
        if config.precision != "fp32" and not hasattr(cls, "build_network"):
            raise ConfigError(f"--precision {config.precision}: method {name!r} is not a torch method")
    searches = tuning_searches(config, resolved)
    for name, (_, params) in resolved.items():  # a searched method trains its grid's configurations, not its preset
        for one in searches[name].configs if name in searches else [params]:
            _check_epoch_budget(config, name, one, searches.get(name))
    return resolved


def method_selection(selection: EpochSelection, cls: type[Method]) -> EpochSelection:
    """The selections that apply to a method: one that does not train in epochs gets `final` alone (it has no
    other epoch to read), so a grid can mix it with iterative methods; ConfigError when `final` is not asked for."""
    needs = selection.needs_iterations()
    if not needs or cls.info.iterative:
        return selection
    if "final" not in selection.names:
        raise ConfigError(f"--epoch-selection {','.join(needs)}: method {cls.info.name!r} does not train in epochs "
                          "(MethodInfo.iterative is False), so it has no epoch to select; use final (or add it: "
                          f"final,{','.join(needs)} applies the others to the iterative methods only)")
    return replace(selection, name="final")


def selection_notes(selection: EpochSelection, classes: dict[str, type[Method]]) -> list[str]:
    """One note naming the methods an epoch selection other than final does not apply to (they do not train in
    epochs), as param_notes names those a global --param does not reach."""
    needs = selection.needs_iterations()
    lacking = [n for n, cls in classes.items() if needs and not cls.info.iterative]
    if not lacking:
        return []
    having = [n for n in classes if n not in lacking]
    return [f"--epoch-selection {','.join(needs)} applies to {', '.join(having) or 'no method of this run'}; not to "
            f"{', '.join(lacking)} (they do not train in epochs: final only)"]


def _check_epoch_budget(config: RunConfig, name: str, params: dict[str, Any], search: Search | None = None) -> None:
    budget = params.get("epochs")
    selection = method_selection(config.selection, plugins.methods.get(name))
    beyond = [e for e in fixed_epochs(selection.names) if isinstance(budget, int) and e > budget]
    if beyond:
        where = f" (the configuration {search.label(search.configs.index(params))} of its grid)" if search else ""
        raise ConfigError(f"--epoch-selection epoch:{beyond[0]}: method {name!r} trains {budget} epochs here{where}, so "
                          f"it has no epoch {beyond[0]}; choose an epoch up to {budget} (or raise --param epochs)")


def tuning_searches(config: RunConfig, resolved: dict[str, tuple[type[Method], dict[str, Any]]],
                    notes: list[str] | None = None) -> dict[str, Search]:
    """method -> its hyperparameter search (mebench.tuning.resolve_searches): empty without --tuning."""
    rules = check_rules(config.tuning)
    classes = {name: cls for name, (cls, _) in resolved.items()}
    return resolve_searches(classes, resolved, rules, config.grid, config.params, config.preset,
                            config.selection.validation_subjects, RUNNER_PARAMS, notes)


def check_selection(selection: EpochSelection, dataset: Dataset, folds: Sequence[Fold], nested: bool = False) -> None:
    """Options of the epoch selection (and of the nested rule's inner split, the same) that depend on the folds
    (before anything trains)."""
    if "validation" not in selection.names and not nested:
        return
    subject_of = dict(zip(dataset.samples["sample"], dataset.samples["subject_key"]))
    fewest = min(folds, key=lambda f: len({subject_of[s] for s in f.train}))
    n = len({subject_of[s] for s in fewest.train})
    if selection.validation_subjects >= n:
        raise ConfigError(f"--validation-subjects {selection.validation_subjects}: fold {fewest.id} has only {n} "
                          f"training subjects; hold out fewer than {n}")


@dataclass
class Slot:
    """One nested choice still to make: a search's (seed, outer fold). Once the configurations' inner cells are
    done, the best one's outer trainings (`outer[i]`) are planned."""

    search: str  # search id
    method: str
    seed: int
    fold: str
    inner: tuple[str, ...]  # inner cell key per configuration, grid order
    outer: tuple[tuple[CellSpec, ...], ...]  # per configuration: its outer cells (one per training)
    n_classes: int


@dataclass
class Plan:
    """Every cell of a run, what each is planned for (`roles`: run, fixed, search, inner), the searches' records
    and the nested choices whose winners are planned once their inner cells are scored."""

    cells: list[CellSpec]
    roles: dict[str, list[str]]
    searches: list[dict[str, Any]] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    def add(self, spec: CellSpec, role: str) -> None:
        if spec.key not in self.roles:
            self.cells.append(spec)
            self.roles[spec.key] = [role]
        elif role not in self.roles[spec.key]:
            self.roles[spec.key].append(role)


def plan_cells(config: RunConfig, dataset: Dataset, protocol: Protocol,
               resolved: dict[str, tuple[type[Method], dict[str, Any]]] | None = None) -> list[CellSpec]:
    """Every cell of the grid, after the protocol's folds have passed the structural checks (`check_folds`)."""
    return plan_grid(config, dataset, protocol, resolved).cells


def plan_grid(config: RunConfig, dataset: Dataset, protocol: Protocol,
              resolved: dict[str, tuple[type[Method], dict[str, Any]]] | None = None,
              searches: dict[str, Search] | None = None) -> Plan:
    """The run's cells. A method without a search: its trainings x seeds x folds. A searched method
    (mebench.tuning): every configuration's outer trainings when `fixed` or `test-scored` is asked; for
    `nested`, every configuration's inner training per seed and fold (training `inner:K`: the fold's training
    subjects less the K held out by `validation_subjects`, predicting those K), and, unless every configuration's
    outer cells are planned anyway, one slot per seed and fold whose winner is planned once it is known."""
    from mebench.engine import params_hash
    from mebench.selection import validation_subjects

    resolved = check_config(config) if resolved is None else resolved
    searches = tuning_searches(config, resolved) if searches is None else searches
    folds = protocol.folds(dataset.samples)
    check_folds(protocol, dataset.samples, folds)
    check_selection(config.selection, dataset, folds, nested=any("nested" in s.rules for s in searches.values()))
    num_classes = len(dataset.class_names)
    selections = {name: method_selection(config.selection, cls) for name, (cls, _) in resolved.items()}
    seeds = check_seeds(config.seeds)
    plan = Plan([], {})
    samples = dataset.samples.set_index("sample")

    def outer(name: str, base: dict[str, Any], training: str, seed: int, fold: Fold) -> CellSpec:
        record = training == FULL and selections[name].records_epochs()
        return CellSpec(name, config.preset, base, protocol.label(), fold.id, fold.train, fold.test, seed, training,
                        record, config.precision, dataset.fingerprint, len(folds))

    for name, (cls, params) in resolved.items():
        search = searches.get(name)
        trainings = selections[name].trainings()
        configs = [cls.check_params({**c, "num_classes": num_classes}) for c in (search.configs if search else [params])]
        if search is None:
            for training in trainings:
                for seed in seeds:
                    for fold in folds:
                        plan.add(outer(name, configs[0], training, seed, fold), "run")
            continue
        every_outer = "fixed" in search.rules or "test-scored" in search.rules
        if every_outer:
            role = "fixed" if "fixed" in search.rules else "search"
            for base in configs:
                for training in trainings:
                    for seed in seeds:
                        for fold in folds:
                            plan.add(outer(name, base, training, seed, fold), role)
        hashes = [params_hash(b) for b in configs]
        sid = search.search_id(config.preset, protocol.label(), dataset.fingerprint, config.precision, hashes)
        plan.searches.append(dict(
            id=sid, method=name, preset=config.preset, protocol=protocol.label(),
            dataset_fingerprint=dataset.fingerprint, precision=config.precision, source=search.source,
            names=json.dumps(list(search.names)), grid=canonical_json([list(v) for v in search.grid]),
            configs=canonical_json([[h, {n: b[n] for n in search.names}] for h, b in zip(hashes, configs)]),
            inner_subjects=search.inner_subjects, rules=json.dumps(list(search.rules))))
        if "nested" not in search.rules:
            continue
        count = search.inner_subjects
        for seed in seeds:
            for fold in folds:
                train = samples.loc[list(fold.train)]
                held = set(validation_subjects(train.reset_index()[["subject_key", "dataset"]], count, seed))
                inside = train["subject_key"].isin(held).to_numpy()
                inner_train = tuple(s for s, v in zip(fold.train, inside) if not v)
                inner_test = tuple(s for s, v in zip(fold.train, inside) if v)
                keys = []
                for base in configs:
                    spec = CellSpec(name, config.preset, base, protocol.label(), fold.id, inner_train, inner_test, seed,
                                    inner_training(count), False, config.precision, dataset.fingerprint, len(folds))
                    plan.add(spec, "inner")
                    keys.append(spec.key)
                if not every_outer:
                    plan.slots.append(Slot(sid, name, seed, fold.id, tuple(keys),
                                           tuple(tuple(outer(name, base, t, seed, fold) for t in trainings)
                                                 for base in configs), num_classes))
    return plan


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


def plan_record(spec: CellSpec, dataset: Dataset, selections: Sequence[str], run_id: int | None,
                roles: Sequence[str] = ("run",), described: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """A cell's row in the results database, without outcome; `roles`: what it is planned for (run: a result row
    of its own; fixed: a configuration's row of a search; search: read by a search's rule only; inner: a nested
    search's inner training). `described`: method -> (display name, method version), looked up once per run (the
    version reads the installed distributions' metadata, which costs tens of milliseconds a call)."""
    if described is not None and spec.method not in described:
        described[spec.method] = (plugins.methods.get(spec.method).info.display_name, plugins.method_version(spec.method))
    display_name, method_version = described[spec.method] if described is not None else (
        plugins.methods.get(spec.method).info.display_name, plugins.method_version(spec.method))
    return dict(key=spec.key, roles=json.dumps(list(roles)), run_id=run_id, method=spec.method, preset=spec.preset, params=canonical_json(spec.params),
                params_hash=spec.params_hash, dataset=dataset.name, dataset_source=dataset.source,
                dataset_fingerprint=dataset.fingerprint, protocol=spec.protocol, fold=spec.fold, n_folds=spec.n_folds,
                seed=spec.seed, training=spec.training, selections=json.dumps(list(selections)),
                record_epochs=int(spec.record_epochs), precision=spec.precision,
                class_names=json.dumps(list(dataset.class_names)), mebench_version=__version__,
                versions=json.dumps(versions()), display_name=display_name, method_version=method_version)


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
    # counted once per configuration, so methods.csv lists them even after the method's plugin is uninstalled
    # (the ignore: a class is hashable, but mypy checks type[Method] against Hashable through Method.__hash__)
    size = (stored_size(plugins.methods.get(spec.method), record["params"])  # type: ignore[arg-type]
            if spec.training != "checkpoint" else {})
    return store.save_cell({**base, **size, "status": "done", "error": None, "seconds": outcome.seconds,
                            "selected_epochs": json.dumps(outcome.details) if outcome.details else None,
                            "device": outcome.runtime.get("device"), "runtime": json.dumps(outcome.runtime)},
                           preds, (spec.test, outcome.record) if outcome.record is not None else None,
                           outcome.epoch_metrics)


def record_data(store: ResultStore, dataset: Dataset, protocol: Protocol, pipeline: str) -> None:
    """Before a cell is planned into a run folder: refuse data that differ from what its results were computed
    on (store.record_data), and store the protocol's reporting groups."""
    from mebench.datasets.raw.pipeline import PipelineConfig

    store.record_data(dataset.source, PipelineConfig.from_text(pipeline).text(), protocol.label(), dataset.fingerprint,
                      dataset.samples)
    store.save_groups(protocol.label(), dataset.fingerprint, protocol.groups(dataset.samples), dataset.samples["sample"])


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


def run_grid(config: RunConfig, progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Run every cell of the grid that is not finished yet (all of them with `rerun`).

    Everything that can be checked is checked before the run folder is touched: the options, the data,
    the protocol's folds and the executor's settings; a mistake leaves no folder, database or lock behind.
    A nested search runs in two rounds: its inner cells (with every other cell), then the outer trainings of the
    configurations they chose (those known from an earlier run join the first round)."""
    from mebench.executors import Interrupted, Task, check_executor, make_executor
    from mebench.training import resolve_device

    progress = as_progress(progress)
    tracker = make_tracker(config.tracker, Path(config.out))
    resolved = check_config(config)
    search_notes: list[str] = []
    searches = tuning_searches(config, resolved, search_notes)
    device = resolve_device(config.device)
    check_executor(config.executor, device, config.workers, config.cells_per_gpu, config.retries, config.ray_address)
    protocol = make_protocol(config.protocol)
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, config.pipeline))
    check_inputs(dataset, {name: cls.info.input for name, (cls, _params) in resolved.items()})  # before any folder
    plan = plan_grid(config, dataset, protocol, resolved, searches)
    trainings = {name: method_selection(config.selection, cls).trainings() for name, (cls, _) in resolved.items()}

    def selections_of(spec: CellSpec) -> tuple[str, ...]:
        return ("final",) if is_inner(spec.training) else trainings[spec.method][spec.training]

    store = ResultStore(config.out)
    store.ensure_writable()
    with store.lock("run"):
        record_data(store, dataset, protocol, config.pipeline)
        for search in plan.searches:
            store.save_search(search)
        waiting = plan.slots
        if not config.rerun:  # choices whose inner cells finished in an earlier run: their winners join this round
            known, waiting = choose_winners(store, waiting)
            for spec in known:
                plan.add(spec, "search")
        cells = plan.cells
        # a selection added on resume (final, then final,oracle) may need the epochs a finished cell did not record
        finished = set() if config.rerun else store.finished_keys({c.key for c in cells if c.record_epochs})
        todo = [c for c in cells if c.key not in finished]
        later = sum(len(trainings[s.method]) for s in waiting)  # the winners' cells, planned after the inner cells are scored
        executor = make_executor(config.executor, device, config.workers, config.cells_per_gpu, config.retries,
                                 config.ray_address, n_tasks=len(todo) + later, cell_timeout=config.cell_timeout)
        run_id = store.begin_run("run", {**config.spec(), "execution": executor.describe()}, socket.gethostname(),
                                 versions(), now())
        described: dict[str, tuple[str, str]] = {}
        records = {c.key: plan_record(c, dataset, selections_of(c), run_id, plan.roles[c.key], described)
                   for c in cells}
        store.plan(records.values())
        # a cell whose stored plan records its epochs (an earlier run read oracle off it) records them again
        recording = store.recording_keys()
        todo = [replace(c, record_epochs=True) if c.key in recording and not c.record_epochs else c for c in todo]
        summary = RunSummary(total=len(cells) + later, skipped=len(cells) - len(todo), out=Path(config.out),
                             notes=param_notes({m: plugins.methods.get(m) for m in config.methods}, config.params))
        summary.notes += selection_notes(config.selection, {m: cls for m, (cls, _) in resolved.items()})
        summary.notes += search_notes
        for search in plan.searches:
            s = searches[search["method"]]
            summary.notes.append(f"--tuning {','.join(s.rules)}: {search['method']}: {s.size} configurations "
                                 f"({'its declared search space' if s.source == 'declared' else '--grid'}: "
                                 f"{s.grid_text()})")
        # every method's input first, once, so a data problem surfaces before any training starts
        inputs: dict[str, CellInputs] = {}

        def tasks_of(specs: Sequence[CellSpec]) -> list[Task]:
            representation = {name: plugins.methods.get(name).info.input for name in dict.fromkeys(c.method for c in specs)}
            for rep in dict.fromkeys(representation.values()):
                if rep not in inputs:
                    inputs[rep] = cell_inputs(dataset, rep)
            references = {name: method_reference(name) for name in representation}  # one look-up per method
            return [Task(spec, references[spec.method], representation[spec.method]) for spec in specs]

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
                    plan.add(spec, "search")
                records.update({c.key: plan_record(c, dataset, selections_of(c), run_id, plan.roles[c.key],
                                                   described) for c in fresh})
                store.plan([records[c.key] for c in fresh])
                finished = set() if config.rerun else store.finished_keys({c.key for c in fresh if c.record_epochs})
                todo = [c for c in fresh if c.key not in finished]
                summary.total -= later - len(fresh)
                summary.skipped += len(fresh) - len(todo)
                for spec in fresh:
                    if spec.key in finished:
                        progress.cell_finished(spec, True)
                if todo:
                    second = make_executor(config.executor, device, config.workers, config.cells_per_gpu,
                                           config.retries, config.ray_address, n_tasks=len(todo),
                                           cell_timeout=config.cell_timeout)
                    second.run(tasks_of(todo), inputs, started, done)
                for slot in left:
                    summary.notes.append(f"--tuning nested: {slot.method} fold {slot.fold} seed {slot.seed}: no "
                                         "configuration chosen, since some of its inner cells did not finish; run the "
                                         "same command again to compute them")
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(f"interrupted: {summary.done + summary.skipped} of {summary.total} cells are finished "
                              f"and stored in {config.out}; run the same command again to compute the rest") from None
        finally:
            if tracker is not None:
                tracker.close()
        store.finish_run(run_id, now())
    return summary
