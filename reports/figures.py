"""Report figures (seaborn, saved as PDF and PNG): confusion matrices, the critical-difference
diagram, per-subject score distributions and the leakage gap.

Each function draws from a tidy frame of :mod:`reports.analysis` and returns the paths it wrote.
Matplotlib runs on the non-interactive Agg backend. The same input gives byte-identical files: the
strip plot's jitter is seeded, and no creation date or software version is written into the PDF or PNG.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mebench.errors import DataError
from mebench.protocol import dataset_display_name
from mebench.reports.results import METRIC_LABELS

DPI = 150
JITTER_SEED = 0
# Metadata that would make two renderings of the same figure differ (a date, the matplotlib version).
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
PNG_METADATA = {"Software": None}
NOTE_WIDTH = 110  # characters per line of the note below a figure


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, stem: str, note: str = "") -> list[Path]:
    """Write the figure as PDF and PNG; ``note`` (what produced it: preset, parameters, data) is printed below it."""
    if note:
        fig.text(0.0, 0.0, textwrap.fill(note, NOTE_WIDTH), fontsize=7, ha="left", va="top", color="0.25")
    paths = [out / f"{stem}.pdf", out / f"{stem}.png"]
    fig.savefig(paths[0], bbox_inches="tight", metadata=PDF_METADATA)
    fig.savefig(paths[1], bbox_inches="tight", dpi=DPI, metadata=PNG_METADATA)
    _plt().close(fig)
    return paths


@contextlib.contextmanager
def _seeded(seed: int = JITTER_SEED):
    """numpy's global generator seeded for seaborn's jitter (it takes no generator), then restored."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower() or "x"


def confusion_figure(matrices: dict, protocol: str, out: Path, note: str = "") -> list[Path]:
    """One panel per method: the row-normalised confusion matrix (true class in rows), pooled over
    folds and seeds."""
    import seaborn as sns

    plt = _plt()
    items = [(variant, m) for (p, variant), m in matrices.items() if p == protocol]
    if not items:
        return []
    cols = min(4, len(items))
    rows = math.ceil(len(items) / cols)
    n = len(items[0][1][1])
    size = 1.1 + 0.55 * n
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size + 0.6, rows * size), squeeze=False)
    for ax, (variant, (cm, names)) in zip(axes.flat, items):
        sns.heatmap(cm, ax=ax, vmin=0, vmax=1, cmap="Blues", annot=True, fmt=".2f", cbar=False, square=True,
                    xticklabels=names, yticklabels=names, annot_kws={"fontsize": 8})
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(items):]:
        ax.set_axis_off()
    fig.suptitle(f"{protocol}: confusion matrices (rows sum to 1)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out, f"fig_confusion_{_slug(protocol)}", note)


def cd_figure(avg_ranks: pd.Series, cd: float, title: str, out: Path, note: str = "") -> list[Path]:
    """The Demšar critical-difference diagram (drawn by ``cd_diagram``)."""
    _plt()
    fig = cd_diagram(dict(avg_ranks), cd, title=title)
    return _save(fig, out, "fig_cd", note)


def subject_figure(subjects: pd.DataFrame, protocol: str, out: Path, note: str = "") -> list[Path]:
    """Per-subject accuracy (mean over seeds) of each method: box plot with one dot per subject,
    coloured by source dataset."""
    import seaborn as sns

    plt = _plt()
    part = subjects[subjects["protocol"] == protocol]
    if part.empty:
        return []
    part = part.assign(dataset=part["dataset"].map(dataset_display_name))  # the legend says CASME II, not casme2
    methods = list(dict.fromkeys(part["method"]))
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(methods), 3.2))
    with warnings.catch_warnings():  # seaborn's own call of a deprecated matplotlib argument
        warnings.simplefilter("ignore", DeprecationWarning)
        sns.boxplot(data=part, x="method", y="accuracy", order=methods, ax=ax, color="0.9", fliersize=0, width=0.6)
    hue = "dataset" if part["dataset"].nunique() > 1 else None
    with _seeded():
        sns.stripplot(data=part, x="method", y="accuracy", order=methods, hue=hue, ax=ax, size=3, alpha=0.7,
                      jitter=0.2, dodge=False)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("")
    ax.set_ylabel("per-subject accuracy")
    ax.set_title(f"{protocol}: per-subject accuracy (mean over seeds)", fontsize=10)
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    if hue:
        ax.legend(title="dataset", fontsize=7, title_fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _save(fig, out, f"fig_subjects_{_slug(protocol)}", note)


def leakage_figure(gaps: pd.DataFrame, out: Path, metric: str = "uf1", note: str = "") -> list[Path]:
    """Oracle minus final score per method and reporting group (and each leaky row of a hyperparameter search minus
    its nested row, labelled by the leaky row): the mean over seeds with the subject-bootstrap CI of the paired gap
    (UF1), else the std over seeds."""
    import seaborn as sns

    plt = _plt()
    part = gaps[gaps["metric"] == metric].copy()
    if part.empty:
        return []
    # a search's gaps are labelled by their leaky row (its honest one is the search's nested row)
    name = part["method"] if "kind" not in part.columns else part["method"].where(part["kind"] != "tuning",
                                                                                   part["oracle_method"])
    part["label"] = name + (" / " + part["protocol"] if part["protocol"].nunique() > 1 else "")
    labels = list(dict.fromkeys(part["label"]))
    groups = list(dict.fromkeys(part["group"]))
    fig, ax = plt.subplots(figsize=(1.8 + 0.5 * len(labels) * len(groups), 3.0))
    sns.barplot(data=part, x="label", y="gap", hue="group", order=labels, hue_order=groups, ax=ax, errorbar=None)
    with_ci = "gap_low" in part.columns and part["gap_low"].notna().any()
    width = 0.8 / len(groups)
    for gi, g in enumerate(groups):
        for li, lab in enumerate(labels):
            row = part[(part["label"] == lab) & (part["group"] == g)]
            if not len(row):
                continue
            r = row.iloc[0]
            x = li - 0.4 + width * (gi + 0.5)
            if with_ci and not np.isnan(r["gap_low"]):
                # a percentile interval need not contain the mean: clip the bar lengths at 0
                ax.errorbar(x, r["gap"], yerr=[[max(0.0, r["gap"] - r["gap_low"])], [max(0.0, r["gap_high"] - r["gap"])]],
                            color="black", capsize=2, lw=0.8)
            elif not np.isnan(r["gap_std"]):
                ax.errorbar(x, r["gap"], yerr=r["gap_std"], color="black", capsize=2, lw=0.8)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("")
    bars = "95% CI over subjects" if with_ci else "± std over seeds"
    if "kind" in part.columns and (part["kind"] == "tuning").any():  # a search's leaky rows against its nested row
        ax.set_ylabel(f"{METRIC_LABELS[metric]}: leaky − honest")
        ax.set_title(f"Leakage gap of test-data selection (epoch or configuration), paired ({bars})", fontsize=10)
    else:
        ax.set_ylabel(f"{METRIC_LABELS[metric]}: oracle − final")
        ax.set_title(f"Leakage gap of oracle epoch selection, same trainings ({bars})", fontsize=10)
    ax.legend(fontsize=7, title=None, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return _save(fig, out, "fig_leakage", note)


def curves_figure(curves: pd.DataFrame, picks: pd.DataFrame, protocol: str, out: Path, note: str = "") -> list[Path]:
    """Learning curves: pooled Full UF1 of the test predictions after each epoch, per method (mean over
    seeds, band from the lowest to the highest seed), the final epoch marked, and below, where the
    oracle picked its epochs (one tick per test subject and seed)."""
    plt = _plt()
    part = curves[curves["protocol"] == protocol]
    if part.empty:
        return []
    methods = list(dict.fromkeys(part["variant"]))
    fig, (ax, rug) = plt.subplots(2, 1, figsize=(6.4, 3.9), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    for k, method in enumerate(methods):
        m = part[part["variant"] == method]
        stats = m.groupby("epoch")["uf1"].agg(["mean", "min", "max"])
        line, = ax.plot(stats.index, stats["mean"], lw=1.2, label=f"{method} ({m['seed'].nunique()} seed(s))")
        ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2, lw=0)
        last = stats.index.max()
        ax.plot([last], [stats["mean"].iloc[-1]], marker="o", color=line.get_color(), ms=4)
        chosen = picks[(picks["variant"] == method) & (picks["protocol"] == protocol)]
        if len(chosen):
            rug.plot(chosen["epoch"], np.full(len(chosen), k), "|", color=line.get_color(), ms=8, alpha=0.5)
    ax.set_ylabel("pooled UF1 (Full)")
    ax.set_title(f"{protocol}: UF1 on the test folds after each epoch (dot: final epoch)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    rug.set_yticks(range(len(methods)))
    rug.set_yticklabels(["oracle picks"] * len(methods) if len(methods) == 1 else methods, fontsize=6)
    rug.set_ylim(-0.5, len(methods) - 0.5)
    rug.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator

    rug.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers (shared with the curves)
    ax.set_title("(a) " + ax.get_title(), fontsize=10)
    rug.set_title("(b) epochs the oracle keeps, per test subject", fontsize=8)
    fig.tight_layout()
    return _save(fig, out, f"fig_curves_{_slug(protocol)}", note)


def _cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs (i, j) of rank-sorted methods whose ranks differ by less than ``cd``."""
    out, last = [], -1
    for i in range(len(ranks)):
        j = i
        while j + 1 < len(ranks) and ranks[j + 1] - ranks[i] < cd:
            j += 1
        if j > i and j > last:  # not contained in the previous run
            out.append((i, j))
            last = j
    return out


def cd_diagram(avg_ranks: Mapping[str, float], cd: float, ax=None, title: str | None = None):
    """Critical-difference diagram (Demšar 2006, Fig. 1): returns the matplotlib figure.

    Methods hang off a rank axis (rank 1, the best, on the left); the better half is labelled on
    the left, the rest on the right. A bar of length CD sits above the axis, and thick bars
    below it join methods whose average ranks differ by less than CD (not significantly
    different). Method labels carry ``gid="cd-method"`` so they can be found again.
    """
    plt = _plt()
    if not avg_ranks:
        raise DataError("cd_diagram needs at least one method")
    items = sorted(avg_ranks.items(), key=lambda kv: kv[1])
    names, ranks = [n for n, _ in items], np.array([r for _, r in items], dtype=float)
    k = len(names)
    lo, hi = min(1.0, np.floor(ranks.min())), max(float(k), np.ceil(ranks.max()))
    cliques = _cliques(ranks, cd)
    n_left = (k + 1) // 2
    step, bar_gap = 0.25, 0.12
    top_of_labels = -0.2 - bar_gap * len(cliques)  # label lines start below the clique bars
    depth = top_of_labels - step * (max(n_left, k - n_left) + 1)

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, max(2.0, 1.2 + 0.3 * k + 0.15 * len(cliques))))
    fig = ax.figure
    ax.set_axis_off()
    span = hi - lo
    ax.set_xlim(lo - 0.35 * span - 0.5, hi + 0.35 * span + 0.5)
    ax.set_ylim(depth, 0.9)

    # Rank axis with integer ticks.
    ax.plot([lo, hi], [0, 0], color="black", lw=1)
    for t in np.arange(lo, hi + 1e-9):
        ax.plot([t, t], [0, 0.06], color="black", lw=1)
        ax.text(t, 0.1, f"{t:g}", ha="center", va="bottom", fontsize=9)
    # CD bar above the axis.
    if np.isfinite(cd) and cd > 0:
        ax.plot([lo, lo + cd], [0.55, 0.55], color="black", lw=1.5)
        for x in (lo, lo + cd):
            ax.plot([x, x], [0.5, 0.6], color="black", lw=1)
        ax.text(lo + cd / 2, 0.62, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    # Methods: elbow lines from the axis to labels at the sides.
    for idx, (name, r) in enumerate(zip(names, ranks)):
        left = idx < n_left
        row = idx if left else k - 1 - idx  # outermost methods get the lowest lines
        y = top_of_labels - step * (row + 1)
        x_end = lo - 0.1 * span - 0.2 if left else hi + 0.1 * span + 0.2
        ax.plot([r, r, x_end], [0, y, y], color="black", lw=0.8)
        ax.text(x_end + (-0.05 if left else 0.05), y, name, ha="right" if left else "left", va="center",
                fontsize=10, gid="cd-method")
        ax.text(r + (-0.03 if left else 0.03), y + 0.03, f"{r:.2f}", ha="right" if left else "left",
                va="bottom", fontsize=7, color="dimgray")
    # Cliques of methods not significantly different.
    for c, (i, j) in enumerate(cliques):
        y = -0.15 - bar_gap * c
        ax.plot([ranks[i] - 0.03, ranks[j] + 0.03], [y, y], color="black", lw=3, solid_capstyle="round")
    if title:
        ax.set_title(title)
    return fig
