"""Tests of the per-cell summaries of boundcheck.stats that the studies share (summary_columns, exponent_row,
level_crossing); the interval and exponent-fit statistics themselves are tested in test_montecarlo.py."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from boundcheck.stats import exponent_row, fit_exponent, level_crossing, summary_columns


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
