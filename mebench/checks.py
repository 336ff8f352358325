"""Conformance checks for plugins of every kind, in the spirit of scikit-learn's `check_estimator`.

Plugin authors run them in their own test suite:

    from mebench.checks import method_checks, protocol_checks, dataset_checks
    @pytest.mark.parametrize("check", method_checks(MyMethod), ids=lambda c: c.__name__)
    def test_my_method(check):
        check()

`protocol_checks(MyProtocol)` and `dataset_checks(my_loader, path)` work the same way; each
returns a list of checks bound to the plugin, named after what they check. `check_method`,
`check_protocol` and `check_dataset` run them all and raise on the first failure.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np
import pandas as pd

from mebench.method import PAPER_PRESET, QUICK_PRESET, REPRESENTATIONS, Method, MethodInfo

INPUT_SHAPE = (3, 28, 28)  # most representations' sample shape; each declares its own (Representation.shape)
FAST = {"epochs": 2}  # applied where the method has the parameter, to keep checks quick


def _data(cls: type[Method], n: int = 24, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = REPRESENTATIONS[cls.info.input].shape if cls.info.input in REPRESENTATIONS else INPUT_SHAPE
    X = rng.uniform(0, 255, size=(n, *shape)).astype(np.float32)
    y = np.arange(n) % n_classes
    X[np.arange(n), ..., 0, :4, :4] += (40.0 * y).reshape(n, *[1] * (X.ndim - 2))  # a little signal (in every map)
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
    specs = cls.param_specs()
    for name, values in info.search_space.items():
        assert name in specs, f"search_space names unknown parameter {name!r}"
        assert isinstance(values, tuple) and values, f"search_space[{name!r}] is a non-empty tuple of values"
        for value in values:
            try:
                specs[name].check(value, f"search_space of {info.name!r}")
            except Exception as exc:  # noqa: BLE001 - ConfigError: the value is not one the parameter admits
                raise AssertionError(str(exc)) from None


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


def _bind(checks, *args) -> list[Callable[[], None]]:
    """Each check bound to the plugin, named after the check (a list: pytest parametrisation wants one)."""
    out = []
    for check in checks:
        bound = functools.partial(check, *args)
        functools.update_wrapper(bound, check)
        out.append(bound)
    return out


def _run_all(checks, what: str) -> None:
    for check in checks:
        try:
            check()
        except AssertionError as exc:
            raise AssertionError(f"{what} fails {check.__name__}: {exc}") from exc


def method_checks(cls: type[Method]) -> list[Callable[[], None]]:
    """The method checks bound to `cls`."""
    return _bind(CHECKS, cls)


def check_method(cls: type[Method]) -> None:
    """Run every method check; the first failure raises AssertionError naming the check."""
    _run_all(method_checks(cls), cls.__name__)


# -- protocols -----------------------------------------------------------------------------------------
def protocol_samples(cls: type) -> pd.DataFrame:
    """A sample table in the schema protocols fold: the protocol's sources (`sources`, if it declares them,
    else smic, casme2, samm), 3 subjects each, 4 clips per subject, subject ids shared across sources."""
    from mebench.dataset import make_sample_table

    sources = list(getattr(cls, "sources", None) or ("smic", "casme2", "samm"))
    rows = [dict(dataset=src, subject=f"s{k}", clip=f"c{c}", label=("a", "b", "c")[(k + c) % 3])
            for src in sources for k in range(3) for c in range(4)]
    return make_sample_table(pd.DataFrame(rows), ("a", "b", "c"))


def check_protocol_contract(cls: type) -> None:
    from mebench.protocol import Protocol, validate_protocol_class

    assert isinstance(cls, type) and issubclass(cls, Protocol), "a protocol subclasses mebench.Protocol"
    for attr in ("name", "summary"):
        assert isinstance(getattr(cls, attr, None), str) and getattr(cls, attr), f"a protocol declares `{attr}`"
    validate_protocol_class(cls.name, cls)
    protocol = cls()
    assert protocol.label() == cls.name, "with its default options a protocol's label is its name"


def check_every_sample_tested_once(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    folds = cls().folds(samples)
    assert folds, "a protocol gives at least one fold"
    tested = [s for f in folds for s in f.test]
    known = set(samples["sample"])
    assert set(tested) <= known and all(set(f.train) <= known for f in folds), "folds name samples of the table only"
    if getattr(cls, "tests_each_sample_once", True):
        counts = pd.Series(tested).value_counts()
        assert set(tested) == known and (counts == 1).all(), \
            f"every sample is tested exactly once (tested twice: {list(counts[counts > 1].index[:3])}, never: " \
            f"{sorted(known - set(tested))[:3]})"


def check_no_subject_on_both_sides(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    subject = dict(zip(samples["sample"], samples["subject_key"]))
    for fold in cls().folds(samples):
        both = {subject[s] for s in fold.train} & {subject[s] for s in fold.test}
        assert not both, f"fold {fold.id}: subjects {sorted(both)[:3]} are on both sides"
        assert not set(fold.train) & set(fold.test), f"fold {fold.id}: samples on both sides"


def check_stable_fold_ids(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    first = {f.id: set(f.test) for f in cls().folds(samples)}
    shuffled = samples.sample(frac=1.0, random_state=0).reset_index(drop=True)
    again = {f.id: set(f.test) for f in cls().folds(shuffled)}
    assert len(first) == len(cls().folds(samples)), "fold ids are unique"
    assert first == again, "the same data in another row order gives the same fold ids and test sets (ids key results)"


def check_groups_cover_the_data(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    groups = cls().groups(samples)
    assert groups and "Full" in groups, "reporting groups include Full"
    for name, mask in groups.items():
        assert isinstance(mask, pd.Series) and mask.dtype == bool and mask.index.equals(samples.index), \
            f"group {name!r}: a boolean Series over the samples' index"
    assert groups["Full"].all(), "Full holds every sample"
    others = [m for n, m in groups.items() if n != "Full"]
    if others:
        covered = np.logical_or.reduce([m.to_numpy() for m in others])
        assert covered.all(), "the groups besides Full cover every sample"


PROTOCOL_CHECKS = (check_protocol_contract, check_every_sample_tested_once, check_no_subject_on_both_sides,
                   check_stable_fold_ids, check_groups_cover_the_data)


def protocol_checks(cls: type, samples: pd.DataFrame | None = None) -> list[Callable[[], None]]:
    """The protocol checks bound to `cls` (and to a sample table of your own, if given)."""
    return [_bind([check_protocol_contract], cls)[0]] + _bind(PROTOCOL_CHECKS[1:], cls, samples)


def check_protocol(cls: type, samples: pd.DataFrame | None = None) -> None:
    _run_all(protocol_checks(cls, samples), cls.__name__)


# -- datasets ------------------------------------------------------------------------------------------
def _load(loader: Callable, path: str | None):
    """The loader's dataset with its primitives computed (in the loader's own feature cache)."""
    from mebench.dataset import Dataset

    dataset = loader(path)
    assert isinstance(dataset, Dataset), f"a dataset loader returns a mebench.Dataset, not {type(dataset).__name__}"
    dataset.primitive("flow-image")
    from mebench.representations import CAUSALNET_MAPS

    for kind in ("landmarks:htnet", "landmarks:dlib", *CAUSALNET_MAPS):
        try:
            dataset.primitive(kind)
        except Exception:  # noqa: BLE001 - a dataset may lack landmarks and CausalNet's maps: checked below
            pass
    return dataset


def check_sample_table(loader: Callable, path: str | None = None) -> None:
    from mebench.dataset import SAMPLE_COLUMNS

    ds = _load(loader, path)
    table = ds.samples
    assert len(table) > 0, "a dataset has samples"
    missing = set(SAMPLE_COLUMNS) - set(table.columns)
    assert not missing, f"the sample table lacks {sorted(missing)}"
    assert table["sample"].is_unique, "sample ids are unique"
    assert (table["subject_key"] == table["dataset"] + "/" + table["subject"]).all(), \
        "subject_key is dataset/subject (a subject is keyed by its dataset)"
    assert set(table["label"]) <= set(ds.class_names), "every label is one of class_names"
    assert (table["label_index"] == table["label"].map({c: i for i, c in enumerate(ds.class_names)})).all(), \
        "label_index is the label's position in class_names"


def check_flow_image(loader: Callable, path: str | None = None) -> None:
    from mebench.representations import FLOW_CHANNELS

    ds = _load(loader, path)
    supplied = np.asarray(ds.feature_function("flow-image"))  # as the loader gives it, before Dataset casts it
    assert supplied.dtype == np.float32, f"the loader's flow-image is float32, not {supplied.dtype}"
    image = ds.primitive("flow-image")
    assert image.shape == (len(ds), 3, 28, 28) and image.dtype == np.float32, \
        f"flow-image is float32 (N, 3, 28, 28), got {image.dtype} {image.shape}"
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 255, "flow-image values lie in 0..255"
    assert image.max() > 1, "flow-image values lie in 0..255, not 0..1 (scale them as the published inputs are)"
    assert ds.flow_channels in FLOW_CHANNELS, f"flow_channels is one of {list(FLOW_CHANNELS)}"
    from mebench.representations import CAUSALNET_MAPS

    for name in CAUSALNET_MAPS:  # where supplied (causalnet-release), alike
        if name in ds._primitives:
            other = ds.primitive(name)
            assert other.shape == image.shape and other.dtype == np.float32, f"{name} is float32 (N, 3, 28, 28)"
            assert np.isfinite(other).all() and other.min() >= 0 and other.max() <= 255, f"{name} values lie in 0..255"


def check_landmarks(loader: Callable, path: str | None = None) -> None:
    from mebench.dataset import NonFiniteError

    ds = _load(loader, path)
    for kind in ("landmarks:htnet", "landmarks:dlib"):
        try:
            points = ds.primitive(kind)
        except NonFiniteError as exc:
            raise AssertionError(f"{kind} is finite: {exc}") from None
        except Exception:  # noqa: BLE001 - not supplied: methods cut around it are refused at run time, by name
            continue
        assert points.shape == (len(ds), 5, 2) and np.isfinite(points).all(), f"{kind} is finite (N, 5, 2)"


def check_stable_fingerprint(loader: Callable, path: str | None = None) -> None:
    a, b = _load(loader, path), _load(loader, path)
    assert a.fingerprint and a.fingerprint == b.fingerprint, "loading the same data twice gives the same fingerprint"
    assert a.samples["sample"].tolist() == b.samples["sample"].tolist(), "and the same samples in the same order"


DATASET_CHECKS = (check_sample_table, check_flow_image, check_landmarks, check_stable_fingerprint)


def dataset_checks(loader: Callable, path: str | None = None) -> list[Callable[[], None]]:
    """The dataset checks bound to a loader (`loader(path, *, cache_dir)`) and the path to load."""
    return _bind(DATASET_CHECKS, loader, path)


def check_dataset(loader: Callable, path: str | None = None) -> None:
    _run_all(dataset_checks(loader, path), getattr(loader, "__name__", "dataset"))
