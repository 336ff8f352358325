"""The statistics of one run: a thin layer from the run's predictions to ``reports.statistics``.

Every function takes the frame of :func:`reports.results.load_predictions` (one row per test
sample, seed and method variant) and returns a tidy frame; nothing here writes files. The
variant label (e.g. ``htnet (oracle)``) plays the role of the method everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import SupportsInt, cast

import numpy as np
import pandas as pd

from mebench.errors import UnknownNameError
from mebench.metrics import confusion_matrix, uf1_from_confusion
from mebench.reports import statistics as st
from mebench.reports.results import VARIANT_KEYS, group_masks
from mebench.selection import LEAKY
from mebench.sizes import network_size

SUMMARY_COLUMNS = ["method", "protocol", "data", "preset", "overrides", "epoch_selection", "tuning", "leaky", "group",
                   "metric", "mean", "std", "seeds", "ci_low", "ci_high"]
VARIANT_INFO = ("data", "preset", "overrides", "epoch_selection", "tuning", "leaky")  # per row of the summary
CHOSEN = ("nested", "test-scored")  # the tuning rules whose rows reports.tuning assembles
P_COLUMNS = ["p_permutation", "p_mcnemar", "p_wilcoxon"]
STATS_COLUMNS = ["protocol", "method", "reference", "group", "seed", "n_seeds", "n_subjects", "n_samples",
                 "uf1_method", "uf1_reference", "uf1_diff", "uf1_diff_low", "uf1_diff_high", *P_COLUMNS,
                 *(f"{p}_holm" for p in P_COLUMNS)]


def _as_methods(preds: pd.DataFrame) -> pd.DataFrame:
    """The predictions with the variant label as the statistics layer's ``method``."""
    return preds.assign(method=preds["variant"]).reset_index(drop=True)


def class_names(frame: pd.DataFrame) -> list[str]:
    """The longest class-name list of a protocol's predictions (all variants share it in practice)."""
    return max((json.loads(c) for c in frame["class_names"].unique()), key=len)


def _variant_info(preds: pd.DataFrame) -> pd.DataFrame:
    preds = preds.assign(**{c: "" for c in ("tuning", "preset", "overrides") if c not in preds.columns})
    return preds[["variant", *VARIANT_INFO]].drop_duplicates("variant").set_index("variant")


def summary_table(preds: pd.DataFrame, *, n_resamples: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """UF1, UAR and accuracy per variant, protocol and reporting group: mean and std over seeds and
    the subject-bootstrap CI of the mean (``statistics.summary_with_ci``)."""
    parts = []
    for protocol, frame in preds.groupby("protocol", sort=False):
        frame = _as_methods(frame)
        out = st.summary_with_ci(frame, len(class_names(frame)), groups=group_masks(protocol, frame),
                                 n_resamples=n_resamples, seed=seed, level=level)
        info = _variant_info(frame)
        out = out.rename(columns={"n_seeds": "seeds"})
        out["protocol"] = protocol
        for col in VARIANT_INFO:
            out[col] = out["method"].map(info[col])
        parts.append(out[SUMMARY_COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SUMMARY_COLUMNS)


def default_reference(preds: pd.DataFrame, first_method: str | None = None) -> str:
    """The first method of the run's `--methods` (its `final` variant where it has one); without a stored
    specification, the variant of the earliest planned cell (a run plans its methods in --methods order)."""
    part = preds[preds["method"] == first_method] if first_method is not None else preds.iloc[0:0]
    if part.empty:
        part = preds
    final = part[part["epoch_selection"] == "final"]
    part = final if len(final) else part
    return str(part.loc[cast(int, part["cell_order"].idxmin()), "variant"])


@dataclass
class Comparisons:
    """Every variant against the reference: ``stats`` (stats.csv rows) and why some were left out."""

    reference: str
    stats: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def significant(self, alpha: float = 0.05, test: str = "p_permutation_holm") -> set[tuple[str, str, str]]:
        """(protocol, method, group) whose Holm-adjusted p is below ``alpha``."""
        rows = self.stats[(self.stats["seed"] == "all") & (self.stats[test] < alpha)]
        return {(str(r.protocol), str(r.method), str(r.group)) for r in rows.itertuples()}


def _comparable(frame: pd.DataFrame, reference: str, variant: str) -> str | None:
    """Why ``variant`` cannot be paired with ``reference`` (None when it can)."""
    ref, other = frame[frame["method"] == reference], frame[frame["method"] == variant]
    if set(ref["data"]) != set(other["data"]):
        return f"{variant!r} ran on other data than the reference"
    seeds = sorted(set(ref["seed"]) & set(other["seed"]))
    if not seeds:
        return f"{variant!r} shares no seed with the reference"
    keys = ["seed", "dataset", "subject", "sample", "y_true"]
    a = ref[ref["seed"].isin(seeds)][keys].drop_duplicates()
    b = other[other["seed"].isin(seeds)][keys].drop_duplicates()
    if len(a) != len(b) or len(a.merge(b, on=keys)) != len(a):
        return f"{variant!r} predicted other samples than the reference on the shared seeds (unfinished cells?)"
    return None


def resolve_reference(preds: pd.DataFrame, reference: str) -> str:
    """The variant `--reference` names: its variant label or its table label (display name, `STSTNet`,
    `HTNet [quick] (oracle)`), either without regard to case; else an UnknownNameError with suggestions."""
    import difflib

    labels: dict[str, set[str]] = {}
    for variant, shown in preds[["variant", "display_name"]].drop_duplicates().itertuples(index=False):
        for label in (variant, shown):
            labels.setdefault(str(label).lower(), set()).add(variant)
    found = labels.get(reference.strip().lower(), set())
    if len(found) == 1:
        return found.pop()
    if len(found) > 1:
        raise UnknownNameError(f"--reference {reference!r} names several rows ({', '.join(sorted(found))}); give one")
    shown = list(dict.fromkeys([*sorted(preds["variant"].unique()), *preds["display_name"].unique()]))
    close = difflib.get_close_matches(reference, shown, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else f"; methods: {', '.join(shown)}"
    raise UnknownNameError(f"--reference {reference!r} is not a method of this run{hint}")


def compare(preds: pd.DataFrame, reference: str | None = None, *, n_resamples: int = 2000,
            n_permutations: int = 10000, seed: int = 0, level: float = 0.95, first_method: str | None = None) -> Comparisons:
    """``statistics.compare_to_reference`` per protocol, on the variants that can be paired with it.

    The stats rows have ``seed == "all"`` for the tests over all seeds at once (Holm-adjusted p across
    the compared variants per protocol, test and group; mean UF1 difference and its CI) and the seed
    number for the per-seed tests (raw p-values).
    """
    variants = sorted(preds["variant"].unique())
    if reference is None:
        reference = default_reference(preds, first_method)
    elif reference not in variants:
        reference = resolve_reference(preds, reference)
    parts, notes = [], []
    for protocol, frame in preds.groupby("protocol", sort=False):
        frame = _as_methods(frame)
        if reference not in set(frame["method"]):
            notes.append(f"{protocol}: the reference {reference!r} has no results under this protocol; no comparisons")
            continue
        keep = [reference]
        for variant in pd.unique(frame["method"]):
            if variant == reference:
                continue
            why = _comparable(frame, reference, variant)
            if why:
                notes.append(f"{protocol}: {why}; not compared")
            else:
                keep.append(variant)
        if len(keep) < 2:
            continue
        frame = frame[frame["method"].isin(keep)].reset_index(drop=True)
        summary, per_seed = st.compare_to_reference(
            frame, reference, len(class_names(frame)), groups=group_masks(protocol, frame), n_resamples=n_resamples,
            n_permutations=n_permutations, seed=seed, level=level, return_per_seed=True)
        summary["seed"] = "all"
        per_seed["seed"] = per_seed["seed"].astype(int).astype(str)
        both = pd.concat([summary, per_seed], ignore_index=True)
        both["protocol"] = protocol
        parts.append(both.reindex(columns=STATS_COLUMNS))
    stats = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STATS_COLUMNS)
    return Comparisons(reference, stats, notes)


# --------------------------------------------------------------------------- several methods, several blocks

@dataclass
class FriedmanAnalysis:
    """Friedman + Nemenyi over blocks (protocol/group slices) x variants; ``reason`` when not run."""

    metric: str
    scores: pd.DataFrame | None = None  # blocks x methods, mean over seeds
    result: st.FriedmanResult | None = None
    cd: float = float("nan")
    alpha: float = 0.05
    reason: str | None = None
    dropped: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        """friedman.csv: one row per method with its average rank and the test's numbers."""
        r = self.result
        assert r is not None and self.scores is not None  # asked only of a test that ran
        return pd.DataFrame(dict(
            method=r.avg_ranks.index, avg_rank=r.avg_ranks.to_numpy(), metric=self.metric, n_blocks=r.n_blocks,
            k_methods=r.k_methods, chi2=r.statistic, p=r.pvalue, iman_davenport_f=r.iman_davenport,
            iman_davenport_p=r.iman_davenport_p, alpha=self.alpha, critical_difference=self.cd,
            blocks="; ".join(self.scores.index)))


def block_scores(summary: pd.DataFrame, metric: str = "uf1") -> pd.DataFrame:
    """Mean score over seeds, blocks x variants. A block is one reporting group of a protocol: the
    groups other than Full where a protocol has them (the datasets of the composite), else Full."""
    part = summary[summary["metric"] == metric]
    blocks = []
    for protocol, frame in part.groupby("protocol", sort=False):
        groups = [g for g in pd.unique(frame["group"]) if g != "Full"] or ["Full"]
        for g in groups:
            blocks.append(frame[frame["group"] == g].assign(block=f"{protocol}/{g}"))
    if not blocks:
        return pd.DataFrame()
    long = pd.concat(blocks)
    order = list(pd.unique(long["method"]))
    return long.pivot(index="block", columns="method", values="mean").reindex(
        index=list(pd.unique(long["block"])), columns=order)


def friedman_analysis(summary: pd.DataFrame, metric: str = "uf1", alpha: float = 0.05) -> FriedmanAnalysis:
    out = FriedmanAnalysis(metric, alpha=alpha)
    table = block_scores(summary, metric)
    if table.empty:
        out.reason = "no results"
        return out
    complete = table.columns[table.notna().all(axis=0)]
    out.dropped = [m for m in table.columns if m not in complete]
    table = table[complete]
    out.scores = table
    n, k = table.shape
    if k < 3 or n < 2:
        out.reason = (f"the Friedman test and the Nemenyi critical difference need >= 3 methods scored on >= 2 "
                      f"datasets or protocols; this run has {k} method(s) with results on all of {n} block(s)"
                      + (f" ({', '.join(table.index)})" if n else ""))
        return out
    if (table.nunique(axis=1) == 1).all():
        out.reason = "every method has the same score on every block: there is no ranking to test"
        return out
    out.result = st.friedman(table)
    out.cd = st.nemenyi_cd(k, n, alpha)
    return out


# --------------------------------------------------------------------------- figures' data

def confusion_matrices(preds: pd.DataFrame) -> dict[tuple[str, str], tuple[np.ndarray, list[str]]]:
    """(protocol, variant) -> (row-normalised confusion matrix pooled over folds and seeds, class names).

    Row t holds the share of class-t samples predicted as each class (rows of absent classes are 0).
    """
    out: dict[tuple[str, str], tuple[np.ndarray, list[str]]] = {}
    for (protocol, variant), frame in preds.groupby(["protocol", "variant"], sort=False):
        names = class_names(frame)
        cm = confusion_matrix(frame["y_true"].to_numpy(), frame["y_pred"].to_numpy(), len(names)).astype(float)
        totals = cm.sum(axis=1, keepdims=True)
        out[(str(protocol), str(variant))] = (np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0), names)
    return out


def subject_scores(preds: pd.DataFrame) -> pd.DataFrame:
    """Per-subject accuracy, mean over seeds: method, protocol, dataset, subject, accuracy, n (samples per seed).

    Accuracy rather than UF1: a subject holds a handful of samples, often of one class, where
    per-class F1 is mostly undefined.
    """
    frame = preds.assign(correct=(preds["y_true"] == preds["y_pred"]).astype(float))
    per_seed = frame.groupby(["variant", "protocol", "dataset", "subject", "seed"], sort=False)["correct"].agg(
        accuracy="mean", n="size").reset_index()
    out = per_seed.groupby(["variant", "protocol", "dataset", "subject"], sort=False).agg(
        accuracy=("accuracy", "mean"), n=("n", "max")).reset_index()
    return out.rename(columns={"variant": "method"})


def leakage_gaps(preds: pd.DataFrame, results: pd.DataFrame, *, n_resamples: int = 2000, n_permutations: int = 10000,
                 seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Leaky minus honest score, paired, per protocol, group and metric:

    - ``kind`` = "epoch selection": oracle (and oracle-stop) minus final of the same configuration (method, preset, parameters,
      precision, data): both read the same trainings (or the same seeds);
    - ``kind`` = "tuning": every leaky row of a hyperparameter search (test-scored, or an oracle epoch) minus the
      search's honest row (nested configuration, final epoch; else nested with its first honest selection), on
      the same samples and seeds.

    ``method`` is the honest row, ``oracle_method`` the leaky one. ``gap`` is the mean over seeds of the per-seed gap
    (``gap_std`` its std, ddof=1). For UF1 also the subject-bootstrap CI of the gap (``gap_low``, ``gap_high``) and
    the two-sided p of the paired permutation test over subjects, all seeds at once (``p``).

    ``results`` is :func:`reports.results.tidy_results`. Empty when no configuration has both.
    """
    columns = ["method", "oracle_method", "protocol", "group", "metric", "final", "oracle", "gap", "gap_std",
               "gap_low", "gap_high", "p", "seeds", "kind"]
    base = [k for k in VARIANT_KEYS if k != "epoch_selection"]
    tuned = preds["tuning"].isin(CHOSEN) if "tuning" in preds.columns else pd.Series(False, index=preds.index)
    combos = preds.loc[~tuned, VARIANT_KEYS + ["variant"]].drop_duplicates()
    pairs = []
    for _, same in combos.groupby(base, sort=False):
        labels = dict(zip(same["epoch_selection"], same["variant"]))
        if "final" in labels:
            pairs += [(labels["final"], labels[s], "epoch selection") for s in sorted(LEAKY) if s in labels]
    if tuned.any():
        rows = preds.loc[tuned, ["search", "tuning", "epoch_selection", "leaky", "variant"]].drop_duplicates("variant")
        for _, part in rows.groupby("search", sort=False):
            honest = part[(part["tuning"] == "nested") & ~part["leaky"].astype(bool)]
            if honest.empty:
                continue
            final = honest[honest["epoch_selection"] == "final"]
            reference = (final if len(final) else honest)["variant"].iloc[0]
            pairs += [(reference, v, "tuning") for v in part.loc[part["leaky"].astype(bool), "variant"]]
    out = []
    for honest, leaky, kind in pairs:
        final = results[results["method"] == honest]
        oracle = results[results["method"] == leaky]
        keys = ["protocol", "group", "metric", "seed"]
        paired = final[keys + ["value"]].merge(oracle[keys + ["value"]], on=keys, suffixes=("_final", "_oracle"))
        paired["gap"] = paired["value_oracle"] - paired["value_final"]
        for (protocol, group, metric), part in paired.groupby(["protocol", "group", "metric"], sort=False):
            low = high = p = np.nan
            if metric == "uf1":
                low, high, p = _paired_uf1_gap(preds, honest, leaky, protocol, group, sorted(part["seed"]), n_resamples,
                                               n_permutations, seed, level)
            out.append(dict(method=honest, oracle_method=leaky, protocol=protocol, group=group, metric=metric,
                            final=part["value_final"].mean(), oracle=part["value_oracle"].mean(), gap=part["gap"].mean(),
                            gap_std=part["gap"].std(ddof=1) if len(part) > 1 else np.nan, gap_low=low, gap_high=high,
                            p=p, seeds=len(part), kind=kind))
    return pd.DataFrame(out, columns=columns)


def _paired_uf1_gap(preds: pd.DataFrame, final: str, oracle: str, protocol: str, group: str, seeds: list,
                    n_resamples: int, n_permutations: int, seed: int, level: float) -> tuple[float, float, float]:
    """(CI low, CI high, permutation p) of UF1(oracle) - UF1(final) on one group, the samples paired by seed."""
    frame = preds[(preds["protocol"] == protocol) & preds["seed"].isin(seeds)]
    keys = ["seed", "dataset", "subject", "sample"]
    a = frame[frame["variant"] == oracle]
    b = frame[frame["variant"] == final]
    mask = group_masks(protocol, b)[group].to_numpy(dtype=bool)
    b = b[mask]
    joined = b[keys + ["y_true", "y_pred"]].merge(a[keys + ["y_pred"]], on=keys, suffixes=("_final", "_oracle"))
    if len(joined) != len(b) or joined.empty:
        return np.nan, np.nan, np.nan
    n_classes = len(class_names(frame))
    y = joined["y_true"].to_numpy(np.int64)
    po, pf = joined["y_pred_oracle"].to_numpy(np.int64), joined["y_pred_final"].to_numpy(np.int64)
    subjects = (joined["dataset"].astype(str) + "/" + joined["subject"].astype(str)).to_numpy()
    runs = joined["seed"].to_numpy()
    low, high = st.uf1_difference_ci(y, po, pf, subjects, n_classes, n_resamples, seed, level, repeats=runs)
    p = st.paired_permutation_test_seeds(y, po, pf, subjects, runs, n_classes, n_permutations, seed)
    return low, high, p


def learning_curves(preds: pd.DataFrame, records: dict) -> pd.DataFrame:
    """Pooled Full UF1 of the test predictions after every epoch, per configuration (its `final` variant),
    protocol and seed, from the stored epoch records of full trainings: variant, protocol, seed, epoch, uf1.
    A seed is left out unless every fold of it has a record with the same number of epochs."""
    rows = []
    final = preds[preds["epoch_selection"] == "final"]
    for (variant, protocol, seed), part in final.groupby(["variant", "protocol", "seed"], sort=False):
        cells = list(dict.fromkeys(part["cell_key"]))
        if not cells or any(c not in records for c in cells):
            continue
        n_classes = len(class_names(part))
        ys, preds_by_epoch = [], []
        for cell in cells:
            samples, record = records[cell]
            y = part[part["cell_key"] == cell].set_index("sample").loc[samples, "y_true"].to_numpy(np.int64)
            ys.append(y)
            preds_by_epoch.append(record.pred.astype(np.int64))
        if len({p.shape[0] for p in preds_by_epoch}) != 1:
            continue
        y = np.concatenate(ys)
        stacked = np.concatenate(preds_by_epoch, axis=1)
        for epoch in range(stacked.shape[0]):
            rows.append(dict(variant=variant, protocol=protocol, seed=int(cast(SupportsInt, seed)), epoch=epoch + 1,
                             uf1=uf1_from_confusion(confusion_matrix(y, stacked[epoch], n_classes))))
    return pd.DataFrame(rows, columns=["variant", "protocol", "seed", "epoch", "uf1"])


def oracle_epochs(preds: pd.DataFrame) -> pd.DataFrame:
    """The epoch the oracle picked for each test subject: variant (the final variant of the same
    configuration), protocol, seed, subject, epoch."""
    oracle = preds[preds["epoch_selection"] == "oracle"]
    if oracle.empty:
        return pd.DataFrame(columns=["variant", "protocol", "seed", "subject", "epoch"])
    base = [k for k in VARIANT_KEYS if k != "epoch_selection"]
    finals = preds[preds["epoch_selection"] == "final"].drop_duplicates(base).set_index(base)["variant"]
    picked = oracle.drop_duplicates(["variant", "protocol", "seed", "dataset", "subject"])
    out = picked.assign(subject=picked["dataset"].astype(str) + "/" + picked["subject"].astype(str))
    out["variant"] = [finals.get(tuple(r), None) for r in out[base].itertuples(index=False)]
    return out[out["variant"].notna()][["variant", "protocol", "seed", "subject", "epoch"]]


# Networks larger than this are not built to be counted (a report must not allocate or run an arbitrary
# network); HTNet at the paper preset has 140M parameters, CausalNet 277M. The forward pass is first counted on
# the meta device (no memory, no compute); one above MAX_COUNTED_FLOPS is not run for real.
MAX_COUNTED_PARAMETERS = 400_000_000
MAX_COUNTED_FLOPS = 50e9


def spec_methods(runs: pd.DataFrame | None) -> set[str]:
    """The methods the stored run specifications name: a run's `methods`, an evaluation's `method`."""
    named: set[str] = set()
    if runs is None or runs.empty:
        return named
    for command, spec in zip(runs["command"], runs["spec"]):
        try:
            spec = json.loads(spec)
        except (TypeError, ValueError):
            continue
        if not isinstance(spec, dict):
            continue
        methods = spec.get("methods") if command == "run" else [spec.get("method")]
        named |= {m for m in (methods or []) if isinstance(m, str)}
    return named


def method_costs(cells: pd.DataFrame, runs: pd.DataFrame | None = None,
                 notes: list[str] | None = None) -> pd.DataFrame:
    """What each method variant costs, as reviewers ask: trainable parameters and forward FLOPs per sample
    (torch's FlopCounterMode on one sample of the method's input, (1, 3, 28, 28) for most; NaN for a method that is not a torch network or
    whose plugin is not installed), training time per fold (median, robust to a fold that was paused or
    shared its cores, and total seconds over done cells), the
    devices it ran on. One row per variant and protocol (selections of one training share the row).

    The counts are those the run stored with its cells (mebench.sizes). For a folder written before runs stored them,
    a network is built only for a method that the stored run specifications (``runs``) name, with
    parameters its class accepts (``check_params``: within the declared bounds), and only up to
    MAX_COUNTED_PARAMETERS parameters and MAX_COUNTED_FLOPS: a results database is data, and must not make
    the report build whatever it names. Anything else is NaN, with the reason appended to ``notes``.

    ``tuning`` is the row's hyperparameter-search rule (empty when no search ran). A nested or test-scored row's
    seconds are what its search cost: per fold, every training its choice read (each configuration's inner or outer
    cell, and the chosen configuration's outer training); ``trainings`` counts them (the cells of the row itself
    for any other row)."""
    done = cells[cells["status"] == "done"]
    named = spec_methods(runs)
    searched = "search" in done.columns
    rows = []
    seen: dict[tuple, tuple[float, float]] = {}
    for (variant, protocol), part in done.groupby(["variant", "protocol"], sort=False):
        first = part.iloc[0]
        key = (first["method"], first["params_hash"])
        stored = _stored_size(part)
        if stored is not None:
            seen[key] = stored
        elif key not in seen:
            seen[key], why = _counted_size(first["method"], first["params"], first["training"], named)
            if why and notes is not None:
                notes.append(f"methods.csv: `{variant}`: {why}; its parameters and FLOPs are not counted")
        params, flops = seen[key]
        trainings = part.drop_duplicates("key")
        seconds = pd.to_numeric(trainings["seconds"], errors="coerce")
        tuning = str(first["tuning"]) if "tuning" in part.columns and isinstance(first["tuning"], str) else ""
        chosen = searched and tuning in CHOSEN
        # a search's row: its seconds are every training its choices read (all configurations: the search's cost)
        cost_cells = int(pd.to_numeric(trainings["search_trainings"]).sum()) if chosen else int(len(trainings))
        rows.append(dict(method=variant, protocol=protocol, epoch_selection=first["epoch_selection"],
                         parameters=params, flops_per_sample=flops, seconds_per_fold=float(seconds.median()),
                         seconds_total=float(seconds.sum()), folds=int(len(trainings)),
                         devices=", ".join(sorted({str(d) for d in trainings["device"].dropna()})) or "-",
                         tuning=tuning, trainings=cost_cells))
    return pd.DataFrame(rows, columns=["method", "protocol", "epoch_selection", "parameters", "flops_per_sample",
                                       "seconds_per_fold", "seconds_total", "folds", "devices", "tuning", "trainings"])


def _stored_size(part: pd.DataFrame) -> tuple[float, float] | None:
    """(parameters, FLOPs) the run stored with these cells (counted as they ran); None in a folder written before
    runs stored them, or for a method without a torch network."""
    if "parameters" not in part.columns:
        return None
    parameters = pd.to_numeric(part["parameters"], errors="coerce")
    flops = pd.to_numeric(part["flops"], errors="coerce")
    counted = parameters.notna().to_numpy()
    if not counted.any():
        return None
    return float(parameters[counted].iloc[0]), float(flops[counted].iloc[0])


def _counted_size(method: str, params_json, training: str, named: set[str]) -> tuple[tuple[float, float], str | None]:
    """((parameters, FLOPs), why not counted): NaN without a reason for a method that is no torch network
    (or whose plugin is gone, or a released checkpoint's cells); NaN with the reason when the stored run
    does not vouch for the network or it is over the budget."""
    nan = (np.nan, np.nan)
    if training == "checkpoint":  # released weights: the cell's parameters are the checkpoint's path
        return nan, None
    if method not in named:
        return nan, f"method {method!r} is not named by the stored run specification"
    try:
        from mebench import plugins

        cls = plugins.methods.get(method)
    except Exception:  # noqa: BLE001 - a report of a run whose plugin is gone still lists the rest
        return nan, None
    if not hasattr(cls, "build_network"):
        return nan, None
    try:
        params = json.loads(params_json)
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
        params = cls.check_params(params)
    except Exception as exc:  # noqa: BLE001 - ConfigError, bad JSON: either way not built
        return nan, f"its stored parameters are not ones the method accepts ({exc})"
    return network_size(cls, params, MAX_COUNTED_PARAMETERS, MAX_COUNTED_FLOPS)
