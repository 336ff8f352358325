"""Expand methods x protocol folds x seeds into cells, run them, and store each one as it finishes.

Everything that can be checked without training is checked first: method parameters against
their declarations, seeds, protocol options, the data, and that the run folder can be written.
Then every planned cell is recorded as pending, and cells are computed one by one. Finished
cells are skipped on the next run (resume); a cell that raises is stored as failed with its error
and the grid goes on.
"""

from __future__ import annotations

import hashlib
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
from mebench.errors import ConfigError
from mebench.method import Method
from mebench.params import SEED_MAX
from mebench.protocol import Fold, Protocol, make_protocol
from mebench.selection import EpochSelection, Selected, fit_final, fit_oracle, fit_validation, validation_subjects
from mebench.store import PredictionRow, ResultStore
from mebench.version import __version__

# Set by the runner for every cell, never by a preset or --param.
RUNNER_PARAMS = ("num_classes", "seed")


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

    def spec(self) -> dict[str, Any]:
        """The run's specification as stored in the results database (JSON-serialisable)."""
        from mebench.datasets.raw.pipeline import PipelineConfig

        return {"methods": list(self.methods), "protocol": self.protocol,
                "data": [self.data] if isinstance(self.data, str) else list(self.data),
                "pipeline": PipelineConfig.from_text(self.pipeline).text(), "preset": self.preset,
                "seeds": list(self.seeds), "epoch_selection": asdict(self.selection),
                "params": [[k, v] for k, v in self.params], "rerun": self.rerun}


@dataclass(frozen=True)
class Cell:
    method: str
    preset: str
    params: dict[str, Any]  # the method's parameters except the seed
    protocol: str
    fold: Fold
    seed: int
    selection: EpochSelection
    dataset: Dataset
    n_folds: int = 0

    @property
    def params_hash(self) -> str:
        """Identifies the method variant: the same for every seed and fold."""
        return hashlib.sha256(canonical_json(self.params).encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        parts = [self.method, self.params_hash, self.dataset.fingerprint, self.protocol, self.fold.id, str(self.seed),
                 self.selection.key()]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    def describe(self) -> str:
        return f"{self.method} fold {self.fold.id} seed {self.seed}"

    def make_method(self, cls: type[Method]) -> Method:
        return cls(**self.params, seed=self.seed)

    def record(self) -> dict[str, Any]:
        """The cell's row in the results database, without outcome."""
        return dict(key=self.key, method=self.method, preset=self.preset, params=canonical_json(self.params),
                    params_hash=self.params_hash, dataset=self.dataset.name, dataset_source=self.dataset.source,
                    dataset_fingerprint=self.dataset.fingerprint, protocol=self.protocol, fold=self.fold.id,
                    n_folds=self.n_folds, seed=self.seed, epoch_selection=self.selection.name,
                    class_names=json.dumps(list(self.dataset.class_names)), mebench_version=__version__,
                    versions=json.dumps(versions()))


@dataclass
class RunSummary:
    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (cell description, error)


class Progress:
    """Callbacks the CLI implements to show progress; the default does nothing."""

    def start(self, total: int, skipped: int) -> None: ...

    def cell_started(self, cell: Cell) -> None: ...

    def cell_finished(self, cell: Cell, ok: bool) -> None: ...


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


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
                          "(the options apply to raw datasets: casme2, samm, smic, casme3, mmew)")
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
    """The method's checked parameters for `preset` with the overrides it has (no seed, no num_classes)."""
    if preset not in cls.info.presets:
        raise ConfigError(f"method {cls.info.name!r} has no preset {preset!r}; presets: {', '.join(cls.info.presets)}")
    names = set(cls.param_names())
    fixed = sorted({k for k, _ in overrides} & set(RUNNER_PARAMS))
    if fixed:
        raise ConfigError(f"--param {', '.join(fixed)}: set by mebench for every cell (use --seeds for the seed)")
    params = dict(cls.param_defaults())
    params.update(cls.info.presets[preset])
    params.update({k: v for k, v in overrides if k in names})
    for name in RUNNER_PARAMS:
        params.pop(name, None)
    return cls.check_params(params)


def check_config(config: RunConfig) -> dict[str, tuple[type[Method], dict[str, Any]]]:
    """Validate the options that need no data (so a typo fails before any feature is computed):
    method name -> (class, checked parameters)."""
    from mebench.datasets.raw.pipeline import PipelineConfig

    check_seeds(config.seeds)
    make_protocol(config.protocol)
    PipelineConfig.from_text(config.pipeline)
    resolved = {}
    all_names: set[str] = set()
    for name in config.methods:
        cls = plugins.methods.get(name)
        resolved[name] = (cls, method_params(cls, config.preset, config.params))
        all_names |= set(cls.param_names())
    unused = sorted({k for k, _ in config.params} - all_names)
    if unused:
        raise ConfigError(f"--param {', '.join(unused)}: no selected method has such a parameter")
    return resolved


def check_selection(selection: EpochSelection, dataset: Dataset, folds: Sequence[Fold]) -> None:
    """Options of the epoch selection that depend on the folds (before anything trains)."""
    if selection.name != "validation":
        return
    subject_of = dict(zip(dataset.samples["sample"], dataset.samples["subject_key"]))
    fewest = min(folds, key=lambda f: len({subject_of[s] for s in f.train}))
    n = len({subject_of[s] for s in fewest.train})
    if selection.validation_subjects >= n:
        raise ConfigError(f"--validation-subjects {selection.validation_subjects}: fold {fewest.id} has only {n} "
                          f"training subjects; hold out fewer than {n}")


def plan_cells(config: RunConfig, dataset: Dataset, protocol: Protocol) -> list[Cell]:
    resolved = check_config(config)
    folds = protocol.folds(dataset.samples)
    check_selection(config.selection, dataset, folds)
    num_classes = len(dataset.class_names)
    cells = []
    for name, (cls, params) in resolved.items():
        base = cls.check_params({**params, "num_classes": num_classes})
        for seed in check_seeds(config.seeds):
            for fold in folds:
                cells.append(Cell(name, config.preset, base, protocol.label(), fold, seed, config.selection, dataset,
                                  len(folds)))
    return cells


def fit_predict(cell: Cell) -> Selected:
    """Train on the fold's training samples and predict its test samples, selecting the epoch as the cell says."""
    cls = plugins.methods.get(cell.method)
    ds = cell.dataset
    X = ds.features(cls.info.input)
    y = ds.labels()
    train, test = ds.rows(cell.fold.train), ds.rows(cell.fold.test)
    method = cell.make_method(cls)
    subjects = ds.samples["subject_key"].to_numpy()
    selection = cell.selection
    if selection.name == "final":
        return fit_final(method, X[train], y[train], X[test])
    if selection.name == "oracle":
        return fit_oracle(method, X[train], y[train], X[test], y[test], subjects[test])
    held_out = validation_subjects(ds.samples.iloc[train], selection.validation_subjects, cell.seed)
    return fit_validation(method, X[train], y[train], subjects[train], held_out, X[test], len(ds.class_names),
                          selection.patience)


def run_cell(cell: Cell, store: ResultStore, compute: Callable[[Cell], Selected] = fit_predict,
             run_id: int | None = None) -> tuple[bool, str | None]:
    """Compute one cell and store it (as failed, with its error, if computing raises). A failure to
    store is not the cell's fault: it propagates (DataError naming the database)."""
    record = {**cell.record(), "run_id": run_id, "started_at": now()}
    try:
        selected = compute(cell)
        proba = np.asarray(selected.proba, dtype=np.float64)
        n_test, n_classes = len(cell.fold.test), len(cell.dataset.class_names)
        if proba.shape != (n_test, n_classes) or not np.all(np.isfinite(proba)):
            raise ValueError(f"predict_proba returned shape {proba.shape} (finite: {np.all(np.isfinite(proba))}), "
                             f"expected finite ({n_test}, {n_classes})")
    except Exception as exc:  # noqa: BLE001 - a failing cell is stored, never fatal to the grid
        error = f"{type(exc).__name__}: {exc}"
        store.save_cell({**record, "finished_at": now(), "status": "failed",
                         "error": error + "\n" + traceback.format_exc(limit=8)})
        return False, error
    table = cell.dataset.samples.iloc[cell.dataset.rows(cell.fold.test)]
    preds = [
        PredictionRow(sample=s, dataset=d, subject=subj, y_true=int(t), y_pred=int(p.argmax()), proba=p.tolist(),
                      epoch=int(e) if e >= 0 else None)
        for s, d, subj, t, p, e in zip(table["sample"], table["dataset"], table["subject"], table["label_index"], proba,
                                       selected.epochs)
    ]
    details = json.dumps(selected.details) if selected.details else None
    store.save_cell({**record, "selected_epochs": details, "finished_at": now(), "status": "done", "error": None}, preds)
    return True, None


def run_grid(config: RunConfig, progress: Progress | None = None) -> RunSummary:
    """Run every cell of the grid that is not finished yet (all of them with `rerun`)."""
    progress = progress or Progress()
    check_config(config)
    store = ResultStore(config.out)
    store.ensure_writable()
    protocol = make_protocol(config.protocol)
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, config.pipeline))
    cells = plan_cells(config, dataset, protocol)
    finished = set() if config.rerun else store.finished_keys()
    todo = [c for c in cells if c.key not in finished]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(todo))
    # features first, so a data problem surfaces before any training starts
    for name in dict.fromkeys(c.method for c in todo):
        dataset.features(plugins.methods.get(name).info.input)
    run_id = store.begin_run("run", config.spec(), socket.gethostname(), versions(), now())
    store.plan({**c.record(), "run_id": run_id} for c in cells)
    store.save_groups(protocol.label(), dataset.fingerprint, protocol.groups(dataset.samples), dataset.samples["sample"])
    progress.start(len(cells), summary.skipped)
    for cell in todo:
        progress.cell_started(cell)
        ok, error = run_cell(cell, store, run_id=run_id)
        if ok:
            summary.done += 1
        else:
            summary.failed.append((cell.describe(), error or "?"))
        progress.cell_finished(cell, ok)
    store.finish_run(run_id, now())
    return summary
