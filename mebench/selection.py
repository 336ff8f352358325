"""Epoch selection: which of a training run's epochs makes the fold's predictions.

- final: the last epoch of the fixed budget (honest; the default).
- validation: the epoch with the best UF1 on subjects held out from the fold's *training*
  subjects (stratified by source dataset), optionally stopping early; the test subject is
  seen once, by the final prediction (honest).
- oracle: for each test subject, the epoch with the best accuracy on that very subject, ties
  going to the later epoch: the published HTNet protocol, reproduced only to measure how much
  it inflates results (leaky).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mebench.errors import ConfigError
from mebench.method import Method, StopTraining
from mebench.metrics import uf1

EPOCH_SELECTIONS = {
    "final": "the last epoch of a fixed budget (honest)",
    "validation": "best validation UF1 on held-out training subjects, stratified by source dataset (honest)",
    "oracle": "per test subject, the epoch with the best accuracy on that subject: the published HTNet protocol; "
    "leaky (model selection on test data), reproduced to measure the inflation",
}
LEAKY = {"oracle"}


@dataclass(frozen=True)
class EpochSelection:
    name: str = "final"
    validation_subjects: int = 4  # training subjects held out per fold (validation only)
    patience: int | None = None  # stop after this many epochs without improvement (validation only)

    def __post_init__(self) -> None:
        if self.name not in EPOCH_SELECTIONS:
            raise ConfigError(f"--epoch-selection {self.name!r}: choose one of {', '.join(EPOCH_SELECTIONS)}")
        if self.validation_subjects < 1:
            raise ConfigError(f"--validation-subjects {self.validation_subjects}: must be at least 1")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"--patience {self.patience}: must be at least 1")

    def key(self) -> str:
        """What distinguishes results of this selection (goes into the cell key)."""
        if self.name == "validation":
            return f"validation:{self.validation_subjects}:{self.patience}"
        return self.name


@dataclass
class Selected:
    proba: np.ndarray  # (n_test, n_classes)
    epochs: np.ndarray  # epoch behind each test prediction, -1 when not applicable
    details: dict[str, Any] | None  # stored with the cell (chosen epochs, validation subjects)


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


def fit_final(method: Method, X_train, y_train, X_test) -> Selected:
    method.fit(X_train, y_train)
    return Selected(method.predict_proba(X_test), np.full(len(X_test), -1), None)


def fit_oracle(method: Method, X_train, y_train, X_test, y_test, test_subjects: np.ndarray) -> Selected:
    history: list[np.ndarray] = []
    method.fit(X_train, y_train, epoch_callback=lambda epoch, m: history.append(m.predict_proba(X_test)))
    if not history:  # not an iterative method: there is nothing to select
        return Selected(method.predict_proba(X_test), np.full(len(X_test), -1), None)
    stacked = np.stack(history)  # (epochs, n_test, classes)
    correct = stacked.argmax(axis=2) == np.asarray(y_test)[None, :]
    proba = np.empty_like(stacked[0])
    epochs = np.empty(len(X_test), dtype=int)
    chosen: dict[str, int] = {}
    for subject in np.unique(test_subjects):
        cols = test_subjects == subject
        acc = correct[:, cols].mean(axis=1)
        best = int(np.flatnonzero(acc == acc.max())[-1])  # `<=` in the published code: the later epoch wins
        proba[cols] = stacked[best][cols]
        epochs[cols] = best + 1
        chosen[str(subject)] = best + 1
    return Selected(proba, epochs, {"oracle_epochs": chosen})


def fit_validation(method: Method, X_train, y_train, train_subjects: np.ndarray, held_out: list[str], X_test,
                   n_classes: int, patience: int | None) -> Selected:
    is_val = np.isin(train_subjects, held_out)
    X_fit, y_fit, X_val, y_val = X_train[~is_val], y_train[~is_val], X_train[is_val], y_train[is_val]
    best = {"epoch": 0, "score": -np.inf, "model": None}

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
