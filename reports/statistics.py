"""Statistics behind the reports: confidence intervals, paired tests, Friedman/Nemenyi.

Pure functions on numpy arrays and pandas frames: no I/O, no database. Saving figures and
writing ``stats.csv`` is the caller's job.

The unit of every resampling and every test is the *subject*: samples of one subject are not
independent (same face, same session), and the protocols leave whole subjects out. So

* the bootstrap resamples whole subjects with replacement and recomputes the *pooled* metric
  (UF1/UAR are pooled over folds, so they are not means of per-subject values);
* the paired permutation test swaps the predictions of two methods for whole subjects;
* the Wilcoxon test compares per-subject accuracies.

Only McNemar's test works per sample (it is the textbook exact test on discordant pairs).

Seeds (repeated training runs) in :func:`compare_to_reference`
--------------------------------------------------------------
Seed ``s`` of a method is paired with seed ``s`` of the reference (same folds, same samples);
seeds that only one of the two ran are left out. Concatenating seeds as if they were more
samples would count every sample several times. Instead every test keeps the subject as its
unit and uses all shared seeds at once:

* the permutation test's statistic is the mean over seeds of the per-seed pooled UF1
  difference, and a permutation swaps a subject's predictions between the two methods in every
  seed together (:func:`paired_permutation_test_seeds`);
* the Wilcoxon signed-rank test runs on each subject's accuracy averaged over seeds
  (:func:`seed_mean_subject_accuracy`);
* McNemar's test is a per-sample test of one pair of classifiers: with several seeds a sample's
  outcome is no longer one discordant pair, and no per-sample version stays valid without
  assuming samples independent, which they are not (they share subjects). So it is reported for
  single-seed comparisons only (NaN otherwise); the two subject-level tests carry the inference.

The per-seed rows (each seed's tests on its own) are returned too, for inspection. The *effect*
is the number the results table shows, the mean over shared seeds of
``UF1(method) - UF1(reference)``, and its confidence interval comes from one bootstrap over
subjects in which each resample draws the same subjects for every seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from mebench.errors import ConfigError, DataError, UnknownNameError
from mebench.metrics import FROM_CONFUSION, confusion_matrix, uf1_from_confusion

__all__ = [
    "bootstrap_ci",
    "uf1_difference_ci",
    "paired_permutation_test",
    "paired_permutation_test_seeds",
    "seed_mean_subject_accuracy",
    "mcnemar_exact",
    "wilcoxon_subjects",
    "holm",
    "compare_to_reference",
    "summary_with_ci",
    "FriedmanResult",
    "friedman",
    "nemenyi_q",
    "nemenyi_cd",
]

PREDICTION_COLUMNS = ["method", "seed", "fold", "dataset", "subject", "sample", "y_true", "y_pred"]
_CHUNK = 2048  # rows of resamples/permutations scored at once (bounds memory)
_TIE_TOL = 1e-12  # permuted statistics this close to the observed one count as "as extreme"


# --------------------------------------------------------------------------- building blocks

def _labels(y, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y).astype(np.int64, copy=False).ravel()
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}")
    return y


def _subject_codes(subjects, n: int) -> tuple[np.ndarray, int]:
    """Integer code per sample for its subject key, and the number of distinct subjects."""
    subjects = np.asarray(subjects).ravel()
    if subjects.size != n:
        raise ValueError(f"subjects has {subjects.size} entries for {n} samples")
    uniques, codes = np.unique(subjects.astype(str), return_inverse=True)
    return codes.ravel(), len(uniques)


def _subject_confusions(y_true, y_pred, codes, n_subjects: int, n_classes: int) -> np.ndarray:
    """Per-subject confusion matrices, flattened: shape (n_subjects, n_classes**2), float64.

    Counts are integers stored as floats, so sums of them (resamples, swaps) stay exact.
    """
    k = n_classes * n_classes
    flat = np.bincount(codes * k + y_true * n_classes + y_pred, minlength=n_subjects * k)
    return flat.reshape(n_subjects, k).astype(np.float64)


def _resample_counts(n_subjects: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """How often each subject is drawn in each bootstrap resample: shape (n_resamples, n_subjects)."""
    draws = rng.integers(0, n_subjects, size=(n_resamples, n_subjects))
    offsets = np.arange(n_resamples)[:, None] * n_subjects
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_subjects)
    return counts.reshape(n_resamples, n_subjects).astype(np.float64)


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval holding ``level`` of the bootstrap distribution."""
    if not 0 < level < 1:
        raise ConfigError(f"confidence level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _runs(repeats, n: int) -> list[np.ndarray]:
    """Row indices of each repeated run (training seed); one run holding everything by default."""
    if repeats is None:
        return [np.arange(n)]
    repeats = np.asarray(repeats).ravel()
    if repeats.size != n:
        raise ValueError(f"repeats has {repeats.size} entries for {n} samples")
    return [np.flatnonzero(repeats == r) for r in pd.unique(repeats)]


def _bootstrap(per_run_tables, statistic, n_subjects, n_resamples, seed, level):
    """Percentile CI of the mean over runs of ``statistic(*resampled tables)``.

    ``per_run_tables``: one tuple of (n_subjects, C*C) per-subject tables per run. Every resample
    draws one multiset of subjects and applies it to every run and every table, which keeps
    paired quantities paired.
    """
    if n_resamples < 1:
        raise ConfigError(f"n_resamples must be positive, got {n_resamples}")
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n_resamples, _CHUNK):
        weights = _resample_counts(n_subjects, min(_CHUNK, n_resamples - start), rng)
        per_run = [statistic(*(weights @ t for t in tables)) for tables in per_run_tables]
        values.append(np.mean(per_run, axis=0))
    return _interval(np.concatenate(values), level)


def _square(flat: np.ndarray, n_classes: int) -> np.ndarray:
    return flat.reshape(*flat.shape[:-1], n_classes, n_classes)


# --------------------------------------------------------------------------- confidence intervals

def bootstrap_ci(y_true, y_pred, subjects, n_classes: int, metric: str = "uf1", n_resamples: int = 2000,
                 seed: int = 0, level: float = 0.95, repeats=None) -> tuple[float, float]:
    """Percentile bootstrap CI of a pooled metric, resampling whole subjects with replacement.

    Each resample draws as many subjects as there are (keys such as ``"casme2/sub01"``), pools
    all their samples (a subject drawn twice counts twice) and recomputes ``metric`` ("uf1",
    "uar" or "accuracy") on the pooled confusion matrix. ``repeats`` (e.g. the training seed of
    every row) makes the statistic the mean over runs of the per-run metric, each resample
    drawing the same subjects in every run: the CI of a mean-over-seeds score.
    """
    if metric not in FROM_CONFUSION:
        raise ConfigError(f"unknown metric {metric!r}; expected one of {sorted(FROM_CONFUSION)}")
    y_true, y_pred = _labels(y_true, n_classes, "y_true"), _labels(y_pred, n_classes, "y_pred")
    codes, n_subjects = _subject_codes(subjects, y_true.size)
    score = FROM_CONFUSION[metric]
    tables = [(_subject_confusions(y_true[i], y_pred[i], codes[i], n_subjects, n_classes),)
              for i in _runs(repeats, y_true.size)]
    return _bootstrap(tables, lambda cm: score(_square(cm, n_classes)), n_subjects, n_resamples, seed, level)


def uf1_difference_ci(y_true, pred_a, pred_b, subjects, n_classes: int, n_resamples: int = 2000,
                      seed: int = 0, level: float = 0.95, repeats=None) -> tuple[float, float]:
    """Bootstrap CI of UF1(A) - UF1(B), both scored on the *same* resample of subjects.

    Resampling the pair together keeps the pairing: subject-level difficulty, shared by both
    methods, cancels out of the difference. ``repeats`` works as in :func:`bootstrap_ci`.
    """
    y_true = _labels(y_true, n_classes, "y_true")
    pred_a, pred_b = _labels(pred_a, n_classes, "pred_a"), _labels(pred_b, n_classes, "pred_b")
    codes, n_subjects = _subject_codes(subjects, y_true.size)
    tables = [(_subject_confusions(y_true[i], pred_a[i], codes[i], n_subjects, n_classes),
               _subject_confusions(y_true[i], pred_b[i], codes[i], n_subjects, n_classes))
              for i in _runs(repeats, y_true.size)]

    def diff(cm_a, cm_b):
        return uf1_from_confusion(_square(cm_a, n_classes)) - uf1_from_confusion(_square(cm_b, n_classes))

    return _bootstrap(tables, diff, n_subjects, n_resamples, seed, level)


# --------------------------------------------------------------------------- paired tests

def paired_permutation_test(y_true, pred_a, pred_b, subjects, n_classes: int, n_permutations: int = 10000,
                            seed: int = 0) -> float:
    """Two-sided p-value of the pooled UF1 difference A - B by swapping methods per whole subject.

    Under the null hypothesis the two methods are exchangeable on every subject, so swapping the
    A and B predictions of any set of subjects (a sign flip per subject) gives an equally likely
    difference. The p-value is the share of flips whose |UF1(A') - UF1(B')| is at least the
    observed one. With ``2**n_subjects <= n_permutations`` every flip is enumerated and the
    p-value is exact; otherwise ``n_permutations`` random flips are drawn (seeded) and
    p = (1 + hits) / (1 + n_permutations), which never reports an impossible p of 0.
    """
    return paired_permutation_test_seeds(y_true, pred_a, pred_b, subjects, None, n_classes, n_permutations, seed)


def paired_permutation_test_seeds(y_true, pred_a, pred_b, subjects, seeds, n_classes: int, n_permutations: int = 10000,
                                  seed: int = 0) -> float:
    """Two-sided p-value of the seed-mean pooled UF1 difference A - B, swapping methods per whole subject
    in every seed at once.

    Each seed's predictions are pooled separately (its own confusion matrices); the statistic is the mean
    over seeds of UF1(A, seed) - UF1(B, seed). Under the null hypothesis the two methods are exchangeable
    on every subject, whichever the seed, so a flip swaps a subject's A and B predictions in all seeds
    together: the subject is the unit, and the seeds only average out training noise. With
    ``2**n_subjects <= n_permutations`` every flip is enumerated (exact p); otherwise ``n_permutations``
    random flips, p = (1 + hits) / (1 + n_permutations). One seed gives :func:`paired_permutation_test`.
    """
    if n_permutations < 1:
        raise ConfigError(f"n_permutations must be positive, got {n_permutations}")
    y_true = _labels(y_true, n_classes, "y_true")
    pred_a, pred_b = _labels(pred_a, n_classes, "pred_a"), _labels(pred_b, n_classes, "pred_b")
    codes, n_subjects = _subject_codes(subjects, y_true.size)
    runs = _runs(seeds, y_true.size)
    totals_a, totals_b, deltas = [], [], []
    for i in runs:
        cm_a = _subject_confusions(y_true[i], pred_a[i], codes[i], n_subjects, n_classes)
        cm_b = _subject_confusions(y_true[i], pred_b[i], codes[i], n_subjects, n_classes)
        totals_a.append(cm_a.sum(axis=0))
        totals_b.append(cm_b.sum(axis=0))
        deltas.append(cm_b - cm_a)

    def abs_diff(flips: np.ndarray) -> np.ndarray:
        diffs = []
        for total_a, total_b, delta in zip(totals_a, totals_b, deltas):
            shift = flips @ delta
            a = uf1_from_confusion(_square(total_a + shift, n_classes))
            b = uf1_from_confusion(_square(total_b - shift, n_classes))
            diffs.append(np.atleast_1d(a - b))
        return np.abs(np.mean(diffs, axis=0))

    observed = abs_diff(np.zeros((1, n_subjects)))[0]
    exact = n_subjects < 63 and 2 ** n_subjects <= n_permutations
    total = 2 ** n_subjects if exact else n_permutations
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, total, _CHUNK):
        size = min(_CHUNK, total - start)
        if exact:  # bits of the flip numbers start .. start+size-1
            flips = (np.arange(start, start + size)[:, None] >> np.arange(n_subjects)) & 1
        else:
            flips = rng.integers(0, 2, size=(size, n_subjects))
        hits += int(np.sum(abs_diff(flips.astype(np.float64)) >= observed - _TIE_TOL))
    return hits / total if exact else (1 + hits) / (1 + total)


def mcnemar_exact(correct_a, correct_b) -> float:
    """McNemar's exact test: two-sided binomial test (p = 1/2) on the discordant pairs.

    Only the samples that exactly one method gets right carry information; under the null each
    such sample favours A or B with probability 1/2. p = min(1, 2 * P[X <= min(b, c)]) with
    X ~ Binomial(b + c, 1/2), which equals ``scipy.stats.binomtest(b, b + c).pvalue``; 1.0 when
    there are no discordant pairs.
    """
    correct_a, correct_b = np.asarray(correct_a, dtype=bool).ravel(), np.asarray(correct_b, dtype=bool).ravel()
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"correct_a and correct_b differ in length ({correct_a.size} vs {correct_b.size})")
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * sps.binom.cdf(min(b, c), b + c, 0.5)))


def wilcoxon_subjects(acc_a, acc_b) -> float:
    """Wilcoxon signed-rank test on paired per-subject accuracies; two-sided p.

    Uses Pratt's treatment of zero differences: subjects on which both methods score the same
    stay in the ranking (but add no rank to either side). With few samples per subject such ties
    are common, and dropping them (Wilcoxon's original rule) overstates significance. scipy
    picks the exact/permutation null for small samples and the normal approximation otherwise.
    Pairs with a NaN are dropped; all-zero differences (or no pairs) give p = 1.0.
    """
    acc_a, acc_b = np.asarray(acc_a, dtype=np.float64).ravel(), np.asarray(acc_b, dtype=np.float64).ravel()
    if acc_a.shape != acc_b.shape:
        raise ValueError(f"acc_a and acc_b differ in length ({acc_a.size} vs {acc_b.size})")
    keep = ~(np.isnan(acc_a) | np.isnan(acc_b))
    diff = acc_a[keep] - acc_b[keep]
    if not np.any(diff != 0):
        return 1.0
    return float(sps.wilcoxon(diff, zero_method="pratt").pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment (controls the family-wise error rate), in the input order.

    Sorted ascending, the i-th smallest of m p-values becomes max_{j<=i} min(1, (m - j + 1) p_(j)).
    NaNs stay NaN and do not count in m.
    """
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


# --------------------------------------------------------------------------- tidy frames

def _check_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise DataError(f"predictions frame lacks columns {missing}")
    if "protocol" in predictions.columns and predictions["protocol"].nunique() > 1:
        raise DataError("predictions frame mixes protocols; compare one protocol at a time")
    frame = predictions.reset_index(drop=True).copy()
    frame["subject_key"] = frame["dataset"].astype(str) + "/" + frame["subject"].astype(str)
    return frame


def _resolve_groups(frame: pd.DataFrame, original_index: pd.Index, groups) -> dict[str, np.ndarray]:
    """Reporting groups as boolean arrays over the rows of ``frame``.

    ``None``: only "Full" (every sample). A column name: "Full" plus one group per value of that
    column. A mapping name -> mask (boolean Series aligned on the predictions index, or array in
    row order): exactly those groups.
    """
    n = len(frame)
    if groups is None:
        return {"Full": np.ones(n, dtype=bool)}
    if isinstance(groups, str):
        if groups not in frame.columns:
            raise DataError(f"predictions frame has no group column {groups!r}")
        out = {"Full": np.ones(n, dtype=bool)}
        for value in pd.unique(frame[groups]):
            out[str(value)] = (frame[groups] == value).to_numpy()
        return out
    out = {}
    for name, mask in groups.items():
        if isinstance(mask, pd.Series):
            mask = mask.reindex(original_index).fillna(False)
        mask = np.asarray(mask, dtype=bool).ravel()
        if mask.size != n:
            raise DataError(f"group {name!r} mask has {mask.size} entries for {n} predictions")
        out[str(name)] = mask
    return out


def _paired_seed(ref: pd.DataFrame, other: pd.DataFrame, method: str, reference: str, seed) -> pd.DataFrame:
    """Join one seed of a method and of the reference sample by sample, checking they match."""
    keys = ["dataset", "subject", "sample"]
    for name, part in ((reference, ref), (method, other)):
        if part.duplicated(keys).any():
            raise DataError(f"{name!r} seed {seed} predicts some samples more than once")
    joined = ref.merge(other[keys + ["y_true", "y_pred"]], on=keys, how="outer",
                       suffixes=("_ref", "_m"), indicator=True)
    unmatched = int((joined["_merge"] != "both").sum())
    if unmatched:
        raise DataError(f"{method!r} and reference {reference!r} differ on {unmatched} samples of seed {seed}; "
                        "paired tests need the same samples")
    if (joined["y_true_ref"] != joined["y_true_m"]).any():
        raise DataError(f"{method!r} and reference {reference!r} disagree on true labels in seed {seed}")
    return joined


def _subject_accuracy(correct: np.ndarray, codes: np.ndarray, n_subjects: int) -> np.ndarray:
    """Accuracy per subject code (NaN for a subject without samples)."""
    counts = np.bincount(codes, minlength=n_subjects).astype(np.float64)
    hits = np.bincount(codes, weights=correct, minlength=n_subjects)
    return np.divide(hits, counts, out=np.full(n_subjects, np.nan), where=counts > 0)


def seed_mean_subject_accuracy(y_true, y_pred, subjects, seeds) -> tuple[np.ndarray, list[str]]:
    """Each subject's accuracy in each seed, averaged over the seeds: (accuracies, subject keys sorted)."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    subjects = np.asarray(subjects).astype(str).ravel()
    keys, codes = np.unique(subjects, return_inverse=True)
    runs = _runs(seeds, y_true.size)
    per_seed = [_subject_accuracy((y_pred[i] == y_true[i]).astype(float), codes[i], len(keys)) for i in runs]
    return np.nanmean(np.vstack(per_seed), axis=0), list(keys)


def _one_seed_tests(y, pred_m, pred_ref, subjects, n_classes, n_permutations, seed) -> dict:
    """UF1 of both methods, their difference and the three paired tests on one seed."""
    codes, n_subj = _subject_codes(subjects, y.size)
    ok_m, ok_ref = pred_m == y, pred_ref == y
    u_m = uf1_from_confusion(confusion_matrix(y, pred_m, n_classes))
    u_ref = uf1_from_confusion(confusion_matrix(y, pred_ref, n_classes))
    return dict(
        uf1_method=u_m, uf1_reference=u_ref, uf1_diff=u_m - u_ref,
        p_permutation=paired_permutation_test(y, pred_m, pred_ref, subjects, n_classes, n_permutations, seed),
        p_mcnemar=mcnemar_exact(ok_m, ok_ref),
        p_wilcoxon=wilcoxon_subjects(_subject_accuracy(ok_m, codes, n_subj), _subject_accuracy(ok_ref, codes, n_subj)),
    )


def compare_to_reference(predictions: pd.DataFrame, reference: str | None, n_classes: int, *, groups=None,
                         n_resamples: int = 2000, n_permutations: int = 10000, seed: int = 0,
                         level: float = 0.95, return_per_seed: bool = False):
    """Every method against ``reference`` on the same samples and seeds, per reporting group.

    ``predictions``: tidy rows with columns ``method, seed, fold, dataset, subject, sample,
    y_true, y_pred`` for one protocol; the subject key is ``dataset + "/" + subject``.
    ``reference``: a method name, or None for the first method in the frame. ``groups``: None
    ("Full" only), a column name, or a mapping name -> boolean mask (see ``_resolve_groups``);
    a sample's group is read from the reference's row.

    Seeds are paired; the permutation and Wilcoxon tests use every shared seed at once with the
    subject as unit, McNemar's test is given for single-seed comparisons only, and the row reports the
    mean-over-seeds UF1 difference with its subject-bootstrap CI (the module docstring says why). Holm's correction runs across the compared methods, per test and group.
    Returns one row per (method, group) with columns method, reference, group, n_seeds,
    n_subjects, n_samples, uf1_method, uf1_reference, uf1_diff, uf1_diff_low, uf1_diff_high,
    p_permutation, p_mcnemar, p_wilcoxon and their ``*_holm`` versions; with
    ``return_per_seed`` also the per-seed rows (method, reference, group, seed, uf1_method,
    uf1_reference, uf1_diff and the three raw p-values).
    Raises DataError when, on a shared seed, the samples or their true labels differ.
    """
    original_index = predictions.index
    frame = _check_predictions(predictions)
    masks = _resolve_groups(frame, original_index, groups)
    group_cols = {name: f"__group{i}" for i, name in enumerate(masks)}
    for name, col in group_cols.items():
        frame[col] = masks[name]

    methods = list(pd.unique(frame["method"]))
    if reference is None:
        reference = methods[0]
    if reference not in methods:
        raise UnknownNameError(f"reference method {reference!r} is not among {methods}")
    ref_all = frame[frame["method"] == reference]

    summary, per_seed = [], []
    for method in methods:
        if method == reference:
            continue
        other_all = frame[frame["method"] == method]
        seeds = sorted(set(ref_all["seed"]) & set(other_all["seed"]))
        if not seeds:
            raise DataError(f"{method!r} and reference {reference!r} share no seed")
        joined = pd.concat([_paired_seed(ref_all[ref_all["seed"] == s], other_all[other_all["seed"] == s],
                                         method, reference, s) for s in seeds], ignore_index=True)
        for group, col in group_cols.items():
            part = joined[joined[col].to_numpy(dtype=bool)]
            if part.empty:
                continue
            y, pa, pb = (part[c].to_numpy(np.int64) for c in ("y_true_ref", "y_pred_m", "y_pred_ref"))
            subj, run = part["subject_key"].to_numpy(str), part["seed"].to_numpy()
            rows = []
            for s in seeds:
                i = np.flatnonzero(run == s)
                if i.size:
                    rows.append(dict(method=method, reference=reference, group=group, seed=s,
                                     **_one_seed_tests(y[i], pa[i], pb[i], subj[i], n_classes, n_permutations, seed)))
            per_seed.extend(rows)
            seed_rows = pd.DataFrame(rows)
            low, high = uf1_difference_ci(y, pa, pb, subj, n_classes, n_resamples, seed, level, repeats=run)
            acc_m, _ = seed_mean_subject_accuracy(y, pa, subj, run)
            acc_ref, _ = seed_mean_subject_accuracy(y, pb, subj, run)
            summary.append(dict(
                method=method, reference=reference, group=group, n_seeds=len(rows),
                n_subjects=int(pd.Series(subj).nunique()),
                n_samples=int(part[["dataset", "subject", "sample"]].drop_duplicates().shape[0]),
                uf1_method=seed_rows["uf1_method"].mean(), uf1_reference=seed_rows["uf1_reference"].mean(),
                uf1_diff=seed_rows["uf1_diff"].mean(), uf1_diff_low=low, uf1_diff_high=high,
                p_permutation=paired_permutation_test_seeds(y, pa, pb, subj, run, n_classes, n_permutations, seed),
                p_mcnemar=float(seed_rows["p_mcnemar"].iloc[0]) if len(rows) == 1 else np.nan,
                p_wilcoxon=wilcoxon_subjects(acc_m, acc_ref),
            ))

    columns = ["method", "reference", "group", "n_seeds", "n_subjects", "n_samples", "uf1_method", "uf1_reference",
               "uf1_diff", "uf1_diff_low", "uf1_diff_high", "p_permutation", "p_mcnemar", "p_wilcoxon"]
    out = pd.DataFrame(summary, columns=columns)
    for test in ("p_permutation", "p_mcnemar", "p_wilcoxon"):
        out[f"{test}_holm"] = np.nan
        for _, idx in out.groupby("group", sort=False).groups.items():
            out.loc[idx, f"{test}_holm"] = holm(out.loc[idx, test])
    if return_per_seed:
        seed_columns = ["method", "reference", "group", "seed", "uf1_method", "uf1_reference", "uf1_diff",
                        "p_permutation", "p_mcnemar", "p_wilcoxon"]
        return out, pd.DataFrame(per_seed, columns=seed_columns)
    return out


def summary_with_ci(predictions: pd.DataFrame, n_classes: int, *, groups=None, n_resamples: int = 2000,
                    seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """UF1, UAR and accuracy per method and group: mean and std over seeds, and a subject-bootstrap CI.

    ``mean`` / ``std`` (ddof=1, NaN for one seed) are over per-seed pooled scores; the CI is the
    bootstrap CI of that mean over seeds, every resample drawing the same subjects in each seed.
    So the std shows the spread from training randomness and the CI the uncertainty from which
    subjects happen to be in the dataset (the training runs held fixed).
    Columns: method, group, metric, mean, std, n_seeds, ci_low, ci_high.
    """
    original_index = predictions.index
    frame = _check_predictions(predictions)
    masks = _resolve_groups(frame, original_index, groups)
    rows = []
    for method in pd.unique(frame["method"]):
        is_method = (frame["method"] == method).to_numpy()
        for group, mask in masks.items():
            part = frame[is_method & mask]
            if part.empty:
                continue
            y, p = part["y_true"].to_numpy(np.int64), part["y_pred"].to_numpy(np.int64)
            subj, run = part["subject_key"].to_numpy(str), part["seed"].to_numpy()
            for metric, score in FROM_CONFUSION.items():
                values = [float(score(confusion_matrix(y[run == s], p[run == s], n_classes)))  # already a float
                          for s in pd.unique(run)]
                low, high = bootstrap_ci(y, p, subj, n_classes, metric, n_resamples, seed, level, repeats=run)
                rows.append(dict(method=method, group=group, metric=metric, mean=float(np.mean(values)),
                                 std=float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                                 n_seeds=len(values), ci_low=low, ci_high=high))
    return pd.DataFrame(rows, columns=["method", "group", "metric", "mean", "std", "n_seeds", "ci_low", "ci_high"])


# --------------------------------------------------------------------------- several methods, several datasets

@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test over blocks (datasets/protocols) x methods, with Demšar's average ranks.

    ``avg_ranks``: rank 1 = best (highest score), ties share the average rank; sorted best first.
    ``iman_davenport``/``iman_davenport_p``: the F form Demšar (2006) recommends, less
    conservative than the chi-square form.
    """

    statistic: float
    pvalue: float
    avg_ranks: pd.Series
    n_blocks: int
    k_methods: int
    iman_davenport: float
    iman_davenport_p: float


def friedman(scores: pd.DataFrame) -> FriedmanResult:
    """Friedman's chi-square test on a blocks x methods score table (higher is better).

    Uses the tie-corrected statistic, as ``scipy.stats.friedmanchisquare`` does:
    chi2 = [12 / (N k (k+1)) * sum_j R_j^2 - 3 N (k+1)] / [1 - sum(t^3 - t) / (N k (k^2 - 1))],
    with R_j the rank sums and t the sizes of tied groups within a block. Needs complete blocks.
    """
    table = pd.DataFrame(scores)
    n, k = table.shape
    if k < 3 or n < 2:
        raise DataError(f"the Friedman test needs >= 3 methods and >= 2 blocks, got {k} methods x {n} blocks")
    if table.isna().any().any():
        raise DataError("the Friedman test needs a score for every method in every block (found NaN)")
    ranks = table.rank(axis=1, ascending=False, method="average")
    rank_sums = ranks.sum(axis=0).to_numpy()
    ties = sum(float(np.sum(c.astype(float) ** 3 - c)) for c in
               (np.unique(row, return_counts=True)[1] for row in table.to_numpy()))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    chi2 = (12.0 / (n * k * (k + 1)) * np.sum(rank_sums ** 2) - 3.0 * n * (k + 1)) / correction
    p = float(sps.chi2.sf(chi2, k - 1))
    # Iman & Davenport's F; infinite when every block ranks the methods identically.
    denom = n * (k - 1) - chi2
    f_stat = (n - 1) * chi2 / denom if denom > 0 else np.inf
    f_p = float(sps.f.sf(f_stat, k - 1, (k - 1) * (n - 1))) if np.isfinite(f_stat) else 0.0
    avg = (ranks.mean(axis=0)).sort_values(kind="stable")
    return FriedmanResult(float(chi2), p, avg, n, k, float(f_stat), f_p)


def nemenyi_q(k_methods: int, alpha: float = 0.05) -> float:
    """Two-tailed Nemenyi critical value q_alpha: studentized range quantile (df = inf) / sqrt(2).

    Reproduces Demšar (2006, JMLR 7, Table 5a) to its three decimals for k = 2..10.
    """
    if k_methods < 2:
        raise ConfigError(f"the Nemenyi test needs >= 2 methods, got {k_methods}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    return float(sps.studentized_range.ppf(1 - alpha, k_methods, np.inf) / np.sqrt(2))


def nemenyi_cd(k_methods: int, n_blocks: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: CD = q_alpha * sqrt(k (k+1) / (6 N))."""
    if n_blocks < 1:
        raise ConfigError(f"n_blocks must be positive, got {n_blocks}")
    return nemenyi_q(k_methods, alpha) * float(np.sqrt(k_methods * (k_methods + 1) / (6.0 * n_blocks)))


def __getattr__(name: str):
    """``cd_diagram`` moved to reports.figures (a drawing, not a statistic); still importable from here."""
    if name == "cd_diagram":
        from mebench.reports.figures import cd_diagram

        return cd_diagram
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
