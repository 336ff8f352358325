"""`mebench report RUN_DIR`: write the results section of a paper into the run folder.

Orchestration only: the numbers come from ``reports.results`` / ``reports.analysis``, the tables
from ``reports.tables``, the figures from ``reports.figures`` and the index from ``reports.index``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mebench.errors import DataError
from reports import analysis
from reports.index import IndexContext, render_index
from reports.published import PUBLISHED_PROTOCOL, published_source, published_summary
from reports.results import completeness, incomplete_notes, load_run, predictions_csv_frame, tidy_results
from reports.tables import latex_dataset_table, latex_table, markdown_table, wide_summary

# Files a report writes only when they apply; a stale copy from an earlier report is removed.
OPTIONAL = ("friedman.csv", "leakage.csv", "fig_cd.pdf", "fig_cd.png", "fig_leakage.pdf", "fig_leakage.png")


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


def write_report(run_dir: Path | str, out_dir: Path | str | None = None, *, reference: str | None = None,
                 published: bool = False, n_resamples: int = 2000, n_permutations: int = 10000, seed: int = 0,
                 level: float = 0.95, alpha: float = 0.05, figures: bool = True) -> Report:
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    run = load_run(run_dir)  # DataError, before anything is created, when there is nothing to report
    created = _missing_folders(out)
    try:
        return _write(run, run_dir, out, reference=reference, published=published, n_resamples=n_resamples,
                      n_permutations=n_permutations, seed=seed, level=level, alpha=alpha, figures=figures)
    except BaseException:
        for folder in created:  # a failed report leaves no folder of its own behind
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _missing_folders(path: Path) -> list[Path]:
    """The folders `path.mkdir(parents=True)` would create, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _write(run, run_dir: Path, out: Path, *, reference, published, n_resamples, n_permutations, seed, level, alpha,
           figures) -> Report:
    if out.exists() and not out.is_dir():
        raise DataError(f"report folder {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the report folder {out}: {exc.strerror or exc}") from None
    preds = run.preds
    incomplete = incomplete_notes(run.cells)
    results = tidy_results(preds)
    complete = {(p, m): (p, m) not in incomplete for p, m in results[["protocol", "method"]].itertuples(index=False)}
    results["complete"] = [complete[k] for k in results[["protocol", "method"]].itertuples(index=False, name=None)]
    protocols = list(dict.fromkeys(results["protocol"]))
    comparisons = analysis.compare(preds, reference, n_resamples=n_resamples, n_permutations=n_permutations,
                                   seed=seed, level=level)
    summary = analysis.summary_table(preds, n_resamples=n_resamples, seed=seed, level=level)
    summary["complete"] = [(p, m) not in incomplete for p, m in summary[["protocol", "method"]].itertuples(index=False)]
    significant = comparisons.significant(alpha)
    friedman = analysis.friedman_analysis(summary, "uf1", alpha)
    leakage = analysis.leakage_gaps(preds, results)
    notes: list[str] = []
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

    emit("results.csv", lambda p: results.to_csv(p, index=False))
    emit("predictions.csv", lambda p: predictions_csv_frame(preds).to_csv(p, index=False))
    emit("summary.csv", lambda p: wide_summary(summary).to_csv(p, index=False))
    emit("stats.csv", lambda p: comparisons.stats.to_csv(p, index=False))
    if friedman.result is not None:
        emit("friedman.csv", lambda p: friedman.frame().to_csv(p, index=False))
    if not leakage.empty:
        emit("leakage.csv", lambda p: leakage.to_csv(p, index=False))
    ref_for_table = comparisons.reference if len(comparisons.stats) else None
    emit("table.tex", lambda p: p.write_text("\n".join(
        latex_table(summary, pr, significant=significant, reference=ref_for_table, alpha=alpha, published=pub,
                    published_source=source, incomplete=incomplete) for pr in protocols)))
    emit("table_datasets.tex", lambda p: p.write_text("\n".join(
        latex_dataset_table(summary, pr, n_resamples=n_resamples, level=level, incomplete=incomplete)
        for pr in protocols)))
    emit("table.md", lambda p: p.write_text("\n".join(
        markdown_table(summary, pr, significant=significant, reference=ref_for_table, alpha=alpha, published=pub,
                       published_source=source, n_resamples=n_resamples, level=level, incomplete=incomplete)
        for pr in protocols)))
    if figures:
        files += _figures(out, preds, protocols, friedman, leakage)
    for name in OPTIONAL:
        if out / name not in files and (out / name).exists():
            (out / name).unlink()

    cells = run.cells
    ctx = IndexContext(run_dir=run_dir, cells=cells[cells["status"] == "done"], preds=preds,
                       completeness=completeness(cells), incomplete=incomplete,
                       reference=comparisons.reference, files=list(files), comparisons=comparisons.stats,
                       comparison_notes=comparisons.notes, friedman=friedman, leakage=leakage, notes=notes,
                       options=dict(n_resamples=n_resamples, n_permutations=n_permutations, seed=seed, level=level,
                                    alpha=alpha, figures=figures, reference_given=reference is not None))
    emit("report.md", lambda p: p.write_text(render_index(ctx)))
    return Report(out, files, summary, protocols, comparisons.reference, incomplete, comparisons.stats, friedman,
                  comparisons.notes + notes)


def _figures(out: Path, preds: pd.DataFrame, protocols: list[str], friedman, leakage: pd.DataFrame) -> list[Path]:
    from reports import figures

    paths: list[Path] = []
    matrices = analysis.confusion_matrices(preds)
    subjects = analysis.subject_scores(preds)
    for protocol in protocols:
        paths += figures.confusion_figure(matrices, protocol, out)
        paths += figures.subject_figure(subjects, protocol, out)
    if friedman.result is not None:
        title = f"Mean {friedman.metric.upper()} ranks over {friedman.result.n_blocks} blocks (Nemenyi, α = {friedman.alpha:g})"
        paths += figures.cd_figure(friedman.result.avg_ranks, friedman.cd, title, out)
    if not leakage.empty:
        paths += figures.leakage_figure(leakage, out)
    return paths
