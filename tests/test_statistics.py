"""Every statistic against an independent value: scipy, hand-computed numbers, brute force, Demšar's table."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as sps  # noqa: E402

from mebench.errors import DataError, UnknownNameError  # noqa: E402
from tests.reference_metrics import accuracy, uar, uf1  # noqa: E402  (expected values, not mebench's)
from mebench.reports.figures import _cliques, cd_diagram  # noqa: E402
from mebench.reports.statistics import (  # noqa: E402
    bootstrap_ci,
    compare_to_reference,
    friedman,
    holm,
    mcnemar_exact,
    nemenyi_cd,
    nemenyi_q,
    paired_permutation_test,
    paired_permutation_test_seeds,
    summary_with_ci,
    uf1_difference_ci,
    wilcoxon_subjects,
)


def fake_predictions(n_subjects, per_subject, acc, seed, n_classes=3, prefix="casme2/s"):
    """Labels cycling over classes; a prediction is right with probability ``acc``, else a random class."""
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"{prefix}{i:03d}" for i in range(n_subjects)], per_subject)
    y = np.arange(subjects.size) % n_classes
    wrong = (y + rng.integers(1, n_classes, y.size)) % n_classes
    pred = np.where(rng.random(y.size) < acc, y, wrong)
    return y, pred, subjects


# --------------------------------------------------------------------------- bootstrap

def test_bootstrap_ci_contains_estimate_and_is_deterministic():
    y, p, s = fake_predictions(20, 10, 0.6, seed=1)
    point = uf1(y, p, 3)
    low, high = bootstrap_ci(y, p, s, 3, n_resamples=500, seed=7)
    assert low < point < high
    assert bootstrap_ci(y, p, s, 3, n_resamples=500, seed=7) == (low, high)
    assert bootstrap_ci(y, p, s, 3, n_resamples=500, seed=8) != (low, high)
    for metric, value in (("uar", uar(y, p, 3)), ("accuracy", accuracy(y, p))):
        lo, hi = bootstrap_ci(y, p, s, 3, metric=metric, n_resamples=500)
        assert lo < value < hi


def test_bootstrap_ci_matches_a_naive_subject_bootstrap():
    # An independent loop: draw subjects, concatenate their samples, recompute UF1.
    y, p, s = fake_predictions(15, 8, 0.55, seed=2)
    names = np.unique(s)
    rng = np.random.default_rng(123)
    values = []
    for _ in range(2000):
        idx = np.concatenate([np.flatnonzero(s == name) for name in rng.choice(names, names.size)])
        values.append(uf1(y[idx], p[idx], 3))
    naive = np.percentile(values, [2.5, 97.5])
    ours = bootstrap_ci(y, p, s, 3, n_resamples=2000, seed=0)
    np.testing.assert_allclose(ours, naive, atol=0.025)


def test_bootstrap_ci_shrinks_with_more_subjects():
    few = bootstrap_ci(*fake_predictions(8, 10, 0.6, seed=3), 3, n_resamples=1000)
    many = bootstrap_ci(*fake_predictions(200, 10, 0.6, seed=3), 3, n_resamples=1000)
    assert many[1] - many[0] < (few[1] - few[0]) / 2


def test_bootstrap_single_subject_is_degenerate_and_repeats_average():
    y, p, s = fake_predictions(1, 12, 0.5, seed=4)
    low, high = bootstrap_ci(y, p, s, 3, n_resamples=50)
    assert low == pytest.approx(uf1(y, p, 3)) and high == pytest.approx(uf1(y, p, 3))
    # Two identical seeds: the mean over seeds equals each seed, so the CI is unchanged.
    y, p, s = fake_predictions(10, 6, 0.6, seed=5)
    twice = bootstrap_ci(np.r_[y, y], np.r_[p, p], np.r_[s, s], 3, n_resamples=300, repeats=np.repeat([0, 1], y.size))
    np.testing.assert_allclose(twice, bootstrap_ci(y, p, s, 3, n_resamples=300))


def test_uf1_difference_ci():
    y, a, s = fake_predictions(25, 8, 0.8, seed=6)
    _, b, _ = fake_predictions(25, 8, 0.5, seed=7)
    low, high = uf1_difference_ci(y, a, b, s, 3, n_resamples=1000)
    assert low < uf1(y, a, 3) - uf1(y, b, 3) < high
    assert low > 0  # 0.8 vs 0.5 accuracy over 200 samples: clearly apart
    # Swapping A and B mirrors the interval (same resamples, negated differences).
    rev = uf1_difference_ci(y, b, a, s, 3, n_resamples=1000)
    np.testing.assert_allclose(rev, (-high, -low), atol=1e-12)
    assert uf1_difference_ci(y, a, a, s, 3, n_resamples=100) == (0.0, 0.0)


# --------------------------------------------------------------------------- permutation test

def brute_force_permutation_p(y, a, b, subjects, n_classes):
    """Every subset of subjects swapped, UF1 recomputed from scratch on the swapped predictions."""
    names = list(dict.fromkeys(subjects))
    observed = abs(uf1(y, a, n_classes) - uf1(y, b, n_classes))
    hits = 0
    for flips in itertools.product([False, True], repeat=len(names)):
        swap = np.isin(subjects, [n for n, f in zip(names, flips) if f])
        a2, b2 = np.where(swap, b, a), np.where(swap, a, b)
        hits += abs(uf1(y, a2, n_classes) - uf1(y, b2, n_classes)) >= observed - 1e-12
    return hits / 2 ** len(names)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_permutation_test_is_exact_on_four_subjects(seed):
    rng = np.random.default_rng(seed)
    sizes = [3, 5, 4, 6]  # uneven subjects
    subjects = np.repeat(["smic/a", "smic/b", "samm/a", "samm/b"], sizes)
    y = rng.integers(0, 3, subjects.size)
    a = np.where(rng.random(y.size) < 0.8, y, rng.integers(0, 3, y.size))
    b = np.where(rng.random(y.size) < 0.4, y, rng.integers(0, 3, y.size))
    expected = brute_force_permutation_p(y, a, b, subjects, 3)
    assert paired_permutation_test(y, a, b, subjects, 3) == expected
    assert paired_permutation_test(y, a, b, subjects, 3, n_permutations=16) == expected


def test_permutation_test_hand_cases():
    # A perfect, B always wrong, 10 subjects: only "no swap" and "swap all" reach |diff| = 1.
    y, _, s = fake_predictions(10, 6, 1.0, seed=0)
    assert paired_permutation_test(y, y, (y + 1) % 3, s, 3, n_permutations=2 ** 10) == 2 / 2 ** 10
    assert paired_permutation_test(y, y, y, s, 3) == 1.0


def test_permutation_test_monte_carlo():
    y, a, s = fake_predictions(30, 5, 0.7, seed=8)
    _, b, _ = fake_predictions(30, 5, 0.6, seed=9)
    p = paired_permutation_test(y, a, b, s, 3, n_permutations=999, seed=3)
    assert 0 < p <= 1 and round(p * 1000, 9) == round(p * 1000)  # (1 + hits) / (1 + 999)
    assert paired_permutation_test(y, a, b, s, 3, n_permutations=999, seed=3) == p
    # A larger Monte Carlo run agrees within its sampling error.
    assert abs(paired_permutation_test(y, a, b, s, 3, n_permutations=20000, seed=4) - p) < 0.05


# --------------------------------------------------------------------------- McNemar, Wilcoxon, Holm

def test_mcnemar_against_binomtest_and_by_hand():
    # b = 0, c = 5 discordant pairs: p = 2 * (1/2)^5 = 0.0625.
    assert mcnemar_exact([0] * 5 + [1] * 3, [1] * 5 + [1] * 3) == pytest.approx(0.0625)
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]) == 1.0
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(5, 80))
        ca, cb = rng.random(n) < rng.random(), rng.random(n) < rng.random()
        b, c = int(np.sum(ca & ~cb)), int(np.sum(~ca & cb))
        expected = sps.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        assert mcnemar_exact(ca, cb) == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_against_scipy_and_by_hand():
    # Five positive, distinct differences: exact two-sided p = 2 / 2^5.
    assert wilcoxon_subjects([0.5, 0.6, 0.7, 0.8, 0.9], [0.4, 0.4, 0.4, 0.4, 0.4]) == pytest.approx(0.0625)
    assert wilcoxon_subjects([0.5, 0.6], [0.5, 0.6]) == 1.0
    rng = np.random.default_rng(1)
    for n in (6, 12, 30, 60):
        a = np.round(rng.random(n), 1)  # coarse values: ties and zero differences
        b = np.round(np.clip(a + rng.normal(0.05, 0.2, n), 0, 1), 1)
        expected = sps.wilcoxon(a, b, zero_method="pratt").pvalue
        assert wilcoxon_subjects(a, b) == pytest.approx(expected, rel=1e-12)
    # NaN pairs are dropped.
    assert wilcoxon_subjects([0.5, np.nan, 0.7], [0.4, 0.3, 0.2]) == pytest.approx(
        sps.wilcoxon([0.1, 0.5], zero_method="pratt").pvalue)


def test_holm_by_hand():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, np.nan, 0.4]), [0.8, np.nan, 0.8])
    assert holm([0.9, 0.8])[0] == 1.0


# --------------------------------------------------------------------------- tidy comparison

def tidy_frame(accs={"HTNet": 0.75, "STSTNet": 0.6, "Random": 0.34}, seeds=(0, 1)):
    rows = []
    for m_i, (method, acc) in enumerate(accs.items()):
        for seed in seeds:
            for d_i, dataset in enumerate(("casme2", "samm")):
                y, p, s = fake_predictions(6, 7, acc, seed=100 * m_i + 10 * seed + d_i, prefix="s")
                for j in range(y.size):
                    rows.append(dict(method=method, seed=seed, fold=s[j], dataset=dataset, subject=s[j],
                                     sample=f"{s[j]}_{j}", y_true=int(y[j]), y_pred=int(p[j])))
    return pd.DataFrame(rows)


def test_compare_to_reference_rows_match_the_tests():
    frame = tidy_frame()
    out, per_seed = compare_to_reference(frame, None, 3, groups="dataset", n_resamples=300,
                                         n_permutations=500, return_per_seed=True)
    assert set(out["reference"]) == {"HTNet"}  # first method named
    assert list(out["method"]) == ["STSTNet"] * 3 + ["Random"] * 3
    assert list(out["group"]) == ["Full", "casme2", "samm"] * 2
    for col in ("p_permutation", "p_wilcoxon", "uf1_diff_low", "uf1_diff_high"):
        assert out[col].notna().all()
    assert out["p_mcnemar"].isna().all()  # two seeds: McNemar is for single-seed comparisons only

    # One per-seed row, recomputed independently: every subject swap enumerated (2**6 <= 500 permutations: the
    # test is exact), scipy's binomial test and Wilcoxon.
    seed, row = 1, per_seed.query("method == 'Random' and group == 'samm' and seed == 1").iloc[0]
    ref = frame.query("method == 'HTNet' and seed == @seed and dataset == 'samm'").sort_values("sample")
    oth = frame.query("method == 'Random' and seed == @seed and dataset == 'samm'").sort_values("sample")
    y, a, b = ref["y_true"].to_numpy(), oth["y_pred"].to_numpy(), ref["y_pred"].to_numpy()
    subj = ("samm/" + ref["subject"]).to_numpy()
    assert row["uf1_diff"] == pytest.approx(uf1(y, a, 3) - uf1(y, b, 3))
    assert row["p_permutation"] == pytest.approx(brute_force_permutation_p(y, a, b, subj, 3))
    discordant = int(np.sum((a == y) & (b != y))), int(np.sum((a != y) & (b == y)))
    assert row["p_mcnemar"] == pytest.approx(sps.binomtest(discordant[0], sum(discordant)).pvalue)
    acc_a = np.array([accuracy(y[subj == k], a[subj == k]) for k in np.unique(subj)])
    acc_b = np.array([accuracy(y[subj == k], b[subj == k]) for k in np.unique(subj)])
    assert row["p_wilcoxon"] == pytest.approx(sps.wilcoxon(acc_a - acc_b, zero_method="pratt").pvalue)

    # Summary: tests over both seeds at once, mean UF1 difference inside its CI, Holm across methods per group.
    summary = out.query("method == 'Random' and group == 'samm'").iloc[0]
    seeds = per_seed.query("method == 'Random' and group == 'samm'")
    both_ref = frame.query("method == 'HTNet' and dataset == 'samm'").sort_values(["seed", "sample"])
    both_oth = frame.query("method == 'Random' and dataset == 'samm'").sort_values(["seed", "sample"])
    y2, a2, b2 = both_ref["y_true"].to_numpy(), both_oth["y_pred"].to_numpy(), both_ref["y_pred"].to_numpy()
    subj2, run2 = ("samm/" + both_ref["subject"]).to_numpy(), both_ref["seed"].to_numpy()
    assert summary["p_permutation"] == pytest.approx(brute_force_seed_permutation(y2, a2, b2, subj2, run2))
    keys = np.unique(subj2)
    mean_acc = [np.mean([[accuracy(y2[(run2 == s) & (subj2 == k)], pred[(run2 == s) & (subj2 == k)]) for k in keys]
                         for s in np.unique(run2)], axis=0) for pred in (a2, b2)]
    d = mean_acc[0] - mean_acc[1]
    assert summary["p_wilcoxon"] == pytest.approx(sps.wilcoxon(d, zero_method="pratt").pvalue)
    assert summary["uf1_diff"] == pytest.approx(seeds["uf1_diff"].mean())
    assert summary["uf1_diff_low"] <= summary["uf1_diff"] <= summary["uf1_diff_high"]
    assert summary["n_seeds"] == 2 and summary["n_subjects"] == 6 and summary["n_samples"] == 42
    for group, part in out.groupby("group"):
        for test in ("p_permutation", "p_mcnemar", "p_wilcoxon"):
            np.testing.assert_allclose(part[f"{test}_holm"], holm_by_definition(part[test].to_numpy()))


def holm_by_definition(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of the non-NaN p-values: the i-th smallest times (m - i), running maximum,
    capped at 1."""
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (len(valid) - rank) * p[i]))
        out[i] = running
    return out


def brute_force_seed_permutation(y, a, b, subj, run):
    """Exact two-sided p of the seed-mean UF1 difference by enumerating every set of swapped subjects."""
    import itertools

    keys, seeds = np.unique(subj), np.unique(run)

    def stat(p, q):
        return np.mean([uf1(y[run == s], p[run == s], 3) - uf1(y[run == s], q[run == s], 3) for s in seeds])

    observed = abs(stat(a, b))
    hits = sum(abs(stat(np.where(np.isin(subj, keys[np.array(f)]), b, a), np.where(np.isin(subj, keys[np.array(f)]), a, b)))
               >= observed - 1e-12 for f in itertools.product((False, True), repeat=len(keys)))
    return hits / 2 ** len(keys)


def test_seed_permutation_test_with_one_seed_is_the_single_seed_test():
    frame = tidy_frame(seeds=(0,))
    ref = frame.query("method == 'HTNet'").sort_values("sample")
    oth = frame.query("method == 'Random'").sort_values("sample")
    y, a, b = ref["y_true"].to_numpy(), oth["y_pred"].to_numpy(), ref["y_pred"].to_numpy()
    subj = (ref["dataset"] + "/" + ref["subject"]).to_numpy()
    single = paired_permutation_test(y, a, b, subj, 3, n_permutations=300, seed=4)
    assert single == paired_permutation_test_seeds(y, a, b, subj, np.zeros(len(y)), 3, n_permutations=300, seed=4)


def test_compare_to_reference_groups_and_reference_options():
    frame = tidy_frame(seeds=(0,))
    mask = pd.Series(frame["dataset"] == "casme2", index=frame.index)
    out = compare_to_reference(frame, "Random", 3, groups={"Full": np.ones(len(frame), bool), "CASME II": mask},
                               n_resamples=100, n_permutations=200)
    assert set(out["reference"]) == {"Random"} and list(out["group"]) == ["Full", "CASME II"] * 2
    assert out.query("group == 'CASME II'")["n_samples"].eq(42).all()
    with pytest.raises(UnknownNameError):
        compare_to_reference(frame, "Nope", 3)


def test_compare_to_reference_rejects_unpaired_samples():
    frame = tidy_frame(seeds=(0,))
    dropped = frame.drop(frame.index[(frame["method"] == "STSTNet")][:1])
    with pytest.raises(DataError, match="differ on 1 samples"):
        compare_to_reference(dropped, None, 3, n_resamples=10, n_permutations=10)
    relabelled = frame.copy()
    relabelled.loc[relabelled.index[relabelled["method"] == "Random"][0], "y_true"] += 1
    relabelled["y_true"] %= 3
    with pytest.raises(DataError, match="true labels"):
        compare_to_reference(relabelled, None, 3, n_resamples=10, n_permutations=10)
    # Seeds only one method ran are left out, not an error.
    extra = pd.concat([frame, tidy_frame({"HTNet": 0.75}, seeds=(5,))])
    out = compare_to_reference(extra, None, 3, n_resamples=10, n_permutations=10)
    assert out["n_seeds"].eq(1).all()


def test_summary_with_ci():
    frame = tidy_frame()
    out = summary_with_ci(frame, 3, groups="dataset", n_resamples=200)
    assert len(out) == 3 * 3 * 3  # methods x groups x metrics
    row = out.query("method == 'HTNet' and group == 'Full' and metric == 'uf1'").iloc[0]
    per_seed = [uf1(part["y_true"], part["y_pred"], 3) for _, part in frame.query("method == 'HTNet'").groupby("seed")]
    assert row["mean"] == pytest.approx(np.mean(per_seed)) and row["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"] and row["n_seeds"] == 2


# --------------------------------------------------------------------------- Friedman and Nemenyi

def test_friedman_by_hand():
    # Ranks per block (1 = best): A 1,2,1  B 2,1,3  C 3,3,2 -> averages 4/3, 2, 8/3.
    scores = pd.DataFrame({"A": [0.9, 0.8, 0.9], "B": [0.8, 0.9, 0.7], "C": [0.7, 0.7, 0.8]})
    res = friedman(scores)
    assert dict(res.avg_ranks) == pytest.approx({"A": 4 / 3, "B": 2.0, "C": 8 / 3})
    assert list(res.avg_ranks.index) == ["A", "B", "C"]
    # chi2 = 12N/(k(k+1)) * (sum R^2 - k(k+1)^2/4) = 3 * (116/9 - 12) = 8/3
    assert res.statistic == pytest.approx(8 / 3)
    # Iman-Davenport F = (N-1) chi2 / (N(k-1) - chi2) = 2 * (8/3) / (6 - 8/3) = 1.6
    assert res.iman_davenport == pytest.approx(1.6)
    assert res.iman_davenport_p == pytest.approx(sps.f.sf(1.6, 2, 4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_friedman_against_scipy(seed):
    rng = np.random.default_rng(seed)
    table = pd.DataFrame(np.round(rng.random((7, 5)), 1), columns=list("abcde"))  # rounding makes ties
    res = friedman(table)
    expected = sps.friedmanchisquare(*[table[c] for c in table.columns])
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(expected.pvalue, rel=1e-10)


DEMSAR_Q = {  # Demšar (2006), Table 5(a), two-tailed Nemenyi, k = 2..10
    0.05: [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164],
    0.10: [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920],
}


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_nemenyi_q_matches_demsar_table(alpha):
    for k, table_value in zip(range(2, 11), DEMSAR_Q[alpha]):
        assert nemenyi_q(k, alpha) == pytest.approx(table_value, abs=1e-3)


def test_nemenyi_cd_demsar_example():
    # Demšar's worked example: 4 classifiers on 14 data sets -> CD = 1.25 (alpha 0.05), 1.12 (alpha 0.10).
    assert nemenyi_cd(4, 14) == pytest.approx(1.25, abs=0.005)
    assert nemenyi_cd(4, 14, alpha=0.10) == pytest.approx(1.12, abs=0.005)


def test_cliques_and_cd_diagram_render():
    ranks = {"HTNet": 1.4, "STSTNet": 2.1, "OffApex": 2.6, "LBP-TOP": 4.0, "Random": 5.0}
    # CD 1.3: {1.4, 2.1, 2.6} and {4.0, 5.0} are not significantly different; 2.6 vs 4.0 is.
    assert _cliques(np.array(sorted(ranks.values())), 1.3) == [(0, 2), (3, 4)]
    assert _cliques(np.array([1.0, 2.0, 3.0]), 0.5) == []
    fig = cd_diagram(ranks, 1.3)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "cd-method"]
    assert sorted(labels) == sorted(ranks)
    plt.close(fig)
    fig, ax = plt.subplots()
    assert cd_diagram({"a": 1.5, "b": 1.5}, 0.7, ax=ax) is fig
    plt.close(fig)
