"""Hyperparameter search (`--tuning`, `--grid`): the nested rule never reads a test prediction, the test-scored
rule equals a brute-force pick, the rows and report files, resume mid-search, executors agree, bad grids are
refused before anything runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from mebench import plugins
from mebench.errors import ConfigError
from mebench.method import Method, MethodInfo
from mebench.params import Bounds
from mebench.reports.results import load_run
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochSelection
from mebench.store import ResultStore

N_SUBJECTS = 6
SAMPLE, SUBJECT, LABEL = (2, 27, 27), (2, 27, 26), (2, 27, 25)  # marker pixels: sample index, subject index, label


def load_marked(path=None, *, cache_dir=None):
    """The conftest's tiny dataset (6 subjects, 36 samples) with each sample's index, subject and label written
    into three pixels, so that the test methods can tell samples apart."""
    from tests.conftest import make_tiny_dataset

    ds = make_tiny_dataset()
    X = ds.features("flow").copy()
    table = ds.samples
    subjects = {s: i for i, s in enumerate(dict.fromkeys(table["subject_key"]))}
    for i, (subject, label) in enumerate(zip(table["subject_key"], table["label_index"])):
        X[(i, *SAMPLE)], X[(i, *SUBJECT)], X[(i, *LABEL)] = i, subjects[subject], label
    from mebench.dataset import Dataset

    return Dataset(name="marked", source="marked", class_names=ds.class_names, samples=table,
                   fingerprint=ds.fingerprint + "-marked", feature_function=lambda rep: X)


class Tunable(Method):
    """Nearest centroid whose configuration `k` changes its predictions: after each epoch, a seeded quarter of the
    samples (drawn from seed, k, epoch and the sample) is predicted one class off. Every k is as good on average, so
    the choice varies from fold to fold. `fail_flag`: while that file exists, fail the cells named by `fail_on`
    ("k2": every cell of configuration k=2; "outer": every outer training, i.e. one on all but one subject)."""

    info = MethodInfo(name="tunable", summary="configuration-dependent predictions (test plugin)", input="flow",
                      citation="test", presets={"paper": {}, "quick": {}}, search_space={"k": (0, 1, 2)})

    def __init__(self, *, num_classes: int = 3, seed: int = 0, k: Annotated[int, Bounds(0, 9)] = 0, epochs: int = 2,
                 fail_flag: str = "", fail_on: str = "k2"):
        self.num_classes, self.seed, self.k, self.epochs = num_classes, seed, k, epochs
        self.fail_flag, self.fail_on = fail_flag, fail_on

    def fit(self, X, y, *, epoch_callback=None):
        self.subjects_ = {int(v) for v in X[(slice(None), *SUBJECT)]}
        self.outer_ = len(self.subjects_) == N_SUBJECTS - 1  # a LOSO training: every subject but the test one
        if self.fail_flag and Path(self.fail_flag).exists() and (
                (self.fail_on == "k2" and self.k == 2) or (self.fail_on == "outer" and self.outer_)):
            raise RuntimeError("deliberate failure for the resume test")
        flat = X.reshape(len(X), -1)
        self.centroids_ = np.stack([flat[y == c].mean(axis=0) for c in range(self.num_classes)])
        for epoch in range(1, self.epochs + 1):
            self.epoch_ = epoch
            if epoch_callback is not None:
                epoch_callback(epoch, self)
        return self

    def predict_proba(self, X):
        d = np.linalg.norm(X.reshape(len(X), -1)[:, None, :] - self.centroids_[None], axis=2)
        pred = d.argmin(axis=1)
        for i, sample in enumerate(X[(slice(None), *SAMPLE)].astype(int)):
            if np.random.default_rng([self.seed, self.k, self.epoch_, int(sample)]).random() < 0.25:
                pred[i] = (pred[i] + 1) % self.num_classes
        return self.one_hot(pred)

    def one_hot(self, pred):
        p = np.full((len(pred), self.num_classes), 0.05)
        p[np.arange(len(pred)), pred] = 0.9
        return p / p.sum(axis=1, keepdims=True)


class Poisoned(Tunable):
    """Tunable, except on the test subject of an outer training: configuration k=2 predicts the true labels (read
    from the label pixel) and every other configuration the wrong ones. A rule that reads test predictions picks
    k=2; the nested rule must choose exactly as for Tunable."""

    info = replace(Tunable.info, name="poisoned")

    def predict_proba(self, X):
        p = super().predict_proba(X)
        if self.outer_:
            labels = X[(slice(None), *LABEL)].astype(int)
            p = self.one_hot(labels if self.k == 2 else (labels + 1) % self.num_classes)
        return p


@pytest.fixture
def marked():
    plugins.datasets.register("marked", load_marked, source="tests.test_tuning")
    plugins.register_method(Tunable)
    plugins.register_method(Poisoned)
    yield "marked"
    plugins.datasets.unregister("marked")
    plugins.methods.unregister("tunable")
    plugins.methods.unregister("poisoned")


GRID = (("k", ("0", "1", "2")),)


def run(out, methods=("tunable",), tuning=("nested", "test-scored"), grid=GRID, selection="final", **kw):
    config = RunConfig(methods=tuple(methods), protocol="loso", out=out, data="marked", seeds=kw.pop("seeds", (0,)),
                       selection=EpochSelection(selection, validation_subjects=2), tuning=tuple(tuning), grid=grid,
                       **kw)
    return run_grid(config)


def k_of(params: str) -> int:
    return json.loads(params)["k"]


def rows(preds: pd.DataFrame, tuning: str, selection: str = "final") -> pd.DataFrame:
    part = preds[(preds["tuning"] == tuning) & (preds["epoch_selection"] == selection)]
    return part.sort_values(["method", "seed", "sample"])[["method", "seed", "fold", "sample", "y_pred"]].reset_index(drop=True)


def test_nested_never_reads_a_test_prediction(tmp_path, marked):
    summary = run(tmp_path / "r", methods=("tunable", "poisoned"))
    assert not summary.failed
    result = load_run(tmp_path / "r")
    picks = result.picks
    nested = picks[picks["tuning"] == "nested"].pivot_table(index=["seed", "fold"], columns="method", values="config",
                                                            aggfunc="first")
    assert len(nested) == N_SUBJECTS
    assert (nested["tunable"] == nested["poisoned"]).all()  # the poison changed no nested choice
    assert nested["tunable"].nunique() > 1  # and the choice is not trivial: it varies over folds
    scored = picks[picks["tuning"] == "test-scored"].set_index(["method", "seed"])
    assert set(scored.loc["poisoned", "config"]) == {"k=2"} and (scored.loc["poisoned", "score"] == 1.0).all()
    preds = result.preds
    assert preds.loc[preds["tuning"] == "test-scored", "leaky"].all()
    assert not preds.loc[preds["tuning"] == "nested", "leaky"].any()
    # every inner cell predicted 2 training subjects of its fold, never the fold's test subject
    cells = ResultStore(tmp_path / "r").cells()
    raw = ResultStore(tmp_path / "r").predictions()
    inner = raw[raw["training"] == "inner:2"]
    assert len(inner) and set(inner["cell_key"]) == set(cells.loc[cells["training"] == "inner:2", "key"])
    for (fold, _), part in inner.groupby(["fold", "cell_key"]):
        subjects = set(part["dataset"] + "/" + part["subject"])
        assert len(subjects) == 2 and fold not in subjects


def test_the_rules_equal_an_independent_brute_force_pick(tmp_path, marked):
    assert not run(tmp_path / "r", seeds=(0, 1)).failed
    raw = ResultStore(tmp_path / "r").predictions()
    raw["k"] = raw["cell_key"].map(dict(zip(ResultStore(tmp_path / "r").cells()["key"],
                                            ResultStore(tmp_path / "r").cells()["params"].map(k_of))))
    outer, inner = raw[raw["training"] == "full"], raw[raw["training"] == "inner:2"]
    result = load_run(tmp_path / "r")
    picks = result.picks
    for seed, part in outer.groupby("seed"):
        scores = [f1_score(p["y_true"], p["y_pred"], average="macro") for _, p in sorted(part.groupby("k"))]
        best = int(np.argmax(scores))  # the first of equal scores: grid order
        pick = picks[(picks["tuning"] == "test-scored") & (picks["seed"] == seed)]
        assert list(pick["config"]) == [f"k={best}"]
        assert json.loads(pick["scores"].iloc[0]) == pytest.approx(scores, abs=1e-6)
        got = rows(result.preds, "test-scored")
        expected = part[part["k"] == best].sort_values("sample")["y_pred"].to_numpy()
        assert (got[got["seed"] == seed]["y_pred"].to_numpy() == expected).all()
    got = rows(result.preds, "nested").set_index(["seed", "sample"])["y_pred"]
    for (seed, fold), part in inner.groupby(["seed", "fold"]):
        scores = [f1_score(p["y_true"], p["y_pred"], average="macro") for _, p in sorted(part.groupby("k"))]
        best = int(np.argmax(scores))
        pick = picks[(picks["tuning"] == "nested") & (picks["seed"] == seed) & (picks["fold"] == fold)]
        assert list(pick["config"]) == [f"k={best}"]
        test = outer[(outer["seed"] == seed) & (outer["fold"] == fold) & (outer["k"] == best)]
        assert (got.loc[[(seed, s) for s in test["sample"]]].to_numpy() == test["y_pred"].to_numpy()).all()


def test_the_report_shows_every_rule_and_the_gap(tmp_path, marked):
    from mebench.reports.writer import write_report

    out = tmp_path / "r"
    # no --grid: the method's declared search space (k in 0..2); final and oracle epochs: the full 2x2
    assert not run(out, tuning=("nested", "test-scored", "fixed"), grid=(), selection="final,oracle", seeds=(0, 1)).failed
    rep = write_report(out, figures=False, n_resamples=50, n_permutations=50)
    results = pd.read_csv(out / "results.csv")
    assert list(results.columns[:8]) == ["method", "display_name", "protocol", "data", "preset", "overrides",
                                         "epoch_selection", "tuning"]
    labels = results.drop_duplicates("method").set_index("method")
    assert set(labels.loc[[f"tunable (k={k})" for k in range(3)], "tuning"]) == {"fixed"}
    assert labels.loc["tunable (nested)", "tuning"] == "nested" and not labels.loc["tunable (nested)", "leaky"]
    for leaky in ("tunable (nested, oracle)", "tunable (test-scored)", "tunable (test-scored, oracle)"):
        assert labels.loc[leaky, "leaky"]
    gaps = pd.read_csv(out / "leakage.csv")
    tuning = gaps[(gaps["kind"] == "tuning") & (gaps["metric"] == "uf1") & (gaps["group"] == "Full")]
    assert set(tuning["method"]) == {"tunable (nested)"}
    assert set(tuning["oracle_method"]) == {"tunable (nested, oracle)", "tunable (test-scored)",
                                            "tunable (test-scored, oracle)"}
    assert tuning["gap_low"].notna().all() and tuning["p"].notna().all() and (tuning["seeds"] == 2).all()
    assert (tuning.set_index("oracle_method").loc["tunable (test-scored)", "gap"] >= 0)  # the best on the test data
    picks = pd.read_csv(out / "tuning.csv")
    assert set(picks["tuning"]) == {"nested", "test-scored"} and (picks["grid_size"] == 3).all()
    assert len(picks[(picks["method"] == "tunable (nested)")]) == 2 * N_SUBJECTS  # per seed and fold
    costs = pd.read_csv(out / "methods.csv").set_index("method")
    assert costs.loc["tunable (nested)", "trainings"] == 2 * N_SUBJECTS * 4  # 3 inner + the winner, per fold
    assert costs.loc["tunable (test-scored)", "trainings"] == 2 * N_SUBJECTS * 3
    assert costs.loc["tunable (k=0)", "trainings"] == 2 * N_SUBJECTS
    tex = (out / "table.tex").read_text()
    assert "Hyperparameter search, tunable (nested)" in tex and "grid of 3 configurations" in tex
    assert "(test-scored) Configuration chosen" in tex
    index = (out / "report.md").read_text()
    assert "## Hyperparameter search" in index and "Nested choice per outer fold" in index
    assert "--tuning nested,test-scored,fixed" in index
    assert not rep.summary.empty


def test_resume_mid_search_runs_only_the_missing_cells(tmp_path, marked):
    flag = tmp_path / "flag"
    grid = GRID
    for fail_on in ("k2", "outer"):  # an inner cell fails (no choice yet); the chosen outer trainings fail
        params = (("fail_flag", str(flag)), ("fail_on", fail_on))
        clean = run(tmp_path / f"clean-{fail_on}", tuning=("nested",), grid=grid, params=params)
        assert not clean.failed
        flag.write_text("x")
        first = run(tmp_path / fail_on, tuning=("nested",), grid=grid, params=params)
        assert first.failed
        flag.unlink()
        second = run(tmp_path / fail_on, tuning=("nested",), grid=grid, params=params)
        assert not second.failed
        if fail_on == "k2":  # only configuration 2's inner cells ran, then every chosen outer training
            assert second.skipped == N_SUBJECTS * 2 and second.done == N_SUBJECTS * 2
        else:  # the choices were known: the chosen outer trainings ran, nothing else
            assert second.skipped == N_SUBJECTS * 3 and second.done == N_SUBJECTS
        again = run(tmp_path / fail_on, tuning=("nested",), grid=grid, params=params)
        assert again.done == 0 and again.skipped == again.total
        pd.testing.assert_frame_equal(rows(load_run(tmp_path / fail_on).preds, "nested"),
                                      rows(load_run(tmp_path / f"clean-{fail_on}").preds, "nested"))


def search_of(out, executor):
    assert not run(out / executor, executor=executor, workers=2, tuning=("nested", "test-scored")).failed
    result = load_run(out / executor)
    return (rows(result.preds, "nested"), rows(result.preds, "test-scored"),
            result.picks[["tuning", "seed", "fold", "config"]].reset_index(drop=True))


def test_serial_and_local_executors_agree(tmp_path, marked):
    for a, b in zip(search_of(tmp_path, "serial"), search_of(tmp_path, "local")):
        pd.testing.assert_frame_equal(a, b)


def test_serial_and_ray_executors_agree(tmp_path, marked):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'mebench[ray]')")
    from tests.conftest import REPO

    # The test plugins live in this module: Ray's workers import it from the checkout.
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}})
    try:
        for a, b in zip(search_of(tmp_path, "serial"), search_of(tmp_path, "ray")):
            pd.testing.assert_frame_equal(a, b)
    finally:
        if ray.is_initialized():
            ray.shutdown()


@pytest.mark.parametrize("tuning, grid, params, match", [
    ((), (("k", ("0", "1")),), (), r"--grid k: a grid needs --tuning"),
    (("best",), (("k", ("0", "1")),), (), r"--tuning 'best'"),
    (("nested",), (("kk", ("0", "1")),), (), r"--grid kk: no selected method has a parameter 'kk'"),
    (("nested",), (("tunable.zz", ("0", "1")),), (), r"--grid tunable.zz: method 'tunable' has no parameter 'zz'"),
    (("nested",), (("other.k", ("0", "1")),), (), r"--grid other.k: 'other' is not a method of this run"),
    (("nested",), (("k", ("1",)),), (), r"--grid k: a grid searches at least two values"),
    (("nested",), (("k", ("",)),), (), r"--grid k: a grid searches at least two values"),
    (("nested",), (("k", ()),), (), r"--grid k: a grid searches at least two values \(V1\|V2\|\.\.\.\); got 0"),
    (("nested",), (("k", ("0", "12")),), (), r"parameter k=12: expected an integer >= 0 and <= 9"),
    (("nested",), (("k", ("0", "abc")),), (), r"parameter k=abc"),
    (("nested",), (("k", ("1", "1.0")),), (), r"parameter k: the value 1 is given twice"),
    (("nested",), (("k", ("0", "1")),), (("k", 1),), r"--grid k: the parameter is also fixed by --param k"),
    (("nested",), (("seed", ("0", "1")),), (), r"--grid seed: seed is set by mebench"),
    (("nested",), (("k", "01"),), (), r"--grid k: takes a list of values"),
])
def test_bad_grids_are_refused_before_anything_runs(tmp_path, marked, tuning, grid, params, match):
    with pytest.raises(ConfigError, match=match):
        run(tmp_path / "r", tuning=tuning, grid=grid, params=params)
    assert not (tmp_path / "r").exists()


def test_no_grid_an_epoch_beyond_a_configuration_and_too_many_inner_subjects_are_refused(tmp_path, marked):
    from tests.plugin_fixtures import NearestCentroid

    plugins.register_method(NearestCentroid)
    try:
        with pytest.raises(ConfigError, match="no selected method has a grid"):
            run(tmp_path / "r", methods=("centroid",), tuning=("nested",), grid=())
    finally:
        plugins.methods.unregister("centroid")
    with pytest.raises(ConfigError, match=r"epoch:3: method 'tunable' trains 2 epochs here \(the configuration epochs=2, k=0 of its grid\)"):
        run(tmp_path / "r", tuning=("fixed",), grid=(("epochs", ("4", "2")), ("k", ("0", "1"))), selection="epoch:3")
    with pytest.raises(ConfigError, match=r"--validation-subjects 5: fold .* has only 5 training subjects"):
        run_grid(RunConfig(methods=("tunable",), protocol="loso", out=tmp_path / "r", data="marked", tuning=("nested",),
                           selection=EpochSelection("final", validation_subjects=5)))
    assert not (tmp_path / "r").exists()


def test_the_command_line_and_the_api_take_a_grid(tmp_path, marked):
    import mebench
    from typer.testing import CliRunner

    from mebench.cli import app

    res = CliRunner().invoke(app, ["run", "--methods", "tunable", "--protocol", "loso", "--data", "marked",
                                   "--grid", "k=0|1", "--out", str(tmp_path / "cli")])
    assert res.exit_code == 2 and "--grid k: a grid needs --tuning" in res.output
    res = CliRunner().invoke(app, ["run", "--methods", "tunable", "--protocol", "loso", "--data", "marked",
                                   "--tuning", "nested", "--grid", "k=0|1|", "--out", str(tmp_path / "cli")])
    assert res.exit_code == 2 and "parameter k=" in res.output  # an empty value is not an integer
    res = CliRunner().invoke(app, ["run", "--methods", "tunable", "--protocol", "loso", "--data", "marked",
                                   "--tuning", "nested", "--grid", "k=0|1", "--validation-subjects", "2",
                                   "--executor", "serial", "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    api = tmp_path / "api"
    mebench.run(["tunable"], protocol="loso", data=["marked"], tuning=["nested"], grid={"k": [0, 1]},
                validation_subjects=2, out=api)
    pd.testing.assert_frame_equal(rows(load_run(api).preds, "nested"), rows(load_run(tmp_path / "cli").preds, "nested"))
    with pytest.raises(ConfigError, match=r"grid\['k'\] takes a list"):
        mebench.run(["tunable"], protocol="loso", data=["marked"], tuning=["nested"], grid={"k": "01"}, out=api)


def test_the_declared_search_spaces():
    from mebench.checks import check_info

    for name, names in (("ststnet", ("lr", "epochs")), ("rcn-a", ("featuremaps", "pool_size"))):
        cls = plugins.methods.get(name)
        check_info(cls)
        space = cls.info.search_space
        assert tuple(space) == names and np.prod([len(v) for v in space.values()]) >= 6
        paper = cls.info.presets["paper"]
        assert all(paper[n] in space[n] for n in names)  # around the published setting
