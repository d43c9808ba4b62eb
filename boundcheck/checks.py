"""Bound against empirical: the rows and verdicts that every lemma study shares.

A lemma study draws, per grid cell, independent samples of a quantity's worst case over the lazy ball
(one per init, with a fresh input), evaluates a registry bound for the cell, and calls
:func:`compare_to_bound` to get one tidy row: the empirical mean and quantiles, the violation count and
rate with its Clopper-Pearson interval against the bound's failure probability, the tightness, whether the
bound is vacuous, and the verdict. :func:`verdicts` turns a table of such rows into one line per bound.

Worst cases come in three kinds (see :mod:`boundcheck.lazy`). A violation is **definite** only when the
empirical side is on the wrong side of the bound for a value that is attained: for an upper bound, an
``exact`` or ``heuristic`` max above it (a real W attains it); for a lower bound, an ``exact`` or
``heuristic`` min below it. A ``certified`` value crossing the bound proves nothing (the true worst case may
be on either side), and the row says ``undecided`` for those samples.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ._validate import as_float_array, check_int, check_real
from .stats import clopper_pearson, describe, tightness
from .report import verdict_line

__all__ = ["compare_to_bound", "compare_probability", "verdicts", "exact_law_line", "ROW_COLUMNS"]

ROW_COLUMNS = ["bound_id", "kind", "direction", "gamma", "failure_probability", "n", "mean", "std", "q05", "q50",
               "q95", "bound", "violations", "rate", "ci_low", "ci_high", "tightness", "vacuous", "verdict"]


def compare_to_bound(empirical, bound_value, *, bound_id: str, direction: str, failure_probability: float,
                     kind: str = "exact", gamma: float | None = None, vacuous: bool = False,
                     confidence: float = 0.95) -> dict:
    """One row comparing independent samples of a worst case with a bound.

    Parameters
    ----------
    empirical : array_like, shape (n,)
        Independent samples (one per init) of the quantity's worst case over the lazy ball.
    bound_value : float or array_like, shape (n,)
        The bound (constant over the cell, or per sample for per-sample bounds).
    bound_id : str
        The registry id.
    direction : {"upper", "lower"}
        An upper bound is violated by ``empirical > bound``, a lower one by ``empirical < bound``.
    failure_probability : float
        The probability with which the bound may fail (its gamma, or 4 gamma, ...; 0 for sure bounds).
    kind : {"exact", "certified", "heuristic"}
        How the empirical side was obtained. ``certified`` samples cannot violate (see module docstring):
        crossings are counted in ``undecided`` instead.
    gamma : float, optional
        The gamma the bound was evaluated at (for the table).
    vacuous : bool
        Whether the bound is vacuous in this cell (e.g. a lower bound <= 0).
    confidence : float
        Level of the Clopper-Pearson interval.

    Returns
    -------
    dict
        The columns of ``ROW_COLUMNS`` plus ``undecided``. ``verdict`` is ``"violated"`` when the CP
        interval's lower end exceeds the failure probability (a significant excess), ``"vacuous"`` when
        the bound is vacuous and not violated, ``"holds"`` otherwise.
    """
    if direction not in ("upper", "lower"):
        raise ValueError(f"direction must be 'upper' or 'lower', got {direction!r}")
    if kind not in ("exact", "certified", "heuristic"):
        raise ValueError(f"kind must be 'exact', 'certified' or 'heuristic', got {kind!r}")
    emp = as_float_array(empirical, "empirical").ravel()
    b = as_float_array(bound_value, "bound_value", allow_nonfinite=True)
    if np.isnan(b).any():
        raise ValueError("bound_value must not be NaN (an infinite bound is allowed)")
    b = np.broadcast_to(b, emp.shape)
    failure_probability = check_real(failure_probability, "failure_probability", minimum=0.0, maximum=1.0)
    n = emp.size
    if n == 0:
        raise ValueError("empirical must hold at least one sample")
    crossed = emp > b if direction == "upper" else emp < b
    k = int(crossed.sum())
    violations, undecided = (0, k) if kind == "certified" else (k, 0)
    ci = clopper_pearson(violations, n, confidence)
    verdict = ("violated" if ci.low > failure_probability
               else "vacuous" if vacuous else "holds")
    desc = describe(emp, (0.05, 0.5, 0.95))
    constant = bool(np.all(b == b.flat[0]))
    tight = (tightness(emp, float(b.flat[0]), "upper" if direction == "upper" else "lower",
                       min(max(failure_probability, 1.0 / n), 0.5)) if constant and np.isfinite(b.flat[0])
             else math.nan)
    return dict(bound_id=bound_id, kind=kind, direction=direction, gamma=gamma,
                failure_probability=failure_probability, n=n, mean=desc.mean, std=desc.std,
                q05=desc.quantiles[0], q50=desc.quantiles[1], q95=desc.quantiles[2],
                bound=float(np.mean(b)), violations=violations, rate=violations / n,
                ci_low=float(ci.low), ci_high=float(ci.high), tightness=tight, vacuous=bool(vacuous),
                verdict=verdict, undecided=undecided, confidence=confidence)


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per ``bound_id`` of a table of :func:`compare_to_bound` rows.

    ``holds in all n cells``, ``VIOLATED in k of n cells`` (a statistically significant excess over the
    failure probability), or ``vacuous in all n cells``; undecided samples (certified crossings) are
    mentioned when present. Each cell's test wrongly flags a bound that holds with probability at most
    ``(1 - confidence)/2``, so a violation line also says how many flagged cells chance alone would give
    (for a bound that is exactly tight, about that many): one flagged cell among many is a lead, not a
    finding; many are a finding.
    """
    lines = []
    for bound_id, group in table.groupby("bound_id", sort=False):
        n_cells = len(group)
        n_violated = int((group["verdict"] == "violated").sum())
        n_vacuous = int((group["vacuous"] & (group["verdict"] != "violated")).sum())
        line = verdict_line(bound_id, n_cells, n_violated, n_vacuous)
        if n_violated:
            conf = group["confidence"] if "confidence" in group else pd.Series(0.95, index=group.index)
            chance = float(((1 - conf) / 2).sum())
            line += f" (at most {chance:.2g} expected by chance)"
        if "undecided" in group and group["undecided"].sum():
            line += f"; {int(group['undecided'].sum())} certified samples undecided"
        lines.append(line)
    return lines


def compare_probability(successes: int, trials: int, bound_value: float, *, bound_id: str,
                        confidence: float = 0.95, **extra) -> dict:
    """One row comparing an empirical probability (``successes / trials``) with an upper bound on it.

    The bound is violated when the Clopper-Pearson interval's lower end exceeds it (a significant excess);
    ``tightness`` is bound / empirical rate (>= 1 on the safe side).
    """
    successes = check_int(successes, "successes", minimum=0)
    trials = check_int(trials, "trials", minimum=1)
    bound_value = check_real(bound_value, "bound_value")
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    ci = clopper_pearson(successes, trials, confidence)
    rate = successes / trials
    bound_value = float(bound_value)
    vacuous = bound_value >= 1.0
    verdict = "violated" if ci.low > bound_value else "vacuous" if vacuous else "holds"
    return dict(bound_id=bound_id, kind="exact", direction="upper", n=trials, mean=rate, bound=bound_value,
                violations=successes if ci.low > bound_value else 0, rate=rate, ci_low=float(ci.low),
                ci_high=float(ci.high), tightness=bound_value / rate if rate > 0 else math.inf,
                vacuous=vacuous, verdict=verdict, confidence=confidence, **extra)


def exact_law_line(name: str, estimate, sem, predicted, *, confidence: float = 0.99) -> str:
    """A verdict line for an exact law checked in every cell: is ``predicted`` inside each cell's interval?

    Parameters
    ----------
    name : str
        What the law says, e.g. ``"E[sup f - f(W0)] = C0/2"``.
    estimate, sem, predicted : array_like, shape (n_cells,)
        Per cell: the sample mean, its standard error (from i.i.d. samples) and the exact value.
    confidence : float
        Two-sided level of the normal interval ``estimate +- z sem``; a cell outside it is flagged, which
        happens by chance with probability ``1 - confidence`` (the line says how many that makes).
    """
    from scipy.stats import norm

    estimate, sem, predicted = (np.asarray(v, dtype=float).ravel() for v in (estimate, sem, predicted))
    z = norm.ppf(0.5 + confidence / 2)
    outside = np.abs(estimate - predicted) > z * sem
    line = verdict_line(f"exact law {name}", estimate.size, int(outside.sum()))
    if outside.any():
        line += f" (at most {(1 - confidence) * estimate.size:.2g} expected by chance)"
    return line
