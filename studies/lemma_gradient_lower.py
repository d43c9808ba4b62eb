"""Lemma 4.2 / B.7: the input gradient stays of order sqrt(d) over the whole lazy ball.

Statement (Wang et al. 2022, Lemma 4.2 / B.7, reconstructed in theory section 5.4): for a fixed x on the unit
sphere, with probability at least 1 - gamma over the initialization (a, W0), every W with
``max_s ||w_s - w0_s|| <= R = C0 / sqrt(m)`` has ``||grad_x f(x; W)|| >= c sqrt(d)``.

Bounds checked (registry ids; L = log(1/gamma), S = the Chernoff bound on ``|S_x|``)::

    lemma_B7_grad_lower_sharp       inf_W ||grad f|| >= main - C0 - sqrt(S/m)(sqrt(d-1) + sqrt(S) + sqrt(2L))
    lemma_B7_grad_lower_crude       inf_W ||grad f|| >= main - C0 - S m^{-1/2} (sqrt(d-1) + sqrt(2 log(m/gamma)))
                                    main = sqrt[(1/2 - sqrt(L/(2m)))_+ (d-1 - 2 sqrt((d-1) L))_+]   (both: 4 gamma)
    lemma_B7_grad_upper             sup_W ||grad f|| <= sqrt(2 log(2/gamma) + (1/2 + sqrt(L/2m))(d-1 + 2 sqrt((d-1)L)
                                    + 2L)) + C0 + T2 + S C0/m                                       (5 gamma)
    lemma_B7_grad_lower_per_sample  inf_W ||grad f|| >= ||P grad f(W0)|| - T1 - T2 per sample      (sure;
                                    against the minimum found it holds by construction: a self-check)

Method. Each cell (d, m, C0) draws ``n_samples`` independent inits, each with its own fresh point on the
sphere, so the samples are independent. Per sample, :func:`boundcheck.worst_cases.grad_norm_lower`
sandwiches the true infimum between a certified bound (the lemma's decomposition with the exact operator
norm plus the Euler identity, and a convex-duality certificate) and the smallest norm an optimizer over
the ball attains (exact per activation pattern, greedy over patterns, exhaustive when few neurons are
flexible); :func:`boundcheck.worst_cases.grad_norm_upper` gives the largest norm found. Population bounds
are compared with the sandwich (:func:`boundcheck.checks.compare_sandwich`): a minimum attained by a witness
below a lower bound is a definite violation (a real W attains it), a sandwich that straddles the bound is
undecided; the largest norm found (attained) above the upper bound is a definite violation. The per-sample
certificate and the order of the sandwich hold by construction and are reported apart, as consistency
checks of the implementation. Exponents of d are fitted
(log-log, 95% t-interval) for ``||grad f(x; W0)||`` and for the heuristic infimum, next to the theory's
1/2 (``||grad f(x; W0)|| ~ sqrt(d/2)``, theory section 5.6).

Run: ``boundcheck study lemma_gradient_lower [--quick] [--workers N]``; ``boundcheck report DIR``
rebuilds the tables and plots from the stored cells (``DIR/cells``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.bounds import get
from boundcheck.checks import compare_estimate, compare_sandwich, compare_to_bound, self_check_lines, verdicts
from boundcheck.report import StudyResult, grid_ticks
from boundcheck.stats import exponent_row
from boundcheck.study import (ConfigError, Study, StudyConfig, positive_int, positive_ints, positives, probabilities,
                              probability, seed_domain, setting)
from boundcheck.worst_cases import grad_norm_lower, grad_norm_upper

NAME = "lemma_gradient_lower"
DESCRIPTION = ("Lemma 4.2/B.7: inf and sup of ||grad f|| over the lazy ball, certified vs heuristic sandwich, "
               "against the derived bounds; exponent of d vs theory 1/2")
BOUNDS = ("lemma_B7_grad_lower_sharp", "lemma_B7_grad_lower_crude", "lemma_B7_grad_upper",
          "lemma_B7_grad_lower_per_sample")


@dataclass(frozen=True)
class Config(StudyConfig):
    """Settings of the Lemma B.7 study."""

    dims: tuple = setting((25, 50, 100, 200, 400, 800), positive_ints)
    widths: tuple = setting((500, 2000), positive_ints)
    C0s: tuple = setting((0.1, 0.5, 1.0, 5.0), positives)
    gammas: tuple = setting((0.05,), probabilities)
    n_samples: int = setting(40, positive_int)
    steps: int = setting(400, positive_int)
    restarts: int = setting(1, positive_int)
    fw_steps: int = setting(10, positive_int)
    upper_steps: int = setting(6, positive_int)
    confidence: float = setting(0.95, probability)
    seed: int = setting(0, seed_domain)

    def check(self):
        if len(self.dims) < 3:
            raise ConfigError(f"dims needs at least 3 values for an exponent fit, got {self.dims}")
        if any(int(d) < 2 for d in self.dims):
            raise ConfigError(f"dims must be >= 2, got {self.dims}")
        if any(not 0 < g < 0.2 for g in self.gammas):
            raise ConfigError(f"gammas must be in (0, 0.2) (the failure probabilities are 4 and 5 gamma), got {self.gammas}")
        if self.n_samples < 2:
            raise ConfigError(f"n_samples must be >= 2, got {self.n_samples}")

    @classmethod
    def quick(cls) -> "Config":
        """Seconds: three small dimensions, one width, two C0."""
        return cls(dims=(16, 32, 64), widths=(200,), C0s=(0.5, 5.0), n_samples=8, steps=100, fw_steps=4,
                   upper_steps=3)


# --------------------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------------------

def cell(coords: dict, rng: np.random.Generator, settings: Config) -> pd.DataFrame:
    """One (d, m, C0) cell: ``n_samples`` independent (init, point) pairs, one row each."""
    d, m, C0 = int(coords["d"]), int(coords["m"]), float(coords["C0"])
    K = settings.n_samples
    R = bc.lazy_radius(C0, m)
    rows = []
    for k, stream in enumerate(rng.spawn(K)):     # one independent (init, point) per sample; memory O(m d)
        t0 = time.perf_counter()
        g_net, g_x, gen = stream.spawn(3)
        sub = bc.init_network(d, m, parametrization="theory", rng=g_net)
        x = bc.sample_sphere(1, d, rng=g_x)
        low = grad_norm_lower(sub, x, R, steps=settings.steps, restarts=settings.restarts,
                              fw_steps=settings.fw_steps, rng=gen)
        up = grad_norm_upper(sub, x, R, steps=settings.upper_steps)
        rows.append(dict(
            sample=k, at_init=float(low.at_init[0, 0]), heuristic=float(low.heuristic.value[0, 0]),
            certified=float(low.certified.value[0, 0]), decomposition=float(low.decomposition[0, 0]),
            euler=float(low.euler[0, 0]), dual=float(low.dual[0, 0]), upper_found=float(up.value[0, 0]),
            S_x_count=int(low.S_x_count[0, 0]), n_flexible=int(low.n_flexible[0, 0]),
            exhaustive=bool(low.exhaustive[0, 0]), seconds=time.perf_counter() - t0))
    return pd.DataFrame(rows)


def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s}


def build(samples: pd.DataFrame, config: Config) -> StudyResult:
    return _build(config, samples, wall=None)


#: An infimum found below this fraction of ||grad f(x; W0)|| is 0 up to rounding (the witnesses' moves are
#: scaled by 1 - 1e-12 to stay inside the ball).
_ZERO = 1e-9


def _rel_gap(grp: pd.DataFrame) -> pd.Series:
    """(heuristic - certified) / heuristic where the infimum found is not 0 to rounding."""
    pos = grp["heuristic"] > _ZERO * grp["at_init"]
    return ((grp["heuristic"] - grp["certified"]) / grp["heuristic"])[pos]


def _rows(config: Config, samples: pd.DataFrame) -> pd.DataFrame:
    sharp, crude, upper = (get(b) for b in BOUNDS[:3])
    rows = []
    for (d, m, C0), grp in samples.groupby(["d", "m", "C0"], sort=False):
        sandwich = dict(at_init_mean=grp["at_init"].mean(), heuristic_mean=grp["heuristic"].mean(),
                        certified_mean=grp["certified"].mean(), decomposition_mean=grp["decomposition"].mean(),
                        upper_found_mean=grp["upper_found"].mean(), gap_rel_max=_rel_gap(grp).max(),
                        zero_frac=float((grp["heuristic"] <= _ZERO * grp["at_init"]).mean()),
                        exhaustive_frac=grp["exhaustive"].astype(float).mean())
        certified = grp["certified"].to_numpy(float)     # certified lower bound on the infimum
        found = grp["heuristic"].to_numpy(float)          # attained by a witness: an upper bound on the infimum
        for gamma in config.gammas:
            params = dict(d=d, m=m, C0=C0, gamma=gamma)
            for bound in (sharp, crude):
                value = float(bound.evaluate(**params))
                rows.append(dict(d=d, m=m, C0=C0, against="sandwich: certified <= inf <= min found (attained)",
                                 **compare_sandwich(np.minimum(certified, found), found, value, bound_id=bound.id,
                                                    direction="lower", failure_probability=float(bound.failure(**params)),
                                                    gamma=gamma, vacuous=bool(bound.is_vacuous(value)),
                                                    confidence=config.confidence), **sandwich))
            value = float(upper.evaluate(**params))
            # the max found is attained by a witness: a certified lower value of the sup (above the bound: definite)
            rows.append(dict(d=d, m=m, C0=C0, against="max found over the ball (attained: sup >= it)", **compare_to_bound(
                grp["upper_found"], value, bound_id=upper.id, direction="upper",
                failure_probability=float(upper.failure(**params)), kind="certified", side="lower", gamma=gamma,
                vacuous=False, confidence=config.confidence), **sandwich))
        # self-checks (hold by construction): the per-sample certificate and the certified end of the sandwich
        # must never be above a value attained by a witness
        per = grp["decomposition"].to_numpy(float)
        rows.append(dict(d=d, m=m, C0=C0, against="min found over the ball (attained: inf <= it)", **compare_to_bound(
            found, per, bound_id="lemma_B7_grad_lower_per_sample", direction="lower", failure_probability=0.0,
            kind="certified", side="upper", gamma=None, vacuous=bool(np.median(per) <= 0),
            confidence=config.confidence, self_check=True), **sandwich))
        rows.append(dict(d=d, m=m, C0=C0, against="min found over the ball (attained: inf <= it)", **compare_to_bound(
            found, certified, bound_id="lemma_B7_grad_lower_per_sample", direction="lower",
            failure_probability=0.0, kind="certified", side="upper", gamma=None, confidence=config.confidence,
            self_check=True, check="certified infimum <= attained infimum (sandwich order)"), **sandwich))
    return pd.DataFrame(rows)


def _exponents(samples: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (m, C0), grp in samples.groupby(["m", "C0"], sort=False):
        for q, label in (("at_init", "gradient norm at W0"), ("heuristic", "inf over the ball (heuristic)"),
                         ("certified", "inf over the ball (certified)")):
            y = grp[q].to_numpy(float)
            row = dict(m=m, C0=C0, quantity=q, label=label, predicted=0.5)
            ok = y > _ZERO * grp["at_init"].to_numpy(float)
            refused = None if ok.all() else (f"{int((~ok).sum())} of {len(y)} values are 0 to rounding (the "
                                             "infimum reaches 0)")
            row.update(exponent_row(grp["d"].to_numpy(float), y, 0.5, refused=refused))
            rows.append(row)
    return pd.DataFrame(rows)


def _verdict_lines(table: pd.DataFrame) -> list[str]:
    return verdicts(table)


#: Competing predictions for the exponent of ||grad f(x; W0)|| in d (theory 1/2: E||grad f||^2 = d/2 on the
#: sphere): off by 1/4 either way.
EXPONENT_ALTERNATIVES = {"1/2 - 1/4": 0.25, "1/2 + 1/4": 0.75}


def exponent_rows(exps: pd.DataFrame, predicted: float = 0.5) -> pd.DataFrame:
    """The exponent of d of ||grad f(x; W0)|| per (m, C0) against theory 1/2 (unit inputs, theory section 5.6)."""
    fit0 = exps[(exps["quantity"] == "at_init") & np.isfinite(exps["exponent"])]
    return pd.DataFrame([compare_estimate(r.exponent, r.ci_low, r.ci_high, predicted,
                                          name=f"exponent of d of ||grad f(x; W0)|| (unit inputs) at m={int(r.m)}, "
                                               f"C0={r.C0:g}", alternatives=EXPONENT_ALTERNATIVES)
                         for r in fit0.itertuples()])


def _build(config: Config, samples: pd.DataFrame, wall) -> StudyResult:
    table = _rows(config, samples)
    exps = _exponents(samples)
    lines = _verdict_lines(table) + verdicts(exponent_rows(exps))
    notes = []
    fith = exps[(exps["quantity"] == "heuristic")]
    if len(fith):
        notes.append("exponent of d of the infimum over the ball (heuristic): " + ", ".join(
            (f"m={int(r.m)}, C0={r.C0:g}: {r.exponent:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
             if np.isfinite(r.exponent) else f"m={int(r.m)}, C0={r.C0:g}: n/a ({r.note})")
            for r in fith.itertuples()) + " (a finding: theory gives a lower bound c sqrt(d), not a point exponent)")
    rel = _rel_gap(samples)
    n_zero = int((samples["heuristic"] <= _ZERO * samples["at_init"]).sum())
    notes.append(f"sandwich width (heuristic - certified) / heuristic: median {rel.median():.2g}, max {rel.max():.2g} "
                 f"over {len(rel)} samples with a positive infimum; {n_zero} samples have a lazy W with "
                 f"||grad f|| = 0 (to rounding); exact (every activation pattern tried) in "
                 f"{int(samples['exhaustive'].sum())} of {len(samples)} samples")
    return StudyResult(name=NAME, table=table, verdicts=lines, figures=_figures(config, samples),
                       extra_tables={"exponents": exps}, notes=notes, self_checks=self_check_lines(table))


# --------------------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------------------

def _figures(config: Config, samples: pd.DataFrame) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sharp, crude, upper = (get(b) for b in BOUNDS[:3])
    gamma = float(config.gammas[0])
    m = int(max(config.widths))
    C0s = sorted(set(float(c) for c in samples["C0"]))
    fig, axes = plt.subplots(1, len(C0s), figsize=(4.2 * len(C0s), 4.0), squeeze=False, sharey=True)
    for ax, C0 in zip(axes[0], C0s):
        grp = samples[(samples["m"] == m) & np.isclose(samples["C0"], C0)]
        means = grp.groupby("d").mean(numeric_only=True).sort_index()
        ds = means.index.to_numpy(float)
        floor = 1e-2
        ax.fill_between(ds, np.maximum(means["certified"], floor), np.maximum(means["heuristic"], floor),
                        color="tab:blue", alpha=0.3, label="true inf lies here (certified..heuristic)")
        ax.plot(ds, np.maximum(means["heuristic"], floor), "o-", color="tab:blue", label="inf found (heuristic)")
        ax.plot(ds, np.maximum(means["certified"], floor), "v--", color="tab:blue", label="inf certified")
        ax.plot(ds, means["at_init"], "s-", color="k", label="at W0")
        ax.plot(ds, means["upper_found"], "^-", color="tab:red", label="sup found")
        xs = np.geomspace(ds.min(), ds.max(), 60)
        ax.plot(xs, np.sqrt(xs / 2.0), color="tab:green", lw=1, label="theory sqrt(d/2)")
        for bound, style in ((sharp, ":"), (crude, "-.")):
            vals = bound.evaluate(d=np.round(xs), m=m, C0=C0, gamma=gamma)
            pos = vals > floor
            if pos.any():
                ax.plot(xs[pos], vals[pos], ls=style, color="tab:purple", label=f"{bound.id.split('_')[-1]} lower bound")
        up = upper.evaluate(d=np.round(xs), m=m, C0=C0, gamma=gamma)
        ax.plot(xs, up, ls="--", color="tab:red", lw=1, label="upper bound")
        ax.set(xscale="log", yscale="log", xlabel="d", title=f"C0 = {C0:g}, m = {m}, gamma = {gamma:g}")
        grid_ticks(ax, ds)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("||grad_x f(x; W)|| (means over samples; floored at 1e-2)")
    fig.tight_layout()
    return {f"{NAME}_sandwich": fig}


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build,
              timing_columns=("seconds",))  # seconds per sample: in timings.json, not the tables
run, report = STUDY.run, STUDY.report
