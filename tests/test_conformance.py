"""The conformance suites plugin authors run: every registered plugin passes them (the registries are read
when the tests are collected, so a new entry point is checked without editing this file), and for every
check a deliberately broken plugin fails it (so no check is one that cannot fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.checks import (CHECKS, check_dataset, check_method, check_protocol, dataset_checks, method_checks,
                            protocol_checks)
from mebench.dataset import Dataset
from mebench.errors import ConformanceError, MebenchError
from mebench.protocol import Fold, Protocol, dataset_groups, loso_folds
from tests.conftest import SHARED, make_tiny_dataset
from tests.plugin_fixtures import NearestCentroid

# Every name the registries know (entry points of mebench.methods, .protocols, .datasets); listing imports nothing.
METHODS = plugins.methods.names()
PROTOCOLS = plugins.protocols.names()
DATASETS = plugins.datasets.names()


# ---------------------------------------------------------------------------- every registered plugin
@pytest.mark.parametrize("check_name", [c.__name__ for c in CHECKS])
@pytest.mark.parametrize("name", METHODS)
def test_every_registered_method_conforms(name, check_name):
    """With the quick preset and 2 epochs (`mebench.checks.FAST`), so heavy networks stay cheap."""
    check = next(c for c in method_checks(plugins.methods.get(name)) if c.__name__ == check_name)
    check()


@pytest.mark.parametrize("name", PROTOCOLS)
def test_every_registered_protocol_conforms(name):
    check_protocol(plugins.protocols.get(name))


def _loaded_without_a_path(name: str) -> Dataset | None:
    """The dataset a loader gives without a path, or None when it needs one and says so with a MebenchError
    (any other exception is a loader that fails on a missing path without saying what it needs)."""
    try:
        dataset = plugins.datasets.get(name)(None)
    except MebenchError as exc:
        assert name in str(exc) and "path" in str(exc), f"the refusal names the dataset and its path: {exc}"
        return None
    assert isinstance(dataset, Dataset), f"dataset {name!r} loads a {type(dataset).__name__}, not a mebench.Dataset"
    return dataset


@pytest.mark.parametrize("name", DATASETS)
def test_every_registered_dataset_conforms_or_asks_for_its_path(name):
    """A loader that needs no path is checked as it is; one that does refuses None with a clear error
    (its data are checked by the slow test below, where ../shared has them)."""
    if _loaded_without_a_path(name) is not None:
        check_dataset(plugins.datasets.get(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
def test_every_registered_dataset_conforms_on_its_data(name):
    """On ../shared/data/<name> (minutes for a real dataset: its landmarks and maps are computed uncached)."""
    path = SHARED / "data" / name
    if _loaded_without_a_path(name) is not None:
        pytest.skip(f"dataset {name!r} needs no path: checked by the test above")
    if not path.is_dir():
        pytest.skip(f"no data for dataset {name!r} at {path}")
    check_dataset(plugins.datasets.get(name), str(path))


# ---------------------------------------------------------------------------- protocols
class GoodLOSO(Protocol):
    name = "good-loso"
    summary = "leave one subject out (test)"

    def folds(self, samples):
        return loso_folds(samples)

    def groups(self, samples):
        return dataset_groups(samples)


class TwiceTested(GoodLOSO):
    def folds(self, samples):
        folds = loso_folds(samples)
        return folds + [Fold("again", folds[0].train, folds[0].test)]


class SubjectOnBothSides(GoodLOSO):
    def folds(self, samples):  # leave one *sample* out: the subject's other clips train
        return [Fold(s, tuple(samples["sample"][samples["sample"] != s]), (s,)) for s in samples["sample"]]


class UnstableIds(GoodLOSO):
    def folds(self, samples):  # ids by order of appearance: another row order renames the folds
        return [Fold(f"fold{i}", tuple(samples.loc[samples["subject_key"] != k, "sample"]),
                     tuple(samples.loc[samples["subject_key"] == k, "sample"]))
                for i, k in enumerate(pd.unique(samples["subject_key"]))]


class NoFull(GoodLOSO):
    def groups(self, samples):
        return {s: samples["dataset"] == s for s in pd.unique(samples["dataset"])}


class GroupsMissSamples(GoodLOSO):
    def groups(self, samples):
        return {"Full": pd.Series(True, index=samples.index), "smic": samples["dataset"] == "smic"}


class PositionalOption(GoodLOSO):
    name = "positional"

    def __init__(self, classes="native"):  # options must be keyword-only
        self.classes = classes


BROKEN_PROTOCOLS = {
    "check_protocol_contract": PositionalOption,
    "check_every_sample_tested_once": TwiceTested,
    "check_no_subject_on_both_sides": SubjectOnBothSides,
    "check_stable_fold_ids": UnstableIds,
    "check_groups_cover_the_data": GroupsMissSamples,
}


@pytest.mark.parametrize("check", protocol_checks(GoodLOSO), ids=lambda c: c.__name__)
def test_a_good_protocol_passes_each_check(check):
    check()


@pytest.mark.parametrize("check_name", list(BROKEN_PROTOCOLS))
def test_a_broken_protocol_fails_its_check(check_name):
    broken = BROKEN_PROTOCOLS[check_name]
    check = next(c for c in protocol_checks(broken) if c.__name__ == check_name)
    with pytest.raises(ConformanceError):
        check()
    assert set(BROKEN_PROTOCOLS) == {c.__name__ for c in protocol_checks(GoodLOSO)}  # one broken plugin per check


def test_groups_without_full_fail():
    check = next(c for c in protocol_checks(NoFull) if c.__name__ == "check_groups_cover_the_data")
    with pytest.raises(ConformanceError, match="include Full"):
        check()


# ---------------------------------------------------------------------------- datasets
def good_loader(path=None, *, cache_dir=None):
    return make_tiny_dataset()


def no_subject_key_prefix(path=None, *, cache_dir=None):
    ds = make_tiny_dataset()
    ds.samples["subject_key"] = ds.samples["subject"]
    return ds


def wrong_image(path=None, *, cache_dir=None):
    from mebench.dataset import Dataset

    ds = make_tiny_dataset()
    X = ds.feature_function("flow-image")
    return Dataset(ds.name, ds.source, ds.class_names, ds.samples, ds.fingerprint, lambda name: X * 4.0)  # > 255


def bad_landmarks(path=None, *, cache_dir=None):
    from mebench.dataset import Dataset

    ds = make_tiny_dataset()
    X = ds.feature_function("flow-image")

    def feature(name):
        if name == "flow-image":
            return X
        return np.full((len(ds), 5, 2), np.nan)

    return Dataset(ds.name, ds.source, ds.class_names, ds.samples, ds.fingerprint, feature,
                   provides=("flow-image", "landmarks:htnet"))


def faces_scaled_to_one(path=None, *, cache_dir=None):
    from mebench.primitives import APEX_FACE, FACE_SIZE

    ds = make_tiny_dataset()
    X = ds.feature_function("flow-image")
    faces = np.random.default_rng(0).uniform(0, 1, (len(ds), 3, FACE_SIZE, FACE_SIZE)).astype(np.float32)
    return Dataset(ds.name, ds.source, ds.class_names, ds.samples, ds.fingerprint,
                   lambda name: faces if name == APEX_FACE else X, provides=("flow-image", APEX_FACE))


_calls = {"n": 0}


def unstable_fingerprint(path=None, *, cache_dir=None):
    ds = make_tiny_dataset()
    _calls["n"] += 1
    ds.fingerprint = f"fp-{_calls['n']}"
    return ds


BROKEN_DATASETS = {
    "check_sample_table": no_subject_key_prefix,
    "check_flow_image": wrong_image,
    "check_landmarks": bad_landmarks,
    "check_faces": faces_scaled_to_one,
    "check_stable_fingerprint": unstable_fingerprint,
}


@pytest.mark.parametrize("check", dataset_checks(good_loader), ids=lambda c: c.__name__)
def test_a_good_dataset_passes_each_check(check):
    check()


@pytest.mark.parametrize("check_name", list(BROKEN_DATASETS))
def test_a_broken_dataset_fails_its_check(check_name):
    check = next(c for c in dataset_checks(BROKEN_DATASETS[check_name]) if c.__name__ == check_name)
    with pytest.raises(ConformanceError):
        check()
    assert set(BROKEN_DATASETS) == {c.__name__ for c in dataset_checks(good_loader)}


# ---------------------------------------------------------------------------- methods
class NoCitation(NearestCentroid):
    pass


class Fitting(NearestCentroid):
    def __init__(self, *, num_classes: int = 3, seed: int = 0, delay: float = 0.0, fail_on_fold_with: str = ""):
        super().__init__(num_classes=num_classes, seed=seed, delay=delay, fail_on_fold_with=fail_on_fold_with)
        self.centroids_ = None  # fits in the constructor


class NotSelf(NearestCentroid):
    def fit(self, X, y, *, epoch_callback=None):
        super().fit(X, y)
        return None


class DropsAbsentClass(NearestCentroid):
    def predict_proba(self, X):
        p = super().predict_proba(X)
        return p[:, : len(np.unique(self.seen_))] if hasattr(self, "seen_") else p

    def fit(self, X, y, *, epoch_callback=None):
        self.seen_ = y
        return super().fit(X, y)


class Unseeded(NearestCentroid):
    def predict_proba(self, X):
        p = np.random.default_rng().random((len(X), self.num_classes))
        return p / p.sum(axis=1, keepdims=True)


class SaysIterativeNeverCalls(NearestCentroid):
    pass


def _with_info(cls, **changes):
    from dataclasses import replace

    cls.info = replace(NearestCentroid.info, **changes)
    return cls


BROKEN_METHODS = {
    "check_info": _with_info(NoCitation, citation=" "),
    "check_constructor_only_stores": Fitting,
    "check_fit_predict": NotSelf,
    "check_absent_class": DropsAbsentClass,
    "check_deterministic": Unseeded,
    "check_epoch_callback": _with_info(SaysIterativeNeverCalls, iterative=True),
}


def test_method_checks_is_a_list():
    checks = method_checks(NearestCentroid)
    assert isinstance(checks, list) and {c.__name__ for c in checks} == set(BROKEN_METHODS)


@pytest.mark.parametrize("check_name", list(BROKEN_METHODS))
def test_a_broken_method_fails_its_check(check_name):
    check = next(c for c in method_checks(BROKEN_METHODS[check_name]) if c.__name__ == check_name)
    with pytest.raises(ConformanceError):
        check()


def test_a_non_torch_method_conforms():
    check_method(_with_info(type("Centroid", (NearestCentroid,), {}), iterative=False))


def _image_as(transform):
    def loader(path=None, *, cache_dir=None):
        from mebench.dataset import Dataset

        ds = make_tiny_dataset()
        X = ds.feature_function("flow-image")
        return Dataset(ds.name, ds.source, ds.class_names, ds.samples, ds.fingerprint, lambda name: transform(X))

    return loader


@pytest.mark.parametrize("transform, message", [(lambda X: X / 255.0, "not 0..1"),
                                                (lambda X: X.astype(np.float64), "not float64")])
def test_flow_images_scaled_to_one_or_in_float64_fail_the_check(transform, message):
    check = next(c for c in dataset_checks(_image_as(transform)) if c.__name__ == "check_flow_image")
    with pytest.raises(ConformanceError, match=message):
        check()
