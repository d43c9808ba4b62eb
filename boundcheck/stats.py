"""The statistics that judge a bound (pure functions of arrays).

- :func:`clopper_pearson` -- the exact binomial interval, vectorized;
- :func:`excess_test` -- the exact one-sided binomial test of "failure rate <= p" on k of n crossings, with
  the smallest count that would reject (what the test could have detected); the primitive of every
  verdict on a bound (:mod:`boundcheck.checks` builds the verdicts on it);
- :func:`violation_summary` -- how often an empirical worst case crosses a bound, with its exact interval
  against the allowed failure rate ``gamma``, and a verdict;
- :func:`tightness` -- the bound over the empirical ``(1 - gamma)``-quantile (or the reverse for lower
  bounds);
- :func:`fit_exponent` -- a log-log least-squares fit ``y ~ C x^p`` with a t-interval on ``p``;
- :func:`describe`, :func:`mean_interval`, :func:`summary_columns` -- per-cell summaries;
- :func:`exponent_row` -- :func:`fit_exponent` as one table row that a failed fit does not break;
- :func:`level_crossing` -- where a curve sampled on a grid first crosses a level;
- :func:`quantile_upper_limit` -- an empirical quantile with a distribution-free upper confidence limit;
- :func:`compare_proportions` -- is one measured proportion above another (disjoint exact intervals)?
- :func:`summarize`, :func:`fit_exponents` -- the same, applied group by group to a sweep table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validate import as_float_array, check_choice, check_real

__all__ = [
    "Interval",
    "ViolationSummary",
    "ExponentFit",
    "Description",
    "clopper_pearson",
    "ExcessTest",
    "excess_test",
    "violation_summary",
    "tightness",
    "fit_exponent",
    "describe",
    "mean_interval",
    "summary_columns",
    "exponent_row",
    "level_crossing",
    "quantile_upper_limit",
    "compare_proportions",
    "summarize",
    "fit_exponents",
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

    @property
    def direction(self) -> str:
        """The verdict engine's name for ``sense``."""
        return self.sense

    @property
    def failure_probability(self) -> float:
        """The verdict engine's name for ``gamma``."""
        return self.gamma


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


@dataclass(frozen=True)
class ExcessTest:
    """The exact one-sided binomial test of H0 "the failure rate is at most p" on ``k`` of ``n`` crossings.

    Attributes
    ----------
    successes, trials : int
        ``k`` crossings among ``n`` independent draws.
    failure_probability : float
        ``p``, the failure probability the bound allows (0 for a sure bound).
    confidence : float
        The two-sided Clopper-Pearson confidence the test matches; the one-sided level is
        ``(1 - confidence) / 2``.
    level : float
        ``(1 - confidence) / 2``.
    p_value : float
        ``P(Binomial(n, p) >= k)`` (``scipy.stats.binomtest(k, n, p, alternative="greater").pvalue``);
        1 when ``k = 0``, 0 when ``p = 0 < k``.
    significant : bool
        ``p_value < level``: the excess of crossings over ``p`` is significant (equivalently the
        Clopper-Pearson lower limit exceeds ``p``, up to floating-point rounding at the boundary).
    min_count : int or None
        The smallest ``k`` that would be significant with these ``n`` and ``p`` (None when not even
        ``k = n`` would: the test has no power at these settings).
    """

    successes: int
    trials: int
    failure_probability: float
    confidence: float
    level: float
    p_value: float
    significant: bool
    min_count: int | None

    @property
    def has_power(self) -> bool:
        """Whether some outcome (at most ``n`` crossings) could have been significant."""
        return self.min_count is not None

    @property
    def min_detectable_rate(self) -> float:
        """``min_count / n``: the smallest observed crossing rate that reads as significant (inf: none)."""
        return math.inf if self.min_count is None else self.min_count / self.trials


def excess_test(k, n, failure_probability, confidence: float = 0.95) -> ExcessTest:
    """Exact one-sided binomial test of "failure rate <= ``failure_probability``" on ``k`` of ``n`` draws.

    Parameters
    ----------
    k : int
        Number of draws on the wrong side of the bound (definite crossings), ``0 <= k <= n``.
    n : int
        Number of independent draws, ``n >= 1``.
    failure_probability : float
        The rate the bound allows, in [0, 1]. 0 (a sure bound): any crossing is significant.
    confidence : float
        The test rejects at one-sided level ``(1 - confidence) / 2``, the level at which the two-sided
        Clopper-Pearson interval of the same confidence excludes ``failure_probability`` from above.

    Returns
    -------
    ExcessTest

    Examples
    --------
    >>> t = excess_test(3, 100, 0.0)
    >>> t.significant, t.min_count
    (True, 1)
    >>> t = excess_test(0, 2, 0.5)          # even 2 of 2 would not be significant at 2.5%
    >>> t.has_power
    False
    """
    from scipy import stats

    confidence = _check_confidence(confidence)
    p = check_real(failure_probability, "failure_probability", minimum=0.0, maximum=1.0)
    n = int(_as_int_array(n, "n"))
    k = int(_as_int_array(k, "k"))
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must satisfy 0 <= k <= n, got k={k}, n={n}")
    level = (1.0 - confidence) / 2.0
    p_value = 1.0 if k == 0 else float(stats.binom.sf(k - 1, n, p))
    # P(Bin(n, p) >= j) is non-increasing in j: bisect for the first j >= 1 whose tail is below the level
    if not stats.binom.sf(n - 1, n, p) < level:
        min_count = None
    else:
        lo, hi = 1, n                      # tail(hi) < level; find the smallest such j in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if stats.binom.sf(mid - 1, n, p) < level:
                hi = mid
            else:
                lo = mid + 1
        min_count = lo
    return ExcessTest(successes=k, trials=n, failure_probability=p, confidence=confidence, level=level,
                      p_value=p_value, significant=bool(p_value < level), min_count=min_count)


def violation_summary(empirical, bound, sense: str | None = None, gamma: float | None = None,
                      confidence: float = 0.95, *, trivial: float | None = None, direction: str | None = None,
                      failure_probability: float | None = None) -> ViolationSummary:
    """Count how often ``empirical`` crosses ``bound`` and judge the rate against ``gamma``.

    This is the exact-value case of :func:`boundcheck.checks.compare_to_bound`, the verdict engine the
    studies use (same test, :func:`excess_test`). The vocabulary maps one to one: ``sense`` is the bound's
    ``direction``, ``gamma`` its ``failure_probability``, and ``trivial`` decides ``vacuous``. Values that
    are certified from one side only, or found by a heuristic, need ``compare_to_bound`` (its outcomes
    include ``undecided``, ``outside hypothesis`` and ``no power``).

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
    direction, failure_probability : optional
        The verdict engine's names for ``sense`` and ``gamma`` (give one name of each pair, not both).

    Returns
    -------
    ViolationSummary

    Notes
    -----
    The verdict is decided in this order:

    1. ``"violated"`` when the exact one-sided binomial test of H0 "failure probability <= gamma"
       (:func:`excess_test`) rejects at level ``(1 - confidence) / 2`` (``p_value < (1 - confidence) / 2``):
       the observed excess of violations over the allowed rate is statistically significant. Equivalently,
       the Clopper-Pearson lower limit ``ci_low`` exceeds ``gamma``. A violated bound is a finding and is
       never hidden behind "vacuous".
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
    if direction is not None:
        if sense is not None:
            raise TypeError("give sense or direction (the same thing), not both")
        sense = direction
    if failure_probability is not None:
        if gamma is not None:
            raise TypeError("give gamma or failure_probability (the same thing), not both")
        gamma = failure_probability
    if sense is None or gamma is None:
        raise TypeError("violation_summary needs the bound's direction (sense) and failure probability (gamma)")
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
    test = excess_test(k, n, gamma, confidence)
    p_value = test.p_value
    if test.significant:
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


_QUANTILE_FIELD = re.compile(r"q(\d\d)")


def summary_columns(prefix: str, values, fields: Sequence[str], *, confidence: float = 0.95) -> dict[str, float]:
    """Named statistics of the finite values of one cell, as the columns of a table row.

    Non-finite values are left out first. A statistic that needs more values than there are is NaN (never
    an error), so that a cell whose points all failed still gives a complete row.

    Parameters
    ----------
    prefix : str
        Column names are ``f"{prefix}_{name}"``.
    values : array_like
        The samples (flattened).
    fields : sequence of str
        In the order of the columns: ``"mean"``; ``"std"`` (``ddof=1``, needs 2 values); ``"median"``;
        ``"ci"`` -- two columns ``ci_low, ci_high``, the :func:`mean_interval` at ``confidence`` (needs 2
        values); ``"qNN"`` (two digits) -- the ``NN/100`` quantile (numpy's linear interpolation, as is the
        median).
    confidence : float
        Level of the ``"ci"`` interval.

    Returns
    -------
    dict
        ``{prefix_field: float}`` in the order of ``fields``.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    fields = [fields] if isinstance(fields, str) else list(fields)
    levels = {}
    for name in fields:
        match = _QUANTILE_FIELD.fullmatch(name) if isinstance(name, str) else None
        if match:
            levels[name] = int(match.group(1)) / 100
        elif name == "median":
            levels[name] = 0.5
        elif name not in ("mean", "std", "ci"):
            raise ValueError(f"fields: unknown statistic {name!r}; expected 'mean', 'std', 'median', 'ci' or "
                             "'qNN' (a quantile, two digits)")
    confidence = _check_confidence(confidence)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    quantiles = dict(zip(levels, np.quantile(v, list(levels.values())))) if v.size and levels else {}
    out: dict[str, float] = {}
    for name in fields:
        if name == "mean":
            out[f"{prefix}_mean"] = float(v.mean()) if v.size else math.nan
        elif name == "std":
            out[f"{prefix}_std"] = float(v.std(ddof=1)) if v.size > 1 else math.nan
        elif name == "ci":
            ci = mean_interval(v, confidence) if v.size > 1 else None
            out[f"{prefix}_ci_low"] = float(ci.low) if ci else math.nan
            out[f"{prefix}_ci_high"] = float(ci.high) if ci else math.nan
        else:
            out[f"{prefix}_{name}"] = float(quantiles[name]) if quantiles else math.nan
    return out


def exponent_row(x, y, predicted: float | None = None, *, confidence: float = 0.95,
                 refused: str | None = None) -> dict:
    """:func:`fit_exponent` of ``y ~ C x^p`` as one table row, with the reason in ``note`` when it cannot fit.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        As for :func:`fit_exponent` (positive values, two distinct x at least).
    predicted : float, optional
        The exponent theory predicts; ``consistent`` says whether it is inside the interval.
    confidence : float
        Level of the exponent's interval.
    refused : str, optional
        The caller's reason not to fit these points (e.g. values that are 0 to rounding); the row is then
        the row of a failed fit with this note.

    Returns
    -------
    dict
        ``exponent, ci_low, ci_high, r2, n_points, consistent, note``: a failed (or refused) fit gives NaN
        numbers, ``n_points = len(y)``, ``consistent = False`` and the error in ``note``; a fit gives
        ``note = ""`` and ``consistent = None`` when nothing is predicted.
    """
    try:
        if refused is not None:
            raise ValueError(refused)
        fit = fit_exponent(np.asarray(x, float), np.asarray(y, float), confidence)
    except ValueError as exc:
        return dict(exponent=math.nan, ci_low=math.nan, ci_high=math.nan, r2=math.nan, n_points=len(y),
                    consistent=False, note=str(exc))
    return dict(exponent=fit.exponent, ci_low=fit.ci_low, ci_high=fit.ci_high, r2=fit.r2, n_points=fit.n_points,
                consistent=fit.contains(predicted) if predicted is not None else None, note="")


def level_crossing(x, y, level: float = 0.5, *, log_x: bool = False, falling: bool = True) -> float:
    """The first x at which a curve sampled at points ``(x, y)`` crosses ``level``, by linear interpolation.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        The curve's points, in any order (sorted by x here).
    level : float
        The level.
    log_x : bool
        Interpolate in ``log x`` (x positive) instead of x.
    falling : bool
        True: the first step from ``y >= level`` to ``y < level``; False: from ``y < level`` to ``y >= level``.

    Returns
    -------
    float
        The interpolated x of the first such step; NaN when the curve does not cross within the grid.
    """
    x = as_float_array(x, "x", ndim=1)
    y = as_float_array(y, "y", ndim=1, allow_nonfinite=True)
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    level = check_real(level, "level")
    if log_x and np.any(x <= 0):
        raise ValueError("x must be positive with log_x=True")
    order = np.argsort(x)
    x, y = x[order], y[order]
    t = np.log(x) if log_x else x
    above = y >= level if falling else y < level
    for i in range(len(x) - 1):
        if above[i] and not above[i + 1]:
            y0, y1 = y[i], y[i + 1]
            frac = 0.0 if y1 == y0 else (y0 - level) / (y0 - y1)
            ti = t[i] + frac * (t[i + 1] - t[i])
            return float(np.exp(ti) if log_x else ti)
    return math.nan


def quantile_upper_limit(values, q: float, confidence: float = 0.975) -> tuple[float, float]:
    """The empirical ``q``-quantile of i.i.d. draws and a distribution-free upper confidence limit for the
    true one.

    The limit is the order statistic ``X_(k)`` with the smallest ``k`` such that ``P(Binomial(n, q) <= k - 1)
    >= confidence``; then ``P(X_(k) >= xi_q) >= confidence`` for a continuous law (exactly
    ``P(Binomial(n, q) <= k - 1)``).

    Parameters
    ----------
    values : array_like
        The draws (flattened); ``+inf`` allowed (e.g. a step that never flips), NaN not.
    q : float
        The quantile level, in (0, 1).
    confidence : float
        One-sided level of the upper limit, in (0, 1).

    Returns
    -------
    (float, float)
        The empirical quantile (numpy's ``inverted_cdf``: an order statistic) and the upper limit; the
        limit is ``+inf`` when even ``X_(n)`` does not reach the confidence (too few draws) or when the
        order statistic is infinite.
    """
    from scipy.stats import binom

    v = as_float_array(values, "values", allow_nonfinite=True).ravel()
    if v.size == 0:
        raise ValueError("values must hold at least one draw")
    if np.isnan(v).any():
        raise ValueError("values must not hold NaN")
    q = check_real(q, "q", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)
    confidence = _check_confidence(confidence)
    v = np.sort(v)
    n = v.size
    estimate = float(np.quantile(v, q, method="inverted_cdf"))
    k = int(binom.ppf(confidence, n, q)) + 1
    upper = float(v[k - 1]) if k <= n and binom.cdf(k - 1, n, q) >= confidence else math.inf
    return estimate, upper


def compare_proportions(rate_a, n_a: int, rate_b, n_b: int, confidence: float = 0.95) -> tuple[str, Interval, Interval]:
    """Is the proportion measured as ``rate_a`` on ``n_a`` independent points above the one measured as
    ``rate_b`` on ``n_b``? By disjoint :func:`clopper_pearson` intervals (conservative).

    Parameters
    ----------
    rate_a, rate_b : float
        Proportions in [0, 1] (e.g. accuracies), each ``k / n`` for a count ``k`` recovered by rounding.
    n_a, n_b : int
        The numbers of points, >= 1.
    confidence : float
        Level of each interval.

    Returns
    -------
    (str, Interval, Interval)
        ``"higher"`` when a's interval lies wholly above b's, ``"lower"`` when wholly below, else
        ``"indistinguishable"``; and the two intervals.
    """
    intervals = []
    for rate, n, name in ((rate_a, n_a, "a"), (rate_b, n_b, "b")):
        rate = check_real(rate, f"rate_{name}", minimum=0.0, maximum=1.0)
        n = int(_as_int_array(n, f"n_{name}"))
        if n < 1:
            raise ValueError(f"n_{name} must be >= 1, got {n}")
        intervals.append(clopper_pearson(int(round(rate * n)), n, confidence))
    a, b = intervals
    if a.low > b.high:
        return "higher", a, b
    if a.high < b.low:
        return "lower", a, b
    return "indistinguishable", a, b


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
