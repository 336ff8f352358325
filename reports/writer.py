"""`mebench report RUN_DIR`: write the results section of a paper into the run folder.

Orchestration only: the numbers come from ``reports.results`` / ``reports.analysis``, the tables
from ``reports.tables``, the figures from ``reports.figures`` and the index from ``reports.index``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mebench.errors import ConfigError, DataError
from mebench.reports import analysis
from mebench.reports.csvsafe import write_csv
from mebench.reports.index import IndexContext, render_index
from mebench.reports.published import PUBLISHED_PROTOCOL, published_source, published_summary
from mebench.reports.results import (completeness, finished_seeds_only, incomplete_notes, load_run,
                                     predictions_csv_frame, tidy_results, version_notes)
from mebench.reports.tuning import picks_csv_frame, search_notes
from mebench.reports.tables import (NumberFormat, latex_dataset_table, latex_methods_table, latex_table, markdown_methods_table,
                            markdown_table, wide_summary)

SEED_MAX = 2**32 - 1  # as for a run's seeds
# Files a report writes only when they apply; a stale copy from an earlier report is removed.
OPTIONAL = ("friedman.csv", "leakage.csv", "tuning.csv", "fig_cd.pdf", "fig_cd.png", "fig_leakage.pdf", "fig_leakage.png")


@dataclass
class Report:
    folder: Path
    files: list[Path]
    summary: pd.DataFrame
    protocols: list[str]
    reference: str = ""
    incomplete: dict[tuple[str, str], str] = field(default_factory=dict)
    stats: pd.DataFrame | None = None
    friedman: analysis.FriedmanAnalysis | None = None
    notes: list[str] = field(default_factory=list)
    shown_summary: pd.DataFrame | None = None  # `summary` with display names, as the tables show it
    shown_incomplete: dict[tuple[str, str], str] = field(default_factory=dict)
    fmt: NumberFormat = field(default_factory=NumberFormat)
    shown_mixed: dict[tuple[str, str], str] = field(default_factory=dict)  # rows computed by different versions


def write_report(run_dir: Path | str | list, out_dir: Path | str | None = None, *, reference: str | None = None,
                 published: bool = False, n_resamples: int = 2000, n_permutations: int = 10000, seed: int = 0,
                 level: float = 0.95, alpha: float = 0.05, figures: bool = True, digits: int = 4,
                 percent: bool = False, seeds: Sequence[int] | None = None) -> Report:
    check_seed(seed)
    several = isinstance(run_dir, (list, tuple))
    if several and out_dir is None:
        raise DataError("a report of several run folders needs --out: the folder to write it into")
    run_dir = [Path(d) for d in run_dir] if several else Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    run = load_run(run_dir, seeds)  # DataError, before anything is created, when there is nothing to report
    run, notes = finished_seeds_only(run)
    if published:
        check_published_data(run)
    if seeds is not None:
        notes.append(f"seeds reported: {', '.join(map(str, seeds))} (report --seeds); cells of other seeds in the "
                     "run folder are left out")
    created = _missing_folders(out)
    try:
        return _write(run, run_dir, out, reference=reference, published=published, n_resamples=n_resamples,
                      n_permutations=n_permutations, seed=seed, level=level, alpha=alpha, figures=figures,
                      fmt=NumberFormat(digits, percent), notes=notes)
    except BaseException:
        for folder in created:  # a failed report leaves no folder of its own behind
            shutil.rmtree(folder, ignore_errors=True)
        raise


# The data the shipped published figures were measured on: the MEGC2019 composite's 442 clips, as the HTNet and
# CausalNet releases ship them, or built from the raw datasets by the composite protocol.
PUBLISHED_DATA = ("htnet-release", "causalnet-release", "smic", "casme2", "samm")


def check_published_data(run) -> None:
    """--published beside results on other data (synthetic, a plugin's) would compare unlike things: refused."""
    names = {part for name in run.preds["data"].astype(str).unique() for part in name.split("#")[0].split("+")}
    other = sorted(names - set(PUBLISHED_DATA))
    if other:
        raise ConfigError(f"--published: the shipped published figures were measured on the MEGC2019 composite "
                          f"({', '.join(PUBLISHED_DATA[:2])} or the raw SMIC, CASME II and SAMM); this report holds "
                          f"results on {', '.join(other)}, so they would sit beside unlike figures")


def check_seed(seed) -> int:
    """The report's --seed (bootstrap and permutation test), checked before anything is read."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= SEED_MAX:
        raise ConfigError(f"--seed {seed!r}: the seed of the bootstrap and the permutation test is an integer from 0 "
                          f"to {SEED_MAX}")
    return int(seed)


def _missing_folders(path: Path) -> list[Path]:
    """The folders `path.mkdir(parents=True)` would create, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _write(run, run_dir: Path, out: Path, *, reference, published, n_resamples, n_permutations, seed, level, alpha,
           figures, fmt: NumberFormat, notes: list[str]) -> Report:
    if out.exists() and not out.is_dir():
        raise DataError(f"report folder {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the report folder {out}: {exc.strerror or exc}") from None
    preds = run.preds
    incomplete = incomplete_notes(run.cells)
    mixed = version_notes(run.cells)
    results = tidy_results(preds)
    complete = {(p, m): (p, m) not in incomplete for p, m in results[["protocol", "method"]].itertuples(index=False)}
    results["complete"] = [complete[k] for k in results[["protocol", "method"]].itertuples(index=False, name=None)]
    results["mixed_versions"] = [mixed.get(k, "") for k in results[["protocol", "method"]].itertuples(index=False, name=None)]
    protocols = list(dict.fromkeys(results["protocol"]))
    comparisons = analysis.compare(preds, reference, n_resamples=n_resamples, n_permutations=n_permutations,
                                   seed=seed, level=level, first_method=run.first_method())
    summary = analysis.summary_table(preds, n_resamples=n_resamples, seed=seed, level=level)
    summary["complete"] = [(p, m) not in incomplete for p, m in summary[["protocol", "method"]].itertuples(index=False)]
    summary["mixed_versions"] = [mixed.get((p, m), "") for p, m in summary[["protocol", "method"]].itertuples(index=False)]
    significant = comparisons.significant(alpha)
    friedman = analysis.friedman_analysis(summary, "uf1", alpha)
    leakage = analysis.leakage_gaps(preds, results, n_resamples=n_resamples, n_permutations=n_permutations,
                                    seed=seed, level=level)
    # Tables and figures name methods as a paper does (HTNet, OFF-ApexNet); CSVs keep the plugin name in
    # `method` and add `display_name`.
    names = dict(zip(preds["variant"], preds["display_name"]))
    shown = _Shown(names)
    pub, source = None, ""
    if published:
        pub, source = published_summary(), published_source()
        if PUBLISHED_PROTOCOL not in protocols:
            notes.append(f"--published: the shipped published figures are for the {PUBLISHED_PROTOCOL} protocol, "
                         "which this run does not hold; no published rows shown")

    files: list[Path] = []

    def emit(name: str, write) -> None:
        path = out / name
        write(path)
        files.append(path)

    # Every CSV through write_csv: text that a spreadsheet would run as a formula is neutralised.
    emit("results.csv", lambda p: write_csv(shown.column(results), p))
    emit("predictions.csv", lambda p: write_csv(shown.column(predictions_csv_frame(preds)), p))
    emit("summary.csv", lambda p: write_csv(shown.column(wide_summary(summary)), p))
    emit("stats.csv", lambda p: write_csv(shown.column(comparisons.stats), p))
    if friedman.result is not None:
        emit("friedman.csv", lambda p: write_csv(shown.column(friedman.frame()), p))
    if not leakage.empty:
        emit("leakage.csv", lambda p: write_csv(shown.column(leakage), p))
    if len(run.picks):
        emit("tuning.csv", lambda p: write_csv(shown.column(picks_csv_frame(run.picks)), p))
    costs = analysis.method_costs(run.cells, run.runs, notes)
    emit("methods.csv", lambda p: write_csv(shown.column(costs), p))
    emit("table_methods.tex", lambda p: p.write_text(latex_methods_table(shown.frame(costs))))
    ref_for_table = shown(comparisons.reference) if len(comparisons.stats) else None
    table_summary = shown.frame(summary)
    table_significant = {(p, shown(m), g) for p, m, g in significant}
    table_incomplete = {(p, shown(m)): text for (p, m), text in incomplete.items()}
    table_mixed = {(p, shown(m)): text for (p, m), text in mixed.items()}
    table_searches = {(p, shown(m)): text for (p, m), text in search_notes(run.picks).items()}
    emit("table.tex", lambda p: p.write_text("\n".join(
        latex_table(table_summary, pr, significant=table_significant, reference=ref_for_table, alpha=alpha,
                    published=pub, published_source=source, incomplete=table_incomplete, fmt=fmt, mixed=table_mixed,
                    searches=table_searches)
        for pr in protocols)))
    emit("table_datasets.tex", lambda p: p.write_text("\n".join(
        latex_dataset_table(table_summary, pr, n_resamples=n_resamples, level=level, incomplete=table_incomplete,
                            fmt=fmt, mixed=table_mixed) for pr in protocols)))
    emit("table.md", lambda p: p.write_text("\n".join(
        markdown_table(table_summary, pr, significant=table_significant, reference=ref_for_table, alpha=alpha,
                       published=pub, published_source=source, n_resamples=n_resamples, level=level,
                       incomplete=table_incomplete, fmt=fmt, mixed=table_mixed, searches=table_searches)
        for pr in protocols) + "\n"
        + markdown_methods_table(shown.frame(costs))))
    if figures:
        files += _figures(out, preds, protocols, friedman, leakage, run.records, shown)
    for stale in [out / name for name in OPTIONAL] + sorted(out.glob("fig_curves_*")):
        if stale not in files and stale.exists():
            stale.unlink()

    cells = run.cells
    notes += [f"`{variant}` ({protocol}) pools cells computed by different versions (¶ in the tables): {text}"
              for (protocol, variant), text in mixed.items()]
    ctx = IndexContext(run_dir=run_dir, cells=cells[cells["status"] == "done"], preds=preds,
                       completeness=completeness(cells), incomplete=incomplete, runs=run.runs,
                       reference=comparisons.reference, files=list(files), comparisons=comparisons.stats,
                       comparison_notes=comparisons.notes, friedman=friedman, leakage=leakage, notes=notes,
                       picks=shown.frame(run.picks, "variant") if len(run.picks) else run.picks,
                       options=dict(n_resamples=n_resamples, n_permutations=n_permutations, seed=seed, level=level,
                                    alpha=alpha, figures=figures, reference_given=reference is not None))
    emit("report.md", lambda p: p.write_text(render_index(ctx)))
    return Report(out, files, summary, protocols, comparisons.reference, incomplete, comparisons.stats, friedman,
                  comparisons.notes + notes, table_summary, table_incomplete, fmt, table_mixed)


class _Shown:
    """Variant label (plugin names) -> display label (HTNet, OFF-ApexNet), for tables and figures."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def __call__(self, variant: str) -> str:
        return self.names.get(variant, variant)

    def frame(self, frame: pd.DataFrame, column: str = "method") -> pd.DataFrame:
        return frame.assign(**{column: frame[column].map(self)}) if column in frame.columns else frame

    def column(self, frame: pd.DataFrame, column: str = "method") -> pd.DataFrame:
        """A CSV frame with `display_name` beside `method`."""
        if column not in frame.columns or frame.empty:
            return frame
        out = frame.copy()
        out.insert(out.columns.get_loc(column) + 1, "display_name", out[column].map(self))
        return out


def _figures(out: Path, preds: pd.DataFrame, protocols: list[str], friedman, leakage: pd.DataFrame, records: dict,
             shown: _Shown) -> list[Path]:
    from mebench.reports import figures

    paths: list[Path] = []
    matrices = {(p, shown(v)): m for (p, v), m in analysis.confusion_matrices(preds).items()}
    subjects = shown.frame(analysis.subject_scores(preds))
    curves = shown.frame(analysis.learning_curves(preds, records), "variant")
    picks = shown.frame(analysis.oracle_epochs(preds), "variant")
    for protocol in protocols:
        paths += figures.confusion_figure(matrices, protocol, out)
        paths += figures.subject_figure(subjects, protocol, out)
        paths += figures.curves_figure(curves, picks, protocol, out)
    if friedman.result is not None:
        title = f"Mean {friedman.metric.upper()} ranks over {friedman.result.n_blocks} blocks (Nemenyi, α = {friedman.alpha:g})"
        ranks = friedman.result.avg_ranks.rename(index=shown)
        paths += figures.cd_figure(ranks, friedman.cd, title, out)
    if not leakage.empty:
        paths += figures.leakage_figure(shown.frame(shown.frame(leakage), "oracle_method"), out)
    return paths
