"""The verdict engine: one row per (cell, bound) or (cell, prediction), and one line per bound.

Every study judges the paper's bounds and predictions through this module, with one vocabulary:
``direction`` ("upper": violated when the true value is above the bound; "lower": below),
``failure_probability`` (the probability with which the bound may fail; 0 for a sure bound), ``vacuous``
(the bound says nothing beyond what always holds). The statistics are :mod:`boundcheck.stats`
(:func:`~boundcheck.stats.excess_test`, the exact one-sided binomial test, and
:func:`~boundcheck.stats.clopper_pearson`).

API
---
Bounds (one call per cell and bound; the result is a dict, a table row)::

    compare_to_bound(values, bound, bound_id=..., direction="upper" | "lower", failure_probability=p,
                     kind="exact" | "certified" | "heuristic", side=None | "lower" | "upper",
                     vacuous=False, in_hypothesis=True, hypothesis=None, constants=None,
                     self_check=False, confidence=0.95, gamma=None)
    compare_sandwich(lower, upper, bound, ...same keywords...)      # certified lower <= true <= upper
    compare_probability(k, n, bound, bound_id=..., ...)            # k of n Bernoulli trials vs P <= bound
    compare_counts(crossed, n, bound_id=..., failure_probability=p, kind=..., side=...)   # from counts alone

``kind`` says what each number is: ``"exact"`` the true value (to rounding); ``"certified"`` a certified
one-sided value, with ``side="lower"`` (the true value is >= the number: e.g. a value attained by a witness
W for a sup, an attack's robust error) or ``side="upper"`` (the true value is <= the number: e.g. a
certificate valid for every W, for a sup); ``"heuristic"`` a value with no guarantee either way.

Outcomes (``row["verdict"]``)

- ``"violated"``: definite. The definite crossings are the samples whose true value is provably on the
  wrong side beyond rounding (``rtol``, ``atol``): exact values on the wrong side, certified values whose
  certified side is the wrong side (a certified lower value of a sup above an upper bound; a certified
  upper value of an inf below a lower bound), sandwiches entirely on the wrong side. VIOLATED when the
  exact one-sided binomial test of "failure rate <= failure_probability" on the definite crossings rejects
  at level ``(1 - confidence) / 2``. For a sure bound (``failure_probability = 0``) one definite crossing is a
  violation: no "expected by chance".
- ``"undecided"``: not violated, but would be if the samples whose position is unknown and whose number is on
  the wrong side (heuristic values; certified values on the uninformative side; sandwiches straddling the
  bound) were real crossings. The row's ``undecided_reason`` says which side is certified.
- ``"vacuous"``: the bound says nothing (``vacuous=True``), and it is not violated.
- ``"outside hypothesis"``: ``in_hypothesis=False``: not judged; the line names ``hypothesis``.
- ``"no power"``: even ``n`` crossings of ``n`` could not read VIOLATED (``failure_probability**n`` is at least
  the level): the verdict could not have failed at these settings.
- ``"holds"`` otherwise. Rows carry ``min_detectable_rate`` (the smallest crossing rate that would read
  VIOLATED), ``ci_low``/``ci_high`` (Clopper-Pearson on the definite crossings) and ``p_value``.

Estimates against predictions (exponents, exact laws, limits)::

    compare_estimate(estimate, ci_low, ci_high, predicted, name=..., alternatives={"label": value},
                     constants=None, self_check=False)

gives ``"consistent"``, ``"outside CI"`` (printed "OUTSIDE the CI") or ``"no power"`` (a competing
prediction lies inside the interval too, so the data cannot tell them apart); the row has ``half_width``
and ``gap`` (the distance from the prediction to the nearest competing one). :func:`exact_law_line` judges
an exact law in every cell with normal intervals.

Lines: :func:`verdicts` gives one line per check (bound id or estimate name) over the cells of a table,
leaving out the rows marked ``self_check=True`` (checks that hold by construction: they test the code, not
the paper); :func:`self_check_lines` gives those, for ``StudyResult.self_checks`` (written under the
heading :data:`SELF_CHECK_HEADING`). A constant the theory page marks reconstructed or not found is passed as
``constants={"c_eps": 1.0}`` (or ``{"c_eps": (1.0, "not found")}``; see
:func:`boundcheck.bounds.reconstructed_constants`) and is named, with its value, in every line that uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._validate import as_float_array, check_int, check_real
from .stats import clopper_pearson, describe, excess_test, tightness

__all__ = ["compare_to_bound", "compare_sandwich", "compare_counts", "compare_probability", "compare_estimate", "verdicts",
           "self_check_lines", "exact_law_line", "format_constants", "power_note", "ROW_COLUMNS",
           "OUTCOMES", "ESTIMATE_OUTCOMES", "SELF_CHECK_HEADING"]

#: Outcomes of a bound check, in the order a line reports them.
OUTCOMES = ("violated", "undecided", "vacuous", "no power", "outside hypothesis", "holds")
#: Outcomes of an estimate against a prediction.
ESTIMATE_OUTCOMES = ("outside CI", "no power", "consistent")
#: The heading under which self-checks are reported (summary, docs).
SELF_CHECK_HEADING = "consistency checks of the implementation (hold by construction; they test the code, not the paper)"

KINDS = ("exact", "certified", "heuristic")
SIDES = ("lower", "upper")

ROW_COLUMNS = ["bound_id", "kind", "side", "direction", "gamma", "failure_probability", "n", "mean", "std", "q05",
               "q50", "q95", "bound", "crossed", "violations", "undecided", "rate", "ci_low", "ci_high", "p_value",
               "min_detectable_rate", "tightness", "vacuous", "in_hypothesis", "hypothesis", "constants",
               "self_check", "verdict"]

_LABELS = {"violated": "VIOLATED", "undecided": "undecided", "vacuous": "vacuous",
           "no power": "no power at these settings", "outside hypothesis": "outside the hypothesis, not judged",
           "holds": "holds", "outside CI": "OUTSIDE the CI", "consistent": "consistent"}


# --------------------------------------------------------------------------------------------------------
# Constants and power text
# --------------------------------------------------------------------------------------------------------

def format_constants(constants) -> str:
    """``"c_eps = 1 (not found)"``-style text for the constants a line depends on ('' for none).

    Parameters
    ----------
    constants : None, str, or mapping name -> value or name -> (value, status)
        ``status`` defaults to ``"reconstructed"``.
    """
    if constants is None:
        return ""
    if isinstance(constants, str):
        return constants
    if not isinstance(constants, Mapping):
        raise TypeError(f"constants must be a mapping name -> value or (value, status), got {type(constants).__name__}")
    parts = []
    for name, spec in constants.items():
        value, status = spec if isinstance(spec, tuple) else (spec, "reconstructed")
        text = f"{value:g}" if isinstance(value, (int, float, np.floating, np.integer)) else str(value)
        parts.append(f"{name} = {text} ({status})")
    return ", ".join(parts)


def power_note(half_width: float, gap: float, *, what: str = "the competing predictions") -> str:
    """Free text on power: an interval's half-width next to the gap between competing predictions."""
    half_width, gap = float(half_width), float(gap)
    verdict = "can tell them apart" if half_width < gap / 2 else "cannot tell them apart (no power)"
    return f"half-width {half_width:.3g} vs gap {gap:.3g} between {what}: {verdict}"


# --------------------------------------------------------------------------------------------------------
# The core: classify each sample, test the counts, pick the outcome
# --------------------------------------------------------------------------------------------------------

def _check_common(direction, failure_probability, confidence):
    if direction not in ("upper", "lower"):
        raise ValueError(f"direction must be 'upper' or 'lower', got {direction!r}")
    failure_probability = check_real(failure_probability, "failure_probability", minimum=0.0, maximum=1.0)
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)
    return failure_probability, confidence


def _bound_array(bound_value, shape) -> np.ndarray:
    b = as_float_array(bound_value, "bound_value", allow_nonfinite=True)
    if np.isnan(b).any():
        raise ValueError("bound_value must not be NaN (an infinite bound is allowed)")
    try:
        return np.broadcast_to(b.ravel() if b.size > 1 else b.reshape(()), shape)
    except ValueError:
        raise ValueError(f"bound_value of shape {b.shape} does not broadcast to the {shape[0]} samples") from None


def _classify(lo, hi, point, b, direction, rtol, atol):
    """Per sample: definite crossing, undecided crossing, point on the wrong side (all bool arrays).

    ``lo <= true <= hi`` is what is certified (``-inf``/``inf`` when nothing is); ``point`` is the number
    reported (None for a sandwich: then every straddling sample is undecided).
    """
    finite = np.isfinite(b)
    tol = np.where(finite, atol + rtol * np.abs(np.where(finite, b, 0.0)), 0.0)
    with np.errstate(invalid="ignore"):
        if direction == "upper":
            edge = b + tol
            definite = lo > edge
            safe = hi <= edge
            wrong = (point > edge) if point is not None else ~safe
        else:
            edge = b - tol
            definite = hi < edge
            safe = lo >= edge
            wrong = (point < edge) if point is not None else ~safe
    undecided = ~definite & ~safe & wrong
    return definite, undecided, wrong | definite


def _evidence(kind: str, side: str | None, direction: str) -> tuple[str, bool, bool, str]:
    """(evidence text, can show a violation, can show that it holds, why a crossing is undecided)."""
    if kind == "exact":
        return "exact values", True, True, ""
    if kind == "heuristic":
        return "heuristic values", False, False, "a heuristic value on the wrong side (not certified)"
    if kind == "sandwich":
        return "certified sandwiches", True, True, (
            "the certified sandwich straddles the bound: its certified lower end is below the bound, its "
            "certified upper end above it")
    # certified, one side
    violating_side = "lower" if direction == "upper" else "upper"
    if side == violating_side:
        return (f"certified {side} values (the true value is {'>=' if side == 'lower' else '<='} each)", True,
                False, "")
    where = "below" if direction == "lower" else "above"
    return (f"certified {side} values (the true value is {'>=' if side == 'lower' else '<='} each)", False, True,
            f"a certified {side} value {where} the bound: the true value may lie on either side")


def _verdict(test, *, in_hypothesis: bool, vacuous: bool, test_all=None) -> str:
    """A row's verdict from its exact test, in this order of precedence: "outside hypothesis" (not judged),
    "violated" (the definite crossings reject), "vacuous", "undecided" (only counting the undecided
    crossings as well, ``test_all``, would reject), "no power" (the test could not have rejected), "holds"."""
    if not in_hypothesis:
        return "outside hypothesis"
    if test.significant:
        return "violated"
    if vacuous:
        return "vacuous"
    if test_all is not None and test_all.significant:
        return "undecided"
    if not test.has_power:
        return "no power"
    return "holds"


def _judge(lo, hi, point, values, bound_value, *, bound_id, direction, failure_probability, kind, side, gamma,
           vacuous, confidence, in_hypothesis, hypothesis, constants, self_check, rtol, atol, check) -> dict:
    failure_probability, confidence = _check_common(direction, failure_probability, confidence)
    n = values.size
    if n == 0:
        raise ValueError("empirical must hold at least one sample")
    b = _bound_array(bound_value, values.shape)
    rtol = check_real(rtol, "rtol", minimum=0.0)
    atol = check_real(atol, "atol", minimum=0.0)
    definite, undecided, crossed = _classify(lo, hi, point, b, direction, rtol, atol)
    k, u = int(definite.sum()), int(undecided.sum())
    test = excess_test(k, n, failure_probability, confidence)
    test_all = excess_test(k + u, n, failure_probability, confidence) if u else test
    ci = clopper_pearson(k, n, confidence)
    in_hypothesis = bool(in_hypothesis)
    verdict = _verdict(test, in_hypothesis=in_hypothesis, vacuous=vacuous, test_all=test_all)
    evidence, can_violate, can_hold, why = _evidence(kind, side, direction)
    desc = describe(values, (0.05, 0.5, 0.95))
    constant = bool(np.all(b == b.flat[0]))
    tight = (tightness(values, float(b.flat[0]), direction, min(max(failure_probability, 1.0 / n), 0.5))
             if constant and np.isfinite(b.flat[0]) else math.nan)
    return dict(bound_id=bound_id, check=check or bound_id, kind=kind, side=side, direction=direction, gamma=gamma,
                failure_probability=failure_probability, n=n, mean=desc.mean, std=desc.std,
                q05=desc.quantiles[0], q50=desc.quantiles[1], q95=desc.quantiles[2], bound=float(np.mean(b)),
                crossed=int(crossed.sum()), violations=k, undecided=u, rate=k / n, ci_low=float(ci.low),
                ci_high=float(ci.high), p_value=test.p_value, min_detectable_rate=test.min_detectable_rate,
                tightness=tight, vacuous=bool(vacuous), in_hypothesis=in_hypothesis,
                hypothesis=hypothesis or "", constants=format_constants(constants), self_check=bool(self_check),
                evidence=evidence, can_violate=can_violate, can_hold=can_hold,
                undecided_reason=why if u else "", verdict=verdict, confidence=confidence)


def compare_to_bound(empirical, bound_value, *, bound_id: str, direction: str, failure_probability: float,
                     kind: str = "exact", side: str | None = None, gamma: float | None = None,
                     vacuous: bool = False, confidence: float = 0.95, in_hypothesis: bool = True,
                     hypothesis: str | None = None, constants=None, self_check: bool = False,
                     rtol: float = 1e-9, atol: float = 1e-12, check: str | None = None) -> dict:
    """One row judging independent samples of a quantity against a bound (see the module docstring).

    Parameters
    ----------
    empirical : array_like, shape (n,)
        Independent samples (e.g. one per init) of the quantity (usually a worst case over the lazy ball).
    bound_value : float or array_like, shape (n,)
        The bound (constant over the cell, or per sample for per-sample bounds); may be infinite.
    bound_id : str
        The registry id (or any name of the check).
    direction : {"upper", "lower"}
        An upper bound is violated by a true value above it, a lower one by a true value below it.
    failure_probability : float
        The probability with which the bound may fail (its gamma, 4 gamma, ...); 0 for a sure bound.
    kind : {"exact", "certified", "heuristic"}
        What each number is (module docstring).
    side : {"lower", "upper"}, optional
        For ``kind="certified"``: ``"lower"`` means the true value is >= each number (e.g. attained by a
        witness, for a sup; an attack's robust error), ``"upper"`` that it is <= each number. Default: the
        safe side (``"upper"`` for an upper bound, ``"lower"`` for a lower one: a certificate valid for every
        W), which can show that the bound holds but never that it is violated.
    gamma : float, optional
        The gamma the bound was evaluated at (for the table).
    vacuous : bool
        Whether the bound is vacuous in this cell.
    confidence : float
        Two-sided Clopper-Pearson confidence; the test's one-sided level is ``(1 - confidence) / 2``.
    in_hypothesis : bool
        False when the cell is outside the bound's hypothesis: the row reads ``"outside hypothesis"``.
    hypothesis : str, optional
        The hypothesis in words (named in the line), e.g. ``"eps >= eps_d"``.
    constants : mapping, optional
        Reconstructed / not-found constants the bound uses here, ``{name: value}`` or
        ``{name: (value, status)}``; named in the line.
    self_check : bool
        The comparison holds by construction (it tests the implementation): reported apart.
    rtol, atol : float
        A crossing counts only beyond ``atol + rtol |bound|`` (rounding).
    check : str, optional
        The key of the verdict line (default ``bound_id``), when one bound is judged in several ways (e.g.
        against another quantity, or as a self-check).

    Returns
    -------
    dict
        The ``ROW_COLUMNS`` and ``check``, ``evidence``, ``can_violate``, ``can_hold``, ``undecided_reason``,
        ``confidence``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be 'exact', 'certified' or 'heuristic', got {kind!r}")
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be 'lower', 'upper' or None, got {side!r}")
    if kind != "certified" and side is not None:
        raise ValueError(f"side is only for kind='certified' (the side the values are certified on), got "
                         f"side={side!r} with kind={kind!r}")
    if kind == "certified" and side is None:
        side = direction if direction in ("upper", "lower") else None
    v = as_float_array(empirical, "empirical").ravel()
    inf = np.full(v.shape, np.inf)
    if kind == "exact":
        lo, hi = v, v
    elif kind == "heuristic":
        lo, hi = -inf, inf
    elif side == "lower":
        lo, hi = v, inf
    else:
        lo, hi = -inf, v
    return _judge(lo, hi, v, v, bound_value, bound_id=bound_id, direction=direction,
                  failure_probability=failure_probability, kind=kind, side=side, gamma=gamma, vacuous=vacuous,
                  confidence=confidence, in_hypothesis=in_hypothesis, hypothesis=hypothesis, constants=constants,
                  self_check=self_check, rtol=rtol, atol=atol, check=check)


def compare_sandwich(lower, upper, bound_value, *, bound_id: str, direction: str, failure_probability: float,
                     gamma: float | None = None, vacuous: bool = False, confidence: float = 0.95,
                     in_hypothesis: bool = True, hypothesis: str | None = None, constants=None,
                     self_check: bool = False, rtol: float = 1e-9, atol: float = 1e-12,
                     check: str | None = None) -> dict:
    """One row for samples known to lie in a certified sandwich ``lower <= true <= upper`` (per sample).

    A sample is a definite crossing when the whole sandwich is on the wrong side, safe when the whole
    sandwich is on the right side, and undecided when it straddles the bound. The summary statistics
    (mean, quantiles, tightness) are of the end on the violating side (``lower`` for an upper bound,
    ``upper`` for a lower bound), usually the value attained by a witness. Keywords as in
    :func:`compare_to_bound`.
    """
    lo = as_float_array(lower, "lower", allow_nonfinite=True).ravel()
    hi = as_float_array(upper, "upper", allow_nonfinite=True).ravel()
    if lo.shape != hi.shape:
        raise ValueError(f"lower and upper must have the same number of samples, got {lo.size} and {hi.size}")
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("lower and upper must not be NaN")
    if np.any(lo > hi + 1e-9 * np.maximum(1.0, np.abs(hi))):
        raise ValueError("lower must be <= upper in every sample (a certified sandwich)")
    shown = lo if direction == "upper" else hi
    if not np.all(np.isfinite(shown)):
        raise ValueError(f"the {'lower' if direction == 'upper' else 'upper'} end must be finite (it is the "
                         "value summarized)")
    return _judge(lo, hi, None, shown, bound_value, bound_id=bound_id, direction=direction,
                  failure_probability=failure_probability, kind="sandwich", side=None, gamma=gamma,
                  vacuous=vacuous, confidence=confidence, in_hypothesis=in_hypothesis, hypothesis=hypothesis,
                  constants=constants, self_check=self_check, rtol=rtol, atol=atol, check=check)


def compare_counts(crossed: int, n: int, *, bound_id: str, failure_probability: float, kind: str = "exact",
                   side: str | None = None, direction: str = "upper", **keywords) -> dict:
    """One row from counts alone: ``crossed`` of ``n`` independent samples lie on the wrong side of the bound.

    For statements checked per sample by an indicator (e.g. "every certified step flips", "some lazy W
    resists the step"): the same verdict as :func:`compare_to_bound` on ``n`` samples of which ``crossed``
    are across, with the same meaning of ``kind`` and ``side`` (for ``kind="certified"`` give the side the
    indicator is certified on relative to the bound's ``direction``). ``keywords`` as in
    :func:`compare_to_bound`; the summary statistics describe the 0/1 indicators.
    """
    crossed = check_int(crossed, "crossed", minimum=0)
    n = check_int(n, "n", minimum=1)
    if crossed > n:
        raise ValueError(f"need crossed <= n, got {crossed} of {n}")
    wrong, right = (1.0, 0.0) if direction == "upper" else (0.0, 1.0)
    values = np.r_[np.full(crossed, wrong), np.full(n - crossed, right)]
    return compare_to_bound(values, 0.5, bound_id=bound_id, direction=direction,
                            failure_probability=failure_probability, kind=kind, side=side, **keywords)


def compare_probability(successes: int, trials: int, bound_value: float, *, bound_id: str,
                        confidence: float = 0.95, in_hypothesis: bool = True, hypothesis: str | None = None,
                        constants=None, self_check: bool = False, check: str | None = None, **extra) -> dict:
    """One row comparing an empirical probability (``successes / trials``) with an upper bound on it.

    The trials are exact Bernoulli draws of the event, so this is the same exact binomial test with the
    bound in the role of the failure probability: VIOLATED when ``P(Binomial(trials, bound) >= successes)``
    is below ``(1 - confidence) / 2`` (the Clopper-Pearson lower limit exceeds the bound). Vacuous when the
    bound is >= 1. ``tightness`` is bound / empirical rate (>= 1 on the safe side). ``extra`` keywords are
    added to the row.
    """
    successes = check_int(successes, "successes", minimum=0)
    trials = check_int(trials, "trials", minimum=1)
    bound_value = check_real(bound_value, "bound_value")
    confidence = check_real(confidence, "confidence", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    ci = clopper_pearson(successes, trials, confidence)
    rate = successes / trials
    bound_value = float(bound_value)
    vacuous = bound_value >= 1.0
    test = excess_test(successes, trials, min(max(bound_value, 0.0), 1.0), confidence)
    verdict = _verdict(test, in_hypothesis=in_hypothesis, vacuous=vacuous)
    return dict(bound_id=bound_id, check=check or bound_id, kind="exact", side=None, direction="upper", n=trials, mean=rate,
                bound=bound_value, crossed=successes, violations=successes if test.significant else 0, undecided=0,
                rate=rate, ci_low=float(ci.low), ci_high=float(ci.high), p_value=test.p_value,
                min_detectable_rate=test.min_detectable_rate,
                tightness=bound_value / rate if rate > 0 else math.inf, vacuous=vacuous,
                in_hypothesis=bool(in_hypothesis), hypothesis=hypothesis or "", constants=format_constants(constants),
                self_check=bool(self_check), evidence="exact Bernoulli trials", can_violate=True, can_hold=True,
                undecided_reason="", verdict=verdict, confidence=confidence, failure_probability=bound_value,
                **extra)


def compare_estimate(estimate, ci_low, ci_high, predicted, *, name: str, alternatives: Mapping | None = None,
                     constants=None, self_check: bool = False, **extra) -> dict:
    """One row: is a prediction inside an estimate's confidence interval, and could the data tell it apart?

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        The estimate (e.g. a fitted exponent) and its confidence interval.
    predicted : float
        The prediction under test, in the units of the setting actually used.
    name : str
        What is compared, e.g. ``"exponent of E eta* in d at m=1000"`` (the line's key).
    alternatives : mapping label -> float, optional
        Competing predictions (a swapped constant, another exponent, a constant instead of a kernel...).
        When one of them is also inside the interval the outcome is ``"no power"``.
    constants : mapping, optional
        Reconstructed constants the prediction uses (named in the line).
    self_check : bool
        The comparison holds by construction (reported apart).

    Returns
    -------
    dict
        ``check``, ``name``, ``estimate``, ``ci_low``, ``ci_high``, ``half_width``, ``predicted``,
        ``nearest_alternative``, ``alternative_value``, ``gap``, ``verdict`` (``"consistent"``,
        ``"outside CI"``, ``"no power"``), ``constants``, ``self_check``, and the ``extra`` keywords.
    """
    est, lo, hi, pred = (float(v) for v in (estimate, ci_low, ci_high, predicted))
    alternatives = dict(alternatives or {})
    finite = all(np.isfinite(v) for v in (est, lo, hi))
    near_label, near_value, gap = "", math.nan, math.nan
    if alternatives:
        near_label, near_value = min(alternatives.items(), key=lambda kv: abs(float(kv[1]) - pred))
        near_value = float(near_value)
        gap = abs(near_value - pred)
    if not finite:
        verdict = "no power"
    elif not lo <= pred <= hi:
        verdict = "outside CI"
    elif any(lo <= float(a) <= hi for a in alternatives.values()):
        verdict = "no power"
    else:
        verdict = "consistent"
    return dict(check=name, name=name, estimate=est, ci_low=lo, ci_high=hi, half_width=(hi - lo) / 2,
                predicted=pred, nearest_alternative=near_label, alternative_value=near_value, gap=gap,
                verdict=verdict, constants=format_constants(constants), self_check=bool(self_check), **extra)


# --------------------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------------------

def _status(verdict_col: pd.Series, order) -> str:
    n = len(verdict_col)
    counts = {v: int((verdict_col == v).sum()) for v in order}
    present = [v for v in order if counts[v]]
    unknown = sorted(set(verdict_col) - set(order))
    if unknown:
        raise ValueError(f"unknown verdicts {unknown}; expected one of {list(order)}")
    if len(present) == 1:
        return f"{_LABELS[present[0]]} in all {n} cells" if n > 1 else _LABELS[present[0]]
    head, *rest = present
    return (f"{_LABELS[head]} in {counts[head]} of {n} cells; "
            + "; ".join(f"{_LABELS[v]} in {counts[v]}" for v in rest))


def _col(group: pd.DataFrame, name: str, default):
    return group[name] if name in group else pd.Series(default, index=group.index)


def _fmt_range(values, fmt="{:.2g}") -> str:
    vals = sorted(set(float(v) for v in values if np.isfinite(v)))
    if not vals:
        return "none"
    lo, hi = fmt.format(vals[0]), fmt.format(vals[-1])
    return lo if lo == hi else f"{lo} to {hi}"


def _bound_line(check: str, group: pd.DataFrame) -> str:
    verdict = group["verdict"].replace({"VIOLATED": "violated"})
    line = f"{check}: {_status(verdict, OUTCOMES)}"
    extras = []
    fp = _col(group, "failure_probability", 0.0).astype(float)
    judged = verdict != "outside hypothesis"
    can_violate = _col(group, "can_violate", True).astype(bool)
    if judged.any():
        crossing = "a definite crossing" if can_violate[judged].any() else "a crossing (undecided at best)"
        if (fp[judged] == 0).all():
            extras.append(f"sure bound: {crossing} beyond rounding is detected"
                          + (" and reads VIOLATED" if can_violate[judged].any() else ""))
        else:
            rates = _col(group, "min_detectable_rate", math.nan)[judged].astype(float)
            powered = np.isfinite(rates)
            extras.append(f"allowed failure rate {_fmt_range(fp[judged])}; detectable: "
                          + (f"{crossing} rate >= {_fmt_range(rates[powered])} per cell" if powered.any()
                             else "nothing (even every sample crossing would not be significant)"))
    violated = verdict == "violated"
    if violated.any() and (fp[violated] > 0).any():
        level = (1 - _col(group, "confidence", 0.95).astype(float)) / 2
        extras.append(f"a bound exactly at its failure probability reads VIOLATED in about "
                      f"{float(level[violated | judged].sum()):.2g} such cells by chance")
    und = _col(group, "undecided", 0).astype(int)
    if und.sum():
        reasons = sorted(set(r for r in _col(group, "undecided_reason", "") if r))
        extras.append(f"{int(und.sum())} samples undecided" + (f": {'; '.join(reasons)}" if reasons else ""))
    if judged.any() and not can_violate[judged].any():
        ev = sorted(set(_col(group, "evidence", "")[judged]))
        extras.append(f"from {', '.join(ev)}: a crossing reads undecided, never VIOLATED")
    can_hold = _col(group, "can_hold", True).astype(bool)
    if (verdict == "holds").any() and not can_hold[verdict == "holds"].all():
        ev = sorted(set(_col(group, "evidence", "")[(verdict == "holds") & ~can_hold]))
        extras.append(f"'holds' rests on {', '.join(ev)}: values found by search, the true worst case may be beyond")
    hyps = sorted(set(h for h in _col(group, "hypothesis", "")[~judged] if h))
    if hyps:
        extras.append(f"hypothesis: {'; '.join(hyps)}")
    crossed_out = _col(group, "crossed", 0)[~judged].astype(int)
    if (crossed_out > 0).any():
        extras.append(f"not judged, but samples lie beyond the bound in {int((crossed_out > 0).sum())} of the "
                      f"{int((~judged).sum())} cells outside the hypothesis (a finding, not a violation)")
    consts = sorted(set(c for c in _col(group, "constants", "") if isinstance(c, str) and c))
    if consts:
        extras.append(f"uses {'; '.join(consts)}")
    return line + (" (" + "; ".join(extras) + ")" if extras else "")


def _estimate_line(check: str, group: pd.DataFrame) -> str:
    extras = []
    if len(group) == 1:
        r = group.iloc[0]
        line = (f"{check}: {r['estimate']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}] vs predicted {r['predicted']:.3g}: "
                f"{_LABELS[r['verdict']]}")
        extras.append(f"half-width {r['half_width']:.2g}")
    else:
        line = f"{check}: {_status(group['verdict'], ESTIMATE_OUTCOMES)}"
        extras.append(f"half-width {_fmt_range(group['half_width'])}")
    alts = group[group["nearest_alternative"].astype(str) != ""] if "nearest_alternative" in group else group.iloc[:0]
    for label in dict.fromkeys(alts["nearest_alternative"]) if len(alts) else ():
        sub = alts[alts["nearest_alternative"] == label]
        extras.append(f"competing prediction {label} at gap {_fmt_range(sub['gap'])}")
    if len(alts) == 0:
        extras.append("no competing prediction given")
    consts = sorted(set(c for c in _col(group, "constants", "") if isinstance(c, str) and c))
    if consts:
        extras.append(f"uses {'; '.join(consts)}")
    return line + " (" + "; ".join(extras) + ")"


def _lines(table: pd.DataFrame, self_check: bool) -> list[str]:
    if table is None or len(table) == 0:
        return []
    flags = _col(table, "self_check", False).fillna(False).astype(bool)
    part = table[flags == self_check]
    if part.empty:
        return []
    if "check" in part:
        key = part["check"].fillna(part["bound_id"]) if "bound_id" in part else part["check"]
    else:
        key = part["bound_id"]
    lines = []
    for check in dict.fromkeys(key):
        group = part[key == check]
        lines.append(_estimate_line(check, group) if "estimate" in group and "predicted" in group
                     and group["estimate"].notna().all() else _bound_line(check, group))
    return lines


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per check (bound id or estimate name) of a table of rows from this module.

    Rows with ``self_check=True`` are left out (see :func:`self_check_lines`). A bound's line leads with
    its most severe outcome (``VIOLATED``, then ``undecided``, ``vacuous``, ``no power at these settings``,
    ``outside the hypothesis``, ``holds``) and counts the others, then says what the check could have
    detected, why samples are undecided, which hypothesis excluded cells, and which reconstructed
    constants it uses. For a probabilistic bound a VIOLATED line also says how many cells a bound that is
    exactly at its failure probability would flag by chance; a sure bound has no such allowance.
    """
    return _lines(table, False)


def self_check_lines(table: pd.DataFrame) -> list[str]:
    """The lines of the rows marked ``self_check=True`` (for ``StudyResult.self_checks``)."""
    return _lines(table, True)


def exact_law_line(name: str, estimate, sem, predicted, *, confidence: float = 0.99, alternatives=None,
                   self_check: bool = False) -> str:
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
    alternatives : mapping label -> array_like (n_cells,), optional
        Competing predictions per cell (for the power statement).
    """
    from scipy.stats import norm

    estimate, sem, predicted = (np.asarray(v, dtype=float).ravel() for v in (estimate, sem, predicted))
    z = norm.ppf(0.5 + confidence / 2)
    alternatives = {k: np.broadcast_to(np.asarray(v, float).ravel(), estimate.shape)
                    for k, v in (alternatives or {}).items()}
    rows = [compare_estimate(e, e - z * s, e + z * s, p, name=f"exact law {name}", self_check=self_check,
                             alternatives={k: v[i] for k, v in alternatives.items()})
            for i, (e, s, p) in enumerate(zip(estimate, sem, predicted))]
    table = pd.DataFrame(rows)
    line = _estimate_line(f"exact law {name}", table)
    n_out = int((table["verdict"] == "outside CI").sum())
    if n_out:
        line += (f" (a true law is outside a {confidence:.0%} interval in about {(1 - confidence) * len(table):.2g} "
                 "cells by chance)")
    return line
