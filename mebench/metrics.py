"""Classification metrics of the MEGC protocols: UF1, UAR and accuracy.

All metrics are computed from one confusion matrix of the predictions pooled over every fold
of a protocol (the MEGC convention), never as a mean of per-fold values.

Which classes count
-------------------
The classes are ``0 .. n_classes-1``, given explicitly, so a class missing from a subset is
still known. A class that never occurs and is never predicted has no defined F1 (0/0) and is
left out of the UF1 mean; a class with no true samples has no defined recall and is left out of
the UAR mean. This is the MEGC convention of skipping absent classes, and it makes the scores of
a subset (one dataset of the composite protocol, one bootstrap resample) well defined. A class
that is predicted but never occurs still counts in UF1 (its F1 is 0): those false positives are
real errors.

The ``*_from_confusion`` functions accept stacks of matrices (shape ``(..., C, C)``) so the
bootstrap and permutation tests in ``reports.statistics`` can score thousands of resamples at once.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "confusion_matrix",
    "uf1",
    "uar",
    "accuracy",
    "scores",
    "uf1_from_confusion",
    "uar_from_confusion",
    "accuracy_from_confusion",
]


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``cm[t, p]`` of samples of true class ``t`` predicted as ``p`` (int64, shape C x C)."""
    y_true = np.asarray(y_true).astype(np.int64, copy=False).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length ({y_true.size} vs {y_pred.size})")
    if n_classes < 1:
        raise ValueError(f"n_classes must be positive, got {n_classes}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}")
    # One bincount over the flattened (true, pred) index is the fastest exact count.
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _masked_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the valid entries only; NaN where none is valid."""
    count = valid.sum(axis=-1)
    total = np.where(valid, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def uf1_from_confusion(cm) -> np.ndarray | float:
    """Unweighted F1: mean over classes of 2TP / (2TP + FP + FN), classes with 2TP+FP+FN = 0 skipped."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)  # (TP + FN) + (TP + FP) = 2TP + FP + FN
    valid = denom > 0
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(denom), where=valid)
    out = _masked_mean(f1, valid)
    return float(out) if out.ndim == 0 else out


def uar_from_confusion(cm) -> np.ndarray | float:
    """Unweighted average recall: mean over classes of TP / N_c, classes with N_c = 0 skipped."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    n_c = cm.sum(axis=-1)
    valid = n_c > 0
    recall = np.divide(tp, n_c, out=np.zeros_like(n_c), where=valid)
    out = _masked_mean(recall, valid)
    return float(out) if out.ndim == 0 else out


def accuracy_from_confusion(cm) -> np.ndarray | float:
    """Fraction of samples on the diagonal; NaN for an empty matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    correct = np.diagonal(cm, axis1=-2, axis2=-1).sum(axis=-1)
    total = cm.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, correct / np.maximum(total, 1), np.nan)
    return float(out) if out.ndim == 0 else out


def uf1(y_true, y_pred, n_classes: int) -> float:
    """UF1 of the pooled predictions (see the module docstring for which classes count)."""
    return float(uf1_from_confusion(confusion_matrix(y_true, y_pred, n_classes)))  # one matrix: already a float


def uar(y_true, y_pred, n_classes: int) -> float:
    """UAR of the pooled predictions (see the module docstring for which classes count)."""
    return float(uar_from_confusion(confusion_matrix(y_true, y_pred, n_classes)))  # one matrix: already a float


def accuracy(y_true, y_pred, n_classes: int | None = None) -> float:
    """Fraction of correct predictions (``n_classes`` only validates the labels when given)."""
    if n_classes is not None:
        return float(accuracy_from_confusion(confusion_matrix(y_true, y_pred, n_classes)))  # already a float
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length ({y_true.size} vs {y_pred.size})")
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


# Metric name -> function of a (stack of) confusion matrices; used by the statistics layer.
FROM_CONFUSION = {"uf1": uf1_from_confusion, "uar": uar_from_confusion, "accuracy": accuracy_from_confusion}


def scores(y_true, y_pred, n_classes: int) -> dict[str, float]:
    """UF1, UAR and accuracy of the pooled predictions, from one confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    return {name: float(fn(cm)) for name, fn in FROM_CONFUSION.items()}
