"""Report files from a hand-made results database, checked against hand-computed metrics."""

import json

import pandas as pd
import pytest

from mebench.store import PredictionRow, ResultStore
from mebench.reports.writer import write_report

CLASSES = ["negative", "positive", "surprise"]
# Pooled over both folds: y_true 0 0 0 1 1 2, y_pred 0 0 1 1 2 2.
#   class 0: TP 2 FP 0 FN 1 -> F1 4/5, recall 2/3
#   class 1: TP 1 FP 1 FN 1 -> F1 1/2, recall 1/2
#   class 2: TP 1 FP 1 FN 0 -> F1 2/3, recall 1
FOLDS = {
    "casme2/sub01": [("casme2", "sub01", "a", 0, 0), ("casme2", "sub01", "b", 0, 0), ("casme2", "sub01", "c", 1, 1)],
    "smic/s01": [("smic", "s01", "d", 0, 1), ("smic", "s01", "e", 1, 2), ("smic", "s01", "f", 2, 2)],
}
FULL_UF1 = (4 / 5 + 1 / 2 + 2 / 3) / 3
FULL_UAR = (2 / 3 + 1 / 2 + 1) / 3
# CASME II slice: y_true 0 0 1, y_pred 0 0 1 -> perfect on the classes present (class 2 absent: skipped)
# SMIC slice: y_true 0 1 2, y_pred 1 2 2 -> F1: class0 0, class1 0, class2 2/3 ; recall 0, 0, 1
SMIC_UF1 = (0 + 0 + 2 / 3) / 3
SMIC_UAR = (0 + 0 + 1) / 3


def save(store, method, seed, selection="final", flip=False):
    for fold, rows in FOLDS.items():
        key = f"{method}-{seed}-{selection}-{fold}"
        preds = []
        for dataset, subject, clip, y_true, y_pred in rows:
            if flip:  # a perfect predictor
                y_pred = y_true
            proba = [0.1, 0.1, 0.1]
            proba[y_pred] = 0.8
            preds.append(PredictionRow(f"{dataset}/{subject}/{clip}", dataset, subject, y_true, y_pred, proba, None))
        store.save_cell(dict(key=key, method=method, preset="paper", params="{}", params_hash="abc123",
                             dataset="synthetic", dataset_source="synthetic", dataset_fingerprint="f", protocol="composite",
                             fold=fold, n_folds=len(FOLDS), seed=seed, training="full" if selection == "final" else selection,
                             selections=json.dumps([selection]), class_names=json.dumps(CLASSES),
                             mebench_version="0", versions="{}", started_at="t", finished_at="t", status="done"), preds)


@pytest.fixture
def run_dir(tmp_path):
    store = ResultStore(tmp_path)
    for seed in (0, 1):
        save(store, "htnet", seed)
        save(store, "htnet", seed, selection="oracle", flip=True)
    save(store, "ststnet", 0)
    return tmp_path


def test_results_csv_holds_pooled_metrics(run_dir):
    write_report(run_dir)
    results = pd.read_csv(run_dir / "results.csv")
    assert {"method", "protocol", "group", "seed", "metric", "value"} <= set(results.columns)
    def value(method, group, metric, seed=0):
        sel = results[(results.method == method) & (results.group == group) & (results.metric == metric) & (results.seed == seed)]
        assert len(sel) == 1
        return sel["value"].iloc[0]
    assert value("htnet", "Full", "uf1") == pytest.approx(FULL_UF1)
    assert value("htnet", "Full", "uar") == pytest.approx(FULL_UAR)
    assert value("htnet", "Full", "accuracy") == pytest.approx(4 / 6)
    assert value("htnet", "SMIC", "uf1") == pytest.approx(SMIC_UF1)
    assert value("htnet", "SMIC", "uar") == pytest.approx(SMIC_UAR)
    assert value("htnet", "CASME II", "uf1") == pytest.approx(1.0)
    assert value("htnet (oracle)", "Full", "uf1") == pytest.approx(1.0)
    assert set(results.loc[results.method == "htnet (oracle)", "leaky"]) == {True}
    assert "SAMM" not in set(results["group"])  # no SAMM predictions: no SAMM row


def test_predictions_csv_has_one_row_per_test_sample(run_dir):
    write_report(run_dir)
    preds = pd.read_csv(run_dir / "predictions.csv")
    for col in ("method", "protocol", "seed", "fold", "dataset", "subject", "sample", "y_true", "y_pred"):
        assert col in preds.columns
    assert len(preds) == 6 * 5  # 6 samples x (2 htnet seeds + 2 oracle seeds + 1 ststnet seed)
    row = preds[(preds["sample"] == "smic/s01/d") & (preds.method == "htnet") & (preds.seed == 0)].iloc[0]
    assert (row.y_true, row.y_pred, row.label_true, row.label_pred) == (0, 1, "negative", "positive")


def test_table_tex_marks_best_and_leaky(run_dir):
    write_report(run_dir)
    tex = (run_dir / "table.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    # A cell is \mebenchpm{mean}{std}: the mean (marked) over the std, both shown.
    oracle_line = next(line for line in tex.splitlines() if line.startswith("HTNet (oracle)"))  # display names
    assert r"$^\dagger$" in oracle_line and r"\mebenchpm{\textbf{1.0000}}{0.0000}" in oracle_line
    htnet_line = next(line for line in tex.splitlines() if line.startswith("HTNet &"))
    assert f"{FULL_UF1:.4f}}}}}{{0.0000}}" in htnet_line and r"\textbf" not in htnet_line.split("&")[1]
    ststnet_line = next(line for line in tex.splitlines() if line.startswith("STSTNet &"))
    assert r"\mebenchpm" not in ststnet_line  # one seed: no spread to show
    assert "model selection on test data" in tex


def test_default_reference_is_the_first_method_named(tmp_path):
    store = ResultStore(tmp_path)
    save(store, "ststnet", 0)  # a run of `--methods ststnet,htnet` stores ststnet's cells first
    save(store, "htnet", 0)
    assert write_report(tmp_path, figures=False).reference == "ststnet"


def test_variant_labels_say_preset_params_and_selection_only_where_rows_differ():
    from mebench.reports.results import variant_labels

    def cell(method, preset, params, selection="final", precision="fp32", data="htnet-release"):
        return dict(method=method, preset=preset, params=json.dumps(params), params_hash=json.dumps(params),
                    precision=precision, data=data, epoch_selection=selection)

    one_preset = pd.DataFrame([cell("htnet", "paper", {"lr": 1}), cell("ststnet", "paper", {"lr": 1}),
                               cell("ststnet", "paper", {"lr": 2}), cell("htnet", "paper", {"lr": 1}, "oracle")])
    assert sorted(variant_labels(one_preset).values()) == ["htnet", "htnet (oracle)", "ststnet (lr=1)",
                                                           "ststnet (lr=2)"]
    mixed = pd.DataFrame([cell("htnet", "quick", {"lr": 1}), cell("ststnet", "paper", {"lr": 1}),
                          cell("ststnet", "paper", {"lr": 1}, precision="bf16")])
    assert sorted(variant_labels(mixed, display=True).values()) == ["HTNet [quick]", "STSTNet [paper]",
                                                                    "STSTNet [paper] [bf16]"]


def test_unfinished_seeds_are_left_out_while_a_finished_one_exists(tmp_path):
    """A partly run seed pools fewer subjects: it is not averaged with finished seeds, and report.md
    says so; asked for alone (--seeds), it is reported and marked incomplete."""
    from mebench.errors import DataError

    store = ResultStore(tmp_path)
    save(store, "htnet", 0)
    save(store, "htnet", 1)
    save(store, "htnet", 1, flip=True)  # seed 1 differs from seed 0, so its absence shows in the numbers
    store.save_cell(dict(key="htnet-1-final-casme2/sub01", method="htnet", preset="paper", params="{}",
                         params_hash="abc123", dataset="synthetic", dataset_source="synthetic",
                         dataset_fingerprint="f", protocol="composite", fold="casme2/sub01", n_folds=2, seed=1,
                         training="full", selections=json.dumps(["final"]), class_names=json.dumps(CLASSES),
                         mebench_version="0", versions="{}", status="pending"), [])
    default = write_report(tmp_path, tmp_path / "all", figures=False)
    assert not default.incomplete
    results = pd.read_csv(tmp_path / "all" / "results.csv")
    assert set(results["seed"]) == {0}
    assert results.query("group == 'Full' and metric == 'uf1'")["value"].item() == pytest.approx(FULL_UF1)
    report_md = (tmp_path / "all" / "report.md").read_text()
    assert "`htnet` (composite) is reported on seed 0 (every fold done)" in report_md
    assert "seed 1: 1 of 2 folds done" in report_md

    alone = write_report(tmp_path, tmp_path / "seed1", figures=False, seeds=[1])
    assert alone.incomplete == {("composite", "htnet"): "1 of 2 folds done (seed 1: 1 not run)"}
    report_md = (tmp_path / "seed1" / "report.md").read_text()
    assert "seeds reported: 1" in report_md and "- **Seeds**: 1\n" in report_md
    with pytest.raises(DataError, match=r"seed 7 .*finished seeds: 0, 1"):
        write_report(tmp_path, tmp_path / "seed7", figures=False, seeds=[7])
    assert not (tmp_path / "seed7").exists()


def test_an_unfinished_invocation_says_so_in_a_report_of_several_folders(tmp_path):
    # c: a folder written before runs were recorded (no invocation stored)
    for seed, (name, finished) in enumerate((("a", "2026-01-01T01:00:00"), ("b", None), ("c", "-"))):
        (tmp_path / name).mkdir()
        store = ResultStore(tmp_path / name)
        if finished != "-":
            run_id = store.begin_run("run", {"methods": ["htnet"], "protocol": "composite", "seeds": [seed]},
                                     "host-" + name, {"mebench": "0"}, "2026-01-01T00:00:00")
            if finished:
                store.finish_run(run_id, finished)
            else:  # beside a finished one, as when a run is resumed: pandas reads the missing end as NaN
                store.finish_run(store.begin_run("run", {"methods": ["htnet"], "protocol": "composite", "seeds": [seed]},
                                                 "host-b2", {"mebench": "0"}, "2026-01-02T00:00:00"),
                                 "2026-01-02T01:00:00")
        save(store, "htnet", seed)
    write_report([tmp_path / n for n in "abc"], tmp_path / "all", figures=False)
    report_md = (tmp_path / "all" / "report.md").read_text()
    assert "on host-a, 2026-01-01T00:00:00 to 2026-01-01T01:00:00;" in report_md
    assert "on host-b, 2026-01-01T00:00:00 to (not finished);" in report_md and " to nan" not in report_md


def test_learning_curves_have_whole_epoch_ticks_and_labelled_panels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from mebench.reports import figures

    curves = pd.DataFrame({"variant": "m", "protocol": "loso", "seed": 0, "epoch": [1, 2, 3], "uf1": [0.3, 0.5, 0.4]})
    picks = pd.DataFrame({"variant": "m", "protocol": "loso", "seed": 0, "subject": ["a", "b"], "epoch": [2, 3]})
    seen = {}
    close = figures._plt().close
    figures._plt().close = lambda fig: seen.setdefault("fig", fig)
    try:
        figures.curves_figure(curves, picks, "loso", tmp_path)
    finally:
        figures._plt().close = close
    ax, rug = seen["fig"].axes
    assert all(float(t).is_integer() for t in rug.get_xticks())
    assert ax.get_title().startswith("(a) ") and rug.get_title().startswith("(b) ")
    plt.close(seen["fig"])
