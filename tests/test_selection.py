"""Honest model selection: validation subjects come from the training subjects, and the test
subject is seen once, by the final prediction."""

import json

import numpy as np
import pandas as pd
import pytest

from mebench import plugins
from mebench.dataset import Dataset, make_sample_table, table_fingerprint
from mebench.errors import ConfigError
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochSelection, Training, validation_subjects
from mebench.store import ResultStore
from tests import plugin_fixtures
from tests.plugin_fixtures import Spy

CLASSES = ("negative", "positive", "surprise")


def id_dataset():
    rows = [dict(dataset=src, subject=f"{src[:2]}{s}", clip=f"c{c}", label=CLASSES[c % 3])
            for src, n_subjects in (("smic", 4), ("casme2", 3), ("samm", 3)) for s in range(n_subjects) for c in range(3)]
    table = make_sample_table(pd.DataFrame(rows), CLASSES)
    X = np.zeros((len(table), 3, 28, 28), np.float32)
    X[:, 0, 0, 0] = np.arange(len(table))  # each sample carries its row number
    return Dataset("ids", "ids", CLASSES, table, table_fingerprint(table), lambda rep: X)


@pytest.fixture
def spy_setup():
    ds = id_dataset()
    plugins.register_method(Spy)
    plugins.datasets.register("ids", lambda path=None, *, cache_dir=None: ds, source="test")
    plugin_fixtures.SPY_LOG.clear()
    yield ds
    plugins.methods.unregister("spy")
    plugins.datasets.unregister("ids")


def test_no_test_sample_is_seen_before_the_final_prediction(tmp_path, spy_setup):
    ds = spy_setup
    run_grid(RunConfig(methods=("spy",), protocol="loso", out=tmp_path, data="ids",
                       selection=EpochSelection("validation", validation_subjects=3)))
    log = plugin_fixtures.SPY_LOG
    subject_of = ds.samples["subject_key"].to_numpy()
    cells = ResultStore(tmp_path).cells().set_index("fold")
    fits = [i for i, (kind, _) in enumerate(log) if kind == "fit"]
    assert len(fits) == 10  # one fold per subject
    for n, start in enumerate(fits):
        end = fits[n + 1] if n + 1 < len(fits) else len(log)
        calls = log[start:end]
        fit_ids = calls[0][1]
        fit_end = next(i for i, (kind, _) in enumerate(calls) if kind == "fit-end")
        during = [ids for kind, ids in calls[:fit_end] if kind == "predict"]
        after = [ids for kind, ids in calls[fit_end:] if kind == "predict"]
        assert len(after) == 1, "the test subject is predicted exactly once, after training"
        test_subject = {subject_of[i] for i in after[0]}
        assert len(test_subject) == 1
        (test_key,) = test_subject
        details = json.loads(cells.loc[test_key, "selected_epochs"])
        held_out = set(details["validation_subjects"])
        assert len(held_out) == 3 and test_key not in held_out
        # stratified by source: 3 held-out subjects from 3 sources -> one from each
        assert len({k.split("/")[0] for k in held_out}) == 3
        assert {subject_of[i] for i in fit_ids}.isdisjoint(held_out | {test_key})
        for ids in during:  # per-epoch evaluation sees the validation subjects only
            assert {subject_of[i] for i in ids} == held_out
        assert details["epoch"] in range(1, 5)


def test_validation_selection_restores_the_best_epoch(tmp_path, spy_setup):
    run_grid(RunConfig(methods=("spy",), protocol="loso", out=tmp_path, data="ids",
                       selection=EpochSelection("validation", validation_subjects=3)))
    cells = ResultStore(tmp_path).cells()
    preds = ResultStore(tmp_path).predictions()
    for fold, part in preds.groupby("fold"):
        details = json.loads(cells.set_index("fold").loc[fold, "selected_epochs"])
        # the Spy predicts class (epoch % 3): the final prediction comes from the selected epoch's model
        assert (part["y_pred"] == details["epoch"] % 3).all()
        assert (part["epoch"] == details["epoch"]).all()


def test_patience_stops_training(tmp_path, spy_setup):
    run_grid(RunConfig(methods=("spy",), protocol="loso", out=tmp_path, data="ids", params=(("epochs", 50),),
                       selection=EpochSelection("validation", validation_subjects=3, patience=2)))
    callbacks_per_fold = [sum(1 for kind, _ in plugin_fixtures.SPY_LOG if kind == "callback") / 10]
    # Spy cycles through classes, so validation UF1 peaks within the first 3 epochs; patience 2 stops by epoch 5
    assert callbacks_per_fold[0] <= 5


def test_validation_subjects_are_stratified_and_seeded():
    ds = id_dataset()
    train = ds.samples[ds.samples["subject_key"] != "casme2/ca0"]  # leaves smic 4, samm 3, casme2 2
    a = validation_subjects(train, 4, seed=1)
    assert a == validation_subjects(train, 4, seed=1)
    assert [k.split("/")[0] for k in a].count("smic") == 2  # smic has the most training subjects
    assert len({k.split("/")[0] for k in a}) == 3
    with pytest.raises(ConfigError, match="only 9 training subjects"):
        validation_subjects(train, 9, seed=0)


def test_bad_selection_options():
    with pytest.raises(ConfigError, match="--epoch-selection 'best'"):
        EpochSelection("best")
    with pytest.raises(ConfigError, match="--patience 0"):
        EpochSelection("validation", patience=0)


@pytest.mark.parametrize("training, text", [
    (Training.full(), "full"),
    (Training.validation(4), "validation:4:None"),
    (Training.validation(3, 5), "validation:3:5"),
    (Training.inner(4), "inner:4"),
    (Training.checkpoint(), "checkpoint"),
])
def test_a_training_reads_back_from_the_string_the_database_stores(training, text):
    assert str(training) == text
    assert Training.parse(text) == training


def test_the_planned_trainings_are_the_stored_strings():
    assert EpochSelection("final,validation", validation_subjects=3, patience=2).trainings() == {
        "full": ("final",), "validation:3:2": ("validation",)}


@pytest.mark.parametrize("text", ["nested", "", "full:1", "inner", "inner:0", "inner:04", "inner:x", "validation:4",
                                  "validation:0:None", "validation:4:0", "validation:4:none", "checkpoint:1"])
def test_a_malformed_training_is_refused_naming_it(text):
    with pytest.raises(ConfigError, match=f"unknown training {text!r}"):
        Training.parse(text)


def test_a_training_refuses_what_its_kind_does_not_take():
    for bad in (lambda: Training("best"), lambda: Training.inner(0), lambda: Training("full", 4),
                lambda: Training("inner", 4, 2), lambda: Training.validation(4, 0)):
        with pytest.raises(ConfigError):
            bad()
