"""Paper tables: booktabs LaTeX, Markdown and a terminal rendering of the same numbers.

All writers take a report summary (:func:`reports.analysis.summary_table` or
:func:`reports.results.summarise`: method, protocol, group, metric, mean, std, seeds, leaky and,
for the per-dataset tables, ci_low / ci_high). Markers:

* best of a column in bold, second best underlined (LaTeX) or in italics (Markdown), among the
  measured rows, compared at the printed precision;
* ``*`` on a UF1 that differs significantly from the reference method's (``significant``);
* ``†`` on results obtained with a leaky (oracle) epoch selection or a test-scored hyperparameter search;
* ``§`` on published rows (``published``), copied from the paper rather than measured;
* ``‡`` on incomplete rows (``incomplete``), ``¶`` on rows whose cells were computed by different
  method or mebench versions (``mixed``), each explained in a footnote.

The LaTeX needs only ``\\usepackage{booktabs}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd

from mebench.errors import ConfigError
from mebench.reports.results import METRIC_LABELS

TABLE_METRICS = ("uf1", "uar")
DATASET_METRICS = ("uf1", "uar", "accuracy")
DIGITS = 4


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
DAGGER_NOTE = (r"$^\dagger$ Epoch chosen per test subject by its test accuracy (the published HTNet protocol; "
               r"oracle-stop: CausalNet's, the first best epoch, training stopped at 100\%): "
               r"model selection on test data, so these figures are optimistic.")
DAGGER_NOTE_TEXT = ("† Epoch chosen per test subject by its test accuracy (the published HTNet protocol; oracle-stop: "
                    "CausalNet's, the first best epoch, training stopped at 100%): "
                    "model selection on test data, so these figures are optimistic.")
TUNING_DAGGER_NOTE = (r"$^\dagger$ (test-scored) Configuration chosen by its UF1 on the test predictions pooled over "
                      r"all folds, among every configuration of the grid (the published practice): model selection on "
                      r"test data, so these figures are optimistic.")
TUNING_DAGGER_NOTE_TEXT = ("† (test-scored) Configuration chosen by its UF1 on the test predictions pooled over all folds, "
                           "among every configuration of the grid (the published practice): model selection on test "
                           "data, so these figures are optimistic.")
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "<": r"\textless{}", ">": r"\textgreater{}"}


def _incomplete_of(incomplete: Mapping[tuple[str, str], str] | None, protocol: str, part: pd.DataFrame) -> dict[str, str]:
    """The incomplete methods among the table's rows."""
    shown = set(part["method"])
    return {m: text for (p, m), text in (incomplete or {}).items() if p == protocol and m in shown}


def _incomplete_note(missing: Mapping[str, str], tex: bool) -> str:
    mark = r"$^\ddagger$" if tex else "‡"
    items = "; ".join(f"{_tex_escape(m) if tex else m}: {text}" for m, text in missing.items())
    return (f"{mark} Incomplete: some folds have no result, so these scores pool fewer test samples than the "
            f"protocol has: {items}.")


MIXED_MARK, MIXED_MARK_TEX = "¶", r"$^\P$"


def _mixed_note(mixed: Mapping[str, str], tex: bool) -> str:
    """The footnote of the ¶ mark: which versions computed the cells of each marked row."""
    mark = MIXED_MARK_TEX if tex else MIXED_MARK
    items = "; ".join(f"{_tex_escape(m) if tex else m}: {_tex_escape(text) if tex else text}"
                      for m, text in mixed.items())
    return (f"{mark} Mixed versions: the cells of these rows were computed by different versions of the method or "
            f"of mebench, so each pools results of different code: {items}.")


def _dagger_notes(part: pd.DataFrame, tex: bool, published_leaky: bool = False) -> list[str]:
    """The footnotes of the † mark that the table's leaky rows need: the epoch chosen on the test subject
    (oracle, oracle-stop, published rows) and/or the configuration chosen on the test predictions (test-scored)."""
    leaky = part[part["leaky"].astype(bool)] if "leaky" in part.columns else part.iloc[0:0]
    tuned = leaky["tuning"].eq("test-scored") if "tuning" in leaky.columns else pd.Series(False, index=leaky.index)
    epoch = leaky["epoch_selection"].isin(("oracle", "oracle-stop")) if "epoch_selection" in leaky.columns \
        else pd.Series(True, index=leaky.index)
    notes = []
    if published_leaky or epoch.any() or (len(leaky) and not tuned.any()):
        notes.append(DAGGER_NOTE if tex else DAGGER_NOTE_TEXT)
    if tuned.any():
        notes.append(TUNING_DAGGER_NOTE if tex else TUNING_DAGGER_NOTE_TEXT)
    return notes


def _search_notes(searches: Mapping[tuple[str, str], str] | None, protocol: str, part: pd.DataFrame,
                  tex: bool) -> list[str]:
    """One footnote per row whose configuration a hyperparameter search chose: the rule, the grid, the choice."""
    shown = list(dict.fromkeys(part["method"]))
    items = [(m, (searches or {}).get((protocol, m))) for m in shown]
    if tex:
        return [rf"Hyperparameter search, {_tex_escape(m)}: {_tex_escape(text)}." for m, text in items if text]
    return [f"Hyperparameter search, {_md_escape(m)}: {_md_escape(text)}." for m, text in items if text]


def _groups_in_order(summary: pd.DataFrame) -> list[str]:
    groups = list(dict.fromkeys(summary["group"]))
    return ["Full"] + [g for g in groups if g != "Full"] if "Full" in groups else groups


def _fmt(mean: float, std: float, fmt: NumberFormat = PLAIN) -> str:
    return fmt.num(mean) if math.isnan(std) else f"{fmt.num(mean)} ± {fmt.num(std)}"


def _tex_escape(text: str) -> str:
    out, quote_open = [], False
    for ch in str(text):
        if ch == '"':  # straight double quotes become `` and ''
            quote_open = not quote_open
            out.append("``" if quote_open else "''")
        else:
            out.append(_TEX_SPECIAL.get(ch, ch))
    out = "".join(out)
    return "{}" + out if out.startswith("[") else out  # a leading [ would read as an option of \\


def _md_escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def _ranks(values: list[float], fmt: NumberFormat = PLAIN) -> dict[float, str]:
    """Rounded value -> "best" / "second" (ties share the mark; second is the next distinct value)."""
    distinct = sorted({fmt.key(v) for v in values if not math.isnan(v)}, reverse=True)
    return {v: mark for v, mark in zip(distinct, ("best", "second"))}


def _seeds_text(seeds: pd.Series) -> str:
    seeds = seeds.dropna().astype(int)
    if seeds.empty:
        return "seeds"
    lo, hi = int(seeds.min()), int(seeds.max())
    return f"{hi} seed{'s' if hi != 1 else ''}" if lo == hi else f"{lo}--{hi} seeds"


def _part(summary: pd.DataFrame, protocol: str, metrics) -> pd.DataFrame:
    return summary[(summary["protocol"] == protocol) & summary["metric"].isin(metrics)]


def _published_part(published: pd.DataFrame | None, protocol: str, metrics) -> pd.DataFrame:
    if published is None or published.empty:
        return pd.DataFrame(columns=["method", "group", "metric", "mean", "std", "leaky"])
    return _part(published, protocol, metrics)


class _Cells:
    """Lookup of (method, group, metric) -> row, with the best/second ranking per column. Rows of `unranked`
    methods (incomplete ones: they pool fewer samples) are neither ranked nor marked."""

    def __init__(self, part: pd.DataFrame, groups: list[str], metrics, fmt: NumberFormat = PLAIN,
                 unranked: Iterable[str] = ()):
        self.fmt = fmt
        self.unranked = set(unranked)
        self.rows = {(r.method, r.group, r.metric): r for r in part.itertuples()}
        self.ranks = {(g, m): _ranks([r.mean for (meth, rg, rm), r in self.rows.items()
                                      if (rg, rm) == (g, m) and meth not in self.unranked], fmt)
                      for g in groups for m in metrics}

    def mark(self, method: str, group: str, metric: str) -> str | None:
        row = self.rows.get((method, group, metric))
        if row is None or method in self.unranked:
            return None
        return self.ranks[(group, metric)].get(self.fmt.key(row.mean))


PM_MACRO = "mebenchpm"
# Mean over the std in a smaller font, two lines in one cell: keeps eight score columns within a
# page. Defined with \providecommand, so a document may define its own \mebenchpm{mean}{std} first.
PM_DEFINITION = (rf"\providecommand{{\{PM_MACRO}}}[2]{{\begin{{tabular}}[c]{{@{{}}c@{{}}}}#1\\[-1pt]"
                 r"{\scriptsize$\pm$\,#2}\end{tabular}}")
TEX_HEADER = ["% Written by mebench report. Needs \\usepackage{booktabs}; \\input{} as it is.", PM_DEFINITION]


def _tex_cell(mean: float, std: float, mark: str | None = None, star: bool = False, fmt: NumberFormat = PLAIN) -> str:
    """A score cell: the mean (bold if best, underlined if second, a star after it when significant)
    and the std below it (none for a single seed)."""
    text = fmt.num(mean)
    text = rf"\textbf{{{text}}}" if mark == "best" else rf"\underline{{{text}}}" if mark == "second" else text
    if star:
        text += r"\rlap{$^{*}$}"
    return text if math.isnan(std) else rf"\{PM_MACRO}{{{text}}}{{{fmt.num(std)}}}"


def _significance_note(reference: str | None, alpha: float, tex: bool) -> str:
    star = "$^{*}$" if tex else "*"
    ref = _tex_escape(reference) if tex else reference
    return (f"{star} UF1 significantly different from {ref} (the reference): paired permutation test over "
            f"subjects on the seed-mean pooled UF1 difference (all seeds at once), Holm-adjusted across the compared "
            f"methods, p {'$<$' if tex else '<'} {alpha:g}.")


def _published_note(source: str, tex: bool) -> str:
    mark = r"$^\S$" if tex else "§"
    return (f"{mark} Published figures (one run each, not measured by mebench), from "
            f"{_tex_escape(source) if tex else source}")


def latex_table(summary: pd.DataFrame, protocol: str, caption: str | None = None, *,
                significant: set | frozenset = frozenset(), reference: str | None = None, alpha: float = 0.05,
                published: pd.DataFrame | None = None, published_source: str = "",
                incomplete: Mapping[tuple[str, str], str] | None = None, fmt: NumberFormat = PLAIN,
                mixed: Mapping[tuple[str, str], str] | None = None,
                searches: Mapping[tuple[str, str], str] | None = None) -> str:
    """Methods x groups x {UF1, UAR}: mean ± std over seeds, best in bold, second underlined.

    ``significant``: (protocol, method, group) whose UF1 differs from ``reference``'s (marked *).
    ``published``: rows of :func:`reports.published.published_summary`, shown below the measured
    ones (marked §) when they belong to ``protocol``. ``incomplete``: (protocol, method) -> what is
    missing (:func:`reports.results.incomplete_notes`), marked ‡ and explained in a footnote.
    ``searches``: (protocol, method) -> how a hyperparameter search chose the row's configuration (the rule, the
    grid and its size, the choice: :func:`reports.tuning.search_notes`), one footnote per such row.
    """
    part = _part(summary, protocol, TABLE_METRICS)
    pub = _published_part(published, protocol, TABLE_METRICS)
    groups = _groups_in_order(part)
    methods = list(dict.fromkeys(part["method"]))
    missing = _incomplete_of(incomplete, protocol, part)
    versions = _incomplete_of(mixed, protocol, part)
    cells = _Cells(part, groups, TABLE_METRICS, fmt, unranked=missing)
    leaky = set(part.loc[part["leaky"].astype(bool), "method"])
    cols = "l" + "cc" * len(groups)
    # table*: eight score columns span both columns of a two-column paper.
    lines = [*TEX_HEADER, r"\begin{table*}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3pt}",
             rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines.append("Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex_escape(g)}}}" for g in groups) + r" \\")
    lines.append("".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(groups))))
    lines.append(" & " + " & ".join("UF1 & UAR" for _ in groups) + r" \\")
    lines.append(r"\midrule")
    for meth in methods:
        name = (_tex_escape(meth) + (r"$^\dagger$" if meth in leaky else "")
                + (r"$^\ddagger$" if meth in missing else "") + (MIXED_MARK_TEX if meth in versions else ""))
        row = []
        for g in groups:
            for m in TABLE_METRICS:
                r = cells.rows.get((meth, g, m))
                if r is None:
                    row.append("--")
                    continue
                star = m == "uf1" and (protocol, meth, g) in significant
                row.append(_tex_cell(r.mean, r.std, cells.mark(meth, g, m), star, fmt))
        lines.append(name + " & " + " & ".join(row) + r" \\")
    pub_methods = list(dict.fromkeys(pub["method"]))
    pub_leaky: set = set()
    if pub_methods:
        lines.append(r"\midrule")
        pub_cells = {(r.method, r.group, r.metric): r.mean for r in pub.itertuples()}
        pub_leaky = set(pub.loc[pub["leaky"].astype(bool), "method"])
        for meth in pub_methods:
            name = _tex_escape(meth) + r"$^\S$" + (r"$^\dagger$" if meth in pub_leaky else "")
            row = [fmt.num(pub_cells[(meth, g, m)]) if (meth, g, m) in pub_cells else "--"
                   for g in groups for m in TABLE_METRICS]
            lines.append(name + " & " + " & ".join(row) + r" \\")
        leaky = leaky | pub_leaky
    lines += [r"\bottomrule", r"\end{tabular}"]
    notes = []
    if leaky:
        notes += _dagger_notes(part, tex=True, published_leaky=bool(pub_methods) and bool(pub_leaky))
    notes += _search_notes(searches, protocol, part, tex=True)
    if missing:
        notes.append(_incomplete_note(missing, tex=True))
    if versions:
        notes.append(_mixed_note(versions, tex=True))
    if reference is not None:
        notes.append(_significance_note(reference, alpha, tex=True))
    if pub_methods:
        notes.append(_published_note(published_source, tex=True))
    for note in notes:
        lines.append(rf"\par\smallskip\footnotesize {note}")
    cap = caption or (f"{_tex_escape(protocol)} protocol: UF1 and UAR on predictions pooled over all folds, "
                      f"mean $\\pm$ std over {_seeds_text(part['seeds'])}; best in bold, second underlined.")
    lines += [rf"\caption{{{cap}}}", rf"\label{{tab:mebench-{protocol}}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def latex_dataset_table(summary: pd.DataFrame, protocol: str, *, n_resamples: int, level: float = 0.95,
                        incomplete: Mapping[tuple[str, str], str] | None = None, fmt: NumberFormat = PLAIN,
                        mixed: Mapping[tuple[str, str], str] | None = None) -> str:
    """One section per reporting group (Full, then each dataset): UF1, UAR and accuracy as mean ± std
    over seeds with the subject-bootstrap confidence interval of the mean; best bold, second underlined."""
    part = _part(summary, protocol, DATASET_METRICS)
    groups = _groups_in_order(part)
    missing = _incomplete_of(incomplete, protocol, part)
    cells = _Cells(part, groups, DATASET_METRICS, fmt, unranked=missing)
    leaky = set(part.loc[part["leaky"].astype(bool), "method"])
    versions = _incomplete_of(mixed, protocol, part)
    pct = f"{level * 100:g}\\%"
    lines = [*TEX_HEADER, r"\begin{table*}[t]", r"\centering", r"\footnotesize", r"\setlength{\tabcolsep}{3.5pt}",
             r"\begin{tabular}{lcccccc}", r"\toprule",
             "Method & " + " & ".join(rf"{METRIC_LABELS[m]} & {pct} CI" for m in DATASET_METRICS) + r" \\",
             r"\midrule"]
    for i, g in enumerate(groups):
        if i:
            lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{7}}{{l}}{{\textit{{{_tex_escape(g)}}}}} \\")
        for meth in dict.fromkeys(part.loc[part["group"] == g, "method"]):
            row = []
            for m in DATASET_METRICS:
                r = cells.rows.get((meth, g, m))
                if r is None:
                    row += ["--", ""]
                    continue
                row.append(_tex_cell(r.mean, r.std, cells.mark(meth, g, m), fmt=fmt))
                row.append(rf"{{\scriptsize{fmt.ci(r.ci_low, r.ci_high)}}}")
            name = (r"\quad " + _tex_escape(meth) + (r"$^\dagger$" if meth in leaky else "")
                    + (r"$^\ddagger$" if meth in missing else "") + (MIXED_MARK_TEX if meth in versions else ""))
            lines.append(name + " & " + " & ".join(row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if leaky:
        lines += [rf"\par\smallskip\footnotesize {note}" for note in _dagger_notes(part, tex=True)]
    if missing:
        lines.append(rf"\par\smallskip\footnotesize {_incomplete_note(missing, tex=True)}")
    if versions:
        lines.append(rf"\par\smallskip\footnotesize {_mixed_note(versions, tex=True)}")
    cap = (f"{_tex_escape(protocol)} protocol per dataset: mean $\\pm$ std over {_seeds_text(part['seeds'])} of the "
           f"pooled scores, and the {pct} confidence interval of that mean by a bootstrap over subjects "
           f"({n_resamples} resamples of whole subjects); best in bold, second underlined.")
    lines += [rf"\caption{{{cap}}}", rf"\label{{tab:mebench-{protocol}-datasets}}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def _md_marked(text: str, mark: str | None) -> str:
    return f"**{text}**" if mark == "best" else f"_{text}_" if mark == "second" else text


def markdown_table(summary: pd.DataFrame, protocol: str, *, significant: set | frozenset = frozenset(),
                   reference: str | None = None, alpha: float = 0.05, published: pd.DataFrame | None = None,
                   published_source: str = "", n_resamples: int = 2000, level: float = 0.95,
                   incomplete: Mapping[tuple[str, str], str] | None = None, fmt: NumberFormat = PLAIN,
                   mixed: Mapping[tuple[str, str], str] | None = None,
                   searches: Mapping[tuple[str, str], str] | None = None) -> str:
    """The LaTeX tables' content in Markdown: the main table (with the epoch selection of every row, and its
    hyperparameter-search rule when a search ran) followed by the per-dataset table with confidence intervals."""
    part = _part(summary, protocol, TABLE_METRICS)
    pub = _published_part(published, protocol, TABLE_METRICS)
    groups = _groups_in_order(part)
    missing = _incomplete_of(incomplete, protocol, part)
    cells = _Cells(part, groups, TABLE_METRICS, fmt, unranked=missing)
    selection = dict(zip(part["method"], part.get("epoch_selection", pd.Series("", index=part.index))))
    leaky = set(part.loc[part["leaky"].astype(bool), "method"])
    versions = _incomplete_of(mixed, protocol, part)
    mark = {m: (" †" if m in leaky else "") + (" ‡" if m in missing else "") + (f" {MIXED_MARK}" if m in versions else "")
            for m in part["method"]}
    tuning = dict(zip(part["method"], part["tuning"])) if "tuning" in part.columns else {}
    with_tuning = any(isinstance(t, str) and t for t in tuning.values())
    head = ["Method", "Epoch selection"] + (["Tuning"] if with_tuning else []) \
        + [f"{g} {METRIC_LABELS[m]}" for g in groups for m in TABLE_METRICS]
    lines = [f"### {protocol}: UF1 and UAR, mean ± std over {_seeds_text(part['seeds']).replace('--', '–')}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for meth in dict.fromkeys(part["method"]):
        row = [_md_escape(meth) + mark[meth], str(selection.get(meth, ""))]
        if with_tuning:
            row.append(str(tuning.get(meth, "") or ""))
        for g in groups:
            for m in TABLE_METRICS:
                r = cells.rows.get((meth, g, m))
                text = "--" if r is None else _md_marked(_fmt(r.mean, r.std, fmt), cells.mark(meth, g, m))
                if r is not None and m == "uf1" and (protocol, meth, g) in significant:
                    text += " \\*"
                row.append(text)
        lines.append("| " + " | ".join(row) + " |")
    pub_cells = {(r.method, r.group, r.metric): r for r in pub.itertuples()}
    for meth in dict.fromkeys(pub["method"]):
        r0 = next(r for (mm, _, _), r in pub_cells.items() if mm == meth)
        row = [_md_escape(meth) + " §" + (" †" if r0.leaky else ""), str(r0.epoch_selection)]
        row += [""] if with_tuning else []
        row += [fmt.num(pub_cells[(meth, g, m)].mean) if (meth, g, m) in pub_cells else "--"
                for g in groups for m in TABLE_METRICS]
        lines.append("| " + " | ".join(row) + " |")
    notes = ["Best of each column in **bold**, second in _italics_ (measured rows only)."]
    pub_leaky = not pub.empty and pub["leaky"].astype(bool).any()
    if leaky or pub_leaky:
        notes += _dagger_notes(part, tex=False, published_leaky=bool(pub_leaky))
    notes += _search_notes(searches, protocol, part, tex=False)
    if missing:
        notes.append(_incomplete_note(missing, tex=False))
    if versions:
        notes.append(_md_escape(_mixed_note(versions, tex=False)))
    if reference is not None:
        notes.append(_significance_note(reference, alpha, tex=False).replace("*", "\\*", 1))
    if not pub.empty:
        notes.append(_published_note(published_source, tex=False))
    lines += [""] + [f"{n}  " for n in notes]

    full = _part(summary, protocol, DATASET_METRICS)
    dcells = _Cells(full, groups, DATASET_METRICS, fmt, unranked=missing)
    pct = f"{level * 100:g}%"
    head = ["Group", "Method"] + [x for m in DATASET_METRICS for x in (METRIC_LABELS[m], f"{pct} CI")]
    lines += ["", f"### {protocol} per dataset: mean ± std over seeds and {pct} CI (bootstrap over subjects, "
              f"{n_resamples} resamples)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        for meth in dict.fromkeys(full.loc[full["group"] == g, "method"]):
            row = [g, _md_escape(meth) + mark.get(meth, "")]
            for m in DATASET_METRICS:
                r = dcells.rows.get((meth, g, m))
                if r is None or "ci_low" not in full.columns:
                    row += ["--" if r is None else _fmt(r.mean, r.std, fmt), ""]
                    continue
                row += [_md_marked(_fmt(r.mean, r.std, fmt), dcells.mark(meth, g, m)), fmt.ci(r.ci_low, r.ci_high)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def terminal_table(summary: pd.DataFrame, protocol: str, incomplete: Mapping[tuple[str, str], str] | None = None,
                   fmt: NumberFormat = PLAIN, mixed: Mapping[tuple[str, str], str] | None = None) -> str:
    """The main table as aligned plain text: as wide as its content (never cut to a terminal's width)."""
    part = _part(summary, protocol, TABLE_METRICS)
    groups = _groups_in_order(part)
    cell = {(r.method, r.group, r.metric): (r.mean, r.std) for r in part.itertuples()}
    leaky = set(part.loc[part["leaky"].astype(bool), "method"])
    missing = _incomplete_of(incomplete, protocol, part)
    versions = _incomplete_of(mixed, protocol, part)
    headers = ["Method"] + [f"{g} {METRIC_LABELS[m]}{fmt.unit()}" for g in groups for m in TABLE_METRICS]
    rows = [[meth + (" † (leaky)" if meth in leaky else "") + (" ‡ (incomplete)" if meth in missing else "")
             + (f" {MIXED_MARK} (mixed versions)" if meth in versions else "")]
            + [_fmt(*cell[(meth, g, m)], fmt) if (meth, g, m) in cell else "--" for g in groups for m in TABLE_METRICS]
            for meth in dict.fromkeys(part["method"])]
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [f"{protocol}: pooled UF1 / UAR, mean ± std over seeds"]
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    if missing:
        lines.append(_incomplete_note(missing, tex=False))
    if versions:
        lines.append(_mixed_note(versions, tex=False))
    return "\n".join(lines)


def wide_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """summary.csv: one row per protocol and method, a column per group, metric and statistic
    (e.g. ``Full_uf1_mean``, ``Full_uf1_std``, ``Full_uf1_ci_low``, ``Full_uf1_ci_high``)."""
    stats = [c for c in ("mean", "std", "ci_low", "ci_high") if c in summary.columns]
    id_cols = [c for c in ("protocol", "method", "data", "epoch_selection", "tuning", "leaky", "complete",
                           "mixed_versions") if c in summary.columns]
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


def latex_methods_table(costs: pd.DataFrame) -> str:
    """Per method: parameters, forward FLOPs per sample, training time per fold, devices (booktabs)."""
    lines = [*TEX_HEADER[:1], r"\begin{table}[t]", r"\centering", r"\footnotesize", r"\begin{tabular}{lrrrl}", r"\toprule",
             r"Method & Parameters & FLOPs / sample & s / fold & Device \\", r"\midrule"]
    for r in costs.drop_duplicates("method").itertuples():
        lines.append(f"{_tex_escape(r.method)} & {_count(r.parameters)} & {_count(r.flops_per_sample)} & "
                     f"{r.seconds_per_fold:.1f} & {_tex_escape(r.devices)} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}",
              r"\caption{Model size, forward FLOPs per 28$\times$28 sample (torch's flop counter) and median training time "
              r"per fold, with the device it ran on.}", r"\label{tab:mebench-methods}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def markdown_methods_table(costs: pd.DataFrame) -> str:
    lines = ["### Methods: size and cost", "", "| Method | Parameters | FLOPs / sample | s / fold | Device |",
             "|---|---|---|---|---|"]
    for r in costs.drop_duplicates("method").itertuples():
        lines.append(f"| {_md_escape(r.method)} | {_count(r.parameters)} | {_count(r.flops_per_sample)} | "
                     f"{r.seconds_per_fold:.1f} | {r.devices} |")
    return "\n".join(lines) + "\n"
