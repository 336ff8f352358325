"""Evaluate released per-fold checkpoints without training (`mebench evaluate`, `mebench.evaluate`).

A release holds one state dict per leave-one-subject-out fold, named after the held-out
subject's id (`sub01.pth`, `s01.pth`, `006.pth`: the STSTNet and HTNet layout); where two
sources share a subject id, `<dataset>_<subject>.pth` names tell them apart. Results are stored
like a run's, with epoch selection `checkpoint`.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mebench import plugins
from mebench.engine import CHECKPOINT, CellSpec
from mebench.errors import ConfigError, DataError
from mebench.dataset import Dataset
from mebench.protocol import Fold, Protocol, check_folds, make_protocol
from mebench.published_checkpoints import check_published_config
from mebench.progress import CellFinished, Progress, as_progress
from mebench.runner import (RunSummary, cell_inputs, execute_or_error, load_dataset, now, plan_record,
                            record_data, store_outcome, versions)
from mebench.store import ResultStore
from mebench.training import TorchMethod


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
    device: str = "cpu"


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


def evaluate_checkpoints(config: EvaluateConfig,
                         progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Every fold's released checkpoint on its test samples, stored like a run's cells (training
    `checkpoint`, epoch selection `checkpoint`)."""
    from mebench.training import resolve_device

    progress = as_progress(progress)
    cls = plugins.methods.get(config.method)
    if not issubclass(cls, TorchMethod):
        raise ConfigError(f"method {config.method!r} is not a torch method; it has no checkpoints to evaluate")
    published = check_published_config(cls, dict(config.config))
    published = {k: v for k, v in published.items() if k in dict(config.config)}
    device = resolve_device(config.device)
    protocol = make_protocol(config.protocol)
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, config.pipeline))
    folds = protocol.folds(dataset.samples)
    check_folds(protocol, dataset.samples, folds)
    files = checkpoint_files(Path(config.weights), folds)  # every check before the run folder is touched
    store = ResultStore(config.out)
    store.ensure_writable()
    with store.lock("evaluate"):
        return _evaluate(config, cls, published, device, store, progress, protocol, dataset, folds, files)


def _evaluate(config: EvaluateConfig, cls, published: dict, device: str, store: ResultStore,
              progress: Progress, protocol: Protocol, dataset: Dataset, folds: list[Fold],
              files: dict[str, Path]) -> RunSummary:
    params = {"weights": str(Path(config.weights).resolve()), **published}
    specs = [CellSpec(config.method, "released", params, protocol.label(), fold.id, fold.train, fold.test, 0,
                      CHECKPOINT, False, "fp32", dataset.fingerprint, len(folds), str(files[fold.id]))
             for fold in folds]
    spec = {"method": config.method, "weights": params["weights"], "protocol": config.protocol,
            "data": [config.data] if isinstance(config.data, str) else list(config.data), "pipeline": config.pipeline,
            "config": [[k, v] for k, v in config.config], "device": config.device}
    record_data(store, dataset, protocol, config.pipeline)
    run_id = store.begin_run("evaluate", spec, socket.gethostname(), versions(), now())
    records = {c.key: plan_record(c, dataset, (CHECKPOINT,), run_id) for c in specs}
    store.plan(records.values())
    inputs = cell_inputs(dataset, cls.info.input)
    summary = RunSummary(total=len(specs))
    progress.start(len(specs), 0)
    for cell in specs:
        progress.cell_started(cell)
        started = now()
        outcome, error = execute_or_error(cell, inputs, device)
        store_outcome(store, dataset, cell, records[cell.key], outcome, error, started)
        if outcome is not None:
            summary.done += 1
        else:
            summary.failed.append((f"fold {cell.fold} ({cell.checkpoint})", (error or "?").split("\n", 1)[0]))
        progress.cell_finished(cell, outcome is not None)
    store.finish_run(run_id, now())
    return summary
