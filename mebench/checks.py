"""Conformance checks for plugins of every kind, in the spirit of scikit-learn's `check_estimator`.

Plugin authors run them in their own test suite:

    from mebench.checks import method_checks, protocol_checks, dataset_checks
    @pytest.mark.parametrize("check", method_checks(MyMethod), ids=lambda c: c.__name__)
    def test_my_method(check):
        check()

`protocol_checks(MyProtocol)` and `dataset_checks(my_loader, path)` work the same way; each
returns a list of checks bound to the plugin, named after what they check. `check_method`,
`check_protocol` and `check_dataset` run them all and raise on the first failure. A failed check
raises `mebench.errors.ConformanceError` (an AssertionError) saying what the plugin breaks.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np
import pandas as pd

from mebench.errors import ConformanceError, DataError, MebenchError
from mebench.method import PAPER_PRESET, QUICK_PRESET, Method, MethodInfo, missing_presets

INPUT_SHAPE = (3, 28, 28)  # most representations' sample shape; each declares its own (Representation.shape)
FAST = {"epochs": 2}  # applied where the method has the parameter, to keep checks quick


def _require(condition: Any, message: str) -> None:
    """A check's verdict: ConformanceError when `condition` is false (not `assert`, which `python -O` drops)."""
    if not condition:
        raise ConformanceError(message)


def _data(cls: type[Method], n: int = 24, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    from mebench.plugins import inputs

    shape = inputs.get(cls.info.input).shape if cls.info.input in inputs else INPUT_SHAPE
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
    _require(isinstance(info, MethodInfo), f"{cls.__name__}.info must be a MethodInfo")
    assert isinstance(info, MethodInfo)  # _require raised otherwise
    from mebench.plugins import inputs

    _require(info.input in inputs, f"unknown input {info.input!r}")
    _require(info.citation.strip(), "a method cites its paper")
    why = missing_presets(info.name, info.presets)
    _require(why is None, why or "")
    names = set(cls.param_names())
    for preset, params in info.presets.items():
        unknown = set(params) - names
        _require(not unknown, f"preset {preset!r} sets unknown parameters {sorted(unknown)}")
    _require({"num_classes", "seed"} <= names, "every method takes num_classes and seed")
    specs = cls.param_specs()
    for name, values in info.search_space.items():
        _require(name in specs, f"search_space names unknown parameter {name!r}")
        _require(isinstance(values, tuple) and values, f"search_space[{name!r}] is a non-empty tuple of values")
        for value in values:
            try:
                specs[name].check(value, f"search_space of {info.name!r}")
            except MebenchError as exc:  # ConfigError: the value is not one the parameter admits
                raise ConformanceError(str(exc)) from None


def check_constructor_only_stores(cls: type[Method]) -> None:
    sig = inspect.signature(cls.__init__)
    for p in list(sig.parameters.values())[1:]:
        _require(p.kind is inspect.Parameter.KEYWORD_ONLY, f"parameter {p.name!r} must be keyword-only")
        _require(p.default is not inspect.Parameter.empty, f"parameter {p.name!r} needs a default")
    defaults = cls.param_defaults()
    method = cls(**defaults)
    _require(method.get_params() == defaults, "the constructor must store its parameters unchanged")
    fitted = [k for k in vars(method) if k.endswith("_") and not k.startswith("_")]
    _require(not fitted, f"the constructor must not fit or build anything (found {fitted})")


def check_fit_predict(cls: type[Method]) -> None:
    X, y = _data(cls)
    X_copy = X.copy()
    method = _quick(cls, num_classes=3, seed=0)
    _require(method.fit(X, y) is method, "fit must return self")
    _require(np.array_equal(X, X_copy), "fit must not modify its input")
    proba = np.asarray(method.predict_proba(X[:5]))
    _require(proba.shape == (5, 3), f"predict_proba shape {proba.shape}, expected (5, 3)")
    _require(np.all(np.isfinite(proba)) and np.all(proba >= 0), "probabilities must be finite and non-negative")
    _require(np.allclose(proba.sum(axis=1), 1.0, atol=1e-5), "probabilities must sum to 1")
    pred = np.asarray(method.predict(X[:5]))
    _require(np.array_equal(pred, proba.argmax(axis=1)), "predict must be the argmax of predict_proba")


def check_absent_class(cls: type[Method]) -> None:
    X, y = _data(cls)
    keep = y != 2  # a training fold may lack a class; the output still has num_classes columns
    proba = _quick(cls, num_classes=3, seed=0).fit(X[keep], y[keep]).predict_proba(X[:4])
    _require(np.asarray(proba).shape == (4, 3), "predict_proba must have num_classes columns")


def check_deterministic(cls: type[Method]) -> None:
    X, y = _data(cls)
    a = _quick(cls, num_classes=3, seed=7).fit(X, y).predict_proba(X)
    b = _quick(cls, num_classes=3, seed=7).fit(X, y).predict_proba(X)
    _require(np.allclose(a, b, atol=1e-6), "the same seed must give the same predictions")


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
        _require(seen == list(range(1, FAST["epochs"] + 1)), f"epoch_callback saw epochs {seen}")
    else:
        _require(seen, "an iterative method (MethodInfo.iterative) must call epoch_callback after each epoch")


CHECKS = (check_info, check_constructor_only_stores, check_fit_predict, check_absent_class, check_deterministic,
          check_epoch_callback)


def _bind(checks, *args) -> list[Callable[[], None]]:
    """Each check bound to the plugin, named after the check (a list: pytest parametrisation wants one)."""
    out: list[Callable[[], None]] = []
    for check in checks:
        bound = functools.partial(check, *args)
        functools.update_wrapper(bound, check)
        out.append(bound)
    return out


def _run_all(checks, what: str) -> None:
    for check in checks:
        try:
            check()
        except ConformanceError as exc:
            raise ConformanceError(f"{what} fails {check.__name__}: {exc}") from exc


def method_checks(cls: type[Method]) -> list[Callable[[], None]]:
    """The method checks bound to `cls`."""
    return _bind(CHECKS, cls)


def check_method(cls: type[Method]) -> None:
    """Run every method check; the first failure raises ConformanceError naming the check."""
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

    _require(isinstance(cls, type) and issubclass(cls, Protocol), "a protocol subclasses mebench.Protocol")
    assert issubclass(cls, Protocol)  # _require raised otherwise
    for attr in ("name", "summary"):
        _require(isinstance(getattr(cls, attr, None), str) and getattr(cls, attr), f"a protocol declares `{attr}`")
    try:
        validate_protocol_class(cls.name, cls)
    except MebenchError as exc:  # PluginLoadError: what registering it would refuse
        raise ConformanceError(str(exc)) from None
    protocol = cls()
    _require(protocol.label() == cls.name, "with its default options a protocol's label is its name")


def check_every_sample_tested_once(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    folds = cls().folds(samples)
    _require(folds, "a protocol gives at least one fold")
    tested = [s for f in folds for s in f.test]
    known = set(samples["sample"])
    _require(set(tested) <= known and all(set(f.train) <= known for f in folds),
             "folds name samples of the table only")
    if getattr(cls, "tests_each_sample_once", True):
        counts = pd.Series(tested).value_counts()
        _require(set(tested) == known and (counts == 1).all(),
                 f"every sample is tested exactly once (tested twice: {list(counts[counts > 1].index[:3])}, never: "
                 f"{sorted(known - set(tested))[:3]})")


def check_no_subject_on_both_sides(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    subject = dict(zip(samples["sample"], samples["subject_key"]))
    for fold in cls().folds(samples):
        both = {subject[s] for s in fold.train} & {subject[s] for s in fold.test}
        _require(not both, f"fold {fold.id}: subjects {sorted(both)[:3]} are on both sides")
        _require(not set(fold.train) & set(fold.test), f"fold {fold.id}: samples on both sides")


def check_stable_fold_ids(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    first = {f.id: set(f.test) for f in cls().folds(samples)}
    shuffled = samples.sample(frac=1.0, random_state=0).reset_index(drop=True)
    again = {f.id: set(f.test) for f in cls().folds(shuffled)}
    _require(len(first) == len(cls().folds(samples)), "fold ids are unique")
    _require(first == again,
             "the same data in another row order gives the same fold ids and test sets (ids key results)")


def check_groups_cover_the_data(cls: type, samples: pd.DataFrame | None = None) -> None:
    samples = protocol_samples(cls) if samples is None else samples
    groups = cls().groups(samples)
    _require(groups and "Full" in groups, "reporting groups include Full")
    for name, mask in groups.items():
        _require(isinstance(mask, pd.Series) and mask.dtype == bool and mask.index.equals(samples.index),
                 f"group {name!r}: a boolean Series over the samples' index")
    _require(groups["Full"].all(), "Full holds every sample")
    others = [m for n, m in groups.items() if n != "Full"]
    if others:
        covered = np.logical_or.reduce([m.to_numpy() for m in others])
        _require(covered.all(), "the groups besides Full cover every sample")


PROTOCOL_CHECKS = (check_protocol_contract, check_every_sample_tested_once, check_no_subject_on_both_sides,
                   check_stable_fold_ids, check_groups_cover_the_data)


def protocol_checks(cls: type, samples: pd.DataFrame | None = None) -> list[Callable[[], None]]:
    """The protocol checks bound to `cls` (and to a sample table of your own, if given)."""
    return [_bind([check_protocol_contract], cls)[0]] + _bind(PROTOCOL_CHECKS[1:], cls, samples)


def check_protocol(cls: type, samples: pd.DataFrame | None = None) -> None:
    _run_all(protocol_checks(cls, samples), cls.__name__)


# -- datasets ------------------------------------------------------------------------------------------
def _load(loader: Callable, path: str | None):
    """The loader's dataset with every primitive it declares (`Dataset.provides`) computed (in the loader's own
    feature cache) and checked against its registered shape and dtype (mebench.primitives)."""
    from mebench.dataset import Dataset

    dataset = loader(path)
    _require(isinstance(dataset, Dataset), f"a dataset loader returns a mebench.Dataset, not {type(dataset).__name__}")
    _require("flow-image" in dataset.provides, "a dataset provides flow-image")
    for name in dataset.provides:
        try:
            dataset.primitive(name)
        except DataError as exc:
            raise ConformanceError(f"declared primitive {name!r} loads: {exc}") from None
    return dataset


def check_sample_table(loader: Callable, path: str | None = None) -> None:
    from mebench.dataset import SAMPLE_COLUMNS

    ds = _load(loader, path)
    table = ds.samples
    _require(len(table) > 0, "a dataset has samples")
    missing = set(SAMPLE_COLUMNS) - set(table.columns)
    _require(not missing, f"the sample table lacks {sorted(missing)}")
    _require(table["sample"].is_unique, "sample ids are unique")
    _require((table["subject_key"] == table["dataset"] + "/" + table["subject"]).all(),
             "subject_key is dataset/subject (a subject is keyed by its dataset)")
    _require(set(table["label"]) <= set(ds.class_names), "every label is one of class_names")
    _require((table["label_index"] == table["label"].map({c: i for i, c in enumerate(ds.class_names)})).all(),
             "label_index is the label's position in class_names")


def check_flow_image(loader: Callable, path: str | None = None) -> None:
    from mebench.representations import FLOW_CHANNELS

    ds = _load(loader, path)
    supplied = np.asarray(ds.feature_function("flow-image"))  # as the loader gives it, before Dataset casts it
    _require(supplied.dtype == np.float32, f"the loader's flow-image is float32, not {supplied.dtype}")
    image = ds.primitive("flow-image")
    _require(image.shape == (len(ds), 3, 28, 28) and image.dtype == np.float32,
             f"flow-image is float32 (N, 3, 28, 28), got {image.dtype} {image.shape}")
    _require(np.isfinite(image).all() and image.min() >= 0 and image.max() <= 255, "flow-image values lie in 0..255")
    _require(image.max() > 1, "flow-image values lie in 0..255, not 0..1 (scale them as the published inputs are)")
    _require(ds.flow_channels in FLOW_CHANNELS, f"flow_channels is one of {list(FLOW_CHANNELS)}")
    from mebench.primitives import CAUSALNET_MAPS

    for name in CAUSALNET_MAPS:  # where supplied (causalnet-release), alike
        if name in ds.provides:
            other = ds.primitive(name)
            _require(other.shape == image.shape and other.dtype == np.float32, f"{name} is float32 (N, 3, 28, 28)")
            _require(np.isfinite(other).all() and other.min() >= 0 and other.max() <= 255,
                     f"{name} values lie in 0..255")


def check_landmarks(loader: Callable, path: str | None = None) -> None:
    from mebench.dataset import NonFiniteError

    ds = _load(loader, path)
    for kind in ("landmarks:htnet", "landmarks:dlib"):
        if kind not in ds.provides:  # not supplied: methods cut around it are refused before training, by name
            continue
        try:
            points = ds.primitive(kind)
        except NonFiniteError as exc:
            raise ConformanceError(f"{kind} is finite: {exc}") from None
        _require(points.shape == (len(ds), 5, 2) and np.isfinite(points).all(), f"{kind} is finite (N, 5, 2)")


def check_faces(loader: Callable, path: str | None = None) -> None:
    from mebench.primitives import APEX_FACE, FACE_SIZE, ONSET_FACE

    ds = _load(loader, path)
    for name in (APEX_FACE, ONSET_FACE):
        if name in ds.provides:
            faces = ds.primitive(name)
            _require(faces.shape == (len(ds), 3, FACE_SIZE, FACE_SIZE), f"{name} is (N, 3, {FACE_SIZE}, {FACE_SIZE})")
            _require(faces.min() >= 0 and faces.max() <= 255 and faces.max() > 1, f"{name} values lie in 0..255")


def check_stable_fingerprint(loader: Callable, path: str | None = None) -> None:
    a, b = _load(loader, path), _load(loader, path)
    _require(a.fingerprint and a.fingerprint == b.fingerprint,
             "loading the same data twice gives the same fingerprint")
    _require(a.samples["sample"].tolist() == b.samples["sample"].tolist(), "and the same samples in the same order")


DATASET_CHECKS = (check_sample_table, check_flow_image, check_landmarks, check_faces, check_stable_fingerprint)


def dataset_checks(loader: Callable, path: str | None = None) -> list[Callable[[], None]]:
    """The dataset checks bound to a loader (`loader(path, *, cache_dir)`) and the path to load."""
    return _bind(DATASET_CHECKS, loader, path)


def check_dataset(loader: Callable, path: str | None = None) -> None:
    _run_all(dataset_checks(loader, path), getattr(loader, "__name__", "dataset"))
