import numpy as np
import pytest

from mebench import plugins
from mebench.dataset import make_sample_table
from mebench.errors import DataError
from tests.conftest import make_tiny_dataset, tiny_table

CLASSES = ("negative", "positive", "surprise")


def assert_loso(folds, samples):
    subject_of = dict(zip(samples["sample"], samples["subject_key"]))
    assert len(folds) == samples["subject_key"].nunique()
    tested = []
    for fold in folds:
        test_subjects = {subject_of[s] for s in fold.test}
        train_subjects = {subject_of[s] for s in fold.train}
        assert test_subjects == {fold.id}
        assert not test_subjects & train_subjects
        assert len(fold.train) + len(fold.test) == len(samples)
        tested += fold.test
    assert sorted(tested) == sorted(samples["sample"])  # every sample tested exactly once


def test_loso_keys_subjects_by_dataset_and_subject():
    samples = make_sample_table(tiny_table(), CLASSES)
    folds = plugins.protocols.get("loso")().folds(samples)
    assert len(folds) == 6  # "s1" exists in smic and casme2: two different subjects
    assert {"smic/s1", "casme2/s1"} <= {f.id for f in folds}
    assert_loso(folds, samples)
    assert [f.id for f in folds] == sorted(f.id for f in folds)  # stable order


def test_loso_groups():
    samples = make_sample_table(tiny_table(), CLASSES)
    groups = plugins.protocols.get("loso")().groups(samples)
    assert list(groups) == ["Full", "casme2", "samm", "smic"]
    one_source = samples[samples["dataset"] == "samm"]
    assert list(plugins.protocols.get("loso")().groups(one_source)) == ["Full"]


def test_composite_folds_and_groups():
    protocol = plugins.protocols.get("composite")()
    ds = protocol.prepare(make_tiny_dataset())
    folds = protocol.folds(ds.samples)
    assert_loso(folds, ds.samples)
    groups = protocol.groups(ds.samples)
    assert list(groups) == ["Full", "SMIC", "CASME II", "SAMM"]
    assert [int(m.sum()) for m in groups.values()] == [36, 12, 12, 12]


def test_composite_refuses_wrong_classes_or_missing_sources():
    protocol = plugins.protocols.get("composite")()
    ds = make_tiny_dataset()
    with pytest.raises(DataError, match="none from samm"):
        protocol.prepare(ds.subset(ds.samples["dataset"].to_numpy() != "samm"))
    ds.class_names = ("happy", "sad", "surprise")
    with pytest.raises(DataError, match="needs the classes"):
        protocol.prepare(ds)


def test_composite_selects_its_three_sources():
    protocol = plugins.protocols.get("composite")()
    table = tiny_table()
    extra = table[table["dataset"] == "samm"].assign(dataset="casme3")
    from mebench.dataset import Dataset, table_fingerprint
    import pandas as pd

    samples = make_sample_table(pd.concat([table, extra]), CLASSES)
    X = np.zeros((len(samples), 3, 28, 28), np.float32)
    ds = Dataset("mix", "mix", CLASSES, samples, table_fingerprint(samples), lambda rep: X)
    prepared = protocol.prepare(ds)
    assert set(prepared.samples["dataset"]) == {"smic", "casme2", "samm"}
    assert prepared.features("flow").shape[0] == 36
