"""Lemmas 4.4 / B.8 / B.9: the input gradient barely changes over a ball of radius r ~ 1/sqrt(d).

Statement (Wang et al. 2022, Lemma 4.4 / B.9, reconstructed in theory section 5.5): for a fixed x on the unit
sphere, with probability at least 1 - gamma over (a, W0), for every W in the lazy ball
``max_s ||w_s - w0_s|| <= R = C0 / sqrt(m)`` and every z with ``||z - x|| <= r``,
``||grad f(z; W) - grad f(x; W)|| <= c sqrt(d) / 2``, provided ``r <= c' / sqrt(d)`` and
``poly(d) <~ m <~ exp(d^c)``.

Bounds checked (registry ids; F = the neurons whose activation differs at x and z under W)::

    lemma_B9_grad_difference_per_sample  ||grad f(z;W) - grad f(x;W)|| <= min(m^{-1/2} sqrt|F| ||W_F||_op,
                                         m^{-1/2} |F| max_{s in F} ||w_s||)                       (sure)
    lemma_B9_grad_difference_hp          sup_W ||grad f(z;W) - grad f(x;W)|| <= (1+delta) m p m^{-1/2}
                                         (sqrt(d) + sqrt(2 log(m/gamma)) + R), p = eq. (4)     (2 gamma)
                                         for ONE FIXED z (not uniform over B(x, r))

and the certified flip-set bound over all z and W (:func:`boundcheck.worst_cases.grad_difference_upper`)::

    sup_{z, W} ||grad f(z;W) - grad f(x;W)|| <= m^{-1/2} sqrt|F_c| (||W0_{F_c}||_op + R sqrt|F_c|),
    F_c = {s : |w0_s . x| <= R ||x|| + (||w0_s|| + R) r}

Method. Each cell (d, m, C0, c_r) uses ``r = c_r / sqrt(d)`` and draws ``n_samples`` independent inits,
each with its own point x on the sphere and its own fixed direction ``z = x + r u`` (u uniform, orthogonal
to x, drawn independently of the network). Per sample: the difference at W0 for the fixed z (exact), the
largest difference found over lazy W at the fixed z (heuristic: alternating exact best responses), the
largest found over z in ``B(x, r)`` and W (heuristic), the certified flip-set bounds, and the count
``|F|`` at W0, whose law is ``Binomial(m, arctan(r)/pi)`` exactly. The high-probability bound is stated
for a fixed z, so it is judged against the fixed-z supremum, sandwiched between the largest difference
attained (at W0 or at the W found) and the certified bound (:func:`boundcheck.checks.compare_sandwich`);
the supremum over z is shown beside it as a finding, outside the statement's hypothesis and not judged.
The per-sample bound at the same W and z, and the order of the sandwich, hold by construction: they are
reported apart, as consistency checks of the implementation. The expected scale of the difference at a fixed z is
``sqrt(2r/pi) ||grad f(x)||`` (not a bound), so the relative difference falls like ``d^{-1/4}`` at
``r = c / sqrt(d)``: the exponent of d is fitted and compared with -1/4, and the exponent of m of
``E|F|`` with 1.

Run: ``boundcheck study lemma_gradient_difference [--quick] [--workers N]``; ``boundcheck report DIR``
rebuilds the tables and plots from the stored cells (``DIR/cells``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.bounds import get, grad_norm_reference
from boundcheck.checks import compare_estimate, compare_sandwich, compare_to_bound, self_check_lines, verdicts
from boundcheck.report import StudyResult, grid_ticks
from boundcheck.stats import clopper_pearson, exponent_row
from boundcheck.study import (ConfigError, Study, StudyConfig, positive_int, positive_ints, positives, probabilities,
                              probability, seed_domain, setting)
from boundcheck.worst_cases import expected_crossings, grad_difference_per_sample_bound, grad_difference_upper

NAME = "lemma_gradient_difference"
DESCRIPTION = ("Lemmas 4.4/B.8/B.9: sup of ||grad f(z) - grad f(x)|| over z in B(x, c/sqrt d) and the lazy "
               "ball, certified vs heuristic; fixed-z bound; exponents vs theory (-1/4 in d, 1 in m for E|F|)")
BOUNDS = ("lemma_B9_grad_difference_per_sample", "lemma_B9_grad_difference_hp")

#: the columns of the per-sample table that are differences (made relative for the exponent fits)
_DIFFS = {
    "fixed_at_init": "fixed z, at W0",
    "fixed_heuristic": "fixed z, sup over W found",
    "heuristic": "sup over z and W found",
    "fixed_certified": "fixed z, certified",
    "certified": "sup over z and W, certified",
}


@dataclass(frozen=True)
class Config(StudyConfig):
    """Settings of the Lemma B.9 study."""

    dims: tuple = setting((25, 50, 100, 200, 400), positive_ints)
    widths: tuple = setting((250, 1000, 4000), positive_ints)
    C0s: tuple = setting((0.5, 2.0), positives)
    c_rs: tuple = setting((1.0,), positives)
    gammas: tuple = setting((0.05,), probabilities)
    n_samples: int = setting(16, positive_int)
    n_directions: int = setting(2, positive_int)
    steps: int = setting(5, positive_int)
    rounds: int = setting(4, positive_int)
    block: int = setting(4, positive_int)
    confidence: float = setting(0.95, probability)
    seed: int = setting(0, seed_domain)

    def check(self):
        if len(self.dims) < 3:
            raise ConfigError(f"dims needs at least 3 values for an exponent fit, got {self.dims}")
        if any(int(d) < 2 for d in self.dims):
            raise ConfigError(f"dims must be >= 2, got {self.dims}")
        for c in self.c_rs:
            if not 0 < c <= math.sqrt(min(self.dims)):
                raise ConfigError(f"c_rs must be in (0, sqrt(min(dims))] so that r = c/sqrt(d) <= 1, got {c}")
        if any(not 0 < g < 0.5 for g in self.gammas):
            raise ConfigError(f"gammas must be in (0, 0.5) (the failure probability is 2 gamma), got {self.gammas}")
        if self.n_samples < 2 or self.block < 1 or self.block > self.n_samples:
            raise ConfigError("n_samples must be >= 2 and 1 <= block <= n_samples")

    @classmethod
    def quick(cls) -> "Config":
        """Seconds: three small dimensions, three small widths, one C0."""
        return cls(dims=(16, 36, 64), widths=(100, 200, 400), C0s=(1.0,), n_samples=6, n_directions=1,
                   steps=3, rounds=2, block=2)


# --------------------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------------------

def cell(coords: dict, rng: np.random.Generator, settings: Config) -> pd.DataFrame:
    """One (d, m, C0, c_r) cell: ``n_samples`` independent (init, point, fixed z) triples, one row each."""
    d, m, C0, c_r = int(coords["d"]), int(coords["m"]), float(coords["C0"]), float(coords["c_r"])
    K = settings.n_samples
    r = c_r / math.sqrt(d)
    R = bc.lazy_radius(C0, m)
    rows = []
    for k, stream in enumerate(rng.spawn(K)):     # one independent (init, point, z) per sample; memory O(m d)
        t0 = time.perf_counter()
        g_net, g_x, gen = stream.spawn(3)
        sub = bc.init_network(d, m, parametrization="theory", rng=g_net)
        x = bc.sample_sphere(1, d, rng=g_x)
        res = grad_difference_upper(sub, x, r, R, n_directions=settings.n_directions, steps=settings.steps,
                                    rounds=settings.rounds, rng=gen)
        W, _ = res.heuristic.witness(0)
        Wf, _ = res.fixed_heuristic.witness(0)
        per_sup = grad_difference_per_sample_bound(sub, x, res.heuristic_Z[:, 0], W)[0, 0]
        per_fixed = grad_difference_per_sample_bound(sub, x, res.fixed_Z, Wf)[0, 0]
        per_w0 = grad_difference_per_sample_bound(sub, x, res.fixed_Z)[0, 0]
        rows.append(dict(
            sample=k, r=r, grad_norm=float(res.grad_norm[0, 0]), reference=float(res.reference[0, 0]),
            fixed_at_init=float(res.fixed_at_init[0, 0]), fixed_flips=int(res.fixed_flips_at_init[0, 0]),
            fixed_heuristic=float(res.fixed_heuristic.value[0, 0]),
            fixed_certified=float(res.fixed_certified.value[0, 0]),
            heuristic=float(res.heuristic.value[0, 0]), certified=float(res.certified.value[0, 0]),
            reachable=int(res.reachable_count[0, 0]), per_sample_sup=float(per_sup),
            per_sample_fixed=float(per_fixed), per_sample_w0=float(per_w0), seconds=time.perf_counter() - t0))
    return pd.DataFrame(rows)


def grid(config: Config) -> dict:
    return {"d": config.dims, "m": config.widths, "C0": config.C0s, "c_r": config.c_rs}


def build(samples: pd.DataFrame, config: Config) -> StudyResult:
    return _build(config, samples, wall=None)


def _rows(config: Config, samples: pd.DataFrame) -> pd.DataFrame:
    hp = get("lemma_B9_grad_difference_hp")
    per = "lemma_B9_grad_difference_per_sample"
    rows = []
    for (d, m, C0, c_r), grp in samples.groupby(["d", "m", "C0", "c_r"], sort=False):
        r = float(grp["r"].iloc[0])
        flips = int(grp["fixed_flips"].sum())
        p_exact = math.atan(r) / math.pi
        ci = clopper_pearson(flips, len(grp) * int(m), config.confidence)
        cellinfo = dict(d=d, m=m, C0=C0, c_r=c_r, r=r)
        sandwich = {f"{c}_mean": grp[c].mean() for c in ("grad_norm", "reference", *_DIFFS)}
        sandwich.update(flips_mean=grp["fixed_flips"].mean(), flips_expected=float(expected_crossings(int(m), r)),
                        flip_rate_ci_low=float(ci.low), flip_rate_ci_high=float(ci.high),
                        flip_rate_consistent=bool(ci.low <= p_exact <= ci.high))
        # vacuous for a difference bound: not even below ||grad f(x)|| (Theorem 3.1 needs D < ||grad f||)
        scale = float(grad_norm_reference(d))
        # self-checks (hold by construction): the per-sample bound at the same W and z as the difference
        for empirical, against in (("heuristic", "sup over z and W found"),
                                   ("fixed_heuristic", "fixed z, sup over W found"),
                                   ("fixed_at_init", "fixed z, at W0")):
            bound = grp[{"heuristic": "per_sample_sup", "fixed_heuristic": "per_sample_fixed",
                         "fixed_at_init": "per_sample_w0"}[empirical]].to_numpy(float)
            rows.append(dict(cellinfo, against=against, **compare_to_bound(
                grp[empirical], bound, bound_id=per, direction="upper",
                failure_probability=0.0, kind="exact", vacuous=bool(np.median(bound) >= scale),
                confidence=config.confidence, self_check=True, check=f"{per} ({against}, same W and z)"), **sandwich))
        # fixed z: the sup over lazy W lies between the largest difference attained and the certified bound
        found = np.maximum(grp["fixed_heuristic"].to_numpy(float), grp["fixed_at_init"].to_numpy(float))
        certified = grp["fixed_certified"].to_numpy(float)
        rows.append(dict(cellinfo, against="fixed z: attained <= certified (sandwich order)", **compare_to_bound(
            found, certified, bound_id=per, direction="upper", failure_probability=0.0, kind="certified", side="lower",
            confidence=config.confidence, self_check=True,
            check="attained fixed-z difference <= certified fixed-z sup (sandwich order)"), **sandwich))
        for gamma in config.gammas:
            params = dict(d=d, m=m, C0=C0, r=r, gamma=gamma)
            value = float(hp.evaluate(**params))
            fp = float(hp.failure(**params))
            vac = value >= scale
            rows.append(dict(cellinfo, against="fixed z: sandwich max attained <= sup_W <= certified", **compare_sandwich(
                found, np.maximum(certified, found), value, bound_id=hp.id, direction="upper", failure_probability=fp,
                gamma=gamma, vacuous=vac, confidence=config.confidence), **sandwich))
            # the sup over z as well: outside the statement (a fixed z), shown as a finding, not judged
            rows.append(dict(cellinfo, against="sup over z and W found (attained): NOT CLAIMED", **compare_to_bound(
                grp["heuristic"], value, bound_id=hp.id, direction="upper",
                failure_probability=fp, kind="certified", side="lower", gamma=gamma, vacuous=vac,
                confidence=config.confidence, in_hypothesis=False, check=f"{hp.id} over every z in B(x, r) (not claimed)",
                hypothesis="z fixed before (a, W0) are drawn; the bound is not uniform over B(x, r)"), **sandwich))
    return pd.DataFrame(rows)


def _exponents(config: Config, samples: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (m, C0, c_r), grp in samples.groupby(["m", "C0", "c_r"], sort=False):
        for q, label in _DIFFS.items():
            predicted = -0.25 if q == "fixed_at_init" else None
            rel = (grp[q] / grp["grad_norm"]).to_numpy(float)
            if np.all(rel > 0):
                rows.append(dict(x="d", m=m, C0=C0, c_r=c_r, quantity=f"{q}/grad_norm",
                                 label=f"relative difference, {label}", predicted=predicted,
                                 **exponent_row(grp["d"], rel, predicted)))
            else:   # some samples have no flipped neuron (m r / pi is small): fit the cell means instead
                means = grp.assign(rel=rel).groupby("d")["rel"].mean()
                row = dict(x="d", m=m, C0=C0, c_r=c_r, quantity=f"{q}/grad_norm", label=f"relative difference, {label}",
                           predicted=predicted, **exponent_row(means.index, means.to_numpy(float), predicted))
                row["note"] = (row["note"] + "; " if row["note"] else "") + (
                    f"fitted on cell means: {int((rel <= 0).sum())} samples have no flipped neuron")
                rows.append(row)
    # E|F| against m at fixed r: one point per block of samples (block means are positive)
    for (d, C0, c_r), grp in samples.groupby(["d", "C0", "c_r"], sort=False):
        xs, ys = [], []
        for m, g in grp.groupby("m", sort=True):
            f = g.sort_values("sample")["fixed_flips"].to_numpy(float)
            nb = len(f) // config.block
            for b in range(nb):
                xs.append(float(m))
                ys.append(f[b * config.block:(b + 1) * config.block].mean())
        rows.append(dict(x="m", d=d, C0=C0, c_r=c_r, quantity="fixed_flips",
                         label=f"flips at W0, fixed z: mean m arctan(r)/pi (block means of {config.block})",
                         predicted=1.0, **exponent_row(xs, ys, 1.0)))
    return pd.DataFrame(rows)


def _verdict_lines(table: pd.DataFrame) -> list[str]:
    return verdicts(table)


def law_rows(table: pd.DataFrame, confidence: float, law=None) -> pd.DataFrame:
    """E|F| = m arctan(r)/pi at W0 (exact law) per cell, Clopper-Pearson on the flips over n_samples x m
    neurons; competing: the eq. (3) bound m r/2 read as the rate. ``law(r)`` replaces the predicted rate
    (for negative controls)."""
    cells = table.drop_duplicates(["d", "m", "C0", "c_r"])
    rows = []
    for c in cells.itertuples():
        rate = math.atan(c.r) / math.pi if law is None else float(law(c.r))
        rows.append(compare_estimate(c.flips_mean / c.m, c.flip_rate_ci_low, c.flip_rate_ci_high, rate,
                                     name="exact law at W0: E|F|/m = arctan(r)/pi (fixed z)",
                                     alternatives={"r/2 (the eq. (3) bound as the rate)": c.r / 2},
                                     confidence=confidence))
    return pd.DataFrame(rows)


def exponent_rows(exps: pd.DataFrame) -> pd.DataFrame:
    """Exponents with a prediction: the relative difference at W0 (fixed z) in d, theory -1/4; E|F| in m,
    exactly 1; each against competitors off by 1/4."""
    rows = []
    for r in exps[exps["predicted"].notna()].itertuples():
        where = (f"m={int(r.m)}, C0={r.C0:g}, c_r={r.c_r:g}" if r.x == "d" else f"d={int(r.d)}, C0={r.C0:g}, c_r={r.c_r:g}")
        rows.append(compare_estimate(r.exponent, r.ci_low, r.ci_high, r.predicted,
                                     name=f"exponent of {r.x} of {r.quantity} at {where}",
                                     alternatives={"off by -1/4": r.predicted - 0.25, "off by +1/4": r.predicted + 0.25}))
    return pd.DataFrame(rows)


def _build(config: Config, samples: pd.DataFrame, wall) -> StudyResult:
    table = _rows(config, samples)
    exps = _exponents(config, samples)
    lines = _verdict_lines(table) + verdicts(law_rows(table, config.confidence)) + verdicts(exponent_rows(exps))
    notes = []
    for q, pred in (("heuristic/grad_norm", None), ("certified/grad_norm", None)):
        sub = exps[exps["quantity"] == q]
        if len(sub):
            notes.append(f"exponent of d of {q}: " + ", ".join(
                (f"m={int(r.m)}, C0={r.C0:g}: {r.exponent:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
                 if np.isfinite(r.exponent) else f"m={int(r.m)}, C0={r.C0:g}: n/a") for r in sub.itertuples())
                + (f" (theory {pred})" if pred is not None else " (finding)"))
    ratio = samples["certified"] / samples["grad_norm"]
    notes.append(f"certified sup over z and W / ||grad f(x)||: median {ratio.median():.3g} (>= 1: vacuous for "
                 f"Theorem 3.1, as theory section 5.5 warns: the union over z puts a constant fraction of the neurons in F)")
    return StudyResult(name=NAME, table=table, verdicts=lines, figures=_figures(config, samples),
                       extra_tables={"exponents": exps}, notes=notes, self_checks=self_check_lines(table))


# --------------------------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------------------------

def _figures(config: Config, samples: pd.DataFrame) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = int(max(config.widths))
    c_r = float(config.c_rs[0])
    C0s = sorted(set(float(c) for c in samples["C0"]))
    fig, axes = plt.subplots(1, len(C0s) + 1, figsize=(4.4 * (len(C0s) + 1), 4.0), squeeze=False)
    styles = {"fixed_at_init": ("s-", "k"), "fixed_heuristic": ("o-", "tab:blue"), "heuristic": ("^-", "tab:red"),
              "fixed_certified": ("v--", "tab:blue"), "certified": ("v--", "tab:red")}
    for ax, C0 in zip(axes[0], C0s):
        grp = samples[(samples["m"] == m) & np.isclose(samples["C0"], C0) & np.isclose(samples["c_r"], c_r)]
        rel = grp.assign(**{q: grp[q] / grp["grad_norm"] for q in _DIFFS})
        means = rel.groupby("d").mean(numeric_only=True).sort_index()
        ds = means.index.to_numpy(float)
        for q, label in _DIFFS.items():
            marker, color = styles[q]
            ax.plot(ds, means[q], marker, color=color, label=label)
        xs = np.geomspace(ds.min(), ds.max(), 60)
        ax.plot(xs, np.sqrt(2.0 * c_r / np.sqrt(xs) / np.pi), color="tab:green", lw=1.5,
                label="reference sqrt(2r/pi), r = c/sqrt(d)")
        hp = get("lemma_B9_grad_difference_hp")
        gamma = float(config.gammas[0])
        hp_rel = [float(hp.evaluate(d=int(d), m=m, C0=C0, r=c_r / math.sqrt(d), gamma=gamma)) / means.loc[d, "grad_norm"]
                  for d in means.index]
        ax.plot(ds, hp_rel, ":", color="tab:purple", label=f"hp bound (fixed z), gamma = {gamma:g}")
        ax.axhline(1.0, color="gray", lw=0.8, ls=":")
        ax.set(xscale="log", yscale="log", xlabel="d", ylabel="||grad f(z) - grad f(x)|| / ||grad f(x)||",
               title=f"C0 = {C0:g}, m = {m}, r = {c_r:g}/sqrt(d)")
        grid_ticks(ax, ds)
        ax.legend(fontsize=6)
    ax = axes[0, -1]
    for d, grp in samples[np.isclose(samples["c_r"], c_r)].groupby("d"):
        means = grp.groupby("m")["fixed_flips"].mean().sort_index()
        ms = means.index.to_numpy(float)
        line, = ax.plot(ms, means / ms, "o", label=f"d={int(d)}")
        r = c_r / math.sqrt(d)
        ax.axhline(math.atan(r) / math.pi, color=line.get_color(), lw=0.8, ls="--")
    ax.set(xscale="log", xlabel="m", ylabel="|F| / m at W0 (fixed z)", title="E|F|/m = arctan(r)/pi (dashed)")
    grid_ticks(ax, sorted(set(int(v) for v in samples["m"])))
    ax.legend(fontsize=6)
    fig.tight_layout()
    return {f"{NAME}_relative": fig}


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build,
              timing_columns=("seconds",))  # seconds per sample: in timings.json, not the tables
run, report = STUDY.run, STUDY.report
