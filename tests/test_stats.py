"""Tests of the per-cell summaries of boundcheck.stats that the studies share (summary_columns, exponent_row,
level_crossing, quantile_upper_limit, compare_proportions); the interval and exponent-fit statistics are tested
in test_montecarlo.py."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from boundcheck.stats import (clopper_pearson, compare_proportions, exponent_row, fit_exponent, level_crossing,
                              quantile_upper_limit, summary_columns)


def test_summary_columns_values_and_order():
    rng = np.random.default_rng(0)
    v = rng.normal(2.0, 1.5, size=37)
    with_nan = np.concatenate([v, [np.nan, np.inf, -np.inf]])  # non-finite values are left out
    out = summary_columns("x", with_nan, ("mean", "ci", "q05", "q50", "std", "median", "q95"), confidence=0.9)
    assert list(out) == ["x_mean", "x_ci_low", "x_ci_high", "x_q05", "x_q50", "x_std", "x_median", "x_q95"]
    n = v.size
    half = sps.t.ppf(0.95, n - 1) * np.std(v, ddof=1) / math.sqrt(n)  # independent t-interval
    assert out["x_mean"] == pytest.approx(np.mean(v), rel=1e-14)
    assert out["x_ci_low"] == pytest.approx(np.mean(v) - half, rel=1e-12)
    assert out["x_ci_high"] == pytest.approx(np.mean(v) + half, rel=1e-12)
    assert out["x_std"] == pytest.approx(np.std(v, ddof=1), rel=1e-14)
    s = np.sort(v)  # linear interpolation by hand: position level * (n - 1)
    for name, level in (("x_q05", 0.05), ("x_q50", 0.5), ("x_median", 0.5), ("x_q95", 0.95)):
        pos = level * (n - 1)
        lo = int(math.floor(pos))
        expected = s[lo] + (pos - lo) * (s[min(lo + 1, n - 1)] - s[lo])
        assert out[name] == pytest.approx(expected, rel=1e-13)
    assert all(isinstance(x, float) for x in out.values())


@pytest.mark.parametrize("values, finite", [([], 0), ([np.nan, np.inf], 0), ([3.0], 1), ([3.0, np.nan], 1)])
def test_summary_columns_few_values_give_nan_not_errors(values, finite):
    out = summary_columns("y", values, ("mean", "std", "ci", "median", "q25"))
    if finite:
        assert out["y_mean"] == 3.0 and out["y_median"] == 3.0 and out["y_q25"] == 3.0
    else:
        assert math.isnan(out["y_mean"]) and math.isnan(out["y_median"]) and math.isnan(out["y_q25"])
    # a spread needs two values
    assert math.isnan(out["y_std"]) and math.isnan(out["y_ci_low"]) and math.isnan(out["y_ci_high"])


@pytest.mark.parametrize("fields, match", [(("mean", "sd"), "'sd'"), (("q5",), "'q5'"), (("q100",), "'q100'")])
def test_summary_columns_rejects_unknown_fields(fields, match):
    with pytest.raises(ValueError, match=match):
        summary_columns("z", [1.0, 2.0], fields)


def test_summary_columns_checks_confidence():
    with pytest.raises(ValueError, match="confidence"):
        summary_columns("z", [1.0, 2.0], ("ci",), confidence=1.5)


def test_exponent_row_matches_fit_exponent():
    rng = np.random.default_rng(1)
    x = np.repeat([10.0, 20.0, 40.0, 80.0], 5)
    y = 3.0 * x ** -0.5 * np.exp(rng.normal(0, 0.05, x.size))
    fit = fit_exponent(x, y, 0.95)
    row = exponent_row(x, y, -0.5)
    assert list(row) == ["exponent", "ci_low", "ci_high", "r2", "n_points", "consistent", "note"]
    assert (row["exponent"], row["ci_low"], row["ci_high"], row["r2"], row["n_points"]) == \
        (fit.exponent, fit.ci_low, fit.ci_high, fit.r2, fit.n_points)
    assert row["consistent"] is fit.contains(-0.5) and row["note"] == ""
    assert exponent_row(x, y)["consistent"] is None  # nothing predicted
    far = exponent_row(x, y, 0.5)  # a wrong prediction is outside the interval
    assert far["consistent"] is False
    narrow = exponent_row(x, y, -0.5, confidence=0.5)
    assert narrow["ci_high"] - narrow["ci_low"] < row["ci_high"] - row["ci_low"]


@pytest.mark.parametrize("x, y", [([1.0, 2.0, 4.0], [1.0, 0.0, 2.0]),  # a value that is not positive
                                  ([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]),  # one distinct x
                                  ([], [])])
def test_exponent_row_failed_fit_is_a_row_with_the_reason(x, y):
    with pytest.raises(ValueError) as err:
        fit_exponent(np.asarray(x, float), np.asarray(y, float))
    row = exponent_row(x, y, 1.0)
    assert all(math.isnan(row[k]) for k in ("exponent", "ci_low", "ci_high", "r2"))
    assert row["n_points"] == len(y) and row["consistent"] is False and row["note"] == str(err.value)


def test_exponent_row_refused():
    row = exponent_row([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], 1.0, refused="2 of 3 values are 0 to rounding")
    assert math.isnan(row["exponent"]) and row["consistent"] is False
    assert row["note"] == "2 of 3 values are 0 to rounding" and row["n_points"] == 3


def test_level_crossing_linear_and_log():
    # falling through 0.5 between x=2 (0.8) and x=4 (0.2): linear interpolation at x = 2 + 2 * 0.5
    assert level_crossing([4.0, 1.0, 2.0, 8.0], [0.2, 0.9, 0.8, 0.1]) == pytest.approx(3.0, rel=1e-15)
    # in log x: halfway between log 2 and log 8 is log 4
    assert level_crossing([2.0, 8.0], [0.7, 0.3], log_x=True) == pytest.approx(4.0, rel=1e-14)
    # rising: the first step from below to at-or-above the level
    assert level_crossing([0.0, 1.0, 2.0, 3.0], [0.1, 0.3, 0.7, 0.2], falling=False) == pytest.approx(1.5)
    # a point exactly at the level counts as above it: the crossing is after it
    assert level_crossing([0.0, 1.0, 2.0], [0.9, 0.5, 0.1]) == pytest.approx(1.0)
    # the first crossing, not a later one
    assert level_crossing([0.0, 1.0, 2.0, 3.0], [0.9, 0.1, 0.9, 0.1]) == pytest.approx(0.5)


def test_level_crossing_none_within_the_grid():
    assert math.isnan(level_crossing([1.0, 2.0, 3.0], [0.9, 0.8, 0.7]))  # never below
    assert math.isnan(level_crossing([1.0, 2.0, 3.0], [0.1, 0.9, 0.9]))  # rises, but falling wanted
    assert math.isnan(level_crossing([1.0], [0.1]))
    assert math.isnan(level_crossing([1.0, 2.0], [np.nan, np.nan]))


def test_level_crossing_bad_input():
    with pytest.raises(ValueError, match="shape of x"):
        level_crossing([1.0, 2.0], [0.5])
    with pytest.raises(ValueError, match="positive with log_x"):
        level_crossing([0.0, 1.0], [0.9, 0.1], log_x=True)
    with pytest.raises(ValueError, match="x"):
        level_crossing([1.0, np.nan], [0.9, 0.1])


def test_quantile_upper_limit_order_statistic():
    v = np.arange(1.0, 101.0)  # n = 100
    estimate, upper = quantile_upper_limit(v[::-1], 0.9, 0.975)  # any order
    assert estimate == 90.0  # inverted_cdf: the order statistic X_(ceil(nq))
    k = int(sps.binom.ppf(0.975, 100, 0.9)) + 1  # smallest k with P(Bin(100, 0.9) <= k - 1) >= 0.975
    assert sps.binom.cdf(k - 1, 100, 0.9) >= 0.975 > sps.binom.cdf(k - 2, 100, 0.9)
    assert upper == v[k - 1] and upper > estimate


def test_quantile_upper_limit_infinite_when_too_few_draws_or_infinite_draws():
    # n = 10 at q = 0.9: P(X_(10) >= xi) = 1 - 0.9^10 = 0.65 < 0.975
    assert quantile_upper_limit(np.arange(10.0), 0.9) == (8.0, math.inf)
    # the order statistic the limit needs is +inf (steps that never flip)
    est, up = quantile_upper_limit(np.r_[np.arange(97.0), [np.inf] * 3], 0.5, 0.975)
    assert est == 49.0 and math.isfinite(up)
    assert quantile_upper_limit(np.r_[np.arange(90.0), [np.inf] * 10], 0.9, 0.975)[1] == math.inf


def test_quantile_upper_limit_coverage():
    # Exact coverage for a continuous law is P(Bin(n, q) <= k - 1); check it by simulation (fixed seed) within
    # a 99.9% binomial interval of the simulated count.
    rng = np.random.default_rng(3)
    n, q, conf, reps = 40, 0.8, 0.9, 4000
    k = int(sps.binom.ppf(conf, n, q)) + 1
    exact = sps.binom.cdf(k - 1, n, q)
    assert exact >= conf
    covered = sum(quantile_upper_limit(rng.random(n), q, conf)[1] >= q for _ in range(reps))  # xi_q = q
    lo, hi = sps.binom.ppf(0.0005, reps, exact), sps.binom.ppf(0.9995, reps, exact)
    assert lo <= covered <= hi


@pytest.mark.parametrize("kwargs, match", [(dict(values=[]), "at least one"), (dict(values=[1.0, np.nan]), "NaN"),
                                           (dict(q=1.0), "q"), (dict(q=0.0), "q"), (dict(confidence=1.0), "confidence")])
def test_quantile_upper_limit_bad_input(kwargs, match):
    args = dict(values=[1.0, 2.0, 3.0], q=0.5, confidence=0.9) | kwargs
    with pytest.raises(ValueError, match=match):
        quantile_upper_limit(**args)


def test_compare_proportions_disjoint_exact_intervals():
    # 90/100 vs 50/100: the Clopper-Pearson intervals are far apart
    verdict, a, b = compare_proportions(0.9, 100, 0.5, 100, 0.95)
    assert verdict == "higher"
    ref_a, ref_b = clopper_pearson(90, 100, 0.95), clopper_pearson(50, 100, 0.95)
    assert (a.low, a.high, b.low, b.high) == (ref_a.low, ref_a.high, ref_b.low, ref_b.high)
    assert compare_proportions(0.5, 100, 0.9, 100)[0] == "lower"
    assert compare_proportions(0.55, 100, 0.5, 100)[0] == "indistinguishable"  # overlapping intervals
    # the verdict is exactly "a.low > b.high": find the smallest count that is "higher" than 50/100
    k_min = next(k for k in range(50, 101) if clopper_pearson(k, 100).low > clopper_pearson(50, 100).high)
    assert compare_proportions(k_min / 100, 100, 0.5, 100)[0] == "higher"
    assert compare_proportions((k_min - 1) / 100, 100, 0.5, 100)[0] == "indistinguishable"
    # counts are recovered by rounding rate * n (an accuracy stored as a float)
    assert compare_proportions(np.float32(0.7), 1000, 0.5, 1000)[1].estimate == 0.7


@pytest.mark.parametrize("args, match", [((1.5, 10, 0.5, 10), "rate_a"), ((0.5, 10, -0.1, 10), "rate_b"),
                                         ((0.5, 0, 0.5, 10), "n_a"), ((0.5, 10, 0.5, 2.5), "n_b")])
def test_compare_proportions_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        compare_proportions(*args)
