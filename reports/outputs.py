"""Every file a report writes, in one registry: its name (or the pattern of a family of files), what builds it,
whether it applies to every report, and the one line report.md says about it.

The registry drives the writing (in its order), the removal of a stale file an earlier report wrote and this one
does not, and report.md's file list: adding an output touches this module only. A CSV output gives a DataFrame
(also returned by ``mebench.report(..., write=False)``), any other output writes its own file(s).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import cast

import pandas as pd

from mebench.reports import analysis
from mebench.reports.results import RunResults, fold_results, predictions_csv_frame
from mebench.reports.tuning import picks_csv_frame
from mebench.reports.tables import (LABEL_PREFIX, NumberFormat, latex_dataset_table, latex_methods_table, latex_table,
                                    markdown_methods_table, markdown_table, provenance, wide_summary)

FIGURE_SUFFIXES = (".pdf", ".png")


class Shown:
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
        out.insert(cast(int, out.columns.get_loc(column)) + 1, "display_name", out[column].map(self))
        return out


@dataclass
class ReportParts:
    """Everything a report's outputs are built from (computed once by reports.writer)."""

    run: RunResults
    run_dir: Path | list
    preds: pd.DataFrame
    results: pd.DataFrame
    summary: pd.DataFrame
    comparisons: analysis.Comparisons
    significant: set
    friedman: analysis.FriedmanAnalysis
    leakage: pd.DataFrame
    costs: pd.DataFrame
    shown: Shown
    protocols: list[str]
    incomplete: dict
    mixed: dict
    searches: dict  # (protocol, variant) -> the search that chose the row's configuration
    notes: list[str]
    options: dict  # n_resamples, n_permutations, seed, level, alpha, figures, reference_given
    fmt: NumberFormat
    published: pd.DataFrame | None = None
    published_source: str = ""
    folder: Path | None = None  # where the report is written (None: nothing is)
    written: dict[str, str] = field(default_factory=dict)  # file name -> description, in writing order

    # The tables' view: display names throughout.
    @cached_property
    def table_summary(self) -> pd.DataFrame:
        return self.shown.frame(self.summary)

    def table_marks(self) -> dict:
        """The keyword arguments every results-table renderer takes (markdown_table, latex_table)."""
        shown = self.shown
        return dict(significant={(p, shown(m), g) for p, m, g in self.significant},
                    reference=shown(self.comparisons.reference) if len(self.comparisons.stats) else None,
                    alpha=self.options["alpha"], published=self.published, published_source=self.published_source,
                    incomplete=self._shown_keys(self.incomplete), fmt=self.fmt, mixed=self._shown_keys(self.mixed),
                    searches=self._shown_keys(self.searches), label_prefix=self.label_prefix)

    @property
    def label_prefix(self) -> str:
        return self.options.get("label_prefix", LABEL_PREFIX)

    def figure_labels(self, protocol: str | None = None) -> tuple[Shown, str]:
        """What a figure (of one protocol, or of all) names each variant, and the note below it: as in the tables,
        the preset, overridden parameters and data are stated once when every row shares them, else per label."""
        part = self.table_summary
        if protocol is not None:
            part = part[part["protocol"] == protocol]
        statement, qualifiers = provenance(part)
        names = {v: self.shown(v) + qualifiers.get(self.shown(v), "") for v in self.shown.names}
        return Shown(names), statement

    def _shown_keys(self, notes: dict) -> dict:
        return {(p, self.shown(m)): text for (p, m), text in notes.items()}

    def markdown_table(self, protocol: str) -> str:
        """One protocol's main and per-dataset tables in Markdown, with their notes."""
        o = self.options
        return markdown_table(self.table_summary, protocol, n_resamples=o["n_resamples"], level=o["level"],
                              **self.table_marks())

    def markdown_tables(self) -> str:
        """table.md: every protocol's tables, then the methods' size and cost."""
        return "\n".join(self.markdown_table(protocol) for protocol in self.protocols) + "\n" + \
            markdown_methods_table(self.shown.frame(self.costs))


@dataclass(frozen=True)
class Output:
    """One registry entry. ``name``: a file name, or for a figure family the pattern of its stems (``fig_cd``,
    ``fig_confusion_*``: each figure is written as PDF and PNG). ``optional``: written only where it applies
    (a stale copy is removed). Exactly one builder is given: ``table`` (a CSV's frame), ``text`` (a text file's
    content) or ``draw`` (writes its files, returns their paths); a table or text builder returns None where the
    output does not apply."""

    name: str
    description: str
    table: Callable[[ReportParts], pd.DataFrame | None] | None = None
    text: Callable[[ReportParts], str | None] | None = None
    draw: Callable[[ReportParts, Path], list[Path]] | None = None
    optional: bool = False

    @property
    def figure(self) -> bool:
        return self.draw is not None

    @property
    def stem(self) -> str:
        """The name the CSV's frame goes by in ``Report.tables`` (``predictions`` for predictions.csv)."""
        return self.name.removesuffix(".csv")

    def matches(self, path: Path) -> bool:
        if self.figure:
            return path.suffix in FIGURE_SUFFIXES and fnmatch.fnmatchcase(path.stem, self.name)
        return path.name == self.name


def _friedman(parts: ReportParts) -> pd.DataFrame | None:
    return parts.friedman.frame() if parts.friedman.result is not None else None


def _latex_tables(parts: ReportParts) -> str:
    return "\n".join(latex_table(parts.table_summary, protocol, **parts.table_marks()) for protocol in parts.protocols)


def _latex_dataset_tables(parts: ReportParts) -> str:
    o, marks = parts.options, parts.table_marks()
    return "\n".join(latex_dataset_table(parts.table_summary, protocol, n_resamples=o["n_resamples"], level=o["level"],
                                         incomplete=marks["incomplete"], fmt=parts.fmt, mixed=marks["mixed"],
                                         label_prefix=parts.label_prefix)
                     for protocol in parts.protocols)


def _confusion(parts: ReportParts, out: Path) -> list[Path]:
    from mebench.reports import figures

    paths = []
    for protocol in parts.protocols:
        shown, note = parts.figure_labels(protocol)
        matrices = {(p, shown(v)): m for (p, v), m in analysis.confusion_matrices(parts.preds).items()}
        paths += figures.confusion_figure(matrices, protocol, out, note)
    return paths


def _subjects(parts: ReportParts, out: Path) -> list[Path]:
    from mebench.reports import figures

    paths = []
    for protocol in parts.protocols:
        shown, note = parts.figure_labels(protocol)
        paths += figures.subject_figure(shown.frame(analysis.subject_scores(parts.preds)), protocol, out, note)
    return paths


def _curves(parts: ReportParts, out: Path) -> list[Path]:
    from mebench.reports import figures

    paths = []
    for protocol in parts.protocols:
        shown, note = parts.figure_labels(protocol)
        curves = shown.frame(analysis.learning_curves(parts.preds, parts.run.records), "variant")
        picks = shown.frame(analysis.oracle_epochs(parts.preds), "variant")
        paths += figures.curves_figure(curves, picks, protocol, out, note)
    return paths


def _cd(parts: ReportParts, out: Path) -> list[Path]:
    from mebench.reports import figures

    fr = parts.friedman
    if fr.result is None:
        return []
    shown, note = parts.figure_labels()
    title = f"Mean {fr.metric.upper()} ranks over {fr.result.n_blocks} blocks (Nemenyi, α = {fr.alpha:g})"
    return figures.cd_figure(fr.result.avg_ranks.rename(index=shown), fr.cd, title, out, note)


def _leakage(parts: ReportParts, out: Path) -> list[Path]:
    from mebench.reports import figures

    if parts.leakage.empty:
        return []
    shown, note = parts.figure_labels()
    return figures.leakage_figure(shown.frame(shown.frame(parts.leakage), "oracle_method"), out, note=note)


def _html(parts: ReportParts) -> str:
    from mebench.reports.html import render_html

    return render_html(parts)


def _index(parts: ReportParts) -> str:
    from mebench.reports.index import render_index

    return render_index(parts)


# In writing order: report.html embeds the figures written before it, report.md lists every file before it.
OUTPUTS: tuple[Output, ...] = (
    Output("results.csv", "tidy metrics: one row per method, protocol, group, seed and metric",
           table=lambda r: r.shown.column(r.results)),
    Output("predictions.csv", "one row per test sample and seed: true and predicted class, and each class's "
                              "probability (`p_<class>`)",
           table=lambda r: r.shown.column(predictions_csv_frame(r.preds))),
    Output("folds.csv", "one row per method, seed and fold: its test subjects, number of samples, accuracy, UF1 "
                        "and UAR",
           table=lambda r: r.shown.column(fold_results(r.preds))),
    Output("summary.csv", "wide summary: one row per protocol and method; mean, std and CI per group and metric",
           table=lambda r: r.shown.column(wide_summary(r.summary))),
    Output("stats.csv", "every method against the reference: UF1 difference with its CI, and every p-value "
                        "(rows with seed = all: tests over all seeds at once, Holm-adjusted; other rows: one seed's "
                        "tests)",
           table=lambda r: r.shown.column(r.comparisons.stats)),
    Output("friedman.csv", "Friedman test over datasets/protocols, average ranks and the Nemenyi critical difference",
           table=lambda r: _nonempty_frame(_friedman(r), r), optional=True),
    Output("leakage.csv", "leaky minus honest score per method, group and metric: oracle minus final epoch, and each "
                          "leaky row of a hyperparameter search minus its nested row",
           table=lambda r: _nonempty_frame(r.leakage, r), optional=True),
    Output("tuning.csv", "every configuration a hyperparameter search chose: per result row and seed (and outer fold "
                         "for nested), with its score and every configuration's",
           table=lambda r: _nonempty_frame(picks_csv_frame(r.run.picks), r) if len(r.run.picks) else None,
           optional=True),
    Output("training.csv", "one row per training epoch of every reported torch cell: its training loss, accuracy "
                           "and learning rate (`variants`: the result rows that training gives)",
           table=lambda r: _nonempty_frame(r.run.training, r), optional=True),
    Output("methods.csv", "per method: parameters, forward FLOPs per sample, training time per fold, devices",
           table=lambda r: r.shown.column(r.costs)),
    Output("table_methods.tex", "booktabs table of the methods' size and cost",
           text=lambda r: latex_methods_table(r.shown.frame(r.costs), r.label_prefix)),
    Output("table.tex", "main booktabs table (\\input it; needs \\usepackage{booktabs})", text=_latex_tables),
    Output("table_datasets.tex", "per-dataset booktabs table with 95% confidence intervals", text=_latex_dataset_tables),
    Output("table.md", "the same tables in Markdown, and the methods' size and cost", text=ReportParts.markdown_tables),
    Output("fig_confusion_*", "Row-normalised confusion matrices (pooled over folds and seeds)", draw=_confusion,
           optional=True),
    Output("fig_subjects_*", "Per-subject accuracy, mean over seeds", draw=_subjects, optional=True),
    Output("fig_curves_*", "Learning curves: UF1 on the test folds after each epoch, and the epochs the oracle keeps",
           draw=_curves, optional=True),
    Output("fig_cd", "Critical-difference diagram (Nemenyi, average ranks; connected methods do not differ "
                     "significantly)", draw=_cd, optional=True),
    Output("fig_leakage", "Leakage gap: oracle minus final epoch selection, per method", draw=_leakage, optional=True),
    Output("report.html", "this report as one self-contained page (tables, figures, statistics, run specification)",
           text=_html),
    Output("report.md", "the index: what was run, how the statistics were computed, every file", text=_index),
)


def _nonempty_frame(frame: pd.DataFrame | None, parts: ReportParts) -> pd.DataFrame | None:
    return parts.shown.column(frame) if frame is not None and len(frame) else None

