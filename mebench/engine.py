"""One cell of the grid as a pure task: `execute(spec, inputs) -> CellOutcome`.

The driver plans picklable `CellSpec`s (method name and parameters, the fold's train and test
sample ids, seed, training, precision, dataset fingerprint: no closures, no Dataset), ships the
features once as `CellInputs`, and stores each `CellOutcome`. Execution touches no database and no
plugin registry (a worker loads the method through its `MethodRef`), so it runs the same in this
process, in a process pool or on a Ray worker.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mebench.errors import ConfigError, PluginLoadError
from mebench.selection import FULL, EpochRecord, Selected, Training, fit_full, fit_validation, validation_subjects

if TYPE_CHECKING:
    from mebench.method import Method

PRECISIONS = ("fp32", "bf16", "fp16")
CHECKPOINT = str(Training.checkpoint())  # the training of cells that evaluate a released checkpoint


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


def params_hash(params: dict[str, Any]) -> str:
    """Identifies a method variant: the same for every seed and fold."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class MethodRef:
    """How a worker finds a method's class without the plugin registry: the `module:attribute` of the entry
    point that declares it (imported on the worker; `variant` the argument of a family:argument name, made by
    the family's `for_variant`), or, for a class registered in-process, the class itself (pickled by reference)."""

    name: str
    target: str = ""  # "module:attribute" of an installed entry point
    variant: str | None = None
    cls: type | None = None

    def load(self) -> type[Method]:
        if self.cls is not None:
            return self.cls
        module, _, attribute = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in attribute.split("."):
                obj = getattr(obj, part)
        except Exception as exc:  # noqa: BLE001 - whatever fails, the worker lacks the plugin as installed
            raise PluginLoadError(f"method plugin {self.name!r} is not installed on worker {socket.gethostname()} "
                                  f"(pid {os.getpid()}): importing {self.target} failed: "
                                  f"{type(exc).__name__}: {exc}") from None
        return obj.for_variant(self.variant) if self.variant is not None else obj


@dataclass(frozen=True)
class CellSpec:
    """Everything that identifies one training and its evaluation, and nothing else."""

    method: str
    preset: str
    params: dict[str, Any]  # the method's parameters except the seed
    protocol: str  # label, with its options
    fold: str
    train: tuple[str, ...]  # sample ids
    test: tuple[str, ...]
    seed: int
    training: str = FULL  # str(mebench.selection.Training), as stored: "full" (final, epoch:E, oracle),
    # "validation:K:P", "inner:K" (a nested search's inner training: `train` is the fold's training samples less K
    # held-out subjects, `test` those subjects) or "checkpoint"
    record_epochs: bool = False  # keep every epoch's test predictions (full training)
    precision: str = "fp32"
    dataset_fingerprint: str = ""
    n_folds: int = 0
    checkpoint: str = ""  # training "checkpoint": the released state dict evaluated instead of training

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)

    @property
    def key(self) -> str:
        """The cell's identity. The device and executor are not part of it: a run resumes anywhere."""
        parts = [self.method, self.params_hash, self.dataset_fingerprint, self.protocol, self.fold, str(self.seed),
                 self.training, self.precision]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    def describe(self) -> str:
        if self.training == CHECKPOINT:
            return f"{self.method} fold {self.fold} ({os.path.basename(self.checkpoint)})"
        return f"{self.method} fold {self.fold} seed {self.seed}" + ("" if self.training == FULL else f" ({self.training})")


@dataclass
class CellInputs:
    """The data every cell of a method reads: its input features and the sample table's columns."""

    features: np.ndarray  # (N, C, H, W) float32, rows aligned with `samples`
    labels: np.ndarray  # (N,) int
    subjects: np.ndarray  # (N,) subject keys
    datasets: np.ndarray  # (N,) source dataset names
    samples: list[str]
    n_classes: int
    row_of: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.row_of:
            self.row_of = {s: i for i, s in enumerate(self.samples)}

    def rows(self, ids) -> np.ndarray:
        return np.fromiter((self.row_of[s] for s in ids), dtype=np.int64, count=len(ids))


@dataclass
class CellOutcome:
    spec: CellSpec
    proba: np.ndarray  # (n_test, n_classes) float64: the training's own selection (final, or validation's)
    epochs: np.ndarray  # epoch behind each test prediction, -1 when not applicable
    details: dict[str, Any] | None
    record: EpochRecord | None  # every epoch's test predictions (full training, when asked)
    seconds: float
    runtime: dict[str, str]  # device, host, versions: where it ran, not what it is
    # each training epoch's loss, accuracy and learning rate (mebench.training.EpochMetrics; torch methods)
    epoch_metrics: list = field(default_factory=list)
    # the configuration's trainable parameters and FLOPs per sample (mebench.sizes.stored_size), counted on the
    # worker so the driver never builds a network; empty for a checkpoint's cell
    size: dict[str, float | None] = field(default_factory=dict)


def runtime_info(device: str) -> dict[str, str]:
    import torch

    info = {"device": device, "host": socket.gethostname(), "python": platform.python_version(),
            "torch": torch.__version__, "cuda": str(torch.version.cuda or "")}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def execute(spec: CellSpec, inputs: CellInputs, *, method_class: type[Method], device: str = "cpu") -> CellOutcome:
    """Train the spec's method (of class `method_class`) on its fold and predict its test samples, or evaluate
    its released checkpoint. Pure: no database, no registry, no globals written; raises whatever the method
    raises (the driver stores it as the cell's failure)."""
    from mebench.sizes import stored_size

    started = time.perf_counter()
    training = Training.parse(spec.training)
    if training.kind == "checkpoint":
        return _evaluate_checkpoint(spec, inputs, method_class, device, started)
    cls = method_class
    method = cls(**spec.params, seed=spec.seed)
    method.set_runtime(device=device, precision=spec.precision)
    train, test = inputs.rows(spec.train), inputs.rows(spec.test)
    X, y = inputs.features, inputs.labels
    record = None
    if training.kind == "full":
        selected, record = fit_full(method, X[train], y[train], X[test], spec.record_epochs)
        if spec.record_epochs and record is None:
            raise ConfigError(f"method {spec.method!r} reported no epochs to its epoch_callback, so no epoch can be "
                              "selected; declare it non-iterative (MethodInfo(iterative=False)) or call the callback")
    elif training.kind == "inner":  # a nested search's inner training: its last epoch scores the held-out
        selected, _ = fit_full(method, X[train], y[train], X[test], False)
    elif training.kind == "validation" and training.count is not None:
        import pandas as pd

        train_table = pd.DataFrame({"subject_key": inputs.subjects[train], "dataset": inputs.datasets[train]})
        held_out = validation_subjects(train_table, training.count, spec.seed)
        selected = fit_validation(method, X[train], y[train], inputs.subjects[train], held_out, X[test],
                                  inputs.n_classes, training.patience)
    else:
        raise ConfigError(f"unknown training {spec.training!r}")
    outcome = _outcome(spec, inputs, selected, record, started, device, list(getattr(method, "epoch_metrics_", ())))
    # cached per configuration (the ignore: a class is hashable; mypy checks type[Method] through Method.__hash__)
    outcome.size = stored_size(cls, canonical_json(spec.params), tuple(X.shape[1:]))  # type: ignore[arg-type]
    return outcome


def _outcome(spec: CellSpec, inputs: CellInputs, selected: Selected, record: EpochRecord | None, started: float,
             device: str, epoch_metrics: list | None = None) -> CellOutcome:
    proba = np.asarray(selected.proba, dtype=np.float64)
    n_test = len(spec.test)
    if proba.shape != (n_test, inputs.n_classes) or not np.all(np.isfinite(proba)):
        raise ValueError(f"predict_proba returned shape {proba.shape} (finite: {np.all(np.isfinite(proba))}), "
                         f"expected finite ({n_test}, {inputs.n_classes})")
    bad = np.flatnonzero((proba < 0).any(axis=1) | (proba > 1).any(axis=1) | ~np.isclose(proba.sum(axis=1), 1.0, atol=1e-3))
    if bad.size:  # scores that are not probabilities (logits, unnormalised) would be stored as if they were
        i = int(bad[0])
        raise ValueError(f"predict_proba must return probabilities (each in [0, 1], each row summing to 1); "
                         f"{bad.size} of {n_test} rows are not, e.g. sample {spec.test[i]}: "
                         f"{np.array2string(proba[i], precision=4)}")
    return CellOutcome(spec, proba, np.asarray(selected.epochs), selected.details, record,
                       time.perf_counter() - started, runtime_info(device), epoch_metrics or [])


def _evaluate_checkpoint(spec: CellSpec, inputs: CellInputs, cls: type[Method], device: str,
                         started: float) -> CellOutcome:
    """A released per-fold state dict (spec.checkpoint) evaluated on the fold's test samples: no training.
    The spec's params are {"weights": folder, **the published constructor arguments}."""
    import torch

    from mebench.errors import DataError
    from mebench.published_checkpoints import load_published_network

    published = {k: v for k, v in spec.params.items() if k != "weights"}
    try:
        network = load_published_network(cls, spec.checkpoint, published).to(device)
    except DataError as exc:
        raise DataError(f"fold {spec.fold}: {exc}") from None
    with torch.no_grad():
        X = torch.as_tensor(inputs.features[inputs.rows(spec.test)], device=device)
        proba = torch.softmax(network(X), dim=1).cpu().numpy().astype(np.float64)
    selected = Selected(proba, np.full(len(proba), -1), {"checkpoint": spec.checkpoint})
    return _outcome(spec, inputs, selected, None, started, device)


__all__ = ["CellSpec", "CellInputs", "CellOutcome", "MethodRef", "execute", "PRECISIONS", "CHECKPOINT", "canonical_json",
           "params_hash"]
