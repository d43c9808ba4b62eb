"""Theorem 3.1 (Wang et al. 2022) on synthetic data: one gradient step flips the sign of every lazy network.

Statement (RECON, theory section 3): for x on the unit sphere, with probability >= 1 - gamma over the init
(a, W0), **every** W in the lazy ball B_{2,inf}(W0, C0/sqrt(m)) has its sign flipped by one step::

    x' = x - eta s grad_x f(x; W),   s = sign f(x; W),   eta = Theta(1/d),
    ||x' - x|| = eta ||grad f(x; W)|| = O(1/sqrt(d)),

provided poly(d) <~ m <~ exp(d^c) (constants not recovered; ``theorem_3_1_regime`` checks
``m >= d`` and ``log m <= d^0.24``, RECONSTRUCTED constants that stay parameters of the registry). That
range of widths is empty for every d from 5 to 10775 (``theorem_3_1_regime_dims``): at the grid's d no m is
in it, so the theorem's own lines read "outside the hypothesis" (the crossings are still counted, as findings),
the table's ``regime_nonempty_at_d`` column says so per row, and the phase plot's regime markers cannot appear.

What is measured, per cell (d, m, C0), on independent (init, x) draws with x uniform on the sphere (one
point shared by the inits of a cell: by rotation invariance the draws are i.i.d. copies of the law for a
fresh x each):

- the exact minimal flipping step ``eta*`` and perturbation ``delta* = eta* ||grad f||``
  (:func:`boundcheck.min_flip_step`), as ``eta* d`` and ``delta* sqrt(d)``, at W0, at a random lazy W
  (every row moved by exactly R in a uniform direction) and at the adversary's W; at W0 the linearized
  predictions (theory section 5.6) are::

      eta* d         ~ abs(f) / (||grad f||^2 / d)        -> E = 2 / sqrt(pi) ~ 1.13
      delta* sqrt(d) ~ abs(f) / (||grad f|| / sqrt(d))    -> E = sqrt(2 / pi) ~ 0.80

- the flip rate of one step of size ``eta = c / d`` for each c of the config, with its Clopper-Pearson
  interval, at W0, at random lazy W, at the **most robust W the adversary finds** per point
  (:func:`boundcheck.robust_lazy.robust_lazy_weights`: projected gradient ascent over the lazy ball on the
  margin left after the step, from the f-push, gradient-shrink and combined candidates) and at one W per
  init chosen for a whole sample (``per_point=False``; the flip rate is then over the sample's points,
  which share the init, so its interval is only indicative);
- the fraction of draws that the per-sample sufficient condition (registry entry
  ``theorem_3_1_sufficient_step``) certifies at eta = c / d, and the smallest certified step
  ``eta_suff >= eta*`` (:func:`boundcheck.robust_lazy.sufficient_step`);
- the exponents of the mean ``eta*`` and ``delta*`` in d at W0 (predicted -1 and -1/2);
- the registry's population step ``eta_min = 2 C_f / (c_g^2 d)`` (entry ``theorem_3_1_eta_min``, derived
  constants, at the config's gamma; infinite when the Lemma B.7 constant ``c_g`` is not positive): where some c
  of the grid reaches ``eta_min d``, the adversary's rate of unflipped draws is compared with the entry's
  failure probability.

A certified draw that does not flip would contradict the proof of the condition: it is counted in the
verdict line of ``theorem_3_1_sufficient_step``. The adversary is a heuristic: a flip rate of 1 at its W
does not prove that no robust lazy W exists, while a flip rate below 1 exhibits lazy networks that the
one-step attack at this eta does not defeat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.bounds import get as get_bound
from boundcheck.bounds import theorem_3_1_regime, theorem_3_1_regime_dims
from boundcheck.checks import compare_counts, compare_estimate, self_check_lines, verdicts
from boundcheck.report import StudyResult
from boundcheck.stats import clopper_pearson, fit_exponents, summary_columns
from boundcheck.study import (Study, StudyConfig, TupleOf, nonnegative, positive_int, positive_ints, positives,
                              probability, seed_domain, setting)
from boundcheck.robust_lazy import random_lazy_weights, robust_lazy_weights, sufficient_step, certify_step

NAME = "theorem_one_step"
DESCRIPTION = ("Theorem 3.1: eta* d and delta* sqrt(d) at W0, random and adversarial lazy W; flip rate of one "
               "step eta = c/d; sufficient condition; (d, m) phase diagram")
BOUNDS = ("theorem_3_1_sufficient_step", "theorem_3_1_eta_min")

ETA_PREDICTION = 2.0 / math.sqrt(math.pi)      # E eta* d at W0, linearized (theory section 5.6)
DELTA_PREDICTION = math.sqrt(2.0 / math.pi)    # E delta* sqrt(d) at W0, linearized (theory section 5.6)
KINDS = ("init", "random", "adversarial", "adversarial_sample")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The per-cell statistics of eta* d and ||delta*|| sqrt(d): mean with its t-interval, the QUANTILES.
_SUMMARY = ("mean", "ci") + tuple(f"q{int(round(100 * level)):02d}" for level in QUANTILES)


@dataclass(frozen=True)
class Config(StudyConfig):
    dims: tuple = setting((25, 50, 100, 200, 400), positive_ints)
    widths: tuple = setting((100, 400, 1600), positive_ints)
    C0s: tuple = setting((0.0, 1.0, 5.0), TupleOf(nonnegative, unique=True,
                                                   description="a non-empty tuple of distinct numbers >= 0"))
    cs: tuple = setting((1.0, 2.0, 4.0, 8.0, 16.0), positives)
    n_inits: int = setting(200, positive_int)
    n_adversary: int = setting(12, positive_int)
    adversary_steps: int = setting(25, positive_int)
    n_sample_inits: int = setting(2, positive_int)
    n_sample_points: int = setting(32, positive_int)
    gamma: float = setting(0.05, probability)
    confidence: float = setting(0.95, probability)
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(dims=(25, 50, 100), widths=(100, 400), C0s=(0.0, 5.0), cs=(1.0, 4.0), n_inits=40,
                   n_adversary=4, adversary_steps=8, n_sample_inits=1, n_sample_points=8)

    @classmethod
    def paper(cls):
        return cls(dims=(25, 50, 100, 200, 400, 800), widths=(100, 400, 1600, 6400), C0s=(0.0, 0.5, 1.0, 5.0, 10.0),
                   cs=(0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0), n_inits=1000, n_adversary=50, adversary_steps=60,
                   n_sample_inits=4, n_sample_points=64)


#: Inits per chunk inside a cell: W0 and the random W of a chunk hold this many floats each (16 MiB).
_CHUNK_FLOATS = 2**21


def _measure(net, X, W, etas) -> dict:
    """Per draw at weights W (K, m, d): eta*, delta*, eta_suff, and per eta the flip, certificate, margin.

    Returns arrays of shape (K * n,) and, per eta, (E, K * n). All etas share one pass: the points are
    repeated E times, so that the products with W are matrix products rather than E matrix-vector ones.
    """
    fs = bc.min_flip_step(net, X, W)
    suff = sufficient_step(net, X, W)
    E, n = len(etas), len(X)
    cert = certify_step(net, np.repeat(X, E, axis=0), np.tile(np.asarray(etas, float), n)[None, :], W)
    K = net.n_inits

    def per_eta(v):
        return v.reshape(K, n, E).transpose(2, 0, 1).reshape(E, K * n)

    return dict(eta_star=fs.eta.ravel(), delta_star=fs.delta.ravel(), grad_norm=fs.grad_norm.ravel(),
                f=fs.f.ravel(), eta_suff=suff.eta.ravel(), flipped=per_eta(cert.flipped),
                certified=per_eta(cert.certified), margin=per_eta(cert.margin_after))


def _concat(parts: list[dict]) -> dict:
    return {key: np.concatenate([p[key] for p in parts], axis=-1) for key in parts[0]}


def _summary(draws: dict, e: int, d: int, confidence: float) -> dict:
    """One row's statistics from the draws of one W kind, at the e-th eta."""
    eta_star, delta_star, es = draws["eta_star"], draws["delta_star"], draws["eta_suff"]
    flipped, certified = draws["flipped"][e], draws["certified"][e]
    n = eta_star.size
    flips = int(flipped.sum())
    ci = clopper_pearson(flips, n, confidence)
    cert_ci = clopper_pearson(int(certified.sum()), n, confidence)
    out = dict(n=n, flips=flips, flip_rate=flips / n, flip_ci_low=float(ci.low), flip_ci_high=float(ci.high),
               certified=int(certified.sum()), certified_rate=float(certified.mean()),
               certified_ci_low=float(cert_ci.low), certified_ci_high=float(cert_ci.high),
               certified_not_flipped=int((certified & ~flipped).sum()), margin_mean=float(draws["margin"][e].mean()))
    out["n_finite_eta"] = int(np.isfinite(eta_star).sum())
    out.update(summary_columns("eta_star_d", eta_star * d, _SUMMARY, confidence=confidence))
    out.update(summary_columns("delta_star_sqrt_d", delta_star * math.sqrt(d), _SUMMARY, confidence=confidence))
    finite = np.isfinite(eta_star)
    out["eta_star_mean"] = float(eta_star[finite].mean()) if finite.any() else math.nan
    out["delta_star_mean"] = float(delta_star[finite].mean()) if finite.any() else math.nan
    out["grad_norm_sqrt_d_mean"] = float(draws["grad_norm"].mean() / math.sqrt(d))
    out["abs_f_mean"] = float(np.abs(draws["f"]).mean())
    ok = np.isfinite(es) & finite & (eta_star > 0)
    out["certifiable_rate"] = float(np.isfinite(es).mean())
    out["eta_suff_d_q50"] = float(np.median(es[np.isfinite(es)] * d)) if np.isfinite(es).any() else math.nan
    out["suff_ratio_q50"] = float(np.median(es[ok] / eta_star[ok])) if ok.any() else math.nan
    out["suff_below_star"] = int((es < eta_star * (1 - 1e-9)).sum())
    return out


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    d, m, C0 = int(coords["d"]), int(coords["m"]), float(coords["C0"])
    cs = list(settings.cs)
    K, K_adv = settings.n_inits, min(settings.n_adversary, settings.n_inits)
    steps = settings.adversary_steps
    K_s, n_s = settings.n_sample_inits, settings.n_sample_points
    confidence, gamma = settings.confidence, settings.gamma
    R = bc.lazy_radius(C0, m)
    etas = [c / d for c in cs]
    E = len(etas)
    eta_min = get_bound("theorem_3_1_eta_min")
    eta_min_d = float(eta_min.evaluate(d=d, m=m, C0=C0, gamma=gamma)) * d
    eta_min_failure = float(eta_min.failure(d=d, m=m, C0=C0, gamma=gamma))

    X = bc.sample_sphere(1, d, rng=rng)
    chunk = max(1, min(K, _CHUNK_FLOATS // (m * d)))
    parts = {"init": [], "random": []}
    adv_parts = [[] for _ in etas]
    adv_extra = {key: np.zeros(E) for key in ("init_flips", "gain", "disagree")}
    for lo in range(0, K, chunk):
        hi = min(K, lo + chunk)
        net = bc.init_network(d, m, n_inits=hi - lo, parametrization="theory", rng=rng)
        parts["init"].append(_measure(net, X, None, etas))
        parts["random"].append(_measure(net, X, random_lazy_weights(net, R, rng=rng), etas))
        if lo < K_adv:
            adv_net = net.select(list(range(min(hi, K_adv) - lo)))
            for e, eta in enumerate(etas):
                res = robust_lazy_weights(adv_net, X, "sign", R, eta, steps=steps, rng=rng)
                got = _measure(adv_net, X, res.witness(0), [eta])
                adv_parts[e].append(got)
                best_candidate = np.max(np.stack(list(res.candidate_values.values())), axis=0)
                adv_extra["init_flips"][e] += int((~res.candidate_robust["init"]).sum())
                adv_extra["gain"][e] += float(np.sum(res.value - best_candidate))
                adv_extra["disagree"][e] += int((got["flipped"][0] != ~res.robust.ravel()).sum())
    draws = {kind: _concat(p) for kind, p in parts.items()}

    sample_net = bc.init_network(d, m, n_inits=K_s, parametrization="theory", rng=rng)
    Xs = bc.sample_sphere(n_s, d, rng=rng)
    regime = theorem_3_1_regime(d, m)
    rows = []
    for e, (c, eta) in enumerate(zip(cs, etas)):
        for kind in ("init", "random"):
            row = dict(w_kind=kind, c=c, eta=eta)
            row.update(_summary(draws[kind], e, d, confidence))
            row.update(init_flips_same_draws=int(draws["init"]["flipped"][e].sum()), ascent_gain_mean=math.nan,
                       adversary_disagreements=0)
            rows.append(row)
        adv = _concat(adv_parts[e])
        row = dict(w_kind="adversarial", c=c, eta=eta)
        row.update(_summary(adv, 0, d, confidence))
        row.update(init_flips_same_draws=int(adv_extra["init_flips"][e]),
                   ascent_gain_mean=adv_extra["gain"][e] / K_adv, adversary_disagreements=int(adv_extra["disagree"][e]))
        rows.append(row)
        res_s = robust_lazy_weights(sample_net, Xs, "sign", R, eta, steps=steps, rng=rng, per_point=False)
        row = dict(w_kind="adversarial_sample", c=c, eta=eta)
        row.update(_summary(_measure(sample_net, Xs, res_s.witness(), [eta]), 0, d, confidence))
        row.update(init_flips_same_draws=int((~res_s.candidate_robust["init"]).sum()), ascent_gain_mean=math.nan,
                   adversary_disagreements=0)
        rows.append(row)
    for row in rows:
        row.update(eta_prediction=ETA_PREDICTION, delta_prediction=DELTA_PREDICTION,
                   width_lower=bool(regime.width_lower), width_upper=bool(regime.width_upper),
                   in_regime=bool(regime.all_checked_hold), eta_min_d=eta_min_d, eta_min_gamma=gamma,
                   eta_min_failure=eta_min_failure, eta_min_applies=bool(row["c"] >= eta_min_d))
    order = {k: i for i, k in enumerate(KINDS)}
    rows.sort(key=lambda r: (order[r["w_kind"]], cs.index(r["c"])))
    return pd.DataFrame(rows)


#: cost model, in flops of matrix products per entry of an m x d weight matrix: per init (drawing W0 and a
#: random lazy W, the exact flip scans and certificates), per init and ascent step of the adversary (one
#: point), per point and ascent step of the sample adversary (a batch of points), and per step size, point
#: and init of the sample's measurement (at every C0). Fitted on cells of the --paper preset timed at reduced
#: repetition counts, d = 100 to 800, m = 1600 and 6400 (cells 0.8-1.1x the model; docs/speed.md).
COST_PER_INIT, COST_PER_ADVERSARY_STEP, COST_PER_SAMPLE_STEP, COST_PER_SAMPLE_MEASURE = 8000.0, 700.0, 50.0, 100.0


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell on one core (see ``COST_PER_INIT``): linear in d m."""
    dm = float(coords["d"]) * float(coords["m"])
    work = settings.n_inits * COST_PER_INIT
    work += len(settings.cs) * settings.n_sample_inits * settings.n_sample_points * COST_PER_SAMPLE_MEASURE
    if float(coords["C0"]) > 0:
        steps = len(settings.cs) * settings.adversary_steps
        work += steps * (min(settings.n_adversary, settings.n_inits) * COST_PER_ADVERSARY_STEP
                         + settings.n_sample_inits * settings.n_sample_points * COST_PER_SAMPLE_STEP)
    return gemm_seconds(dm * work)

def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s}


#: The statement judged per draw: some lazy W resists the step (a found robust W certifies it; a flip at the W
#: found proves nothing about the others), allowed with probability gamma by the theorem.
THEOREM_CHECK = "theorem_3_1 (one step eta = c/d flips every lazy W; some lazy W resists it w.p. <= gamma)"


def _regime_text() -> str:
    return (theorem_3_1_regime_dims().describe()
            + "; and eta = Theta(1/d) with C1, C2 not found")


def verdict_rows(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """The engine's rows: the theorem per (cell, c, W kind), eta_min where it applies, and the self-checks."""
    rows = []
    first_c = table[table.c == config.cs[0]]
    for r in table.itertuples():
        cell = dict(d=r.d, m=r.m, C0=r.C0, c=r.c, w_kind=r.w_kind)
        if r.w_kind == "adversarial_sample":     # the points of one init are not independent: described, not judged
            continue
        # a lazy W that the step does not flip certifies "some lazy W resists" for that draw: definite
        rows.append(dict(cell, **compare_counts(
            int(r.n - r.flips), int(r.n), bound_id="theorem_3_1_eta_min", check=f"{THEOREM_CHECK}, {r.w_kind} W",
            failure_probability=config.gamma, kind="certified", side="lower", gamma=config.gamma,
            in_hypothesis=bool(r.in_regime), hypothesis=_regime_text(), confidence=config.confidence,
            constants=get_bound("theorem_3_1_eta_min").reconstructed_constants())))
        if r.w_kind == "adversarial" and r.eta_min_applies:
            rows.append(dict(cell, **compare_counts(
                int(r.n - r.flips), int(r.n), bound_id="theorem_3_1_eta_min",
                check="theorem_3_1_eta_min (derived constants; c >= eta_min d), adversary's W",
                failure_probability=float(r.eta_min_failure), kind="certified", side="lower", gamma=config.gamma,
                confidence=config.confidence,
                constants={"gamma_D": (config.gamma, "the uniform B.9 failure probability: not derived, set to gamma")})))
        if r.certified:     # self-check: a certified step must flip (the certificate is a proof)
            rows.append(dict(cell, **compare_counts(
                int(r.certified_not_flipped), int(r.certified), bound_id="theorem_3_1_sufficient_step",
                check="theorem_3_1_sufficient_step: every certified draw flips", failure_probability=0.0,
                confidence=config.confidence, self_check=True)))
    for r in first_c.itertuples():      # eta_suff and eta* do not depend on c: once per (cell, W kind)
        if r.w_kind == "adversarial_sample":
            continue
        rows.append(dict(d=r.d, m=r.m, C0=r.C0, c=r.c, w_kind=r.w_kind, **compare_counts(
            int(r.suff_below_star), int(r.n), bound_id="theorem_3_1_sufficient_step",
            check="eta_suff >= eta* (the sufficient step is never below the exact minimal step)",
            failure_probability=0.0, confidence=config.confidence, self_check=True)))
    return pd.DataFrame(rows)


def _verdicts(table: pd.DataFrame, config: Config) -> list[str]:
    rows = verdict_rows(table, config)
    lines = verdicts(rows)
    for c in config.cs:
        for kind in ("init", "random", "adversarial", "adversarial_sample"):
            sub = table[(table.w_kind == kind) & (table.c == c)]
            if kind != "init":
                sub = sub[sub.C0 > 0]
            if sub.empty:
                continue
            full = int((sub.flips == sub.n).sum())
            rate = sub.flips.sum() / sub.n.sum()
            lines.append(f"flip rate at eta={c:g}/d, {kind} W{'' if kind == 'init' else ' (C0 > 0)'}: 1.0 in "
                         f"{full} of {len(sub)} cells (pooled {rate:.3f})")
        adv = table[(table.w_kind == "adversarial") & (table.c == c) & (table.C0 > 0)]
        if not adv.empty:
            robust = adv[adv.flips < adv.n]
            where = ", ".join(f"(d={int(r.d)}, m={int(r.m)}, C0={r.C0:g}: {int(r.n - r.flips)}/{int(r.n)})"
                              for r in robust.itertuples()) or "none"
            lines.append(f"adversary found lazy W robust to the step at eta={c:g}/d in {len(robust)} of {len(adv)} "
                         f"cells: {where if len(robust) <= 8 else f'{len(robust)} cells (see the table)'}")
    cells = table.drop_duplicates(["d", "m", "C0"])
    finite = cells[np.isfinite(cells.eta_min_d)]
    applies = table[table.eta_min_applies & (table.w_kind == "adversarial")]
    head = (f"theorem_3_1_eta_min (derived constants, gamma={config.gamma:g}): eta_min d is infinite (vacuous) in "
            f"{len(cells) - len(finite)} of {len(cells)} cells"
            + (f", at least {finite.eta_min_d.min():.3g} in the others" if len(finite) else ""))
    if applies.empty:
        lines.append(head + f"; no c of the grid (max {max(config.cs):g}) reaches it, nothing to check (no power)")
    else:
        lines.append(head + f"; judged where c >= eta_min d ({len(applies)} rows): see its line")
    dm = table.drop_duplicates(["d", "m"])
    dims = theorem_3_1_regime_dims()
    empty = [int(d) for d in sorted(set(dm.d)) if not dims.nonempty(d)]
    lines.append(f"theorem regime (m >= d and log m <= d^0.24; RECONSTRUCTED constants poly_coef = 1, poly_degree = 1, "
                 f"c_exp = 0.24): {int(dm['in_regime'].sum())} of {len(dm)} (d, m) cells; {dims.describe()}"
                 + (f", so at d = {', '.join(str(d) for d in empty)} of the grid no width m is in it" if empty else ""))
    return lines


def _fits(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    init = table[(table.w_kind == "init") & (table.c == config.cs[0])]
    frames = []
    if init["d"].nunique() < 3:
        return pd.DataFrame()
    for y, predicted, label in (("eta_star_mean", -1.0, "E eta* vs d at W0"),
                                ("delta_star_mean", -0.5, "E delta* vs d at W0")):
        sub = init[init[y] > 0]
        fit = fit_exponents(sub, "d", y, by="m", predicted=predicted)
        fit.insert(0, "quantity", label)
        frames.append(fit)
    return pd.concat(frames, ignore_index=True)


def exponent_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """The fitted exponents of E eta* and E delta* in d at W0 against their predictions (column
    ``predicted``: -1 and -1/2 on unit inputs), with competitors off by 1/4."""
    return pd.DataFrame([compare_estimate(
        row.exponent, row.ci_low, row.ci_high, row.predicted, name=f"exponent of {row.quantity} (unit inputs) at m={int(row.m)}",
        alternatives={"off by -1/4": row.predicted - 0.25, "off by +1/4": row.predicted + 0.25})
        for row in fits.itertuples()])


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.copy()
    # whether the reconstructed width range [d, exp(d^0.24)] holds any m at all at this d (no: 5 <= d <= 10775)
    table["regime_nonempty_at_d"] = theorem_3_1_regime_dims().nonempty(table["d"].to_numpy())
    lines = _verdicts(table, config)
    fits = _fits(table, config)
    lines += verdicts(exponent_rows(fits))
    init = table[(table.w_kind == "init") & (table.c == config.cs[0])]
    by_d = init.groupby("d")[["eta_star_d_mean", "delta_star_sqrt_d_mean"]].mean()
    lines.append("mean eta* d at W0 by d: " + ", ".join(f"{int(d)}: {v:.3f}" for d, v in by_d.eta_star_d_mean.items())
                 + f" (linearized 2/sqrt(pi) = {ETA_PREDICTION:.3f})")
    lines.append("mean delta* sqrt(d) at W0 by d: "
                 + ", ".join(f"{int(d)}: {v:.3f}" for d, v in by_d.delta_star_sqrt_d_mean.items())
                 + f" (linearized sqrt(2/pi) = {DELTA_PREDICTION:.3f})")

    figures = {f"{NAME}_distributions": _plot_distributions(table, config, plt),
               f"{NAME}_phase": _plot_phase(table, config, plt)}
    notes = [f"{config.n_inits} independent (init, x) draws per cell for W0 and random lazy W; the per-point "
             f"adversary on the first {config.n_adversary} of them ({config.adversary_steps} ascent steps from the "
             f"best structured candidate, per c); the sample adversary: {config.n_sample_inits} inits x "
             f"{config.n_sample_points} points per cell (one W per init; points of one init are not independent)",
             "random lazy W: every row moved by exactly R = C0/sqrt(m) in a uniform direction",
             "flip at eta = c/d: sign f(x - eta s grad f) != sign f(x) with sign(0) := +1; certified: the "
             "registry's theorem_3_1_certified with the exact D_seg(eta)",
             "the exponents -1 (eta*) and -1/2 (delta*) are asymptotic: the means eta* d and delta* sqrt(d) approach "
             "their linearized values from above as d grows (see their lines), so a fit over small d is pre-asymptotic",
             "theorem_3_1 lines: a lazy W found that the step does not flip certifies, for that draw, that some lazy W "
             "resists (a definite crossing); the theorem is not judged outside its reconstructed regime, but the "
             "crossings are counted there as findings"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures=figures,
                       extra_tables={"exponents": fits} if not fits.empty else {}, notes=notes,
                       self_checks=self_check_lines(verdict_rows(table, config)))


def _plot_distributions(table, config, plt):
    """Boxes (5-25-50-75-95 %) of eta* d and delta* sqrt(d) across d, per W kind, at the largest m and C0."""
    m, C0 = max(config.widths), max(config.C0s)
    c = sorted(config.cs)[len(config.cs) // 2]
    kinds = ("init", "random", "adversarial")
    fig, axes = plt.subplots(2, len(kinds), figsize=(4.2 * len(kinds), 6.4), squeeze=False)
    for col, kind in enumerate(kinds):
        sub = table[(table.w_kind == kind) & (table.m == m) & (table.C0 == C0) & (table.c == c)].sort_values("d")
        for row, (prefix, pred, label) in enumerate((("eta_star_d", ETA_PREDICTION, "eta* d"),
                                                     ("delta_star_sqrt_d", DELTA_PREDICTION, "delta* sqrt(d)"))):
            ax = axes[row][col]
            stats = [dict(label=str(int(r.d)), whislo=getattr(r, f"{prefix}_q05"), q1=getattr(r, f"{prefix}_q25"),
                          med=getattr(r, f"{prefix}_q50"), q3=getattr(r, f"{prefix}_q75"),
                          whishi=getattr(r, f"{prefix}_q95"), mean=getattr(r, f"{prefix}_mean"))
                     for r in sub.itertuples() if np.isfinite(getattr(r, f"{prefix}_q50"))]
            if stats:
                ax.bxp(stats, showmeans=True, showfliers=False)
            ax.axhline(pred, color="k", ls=":", lw=1, label=f"linearized at W0: {pred:.3f}")
            ax.set(xlabel="d", ylabel=label if col == 0 else None)
            if row == 0:
                title = {"init": "W0", "random": f"random lazy W (C0={C0:g})",
                         "adversarial": f"adversary's W (C0={C0:g}, c={c:g})"}[kind]
                ax.set_title(f"{title}, m={m}", fontsize=9)
            if col == 0:
                ax.legend(fontsize=7)
    fig.suptitle("minimal one-step flip: boxes 5-25-50-75-95 %, triangle = mean", fontsize=10)
    fig.tight_layout()
    return fig


def _plot_phase(table, config, plt):
    """Heatmaps of the adversary's per-point flip rate over (d, m), one per (c, C0); regime cells marked."""
    dims, widths = sorted(config.dims), sorted(config.widths)
    C0s = sorted(c for c in config.C0s)
    cs = sorted(config.cs)
    fig, axes = plt.subplots(len(cs), len(C0s), figsize=(3.4 * len(C0s) + 1.2, 2.5 * len(cs) + 0.8), squeeze=False,
                             constrained_layout=True)
    image = None
    for r, c in enumerate(cs):
        for col, C0 in enumerate(C0s):
            ax = axes[r][col]
            sub = table[(table.w_kind == "adversarial") & (table.c == c) & (table.C0 == C0)]
            M = np.full((len(widths), len(dims)), np.nan)
            reg = np.zeros_like(M, dtype=bool)
            for row in sub.itertuples():
                i, j = widths.index(int(row.m)), dims.index(int(row.d))
                M[i, j] = row.flip_rate
                reg[i, j] = bool(row.in_regime)
            image = ax.imshow(M, origin="lower", cmap="RdYlGn_r", vmin=0, vmax=1, aspect="auto")
            for i in range(len(widths)):
                for j in range(len(dims)):
                    if np.isfinite(M[i, j]):
                        ax.text(j, i, f"{M[i, j]:.2f}" + ("*" if reg[i, j] else ""), ha="center", va="center",
                                fontsize=7, color="k")
            # width_lower boundary m >= d: a step line between the cells that satisfy it and those that do not
            xs, ys = [], []
            for j, d in enumerate(dims):
                first = next((i for i, m in enumerate(widths) if m >= d), len(widths))
                xs += [j - 0.5, j + 0.5]
                ys += [first - 0.5, first - 0.5]
            ax.plot(xs, ys, "b--", lw=1.2, label="m = d (below: m < d)")
            ax.set_xticks(range(len(dims)), [str(d) for d in dims])
            ax.set_yticks(range(len(widths)), [str(m) for m in widths])
            ax.set_title(f"c = {c:g}, C0 = {C0:g}", fontsize=9)
            if r == len(cs) - 1:
                ax.set_xlabel("d")
            if col == 0:
                ax.set_ylabel("m")
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.colorbar(image, ax=axes, shrink=0.6, label="flip rate at the adversary's W")
    dims_text = theorem_3_1_regime_dims().describe()
    fig.suptitle("one step eta = c/d at the most robust lazy W found (per point); * = in the theorem's regime "
                 f"(m >= d, log m <= d^0.24): {dims_text.split(' (')[0]}", fontsize=9)
    return fig


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
