"""UF1, UAR and accuracy written from their definitions, independently of mebench.metrics, as the expected
values of the statistics and report tests (test_metrics.py checks them against scikit-learn). Per class c:
F1 = 2 TP / (2 TP + FP + FN), skipped when nobody has or predicts c; recall = TP / N_c, skipped when N_c = 0."""

from __future__ import annotations

import numpy as np


def _counts(y_true, y_pred, c: int) -> tuple[int, int, int]:
    t, p = np.asarray(y_true) == c, np.asarray(y_pred) == c
    return int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p))


def uf1(y_true, y_pred, n_classes: int) -> float:
    f1 = [2 * tp / (2 * tp + fp + fn) for tp, fp, fn in (_counts(y_true, y_pred, c) for c in range(n_classes))
          if 2 * tp + fp + fn]
    return float(np.mean(f1)) if f1 else float("nan")


def uar(y_true, y_pred, n_classes: int) -> float:
    recall = [tp / (tp + fn) for tp, _, fn in (_counts(y_true, y_pred, c) for c in range(n_classes)) if tp + fn]
    return float(np.mean(recall)) if recall else float("nan")


def accuracy(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def scores(y_true, y_pred, n_classes: int) -> dict[str, float]:
    return dict(uf1=uf1(y_true, y_pred, n_classes), uar=uar(y_true, y_pred, n_classes),
                accuracy=accuracy(y_true, y_pred))
