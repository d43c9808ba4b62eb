"""The minimal l2 adversarial perturbation of a two-layer ReLU network, sandwiched per (init, point).

The paper's open questions (Wang et al. 2022, section 6; theory sections 10.1 and 10.5): how much
smaller than the one-step flip of Theorem 3.1 is the smallest perturbation that changes the prediction?
For ``f(x) != 0`` let ``s = sign f(x)``; the **minimal perturbation** is

    delta_min(x) = min { ||delta|| : s * f(x + delta) <= 0 },

the distance from x to the decision boundary or beyond it (the closed target of the robust loss
``sup 1{y f(x + delta) <= 0}``, theory section 4); ``delta_min = 0`` when ``f(x) = 0``. Nobody computes it
exactly for wide networks, so every value here is a bound with a label (as in :mod:`boundcheck.lazy`):

``"heuristic"`` (upper bounds)
    the norm of a perturbation that was checked to reach the target: the one-step ``delta*``
    (:func:`boundcheck.attacks.min_flip_step`), a decoupled-direction-and-norm attack
    (:func:`ddn_attack`), PGD-l2 with a search over eps (:func:`pgd_search`), and the exact line scan along
    the optimal direction of a linear region (:func:`region_search`). Every attack's best perturbation is
    shortened by the exact breakpoint scan along its own direction.
``"certified"`` (lower bounds)
    proven for the given weights: a Lipschitz bound on the ball (:func:`lipschitz_lower`), a linear
    relaxation of the ReLU layer with a bisection on the radius (:func:`relaxation_lower`), and the
    enumeration of the linear regions that the ball of the best upper bound meets (:func:`region_search`),
    where f is affine and the smallest flip is the distance to a polyhedron, bounded by an explicit dual
    certificate (any nonnegative combination of the region's constraints is a half-space containing it).
``"exact"``
    lower and upper meet to the stated tolerance (``upper - lower <= atol + rtol * upper``).

Certified values are proven for the float64 inputs up to rounding: each dual certificate and the scans
subtract a rounding allowance of a few ulps per term (see the functions), not a tuned constant; it covers
both the evaluation of the certificate and the rounding of the pre-activations it is built from
(``(d + 2)`` ulps of ``||w_s|| ||x~||`` each).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from . import _minimal_kernels
from ._validate import as_float_array, check_int, check_real, check_rng
from .attacks import _per_init_pass, min_flip_step, pgd
from .lazy import KINDS
from .network import Network
from ._numeric import output_bias, output_scale, row_norms, stacked_preactivations, unit_rows
from ._validate_network import check_biases, check_network, check_points, check_weights
from .ops import forward, input_gradient

__all__ = ["PerturbationBound", "MinimalPerturbation", "minimal_perturbation", "one_step_upper", "ddn_attack",
           "pgd_search", "lipschitz_lower", "relaxation_lower", "region_search", "RegionSearch",
           "refine_along_rays", "KINDS"]

_EPS = np.finfo(np.float64).eps


# ====================================================================================================
# Results
# ====================================================================================================

@dataclass(frozen=True, eq=False)
class PerturbationBound:
    """A bound on the minimal perturbation from one method, per init and point.

    Attributes
    ----------
    value : ndarray, shape (K, n)
        The bound (+inf for an upper bound where the method found no flip; 0 for a vacuous lower bound).
    kind : {"certified", "heuristic", "exact"}
        ``"heuristic"`` for an attained upper bound, ``"certified"`` for a proven lower bound.
    side : {"lower", "upper"}
    method : str
        The method's name, e.g. ``"ddn"``.
    delta : ndarray, shape (K, n, d), or None
        For upper bounds, a perturbation attaining ``value`` (zero rows where none was found).
    """

    value: np.ndarray
    kind: str
    side: str
    method: str
    delta: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.side not in ("lower", "upper"):
            raise ValueError(f"side must be 'lower' or 'upper', got {self.side!r}")


@dataclass(frozen=True, eq=False)
class MinimalPerturbation:
    """The minimal perturbation sandwiched: ``lower <= delta_min <= upper`` per init and point.

    Attributes
    ----------
    lower : ndarray, shape (K, n)
        The best certified lower bound.
    upper : ndarray, shape (K, n)
        The best attained upper bound (+inf when no method found a flip).
    exact : ndarray of bool, shape (K, n)
        ``upper - lower <= atol + rtol * upper``: the value is known to the tolerance.
    delta : ndarray, shape (K, n, d)
        A perturbation attaining ``upper``.
    f : ndarray, shape (K, n)
        ``f(x)``.
    one_step : ndarray, shape (K, n)
        The one-step ``delta*`` of Theorem 3.1 (:func:`boundcheck.attacks.min_flip_step`).
    bounds : dict of str to PerturbationBound
        Every method's bound.
    lower_method, upper_method : ndarray of str, shape (K, n)
        Which method gave the best bound.
    rtol, atol : float
    """

    lower: np.ndarray
    upper: np.ndarray
    exact: np.ndarray
    delta: np.ndarray = field(repr=False)
    f: np.ndarray = field(repr=False)
    one_step: np.ndarray = field(repr=False)
    bounds: dict = field(repr=False)
    lower_method: np.ndarray = field(repr=False)
    upper_method: np.ndarray = field(repr=False)
    rtol: float = 1e-6
    atol: float = 1e-12

    @property
    def kind(self) -> np.ndarray:
        """Per entry: ``"exact"`` where the sandwich closes, else ``"sandwich"`` (certified below, heuristic
        above)."""
        return np.where(self.exact, "exact", "sandwich")

    @property
    def gain(self) -> np.ndarray:
        """``one_step / upper``: how much the converged attack gains over the one-step flip (>= 1)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.one_step / self.upper

    @property
    def gap(self) -> np.ndarray:
        """``upper / lower`` (1 where exact; +inf where the lower bound is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.upper == self.lower, 1.0, self.upper / self.lower)

    def table(self):
        """A tidy pandas DataFrame, one row per (init, point)."""
        import pandas as pd

        K, n = self.lower.shape
        kk, ii = np.meshgrid(np.arange(K), np.arange(n), indexing="ij")
        cols = dict(init=kk.ravel(), point=ii.ravel(), f=self.f.ravel(), one_step=self.one_step.ravel(),
                    lower=self.lower.ravel(), upper=self.upper.ravel(), exact=self.exact.ravel(),
                    lower_method=self.lower_method.ravel(), upper_method=self.upper_method.ravel())
        for name, bnd in self.bounds.items():
            cols[f"{bnd.side}_{name}"] = bnd.value.ravel()
        return pd.DataFrame(cols)


# ====================================================================================================
# Shared pieces
# ====================================================================================================

def _setup(net, X, W, b):
    net = check_network(net)
    X = check_points(net, X)
    return net, X, check_weights(net, W), check_biases(net, b)


def _target_sign(f):
    """s = sign f(x) with sign(0) := +1."""
    return np.where(f >= 0, 1.0, -1.0)


def _reaches(f_adv, s):
    """Whether ``s f(x + delta) <= 0`` (the closed target)."""
    return s * f_adv <= 0


def _check_upper(upper, K, n):
    if upper is None:
        return None
    u = as_float_array(upper, "upper", allow_nonfinite=True)
    if np.isnan(u).any() or (u < 0).any():
        raise ValueError("upper must hold nonnegative values or +inf")
    try:
        return np.broadcast_to(u, (K, n)).copy()
    except ValueError:
        raise ValueError(f"upper must broadcast to (K, n) = ({K}, {n}), got shape {u.shape}") from None


def refine_along_rays(net: Network, X, delta, W=None, b=None) -> np.ndarray:
    """The exact first point of the target along each ray ``x + t delta / ||delta||``, capped at ``||delta||``.

    Uses the exact breakpoint scan of :func:`boundcheck.attacks.min_flip_step` along the given directions.
    Where ``x + delta`` reaches the target, the result is ``<= ||delta||`` and is attained (up to the
    rounding of the scan's root); zero rows give +inf.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    delta : array_like, shape (K, n, d)
    W, b : optional

    Returns
    -------
    ndarray, shape (K, n)
    """
    net, X, W, b = _setup(net, X, W, b)
    K, n, d = W.shape[0], len(X), X.shape[1]
    delta = as_float_array(delta, "delta", shape=(K, n, d))
    norms = row_norms(delta)
    f_adv = _f_at(net, X, delta, W, b)
    s = _target_sign(forward(net, X, W, b))
    hit = _reaches(f_adv, s) & (norms > 0)
    if not (norms > 0).any():
        return np.full((K, n), np.inf)
    res = min_flip_step(net, X, W, b, direction=delta)
    # min_flip_step flips strictly for f(x) >= 0; the closed target is met at the same point or earlier
    t = res.delta
    out = np.where(hit, np.minimum(t, norms), np.where(np.isfinite(t), t, np.inf))
    out[norms == 0] = np.inf
    return out


def _f_at(net, X, delta, W, b):
    """f(x_i + delta[k, i]; W[k]) for every init and point: (K, n)."""
    Xq = X[None] + delta
    f, _ = _per_init_pass(net, Xq, W, b, False)
    return f


def _zero_at_boundary(f, value):
    """delta_min = 0 where f(x) = 0 exactly."""
    return np.where(f == 0, 0.0, value)


# ====================================================================================================
# Upper bounds (attacks; heuristic)
# ====================================================================================================

def one_step_upper(net: Network, X, W=None, b=None) -> PerturbationBound:
    """The one-step ``delta*`` of Theorem 3.1 (exact breakpoint scan), an upper bound on ``delta_min``.

    Returns
    -------
    PerturbationBound
        ``kind="heuristic"``, ``method="one_step"``, with the perturbation ``delta* u``.
    """
    net, X, W, b = _setup(net, X, W, b)
    res = min_flip_step(net, X, W, b)
    value = _zero_at_boundary(res.f, res.delta)
    delta = np.where(np.isfinite(value)[..., None], res.direction * np.where(np.isfinite(value), value, 0)[..., None],
                     0.0)
    return PerturbationBound(value=value, kind="heuristic", side="upper", method="one_step", delta=delta)


def ddn_attack(net: Network, X, W=None, b=None, *, steps: int = 100, restarts: int = 4, gamma: float = 0.05,
               alpha: float = 1.0, alpha_min: float = 0.01, refine: bool = True, rng=None) -> PerturbationBound:
    """A decoupled-direction-and-norm (DDN, Rony et al. 2019) minimum-norm l2 attack with restarts.

    Per (init, point, restart), with ``s = sign f(x)`` and the margin ``h(z) = s f(z)`` (target
    ``h <= 0``): a step ``delta~ = delta - alpha_k e grad h / ||grad h||`` (``alpha_k`` cosine-annealed from
    ``alpha`` to ``alpha_min``, in units of the point's linearized distance ``e = |f| / ||grad f||``), then
    the norm ``eps`` shrinks by ``(1 - gamma)`` if ``x + delta`` reaches the target and grows by
    ``(1 + gamma)`` otherwise, and ``delta = eps delta~ / ||delta~||``. Restart 0 starts at 0, the others at
    a random direction of norm ``e``. The shortest perturbation that reached the target is kept; with
    ``refine``, the exact scan along its direction shortens it (:func:`refine_along_rays`).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : optional
        Weights (K, m, d) and biases (K, m) (default: the init).
    steps : int
        Iterations per restart.
    restarts : int
        Number of starts, >= 1.
    gamma : float
        Norm adjustment factor in (0, 1).
    alpha, alpha_min : float
        Start and end of the step schedule, in units of ``e``.
    refine : bool
        Shorten the result by the exact line scan along its direction.
    rng : None, int, SeedSequence or Generator
        For the random starts.

    Returns
    -------
    PerturbationBound
        ``kind="heuristic"``, ``method="ddn"``; +inf where no restart reached the target.
    """
    net, X, W, b = _setup(net, X, W, b)
    steps = check_int(steps, "steps", minimum=1)
    restarts = check_int(restarts, "restarts", minimum=1)
    gamma = check_real(gamma, "gamma", minimum=0.0, maximum=1.0, closed_min=False, closed_max=False)
    alpha = check_real(alpha, "alpha", minimum=0.0, closed_min=False)
    alpha_min = check_real(alpha_min, "alpha_min", minimum=0.0, maximum=alpha)
    gen = check_rng(rng)
    K, m, d = W.shape
    n = len(X)
    R = restarts
    f0 = forward(net, X, W, b)
    g0 = input_gradient(net, X, W, b)
    gn0 = row_norms(g0)
    s = _target_sign(f0)
    xnorm = np.maximum(row_norms(X), 1.0)
    e = np.where(gn0 > 0, np.abs(f0) / np.where(gn0 > 0, gn0, 1.0), xnorm[None, :])
    e = np.where(e > 0, e, 1e-3 * xnorm[None, :])
    # state per (k, restart, i), flattened to (K, R * n)
    sR = np.tile(s, (1, R))
    eR = np.tile(e, (1, R))
    XR = np.tile(X, (R, 1))
    D = np.zeros((K, R * n, d))
    if R > 1:
        G = gen.standard_normal((K, (R - 1) * n, d))
        U, _ = unit_rows(G)
        D[:, n:] = U * eR[:, n:, None]
    eps = np.where(row_norms(D) > 0, row_norms(D), eR)
    best = np.full((K, R * n), np.inf)
    best_D = np.zeros((K, R * n, d))
    for it in range(steps + 1):
        f, g = _per_init_pass(net, XR[None] + D, W, b, it < steps)
        hit = _reaches(f, sR)
        norms = row_norms(D)
        better = hit & (norms < best)
        best = np.where(better, norms, best)
        best_D = np.where(better[..., None], D, best_D)
        if it == steps:
            break
        a_k = alpha_min + 0.5 * (alpha - alpha_min) * (1 + np.cos(np.pi * it / steps))
        gh = sR[..., None] * g
        unit, gn = unit_rows(gh)
        Dt = D - (a_k * eR)[..., None] * unit
        eps = np.where(hit, eps * (1 - gamma), eps * (1 + gamma))
        # keep the norm of a point inside the target from growing past the best found
        ut, tn = unit_rows(Dt)
        D = np.where((tn > 0)[..., None], ut * eps[..., None], D)
    best = best.reshape(K, R, n)
    best_D = best_D.reshape(K, R, n, d)
    pick = np.argmin(best, axis=1)
    value = np.take_along_axis(best, pick[:, None, :], axis=1)[:, 0]
    delta = np.take_along_axis(best_D, pick[:, None, :, None], axis=1)[:, 0]
    if refine and np.isfinite(value).any():
        t = refine_along_rays(net, X, delta, W, b)
        shorter = np.isfinite(value) & (t < value)
        unit, _ = unit_rows(delta)
        delta = np.where(shorter[..., None], unit * np.where(shorter, t, 0)[..., None], delta)
        value = np.where(shorter, t, value)
    value = _zero_at_boundary(f0, value)
    return PerturbationBound(value=value, kind="heuristic", side="upper", method="ddn", delta=delta)


def pgd_search(net: Network, X, W=None, b=None, *, upper=None, steps: int = 50, grid: int = 8, rounds: int = 3,
               refine: bool = True, rng=None) -> PerturbationBound:
    """PGD-l2 with a search over eps: the smallest budget of a grid at which PGD reaches the target.

    Per (init, point), PGD (:func:`boundcheck.attacks.pgd`, label ``s = sign f(x)``, success ``s f <= 0``)
    runs on ``grid`` budgets spread evenly over ``(lo, hi]`` at once; ``hi`` starts at ``upper`` (default:
    the one-step ``delta*``) and ``lo`` at 0, and each round narrows the bracket to the last failing and
    the first succeeding budget. The result is the norm of the best succeeding perturbation (refined by the
    exact line scan when ``refine``).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : optional
    upper : array_like, shape (K, n), optional
        Starting upper end of the bracket (must reach the target to be useful).
    steps : int
        PGD iterations per budget (step size ``2.5 eps / steps``).
    grid : int
        Budgets per round.
    rounds : int
        Bracket refinements.
    refine : bool
    rng : None, int, SeedSequence or Generator
        Unused by the deterministic PGD start; checked for uniformity.

    Returns
    -------
    PerturbationBound
        ``kind="heuristic"``, ``method="pgd"``; +inf where PGD never succeeded.
    """
    net, X, W, b = _setup(net, X, W, b)
    steps = check_int(steps, "steps", minimum=1)
    grid = check_int(grid, "grid", minimum=1)
    rounds = check_int(rounds, "rounds", minimum=1)
    check_rng(rng)
    K, m, d = W.shape
    n = len(X)
    f0 = forward(net, X, W, b)
    s = _target_sign(f0)
    hi = _check_upper(upper, K, n)
    if hi is None:
        hi = one_step_upper(net, X, W, b).value
    value = np.full((K, n), np.inf)
    delta = np.zeros((K, n, d))
    for k in range(K):
        sub = net.select(k)
        Wk = W[k:k + 1]
        bk = None if b is None else b[k:k + 1]
        for i in range(n):
            h = hi[k, i]
            if not np.isfinite(h) or h == 0 or f0[k, i] == 0:
                continue
            lo = 0.0
            h = h * (1 + 0.05)  # PGD rarely lands exactly on the boundary: leave it room
            for _ in range(rounds):
                budgets = lo + (h - lo) * np.arange(1, grid + 1) / grid
                res = pgd(sub, X[i:i + 1], s[k, i:i + 1], budgets, norm="l2", steps=steps, W=Wk, b=bk)
                ok = res.success[:, 0, 0]
                if not ok.any():
                    break
                j = int(np.argmax(ok))
                Dj = res.delta[j, 0, 0]
                nj = float(np.linalg.norm(Dj))
                if nj < value[k, i]:
                    value[k, i] = nj
                    delta[k, i] = Dj
                lo = budgets[j - 1] if j > 0 else lo
                h = budgets[j]
    if refine and np.isfinite(value).any():
        t = refine_along_rays(net, X, delta, W, b)
        shorter = np.isfinite(value) & (t < value)
        unit, _ = unit_rows(delta)
        delta = np.where(shorter[..., None], unit * np.where(shorter, t, 0)[..., None], delta)
        value = np.where(shorter, t, value)
    value = _zero_at_boundary(f0, value)
    return PerturbationBound(value=value, kind="heuristic", side="upper", method="pgd", delta=delta)


# ====================================================================================================
# Lower bounds (certified)
# ====================================================================================================

def _rounding_allowance(net, X, W):
    """Absolute rounding allowance of the pre-activations, per (k, i) (a few ulps of |w| |x| per term)."""
    d = W.shape[2]
    wmax = np.sqrt((W * W).sum(-1)).max(-1)  # (K,)
    xn = row_norms(X) + (1.0 if net.b0 is not None else 0.0)
    return 4.0 * (d + 2) * _EPS * wmax[:, None] * xn[None, :]


def lipschitz_lower(net: Network, X, W=None, b=None) -> PerturbationBound:
    """Certified lower bound ``sup_r min(r, |f(x)| / L(r))`` with L(r) a Lipschitz constant of f on B(x, r).

    On the ball only the neurons with ``|z_s| <= r ||w_s||`` can change their activation; writing every
    neuron's change as ``theta_s (w_s . delta)`` with ``theta_s`` in [0, 1] gives
    ``L(r) = ||c(r)|| + (1/2) sum_{s in S_r} ||v_s||`` (``v_s = a_s w_s / sqrt(m)``, ``c`` the centre of the
    box of possible gradients). ``|f(x + delta) - f(x)| <= L ||delta|| < |f(x)|`` on the ball keeps the sign.
    L(r) is a step function of r, so the sup is found exactly by a scan over the sorted radii
    ``|z_s| / ||w_s||`` (compiled kernel); a relative allowance of ``1e-9`` covers rounding.

    Returns
    -------
    PerturbationBound
        ``kind="certified"``, ``method="lipschitz"``.
    """
    net, X, W, b = _setup(net, X, W, b)
    K, m, d = W.shape
    n = len(X)
    pre = stacked_preactivations(X, W, b)
    f = forward(net, X, W, b)
    g = input_gradient(net, X, W, b)
    wnorm = np.sqrt((W * W).sum(-1))
    out = np.empty((K, n))
    _minimal_kernels.lipschitz_scan(pre, W, wnorm, net.a, output_scale(net), f, g, out)
    slack = _rounding_allowance(net, X, W) / np.where(wnorm.max(-1) > 0, wnorm.max(-1), 1.0)[:, None]
    out = np.maximum(out * (1 - 1e-9) - slack, 0.0)
    return PerturbationBound(value=_zero_at_boundary(f, out), kind="certified", side="lower", method="lipschitz")


def _relaxation_certifies(net, X, W, pre, wnorm, s, r):
    """Whether the linear relaxation proves ``s f > 0`` on the ball of radius r[k, i]."""
    K, m, d = W.shape
    n = len(X)
    coef = np.empty((K, n, m))
    const = np.empty((K, n))
    slack = np.empty((K, n))
    _minimal_kernels.relaxation_coefficients(pre, wnorm, net.a, s, output_scale(net), output_bias(net), r, coef, const,
                                             slack)
    G = coef @ W
    gnorm = row_norms(G)
    allowance = slack + 4.0 * (d + m) * _EPS * r * np.abs(coef).sum(-1) * wnorm.max(-1)[:, None]
    # the pre-activations' own rounding (each z_s enters const through slope z_s + intercept, twice at most)
    allowance = allowance + 2.0 * output_scale(net) * np.abs(net.a).sum(-1)[:, None] * _rounding_allowance(net, X, W)
    return const - r * gnorm - allowance > 0


def relaxation_lower(net: Network, X, W=None, b=None, *, upper=None, start=None, iterations: int = 40
                     ) -> PerturbationBound:
    """Certified lower bound from a linear relaxation of the ReLU layer, with a bisection on the radius.

    For a radius r, every neuron's ``s a_s relu`` is bounded from below on B(x, r) by a linear function of
    its pre-activation (exact for stable neurons; for unstable ones the chord or the CROWN lower line), so
    ``s f(x + delta) >= const + G . delta >= const - r ||G||``. If this is > 0 (after a rounding allowance)
    no point of the ball reaches the target: ``delta_min >= r``. The bisection runs between ``start``
    (default 0) and ``upper`` (default: the one-step ``delta*``); the largest certified radius is returned
    (each certificate stands on its own, so monotonicity is not needed).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : optional
    upper, start : array_like, shape (K, n), optional
    iterations : int
        Bisection steps.

    Returns
    -------
    PerturbationBound
        ``kind="certified"``, ``method="relaxation"``.
    """
    net, X, W, b = _setup(net, X, W, b)
    iterations = check_int(iterations, "iterations", minimum=1)
    K, m, d = W.shape
    n = len(X)
    f = forward(net, X, W, b)
    s = _target_sign(f)
    hi = _check_upper(upper, K, n)
    if hi is None:
        hi = one_step_upper(net, X, W, b).value
    lo = _check_upper(start, K, n)
    lo = np.zeros((K, n)) if lo is None else np.minimum(lo, hi)
    pre = stacked_preactivations(X, W, b)
    wnorm = np.sqrt((W * W).sum(-1))
    certified = np.zeros((K, n))
    # an infinite upper end: search up to a large multiple of the input scale
    top = np.where(np.isfinite(hi), hi, 1e3 * np.maximum(row_norms(X), 1.0)[None, :])
    lo = np.minimum(lo, top)
    ok = _relaxation_certifies(net, X, W, pre, wnorm, s, lo)
    certified = np.where(ok, lo, certified)
    lo = np.where(ok, lo, 0.0)
    h = top.copy()
    for _ in range(iterations):
        mid = 0.5 * (lo + h)
        ok = _relaxation_certifies(net, X, W, pre, wnorm, s, mid)
        certified = np.where(ok, np.maximum(certified, mid), certified)
        lo = np.where(ok, mid, lo)
        h = np.where(ok, h, mid)
    return PerturbationBound(value=_zero_at_boundary(f, certified), kind="certified", side="lower",
                             method="relaxation")


# ---------------------------------------------------------------------------------------------------- regions

def _ldp(G: np.ndarray, h: np.ndarray, err_h: np.ndarray | None = None, err_G: np.ndarray | None = None):
    """Least-distance problem ``min ||delta|| s.t. G delta >= h`` (Lawson and Hanson, via NNLS).

    Returns
    -------
    lower : float
        Certified lower bound on the distance from the dual multipliers ``u >= 0``:
        ``(u . h - allowance) / (||G^T u|| + allowance)`` (+inf when the constraints are infeasible, 0 if
        the certificate is empty).
    delta : ndarray (d,) or None
        The primal minimizer (None when infeasible).
    """
    k, d = G.shape
    E = np.vstack([G.T, h[None, :]])
    target = np.zeros(d + 1)
    target[d] = 1.0
    try:
        u, _ = nnls(E, target, maxiter=50 * (k + d + 1))
    except RuntimeError:  # iteration limit: keep whatever multipliers we can still certify with
        u = np.zeros(k)
    r = E @ u - target
    gnorms = np.sqrt((G * G).sum(1))
    num = float(u @ h)
    den = float(np.linalg.norm(G.T @ u))
    # rounding of this evaluation, plus the errors of the rows themselves (err_h: |h - h_true| per row, from
    # the pre-activations; err_G: ||G_i - G_i,true||): the bound holds for the exact rows
    eh = 0.0 if err_h is None else float(u @ err_h)
    eG = 0.0 if err_G is None else float(u @ err_G)
    allow = 4.0 * (k + d + 2) * _EPS * float(u @ (np.abs(h) + gnorms)) + eh
    num_lo = num - allow
    den_hi = den + 4.0 * (k + d + 2) * _EPS * float(u @ gnorms) + eG
    if num_lo <= 0:
        lower = 0.0
    elif den_hi == 0:
        lower = np.inf
    else:
        lower = num_lo / den_hi
    if r[d] >= 0 or not np.isfinite(r).all():
        return lower, None
    delta = -r[:d] / r[d]
    # keep the primal point only if it is feasible (to rounding): NNLS stopped early gives garbage
    if not np.isfinite(delta).all() or (G @ delta - h < -1e-9 * (np.abs(h) + gnorms * (1 + np.linalg.norm(delta)))).any():
        return lower, None
    return lower, delta


@dataclass(frozen=True, eq=False)
class RegionSearch:
    """The enumeration of linear regions met by the ball of radius ``upper`` around each point.

    Attributes
    ----------
    lower : PerturbationBound
        Certified (``kind="certified"``) where the enumeration completed, else 0.
    upper : PerturbationBound
        Heuristic: the exact line scan along the best region's optimal direction.
    complete : ndarray of bool, shape (K, n)
        Whether every region was visited or pruned within ``max_nodes``.
    nodes : ndarray of int, shape (K, n)
        Least-distance problems solved.
    ambiguous : ndarray of int, shape (K, n)
        Neurons whose kink lies within ``upper`` of the point.
    """

    lower: PerturbationBound
    upper: PerturbationBound
    complete: np.ndarray
    nodes: np.ndarray
    ambiguous: np.ndarray


def region_search(net: Network, X, W=None, b=None, *, upper=None, max_nodes: int = 20000) -> RegionSearch:
    """Exact minimal perturbation by branch and bound over the activation regions that the ball meets.

    Within ``B(x, U)`` (``U = upper``, an attained upper bound, default the one-step ``delta*``) a neuron
    with ``|z_s| > U ||w_s||`` keeps its activation; the others are *ambiguous*. Each pattern ``p`` of the
    ambiguous neurons defines a polyhedron ``P_p`` (each ambiguous neuron on its side of its kink) on which
    f is affine, ``f = F_p(x) + g_p . delta``, and the smallest perturbation in it that reaches the target
    is the least-distance problem ``min ||delta|| s.t. delta in P_p, s (F_p(x) + g_p . delta) <= 0``, solved
    by NNLS (Lawson-Hanson) and certified by its dual multipliers. The patterns are explored depth first,
    neurons in order of their distance to the kink; a partial pattern is pruned when the distance to its
    polyhedron is at least the best distance found (its bound is kept in the minimum). The certified lower
    bound is the minimum over the leaves and pruned nodes, and ``min`` with U; it equals ``delta_min`` when
    the primal solutions are exact.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : optional
    upper : array_like, shape (K, n), optional
        An attained upper bound (the radius of the ball); +inf makes every neuron ambiguous.
    max_nodes : int
        Budget of least-distance problems per (init, point); beyond it the search stops and the point is
        not complete (lower bound 0).

    Returns
    -------
    RegionSearch
    """
    net, X, W, b = _setup(net, X, W, b)
    max_nodes = check_int(max_nodes, "max_nodes", minimum=1)
    K, m, d = W.shape
    n = len(X)
    f = forward(net, X, W, b)
    s_all = _target_sign(f)
    U = _check_upper(upper, K, n)
    if U is None:
        U = one_step_upper(net, X, W, b).value
    pre = stacked_preactivations(X, W, b)  # (n, K, m)
    wnorm = np.sqrt((W * W).sum(-1))
    scale, c = output_scale(net), output_bias(net)
    allowance = _rounding_allowance(net, X, W)
    xaug = row_norms(X) + (1.0 if net.b0 is not None else 0.0)
    lower = np.zeros((K, n))
    complete = np.zeros((K, n), dtype=bool)
    nodes = np.zeros((K, n), dtype=np.int64)
    n_amb = np.zeros((K, n), dtype=np.int64)
    best_dir = np.zeros((K, n, d))
    for k in range(K):
        V = scale * net.a[k][:, None] * W[k]  # (m, d): v_s
        for i in range(n):
            if f[k, i] == 0:
                lower[k, i] = 0.0
                complete[k, i] = True
                continue
            z = pre[i, k]
            s = s_all[k, i]
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = np.where(wnorm[k] > 0, np.abs(z) / np.where(wnorm[k] > 0, wnorm[k], 1.0), np.inf)
            radius = U[k, i]
            slack = allowance[k, i] / max(wnorm[k].max(), 1e-300)
            amb = np.flatnonzero(rho <= radius * (1 + 1e-9) + slack) if np.isfinite(radius) else \
                np.flatnonzero(np.isfinite(rho))
            amb = amb[np.argsort(rho[amb], kind="stable")]
            n_amb[k, i] = amb.size
            fixed_active = (z > 0)
            fixed_active[amb] = False
            g_fix = fixed_active.astype(float) @ V  # (d,)
            F_fix = scale * float(net.a[k][fixed_active] @ z[fixed_active]) + c[k]
            # error bounds: each pre-activation to a few ulps of ||w_s|| ||x~||; the flip row's value and
            # gradient are sums over the active neurons
            err_z = 4.0 * (d + 2) * _EPS * wnorm[k] * xaug[i]
            abs_a = np.abs(net.a[k])
            e_val = abs_a * (err_z + 4.0 * (m + 2) * _EPS * np.abs(z))
            e_vec = 4.0 * (m + 2) * _EPS * abs_a * wnorm[k]
            E_fix = (float(e_val[fixed_active].sum()), float(e_vec[fixed_active].sum()))
            state = dict(best=radius if np.isfinite(radius) else np.inf, lower=np.inf, nodes=0, dir=None, dir_norm=np.inf,
                         aborted=False)
            rows_G = np.empty((amb.size + 1, d))
            rows_h = np.empty(amb.size + 1)
            rows_eh = np.empty(amb.size + 1)
            rows_eG = np.zeros(amb.size + 1)
            on_x_side = z[amb] > 0

            def dfs(depth, g_p, F_p, all_same, E_p):
                if state["aborted"]:
                    return
                if depth == amb.size:
                    rows_G[depth] = -s * g_p
                    rows_h[depth] = s * F_p
                    rows_eh[depth] = scale * E_p[0] + 4.0 * _EPS * abs(c[k])
                    rows_eG[depth] = scale * E_p[1]
                    state["nodes"] += 1
                    lo_b, delta = _ldp(rows_G[:depth + 1], rows_h[:depth + 1], rows_eh[:depth + 1],
                                       rows_eG[:depth + 1])
                    state["lower"] = min(state["lower"], lo_b)
                    if delta is not None:
                        dn = float(np.linalg.norm(delta))
                        state["best"] = min(state["best"], dn)
                        if dn < state["dir_norm"]:
                            state["dir_norm"] = dn
                            state["dir"] = delta
                    return
                if state["nodes"] >= max_nodes:
                    state["aborted"] = True
                    return
                sidx = amb[depth]
                # x's own side first (the region of x and its neighbours are usually the closest)
                for active in ((True, False) if on_x_side[depth] else (False, True)):
                    sign_row = 1.0 if active else -1.0
                    rows_G[depth] = sign_row * W[k, sidx]
                    rows_h[depth] = -sign_row * z[sidx]
                    rows_eh[depth] = err_z[sidx]
                    same = all_same and (active == bool(on_x_side[depth]))
                    if not same:
                        state["nodes"] += 1
                        lo_b, _ = _ldp(rows_G[:depth + 1], rows_h[:depth + 1], rows_eh[:depth + 1],
                                       rows_eG[:depth + 1])
                        if lo_b >= state["best"]:
                            state["lower"] = min(state["lower"], lo_b)
                            continue
                    if active:
                        dfs(depth + 1, g_p + V[sidx], F_p + scale * net.a[k, sidx] * z[sidx], same,
                            (E_p[0] + e_val[sidx], E_p[1] + e_vec[sidx]))
                    else:
                        dfs(depth + 1, g_p, F_p, same, E_p)
                    if state["aborted"]:
                        return

            dfs(0, g_fix, F_fix, True, E_fix)
            nodes[k, i] = state["nodes"]
            if state["aborted"]:
                continue
            complete[k, i] = True
            lower[k, i] = min(state["lower"], radius)
            if state["dir"] is not None:
                best_dir[k, i] = state["dir"]
    # upper: the exact scan along each best region's direction (attained up to the scan's rounding)
    up = np.full((K, n), np.inf)
    delta_out = np.zeros((K, n, d))
    has = row_norms(best_dir) > 0
    if has.any():
        res = min_flip_step(net, X, W, b, direction=np.where(has[..., None], best_dir, 0.0))
        t = np.where(has, res.delta, np.inf)
        # the closed target can be met before min_flip_step's strict flip: check the primal point too
        # (the primal point lies on the boundary up to rounding: try it and a hair beyond it; where f only
        # touches 0 there, e.g. at a corner of the region where every neuron is off, f = 0 is met to rounding
        # only, so "reached" allows the rounding of f's sum: a few ulps of sum_s |a_s z_s| / sqrt(m))
        dn = row_norms(best_dir)
        for stretch in (1.0, 1 + 1e-12, 1 + 1e-9, 1 + 1e-6):
            Dq = best_dir * stretch
            fp = _f_at(net, X, Dq, W, b)
            pre_q = np.matmul(X[None] + Dq, W.transpose(0, 2, 1)) + (0.0 if b is None else b[:, None, :])
            mag = scale * np.einsum("ks,kis->ki", np.abs(net.a), np.abs(pre_q)) + np.abs(c)[:, None]
            at_primal = has & (s_all * fp <= 8 * (m + 2) * _EPS * mag)
            t = np.where(at_primal, np.minimum(t, dn * stretch), t)
        up = t
        unit, _ = unit_rows(best_dir)
        delta_out = unit * np.where(np.isfinite(up), up, 0.0)[..., None]
    up = _zero_at_boundary(f, up)
    lower = _zero_at_boundary(f, np.where(complete, lower, 0.0))
    return RegionSearch(
        lower=PerturbationBound(lower, "certified", "lower", "regions"),
        upper=PerturbationBound(up, "heuristic", "upper", "regions", delta_out),
        complete=complete, nodes=nodes, ambiguous=n_amb)


# ====================================================================================================
# The sandwich
# ====================================================================================================

UPPER_METHODS = ("one_step", "ddn", "pgd", "regions")
LOWER_METHODS = ("lipschitz", "relaxation", "regions")


def minimal_perturbation(net: Network, X, W=None, b=None, *, attacks=("one_step", "ddn", "pgd"),
                         lower=("lipschitz", "relaxation", "regions"), ddn_steps: int = 100, restarts: int = 4,
                         pgd_steps: int = 50, max_ambiguous: int = 14, max_nodes: int = 20000,
                         rtol: float = 1e-6, atol: float = 1e-12, rng=None) -> MinimalPerturbation:
    """The minimal l2 perturbation that reaches the decision boundary, sandwiched per (init, point).

    Upper bounds from the attacks (heuristic; each attained), certified lower bounds, and ``exact`` where
    they meet (``upper - lower <= atol + rtol * upper``). The region enumeration runs for the (init, point)
    pairs with at most ``max_ambiguous`` neurons whose kink is within the best upper bound (exact for
    small m); the Lipschitz and relaxation bounds everywhere.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W, b : optional
        Weights (K, m, d) and biases (K, m) (default: the init).
    attacks : sequence of {"one_step", "ddn", "pgd"}
        Upper-bound methods ("one_step" always runs: it is the reference of the gain).
    lower : sequence of {"lipschitz", "relaxation", "regions"}
        Lower-bound methods ("regions" also yields an upper bound).
    ddn_steps, restarts : int
        DDN iterations and starts.
    pgd_steps : int
        PGD iterations per budget of the eps search (0 or "pgd" not in attacks: skipped).
    max_ambiguous : int
        Region enumeration only where at most this many neurons are ambiguous.
    max_nodes : int
        Budget of least-distance problems per (init, point).
    rtol, atol : float
        Tolerance of "exact".
    rng : None, int, SeedSequence or Generator
        For the DDN restarts.

    Returns
    -------
    MinimalPerturbation

    Examples
    --------
    >>> from boundcheck import init_network, sample_sphere
    >>> net = init_network(3, 6, parametrization="theory", rng=0)
    >>> res = minimal_perturbation(net, sample_sphere(4, 3, rng=1), rng=2)
    >>> bool((res.lower <= res.upper).all())
    True
    """
    net, X, W, b = _setup(net, X, W, b)
    for name in attacks:
        if name not in UPPER_METHODS[:3]:
            raise ValueError(f"attacks must be drawn from {UPPER_METHODS[:3]}, got {name!r}")
    for name in lower:
        if name not in LOWER_METHODS:
            raise ValueError(f"lower must be drawn from {LOWER_METHODS}, got {name!r}")
    max_ambiguous = check_int(max_ambiguous, "max_ambiguous", minimum=0)
    rtol = check_real(rtol, "rtol", minimum=0.0)
    atol = check_real(atol, "atol", minimum=0.0)
    gen = check_rng(rng)
    K, m, d = W.shape
    n = len(X)
    bounds: dict[str, PerturbationBound] = {}
    one = one_step_upper(net, X, W, b)
    bounds["one_step"] = one
    if "ddn" in attacks:
        bounds["ddn"] = ddn_attack(net, X, W, b, steps=ddn_steps, restarts=restarts, rng=gen)

    def best_upper():
        ups = [bd for bd in bounds.values() if bd.side == "upper"]
        vals = np.stack([bd.value for bd in ups])
        j = np.argmin(vals, axis=0)
        val = np.take_along_axis(vals, j[None], 0)[0]
        dl = np.stack([bd.delta for bd in ups])
        delta = np.take_along_axis(dl, j[None, ..., None], 0)[0]
        names = np.array([bd.method for bd in ups])[j]
        return val, delta, names

    if "pgd" in attacks and pgd_steps > 0:
        U, _, _ = best_upper()
        bounds["pgd"] = pgd_search(net, X, W, b, upper=U, steps=pgd_steps)
    U, _, _ = best_upper()
    if "lipschitz" in lower:
        bounds["lipschitz"] = lipschitz_lower(net, X, W, b)
    if "regions" in lower:
        # only where few neurons are ambiguous: enumerate on a sub-network of those (init, point) pairs
        pre = stacked_preactivations(X, W, b)
        wnorm = np.sqrt((W * W).sum(-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(wnorm[None] > 0, np.abs(pre) / np.where(wnorm[None] > 0, wnorm[None], 1.0), np.inf)
        radius = np.where(np.isfinite(U), U, np.inf).T[..., None]  # (n, K, 1)
        amb = (rho <= radius * (1 + 1e-9)).sum(-1).T  # (K, n)
        go = amb <= max_ambiguous
        reg_lo = np.zeros((K, n))
        reg_up = np.full((K, n), np.inf)
        reg_delta = np.zeros((K, n, d))
        for k in range(K):
            idx = np.flatnonzero(go[k])
            if not idx.size:
                continue
            sub = net.select(k)
            rs = region_search(sub, X[idx], W[k:k + 1], None if b is None else b[k:k + 1], upper=U[k:k + 1, idx],
                               max_nodes=max_nodes)
            reg_lo[k, idx] = rs.lower.value[0]
            reg_up[k, idx] = rs.upper.value[0]
            reg_delta[k, idx] = rs.upper.delta[0]
        bounds["regions_lower"] = PerturbationBound(reg_lo, "certified", "lower", "regions")
        bounds["regions"] = PerturbationBound(reg_up, "heuristic", "upper", "regions", reg_delta)
        U, _, _ = best_upper()
    if "relaxation" in lower:
        start = bounds["lipschitz"].value if "lipschitz" in bounds else None
        bounds["relaxation"] = relaxation_lower(net, X, W, b, upper=U, start=start)
    upper, delta, upper_method = best_upper()
    lows = [bd for bd in bounds.values() if bd.side == "lower"]
    if lows:
        lv = np.stack([bd.value for bd in lows])
        j = np.argmax(lv, axis=0)
        low = np.take_along_axis(lv, j[None], 0)[0]
        lower_method = np.array([bd.method for bd in lows])[j]
    else:
        low = np.zeros((K, n))
        lower_method = np.full((K, n), "none")
    f = forward(net, X, W, b)
    if (low > upper * (1 + 1e-9) + 1e-12).any():
        k, i = np.argwhere(low > upper * (1 + 1e-9) + 1e-12)[0]
        raise RuntimeError(f"certified lower bound {low[k, i]!r} above the attained upper {upper[k, i]!r} at "
                           f"init {k}, point {i}: a bug in boundcheck.minimal")
    low = np.minimum(low, upper)
    with np.errstate(invalid="ignore"):
        exact = (upper == low) | (np.isfinite(upper) & (upper - low <= atol + rtol * upper))
    return MinimalPerturbation(lower=low, upper=upper, exact=exact, delta=delta, f=f, one_step=one.value,
                               bounds=bounds, lower_method=lower_method, upper_method=upper_method, rtol=rtol,
                               atol=atol)
