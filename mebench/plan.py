"""Prepare a run: resolve its options once into one immutable `RunPlan` that the driver executes.

`prepare_run(RunConfig)` checks everything that can be checked without training, in the order that fails
cheapest first (the options, then the data, the protocol's folds and the executor's settings), and resolves
it once: each method's class, worker reference, checked parameters, applicable epoch selections and search;
the protocol, the pipeline options, the dataset, the folds, the seeds; every cell and what it is planned for.
Nothing here touches a run folder: a mistake leaves nothing behind. `mebench.runner.execute_plan` consumes
the plan (the store, the executors), and so does checkpoint evaluation (`mebench.checkpoints`), whose plan
holds cells that evaluate released state dicts instead of training.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from mebench import plugins
from mebench.dataset import Dataset, parse_data_spec
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.engine import CHECKPOINT, PRECISIONS, CellSpec, MethodRef, canonical_json, params_hash
from mebench.errors import ConfigError
from mebench.method import Method
from mebench.params import SEED_MAX
from mebench.protocol import Fold, Protocol, check_folds, make_protocol
from mebench.selection import FULL, EpochSelection, fixed_epochs, validation_subjects
from mebench.tuning import Search, check_rules, inner_training, is_inner, resolve_searches

# Set by the runner for every cell, never by a preset or --param.
RUNNER_PARAMS = ("num_classes", "seed")

__all__ = ["RunConfig", "CheckedConfig", "PlannedMethod", "Execution", "RunPlan", "Slot", "prepare_run",
           "check_config", "load_dataset", "RUNNER_PARAMS"]


@dataclass(frozen=True)
class RunConfig:
    """A run's options as given (the CLI's and the Python API's); `prepare_run` resolves and checks them."""

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

    def spec(self, pipeline: PipelineConfig | None = None) -> dict[str, Any]:
        """The run's specification as stored in the results database (JSON-serialisable); `pipeline`: the parsed
        --pipeline when the caller has it."""
        pipeline = PipelineConfig.from_text(self.pipeline) if pipeline is None else pipeline
        return {"methods": list(self.methods), "protocol": self.protocol,
                "data": [self.data] if isinstance(self.data, str) else list(self.data),
                "pipeline": pipeline.text(), "preset": self.preset,
                "seeds": list(self.seeds), "epoch_selection": asdict(self.selection),
                "params": [[k, v] for k, v in self.params], "rerun": self.rerun, "precision": self.precision,
                "device": self.device, "executor": self.executor, "workers": self.workers,
                "cells_per_gpu": self.cells_per_gpu, "retries": self.retries, "ray_address": self.ray_address,
                "cell_timeout": self.cell_timeout, "tuning": list(self.tuning),
                "grid": [[k, list(v)] for k, v in self.grid], "tracker": self.tracker}


@dataclass(frozen=True)
class CheckedConfig:
    """What `check_config` resolves without data: every method's class and checked parameters (its preset with
    the overrides that reach it), its search, the protocol, the pipeline options, the seeds, and the notes a user
    should read (a --param or selection that does not reach every method, a search's size)."""

    methods: Mapping[str, tuple[type[Method], dict[str, Any]]]
    searches: Mapping[str, Search]
    protocol: Protocol
    pipeline: PipelineConfig
    seeds: tuple[int, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PlannedMethod:
    """One method of a plan, resolved once: the driver reads its class, a worker loads it through `ref`."""

    name: str
    cls: type[Method]
    ref: MethodRef
    params: Mapping[str, Any]  # checked, without the runner's num_classes and seed
    selection: EpochSelection  # the asked selections that apply to it (final alone for a non-iterative method)
    search: Search | None
    display_name: str
    version: str  # mebench.plugins.method_version: recorded with every cell

    @property
    def representation(self) -> str:
        return self.cls.info.input

    def selections_of(self, training: str) -> tuple[str, ...]:
        """The epoch selections read from one of its cells' trainings."""
        if training == CHECKPOINT:
            return (CHECKPOINT,)
        if is_inner(training):
            return ("final",)
        return self.selection.trainings()[training]


@dataclass(frozen=True)
class Execution:
    """Where the cells run: the executor's checked settings (`mebench.executors`) and the resolved device."""

    executor: str
    device: str
    workers: int | str = "auto"
    cells_per_gpu: int = 1
    retries: int = 1
    ray_address: str | None = None
    cell_timeout: float | None = None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class RunPlan:
    """A prepared run or checkpoint evaluation: everything resolved, every cell planned. Immutable: executing it
    adds what it learns (the nested searches' winners) to the store, not to the plan."""

    command: str  # "run" or "evaluate": the store's lock and run record
    spec: Mapping[str, Any]  # the options as stored with the run
    out: Path
    rerun: bool
    methods: Mapping[str, PlannedMethod]
    protocol: Protocol
    dataset: Dataset
    folds: tuple[Fold, ...]
    pipeline: PipelineConfig
    cells: tuple[CellSpec, ...]
    roles: Mapping[str, tuple[str, ...]]  # cell key -> what it is planned for: run, fixed, search, inner
    searches: tuple[Mapping[str, Any], ...] = ()  # the searches' records (store.save_search)
    slots: tuple[Slot, ...] = ()
    execution: Execution = Execution("serial", "cpu")
    tracker: str = ""
    notes: tuple[str, ...] = ()

    def selections_of(self, spec: CellSpec) -> tuple[str, ...]:
        return self.methods[spec.method].selections_of(spec.training)


# -- the data --------------------------------------------------------------------------------------------
def load_dataset(spec: str | Sequence[str], cache_dir: Path | None = None,
                 pipeline: str | PipelineConfig = "") -> Dataset:
    """One `--data` spec, or several combined into one dataset (mebench.datasets.combine). `pipeline`:
    the raw datasets' preprocessing options (PipelineConfig, or its text); a dataset kind without a pipeline
    refuses options other than the defaults."""
    import inspect

    config = PipelineConfig.from_text(pipeline) if isinstance(pipeline, str) else pipeline
    if not isinstance(spec, str):
        specs = list(spec)
        if len(specs) != 1:
            from mebench.datasets.combine import combine_datasets

            return combine_datasets([load_dataset(s, cache_dir, config) for s in specs])
        spec = specs[0]
    kind, path = parse_data_spec(spec)
    loader = plugins.datasets.get(kind)
    if "pipeline" in inspect.signature(loader).parameters:
        return loader(path, cache_dir=cache_dir, pipeline=config)
    if config != PipelineConfig():
        from mebench.datasets.raw import raw_kinds

        raise ConfigError(f"--pipeline {config.text()}: dataset kind {kind!r} has no preprocessing pipeline "
                          f"(the options apply to raw datasets: {', '.join(raw_kinds())})")
    return loader(path, cache_dir=cache_dir)


# -- options checked without data ------------------------------------------------------------------------
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


def param_notes(classes: Mapping[str, type[Method]], overrides: Sequence[tuple[str, Any]]) -> list[str]:
    """What each override reaches: a global NAME that some of the methods lack is named with them; a
    NAME no method has, or a METHOD.NAME for a method not in the run, is an error."""
    notes = []
    for key, _ in overrides:
        target, sep, param = key.partition(".")
        if sep:
            if target not in classes:
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


def selection_notes(selection: EpochSelection, classes: Mapping[str, type[Method]]) -> list[str]:
    """One note naming the methods an epoch selection other than final does not apply to (they do not train in
    epochs), as param_notes names those a global --param does not reach."""
    needs = selection.needs_iterations()
    lacking = [n for n, cls in classes.items() if needs and not cls.info.iterative]
    if not lacking:
        return []
    having = [n for n in classes if n not in lacking]
    return [f"--epoch-selection {','.join(needs)} applies to {', '.join(having) or 'no method of this run'}; not to "
            f"{', '.join(lacking)} (they do not train in epochs: final only)"]


def _check_epoch_budget(selection: EpochSelection, cls: type[Method], params: Mapping[str, Any],
                        search: Search | None = None) -> None:
    budget = params.get("epochs")
    beyond = [e for e in fixed_epochs(method_selection(selection, cls).names) if isinstance(budget, int) and e > budget]
    if beyond:
        where = f" (the configuration {search.label(search.configs.index(dict(params)))} of its grid)" if search else ""
        raise ConfigError(f"--epoch-selection epoch:{beyond[0]}: method {cls.info.name!r} trains {budget} epochs "
                          f"here{where}, so it has no epoch {beyond[0]}; choose an epoch up to {budget} (or raise "
                          "--param epochs)")


def check_config(config: RunConfig) -> CheckedConfig:
    """Validate the options that need no data (so a typo fails before any feature is computed), resolving each
    once: the seeds, protocol, pipeline, precision, folders, methods with their parameters and selections, and
    the searches."""
    seeds = check_seeds(config.seeds)
    protocol = make_protocol(config.protocol)
    pipeline = PipelineConfig.from_text(config.pipeline)
    if config.precision not in PRECISIONS:
        raise ConfigError(f"--precision {config.precision!r}: one of {', '.join(PRECISIONS)}")
    if config.cache_dir is not None and Path(config.cache_dir).exists() and not Path(config.cache_dir).is_dir():
        raise ConfigError(f"--cache-dir {config.cache_dir} is a file, not a folder")
    if config.cell_timeout is not None and not config.cell_timeout > 0:
        raise ConfigError(f"--cell-timeout {config.cell_timeout}: a number of seconds above 0 (or none for no limit)")
    classes = {name: plugins.methods.get(name) for name in config.methods}
    notes = param_notes(classes, config.params)
    resolved: dict[str, tuple[type[Method], dict[str, Any]]] = {}
    for name, cls in classes.items():
        resolved[name] = (cls, method_params(cls, config.preset, config.params))
        method_selection(config.selection, cls)  # refuses a method that no asked selection applies to
        if config.precision != "fp32" and not hasattr(cls, "build_network"):
            raise ConfigError(f"--precision {config.precision}: method {name!r} is not a torch method")
    notes += selection_notes(config.selection, classes)
    search_notes: list[str] = []
    searches = resolve_searches(classes, resolved, check_rules(config.tuning), config.grid, config.params,
                                config.preset, config.selection.validation_subjects, RUNNER_PARAMS, search_notes)
    for name, (cls, params) in resolved.items():  # a searched method trains its grid's configurations, not its preset
        for one in searches[name].configs if name in searches else [params]:
            _check_epoch_budget(config.selection, cls, one, searches.get(name))
    notes += search_notes
    for name, s in searches.items():
        notes.append(f"--tuning {','.join(s.rules)}: {name}: {s.size} configurations "
                     f"({'its declared search space' if s.source == 'declared' else '--grid'}: {s.grid_text()})")
    return CheckedConfig(MappingProxyType(resolved), MappingProxyType(searches), protocol, pipeline, seeds, tuple(notes))


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


# -- the cells ------------------------------------------------------------------------------------------
@dataclass
class _Cells:
    """The cells being planned, each once, with what it is planned for."""

    cells: list[CellSpec] = field(default_factory=list)
    roles: dict[str, list[str]] = field(default_factory=dict)

    def add(self, spec: CellSpec, role: str) -> None:
        if spec.key not in self.roles:
            self.cells.append(spec)
            self.roles[spec.key] = [role]
        elif role not in self.roles[spec.key]:
            self.roles[spec.key].append(role)


def _plan_cells(config: RunConfig, methods: Mapping[str, PlannedMethod], dataset: Dataset, protocol: Protocol,
                folds: Sequence[Fold], seeds: Sequence[int]) -> tuple[_Cells, list[dict[str, Any]], list[Slot]]:
    """The run's cells. A method without a search: its trainings x seeds x folds. A searched method
    (mebench.tuning): every configuration's outer trainings when `fixed` or `test-scored` is asked; for
    `nested`, every configuration's inner training per seed and fold (training `inner:K`: the fold's training
    subjects less the K held out by `validation_subjects`, predicting those K), and, unless every configuration's
    outer cells are planned anyway, one slot per seed and fold whose winner is planned once it is known."""
    num_classes = len(dataset.class_names)
    plan = _Cells()
    searches: list[dict[str, Any]] = []
    slots: list[Slot] = []
    samples = dataset.samples.set_index("sample")
    label = protocol.label()

    def outer(m: PlannedMethod, base: dict[str, Any], training: str, seed: int, fold: Fold) -> CellSpec:
        record = training == FULL and m.selection.records_epochs()
        return CellSpec(m.name, config.preset, base, label, fold.id, fold.train, fold.test, seed, training,
                        record, config.precision, dataset.fingerprint, len(folds))

    for name, m in methods.items():
        search = m.search
        trainings = m.selection.trainings()
        configs = [m.cls.check_params({**c, "num_classes": num_classes})
                   for c in (search.configs if search else [dict(m.params)])]
        if search is None:
            for training in trainings:
                for seed in seeds:
                    for fold in folds:
                        plan.add(outer(m, configs[0], training, seed, fold), "run")
            continue
        every_outer = "fixed" in search.rules or "test-scored" in search.rules
        if every_outer:
            role = "fixed" if "fixed" in search.rules else "search"
            for base in configs:
                for training in trainings:
                    for seed in seeds:
                        for fold in folds:
                            plan.add(outer(m, base, training, seed, fold), role)
        hashes = [params_hash(b) for b in configs]
        sid = search.search_id(config.preset, label, dataset.fingerprint, config.precision, hashes)
        searches.append(dict(
            id=sid, method=name, preset=config.preset, protocol=label,
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
                    spec = CellSpec(name, config.preset, base, label, fold.id, inner_train, inner_test, seed,
                                    inner_training(count), False, config.precision, dataset.fingerprint, len(folds))
                    plan.add(spec, "inner")
                    keys.append(spec.key)
                if not every_outer:
                    slots.append(Slot(sid, name, seed, fold.id, tuple(keys),
                                      tuple(tuple(outer(m, base, t, seed, fold) for t in trainings)
                                            for base in configs), num_classes))
    return plan, searches, slots


def planned_method(name: str, cls: type[Method], params: Mapping[str, Any], selection: EpochSelection,
                   search: Search | None = None) -> PlannedMethod:
    """A method resolved once for a plan: its worker reference, display name and version are looked up here."""
    return PlannedMethod(name, cls, plugins.method_ref(name), MappingProxyType(dict(params)), selection, search,
                         cls.info.display_name, plugins.method_version(name))


def prepare_run(config: RunConfig) -> RunPlan:
    """Resolve and check a run without touching its folder: the options (check_config), the executor's
    settings, the data (computed or read from the feature cache), every method's input, the protocol's folds,
    the selection's options that depend on them, and every cell."""
    from mebench.executors import check_executor
    from mebench.representations import check_inputs
    from mebench.training import resolve_device

    checked = check_config(config)
    device = resolve_device(config.device)
    check_executor(config.executor, device, config.workers, config.cells_per_gpu, config.retries, config.ray_address)
    dataset = checked.protocol.prepare(load_dataset(config.data, config.cache_dir, checked.pipeline))
    check_inputs(dataset, {name: cls.info.input for name, (cls, _params) in checked.methods.items()})
    folds = tuple(checked.protocol.folds(dataset.samples))
    check_folds(checked.protocol, dataset.samples, list(folds))
    check_selection(config.selection, dataset, folds, nested=any("nested" in s.rules for s in checked.searches.values()))
    methods = {name: planned_method(name, cls, params, method_selection(config.selection, cls), checked.searches.get(name))
               for name, (cls, params) in checked.methods.items()}
    cells, searches, slots = _plan_cells(config, methods, dataset, checked.protocol, folds, checked.seeds)
    execution = Execution(config.executor, device, config.workers, config.cells_per_gpu, config.retries,
                          config.ray_address, config.cell_timeout)
    return RunPlan("run", MappingProxyType(config.spec(checked.pipeline)), Path(config.out), config.rerun,
                   MappingProxyType(methods), checked.protocol, dataset, folds, checked.pipeline, tuple(cells.cells),
                   MappingProxyType({k: tuple(v) for k, v in cells.roles.items()}), tuple(searches), tuple(slots),
                   execution, config.tracker, checked.notes)
