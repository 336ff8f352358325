"""Epoch selection: which of a training run's epochs makes the fold's predictions.

- final: the last epoch of the fixed budget (honest; the default).
- epoch:E: epoch E for every fold (honest when E is fixed in advance).
- oracle: for each test subject, the epoch with the best accuracy on that very subject, ties
  going to the later epoch: the published HTNet protocol, reproduced only to measure how much
  it inflates results (leaky).
- oracle-stop: the published CausalNet protocol (main_train.py): for each test subject, the first
  epoch with the best accuracy on that subject, the subject's training stopped at the first epoch
  where it reaches 100% (leaky). Derived from the one training's record: the stop ends a fold's
  training after the epoch it keeps and changes nothing before it, so the first best epoch of the
  full record is the epoch the stopped training keeps.
- validation: the epoch with the best UF1 on subjects held out from the fold's *training*
  subjects (stratified by source dataset), optionally stopping early; the test subject is
  seen once, by the final prediction (honest).

final, epoch:E, oracle and oracle-stop are readings of one training: when any but `final` is asked
for, the training records its test predictions after every epoch (`EpochRecord`), and each
selection is derived from the record. `validation` removes subjects from training, so it is a
training of its own.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mebench.errors import ConfigError, DataError
from mebench.method import Method, StopTraining
from mebench.metrics import uf1

LEAKY = {"oracle", "oracle-stop"}
FULL = "full"  # the training behind final, epoch:E and oracle
_EPOCH = re.compile(r"^epoch:([1-9]\d*)$")
_COUNT = re.compile(r"^[1-9]\d*$")  # a count as str(int) writes it, so parse and str round trip


@dataclass(frozen=True)
class Training:
    """What a cell trains, as a value: `kind` is

    - full: on the whole training fold (read as final, epoch:E, oracle, oracle-stop);
    - validation: on the training fold less `count` held-out subjects, the epoch chosen on them, stopping after
      `patience` epochs without improvement (None: never);
    - inner: a nested search's inner training (mebench.tuning): on the training fold less `count` held-out
      subjects, predicting them;
    - checkpoint: no training; a released checkpoint evaluated.

    Its string form (`str(training)`: "full", "validation:K:P", "inner:K", "checkpoint"; `Training.parse` reads it
    back) is what the results database stores in a cell's `training` column and is part of the cell's identity
    (`CellSpec.key`): it must never change."""

    kind: str
    count: int | None = None  # held-out subjects (validation, inner)
    patience: int | None = None  # validation only

    def __post_init__(self) -> None:
        counted = self.kind in ("validation", "inner")
        if self.kind not in ("full", "validation", "inner", "checkpoint"):
            raise ConfigError(f"unknown training kind {self.kind!r}: choose from full, validation, inner, checkpoint")
        if counted != (self.count is not None) or (counted and not (type(self.count) is int and self.count >= 1)):
            raise ConfigError(f"training {self.kind!r}: " + ("needs a count of held-out subjects >= 1, not "
                                                            f"{self.count!r}" if counted else "takes no count"))
        if self.patience is not None and not (self.kind == "validation" and type(self.patience) is int
                                              and self.patience >= 1):
            raise ConfigError(f"training {self.kind!r}: patience {self.patience!r} " +
                              ("must be at least 1 or None" if self.kind == "validation" else "is for validation only"))

    @classmethod
    def full(cls) -> "Training":
        return cls("full")

    @classmethod
    def validation(cls, count: int, patience: int | None = None) -> "Training":
        return cls("validation", count, patience)

    @classmethod
    def inner(cls, count: int) -> "Training":
        return cls("inner", count)

    @classmethod
    def checkpoint(cls) -> "Training":
        return cls("checkpoint")

    @classmethod
    def parse(cls, text: Any) -> "Training":
        """The training a stored string names; ConfigError naming the text when it names none."""
        parts = text.split(":") if isinstance(text, str) else []
        if parts in (["full"], ["checkpoint"]):
            return cls(parts[0])
        if len(parts) == 2 and parts[0] == "inner" and _COUNT.match(parts[1]):
            return cls.inner(int(parts[1]))
        if (len(parts) == 3 and parts[0] == "validation" and _COUNT.match(parts[1])
                and (parts[2] == "None" or _COUNT.match(parts[2]))):
            return cls.validation(int(parts[1]), None if parts[2] == "None" else int(parts[2]))
        raise ConfigError(f"unknown training {text!r}: expected full, validation:K:P (K >= 1 held-out subjects, "
                          "P a patience >= 1 or None), inner:K or checkpoint")

    def __str__(self) -> str:
        if self.kind == "validation":
            return f"validation:{self.count}:{self.patience}"
        if self.kind == "inner":
            return f"inner:{self.count}"
        return self.kind


def is_leaky(selection: str) -> bool:
    return selection in LEAKY


def check_selection_name(name: str) -> str:
    name = name.strip()
    if name in ("final", "oracle", "oracle-stop", "validation") or _EPOCH.match(name):
        return name
    raise ConfigError(f"--epoch-selection {name!r}: choose from final, epoch:E (E >= 1), oracle, oracle-stop, validation "
                      "(several as a comma list, e.g. final,oracle)")


def fixed_epochs(names) -> list[int]:
    """The E of every epoch:E among selection names."""
    return [int(m.group(1)) for m in map(_EPOCH.match, names) if m]


@dataclass(frozen=True)
class EpochSelection:
    """The selections a run asks for: `name` is one selection or a comma list ("final,oracle")."""

    name: str = "final"
    validation_subjects: int = 4  # training subjects held out per fold (validation only)
    patience: int | None = None  # stop after this many epochs without improvement (validation only)
    record_epochs: bool = False  # record every epoch's test predictions even for `final` alone

    def __post_init__(self) -> None:
        names = [check_selection_name(n) for n in self.name.split(",") if n.strip()]
        if not names:
            raise ConfigError("--epoch-selection is empty")
        object.__setattr__(self, "name", ",".join(dict.fromkeys(names)))
        if self.validation_subjects < 1:
            raise ConfigError(f"--validation-subjects {self.validation_subjects}: must be at least 1")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"--patience {self.patience}: must be at least 1")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.name.split(","))

    def trainings(self) -> dict[str, tuple[str, ...]]:
        """Training key -> the selections read from it: `full` for final/epoch:E/oracle/oracle-stop, and
        `validation:K:P` for validation."""
        out: dict[str, tuple[str, ...]] = {}
        full = tuple(n for n in self.names if n != "validation")
        if full:
            out[FULL] = full
        if "validation" in self.names:
            out[str(Training.validation(self.validation_subjects, self.patience))] = ("validation",)
        return out

    def records_epochs(self) -> bool:
        """Whether the full training must record its per-epoch test predictions."""
        return self.record_epochs or any(n != "final" for n in self.trainings().get(FULL, ()))

    def needs_iterations(self) -> list[str]:
        """The asked selections that only an iterative method can give."""
        return [n for n in self.names if n != "final"]


@dataclass
class Selected:
    proba: np.ndarray  # (n_test, n_classes)
    epochs: np.ndarray  # epoch behind each test prediction, -1 when not applicable
    details: dict[str, Any] | None  # stored with the cell (chosen epochs, validation subjects)


@dataclass
class EpochRecord:
    """A training's test predictions after every epoch: probabilities (float16 when stored) and the
    predicted classes (exact: argmax of the full-precision probabilities)."""

    proba: np.ndarray  # (n_epochs, n_test, n_classes)
    pred: np.ndarray  # (n_epochs, n_test) uint8

    @classmethod
    def from_history(cls, history: list[np.ndarray]) -> "EpochRecord":
        stacked = np.stack([np.asarray(h, dtype=np.float64) for h in history])
        return cls(stacked.astype(np.float16), stacked.argmax(axis=2).astype(np.uint8))

    @property
    def n_epochs(self) -> int:
        return int(self.pred.shape[0])


def oracle_selection(record: EpochRecord, y_test: np.ndarray, subjects: np.ndarray,
                     ties: str = "last") -> tuple[np.ndarray, np.ndarray, dict]:
    """(predicted classes, epoch per test sample, {subject: epoch}): for each test subject the epoch
    with the best accuracy on that subject, the later epoch on ties (`<=` in HTNet's code), or with
    `ties="first"` the earlier one (`oracle-stop`: CausalNet's `<`; with its stop at 100%, the first epoch
    reaching 100% when one does). Where a subject's accuracy is 0 at every epoch, CausalNet's code keeps no
    prediction at all (its best starts at 0 and only a larger one replaces it), so those samples drop out
    of its score; "first" keeps epoch 1's predictions instead, so every sample is scored."""
    correct = record.pred == np.asarray(y_test)[None, :]
    pred = np.empty(record.pred.shape[1], dtype=np.int64)
    epochs = np.empty(record.pred.shape[1], dtype=np.int64)
    chosen: dict[str, int] = {}
    for subject in pd.unique(np.asarray(subjects)):
        cols = np.asarray(subjects) == subject
        acc = correct[:, cols].mean(axis=1)
        best = int(np.flatnonzero(acc == acc.max())[0 if ties == "first" else -1])
        pred[cols] = record.pred[best, cols]
        epochs[cols] = best + 1
        chosen[str(subject)] = best + 1
    return pred, epochs, chosen


def fixed_epoch(selection: str) -> int:
    m = _EPOCH.match(selection)
    if not m:
        raise ConfigError(f"{selection!r} is not epoch:E")
    return int(m.group(1))


def derive(selection: str, record: EpochRecord, y_test: np.ndarray, subjects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted classes, epoch per test sample) of `selection` (final, epoch:E, oracle or oracle-stop) read
    off a record."""
    if selection == "final":
        return record.pred[-1].astype(np.int64), np.full(record.pred.shape[1], record.n_epochs)
    if selection in ("oracle", "oracle-stop"):
        pred, epochs, _ = oracle_selection(record, y_test, subjects, "first" if selection == "oracle-stop" else "last")
        return pred, epochs
    e = fixed_epoch(selection)
    if e > record.n_epochs:
        raise DataError(f"{selection}: the training recorded {record.n_epochs} epochs")
    return record.pred[e - 1].astype(np.int64), np.full(record.pred.shape[1], e)


def validation_subjects(train_samples: pd.DataFrame, count: int, seed: int) -> list[str]:
    """`count` training subject keys, spread over source datasets in proportion to their subjects
    (round robin, largest source first), chosen with a seeded shuffle."""
    by_source = {src: sorted(part["subject_key"].unique()) for src, part in train_samples.groupby("dataset", sort=True)}
    total = sum(len(v) for v in by_source.values())
    if count >= total:
        raise ConfigError(f"--validation-subjects {count}: the fold has only {total} training subjects")
    rng = np.random.default_rng(seed)
    queues = {src: list(rng.permutation(keys)) for src, keys in by_source.items()}
    order = sorted(queues, key=lambda s: (-len(queues[s]), s))
    chosen: list[str] = []
    while len(chosen) < count:
        for src in order:
            if queues[src] and len(chosen) < count:
                chosen.append(str(queues[src].pop()))
    return sorted(chosen)


def fit_full(method: Method, X_train, y_train, X_test, record: bool) -> tuple[Selected, EpochRecord | None]:
    """Train on the whole training fold; the last epoch's test predictions, and with `record` every
    epoch's (an evaluation pass on the test samples after each epoch, which does not change training)."""
    history: list[np.ndarray] = []
    if record:
        method.fit(X_train, y_train, epoch_callback=lambda epoch, m: history.append(m.predict_proba(X_test)))
    else:
        method.fit(X_train, y_train)
    proba = method.predict_proba(X_test)
    return Selected(proba, np.full(len(X_test), -1), None), (EpochRecord.from_history(history) if history else None)


def fit_validation(method: Method, X_train, y_train, train_subjects: np.ndarray, held_out: list[str], X_test,
                   n_classes: int, patience: int | None) -> Selected:
    is_val = np.isin(train_subjects, held_out)
    X_fit, y_fit, X_val, y_val = X_train[~is_val], y_train[~is_val], X_train[is_val], y_train[is_val]
    best: dict[str, Any] = {"epoch": 0, "score": -np.inf, "model": None}

    def on_epoch(epoch: int, m: Method) -> None:
        score = uf1(y_val, m.predict_proba(X_val).argmax(axis=1), n_classes)
        if score > best["score"]:  # ties keep the earlier epoch
            best.update(epoch=epoch, score=score, model=copy.deepcopy(m))
        elif patience is not None and epoch - best["epoch"] >= patience:
            raise StopTraining

    method.fit(X_fit, y_fit, epoch_callback=on_epoch)
    final = best["model"] if best["model"] is not None else method
    details = {"epoch": best["epoch"] or None, "validation_uf1": None if best["model"] is None else float(best["score"]),
               "validation_subjects": held_out}
    return Selected(final.predict_proba(X_test), np.full(len(X_test), best["epoch"] or -1), details)
