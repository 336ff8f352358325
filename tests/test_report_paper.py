"""The paper report (`mebench report`): statistics, tables, published rows, figures, index, LaTeX.

A hand-made run: 12 subjects (4 per source of the composite), 5 samples each, two seeds;
methods alpha (the reference: half right), beta (alpha with one sample corrected per seed),
gamma (perfect but one error in seed 1), and alpha with oracle epoch selection (4 in 5 right).
Every number in the report files is checked against a direct computation: the metrics from their
definitions (tests/reference_metrics.py), the permutation tests by enumerating every swap, the other
tests from scipy, the Nemenyi critical value from Demšar's table; only the bootstrap intervals, which
depend on the resampling stream, come from ``reports.statistics`` (tested against a naive bootstrap in
test_statistics.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from mebench.cli import app
from mebench.store import PredictionRow, ResultStore
from mebench.reports import statistics as st
from mebench.reports.writer import write_report
from tests.reference_metrics import scores, uf1

CLASSES = ["negative", "positive", "surprise"]
SOURCES = {"smic": "SMIC", "casme2": "CASME II", "samm": "SAMM"}
SEEDS = (0, 1)
RESAMPLES, PERMUTATIONS = 300, 5000  # 2**12 subjects' flips <= 5000: exact permutation p-values
VARIANTS = ("alpha", "alpha (oracle)", "beta", "gamma")


def samples():
    """(dataset, subject, sample, y_true, index) for the 60 test samples."""
    out, i = [], 0
    for si, source in enumerate(SOURCES):
        for subj in range(4):
            for clip in range(5):
                out.append((source, f"s{subj}", f"{source}/s{subj}/c{clip}", (clip + subj + si) % 3, i))
                i += 1
    return out


def prediction(variant: str, seed: int, y: int, i: int) -> int:
    wrong = (y + 1) % 3
    if variant == "gamma":
        return wrong if (seed == 1 and i == 7) else y
    if variant == "alpha (oracle)":
        return y if (i + seed) % 5 else wrong
    alpha = y if (i + seed) % 2 == 0 else wrong
    if variant == "beta" and i == 3 + seed:  # alpha, one wrong sample corrected
        return y
    return alpha


def build_run(folder, variants=VARIANTS):
    store = ResultStore(folder)
    rows = samples()
    for variant in variants:
        method, selection = (variant.split(" ")[0], "oracle") if "oracle" in variant else (variant, "final")
        for seed in SEEDS:
            for source in SOURCES:
                for subj in range(4):
                    fold = f"{source}/s{subj}"
                    preds = [PredictionRow(sample, ds, sb, y, prediction(variant, seed, y, i), [0.2, 0.3, 0.5], None)
                             for ds, sb, sample, y, i in rows if (ds, sb) == (source, f"s{subj}")]
                    store.save_cell(dict(key=f"{variant}-{seed}-{fold}", method=method, preset="paper", params="{}",
                                         params_hash="abc123", dataset="htnet-release", dataset_source="htnet-release:/fake",
                                         dataset_fingerprint="fp-0123", protocol="composite", fold=fold,
                                         n_folds=4 * len(SOURCES), seed=seed,
                                         training="full" if selection == "final" else selection,
                                         selections=json.dumps([selection]), class_names=json.dumps(CLASSES),
                                         mebench_version="0.1.0", versions="{}", started_at="t", finished_at="t",
                                         status="done"), preds)


def arrays(variant, seed=None, source=None):
    """y_true, y_pred, subject keys (dataset/subject) and seeds of a variant, straight from the design."""
    ys, ps, subj, run = [], [], [], []
    for s in SEEDS if seed is None else (seed,):
        for ds, sb, _, y, i in samples():
            if source is None or ds == source:
                ys.append(y)
                ps.append(prediction(variant, s, y, i))
                subj.append(f"{ds}/{sb}")
                run.append(s)
    return np.array(ys), np.array(ps), np.array(subj), np.array(run)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paper-run")
    build_run(folder)
    rep = write_report(folder, published=True, n_resamples=RESAMPLES, n_permutations=PERMUTATIONS, seed=0)
    return folder, rep


def tex_line(tex: str, name: str) -> str:
    return next(line for line in tex.splitlines() if line.startswith(name + " &") or line.startswith(name + "$"))


# --------------------------------------------------------------------------- statistics

def test_summary_csv_means_stds_and_bootstrap_cis(report):
    folder, _ = report
    summary = pd.read_csv(folder / "summary.csv").set_index("method")
    assert set(summary.index) == set(VARIANTS)
    for variant, source in (("gamma", None), ("beta", "samm"), ("alpha (oracle)", "casme2")):
        group = "Full" if source is None else SOURCES[source]
        y, p, subj, run = arrays(variant, source=source)
        for metric in ("uf1", "uar", "accuracy"):
            per_seed = [scores(y[run == s], p[run == s], 3)[metric] for s in SEEDS]
            row = summary.loc[variant]
            assert row[f"{group}_{metric}_mean"] == pytest.approx(np.mean(per_seed))
            assert row[f"{group}_{metric}_std"] == pytest.approx(np.std(per_seed, ddof=1))
            low, high = st.bootstrap_ci(y, p, subj, 3, metric, n_resamples=RESAMPLES, seed=0, repeats=run)
            assert (row[f"{group}_{metric}_ci_low"], row[f"{group}_{metric}_ci_high"]) == pytest.approx((low, high))
    assert summary.loc["alpha (oracle)", "leaky"] and not summary.loc["gamma", "leaky"]
    assert (summary["seeds"] == 2).all()


def test_stats_csv_paired_tests_against_direct_computation(report):
    folder, rep = report
    stats = pd.read_csv(folder / "stats.csv", dtype={"seed": str})
    assert rep.reference == "alpha" and set(stats["reference"]) == {"alpha"}  # stored first: the first method named
    main = stats[stats["seed"] == "all"]
    assert set(main["method"]) == {"alpha (oracle)", "beta", "gamma"}
    assert set(main["group"]) == {"Full", "SMIC", "CASME II", "SAMM"}
    for group, source in (("Full", None), ("SMIC", "smic")):
        ref_y, ref_p, subj, run = arrays("alpha", source=source)
        raw = {}
        for method in ("alpha (oracle)", "beta", "gamma"):
            y, p, _, _ = arrays(method, source=source)
            row = main[(main["method"] == method) & (main["group"] == group)].iloc[0]
            perm, mcn, wil, diffs = [], [], [], []
            for s in SEEDS:
                i = run == s
                perm.append(brute_force_seed_permutation(y[i], p[i], ref_p[i], subj[i], run[i]))
                ok_m, ok_r = p[i] == y[i], ref_p[i] == y[i]
                b, c = int(np.sum(ok_m & ~ok_r)), int(np.sum(~ok_m & ok_r))
                mcn.append(sps.binomtest(b, b + c).pvalue if b + c else 1.0)
                keys = np.unique(subj[i])
                acc_m = np.array([ok_m[subj[i] == k].mean() for k in keys])
                acc_r = np.array([ok_r[subj[i] == k].mean() for k in keys])
                d = acc_m - acc_r
                wil.append(sps.wilcoxon(d, zero_method="pratt").pvalue if np.any(d != 0) else 1.0)
                diffs.append(uf1(y[i], p[i], 3) - uf1(ref_y[i], ref_p[i], 3))
                seed_row = stats[(stats["method"] == method) & (stats["group"] == group) & (stats["seed"] == str(s))]
                assert seed_row["p_permutation"].iloc[0] == pytest.approx(perm[-1])
                assert seed_row["p_mcnemar"].iloc[0] == pytest.approx(mcn[-1])
                assert seed_row["p_wilcoxon"].iloc[0] == pytest.approx(wil[-1])
            assert row["uf1_diff"] == pytest.approx(np.mean(diffs))
            low, high = st.uf1_difference_ci(y, p, ref_p, subj, 3, RESAMPLES, seed=0, repeats=run)
            assert (row["uf1_diff_low"], row["uf1_diff_high"]) == pytest.approx((low, high))
            # the tests over both seeds, computed independently: every subject swap enumerated, and scipy's
            # Wilcoxon on the seed-mean per-subject accuracies
            keys = np.unique(subj)
            seed_mean = {name: np.mean([[(pred[(run == s) & (subj == k)] == y[(run == s) & (subj == k)]).mean()
                                         for k in keys] for s in SEEDS], axis=0) for name, pred in (("m", p), ("r", ref_p))}
            d = seed_mean["m"] - seed_mean["r"]
            raw[method] = dict(p_permutation=brute_force_seed_permutation(y, p, ref_p, subj, run),
                               p_wilcoxon=sps.wilcoxon(d, zero_method="pratt").pvalue if np.any(d != 0) else 1.0)
            for test, value in raw[method].items():
                assert row[test] == pytest.approx(value)
            assert np.isnan(row["p_mcnemar"])  # McNemar: single-seed comparisons only
            assert row["n_subjects"] == len(np.unique(subj)) and row["n_seeds"] == 2
        # Holm across the three comparisons, by hand: sorted p times (3, 2, 1), running maximum, capped at 1.
        for test in ("p_permutation", "p_wilcoxon"):
            ordered = sorted(raw, key=lambda m: raw[m][test])
            running, expected = 0.0, {}
            for rank, method in enumerate(ordered):
                running = max(running, min(1.0, (3 - rank) * raw[method][test]))
                expected[method] = running
            for method, value in expected.items():
                got = main[(main["method"] == method) & (main["group"] == group)][f"{test}_holm"].iloc[0]
                assert got == pytest.approx(value)
    gamma_full = main[(main["method"] == "gamma") & (main["group"] == "Full")].iloc[0]
    assert gamma_full["p_permutation"] == pytest.approx(2 / 2 ** 12)  # exact: only the identity and full swap


def brute_force_seed_permutation(y, pred_m, pred_r, subj, run):
    """Exact two-sided p of the seed-mean UF1 difference: every subset of subjects swapped in all seeds."""
    import itertools

    keys, seeds = np.unique(subj), np.unique(run)

    def stat(a, b):
        return np.mean([uf1(y[run == s], a[run == s], 3) - uf1(y[run == s], b[run == s], 3) for s in seeds])

    observed = abs(stat(pred_m, pred_r))
    hits = 0
    for flips in itertools.product((False, True), repeat=len(keys)):
        swap = np.isin(subj, keys[np.array(flips)])
        hits += abs(stat(np.where(swap, pred_r, pred_m), np.where(swap, pred_m, pred_r))) >= observed - 1e-12
    return hits / 2 ** len(keys)


def test_friedman_csv_against_scipy_and_demsar_table(report):
    folder, _ = report
    results = pd.read_csv(folder / "results.csv")
    uf1s = results[(results.metric == "uf1") & (results.group != "Full")]
    table = uf1s.groupby(["group", "method"])["value"].mean().unstack()
    chi2, p = sps.friedmanchisquare(*[table[m].to_numpy() for m in table.columns])
    ranks = pd.DataFrame(sps.rankdata(-table.to_numpy(), axis=1), columns=table.columns).mean()
    friedman = pd.read_csv(folder / "friedman.csv").set_index("method")
    assert set(friedman.index) == set(VARIANTS)
    assert friedman["chi2"].iloc[0] == pytest.approx(chi2) and friedman["p"].iloc[0] == pytest.approx(p)
    for method in VARIANTS:
        assert friedman.loc[method, "avg_rank"] == pytest.approx(ranks[method])
    # Demšar (2006), Table 5(a): q_0.05 = 2.569 for k = 4 methods; N = 3 blocks (the three datasets).
    assert friedman["critical_difference"].iloc[0] == pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 3)), abs=1e-3)
    assert (friedman["n_blocks"] == 3).all() and (friedman["k_methods"] == 4).all()


def test_leakage_csv_is_oracle_minus_final(report):
    folder, _ = report
    gaps = pd.read_csv(folder / "leakage.csv")
    assert set(gaps["method"]) == {"alpha"} and set(gaps["oracle_method"]) == {"alpha (oracle)"}
    for group, source in (("Full", None), ("SAMM", "samm")):
        per_seed = []
        for s in SEEDS:
            y, p_final, _, _ = arrays("alpha", s, source)
            _, p_oracle, _, _ = arrays("alpha (oracle)", s, source)
            per_seed.append(uf1(y, p_oracle, 3) - uf1(y, p_final, 3))
        row = gaps[(gaps.group == group) & (gaps.metric == "uf1")].iloc[0]
        assert row["gap"] == pytest.approx(np.mean(per_seed)) and row["gap_std"] == pytest.approx(np.std(per_seed, ddof=1))


# --------------------------------------------------------------------------- tables

def test_table_tex_marks_best_second_significance_and_dagger(report):
    folder, rep = report
    tex = (folder / "table.tex").read_text()
    stats = pd.read_csv(folder / "stats.csv", dtype={"seed": str})
    main = stats[stats["seed"] == "all"]
    gamma, oracle, beta, alpha = (tex_line(tex, n) for n in ("gamma", r"alpha (oracle)", "beta", "alpha"))
    full_uf1 = lambda line: line.split(" & ")[1]  # noqa: E731 - the first score column: Full UF1
    assert r"\textbf{" in full_uf1(gamma)  # best
    assert r"\underline{" in full_uf1(oracle)  # second best
    assert r"\textbf{" not in full_uf1(beta) and r"\underline{" not in full_uf1(beta)
    assert oracle.startswith(r"alpha (oracle)$^\dagger$") and "dagger" not in gamma.split("&")[0]
    # Significance marks follow the Holm-adjusted permutation p of stats.csv.
    sig = main[main["p_permutation_holm"] < 0.05]
    assert {("gamma", "Full"), ("alpha (oracle)", "Full")} <= set(zip(sig["method"], sig["group"]))
    assert ("beta", "Full") not in set(zip(sig["method"], sig["group"]))
    for line, method in ((gamma, "gamma"), (oracle, "alpha (oracle)"), (beta, "beta"), (alpha, "alpha")):
        cells = line.split(" & ")[1:]
        for gi, group in enumerate(("Full", "SMIC", "CASME II", "SAMM")):
            expected = ((main["method"] == method) & (main["group"] == group) & (main["p_permutation_holm"] < 0.05)).any()
            assert (r"\rlap{$^{*}$}" in cells[2 * gi]) == expected, (method, group)
            assert r"\rlap" not in cells[2 * gi + 1]  # UAR cells are not tested
    assert "model selection on test data" in tex and "paired permutation test" in tex and "Holm" in tex
    summary = pd.read_csv(folder / "summary.csv").set_index("method")
    assert rf"\mebenchpm{{\textbf{{{summary.loc['gamma', 'Full_uf1_mean']:.4f}}}" in gamma
    assert f"{{{summary.loc['beta', 'Full_uf1_std']:.4f}}}" in beta
    assert "±" not in tex and r"$\pm$" in tex


def test_published_rows_are_marked_and_cited(report):
    folder, _ = report
    tex = (folder / "table.tex").read_text()
    htnet = tex_line(tex, "HTNet")
    assert htnet.startswith(r"HTNet$^\S$$^\dagger$")  # best epoch on the test subject: leaky
    assert htnet.split(" & ")[1:3] == ["0.8603", "0.8475"] and "0.9532" in htnet and "0.8124" in htnet
    stst = tex_line(tex, "STSTNet")
    assert stst.startswith(r"STSTNet$^\S$ &") and "dagger" not in stst and "0.7353" in stst
    assert tex.count(r"$^\S$ &") + tex.count(r"$^\S$$^\dagger$ &") == 14  # the HTNet paper's 13 and CausalNet
    causalnet = tex_line(tex, "CausalNet")
    assert causalnet.startswith(r"CausalNet$^\S$$^\dagger$") and "0.8976" in causalnet and "0.9811" in causalnet
    assert "Neurocomputing 602" in tex and "Published figures" in tex
    # Published rows are not ranked: HTNet's CASME II UF1 0.9532 is not bold.
    assert r"\textbf" not in htnet
    md = (folder / "table.md").read_text()
    assert "| HTNet § † | best epoch on test subject | 0.8603 |" in md


def test_shipped_published_table_matches_the_shared_reference():
    from mebench.reports.published_results import published_source, published_table
    from tests.conftest import REFERENCE

    table = published_table()
    assert len(table) == 14 and "Wang" in published_source() and "ICCV 2025" in published_source() and "Neurocomputing" in published_source()
    assert table.set_index("method").loc["HTNet", "full_uf1"] == 0.8603
    shared = REFERENCE / "published_composite.csv"
    if not shared.exists():
        pytest.skip(f"{shared} absent")
    htnet_paper = table[table["method"] != "CausalNet"].reset_index(drop=True)  # CausalNet's row: its own paper
    pd.testing.assert_frame_equal(htnet_paper, pd.read_csv(shared))


def test_dataset_table_and_markdown_hold_the_cis(report):
    folder, _ = report
    summary = pd.read_csv(folder / "summary.csv").set_index("method")
    tex = (folder / "table_datasets.tex").read_text()
    assert r"\multicolumn{7}{l}{\textit{CASME II}}" in tex and "bootstrap over subjects" in tex
    lo, hi = summary.loc["beta", "SMIC_uar_ci_low"], summary.loc["beta", "SMIC_uar_ci_high"]
    assert f"[{lo:.3f}, {hi:.3f}]" in tex
    md = (folder / "table.md").read_text()
    assert f"[{lo:.3f}, {hi:.3f}]" in md
    assert f"**{summary.loc['gamma', 'Full_uf1_mean']:.4f} ± " in md  # best in bold
    gamma_row = next(line for line in md.splitlines() if line.startswith("| gamma | final |"))
    assert gamma_row.split(" | ")[2].endswith("\\*")  # Full UF1 significantly different from alpha


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed (Debian: apt-get install texlive-latex-recommended; .ci/run does)")
def test_latex_tables_compile_with_booktabs_only(report, tmp_path):
    folder, _ = report
    doc = tmp_path / "paper.tex"
    doc.write_text("\\documentclass[twocolumn]{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                   f"\\input{{{(folder / 'table.tex').as_posix()}}}\n\\input{{{(folder / 'table_datasets.tex').as_posix()}}}\n"
                   "Text.\n\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 0


# --------------------------------------------------------------------------- figures and index

def test_figures_are_written_as_pdf_and_png(report):
    folder, rep = report
    for stem in ("fig_confusion_composite", "fig_subjects_composite", "fig_cd", "fig_leakage"):
        for ext, magic in (("pdf", b"%PDF"), ("png", b"\x89PNG")):
            path = folder / f"{stem}.{ext}"
            assert path in rep.files and path.read_bytes()[:4] == magic


def test_figure_data(report):
    from sklearn.metrics import confusion_matrix

    from mebench.reports import analysis
    from mebench.reports.results import load_predictions

    folder, _ = report
    preds = load_predictions(folder)
    y, p, subj, _ = arrays("alpha (oracle)")
    cm = confusion_matrix(y, p, labels=[0, 1, 2]).astype(float)
    matrix, names = analysis.confusion_matrices(preds)[("composite", "alpha (oracle)")]
    assert names == CLASSES and np.allclose(matrix, cm / cm.sum(axis=1, keepdims=True))
    subjects = analysis.subject_scores(preds)
    row = subjects[(subjects.method == "beta") & (subjects.dataset == "smic") & (subjects.subject == "s0")].iloc[0]
    y, p, subj, _ = arrays("beta", source="smic")
    assert row["accuracy"] == pytest.approx(np.mean((y == p)[subj == "smic/s0"])) and row["n"] == 5


def test_report_md_links_everything_and_states_the_run(report):
    folder, rep = report
    md = (folder / "report.md").read_text()
    for path in rep.files:
        if path.name != "report.md" and not path.name.endswith(".pdf"):
            assert f"]({path.name})" in md, path.name
    for pdf in (p for p in rep.files if p.suffix == ".pdf"):
        assert f"[PDF]({pdf.name})" in md
    from mebench.version import __version__

    for text in ("`composite`", "**Seeds**: 0, 1", "fp-0123", f"**mebench version**: {__version__}",
                 "oracle (best epoch on the test subject", "Reference method: `alpha`", f"{RESAMPLES} resamples",
                 "smic: 4 subjects, 20 samples", "Friedman test on mean UF1", "CD = "):
        assert text in md, text


def test_friedman_not_applicable_is_explained_and_stale_files_go(tmp_path):
    build_run(tmp_path, variants=("alpha", "gamma"))
    (tmp_path / "friedman.csv").write_text("stale")
    (tmp_path / "fig_cd.png").write_text("stale")
    rep = write_report(tmp_path, n_resamples=50, n_permutations=200, figures=False)
    assert rep.friedman.result is None
    assert not (tmp_path / "friedman.csv").exists() and not (tmp_path / "fig_cd.png").exists()
    assert not (tmp_path / "leakage.csv").exists()  # no oracle results
    md = (tmp_path / "report.md").read_text()
    assert "not computed: the Friedman test and the Nemenyi critical difference need >= 3 methods" in md
    assert "No figures (`--no-figures`)" in md


def test_cli_report_options(report, tmp_path):
    folder, _ = report
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", str(folder), "--out", str(out), "--reference", "beta", "--no-figures",
                                 "--resamples", "50", "--permutations", "100", "--seed", "3", "--no-published"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "reference method: beta" in result.output and f"wrote {out / 'stats.csv'}" in result.output
    stats = pd.read_csv(out / "stats.csv")
    assert set(stats["reference"]) == {"beta"} and "beta" not in set(stats["method"])
    assert not list(out.glob("fig_*")) and "Published figures" not in (out / "table.tex").read_text()
    assert "50 resamples, seed 3" in (out / "report.md").read_text()
    bad = runner.invoke(app, ["report", str(folder), "--out", str(out), "--reference", "delta", "--no-figures"])
    assert bad.exit_code == 2 and "--reference 'delta' is not a method of this run" in bad.output


def test_friedman_skips_blocks_where_every_method_ties():
    from mebench.reports.analysis import friedman_analysis

    rows = [dict(method=m, protocol="composite", group=g, metric="uf1", mean=0.5)
            for m in ("a", "b", "c") for g in ("Full", "SMIC", "SAMM")]
    result = friedman_analysis(pd.DataFrame(rows))
    assert result.result is None and "same score on every block" in result.reason


def test_reference_accepts_the_table_label_in_any_case(report):
    from mebench.errors import UnknownNameError
    from mebench.reports.analysis import resolve_reference
    from mebench.reports.results import load_run

    run_dir, _ = report
    preds = load_run(run_dir).preds
    variant, shown = preds[["variant", "display_name"]].drop_duplicates().iloc[0]
    assert resolve_reference(preds, shown.upper()) == variant
    assert resolve_reference(preds, variant) == variant
    with pytest.raises(UnknownNameError, match="did you mean"):
        resolve_reference(preds, variant + "x")


def test_published_figures_are_refused_beside_other_data(tmp_path, tiny_data):
    from mebench.errors import ConfigError
    from mebench.plan import RunConfig
    from mebench.runner import run_grid

    run_grid(RunConfig(methods=("majority",), protocol="loso", out=tmp_path / "run", data=tiny_data))
    with pytest.raises(ConfigError, match="--published: .* results on tiny"):
        write_report(tmp_path / "run", tmp_path / "report", published=True, figures=False, n_resamples=10,
                     n_permutations=10)
    assert not (tmp_path / "report").exists()
