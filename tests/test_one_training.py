"""One training, every epoch selection: final, epoch:E and oracle read off the same training equal
separate trainings; the stored epoch record round-trips; learning curves, the paired leakage gap,
display names and number formats in the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mebench import plugins
from mebench.cli import app
from mebench.errors import ConfigError
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.selection import EpochRecord, EpochSelection
from mebench.store import PredictionRow, ResultStore
from mebench.reports import statistics as st
from mebench.reports.results import load_run

QUICK = dict(methods=("ststnet",), protocol="loso", preset="quick", seeds=(0, 1))


def run(tmp_path, name, data, selection, epochs=4):
    out = tmp_path / name
    summary = run_grid(RunConfig(out=out, data=data, selection=EpochSelection(selection), params=(("epochs", epochs),),
                                 **QUICK))
    assert not summary.failed
    return load_run(out).preds


def predictions(preds, selection):
    part = preds[preds["epoch_selection"] == selection]
    return part.sort_values(["seed", "sample"])[["seed", "sample", "y_pred", "epoch"]].reset_index(drop=True)


def test_one_training_gives_the_selections_of_separate_trainings(tmp_path, tiny_data):
    both = run(tmp_path, "both", tiny_data, "final,oracle,epoch:2")
    final = run(tmp_path, "final", tiny_data, "final")
    oracle = run(tmp_path, "oracle", tiny_data, "oracle")
    two_epochs = run(tmp_path, "two", tiny_data, "final", epochs=2)
    cells = ResultStore(tmp_path / "both").cells()
    assert len(cells) == 2 * 6 and set(cells["training"]) == {"full"}  # one training per fold and seed
    pd.testing.assert_frame_equal(predictions(both, "final")[["seed", "sample", "y_pred"]],
                                  predictions(final, "final")[["seed", "sample", "y_pred"]])
    pd.testing.assert_frame_equal(predictions(both, "oracle"), predictions(oracle, "oracle"), check_dtype=False)
    # epoch:2 of a 4-epoch training is a 2-epoch training's final epoch
    pd.testing.assert_frame_equal(predictions(both, "epoch:2")[["seed", "sample", "y_pred"]],
                                  predictions(two_epochs, "final")[["seed", "sample", "y_pred"]])
    assert set(predictions(both, "epoch:2")["epoch"]) == {2} and set(predictions(both, "oracle")["epoch"]) <= {1, 2, 3, 4}
    assert set(both["leaky"][both["epoch_selection"] == "oracle"]) == {True}
    assert not both["leaky"][both["epoch_selection"] != "oracle"].any()


def test_a_later_run_adds_selections_without_training_again(tmp_path, tiny_data):
    first = run(tmp_path, "r", tiny_data, "final,oracle")
    before = ResultStore(tmp_path / "r").cells().set_index("key")["finished_at"]
    again = run(tmp_path, "r", tiny_data, "final,epoch:3")
    after = ResultStore(tmp_path / "r").cells().set_index("key")
    pd.testing.assert_series_equal(after["finished_at"], before)  # nothing recomputed
    assert set(again["epoch_selection"]) == {"final", "oracle", "epoch:3"}
    assert len(first) == len(again[again["epoch_selection"] != "epoch:3"])


def test_the_epoch_record_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=(5, 4))
    record = EpochRecord.from_history(list(proba))
    store = ResultStore(tmp_path)
    store.ensure_writable()
    cell = dict(key="k", method="m", preset="p", params="{}", params_hash="h", dataset="d", dataset_source="d",
                dataset_fingerprint="f", protocol="loso", fold="a/1", n_folds=1, seed=0, training="full",
                selections='["oracle"]', record_epochs=1, precision="fp32", class_names='["a","b","c"]',
                mebench_version="0", versions="{}", status="done")
    samples = ["a/1/x", "a/1/y", "a/1/z", "a/1/w"]
    rows = [PredictionRow(s, "a", "1", 0, 0, [1, 0, 0], None) for s in samples]
    store.save_cell(cell, rows, (samples, record))
    got_samples, got = store.epoch_records()["k"]
    assert got_samples == samples and got.n_epochs == 5
    np.testing.assert_array_equal(got.proba, proba.astype(np.float16))
    np.testing.assert_array_equal(got.pred, proba.argmax(axis=2))
    assert got.proba.dtype == np.float16 and got.pred.dtype == np.uint8


def test_selections_that_need_epochs_are_refused_for_non_iterative_methods(tmp_path, tiny_data):
    for selection in ("oracle", "epoch:3", "validation"):
        with pytest.raises(ConfigError, match="does not train in epochs"):
            run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path, data=tiny_data,
                               selection=EpochSelection(selection)))
    with pytest.raises(ConfigError, match="--epoch-selection 'epoch:0'"):
        EpochSelection("final,epoch:0")


def test_report_of_one_training_two_seeds(tmp_path, tiny_data, monkeypatch):
    plugins_before = set(plugins.methods.names())
    out = tmp_path / "run"
    summary = run_grid(RunConfig(methods=("ststnet", "rcn-a"), protocol="composite", out=out, data=tiny_data,
                                 preset="quick", seeds=(0, 1), params=(("epochs", 3),),
                                 selection=EpochSelection("final,oracle")))
    assert not summary.failed and set(plugins.methods.names()) == plugins_before
    shown_texts: list[str] = []
    from mebench.reports import figures

    original = figures._save

    def capture(fig, folder, stem, note=""):
        for ax in fig.axes:
            shown_texts.extend(t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())
            legend = ax.get_legend()
            if legend is not None:
                shown_texts.extend(t.get_text() for t in legend.get_texts())
            shown_texts.append(ax.get_title())
        return original(fig, folder, stem, note)

    monkeypatch.setattr(figures, "_save", capture)
    result = CliRunner().invoke(app, ["report", str(out), "--resamples", "50", "--permutations", "64",
                                      "--digits", "1", "--percent"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    tex = (out / "table.tex").read_text()
    assert "STSTNet (oracle)$^\\dagger$" in tex and "\nRCN-A &" in tex and "ststnet" not in tex  # display names
    assert any("STSTNet" in t for t in shown_texts) and any("RCN-A" in t for t in shown_texts)
    assert not any(t.startswith("ststnet") or t.startswith("rcn-a") for t in shown_texts)
    assert (out / "fig_curves_composite.png").exists() and (out / "fig_leakage.png").exists()
    results = pd.read_csv(out / "results.csv")
    assert {"method", "display_name"} <= set(results.columns)
    assert set(results["method"]) == {"ststnet", "ststnet (oracle)", "rcn-a", "rcn-a (oracle)"}
    full = results[(results["method"] == "ststnet") & (results["group"] == "Full") & (results["metric"] == "uf1")]
    # --percent --digits 1: the first score of the STSTNet row, printed as a percentage with one decimal
    assert f"{100 * full['value'].mean():.1f}" in tex
    # one p per comparison, from the test over both seeds
    stats = pd.read_csv(out / "stats.csv", dtype={"seed": str})
    main = stats[stats["seed"] == "all"]
    assert main.groupby(["method", "group"]).size().eq(1).all() and main["n_seeds"].eq(2).all()
    preds = load_run(out).preds
    row = main[(main["method"] == "rcn-a") & (main["group"] == "Full")].iloc[0]
    a = preds[preds["variant"] == "rcn-a"].sort_values(["seed", "sample"])
    b = preds[preds["variant"] == "ststnet"].sort_values(["seed", "sample"])
    subjects = (a["dataset"] + "/" + a["subject"]).to_numpy()
    expected = st.paired_permutation_test_seeds(a["y_true"].to_numpy(), a["y_pred"].to_numpy(), b["y_pred"].to_numpy(),
                                                subjects, a["seed"].to_numpy(), 3, 64, 0)
    assert row["p_permutation"] == pytest.approx(expected) and np.isnan(row["p_mcnemar"])
    # the leakage gap: paired, with its CI and test
    leakage = pd.read_csv(out / "leakage.csv")
    uf1_full = leakage[(leakage["metric"] == "uf1") & (leakage["group"] == "Full")]
    assert set(uf1_full["method"]) == {"ststnet", "rcn-a"} and uf1_full[["gap_low", "gap_high", "p"]].notna().all().all()
    assert (uf1_full["gap"] >= 0).all()  # the oracle never does worse on the subject it picks for
    # learning curves: the last epoch's pooled UF1 is the final selection's
    from mebench.reports import analysis

    run_results = load_run(out)
    curves = analysis.learning_curves(run_results.preds, run_results.records)
    last = curves[(curves["variant"] == "ststnet") & (curves["epoch"] == 3)].sort_values("seed")["uf1"].to_numpy()
    finals = results[(results["method"] == "ststnet") & (results["group"] == "Full") & (results["metric"] == "uf1")]
    np.testing.assert_allclose(last, finals.sort_values("seed")["value"].to_numpy())
