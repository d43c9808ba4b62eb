"""Lemma 4.1 / B.5 (Wang et al. 2022): f stays O(1) over the whole lazy ball.

Statement (RECON, theory section 5.1): for any x on the unit sphere, with probability >= 1 - gamma over the
init, for all W in B_{2,inf}(W0, C0/sqrt(m))::

    |f(x; W)| <= |f(x; W0)| + C0 ||x|| <= sqrt(2 log(2/gamma)) + C0            (lemma_B5_f_range)

and, surely, ``|f(x; W) - f(x; W0)| <= C0 ||x||``                                   (lemma_B5_deterministic).

The sure bound is checked against the exact worst case, which cannot exceed it by construction: it is a
consistency check of the implementation, reported apart from the verdicts on the paper's bounds.

What is measured: the exact sup over the ball of ``|f(x; W)|`` and of ``|f(x; W) - f(x; W0)|``, from the closed
form of :func:`boundcheck.f_range` (each neuron moves on its own), on independent (init, x) draws. The
default engine is the exact-in-distribution fast path (:func:`boundcheck.sample_at_init`, O(m) per draw),
so widths up to 10^5 cost seconds; ``engine = "full"`` runs the full kernels instead. Across C0, the mean
increment sup_W f - f(x; W0) is C0/2 exactly (theory section 5.1): its fitted exponent in C0 must be 1, and the
deterministic bound C0 is loose by a factor of about 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck.bounds import get as get_bound
from boundcheck.checks import compare_estimate, compare_to_bound, exact_law_line, self_check_lines, verdicts
from boundcheck.report import StudyResult
from boundcheck.stats import fit_exponents
from boundcheck.study import (Integer, Study, StudyConfig, TupleOf, choice, positive, positive_int, positive_ints,
                              probabilities, seed_domain, setting)

NAME = "lemma_f_range"
#: the exponent of the mean increment in C0 is fitted per width: at least 3 values of C0
at_least_3_positives = TupleOf(positive, min_len=3, unique=True,
                               description="a tuple of at least 3 distinct positive numbers (an exponent fit in C0)")
DESCRIPTION = "Lemma 4.1/B.5: exact sup of |f| over the lazy ball vs sqrt(2 log(2/gamma)) + C0"


@dataclass(frozen=True)
class Config(StudyConfig):
    widths: tuple = setting((100, 1000, 10000, 100000), positive_ints)
    C0s: tuple = setting((0.25, 0.5, 1.0, 2.0, 5.0, 10.0), at_least_3_positives)
    gammas: tuple = setting((0.1, 0.01), probabilities)
    d: int = setting(100, positive_int)
    n_samples: int = setting(4000, Integer(2, description="an integer >= 2"))
    engine: str = setting("fast", choice("fast", "full"))
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(widths=(100, 1000), C0s=(0.5, 1.0, 5.0), n_samples=400)

    @classmethod
    def paper(cls):
        return cls(widths=(100, 1000, 10000, 100000, 1000000), n_samples=20000)


def sample_cell(m: int, C0: float, d: int, n_samples: int, engine: str, rng) -> dict:
    """Independent draws of f(x;W0) and its exact range over the lazy ball."""
    R = bc.lazy_radius(C0, m)
    if engine == "fast":
        s = bc.sample_at_init(n_samples, d, m, radius=R, rng=rng)
        return dict(f=s.f, lower=s.f_lower, upper=s.f_upper)
    if engine != "full":
        raise ValueError(f"engine must be 'fast' or 'full', got {engine!r}")
    net = bc.init_network(d, m, n_inits=n_samples, parametrization="theory", rng=rng)
    x = bc.sample_sphere(1, d, rng=rng)  # one x, independent inits: i.i.d. draws (the law is rotation invariant)
    p = bc.network_pass(net, x, radius=R)
    return dict(f=p.forward[:, 0], lower=p.f_lower[:, 0], upper=p.f_upper[:, 0])


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    m, C0 = int(coords["m"]), float(coords["C0"])
    draws = sample_cell(m, C0, settings.d, settings.n_samples, settings.engine, rng)
    sup_abs = np.maximum(np.abs(draws["lower"]), np.abs(draws["upper"]))
    sup_move = np.maximum(draws["upper"] - draws["f"], draws["f"] - draws["lower"])
    rows = []
    b5 = get_bound("lemma_B5_f_range")
    det = get_bound("lemma_B5_deterministic")
    for gamma in settings.gammas:
        value = float(b5.evaluate(C0=C0, gamma=gamma))
        rows.append(compare_to_bound(sup_abs, value, bound_id=b5.id, direction="upper", gamma=gamma,
                                     failure_probability=float(b5.failure(C0=C0, gamma=gamma))))
    # holds by construction (f_range is the exact closed form of the same sup): a self-check of the code
    rows.append(compare_to_bound(sup_move, float(det.evaluate(C0=C0)), bound_id=det.id, direction="upper",
                                 failure_probability=0.0, self_check=True))
    table = pd.DataFrame(rows)
    table["increment_mean"] = float(np.mean(draws["upper"] - draws["f"]))
    table["increment_sem"] = float(np.std(draws["upper"] - draws["f"], ddof=1) / np.sqrt(len(sup_abs)))
    table["f_W0_var"] = float(np.var(draws["f"], ddof=1))
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

    table = table.copy()
    table["self_check"] = table["bound_id"] == "lemma_B5_deterministic"   # also for tables stored before the flag
    inc = table[table.bound_id == "lemma_B5_deterministic"][["m", "C0", "increment_mean"]]
    fits = fit_exponents(inc, "C0", "increment_mean", by="m", predicted=1.0)
    fits.insert(0, "quantity", "E[sup_W f - f(W0)] vs C0 (= C0/2 exactly)")
    lines = verdicts(table)
    lines.append(increment_law_line(table))
    lines += verdicts(pd.DataFrame([exponent_row(row) for row in fits.itertuples()]))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    main = table[table.bound_id == "lemma_B5_f_range"]
    for m, grp in main[main.gamma == min(config.gammas)].groupby("m"):
        axes[0].errorbar(grp.C0, grp.q50, yerr=[grp.q50 - grp.q05, grp.q95 - grp.q50], marker="o", capsize=3,
                         label=f"sup |f| (median, 5-95%), m={m}")
    C0 = np.array(sorted(config.C0s))
    for gamma in config.gammas:
        axes[0].plot(C0, get_bound("lemma_B5_f_range").evaluate(C0=C0, gamma=gamma), "--",
                     label=f"bound, gamma={gamma}")
    axes[0].set(xscale="log", yscale="log", xlabel="C0", ylabel="sup over the lazy ball of |f(x;W)|",
                title="Lemma B.5: |f| over the lazy ball")
    axes[0].legend(fontsize=7)
    for m, grp in inc.groupby("m"):
        axes[1].plot(grp.C0, grp.increment_mean, "o-", label=f"E[sup f - f(W0)], m={m}")
    axes[1].plot(C0, C0 / 2, "k:", label="C0/2 (exact mean)")
    axes[1].plot(C0, C0, "k--", label="C0 (deterministic bound)")
    axes[1].set(xscale="log", yscale="log", xlabel="C0", ylabel="increment", title="Deterministic part")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    notes = [f"engine={config.engine}; {config.n_samples} independent (init, x) draws per cell; d={config.d} "
             "(the quantities do not depend on d at ||x|| = 1)"]
    return StudyResult(name=NAME, table=table, verdicts=lines, figures={NAME: fig},
                       extra_tables={"exponents": fits}, notes=notes, self_checks=self_check_lines(table))


#: Competing predictions for the exact law E[sup f - f(W0)] = C0/2, as multiples of C0: the sure bound C0
#: attained, and C0/sqrt(pi) ~ 0.56 C0, a Gaussian constant of the same size (can the data tell them apart?).
INCREMENT_ALTERNATIVES = {"C0 (the sure bound attained)": 1.0, "C0/sqrt(pi)": 1 / np.sqrt(np.pi)}


def increment_law_line(table: pd.DataFrame, coefficient: float = 0.5) -> str:
    """The exact law E[sup f - f(W0)] = coefficient * C0 in every cell (99% normal intervals), with the
    competing predictions :data:`INCREMENT_ALTERNATIVES` for the power statement."""
    cells = table[table.bound_id == "lemma_B5_deterministic"]
    return exact_law_line(f"E[sup f - f(W0)] = {coefficient:g} C0", cells.increment_mean, cells.increment_sem,
                          coefficient * cells.C0,
                          alternatives={k: v * cells.C0 for k, v in INCREMENT_ALTERNATIVES.items()})


def exponent_row(row, predicted: float = 1.0) -> dict:
    """The fitted exponent of E[sup f - f(W0)] in C0 against theory 1, and exponents off by 1/4."""
    return compare_estimate(row.exponent, row.ci_low, row.ci_high, predicted,
                            name=f"exponent of E[sup f - f(W0)] in C0 at m={int(row.m)}",
                            alternatives={"1 - 1/4": 0.75, "1 + 1/4": 1.25})


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
