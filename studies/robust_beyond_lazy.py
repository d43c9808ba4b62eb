"""Robust error against the maximal deviation from init, from inside the lazy ball to far outside it.

The paper's open question 3 (Wang et al. 2022, section 6; theory sections 10.1 and 10.5) and its
Fig 4 (right): adversarial training projected onto the ball ``B_{2,inf}(W0, R)`` shows a transition of the
robust accuracy near the lazy radius ``C0/sqrt(m)``, and "robustness may require going beyond the lazy
regime". Here, on a synthetic task that a robust classifier exists for (labels of a linear teacher on the unit
sphere, points within ``margin * eps`` of its hyperplane removed, so the teacher is robust at budget eps):

- **projected** (phase ``main``): projected adversarial training (:func:`boundcheck.train_adversarial`,
  PGD-l2 examples, projection after every step) on balls of radius ``R = c / sqrt(m)`` for a grid of ``c``;
- **unconstrained** (phase ``free``): the same training without a ball;
- **cone** (phase ``cone``): the cone extension of Theorem 3.1 (theory section 2): a lazily trained W
  rescaled, ``lambda W``, is far from W0 but has the same signs, the same one-step flips (step eta/lambda,
  the same perturbation delta*) and the same minimal perturbation.

The robust test error at budget ``eps = eps_unit / sqrt(d)`` is sandwiched per init: below by the strongest
attack (PGD-l2 at eps, the one-step flip and the DDN minimal-perturbation attack of
:mod:`boundcheck.minimal`: an attained adversarial example is a definite error), above by the certified lower
bounds on the minimal perturbation (Lipschitz scan and linear relaxation: a point certified beyond eps is
definitely robust). The transition radius (robust error crossing 1/2) is read in units of 1/sqrt(m) and its
exponent in m is fitted against the paper's -1/2 (transition at a fixed multiple of 1/sqrt(m)); that fit rests
on the attack side of the sandwich and is labelled so.

Time: ``--quick`` runs in under a minute; the default (3 widths x 2 d) in about 3-5 minutes on 2 cores; ``paper()`` (widths up to
3200, d = 100, 7 radii, 4 inits, 400 training points, 60 epochs) is estimated at 30-90 minutes on 2 cores
(scaled from the default run by the cells' m d epochs, not measured; training dominates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.bounds import get as get_bound
from boundcheck.checks import compare_estimate, compare_sandwich, compare_to_bound, self_check_lines, verdicts
from boundcheck.minimal import minimal_perturbation
from boundcheck.report import StudyResult
from boundcheck.stats import clopper_pearson, fit_exponent
from boundcheck.study import (Integer, Phase, Real, Study, StudyConfig, positive, positive_int, positive_ints,
                              positives, probability, seed_domain, setting)

NAME = "robust_beyond_lazy"
DESCRIPTION = ("Robust error (attack / certified sandwich) vs the deviation from init: projected adversarial training "
               "on balls c/sqrt(m), unconstrained training, the cone of rescaled lazy networks; transition in m")

COROLLARY = "corollary_3_2_robust_error"


@dataclass(frozen=True)
class Config(StudyConfig):
    widths: tuple = setting((50, 200, 800), positive_ints)
    dims: tuple = setting((16, 49), positive_ints)
    radius_units: tuple = setting((0.25, 1.0, 4.0, 16.0, 64.0), positives,
                                  doc="ball radii R = c / sqrt(m), the values of c")
    cone_scales: tuple = setting((0.1, 10.0, 100.0), positives, doc="lambda of the rescaled lazy networks")
    cone_C0: float = setting(1.0, positive, doc="the lazy constant of the network that is rescaled")
    lazy_C0: float = setting(1.0, positive, doc="cells with c <= lazy_C0 are inside the lazy regime (Cor. 3.2)")
    eps_unit: float = setting(1.0, positive, doc="budget eps = eps_unit / sqrt(d)")
    margin: float = setting(1.5, Real(1.0, open_min=True, description="a number > 1"),
                            doc="training/test points keep |v . x| >= margin * eps (a robust teacher exists)")
    n_inits: int = setting(3, positive_int)
    n_train: int = setting(256, Integer(2, description="an integer >= 2"))
    n_test: int = setting(100, positive_int)
    epochs: int = setting(20, positive_int)
    patience: int = setting(5, positive_int)
    lr: float = setting(4.0, positive, doc="large enough that unconstrained training leaves the lazy ball far behind")
    train_pgd_steps: int = setting(10, positive_int)
    eval_pgd_steps: int = setting(50, positive_int)
    ddn_steps: int = setting(60, positive_int)
    gamma_prime: float = setting(0.01, probability, doc="Theorem 3.1's failure probability in Cor. 3.2")
    confidence: float = setting(0.95, probability)
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(widths=(50, 200), radius_units=(0.25, 4.0, 64.0), cone_scales=(10.0,), n_inits=1, n_train=128,
                   n_test=40, epochs=6, train_pgd_steps=5, eval_pgd_steps=20, ddn_steps=30)

    @classmethod
    def paper(cls):
        return cls(widths=(100, 400, 1600, 3200), dims=(100,), radius_units=(0.0625, 0.25, 1.0, 4.0, 16.0, 64.0, 256.0),
                   n_inits=4, n_train=400, n_test=200, epochs=60, patience=20)


# ------------------------------------------------------------------------------------------------ data, training

def margin_data(n: int, d: int, eps: float, margin: float, teacher: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform on the sphere conditioned on ``|v . x| >= margin * eps`` (v the unit teacher), labels
    ``sign(v . x)``: the teacher classifies them robustly at budget eps."""
    out = []
    need = n
    while need > 0:
        X = bc.sample_sphere(max(4 * need, 64), d, rng=rng)
        keep = np.abs(X @ teacher) >= margin * eps
        out.append(X[keep][:need])
        need -= len(out[-1])
    X = np.concatenate(out)
    return X, np.where(X @ teacher >= 0, 1.0, -1.0)


def _train(net, Xtr, ytr, radius: float, eps: float, settings: Config, rng) -> np.ndarray:
    W = np.empty_like(net.W0)
    for k in range(net.n_inits):
        res = bc.train_adversarial(net.select(k), Xtr, ytr, radius=radius, eps=eps,
                                   pgd_steps=settings.train_pgd_steps, lr=settings.lr, batch_size=32,
                                   epochs=settings.epochs, patience=settings.patience, box=None, rng=rng)
        W[k] = res.W
    return W


def robust_evaluation(net, W, X, y, eps: float, settings: Config, rng) -> dict:
    """Per init: clean error, the attack's robust error (definite errors) and the certified robust error upper
    end (points not certified robust), plus the per-point counts behind them."""
    f = bc.forward(net, X, W)
    wrong = y[None] * f <= 0
    mp = minimal_perturbation(net, X, W, attacks=("one_step", "ddn"), lower=("lipschitz", "relaxation"),
                              ddn_steps=settings.ddn_steps, restarts=2, pgd_steps=0, rng=rng)
    pgd = bc.pgd(net, X, y, eps, norm="l2", steps=settings.eval_pgd_steps, W=W)
    attacked = wrong | (mp.upper <= eps) | pgd.success[0]
    # robust iff s f > 0 on the closed ball of radius eps: a certified lower bound strictly above eps
    certified_robust = ~wrong & (mp.lower > eps)
    n = X.shape[0]
    return dict(clean_error=wrong.mean(1), attack_errors=attacked.sum(1), certified_robust=certified_robust.sum(1),
                n_test=np.full(net.n_inits, n), median_upper=np.median(mp.upper, axis=1),
                median_lower=np.median(mp.lower, axis=1), one_step_median=np.median(mp.one_step, axis=1))


def _setup(coords, settings, rng):
    d, m = int(coords["d"]), int(coords["m"])
    eps = settings.eps_unit / np.sqrt(d)
    teacher = rng.standard_normal(d)
    teacher /= np.linalg.norm(teacher)
    Xtr, ytr = margin_data(settings.n_train, d, eps, settings.margin, teacher, rng)
    Xte, yte = margin_data(settings.n_test, d, eps, settings.margin, teacher, rng)
    net = bc.init_network(d, m, n_inits=settings.n_inits, parametrization="theory", rng=rng)
    return d, m, eps, Xtr, ytr, Xte, yte, net


def _rows(base: dict, net, W, ev: dict) -> pd.DataFrame:
    dev = bc.lazy_distance(W, net.W0)
    rows = []
    for k in range(net.n_inits):
        row = dict(base, init=k, deviation=float(dev[k]), deviation_sqrt_m=float(dev[k] * np.sqrt(net.width)))
        row.update({key: (v[k].item() if hasattr(v[k], "item") else v[k]) for key, v in ev.items()})
        row["attack_error"] = row["attack_errors"] / row["n_test"]
        row["certified_error_upper"] = 1.0 - row["certified_robust"] / row["n_test"]
        rows.append(row)
    return pd.DataFrame(rows)


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    """Phase main: projected adversarial training on the ball of radius c / sqrt(m)."""
    d, m, eps, Xtr, ytr, Xte, yte, net = _setup(coords, settings, rng)
    c = float(coords["c"])
    W = _train(net, Xtr, ytr, c / np.sqrt(m), eps, settings, rng)
    ev = robust_evaluation(net, W, Xte, yte, eps, settings, rng)
    return _rows(dict(regime="projected", eps=eps), net, W, ev)


def free_cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    """Phase free: the same training without a ball (a radius far beyond any deviation reached)."""
    d, m, eps, Xtr, ytr, Xte, yte, net = _setup(coords, settings, rng)
    W = _train(net, Xtr, ytr, 1e12, eps, settings, rng)
    ev = robust_evaluation(net, W, Xte, yte, eps, settings, rng)
    return _rows(dict(regime="unconstrained", c=np.nan, eps=eps), net, W, ev)


def cone_cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    """Phase cone: a lazily (projected, C0 = cone_C0) adversarially trained W and its rescalings lambda W."""
    d, m, eps, Xtr, ytr, Xte, yte, net = _setup(coords, settings, rng)
    W = _train(net, Xtr, ytr, settings.cone_C0 / np.sqrt(m), eps, settings, rng)
    ref = bc.min_flip_step(net, Xte, W)
    frames = []
    for lam in (1.0,) + tuple(settings.cone_scales):
        Wl = lam * W
        ev = robust_evaluation(net, Wl, Xte, yte, eps, settings, rng)
        step = bc.min_flip_step(net, Xte, Wl)
        same_sign = np.sign(bc.forward(net, Xte, Wl)) == np.sign(ref.f)
        both = np.isfinite(ref.delta) & np.isfinite(step.delta)
        with np.errstate(invalid="ignore"):  # inf - inf where neither step flips (masked out)
            rel = np.abs(np.where(both, step.delta - ref.delta, 0.0)) / np.where(both, ref.delta, 1.0)
            eta_rel = np.abs(np.where(both, lam * step.eta - ref.eta, 0.0)) / np.where(both, ref.eta, 1.0)
        t = _rows(dict(regime="cone", c=settings.cone_C0, scale=lam, eps=eps), net, Wl, ev)
        t["sign_agreement"] = same_sign.mean(1)
        t["delta_star_rel_change"] = np.where(both, rel, 0.0).max(1)
        t["eta_times_scale_rel_change"] = np.where(both, eta_rel, 0.0).max(1)
        t["flip_set_agreement"] = (np.isfinite(ref.delta) == np.isfinite(step.delta)).mean(1)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


#: cost model: ratio of a cell's time to its matrix products (2 products of 2 d m flops per point and step:
#: adversarial training, every epoch (an upper bound: patience may stop it sooner), and the evaluation's
#: DDN (2 restarts) and PGD steps on the test points).
COST_RATIO = 3.0


def _training_flops(d: int, m: int, settings: Config) -> float:
    return settings.n_inits * settings.epochs * settings.n_train * (settings.train_pgd_steps + 2) * 4.0 * d * m


def _evaluation_flops(d: int, m: int, settings: Config) -> float:
    return settings.n_inits * settings.n_test * (2 * settings.ddn_steps + settings.eval_pgd_steps + 4) * 4.0 * d * m


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell of the main or the free sweep on one core (see ``COST_RATIO``)."""
    d, m = int(coords["d"]), int(coords["m"])
    return gemm_seconds(COST_RATIO * (_training_flops(d, m, settings) + _evaluation_flops(d, m, settings)))


def cone_cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell of the cone sweep: one training, one evaluation per scale."""
    d, m = int(coords["d"]), int(coords["m"])
    n_eval = 1 + len(settings.cone_scales)
    return gemm_seconds(COST_RATIO * (_training_flops(d, m, settings) + n_eval * _evaluation_flops(d, m, settings)))

def grid(config: Config) -> dict:
    return {"m": config.widths, "d": config.dims, "c": config.radius_units}


def free_grid(config: Config) -> dict:
    return {"m": config.widths, "d": config.dims}


# ------------------------------------------------------------------------------------------------ build

def _transition(grp: pd.DataFrame, col: str) -> float:
    """The c at which the mean robust error (over inits) first drops below 1/2, log-linear interpolation; NaN
    when it never crosses within the grid."""
    curve = grp.groupby("c")[col].mean().sort_index()
    c, e = curve.index.to_numpy(float), curve.to_numpy(float)
    for j in range(1, len(c)):
        if e[j - 1] >= 0.5 > e[j]:
            lc = np.log(c[j - 1]) + (e[j - 1] - 0.5) / (e[j - 1] - e[j]) * (np.log(c[j]) - np.log(c[j - 1]))
            return float(np.exp(lc))
    return float("nan")


def build(tables: dict, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main, free, cone = tables["main"], tables["free"], tables["cone"]
    table = pd.concat([main, free, cone], ignore_index=True)
    cor = get_bound(COROLLARY)
    gp = config.gamma_prime
    bound = float(cor.evaluate(gamma_prime=gp))
    lines, rows = [], []
    consts = cor.reconstructed_constants(c_eps=1.0)
    # Corollary 3.2 on every lazy cell (c <= lazy_C0): the test-set robust error of each init sandwiched by
    # Clopper-Pearson limits of its two ends. The cone's rescaled networks are left out: lambda W has the
    # robust error of W by the identity (a self-check below), so they add no independent sample.
    lazy = main[main.c <= config.lazy_C0].assign(where="projected")
    for (where, m, d, c), grp in lazy.groupby(["where", "m", "d", "c"], sort=True):
        n = grp["n_test"].to_numpy(int)
        lo = np.atleast_1d(clopper_pearson(grp["attack_errors"].to_numpy(int), n, config.confidence).low)
        hi = np.atleast_1d(clopper_pearson((n - grp["certified_robust"]).to_numpy(int), n, config.confidence).high)
        eps = float(grp["eps"].iloc[0])
        in_hyp = bool(eps >= 1.0 / np.sqrt(d))
        rows.append(compare_sandwich(lo, hi, bound, bound_id=COROLLARY, direction="lower",
                                     failure_probability=float(cor.failure(gamma_prime=gp)), gamma=gp,
                                     in_hypothesis=in_hyp, hypothesis="eps >= eps_d = c_eps/sqrt(d)",
                                     constants=consts, confidence=config.confidence,
                                     check=f"{COROLLARY} ({where} W, c <= {config.lazy_C0:g})"))
    if rows:
        lines += verdicts(pd.DataFrame(rows))
    # the transition in units of 1/sqrt(m), and its exponent in m
    trans = []
    for (d,), grp_d in main.groupby(["d"]):
        for m, grp in grp_d.groupby("m"):
            trans.append(dict(d=d, m=m, c_half_attack=_transition(grp, "attack_error"),
                              c_half_certified=_transition(grp, "certified_error_upper")))
    trans = pd.DataFrame(trans)
    est_rows = []
    for d, grp in trans.groupby("d"):
        ok = grp[np.isfinite(grp.c_half_attack)]
        if len(ok) >= 3:
            R_half = ok.c_half_attack / np.sqrt(ok.m)
            fit = fit_exponent(ok.m.to_numpy(float), R_half.to_numpy(float))
            est_rows.append(compare_estimate(fit.exponent, fit.ci_low, fit.ci_high, -0.5,
                                             name=f"exponent in m of the transition radius (robust error 1/2, attack "
                                                  f"side: heuristic), d={d}",
                                             alternatives={"m^0 (a fixed radius)": 0.0}))
        else:
            lines.append(f"transition radius at d={d}: found for {len(ok)} of {len(grp)} widths, fewer than 3, "
                         f"no exponent fitted; c_half (attack) = "
                         + ", ".join(f"m={int(r.m)}: {r.c_half_attack:.3g}" for r in grp.itertuples()))
    if est_rows:
        lines += verdicts(pd.DataFrame(est_rows))
    if len(free):
        lines.append("unconstrained training: deviation x sqrt(m) "
                     + ", ".join(f"d={int(d)}, m={int(m)}: {g.deviation_sqrt_m.median():.3g} (robust error attack "
                                 f"{g.attack_error.mean():.2f}, certified upper {g.certified_error_upper.mean():.2f})"
                                 for (d, m), g in free.groupby(["d", "m"])))
    # the cone: identities of positive homogeneity (they test the implementation)
    checks = []
    sc = cone[cone.scale != 1.0]
    if len(sc):
        checks.append(compare_to_bound(1.0 - sc["sign_agreement"], 0.0, bound_id="cone: sign f(lambda W) = sign f(W)",
                                       direction="upper", failure_probability=0.0, self_check=True))
        checks.append(compare_to_bound(sc["delta_star_rel_change"], 1e-9, bound_id="cone: delta*(lambda W) = delta*(W)",
                                       direction="upper", failure_probability=0.0, self_check=True))
        checks.append(compare_to_bound(sc["eta_times_scale_rel_change"], 1e-9,
                                       bound_id="cone: lambda eta*(lambda W) = eta*(W)", direction="upper",
                                       failure_probability=0.0, self_check=True))
        base = cone[cone.scale == 1.0][["m", "d", "init", "attack_error"]]
        far = sc.merge(base, on=["m", "d", "init"], suffixes=("", "_unscaled"))
        lines.append(f"cone: rescaled lazy networks reach deviation x sqrt(m) up to {sc.deviation_sqrt_m.max():.3g} "
                     f"(lazy ball: {config.cone_C0:g}); largest change of the attack robust error under rescaling "
                     f"{(far.attack_error - far.attack_error_unscaled).abs().max():.3g}")
    self_checks = self_check_lines(pd.DataFrame(checks)) if checks else []

    figures = {}
    dims = sorted(main.d.unique())
    fig, axes_all = plt.subplots(len(dims), 2, figsize=(11, 4.2 * len(dims)), squeeze=False)
    for row, d in enumerate(dims):
        axes = axes_all[row]
        main_d, free_d, cone_d = main[main.d == d], free[free.d == d], cone[cone.d == d]
        for j, (m, grp) in enumerate(main_d.groupby("m")):
            color = f"C{j}"
            curve = grp.groupby("c").agg(dev=("deviation_sqrt_m", "median"), att=("attack_error", "mean"),
                                         cert=("certified_error_upper", "mean")).reset_index()
            axes[0].plot(curve.dev, curve.att, "o-", color=color, label=f"attack (>=), m={m}")
            axes[0].plot(curve.dev, curve.cert, "v:", color=color, label=f"certified (<=), m={m}")
            fr = free_d[free_d.m == m]
            if len(fr):
                axes[0].plot(fr.deviation_sqrt_m, fr.attack_error, "*", color=color, ms=10,
                             label=f"unconstrained, m={m}")
            cn = cone_d[(cone_d.m == m) & (cone_d.scale != 1.0)]
            if len(cn):
                axes[0].plot(cn.deviation_sqrt_m, cn.attack_error, "x", color=color, label=f"cone lambda W, m={m}")
        axes[0].axvline(config.lazy_C0, color="k", lw=0.8, ls="--", label=f"lazy radius {config.lazy_C0:g}/sqrt(m)")
        axes[0].set(xscale="log", xlabel="max deviation from init x sqrt(m)", ylabel="robust test error",
                    title=f"robust error at eps = {config.eps_unit:g}/sqrt(d), d={d}")
        axes[0].legend(fontsize=6)
        piv = main_d.groupby(["m", "c"])["attack_error"].mean().unstack("c")
        im = axes[1].imshow(piv.to_numpy(), origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1)
        axes[1].set_xticks(range(piv.shape[1]), [f"{c:g}" for c in piv.columns])
        axes[1].set_yticks(range(piv.shape[0]), [str(r) for r in piv.index])
        for (r, c), v in np.ndenumerate(piv.to_numpy()):
            axes[1].text(c, r, f"{v:.2f}", ha="center", va="center", color="c", fontsize=8)
        axes[1].set(xlabel="ball radius x sqrt(m)", ylabel="m",
                    title=f"robust error (attack), projected training, d={d}")
        fig.colorbar(im, ax=axes[1], fraction=0.046)
    fig.tight_layout()
    figures[NAME] = fig
    notes = [f"eps = {config.eps_unit:g}/sqrt(d); data: uniform on the sphere with |v.x| >= {config.margin:g} eps for a "
             "random unit teacher v (the teacher is robust at eps); theory parametrization (no biases).",
             f"training: projected adversarial training (PGD-l2 {config.train_pgd_steps} steps, lr {config.lr}, batch 32, "
             f"at most {config.epochs} epochs, patience {config.patience}); evaluation: PGD-l2 {config.eval_pgd_steps} "
             f"steps, one-step flip and DDN ({config.ddn_steps} steps) on {config.n_test} test points per init.",
             "Corollary 3.2 lines: each init's test robust error sandwiched between the Clopper-Pearson lower limit of "
             "its attack errors and the upper limit of its uncertified points; a sandwich on the wrong side of the "
             "bound would be definite up to that confidence; straddling is undecided."]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures=figures,
                       extra_tables={"transition": trans, "corollary_rows": pd.DataFrame(rows)}, notes=notes,
                       self_checks=self_checks)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config,
              phases=(Phase("main", grid, cell, cost), Phase("free", free_grid, free_cell, cost),
                      Phase("cone", free_grid, cone_cell, cone_cost)), build=build)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
