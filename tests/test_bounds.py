"""Tests of the bounds registry (boundcheck.bounds) and of the Wang et al. 2022 entries.

Hand values are recomputed here with ``math`` step by step (an independent path from the numpy code), the
rigorous per-sample certificates are checked against brute-force plain-numpy networks with adversarial
lazy weights, and a few fast Monte Carlo checks compare exact probabilities with simulations, each with a
tolerance derived from the binomial standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import boundcheck.bounds as B
from boundcheck.bounds import (Bound, Condition, Parameter, get, list_bounds, register, register_bound, registry,
                               unregister)

CIT = "Wang, Ullah, Mianjy, Arora (NeurIPS 2022)"

SHIPPED = {
    "lemma_B5_f_range", "lemma_B5_deterministic",
    "lemma_B4_sign_flips_hoeffding", "lemma_B4_sign_flips_paper", "lemma_B4_sign_flips_chernoff",
    "lemma_B6_eq3", "lemma_B6_eq4_paper", "lemma_B6_eq4_geometric",
    "lemma_B7_grad_lower_crude", "lemma_B7_grad_lower_sharp", "lemma_B7_grad_upper",
    "lemma_B7_grad_lower_per_sample",
    "lemma_B9_grad_difference_per_sample", "lemma_B9_grad_difference_hp",
    "theorem_3_1_sufficient_step", "theorem_3_1_eta_min", "corollary_3_2_robust_error",
}

# The reference setting of the hand computations.
D, M, C0, GAMMA = 100, 1000, 1.0, 0.1


def val(bound_id, **params) -> float:
    out = get(bound_id).evaluate(**params)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    return float(out)


# ----------------------------------------------------------------------------------------------------------
# Hand-computed values (d = 100, m = 1000, C0 = 1, gamma = 0.1 unless said otherwise)
# ----------------------------------------------------------------------------------------------------------

def _hand_mu(m, c0):
    R = c0 / math.sqrt(m)                       # lazy radius
    p = math.erf(R / math.sqrt(2))              # P(|N(0,1)| <= R)
    return m * p


def _hand_chernoff(mu, gamma):
    # solve delta^2 mu / (2 + delta) = L for delta > 0: mu delta^2 - L delta - 2L = 0
    L = math.log(1 / gamma)
    delta = (L + math.sqrt(L * L + 8 * mu * L)) / (2 * mu)
    return (1 + delta) * mu


def test_hand_B5():
    t = math.sqrt(2 * math.log(2 / GAMMA))      # sqrt(2 log 20) = sqrt(5.99146...) = 2.44775
    assert val("lemma_B5_f_range", gamma=GAMMA, C0=C0) == pytest.approx(t + C0, rel=1e-12)
    assert val("lemma_B5_f_range", gamma=GAMMA, C0=C0) == pytest.approx(3.4477468306808, rel=1e-12)
    # ||x|| = 2 scales both parts; sigma_f scales the random part only
    assert val("lemma_B5_f_range", gamma=GAMMA, C0=C0, x_norm=2.0, sigma_f=0.5) == pytest.approx(
        2 * (0.5 * t + C0), rel=1e-12)
    assert val("lemma_B5_deterministic", C0=2.5) == 2.5
    assert val("lemma_B5_deterministic", C0=2.5, x_norm=0.4) == pytest.approx(1.0)


def test_hand_B4():
    mu = _hand_mu(M, C0)                        # 1000 * erf(0.0223607) = 25.2271
    assert mu == pytest.approx(25.2271206, rel=1e-8)
    assert float(B.expected_sign_flips(M, C0)) == pytest.approx(mu, rel=1e-12)
    hoeff = mu + math.sqrt(M / 2 * math.log(1 / GAMMA))          # + sqrt(500 ln 10) = + 33.9307
    assert val("lemma_B4_sign_flips_hoeffding", m=M, C0=C0, gamma=GAMMA) == pytest.approx(hoeff, rel=1e-12)
    paper = C0 * math.sqrt(M) + math.sqrt(M / 2 * math.log(2 / GAMMA))   # 31.6228 + 38.7023
    assert val("lemma_B4_sign_flips_paper", m=M, C0=C0, gamma=GAMMA) == pytest.approx(paper, rel=1e-12)
    assert paper == pytest.approx(70.32505, rel=1e-6)
    cher = _hand_chernoff(mu, GAMMA)            # via delta, not via the closed form of the code
    assert val("lemma_B4_sign_flips_chernoff", m=M, C0=C0, gamma=GAMMA) == pytest.approx(cher, rel=1e-12)
    assert cher == pytest.approx(37.218185, rel=1e-6)
    assert float(B.chernoff_count_bound(mu, GAMMA)) == pytest.approx(cher, rel=1e-12)


def test_hand_B6():
    r, m, c0 = 0.1, 1000, 1.0
    R = c0 / math.sqrt(m)
    assert val("lemma_B6_eq3", r=r) == pytest.approx(math.asin(r) / math.pi, rel=1e-14)   # 0.0318843
    tau = r * math.sqrt(2 * math.log(1 / r))                                             # 0.2145966
    paper = math.sqrt(2 / math.pi) * (tau + R * (1 + r)) + 2 * math.exp(-tau ** 2 / (2 * r ** 2))
    assert paper == pytest.approx(0.3989777, rel=1e-6)
    assert val("lemma_B6_eq4_paper", r=r, C0=c0, m=m) == pytest.approx(paper, rel=1e-12)
    tau2 = 0.3
    paper2 = math.sqrt(2 / math.pi) * (tau2 + R * (1 + r)) + 2 * math.exp(-tau2 ** 2 / (2 * r ** 2))
    assert val("lemma_B6_eq4_paper", r=r, C0=c0, m=m, tau=tau2) == pytest.approx(paper2, rel=1e-12)
    geo = math.asin(r) / math.pi + math.erf(R / math.sqrt(2)) + 1 - math.exp(-R * R / 2)
    assert val("lemma_B6_eq4_geometric", r=r, C0=c0, m=m) == pytest.approx(geo, rel=1e-12)
    # r = 0: no flip between x and itself except through W; eq. (4) reduces to P(|g| <= R) bounds
    assert val("lemma_B6_eq3", r=0.0) == 0.0
    assert val("lemma_B6_eq4_paper", r=0.0, C0=c0, m=m) == pytest.approx(math.sqrt(2 / math.pi) * R)
    assert val("lemma_B6_eq4_geometric", r=0.0, C0=c0, m=m) == pytest.approx(
        math.erf(R / math.sqrt(2)) + 1 - math.exp(-R * R / 2))


def _hand_B7(d, m, c0, gamma):
    L = math.log(1 / gamma)
    a = max(0.5 - math.sqrt(L / (2 * m)), 0.0)
    b = max(d - 1 - 2 * math.sqrt((d - 1) * L), 0.0)
    main = math.sqrt(a * b)
    S = _hand_chernoff(_hand_mu(m, c0), gamma)
    t2_sharp = math.sqrt(S / m) * (math.sqrt(d - 1) + math.sqrt(S) + math.sqrt(2 * L))
    t2_crude = S / math.sqrt(m) * (math.sqrt(d - 1) + math.sqrt(2 * math.log(m / gamma)))
    upper = (math.sqrt(2 * math.log(2 / gamma)
                       + (0.5 + math.sqrt(L / (2 * m))) * (d - 1 + 2 * math.sqrt((d - 1) * L) + 2 * L))
             + c0 + t2_sharp + S * c0 / m)
    return main, S, t2_sharp, t2_crude, upper


def test_hand_B7():
    main, S, t2s, t2c, upper = _hand_B7(D, M, C0, GAMMA)
    assert main == pytest.approx(5.66280, rel=1e-5)   # sqrt(0.46607 * 68.8038)
    assert val("lemma_B7_grad_lower_sharp", d=D, m=M, C0=C0, gamma=GAMMA) == pytest.approx(
        main - C0 - t2s, rel=1e-12)
    assert val("lemma_B7_grad_lower_crude", d=D, m=M, C0=C0, gamma=GAMMA) == pytest.approx(
        main - C0 - t2c, rel=1e-12)
    assert val("lemma_B7_grad_upper", d=D, m=M, C0=C0, gamma=GAMMA) == pytest.approx(upper, rel=1e-12)
    crude_upper = upper - t2s + t2c
    assert val("lemma_B7_grad_upper", d=D, m=M, C0=C0, gamma=GAMMA, t2="crude") == pytest.approx(
        crude_upper, rel=1e-12)
    terms = B.lemma_B7_terms(D, M, C0, GAMMA)
    assert isinstance(terms, B.B7Terms)
    assert float(terms.main) == pytest.approx(main, rel=1e-12)
    assert float(terms.T1) == C0
    assert float(terms.S_x_bound) == pytest.approx(S, rel=1e-12)
    assert float(terms.T2_sharp) == pytest.approx(t2s, rel=1e-12)
    assert float(terms.T2_crude) == pytest.approx(t2c, rel=1e-12)
    assert float(terms.lower_sharp) == pytest.approx(main - C0 - t2s, rel=1e-12)
    assert float(terms.upper) == pytest.approx(upper, rel=1e-12)
    assert float(terms.failure_lower) == pytest.approx(4 * GAMMA)
    assert float(terms.failure_upper) == pytest.approx(5 * GAMMA)
    # the accounting: 2 gamma (main) + gamma (|S_x|) + gamma (T2) = 4 gamma; upper: 5 gamma
    assert float(get("lemma_B7_grad_lower_sharp").failure(d=D, m=M, C0=C0, gamma=GAMMA)) == pytest.approx(0.4)
    assert float(get("lemma_B7_grad_upper").failure(d=D, m=M, C0=C0, gamma=GAMMA)) == pytest.approx(0.5)


def test_hand_B7_per_sample():
    # ||P grad f(W0)|| = 7, |S_x| = 25, m = 1000, C0 = 1, op norm 15: 7 - 1 - sqrt(0.025) * 15
    expected = 7 - 1 - math.sqrt(25 / 1000) * 15
    assert float(B.grad_norm_lower_certified(7.0, 25, 1000, 1.0, op_norm=15.0)) == pytest.approx(expected)
    assert val("lemma_B7_grad_lower_per_sample", P_grad_norm_W0=7.0, S_x_count=25, m=1000, C0=1.0,
               op_norm=15.0) == pytest.approx(expected)
    # crude T2 with the max row norm 12: 25 / sqrt(1000) * 12 = 9.49; the min of both is taken
    crude = 7 - 1 - 25 / math.sqrt(1000) * 12
    assert float(B.grad_norm_lower_certified(7.0, 25, 1000, 1.0, max_P_w_norm=12.0)) == pytest.approx(crude)
    assert float(B.grad_norm_lower_certified(7.0, 25, 1000, 1.0, op_norm=15.0, max_P_w_norm=12.0)) == \
        pytest.approx(expected)
    # sharper T1 with N_+ = 480: C0 * (480 + 25) / 1000 = 0.505
    sharp_t1 = 7 - 0.505 - math.sqrt(25 / 1000) * 15
    assert float(B.grad_norm_lower_certified(7.0, 25, 1000, 1.0, op_norm=15.0, n_active_W0=480)) == \
        pytest.approx(sharp_t1)
    with pytest.raises(ValueError, match="op_norm"):
        B.grad_norm_lower_certified(7.0, 25, 1000, 1.0)
    with pytest.raises(ValueError, match="S_x_count"):
        B.grad_norm_lower_certified(7.0, 2000, 1000, 1.0, op_norm=1.0)


def test_hand_B9():
    # per sample: |F| = 40, m = 1000, ||W_F||_op = 12, max row norm 11
    assert val("lemma_B9_grad_difference_per_sample", F_count=40, m=1000, op_norm=12.0) == pytest.approx(
        math.sqrt(40 / 1000) * 12)
    assert val("lemma_B9_grad_difference_per_sample", F_count=40, m=1000, max_row_norm=11.0) == pytest.approx(
        40 / math.sqrt(1000) * 11)
    assert val("lemma_B9_grad_difference_per_sample", F_count=0, m=1000, op_norm=12.0) == 0.0
    with pytest.raises(ValueError, match="op_norm"):
        get("lemma_B9_grad_difference_per_sample").evaluate(F_count=3, m=10)
    # high probability, fixed z: r = 0.1
    r = 0.1
    R = C0 / math.sqrt(M)
    p_geo = math.asin(r) / math.pi + math.erf(R / math.sqrt(2)) + 1 - math.exp(-R * R / 2)
    F = _hand_chernoff(M * p_geo, GAMMA)
    maxnorm = math.sqrt(D) + math.sqrt(2 * math.log(M / GAMMA)) + R
    expected = F / math.sqrt(M) * maxnorm
    assert val("lemma_B9_grad_difference_hp", d=D, m=M, C0=C0, r=r, gamma=GAMMA) == pytest.approx(
        expected, rel=1e-12)
    tau = r * math.sqrt(2 * math.log(1 / r))
    p_paper = math.sqrt(2 / math.pi) * (tau + R * (1 + r)) + 2 * r
    expected_paper = _hand_chernoff(M * p_paper, GAMMA) / math.sqrt(M) * maxnorm
    assert val("lemma_B9_grad_difference_hp", d=D, m=M, C0=C0, r=r, gamma=GAMMA, p_form="paper") == \
        pytest.approx(expected_paper, rel=1e-12)
    assert float(get("lemma_B9_grad_difference_hp").failure(d=D, m=M, C0=C0, r=r, gamma=GAMMA)) == \
        pytest.approx(0.2)
    assert float(B.lemma_B9_reference(0.02, 10.0)) == pytest.approx(math.sqrt(0.04 / math.pi) * 10)


def test_hand_theorem_3_1():
    # eta = 0.05, G = 7, D_seg = 1, f = -0.8: 0.05 * 7 * 6 - 0.8 = 1.3
    assert val("theorem_3_1_sufficient_step", eta=0.05, G=7.0, D_seg=1.0, f=-0.8) == pytest.approx(1.3)
    assert bool(B.theorem_3_1_certified(0.05, 7.0, 1.0, -0.8))
    assert not bool(B.theorem_3_1_certified(0.01, 7.0, 1.0, -0.8))      # 0.42 - 0.8 < 0
    assert not bool(B.theorem_3_1_certified(0.05, 7.0, 1.0, 0.0))       # tie: x' = x under sign(0) = 0
    assert bool(B.theorem_3_1_certified(0.05, 7.0, 1.0, 0.0, sign_zero_positive=True))
    assert get("theorem_3_1_sufficient_step").failed_conditions(eta=0.05, G=7.0, D_seg=1.0, f=0.0) == (
        "f_nonzero",)
    # population form with the derived constants: eta_min = 2 C_f / (c_g^2 d)
    main, S, t2s, _, _ = _hand_B7(D, M, C0, GAMMA)
    c_g = (main - C0 - t2s) / math.sqrt(D)
    C_f = math.sqrt(2 * math.log(2 / GAMMA)) + C0
    assert val("theorem_3_1_eta_min", d=D, m=M, C0=C0, gamma=GAMMA) == pytest.approx(
        2 * C_f / (c_g ** 2 * D), rel=1e-12)
    assert val("theorem_3_1_eta_min", d=D, m=M, C0=C0, gamma=GAMMA, C_f=1.0, c_g=0.5) == pytest.approx(
        2 * 1.0 / (0.25 * D))
    # vacuous when the B.7 constant is not positive (C0 = 10 at d = 100)
    b = get("theorem_3_1_eta_min")
    v = b.evaluate(d=D, m=M, C0=10.0, gamma=GAMMA)
    assert np.isinf(v) and bool(b.is_vacuous(v))
    assert float(b.failure(d=D, m=M, C0=C0, gamma=0.01)) == pytest.approx(0.06)
    assert float(b.failure(d=D, m=M, C0=C0, gamma=0.01, gamma_D=0.03)) == pytest.approx(0.08)


def test_hand_corollary_3_2():
    b = get("corollary_3_2_robust_error")
    assert val("corollary_3_2_robust_error", gamma_prime=0.01) == pytest.approx(0.9)
    assert float(b.failure(gamma_prime=0.01)) == pytest.approx(0.1)
    # eps_d = 1 / sqrt(100) = 0.1
    assert b.check_conditions(gamma_prime=0.01)["eps_at_least_eps_d"] is None
    assert bool(b.check_conditions(gamma_prime=0.01, eps=0.2, d=100)["eps_at_least_eps_d"])
    assert b.failed_conditions(gamma_prime=0.01, eps=0.05, d=100) == ("eps_at_least_eps_d",)
    assert b.failed_conditions(gamma_prime=0.01, eps=0.05, d=100, c_eps=0.4) == ()


def test_regime_helper():
    chk = B.theorem_3_1_regime(100, 1000)
    assert bool(chk.width_lower)                   # 1000 >= 100
    assert not bool(chk.width_upper)               # log(1000) = 6.9 > 100**0.24 = 3.02
    assert chk.step_lower is None and chk.step_upper is None
    chk = B.theorem_3_1_regime(100, 20, 0.02, C1=1.0, C2=3.0)
    assert not bool(chk.width_lower) and bool(chk.width_upper)
    assert bool(chk.step_lower) and bool(chk.step_upper)
    assert not bool(chk.all_checked_hold)
    assert not bool(B.theorem_3_1_regime(100, 200, 0.05, C2=3.0).step_upper)


def test_regime_dims_agree_with_the_regime_check():
    # the width range m in [d, exp(d^0.24)] is non-empty exactly where regime() finds some m in it
    dims = B.theorem_3_1_regime_dims()
    for d in (2, 4, 5, 25, 100, 784, 10775, 10776, 20000):
        m_lo = d                                     # the smallest width allowed by m >= d
        inside = bool(B.theorem_3_1_regime(d, m_lo).all_checked_hold)
        assert inside == bool(dims.nonempty(d)), d
    assert "d >= 10776" in dims.describe()
    # the exponent stays a parameter: with c = 1/2 the range is non-empty for every d
    half = B.theorem_3_1_regime_dims(c_exp=0.5)
    assert half.nonempty(np.arange(2, 1000)).all()
    with pytest.raises(ValueError, match="c_exp"):
        B.theorem_3_1_regime_dims(c_exp=0.0)


def test_reconstructed_constants_are_named():
    cor = B.get("corollary_3_2_robust_error")
    assert cor.reconstructed_constants() == {"c_eps": (1.0, cor.reconstructed["c_eps"])}
    assert cor.reconstructed_constants(c_eps=2.5)["c_eps"][0] == 2.5
    assert set(B.get("theorem_3_1_eta_min").reconstructed) == {"poly_coef", "poly_degree", "c_exp"}
    assert B.get("lemma_B5_f_range").reconstructed_constants() == {}


# ----------------------------------------------------------------------------------------------------------
# Properties (Hypothesis)
# ----------------------------------------------------------------------------------------------------------

gammas = st.floats(1e-9, 0.999, allow_subnormal=False)
widths = st.integers(1, 10 ** 6)
dims = st.integers(2, 10 ** 5)
c0s = st.floats(0.0, 50.0, allow_subnormal=False)
radii = st.floats(0.0, 1.0)                 # subnormal r included on purpose (0/0 guard)

UPPER_IN_GAMMA = {
    "lemma_B5_f_range": {},
    "lemma_B4_sign_flips_hoeffding": {},
    "lemma_B4_sign_flips_paper": {},
    "lemma_B4_sign_flips_chernoff": {},
    "lemma_B7_grad_upper": {},
    "lemma_B9_grad_difference_hp": {"r": 0.05},
}


def _params_for(bound, d, m, c0):
    names = bound.parameter_names
    out = {}
    for name, value in (("d", d), ("m", m), ("C0", c0)):
        if name in names:
            out[name] = value
    return out


@given(g1=gammas, g2=gammas, d=dims, m=widths, c0=c0s)
def test_upper_bounds_grow_as_gamma_shrinks(g1, g2, d, m, c0):
    lo, hi = sorted((g1, g2))
    for bid, extra in UPPER_IN_GAMMA.items():
        b = get(bid)
        p = {**_params_for(b, d, m, c0), **extra}
        v_lo, v_hi = float(b(gamma=lo, **p)), float(b(gamma=hi, **p))
        assert v_lo >= v_hi - 1e-12 * abs(v_hi), bid
        assert float(b.failure(gamma=lo, **p)) <= float(b.failure(gamma=hi, **p))


@given(g1=gammas, g2=gammas, d=dims, m=widths, c0=c0s)
def test_B7_lower_bounds_shrink_as_gamma_shrinks(g1, g2, d, m, c0):
    lo, hi = sorted((g1, g2))
    for bid in ("lemma_B7_grad_lower_sharp", "lemma_B7_grad_lower_crude"):
        v_lo = float(get(bid)(d=d, m=m, C0=c0, gamma=lo))
        v_hi = float(get(bid)(d=d, m=m, C0=c0, gamma=hi))
        assert v_lo <= v_hi + 1e-12 * abs(v_hi), bid


@given(d=dims, m=widths, c0=c0s, gamma=gammas)
def test_B7_lower_below_main_below_upper(d, m, c0, gamma):
    t = B.lemma_B7_terms(d, m, c0, gamma)
    assert t.lower_sharp <= t.main and t.lower_crude <= t.main
    assert t.main <= t.upper
    # lower bounds fall as C0 grows
    assert float(get("lemma_B7_grad_lower_sharp")(d=d, m=m, C0=c0 + 1.0, gamma=gamma)) <= t.lower_sharp


@given(m=widths, c0=c0s, gamma=gammas)
def test_B4_bounds_above_their_mean(m, c0, gamma):
    mu = float(B.expected_sign_flips(m, c0))
    assert mu <= c0 * math.sqrt(2 * m / math.pi) * (1 + 1e-12)      # erf(z) <= 2 z / sqrt(pi)
    for bid in ("lemma_B4_sign_flips_hoeffding", "lemma_B4_sign_flips_chernoff", "lemma_B4_sign_flips_paper"):
        assert float(get(bid)(m=m, C0=c0, gamma=gamma)) >= mu * (1 - 1e-12), bid


@given(mu=st.floats(1e-6, 1e7), gamma=gammas)
def test_chernoff_inversion_solves_its_equation(mu, gamma):
    bnd = float(B.chernoff_count_bound(mu, gamma))
    delta = bnd / mu - 1.0
    assert delta > 0
    # exp(-delta^2 mu / (2 + delta)) = gamma, compared on the log scale
    assert -delta ** 2 * mu / (2 + delta) == pytest.approx(math.log(gamma), rel=1e-7)


@given(r=radii, c0=c0s, m=widths)
def test_B6_relations(r, c0, m):
    eq3 = float(get("lemma_B6_eq3")(r=r))
    assert eq3 <= r / 2 + 1e-15
    R = c0 / math.sqrt(m)
    geo = float(get("lemma_B6_eq4_geometric")(r=r, C0=c0, m=m))
    assert eq3 <= geo
    assert geo <= r / 2 + math.sqrt(2 / math.pi) * R + R * R / 2 + 1e-12
    paper = float(get("lemma_B6_eq4_paper")(r=r, C0=c0, m=m))
    assert paper >= math.sqrt(2 / math.pi) * R * (1 + r) - 1e-12
    # (no assertion between geo and paper: neither is always the smaller)


@given(p=st.floats(0, 100), s=st.integers(0, 1000), op=st.floats(0, 100), c0=c0s)
def test_per_sample_B7_monotone_in_S(p, s, op, c0):
    lo = float(B.grad_norm_lower_certified(p, s, 1000, c0, op_norm=op))
    lo_more = float(B.grad_norm_lower_certified(p, min(s + 1, 1000), 1000, c0, op_norm=op))
    assert lo_more <= lo
    assert lo <= p - c0 + 1e-12


def test_geo_and_paper_eq4_are_not_ordered():
    # documents why the property test above asserts nothing between them
    small_r = (float(get("lemma_B6_eq4_geometric")(r=0.1, C0=1.0, m=1000)),
               float(get("lemma_B6_eq4_paper")(r=0.1, C0=1.0, m=1000)))
    assert small_r[0] < small_r[1]
    # with a huge tau the paper form loses its tail term and can undercut the geometric one at r = 1
    geo = float(get("lemma_B6_eq4_geometric")(r=1.0, C0=0.0, m=1))
    paper = float(get("lemma_B6_eq4_paper")(r=1.0, C0=0.0, m=1, tau=0.1))
    assert geo == pytest.approx(0.5)
    assert paper > geo
    paper_small = float(get("lemma_B6_eq4_paper")(r=0.01, C0=0.0, m=1, tau=0.05))
    geo_small = float(get("lemma_B6_eq4_geometric")(r=0.01, C0=0.0, m=1))
    assert paper_small > geo_small


# ----------------------------------------------------------------------------------------------------------
# Broadcasting and validation
# ----------------------------------------------------------------------------------------------------------

def test_broadcasting_matches_elementwise():
    gam = np.array([0.1, 0.01, 0.001])[:, None]
    c0 = np.array([0.25, 0.5, 1.0, 2.0])[None, :]
    for bid in ("lemma_B5_f_range", "lemma_B4_sign_flips_chernoff", "lemma_B7_grad_lower_sharp",
                "lemma_B7_grad_upper", "lemma_B9_grad_difference_hp", "theorem_3_1_eta_min"):
        b = get(bid)
        extra = {k: v for k, v in {"d": 200, "m": 2000, "r": 0.05}.items() if k in b.parameter_names}
        out = b.evaluate(gamma=gam, C0=c0, **extra)
        assert out.shape == (3, 4) and out.dtype == np.float64
        for i in range(3):
            for j in range(4):
                assert out[i, j] == pytest.approx(float(b.evaluate(gamma=gam[i, 0], C0=c0[0, j], **extra)),
                                                  rel=1e-13), bid
        assert b.failure(gamma=gam, C0=c0, **extra).shape == (3, 4)
    # integer-valued float arrays are accepted for m and d
    assert get("lemma_B7_grad_lower_sharp")(d=np.array([100.0, 400.0]), m=1000, C0=1, gamma=0.1).shape == (2,)
    # a constant result still takes the broadcast shape
    assert get("lemma_B5_deterministic")(C0=np.ones((2, 3))).shape == (2, 3)
    assert get("corollary_3_2_robust_error").failure(gamma_prime=[0.01, 0.04]).tolist() == \
        pytest.approx([0.1, 0.2])


@pytest.mark.parametrize("params, match", [
    ({"gamma": 0.0, "C0": 1.0}, r"gamma must be a real number in \(0, 1\)"),
    ({"gamma": 1.0, "C0": 1.0}, r"gamma must be a real number in \(0, 1\)"),
    ({"gamma": [0.1, 1.5], "C0": 1.0}, r"gamma .* got 1\.5 at index \(1,\)"),
    ({"gamma": 0.1, "C0": -1.0}, r"C0 must be a real number >= 0"),
    ({"gamma": float("nan"), "C0": 1.0}, r"gamma must contain only finite values"),
])
def test_validation_messages_name_the_parameter(params, match):
    with pytest.raises(ValueError, match=match):
        get("lemma_B5_f_range").evaluate(**params)


@pytest.mark.parametrize("bid, params, match", [
    ("lemma_B4_sign_flips_chernoff", {"m": 0, "C0": 1, "gamma": 0.1}, r"m must be an integer >= 1"),
    ("lemma_B4_sign_flips_chernoff", {"m": 10.5, "C0": 1, "gamma": 0.1}, r"m must be an integer >= 1"),
    ("lemma_B7_grad_lower_sharp", {"d": 1, "m": 10, "C0": 1, "gamma": 0.1}, r"d must be an integer >= 2"),
    ("lemma_B6_eq3", {"r": 1.5}, r"r must be a real number in \[0, 1\]"),
    ("lemma_B7_grad_upper", {"d": 10, "m": 10, "C0": 1, "gamma": 0.1, "t2": "exact"}, r"t2 must be one of"),
])
def test_validation_per_entry(bid, params, match):
    with pytest.raises(ValueError, match=match):
        get(bid).evaluate(**params)


def test_unknown_and_missing_parameters():
    b = get("lemma_B5_f_range")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) Gamma.*accepts gamma, C0"):
        b.evaluate(Gamma=0.1, C0=1.0)
    with pytest.raises(TypeError, match=r"missing required parameter\(s\): gamma"):
        b.evaluate(C0=1.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        b.evaluate(gamma=[0.1, 0.2], C0=[1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        b.evaluate(gamma="0.1", C0=1.0)


def test_is_vacuous():
    b4 = get("lemma_B4_sign_flips_chernoff")
    v = b4.evaluate(m=[1, 100000], C0=1.0, gamma=0.1)
    assert b4.is_vacuous(v, m=[1, 100000]).tolist() == [True, False]      # trivial |S_x| <= m
    assert b4.trivial_value(m=7).tolist() == 7.0
    with pytest.raises(TypeError, match="trivial value needs parameter"):
        b4.is_vacuous(v)
    crude = get("lemma_B7_grad_lower_crude")
    assert bool(crude.is_vacuous(crude(d=D, m=M, C0=C0, gamma=GAMMA)))     # negative: vacuous
    sharp = get("lemma_B7_grad_lower_sharp")
    assert not bool(sharp.is_vacuous(sharp(d=D, m=M, C0=C0, gamma=GAMMA)))
    p = get("lemma_B6_eq4_paper")
    assert bool(p.is_vacuous(p(r=1.0, C0=1.0, m=10)))                     # >= 1 for a probability
    assert not bool(get("lemma_B5_f_range").is_vacuous(3.0))             # no cap: only inf is vacuous
    assert bool(get("lemma_B5_f_range").is_vacuous(np.inf))
    assert bool(get("theorem_3_1_sufficient_step").is_vacuous(0.0))
    assert bool(get("corollary_3_2_robust_error").is_vacuous(-0.1))


def test_conditions():
    b = get("lemma_B7_grad_lower_sharp")
    # theory section 5.4: d = 25, C0 = 10 is outside C0 <= c' sqrt(d)
    assert "C0_small" in b.failed_conditions(d=25, m=1000, C0=10.0, gamma=0.1)
    assert b.failed_conditions(d=400, m=4000, C0=0.5, gamma=0.1) == ()
    # 10 <= sqrt(1/2) sqrt(d): False at d = 25 (3.5), True at d = 400 (14.1); with c' = 0.4: 2 and 8
    res = b.check_conditions(d=[25, 400], m=4000, C0=10.0, gamma=0.1)
    assert res["C0_small"].tolist() == [False, True] and res["x_on_sphere"] is None
    assert b.check_conditions(d=[25, 400], m=4000, C0=10.0, gamma=0.1, c_prime=0.4)["C0_small"].tolist() == \
        [False, False]
    assert "d_large" in b.failed_conditions(d=5, m=4000, C0=0.1, gamma=0.1)
    names = {c.name for c in b.assumptions}
    assert {"x_on_sphere", "x_fixed"} <= names
    hp = get("lemma_B9_grad_difference_hp")
    z = hp.conditions["z_fixed"]
    assert z.check is None and "not uniform" in z.description
    assert "not made explicit" in hp.notes or "NOT uniform" in hp.notes
    assert "NOT YET CHECKED NUMERICALLY" in get("lemma_B7_grad_upper").notes
    assert get("lemma_B4_sign_flips_paper").failed_conditions(m=10, C0=1, gamma=0.1, mean_coef=0.5) == (
        "mean_coef_valid",)
    eta = get("theorem_3_1_eta_min")
    assert "width_upper" in eta.failed_conditions(d=100, m=1000, C0=1.0, gamma=0.1)
    assert "RECON" in eta.notes and eta.status == "recon"


# ----------------------------------------------------------------------------------------------------------
# Registry behaviour
# ----------------------------------------------------------------------------------------------------------

def _toy(id="toy_bound", **kw):
    fields = dict(id=id, title="toy", citation="nobody", quantity="q", direction="upper",
                  function=lambda gamma: 1.0 / gamma, formula="1/gamma")
    fields.update(kw)
    return Bound(**fields)


def test_shipped_ids_and_records():
    assert SHIPPED <= set(registry)
    for bid in SHIPPED:
        b = get(bid)
        assert b.id == bid
        assert b.citation.startswith(CIT)
        assert b.direction in ("upper", "lower")
        assert b.status in ("derived", "found", "recon")
        assert isinstance(b.constants, Mapping)
        assert b.formula.strip() and b.title.strip() and b.quantity.strip() and b.estimator.strip()
        assert "Theory section" in b.notes                 # every entry cites its section of docs/theory.md
        assert b.example, bid
        value = b.evaluate(**b.example)
        assert value.shape == () and np.isfinite(value)
        fp = float(b.failure(**b.example))
        assert 0.0 <= fp <= 1.0
        assert b.is_vacuous(value, **b.example).dtype == bool
        # constants are parameters with defaults: passing them explicitly changes nothing
        assert float(b.evaluate(**b.example, **b.constants)) == float(value)
        assert b.describe().startswith(bid)
        assert bid in b.summary()
    derived = {b.id for b in list_bounds(status="derived")}
    assert "lemma_B7_grad_lower_sharp" in derived and "corollary_3_2_robust_error" not in derived
    assert all(b.direction == "lower" for b in list_bounds(direction="lower"))
    assert {b.id for b in list_bounds(prefix="lemma_B4")} == {
        "lemma_B4_sign_flips_hoeffding", "lemma_B4_sign_flips_paper", "lemma_B4_sign_flips_chernoff"}
    # sure bounds have failure probability 0
    for bid in ("lemma_B5_deterministic", "lemma_B6_eq3", "lemma_B6_eq4_paper", "lemma_B6_eq4_geometric",
                "lemma_B7_grad_lower_per_sample", "lemma_B9_grad_difference_per_sample",
                "theorem_3_1_sufficient_step"):
        b = get(bid)
        assert float(b.failure(**b.example)) == 0.0


def test_duplicate_id_refused():
    with pytest.raises(ValueError, match="'lemma_B5_f_range' is already registered"):
        register(_toy(id="lemma_B5_f_range"))
    assert get("lemma_B5_f_range").citation.startswith(CIT)          # untouched
    register(get("lemma_B5_f_range"))                                 # the same record again: a no-op
    with pytest.raises(TypeError):
        register("lemma_B5_f_range")


def test_missing_id_lists_available():
    with pytest.raises(KeyError) as info:
        get("lemma_B5_f_rang")
    msg = str(info.value)
    assert "Did you mean lemma_B5_f_range" in msg
    for bid in SHIPPED:
        assert bid in msg


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        registry["x"] = _toy()       # type: ignore[index]
    with pytest.raises(TypeError):
        del registry["lemma_B5_f_range"]   # type: ignore[attr-defined]


def test_bound_record_is_checked():
    with pytest.raises(ValueError, match="direction"):
        _toy(direction="both")
    with pytest.raises(ValueError, match="status"):
        _toy(status="guessed")
    with pytest.raises(ValueError, match="citation"):
        _toy(citation="")
    with pytest.raises(ValueError, match="formula"):
        _toy(formula=" ")
    with pytest.raises(ValueError, match="constant 'c' is not a parameter"):
        _toy(constants={"c": 1.0})
    with pytest.raises(ValueError, match="Bound id"):
        _toy(id="has space")
    with pytest.raises(ValueError, match="keyword"):
        _toy(function=lambda *args: 1.0)
    with pytest.raises(ValueError, match="reconstructed constant 'q' is not a parameter"):
        _toy(reconstructed={"q": "not found"})


def test_user_registration_with_the_decorator():
    @register_bound(title="Gaussian maximum", citation="Folklore, eq. (2)", quantity="max_i |X_i|",
                    direction="upper", formula="c * sqrt(2 log(2n/gamma))",
                    parameters=[Parameter("n", "number of variables", lower=1, integer=True),
                                Parameter("gamma", "failure", lower=0, upper=1, lower_open=True,
                                          upper_open=True)],
                    constants={"c": 1.0},
                    conditions={"iid": "X_i i.i.d. N(0, 1)",
                                "n_small": Condition("n_small", "n <= 1e6", check=lambda n: n <= 1e6,
                                                     kind="regime")},
                    failure_probability=lambda gamma: gamma, status="found",
                    example={"n": 10, "gamma": 0.1})
    def user_gaussian_max(n, gamma, c=1.0):
        """A user's lemma: the max of n standard Gaussians."""
        return c * np.sqrt(2 * np.log(2 * n / gamma))

    try:
        assert isinstance(user_gaussian_max, Bound)
        assert get("user_gaussian_max") is user_gaussian_max
        assert float(user_gaussian_max(n=10, gamma=0.1)) == pytest.approx(math.sqrt(2 * math.log(200)))
        assert float(user_gaussian_max(n=10, gamma=0.1, c=2.0)) == pytest.approx(2 * math.sqrt(2 * math.log(200)))
        assert user_gaussian_max.notes == "A user's lemma: the max of n standard Gaussians."
        assert float(user_gaussian_max.failure(n=10, gamma=0.05)) == 0.05
        assert user_gaussian_max.failed_conditions(n=[10, 10 ** 7], gamma=0.1) == ("n_small",)
        assert user_gaussian_max.check_conditions(n=10, gamma=0.1)["iid"] is None
        with pytest.raises(ValueError, match=r"n must be an integer >= 1"):
            user_gaussian_max(n=0.5, gamma=0.1)
        with pytest.raises(ValueError, match="already registered"):
            register_bound(title="again", citation="x", quantity="q", direction="upper", formula="f")(
                user_gaussian_max.function)
        assert user_gaussian_max in list_bounds(status="found")
    finally:
        unregister("user_gaussian_max")
    assert "user_gaussian_max" not in registry


def test_decorator_infers_undeclared_parameters():
    @register_bound(id="toy_inferred", title="t", citation="c", quantity="q", direction="lower", formula="x - y")
    def _f(x, y=2.0, z=None):
        return x - y if z is None else x - y - z
    try:
        assert _f.parameter_names == ("x", "y", "z") and _f.required == ("x",)
        assert float(_f(x=5)) == 3.0 and float(_f(x=5, z=1)) == 2.0
        with pytest.raises(ValueError, match="x must contain only finite values"):
            _f(x=np.inf)
        assert bool(_f.is_vacuous(_f(x=1)))            # lower bound -1 <= 0
    finally:
        unregister("toy_inferred")


# ----------------------------------------------------------------------------------------------------------
# Brute force: the per-sample certificates against plain-numpy networks and adversarial lazy weights
# ----------------------------------------------------------------------------------------------------------

def _grad(a, W, x):
    """grad_x f(x; W) = m^{-1/2} sum_s a_s 1{w_s.x > 0} w_s (plain numpy)."""
    return ((a * (W @ x > 0)) @ W) / math.sqrt(len(a))


def _f(a, W, x):
    return float(a @ np.maximum(W @ x, 0.0)) / math.sqrt(len(a))


def _project(W, W0, R):
    delta = W - W0
    norms = np.linalg.norm(delta, axis=1, keepdims=True)
    return W0 + delta * np.minimum(1.0, R / np.maximum(norms, 1e-300))


def _adversarial_lazy_weights(a, W0, x, R, rng, pgd_steps=60):
    """Candidate W in the lazy ball that make ||grad f(x; W)|| small (and some random ones)."""
    g = W0 @ x
    P = np.eye(len(x)) - np.outer(x, x)
    pg = P @ _grad(a, W0, x)
    u = pg / np.linalg.norm(pg)
    in_S = np.abs(g) <= R
    w_flip = W0 - R * np.sign(g)[:, None] * in_S[:, None] * x
    shrink = W0 - R * (a * (g > 0))[:, None] * u
    # flip the neurons of S_x whose contribution along u is positive, shrink the others
    contrib = a * (W0 @ u)
    bad = in_S & (((g > 0) & (contrib > 0)) | ((g <= 0) & (contrib < 0)))
    mixed = shrink.copy()
    dirs = -np.sign(g)[:, None] * x + 0.2 * -(a * np.sign(contrib))[:, None] * u
    mixed[bad] = W0[bad] + R * dirs[bad] / np.linalg.norm(dirs[bad], axis=1, keepdims=True)
    cands = [W0, w_flip, shrink, _project(mixed, W0, R)]
    for _ in range(3):
        z = rng.standard_normal(W0.shape)
        cands.append(W0 + R * z / np.linalg.norm(z, axis=1, keepdims=True))
    # projected gradient descent on ||grad f(x; W)||^2 (pattern held fixed within a step)
    W = shrink.copy()
    for _ in range(pgd_steps):
        gr = _grad(a, W, x)
        step = (a * (W @ x > 0))[:, None] * gr[None, :] * (2 / math.sqrt(len(a)))
        W = _project(W - 0.5 * R * step / max(np.abs(step).max(), 1e-12), W0, R)
        cands.append(W)
    return cands


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("c0", [0.3, 1.0, 4.0])
def test_per_sample_B7_certificate_is_never_beaten(seed, c0):
    rng = np.random.default_rng(1000 * seed + int(10 * c0))
    d, m = 20, 200
    R = c0 / math.sqrt(m)
    x = rng.standard_normal(d)
    x /= np.linalg.norm(x)
    a = rng.choice([-1.0, 1.0], m)
    W0 = rng.standard_normal((m, d))
    g = W0 @ x
    P = np.eye(d) - np.outer(x, x)
    in_S = np.abs(g) <= R
    PW_S = W0[in_S] @ P
    op = np.linalg.norm(PW_S, 2) if in_S.any() else 0.0
    mx = np.linalg.norm(PW_S, axis=1).max() if in_S.any() else 0.0
    n_plus = int((g > 0).sum())
    pg0 = np.linalg.norm(P @ _grad(a, W0, x))
    cert = float(B.grad_norm_lower_certified(pg0, int(in_S.sum()), m, c0, op_norm=op, max_P_w_norm=mx,
                                             n_active_W0=n_plus))
    cert_plain = float(B.grad_norm_lower_certified(pg0, int(in_S.sum()), m, c0, op_norm=op))
    assert cert >= cert_plain - 1e-12            # the optional inputs only sharpen it
    worst = np.inf
    for W in _adversarial_lazy_weights(a, W0, x, R, rng):
        assert np.linalg.norm(W - W0, axis=1).max() <= R * (1 + 1e-12)
        grad_W = _grad(a, W, x)
        worst = min(worst, np.linalg.norm(grad_W))
        # the pieces of the proof, one by one
        act = W @ x > 0
        T1 = ((a * act) @ ((W - W0) @ P)) / math.sqrt(m)
        T2 = ((a * (act.astype(float) - (g > 0))) @ (W0 @ P)) / math.sqrt(m)
        assert np.allclose(P @ grad_W, P @ _grad(a, W0, x) + T1 + T2)
        flipped = act != (g > 0)
        assert not (flipped & ~in_S).any()                                      # flipped set in S_x
        assert np.linalg.norm(T1) <= c0 * min(1.0, (n_plus + in_S.sum()) / m) + 1e-12
        assert np.linalg.norm(T2) <= math.sqrt(in_S.sum() / m) * op + 1e-12
    assert worst >= cert - 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_per_sample_B9_bound_holds_and_is_tight_for_one_flip(seed):
    rng = np.random.default_rng(seed)
    d, m, c0 = 15, 300, 1.0
    R = c0 / math.sqrt(m)
    a = rng.choice([-1.0, 1.0], m)
    W0 = rng.standard_normal((m, d))
    z0 = rng.standard_normal(W0.shape)
    W = W0 + R * z0 / np.linalg.norm(z0, axis=1, keepdims=True)
    b = get("lemma_B9_grad_difference_per_sample")
    seen_single = False
    for _ in range(200):
        x = rng.standard_normal(d)
        x /= np.linalg.norm(x)
        z = x + rng.uniform(0.001, 0.3) * rng.standard_normal(d) / math.sqrt(d)
        F = (W @ z > 0) != (W @ x > 0)
        diff = np.linalg.norm(_grad(a, W, z) - _grad(a, W, x))
        op = np.linalg.norm(W[F], 2) if F.any() else 0.0
        mx = np.linalg.norm(W[F], axis=1).max() if F.any() else 0.0
        assert diff <= float(b(F_count=int(F.sum()), m=m, op_norm=op)) + 1e-12
        assert diff <= float(b(F_count=int(F.sum()), m=m, max_row_norm=mx)) + 1e-12
        if F.sum() == 1:                       # one flipped neuron: the bound is an equality
            seen_single = True
            assert diff == pytest.approx(float(b(F_count=1, m=m, op_norm=op)), rel=1e-10)
    assert seen_single


def _segment_sup(a, W, x, v, eta):
    """Exact max_{t in [0, eta]} ||grad f(x - t v) - grad f(x)||: the pattern is constant between breakpoints."""
    pre, slope = W @ x, W @ v
    with np.errstate(divide="ignore", invalid="ignore"):
        tb = pre / slope
    tb = tb[np.isfinite(tb) & (tb > 0) & (tb <= eta)]
    ts = np.unique(np.concatenate([[0.0, eta], tb]))
    cand = np.concatenate([ts, (ts[:-1] + ts[1:]) / 2])
    g0 = _grad(a, W, x)
    return max(np.linalg.norm(_grad(a, W, x - t * v) - g0) for t in cand)


@pytest.mark.parametrize("seed", range(3))
def test_theorem_3_1_margin_is_a_lower_bound(seed):
    rng = np.random.default_rng(seed)
    d, m, c0 = 10, 40, 1.0
    R = c0 / math.sqrt(m)
    b = get("theorem_3_1_sufficient_step")
    certified = 0
    for _ in range(30):
        a = rng.choice([-1.0, 1.0], m)
        W0 = rng.standard_normal((m, d))
        z0 = rng.standard_normal(W0.shape)
        W = W0 + R * rng.uniform(0, 1, (m, 1)) * z0 / np.linalg.norm(z0, axis=1, keepdims=True)
        x = rng.standard_normal(d)
        x /= np.linalg.norm(x)
        fx = _f(a, W, x)
        gx = _grad(a, W, x)
        G = float(np.linalg.norm(gx))
        s = 1.0 if fx > 0 else -1.0
        for eta in np.geomspace(1e-3, 1.0, 12):
            D_seg = _segment_sup(a, W, x, s * gx, eta)
            margin = float(b(eta=eta, G=G, D_seg=D_seg, f=fx))
            fxp = _f(a, W, x - eta * s * gx)
            assert -s * fxp >= margin - 1e-10
            if bool(B.theorem_3_1_certified(eta, G, D_seg, fx)):
                certified += 1
                assert np.sign(fxp) == -s
    assert certified > 20          # the claim is exercised, not vacuously true


# ----------------------------------------------------------------------------------------------------------
# Monte Carlo sanity checks (fast; fixed seeds; tolerances from binomial standard deviations)
# ----------------------------------------------------------------------------------------------------------

def test_mc_expected_sign_flips():
    rng = np.random.default_rng(12345)
    m, c0, reps = 1000, 2.0, 300
    R = c0 / math.sqrt(m)
    count = int((np.abs(rng.standard_normal((reps, m))) <= R).sum())
    n = reps * m
    p = float(B.expected_sign_flips(m, c0)) / m
    # count ~ Bin(n, p): |count - n p| <= 5 sd fails with probability < 1e-6 if the mean is right
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= 5 * sd


def test_mc_eq3_exact_angle():
    rng = np.random.default_rng(7)
    d, theta, n = 6, 0.4, 200_000
    x = np.zeros(d)
    x[0] = 1.0
    xp = np.zeros(d)
    xp[0], xp[1] = math.cos(theta), math.sin(theta)
    xp *= 1.7                              # the probability depends on the angle only
    assert float(B.sign_disagreement_probability(x, xp)) == pytest.approx(theta / math.pi, rel=1e-12)
    assert B.sign_disagreement_probability(np.stack([x, x]), np.stack([xp, x])).tolist() == \
        pytest.approx([theta / math.pi, 0.0], abs=1e-15)
    w = rng.standard_normal((n, d))
    k = int(((w @ x > 0) != (w @ xp > 0)).sum())
    p = theta / math.pi
    # k ~ Bin(n, p): 5 sd
    assert abs(k - n * p) <= 5 * math.sqrt(n * p * (1 - p))
    # the eq. (3) bound at r = ||x' - x|| (unit x') is above the exact value
    r = float(np.linalg.norm(xp / 1.7 - x))
    assert float(get("lemma_B6_eq3")(r=r)) >= p


def _reach_2d(u, r, R):
    """Whether some Delta with ||Delta|| <= R puts u + Delta in {(v.x)(v.x') <= 0} (exact 2-D geometry).

    x = e1 and x' = (1 - r^2, r sqrt(1 - r^2)) (||x' - x|| = r, the largest angle arcsin(r)). The set is a
    closed double wedge bounded by four rays; outside it, the distance is the distance to the nearest ray.
    """
    x = np.array([1.0, 0.0])
    xp = np.array([1 - r * r, r * math.sqrt(1 - r * r)])
    inside = (u @ x) * (u @ xp) <= 0
    t1 = np.array([0.0, 1.0])
    t2 = np.array([-xp[1], xp[0]]) / np.linalg.norm(xp)
    dist = np.full(len(u), np.inf)
    for t in (t1, -t1, t2, -t2):
        along = np.maximum(u @ t, 0.0)
        dist = np.minimum(dist, np.linalg.norm(u - along[:, None] * t, axis=1))
    return inside | (dist <= R)


def test_reach_oracle_on_hand_points():
    u = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [-2.0, 0.05]])
    # (0, 1) is orthogonal to x: inside. (1, 0) is at distance 1 from the y axis and
    # (1 - r^2)/||x'|| ~ 0.99995 from the other line (r = 0.01): reachable with R = 1.01, not with 0.5.
    assert _reach_2d(u[:1], 0.01, 0.0).tolist() == [True]
    assert _reach_2d(u[1:2], 0.01, 0.5).tolist() == [False]
    assert _reach_2d(u[2:3], 0.01, 1.01).tolist() == [True]
    assert _reach_2d(u[3:], 0.01, 0.01).tolist() == [False]


@pytest.mark.parametrize("r, c0, m", [(0.3, 2.0, 100), (0.05, 0.5, 100), (0.5, 0.1, 100), (0.01, 1.0, 1000)])
def test_mc_eq4_bounds_cover_the_reach_probability(r, c0, m):
    rng = np.random.default_rng(int(1000 * r) + m)
    n = 400_000
    R = c0 / math.sqrt(m)
    p_hat = _reach_2d(rng.standard_normal((n, 2)), r, R).mean()
    # p_hat ~ Bin(n, p)/n; a valid bound is >= p, so it is >= p_hat - 5 sd except with probability < 1e-6
    sd = math.sqrt(max(p_hat * (1 - p_hat), 1e-12) / n)
    for bid in ("lemma_B6_eq4_geometric", "lemma_B6_eq4_paper"):
        assert float(get(bid)(r=r, C0=c0, m=m)) >= p_hat - 5 * sd, bid
    # eq. (3) alone (R = 0 part) must be below: the reach set contains the double wedge
    assert float(get("lemma_B6_eq3")(r=r)) <= p_hat + 5 * sd


def test_mc_f_range_tail():
    rng = np.random.default_rng(3)
    m, n, gamma = 50, 20_000, 0.05
    g = rng.standard_normal((n, m))
    a = rng.choice([-1.0, 1.0], (n, m))
    f0 = (a * np.maximum(g, 0)).sum(axis=1) / math.sqrt(m)
    # Var f(x; W0) = 1/2 exactly: sample variance within 5 sd (sd of s^2 ~ sqrt(2/n) * 1/2 for near-normal)
    assert abs(f0.var() - 0.5) <= 5 * 0.5 * math.sqrt(2 / n) * 1.2
    t = float(get("lemma_B5_f_range")(gamma=gamma, C0=0.0))
    k = int((np.abs(f0) > t).sum())
    # allowed: k ~ Bin(n, <= gamma); a count above n gamma + 5 sd would reject the bound
    assert k <= n * gamma + 5 * math.sqrt(n * gamma * (1 - gamma))


def test_mc_B7_lower_sharp_not_beaten_by_adversarial_weights():
    rng = np.random.default_rng(11)
    d, m, c0, gamma, draws = 100, 1000, 0.25, 0.05, 30
    R = c0 / math.sqrt(m)
    bound = float(get("lemma_B7_grad_lower_sharp")(d=d, m=m, C0=c0, gamma=gamma))
    assert bound > 0
    violations = 0
    for _ in range(draws):
        x = rng.standard_normal(d)
        x /= np.linalg.norm(x)
        a = rng.choice([-1.0, 1.0], m)
        W0 = rng.standard_normal((m, d))
        worst = min(np.linalg.norm(_grad(a, W, x))
                    for W in _adversarial_lazy_weights(a, W0, x, R, rng, pgd_steps=5))
        violations += worst < bound
    # failure probability <= 4 gamma = 0.2: Bin(30, 0.2) exceeds 15 with probability < 1e-3
    assert violations <= 15
