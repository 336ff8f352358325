"""Shared fixtures: where ../shared lives, a tiny in-memory dataset, isolated feature caches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEBENCH_SHARED", REPO.parent / "shared"))
RELEASE = Path(os.environ.get("MEBENCH_HTNET_RELEASE", SHARED / "data" / "htnet-release"))
REFERENCE = SHARED / "reference"

needs_release = pytest.mark.skipif(not RELEASE.is_dir(), reason=f"real HTNet release data not found at {RELEASE} (../shared absent)")
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"parity reference vectors not found at {REFERENCE} (../shared absent)")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Feature caches never touch the user's ~/.cache during tests (one cache per test session)."""
    monkeypatch.setenv("MEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "feature-cache"))


def tiny_table() -> pd.DataFrame:
    """Three sources x 2 subjects x 6 clips; subject ids collide across sources on purpose."""
    rows = []
    for source, subjects in (("smic", ["s1", "s2"]), ("casme2", ["s1", "sub02"]), ("samm", ["006", "007"])):
        for subject in subjects:
            for clip in range(6):
                rows.append(dict(dataset=source, subject=subject, clip=f"c{clip}", label=("negative", "positive", "surprise")[clip % 3]))
    return pd.DataFrame(rows)


def make_tiny_dataset(path=None, *, cache_dir=None):
    """A 36-sample, 6-subject dataset with an easy signal, for runner/report tests."""
    from mebench.dataset import Dataset, make_sample_table, table_fingerprint

    classes = ("negative", "positive", "surprise")
    table = make_sample_table(tiny_table(), classes)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(len(table), 3, 28, 28)).astype(np.float32)
    for i, c in enumerate(table["label_index"]):
        X[i, :, c * 9 : c * 9 + 9, :] += 120.0
    X = np.minimum(X, 255.0)  # a flow image's values lie in 0..255
    return Dataset(name="tiny", source="tiny", class_names=classes, samples=table,
                   fingerprint=table_fingerprint(table, "tiny-v1"), feature_function=lambda rep: X)


@pytest.fixture
def tiny_data():
    """Registers the tiny dataset as --data tiny for the duration of a test."""
    from mebench import plugins

    plugins.datasets.register("tiny", make_tiny_dataset, source="tests.conftest")
    yield "tiny"
    plugins.datasets.unregister("tiny")
