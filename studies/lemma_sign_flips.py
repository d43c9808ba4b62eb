"""Lemma 4.3 / B.4 (Wang et al. 2022): only O(sqrt(m)) neurons can change sign in the lazy ball.

Statement (RECON, theory section 5.2): for x on the unit sphere, a neuron can flip its activation for some
W in B_{2,inf}(W0, R), R = C0/sqrt(m), only if it lies in ``S_x = {s : |w0_s . x| <= R}``; with probability
>= 1 - gamma::

    |S_x| <= m erf(C0/sqrt(2m)) + sqrt((m/2) log(1/gamma))                      (lemma_B4_sign_flips_hoeffding)
    |S_x| <= mu + L/2 + sqrt(L^2/4 + 2 mu L),  mu = m erf(C0/sqrt(2m)), L = log(1/gamma)
                                                                                 (lemma_B4_sign_flips_chernoff)
    |S_x| <= C0 sqrt(m) + sqrt((m/2) log(2/gamma))                              (lemma_B4_sign_flips_paper)

What is measured: the exact maximum over the lazy ball of the number of flipped neurons
(:func:`boundcheck.max_sign_flips`, attained by W_flip), on independent (init, x) draws, by the
exact-in-distribution fast path (or the full kernels with ``engine = "full"``). Across m at fixed C0, the
mean count grows like sqrt(m) (E|S_x| = m erf(C0/sqrt(2m)) ~ C0 sqrt(2m/pi)): predicted exponent 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import erf

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.bounds import get as get_bound
from boundcheck.checks import compare_estimate, compare_to_bound, exact_law_line, verdicts
from boundcheck.report import StudyResult
from boundcheck.stats import fit_exponent, fit_exponents
from boundcheck.study import (Integer, Study, StudyConfig, TupleOf, choice, positive_int, positives,
                              probabilities, seed_domain, setting)

NAME = "lemma_sign_flips"
DESCRIPTION = "Lemma 4.3/B.4: exact max number of flipped neurons over the lazy ball vs the O(sqrt m) bounds"
#: the exponent of E|S_x| in m is fitted per C0: at least 3 widths
at_least_3_ints = TupleOf(positive_int, min_len=3, unique=True,
                          description="a tuple of at least 3 distinct positive integers (an exponent fit in m)")
BOUNDS = ("lemma_B4_sign_flips_chernoff", "lemma_B4_sign_flips_hoeffding", "lemma_B4_sign_flips_paper")


@dataclass(frozen=True)
class Config(StudyConfig):
    widths: tuple = setting((100, 300, 1000, 3000, 10000, 30000, 100000), at_least_3_ints)
    C0s: tuple = setting((0.5, 1.0, 5.0, 10.0), positives)
    gammas: tuple = setting((0.1, 0.01), probabilities)
    d: int = setting(100, positive_int)
    n_samples: int = setting(4000, Integer(2, description="an integer >= 2"))
    engine: str = setting("fast", choice("fast", "full"))
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(widths=(100, 300, 1000), C0s=(1.0, 5.0), n_samples=400)

    @classmethod
    def paper(cls):
        return cls(widths=(100, 300, 1000, 3000, 10000, 30000, 100000, 1000000), n_samples=20000)


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    m, C0, d, n = int(coords["m"]), float(coords["C0"]), settings.d, settings.n_samples
    R = bc.lazy_radius(C0, m)
    if settings.engine == "fast":
        counts = bc.sample_at_init(n, d, m, radius=R, rng=rng).max_sign_flips
    elif settings.engine == "full":
        net = bc.init_network(d, m, n_inits=n, parametrization="theory", rng=rng)
        counts = bc.max_sign_flips(net, bc.sample_sphere(1, d, rng=rng), R).value[:, 0]
    else:
        raise ValueError(f"engine must be 'fast' or 'full', got {settings.engine!r}")
    rows = []
    for gamma in settings.gammas:
        for bound_id in BOUNDS:
            bound = get_bound(bound_id)
            value = float(bound.evaluate(m=m, C0=C0, gamma=gamma))
            rows.append(compare_to_bound(counts, value, bound_id=bound_id, direction="upper", gamma=gamma,
                                         failure_probability=float(bound.failure(m=m, C0=C0, gamma=gamma)),
                                         vacuous=value >= m, constants=bound.reconstructed_constants() or None))
    table = pd.DataFrame(rows)
    table["expected"] = float(m * erf(C0 / np.sqrt(2 * m)))
    return table


#: cost model: the fast engine's seconds per (sample x neuron) are about this many flops of matrix products
#: (fitted on full-size cells of the --paper preset, m = 10^4 to 10^6); the full engine multiplies by d.
COST_FLOPS_PER_SAMPLE_NEURON = 1400.0


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell on one core: ``n_samples x m`` draws of the sampler (x d for the full engine)."""
    work = float(settings.n_samples) * int(coords["m"]) * COST_FLOPS_PER_SAMPLE_NEURON
    return gemm_seconds(work if settings.engine == "fast" else work * settings.d / 8.0)

def grid(config: Config) -> dict:
    return {"m": config.widths, "C0": config.C0s}


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = table[(table.bound_id == BOUNDS[0]) & (table.gamma == config.gammas[0])][["m", "C0", "mean"]]
    fits = fit_exponents(means[means["mean"] > 0], "m", "mean", by="C0", predicted=0.5)
    fits.insert(0, "quantity", "E max_W #flips vs m")
    lines = verdicts(table)
    cells = table[(table.bound_id == BOUNDS[0]) & (table.gamma == config.gammas[0])]
    lines.append(exact_law_line("E max_W #flips = m erf(C0/sqrt(2m))", cells["mean"],
                                cells["std"] / np.sqrt(cells["n"]), cells["expected"],
                                alternatives={"C0 sqrt(m) (the paper's bound on the mean)":
                                              cells["C0"] * np.sqrt(cells["m"])}))
    fits["predicted"] = [law_exponent(sorted(means[(means.C0 == r.C0) & (means["mean"] > 0)].m), r.C0)
                         for r in fits.itertuples()]
    lines += verdicts(pd.DataFrame([exponent_row(r) for r in fits.itertuples()]))

    C0s = sorted(config.C0s)
    fig, axes = plt.subplots(1, len(C0s), figsize=(3.6 * len(C0s), 3.6), sharey=False, squeeze=False)
    gamma = min(config.gammas)
    for ax, C0 in zip(axes[0], C0s):
        sub = table[(table.C0 == C0) & (table.gamma == gamma)]
        emp = sub[sub.bound_id == BOUNDS[0]].sort_values("m")
        ax.fill_between(emp.m, emp.q05, emp.q95, alpha=0.3, label="max_W #flips, 5-95%")
        ax.plot(emp.m, emp["mean"], "o-", label="mean")
        ax.plot(emp.m, emp.expected, "k:", label="m erf(C0/sqrt(2m))")
        for bound_id, style in zip(BOUNDS, ("--", "-.", ":")):
            b = sub[sub.bound_id == bound_id].sort_values("m")
            ax.plot(b.m, b.bound, style, label=bound_id.replace("lemma_B4_sign_flips_", "bound: "))
        ax.set(xscale="log", yscale="log", xlabel="m", title=f"C0 = {C0:g}, gamma = {gamma}")
    axes[0][0].set_ylabel("neurons that can flip")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    notes = [f"engine={config.engine}; {config.n_samples} independent (init, x) draws per cell"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures={NAME: fig},
                       extra_tables={"exponents": fits}, notes=notes)


def law_exponent(widths, C0: float) -> float:
    """The log-log slope of the exact law m erf(C0/sqrt(2m)) over these widths: the prediction for the fitted
    exponent in the setting's own range (1/2 only asymptotically, for m >> C0^2; 1 for m << C0^2)."""
    m = np.asarray(widths, dtype=float)
    return float(fit_exponent(m, m * erf(C0 / np.sqrt(2 * m))).exponent)


def exponent_row(row) -> dict:
    """The fitted exponent of E|S_x| in m against the exact law's slope over the same widths; competing: the
    asymptotic 1/2 (when the range is pre-asymptotic) and the law's slope off by 1/4."""
    pred = float(row.predicted)
    alternatives = {"law's slope - 1/4": pred - 0.25, "law's slope + 1/4": pred + 0.25}
    pre = abs(pred - 0.5) > 0.01
    if abs(pred - 0.5) > 0.05:      # the asymptotic exponent is then a prediction worth telling apart
        alternatives["the asymptotic 1/2"] = 0.5
    name = (f"exponent of E|S_x| in m at C0={row.C0:g} (prediction: the slope of m erf(C0/sqrt(2m)) over these m"
            + (f", pre-asymptotic: m is not >> C0^2 = {row.C0 ** 2:g}" if pre else "") + ")")
    return compare_estimate(row.exponent, row.ci_low, row.ci_high, pred, name=name, alternatives=alternatives)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
