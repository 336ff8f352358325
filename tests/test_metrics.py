"""UF1, UAR and accuracy against values worked out by hand and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from mebench.metrics import (
    accuracy,
    accuracy_from_confusion,
    confusion_matrix,
    scores,
    uar,
    uar_from_confusion,
    uf1,
    uf1_from_confusion,
)
from tests import reference_metrics

# Nine samples, three classes. (true, pred) pairs:
# (0,0) (0,0) (0,1) (1,1) (1,2) (2,2) (2,2) (2,0) (2,1)
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 2, 0, 1]
# class 0: TP=2 FP=1 (2->0) FN=1 (0->1)        F1 = 4/6, recall = 2/3
# class 1: TP=1 FP=2 (0->1, 2->1) FN=1 (1->2)  F1 = 2/5, recall = 1/2
# class 2: TP=2 FP=1 (1->2) FN=2 (2->0, 2->1)  F1 = 4/7, recall = 2/4
HAND_UF1 = (4 / 6 + 2 / 5 + 4 / 7) / 3  # = 172/315
HAND_UAR = (2 / 3 + 1 / 2 + 2 / 4) / 3  # = 5/9
HAND_ACC = 5 / 9


def test_confusion_matrix_by_hand():
    expected = np.array([[2, 1, 0],
                         [0, 1, 1],
                         [1, 1, 2]])
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED, 3), expected)


def test_three_class_example_by_hand():
    assert uf1(Y_TRUE, Y_PRED, 3) == pytest.approx(HAND_UF1, abs=1e-15)
    assert HAND_UF1 == pytest.approx(172 / 315)
    assert uar(Y_TRUE, Y_PRED, 3) == pytest.approx(HAND_UAR, abs=1e-15)
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(HAND_ACC, abs=1e-15)
    assert scores(Y_TRUE, Y_PRED, 3) == pytest.approx(dict(uf1=HAND_UF1, uar=HAND_UAR, accuracy=HAND_ACC))


def test_class_absent_from_truth_and_predictions_is_skipped():
    # A fourth class that nobody has or predicts (2TP+FP+FN = 0, N_c = 0) changes nothing.
    assert uf1(Y_TRUE, Y_PRED, 4) == pytest.approx(HAND_UF1)
    assert uar(Y_TRUE, Y_PRED, 4) == pytest.approx(HAND_UAR)


def test_class_predicted_but_absent_counts_in_uf1_only():
    # class 0: TP=1 FN=1 -> F1 2/3, recall 1/2; class 1: TP=2 -> F1 1, recall 1;
    # class 2: nothing -> skipped; class 3: FP=1 only -> F1 0, no recall (N=0) -> skipped in UAR.
    y_true, y_pred = [0, 0, 1, 1], [0, 3, 1, 1]
    assert uf1(y_true, y_pred, 4) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert uar(y_true, y_pred, 4) == pytest.approx((1 / 2 + 1) / 2)
    assert accuracy(y_true, y_pred, 4) == pytest.approx(3 / 4)


def test_class_never_predicted_counts_as_zero():
    # class 0: F1 1; class 1: TP=1 FP=1 -> 2/3; class 2: TP=0 FN=1 -> 0.
    y_true, y_pred = [0, 1, 2], [0, 1, 1]
    assert uf1(y_true, y_pred, 3) == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert uar(y_true, y_pred, 3) == pytest.approx((1 + 1 + 0) / 3)


def test_perfect_and_empty():
    assert scores([0, 1, 2, 2], [0, 1, 2, 2], 3) == dict(uf1=1.0, uar=1.0, accuracy=1.0)
    empty = scores([], [], 3)
    assert all(math.isnan(v) for v in empty.values())


def sklearn_scores(y_true, y_pred) -> tuple[float, float, float]:
    """UF1 over the classes anybody has or predicts, UAR over the classes present, accuracy."""
    seen, present = np.union1d(y_true, y_pred), np.unique(y_true)
    return (skm.f1_score(y_true, y_pred, labels=seen, average="macro"),
            skm.recall_score(y_true, y_pred, labels=present, average="macro"), skm.accuracy_score(y_true, y_pred))


def draws(n: int = 40, seed: int = 0):
    """Random (truth, prediction) pairs over 4 classes; some draws leave a class out of one side or both."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        k = int(rng.integers(1, 30))
        yield rng.integers(0, int(rng.integers(2, 5)), k), rng.integers(0, int(rng.integers(2, 5)), k)


def test_random_draws_agree_with_scikit_learn():
    for y_true, y_pred in draws():
        expected = sklearn_scores(y_true, y_pred)
        assert (uf1(y_true, y_pred, 4), uar(y_true, y_pred, 4), accuracy(y_true, y_pred)) == pytest.approx(expected)
        assert tuple(reference_metrics.scores(y_true, y_pred, 4).values()) == pytest.approx(expected)


def test_stacked_confusions_agree_with_scikit_learn():
    pairs = list(draws(8, seed=1))
    pairs = [(y[:6], p[:6]) for y, p in pairs if len(y) >= 6]  # stacked confusions: any counts, one shape
    assert len(pairs) >= 3
    cms = np.stack([confusion_matrix(y, p, 4) for y, p in pairs])
    expected = np.array([sklearn_scores(y, p) for y, p in pairs])
    for column, fn in enumerate((uf1_from_confusion, uar_from_confusion, accuracy_from_confusion)):
        np.testing.assert_allclose(fn(cms), expected[:, column])


def test_bad_labels_raise():
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0, -1], 3)
    with pytest.raises(ValueError):
        uf1([0, 1, 2], [0, 1], 3)
