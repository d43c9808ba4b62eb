"""The minimal adversarial perturbation against the one-step flip of Theorem 3.1 (the paper's open question 3).

Wang et al. 2022 (section 6; theory sections 10.1 and 10.5) ask how the minimal perturbation that
creates an adversarial example depends on the input dimension, and whether an attack run to convergence does
better than their single gradient step. Per (init, test point) this study sandwiches the minimal l2
perturbation ``delta_min`` (:func:`boundcheck.minimal.minimal_perturbation`): attacks run to convergence give
attained upper bounds (heuristic), a Lipschitz scan, a linear relaxation and, for small widths, the
enumeration of the linear regions give certified lower bounds; "exact" where they meet. Next to it the
one-step ``delta*`` of Theorem 3.1 (exact breakpoint scan).

Weights: the init W0 (C0 = 0), a random point of the lazy ball (every neuron moved by exactly C0/sqrt(m)),
and lazily trained weights (projected SGD inside the ball on a synthetic task: labels of a random linear
teacher on the sphere). Inputs on the unit sphere, the theory parametrization.

What is reported: ``delta sqrt(d)`` for the three (one step, attack upper, certified lower), their exponents
in d next to the theory's -1/2 (Theorem 3.1 gives ``delta* = O(1/sqrt(d))``; ``delta_min <= delta*``), the
gain ``delta* / upper`` of the converged attack over one step, and heat maps over (d, m). An exponent read
from the attack alone is labelled heuristic in its line; only the certified lower bound can show that
``delta_min`` is not of smaller order. ``data = "mnist"`` runs the same on MNIST 0 vs 1 (images resized to
``sqrt(d) x sqrt(d)`` and put on the unit sphere; dims must be squares), e.g. ``--config mnist.toml`` with
``data = "mnist"`` and ``dims = [25, 49, 100, 196]``.

Time: the default runs in a few minutes on 2 cores; ``--quick`` in well under a minute. ``paper()`` (d up to
784, m up to 4096, 5 inits x 20 points, 100 training epochs) is estimated at 1-2 hours on 2 cores (scaled
from a measured training epoch at d = 784, m = 4096, about 3 s under load, and the default run; not
measured end to end), dominated by the lazy training and the attacks at the largest widths.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.checks import compare_estimate, compare_to_bound, self_check_lines, verdicts
from boundcheck.minimal import minimal_perturbation
from boundcheck.report import StudyResult
from boundcheck.stats import fit_exponent
from boundcheck.study import (ConfigError, Integer, Real, Study, StudyConfig, TupleOf, choice, nonnegative,
                              nonnegative_int, positive, positive_int, positive_ints, seed_domain, setting)

NAME = "minimal_perturbation"
DESCRIPTION = "Minimal l2 adversarial perturbation (sandwiched) vs the one-step delta* of Thm 3.1, over d, m, C0"

PREDICTED_EXPONENT = -0.5          # delta* = O(1/sqrt(d)) (Theorem 3.1); delta_min <= delta*
ALTERNATIVES = {"d^0 (no decay)": 0.0, "d^-1": -1.0}


@dataclass(frozen=True)
class Config(StudyConfig):
    dims: tuple = setting((10, 20, 40, 80), positive_ints)
    widths: tuple = setting((8, 64, 512), positive_ints)
    C0s: tuple = setting((0.0, 1.0, 5.0), TupleOf(nonnegative, unique=True),
                         doc="lazy-ball constants; 0 means the init W0")
    weights: tuple = setting(("random", "trained"), TupleOf(choice("random", "trained"), unique=True),
                             doc="the lazy weights studied at each C0 > 0")
    n_inits: int = setting(3, positive_int)
    n_points: int = setting(8, positive_int)
    n_train: int = setting(256, Integer(2, description="an integer >= 2"))
    epochs: int = setting(20, positive_int)
    lr: float = setting(0.1, positive)
    ddn_steps: int = setting(100, positive_int)
    restarts: int = setting(4, positive_int)
    pgd_steps: int = setting(20, nonnegative_int, doc="PGD steps per budget of the eps search; 0 skips it")
    max_ambiguous: int = setting(14, nonnegative_int, doc="region enumeration where at most this many "
                                                          "neurons have their kink within the best upper bound")
    exact_rtol: float = setting(1e-6, Real(0.0, description="a finite number >= 0"))
    data: str = setting("synthetic", choice("synthetic", "mnist"),
                        doc="synthetic: points on the sphere, a linear teacher; mnist: digits 0 vs 1 resized to "
                            "sqrt(d) x sqrt(d), on the unit sphere (training and test points)")
    seed: int = setting(0, seed_domain)

    def check(self):
        if self.data == "mnist":
            bad = [d for d in self.dims if d > 784 or math.isqrt(d) ** 2 != d]
            if bad:
                raise ConfigError(f"dims must be squares of 1..28 with data = 'mnist' (d = size^2), got {bad}")

    @classmethod
    def quick(cls):
        return cls(dims=(10, 20, 40), widths=(8, 64), C0s=(0.0, 2.0), n_inits=2, n_points=5, n_train=128,
                   epochs=5, ddn_steps=60, restarts=2, pgd_steps=0)

    @classmethod
    def paper(cls):
        return cls(dims=(25, 49, 100, 196, 400, 784), widths=(8, 64, 512, 4096), C0s=(0.0, 1.0, 5.0, 10.0),
                   n_inits=5, n_points=20, n_train=1024, epochs=100)


#: cost model: ratio of the cell's time to its matrix products (2 products of 2 d m flops per point and
#: step: the attacks' steps, PGD's 8 budgets of the eps search, the training's SGD); the exact region search
#: is not modelled (up to 2^max_ambiguous regions per point; it can make a cell much longer).
COST_RATIO = 3.0


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell on one core (see ``COST_RATIO``): linear in d m."""
    dm = float(coords["d"]) * float(coords["m"])
    kinds = ("init",) if float(coords["C0"]) == 0 else settings.weights
    steps = settings.n_points * (settings.ddn_steps * settings.restarts + 8 * settings.pgd_steps + 10)
    steps += sum(settings.epochs * settings.n_train for kind in kinds if kind == "trained") / len(kinds)
    return gemm_seconds(COST_RATIO * len(kinds) * settings.n_inits * steps * 4.0 * dm)

def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s}


@functools.lru_cache(maxsize=4)
def _mnist(size: int):
    return bc.load_mnist_pair((0, 1), size=size, normalize="sphere")


def task(d: int, config: Config, rng):
    """Training set (n_train, d), labels, and the test points (n_points, d), all on the unit sphere."""
    if config.data == "mnist":
        pair = _mnist(math.isqrt(d))
        tr = rng.choice(len(pair.X_train), size=min(config.n_train, len(pair.X_train)), replace=False)
        te = rng.choice(len(pair.X_test), size=min(config.n_points, len(pair.X_test)), replace=False)
        return (np.asarray(pair.X_train[tr], float), np.asarray(pair.y_train[tr], float),
                np.asarray(pair.X_test[te], float))
    teacher = rng.standard_normal(d)
    Xtr = bc.sample_sphere(config.n_train, d, rng=rng)
    return Xtr, np.where(Xtr @ teacher >= 0, 1.0, -1.0), bc.sample_sphere(config.n_points, d, rng=rng)


def lazy_weights(net, kind: str, C0: float, config: Config, Xtr, ytr, rng) -> np.ndarray:
    """The (K, m, d) weights of one kind at lazy constant C0 (C0 = 0: the init)."""
    if C0 == 0:
        return net.W0
    R = bc.lazy_radius(C0, net.width)
    if kind == "random":
        return bc.random_lazy_weights(net, R, rng=rng)
    W = np.empty_like(net.W0)
    for k in range(net.n_inits):
        res = bc.train_lazy_sgd(net.select(k), Xtr, ytr, C0=C0, lr=config.lr, epochs=config.epochs, mode="project",
                                rng=rng, eval_train=False)
        W[k] = res.W
    return W


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    d, m, C0 = int(coords["d"]), int(coords["m"]), float(coords["C0"])
    net = bc.init_network(d, m, n_inits=settings.n_inits, parametrization="theory", rng=rng)
    Xtr, ytr, X = task(d, settings, rng)
    kinds = ("init",) if C0 == 0 else settings.weights
    frames = []
    for kind in kinds:
        W = lazy_weights(net, kind, C0, settings, Xtr, ytr, rng)
        res = minimal_perturbation(net, X, W, ddn_steps=settings.ddn_steps, restarts=settings.restarts,
                                   pgd_steps=settings.pgd_steps, max_ambiguous=settings.max_ambiguous,
                                   rtol=settings.exact_rtol, rng=rng)
        t = res.table()[["init", "point", "f", "one_step", "lower", "upper", "exact", "lower_method",
                         "upper_method"]]
        t.insert(0, "weights", kind)
        t["deviation"] = np.repeat(bc.lazy_distance(W, net.W0), len(X))
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------------------ build

def _cells(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    sq = np.sqrt(t["d"])
    t["one_step_sqrt_d"] = t["one_step"] * sq
    t["upper_sqrt_d"] = t["upper"] * sq
    t["lower_sqrt_d"] = t["lower"] * sq
    with np.errstate(divide="ignore", invalid="ignore"):
        t["gain"] = t["one_step"] / t["upper"]
        t["gap"] = np.where(t["upper"] == t["lower"], 1.0, t["upper"] / t["lower"])
    g = t.groupby(["weights", "C0", "m", "d"], sort=True)
    return g.agg(n=("upper", "size"), one_step_sqrt_d=("one_step_sqrt_d", "median"),
                 upper_sqrt_d=("upper_sqrt_d", "median"), lower_sqrt_d=("lower_sqrt_d", "median"),
                 exact_fraction=("exact", "mean"), gain_median=("gain", "median"),
                 gap_median=("gap", "median")).reset_index()


def _exponent_rows(table: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    rows, fits = [], []
    what = {"one_step": ("the one-step delta* (exact scan)", "exact"),
            "upper": ("the minimal perturbation's attack upper bound (heuristic)", "heuristic"),
            "lower": ("the minimal perturbation's certified lower bound", "certified")}
    for (kind, C0, m), grp in table.groupby(["weights", "C0", "m"], sort=True):
        for col, (label, evidence) in what.items():
            ok = np.isfinite(grp[col]) & (grp[col] > 0)
            sub = grp[ok]
            if sub["d"].nunique() < 3:
                continue
            fit = fit_exponent(sub["d"].to_numpy(float), sub[col].to_numpy(float))
            fits.append(dict(weights=kind, C0=C0, m=m, quantity=col, evidence=evidence, exponent=fit.exponent,
                             ci_low=fit.ci_low, ci_high=fit.ci_high, n_points=fit.n_points, dropped=int((~ok).sum())))
            rows.append(compare_estimate(fit.exponent, fit.ci_low, fit.ci_high, PREDICTED_EXPONENT,
                                         name=f"exponent in d of {label}, {kind} W, C0={C0:g}, m={m}",
                                         alternatives=ALTERNATIVES))
    return rows, pd.DataFrame(fits)


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = _cells(table)
    est_rows, fits = _exponent_rows(table)
    lines = verdicts(pd.DataFrame(est_rows)) if est_rows else []
    gain = cells["gain_median"]
    single = table["one_step"] / table["upper"]
    no_step = int((~np.isfinite(table["one_step"]) & np.isfinite(table["upper"])).sum())
    lines.append(f"converged attack vs one step: median gain delta*/upper per cell from {gain.min():.3g} to "
                 f"{gain.max():.3g} (largest finite single gain {single[np.isfinite(single)].max():.3g}; in {no_step} "
                 f"of {len(table)} pairs the one step never flips but the attack does); heuristic upper bounds, so a "
                 "gain is a lower bound on the true gain delta*/delta_min")
    ex = table["exact"].mean()
    lines.append(f"sandwich closed (exact to rtol {config.exact_rtol:g}) for {ex:.1%} of (init, point) pairs; "
                 f"by width: " + ", ".join(f"m={m}: {v:.0%}" for m, v in table.groupby("m")["exact"].mean().items()))
    # by construction: the sandwich's upper is a minimum that includes delta*, and lower <= upper is enforced
    fin = np.isfinite(table["one_step"]) & np.isfinite(table["upper"])
    checks = [compare_to_bound((table["upper"] - table["one_step"])[fin], 0.0, bound_id="upper <= one-step delta*",
                               direction="upper", failure_probability=0.0, self_check=True),
              compare_to_bound(table["lower"] - table["upper"], 0.0, bound_id="certified lower <= attained upper",
                               direction="upper", failure_probability=0.0, self_check=True)]
    self_checks = self_check_lines(pd.DataFrame(checks))

    figures = {}
    kinds = [k for k in ("init", "random", "trained") if k in set(cells["weights"])]
    C0_top = max(config.C0s)
    fig, axes = plt.subplots(2, len(kinds), figsize=(4.2 * len(kinds), 7), squeeze=False)
    for j, kind in enumerate(kinds):
        sub = cells[(cells.weights == kind) & ((cells.C0 == C0_top) | (kind == "init"))]
        for i, (col, label) in enumerate((("upper_sqrt_d", "median upper bound x sqrt(d)"),
                                          ("gain_median", "median gain delta*/upper"))):
            piv = sub.pivot_table(index="m", columns="d", values=col)
            ax = axes[i, j]
            im = ax.imshow(piv.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(piv.shape[1]), [str(c) for c in piv.columns])
            ax.set_yticks(range(piv.shape[0]), [str(r) for r in piv.index])
            for (r, c), v in np.ndenumerate(piv.to_numpy()):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", color="w", fontsize=7)
            ax.set(xlabel="d", ylabel="m", title=f"{label}\n{kind} W" + ("" if kind == "init" else f", C0={C0_top:g}"))
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    figures[f"{NAME}_phase"] = fig

    fig2, axes2 = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 3.8), squeeze=False)
    for j, kind in enumerate(kinds):
        ax = axes2[0, j]
        sub = cells[(cells.weights == kind) & ((cells.C0 == C0_top) | (kind == "init"))]
        for n_m, (m, grp) in enumerate(sub.groupby("m")):
            color = f"C{n_m}"
            ax.plot(grp.d, grp.one_step_sqrt_d, "o--", color=color, label=f"one step, m={m}")
            ax.plot(grp.d, grp.upper_sqrt_d, "s-", color=color, label=f"attack upper, m={m}")
            ax.plot(grp.d, grp.lower_sqrt_d, "v:", color=color, label=f"certified lower, m={m}")
        ax.axhline(np.sqrt(2 / np.pi), color="k", lw=0.8, label="sqrt(2/pi) (linearized, W0)")
        ax.set(xscale="log", yscale="log", xlabel="d", ylabel="median delta x sqrt(d)",
               title=f"{kind} W" + ("" if kind == "init" else f", C0={C0_top:g}"))
        ax.legend(fontsize=6)
    fig2.tight_layout()
    figures[NAME] = fig2

    # against C0 (Fig 3 of the paper for the minimal perturbation), at the largest d, every width
    d_top = max(config.dims)
    at_d = cells[cells.d == d_top]
    fig3, axes3 = plt.subplots(1, 2, figsize=(10, 3.8))
    for n_m, (m, grp) in enumerate(at_d.groupby("m")):
        for j, kind in enumerate(("random", "trained")):
            sub = grp[(grp.weights == kind) | (grp.weights == "init")].sort_values("C0")
            if (sub.weights == kind).any():
                axes3[j].plot(sub.C0, sub.upper_sqrt_d, "s-", color=f"C{n_m}", label=f"attack upper, m={m}")
                axes3[j].plot(sub.C0, sub.one_step_sqrt_d, "o--", color=f"C{n_m}", label=f"one step, m={m}")
                axes3[j].plot(sub.C0, sub.lower_sqrt_d, "v:", color=f"C{n_m}", label=f"certified lower, m={m}")
    for j, kind in enumerate(("random", "trained")):
        axes3[j].set(xlabel="C0 (0: the init)", ylabel="median delta x sqrt(d)", title=f"{kind} lazy W, d={d_top}")
        axes3[j].legend(fontsize=6)
    fig3.tight_layout()
    figures[f"{NAME}_C0"] = fig3

    notes = [f"{config.n_inits} inits x {config.n_points} test points per cell on the unit sphere (theory "
             f"parametrization); DDN {config.ddn_steps} steps x {config.restarts} starts; PGD eps search "
             f"{config.pgd_steps} steps per budget (0: skipped); region enumeration up to {config.max_ambiguous} "
             "ambiguous neurons.",
             "delta_min is the distance to {s f <= 0}, s = sign f(x): the closed target of the robust loss. "
             "Bias-free networks have f(0) = 0, so delta_min <= ||x|| = 1 always.",
             (f"trained W: projected SGD (lr {config.lr}, {config.epochs} epochs, {config.n_train} points, labels of a "
              "random linear teacher); test points uniform on the sphere." if config.data == "synthetic" else
              f"data: MNIST 0 vs 1 resized to sqrt(d) x sqrt(d) (area), rows on the unit sphere; trained W: projected "
              f"SGD (lr {config.lr}, {config.epochs} epochs, {config.n_train} training images); test points: "
              f"{config.n_points} test images per cell.")]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures=figures,
                       extra_tables={"cells": cells, "exponents": fits}, notes=notes, self_checks=self_checks)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
