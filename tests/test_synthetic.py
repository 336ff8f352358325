"""The embedded synthetic dataset: determinism, composition, caching, regions, learnability."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from mebench import plugins
from mebench.datasets import synthetic
from mebench.datasets.synthetic import (
    CLASS_NAMES,
    DEFAULT_CONFIG,
    load_synthetic,
    render_sample,
    sample_table,
    synthetic_dataset,
    table_landmarks,
    to_grid,
)
from mebench.errors import ConfigError, DataError
from mebench.features.flow import flow_image
from mebench.features.regions import tile_regions


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic-cache")


@pytest.fixture(scope="module")
def loaded(cache_dir):
    """The default dataset with its flow computed once (the slow part, ~20 s on 2 cores)."""
    ds = load_synthetic(cache_dir=cache_dir)
    ds.features("flow")
    return ds


def macro_f1(y: np.ndarray, pred: np.ndarray, k: int = 3) -> float:
    scores = []
    for c in range(k):
        tp, fp, fn = ((pred == c) & (y == c)).sum(), ((pred == c) & (y != c)).sum(), ((pred != c) & (y == c)).sum()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def test_entry_point_and_path_rejected():
    assert plugins.datasets.get("synthetic") is load_synthetic
    with pytest.raises(ConfigError, match="takes no path"):
        load_synthetic("/some/dir")


def test_composition_imitates_the_composite():
    table = sample_table()
    assert 150 <= len(table) <= 200
    assert tuple(table["label"].map(CLASS_NAMES.index)) == tuple(table["label_index"])
    for src in DEFAULT_CONFIG.sources:
        part = table[table["dataset"] == src.name]
        counts = tuple(int((part["label"] == c).sum()) for c in CLASS_NAMES)
        assert counts == src.class_counts
        assert counts[0] > counts[1] > counts[2]  # negative, then positive, then surprise, as in the composite
        assert 8 <= part["subject"].nunique() <= 10
        assert part.groupby("subject").size().min() >= 3
    styles = {"smic": r"s\d\d", "casme2": r"sub\d\d", "samm": r"\d{3}"}
    for row in table[["dataset", "subject"]].drop_duplicates().itertuples():
        assert re.fullmatch(styles[row.dataset], row.subject)
    per_source = table.groupby("dataset")["subject_key"].unique()
    keys = [set(v) for v in per_source]
    assert sum(map(len, keys)) == len(set().union(*keys)) == table["subject_key"].nunique() == 26
    negatives = table[table["label"] == "negative"]["actions"].str.split(",").str[0]
    assert {"AU4", "AU15"} <= set(negatives)  # brow lowering and lip-corner depression both occur


def test_rendering_is_deterministic_and_order_free():
    first = render_sample(DEFAULT_CONFIG, 10)
    for i in (0, 99, 175):
        render_sample(DEFAULT_CONFIG, i)
    synthetic._plan.cache_clear()
    synthetic._face.cache_clear()
    again = render_sample(DEFAULT_CONFIG, 10)
    onset, apex, lm = first
    assert onset.shape == apex.shape == (96, 96) and onset.dtype == np.uint8 and lm.shape == (5, 2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(onset, apex)
    assert not np.array_equal(onset, render_sample(DEFAULT_CONFIG, 11)[0])


def test_landmarks_are_plausible():
    lm = table_landmarks(sample_table())
    assert lm.shape[1:] == (5, 2) and np.all((lm > 5) & (lm < 91))
    le, re_, nose, ml, mr = (lm[:, i] for i in range(5))
    assert np.all(le[:, 0] < re_[:, 0]) and np.all(ml[:, 0] < mr[:, 0])  # image left before right
    assert np.all(le[:, 1] < nose[:, 1]) and np.all(nose[:, 1] < ml[:, 1])  # eyes above nose above mouth


def test_fingerprint_stable_and_follows_config(tmp_path):
    a, b = load_synthetic(cache_dir=tmp_path), load_synthetic(cache_dir=tmp_path)
    assert a.fingerprint == b.fingerprint and a.samples.equals(b.samples)
    assert a.name == a.source == "synthetic" and a.class_names == CLASS_NAMES
    assert synthetic_dataset(dataclasses.replace(DEFAULT_CONFIG, noise=5.0), cache_dir=tmp_path).fingerprint != a.fingerprint
    assert synthetic_dataset(dataclasses.replace(DEFAULT_CONFIG, seed=1), cache_dir=tmp_path).fingerprint != a.fingerprint
    # building a dataset computes no features: they are lazy
    assert a.cache.computed == [] and not any(tmp_path.rglob("*.arr"))


def test_features_cached_and_identical(loaded, cache_dir, monkeypatch):
    flow = loaded.features("flow")
    assert flow.shape == (len(loaded), 3, 28, 28) and flow.dtype == np.float32
    assert flow.min() == 0 and flow.max() == 255
    assert len(loaded.cache.computed) == 1
    # the flow really is flow_image of the rendered frames, byte for byte
    for i in (0, 77, len(loaded) - 1):
        onset, apex, _ = render_sample(DEFAULT_CONFIG, i)
        assert flow_image(onset, apex).tobytes() == flow[i].tobytes()
    # a second load with the same cache computes nothing
    monkeypatch.setattr(synthetic, "compute_flow_features", lambda *a, **k: pytest.fail("flow recomputed"))
    again = load_synthetic(cache_dir=cache_dir)
    assert again.features("flow").tobytes() == flow.tobytes()
    assert again.cache.computed == []


def test_htnet_regions(loaded):
    regions = loaded.features("htnet-regions")
    assert regions.shape == (len(loaded), 3, 28, 28) and regions.dtype == np.float32
    lm28 = to_grid(table_landmarks(loaded.samples), DEFAULT_CONFIG.image_size, 28)
    assert np.all((lm28 > 0) & (lm28 < 27))
    assert np.array_equal(regions, tile_regions(loaded.features("flow"), lm28, published_quirks=True))
    with pytest.raises(DataError, match="dataset 'synthetic': unknown input 'depth'"):
        loaded.features("depth")


def test_learnable_but_not_trivial(loaded):
    """Leave-one-subject-out nearest centroid on standardised flow: clearly above chance, clearly below perfect."""
    X = loaded.features("flow").reshape(len(loaded), -1).astype(np.float64)
    y = loaded.labels()
    subjects = loaded.samples["subject_key"].to_numpy()
    pred = np.empty_like(y)
    for s in np.unique(subjects):
        test = subjects == s
        mu, sd = X[~test].mean(0), X[~test].std(0) + 1e-6
        Z = (X - mu) / sd
        centroids = np.stack([Z[~test][y[~test] == c].mean(0) for c in range(3)])
        pred[test] = ((Z[test][:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    f1 = macro_f1(y, pred)
    assert 0.45 < f1 < 0.9, f1
    rng = np.random.default_rng(0)
    assert macro_f1(y, rng.permutation(pred)) < 0.45  # the same predictions, shuffled, are at chance
