"""Evaluate released per-fold checkpoints without training (`mebench evaluate`, `mebench.evaluate`).

A release holds one state dict per leave-one-subject-out fold, named after the held-out
subject's id (`sub01.pth`, `s01.pth`, `006.pth`: the STSTNet and HTNet layout); where two
sources share a subject id, `<dataset>_<subject>.pth` names tell them apart. Results are stored
like a run's, with epoch selection `checkpoint`: `prepare_evaluation` plans one cell per fold (a
`mebench.plan.RunPlan`), and the run's driver executes it through the same executors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from mebench import plugins
from mebench.datasets.raw.pipeline import PipelineConfig
from mebench.engine import CHECKPOINT, CellSpec
from mebench.errors import ConfigError, DataError
from mebench.plan import Execution, RunPlan, load_dataset, planned_method
from mebench.protocol import Fold, check_folds, make_protocol
from mebench.published_checkpoints import check_published_config
from mebench.progress import CellFinished, Progress
from mebench.runner import RunSummary, execute_plan
from mebench.selection import EpochSelection
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
    executor: str = "serial"  # serial, local, ray or auto, as for a run (mebench.executors)
    workers: int | str = "auto"

    def spec(self, pipeline: PipelineConfig) -> dict[str, Any]:
        """The evaluation's options as stored with it (JSON-serialisable)."""
        return {"method": self.method, "weights": str(Path(self.weights).resolve()), "protocol": self.protocol,
                "data": [self.data] if isinstance(self.data, str) else list(self.data), "pipeline": pipeline.text(),
                "config": [[k, v] for k, v in self.config], "device": self.device, "executor": self.executor,
                "workers": self.workers}


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


def prepare_evaluation(config: EvaluateConfig) -> RunPlan:
    """One cell per fold evaluating that fold's released checkpoint (training `checkpoint`), checked before the
    run folder is touched: the method, its published configuration, the device and executor, the data, the
    folds and every checkpoint file's presence."""
    from mebench.executors import check_executor
    from mebench.training import resolve_device

    cls = plugins.methods.get(config.method)
    if not issubclass(cls, TorchMethod):
        raise ConfigError(f"method {config.method!r} is not a torch method; it has no checkpoints to evaluate")
    published = check_published_config(cls, dict(config.config))
    published = {k: v for k, v in published.items() if k in dict(config.config)}
    device = resolve_device(config.device)
    check_executor(config.executor, device, config.workers)
    pipeline = PipelineConfig.from_text(config.pipeline)
    protocol = make_protocol(config.protocol)
    dataset = protocol.prepare(load_dataset(config.data, config.cache_dir, pipeline))
    folds = protocol.folds(dataset.samples)
    check_folds(protocol, dataset.samples, folds)
    files = checkpoint_files(Path(config.weights), folds)
    params = {"weights": str(Path(config.weights).resolve()), **published}
    cells = tuple(CellSpec(config.method, "released", params, protocol.label(), fold.id, fold.train, fold.test, 0,
                           CHECKPOINT, False, "fp32", dataset.fingerprint, len(folds), str(files[fold.id]))
                  for fold in folds)
    method = planned_method(config.method, cls, published, EpochSelection())
    return RunPlan("evaluate", MappingProxyType(config.spec(pipeline)), Path(config.out), True,
                   MappingProxyType({config.method: method}), protocol, dataset, tuple(folds), pipeline, cells,
                   MappingProxyType({c.key: ("run",) for c in cells}),
                   execution=Execution(config.executor, device, config.workers))


def evaluate_checkpoints(config: EvaluateConfig,
                         progress: Progress | Callable[[CellFinished], object] | None = None) -> RunSummary:
    """Every fold's released checkpoint on its test samples, stored like a run's cells (training
    `checkpoint`, epoch selection `checkpoint`)."""
    return execute_plan(prepare_evaluation(config), progress)
