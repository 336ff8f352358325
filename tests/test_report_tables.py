"""The report tables: one table model rendered as LaTeX, Markdown, HTML and text; LaTeX that fits a paper;
tables that say what produced them; datasets by their display names; terminal tables within the width."""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from mebench.errors import ConfigError
from mebench.reports import tables
from mebench.reports.tables import Cell, Column

GROUPS = ("Full", "smic", "casme2")


def summary_rows(method, means, *, preset="paper", overrides="", data="synthetic", leaky=False, selection="final",
                 seeds=3):
    """Summary rows of one method: `means[group]` is its UF1 (UAR and accuracy a little lower)."""
    rows = []
    for group, mean in means.items():
        for metric, shift in (("uf1", 0.0), ("uar", 0.01), ("accuracy", 0.02)):
            rows.append(dict(method=method, protocol="loso", data=data, preset=preset, overrides=overrides,
                             epoch_selection=selection, tuning="", leaky=leaky, group=group, metric=metric,
                             mean=mean - shift, std=0.01, seeds=seeds, ci_low=mean - shift - 0.05,
                             ci_high=mean - shift + 0.05))
    return rows


def summary(*methods):
    return pd.DataFrame([row for rows in methods for row in rows])


@pytest.fixture
def two_methods():
    return summary(summary_rows("A <b>&", dict(zip(GROUPS, (0.70, 0.60, 0.80)))),
                   summary_rows("B_net", dict(zip(GROUPS, (0.65, 0.66, 0.75))), leaky=True, selection="oracle"))


# --------------------------------------------------------------------------- one model, four renderers

def test_one_model_carries_rows_marks_and_footnotes(two_methods):
    model = tables.results_model(two_methods, "loso", significant={("loso", "B_net", "Full")}, reference="A <b>&")
    assert [r.label for r in model.rows] == ["A <b>&", "B_net"]
    a, b = model.rows
    assert a.cells[("score", "Full", "uf1")].rank == "best" and b.cells[("score", "Full", "uf1")].rank == "second"
    assert b.cells[("score", "Full", "uf1")].significant and not b.cells[("score", "Full", "uar")].significant
    assert b.marks == ("leaky",) and a.marks == ()
    assert [n.mark for n in model.footnotes] == ["leaky", "significant"]
    # every renderer prints the same marks from the model
    tex, md, text, page = (tables.latex(model), tables.markdown(model), tables.terminal(model, width=200),
                           tables.html_table(model))
    assert r"B\_net$^\dagger$ &" in tex and r"\textbf{0.7000}" in tex and r"\rlap{$^{*}$}" in tex
    assert "| B_net † | oracle | _0.6500 ± 0.0100_ \\* |" in md
    assert "B_net † (leaky)" in text
    assert '<th scope="row">B_net<sup>†</sup></th>' in page and "<strong>0.7000 ± 0.0100</strong>" in page
    assert "<em>0.6500 ± 0.0100</em><sup>*</sup>" in page
    assert "<tfoot>" in page and "model selection on test data" in page


def test_html_table_escapes_text(two_methods):
    page = tables.html_table(tables.results_model(two_methods, "loso", reference="A <b>&"))
    assert "<b>&" not in page and "A &lt;b&gt;&amp;" in page
    assert page.startswith("<table") and page.rstrip().endswith("</table>")
    assert page.count("<tr>") == 1 + 2 + 1  # header, two methods, footnotes


def test_latex_columns_follow_the_model(two_methods):
    model = tables.results_model(two_methods, "loso")
    model.columns.append(Column("score", "Acc.", "Full", "accuracy"))  # a metric the table did not have
    model.rows[0].cells[("score", "Full", "accuracy")] = Cell(mean=0.5)
    tex = tables.latex(model)
    spec = re.search(r"\\begin\{tabular\}\{(lc*)\}", tex).group(1)
    n_scores = len(GROUPS) * 2 + 1
    assert spec == "l" + "c" * n_scores
    body = [line for line in tex.splitlines() if line.startswith(("A ", r"B\_net"))]
    assert all(line.count(" & ") == n_scores for line in body)
    assert r"\multicolumn{3}{c}{Full}" in tex and r"\cmidrule(lr){2-4}" in tex and r"\cmidrule(lr){5-6}" in tex


def test_dataset_model_renders_sections_and_intervals(two_methods):
    model = tables.dataset_model(two_methods, "loso", n_resamples=100)
    assert model.sections() == ["Full", "SMIC", "CASME II"]
    tex, md, page = tables.latex(model), tables.markdown(model), tables.html_table(model)
    assert r"\multicolumn{7}{l}{\textit{CASME II}}" in tex and "[0.750, 0.850]" in tex  # CI with one digit fewer
    assert "| CASME II | A <b>& |" in md.replace("\\|", "|")
    assert 'scope="rowgroup">CASME II</th>' in page and "[0.750, 0.850]" in page


# --------------------------------------------------------------------------- LaTeX for a paper

def test_captions_start_with_a_capital_letter(two_methods):
    costs = pd.DataFrame([dict(method="A", parameters=1e6, flops_per_sample=2e6, seconds_per_fold=1.0, devices="cpu")])
    texts = [tables.latex_table(two_methods, "loso"),
             tables.latex_dataset_table(two_methods, "loso", n_resamples=10), tables.latex_methods_table(costs)]
    captions = [c for t in texts for c in re.findall(r"\\caption\{(.)", t)]
    assert len(captions) == 3 and all(c.isupper() for c in captions)
    assert tables.markdown_table(two_methods, "loso").startswith("### Protocol loso: ")


def test_label_prefix_makes_labels_unique(two_methods):
    assert r"\label{tab:mebench-loso}" in tables.latex_table(two_methods, "loso")  # the default: today's labels
    assert r"\label{tab:exp2-loso}" in tables.latex_table(two_methods, "loso", label_prefix="exp2")
    assert r"\label{tab:exp2-loso-datasets}" in tables.latex_dataset_table(two_methods, "loso", n_resamples=10,
                                                                            label_prefix="exp2")
    with pytest.raises(ConfigError, match="--label-prefix"):
        tables.latex_table(two_methods, "loso", label_prefix="a b}")


def test_report_label_prefix_from_cli(tmp_path):
    from typer.testing import CliRunner

    from mebench.cli import app
    from tests.test_report import save
    from mebench.store import ResultStore

    store = ResultStore(tmp_path)
    save(store, "htnet", 0)
    save(store, "ststnet", 0)
    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(out), "--no-figures", "--resamples", "20",
                                      "--permutations", "20", "--label-prefix", "runA"])
    assert result.exit_code == 0, result.output
    labels = re.findall(r"\\label\{([^}]*)\}", "".join((out / n).read_text() for n in
                                                       ("table.tex", "table_datasets.tex", "table_methods.tex")))
    assert labels == ["tab:runA-composite", "tab:runA-composite-datasets", "tab:runA-methods"]
    bad = CliRunner().invoke(app, ["report", str(tmp_path), "--out", str(tmp_path / "bad"), "--label-prefix", "x y"])
    assert bad.exit_code == 2 and "--label-prefix" in bad.output and not (tmp_path / "bad").exists()


def large_costs():
    """Long method names and the largest counts a method prints."""
    return pd.DataFrame([dict(method=m, parameters=276_590_089, flops_per_sample=1.23e9, seconds_per_fold=1234.5,
                              devices="cuda:0") for m in ("HTNet [quick] (oracle)", "Stratified random")])


def test_methods_table_fits_one_column():
    costs = large_costs()
    tex = tables.latex_methods_table(costs)
    assert r"\begin{table}[t]" in tex and r"\begin{tabular*}{\columnwidth}" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_methods_table_compiles_within_a_column(tmp_path):
    costs = large_costs()
    (tmp_path / "methods.tex").write_text(tables.latex_methods_table(costs))
    (tmp_path / "paper.tex").write_text("\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n"
                                        "\\begin{document}\n\\input{methods.tex}\nText.\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "Overfull \\hbox" not in (tmp_path / "paper.log").read_text(errors="replace")


def test_p_values_have_one_format():
    assert [tables.p_value_text(p) for p in (0.01234, 0.5, 0.0004, float("nan"))] == ["0.012", "0.500", "< 0.001",
                                                                                      "--"]
    assert tables.p_value_statement(0.0123) == "p = 0.012" and tables.p_value_statement(1e-5) == "p < 0.001"


def test_report_md_prints_p_values_in_the_table_format(tmp_path):
    from mebench.reports.writer import write_report
    from mebench.store import ResultStore
    from tests.test_report import save

    store = ResultStore(tmp_path)
    save(store, "htnet", 0)
    save(store, "ststnet", 0, flip=True)
    write_report(tmp_path, figures=False, n_resamples=20, n_permutations=20)
    rows = [line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| composite | ")]
    assert rows
    for row in rows:
        for p in row.strip("| ").split(" | ")[5:]:
            assert re.fullmatch(r"\d\.\d{3}|< 0\.001|--", p), row


# --------------------------------------------------------------------------- what produced each row

def test_caption_states_shared_preset_parameters_and_data(two_methods):
    both = two_methods.assign(preset="quick", overrides="lr=0.001")
    model = tables.results_model(both, "loso")
    assert model.caption.endswith("Preset: quick; parameters: lr=0.001; data: synthetic.")
    assert [r.label for r in model.rows] == ["A <b>&", "B_net"]
    assert "Preset: quick; parameters: lr=0.001; data: synthetic." in tables.latex_table(both, "loso")
    assert "Preset: quick" in tables.markdown_table(both, "loso").splitlines()[0]


def test_rows_state_what_differs():
    mixed = summary(summary_rows("A", {"Full": 0.7}, preset="quick", overrides="lr=0.01", data="smic"),
                    summary_rows("B", {"Full": 0.6}, preset="paper", data="casme2"))
    model = tables.results_model(mixed, "loso")
    assert [r.label for r in model.rows] == ["A [quick] (lr=0.01) @smic", "B [paper] @casme2"]
    assert "Preset" not in model.caption and "data:" not in model.caption
    already = summary(summary_rows("A [quick]", {"Full": 0.7}, preset="quick"),
                      summary_rows("B [paper]", {"Full": 0.6}, preset="paper"))
    assert [r.label for r in tables.results_model(already, "loso").rows] == ["A [quick]", "B [paper]"]


def test_published_rows_note_a_budget_other_than_the_papers():
    from mebench.reports.published_results import published_source, published_summary

    measured = summary(summary_rows("HTNet [quick]", {"Full": 0.7}, preset="quick"),
                       summary_rows("STSTNet", {"Full": 0.6}, preset="paper")).assign(protocol="composite")
    model = tables.results_model(measured, "composite", published=published_summary(),
                                 published_source=published_source())
    notes = [n.text for n in model.footnotes if n.text.startswith("Not the paper's budget")]
    assert len(notes) == 1 and "HTNet [quick] ran with the quick preset" in notes[0] and "STSTNet" not in notes[0]
    assert "Not the paper" not in tables.latex_table(measured, "composite")  # no published rows, no note
    all_quick = summary(summary_rows("HTNet", {"Full": 0.7}, preset="quick"),
                        summary_rows("STSTNet", {"Full": 0.6}, preset="quick")).assign(protocol="composite")
    model = tables.results_model(all_quick, "composite", published=published_summary(),
                                 published_source=published_source())
    notes = [n.text for n in model.footnotes if n.text.startswith("Not the paper's budget")]
    assert notes == ["Not the paper's budget: every measured row ran with the quick preset. These rows are not "
                     "comparable with the published ones, trained with the paper's settings."]


def test_csvs_carry_preset_and_parameters(tmp_path):
    from mebench.reports.results import parameter_overrides

    cells = pd.DataFrame([dict(method="ststnet", params_hash="h1", params=json.dumps({"lr": 0.01, "epochs": 5})),
                          dict(method="htnet", params_hash="h2", params=json.dumps({"lr": 5e-5, "dim": 32}))])
    runs = pd.DataFrame([dict(spec=json.dumps({"params": [["lr", 0.01]]})), dict(spec=json.dumps({"params": []}))])
    assert parameter_overrides(cells, runs) == {("ststnet", "h1"): "lr=0.01", ("htnet", "h2"): "lr=5e-05"}

    from mebench.reports.writer import write_report
    from mebench.store import ResultStore
    from tests.test_report import save

    store = ResultStore(tmp_path)
    save(store, "htnet", 0)
    write_report(tmp_path, figures=False, n_resamples=20, n_permutations=20)
    for name in ("summary.csv", "results.csv"):
        frame = pd.read_csv(tmp_path / name, keep_default_na=False)
        assert {"preset", "overrides", "data"} <= set(frame.columns) and set(frame["preset"]) == {"paper"}


# --------------------------------------------------------------------------- datasets by their names

def test_groups_are_the_datasets_display_names(two_methods):
    text = tables.terminal_table(two_methods, "loso", width=300)
    for rendered in (tables.latex_table(two_methods, "loso"), tables.markdown_table(two_methods, "loso"),
                     tables.html_table(tables.results_model(two_methods, "loso")), text):
        assert "CASME II" in rendered and "SMIC" in rendered and "casme2" not in rendered


def test_protocol_groups_use_display_names():
    from mebench.protocol import dataset_groups

    samples = pd.DataFrame({"dataset": ["casme2", "samm", "casme2"]})
    assert list(dataset_groups(samples)) == ["Full", "CASME II", "SAMM"]


# --------------------------------------------------------------------------- terminal width

def test_terminal_table_fits_the_width(two_methods):
    wide = summary(*(summary_rows(f"method {i}", dict(zip(("Full", "smic", "casme2", "samm", "mmew"),
                                                          (0.5, 0.6, 0.7, 0.8, 0.9)))) for i in range(3)))
    text = tables.terminal_table(wide, "loso", width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    for header in ("Full UF1", "SMIC UAR", "CASME II UF1", "SAMM UAR", "MMEW UF1", "MMEW UAR"):
        assert header in text
    assert text.count("Method") == 3 and text.count("method 2") == 3  # the rows repeat in each block of columns
    assert tables.terminal_table(wide, "loso", width=400).count("Method") == 1  # one block when it fits


def test_stored_groups_read_as_display_names():
    from mebench.reports.results import group_masks

    frame = pd.DataFrame({"groups": ["0:Full|1:casme2", "0:Full|2:samm"]})
    masks = group_masks("loso", frame)
    assert list(masks) == ["Full", "CASME II", "SAMM"] and masks["CASME II"].tolist() == [True, False]


def test_subject_figure_legend_names_the_datasets(tmp_path, monkeypatch):
    from mebench.reports import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda fig, out, stem, note="": drawn.append(fig) or [])
    subjects = pd.DataFrame([dict(protocol="loso", method="A", dataset=d, subject=f"{d}/{i}", accuracy=0.5)
                             for d in ("casme2", "samm") for i in range(3)])
    figures.subject_figure(subjects, "loso", tmp_path)
    legend = drawn[0].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["CASME II", "SAMM"]
