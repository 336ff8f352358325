"""Expand methods x protocol folds x seeds into cells, run them, and store each one as it finishes.

Finished cells are skipped on the next run (resume); a cell that raises is stored as failed
with its error and the grid goes on.
"""

from __future__ import annotations

import hashlib
import json
import platform
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mebench import plugins
from mebench.dataset import Dataset, parse_data_spec
from mebench.errors import ConfigError
from mebench.method import Method
from mebench.protocol import Fold, Protocol
from mebench.selection import EpochSelection, Selected, fit_final, fit_oracle, fit_validation, validation_subjects
from mebench.store import PredictionRow, ResultStore
from mebench.version import __version__

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


@dataclass(frozen=True)
class Cell:
    method: str
    preset: str
    params: dict[str, Any]
    protocol: str
    fold: Fold
    seed: int
    selection: EpochSelection
    dataset: Dataset

    @property
    def params_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.params).encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        parts = [self.method, self.params_hash, self.dataset.fingerprint, self.protocol, self.fold.id, str(self.seed),
                 self.selection.key()]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    def describe(self) -> str:
        return f"{self.method} fold {self.fold.id} seed {self.seed}"


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


def load_dataset(spec: str | Sequence[str], cache_dir: Path | None = None) -> Dataset:
    """One `--data` spec, or several combined into one dataset (mebench.datasets.combine)."""
    if not isinstance(spec, str):
        specs = list(spec)
        if len(specs) != 1:
            from mebench.datasets.combine import combine_datasets

            return combine_datasets([load_dataset(s, cache_dir) for s in specs])
        spec = specs[0]
    kind, path = parse_data_spec(spec)
    loader = plugins.datasets.get(kind)
    return loader(path, cache_dir=cache_dir)


def method_params(cls: type[Method], preset: str, overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    if preset not in cls.info.presets:
        raise ConfigError(f"method {cls.info.name!r} has no preset {preset!r}; presets: {', '.join(cls.info.presets)}")
    params = dict(cls.param_defaults())
    params.update(cls.info.presets[preset])
    names = set(cls.param_names())
    params.update({k: v for k, v in overrides if k in names})
    return params


def check_config(config: RunConfig) -> dict[str, type[Method]]:
    """Validate the options that need no data (so a typo fails before any feature is computed)."""
    if not config.seeds:
        raise ConfigError("--seeds is empty")
    plugins.protocols.get(config.protocol)
    classes = {name: plugins.methods.get(name) for name in config.methods}
    all_names: set[str] = set()
    for cls in classes.values():
        method_params(cls, config.preset, ())
        all_names |= set(cls.param_names())
    unused = sorted({k for k, _ in config.params} - all_names)
    if unused:
        raise ConfigError(f"--param {', '.join(unused)}: no selected method has such a parameter")
    return classes


def plan_cells(config: RunConfig, dataset: Dataset, protocol: Protocol) -> list[Cell]:
    classes = check_config(config)
    folds = protocol.folds(dataset.samples)
    cells = []
    for name, cls in classes.items():
        base = method_params(cls, config.preset, config.params)
        base["num_classes"] = len(dataset.class_names)
        for seed in config.seeds:
            for fold in folds:
                cells.append(Cell(name, config.preset, {**base, "seed": int(seed)}, protocol.name, fold, int(seed),
                                  config.selection, dataset))
    return cells


def fit_predict(cell: Cell) -> Selected:
    """Train on the fold's training samples and predict its test samples, selecting the epoch as the cell says."""
    cls = plugins.methods.get(cell.method)
    ds = cell.dataset
    X = ds.features(cls.info.input)
    y = ds.labels()
    train, test = ds.rows(cell.fold.train), ds.rows(cell.fold.test)
    method = cls(**cell.params)
    subjects = ds.samples["subject_key"].to_numpy()
    selection = cell.selection
    if selection.name == "final":
        return fit_final(method, X[train], y[train], X[test])
    if selection.name == "oracle":
        return fit_oracle(method, X[train], y[train], X[test], y[test], subjects[test])
    held_out = validation_subjects(ds.samples.iloc[train], selection.validation_subjects, cell.seed)
    return fit_validation(method, X[train], y[train], subjects[train], held_out, X[test], len(ds.class_names),
                          selection.patience)


def run_cell(cell: Cell, store: ResultStore, compute: Callable[[Cell], Selected] = fit_predict) -> tuple[bool, str | None]:
    """Compute one cell and store it (as failed, with its error, if anything raises)."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = dict(
        key=cell.key, method=cell.method, preset=cell.preset, params=canonical_json(cell.params),
        params_hash=cell.params_hash, dataset=cell.dataset.name, dataset_source=cell.dataset.source,
        dataset_fingerprint=cell.dataset.fingerprint, protocol=cell.protocol, fold=cell.fold.id, seed=cell.seed,
        epoch_selection=cell.selection.name, class_names=json.dumps(list(cell.dataset.class_names)),
        mebench_version=__version__, versions=json.dumps(versions()), started_at=started,
    )
    try:
        selected = compute(cell)
        proba = np.asarray(selected.proba, dtype=np.float64)
        n_test, n_classes = len(cell.fold.test), len(cell.dataset.class_names)
        if proba.shape != (n_test, n_classes) or not np.all(np.isfinite(proba)):
            raise ValueError(f"predict_proba returned shape {proba.shape} (finite: {np.all(np.isfinite(proba))}), "
                             f"expected finite ({n_test}, {n_classes})")
    except Exception as exc:  # noqa: BLE001 - a failing cell is stored, never fatal to the grid
        error = f"{type(exc).__name__}: {exc}"
        store.save_cell({**record, "finished_at": _now(), "status": "failed",
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
    store.save_cell({**record, "selected_epochs": details, "finished_at": _now(), "status": "done", "error": None}, preds)
    return True, None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_grid(config: RunConfig, progress: Progress | None = None) -> RunSummary:
    """Run every cell of the grid that is not finished yet (all of them with `rerun`)."""
    progress = progress or Progress()
    check_config(config)
    protocol = plugins.protocols.get(config.protocol)()
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir))
    cells = plan_cells(config, dataset, protocol)
    store = ResultStore(config.out)
    finished = set() if config.rerun else store.finished_keys()
    todo = [c for c in cells if c.key not in finished]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(todo))
    # features first, so a data problem surfaces before any training starts
    for name in dict.fromkeys(c.method for c in todo):
        dataset.features(plugins.methods.get(name).info.input)
    progress.start(len(cells), summary.skipped)
    for cell in todo:
        progress.cell_started(cell)
        ok, error = run_cell(cell, store)
        if ok:
            summary.done += 1
        else:
            summary.failed.append((cell.describe(), error or "?"))
        progress.cell_finished(cell, ok)
    return summary
