"""Intervals for measurements clustered by network: K independent nets, n dependent points each.

The points measured on one net share the net, so they are not independent draws; the nets are. Every
interval here treats the net as the unit of independence (the noise-separability studies use them):

* the mean over nets and points: :func:`boundcheck.stats.mean_interval` of the nets' means (Student t on
  K - 1 degrees of freedom), nothing new here;
* :func:`total_sd_interval` -- the total spread ``sqrt(within-net variance + variance of the nets' means)``;
* :func:`within_sd_interval` -- the spread across the points of one net (averaged over nets);
* :func:`clustered_proportion_interval` -- a proportion of points, with a design effect for the clustering;
* :func:`net_proportion_interval` -- a proportion of points, by a Student-t interval over the nets' own
  proportions (valid by the central limit theorem over nets where events are not rare).
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import as_float_array, check_real
from .stats import Interval, mean_interval

__all__ = ["total_sd_interval", "within_sd_interval", "clustered_proportion_interval", "net_proportion_interval"]


def _check_confidence(confidence) -> float:
    return check_real(confidence, "confidence", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)


def _check_values(values, name: str = "values") -> np.ndarray:
    v = as_float_array(values, name, ndim=2)
    if v.shape[0] < 2 or v.shape[1] < 2:
        raise ValueError(f"{name} must have shape (K, n) with K >= 2 nets and n >= 2 points, got {v.shape}")
    return v


def total_sd_interval(values, confidence: float = 0.95) -> Interval:
    """``sqrt(within-net variance + variance of the nets' means)`` with an interval.

    The within-net variance is pooled over ``K (n - 1)`` degrees of freedom and treated as known; the
    between-net part gets the chi-square interval of a variance with ``K - 1`` degrees of freedom (it
    dominates the uncertainty when K is small).

    Parameters
    ----------
    values : array_like, shape (K, n)
        ``n`` points measured on each of ``K`` independent nets, K >= 2, n >= 2.
    confidence : float

    Returns
    -------
    Interval
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    g = _check_values(values)
    K = len(g)
    within = float(g.var(axis=1, ddof=1).mean())
    between = float(g.mean(axis=1).var(ddof=1))
    a = (1 - confidence) / 2
    lo_b = between * (K - 1) / stats.chi2.isf(a, K - 1)
    hi_b = between * (K - 1) / stats.chi2.ppf(a, K - 1)
    return Interval(math.sqrt(within + lo_b), math.sqrt(within + hi_b), math.sqrt(within + between), confidence)


def within_sd_interval(values, confidence: float = 0.95) -> Interval:
    """The spread across the points of one net, ``sqrt(mean over nets of the within-net variance)``.

    The nets' sample variances are i.i.d. over nets, so their mean gets a Student-t interval on ``K - 1``
    degrees of freedom (:func:`boundcheck.stats.mean_interval`); the limits are its square roots (a lower
    limit below 0 is taken as 0).

    Parameters
    ----------
    values : array_like, shape (K, n)
    confidence : float

    Returns
    -------
    Interval
    """
    g = _check_values(values)
    iv = mean_interval(g.var(axis=1, ddof=1), confidence)
    return Interval(math.sqrt(max(0.0, iv.low)), math.sqrt(iv.high), math.sqrt(iv.estimate), iv.confidence)


def clustered_proportion_interval(indicators, values, confidence: float = 0.95) -> Interval:
    """An interval for a proportion of points (e.g. ``P(gamma <= 0)``) from K nets x n points.

    Clopper-Pearson on an effective sample size ``K n / deff``, with the design effect
    ``deff = 1 + (n - 1) icc`` estimated from ``values`` (``icc`` = between-net variance over total
    variance). A heuristic for the indicators' clustering (rare events may cluster more than ``values``
    do); it reduces to Clopper-Pearson when the nets do not matter.

    Parameters
    ----------
    indicators : array_like of bool, shape (K, n)
        Which points count (e.g. ``values <= 0``).
    values : array_like, shape (K, n)
        The measurements whose clustering estimates the design effect.
    confidence : float

    Returns
    -------
    Interval
        ``estimate`` is the plain proportion of the indicators.
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    g = _check_values(values)
    ind = np.asarray(indicators, dtype=bool)
    if ind.shape != g.shape:
        raise ValueError(f"indicators must have the shape of values, {g.shape}, got {ind.shape}")
    K, n = g.shape
    k = float(ind.sum())
    within = float(g.var(axis=1, ddof=1).mean())
    net_var = max(0.0, float(g.mean(axis=1).var(ddof=1)) - within / n)
    icc = net_var / (net_var + within) if within + net_var > 0 else 0.0
    deff = 1.0 + (n - 1) * icc
    n_eff = K * n / deff
    k_eff = k / deff
    a = (1 - confidence) / 2
    low = 0.0 if k_eff <= 0 else float(stats.beta.ppf(a, k_eff, n_eff - k_eff + 1))
    high = 1.0 if k_eff >= n_eff else float(stats.beta.ppf(1 - a, k_eff + 1, n_eff - k_eff))
    return Interval(low, high, k / (K * n), confidence)


def net_proportion_interval(indicators, confidence: float = 0.95, *, min_events_per_net: float = 10.0) -> Interval | None:
    """An interval for a proportion of points from K nets x n points: Student t over the nets' proportions.

    The nets are i.i.d., so their proportions ``f_k`` are i.i.d. with mean the proportion sought, whatever
    the dependence of the points within a net; :func:`boundcheck.stats.mean_interval` of the ``f_k`` is
    valid by the central limit theorem over nets. It is not where events are rare (most ``f_k`` are 0 and
    the interval collapses): below ``min_events_per_net`` events per net on average the function returns
    None (use :func:`clustered_proportion_interval` there).

    Parameters
    ----------
    indicators : array_like of bool, shape (K, n)
        K >= 2 nets.
    confidence : float
    min_events_per_net : float
        The smallest mean number of events per net for which the interval is returned.

    Returns
    -------
    Interval or None
        Limits clipped to [0, 1].
    """
    confidence = _check_confidence(confidence)
    min_events_per_net = check_real(min_events_per_net, "min_events_per_net", minimum=0.0)
    ind = np.asarray(indicators, dtype=bool)
    if ind.ndim != 2 or ind.shape[0] < 2 or ind.shape[1] < 1:
        raise ValueError(f"indicators must have shape (K, n) with K >= 2 nets, got {ind.shape}")
    K, n = ind.shape
    if ind.sum() < min_events_per_net * K:
        return None
    iv = mean_interval(ind.mean(axis=1), confidence)
    return Interval(max(0.0, float(iv.low)), min(1.0, float(iv.high)), float(iv.estimate), confidence)
