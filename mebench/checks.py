"""Conformance checks for method plugins, in the spirit of scikit-learn's `check_estimator`.

Plugin authors run them in their own test suite:

    from mebench.checks import method_checks
    @pytest.mark.parametrize("check", method_checks(MyMethod), ids=lambda c: c.__name__)
    def test_my_method(check):
        check()

or all at once with `check_method(MyMethod)`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Iterator

import numpy as np

from mebench.method import PAPER_PRESET, QUICK_PRESET, REPRESENTATIONS, Method, MethodInfo

INPUT_SHAPE = (3, 28, 28)  # every representation (mebench.method.REPRESENTATIONS) is a 3x28x28 image
FAST = {"epochs": 2}  # applied where the method has the parameter, to keep checks quick


def _data(cls: type[Method], n: int = 24, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 255, size=(n, *INPUT_SHAPE)).astype(np.float32)
    y = np.arange(n) % n_classes
    X[np.arange(n), 0, :4, :4] += 40.0 * y[:, None, None]  # a little signal
    return X, y


def _quick(cls: type[Method], **extra: Any) -> Method:
    names = set(cls.param_names())
    params = {**cls.info.presets.get(QUICK_PRESET, cls.info.presets[PAPER_PRESET])}
    params.update({k: v for k, v in FAST.items() if k in names})
    params.update(extra)
    return cls(**params)


def check_info(cls: type[Method]) -> None:
    info = getattr(cls, "info", None)
    assert isinstance(info, MethodInfo), f"{cls.__name__}.info must be a MethodInfo"
    assert info.input in REPRESENTATIONS, f"unknown input {info.input!r}"
    assert info.citation.strip(), "a method cites its paper"
    for preset in (PAPER_PRESET, QUICK_PRESET):
        assert preset in info.presets, f"preset {preset!r} is missing"
    names = set(cls.param_names())
    for preset, params in info.presets.items():
        unknown = set(params) - names
        assert not unknown, f"preset {preset!r} sets unknown parameters {sorted(unknown)}"
    assert {"num_classes", "seed"} <= names, "every method takes num_classes and seed"


def check_constructor_only_stores(cls: type[Method]) -> None:
    sig = inspect.signature(cls.__init__)
    for p in list(sig.parameters.values())[1:]:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"parameter {p.name!r} must be keyword-only"
        assert p.default is not inspect.Parameter.empty, f"parameter {p.name!r} needs a default"
    defaults = cls.param_defaults()
    method = cls(**defaults)
    assert method.get_params() == defaults, "the constructor must store its parameters unchanged"
    fitted = [k for k in vars(method) if k.endswith("_") and not k.startswith("_")]
    assert not fitted, f"the constructor must not fit or build anything (found {fitted})"


def check_fit_predict(cls: type[Method]) -> None:
    X, y = _data(cls)
    X_copy = X.copy()
    method = _quick(cls, num_classes=3, seed=0)
    assert method.fit(X, y) is method, "fit must return self"
    assert np.array_equal(X, X_copy), "fit must not modify its input"
    proba = np.asarray(method.predict_proba(X[:5]))
    assert proba.shape == (5, 3), f"predict_proba shape {proba.shape}, expected (5, 3)"
    assert np.all(np.isfinite(proba)) and np.all(proba >= 0), "probabilities must be finite and non-negative"
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5), "probabilities must sum to 1"
    pred = np.asarray(method.predict(X[:5]))
    assert np.array_equal(pred, proba.argmax(axis=1)), "predict must be the argmax of predict_proba"


def check_absent_class(cls: type[Method]) -> None:
    X, y = _data(cls)
    keep = y != 2  # a training fold may lack a class; the output still has num_classes columns
    proba = _quick(cls, num_classes=3, seed=0).fit(X[keep], y[keep]).predict_proba(X[:4])
    assert np.asarray(proba).shape == (4, 3), "predict_proba must have num_classes columns"


def check_deterministic(cls: type[Method]) -> None:
    X, y = _data(cls)
    a = _quick(cls, num_classes=3, seed=7).fit(X, y).predict_proba(X)
    b = _quick(cls, num_classes=3, seed=7).fit(X, y).predict_proba(X)
    assert np.allclose(a, b, atol=1e-6), "the same seed must give the same predictions"


def check_epoch_callback(cls: type[Method]) -> None:
    """An iterative method calls fit's epoch_callback after every epoch; a non-iterative one trains
    without it (mebench never passes the keyword to it)."""
    X, y = _data(cls)
    if not cls.info.iterative:
        _quick(cls, num_classes=3, seed=0).fit(X, y)
        return
    seen: list[int] = []
    _quick(cls, num_classes=3, seed=0).fit(X, y, epoch_callback=lambda epoch, m: seen.append(epoch))
    if "epochs" in cls.param_names():
        assert seen == list(range(1, FAST["epochs"] + 1)), f"epoch_callback saw epochs {seen}"
    else:
        assert seen, "an iterative method (MethodInfo.iterative) must call epoch_callback after each epoch"


CHECKS = (check_info, check_constructor_only_stores, check_fit_predict, check_absent_class, check_deterministic,
          check_epoch_callback)


def method_checks(cls: type[Method]) -> Iterator[Callable[[], None]]:
    """Each check bound to `cls`, named after the check (for pytest parametrisation)."""
    for check in CHECKS:
        bound = functools.partial(check, cls)
        functools.update_wrapper(bound, check)
        yield bound


def check_method(cls: type[Method]) -> None:
    """Run every check; the first failure raises AssertionError naming the check."""
    for check in method_checks(cls):
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{cls.__name__} fails {check.__name__}: {exc}") from exc
