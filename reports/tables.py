"""Paper tables: booktabs LaTeX and a terminal rendering of the same numbers."""

from __future__ import annotations

import math

import pandas as pd

from reports.results import METRIC_LABELS

TABLE_METRICS = ("uf1", "uar")
DAGGER_NOTE = (r"$^\dagger$ Epoch chosen per test subject by its test accuracy (the published HTNet protocol): "
               r"model selection on test data, so these figures are optimistic.")


def _groups_in_order(summary: pd.DataFrame) -> list[str]:
    groups = list(dict.fromkeys(summary["group"]))
    return ["Full"] + [g for g in groups if g != "Full"] if "Full" in groups else groups


def _fmt(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(a, b)
    return text


def latex_table(summary: pd.DataFrame, protocol: str, caption: str | None = None) -> str:
    """Methods x groups x {UF1, UAR}, mean ± std over seeds, best of each column in bold."""
    part = summary[(summary["protocol"] == protocol) & summary["metric"].isin(TABLE_METRICS)]
    groups = _groups_in_order(part)
    methods = list(dict.fromkeys(part["method"]))
    cell = {(r.method, r.group, r.metric): (r.mean, r.std) for r in part.itertuples()}
    best = {(g, m): max((cell[(meth, g, m)][0] for meth in methods if (meth, g, m) in cell), default=None)
            for g in groups for m in TABLE_METRICS}
    leaky = set(part.loc[part["leaky"], "method"])
    seeds = int(part["seeds"].max()) if len(part) else 0
    cols = "l" + "cc" * len(groups)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule"]
    lines.append("Method & " + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex_escape(g)}}}" for g in groups) + r" \\")
    lines.append("".join(rf"\cmidrule(lr){{{2 + 2 * i}-{3 + 2 * i}}}" for i in range(len(groups))))
    lines.append(" & " + " & ".join("UF1 & UAR" for _ in groups) + r" \\")
    lines.append(r"\midrule")
    for meth in methods:
        name = _tex_escape(meth) + (r"$^\dagger$" if meth in leaky else "")
        cells = []
        for g in groups:
            for m in TABLE_METRICS:
                if (meth, g, m) not in cell:
                    cells.append("--")
                    continue
                mean, std = cell[(meth, g, m)]
                text = f"{mean:.4f}" if math.isnan(std) else rf"{mean:.4f}\,$\pm$\,{std:.4f}"
                if best[(g, m)] is not None and math.isclose(mean, best[(g, m)], rel_tol=0, abs_tol=1e-12):
                    text = rf"\textbf{{{text}}}"
                cells.append(text)
        lines.append(name + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if leaky:
        lines.append(rf"\par\smallskip\footnotesize {DAGGER_NOTE}")
    cap = caption or (f"{_tex_escape(protocol)} protocol: UF1 and UAR on predictions pooled over all folds, "
                      f"mean $\\pm$ std over {seeds} seed{'s' if seeds != 1 else ''}; best in bold.")
    lines += [rf"\caption{{{cap}}}", rf"\label{{tab:mebench-{protocol}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def terminal_table(summary: pd.DataFrame, protocol: str):
    """A rich Table with the same content as the LaTeX one."""
    from rich.table import Table

    part = summary[(summary["protocol"] == protocol) & summary["metric"].isin(TABLE_METRICS)]
    groups = _groups_in_order(part)
    table = Table(title=f"{protocol}: pooled UF1 / UAR, mean ± std over seeds")
    table.add_column("Method")
    for g in groups:
        for m in TABLE_METRICS:
            table.add_column(f"{g} {METRIC_LABELS[m]}", justify="right")
    cell = {(r.method, r.group, r.metric): (r.mean, r.std) for r in part.itertuples()}
    leaky = set(part.loc[part["leaky"], "method"])
    for meth in dict.fromkeys(part["method"]):
        label = meth + (" † (leaky)" if meth in leaky else "")
        table.add_row(label, *[_fmt(*cell[(meth, g, m)]) if (meth, g, m) in cell else "--" for g in groups for m in TABLE_METRICS])
    return table
