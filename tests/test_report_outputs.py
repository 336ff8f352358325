"""The report's outputs: one registry drives writing, stale-file removal and report.md's file list; the exports
(class probabilities, per-fold metrics, tables without files, sizes stored with the run); report.html in a real
headless browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mebench
from mebench import plugins
from mebench.errors import ConfigError
from mebench.method import MethodInfo
from mebench.reports import outputs
from mebench.reports.outputs import Output
from mebench.reports.writer import write_report
from mebench.plan import RunConfig
from mebench.runner import run_grid
from mebench.store import PredictionRow, ResultStore
from tests.plugin_fixtures import NearestCentroid
from tests.test_report import CLASSES, FOLDS, save

FAST = dict(n_resamples=50, n_permutations=50)


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "run").mkdir()
    store = ResultStore(tmp_path / "run")
    for seed in (0, 1):
        save(store, "htnet", seed)
        save(store, "htnet", seed, selection="oracle", flip=True)
    save(store, "ststnet", 0)
    store.begin_run("run", {"methods": ["htnet", "ststnet"], "protocol": "composite"}, "host", {}, "t")
    return tmp_path / "run"


def index_files(report_md: str) -> list[str]:
    """The file names report.md links."""
    return re.findall(r"\]\(([^)\s]+)\)", report_md)


# ---------------------------------------------------------------------------- 1. one registry
def test_every_written_file_comes_from_the_registry_and_is_listed_in_report_md(run_dir):
    rep = write_report(run_dir, **FAST)
    names = [p.name for p in rep.files]
    assert names[-2:] == ["report.html", "report.md"]
    for name in names:
        assert sum(o.matches(Path(name)) for o in outputs.OUTPUTS) == 1, name
    listed = set(index_files((run_dir / "report.md").read_text()))
    assert set(names) - {"report.md"} <= listed
    assert {"folds.csv", "report.html", "fig_cd.png", "fig_cd.pdf"} <= listed


def test_an_output_added_to_the_registry_is_written_listed_and_removed_when_it_no_longer_applies(run_dir, monkeypatch):
    applies = {"yes": True}
    extra = Output("extra.txt", "an output added in one place", text=lambda r: "extra\n" if applies["yes"] else None,
                   optional=True)
    monkeypatch.setattr(outputs, "OUTPUTS", outputs.OUTPUTS[:-2] + (extra,) + outputs.OUTPUTS[-2:])
    write_report(run_dir, figures=False, **FAST)
    assert (run_dir / "extra.txt").read_text() == "extra\n"
    assert "- [extra.txt](extra.txt): an output added in one place" in (run_dir / "report.md").read_text()
    applies["yes"] = False
    write_report(run_dir, figures=False, **FAST)
    assert not (run_dir / "extra.txt").exists()
    assert "extra.txt" not in (run_dir / "report.md").read_text()


def test_stale_figures_and_optional_tables_are_removed_and_nothing_else(run_dir):
    write_report(run_dir, **FAST)
    assert (run_dir / "fig_confusion_composite.png").exists() and (run_dir / "leakage.csv").exists()
    (run_dir / "fig_notes.txt").write_text("the user's own file")
    store = ResultStore(run_dir)
    with __import__("sqlite3").connect(store.path) as conn:  # the oracle cells gone: no leakage any more
        conn.execute("DELETE FROM cells WHERE selections LIKE '%oracle%'")
    rep = write_report(run_dir, figures=False, **FAST)
    left = {p.name for p in run_dir.iterdir()}
    assert not any(name.startswith("fig_") and name.endswith((".png", ".pdf")) for name in left)
    assert "leakage.csv" not in left and "fig_notes.txt" in left and "results.sqlite" in left
    assert "No figures (`--no-figures`)." in (run_dir / "report.md").read_text()
    assert {p.name for p in rep.files} <= left


def test_cd_diagram_is_drawn_by_the_figures_module_and_still_importable_from_statistics():
    from mebench.reports import figures, statistics

    assert statistics.cd_diagram is figures.cd_diagram
    assert "def cd_diagram" not in Path(statistics.__file__).read_text()


# ---------------------------------------------------------------------------- 2. exports
def test_predictions_csv_carries_each_class_probability(run_dir):
    write_report(run_dir, figures=False, **FAST)
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert [c for c in preds.columns if c.startswith("p_")] == [f"p_{c}" for c in CLASSES]
    row = preds[(preds["sample"] == "smic/s01/d") & (preds.method == "htnet") & (preds.seed == 0)].iloc[0]
    assert (row.p_negative, row.p_positive, row.p_surprise) == pytest.approx((0.1, 0.8, 0.1))
    assert np.allclose(preds[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0)


def test_a_folder_without_stored_probabilities_reports_with_empty_probability_columns(tmp_path):
    store = ResultStore(tmp_path)
    for fold, rows in FOLDS.items():
        preds = [PredictionRow(f"{d}/{s}/{c}", d, s, t, p, [], None) for d, s, c, t, p in rows]
        store.save_cell(dict(key=f"old-{fold}", method="htnet", preset="paper", params="{}", params_hash="abc",
                             dataset="synthetic", dataset_source="synthetic", dataset_fingerprint="f",
                             protocol="composite", fold=fold, n_folds=len(FOLDS), seed=0, training="full",
                             selections=json.dumps(["final"]), class_names=json.dumps(CLASSES), mebench_version="0",
                             versions="{}", started_at="t", finished_at="t", status="done"), preds)
    write_report(tmp_path, figures=False, **FAST)
    preds = pd.read_csv(tmp_path / "predictions.csv")
    assert len(preds) == 6 and preds[[f"p_{c}" for c in CLASSES]].isna().all().all()


def test_folds_csv_holds_each_folds_own_metrics(run_dir):
    write_report(run_dir, figures=False, **FAST)
    folds = pd.read_csv(run_dir / "folds.csv")
    assert {"method", "epoch_selection", "seed", "fold", "dataset", "subject", "n", "accuracy", "uf1",
            "uar"} <= set(folds.columns)
    assert len(folds) == 2 * 5  # 2 folds x (2 htnet seeds + 2 oracle seeds + 1 ststnet seed)
    smic = folds[(folds.method == "htnet") & (folds.seed == 0) & (folds.fold == "smic/s01")].iloc[0]
    # y_true 0 1 2, y_pred 1 2 2: accuracy 1/3; F1 per class 0, 0, 2/3; recall 0, 0, 1
    assert (smic.dataset, smic.subject, smic.n) == ("smic", "s01", 3)
    assert (smic.accuracy, smic.uf1, smic.uar) == pytest.approx((1 / 3, 2 / 9, 1 / 3))
    casme = folds[(folds.method == "htnet") & (folds.seed == 0) & (folds.fold == "casme2/sub01")].iloc[0]
    assert (casme.accuracy, casme.uf1, casme.uar) == pytest.approx((1.0, 1.0, 1.0))


def test_report_returns_its_tables_without_writing_a_file(run_dir):
    before = sorted(p.name for p in run_dir.iterdir())
    rep = mebench.report(run_dir, write=False, resamples=50, permutations=50)
    assert sorted(p.name for p in run_dir.iterdir()) == before and rep.files == [] and rep.folder is None
    assert {"results", "predictions", "folds", "summary", "stats", "methods"} <= set(rep.tables)
    assert all(isinstance(t, pd.DataFrame) for t in rep.tables.values())
    assert rep.predictions is rep.tables["predictions"] and "p_surprise" in rep.predictions.columns
    written = write_report(run_dir, figures=False, **FAST)
    pd.testing.assert_frame_equal(rep.tables["folds"], pd.read_csv(run_dir / "folds.csv", keep_default_na=False),
                                  check_dtype=False)
    assert set(written.tables) == set(rep.tables)
    with pytest.raises(ConfigError, match="write=False"):
        mebench.report(run_dir, out=run_dir / "elsewhere", write=False)


class LinearProbe(NearestCentroid):
    """A nearest-centroid classifier that declares a torch network, so a run counts its size."""

    info = MethodInfo(name="linear-probe", summary="linear probe (test plugin)", input="flow", citation="test",
                      tags=("test",), presets={"paper": {}, "quick": {}}, iterative=False)

    def build_network(self):
        import torch

        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 28 * 28, self.num_classes))


def test_sizes_are_stored_with_the_run_and_reported_after_the_plugin_is_gone(tmp_path, tiny_data):
    plugins.methods.register("linear-probe", LinearProbe, source="tests.test_report_outputs")
    try:
        run_grid(RunConfig(methods=("linear-probe",), protocol="loso", out=tmp_path, data=tiny_data))
    finally:
        plugins.methods.unregister("linear-probe")
    cells = ResultStore(tmp_path).cells()
    assert set(cells["parameters"]) == {3 * 28 * 28 * 3 + 3}
    rep = write_report(tmp_path, figures=False, **FAST)  # the plugin is not installed any more
    costs = pd.read_csv(tmp_path / "methods.csv").set_index("method").loc["linear-probe"]
    assert costs["parameters"] == 3 * 28 * 28 * 3 + 3
    assert costs["flops_per_sample"] == 2 * 3 * 28 * 28 * 3  # one multiply-add per weight
    assert rep.tables["methods"].set_index("method").loc["linear-probe", "parameters"] == costs["parameters"]


# ---------------------------------------------------------------------------- 3. report.html
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _figure_texts(monkeypatch) -> dict[str, tuple[str, str]]:
    """Every figure a report saves: stem -> (the note below it, every other text in it)."""
    from mebench.reports import figures

    seen: dict[str, tuple[str, str]] = {}
    save = figures._save

    def recording(fig, out, stem, note=""):
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and callable(a.get_text))]
        seen[stem] = (note, "\n".join(map(str, texts)))
        return save(fig, out, stem, note)

    monkeypatch.setattr(figures, "_save", recording)
    return seen


def test_every_figure_states_the_preset_parameters_and_data_like_the_tables(tmp_path, tiny_data, monkeypatch):
    plugins.register_method(NearestCentroid)
    try:
        out = tmp_path / "run"
        mebench.run(["majority", "centroid"], protocol="loso", data=[tiny_data], preset="quick", out=out)
        seen = _figure_texts(monkeypatch)
        mebench.report(out, resamples=20, permutations=20)
        assert {"fig_confusion_loso", "fig_subjects_loso"} <= set(seen)
        for stem, (note, _texts) in seen.items():  # shared by every row: stated once, below the figure
            assert "Preset: quick" in note and "data: tiny" in note, stem
        mebench.run(["centroid"], protocol="loso", data=[tiny_data], preset="quick", out=out,
                    params={"delay": 0.0001})
        seen.clear()
        mebench.report(out, resamples=20, permutations=20)
        table = (out / "table.md").read_text()
        for stem in ("fig_confusion_loso", "fig_subjects_loso"):  # parameters differ: the labels say so, as tables do
            note, texts = seen[stem]
            assert "Preset: quick" in note and "data: tiny" in note
            assert "delay=0.0001" in texts and "delay=0.0001" in table
    finally:
        plugins.methods.unregister("centroid")


def test_report_html_is_self_contained(run_dir):
    rep = write_report(run_dir, **FAST)
    page = (run_dir / "report.html").read_text()
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert not re.search(r"https?:", page)
    for value in re.findall(r"""\s(?:src|href)=["']([^"']*)""", page):
        assert value.startswith("data:image/png;base64,") or not re.match(r"[a-zA-Z][\w+.-]*:|//", value), value
    for png in (p for p in rep.files if p.suffix == ".png"):
        embedded = base64.b64encode(png.read_bytes()).decode("ascii")
        assert f'src="data:image/png;base64,{embedded}"' in page, png.name
    assert "paired permutation test" in page and "Run specification" in page


def test_report_html_shows_no_raw_html_or_external_link_from_the_data(tmp_path):
    store = ResultStore(tmp_path)
    save(store, "htnet", 0)
    with __import__("sqlite3").connect(store.path) as conn:
        conn.execute("UPDATE cells SET display_name = ?",
                     ('<img src="http://example.org/x.png"> [see](https://example.org)',))
    write_report(tmp_path, figures=False, **FAST)
    page = (tmp_path / "report.html").read_text()
    assert "<img src=\"http" not in page and 'href="https://' not in page
    assert "&lt;img" in page


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser installed (Debian: apt-get install -y --no-install-recommends chromium)")


def browser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--disable-dev-shm-usage", "--user-data-dir=" + str(args[0]), *args[1:]],
                          capture_output=True, text=True, timeout=180)


def test_report_html_renders_in_a_headless_browser_with_every_table_and_figure(run_dir, tmp_path):
    from PIL import Image

    chromium()
    rep = write_report(run_dir, **FAST)
    page = run_dir / "report.html"
    shot = tmp_path / "page.png"
    done = browser(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1280) and pixels.std() > 10 and (pixels < 128).mean() > 0.005  # not blank
    dom = browser(tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    for png in (p for p in rep.files if p.suffix == ".png"):
        assert re.search(rf'<figure id="{png.stem}">\s*<img src="data:image/png;base64,', dom), png.name
    for protocol in rep.protocols:
        section = dom[dom.index(f'id="table-{protocol}"'):]
        assert section.index("<table") < section.index("</section>")
    assert 'id="table-methods"' in dom and dom.count("<table") >= 2 * len(rep.protocols) + 1
    assert "HTNet (oracle)" in dom and "Run specification" in dom
