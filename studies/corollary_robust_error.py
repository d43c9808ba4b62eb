"""Corollary 3.2 (Wang et al. 2022): the robust error of every lazy network is close to 1 at eps ~ 1/sqrt(d).

Statement (RECON, spec section 4): for any data distribution on the unit sphere and eps >= eps_d, the
perturbation size of Theorem 3.1 (``eps_d = c_eps / sqrt(d)``, c_eps not recovered, default 1), with
probability >= 1 - sqrt(gamma') over the init (a, W0), every W in the lazy ball satisfies::

    L_rob(f_W) = E_(x,y) sup_{||delta|| <= eps} 1{y f(x + delta; W) <= 0}  >=  1 - sqrt(gamma')

(registry entry ``corollary_3_2_robust_error``; gamma' is Theorem 3.1's failure probability, a
parameter here).

What is measured, per cell (d, m, C0) and budget ``eps = k / sqrt(d)``: the l2 robust error of each init on
a test sample from the uniform distribution on the sphere, estimated by the union of two attacks: PGD-l2
on the logistic loss (:func:`boundcheck.pgd`, a moderate number of steps from delta = 0) and the exact
minimal one-step flip of Theorem 3.1 (:func:`boundcheck.min_flip_step`: the point is an error when the
minimal flipping perturbation is at most eps). Networks: W0, a random lazy W (every row moved by R), and,
when :func:`boundcheck.train.train_adversarial` is available and enabled, W from projected adversarial
training on synthetic data (Algorithm 1, spec section 6.4, with eps = 1/sqrt(d)). Labels:

- ``"teacher"``: ``y = sign(beta . x)`` for a random unit beta (the clean error of an untrained network is
  then about 1/2);
- ``"own"``: ``y = sign(f(x; W))``, the network's own labels (clean error 0, so the robust error isolates the
  attack).

Each row compares the per-init robust errors with ``1 - sqrt(gamma')`` by
:func:`boundcheck.checks.compare_to_bound` (direction lower, failure probability sqrt(gamma')). Only budgets
with ``eps >= eps_d`` are within the corollary's hypothesis; the others are shown but not judged. The
attacks can only find adversarial examples, so the measured robust error is a lower estimate of the true
one: a "violation" is either a real one or a weak attack (the samples count as ``heuristic``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.bounds import get as get_bound
from boundcheck.bounds import theorem_3_1_regime
from boundcheck.checks import compare_to_bound, verdicts
from boundcheck.report import StudyResult
from boundcheck.study import (ConfigError, Study, StudyConfig, boolean, positive, positive_int, positive_ints, positives,
                              probabilities, seed_domain, setting)
from boundcheck.robust_lazy import random_lazy_weights

NAME = "corollary_robust_error"
DESCRIPTION = ("Corollary 3.2: robust error (PGD-l2 and the exact one-step flip) of W0, random lazy and "
               "adversarially trained W vs the lower bound 1 - sqrt(gamma'), eps around 1/sqrt(d)")
BOUNDS = ("corollary_3_2_robust_error",)
BOUND_ID = "corollary_3_2_robust_error"
LABELS = ("teacher", "own")


def _train_adversarial():
    """:func:`boundcheck.train.train_adversarial` if that module provides it, else None."""
    try:
        from boundcheck import train
    except ImportError:
        return None
    return getattr(train, "train_adversarial", None)


@dataclass(frozen=True)
class Config(StudyConfig):
    dims: tuple = setting((25, 100, 400), positive_ints)
    widths: tuple = setting((400,), positive_ints)
    C0s: tuple = setting((1.0, 5.0), positives)
    eps_factors: tuple = setting((0.25, 0.5, 1.0, 2.0, 4.0), positives)
    gammas_prime: tuple = setting((0.01, 0.1), probabilities)
    c_eps: float = setting(1.0, positive)
    n_inits: int = setting(20, positive_int)
    n_test: int = setting(100, positive_int)
    pgd_steps: int = setting(40, positive_int)
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
        for name in ("n_inits", "train_inits"):
            if getattr(self, name) < 2:
                raise ConfigError(f"setting {name!r} = {getattr(self, name)}: expected an integer >= 2 (one robust "
                                  "error per init; a row needs two)")
        if self.train_inits > self.n_inits:
            raise ConfigError(f"setting 'train_inits' = {self.train_inits}: expected at most n_inits = {self.n_inits}")

    @classmethod
    def quick(cls):
        return cls(dims=(25, 100), C0s=(1.0,), eps_factors=(0.5, 1.0, 2.0), n_inits=4, n_test=16, pgd_steps=5,
                   train_inits=2, n_train=32, train_epochs=2, train_pgd_steps=2)

    @classmethod
    def paper(cls):
        return cls(dims=(25, 100, 400, 784), widths=(1000,), C0s=(0.5, 1.0, 5.0, 10.0), n_inits=40, n_test=200,
                   pgd_steps=100, train_inits=5, n_train=512, train_epochs=30, train_pgd_steps=20)


def _errors(net, X, y, W, eps, pgd_steps):
    """Per init and budget: clean, PGD, one-step and union robust errors (each (E, K)), y of shape (K, n)."""
    K = net.n_inits
    f = bc.forward(net, X, W)
    clean = y * f <= 0                                              # (K, n)
    flip = bc.min_flip_step(net, X, W)
    # the one-step perturbation -sign(f) grad f points along -y grad f wherever the point is correct
    onestep = clean[None] | (flip.delta[None] <= eps[:, None, None])  # (E, K, n)
    pgd_hit = np.empty_like(onestep)
    for k in range(K):
        Wk = None if W is None else W[k:k + 1]
        res = bc.pgd(net.select([k]), X, y[k], eps, norm="l2", steps=pgd_steps, W=Wk)
        pgd_hit[:, k] = res.success[:, 0] | clean[k][None]
    union = onestep | pgd_hit
    return dict(clean=np.broadcast_to(clean.mean(-1), (len(eps), K)), pgd=pgd_hit.mean(-1),
                onestep=onestep.mean(-1), union=union.mean(-1))


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    d, m, C0 = int(coords["d"]), int(coords["m"]), float(coords["C0"])
    factors = list(settings.eps_factors)
    gammas = list(settings.gammas_prime)
    K, n_test, steps = int(settings.n_inits), int(settings.n_test), int(settings.pgd_steps)
    c_eps = float(settings.c_eps)
    R = bc.lazy_radius(C0, m)
    eps = np.array(factors) / math.sqrt(d)

    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=rng)
    X = bc.sample_sphere(n_test, d, rng=rng)
    beta = bc.sample_sphere(1, d, rng=rng)[0]
    y_teacher = np.where(X @ beta >= 0, 1.0, -1.0)
    kinds = {"init": (net, None), "random": (net, random_lazy_weights(net, R, rng=rng))}

    trainer = _train_adversarial()
    trained_note = "off"
    if bool(settings.adversarial_training) and trainer is not None:
        K_t = min(int(settings.train_inits), K)
        X_train = bc.sample_sphere(int(settings.n_train), d, rng=rng)
        y_train = np.where(X_train @ beta >= 0, 1.0, -1.0)
        W_t = np.empty((K_t, m, d))
        for k in range(K_t):
            result = trainer(net.select([k]), X_train, y_train, radius=R,
                             eps=float(settings.train_eps_factor) / math.sqrt(d),
                             pgd_steps=int(settings.train_pgd_steps), lr=float(settings.train_lr),
                             epochs=int(settings.train_epochs), patience=int(settings.train_epochs), box=None,
                             rng=rng)
            W_t[k] = result.W
        train_net = net.select(list(range(K_t)))
        kinds["trained"] = (train_net, W_t)
        trained_note = "on"
    elif bool(settings.adversarial_training):
        trained_note = "unavailable"

    bound = get_bound(BOUND_ID)
    regime = theorem_3_1_regime(d, m)
    rows = []
    for kind, (knet, W) in kinds.items():
        f = bc.forward(knet, X, W)
        for labels in LABELS:
            y = np.broadcast_to(y_teacher, f.shape) if labels == "teacher" else np.where(f >= 0, 1.0, -1.0)
            err = _errors(knet, X, y, W, eps, steps)
            for e, k_eps in enumerate(factors):
                hyp = bool(bound.check_conditions(gamma_prime=gammas[0], eps=float(eps[e]), d=d,
                                                  c_eps=c_eps)["eps_at_least_eps_d"])
                for gamma in gammas:
                    value = float(bound.evaluate(gamma_prime=gamma))
                    row = dict(w_kind=kind, labels=labels, eps_factor=k_eps, eps=float(eps[e]),
                               eps_d=c_eps / math.sqrt(d), in_hypothesis=hyp)
                    row.update(compare_to_bound(err["union"][e], value, bound_id=BOUND_ID, direction="lower",
                                                failure_probability=float(bound.failure(gamma_prime=gamma)),
                                                kind="heuristic", gamma=gamma, vacuous=value <= 0))
                    if not hyp:
                        row["verdict"] = "outside hypothesis"
                    row.update(robust_error_pgd=float(err["pgd"][e].mean()),
                               robust_error_onestep=float(err["onestep"][e].mean()),
                               clean_error=float(err["clean"][e].mean()), training=trained_note,
                               width_lower=bool(regime.width_lower), width_upper=bool(regime.width_upper))
                    rows.append(row)
    return pd.DataFrame(rows)


def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s}


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judged = table[table.in_hypothesis]
    lines = []
    for gamma in config.gammas_prime:
        sub = judged[judged.gamma == gamma]
        for (kind, labels), part in sub.groupby(["w_kind", "labels"], sort=False):
            line = verdicts(part)[0].replace(BOUND_ID, f"{BOUND_ID} [{kind} W, {labels} labels, gamma'={gamma:g}, "
                                                       f"bound {1 - math.sqrt(gamma):.3f}]", 1)
            lines.append(f"{line}; robust error {part['mean'].min():.3f} - {part['mean'].max():.3f}")
        every = table[table.gamma == gamma].groupby("eps_factor")
        ok = {k: bool((part["mean"] >= part["bound"]).all()) for k, part in every}
        # the smallest eps from which EVERY larger eps reaches the bound (PGD need not be monotone in eps)
        factors = sorted(ok)
        reached = [k for i, k in enumerate(factors) if all(ok[j] for j in factors[i:])]
        lines.append(f"mean robust error >= {1 - math.sqrt(gamma):.3f} for every network and label kind from eps sqrt(d) = "
                     + (f"{min(reached):g}" if reached else f"(never up to {max(config.eps_factors):g})")
                     + f" on (eps_d = {config.c_eps:g}/sqrt(d))")
    outside = table[~table.in_hypothesis & (table.gamma == config.gammas_prime[0])]
    if not outside.empty:
        lines.append(f"outside the hypothesis (eps < eps_d, not judged): robust error {outside['mean'].min():.3f} - "
                     f"{outside['mean'].max():.3f}")
    training = sorted(set(table["training"])) if "training" in table else []
    notes = [f"robust error = union of PGD-l2 ({config.pgd_steps} steps from 0, step 2.5 eps/steps) and the exact "
             f"minimal one-step flip, on {config.n_test} test points per init ({config.n_inits} inits per cell); "
             "a lower estimate of the true robust error",
             "teacher labels y = sign(beta . x); own labels y = sign(f(x; W))",
             f"adversarial training: {', '.join(training) or 'off'} ({config.train_inits} inits, "
             f"{config.n_train} points, {config.train_epochs} epochs, PGD {config.train_pgd_steps} steps at eps = "
             f"{config.train_eps_factor:g}/sqrt(d), lr {config.train_lr:g}, projection after every step)"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures={NAME: _plot(table, config, plt)},
                       notes=notes)


def _plot(table, config, plt):
    gamma = min(config.gammas_prime)
    C0s = sorted(config.C0s)
    fig, axes = plt.subplots(len(LABELS), len(C0s), figsize=(4.4 * len(C0s), 3.6 * len(LABELS)), squeeze=False,
                             sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = {"init": "o-", "random": "s--", "trained": "^:"}
    for r, labels in enumerate(LABELS):
        for c, C0 in enumerate(C0s):
            ax = axes[r][c]
            sub = table[(table.labels == labels) & (table.C0 == C0) & (table.gamma == gamma)]
            for j, d in enumerate(sorted(config.dims)):
                for kind in ("init", "random", "trained"):
                    part = sub[(sub.d == d) & (sub.w_kind == kind)].sort_values("eps_factor")
                    if part.empty:
                        continue
                    ax.plot(part.eps_factor, part["mean"], styles[kind], color=colors[j % len(colors)], ms=4,
                            label=f"d={d}, {kind}")
            ax.axhline(1 - math.sqrt(gamma), color="k", lw=1, label=f"bound 1 - sqrt({gamma:g})")
            ax.axvline(config.c_eps, color="gray", ls=":", lw=1, label="eps = c_eps/sqrt(d)")
            ax.set(xscale="log", xlabel="eps sqrt(d)", title=f"{labels} labels, C0 = {C0:g}", ylim=(-0.02, 1.02))
            if c == 0:
                ax.set_ylabel("robust error (mean over inits)")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
