"""Negative controls: each study's verdict code, fed a deliberately wrong prediction (a swapped constant, an
exponent off by 1/4, ...), says VIOLATED or OUTSIDE at the study's default sample sizes. A verdict that cannot
fail is asserted to say so (no power).

Cheap: one default cell of the study, or the quantities its verdict code reads computed directly at the
default sample sizes (the same estimators), never the whole default sweep."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

import boundcheck as bc
from boundcheck.bounds import get
from boundcheck.checks import compare_to_bound, verdicts
from boundcheck.cli import load_study
from boundcheck.stats import fit_exponents


def _wrong(bound_id, fn):
    """The registry bound ``bound_id`` with its formula replaced by ``fn(**params)``."""
    orig = get(bound_id)
    return dataclasses.replace(orig, function=lambda **kw: fn(orig, **kw))


def _line(lines, start):
    hits = [ln for ln in lines if ln.startswith(start)]
    assert hits, f"no line starting with {start!r} in {lines}"
    return hits[0]


def _patch_bound(monkeypatch, module, attr, bound_id, fn):
    wrong = _wrong(bound_id, fn)
    monkeypatch.setattr(module, attr, lambda i: wrong if i == bound_id else get(i))


# ------------------------------------------------------------------------------------------- lemma_f_range

def test_f_range_wrong_constant_exact_law_and_exponent(monkeypatch):
    mod = load_study("lemma_f_range")
    cfg = mod.Config()
    # B.5 with the C0 term dropped (a swapped constant): at C0 = 5 (a default cell) sup |f| ~ |f(W0)| + C0/2
    # exceeds it far more often than gamma. (At C0 = 1 it would not: the Gaussian part of the bound is loose,
    # sigma 1 for the true 1/sqrt(2), so this control has power only where C0/2 is comparable to the bound.)
    _patch_bound(monkeypatch, mod, "get_bound", "lemma_B5_f_range",
                 lambda b, C0, gamma, **kw: np.sqrt(2 * np.log(2 / gamma)) + 0 * C0)
    table = mod.cell({"m": 1000, "C0": 5.0}, np.random.default_rng(0), cfg)
    assert "VIOLATED" in _line(verdicts(table), "lemma_B5_f_range:")
    monkeypatch.undo()
    # the exact law E[sup f - f(W0)] = C0/2 with C0/sqrt(pi) instead, and the exponent 1 off by 1/4
    cells = pd.concat([mod.cell({"m": 1000, "C0": C0}, np.random.default_rng(i), cfg).assign(m=1000, C0=C0)
                       for i, C0 in enumerate(cfg.C0s)], ignore_index=True)
    assert "OUTSIDE the CI" in mod.increment_law_line(cells, coefficient=1 / math.sqrt(math.pi))
    assert "OUTSIDE" not in mod.increment_law_line(cells)          # and the true law is not flagged
    fits = fit_exponents(cells[cells.bound_id == "lemma_B5_deterministic"], "C0", "increment_mean", by="m")
    row = next(fits.itertuples())
    assert mod.exponent_row(row, predicted=0.75)["verdict"] == "outside CI"
    assert mod.exponent_row(row)["verdict"] == "consistent"


# ---------------------------------------------------------------------------------------- lemma_sign_flips

def test_sign_flips_wrong_constant_and_exponent(monkeypatch):
    mod = load_study("lemma_sign_flips")
    cfg = mod.Config()
    # Chernoff bound around half the true mean (a swapped constant): violated
    _patch_bound(monkeypatch, mod, "get_bound", "lemma_B4_sign_flips_chernoff",
                 lambda b, m, C0, gamma, **kw: b.function(m=m, C0=C0 / 2, gamma=gamma))
    table = mod.cell({"m": 1000, "C0": 5.0}, np.random.default_rng(0), cfg)
    assert "VIOLATED" in _line(verdicts(table), "lemma_B4_sign_flips_chernoff:")
    monkeypatch.undo()
    widths = (100, 300, 1000, 3000)
    cells = pd.concat([mod.cell({"m": m, "C0": 1.0}, np.random.default_rng(i), cfg).assign(m=m, C0=1.0)
                       for i, m in enumerate(widths)], ignore_index=True)
    means = cells[(cells.bound_id == mod.BOUNDS[0]) & (cells.gamma == cfg.gammas[0])]
    fits = fit_exponents(means, "m", "mean", by="C0")
    fits["predicted"] = mod.law_exponent(widths, 1.0)
    assert mod.exponent_row(next(fits.itertuples()))["verdict"] == "consistent"
    fits["predicted"] += 0.25
    assert mod.exponent_row(next(fits.itertuples()))["verdict"] == "outside CI"


# ----------------------------------------------------------------------------------- lemma_flip_probability

def test_flip_probability_wrong_constant(monkeypatch):
    mod = load_study("lemma_flip_probability")
    # eq. (3) with r/4 in place of r/2: below the exact rate arcsin(r)/pi ~ 0.32 r
    _patch_bound(monkeypatch, mod, "get_bound", "lemma_B6_eq3", lambda b, r, **kw: r / 4)
    table = mod.cell({"r": 0.1, "C0": 0.0}, np.random.default_rng(0), mod.Config())
    assert "VIOLATED" in _line(verdicts(table), "lemma_B6_eq3:")


# ----------------------------------------------------------------------------------- lemma_gradient_lower

def test_gradient_lower_wrong_constant(monkeypatch):
    mod = load_study("lemma_gradient_lower")
    cfg = mod.Config()
    samples = mod.cell({"d": 100, "m": 500, "C0": 0.5}, np.random.default_rng(0), cfg)
    samples = samples.assign(d=100, m=500, C0=0.5)
    # the lower bound c sqrt(d) with c = 1 instead of the true scale 1/sqrt(2): the attained minimum is below it
    _patch_bound(monkeypatch, mod, "get", "lemma_B7_grad_lower_sharp", lambda b, d, **kw: np.sqrt(d) + 0 * d)
    line = _line(verdicts(mod._rows(cfg, samples)), "lemma_B7_grad_lower_sharp:")
    assert "VIOLATED" in line


def test_gradient_lower_exponent_off_by_a_quarter():
    mod = load_study("lemma_gradient_lower")
    cfg = mod.Config()
    gen = np.random.default_rng(1)
    rows = []
    m = cfg.widths[0]
    for d in cfg.dims:       # ||grad f(x; W0)|| at the default dims and sample size: the study's own estimator
        net = bc.init_network(d, m, n_inits=cfg.n_samples, parametrization="theory", rng=gen)
        g = np.linalg.norm(bc.input_gradient(net, bc.sample_sphere(1, d, rng=gen)), axis=-1).ravel()
        rows += [dict(d=d, m=m, C0=cfg.C0s[0], at_init=v, heuristic=v, certified=v) for v in g]
    exps = mod._exponents(pd.DataFrame(rows))
    assert set(mod.exponent_rows(exps)["verdict"]) == {"consistent"}
    assert set(mod.exponent_rows(exps, predicted=0.75)["verdict"]) == {"outside CI"}


# ------------------------------------------------------------------------------ lemma_gradient_difference

def _difference_samples(cfg, gen):
    """Per default dim: n_samples (init, x, fixed z) with the difference at W0 and the flip count (exact)."""
    rows = []
    m, C0, c_r = cfg.widths[1], cfg.C0s[0], cfg.c_rs[0]
    for d in cfg.dims:
        r = c_r / math.sqrt(d)
        for k in range(cfg.n_samples):
            net = bc.init_network(d, m, parametrization="theory", rng=gen)
            x = bc.sample_sphere(1, d, rng=gen)
            u = gen.standard_normal(d)
            u -= (u @ x[0]) * x[0]
            z = x + r * u / np.linalg.norm(u)
            diff = float(np.linalg.norm(bc.gradient_difference(net, x, z)))
            grad = float(np.linalg.norm(bc.input_gradient(net, x)))
            flips = int(((net.W0[0] @ x[0]) > 0).__ne__((net.W0[0] @ z[0]) > 0).sum())
            rows.append(dict(d=d, m=m, C0=C0, c_r=c_r, r=r, sample=k, grad_norm=grad, fixed_at_init=diff,
                             fixed_heuristic=diff, heuristic=diff, fixed_certified=diff, certified=diff,
                             fixed_flips=flips))
    return pd.DataFrame(rows)


def test_gradient_difference_wrong_law_and_exponent():
    mod = load_study("lemma_gradient_difference")
    cfg = mod.Config()
    samples = _difference_samples(cfg, np.random.default_rng(2))
    exps = mod._exponents(cfg, samples)
    rel = exps[exps["quantity"] == "fixed_at_init/grad_norm"]
    assert set(mod.exponent_rows(rel)["verdict"]) <= {"consistent", "no power"}
    assert set(mod.exponent_rows(rel.assign(predicted=rel.predicted + 0.25))["verdict"]) == {"outside CI"}
    # E|F|/m = arctan(r)/pi with the eq. (3) bound r/2 read as the rate instead
    cells = []
    for (d, m, C0, c_r), grp in samples.groupby(["d", "m", "C0", "c_r"]):
        from boundcheck.stats import clopper_pearson
        ci = clopper_pearson(int(grp.fixed_flips.sum()), len(grp) * m, cfg.confidence)
        cells.append(dict(d=d, m=m, C0=C0, c_r=c_r, r=grp.r.iloc[0], flips_mean=grp.fixed_flips.mean(),
                          flip_rate_ci_low=float(ci.low), flip_rate_ci_high=float(ci.high)))
    cells = pd.DataFrame(cells)
    assert "OUTSIDE" not in verdicts(mod.law_rows(cells, cfg.confidence))[0]
    assert "OUTSIDE the CI" in verdicts(mod.law_rows(cells, cfg.confidence, law=lambda r: r / 2))[0]


# ---------------------------------------------------------------------------------------- theorem_one_step

def test_theorem_exponents_off_by_a_quarter():
    mod = load_study("theorem_one_step")
    cfg = mod.Config()
    gen = np.random.default_rng(3)
    m = 400
    rows = []
    for d in cfg.dims:
        for C0 in cfg.C0s:   # the study has W0 rows in every (d, m, C0) cell, each from its own draws
            eta, delta = [], []
            for lo in range(0, cfg.n_inits, 50):       # the study's draws at W0: independent inits, one point
                net = bc.init_network(d, m, n_inits=min(50, cfg.n_inits - lo), parametrization="theory", rng=gen)
                fs = bc.min_flip_step(net, bc.sample_sphere(1, d, rng=gen))
                eta.append(fs.eta.ravel())
                delta.append(fs.delta.ravel())
            eta, delta = np.concatenate(eta), np.concatenate(delta)
            ok = np.isfinite(eta)
            rows.append(dict(w_kind="init", c=cfg.cs[0], d=d, m=m, C0=C0, eta_star_mean=eta[ok].mean(),
                             delta_star_mean=delta[ok].mean()))
    fits = mod._fits(pd.DataFrame(rows), cfg)
    assert set(mod.exponent_rows(fits.assign(predicted=fits.predicted + 0.25))["verdict"]) == {"outside CI"}
    assert set(mod.exponent_rows(fits.assign(predicted=fits.predicted - 0.25))["verdict"]) == {"outside CI"}


def test_theorem_statement_is_outside_its_reconstructed_regime_at_every_default_cell():
    # no (d, m) of the default grid is in the regime: the theorem's own line cannot read VIOLATED there
    # (it says OUTSIDE the hypothesis, and counts the crossings as findings)
    from boundcheck.bounds import theorem_3_1_regime
    cfg = load_study("theorem_one_step").Config()
    d, m = np.meshgrid(cfg.dims, cfg.widths)
    assert not theorem_3_1_regime(d, m).all_checked_hold.any()


# -------------------------------------------------------------------------------- corollary_robust_error

def test_corollary_cannot_read_violated():
    # Attacks give certified LOWER values of the robust error and the corollary is a LOWER bound: even a
    # robust error of 0 everywhere (as a wrong, too small eps_d would give) reads undecided, never VIOLATED.
    # The corollary's verdict has no power for a definite violation; this is reported, not hidden.
    bound = get("corollary_3_2_robust_error")
    row = compare_to_bound(np.zeros(20), float(bound.evaluate(gamma_prime=0.01)), bound_id=bound.id,
                           direction="lower", failure_probability=float(bound.failure(gamma_prime=0.01)),
                           kind="certified", side="lower")
    assert row["verdict"] == "undecided"
    assert "never VIOLATED" in verdicts(pd.DataFrame([row]))[0]


def test_corollary_calibration_catches_a_wrong_eps_d():
    # At the study's default calibration size, eps_d(gamma' = 0.1) at W0 is far from the c_eps = 1 that the
    # registry's default (not found in the paper) would give: c_eps = 1 is outside the quantile's interval.
    mod = load_study("corollary_robust_error")
    cfg = mod.Config()
    cal = mod.calibrate_eps_d(100, 400, 0.0, [0.1], cfg.n_calibration, cfg.adversary_steps, np.random.default_rng(4))
    assert cal[0.1]["eps_d_w0"] * 10 > 1.0      # eps_d sqrt(d) above the unrecovered c_eps = 1
    lo = cal[0.1]["eps_d_w0"]
    assert 1.0 / 10 < lo <= cal[0.1]["eps_d_w0_upper"]


# ---------------------------------------------------------------------------- mnist_adversarial_training

def test_fig4_exponent_verdict_reads_outside_for_a_wrong_exponent():
    # Each Fig 4 point is a full adversarial training run, so the default sweep is not rerun here: the verdict
    # code is fed fits at the default's sample size (4 sides, one seed) and must reject an exponent off by 1/4.
    mod = load_study("mnist_adversarial_training")
    fits = pd.DataFrame([dict(panel="eps", relation="eps_50 ~ d^p", exponent=-0.52, ci_low=-0.6, ci_high=-0.44,
                              theory=-0.5, theory_inside_ci=True, n_points=4, note="")])
    assert "consistent" in mod.exponent_lines(fits)[0]
    assert "OUTSIDE the CI" in mod.exponent_lines(fits.assign(theory=-0.25))[0]


@pytest.mark.parametrize("name", ["lemma_f_range", "lemma_gradient_lower", "lemma_gradient_difference",
                                  "theorem_one_step", "mnist_adversarial_training"])
def test_studies_report_self_checks_apart(name):
    # every study with checks that hold by construction has a builder that puts them in StudyResult.self_checks
    src = open(load_study(name).__file__).read()
    assert "self_checks=" in src
