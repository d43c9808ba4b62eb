"""Tests of boundcheck.montecarlo: the statistics (intervals, verdicts, tightness, exponent fits) and the
sweep engine (grids, per-cell seeds, determinism across workers, threads and schedulers)."""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from boundcheck.montecarlo import (ExponentFit, Grid, Interval, SweepCellError, cell_seed, clopper_pearson,
                                   coords_key, describe, fit_exponent, fit_exponents, mean_interval,
                                   run_sweep, summarize, tightness, violation_summary)


def three_sd(p: float, n: int) -> float:
    """Three binomial standard deviations of an empirical proportion with true value p over n trials."""
    return 3.0 * math.sqrt(p * (1.0 - p) / n)


# ----------------------------------------------------------------------------------------------------------
# Clopper-Pearson
# ----------------------------------------------------------------------------------------------------------

def test_clopper_pearson_matches_scipy_exact_interval():
    # Reference: scipy's exact binomial test inverted (an independent implementation).
    for n in (1, 2, 7, 50, 333):
        for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
            ci = clopper_pearson(k, n, 0.9)
            ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
            assert ci.low == pytest.approx(ref.low, abs=1e-12)
            assert ci.high == pytest.approx(ref.high, abs=1e-12)
            assert ci.estimate == k / n and ci.confidence == 0.9


def test_clopper_pearson_edges():
    ci0 = clopper_pearson(0, 20)
    assert ci0.low == 0.0 and ci0.high == pytest.approx(1 - 0.025 ** (1 / 20), rel=1e-12)
    cin = clopper_pearson(20, 20)
    assert cin.high == 1.0 and cin.low == pytest.approx(0.025 ** (1 / 20), rel=1e-12)
    assert isinstance(ci0.low, float) and isinstance(ci0, Interval)


def test_clopper_pearson_vectorized_equals_scalar():
    k = np.array([[0, 3, 10], [1, 5, 9]])
    n = np.array([10, 10, 10])
    ci = clopper_pearson(k, n)
    assert ci.low.shape == (2, 3)
    for idx in np.ndindex(k.shape):
        one = clopper_pearson(int(k[idx]), 10)
        assert ci.low[idx] == one.low and ci.high[idx] == one.high
    assert ci.contains(0.5).shape == (2, 3)


def test_clopper_pearson_exact_coverage_is_at_least_nominal():
    # A theorem, checked exactly (no sampling): sum of Binomial(n, p) pmf over the k whose interval
    # contains p is >= confidence, for every p.
    for n in (1, 10, 50):
        ks = np.arange(n + 1)
        ci = clopper_pearson(ks, n)
        for p in np.linspace(0.005, 0.995, 199):
            covered = (ci.low <= p) & (p <= ci.high)
            assert stats.binom.pmf(ks, n, p)[covered].sum() >= 0.95 - 1e-12


def test_clopper_pearson_empirical_coverage_binomial():
    # X ~ Bin(50, 0.1), 2000 replicates. CP guarantees coverage c >= 0.95; the empirical coverage has
    # sd sqrt(c(1-c)/2000) <= sqrt(0.95*0.05/2000) = 0.0049 for c >= 0.95, so it must be
    # >= 0.95 - 3 sd = 0.935. It must also sit within 3 sd of the exactly computed coverage.
    rng = np.random.default_rng(20220711)
    n, p, reps = 50, 0.1, 2000
    k = rng.binomial(n, p, size=reps)
    ci = clopper_pearson(k, n)
    coverage = np.mean(ci.contains(p))
    assert coverage >= 0.95 - three_sd(0.95, reps)
    ks = np.arange(n + 1)
    all_ci = clopper_pearson(ks, n)
    exact = stats.binom.pmf(ks, n, p)[all_ci.contains(p)].sum()
    assert abs(coverage - exact) <= three_sd(exact, reps)


@pytest.mark.parametrize("k, n, conf, exc", [
    (-1, 10, 0.95, ValueError), (11, 10, 0.95, ValueError), (0, 0, 0.95, ValueError),
    (1, 10, 1.0, ValueError), (1, 10, 0.0, ValueError), (1.5, 10, 0.95, ValueError), ("1", 10, 0.95, TypeError),
])
def test_clopper_pearson_rejects(k, n, conf, exc):
    with pytest.raises(exc):
        clopper_pearson(k, n, conf)


# ----------------------------------------------------------------------------------------------------------
# Violation summaries
# ----------------------------------------------------------------------------------------------------------

def test_violation_summary_hand_cases():
    emp = [1.0, 2.0, 3.0, 4.0, 5.0]
    up = violation_summary(emp, 3.5, "upper", gamma=0.5)
    assert (up.n, up.violations, up.rate, up.sense) == (5, 2, 0.4, "upper")
    lo = violation_summary(emp, 2.5, "lower", gamma=0.5)
    assert (lo.violations, lo.rate) == (2, 0.4)
    # Equality is not a violation.
    assert violation_summary(emp, 5.0, "upper", 0.1).violations == 0
    assert violation_summary(emp, 1.0, "lower", 0.1).violations == 0
    # Per-draw bounds.
    assert violation_summary(emp, [0, 0, 9, 9, 9], "upper", 0.1).violations == 2
    ci = clopper_pearson(2, 5)
    assert (up.ci_low, up.ci_high) == (ci.low, ci.high)
    assert up.verdict == "holds"


def test_violation_summary_verdicts():
    # 30 of 100 against gamma = 0.1: CP lower limit 0.21 > 0.1.
    emp = np.r_[np.ones(30), np.zeros(70)]
    s = violation_summary(emp, 0.5, "upper", gamma=0.1)
    assert s.verdict == "violated" and s.violated and s.ci_low > 0.1
    # 10 of 100 is exactly the allowed rate.
    emp = np.r_[np.ones(10), np.zeros(90)]
    assert violation_summary(emp, 0.5, "upper", gamma=0.1).verdict == "holds"
    # Vacuous: a lower bound <= 0 on a nonnegative quantity, an upper bound >= m on a count of m.
    assert violation_summary([0.3, 0.7], -1.0, "lower", 0.1, trivial=0.0).verdict == "vacuous"
    assert violation_summary([3, 7], 10, "upper", 0.1, trivial=10).verdict == "vacuous"
    assert violation_summary([3, 7], 9, "upper", 0.1, trivial=10).verdict == "holds"
    # A violation is never hidden behind "vacuous".
    assert violation_summary(np.ones(50), 0.0, "upper", 0.1, trivial=-1.0).verdict == "violated"


def test_violation_summary_false_alarm_rate_at_exact_gamma():
    # The bound is the exact 0.9-quantile of U(0,1), so the true violation rate equals gamma = 0.1.
    # A "violated" verdict is then a false alarm, of probability <= (1-0.95)/2 = 0.025 (exact one-sided
    # test). Over 400 replicates the alarm fraction must be <= 0.025 + 3 sqrt(0.025*0.975/400) = 0.048.
    rng = np.random.default_rng(7)
    reps = 400
    alarms = sum(violation_summary(rng.random(200), 0.9, "upper", 0.1).violated for _ in range(reps))
    assert alarms / reps <= 0.025 + three_sd(0.025, reps)


def test_violation_summary_detects_a_real_violation():
    # True violation rate 0.2 against gamma = 0.1 with n = 1000: k ~ Bin(1000, 0.2) has mean 200 and sd
    # 12.6, while "violated" needs only k >~ 120 (CP lower limit > 0.1): a 6-sd margin.
    rng = np.random.default_rng(8)
    s = violation_summary(rng.random(1000), 0.8, "upper", 0.1)
    assert s.verdict == "violated" and s.p_value < 0.025


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), data=st.data(), gamma=st.floats(0.01, 0.5))
def test_violation_verdict_is_the_exact_binomial_test(n, data, gamma):
    # CP duality: the lower limit exceeds gamma iff P(Bin(n, gamma) >= k) < alpha/2.
    k = data.draw(st.integers(0, n))
    s = violation_summary(np.r_[np.ones(k), np.zeros(n - k)], 0.5, "upper", gamma)
    if abs(s.p_value - 0.025) > 1e-9:
        assert (s.verdict == "violated") == (s.p_value < 0.025)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), b=st.floats(-2, 2))
def test_violation_summary_upper_is_lower_mirrored(seed, b):
    e = np.random.default_rng(seed).standard_normal(37)
    up, lo = violation_summary(e, b, "upper", 0.1), violation_summary(-e, -b, "lower", 0.1)
    assert (up.violations, up.ci_low, up.verdict) == (lo.violations, lo.ci_low, lo.verdict)


def test_violation_summary_rejects():
    with pytest.raises(ValueError, match="sense"):
        violation_summary([1.0], 1.0, "above", 0.1)
    with pytest.raises(ValueError, match="gamma"):
        violation_summary([1.0], 1.0, "upper", 1.0)
    with pytest.raises(ValueError, match="empirical"):
        violation_summary([1.0, np.nan], 1.0, "upper", 0.1)
    with pytest.raises(ValueError, match="bound"):
        violation_summary([1.0, 2.0], np.nan, "upper", 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        violation_summary([1.0, 2.0], [1.0, 2.0, 3.0], "upper", 0.1)
    with pytest.raises(ValueError, match="at least one"):
        violation_summary([], 1.0, "upper", 0.1)


# ----------------------------------------------------------------------------------------------------------
# Tightness
# ----------------------------------------------------------------------------------------------------------

def test_tightness_hand_cases():
    emp = np.arange(1.0, 101.0)  # 0.9-quantile (linear) = 90.1, 0.1-quantile = 10.9
    assert tightness(emp, 180.2, "upper", 0.1) == pytest.approx(2.0)
    assert tightness(emp, 45.05, "upper", 0.1) == pytest.approx(0.5)  # cuts into the 1-gamma mass
    assert tightness(emp, 5.45, "lower", 0.1) == pytest.approx(2.0)
    assert tightness(emp, 21.8, "lower", 0.1) == pytest.approx(0.5)


def test_tightness_zero_and_negative():
    assert tightness([1.0, 2.0], 0.0, "lower", 0.1) == math.inf  # bound 0 under a positive quantity
    assert math.isnan(tightness([1.0, 2.0], -1.0, "lower", 0.1))  # no scale
    assert tightness(np.zeros(10), 1.0, "upper", 0.1) == math.inf
    assert math.isnan(tightness(np.zeros(10), 0.0, "upper", 0.1))
    assert math.isnan(tightness(-np.ones(10), 1.0, "upper", 0.1))
    assert tightness(np.ones(10), -1.0, "upper", 0.1) == -1.0  # unsafe side: < 1


# ----------------------------------------------------------------------------------------------------------
# Exponent fits
# ----------------------------------------------------------------------------------------------------------

def test_fit_exponent_exact_power_law():
    x = np.array([10.0, 30.0, 100.0, 300.0])
    fit = fit_exponent(x, 3.0 * x ** -0.75)
    assert isinstance(fit, ExponentFit)
    assert fit.exponent == pytest.approx(-0.75, abs=1e-12) and fit.prefactor == pytest.approx(3.0)
    assert fit.ci_high - fit.ci_low < 1e-9 and fit.r2 == pytest.approx(1.0)
    assert (fit.n_points, fit.n_x) == (4, 4)


def test_fit_exponent_matches_linregress():
    # Reference: scipy.stats.linregress on the logs (independent implementation of OLS).
    rng = np.random.default_rng(3)
    x = np.repeat([5.0, 10.0, 20.0, 40.0], 3)
    y = 0.7 * x ** 1.3 * rng.lognormal(0, 0.3, x.size)
    fit = fit_exponent(x, y, 0.9)
    ref = stats.linregress(np.log(x), np.log(y))
    assert fit.exponent == pytest.approx(ref.slope, rel=1e-12)
    assert fit.stderr == pytest.approx(ref.stderr, rel=1e-10)
    assert math.log(fit.prefactor) == pytest.approx(ref.intercept, rel=1e-10)
    assert fit.r2 == pytest.approx(ref.rvalue ** 2, rel=1e-10)
    half = stats.t.ppf(0.95, x.size - 2) * ref.stderr
    assert (fit.ci_low, fit.ci_high) == pytest.approx((ref.slope - half, ref.slope + half), rel=1e-10)


def test_fit_exponent_input_forms_agree():
    rng = np.random.default_rng(4)
    xs = np.array([10.0, 20.0, 40.0, 80.0])
    reps = 2.0 * xs[:, None] ** 0.5 * rng.lognormal(0, 0.2, (4, 5))
    a = fit_exponent(xs, reps)  # (n_x, replicates)
    b = fit_exponent(np.repeat(xs, 5), reps.ravel())  # repeated x
    c = fit_exponent({float(x): r for x, r in zip(xs, reps)})  # mapping
    assert a == b == c and a.n_points == 20 and a.n_x == 4


def test_fit_exponent_recovers_known_exponent_fixed_seed():
    # y = 2 x^0.5 * lognormal(0, 0.2), 4 seeds per x.
    rng = np.random.default_rng(11)
    x = np.repeat([10.0, 20.0, 40.0, 80.0, 160.0], 4)
    fit = fit_exponent(x, 2.0 * x ** 0.5 * rng.lognormal(0.0, 0.2, x.size))
    assert fit.contains(0.5)
    assert not fit.contains(0.0) and not fit.contains(1.0)


def test_fit_exponent_interval_coverage():
    # The model (normal errors in log y) holds exactly, so the t-interval covers 0.5 with probability
    # exactly 0.95. Over 200 replicates the coverage must be within 0.95 +- 3 sqrt(0.95*0.05/200)
    # = 0.95 +- 0.046: too narrow and too wide intervals both fail.
    rng = np.random.default_rng(12)
    x = np.repeat([10.0, 20.0, 40.0, 80.0, 160.0], 4)
    reps = 200
    hits = sum(fit_exponent(x, 2.0 * x ** 0.5 * rng.lognormal(0.0, 0.2, x.size)).contains(0.5)
               for _ in range(reps))
    assert abs(hits / reps - 0.95) <= three_sd(0.95, reps)


def test_fit_exponent_rejects():
    with pytest.raises(ValueError, match="3 distinct x"):
        fit_exponent([1.0, 1.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="y must be > 0"):
        fit_exponent([1.0, 2.0, 3.0], [1.0, 0.0, 3.0])
    with pytest.raises(ValueError, match="x must be > 0"):
        fit_exponent([-1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="rows"):
        fit_exponent([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="not both"):
        fit_exponent({1.0: [1.0]}, [1.0])


# ----------------------------------------------------------------------------------------------------------
# describe, mean_interval, table summaries
# ----------------------------------------------------------------------------------------------------------

def test_describe_hand_case():
    d = describe([1.0, 2.0, 3.0, 4.0], quantiles=(0.0, 0.5, 1.0))
    assert (d.n, d.mean, d.quantiles) == (4, 2.5, (1.0, 2.5, 4.0))
    assert d.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1)) and d.sem == pytest.approx(d.std / 2)
    assert d.to_dict()["q0.5"] == 2.5
    one = describe([3.0])
    assert one.mean == 3.0 and math.isnan(one.std) and math.isnan(one.sem)


def test_mean_interval_coverage():
    # Normal samples: the t-interval's coverage is exactly 0.95; 2000 replicates -> within
    # 0.95 +- 3 sqrt(0.95*0.05/2000) = 0.95 +- 0.0146.
    rng = np.random.default_rng(13)
    reps = 2000
    hits = sum(mean_interval(rng.normal(1.0, 2.0, 10)).contains(1.0) for _ in range(reps))
    assert abs(hits / reps - 0.95) <= three_sd(0.95, reps)
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])


def test_summarize_and_fit_exponents_on_a_table():
    rng = np.random.default_rng(14)
    rows = [{"m": m, "C0": c, "value": float(v), "bound": 2.0 * c}
            for m in (100, 400, 1600) for c in (0.5, 1.0) for v in rng.random(50) * c]
    table = pd.DataFrame(rows)
    summ = summarize(table, "value", by=["m", "C0"], bound="bound", sense="upper", gamma=0.1, trivial=100.0)
    assert list(summ[["m", "C0"]].itertuples(index=False, name=None)) == [
        (100, 0.5), (100, 1.0), (400, 0.5), (400, 1.0), (1600, 0.5), (1600, 1.0)]
    assert (summ["violations"] == 0).all() and (summ["verdict"] == "holds").all()
    assert (summ["tightness"] > 1.0).all() and (summ["n"] == 50).all()
    one = table[(table.m == 400) & (table.C0 == 1.0)]["value"]
    assert summ.loc[3, "tightness"] == tightness(one, 2.0, "upper", 0.1)

    # Exponent fits per group: noise-free power laws (the statistics of the interval are tested above),
    # with a different exponent per group, so that a mix-up of groups fails.
    table["sq"] = table["C0"] * table["m"] ** (0.5 * table["C0"])
    fits = fit_exponents(table, "m", "sq", by="C0", predicted=0.5)
    assert list(fits["C0"]) == [0.5, 1.0]
    assert fits["exponent"].to_numpy() == pytest.approx([0.25, 0.5], abs=1e-12)
    assert fits["prefactor"].to_numpy() == pytest.approx([0.5, 1.0])
    assert fits["consistent"].tolist() == [False, True] and (fits["n_points"] == 150).all()
    with pytest.raises(ValueError, match="group"):
        fit_exponents(table.assign(sq=table["sq"] - 2.0), "m", "sq", by="C0")


# ----------------------------------------------------------------------------------------------------------
# Grids and seeds
# ----------------------------------------------------------------------------------------------------------

def test_grid_order_and_indexing():
    g = Grid({"d": [25, 100], "m": [10, 20, 30], "kind": ["a", "b"]})
    cells = list(g)
    assert len(g) == 12 == len(cells)
    assert cells[0] == {"d": 25, "m": 10, "kind": "a"} and cells[1] == {"d": 25, "m": 10, "kind": "b"}
    assert cells[-1] == {"d": 100, "m": 30, "kind": "b"}
    for i, c in enumerate(cells):
        assert g[i] == c and g.index(c) == i
    assert g.names == ("d", "m", "kind") and Grid(g.to_dict()) == g
    assert list(Grid({"a": np.array([1, 2])})) == [{"a": 1}, {"a": 2}]
    assert type(next(iter(Grid({"a": np.array([1])})))["a"]) is int


@pytest.mark.parametrize("params, exc, match", [
    ({"d": 25}, TypeError, "list of values"),
    ({"d": "25"}, TypeError, "list of values"),
    ({"d": []}, ValueError, "at least one"),
    ({"d": [1, 1]}, ValueError, "duplicate"),
    ({"d": [1.0, np.nan]}, ValueError, "finite"),
    ({"d": [None]}, TypeError, "None"),
    ({"d": [[1, 2]]}, TypeError, "scalar"),
    ({1: [1]}, TypeError, "names"),
    ([1, 2], TypeError, "mapping"),
])
def test_grid_rejects(params, exc, match):
    with pytest.raises(exc, match=match):
        Grid(params)


def test_cell_seed_golden_value():
    # Pinned: a change of the seeding scheme would silently change every stored result. The values were
    # recomputed from the documented recipe (SHA-256 of the domain tag + sorted-key JSON -> 8 words).
    assert cell_seed(7, {"d": 25, "C0": 0.5}).generate_state(2).tolist() == [2736771583, 1170305431]
    assert coords_key({"d": 25, "C0": 0.5}) == "9d69825f1fcfb1d02a4b322b17df7400"
    text = json.dumps({"C0": 0.5, "d": 25}, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(b"boundcheck.cell_seed.v1\n" + text).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 32, 4))
    assert cell_seed(7, {"d": 25, "C0": 0.5}).spawn_key == words


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**63), d=st.integers(1, 10**6), c=st.floats(0.01, 100), name=st.text(max_size=5))
def test_cell_seed_depends_on_coordinates_only(seed, d, c, name):
    a = cell_seed(seed, {"d": d, "C0": c, "kind": name}).generate_state(4)
    b = cell_seed(seed, {"kind": name, "C0": c, "d": d}).generate_state(4)  # order of names
    b2 = cell_seed(seed, {"kind": name, "C0": np.float64(c), "d": np.int64(d)}).generate_state(4)
    assert (a == b).all() and (a == b2).all()
    assert not (a == cell_seed(seed, {"d": d + 1, "C0": c, "kind": name}).generate_state(4)).all()
    assert not (a == cell_seed(seed + 1, {"d": d, "C0": c, "kind": name}).generate_state(4)).all()


def test_cell_seed_from_seed_sequence_and_refusals():
    parent = np.random.SeedSequence(5, spawn_key=(3,))
    s = cell_seed(parent, {"a": 1})
    assert s.entropy == 5 and s.spawn_key[0] == 3 and len(s.spawn_key) == 9
    assert s.generate_state(1) != cell_seed(5, {"a": 1}).generate_state(1)
    with pytest.raises(TypeError, match="explicit seed"):
        cell_seed(None, {"a": 1})
    with pytest.raises(ValueError, match=">= 0"):
        cell_seed(-1, {"a": 1})
    with pytest.raises(TypeError, match="int"):
        cell_seed(np.random.default_rng(1), {"a": 1})


# ----------------------------------------------------------------------------------------------------------
# The sweep engine
# ----------------------------------------------------------------------------------------------------------

CELLS_SOURCE = textwrap.dedent('''
    """Cell functions for boundcheck's engine tests (written to a temporary importable module, so that
    spawned worker processes can import them whatever pytest's import mode)."""
    import numpy as np
    import pandas as pd

    def blas_cell(coords, rng):
        # Real BLAS work: 300 x 300 products, big enough for OpenBLAS to use several threads. The
        # returned entries are ones whose last bits change with OpenBLAS's thread count (measured).
        A = rng.standard_normal((300, 300))
        B = A @ rng.standard_normal((300, 300))
        entries = [float(B[i, j]) for i, j in ((5, 290), (77, 3), (299, 299))]
        return pd.DataFrame({"init": np.arange(3), "entry": entries, "norm": float(np.sum(B * B)),
                             "draw": rng.standard_normal(3), "label": ["x", "y", "z"]})

    def elementwise_cell(coords, rng):
        # No thread-partitioned reductions: the result must not depend on the thread count, bit for bit.
        x = rng.standard_normal(200_000)
        return {"mean_sq": float(np.mean(np.sin(x) ** 2)), "first": float(x[0])}

    def dict_cell(coords, rng):
        return {"u": float(rng.random()), "twice": coords["d"] * 2, "ok": True}

    def threads_cell(coords, rng):
        import numba
        from threadpoolctl import threadpool_info
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        return {"blas": max(blas) if blas else -1, "numba": numba.get_num_threads()}

    def barrier_cell(coords, rng):
        # Registers its process in coords["dir"], then waits (up to 60 s) until two processes have
        # registered: it can only finish quickly if two workers run cells at the same time.
        import os, time
        open(os.path.join(coords["dir"], str(os.getpid())), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(coords["dir"])) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        return {"pid": os.getpid(), "seen": len(os.listdir(coords["dir"]))}

    def failing_cell(coords, rng):
        if coords["d"] == 2:
            raise ArithmeticError("boom")
        return {"u": float(rng.random())}
''')


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bc_cells")
    (folder / "bc_engine_cells.py").write_text(CELLS_SOURCE)
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("bc_engine_cells")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("bc_engine_cells", None)


GRID = {"d": [1, 2, 3], "C0": [0.5, 1.0]}


@pytest.fixture(scope="module")
def reference_table(cells):
    return run_sweep(cells.blas_cell, GRID, seed=2022, progress=False)


def test_run_sweep_table_shape_and_order(reference_table, cells):
    t = reference_table
    assert list(t.columns) == ["d", "C0", "init", "entry", "norm", "draw", "label"]
    assert len(t) == 6 * 3 and isinstance(t.index, pd.RangeIndex)
    coords = list(t[["d", "C0"]].drop_duplicates().itertuples(index=False, name=None))
    assert coords == [(1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0), (3, 0.5), (3, 1.0)]
    assert t["d"].dtype == np.int64 and t["init"].dtype == np.int64
    # Each cell's rows are exactly what cell_fn gives with the cell's own generator.
    rng = np.random.default_rng(cell_seed(2022, {"d": 2, "C0": 1.0}))
    direct = cells.blas_cell({"d": 2, "C0": 1.0}, rng)
    got = t[(t.d == 2) & (t.C0 == 1.0)].drop(columns=["d", "C0"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, direct, check_dtype=False)


def test_run_sweep_is_independent_of_grid_order(reference_table, cells):
    # Seeds come from coordinates alone: reversing the value order permutes the cells, nothing else.
    rev = run_sweep(cells.blas_cell, {"d": [3, 2, 1], "C0": [1.0, 0.5]}, seed=2022, progress=False)
    rev = rev.sort_values(["d", "C0", "init"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(rev, reference_table)


def test_run_sweep_threads_do_not_change_the_table(cells):
    # Exact: neither the seeds nor anything else in the engine depends on the thread count.
    one = run_sweep(cells.elementwise_cell, GRID, seed=2022, progress=False, threads_per_worker=1)
    two = run_sweep(cells.elementwise_cell, GRID, seed=2022, progress=False, threads_per_worker=2)
    pd.testing.assert_frame_equal(one, two)


def test_run_sweep_threads_blas_cells_agree_to_rounding(reference_table, cells):
    # OpenBLAS partitions some products differently with 1 and 2 threads, which changes the rounding
    # (measured with OpenBLAS 0.3.31: max abs difference 6e-14 on entries of size ~20 for 300 x 300).
    # An accumulation of 300 terms has a rounding error below 300 * 2^-53 ~ 3.3e-14 in relative terms of
    # the sum of |terms|, so rtol=1e-11 leaves a wide margin while any change of draws (a seed depending
    # on the thread count) would show as O(1) differences.
    two = run_sweep(cells.blas_cell, GRID, seed=2022, progress=False, threads_per_worker=2)
    pd.testing.assert_frame_equal(two, reference_table, check_exact=False, rtol=1e-11, atol=1e-11)


def test_run_sweep_two_workers_same_table(reference_table, cells):
    two = run_sweep(cells.blas_cell, GRID, seed=2022, workers=2, progress=False)
    pd.testing.assert_frame_equal(two, reference_table)


def test_run_sweep_two_workers_run_concurrently(cells, tmp_path):
    import os

    t = run_sweep(cells.barrier_cell, {"dir": [str(tmp_path)], "i": [0, 1, 2, 3]}, seed=0, workers=2,
                  progress=False)
    assert t["pid"].nunique() == 2 and os.getpid() not in set(t["pid"]) and (t["seen"] == 2).all()


def test_run_sweep_dask_same_table(reference_table, cells):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            via_client = run_sweep(cells.blas_cell, GRID, seed=2022, scheduler=client, progress=False)
        via_address = run_sweep(cells.blas_cell, GRID, seed=2022, scheduler=cluster.scheduler_address,
                                progress=False)
    pd.testing.assert_frame_equal(via_client, reference_table)
    pd.testing.assert_frame_equal(via_address, reference_table)


def test_run_sweep_dask_local_cluster_of_processes(reference_table, cells):
    # scheduler="local" starts (and closes) a LocalCluster of worker processes: a real process boundary.
    pytest.importorskip("distributed")
    t = run_sweep(cells.blas_cell, GRID, seed=2022, scheduler="local", workers=1, progress=False)
    pd.testing.assert_frame_equal(t, reference_table)


def test_run_sweep_thread_limits_applied_and_restored(cells):
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    t = run_sweep(cells.threads_cell, {"d": [1, 2]}, seed=0, progress=False, threads_per_worker=1)
    assert (t["blas"] == 1).all() and (t["numba"] == 1).all()
    assert [i["num_threads"] for i in threadpool_info()] == before
    t2 = run_sweep(cells.threads_cell, {"d": [1, 2]}, seed=0, workers=2, progress=False, threads_per_worker=1)
    assert (t2["blas"] == 1).all() and (t2["numba"] == 1).all()


def test_run_sweep_dict_results_and_columns(cells):
    t = run_sweep(cells.dict_cell, {"d": [1, 2], "tag": ["p", "q"]}, seed=1, progress=False)
    assert list(t.columns) == ["d", "tag", "u", "twice", "ok"] and len(t) == 4
    assert t["twice"].tolist() == [2, 2, 4, 4] and t["ok"].all()


def test_run_sweep_failing_cell_names_it(cells):
    with pytest.raises(SweepCellError, match="boom") as info:
        run_sweep(cells.failing_cell, {"d": [1, 2, 3]}, seed=1, progress=False)
    assert info.value.coords == {"d": 2} and isinstance(info.value.__cause__, ArithmeticError)
    with pytest.raises(SweepCellError, match="boom"):
        run_sweep(cells.failing_cell, {"d": [1, 2, 3]}, seed=1, workers=2, progress=False)


def _array_cell(coords, rng):
    return {"v": np.arange(3)}


def _clash_cell(coords, rng):
    return {"d": 1.0}


def test_run_sweep_rejects():
    with pytest.raises(SweepCellError, match="DataFrame"):
        run_sweep(_array_cell, {"d": [1]}, seed=0, progress=False)
    with pytest.raises(SweepCellError, match="clash"):
        run_sweep(_clash_cell, {"d": [1]}, seed=0, progress=False)
    with pytest.raises(TypeError, match="explicit seed"):
        run_sweep(_clash_cell, {"d": [1]}, seed=None, progress=False)
    with pytest.raises(TypeError, match="picklable"):
        run_sweep(lambda c, r: {"v": 1.0}, {"d": [1, 2]}, seed=0, workers=2, progress=False)
    with pytest.raises(ValueError, match="workers"):
        run_sweep(_clash_cell, {"d": [1]}, seed=0, workers=0, progress=False)
    with pytest.raises(TypeError, match="scheduler"):
        run_sweep(_clash_cell, {"d": [1]}, seed=0, scheduler=3, progress=False)


def test_run_sweep_progress_bar(cells, capsys):
    run_sweep(cells.dict_cell, {"d": [1, 2, 3]}, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err
    run_sweep(cells.dict_cell, {"d": [1, 2, 3]}, seed=1, progress=False)
    assert capsys.readouterr().err == ""


def _sleepy_cell(coords, rng):
    import time

    time.sleep(0.02)
    return {"v": float(rng.random())}


def test_run_sweep_announces_the_time_left_of_a_long_sweep(capsys):
    # with announce_after=0 any sweep counts as long: one line, once, from the first timed cells
    run_sweep(_sleepy_cell, {"d": list(range(8))}, seed=1, progress=True, announce_after=0.0, label="demo")
    err = capsys.readouterr().err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if " left (" in ln]
    assert len(lines) == 1, err
    assert lines[0].startswith("demo: about ") and "6 cells, estimated from the first 2 timed cells" in lines[0]
    assert "8/8" in err and "<" in err  # the bar itself: done/total and the time left
    run_sweep(_sleepy_cell, {"d": list(range(8))}, seed=1, progress=True)  # 120 s default: a short sweep is quiet
    assert " left (" not in capsys.readouterr().err


def _noisy_cell(coords, rng):
    import sys

    print(f"cell {coords['d']} ran", file=sys.stderr)
    return {"v": float(rng.random())}


def test_run_sweep_announces_the_cost_model_estimate_before_the_first_cell(capsys):
    # a cost model: the estimate is printed before any cell has run (long single cells), with the wall time
    # max(sum / workers, largest cell) of the model's seconds; a cell's cost is 10 s times d
    cost = lambda coords: 10.0 * (coords["d"] + 1)  # noqa: E731
    table = run_sweep(_noisy_cell, {"d": [0, 1, 2]}, seed=3, progress=True, announce_after=0.0, label="demo",
                      cell_cost=cost)
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = err.splitlines()
    first_cell = next(i for i, ln in enumerate(lines) if ln.startswith("cell ") and ln.endswith(" ran"))
    announced = [i for i, ln in enumerate(lines) if "(cost model, before the first cell" in ln]
    assert len(announced) == 1 and announced[0] < first_cell, err
    assert lines[announced[0]].startswith("demo: estimated 60 s for 3 cells on 1 worker(s)"), err
    assert "the largest cell about 30 s" in lines[announced[0]]
    assert "3/3 cells" in err and "<" in err  # the bar: cells done of the total, elapsed<time left
    # the cost model changes no result
    plain = run_sweep(_noisy_cell, {"d": [0, 1, 2]}, seed=3, progress=False)
    pd.testing.assert_frame_equal(table, plain)
    capsys.readouterr()
    # below the threshold: no line; with workers the wall time is the larger of sum / workers and the largest cell
    run_sweep(_noisy_cell, {"d": [0, 1, 2]}, seed=3, progress=True, announce_after=61.0, cell_cost=cost)
    assert "estimated" not in capsys.readouterr().err


def test_run_sweep_weighs_the_first_timed_cells_by_the_cost_model(capsys):
    # after the first timed cells, the time left is spent / (cost done) * (cost left), not a count of cells
    run_sweep(_sleepy_cell, {"d": list(range(4))}, seed=1, progress=True, announce_after=0.0, label="demo",
              cell_cost=lambda coords: 1.0 + coords["d"])
    err = capsys.readouterr().err.replace("\r", "\n")
    lines = [ln for ln in err.splitlines() if " left (" in ln]
    assert len(lines) == 1 and "estimated from the first 2 timed cells, weighted by the cost model" in lines[0], err


def test_run_sweep_cell_cost_must_be_callable():
    with pytest.raises(TypeError, match="cell_cost must be callable"):
        run_sweep(_sleepy_cell, {"d": [1]}, seed=1, progress=False, cell_cost=3.0)


def test_gemm_rate_is_positive_and_cached():
    from boundcheck.montecarlo import gemm_rate

    rate = gemm_rate("float64")
    assert rate > 0 and gemm_rate(np.float64) == rate
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        gemm_rate("int32")
