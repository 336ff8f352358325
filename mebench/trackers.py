"""Experiment trackers: each finished training's epochs (loss, accuracy, learning rate) written through
TensorBoard or MLflow, beside the run folder's own record (`results.sqlite`, table `training_epochs`).

The driver writes them as cells finish, so every executor works the same. The libraries are optional extras
(`pip install "mebench[tensorboard]"`, `"mebench[mlflow]"`); a missing one is refused before anything runs.
Nothing is created until the first training finishes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Protocol, Sequence

from mebench.engine import CellSpec
from mebench.errors import ConfigError

TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # name -> the mebench extra that installs it
TENSORBOARD_DIR = "tensorboard"  # inside the run folder
MLFLOW_EXPERIMENT = "mebench"

__all__ = ["Tracker", "TensorBoardTracker", "MLflowTracker", "make_tracker", "run_name", "TRACKERS"]


class Tracker(Protocol):
    def log_cell(self, spec: CellSpec, epochs: Sequence) -> None:
        """One finished training's epochs (mebench.training.EpochMetrics)."""

    def close(self) -> None: ...


def run_name(spec: CellSpec) -> str:
    """The cell as a tracker names it: method, configuration, training, seed and fold, safe as a path."""
    parts = [spec.method, spec.params_hash[:8], spec.training, f"seed{spec.seed}", f"fold-{spec.fold}"]
    if spec.precision != "fp32":
        parts.insert(2, spec.precision)
    return "/".join(re.sub(r"[^A-Za-z0-9_.+=-]+", "_", p) for p in parts)


class TensorBoardTracker:
    """Event files under `log_dir` (`tensorboard --logdir RUN/tensorboard`), one folder per cell; scalars
    train/loss, train/accuracy and train/lr against the epoch."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer_class = SummaryWriter

    def log_cell(self, spec: CellSpec, epochs: Sequence) -> None:
        folder = self.log_dir / run_name(spec)
        if folder.is_dir():  # a cell trained again (--rerun, a retry): its curves replace the earlier ones
            shutil.rmtree(folder)
        writer = self.writer_class(log_dir=str(folder))
        try:
            for m in epochs:
                writer.add_scalar("train/loss", m.train_loss, m.epoch)
                writer.add_scalar("train/accuracy", m.train_accuracy, m.epoch)
                writer.add_scalar("train/lr", m.lr, m.epoch)
        finally:
            writer.close()

    def close(self) -> None: ...


class MLflowTracker:
    """One MLflow run per cell in the experiment `mebench`, at mlflow's tracking URI (its own setting:
    `mlflow.set_tracking_uri` or MLFLOW_TRACKING_URI); the cell's method, fold, seed, training and parameters as
    tags and params; metrics train_loss, train_accuracy and lr with the epoch as step."""

    def __init__(self, experiment: str = MLFLOW_EXPERIMENT) -> None:
        import mlflow

        self.mlflow = mlflow
        self.experiment = experiment
        self.experiment_id: str | None = None

    def log_cell(self, spec: CellSpec, epochs: Sequence) -> None:
        mlflow = self.mlflow
        if self.experiment_id is None:
            self.experiment_id = mlflow.set_experiment(self.experiment).experiment_id
        tags = {"mebench.method": spec.method, "mebench.fold": spec.fold, "mebench.seed": str(spec.seed),
                "mebench.training": spec.training, "mebench.protocol": spec.protocol, "mebench.cell_key": spec.key}
        with mlflow.start_run(experiment_id=self.experiment_id, run_name=run_name(spec), tags=tags):
            mlflow.log_params({k: str(v)[:500] for k, v in {**spec.params, "seed": spec.seed}.items()})
            for m in epochs:
                mlflow.log_metrics({"train_loss": m.train_loss, "train_accuracy": m.train_accuracy, "lr": m.lr},
                                   step=m.epoch)

    def close(self) -> None: ...


def make_tracker(name: str | None, out: Path) -> Tracker | None:
    """The tracker `name` ("tensorboard", "mlflow"; empty: none) for the run folder `out`; ConfigError when the
    name is unknown or its library is not installed (with the command that installs it)."""
    if not name:
        return None
    if name not in TRACKERS:
        raise ConfigError(f"--tracker {name!r}: choose tensorboard or mlflow")
    try:
        if name == "tensorboard":
            return TensorBoardTracker(Path(out) / TENSORBOARD_DIR)
        return MLflowTracker()
    except ImportError as exc:
        raise ConfigError(f"--tracker {name} needs the {name} package, which is not installed ({exc}); install it "
                          f"with: pip install \"mebench[{TRACKERS[name]}]\"") from None
