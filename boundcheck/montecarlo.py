"""Monte Carlo engine: grids, per-cell seeding, sweeps, and the statistics that judge a bound.

Two halves live here.

**Statistics** (pure functions of arrays):

- :func:`clopper_pearson` -- the exact binomial interval, vectorized;
- :func:`violation_summary` -- how often an empirical worst case crosses a bound, with its exact interval
  against the allowed failure rate ``gamma``, and a verdict;
- :func:`tightness` -- the bound over the empirical ``(1 - gamma)``-quantile (or the reverse for lower
  bounds);
- :func:`fit_exponent` -- a log-log least-squares fit ``y ~ C x^p`` with a t-interval on ``p``;
- :func:`describe`, :func:`mean_interval` -- per-cell summaries;
- :func:`summarize`, :func:`fit_exponents` -- the same, applied group by group to a sweep table.

**The sweep engine**: a :class:`Grid` of parameters, :func:`cell_seed` (the seed of a cell depends on the
sweep seed and the cell's coordinates only), and :func:`run_sweep`, which runs a cell function on every
cell in-process, on local worker processes, or on a Dask cluster, optionally storing each finished cell
in a :class:`boundcheck.store.ResultStore` so that an interrupted sweep resumes where it stopped.

Determinism
-----------
The table returned by :func:`run_sweep` depends only on the cell function, the grid and the sweep seed: not
on the number of workers, the order in which cells finish, the scheduler, or whether the sweep was
interrupted and resumed. Each cell draws from ``numpy.random.default_rng(cell_seed(seed, coords))``; the
results are put through one canonical (JSON-exact) form whether or not they were stored; and the table is
sorted in grid order. The thread count (``threads_per_worker``) is different: it does not change the seeds or the draws,
but a threaded library may round differently with another number of threads. OpenBLAS 0.3.31 does: some
matrix products differ in the last bits (relative ~3e-15) between 1 and 2 threads, while each thread count
is deterministic from run to run. So keep ``threads_per_worker`` fixed (the default, 1) when tables must
agree bit for bit; a resume with another thread count warns. Numba kernels with parallel reductions
(``prange`` with ``+=``) have the same caveat.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import numbers
import os
import pickle
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validate import as_float_array, check_choice, check_int, check_real

__all__ = [
    "Interval",
    "ViolationSummary",
    "ExponentFit",
    "Description",
    "clopper_pearson",
    "violation_summary",
    "tightness",
    "fit_exponent",
    "describe",
    "mean_interval",
    "summarize",
    "fit_exponents",
    "Grid",
    "cell_seed",
    "coords_key",
    "run_sweep",
    "SweepCellError",
]

SENSES = ("upper", "lower")


# --------------------------------------------------------------------------------------------------------
# Result records
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval.

    Attributes
    ----------
    low, high : float or ndarray
        The limits (arrays of a common shape when the inputs were arrays).
    estimate : float or ndarray
        The point estimate the interval surrounds (``k / n`` for a proportion, the sample mean for a mean).
    confidence : float
        The nominal coverage, e.g. 0.95.
    """

    low: float | np.ndarray
    high: float | np.ndarray
    estimate: float | np.ndarray
    confidence: float

    def contains(self, value) -> bool | np.ndarray:
        """Whether ``low <= value <= high`` (elementwise for arrays)."""
        out = (np.asarray(self.low) <= value) & (value <= np.asarray(self.high))
        return bool(out) if np.ndim(out) == 0 else out

    @property
    def width(self):
        """``high - low``."""
        return self.high - self.low


@dataclass(frozen=True)
class ViolationSummary:
    """How often an empirical quantity crossed its bound, judged against the allowed rate ``gamma``.

    Attributes
    ----------
    n : int
        Number of draws (e.g. inits x points in one cell).
    violations : int
        Number of draws on the wrong side of the bound (see ``sense``).
    rate : float
        ``violations / n``.
    ci_low, ci_high : float
        Two-sided Clopper-Pearson interval for the true violation probability, at ``confidence``.
    gamma : float
        The failure probability the bound allows ("with probability at least 1 - gamma").
    confidence : float
        Confidence level of the interval.
    sense : {"upper", "lower"}
        ``"upper"``: a violation is ``empirical > bound``; ``"lower"``: ``empirical < bound``.
    p_value : float
        Exact one-sided binomial p-value of H0 "true violation probability <= gamma":
        ``P(Binomial(n, gamma) >= violations)``.
    verdict : {"holds", "violated", "vacuous"}
        See :func:`violation_summary`.
    """

    n: int
    violations: int
    rate: float
    ci_low: float
    ci_high: float
    gamma: float
    confidence: float
    sense: str
    p_value: float
    verdict: str

    @property
    def violated(self) -> bool:
        """``verdict == "violated"``: a finding to report."""
        return self.verdict == "violated"


@dataclass(frozen=True)
class ExponentFit:
    """A power law ``y ~ prefactor * x ** exponent`` fitted by least squares on ``log y`` against ``log x``.

    Attributes
    ----------
    exponent : float
        The fitted slope ``p`` in log-log coordinates.
    ci_low, ci_high : float
        Two-sided t-interval for ``p`` at ``confidence`` (``n_points - 2`` degrees of freedom).
    stderr : float
        Standard error of ``p``.
    prefactor : float
        ``exp(intercept)``: the fitted ``C`` (a geometric-mean prefactor).
    n_points : int
        Number of (x, y) points used, replicates included.
    n_x : int
        Number of distinct x values.
    r2 : float
        Coefficient of determination of the log-log fit (1.0 for an exact power law).
    confidence : float
        Confidence level of the interval.
    """

    exponent: float
    ci_low: float
    ci_high: float
    stderr: float
    prefactor: float
    n_points: int
    n_x: int
    r2: float
    confidence: float

    def contains(self, p: float) -> bool:
        """Whether the exponent ``p`` (e.g. the one theory predicts) lies in ``[ci_low, ci_high]``."""
        p = check_real(p, "p")
        return bool(self.ci_low <= p <= self.ci_high)


@dataclass(frozen=True)
class Description:
    """Summary statistics of one cell's samples.

    Attributes
    ----------
    n : int
        Number of samples.
    mean : float
        Sample mean.
    std : float
        Sample standard deviation (``ddof=1``; NaN when ``n == 1``).
    sem : float
        Standard error of the mean, ``std / sqrt(n)`` (NaN when ``n == 1``).
    levels : tuple of float
        The quantile levels.
    quantiles : tuple of float
        The empirical quantiles at ``levels`` (numpy's default linear interpolation).
    """

    n: int
    mean: float
    std: float
    sem: float
    levels: tuple[float, ...]
    quantiles: tuple[float, ...]

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat dict ``{prefix+"n": ..., prefix+"mean": ..., ..., prefix+"q0.05": ...}`` for a table row."""
        out = {f"{prefix}n": self.n, f"{prefix}mean": self.mean, f"{prefix}std": self.std,
               f"{prefix}sem": self.sem}
        for level, q in zip(self.levels, self.quantiles):
            out[f"{prefix}q{level:g}"] = q
        return out


# --------------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------------

def _check_confidence(confidence) -> float:
    return check_real(confidence, "confidence", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)


def _as_int_array(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold whole numbers, got {value!r}")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer or an array of integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def clopper_pearson(k, n, confidence: float = 0.95) -> Interval:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion.

    Parameters
    ----------
    k : int or array_like of int
        Numbers of successes, ``0 <= k <= n``.
    n : int or array_like of int
        Numbers of trials, ``n >= 1``; broadcast against ``k``.
    confidence : float
        Nominal coverage in (0, 1).

    Returns
    -------
    Interval
        ``low``, ``high``, ``estimate = k / n`` (floats for scalar inputs, arrays of the broadcast shape
        otherwise) and ``confidence``.

    Notes
    -----
    With ``alpha = 1 - confidence``, ``low = Beta(alpha/2; k, n-k+1)`` and ``high = Beta(1-alpha/2; k+1, n-k)``
    (quantiles of the Beta distribution), with ``low = 0`` when ``k = 0`` and ``high = 1`` when ``k = n``.
    The interval inverts two one-sided exact binomial tests at level ``alpha/2`` each, so its coverage is at
    least ``confidence`` for every true proportion (it is conservative).

    References
    ----------
    Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or fiducial limits illustrated in the
    case of the binomial. Biometrika 26(4), 404-413.

    Examples
    --------
    >>> ci = clopper_pearson(0, 10)
    >>> float(ci.low), round(float(ci.high), 4)
    (0.0, 0.3085)
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    k_arr = _as_int_array(k, "k")
    n_arr = _as_int_array(n, "n")
    try:
        k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    except ValueError:
        raise ValueError(f"k and n must broadcast together, got shapes {k_arr.shape} and {n_arr.shape}") from None
    if np.any(n_arr < 1):
        raise ValueError(f"n must be >= 1, got {n!r}")
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError(f"k must satisfy 0 <= k <= n, got k={k!r}, n={n!r}")
    alpha = 1.0 - confidence
    kf = k_arr.astype(np.float64)
    nf = n_arr.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Beta(0, .) and Beta(., 0) are undefined: the edge cases are set explicitly below.
        low = stats.beta.ppf(alpha / 2, np.maximum(kf, 1.0), nf - kf + 1)
        high = stats.beta.ppf(1 - alpha / 2, kf + 1, np.maximum(nf - kf, 1.0))
    low = np.where(k_arr == 0, 0.0, low)
    high = np.where(k_arr == n_arr, 1.0, high)
    est = kf / nf
    if np.ndim(low) == 0:
        return Interval(float(low), float(high), float(est), confidence)
    return Interval(low, high, est, confidence)


def violation_summary(empirical, bound, sense: str, gamma: float, confidence: float = 0.95, *,
                      trivial: float | None = None) -> ViolationSummary:
    """Count how often ``empirical`` crosses ``bound`` and judge the rate against ``gamma``.

    A bound of the form "with probability at least ``1 - gamma``, Q <= B" (``sense="upper"``) or
    "Q >= B" (``sense="lower"``) may fail on at most a fraction ``gamma`` of the draws. This function counts
    the failures among ``n`` independent draws and puts an exact interval on the true failure probability.

    Parameters
    ----------
    empirical : array_like, shape (n,) or any shape
        The empirical quantity Q, one value per independent draw (e.g. the worst case over the lazy ball
        for each init and point); flattened. Must be finite.
    bound : float or array_like broadcastable to ``empirical``
        The bound B (one value, or one per draw for data-dependent bounds). May be +-inf, not NaN.
    sense : {"upper", "lower"}
        ``"upper"``: a violation is ``empirical > bound``. ``"lower"``: a violation is ``empirical < bound``.
        Equality is never a violation.
    gamma : float
        The failure probability the bound allows, in [0, 1).
    confidence : float
        Confidence of the two-sided Clopper-Pearson interval.
    trivial : float, optional
        A value the quantity always satisfies (e.g. 0 for a lower bound on a norm, ``m`` for an upper bound
        on a count of ``m`` neurons). The bound is *vacuous* when it says no more than that: ``bound >=
        trivial`` for an upper bound, ``bound <= trivial`` for a lower bound (for per-draw bounds: when every
        draw's bound is vacuous).

    Returns
    -------
    ViolationSummary

    Notes
    -----
    The verdict is decided in this order:

    1. ``"violated"`` when the Clopper-Pearson lower limit ``ci_low`` exceeds ``gamma``: the observed excess
       of violations over the allowed rate is statistically significant. Equivalently, the exact one-sided
       binomial test of H0 "failure probability <= gamma" rejects at level ``(1 - confidence) / 2``
       (``p_value < (1 - confidence) / 2``). A violated bound is a finding and is never hidden behind
       "vacuous".
    2. ``"vacuous"`` when ``trivial`` is given and the bound is vacuous (see above).
    3. ``"holds"`` otherwise: the data are consistent with a failure rate at most ``gamma``.

    Each cell of a sweep is a separate test: with many cells whose true rate is exactly ``gamma``, about
    ``(1 - confidence) / 2`` of them would be flagged by chance. For a family-wise guarantee over ``c``
    cells use ``confidence = 1 - 0.05 / c`` (Bonferroni).

    Examples
    --------
    >>> s = violation_summary([0.1, 0.5, 2.0, 0.3], bound=1.0, sense="upper", gamma=0.1)
    >>> s.violations, s.rate, s.verdict
    (1, 0.25, 'holds')
    """
    from scipy import stats

    sense = check_choice(sense, "sense", SENSES)
    gamma = check_real(gamma, "gamma", minimum=0.0, maximum=1.0, closed_max=False)
    confidence = _check_confidence(confidence)
    emp = as_float_array(empirical, "empirical").ravel()
    if emp.size == 0:
        raise ValueError("empirical must hold at least one value")
    bnd = as_float_array(bound, "bound", allow_nonfinite=True)
    if np.isnan(bnd).any():
        raise ValueError("bound must not contain NaN")
    if bnd.ndim > 0 and bnd.size != 1:
        try:
            bnd = np.broadcast_to(bnd, np.shape(empirical)).ravel()
        except ValueError:
            raise ValueError(f"bound of shape {bnd.shape} does not broadcast to empirical's shape "
                             f"{np.shape(empirical)}") from None
    else:
        bnd = bnd.reshape(())
    crossed = emp > bnd if sense == "upper" else emp < bnd
    n = int(emp.size)
    k = int(np.count_nonzero(crossed))
    ci = clopper_pearson(k, n, confidence)
    p_value = float(stats.binom.sf(k - 1, n, gamma)) if k > 0 else 1.0
    if ci.low > gamma:
        verdict = "violated"
    else:
        verdict = "holds"
        if trivial is not None:
            trivial = check_real(trivial, "trivial")
            vacuous = np.all(bnd >= trivial) if sense == "upper" else np.all(bnd <= trivial)
            if vacuous:
                verdict = "vacuous"
    return ViolationSummary(n=n, violations=k, rate=k / n, ci_low=float(ci.low), ci_high=float(ci.high),
                            gamma=gamma, confidence=confidence, sense=sense, p_value=p_value,
                            verdict=verdict)


def tightness(empirical, bound: float, sense: str, gamma: float, *, method: str = "linear") -> float:
    """How loose a bound is, relative to the empirical quantile it should cover.

    Parameters
    ----------
    empirical : array_like
        The empirical quantity, one value per draw (flattened).
    bound : float
        The bound (a single value; see Notes for per-draw bounds).
    sense : {"upper", "lower"}
        Direction of the bound, as in :func:`violation_summary`.
    gamma : float
        The bound's failure probability, in (0, 1).
    method : str
        Quantile method passed to :func:`numpy.quantile` (default linear interpolation).

    Returns
    -------
    float
        For an upper bound, ``bound / q`` with ``q`` the empirical ``(1 - gamma)``-quantile; for a lower
        bound, ``q / bound`` with ``q`` the empirical ``gamma``-quantile. In both cases **a value >= 1 means
        the bound is on the safe side of the quantile, and the larger, the looser**; a value < 1 means the
        bound cuts into the empirical ``1 - gamma`` mass (compare with :func:`violation_summary`).

    Notes
    -----
    The ratio needs a positive denominator. With ``num / den`` as above: ``den > 0`` gives the plain ratio
    (possibly <= 0, which is on the unsafe side); ``den == 0`` gives ``+inf`` when ``num > 0`` (e.g. a lower
    bound of 0 on a positive quantity: infinitely loose), ``-inf`` when ``num < 0`` and NaN when ``num ==
    0``; ``den < 0`` gives NaN (no meaningful scale). Data-dependent (per-draw) bounds have no single
    ratio: compute one per draw, or use :func:`violation_summary`.
    """
    sense = check_choice(sense, "sense", SENSES)
    gamma = check_real(gamma, "gamma", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)
    bound = check_real(bound, "bound")
    emp = as_float_array(empirical, "empirical").ravel()
    if emp.size == 0:
        raise ValueError("empirical must hold at least one value")
    if sense == "upper":
        num, den = bound, float(np.quantile(emp, 1.0 - gamma, method=method))
    else:
        num, den = float(np.quantile(emp, gamma, method=method)), bound
    if den > 0:
        return num / den
    if den == 0:
        return math.inf if num > 0 else (-math.inf if num < 0 else math.nan)
    return math.nan


def _exponent_points(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Standardize the accepted input forms of :func:`fit_exponent` to flat (x, y) arrays."""
    if isinstance(x, Mapping):
        if y is not None:
            raise ValueError("give either a mapping {x: samples of y} or arrays x and y, not both")
        xs, ys = [], []
        for key, samples in x.items():
            xv = check_real(key, "x (a key of the mapping)")
            s = as_float_array(samples, f"y samples at x={key!r}").ravel()
            if s.size == 0:
                raise ValueError(f"no y samples at x={key!r}")
            xs.append(np.full(s.size, xv))
            ys.append(s)
        if not xs:
            raise ValueError("the mapping of samples is empty")
        return np.concatenate(xs), np.concatenate(ys)
    if y is None:
        raise ValueError("y is required unless x is a mapping {x: samples of y}")
    xa = as_float_array(x, "x", ndim=1)
    ya = as_float_array(y, "y", ndim=(1, 2))
    if ya.shape[0] != xa.shape[0]:
        raise ValueError(f"y must have {xa.shape[0]} rows (one per x), got shape {ya.shape}")
    if ya.ndim == 2:  # replicates along axis 1
        xa = np.repeat(xa, ya.shape[1])
        ya = ya.ravel()
    return xa, ya


def fit_exponent(x, y=None, confidence: float = 0.95) -> ExponentFit:
    """Fit ``y ~ C x^p`` by ordinary least squares of ``log y`` on ``log x``, with a t-interval on ``p``.

    Parameters
    ----------
    x : array_like, shape (n,), or mapping
        The x values (repeats allowed: replicates at the same x), or a mapping ``{x: samples of y}``.
    y : array_like, shape (n,) or (n, r), optional
        The y values; a 2-D array holds ``r`` replicates per x. Omitted when ``x`` is a mapping.
    confidence : float
        Confidence of the interval on the exponent.

    Returns
    -------
    ExponentFit

    Notes
    -----
    The model is ``log y_i = log C + p log x_i + e_i`` with i.i.d. centred normal ``e_i``; under it the
    interval ``p_hat +- t_{1-alpha/2, n-2} * se`` has exact coverage ``confidence``. Giving every replicate
    (e.g. one value per seed) rather than per-x means makes the interval reflect the seed-to-seed spread;
    a curve that is not a power law also widens it through the residuals. The fitted ``C`` is a geometric
    mean prefactor (the fit is of ``E[log y]``).

    Raises
    ------
    ValueError
        If any x or y is <= 0 (no logarithm), or fewer than 3 distinct x values are given (no interval).

    Examples
    --------
    >>> fit = fit_exponent([1, 4, 16], [2, 4, 8])
    >>> round(fit.exponent, 6), round(fit.prefactor, 6)
    (0.5, 2.0)
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    xa, ya = _exponent_points(x, y)
    if np.any(xa <= 0):
        raise ValueError(f"x must be > 0 for a log-log fit, found {xa[xa <= 0][0]:g}")
    if np.any(ya <= 0):
        bad = ya[ya <= 0][0]
        raise ValueError(f"y must be > 0 for a log-log fit, found {bad:g} (at x={xa[ya <= 0][0]:g}); "
                         "a power law cannot be fitted to non-positive values")
    n_x = int(np.unique(xa).size)
    if n_x < 3:
        raise ValueError(f"an exponent with a confidence interval needs at least 3 distinct x values, got {n_x}")
    lx, ly = np.log(xa), np.log(ya)
    n = lx.size
    mx, my = lx.mean(), ly.mean()
    sxx = float(np.sum((lx - mx) ** 2))
    slope = float(np.sum((lx - mx) * (ly - my)) / sxx)
    intercept = float(my - slope * mx)
    resid = ly - (intercept + slope * lx)
    ssr = float(resid @ resid)
    sst = float(np.sum((ly - my) ** 2))
    dof = n - 2
    stderr = math.sqrt(ssr / dof / sxx)
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * stderr
    r2 = 1.0 if ssr == 0.0 else (1.0 - ssr / sst if sst > 0 else math.nan)
    return ExponentFit(exponent=slope, ci_low=slope - half, ci_high=slope + half, stderr=stderr,
                       prefactor=math.exp(intercept), n_points=int(n), n_x=n_x, r2=r2,
                       confidence=confidence)


def describe(samples, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> Description:
    """Mean, standard deviation, standard error and quantiles of one cell's samples.

    Parameters
    ----------
    samples : array_like
        The samples (flattened); finite.
    quantiles : sequence of float
        Quantile levels in [0, 1].

    Returns
    -------
    Description
    """
    x = as_float_array(samples, "samples").ravel()
    if x.size == 0:
        raise ValueError("samples must hold at least one value")
    levels = tuple(check_real(q, "quantiles", minimum=0.0, maximum=1.0) for q in quantiles)
    n = int(x.size)
    std = float(np.std(x, ddof=1)) if n > 1 else math.nan
    qs = tuple(float(v) for v in np.quantile(x, levels)) if levels else ()
    return Description(n=n, mean=float(np.mean(x)), std=std, sem=std / math.sqrt(n) if n > 1 else math.nan,
                       levels=levels, quantiles=qs)


def mean_interval(samples, confidence: float = 0.95) -> Interval:
    """Student-t interval for the mean: ``mean +- t_{1-alpha/2, n-1} * std / sqrt(n)``.

    Exact for normal samples, asymptotically valid otherwise (central limit theorem). Needs ``n >= 2``.
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    x = as_float_array(samples, "samples").ravel()
    if x.size < 2:
        raise ValueError(f"a confidence interval for a mean needs at least 2 samples, got {x.size}")
    n = x.size
    mean = float(np.mean(x))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return Interval(mean - half, mean + half, mean, confidence)


def _groups(table: pd.DataFrame, by) -> Iterator[tuple[dict, pd.DataFrame]]:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise ValueError(f"by names columns that the table does not have: {missing}")
    if not by:
        yield {}, table
        return
    for key, group in table.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        yield {name: (v.item() if isinstance(v, np.generic) else v) for name, v in zip(by, key)}, group


def summarize(table: pd.DataFrame, value: str, *, by=None, bound: str | float | None = None,
              sense: str | None = None, gamma: float | None = None, trivial: float | None = None,
              confidence: float = 0.95, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
    """Per-group statistics of a sweep table: :func:`describe`, and when a bound is given,
    :func:`violation_summary` and :func:`tightness`.

    Parameters
    ----------
    table : DataFrame
        A sweep table (one row per draw).
    value : str
        The column holding the empirical quantity.
    by : str or list of str, optional
        Grouping columns (usually the grid's parameters); None = one group.
    bound : str or float, optional
        The column holding the bound (constant or per draw), or one number for all rows.
    sense, gamma, trivial, confidence
        As in :func:`violation_summary`; ``sense`` and ``gamma`` are required with ``bound``.
    quantiles : sequence of float
        Quantile levels for :func:`describe`.

    Returns
    -------
    DataFrame
        One row per group (first-appearance order): the ``by`` columns, ``n, mean, std, sem, q...``, and
        with a bound: ``bound`` (its mean over the group), ``violations, rate, ci_low, ci_high, p_value,
        verdict, tightness`` (NaN when the bound varies within the group).
    """
    if value not in table.columns:
        raise ValueError(f"value names a column that the table does not have: {value!r}")
    if bound is not None and (sense is None or gamma is None):
        raise ValueError("sense and gamma are required when a bound is given")
    if isinstance(bound, str) and bound not in table.columns:
        raise ValueError(f"bound names a column that the table does not have: {bound!r}")
    rows = []
    for key, group in _groups(table, by):
        emp = group[value].to_numpy(dtype=np.float64)
        row = dict(key)
        row.update(describe(emp, quantiles).to_dict())
        if bound is not None:
            b = group[bound].to_numpy(dtype=np.float64) if isinstance(bound, str) else np.float64(bound)
            s = violation_summary(emp, b, sense, gamma, confidence, trivial=trivial)
            constant = np.ndim(b) == 0 or bool(np.all(b == b.flat[0]))
            b0 = float(np.asarray(b).flat[0])
            row.update(bound=float(np.mean(b)), violations=s.violations, rate=s.rate, ci_low=s.ci_low,
                       ci_high=s.ci_high, p_value=s.p_value, verdict=s.verdict,
                       tightness=tightness(emp, b0, sense, gamma) if constant and np.isfinite(b0)
                       else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def fit_exponents(table: pd.DataFrame, x: str, y: str, *, by=None, predicted: float | None = None,
                  confidence: float = 0.95) -> pd.DataFrame:
    """Fit ``y ~ C x^p`` within each group of a sweep table, next to the predicted exponent.

    Every row is one point (replicates included), as in :func:`fit_exponent`.

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, ``exponent, ci_low, ci_high, stderr, prefactor, r2,
        n_points, n_x``, and with ``predicted``: ``predicted`` and ``consistent`` (predicted inside the CI).
    """
    for col, name in ((x, "x"), (y, "y")):
        if col not in table.columns:
            raise ValueError(f"{name} names a column that the table does not have: {col!r}")
    rows = []
    for key, group in _groups(table, by):
        try:
            fit = fit_exponent(group[x].to_numpy(dtype=np.float64), group[y].to_numpy(dtype=np.float64),
                               confidence)
        except ValueError as exc:
            raise ValueError(f"group {key}: {exc}") from exc
        row = dict(key)
        row.update(exponent=fit.exponent, ci_low=fit.ci_low, ci_high=fit.ci_high, stderr=fit.stderr,
                   prefactor=fit.prefactor, r2=fit.r2, n_points=fit.n_points, n_x=fit.n_x)
        if predicted is not None:
            row.update(predicted=float(predicted), consistent=fit.contains(predicted))
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# Grids, coordinates and seeds
# --------------------------------------------------------------------------------------------------------

def _canonical_scalar(value, where: str, *, allow_none: bool = True, allow_nonfinite: bool = True):
    """Return ``value`` as a plain JSON scalar (None, bool, int, float, str) or raise TypeError."""
    if value is None or value is pd.NA or value is pd.NaT:
        if not allow_none:
            raise TypeError(f"{where} must not be None")
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not allow_nonfinite and not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value}")
        return value
    if isinstance(value, str):
        return value
    raise TypeError(f"{where} must be a scalar (int, float, str, bool or None), got "
                    f"{type(value).__name__}: {value!r}")


def _canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _canonical_coords(coords: Mapping) -> dict:
    if not isinstance(coords, Mapping):
        raise TypeError(f"coords must be a mapping of parameter name to value, got {type(coords).__name__}")
    out = {}
    for name, value in coords.items():
        if not isinstance(name, str):
            raise TypeError(f"parameter names must be strings, got {name!r}")
        out[name] = _canonical_scalar(value, f"coordinate {name!r}", allow_none=False, allow_nonfinite=False)
    return out


def coords_key(coords: Mapping) -> str:
    """A stable identifier of a cell: the SHA-256 (hex, 32 characters) of its canonical coordinates.

    The canonical form is the JSON of the coordinates with sorted names, so it does not depend on the
    order of the parameters, on the process or on ``PYTHONHASHSEED``. ``1`` and ``1.0`` are different
    coordinates.
    """
    text = _canonical_json(_canonical_coords(coords))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Grid:
    """The cartesian product of parameter values, in a stable order.

    Parameters
    ----------
    params : mapping of str to sequence
        Parameter name -> list of values (int, float, str or bool; finite; no duplicates). The order of the
        names and of the values is kept: the last parameter varies fastest, as in
        :func:`itertools.product`.

    Examples
    --------
    >>> g = Grid({"d": [25, 100], "C0": [0.5, 1.0]})
    >>> len(g), g[1]
    (4, {'d': 25, 'C0': 1.0})
    """

    __slots__ = ("_names", "_values")

    def __init__(self, params: Mapping[str, Sequence]):
        if isinstance(params, Grid):
            self._names, self._values = params._names, params._values
            return
        if not isinstance(params, Mapping):
            raise TypeError(f"grid must be a mapping of parameter name to a list of values, "
                            f"got {type(params).__name__}")
        names, values = [], []
        for name, vals in params.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"grid parameter names must be non-empty strings, got {name!r}")
            if isinstance(vals, (str, bytes)) or not isinstance(vals, (Sequence, np.ndarray, range)):
                raise TypeError(f"grid[{name!r}] must be a list of values (write [{vals!r}] for a single "
                                f"value), got {type(vals).__name__}")
            canon = tuple(_canonical_scalar(v, f"grid[{name!r}] value", allow_none=False,
                                            allow_nonfinite=False) for v in vals)
            if not canon:
                raise ValueError(f"grid[{name!r}] must hold at least one value")
            seen = [_canonical_json(v) for v in canon]
            if len(set(seen)) != len(seen):
                raise ValueError(f"grid[{name!r}] holds duplicate values: {list(canon)}")
            names.append(name)
            values.append(canon)
        self._names = tuple(names)
        self._values = tuple(values)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return self._names

    def to_dict(self) -> dict[str, list]:
        """``{name: [values]}`` (plain JSON types)."""
        return {n: list(v) for n, v in zip(self._names, self._values)}

    def __len__(self) -> int:
        return math.prod(len(v) for v in self._values)

    def __iter__(self) -> Iterator[dict]:
        for combo in itertools.product(*self._values):
            yield dict(zip(self._names, combo))

    def __getitem__(self, i: int) -> dict:
        i = check_int(i, "index")
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"cell index {i} out of range for a grid of {n} cells")
        combo = []
        for vals in reversed(self._values):
            i, r = divmod(i, len(vals))
            combo.append(vals[r])
        return dict(zip(self._names, reversed(combo)))

    def index(self, coords: Mapping) -> int:
        """The position of a cell in grid order."""
        coords = _canonical_coords(coords)
        if set(coords) != set(self._names):
            raise KeyError(f"coords {coords} do not name this grid's parameters {list(self._names)}")
        i = 0
        for name, vals in zip(self._names, self._values):
            target = _canonical_json(coords[name])
            for j, v in enumerate(vals):
                if _canonical_json(v) == target:
                    break
            else:
                raise KeyError(f"{name}={coords[name]!r} is not in the grid")
            i = i * len(vals) + j
        return i

    def __eq__(self, other) -> bool:
        return isinstance(other, Grid) and self.to_dict() == other.to_dict() and self._names == other._names

    def __hash__(self) -> int:
        return hash(_canonical_json(self.to_dict()))

    def __repr__(self) -> str:
        return f"Grid({self.to_dict()!r})"


_SEED_DOMAIN = b"boundcheck.cell_seed.v1\n"


def _check_sweep_seed(seed) -> np.random.SeedSequence:
    if seed is None:
        raise TypeError("a sweep needs an explicit seed (an int >= 0 or a numpy SeedSequence), so that it "
                        "can be reproduced and resumed; seed=None is refused")
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int >= 0 or a numpy SeedSequence, got {type(seed).__name__}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence(int(seed))


def _seed_descriptor(seed) -> int | dict:
    """A JSON description of the sweep seed (stored in the manifest and in every cell)."""
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": seed.entropy, "spawn_key": [int(k) for k in seed.spawn_key]}
    return int(seed)


def cell_seed(sweep_seed, coords: Mapping) -> np.random.SeedSequence:
    """The seed of one cell, from the sweep seed and the cell's coordinates alone.

    Parameters
    ----------
    sweep_seed : int or numpy.random.SeedSequence
        The sweep's seed.
    coords : mapping
        The cell's coordinates ``{name: value}``; the order of the names does not matter.

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(entropy=sweep entropy, spawn_key=sweep spawn_key + words)``, where ``words`` are the
        eight 32-bit words of ``SHA-256(domain tag + canonical JSON of the sorted coordinates)``.

    Notes
    -----
    The seed does not depend on the grid the cell belongs to, the order of cells, the worker, the process
    or ``PYTHONHASHSEED`` (Python's ``hash()`` is not used). Adding values to a grid therefore leaves the
    existing cells' draws unchanged. Changing this scheme would change every stored result: it is
    versioned by its domain tag.
    """
    ss = _check_sweep_seed(sweep_seed)
    text = _canonical_json(_canonical_coords(coords))
    digest = hashlib.sha256(_SEED_DOMAIN + text.encode()).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 32, 4))
    return np.random.SeedSequence(entropy=ss.entropy, spawn_key=tuple(ss.spawn_key) + words,
                                  pool_size=ss.pool_size)


# --------------------------------------------------------------------------------------------------------
# Canonical results (the one form that is stored, pickled back from workers and turned into the table)
# --------------------------------------------------------------------------------------------------------

def _canonical_result(result, coords_names: Sequence[str] = ()) -> dict:
    """``{"kind": "row"|"frame", "columns": [...], "data": [[...], ...]}`` of plain JSON scalars."""
    if isinstance(result, pd.DataFrame):
        columns = list(result.columns)
        for c in columns:
            if not isinstance(c, str):
                raise TypeError(f"result columns must be strings, got {c!r}")
        if len(set(columns)) != len(columns):
            raise ValueError(f"result has duplicate columns: {columns}")
        cols = [[_canonical_scalar(v, f"result column {c!r}") for v in result[c].tolist()] for c in columns]
        data = [list(row) for row in zip(*cols)] if columns else [[] for _ in range(len(result))]
        kind = "frame"
    elif isinstance(result, Mapping):
        columns = []
        row = []
        for c, v in result.items():
            if not isinstance(c, str):
                raise TypeError(f"result keys must be strings, got {c!r}")
            if isinstance(v, (list, tuple, np.ndarray)) and np.ndim(v) > 0:
                raise TypeError(f"result[{c!r}] is an array; a dict result holds one scalar per key "
                                "(return a pandas DataFrame for several rows)")
            columns.append(c)
            row.append(_canonical_scalar(v, f"result[{c!r}]"))
        data = [row]
        kind = "row"
    else:
        raise TypeError("cell_fn must return a dict of scalars or a pandas DataFrame, got "
                        f"{type(result).__name__}")
    clash = sorted(set(columns) & set(coords_names))
    if clash:
        raise ValueError(f"result columns {clash} clash with the grid's coordinate names; the engine adds "
                         "the coordinates itself")
    return {"kind": kind, "columns": columns, "data": data}


def _result_object(canonical: Mapping):
    """The user-facing form of a canonical result: a dict for a row, a DataFrame for a frame."""
    if canonical["kind"] == "row":
        return dict(zip(canonical["columns"], canonical["data"][0]))
    return pd.DataFrame([dict(zip(canonical["columns"], r)) for r in canonical["data"]],
                        columns=canonical["columns"])


def _assemble(grid: Grid, results: Mapping[str, Mapping]) -> pd.DataFrame:
    """The sweep table: coordinates then result columns, cells in grid order, rows in cell order.

    ``results`` maps :func:`coords_key` to canonical results; cells without a result are left out.
    """
    names = list(grid.names)
    columns = list(names)
    seen = set(columns)
    records = []
    for coords in grid:
        res = results.get(coords_key(coords))
        if res is None:
            continue
        for c in res["columns"]:
            if c not in seen:
                seen.add(c)
                columns.append(c)
        for row in res["data"]:
            rec = dict(coords)
            rec.update(zip(res["columns"], row))
            records.append(rec)
    if not records:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame.from_records(records, columns=columns)


# --------------------------------------------------------------------------------------------------------
# Running cells
# --------------------------------------------------------------------------------------------------------

class SweepCellError(RuntimeError):
    """A cell function raised; ``coords`` names the cell, the original exception is the ``__cause__``."""

    def __init__(self, message: str, coords: Mapping):
        super().__init__(message)
        self.coords = dict(coords)

    def __reduce__(self):
        return (type(self), (self.args[0], self.coords))


@contextlib.contextmanager
def _thread_limits(threads: int | None):
    """Limit BLAS/OpenMP (threadpoolctl) and Numba threads to ``threads`` in this block, then restore.

    threadpoolctl limits are process-wide; Numba's are per calling thread. ``None`` changes nothing.
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency
            yield
            return
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            numba.set_num_threads(previous)


def _run_cell(cell_fn: Callable, coords: dict, seed: np.random.SeedSequence, threads: int | None):
    """Run one cell (in any process); return ``(canonical result, elapsed seconds)``."""
    start = time.perf_counter()
    with _thread_limits(threads):
        try:
            result = cell_fn(dict(coords), np.random.default_rng(seed))
            canonical = _canonical_result(result, tuple(coords))
        except Exception as exc:
            raise SweepCellError(f"cell {coords} failed: {type(exc).__name__}: {exc}", coords) from exc
    return canonical, time.perf_counter() - start


_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")


def _exit_when_orphaned(parent_pid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:  # the sweep process died (e.g. SIGKILL): do not linger
            os._exit(70)


def _worker_init(threads: int | None, parent_pid: int | None = None) -> None:
    """Process-pool initializer: cap the thread pools of libraries that the worker has not loaded yet, and
    exit when the sweep process dies (a killed parent would otherwise leave its workers waiting forever)."""
    if threads is not None:
        for var in _THREAD_ENV:
            os.environ[var] = str(threads)
    if parent_pid is not None and os.name == "posix":
        import threading

        threading.Thread(target=_exit_when_orphaned, args=(parent_pid, 0.5), daemon=True,
                         name="boundcheck-orphan-watch").start()


def _callable_name(fn, *, module: bool = True) -> str:
    """``module:qualname`` of a function (``qualname`` alone with ``module=False``)."""
    base = getattr(fn, "func", fn)  # functools.partial
    name = getattr(base, "__qualname__", type(base).__name__)
    if module:
        name = f"{getattr(base, '__module__', '?')}:{name}"
    return name + ("(partial)" if base is not fn else "")


def run_sweep(cell_fn: Callable, grid, *, seed, store=None, workers: int = 1, scheduler=None,
              progress: bool = True, threads_per_worker: int | None = 1, config: Mapping | None = None,
              overwrite: bool = False) -> pd.DataFrame:
    """Run ``cell_fn`` on every cell of ``grid`` and return the tidy table of results.

    Parameters
    ----------
    cell_fn : callable
        ``cell_fn(coords: dict, rng: numpy.random.Generator) -> dict | DataFrame``. A dict of scalars is one
        row; a DataFrame is several rows (e.g. one per init and point; its index is dropped). Result
        columns must not reuse the coordinate names. Must be picklable (a module-level function) when
        ``workers > 1`` or with a process-based Dask cluster. It must draw all its randomness from ``rng``.
    grid : Grid or mapping of str to sequence
        The parameter grid.
    seed : int or numpy.random.SeedSequence
        The sweep seed (required: see :func:`cell_seed`).
    store : ResultStore or str or path-like, optional
        Where finished cells are written, one file each, atomically. Cells already in the store are not
        run again, so rerunning an interrupted sweep with the same arguments resumes it.
    workers : int
        1 (default) runs the cells in this process. More uses that many local worker processes
        (:class:`concurrent.futures.ProcessPoolExecutor`, spawn start method). With ``scheduler="local"``,
        the number of Dask workers; ignored for an existing cluster.
    scheduler : None, "local", str or distributed.Client
        None: local processes as above. ``"local"``: a ``distributed.LocalCluster`` of ``workers``
        single-threaded worker processes, closed at the end. Any other string: the address of a running
        Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``). A ``distributed.Client``: used as is, not closed.
        Dask is optional (``pip install boundcheck[dask]``).
    progress : bool
        Show a progress bar (cells done / total, time left) on stderr. False for scripts.
    threads_per_worker : int or None
        BLAS/OpenMP and Numba threads allowed inside each cell (threadpoolctl and
        :func:`numba.set_num_threads`, restored afterwards), so that ``workers x threads`` does not
        oversubscribe the cores. None leaves the libraries alone.
    config : mapping, optional
        Anything else that determines the results (e.g. the study's fixed settings), as JSON-able values.
        Stored in the manifest and in every cell; resuming with a different ``config``, ``seed`` or
        ``cell_fn`` name (its qualified name; the module may differ, e.g. ``__main__``) is refused unless
        ``overwrite=True``.
    overwrite : bool
        With a store holding a different configuration: discard its cells and start afresh.

    Returns
    -------
    DataFrame
        The coordinate columns (in grid order), then the result columns (in order of first appearance);
        one block of rows per cell, in grid order. The index is a fresh ``RangeIndex``.

    Raises
    ------
    SweepCellError
        When a cell function raises (its exception is the ``__cause__``). Cells finished before are kept in
        the store.

    Notes
    -----
    The table does not depend on ``workers``, ``scheduler``, the order of completion, or on interruptions;
    with BLAS-heavy cells it may depend on ``threads_per_worker`` in the last bits (see the module's notes
    on determinism). Results come back to this process, which alone writes the store, so a remote cluster
    needs no shared file system. With a Dask cluster, run one thread per worker process
    (``dask worker --nthreads 1``): threadpoolctl's limits are process-wide.

    Worker processes started here exit on their own if this process is killed (they watch their parent),
    and a killed sweep resumes with the same call.

    The store is locked while the sweep runs (POSIX), so that two sweeps cannot write it at once.
    """
    if not callable(cell_fn):
        raise TypeError(f"cell_fn must be callable, got {type(cell_fn).__name__}")
    grid = grid if isinstance(grid, Grid) else Grid(grid)
    sweep_seed = _check_sweep_seed(seed)
    workers = check_int(workers, "workers", minimum=1)
    threads = None if threads_per_worker is None else check_int(threads_per_worker, "threads_per_worker",
                                                                  minimum=1)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    try:
        user_config = json.loads(_canonical_json(dict(config or {})))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config must be a mapping of JSON-serializable values: {exc}") from None
    # The module is left out of the compared config: a study run as a script (__main__) and imported
    # (studies.x) is the same sweep. It is recorded with the run information instead.
    sweep_config = {"seed": _seed_descriptor(seed), "cell_fn": _callable_name(cell_fn, module=False),
                    "config": user_config}

    if store is not None:
        from .store import ResultStore

        if not isinstance(store, ResultStore):
            store = ResultStore(store)

    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        if store is not None:
            stack.enter_context(store.lock())
            runner = ("dask" if scheduler is not None else "processes" if workers > 1 else "in-process")
            store.start(sweep_config, grid=grid, overwrite=overwrite,
                        run={"threads_per_worker": threads, "workers": workers, "runner": runner,
                             "cell_fn": _callable_name(cell_fn)})
        pending = []
        for coords in grid:
            key = coords_key(coords)
            if store is not None and store.has(coords):
                results[key] = store.load(coords).result
            else:
                pending.append(coords)

        from tqdm import tqdm

        bar = stack.enter_context(tqdm(total=len(grid), initial=len(grid) - len(pending), unit="cell",
                                       desc="sweep", disable=not progress, dynamic_ncols=True))

        def finish(coords, canonical, elapsed, ss, where):
            if store is not None:
                store.save(coords, canonical, {
                    "sweep_seed": sweep_config["seed"],
                    "cell_seed": {"entropy": ss.entropy, "spawn_key": [int(k) for k in ss.spawn_key]},
                    "elapsed_s": elapsed, "runner": where, "threads_per_worker": threads,
                }, canonical=True)
            results[coords_key(coords)] = canonical
            bar.update(1)

        jobs = [(coords, cell_seed(sweep_seed, coords)) for coords in pending]
        if not jobs:
            pass
        elif scheduler is not None:
            _run_dask(cell_fn, jobs, threads, scheduler, workers, finish)
        elif workers == 1:
            for coords, ss in jobs:
                canonical, elapsed = _run_cell(cell_fn, coords, ss, threads)
                finish(coords, canonical, elapsed, ss, "in-process")
        else:
            _run_pool(cell_fn, jobs, threads, workers, finish)
    return _assemble(grid, results)


def _check_picklable(cell_fn) -> None:
    try:
        pickle.dumps(cell_fn)
    except Exception as exc:
        raise TypeError("cell_fn must be picklable to run in worker processes: define it at module level "
                        f"(not a lambda or a nested function) and import it from a module ({exc})") from None


def _run_pool(cell_fn, jobs, threads, workers, finish) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    _check_picklable(cell_fn)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                               initializer=_worker_init, initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(_run_cell, cell_fn, coords, ss, threads): (coords, ss) for coords, ss in jobs}
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in done:
                coords, ss = futures[fut]
                canonical, elapsed = fut.result()
                finish(coords, canonical, elapsed, ss, "process")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown(wait=True)


def _run_dask(cell_fn, jobs, threads, scheduler, workers, finish) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ImportError("scheduler= needs Dask's distributed scheduler: pip install 'dask[distributed]' "
                          "(or boundcheck[dask])") from None
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler == "local":
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        elif isinstance(scheduler, str):
            client = stack.enter_context(Client(scheduler))
        else:
            raise TypeError("scheduler must be None, 'local', a scheduler address or a distributed.Client, "
                            f"got {type(scheduler).__name__}")
        token = uuid.uuid4().hex[:8]
        futures, meta = [], {}
        for coords, ss in jobs:
            fut = client.submit(_run_cell, cell_fn, coords, ss, threads, pure=False,
                                key=f"boundcheck-cell-{coords_key(coords)[:12]}-{token}")
            futures.append(fut)
            meta[fut.key] = (coords, ss)
        try:
            for fut in as_completed(futures):
                coords, ss = meta[fut.key]
                canonical, elapsed = fut.result()
                finish(coords, canonical, elapsed, ss, "dask")
        except BaseException:
            client.cancel(futures)
            raise
