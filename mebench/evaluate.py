"""Evaluate released per-fold checkpoints without training (`mebench evaluate`).

A release holds one state dict per leave-one-subject-out fold, named after the held-out
subject's id (`sub01.pth`, `s01.pth`, `006.pth`: the STSTNet and HTNet layout); where two
sources share a subject id, `<dataset>_<subject>.pth` names tell them apart. Results are stored
like a run's, with epoch selection `checkpoint`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mebench import plugins
from mebench.errors import ConfigError, DataError
from mebench.protocol import Fold, make_protocol
from mebench.published import check_published_config, load_published
from mebench.runner import Cell, Progress, RunSummary, load_dataset, now, run_cell, versions
from mebench.selection import EpochSelection, Selected
from mebench.store import ResultStore
from mebench.training import TorchMethod

@dataclass(frozen=True)
class CheckpointSelection(EpochSelection):
    """Marks cells whose weights came from a release, not from training."""

    name: str = "checkpoint"

    def __post_init__(self) -> None:  # not one of the training selections
        pass


@dataclass(frozen=True)
class EvaluateConfig:
    method: str
    weights: Path
    protocol: str
    out: Path
    data: str | tuple[str, ...] = "synthetic"  # one KIND[:PATH] spec, or several combined
    config: tuple[tuple[str, Any], ...] = ()  # published constructor arguments (e.g. block_repeats)
    cache_dir: Path | None = None
    pipeline: str = ""  # raw datasets' preprocessing options


def checkpoint_files(weights: Path, folds: list[Fold]) -> dict[str, Path]:
    """Fold id -> checkpoint path; one error lists every fold whose checkpoint is missing."""
    if not weights.is_dir():
        raise DataError(f"--weights {weights}: not a directory")
    subject_ids = [f.id.split("/", 1)[1] for f in folds]
    files, missing = {}, []
    for fold, subject in zip(folds, subject_ids):
        qualified = weights / f"{fold.id.replace('/', '_')}.pth"
        plain = weights / f"{subject}.pth"
        if qualified.exists():
            files[fold.id] = qualified
        elif plain.exists() and subject_ids.count(subject) == 1:
            files[fold.id] = plain
        else:
            missing.append(f"fold {fold.id}: {qualified.name if subject_ids.count(subject) > 1 else plain.name}")
    if missing:
        raise DataError(f"{len(missing)} checkpoint(s) missing in {weights}: " + "; ".join(missing))
    return files


def evaluate_checkpoints(config: EvaluateConfig, progress: Progress | None = None) -> RunSummary:
    progress = progress or Progress()
    cls = plugins.methods.get(config.method)
    if not issubclass(cls, TorchMethod):
        raise ConfigError(f"method {config.method!r} is not a torch method; it has no checkpoints to evaluate")
    published = dict(config.config)
    check_published_config(cls, published)
    store = ResultStore(config.out)
    store.ensure_writable()
    protocol = make_protocol(config.protocol)
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, config.pipeline))
    folds = protocol.folds(dataset.samples)
    files = checkpoint_files(Path(config.weights), folds)
    X = dataset.features(cls.info.input)
    params = {"weights": str(Path(config.weights).resolve()), **published}
    selection = CheckpointSelection()

    def predict(cell: Cell) -> Selected:
        path = files[cell.fold.id]
        try:
            network = load_published(config.method, path, **published)
        except DataError as exc:
            raise DataError(f"fold {cell.fold.id}: {exc}") from None
        with torch.no_grad():
            logits = network(torch.as_tensor(X[dataset.rows(cell.fold.test)]))
        proba = torch.softmax(logits, dim=1).numpy().astype(np.float64)
        return Selected(proba, np.full(len(proba), -1), {"checkpoint": str(path)})

    summary = RunSummary(total=len(folds))
    cells = [Cell(config.method, "released", params, protocol.label(), fold, 0, selection, dataset, len(folds))
             for fold in folds]
    spec = {"method": config.method, "weights": params["weights"], "protocol": config.protocol,
            "data": [config.data] if isinstance(config.data, str) else list(config.data), "pipeline": config.pipeline,
            "config": [[k, v] for k, v in config.config]}
    run_id = store.begin_run("evaluate", spec, socket.gethostname(), versions(), now())
    store.plan({**c.record(), "run_id": run_id} for c in cells)
    store.save_groups(protocol.label(), dataset.fingerprint, protocol.groups(dataset.samples), dataset.samples["sample"])
    progress.start(len(folds), 0)
    for fold, cell in zip(folds, cells):
        progress.cell_started(cell)
        ok, error = run_cell(cell, store, compute=predict, run_id=run_id)
        if ok:
            summary.done += 1
        else:
            summary.failed.append((f"fold {fold.id} ({files[fold.id]})", error or "?"))
        progress.cell_finished(cell, ok)
    store.finish_run(run_id, now())
    return summary
