"""Paper tables: one table model per table, rendered as booktabs LaTeX, Markdown, HTML and plain text.

:func:`results_model` (methods x groups x {UF1, UAR}) and :func:`dataset_model` (one section per reporting
group: UF1, UAR and accuracy with confidence intervals) build a :class:`TableModel` once from a report summary
(:func:`reports.analysis.summary_table`: method, protocol, group, metric,
mean, std, seeds, leaky and, for the per-dataset table, ci_low / ci_high; preset, overrides and data when
known). :func:`latex`, :func:`markdown`, :func:`html_table` and :func:`terminal` render a model; the marks
are the model's:

* best of a column in bold, second best underlined (LaTeX) or in italics (Markdown, HTML), among the
  measured rows, compared at the printed precision;
* ``*`` on a UF1 that differs significantly from the reference method's (``significant``);
* ``†`` on results obtained with a leaky (oracle) epoch selection or a test-scored hyperparameter search;
* ``§`` on published rows (``published``), copied from the paper rather than measured;
* ``‡`` on incomplete rows (``incomplete``), ``¶`` on rows whose cells were computed by different
  method or mebench versions (``mixed``), each explained in a footnote.

The LaTeX needs only ``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import html
import math
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from typing import Iterable, Mapping, cast

import pandas as pd

from mebench.errors import ConfigError
from mebench.protocol import dataset_display_name
from mebench.reports.results import METRIC_LABELS

TABLE_METRICS = ("uf1", "uar")
DATASET_METRICS = ("uf1", "uar", "accuracy")
DIGITS = 4
LABEL_PREFIX = "mebench"  # \label{tab:mebench-composite}
TERMINAL_WIDTH = 80  # when the terminal's width is unknown


@dataclass(frozen=True)
class NumberFormat:
    """How scores are printed: `digits` after the point, as fractions (0.7209) or percentages (72.1)."""

    digits: int = DIGITS
    percent: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.digits <= 8:
            raise ConfigError(f"--digits {self.digits}: from 0 to 8")

    def num(self, value: float, digits: int | None = None) -> str:
        return f"{value * 100 if self.percent else value:.{self.digits if digits is None else digits}f}"

    def key(self, value: float) -> float:
        """The value as printed, for ranking (ties at the printed precision share a mark)."""
        return round(value * 100 if self.percent else value, self.digits)

    def ci(self, low: float, high: float) -> str:
        digits = max(0, self.digits - 1)
        return f"[{self.num(low, digits)}, {self.num(high, digits)}]"

    def unit(self) -> str:
        return " (%)" if self.percent else ""


PLAIN = NumberFormat()


def p_value_text(p: float) -> str:
    """A p-value as every table and note prints it: three decimals, or ``< 0.001``; ``--`` when not computed."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "--"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_value_statement(p: float) -> str:
    """``p = 0.012`` or ``p < 0.001``."""
    text = p_value_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def check_label_prefix(prefix: str) -> str:
    """--label-prefix: letters, digits, ``-``, ``_``, ``.`` and ``:`` (what a LaTeX label holds safely)."""
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", prefix):
        raise ConfigError(f"--label-prefix {prefix!r}: letters, digits, '-', '_', '.' and ':' only, starting with a "
                          "letter or digit (the tables' labels become tab:PREFIX-PROTOCOL)")
    return prefix


# ----------------------------------------------------------------------------------------------- the model

# Row marks, in the order they follow a row's name: symbol in LaTeX, in text, and its word for the terminal.
MARKS = {"published": (r"$^\S$", "§", "published"), "leaky": (r"$^\dagger$", "†", "leaky"),
         "incomplete": (r"$^\ddagger$", "‡", "incomplete"), "mixed": (r"$^\P$", "¶", "mixed versions"),
         "significant": ("$^{*}$", "*", "significant")}
MIXED_MARK, MIXED_MARK_TEX = MARKS["mixed"][1], MARKS["mixed"][0]


@dataclass(frozen=True)
class Column:
    """A column of a table: a score (``group`` and ``metric``), its confidence interval, or text about the row
    (``key``: ``selection``, ``tuning``)."""

    kind: str  # "score", "ci" or "text"
    label: str
    group: str = ""
    metric: str = ""
    key: str = ""

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.kind, self.group, self.metric or self.key)


@dataclass(frozen=True)
class Cell:
    """A score (mean and std over seeds, the CI of the mean when known) with its marks, or a text."""

    mean: float = math.nan
    std: float = math.nan
    ci: tuple[float, float] | None = None
    rank: str | None = None  # "best" or "second"
    significant: bool = False
    text: str | None = None


@dataclass
class Row:
    label: str
    cells: dict[tuple[str, str, str], Cell]  # Column.id -> cell; a missing one prints "--"
    marks: tuple[str, ...] = ()  # keys of MARKS
    section: str = ""  # the reporting group of a per-dataset table's row
    published: bool = False


@dataclass(frozen=True)
class Footnote:
    """A note below the table, after the symbol of the mark it explains (``mark``: a key of MARKS, or none)."""

    tex: str
    text: str
    mark: str | None = None


@dataclass
class TableModel:
    """One table, built once from the summary; every renderer prints this. ``caption`` is plain text; the
    renderers add how they mark the best and second best values."""

    kind: str  # "results" (methods x groups) or "datasets" (a section per group)
    protocol: str
    columns: list[Column]
    rows: list[Row]
    caption: str
    label: str
    footnotes: list[Footnote] = field(default_factory=list)
    fmt: NumberFormat = PLAIN

    def score_columns(self) -> list[Column]:
        return [c for c in self.columns if c.kind != "text"]

    def sections(self) -> list[str]:
        return list(dict.fromkeys(r.section for r in self.rows))


DAGGER_NOTE_TEXT = ("Epoch chosen per test subject by its test accuracy (the published HTNet protocol; oracle-stop: "
                    "CausalNet's, the first best epoch, training stopped at 100%): "
                    "model selection on test data, so these figures are optimistic.")
TUNING_DAGGER_NOTE_TEXT = ("(test-scored) Configuration chosen by its UF1 on the test predictions pooled over all "
                           "folds, among every configuration of the grid (the published practice): model selection on "
                           "test data, so these figures are optimistic.")
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex_escape(text: str) -> str:
    chars, quote_open = [], False
    for ch in str(text):
        if ch == '"':  # straight double quotes become `` and ''
            quote_open = not quote_open
            chars.append("``" if quote_open else "''")
        else:
            chars.append(_TEX_SPECIAL.get(ch, ch))
    out = "".join(chars)
    return "{}" + out if out.startswith("[") else out  # a leading [ would read as an option of \\


def _tex_prose(text: str) -> str:
    """Plain prose (a caption, a note) in LaTeX: escaped, with ±, – and < as LaTeX writes them."""
    return _tex_escape(text).replace("±", r"$\pm$").replace("–", "--").replace(r"\textless{}", "$<$")


def _md_escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def _both(text: str) -> Footnote:
    return Footnote(_tex_prose(text), text)


def _incomplete_of(incomplete: Mapping[tuple[str, str], str] | None, protocol: str,
                   part: pd.DataFrame) -> dict[str, str]:
    """The incomplete methods among the table's rows."""
    shown = set(part["method"])
    return {m: text for (p, m), text in (incomplete or {}).items() if p == protocol and m in shown}


def _listed(items: Mapping[str, str], tex: bool) -> str:
    return "; ".join(f"{_tex_escape(m) if tex else m}: {_tex_escape(t) if tex else t}" for m, t in items.items())


def _incomplete_note(missing: Mapping[str, str]) -> Footnote:
    head = "Incomplete: some folds have no result, so these scores pool fewer test samples than the protocol has: "
    # the missing-fold texts are mebench's own words (no LaTeX specials but the names)
    return Footnote(head + "; ".join(f"{_tex_escape(m)}: {t}" for m, t in missing.items()) + ".",
                    head + "; ".join(f"{m}: {t}" for m, t in missing.items()) + ".", "incomplete")


def _mixed_note(mixed: Mapping[str, str]) -> Footnote:
    """The footnote of the ¶ mark: which versions computed the cells of each marked row."""
    head = ("Mixed versions: the cells of these rows were computed by different versions of the method or "
            "of mebench, so each pools results of different code: ")
    return Footnote(head + _listed(mixed, tex=True) + ".", head + _listed(mixed, tex=False) + ".", "mixed")


def _dagger_notes(part: pd.DataFrame, published_leaky: bool = False) -> list[Footnote]:
    """The footnotes of the † mark that the table's leaky rows need: the epoch chosen on the test subject
    (oracle, oracle-stop, published rows) and/or the configuration chosen on the test predictions (test-scored)."""
    leaky = part[part["leaky"].astype(bool)] if "leaky" in part.columns else part.iloc[0:0]
    tuned = leaky["tuning"].eq("test-scored") if "tuning" in leaky.columns else pd.Series(False, index=leaky.index)
    epoch = leaky["epoch_selection"].isin(("oracle", "oracle-stop")) if "epoch_selection" in leaky.columns \
        else pd.Series(True, index=leaky.index)
    notes = []
    if published_leaky or epoch.any() or (len(leaky) and not tuned.any()):
        notes.append(Footnote(_tex_escape(DAGGER_NOTE_TEXT), DAGGER_NOTE_TEXT, "leaky"))
    if tuned.any():
        notes.append(Footnote(_tex_escape(TUNING_DAGGER_NOTE_TEXT), TUNING_DAGGER_NOTE_TEXT, "leaky"))
    return notes


def _search_notes(searches: Mapping[tuple[str, str], str] | None, protocol: str, part: pd.DataFrame) -> list[Footnote]:
    """One footnote per row whose configuration a hyperparameter search chose: the rule, the grid, the choice."""
    shown = list(dict.fromkeys(part["method"]))
    items = [(m, (searches or {}).get((protocol, m))) for m in shown]
    return [Footnote(rf"Hyperparameter search, {_tex_escape(m)}: {_tex_escape(text)}.",
                     f"Hyperparameter search, {m}: {text}.") for m, text in items if text]


def _significance_note(reference: str, alpha: float) -> Footnote:
    body = ("UF1 significantly different from {ref} (the reference): paired permutation test over subjects on the "
            "seed-mean pooled UF1 difference (all seeds at once), Holm-adjusted across the compared methods, "
            "p {lt} {alpha:g}.")
    return Footnote(body.format(ref=_tex_escape(reference), lt="$<$", alpha=alpha),
                    body.format(ref=reference, lt="<", alpha=alpha), "significant")


def _published_note(source: str) -> Footnote:
    head = "Published figures (one run each, not measured by mebench), from "
    return Footnote(head + _tex_escape(source), head + source, "published")


def _groups_in_order(summary: pd.DataFrame) -> list[str]:
    groups = list(dict.fromkeys(summary["group"]))
    return ["Full"] + [g for g in groups if g != "Full"] if "Full" in groups else groups


def _ranks(values: list[float], fmt: NumberFormat = PLAIN) -> dict[float, str]:
    """Rounded value -> "best" / "second" (ties share the mark; second is the next distinct value)."""
    distinct = sorted({fmt.key(v) for v in values if not math.isnan(v)}, reverse=True)
    return {v: mark for v, mark in zip(distinct, ("best", "second"))}


def _seeds_text(seeds: pd.Series) -> str:
    seeds = seeds.dropna().astype(int)
    if seeds.empty:
        return "seeds"
    lo, hi = int(seeds.min()), int(seeds.max())
    return f"{hi} seed{'s' if hi != 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"


def _part(summary: pd.DataFrame, protocol: str, metrics) -> pd.DataFrame:
    part = summary[(summary["protocol"] == protocol) & summary["metric"].isin(metrics)]
    # groups by the datasets' display names (casme2 -> CASME II), whichever protocol named them
    return part.assign(group=part["group"].map(dataset_display_name)) if len(part) else part


def _published_part(published: pd.DataFrame | None, protocol: str, metrics) -> pd.DataFrame:
    if published is None or published.empty:
        return pd.DataFrame(columns=["method", "group", "metric", "mean", "std", "leaky", "epoch_selection"])
    return _part(published, protocol, metrics)


@dataclass(frozen=True)
class _RowStatus:
    """What every table reads off its rows: the groups in order, the incomplete and mixed-version methods (marked,
    footnoted, not ranked), the best/second ranking and the leaky methods."""

    groups: list[str]
    missing: dict[str, str]
    versions: dict[str, str]
    ranking: "_Ranking"
    leaky: set[str]

    @classmethod
    def of(cls, part: pd.DataFrame, protocol: str, metrics, fmt: NumberFormat,
           incomplete: Mapping[tuple[str, str], str] | None, mixed: Mapping[tuple[str, str], str] | None) -> "_RowStatus":
        missing = _incomplete_of(incomplete, protocol, part)
        return cls(_groups_in_order(part), missing, _incomplete_of(mixed, protocol, part),
                   _Ranking(part, metrics, fmt, unranked=missing), set(part.loc[part["leaky"].astype(bool), "method"]))

    def marks(self, method: str) -> tuple[str, ...]:
        return _row_marks(method, self.leaky, self.missing, self.versions)

    def notes(self) -> list[Footnote]:
        return ([_incomplete_note(self.missing)] if self.missing else []) + \
            ([_mixed_note(self.versions)] if self.versions else [])


class _Ranking:
    """(method, group, metric) -> summary row, with the best/second ranking per column. Rows of `unranked`
    methods (incomplete ones: they pool fewer samples) are neither ranked nor marked."""

    def __init__(self, part: pd.DataFrame, metrics, fmt: NumberFormat, unranked: Iterable[str] = ()):
        self.fmt = fmt
        self.unranked = set(unranked)
        self.rows = {(r.method, r.group, r.metric): r for r in part.itertuples()}
        columns = {(g, m) for (_, g, m) in self.rows}
        self.ranks = {(g, m): _ranks([cast(float, r.mean) for (meth, rg, rm), r in self.rows.items()
                                      if (rg, rm) == (g, m) and meth not in self.unranked], fmt)
                      for g, m in columns}

    def cell(self, method: str, group: str, metric: str, significant: bool = False) -> Cell | None:
        r = self.rows.get((method, group, metric))
        if r is None:
            return None
        rank = None if method in self.unranked else self.ranks[(group, metric)].get(self.fmt.key(cast(float, r.mean)))
        ci = (cast(float, r.ci_low), cast(float, r.ci_high)) if hasattr(r, "ci_low") else None
        return Cell(mean=cast(float, r.mean), std=cast(float, r.std), ci=ci, rank=rank, significant=significant)


# What produced a row: stated once in the caption when every row shares it, else on each row that lacks it.
PROVENANCE = (("preset", "preset: {}", " [{}]"), ("overrides", "parameters: {}", " ({})"), ("data", "data: {}", " @{}"))


def provenance(part: pd.DataFrame) -> tuple[str, dict[str, str]]:
    """(the caption's statement, method -> what its label must add), for tables and figures alike."""
    shared, per_row = [], {m: "" for m in dict.fromkeys(part["method"])}
    for column, caption, qualifier in PROVENANCE:
        if column not in part.columns:
            continue
        values = part.drop_duplicates("method").set_index("method")[column].fillna("").astype(str)
        if values.nunique() == 1:
            if values.iloc[0]:
                shared.append(caption.format(values.iloc[0]))
            continue
        for method, value in values.items():
            added = qualifier.format(value)
            if value and added not in str(method) and value not in str(method):
                per_row[method] += added
    statement = "; ".join(shared)
    return (statement[:1].upper() + statement[1:] + "." if statement else ""), per_row


def _row_marks(method: str, leaky: set, missing: Mapping, versions: Mapping) -> tuple[str, ...]:
    return tuple(k for k, on in (("leaky", method in leaky), ("incomplete", method in missing),
                                 ("mixed", method in versions)) if on)


def _label(prefix: str, *parts: str) -> str:
    return "tab:" + "-".join((check_label_prefix(prefix), *parts))


def results_model(summary: pd.DataFrame, protocol: str, *, significant: set | frozenset = frozenset(),
                  reference: str | None = None, alpha: float = 0.05, published: pd.DataFrame | None = None,
                  published_source: str = "", incomplete: Mapping[tuple[str, str], str] | None = None,
                  fmt: NumberFormat = PLAIN, mixed: Mapping[tuple[str, str], str] | None = None,
                  searches: Mapping[tuple[str, str], str] | None = None,
                  label_prefix: str = LABEL_PREFIX) -> TableModel:
    """Methods x groups x {UF1, UAR}: mean ± std over seeds, with each row's epoch selection (and its
    hyperparameter-search rule when a search ran).

    ``significant``: (protocol, method, group) whose UF1 differs from ``reference``'s (marked *).
    ``published``: rows of :func:`reports.published_results.published_summary`, shown below the measured
    ones (marked §) when they belong to ``protocol``. ``incomplete``: (protocol, method) -> what is
    missing (:func:`reports.results.incomplete_notes`), marked ‡ and explained in a footnote.
    ``searches``: (protocol, method) -> how a hyperparameter search chose the row's configuration (the rule, the
    grid and its size, the choice: :func:`reports.tuning.search_notes`), one footnote per such row.
    """
    part = _part(summary, protocol, TABLE_METRICS)
    pub = _published_part(published, protocol, TABLE_METRICS)
    status = _RowStatus.of(part, protocol, TABLE_METRICS, fmt, incomplete, mixed)
    groups, ranking, leaky = status.groups, status.ranking, status.leaky
    selection = dict(zip(part["method"], part.get("epoch_selection", pd.Series("", index=part.index))))
    tuning = dict(zip(part["method"], part["tuning"])) if "tuning" in part.columns else {}
    with_tuning = any(isinstance(t, str) and t for t in tuning.values())
    columns = [Column("text", "Epoch selection", key="selection")] \
        + ([Column("text", "Tuning", key="tuning")] if with_tuning else []) \
        + [Column("score", METRIC_LABELS[m], g, m) for g in groups for m in TABLE_METRICS]
    statement, qualifiers = provenance(part)
    rows = []
    for meth in dict.fromkeys(part["method"]):
        cells = {("text", "", "selection"): Cell(text=str(selection.get(meth, "")))}
        if with_tuning:
            cells[("text", "", "tuning")] = Cell(text=str(tuning.get(meth, "") or ""))
        for g in groups:
            for m in TABLE_METRICS:
                cell = ranking.cell(meth, g, m, significant=m == "uf1" and (protocol, meth, g) in significant)
                if cell is not None:
                    cells[("score", g, m)] = cell
        rows.append(Row(meth + qualifiers[meth], cells, status.marks(meth)))
    pub_leaky = set(pub.loc[pub["leaky"].astype(bool), "method"]) if len(pub) else set()
    for meth in dict.fromkeys(pub["method"]):
        mine = pub[pub["method"] == meth]
        cells = {("text", "", "selection"): Cell(text=str(mine["epoch_selection"].iloc[0]))}
        if with_tuning:
            cells[("text", "", "tuning")] = Cell(text="")
        cells.update({("score", r.group, r.metric): Cell(mean=r.mean) for r in mine.itertuples()})
        rows.append(Row(meth, cells, ("published",) + (("leaky",) if meth in pub_leaky else ()), published=True))
    notes = []
    if leaky or pub_leaky:
        notes += _dagger_notes(part, published_leaky=bool(pub_leaky))
    notes += _search_notes(searches, protocol, part)
    notes += status.notes()
    if reference is not None:
        notes.append(_significance_note(reference, alpha))
    if len(pub):
        notes.append(_published_note(published_source))
        notes += _budget_note(part)
    caption = (f"Protocol {protocol}: UF1 and UAR on predictions pooled over all folds, mean ± std over "
               f"{_seeds_text(part['seeds'])}." + (f" {statement}" if statement else ""))
    return TableModel("results", protocol, columns, rows, caption, _label(label_prefix, protocol), notes, fmt)


def _budget_note(part: pd.DataFrame) -> list[Footnote]:
    """Beside published figures (trained with the paper's budget), the measured rows that were not."""
    if "preset" not in part.columns:
        return []
    presets = part.drop_duplicates("method").set_index("method")["preset"].fillna("").astype(str)
    other = {m: p for m, p in presets.items() if p and p != "paper"}
    if not other:
        return []
    if len(other) == len(presets) and len(set(other.values())) == 1:  # one statement, not one per row
        said = f"every measured row ran with the {next(iter(other.values()))} preset"
    else:
        said = "; ".join(f"{m} ran with the {p} preset" for m, p in other.items())
    return [_both(f"Not the paper's budget: {said}. These rows are not comparable with the published ones, "
                  "trained with the paper's settings.")]


def dataset_model(summary: pd.DataFrame, protocol: str, *, n_resamples: int, level: float = 0.95,
                  incomplete: Mapping[tuple[str, str], str] | None = None, fmt: NumberFormat = PLAIN,
                  mixed: Mapping[tuple[str, str], str] | None = None, label_prefix: str = LABEL_PREFIX) -> TableModel:
    """One section per reporting group (Full, then each dataset): UF1, UAR and accuracy as mean ± std
    over seeds with the subject-bootstrap confidence interval of the mean."""
    part = _part(summary, protocol, DATASET_METRICS)
    status = _RowStatus.of(part, protocol, DATASET_METRICS, fmt, incomplete, mixed)
    pct = f"{level * 100:g}%"
    columns = [c for m in DATASET_METRICS
               for c in (Column("score", METRIC_LABELS[m], metric=m), Column("ci", f"{pct} CI", metric=m))]
    statement, qualifiers = provenance(part)
    rows = []
    for g in status.groups:
        for meth in dict.fromkeys(part.loc[part["group"] == g, "method"]):
            cells = {}
            for m in DATASET_METRICS:
                cell = status.ranking.cell(meth, g, m)
                if cell is not None:
                    cells[("score", "", m)] = cells[("ci", "", m)] = cell
            rows.append(Row(meth + qualifiers[meth], cells, status.marks(meth), section=g))
    notes = (_dagger_notes(part) if status.leaky else []) + status.notes()
    caption = (f"Protocol {protocol} per dataset: mean ± std over {_seeds_text(part['seeds'])} of the pooled scores, "
               f"and the {pct} confidence interval of that mean by a bootstrap over subjects ({n_resamples} resamples "
               f"of whole subjects)." + (f" {statement}" if statement else ""))
    return TableModel("datasets", protocol, columns, rows, caption, _label(label_prefix, protocol, "datasets"), notes,
                      fmt)


# ----------------------------------------------------------------------------------------------- LaTeX

PM_MACRO = "mebenchpm"
# Mean over the std in a smaller font, two lines in one cell: keeps eight score columns within a
# page. Defined with \providecommand, so a document may define its own \mebenchpm{mean}{std} first.
PM_DEFINITION = (rf"\providecommand{{\{PM_MACRO}}}[2]{{\begin{{tabular}}[c]{{@{{}}c@{{}}}}#1\\[-1pt]"
                 r"{\scriptsize$\pm$\,#2}\end{tabular}}")
TEX_HEADER = ["% Written by mebench report. Needs \\usepackage{booktabs}; \\input{} as it is.", PM_DEFINITION]


def _tex_cell(cell: Cell, fmt: NumberFormat) -> str:
    """A score cell: the mean (bold if best, underlined if second, a star after it when significant)
    and the std below it (none for a single seed)."""
    text = fmt.num(cell.mean)
    text = rf"\textbf{{{text}}}" if cell.rank == "best" else rf"\underline{{{text}}}" if cell.rank == "second" else text
    if cell.significant:
        text += r"\rlap{$^{*}$}"
    return text if math.isnan(cell.std) else rf"\{PM_MACRO}{{{text}}}{{{fmt.num(cell.std)}}}"


def _tex_value(model: TableModel, column: Column, row: Row) -> str:
    cell = row.cells.get(column.id)
    if column.kind == "ci":
        return "" if cell is None or cell.ci is None else rf"{{\scriptsize{model.fmt.ci(*cell.ci)}}}"
    return "--" if cell is None else _tex_cell(cell, model.fmt)


def _tex_name(row: Row) -> str:
    return _tex_escape(row.label) + "".join(MARKS[k][0] for k in row.marks)


def latex(model: TableModel) -> str:
    """booktabs LaTeX of a table model, in a table* (its score columns span both columns of a two-column paper)."""
    columns = model.score_columns()
    lines = [*TEX_HEADER, r"\begin{table*}[t]", r"\centering", r"\footnotesize"]
    if model.kind == "results":
        spans = [(g, [c for c in columns if c.group == g]) for g in dict.fromkeys(c.group for c in columns)]
        lines += [r"\setlength{\tabcolsep}{3pt}", rf"\begin{{tabular}}{{l{'c' * len(columns)}}}", r"\toprule",
                  "Method & " + " & ".join(rf"\multicolumn{{{len(cs)}}}{{c}}{{{_tex_escape(g)}}}" for g, cs in spans)
                  + r" \\"]
        starts = [2 + sum(len(cs) for _, cs in spans[:i]) for i in range(len(spans))]
        lines.append("".join(rf"\cmidrule(lr){{{s}-{s + len(cs) - 1}}}" for s, (_, cs) in zip(starts, spans)))
        lines += [" & " + " & ".join(c.label for c in columns) + r" \\", r"\midrule"]
        measured = [r for r in model.rows if not r.published]
        for i, rows in enumerate((measured, [r for r in model.rows if r.published])):
            if i and rows:
                lines.append(r"\midrule")
            lines += [_tex_name(r) + " & " + " & ".join(_tex_value(model, c, r) for c in columns) + r" \\"
                      for r in rows]
    else:
        lines += [r"\setlength{\tabcolsep}{3.5pt}", rf"\begin{{tabular}}{{l{'c' * len(columns)}}}", r"\toprule",
                  "Method & " + " & ".join(c.label.replace("%", r"\%") for c in columns) + r" \\", r"\midrule"]
        for i, section in enumerate(model.sections()):
            if i:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{1 + len(columns)}}}{{l}}{{\textit{{{_tex_escape(section)}}}}} \\")
            lines += [r"\quad " + _tex_name(r) + " & " + " & ".join(_tex_value(model, c, r) for c in columns) + r" \\"
                      for r in model.rows if r.section == section]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\smallskip\footnotesize {(MARKS[n.mark][0] + ' ') if n.mark else ''}{n.tex}"
              for n in model.footnotes]
    cap = _tex_prose(model.caption) + " Best in bold, second underlined."
    lines += [rf"\caption{{{cap}}}", rf"\label{{{model.label}}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- Markdown

def _fmt(mean: float, std: float, fmt: NumberFormat = PLAIN) -> str:
    return fmt.num(mean) if math.isnan(std) else f"{fmt.num(mean)} ± {fmt.num(std)}"


def _plain_value(model: TableModel, column: Column, row: Row) -> tuple[str, str | None]:
    """(the cell's text, its rank) in plain text."""
    cell = row.cells.get(column.id)
    if column.kind == "text":
        return ("" if cell is None else cell.text or ""), None
    if column.kind == "ci":
        return ("" if cell is None or cell.ci is None else model.fmt.ci(*cell.ci)), None
    if cell is None:
        return "--", None
    has_ci = model.kind == "results" or cell.ci is not None  # without CIs a per-dataset cell is not ranked
    return _fmt(cell.mean, cell.std, model.fmt), cell.rank if has_ci else None


def _md_row(model: TableModel, row: Row, columns: list[Column]) -> list[str]:
    out = []
    for column in columns:
        text, rank = _plain_value(model, column, row)
        text = f"**{text}**" if rank == "best" else f"_{text}_" if rank == "second" else text
        if column.kind == "score" and row.cells.get(column.id, Cell()).significant:
            text += " \\*"
        out.append(text)
    return out


def _md_name(row: Row) -> str:
    return _md_escape(row.label) + "".join(f" {MARKS[k][1]}" for k in row.marks)


def _md_note(note: Footnote) -> str:
    mark = "\\*" if note.mark == "significant" else MARKS[note.mark][1] if note.mark else ""
    return (f"{mark} " if mark else "") + _md_escape(note.text)


def markdown(model: TableModel) -> str:
    """A table model in Markdown: a heading (the caption), the table, the footnotes (results table only: the
    per-dataset table shares them)."""
    if model.kind == "results":
        head = ["Method"] + [c.label if c.kind == "text" else f"{c.group} {c.label}" for c in model.columns]
        lines = [f"### {model.caption}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join([_md_name(r)] + _md_row(model, r, model.columns)) + " |" for r in model.rows]
        notes = ["Best of each column in **bold**, second in _italics_ (measured rows only)."]
        notes += [_md_note(n) for n in model.footnotes]
        return "\n".join(lines + [""] + [f"{n}  " for n in notes]) + "\n"
    head = ["Group", "Method"] + [c.label for c in model.columns]
    lines = [f"### {model.caption}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([r.section, _md_name(r)] + _md_row(model, r, model.columns)) + " |" for r in model.rows]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- HTML

def _html_name(row: Row) -> str:
    return html.escape(row.label) + "".join(f"<sup>{html.escape(MARKS[k][1])}</sup>" for k in row.marks)


def html_table(model: TableModel) -> str:
    """A table model as an HTML ``<table>`` fragment (escaped): the caption, a header row, a row per method (a
    section row per group in the per-dataset table), best values in ``<strong>``, second in ``<em>``, marks as
    superscripts, and the footnotes in the ``<tfoot>``."""
    columns = model.columns
    if model.kind == "results":
        head = ["Method"] + [c.label if c.kind == "text" else f"{c.group} {c.label}" for c in columns]
    else:
        head = ["Method"] + [c.label for c in columns]
    lines = [f'<table class="mebench-table" id="{html.escape(model.label)}">',
             f"<caption>{html.escape(model.caption)} Best in bold, second in italics.</caption>",
             "<thead><tr>" + "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head) + "</tr></thead>",
             "<tbody>"]
    section = None
    for row in model.rows:
        if model.kind == "datasets" and row.section != section:
            section = row.section
            lines.append(f'<tr class="section"><th colspan="{len(head)}" scope="rowgroup">{html.escape(section)}'
                         "</th></tr>")
        cells = [f'<th scope="row">{_html_name(row)}</th>']
        for column in columns:
            text, rank = _plain_value(model, column, row)
            text = html.escape(text)
            text = f"<strong>{text}</strong>" if rank == "best" else f"<em>{text}</em>" if rank == "second" else text
            if column.kind == "score" and row.cells.get(column.id, Cell()).significant:
                text += "<sup>*</sup>"
            cells.append(f"<td>{text}</td>")
        lines.append(("<tr class=\"published\">" if row.published else "<tr>") + "".join(cells) + "</tr>")
    lines.append("</tbody>")
    if model.footnotes:
        notes = "".join(f"<p>{html.escape(MARKS[n.mark][1] + ' ') if n.mark else ''}{html.escape(n.text)}</p>"
                        for n in model.footnotes)
        lines.append(f'<tfoot><tr><td colspan="{len(head)}">{notes}</td></tr></tfoot>')
    lines.append("</table>")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- terminal

def _terminal_width() -> int:
    return shutil.get_terminal_size((TERMINAL_WIDTH, 24)).columns


def terminal(model: TableModel, width: int | None = None) -> str:
    """The scores as aligned plain text, within ``width`` columns (default: the terminal's, else 80): when the
    columns do not fit side by side, they are printed in blocks, each repeating the method column; the caption
    and footnotes wrap at the width."""
    width = _terminal_width() if width is None else width
    columns = model.score_columns()
    unit = model.fmt.unit()
    headers = [f"{c.group} {c.label}{unit}".strip() if c.kind == "score" else c.label for c in columns]
    names = [row.label + "".join(f" {MARKS[k][1]} ({MARKS[k][2]})" for k in row.marks) for row in model.rows]
    if model.kind == "datasets":
        names = [f"{r.section}: {n}" for r, n in zip(model.rows, names)]
    values = [[_plain_value(model, c, row)[0] for c in columns] for row in model.rows]
    name_width = max([len("Method")] + [len(n) for n in names])
    widths = [max([len(h)] + [len(v[i]) for v in values]) for i, h in enumerate(headers)]
    block: list[int]
    blocks, block, used = [], [], name_width
    for i, w in enumerate(widths):
        if block and used + 2 + w > width:
            blocks.append(block)
            block, used = [], name_width
        block.append(i)
        used += 2 + w
    blocks.append(block)
    lines = textwrap.wrap(model.caption, width) or [""]
    for b, block in enumerate(blocks):
        if b:
            lines.append("")
        block_widths = [name_width] + [widths[i] for i in block]
        table = [["Method"] + [headers[i] for i in block]]
        table += [[n] + [v[i] for i in block] for n, v in zip(names, values)]
        for k, cells in enumerate(table):
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cells, block_widths))).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in block_widths))
    for note in model.footnotes:
        if note.mark in ("incomplete", "mixed"):
            lines += textwrap.wrap(f"{MARKS[note.mark][1]} {note.text}", width, break_on_hyphens=False)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- report files

def latex_table(summary: pd.DataFrame, protocol: str, **marks) -> str:
    """table.tex's table of ``protocol``: :func:`results_model` (``marks``: its keyword arguments), rendered by
    :func:`latex`."""
    return latex(results_model(summary, protocol, **marks))


def latex_dataset_table(summary: pd.DataFrame, protocol: str, **options) -> str:
    """table_datasets.tex's table of ``protocol`` (:func:`dataset_model`, rendered by :func:`latex`)."""
    return latex(dataset_model(summary, protocol, **options))


def markdown_table(summary: pd.DataFrame, protocol: str, *, n_resamples: int = 2000, level: float = 0.95,
                   **marks) -> str:
    """table.md's part for ``protocol``: the results table and its footnotes (``marks``: the keyword arguments of
    :func:`results_model`), then the per-dataset table."""
    results = results_model(summary, protocol, **marks)
    datasets = dataset_model(summary, protocol, n_resamples=n_resamples, level=level,
                             incomplete=marks.get("incomplete"), fmt=marks.get("fmt", PLAIN),
                             mixed=marks.get("mixed"), label_prefix=marks.get("label_prefix", LABEL_PREFIX))
    return markdown(results) + "\n" + markdown(datasets)


def terminal_table(summary: pd.DataFrame, protocol: str, incomplete: Mapping[tuple[str, str], str] | None = None,
                   fmt: NumberFormat = PLAIN, mixed: Mapping[tuple[str, str], str] | None = None,
                   width: int | None = None) -> str:
    """What `mebench report` prints: the results table of ``protocol`` as plain text within ``width``."""
    return terminal(results_model(summary, protocol, incomplete=incomplete, fmt=fmt, mixed=mixed), width)


def wide_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """summary.csv: one row per protocol and method, a column per group, metric and statistic
    (e.g. ``Full_uf1_mean``, ``Full_uf1_std``, ``Full_uf1_ci_low``, ``Full_uf1_ci_high``)."""
    stats = [c for c in ("mean", "std", "ci_low", "ci_high") if c in summary.columns]
    id_cols = [c for c in ("protocol", "method", "data", "preset", "overrides", "epoch_selection", "tuning", "leaky",
                           "complete", "mixed_versions") if c in summary.columns]
    frame = summary.copy()
    frame["col"] = frame["group"] + "_" + frame["metric"]
    order = list(dict.fromkeys(frame["col"]))
    keys = list(dict.fromkeys(frame[id_cols].itertuples(index=False, name=None)))
    cells = {(tuple(r[c] for c in id_cols), r["col"]): r for r in frame.to_dict("records")}
    rows = []
    for key in keys:
        row = dict(zip(id_cols, key))
        for col in order:
            rec = cells.get((key, col), {})
            row.update({f"{col}_{stat}": rec.get(stat, float("nan")) for stat in stats})
        row["seeds"] = max((cells[(key, c)]["seeds"] for c in order if (key, c) in cells), default=float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _count(value: float, unit: str = "") -> str:
    """1234567 -> "1.23M"; NaN -> "--"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "--"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}{unit}"
    return f"{value:.0f}{unit}"


def latex_methods_table(costs: pd.DataFrame, label_prefix: str = LABEL_PREFIX) -> str:
    """Per method: parameters, forward FLOPs per sample, training time per fold, devices (booktabs), within one
    column of a two-column paper: the method and device columns wrap within fixed widths."""
    lines = [*TEX_HEADER[:1], r"\begin{table}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
             r"\begin{tabular*}{\columnwidth}{@{\extracolsep{\fill}}p{0.28\columnwidth}rrrp{0.16\columnwidth}@{}}",
             r"\toprule", r"Method & Params & FLOPs & s / fold & Device \\", r"\midrule"]
    for r in costs.drop_duplicates("method").itertuples():
        lines.append(f"{_tex_escape(str(r.method))} & {_count(cast(float, r.parameters))} & "
                     f"{_count(cast(float, r.flops_per_sample))} & {r.seconds_per_fold:.1f} & "
                     f"{_tex_escape(str(r.devices))} \\\\")
    lines += [r"\bottomrule", r"\end{tabular*}",
              r"\caption{Model size (trainable parameters), forward FLOPs per 28$\times$28 sample (torch's flop "
              r"counter) and median training time per fold, with the device it ran on.}",
              rf"\label{{{_label(label_prefix, 'methods')}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def markdown_methods_table(costs: pd.DataFrame) -> str:
    lines = ["### Methods: size and cost", "", "| Method | Parameters | FLOPs / sample | s / fold | Device |",
             "|---|---|---|---|---|"]
    for r in costs.drop_duplicates("method").itertuples():
        lines.append(f"| {_md_escape(str(r.method))} | {_count(cast(float, r.parameters))} | "
                     f"{_count(cast(float, r.flops_per_sample))} | {r.seconds_per_fold:.1f} | {r.devices} |")
    return "\n".join(lines) + "\n"
