"""The verdict engine (boundcheck.checks on boundcheck.stats): every combination of bound kind, value kind and
direction gives the verdict the definitions give; VIOLATED agrees with the exact binomial test."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from boundcheck.bounds import get, theorem_3_1_regime_dims
from boundcheck.checks import (SELF_CHECK_HEADING, compare_estimate, compare_probability, compare_sandwich,
                               compare_to_bound, exact_law_line, format_constants, power_note, self_check_lines,
                               verdicts)
from boundcheck.report import StudyResult, write_study
from boundcheck.stats import excess_test

N = 100
BOUND = 1.0

# (bound kind, value kind, certified side, direction, crossings among N, expected verdict)
# "wrong" samples sit 0.5 beyond the bound on its violating side, the others 0.5 inside.
# Sure bound: failure probability 0; probabilistic: 0.1 with 30 crossings (significant: P(Bin(100, .1) >= 30)
# ~ 1e-8) or 5 crossings (not significant).
CASES = [
    # sure bounds, every crossing counts
    ("sure", "exact", None, "upper", 1, "violated"),
    ("sure", "exact", None, "lower", 1, "violated"),
    ("sure", "exact", None, "upper", 0, "holds"),
    ("sure", "exact", None, "lower", 0, "holds"),
    # certified from the violating side: a lower value of a sup above an upper bound, an upper value of an inf
    # below a lower bound -> the true value is across too
    ("sure", "certified", "lower", "upper", 1, "violated"),
    ("sure", "certified", "upper", "lower", 1, "violated"),
    # certified from the safe side: the true value may lie on either side
    ("sure", "certified", "upper", "upper", 1, "undecided"),
    ("sure", "certified", "lower", "lower", 1, "undecided"),
    ("sure", "certified", "upper", "upper", 0, "holds"),
    ("sure", "certified", "lower", "lower", 0, "holds"),
    ("sure", "certified", "lower", "upper", 0, "holds"),
    ("sure", "certified", "upper", "lower", 0, "holds"),
    # heuristic values prove nothing either way
    ("sure", "heuristic", None, "upper", 1, "undecided"),
    ("sure", "heuristic", None, "lower", 1, "undecided"),
    ("sure", "heuristic", None, "upper", 0, "holds"),
    ("sure", "heuristic", None, "lower", 0, "holds"),
    # probabilistic bounds: significant excess
    ("prob", "exact", None, "upper", 30, "violated"),
    ("prob", "exact", None, "lower", 30, "violated"),
    ("prob", "certified", "lower", "upper", 30, "violated"),
    ("prob", "certified", "upper", "lower", 30, "violated"),
    ("prob", "certified", "upper", "upper", 30, "undecided"),
    ("prob", "certified", "lower", "lower", 30, "undecided"),
    ("prob", "heuristic", None, "upper", 30, "undecided"),
    ("prob", "heuristic", None, "lower", 30, "undecided"),
    # probabilistic bounds: an excess that is not significant
    ("prob", "exact", None, "upper", 5, "holds"),
    ("prob", "exact", None, "lower", 5, "holds"),
    ("prob", "certified", "lower", "upper", 5, "holds"),
    ("prob", "certified", "upper", "lower", 5, "holds"),
    ("prob", "certified", "upper", "upper", 5, "holds"),
    ("prob", "certified", "lower", "lower", 5, "holds"),
    ("prob", "heuristic", None, "upper", 5, "holds"),
    ("prob", "heuristic", None, "lower", 5, "holds"),
]


def _values(direction, k):
    wrong, right = (BOUND + 0.5, BOUND - 0.5) if direction == "upper" else (BOUND - 0.5, BOUND + 0.5)
    return np.r_[np.full(k, wrong), np.full(N - k, right)]


@pytest.mark.parametrize("bound_kind, kind, side, direction, k, expected", CASES)
def test_verdict_table(bound_kind, kind, side, direction, k, expected):
    p = 0.0 if bound_kind == "sure" else 0.1
    row = compare_to_bound(_values(direction, k), BOUND, bound_id="b", direction=direction, failure_probability=p,
                           kind=kind, side=side)
    assert row["verdict"] == expected
    assert row["crossed"] == k
    definite = expected == "violated" or (kind == "exact" or (kind == "certified" and side != direction))
    assert row["violations"] == (k if definite else 0)
    assert row["undecided"] == (0 if definite else k)
    line = verdicts(pd.DataFrame([row]))[0]
    assert line.startswith("b: " + {"violated": "VIOLATED", "undecided": "undecided", "holds": "holds"}[expected])
    if expected == "violated" and p == 0:
        assert "chance" not in line           # a sure bound crossed is a violation, not chance
    if kind == "heuristic" or (kind == "certified" and side == direction):
        assert "never VIOLATED" in line       # the line says these values could not show a violation


# sandwiches lo <= true <= hi: (lo, hi, direction, expected)
SANDWICHES = [
    (1.2, 1.5, "upper", "violated"),    # entirely above an upper bound
    (0.5, 0.9, "upper", "holds"),
    (0.5, 1.5, "upper", "undecided"),   # straddles: certified lower end below, upper end above
    (0.5, 0.8, "lower", "violated"),
    (1.1, 2.0, "lower", "holds"),
    (0.5, 1.5, "lower", "undecided"),
]


@pytest.mark.parametrize("lo, hi, direction, expected", SANDWICHES)
@pytest.mark.parametrize("p", [0.0, 0.1])
def test_sandwich_table(lo, hi, direction, expected, p):
    row = compare_sandwich(np.full(N, lo), np.full(N, hi), BOUND, bound_id="s", direction=direction,
                           failure_probability=p)
    assert row["verdict"] == expected
    if expected == "undecided":
        assert "straddles" in row["undecided_reason"]


def test_rounding_is_not_a_crossing_but_beyond_it_is():
    b = 3.0
    at = compare_to_bound([b * (1 + 1e-13), 1.0], b, bound_id="r", direction="upper", failure_probability=0.0)
    assert at["verdict"] == "holds" and at["crossed"] == 0
    beyond = compare_to_bound([b * (1 + 1e-6), 1.0], b, bound_id="r", direction="upper", failure_probability=0.0)
    assert beyond["verdict"] == "violated"


def test_certified_samples_across_a_bound_never_read_holds():
    # issue 10 item 4: 50 of 50 certified (safe-side) samples across the bound gave "holds"
    row = compare_to_bound(np.full(50, 2.0), 1.0, bound_id="c", direction="upper", failure_probability=0.01,
                           kind="certified")
    assert row["verdict"] == "undecided" and row["undecided"] == 50


def test_vacuous_outside_and_no_power():
    emp = np.full(10, 0.5)
    assert compare_to_bound(emp, -1, bound_id="v", direction="lower", failure_probability=0.1,
                            vacuous=True)["verdict"] == "vacuous"
    # a violation is reported even where the bound is also vacuous
    assert compare_to_bound(emp, 1, bound_id="v", direction="lower", failure_probability=0.0,
                            vacuous=True)["verdict"] == "violated"
    out = compare_to_bound(emp, 1, bound_id="o", direction="lower", failure_probability=0.0, in_hypothesis=False,
                           hypothesis="eps >= eps_d")
    assert out["verdict"] == "outside hypothesis"
    line = verdicts(pd.DataFrame([out]))[0]
    assert "outside the hypothesis" in line and "eps >= eps_d" in line
    # failure probability 0.5 with 3 samples: even 3 of 3 has P = 1/8 > 2.5%: cannot fail
    weak = compare_to_bound([0.0, 0.0, 0.0], 1.0, bound_id="w", direction="upper", failure_probability=0.5)
    assert weak["verdict"] == "no power" and math.isinf(weak["min_detectable_rate"])
    assert "no power at these settings" in verdicts(pd.DataFrame([weak]))[0]


def test_lines_name_reconstructed_constants_and_detectable_rate():
    bound = get("corollary_3_2_robust_error")
    row = compare_to_bound(np.full(40, 0.5), 0.9, bound_id=bound.id, direction="lower", failure_probability=0.1,
                           kind="certified", side="lower", constants=bound.reconstructed_constants(c_eps=1.0))
    line = verdicts(pd.DataFrame([row]))[0]
    assert "c_eps = 1 (not found" in line
    assert row["verdict"] == "undecided"          # an attack's robust error below a lower bound
    assert "detectable: a crossing (undecided at best) rate >= " in line
    assert format_constants({"c": (0.24, "RECONSTRUCTED")}) == "c = 0.24 (RECONSTRUCTED)"


def test_self_checks_are_apart(tmp_path):
    rows = [compare_to_bound([1.0, 2.0], 5.0, bound_id="paper_bound", direction="upper", failure_probability=0.1),
            compare_to_bound([1.0, 2.0], 5.0, bound_id="by_construction", direction="upper", failure_probability=0.0,
                             self_check=True)]
    table = pd.DataFrame(rows)
    assert [ln.split(":")[0] for ln in verdicts(table)] == ["paper_bound"]
    assert [ln.split(":")[0] for ln in self_check_lines(table)] == ["by_construction"]
    result = StudyResult(name="demo", table=table, verdicts=verdicts(table), self_checks=self_check_lines(table),
                         notes=["a note"])
    text = (write_study(result, tmp_path) / "summary.txt").read_text().splitlines()
    assert text[0] == "study demo" and text[1].startswith("paper_bound:")
    assert text[2] == SELF_CHECK_HEADING + ":" and text[3].startswith("  by_construction:")
    assert text[4] == "note: a note"


def test_compare_probability_uses_the_same_test():
    row = compare_probability(30, 100, 0.1, bound_id="p")
    assert row["verdict"] == "violated"
    assert row["p_value"] == pytest.approx(binomtest(30, 100, 0.1, alternative="greater").pvalue)
    assert compare_probability(5, 100, 0.1, bound_id="p")["verdict"] == "holds"
    assert compare_probability(5, 100, 1.0, bound_id="p")["verdict"] == "vacuous"


def test_compare_estimate_outcomes_and_power():
    ok = compare_estimate(0.52, 0.47, 0.57, 0.5, name="e", alternatives={"exponent off by 1/4": 0.25})
    assert ok["verdict"] == "consistent" and ok["gap"] == pytest.approx(0.25) and ok["half_width"] == pytest.approx(0.05)
    off = compare_estimate(0.52, 0.47, 0.57, 0.25, name="e")
    assert off["verdict"] == "outside CI"
    wide = compare_estimate(0.4, 0.1, 0.7, 0.5, name="e", alternatives={"off": 0.25})
    assert wide["verdict"] == "no power"
    lines = verdicts(pd.DataFrame([ok, off, wide]))
    assert lines[0].startswith("e: OUTSIDE the CI in 1 of 3 cells") and "competing prediction" in lines[0]
    assert "cannot tell them apart" in power_note(0.3, 0.25) and "can tell them apart" in power_note(0.01, 0.25)
    law = exact_law_line("E = 1", [1.0, 1.5], [0.01, 0.01], [1.0, 1.0])
    assert law.startswith("exact law E = 1: OUTSIDE the CI in 1 of 2 cells") and "by chance" in law


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 400), data=st.data(), p=st.floats(0.0, 0.99), confidence=st.sampled_from([0.9, 0.95, 0.99]))
def test_violated_agrees_with_the_exact_binomial_test(n, data, p, confidence):
    k = data.draw(st.integers(0, n))
    row = compare_to_bound(np.r_[np.full(k, 2.0), np.zeros(n - k)], 1.0, bound_id="b", direction="upper",
                           failure_probability=p, confidence=confidence)
    pvalue = binomtest(k, n, p, alternative="greater").pvalue
    assert (row["verdict"] == "violated") == (pvalue < (1 - confidence) / 2)
    test = excess_test(k, n, p, confidence)
    # the smallest significant count really is the smallest
    if test.min_count is not None:
        assert binomtest(test.min_count, n, p, alternative="greater").pvalue < (1 - confidence) / 2
        if test.min_count > 1:
            assert binomtest(test.min_count - 1, n, p, alternative="greater").pvalue >= (1 - confidence) / 2
    else:
        assert binomtest(n, n, p, alternative="greater").pvalue >= (1 - confidence) / 2


def test_excess_test_hand_cases():
    assert excess_test(1, 10, 0.0).significant and excess_test(1, 10, 0.0).min_count == 1
    assert not excess_test(0, 10, 0.0).significant
    t = excess_test(0, 5, 0.5)          # 0.5^5 = 0.031 >= 0.025: no power
    assert not t.has_power and math.isinf(t.min_detectable_rate)
    assert excess_test(0, 6, 0.5).min_count == 6   # 0.5^6 = 0.016 < 0.025
    with pytest.raises(ValueError, match="k must satisfy"):
        excess_test(5, 4, 0.1)
    with pytest.raises(ValueError, match="failure_probability must be <= 1.0"):
        excess_test(1, 4, 1.5)


def test_theorem_regime_dims():
    dims = theorem_3_1_regime_dims()
    d = np.arange(2, 30000)
    assert np.array_equal(dims.nonempty(d), np.log(d) <= d ** 0.24)
    assert dims.small_max == 4 and dims.threshold == 10776
    assert "d >= 10776" in dims.describe()
    other = theorem_3_1_regime_dims(poly_degree=2.0, c_exp=0.3)
    assert np.array_equal(other.nonempty(d), 2 * np.log(d) <= d ** 0.3)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 200), data=st.data(), p=st.floats(0.0, 0.99), direction=st.sampled_from(["upper", "lower"]))
def test_one_engine_violation_summary_agrees_with_compare_to_bound(n, data, p, direction):
    # montecarlo/stats.violation_summary (the engine's exact-value case) and checks.compare_to_bound give the
    # same verdict on exact values, in either vocabulary
    from boundcheck.stats import violation_summary

    k = data.draw(st.integers(0, n))
    emp = np.r_[np.full(k, 2.0 if direction == "upper" else 0.0), np.full(n - k, 1.0 if direction == "upper" else 2.0)]
    bound = 1.5 if direction == "upper" else 1.0
    s = violation_summary(emp, bound, direction=direction, failure_probability=p)
    row = compare_to_bound(emp, bound, bound_id="b", direction=direction, failure_probability=p)
    assert s.violations == row["violations"] == k
    assert s.violated == (row["verdict"] == "violated")
    assert s.direction == direction and s.failure_probability == p
    with pytest.raises(TypeError, match="not both"):
        violation_summary(emp, bound, direction, p, direction=direction)


def test_lines_from_tables_stored_before_the_engine():
    # rows without the newer columns (check, self_check, can_violate, ...) still give lines
    old = pd.DataFrame([dict(bound_id="b", verdict="violated", vacuous=False, failure_probability=0.0, undecided=0),
                        dict(bound_id="b", verdict="holds", vacuous=False, failure_probability=0.0, undecided=0)])
    assert verdicts(old)[0].startswith("b: VIOLATED in 1 of 2 cells; holds in 1")
    mixed = pd.concat([old, pd.DataFrame([compare_to_bound([1.0], 2.0, bound_id="b", direction="upper",
                                                           failure_probability=0.0)])], ignore_index=True)
    assert len(verdicts(mixed)) == 1 and "of 3 cells" in verdicts(mixed)[0]


def test_compare_counts_and_the_check_key():
    from boundcheck.checks import compare_counts

    # 3 of 40 draws where a resisting lazy W was found (certified), allowed 5%: not significant
    row = compare_counts(3, 40, bound_id="t", failure_probability=0.05, kind="certified", side="lower")
    assert row["verdict"] == "holds" and row["violations"] == 3
    assert compare_counts(9, 40, bound_id="t", failure_probability=0.05, kind="certified", side="lower")["verdict"] \
        == "violated"
    assert compare_counts(1, 40, bound_id="t", failure_probability=0.0)["verdict"] == "violated"
    assert compare_counts(9, 40, bound_id="t", failure_probability=0.05, kind="heuristic")["verdict"] == "undecided"
    with pytest.raises(ValueError, match="crossed <= n"):
        compare_counts(5, 4, bound_id="t", failure_probability=0.1)
    # one bound judged two ways gives two lines, both keyed apart from the bound id
    rows = [compare_counts(0, 10, bound_id="t", failure_probability=0.0, check="t at W0"),
            compare_counts(0, 10, bound_id="t", failure_probability=0.0, check="t at the adversary's W")]
    assert [ln.split(":")[0] for ln in verdicts(pd.DataFrame(rows))] == ["t at W0", "t at the adversary's W"]
