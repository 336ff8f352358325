"""Nothing silently wrong in a report (issue 22, report side): CSV formulas neutralised, a bad --seed refused,
damaged results named, byte-identical figures, shell-quoted commands, no network built that the run does not
name, and rows computed by different versions marked in the tables. Hand-made results databases throughout."""

import csv
import json
import re
import shlex
import sqlite3

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mebench.cli import app
from mebench.errors import ConfigError, DataError
from mebench.reports.csvsafe import FORMULA_STARTS, neutralise
from mebench.reports.writer import write_report
from mebench.selection import EpochRecord
from mebench.store import DB_NAME, PredictionRow, ResultStore

CLASSES = ["negative", "positive", "surprise"]
FOLDS = {
    "casme2/sub01": [("casme2", "sub01", "a", 0, 0), ("casme2", "sub01", "b", 0, 0), ("casme2", "sub01", "c", 1, 1)],
    "smic/s01": [("smic", "s01", "d", 0, 1), ("smic", "s01", "e", 1, 2), ("smic", "s01", "f", 2, 2)],
}
FAST = dict(n_resamples=20, n_permutations=20)


def save(store, method, seed=0, *, training="full", selections=("final",), display_name=None, params="{}",
         params_hash="abc123", record=False, flip=False, folds=FOLDS, mebench_version="0.1.0"):
    """One done cell per fold; with `record`, a 2-epoch record whose last epoch is the stored prediction."""
    for fold, rows in folds.items():
        preds = []
        for dataset, subject, clip, y_true, y_pred in rows:
            y_pred = y_true if flip else y_pred
            proba = [0.1, 0.1, 0.1]
            proba[y_pred] = 0.8
            preds.append(PredictionRow(f"{dataset}/{subject}/{clip}", dataset, subject, y_true, y_pred, proba, None))
        rec = None
        if record:
            samples = [p.sample for p in preds]
            first = [p.y_true for p in preds]  # epoch 1 perfect, epoch 2 the stored prediction
            pred = np.array([first, [p.y_pred for p in preds]], dtype=np.uint8)
            proba = np.full((2, len(preds), 3), 0.1, dtype=np.float16)
            for e in range(2):
                proba[e, np.arange(len(preds)), pred[e]] = 0.8
            rec = (samples, EpochRecord(proba, pred))
        store.save_cell(dict(key=f"{method}-{seed}-{training}-{fold}", method=method, preset="paper", params=params,
                             params_hash=params_hash, dataset="synthetic", dataset_source="synthetic",
                             dataset_fingerprint="f", protocol="composite", fold=fold, n_folds=len(folds), seed=seed,
                             training=training, selections=json.dumps(list(selections)),
                             record_epochs=int(record), class_names=json.dumps(CLASSES),
                             mebench_version=mebench_version, versions="{}", started_at="t", finished_at="t",
                             status="done", seconds=1.0, device="cpu", display_name=display_name), preds, rec)


def connect(folder):
    return sqlite3.connect(folder / DB_NAME)


# ---------------------------------------------------------------------------- 1. CSV formula injection
def csv_cells(path):
    with open(path, newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_neutralise_prefixes_formula_text_only():
    for text in ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text
    for value in ("htnet", "-0.5", "+3", "1e-3", "-", 0.5, -1, None, True):
        assert neutralise(value) == value


def test_every_csv_of_the_report_neutralises_formulas(tmp_path):
    store = ResultStore(tmp_path)
    save(store, "+evil", display_name="=HYPERLINK(\"http://x\",\"y\")", record=True,
         selections=("final", "oracle"))
    save(store, "ststnet", display_name="@SUM(1+1)")
    with connect(tmp_path) as conn:  # a reporting group and a subject named like formulas
        for rows in FOLDS.values():
            for dataset, subject, clip, _, _ in rows:
                conn.execute("INSERT INTO sample_groups VALUES ('composite', 'f', 0, '-Full', ?)",
                             (f"{dataset}/{subject}/{clip}",))
        conn.execute("UPDATE predictions SET subject = '=cmd|'' /C calc''!A0' WHERE subject = 's01'")
    rep = write_report(tmp_path, reference="+evil", **FAST)
    written = sorted(tmp_path.glob("*.csv"))
    assert {p.name for p in written} >= {"summary.csv", "methods.csv", "stats.csv", "results.csv", "predictions.csv",
                                         "leakage.csv"}
    for path in written:
        for cell in csv_cells(path):
            assert not cell.startswith(FORMULA_STARTS) or neutralise(cell) == cell, (path.name, cell)
    for name in ("summary.csv", "methods.csv", "stats.csv", "results.csv"):
        text = (tmp_path / name).read_text()
        assert "'+evil" in text and "'@SUM(1+1)" in text, name
    assert "'=HYPERLINK" in (tmp_path / "summary.csv").read_text()
    assert "'=cmd|" in (tmp_path / "predictions.csv").read_text()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary["'-Full_uf1_mean"].dtype == float  # numbers stay numbers; the column name is neutralised
    assert rep.summary["method"].str.startswith("+evil").any()  # the report's own frames are untouched


# ---------------------------------------------------------------------------- 2. --seed
@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    store = ResultStore(folder)
    save(store, "htnet", record=True, selections=("final", "oracle"))
    save(store, "ststnet")
    return folder


@pytest.mark.parametrize("value", ["-1", "4294967296", "99999999999999999999999"])
def test_a_bad_report_seed_is_one_error_line_naming_the_option(run_dir, tmp_path, value):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(run_dir), f"--seed={value}", "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --seed") and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("value", [-1, 2**32, 1.5, True, "0"])
def test_write_report_refuses_a_bad_seed(run_dir, value):
    with pytest.raises(ConfigError, match="--seed"):
        write_report(run_dir, seed=value, figures=False)


# ---------------------------------------------------------------------------- 3. damaged results
def damaged(run_dir, sql, *params):
    with connect(run_dir) as conn:
        conn.execute(sql, params)


CELL = re.compile(r"method 'htnet', fold 'smic/s01', seed 0")


@pytest.mark.parametrize("sql, params, what", [
    ("UPDATE epoch_predictions SET pred = ? WHERE cell_key = 'htnet-0-full-smic/s01'", (b"\x00\x01",), "truncated"),
    ("UPDATE epoch_predictions SET proba = ? WHERE cell_key = 'htnet-0-full-smic/s01'", (b"\x00" * 7,), "truncated"),
    ("UPDATE epoch_predictions SET samples = '[\"a\"' WHERE cell_key = 'htnet-0-full-smic/s01'", (), "JSON"),
    ("UPDATE epoch_predictions SET pred = ? WHERE cell_key = 'htnet-0-full-smic/s01'", (bytes([9] * 6),), "outside"),
    ("UPDATE cells SET selections = '[\"final\"' WHERE key = 'htnet-0-full-smic/s01'", (), "selections"),
    ("UPDATE cells SET selections = '{}' WHERE key = 'htnet-0-full-smic/s01'", (), "selections"),
    ("UPDATE cells SET class_names = 'negative' WHERE key = 'htnet-0-full-smic/s01'", (), "class_names"),
    ("UPDATE predictions SET y_pred = 7 WHERE cell_key = 'htnet-0-full-smic/s01' AND sample = 'smic/s01/e'", (),
     "y_pred = 7"),
    ("UPDATE predictions SET y_true = -1 WHERE cell_key = 'htnet-0-full-smic/s01' AND sample = 'smic/s01/e'", (),
     "y_true = -1"),
    ("UPDATE epoch_predictions SET n_classes = 4, proba = ? WHERE cell_key = 'htnet-0-full-smic/s01'",
     (b"\x00" * (2 * 3 * 4 * 2),), "epoch record of 4 classes, but 3 class names"),
    ("UPDATE epoch_predictions SET samples = '[\"x\", \"y\", \"z\"]' WHERE cell_key = 'htnet-0-full-smic/s01'", (),
     "epoch record of other test samples"),
])
def test_damaged_results_are_a_data_error_naming_the_cell_and_the_file(run_dir, sql, params, what):
    damaged(run_dir, sql, *params)
    with pytest.raises(DataError) as info:
        write_report(run_dir, figures=False, **FAST)
    message = str(info.value)
    assert CELL.search(message) and str(run_dir / DB_NAME) in message and what in message, message




# ---------------------------------------------------------------------------- 4. reproducible figures
def test_the_same_input_gives_byte_identical_figures(run_dir, tmp_path):
    first = write_report(run_dir, tmp_path / "a", **FAST)
    second = write_report(run_dir, tmp_path / "b", **FAST)
    figures = sorted(p.name for p in first.files if p.name.startswith("fig_"))
    assert figures == sorted(p.name for p in second.files if p.name.startswith("fig_"))
    assert any(n.startswith("fig_subjects") for n in figures) and any(n.endswith(".pdf") for n in figures)
    assert any(n.startswith("fig_curves") for n in figures)
    for name in figures:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    pdf = (tmp_path / "a" / figures[0].replace(".png", ".pdf")).read_bytes()
    assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf


# ---------------------------------------------------------------------------- 5. shell-quoted commands
def stored_commands(report_md):
    section = report_md.split("## Run specification", 1)[1].split("##", 1)[0]
    out = []
    for line in section.splitlines():
        m = re.match(r"^\d+\. (`+) (.*) \1$", line) or re.match(r"^\d+\. (`)(.*)\1$", line)
        if m:
            out.append(shlex.split(m.group(2)))
    return out


def test_report_md_commands_are_shell_quoted_and_name_the_run_folder(tmp_path):
    folder = tmp_path / "run's \"folder\" a b"
    folder.mkdir()
    store = ResultStore(folder)
    save(store, "htnet")
    methods = ["htnet", "my \"odd\" method's"]
    data = ["htnet-release:/data/my data/it's \"here\"", "casme2:/x;rm -rf y"]
    store.begin_run("run", {"methods": methods, "protocol": "loso:classes=casme2-5", "data": data,
                            "pipeline": "flow=farneback,apex=max-flow", "preset": "quick", "seeds": [0, 1],
                            "epoch_selection": {"name": "final,validation", "validation_subjects": 4, "patience": 3,
                                                "record_epochs": True},
                            "params": [["ststnet.lr", "1e-3"], ["note", "a b 'c'"], ["epochs", 5]],
                            "precision": "bf16"}, "host", {}, "t")
    store.begin_run("evaluate", {"method": "ststnet", "weights": "/w/STSTNet Weights/it's", "protocol": "composite",
                                 "data": ["htnet-release:/a b"], "config": [["k", "v w"]]}, "host", {}, "t")
    write_report(folder, tmp_path / "report", figures=False, **FAST)
    commands = stored_commands((tmp_path / "report" / "report.md").read_text())
    assert commands == [
        ["mebench", "run", "--methods", ",".join(methods), "--protocol", "loso:classes=casme2-5",
         "--data", data[0], "--data", data[1], "--preset", "quick", "--seeds", "0,1",
         "--epoch-selection", "final,validation", "--validation-subjects", "4", "--patience", "3", "--record-epochs",
         "--pipeline", "flow=farneback,apex=max-flow", "--param", "ststnet.lr=1e-3", "--param", "note=a b 'c'",
         "--param", "epochs=5", "--precision", "bf16", "--out", str(folder)],
        ["mebench", "evaluate", "--method", "ststnet", "--weights", "/w/STSTNet Weights/it's", "--protocol",
         "composite", "--data", "htnet-release:/a b", "--config", "k=v w", "--out", str(folder)],
    ]


# ---------------------------------------------------------------------------- 6. no network the run does not name
@pytest.fixture
def builds(monkeypatch):
    """Every network built for counting, as 'meta' or 'real'; a real build fails the test afterwards."""
    from mebench.methods.ststnet import STSTNetMethod

    built = []
    original = STSTNetMethod.build_network

    def spy(self):
        network = original(self)
        built.append("meta" if next(network.parameters()).is_meta else "real")
        return network

    monkeypatch.setattr(STSTNetMethod, "build_network", spy)
    return built


def ststnet_params(**overrides):
    from mebench.methods.ststnet import STSTNetMethod

    return json.dumps(STSTNetMethod.check_params({**STSTNetMethod.info.presets["paper"], "num_classes": 3,
                                                  **overrides}))


def test_no_network_is_built_for_a_method_the_stored_spec_does_not_name(tmp_path, builds):
    store = ResultStore(tmp_path)
    save(store, "ststnet", params=ststnet_params())
    save(store, "majority")
    store.begin_run("run", {"methods": ["majority"], "protocol": "composite"}, "host", {}, "t")
    rep = write_report(tmp_path, figures=False, **FAST)
    assert builds == []
    costs = pd.read_csv(tmp_path / "methods.csv").set_index("method")
    assert np.isnan(costs.loc["ststnet", "parameters"]) and np.isnan(costs.loc["ststnet", "flops_per_sample"])
    assert any("ststnet" in n and "not named by the stored run specification" in n for n in rep.notes)


def test_no_network_is_built_with_parameters_outside_their_bounds(tmp_path, builds):
    store = ResultStore(tmp_path)
    params = json.loads(ststnet_params())
    params["lr"] = -1.0  # outside LearningRate's bounds
    save(store, "ststnet", params=json.dumps(params))
    store.begin_run("run", {"methods": ["ststnet"], "protocol": "composite"}, "host", {}, "t")
    rep = write_report(tmp_path, figures=False, **FAST)
    assert builds == []
    assert np.isnan(pd.read_csv(tmp_path / "methods.csv").set_index("method").loc["ststnet", "parameters"])
    assert any("not ones the method accepts" in n for n in rep.notes)


def test_a_network_over_the_budget_is_sized_on_the_meta_device_only(tmp_path, builds, monkeypatch):
    monkeypatch.setattr("mebench.reports.analysis.MAX_COUNTED_PARAMETERS", 1000)
    store = ResultStore(tmp_path)
    save(store, "ststnet", params=ststnet_params())
    store.begin_run("run", {"methods": ["ststnet"], "protocol": "composite"}, "host", {}, "t")
    rep = write_report(tmp_path, figures=False, **FAST)
    assert builds == ["meta"]
    costs = pd.read_csv(tmp_path / "methods.csv").set_index("method")
    assert costs.loc["ststnet", "parameters"] == 1683 and np.isnan(costs.loc["ststnet", "flops_per_sample"])
    assert any("above the report's budget" in n for n in rep.notes)


def test_a_network_the_spec_names_is_counted(tmp_path, builds):
    store = ResultStore(tmp_path)
    save(store, "ststnet", params=ststnet_params())
    store.begin_run("run", {"methods": ["ststnet"], "protocol": "composite"}, "host", {}, "t")
    write_report(tmp_path, figures=False, **FAST)
    assert builds == ["meta", "real"]
    costs = pd.read_csv(tmp_path / "methods.csv").set_index("method")
    assert costs.loc["ststnet", "parameters"] == 1683 and costs.loc["ststnet", "flops_per_sample"] > 0


# ---------------------------------------------------------------------------- 7. mixed versions
def test_rows_whose_cells_disagree_in_versions_are_marked_in_every_table(tmp_path):
    store = ResultStore(tmp_path)
    save(store, "htnet", display_name="HTNet")
    save(store, "ststnet", display_name="STSTNet")
    save(store, "majority", display_name="Majority")
    with connect(tmp_path) as conn:
        if "method_version" not in {r[1] for r in conn.execute("PRAGMA table_info(cells)")}:
            conn.execute("ALTER TABLE cells ADD COLUMN method_version TEXT")
        conn.execute("UPDATE cells SET method_version = 'mebench 0.1.0 src:aaaaaaaa'")
        conn.execute("UPDATE cells SET method_version = 'mebench 0.1.0 src:bbbbbbbb' "
                     "WHERE key = 'htnet-0-full-smic/s01'")
        conn.execute("UPDATE cells SET mebench_version = '0.0.9' WHERE key = 'ststnet-0-full-smic/s01'")
    rep = write_report(tmp_path, figures=False, **FAST)

    md = (tmp_path / "table.md").read_text()
    rows = {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert rows["HTNet ¶"] and rows["STSTNet ¶"] and "Majority" in rows
    assert "src:aaaaaaaa (1 cell)" in md and "src:bbbbbbbb (1 cell)" in md and "0.0.9 (1 cell)" in md
    for name in ("table.tex", "table_datasets.tex"):
        tex = (tmp_path / name).read_text()
        assert r"HTNet$^\P$" in tex and r"STSTNet$^\P$" in tex and r"Majority$^\P$" not in tex, name
        assert "Mixed versions" in tex and "src:bbbbbbbb" in tex, name
    summary = pd.read_csv(tmp_path / "summary.csv", keep_default_na=False).set_index("method")
    assert "src:aaaaaaaa" in summary.loc["htnet", "mixed_versions"]
    assert "mebench_version 0.0.9 (1 cell), 0.1.0 (1 cell)" in summary.loc["ststnet", "mixed_versions"]
    assert summary.loc["majority", "mixed_versions"] == ""
    results = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)
    assert set(results.loc[results["method"] == "htnet", "mixed_versions"]) == {summary.loc["htnet", "mixed_versions"]}
    assert any("`htnet`" in n and "different versions" in n for n in rep.notes)
    assert "¶" in (tmp_path / "report.md").read_text()


def test_versions_not_recorded_beside_recorded_ones_are_marked(tmp_path):
    store = ResultStore(tmp_path)
    save(store, "htnet")
    with connect(tmp_path) as conn:
        if "method_version" not in {r[1] for r in conn.execute("PRAGMA table_info(cells)")}:
            conn.execute("ALTER TABLE cells ADD COLUMN method_version TEXT")
        conn.execute("UPDATE cells SET method_version = NULL")
    write_report(tmp_path, figures=False, **FAST)
    assert "¶" not in (tmp_path / "table.md").read_text()  # all unrecorded: nothing to compare
    with connect(tmp_path) as conn:
        conn.execute("UPDATE cells SET method_version = 'mebench 0.1.0 src:aaaaaaaa' WHERE key = 'htnet-0-full-smic/s01'")
    write_report(tmp_path, figures=False, **FAST)
    assert "not recorded (1 cell)" in (tmp_path / "table.md").read_text()
