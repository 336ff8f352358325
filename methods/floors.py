"""Two floors every results table can show: what a classifier that ignores its input scores.

`majority` always predicts the training fold's most frequent class; `stratified` draws each
prediction at random from the training fold's class frequencies. They are scikit-learn's
DummyClassifier strategies "most_frequent" and "stratified" (Pedregosa et al., "Scikit-learn:
Machine Learning in Python", JMLR 12, 2011; https://github.com/scikit-learn/scikit-learn),
written here without the dependency. Under class imbalance, as in the MEGC2019 composite,
`majority` scores a sizeable accuracy but a macro F1 (UF1) of one third of its single nonzero
per-class F1, and `stratified` shows what chance agreement with the label distribution looks like.

Probabilities, as in scikit-learn: `majority` gives the one-hot vector of the majority class;
`stratified` gives the one-hot vector of the sampled class, so `predict` is the sampled class.
The draws come from a fresh numpy Generator seeded by `seed` at every call, so a call is
deterministic for a seed, the same X always gets the same predictions, and a prefix of X gets
a prefix of them. Ties for the majority go to the lowest class index. Classes absent from the
training fold get frequency 0 (and are never predicted).
"""

from __future__ import annotations

import numpy as np

from mebench.errors import DataError
from mebench.method import EpochCallback, Method, MethodInfo

CITATION = ("Pedregosa, F. et al. Scikit-learn: Machine Learning in Python. Journal of Machine Learning Research 12, "
            "2825-2830 (2011) (DummyClassifier).")
CODE_URL = "https://github.com/scikit-learn/scikit-learn"


class _FloorMethod(Method):
    """Shared part: fit counts the training labels. The parameters are Method's: num_classes and seed."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, epoch_callback: EpochCallback | None = None) -> "_FloorMethod":
        # Method's one signature; not iterative, so mebench never passes a callback and there is no epoch to report
        y = np.asarray(y, dtype=np.int64).ravel()
        if len(y) == 0:
            raise DataError(f"{self.info.name}: cannot fit on an empty training set")
        if y.min() < 0 or y.max() >= self.num_classes:
            raise DataError(f"{self.info.name}: labels must lie in 0..{self.num_classes - 1}, got {y.min()}..{y.max()}")
        self.class_counts_: np.ndarray = np.bincount(y, minlength=self.num_classes)
        self.class_frequencies_: np.ndarray = self.class_counts_ / self.class_counts_.sum()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "class_counts_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")


class MajorityMethod(_FloorMethod):
    info = MethodInfo(
        name="majority", display_name="Majority class",
        summary="floor: always the training fold's majority class",
        input="flow",
        citation=CITATION,
        code_url=CODE_URL,
        tags=("baseline", "floor"),
        presets={"paper": {}, "quick": {}},
        iterative=False,
    )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        proba = np.zeros((len(X), self.num_classes))
        proba[:, int(np.argmax(self.class_counts_))] = 1.0
        return proba


class StratifiedMethod(_FloorMethod):
    info = MethodInfo(
        name="stratified", display_name="Stratified random",
        summary="floor: random classes drawn from the training fold's class frequencies (seeded)",
        input="flow",
        citation=CITATION,
        code_url=CODE_URL,
        tags=("baseline", "floor"),
        presets={"paper": {}, "quick": {}},
        iterative=False,
    )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        drawn = np.random.default_rng(self.seed).choice(self.num_classes, size=len(X), p=self.class_frequencies_)
        proba = np.zeros((len(X), self.num_classes))
        proba[np.arange(len(X)), drawn] = 1.0
        return proba
