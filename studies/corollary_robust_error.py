"""Corollary 3.2 (Wang et al. 2022): the robust error of every lazy network is close to 1 at eps >= eps_d.

Statement (RECON, theory section 4): for any data distribution on the unit sphere and eps >= eps_d, the
perturbation size of Theorem 3.1, with probability >= 1 - sqrt(gamma') over the init (a, W0), every W in the
lazy ball satisfies::

    L_rob(f_W) = E_(x,y) sup_{||delta|| <= eps} 1{y f(x + delta; W) <= 0}  >=  1 - sqrt(gamma')

(registry entry ``corollary_3_2_robust_error``; gamma' is Theorem 3.1's failure probability, a parameter).

**eps_d from the theorem's own law.** The proof needs, for every x, that with probability >= 1 - gamma' over
the init every lazy W is flipped by the one step within eps_d: eps_d(gamma') is the (1 - gamma')-quantile of
``sup_W delta*(x; W)``, with ``delta*`` the exact minimal one-step flip (:func:`boundcheck.min_flip_step`). The
paper's constant ``c_eps`` in ``eps_d = c_eps / sqrt(d)`` was not recovered, so by default
(``eps_d_mode = "calibrated"``) each cell measures it in the same run: ``n_calibration`` independent inits at
one point (by rotation invariance, i.i.d. copies of the law for a fresh x) give delta* at W0 and at the most
robust lazy W the adversary finds against the step (:func:`boundcheck.robust_lazy.robust_lazy_weights`, per
point, at the step that flips a fraction 1 - gamma' at W0). The hypothesis ``eps >= eps_d`` is judged against
the larger of the two upper 97.5% confidence limits of the quantile (order statistics); the adversary's W
gives only a lower estimate of the sup over W, so the calibrated eps_d is itself a lower estimate, and the
lines say so. With ``eps_d_mode = "given"``, ``eps_d = c_eps / sqrt(d)`` and every line names c_eps (not found).
The budgets judged are the grid ``eps = k / sqrt(d)`` and the calibrated eps_d themselves.

**Robust error.** Per init, on ``n_test`` test points uniform on the sphere: the union of the exact minimal
one-step flip (an error when delta* <= eps) and PGD-l2 on the logistic loss (:func:`boundcheck.pgd`, from
delta = 0 and from ``pgd_restarts`` random starts). Networks: W0, a random lazy W (every row moved by R), the
lazy W the adversary finds for the whole training sample (``per_point=False``, fitted on fresh points, not on
the test points), and W from projected adversarial training (Algorithm 1, theory section 6.4). Labels:
``"teacher"`` (``y = sign(beta . x)``) and ``"own"`` (``y = sign f(x; W)``: clean error 0).

**Verdicts.** An attack finds only real adversarial examples, so each robust error is a certified *lower*
value of the true one (on the test sample): above the lower bound 1 - sqrt(gamma') it counts for the bound;
below it, it is ``undecided`` (the attack may be weak), never VIOLATED
(:func:`boundcheck.checks.compare_to_bound`, ``kind="certified", side="lower"``, failure probability
sqrt(gamma')). Budgets below eps_d are outside the hypothesis and not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.bounds import get as get_bound
from boundcheck.bounds import theorem_3_1_regime
from boundcheck.checks import compare_to_bound, verdicts
from boundcheck.report import StudyResult
from boundcheck.stats import quantile_upper_limit
from boundcheck.study import (ConfigError, Study, StudyConfig, boolean, choice, nonnegative_int, positive, positive_int,
                              positive_ints, positives, probabilities, seed_domain, setting)
from boundcheck.robust_lazy import random_lazy_weights, robust_lazy_weights
from boundcheck.train import train_adversarial

NAME = "corollary_robust_error"
DESCRIPTION = ("Corollary 3.2: robust error (PGD-l2 and the exact one-step flip) of W0, random lazy and "
               "adversarially trained W vs the lower bound 1 - sqrt(gamma'), eps around 1/sqrt(d)")
BOUNDS = ("corollary_3_2_robust_error",)
BOUND_ID = "corollary_3_2_robust_error"
LABELS = ("teacher", "own")


@dataclass(frozen=True)
class Config(StudyConfig):
    dims: tuple = setting((25, 100, 400), positive_ints)
    widths: tuple = setting((400,), positive_ints)
    C0s: tuple = setting((1.0, 5.0), positives)
    eps_factors: tuple = setting((0.25, 0.5, 1.0, 2.0, 4.0), positives)
    gammas_prime: tuple = setting((0.01, 0.1), probabilities)
    eps_d_mode: str = setting("calibrated", choice("calibrated", "given"))
    c_eps: float = setting(1.0, positive)
    n_calibration: int = setting(400, positive_int)
    adversary_steps: int = setting(25, positive_int)
    n_inits: int = setting(20, positive_int)
    n_test: int = setting(100, positive_int)
    pgd_steps: int = setting(50, positive_int)
    pgd_restarts: int = setting(1, nonnegative_int)
    robust_lazy: bool = setting(True, boolean)
    adversarial_training: bool = setting(True, boolean)
    train_inits: int = setting(4, positive_int)
    n_train: int = setting(256, positive_int)
    train_epochs: int = setting(20, positive_int)
    train_pgd_steps: int = setting(5, positive_int)
    train_lr: float = setting(10.0, positive)
    train_eps_factor: float = setting(1.0, positive)
    seed: int = setting(0, seed_domain)

    def check(self):
        # compare_to_bound needs at least 2 samples per row (its tightness uses a level 1/n < 1)
        for name in ("n_inits", "train_inits", "n_calibration"):
            if getattr(self, name) < 2:
                raise ConfigError(f"setting {name!r} = {getattr(self, name)}: expected an integer >= 2 (one robust "
                                  "error per init; a row needs two)")
        if self.train_inits > self.n_inits:
            raise ConfigError(f"setting 'train_inits' = {self.train_inits}: expected at most n_inits = {self.n_inits}")

    @classmethod
    def quick(cls):
        return cls(dims=(25, 100), C0s=(1.0,), eps_factors=(0.5, 1.0, 2.0), n_calibration=60, adversary_steps=5,
                   n_inits=4, n_test=16, pgd_steps=5, train_inits=2, n_train=32, train_epochs=2, train_pgd_steps=2)

    @classmethod
    def paper(cls):
        return cls(dims=(25, 100, 400, 784), widths=(1000,), C0s=(0.5, 1.0, 5.0, 10.0), n_calibration=1000,
                   adversary_steps=40, n_inits=40, n_test=200, pgd_steps=100, pgd_restarts=2, train_inits=5,
                   n_train=512, train_epochs=30, train_pgd_steps=20)


#: Inits per chunk in the calibration (W0 and the adversary's W hold this many floats each: 16 MiB).
_CHUNK_FLOATS = 2**21
#: One-sided level of the upper confidence limit on the (1 - gamma') quantile of delta*.
QUANTILE_CONFIDENCE = 0.975


def calibrate_eps_d(d: int, m: int, radius: float, gammas, n_calibration: int, adversary_steps: int, rng) -> dict:
    """eps_d(gamma') from Theorem 3.1's own law, at W0 and at the adversary's lazy W (see the module docstring).

    Returns
    -------
    dict gamma' -> dict with ``eps_d_w0``, ``eps_d_w0_upper``, ``eps_d_adv``, ``eps_d_adv_upper``, ``eps_d``
    (the larger upper limit: the one the hypothesis is judged against), ``eta_adv`` (the step the adversary
    resists) and ``eta_w0`` (the (1 - gamma')-quantile of eta* at W0, for the sample adversary).
    """
    x = bc.sample_sphere(1, d, rng=rng)
    chunk = max(1, min(n_calibration, _CHUNK_FLOATS // (m * d)))
    bounds = [(lo, min(n_calibration, lo + chunk)) for lo in range(0, n_calibration, chunk)]
    seeds = rng.spawn(len(bounds))
    entropy = [np.random.SeedSequence(int(g.integers(2**63))) for g in seeds]

    def nets():
        for (lo, hi), ss in zip(bounds, entropy):
            gen = np.random.default_rng(ss)
            yield bc.init_network(d, m, n_inits=hi - lo, parametrization="theory", rng=gen), gen

    eta0, delta0 = [], []
    for net, _ in nets():
        fs = bc.min_flip_step(net, x)
        eta0.append(fs.eta[:, 0])
        delta0.append(fs.delta[:, 0])
    eta0, delta0 = np.concatenate(eta0), np.concatenate(delta0)
    out = {}
    for gamma in gammas:
        q = 1.0 - gamma
        w0, w0_up = quantile_upper_limit(delta0, q, QUANTILE_CONFIDENCE)
        eta_w0 = float(np.quantile(eta0, q, method="inverted_cdf"))
        if radius > 0 and np.isfinite(eta_w0):
            adv = []
            for net, gen in nets():
                res = robust_lazy_weights(net, x, "sign", radius, eta_w0, steps=adversary_steps, rng=gen)
                adv.append(bc.min_flip_step(net, x, res.witness(0)).delta[:, 0])
            adv = np.concatenate(adv)
        else:
            adv = delta0
        a, a_up = quantile_upper_limit(adv, q, QUANTILE_CONFIDENCE)
        out[gamma] = dict(eps_d_w0=w0, eps_d_w0_upper=w0_up, eps_d_adv=a, eps_d_adv_upper=a_up,
                          eps_d=max(w0_up, a_up), eta_w0=eta_w0, n_calibration=int(delta0.size),
                          adv_never_flips=float(np.mean(~np.isfinite(adv))))
    return out


def _errors(net, X, y, W, eps, pgd_steps, pgd_restarts, rng):
    """Per init and budget: clean, PGD, one-step and union robust errors (each (E, K)), y of shape (K, n)."""
    K = net.n_inits
    f = bc.forward(net, X, W)
    clean = y * f <= 0                                              # (K, n)
    flip = bc.min_flip_step(net, X, W)
    # the one-step perturbation -sign(f) grad f points along -y grad f wherever the point is correct
    onestep = clean[None] | (flip.delta[None] <= eps[:, None, None])  # (E, K, n)
    pgd_hit = np.empty_like(onestep)
    restart_only = np.zeros_like(onestep)
    for k in range(K):
        Wk = None if W is None else W[k:k + 1]
        first = bc.pgd(net.select([k]), X, y[k], eps, norm="l2", steps=pgd_steps, W=Wk).success[:, 0]
        hit = first
        for _ in range(pgd_restarts):
            hit = hit | bc.pgd(net.select([k]), X, y[k], eps, norm="l2", steps=pgd_steps, W=Wk, random_start=True,
                               rng=rng).success[:, 0]
        pgd_hit[:, k] = hit | clean[k][None]
        restart_only[:, k] = hit & ~first & ~onestep[:, k]
    union = onestep | pgd_hit
    # what the random restarts added beyond PGD from 0 and the exact one-step flip: a sign of an unsaturated attack
    return dict(clean=np.broadcast_to(clean.mean(-1), (len(eps), K)), pgd=pgd_hit.mean(-1),
                onestep=onestep.mean(-1), union=union.mean(-1), restart_gain=restart_only.mean(-1))


def _budgets(d: int, settings: Config, calibration: dict) -> list[tuple[float, str]]:
    """(eps, source): the grid k / sqrt(d), then eps_d (used and W0 estimate) per gamma' when finite."""
    out = [(k / math.sqrt(d), "grid") for k in settings.eps_factors]
    if settings.eps_d_mode == "calibrated":
        for gamma, cal in calibration.items():
            if np.isfinite(cal["eps_d"]):
                out.append((cal["eps_d"], f"eps_d(gamma'={gamma:g})"))
            if np.isfinite(cal["eps_d_w0"]):
                out.append((cal["eps_d_w0"], f"W0 quantile (gamma'={gamma:g})"))
    return out


def _hypothesis(settings: Config, gamma: float) -> str:
    if settings.eps_d_mode == "given":
        return "eps >= eps_d = c_eps / sqrt(d)"
    return f"eps >= eps_d(gamma'={gamma:g}), calibrated (see the eps_d line)"


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    d, m, C0 = int(coords["d"]), int(coords["m"]), float(coords["C0"])
    gammas = list(settings.gammas_prime)
    K, n_test = int(settings.n_inits), int(settings.n_test)
    R = bc.lazy_radius(C0, m)
    bound = get_bound(BOUND_ID)

    calibration = calibrate_eps_d(d, m, R, gammas, int(settings.n_calibration), int(settings.adversary_steps), rng)
    if settings.eps_d_mode == "given":
        for cal in calibration.values():
            cal["eps_d"] = float(settings.c_eps) / math.sqrt(d)
    budgets = _budgets(d, settings, calibration)
    eps = np.array([e for e, _ in budgets])

    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=rng)
    X = bc.sample_sphere(n_test, d, rng=rng)
    beta = bc.sample_sphere(1, d, rng=rng)[0]
    y_teacher = np.where(X @ beta >= 0, 1.0, -1.0)
    kinds = {"init": (net, None), "random": (net, random_lazy_weights(net, R, rng=rng))}
    X_fit = bc.sample_sphere(int(settings.n_train), d, rng=rng)
    if settings.robust_lazy and R > 0:
        eta = max(cal["eta_w0"] for cal in calibration.values())      # the largest step: flips 1 - min(gamma')
        if np.isfinite(eta):
            res = robust_lazy_weights(net, X_fit, "sign", R, eta, steps=int(settings.adversary_steps), rng=rng,
                                      per_point=False)
            kinds["robust_lazy"] = (net, res.witness())

    trained_note = "off"
    if bool(settings.adversarial_training):
        K_t = min(int(settings.train_inits), K)
        y_train = np.where(X_fit @ beta >= 0, 1.0, -1.0)
        W_t = np.empty((K_t, m, d))
        for k in range(K_t):
            result = train_adversarial(net.select([k]), X_fit, y_train, radius=R,
                                       eps=float(settings.train_eps_factor) / math.sqrt(d),
                                       pgd_steps=int(settings.train_pgd_steps), lr=float(settings.train_lr),
                                       epochs=int(settings.train_epochs), patience=int(settings.train_epochs),
                                       box=None, rng=rng)
            W_t[k] = result.W
        kinds["trained"] = (net.select(list(range(K_t))), W_t)
        trained_note = "on"

    constants = (bound.reconstructed_constants(c_eps=float(settings.c_eps)) if settings.eps_d_mode == "given"
                 else None)
    regime = theorem_3_1_regime(d, m)
    rows = []
    for kind, (knet, W) in kinds.items():
        f = bc.forward(knet, X, W)
        for labels in LABELS:
            y = np.broadcast_to(y_teacher, f.shape) if labels == "teacher" else np.where(f >= 0, 1.0, -1.0)
            err = _errors(knet, X, y, W, eps, int(settings.pgd_steps), int(settings.pgd_restarts), rng)
            for e, (eps_e, source) in enumerate(budgets):
                for gamma in gammas:
                    cal = calibration[gamma]
                    value = float(bound.evaluate(gamma_prime=gamma))
                    hyp = bool(eps_e >= cal["eps_d"])
                    row = dict(w_kind=kind, labels=labels, eps_factor=eps_e * math.sqrt(d), eps=eps_e,
                               eps_source=source, in_hypothesis=hyp,
                               **{k_: v for k_, v in cal.items() if k_ not in ("eta_w0",)})
                    row.update(compare_to_bound(
                        err["union"][e], value, bound_id=BOUND_ID, direction="lower",
                        failure_probability=float(bound.failure(gamma_prime=gamma)), kind="certified", side="lower",
                        gamma=gamma, vacuous=value <= 0, in_hypothesis=hyp, hypothesis=_hypothesis(settings, gamma),
                        constants=constants,
                        check=f"{BOUND_ID} [gamma'={gamma:g}, bound {value:.3f}; every W kind and label kind]"))
                    row.update(robust_error_pgd=float(err["pgd"][e].mean()),
                               robust_error_onestep=float(err["onestep"][e].mean()),
                               restart_gain=float(err["restart_gain"][e].mean()),
                               clean_error=float(err["clean"][e].mean()), training=trained_note,
                               width_lower=bool(regime.width_lower), width_upper=bool(regime.width_upper))
                    rows.append(row)
    return pd.DataFrame(rows)


#: cost model (seconds = flops / the core's GEMM rate x ratio): the ratio of PGD and adversarial training to
#: their matrix products (2 products of 2 d m flops per point and step); the calibration in flops per entry of
#: an m x d matrix, per init and per init and ascent step (one point), and the sample adversary per point and
#: ascent step (theorem_one_step's constants). Fitted on cells of the --paper preset timed at reduced n_test,
#: pgd_steps, n_calibration and n_train (parts timed apart; docs/speed.md).
COST_PGD_RATIO, COST_CALIBRATION_PER_INIT, COST_CALIBRATION_PER_STEP, COST_SAMPLE_PER_STEP = 1.0, 6000.0, 700.0, 50.0


def budgets_upper(settings: Config) -> int:
    """The number of budgets of a cell (at most: a calibrated eps_d that is not finite is left out)."""
    return len(settings.eps_factors) + (2 * len(settings.gammas_prime) if settings.eps_d_mode == "calibrated" else 0)


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell on one core: PGD on every (W kind, labels, init, restart, budget, test point)
    dominates; the calibration, the sample adversary and the adversarial training are added. Linear in d m."""
    dm = float(coords["d"]) * float(coords["m"])
    lazy = float(coords["C0"]) > 0
    K, K_t = settings.n_inits, min(settings.train_inits, settings.n_inits)
    inits = 2 * K + (K if lazy and settings.robust_lazy else 0) + (K_t if settings.adversarial_training else 0)
    pgd = inits * len(LABELS) * (1 + settings.pgd_restarts) * settings.pgd_steps * settings.n_test
    pgd *= budgets_upper(settings) * 4.0 * dm
    train = (K_t * settings.train_epochs * settings.n_train * (settings.train_pgd_steps + 2) * 4.0 * dm
             if settings.adversarial_training else 0.0)
    sample = (K * settings.n_train * settings.adversary_steps * dm * COST_SAMPLE_PER_STEP
              if lazy and settings.robust_lazy else 0.0)
    calibration = settings.n_calibration * dm * (
        COST_CALIBRATION_PER_INIT
        + (len(settings.gammas_prime) * settings.adversary_steps * COST_CALIBRATION_PER_STEP if lazy else 0.0))
    return gemm_seconds(COST_PGD_RATIO * (pgd + train) + sample + calibration)

def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s}


def calibration_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (d, m, C0, gamma'): eps_d sqrt(d) at W0 and at the adversary's W, with upper limits."""
    cols = ["d", "m", "C0", "gamma", "n_calibration", "eps_d_w0", "eps_d_w0_upper", "eps_d_adv", "eps_d_adv_upper",
            "eps_d", "adv_never_flips"]
    cal = table[[c for c in cols if c in table]].drop_duplicates(["d", "m", "C0", "gamma"]).reset_index(drop=True)
    for c in ("eps_d_w0", "eps_d_w0_upper", "eps_d_adv", "eps_d_adv_upper", "eps_d"):
        if c in cal:
            cal[c + "_sqrt_d"] = cal[c] * np.sqrt(cal["d"])
    return cal


def _at_eps_d_lines(table: pd.DataFrame, config: Config) -> list[str]:
    """What the study finds at the calibrated eps_d itself (per gamma')."""
    lines = []
    cal = calibration_table(table)
    for gamma in config.gammas_prime:
        c = cal[cal.gamma == gamma]
        where = ", ".join(f"d={int(r.d)}, C0={r.C0:g}: {r.eps_d_sqrt_d:.3g} (W0 {r.eps_d_w0_sqrt_d:.3g}, adversary "
                          f"{r.eps_d_adv_sqrt_d:.3g})" for r in c.itertuples())
        lines.append(f"eps_d sqrt(d) for gamma'={gamma:g}, the larger upper {QUANTILE_CONFIDENCE:.1%} limit of the "
                     f"{1 - gamma:g}-quantile of delta* sqrt(d) at W0 and at the adversary's lazy W (a lower estimate "
                     f"of the sup over W; quantile estimates in parentheses): {where}")
        infinite = c[~np.isfinite(c.eps_d)]
        if len(infinite) and len(infinite) < len(c):
            n_min = math.ceil(math.log(1 - QUANTILE_CONFIDENCE) / math.log(1 - gamma))
            lines.append(f"eps_d(gamma'={gamma:g}) is infinite in {len(infinite)} of {len(c)} cells, where no budget is "
                         "inside the hypothesis: " + ", ".join(
                             f"d={int(r.d)}, C0={r.C0:g}: " + (
                                 f"the step never flips the adversary's lazy W in {r.adv_never_flips:.1%} of the draws "
                                 f"({'more than' if r.adv_never_flips > gamma else 'up to'} gamma' = {gamma:g})"
                                 if r.adv_never_flips > 0 else
                                 f"too few calibration draws for the upper limit (n_calibration >= {n_min} needed)")
                             for r in infinite.itertuples()))
        at = table[(table.eps_source == f"eps_d(gamma'={gamma:g})") & (table.gamma == gamma)]
        if at.empty:
            n_min = math.ceil(math.log(1 - QUANTILE_CONFIDENCE) / math.log(1 - gamma))
            never = c[c.adv_never_flips > 0] if "adv_never_flips" in c else c.iloc[:0]
            why = (f"the step never flips {never.adv_never_flips.max():.0%} of the adversary's draws" if len(never)
                   else f"{int(c.n_calibration.min())} calibration draws are too few for an upper limit on the "
                        f"{1 - gamma:g}-quantile (n_calibration >= {n_min} needed)")
            lines.append(f"at eps_d(gamma'={gamma:g}): eps_d is infinite ({why}); no budget is inside the hypothesis")
            continue
        counts = at["verdict"].value_counts().to_dict()
        by_kind = ", ".join(f"{k} W {g['mean'].min():.3f}" for k, g in at.groupby("w_kind", sort=False))
        lines.append(f"at eps_d(gamma'={gamma:g}) itself, bound {1 - math.sqrt(gamma):.3f}: lowest robust error (mean "
                     f"over inits) {by_kind}; over {len(at)} (cell, W, labels) rows: "
                     + ", ".join(f"{v} in {n}" for v, n in counts.items()))
    return lines


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = verdicts(table)
    if config.eps_d_mode == "calibrated":
        lines += _at_eps_d_lines(table, config)
    for gamma in config.gammas_prime:
        every = table[(table.gamma == gamma) & (table.eps_source == "grid")].groupby("eps_factor")
        ok = {k: bool((part["mean"] >= part["bound"]).all()) for k, part in every}
        # the smallest eps from which EVERY larger eps reaches the bound (PGD need not be monotone in eps)
        factors = sorted(ok)
        reached = [k for i, k in enumerate(factors) if all(ok[j] for j in factors[i:])]
        lines.append(f"mean robust error >= {1 - math.sqrt(gamma):.3f} for every network and label kind from eps sqrt(d) = "
                     + (f"{min(reached):g}" if reached else f"(never up to {max(config.eps_factors):g})")
                     + " on (grid budgets, judged or not)")
    if "restart_gain" in table and config.pgd_restarts:
        gain = table["restart_gain"]
        lines.append(f"attack saturation: the {config.pgd_restarts} random restart(s) of PGD added to the robust error "
                     f"beyond PGD from 0 and the exact one-step flip at most {gain.max():.3f} (mean {gain.mean():.4f}) "
                     "over all rows" + ("; the attack may not be saturated: more steps or restarts could raise the "
                                        "robust error" if gain.max() > 0 else ""))
    training = sorted(set(table["training"])) if "training" in table else []
    notes = [f"robust error = union of the exact minimal one-step flip and PGD-l2 ({config.pgd_steps} steps, step 2.5 "
             f"eps/steps, from 0 and from {config.pgd_restarts} random starts), on {config.n_test} test points per init "
             f"({config.n_inits} inits per cell): a lower estimate of the true robust error on those points, whose "
             f"sampling error is about +-{1 / math.sqrt(config.n_test):.2g}",
             "teacher labels y = sign(beta . x); own labels y = sign(f(x; W))",
             f"eps_d: {config.eps_d_mode}" + (f" from {config.n_calibration} independent inits per cell (adversary: "
                                             f"{config.adversary_steps} ascent steps per point)"
                                             if config.eps_d_mode == "calibrated" else
                                             f" as c_eps / sqrt(d) with c_eps = {config.c_eps:g} (not found in the paper)"),
             f"robust_lazy W: one W per init against the step eta = the (1 - min gamma')-quantile of eta* at W0, fitted "
             f"on {config.n_train} fresh points ({'on' if config.robust_lazy else 'off'})",
             f"adversarial training: {', '.join(training) or 'off'} ({config.train_inits} inits, "
             f"{config.n_train} points, {config.train_epochs} epochs, PGD {config.train_pgd_steps} steps at eps = "
             f"{config.train_eps_factor:g}/sqrt(d), lr {config.train_lr:g}, projection after every step)"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures={NAME: _plot(table, config, plt)},
                       extra_tables={"eps_d": calibration_table(table)}, notes=notes)


def _plot(table, config, plt):
    gamma = min(config.gammas_prime)
    C0s = sorted(config.C0s)
    fig, axes = plt.subplots(len(LABELS), len(C0s), figsize=(4.4 * len(C0s), 3.6 * len(LABELS)), squeeze=False,
                             sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"init": "o-", "random": "s--", "robust_lazy": "v-.", "trained": "^:"}
    for r, labels in enumerate(LABELS):
        for c, C0 in enumerate(C0s):
            ax = axes[r][c]
            sub = table[(table.labels == labels) & (table.C0 == C0) & (table.gamma == gamma)]
            for j, d in enumerate(sorted(config.dims)):
                for kind in styles:
                    part = sub[(sub.d == d) & (sub.w_kind == kind)].sort_values("eps_factor")
                    if part.empty:
                        continue
                    ax.plot(part.eps_factor, part["mean"], styles[kind], color=colors[j % len(colors)], ms=4,
                            label=f"d={d}, {kind}")
            ax.axhline(1 - math.sqrt(gamma), color="k", lw=1, label=f"bound 1 - sqrt({gamma:g})")
            if config.eps_d_mode == "given":
                ax.axvline(config.c_eps, color="gray", ls=":", lw=1, label="eps_d = c_eps/sqrt(d) (c_eps not found)")
            else:
                for j, d in enumerate(sorted(config.dims)):
                    e = sub[sub.d == d]["eps_d"]
                    if len(e) and np.isfinite(e.iloc[0]):
                        ax.axvline(float(e.iloc[0]) * math.sqrt(d), color=colors[j % len(colors)], ls=":", lw=1,
                                   label=f"eps_d(gamma'={gamma:g}), d={d}")
            ax.set(xscale="log", xlabel="eps sqrt(d)", title=f"{labels} labels, C0 = {C0:g}", ylim=(-0.02, 1.02))
            if c == 0:
                ax.set_ylabel("robust error (mean over inits)")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
