"""Lemma B.6 (Wang et al. 2022): the probability that one neuron separates two nearby points.

Statement (theory section 5.3): for ||x|| = 1, ||x' - x|| <= r and w ~ N(0, I_d),

    P(sign w.x != sign w.x') = angle(x, x')/pi <= arcsin(r)/pi <= r/2             (lemma_B6_eq3, eq. (3))

and, uniformly over the lazy ball B(w0, R), R = C0/sqrt(m),

    P(exists w in B(w0, R): sign w.x != sign w.x')
        <= sqrt(2/pi)(tau + R(1+r)) + 2 exp(-tau^2/(2 r^2)),  tau = r sqrt(2 log(1/r))  (lemma_B6_eq4_paper)
        <= arcsin(r)/pi + erf(R/sqrt 2) + 1 - exp(-R^2/2)                          (lemma_B6_eq4_geometric)

What is measured: the exact fraction of neurons that some W in the lazy ball makes separate x and x'
(:func:`boundcheck.max_pair_flips`: the distance from w0_s to the two flip wedges, computed in the plane of
x and x'), over m neurons and many inits (i.i.d. Bernoulli trials), with a Clopper-Pearson interval. The
pair is the worst case of eq. (3): x' = (1 - r^2) x + r sqrt(1 - r^2) u with u orthogonal to x, so that
||x' - x|| = r and angle(x, x') = arcsin(r) exactly; eq. (3) is then an equality in expectation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.bounds import get as get_bound
from boundcheck.checks import compare_probability, verdicts
from boundcheck.report import StudyResult
from boundcheck.study import Integer, Real, Study, StudyConfig, TupleOf, nonnegative, positive_int, seed_domain, setting

NAME = "lemma_flip_probability"
DESCRIPTION = "Lemma B.6: exact probability that the lazy ball lets a neuron separate x and x' vs eqs. (3), (4)"


@dataclass(frozen=True)
class Config(StudyConfig):
    rs: tuple = setting((0.01, 0.03, 0.1, 0.3), TupleOf(Real(0.0, 1.0, open_min=True, open_max=True), unique=True,
                                                          description="a non-empty tuple of distances in (0, 1)"))
    C0s: tuple = setting((0.0, 0.1, 0.5, 1.0, 5.0), TupleOf(nonnegative, unique=True,
                                                             description="a non-empty tuple of numbers >= 0"))
    m: int = setting(1000, positive_int)
    d: int = setting(50, Integer(2, description="an integer >= 2"))
    n_inits: int = setting(100, positive_int)
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(rs=(0.03, 0.3), C0s=(0.0, 1.0), n_inits=20)


def worst_pair(d: int, r: float, rng):
    """x on the sphere and x' with ||x' - x|| = r and angle(x, x') = arcsin(r)."""
    x = bc.sample_sphere(1, d, rng=rng)[0]
    u = rng.standard_normal(d)
    u -= (u @ x) * x
    u /= np.linalg.norm(u)
    return x, (1 - r * r) * x + r * np.sqrt(1 - r * r) * u


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    r, C0, m, d, K = float(coords["r"]), float(coords["C0"]), settings.m, settings.d, settings.n_inits
    net = bc.init_network(d, m, n_inits=K, parametrization="theory", rng=rng)
    x, xp = worst_pair(d, r, rng)
    R = bc.lazy_radius(C0, m)
    flippable = int(bc.max_pair_flips(net, x[None], xp[None], R).value.sum())
    trials = K * m
    angle = float(np.arccos(np.clip(x @ xp / np.linalg.norm(xp), -1, 1)))
    rows = []
    extra = dict(exact_probability_at_R0=angle / np.pi)
    if C0 == 0:
        rows.append(compare_probability(flippable, trials, float(get_bound("lemma_B6_eq3").evaluate(r=r)),
                                        bound_id="lemma_B6_eq3", **extra))
    for bound_id in ("lemma_B6_eq4_paper", "lemma_B6_eq4_geometric"):
        value = float(get_bound(bound_id).evaluate(r=r, C0=C0, m=m))
        rows.append(compare_probability(flippable, trials, value, bound_id=bound_id, **extra))
    return pd.DataFrame(rows)


def grid(config: Config) -> dict:
    return {"r": config.rs, "C0": config.C0s}


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.copy()
    table["R"] = table.C0 / np.sqrt(config.m)
    lines = verdicts(table)
    for i, (bound_id, grp) in enumerate(table.groupby("bound_id", sort=False)):
        lines[i] += f"; tightness (bound / exact rate) from {grp.tightness.min():.2f} to {grp.tightness.max():.2f}"
    fig, axes = plt.subplots(1, len(config.rs), figsize=(3.6 * len(config.rs), 3.6), squeeze=False)
    for ax, r in zip(axes[0], sorted(config.rs)):
        sub = table[table.r == r]
        emp = sub.drop_duplicates("C0").sort_values("R")
        x = emp.R.to_numpy() + 1e-4  # R = 0 on a log axis
        ax.errorbar(x, emp["mean"], yerr=[emp["mean"] - emp.ci_low, emp.ci_high - emp["mean"]], fmt="o-",
                    label="exact P(flip reachable)")
        for bound_id, style in (("lemma_B6_eq4_paper", "--"), ("lemma_B6_eq4_geometric", "-.")):
            b = sub[sub.bound_id == bound_id].sort_values("R")
            ax.plot(b.R.to_numpy() + 1e-4, b.bound, style, label=bound_id.replace("lemma_B6_", ""))
        ax.axhline(np.arcsin(r) / np.pi, color="k", lw=0.8, ls=":", label="arcsin(r)/pi (eq. 3)")
        ax.set(xscale="log", yscale="log", xlabel="R = C0/sqrt(m) (+1e-4)", title=f"r = {r:g}")
    axes[0][0].set_ylabel("probability per neuron")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    notes = [f"{config.n_inits} inits x m={config.m} neurons = {config.n_inits * config.m} i.i.d. trials per cell; "
             "eq. (3) is an equality at this pair, so about 2.5% of its cells may read 'violated' by chance"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures={NAME: fig}, notes=notes)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
