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
    assert list(groups) == ["Full", "CASME II", "SAMM", "SMIC"]  # the datasets' display names
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
    with pytest.raises(DataError, match="or data in its classes"):
        protocol.prepare(ds)


def _mixed(rename: dict[int, str]):
    """The tiny table with some rows' dataset renamed (row index -> new name)."""
    from mebench.dataset import Dataset, table_fingerprint
    table = tiny_table()
    for i, name in rename.items():
        table.loc[i, "dataset"] = name
    samples = make_sample_table(table, CLASSES)
    X = np.zeros((len(samples), 3, 28, 28), np.float32)
    return Dataset("mix", "mix", CLASSES, samples, table_fingerprint(samples), lambda rep: X)


def test_composite_refuses_samples_of_other_sources_instead_of_dropping_them():
    protocol = plugins.protocols.get("composite")()
    casme2_rows = [i for i, d in enumerate(tiny_table()["dataset"]) if d == "casme2"][:5]
    with pytest.raises(DataError) as err:
        protocol.prepare(_mixed({i: "CASME2" for i in casme2_rows}))
    text = str(err.value)
    assert "'CASME2' (5 sample(s)" in text and "did you mean 'casme2'?" in text and "CASME2/s1/c0" in text
    with pytest.raises(DataError, match="'casme3' \\(1 sample"):
        protocol.prepare(_mixed({0: "casme3"}))
    assert protocol.prepare(_mixed({})).samples.shape[0] == 36  # exactly the three sources: kept whole