"""mebench.engine.execute on methods that misbehave: what a method raises propagates unchanged (the driver
stores it as the cell's failure), and scores that are not probabilities of the right shape are refused with a
message naming the shape or the sample, never stored."""

from __future__ import annotations

import numpy as np
import pytest

from mebench import plugins
from mebench.engine import CellInputs, CellSpec, execute
from mebench.errors import ConfigError
from mebench.method import Method, MethodInfo
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.store import ResultStore

N_CLASSES = 3
SAMPLES = [f"d/s{i % 4}/c{i}" for i in range(12)]
TRAIN, TEST = tuple(SAMPLES[:8]), tuple(SAMPLES[8:])


def inputs() -> CellInputs:
    rng = np.random.default_rng(0)
    return CellInputs(features=rng.uniform(0, 255, (len(SAMPLES), 3, 4, 4)).astype(np.float32),
                      labels=np.arange(len(SAMPLES)) % N_CLASSES,
                      subjects=np.array([s.rsplit("/", 1)[0] for s in SAMPLES]),
                      datasets=np.array(["d"] * len(SAMPLES)), samples=SAMPLES, n_classes=N_CLASSES)


def spec(**changes) -> CellSpec:
    return CellSpec(**{**dict(method="scores", preset="quick", params={}, protocol="loso", fold="d/s2", train=TRAIN,
                              test=TEST, seed=0), **changes})


class Scores(Method):
    """predict_proba returns `SCORES` (a function of the number of test samples), whatever it was trained on."""

    info = MethodInfo(name="scores", summary="returns scripted scores (test plugin)", input="flow", citation="test",
                      presets={"paper": {}, "quick": {}}, iterative=False)

    @staticmethod
    def SCORES(n: int) -> np.ndarray:
        return np.full((n, N_CLASSES), 1.0 / N_CLASSES)

    def __init__(self, *, num_classes: int = N_CLASSES, seed: int = 0):
        self.num_classes, self.seed = num_classes, seed

    def fit(self, X, y):
        self.fitted_ = True
        return self

    def predict_proba(self, X):
        return type(self).SCORES(len(X))


def scoring(scores) -> type[Scores]:
    return type("Scripted", (Scores,), {"SCORES": staticmethod(scores)})


def test_valid_probabilities_are_the_outcome():
    proba = np.tile([0.2, 0.5, 0.3], (len(TEST), 1))
    outcome = execute(spec(), inputs(), method_class=scoring(lambda n: proba))
    np.testing.assert_array_equal(outcome.proba, proba)
    assert outcome.proba.dtype == np.float64 and list(outcome.epochs) == [-1] * len(TEST)


def test_what_the_method_raises_propagates_unchanged():
    class Broken(Scores):
        def fit(self, X, y):
            raise RuntimeError("out of memory on purpose")

    with pytest.raises(RuntimeError, match="out of memory on purpose"):
        execute(spec(), inputs(), method_class=Broken)


@pytest.mark.parametrize("scores, message", [
    (lambda n: np.full((n, 2), 0.5), r"returned shape \(4, 2\) \(finite: True\), expected finite \(4, 3\)"),
    (lambda n: np.full((n - 1, 3), 1 / 3), r"returned shape \(3, 3\) .*expected finite \(4, 3\)"),
    (lambda n: np.full(n, 0), r"returned shape \(4,\) .*expected finite \(4, 3\)"),
    (lambda n: np.where(np.arange(n)[:, None] == 1, np.nan, 1 / 3) * np.ones((n, 3)), r"\(finite: False\)"),
])
def test_scores_of_the_wrong_shape_or_not_finite_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        execute(spec(), inputs(), method_class=scoring(scores))


@pytest.mark.parametrize("row, shown", [
    ([2.0, -1.0, 0.0], "[ 2. -1.  0.]"),  # logits
    ([0.5, 0.5, 0.5], "[0.5 0.5 0.5]"),  # each in [0, 1], but not summing to 1
    ([0.3, 0.3, 0.3], "[0.3 0.3 0.3]"),
])
def test_scores_that_are_not_probabilities_are_refused_naming_the_sample(row, shown):
    def scores(n):
        out = np.tile([0.2, 0.5, 0.3], (n, 1))
        out[2] = row
        return out

    with pytest.raises(ValueError) as exc:
        execute(spec(), inputs(), method_class=scoring(scores))
    assert f"1 of {len(TEST)} rows are not, e.g. sample {TEST[2]}: {shown}" in str(exc.value)
    assert "must return probabilities" in str(exc.value)


def test_rounding_within_the_tolerance_is_accepted():
    proba = np.tile([0.2, 0.5, 0.3 + 5e-4], (len(TEST), 1))
    np.testing.assert_array_equal(execute(spec(), inputs(), method_class=scoring(lambda n: proba)).proba, proba)


def test_recording_epochs_of_a_method_that_reports_none_is_refused():
    class Silent(Scores):
        def fit(self, X, y, *, epoch_callback=None):  # takes the callback but never calls it
            return self

    with pytest.raises(ConfigError, match="method 'scores' reported no epochs to its epoch_callback"):
        execute(spec(record_epochs=True), inputs(), method_class=Silent)


def test_an_unknown_training_is_refused():
    with pytest.raises(ConfigError, match="unknown training 'nested'"):
        execute(spec(training="nested"), inputs(), method_class=Scores)


def test_a_run_stores_the_refusal_as_the_cell_s_failure(tmp_path, tiny_data):
    logits = scoring(lambda n: np.tile([2.0, -1.0, 0.0], (n, 1)))
    logits.info = Scores.info
    plugins.register_method(logits)
    try:
        summary = run_grid(RunConfig(methods=("scores",), protocol="loso", out=tmp_path, data=tiny_data))
    finally:
        plugins.methods.unregister("scores")
    assert summary.done == 0 and len(summary.failed) == 6
    cells = ResultStore(tmp_path).cells()
    assert set(cells["status"]) == {"failed"}
    assert all("ValueError: predict_proba must return probabilities" in e for e in cells["error"])
    assert ResultStore(tmp_path).predictions().empty
