"""One gradient step at random init of deep ReLU networks (the paper's first open question, section 6).

Question (Wang et al. 2022, section 6; theory sections 10.1-10.3, 10.5): does one gradient step still flip
the prediction of a multi-layer network, with a perturbation of order ||x|| / sqrt(d)? Bubeck et al. 2021
prove it for two layers (``bubeck2021_one_step_relu``), Bartlett et al. 2021 for constant-depth ReLU
networks (``bartlett2021_one_step``, ``bartlett2021_gradient_dominance``; bottlenecks set the scales, some
deep networks are close to constant).

What is measured, at random init (parametrization ``"bubeck"``, inputs on the sphere of radius sqrt(d)), for
every d, depth L (2 to 6) and width profile (equal, growing m/2 -> 2m, decreasing 2m -> m/2, bottleneck: the
middle hidden layer of width m/8): |f(x)|, ||grad f(x)||, the gradient dominance ||grad f|| ||x|| / |f|,
and the **exact** minimal one-step flip eta* and delta* = ||x' - x|| (the ray walk over every layer's
breakpoints, :func:`boundcheck.deep.deep_min_flip_step`). Exponents in d are fitted per (L, profile), on
every sample, next to the predictions (delta*/||x|| ~ d^-1/2, dominance ~ d^1/2, |f| ~ d^0); the constants
of the claims are not known and are not judged. The depth effect: |f| and the dominance against L at the
largest d, equal widths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import boundcheck as bc
from boundcheck.montecarlo import gemm_seconds
from boundcheck import deep as D
from boundcheck.bounds import get as get_bound
from boundcheck.checks import compare_estimate, verdicts
from boundcheck.report import StudyResult
from boundcheck.stats import fit_exponents
from boundcheck.study import (Integer, Study, StudyConfig, TupleOf, choice, positive_int, positive_ints, seed_domain,
                              setting)

NAME = "deep_one_step"
DESCRIPTION = ("Beyond the paper: one gradient step at random init of deep ReLU networks (L = 2..6, width profiles "
               "incl. a bottleneck); exact eta*, delta*; exponents in d vs Bubeck/Bartlett (delta*/||x|| ~ d^-1/2)")

PROFILES = ("equal", "growing", "decreasing", "bottleneck")
profiles_domain = TupleOf(choice(*PROFILES), unique=True, description="a non-empty tuple of width profiles")


@dataclass(frozen=True)
class Config(StudyConfig):
    dims: tuple = setting((25, 50, 100, 200, 400), positive_ints)
    depths: tuple = setting((2, 3, 4, 6), TupleOf(Integer(2, 12), unique=True, description="depths L in [2, 12]"))
    profiles: tuple = setting(PROFILES, profiles_domain)
    width: int = setting(200, Integer(8, description="an integer >= 8"))
    n_inits: int = setting(8, positive_int)
    n_points: int = setting(8, positive_int)
    activation: str = setting("relu", choice(*D.ACTIVATIONS))
    parametrization: str = setting("bubeck", choice(*D.DEEP_PARAMETRIZATIONS))
    seed: int = setting(0, seed_domain)

    @classmethod
    def quick(cls):
        return cls(dims=(25, 50, 100), depths=(2, 3), profiles=("equal", "bottleneck"), width=48, n_inits=3, n_points=4)

    @classmethod
    def paper(cls):
        return cls(dims=(25, 50, 100, 200, 400, 800, 1600, 3200), depths=(2, 3, 4, 5, 6), width=1000, n_inits=16,
                   n_points=16)


def hidden_widths(profile: str, depth: int, m: int) -> list[int]:
    """The hidden widths ``(m_1, ..., m_{L-1})`` of a profile at base width m."""
    H = depth - 1
    if profile == "equal":
        return [m] * H
    if profile in ("growing", "decreasing"):
        if H == 1:
            return [m]
        w = [max(1, int(round(m * 2.0 ** (-1 + 2 * j / (H - 1))))) for j in range(H)]
        return w if profile == "growing" else w[::-1]
    if profile == "bottleneck":
        w = [m] * H
        w[H // 2] = max(2, m // 8)
        return w
    raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")


def measure(net, X) -> pd.DataFrame:
    """One row per (init, point): f, ||grad f||, the exact eta*, delta* and derived ratios."""
    res = D.deep_min_flip_step(net, X)
    xn = np.linalg.norm(X, axis=1)[None, :] * np.ones_like(res.f)
    K, n = res.f.shape
    absf = np.abs(res.f)
    with np.errstate(divide="ignore", invalid="ignore"):
        dominance = res.grad_norm * xn / absf
    return pd.DataFrame(dict(
        init=np.repeat(np.arange(K), n), point=np.tile(np.arange(n), K), abs_f=absf.ravel(),
        grad_norm=res.grad_norm.ravel(), dominance=dominance.ravel(), eta=res.eta.ravel(), delta=res.delta.ravel(),
        delta_rel=(res.delta / xn).ravel(), flipped=res.flipped.ravel(),
        linear_delta=np.where(res.grad_norm > 0, absf / np.where(res.grad_norm > 0, res.grad_norm, 1), np.inf).ravel(),
        pieces=(res.pieces.ravel() if res.pieces is not None else np.zeros(K * n, dtype=np.int64))))


def cell(coords: dict, rng, settings: Config) -> pd.DataFrame:
    d, L, profile = int(coords["d"]), int(coords["depth"]), str(coords["profile"])
    widths = hidden_widths(profile, L, settings.width)
    net = D.init_deep_network(d, widths, settings.n_inits, parametrization=settings.parametrization,
                              activation=coords.get("activation", settings.activation), rng=rng)
    X = bc.sample_sphere(settings.n_points, d, radius=np.sqrt(d), rng=rng)
    table = measure(net, X)
    table["min_width"] = min(widths)
    table["widths"] = "-".join(str(w) for w in widths)
    return table


#: cost model: flops of matrix products per weight of the network and per (init, point), for the forward and
#: backward passes and the exact flip search along the ray (fitted on full-size --paper cells, d = 3200).
COST_PER_WEIGHT_AND_POINT = 800.0


def n_weights(d: int, widths) -> int:
    """Number of hidden-layer weights of a network with input dimension d and hidden widths ``widths``."""
    fans = [d] + list(widths[:-1])
    return int(sum(p * w for p, w in zip(fans, widths)))


def cost(coords: dict, settings: Config) -> float:
    """Estimated seconds of a cell on one core: ``n_inits x n_points x weights`` (see ``COST_PER_WEIGHT_AND_POINT``)."""
    widths = hidden_widths(str(coords["profile"]), int(coords["depth"]), settings.width)
    return gemm_seconds(settings.n_inits * settings.n_points * n_weights(int(coords["d"]), widths)
                        * COST_PER_WEIGHT_AND_POINT)

def grid(config: Config) -> dict:
    return {"d": config.dims, "depth": config.depths, "profile": config.profiles}


def exponent_rows(table: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """Fits of delta*/||x||, the dominance and |f| against d within each group, and the verdict rows.

    Each row names the registry entry whose exponent it checks: delta*/||x|| ~ d^-1/2 (L = 2:
    bubeck2021_one_step_relu or _smooth; L > 2: bartlett2021_one_step for ReLU, montanari2022_gradient_step
    otherwise), the dominance ~ d^1/2 (bartlett2021_gradient_dominance), |f| ~ d^0 (bubeck2021_f_order_one).
    """
    specs = [("delta_rel", -0.5, "delta*/||x||", {"0 (no d effect)": 0.0, "-1 (as ||x||/d)": -1.0}),
             ("dominance", 0.5, "||grad f|| ||x|| / |f|", {"0 (no d effect)": 0.0, "1": 1.0}),
             ("abs_f", 0.0, "|f|", {"+1/2": 0.5, "-1/2": -0.5})]
    fits, rows = [], []
    for col, pred, what, alts in specs:
        ok = table[np.isfinite(table[col]) & (table[col] > 0)]
        ok = ok.groupby(by).filter(lambda g: g["d"].nunique() >= 3)  # an exponent with a CI needs 3 distinct d
        if ok.empty:
            continue
        fit = fit_exponents(ok, "d", col, by=by, predicted=pred)
        fit.insert(0, "quantity", what)
        fits.append(fit)
        for r in fit.itertuples():
            key = ", ".join(f"{b}={getattr(r, b)}" for b in by)
            bid = claim_id(col, int(getattr(r, "depth", 2)), getattr(r, "activation", "relu"))
            rows.append(compare_estimate(r.exponent, r.ci_low, r.ci_high, pred,
                                         name=f"exponent of {what} in d ({bid}) [{key}]", alternatives=alts))
    return (pd.concat(fits, ignore_index=True) if fits else pd.DataFrame()), rows


def claim_id(quantity: str, depth: int, activation: str = "relu") -> str:
    """The registry entry whose exponent a fitted quantity checks."""
    if quantity == "abs_f":
        return get_bound("bubeck2021_f_order_one").id
    if quantity == "dominance":
        return get_bound("bartlett2021_gradient_dominance").id
    if depth == 2:
        return get_bound("bubeck2021_one_step_relu" if activation == "relu" else "bubeck2021_one_step_smooth").id
    return get_bound("bartlett2021_one_step" if activation == "relu" else "montanari2022_gradient_step").id


def summary(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Medians and flip rates per cell."""
    g = table.groupby(by)
    out = g.agg(n=("abs_f", "size"), flip_rate=("flipped", "mean"), abs_f=("abs_f", "median"),
                grad_norm=("grad_norm", "median"), dominance=("dominance", "median"), eta=("eta", "median"),
                delta=("delta", "median"), delta_rel=("delta_rel", "median"), linear_delta=("linear_delta", "median"),
                pieces=("pieces", "mean"), min_width=("min_width", "first")).reset_index()
    out["delta_sqrt_d_over_x"] = out["delta_rel"] * np.sqrt(out["d"])
    out["delta_over_linear"] = out["delta"] / out["linear_delta"]
    return out


def build(table: pd.DataFrame, config: Config) -> StudyResult:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = ["depth", "profile"]
    cells = summary(table, ["d"] + by)
    fits, rows = exponent_rows(table, by)
    lines = verdicts(pd.DataFrame(rows)) if rows else []
    dmax = max(config.dims)
    depth = cells[(cells.d == dmax) & (cells.profile == "equal")][["depth", "abs_f", "grad_norm", "dominance",
                                                                    "delta_sqrt_d_over_x", "flip_rate", "pieces"]]
    notes = [f"parametrization={config.parametrization}, activation={config.activation}, base width m={config.width}, "
             f"{config.n_inits} inits x {config.n_points} points per cell; inputs on the sphere of radius sqrt(d); "
             "delta* exact (ray walk over every layer's breakpoints); flip_rate = fraction of samples that some "
             "step along the gradient flips (delta* finite).",
             "Exponents are fitted on every finite sample (log-log least squares, 95% CI); the claims' constants are "
             "not found and not judged. Predictions: delta*/||x|| ~ d^-1/2 (bubeck2021_one_step_relu at L = 2, "
             "bartlett2021_one_step for L > 2, RECON exponent), dominance ~ d^1/2 (bartlett2021_gradient_dominance, "
             "RECON), |f| ~ d^0 (bubeck2021_f_order_one)."]
    if len(depth):
        notes.append("Depth effect at d = %d, equal widths (medians): " % dmax + "; ".join(
            f"L={int(r.depth)}: |f| {r.abs_f:.3g}, dominance {r.dominance:.3g}, delta* sqrt(d)/||x|| "
            f"{r.delta_sqrt_d_over_x:.3g}, flip rate {r.flip_rate:.2f}" for r in depth.itertuples()))
    nonflip = cells[cells.flip_rate < 1]
    if len(nonflip):
        notes.append(f"{len(nonflip)} of {len(cells)} cells have samples that no step along the gradient flips "
                     f"(lowest flip rate {nonflip.flip_rate.min():.2f}).")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (L, prof), g in cells.groupby(["depth", "profile"]):
        style = "-" if prof == "equal" else ":"
        axes[0].plot(g.d, g.delta_sqrt_d_over_x, "o" + style, label=f"L={L}, {prof}")
        axes[1].plot(g.d, g.dominance, "o" + style, label=f"L={L}, {prof}")
    dd = np.array(sorted(config.dims), float)
    axes[1].plot(dd, np.sqrt(dd), "k--", label="sqrt(d)")
    axes[0].set(xscale="log", yscale="log", xlabel="d", ylabel="median delta* sqrt(d) / ||x||",
                title="one-step flip (order 1 predicted)")
    axes[1].set(xscale="log", yscale="log", xlabel="d", ylabel="median ||grad f|| ||x|| / |f|",
                title="gradient dominance")
    eq = cells[(cells.profile == "equal") & (cells.d == dmax)]
    axes[2].plot(eq.depth, eq.abs_f, "o-", label="median |f|")
    axes[2].plot(eq.depth, eq.dominance / np.sqrt(dmax), "s-", label="median dominance / sqrt(d)")
    axes[2].set(xlabel="depth L", yscale="log", title=f"depth effect (d={dmax}, equal widths)")
    for ax in axes:
        ax.legend(fontsize=6)
    fig.tight_layout()
    return StudyResult(name=NAME, table=cells, verdicts=lines, figures={NAME: fig},
                       extra_tables={"exponents": fits, "depth_effect": depth, "samples": table}, notes=notes)


STUDY = Study(name=NAME, description=DESCRIPTION, config=Config, grid=grid, cell=cell, build=build, cost=cost)
run, report = STUDY.run, STUDY.report

if __name__ == "__main__":
    from boundcheck.cli import main
    raise SystemExit(main(["study", NAME]))
