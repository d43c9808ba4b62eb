"""Adversarial perturbations of the two-layer network: the minimal one-step flip, FGM / FGSM and PGD.

Theorem 3.1 of Wang et al. 2022 (theory section 3) says that one gradient step flips the sign of the
prediction:

    x' = x - eta * sign(f(x; W)) * grad_x f(x; W),    ||x' - x|| = eta ||grad_x f(x; W)||.

:func:`min_flip_step` finds the smallest such eta **exactly**. Along a ray ``x + t u`` every
pre-activation ``z_s + t (w_s . u)`` is linear in t, so f is piecewise linear with breakpoints
``t_s = -z_s / (w_s . u)``; sorting the positive breakpoints and walking the pieces gives the first sign
change in closed form (theory section 5.6, "Exact search"). The authors' grid search (theory section 6.3) is
kept as ``method="grid"`` for comparison with their numbers.

The other attacks maximize the logistic loss ``l(y f) = log(1 + exp(-y f))`` over an l2 or l-inf ball
(theory section 4 for the robust error, section 6.4 for the authors' PGD). For a binary logistic loss the
loss gradient is ``-y sigmoid(-y f) grad_x f``: the positive factor only scales it, so every attack here
moves along ``-y grad_x f`` (normalized or signed), which stays finite when the sigmoid underflows.

Conventions: ``relu'(0) = 0`` (as in :mod:`boundcheck.ops`); ``sign(0) := +1`` in the one-step update;
a point is correctly classified iff ``y f(x) > 0`` and adversarially misclassified iff ``y f(x') <= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _attack_kernels, _kernels
from ._validate import as_float_array, check_choice, check_float_dtype, check_int, check_real, check_rng
from .network import Network
from ._numeric import (CHUNK_BYTES, chunks, one_blas_thread, output_bias, output_scale, row_norms,
                       stacked_preactivations, unit_rows)
from ._validate_network import check_biases, check_network, check_points, check_weights
from .ops import input_gradient

__all__ = ["FlipStep", "min_flip_step", "fgm", "fgsm", "project_l2", "project_linf", "project_box",
           "PGDResult", "pgd", "robust_error", "NORMS", "FLIP_METHODS"]

NORMS = ("l2", "linf")
FLIP_METHODS = ("exact", "grid")


# --------------------------------------------------------------------------- validation helpers

def _check_labels(y, n: int) -> np.ndarray:
    y = as_float_array(y, "y", ndim=1)
    if y.shape != (n,):
        raise ValueError(f"y must have shape (n,) = ({n},) to match X, got {y.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        bad = y[~np.isin(y, (-1.0, 1.0))][0]
        raise ValueError(f"y must contain only the labels -1 and +1, found {bad!r}")
    return y


def _check_eps(eps) -> np.ndarray:
    """eps as a 1-D array (E,) of budgets >= 0."""
    arr = as_float_array(eps, "eps", ndim=(0, 1))
    if arr.size == 0:
        raise ValueError("eps must contain at least one budget")
    if (arr < 0).any():
        raise ValueError(f"eps must be >= 0, got {arr[arr < 0][0]!r}")
    return arr.reshape(-1)


def _check_box(box, d: int):
    if box is None:
        return None
    if not isinstance(box, (tuple, list)) or len(box) != 2:
        raise TypeError(f"box must be None or a pair (low, high), got {box!r}")
    low, high = (as_float_array(v, f"box[{j}]", ndim=(0, 1)) for j, v in enumerate(box))
    for j, v in enumerate((low, high)):
        if v.ndim == 1 and v.shape != (d,):
            raise ValueError(f"box[{j}] must be a scalar or have shape (d,) = ({d},), got {v.shape}")
    low, high = np.broadcast_to(low, (d,)), np.broadcast_to(high, (d,))
    if (low > high).any():
        raise ValueError("box must satisfy low <= high in every coordinate")
    return low, high


# --------------------------------------------------------------------------- the minimal one-step flip

@dataclass(frozen=True, eq=False)
class FlipStep:
    """The smallest one-step perturbation that flips the sign of f, per init and point.

    Attributes
    ----------
    eta : ndarray, shape (K, n)
        Minimal step size eta* of ``x' = x - eta sign(f) grad f`` (= ``delta / grad_norm``); with a
        user-given direction, the perturbation norm itself (= ``delta``). +inf where no step flips.
    delta : ndarray, shape (K, n)
        Minimal perturbation norm ``||x' - x||`` (+inf where no step flips; for ``method="grid"``, the
        first flipping grid point, or ``max_steps * grid_step`` where none flips).
    grad_norm : ndarray, shape (K, n)
        ``||grad_x f(x; W)||``.
    f : ndarray, shape (K, n)
        ``f(x; W)``.
    flipped : ndarray of bool, shape (K, n)
        Whether some step flips the sign (False for points that were not searched).
    direction : ndarray, shape (K, n, d)
        The unit direction u of the ray ``x + t u`` (zero where the gradient, or the given direction,
        vanishes).
    method : {"exact", "grid"}
    searched : ndarray of bool, shape (K, n)
        False for the points skipped under the authors' convention (misclassified points, which record 0).
    correct : ndarray of bool, shape (K, n), or None
        ``y f(x) > 0`` when labels were given.
    grid_step : float or None
        The grid spacing in perturbation norm (``method="grid"`` only).
    max_steps : int or None
        The number of grid points (``method="grid"`` only).
    """

    eta: np.ndarray
    delta: np.ndarray
    grad_norm: np.ndarray
    f: np.ndarray
    flipped: np.ndarray
    direction: np.ndarray
    method: str
    searched: np.ndarray
    correct: np.ndarray | None = None
    grid_step: float | None = None
    max_steps: int | None = None


def min_flip_step(net: Network, X, W=None, b=None, *, direction=None, method: str = "exact",
                  grid_step: float = 1e-3, max_steps: int = 5000, y=None,
                  authors_convention: bool | None = None, batch: int | None = None) -> FlipStep:
    """Smallest step eta* of ``x' = x - eta sign(f(x;W)) grad_x f(x;W)`` that flips the sign of f.

    The ray is ``x + t u`` with the unit direction ``u = -sign(f(x)) grad f / ||grad f||`` and
    ``t = eta ||grad f||`` the perturbation norm. **Sign convention:** ``sign(0) := +1`` in the update and in
    the test, so a point with ``f(x) >= 0`` flips when ``f(x') < 0`` and a point with ``f(x) < 0`` flips
    when ``f(x') >= 0``. For ``f(x) < 0`` the minimal flip is where f reaches 0; for ``f(x) >= 0`` it is the
    infimum of the (open) set of flipping steps, where f reaches 0 and goes below (0 when f(x) = 0 and f
    decreases at once).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    W : array_like, shape (K, m, d), optional
        Lazy weights (default ``net.W0``).
    b : array_like, shape (K, m), optional
        First-layer biases (default ``net.b0``).
    direction : array_like, shape (K, n, d) or (n, d), optional
        Search along ``x + t u`` with ``u`` this direction normalized, instead of the gradient step. Then
        ``eta`` is the perturbation norm itself (``eta == delta``); ``grad_norm`` is still reported. A zero
        direction never flips (+inf).
    method : {"exact", "grid"}
        ``"exact"``: scan of the ray's breakpoints (a Numba kernel after three BLAS products per chunk).
        ``"grid"``: the authors' search (theory section 6.3): evaluate f by a forward pass at
        ``x + j * grid_step * u`` for ``j = 1..max_steps`` and record the first j that flips,
        ``delta = j * grid_step``; points that never flip record ``max_steps * grid_step`` with
        ``flipped = False``. (The authors accumulate ``x += grid_step * u``; here ``x + (j grid_step) u``
        is formed directly, which differs by rounding only. Their ``torch.sign`` also counts
        ``f(x') = 0`` as a flip of a positive f; that is a measure-zero difference.)
    grid_step : float
        Grid spacing in perturbation norm (authors: 0.001).
    max_steps : int
        Number of grid points (authors: 5000, so the cap is 5.0).
    y : array_like, shape (n,), optional
        Labels in {-1, +1}. Under the authors' convention, only correctly classified points
        (``y f(x) > 0``) are searched and the others record ``eta = delta = 0`` (``searched = False``).
    authors_convention : bool, optional
        Whether to zero the misclassified points when ``y`` is given. Default: True for ``"grid"``, False
        for ``"exact"`` (exact semantics: every point is searched; ``correct`` still reports ``y f > 0``).
        The exact method never caps: +inf stays +inf.
    batch : int, optional
        Points per chunk; memory O(batch * K * (m + d)).

    Returns
    -------
    FlipStep
        ``eta``, ``delta``, ``grad_norm``, ``f``, ``flipped``, ``searched`` of shape (K, n), ``direction``
        (K, n, d).

    Notes
    -----
    Exact method: with ``z_s = w_s . x + b_s`` and ``c_s = w_s . u``, f along the ray is
    ``f(t) = (1/sqrt m) sum_s a_s relu(z_s + t c_s) + c``; between consecutive positive breakpoints
    ``t_s = -z_s / c_s`` it is linear, beyond the last one too, so whether and where it first changes sign
    is decided exactly (+inf when it never does; never a silent cap). A zero gradient gives a zero
    direction, along which f is constant: ``eta = delta = +inf``, no NaN. Cost per chunk: the products
    ``X W^T``, ``coef W`` (gradient) and ``U W^T`` (slopes), then O(m log m) per init and point.

    Examples
    --------
    >>> from boundcheck import init_network, sample_sphere
    >>> net = init_network(20, 200, parametrization="theory", rng=0)
    >>> res = min_flip_step(net, sample_sphere(5, 20, rng=1))
    >>> res.eta.shape, bool(res.flipped.all())
    ((1, 5), True)
    """
    net = check_network(net)
    X = check_points(net, X)
    W, b = check_weights(net, W), check_biases(net, b)
    method = check_choice(method, "method", FLIP_METHODS)
    grid_step = check_real(grid_step, "grid_step", minimum=0.0, closed_min=False)
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    K, m, d = W.shape
    n = len(X)
    labels = None if y is None else _check_labels(y, n)
    if authors_convention is None:
        authors_convention = method == "grid"
    elif not isinstance(authors_convention, (bool, np.bool_)):
        raise TypeError(f"authors_convention must be a bool or None, got {authors_convention!r}")
    user_dir = None
    if direction is not None:
        user_dir = as_float_array(direction, "direction", ndim=(2, 3))
        if user_dir.ndim == 2:
            if user_dir.shape != (n, d):
                raise ValueError(f"direction must have shape (n, d) = ({n}, {d}) or (K, n, d), "
                                 f"got {user_dir.shape}")
            user_dir = np.broadcast_to(user_dir, (K, n, d))
        elif user_dir.shape != (K, n, d):
            raise ValueError(f"direction must have shape (K, n, d) = ({K}, {n}, {d}) or (n, d), "
                             f"got {user_dir.shape}")
        user_dir, _ = unit_rows(user_dir)
    if batch is None:
        batch = max(1, min(n, CHUNK_BYTES // (8 * K * (2 * m + 2 * d))))
    else:
        batch = check_int(batch, "batch", minimum=1)

    scale, c = output_scale(net), output_bias(net)
    f = np.empty((K, n))
    t = np.empty((K, n))
    gnorm = np.empty((K, n))
    U = np.empty((K, n, d))
    Wt = W.transpose(0, 2, 1)
    f_again = np.empty((K, n))  # the scan recomputes f(x) (bitwise equal to f)
    for lo, hi in chunks(n, batch):
        pre = stacked_preactivations(X[lo:hi], W, b)
        _kernels.forward_from_pre(pre, net.a, c, scale, f, lo)
        coef = np.empty((K, hi - lo, m))
        _kernels.gradient_coefficients(pre, net.a, scale, coef)
        g = coef @ W
        unit, gnorm[:, lo:hi] = unit_rows(g)
        if user_dir is None:
            sgn = np.where(f[:, lo:hi] >= 0, -1.0, 1.0)
            U[:, lo:hi] = sgn[..., None] * unit
        else:
            U[:, lo:hi] = user_dir[:, lo:hi]
        if method == "exact":
            slope = np.matmul(U[:, lo:hi], Wt)
            _attack_kernels.ray_first_flip(pre, slope, net.a, c, scale, t, f_again, lo)

    correct = None if labels is None else (labels[None, :] * f > 0)
    searched = np.ones((K, n), dtype=bool)
    if labels is not None and authors_convention:
        searched = correct.copy()

    if method == "exact":
        delta = t
        flipped = np.isfinite(t)
    else:
        counts, flipped = _grid_search(net, X, W, b, U, f, searched, grid_step, max_steps)
        delta = counts * grid_step
    delta = np.where(searched, delta, 0.0)
    flipped = flipped & searched
    if user_dir is None:
        # eta = delta / ||grad f||: 0 where delta = 0, +inf where the gradient vanishes (never flips)
        safe = np.where(gnorm > 0, gnorm, 1.0)
        eta = np.where(delta == 0, 0.0, np.where(gnorm > 0, delta / safe, np.inf))
    else:
        eta = delta.copy()
    return FlipStep(eta=eta, delta=delta, grad_norm=gnorm, f=f, flipped=flipped, direction=U, method=method,
                    searched=searched, correct=correct,
                    grid_step=grid_step if method == "grid" else None,
                    max_steps=max_steps if method == "grid" else None)


def _grid_search(net, X, W, b, U, f0, searched, h, max_steps):
    """The authors' grid: forward passes at x + j h u, j = 1..max_steps, with early exit per point.

    Points still searching are evaluated together; when few remain, several grid points per point go into
    one product (at most ~32 MiB of pre-activations), which only wastes evaluations past the first flip.

    Returns
    -------
    counts : ndarray of int64, shape (K, n)
        First flipping j, or ``max_steps`` where none flips (0 where not searched).
    flipped : ndarray of bool, shape (K, n)
    """
    K, m, d = W.shape
    n = len(X)
    scale, c = output_scale(net), output_bias(net)
    counts = np.zeros((K, n), dtype=np.int64)
    flipped = np.zeros((K, n), dtype=bool)
    rows_target = max(1, CHUNK_BYTES // (8 * max(m, d)))
    for k in range(K):
        todo = np.flatnonzero(searched[k])
        counts[k, todo] = max_steps
        # a zero direction never moves x, so f(x') = f(x) at every grid point: no flip
        moving = np.einsum("id,id->i", U[k, todo], U[k, todo]) > 0
        remaining = todo[moving]
        Wk_t = W[k].T
        ak, ck = net.a[k:k + 1], c[k:k + 1]
        j0 = 1
        while remaining.size and j0 <= max_steps:
            r = remaining.size
            B = int(min(max(1, rows_target // r), max_steps - j0 + 1))
            steps = h * np.arange(j0, j0 + B, dtype=float)
            Xp = X[remaining][:, None, :] + steps[None, :, None] * U[k, remaining][:, None, :]
            pre = Xp.reshape(r * B, d) @ Wk_t
            if b is not None:
                pre += b[k][None, :]
            fp = np.empty((1, r * B))
            _attack_kernels.forward_per_init(pre[None], ak, ck, scale, fp)
            fp = fp.reshape(r, B)
            positive = f0[k, remaining] >= 0
            hit = np.where(positive[:, None], fp < 0, fp >= 0)
            any_hit = hit.any(axis=1)
            first = np.argmax(hit, axis=1)
            done = remaining[any_hit]
            counts[k, done] = j0 + first[any_hit]
            flipped[k, done] = True
            remaining = remaining[~any_hit]
            j0 += B
    return counts, flipped


# --------------------------------------------------------------------------- projections

def _eps_for(eps, lead_shape, name="eps") -> np.ndarray:
    eps = as_float_array(eps, name)
    if (eps < 0).any():
        raise ValueError(f"{name} must be >= 0")
    try:
        return np.broadcast_to(eps, lead_shape)
    except ValueError:
        raise ValueError(f"{name} of shape {eps.shape} does not broadcast against the leading shape "
                         f"{lead_shape} of delta (one budget per vector)") from None


def project_l2(delta, eps) -> np.ndarray:
    """Euclidean projection of each vector ``delta[..., :]`` onto the l2 ball of radius eps.

    ``delta * min(1, eps / ||delta||)`` (the authors' ``delta * eps / max(eps, ||delta||)``), exact up to
    rounding; zero vectors stay zero.

    Parameters
    ----------
    delta : array_like, shape (..., d)
    eps : float or array_like
        Radii >= 0, broadcast against ``delta.shape[:-1]`` (one radius per vector).

    Returns
    -------
    ndarray, shape (..., d)
    """
    delta = as_float_array(delta, "delta")
    if delta.ndim < 1:
        raise ValueError("delta must have at least one dimension (..., d)")
    eps = _eps_for(eps, delta.shape[:-1])
    return _project_l2(delta, eps)


def _project_l2(delta, eps):
    norms = row_norms(delta)
    outside = norms > eps
    factor = np.divide(eps, norms, out=np.ones_like(norms), where=outside)
    return delta * factor[..., None]


def project_linf(delta, eps) -> np.ndarray:
    """Projection onto the l-inf ball of radius eps: clip every coordinate to ``[-eps, eps]``.

    Parameters
    ----------
    delta : array_like, shape (..., d)
    eps : float or array_like
        Radii >= 0, broadcast against ``delta.shape[:-1]``.

    Returns
    -------
    ndarray, shape (..., d)
    """
    delta = as_float_array(delta, "delta")
    if delta.ndim < 1:
        raise ValueError("delta must have at least one dimension (..., d)")
    eps = _eps_for(eps, delta.shape[:-1])[..., None]
    return np.clip(delta, -eps, eps)


def project_box(x_plus_delta, low, high) -> np.ndarray:
    """Projection onto the box ``[low, high]`` (coordinate-wise clip), e.g. pixels in [0, 1].

    Parameters
    ----------
    x_plus_delta : array_like, shape (..., d)
    low, high : float or array_like
        Bounds broadcast against ``x_plus_delta``, with ``low <= high``.

    Returns
    -------
    ndarray, shape (..., d)
    """
    z = as_float_array(x_plus_delta, "x_plus_delta")
    low = as_float_array(low, "low")
    high = as_float_array(high, "high")
    try:
        shape = np.broadcast_shapes(low.shape, high.shape, z.shape)
    except ValueError:
        raise ValueError(f"low and high must broadcast against x_plus_delta {z.shape}, got shapes {low.shape} "
                         f"and {high.shape}") from None
    if (np.broadcast_to(low, shape) > np.broadcast_to(high, shape)).any():
        raise ValueError("low must be <= high everywhere")
    return np.clip(z, low, high)


# --------------------------------------------------------------------------- one-step attacks

def fgm(net: Network, X, y, eps: float, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """Fast gradient method in l2: ``delta = -eps * y * grad_x f / ||grad_x f||``.

    For the binary logistic loss the loss gradient is a positive multiple of ``-y grad_x f``, so the loss
    drops out. A zero gradient gives a zero delta.

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    eps : float
        Budget >= 0.
    W, b : optional
        Lazy weights (K, m, d) and biases (K, m).

    Returns
    -------
    ndarray, shape (K, n, d)
    """
    net = check_network(net)
    X = check_points(net, X)
    y = _check_labels(y, len(X))
    eps = check_real(eps, "eps", minimum=0.0)
    unit, _ = unit_rows(input_gradient(net, X, W, b, batch=batch))
    return -eps * y[None, :, None] * unit


def fgsm(net: Network, X, y, eps: float, W=None, b=None, *, batch: int | None = None) -> np.ndarray:
    """Fast gradient sign method in l-inf: ``delta = -eps * y * sign(grad_x f)`` (sign(0) = 0).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    eps : float
        Budget >= 0.
    W, b : optional
        Lazy weights (K, m, d) and biases (K, m).

    Returns
    -------
    ndarray, shape (K, n, d)
    """
    net = check_network(net)
    X = check_points(net, X)
    y = _check_labels(y, len(X))
    eps = check_real(eps, "eps", minimum=0.0)
    return -eps * y[None, :, None] * np.sign(input_gradient(net, X, W, b, batch=batch))


# --------------------------------------------------------------------------- PGD

@dataclass(frozen=True, eq=False)
class PGDResult:
    """Projected gradient ascent on the logistic loss, per budget, init and point.

    Attributes
    ----------
    delta : ndarray, shape (E, K, n, d)
        The best perturbation found (highest loss, i.e. lowest margin ``y f``).
    X_adv : ndarray, shape (E, K, n, d)
        ``X + delta``.
    f_adv : ndarray, shape (E, K, n)
        ``f(X_adv; W)``.
    loss : ndarray, shape (E, K, n)
        ``log(1 + exp(-y f_adv))``.
    success : ndarray of bool, shape (E, K, n)
        ``y f_adv <= 0``.
    eps : ndarray, shape (E,)
        Budgets (a scalar eps gives E = 1).
    norm : {"l2", "linf"}
    steps : int
    step_size : ndarray, shape (E,)
    random_start : bool
    """

    delta: np.ndarray
    X_adv: np.ndarray
    f_adv: np.ndarray
    loss: np.ndarray
    success: np.ndarray
    eps: np.ndarray
    norm: str
    steps: int
    step_size: np.ndarray
    random_start: bool


def _per_init_pass(net, Xq, W, b, need_grad):
    """f (K, N) and optionally grad_x f (K, N, d) at per-init points Xq (K, N, d): one batched product."""
    K, N, _ = Xq.shape
    pre = np.matmul(Xq, W.transpose(0, 2, 1))
    if b is not None:
        pre += b[:, None, :]
    f = np.empty((K, N))
    if not need_grad:
        _attack_kernels.forward_per_init(pre, net.a, output_bias(net), output_scale(net), f)
        return f, None
    coef = np.empty_like(pre)
    _attack_kernels.forward_and_coefficients_per_init(pre, net.a, output_bias(net), output_scale(net), f, coef)
    return f, coef @ W


def pgd(net: Network, X, y, eps, *, norm: str = "l2", steps: int = 100, step_size=None,
        random_start: bool = False, box=None, W=None, b=None, rng=None,
        batch: int | None = None, dtype=np.float64) -> PGDResult:
    """Projected gradient ascent on ``log(1 + exp(-y f(x + delta)))`` over ``||delta|| <= eps``.

    Each step (the order of the authors' code, theory section 6.4):

    - l2: ``delta += alpha * g / ||g||``; linf: ``delta += alpha * sign(g)``, with ``g = -y grad_x f(x +
      delta)`` (the loss gradient up to the positive factor ``sigmoid(-y f)``; a zero gradient does not
      move);
    - clip ``x + delta`` to the box (if any);
    - project delta onto the eps ball (l2: rescale; linf: clip).

    The best iterate (highest loss, i.e. lowest margin ``y f``; the start counts) is returned, so PGD never
    does worse than its own start. If x lies in the box, so does every iterate (the ball projection moves
    ``x + delta`` towards x).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    eps : float or array_like, shape (E,)
        One or several budgets >= 0 (attacked independently, in one vectorized run).
    norm : {"l2", "linf"}
    steps : int
        Number of ascent steps (authors: 100); 0 returns the start.
    step_size : float or array_like, shape (E,), optional
        alpha; default ``2.5 * eps / steps`` (Madry et al.; the authors' choice).
    random_start : bool
        Start uniformly in the ball (l2: a direction uniform on the sphere and radius ``eps U^(1/d)``;
        linf: uniform in the cube) instead of at 0. The start is drawn once per init and point, as a point
        of the unit ball, and scaled by each eps, so several budgets in one call equal separate calls
        with the same ``rng``.
    box : tuple (low, high), optional
        Bounds for ``x + delta``, scalars or arrays of shape (d,), e.g. ``(0, 1)`` for pixels.
    W, b : optional
        Lazy weights (K, m, d) and biases (K, m).
    rng : None, int, SeedSequence or numpy.random.Generator
        For the random start only.
    batch : int, optional
        Points per chunk (default: as many as fit in 32 MiB of buffers, or, for d < 64, as keep a chunk's
        pre-activations in cache); memory O(batch * E * (m + d)). Each step's two products are one BLAS call
        per init on the chunk's ``E * batch`` rows.
    dtype : {numpy.float64, numpy.float32}
        Working precision of the iterates and of the two matrix products per step (the authors attack in
        float32). X, W, b and the start are rounded to it; ``f_adv`` and ``loss`` are float64, computed
        from the working-precision products; ``delta`` and ``X_adv`` are in the working precision.

    Returns
    -------
    PGDResult
        Arrays with a leading budget axis E (E = 1 for a scalar eps).

    Notes
    -----
    The loop runs compiled (:func:`boundcheck._attack_kernels.pgd_run`): per step the two products on one
    BLAS thread (so the result does not depend on the thread count) and fused passes, about 1.0-1.3x the
    time of the products alone (docs/speed.md). The plain-numpy loop ``attacks._pgd_reference`` does the
    same arithmetic in the same order and agrees with it bit for bit (tests/test_pgd_compiled.py).

    Examples
    --------
    >>> import numpy as np
    >>> from boundcheck import init_network, sample_sphere
    >>> net = init_network(10, 100, parametrization="theory", rng=0)
    >>> X = sample_sphere(4, 10, rng=1)
    >>> res = pgd(net, X, np.ones(4), [0.1, 0.5], steps=20)
    >>> res.delta.shape
    (2, 1, 4, 10)
    """
    return _pgd(net, X, y, eps, norm=norm, steps=steps, step_size=step_size, random_start=random_start, box=box,
                W=W, b=b, rng=rng, batch=batch, dtype=dtype)


# Rows per product that keep a chunk's pre-activations (rows x m) in about half of a 2 MiB L2 cache, and the
# fewest rows worth a product of their own (OpenBLAS repacks W at every call: products of 128 rows took
# 1.02-1.26x the time of one 600-row product, of 64 rows 1.11-1.58x; docs/speed.md).
_PGD_TILE_BYTES = 5 * 2**18
_PGD_MIN_TILE_ROWS = 128
# Below this input dimension the pass over the pre-activations is a large enough share of a step (the
# products do 2 d flops per pre-activation) that keeping them in cache pays for the smaller products.
_PGD_TILE_MAX_DIM = 64


def _default_batch(n, E, K, m, d, itemsize, reference):
    """Points per chunk when the caller gives none.

    The compiled loop holds one init's rows at a time (pre-activations and four (rows, d) arrays), the
    reference all K inits' rows; both at most CHUNK_BYTES. For d < _PGD_TILE_MAX_DIM the compiled loop
    takes chunks whose pre-activations fit _PGD_TILE_BYTES when that leaves at least _PGD_MIN_TILE_ROWS rows
    (measured at m = 1000: d = 25 1.19 -> 1.02x the GEMMs in float64, 1.34 -> 1.31x in float32; d = 49 1.14 ->
    1.07x and 1.25 -> 1.23x; at d = 100 neutral in float64 and 1.18 -> 1.21x in float32, at d = 784 a loss)."""
    per_point = E * (m + 4 * d) * itemsize * (K if reference else 1)
    batch = max(1, min(n, CHUNK_BYTES // per_point))
    rows = _PGD_TILE_BYTES // (m * itemsize)
    if not reference and d < _PGD_TILE_MAX_DIM and rows >= _PGD_MIN_TILE_ROWS:
        batch = min(batch, max(1, rows // E))
    return batch


def _pgd_reference(net, X, y, eps, **options) -> PGDResult:
    """:func:`pgd` computed by the plain-numpy loop (for tests and benchmarks)."""
    return _pgd(net, X, y, eps, _reference=True, **options)


def _pgd(net: Network, X, y, eps, *, norm: str = "l2", steps: int = 100, step_size=None,
         random_start: bool = False, box=None, W=None, b=None, rng=None,
         batch: int | None = None, dtype=np.float64, _reference: bool = False) -> PGDResult:
    net = check_network(net)
    dt = check_float_dtype(dtype)
    X = check_points(net, X)
    n = len(X)
    y = _check_labels(y, n)
    eps = _check_eps(eps)
    E = eps.size
    norm = check_choice(norm, "norm", NORMS)
    steps = check_int(steps, "steps", minimum=0)
    if step_size is None:
        alpha = 2.5 * eps / steps if steps else np.zeros(E)
    else:
        alpha = as_float_array(step_size, "step_size", ndim=(0, 1)).reshape(-1)
        if alpha.size == 1:
            alpha = np.repeat(alpha, E)
        if alpha.shape != (E,):
            raise ValueError(f"step_size must be a scalar or have shape (E,) = ({E},) like eps, got {alpha.shape}")
        if (alpha < 0).any():
            raise ValueError("step_size must be >= 0")
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start must be a bool, got {random_start!r}")
    W, b = check_weights(net, W), check_biases(net, b)
    K, m, d = W.shape
    bounds = _check_box(box, d)
    if batch is None:
        batch = _default_batch(n, E, K, m, d, np.dtype(dt).itemsize, _reference)
    else:
        batch = check_int(batch, "batch", minimum=1)

    gen = check_rng(rng)  # checked even when unused, so a bad rng never passes silently
    start = None
    if random_start:
        if norm == "l2":
            G = gen.standard_normal((K, n, d))
            unit, _ = unit_rows(G)
            radius = gen.random((K, n)) ** (1.0 / d)
            start = unit * radius[..., None]
        else:
            start = gen.uniform(-1.0, 1.0, (K, n, d))

    run = _pgd_chunks_reference if _reference else _pgd_chunks
    Xw, Ww = X.astype(dt), W.astype(dt)
    bw = None if b is None else b.astype(dt)
    if bounds is not None:
        bounds = tuple(v.astype(dt) for v in bounds)
    delta_out, f_out = run(net, Xw, y, eps, alpha, norm, steps, start, bounds, Ww, bw, batch)

    X_adv = Xw[None, None] + delta_out
    margin = y[None, None, :] * f_out
    return PGDResult(delta=delta_out, X_adv=X_adv, f_adv=f_out, loss=np.logaddexp(0.0, -margin),
                     success=margin <= 0, eps=eps, norm=norm, steps=steps, step_size=alpha,
                     random_start=bool(random_start))


def _lane_total(V):
    """Sums over the last axis in the order of the compiled loop (:data:`boundcheck._attack_kernels.LANES`
    sequential partial sums, lane l taking the entries l, l + LANES, ...; then lane l + h added into lane l
    for h = LANES/2, ..., 1), in the dtype of V. Zeros pad the last axis to a multiple of LANES (adding
    +0.0 leaves a partial sum unchanged)."""
    L = _attack_kernels.LANES
    pad = (-V.shape[-1]) % L
    if pad:
        V = np.concatenate([V, np.zeros(V.shape[:-1] + (pad,), V.dtype)], axis=-1)
    lanes = np.cumsum(V.reshape(V.shape[:-1] + (-1, L)), axis=-2)[..., -1, :]  # cumsum: one running sum
    h = L // 2
    while h >= 1:
        lanes = lanes[..., :h] + lanes[..., h:2 * h]
        h //= 2
    return lanes[..., 0]


def _pgd_chunks_reference(net, X, y, eps, alpha, norm, steps, start, bounds, W, b, batch):
    """The plain-numpy PGD loop that :func:`boundcheck._attack_kernels.pgd_run` is tested against (array
    operations with temporaries, the best iterate kept with ``np.where``), in the dtype of X and W.

    It does the same arithmetic in the same order as the compiled loop (the products as numpy's matmul on
    the same (E * chunk, d) and (E * chunk, m) blocks per init; the sums over a row by :func:`_lane_total`),
    so the two agree bit for bit where BLAS gives the same bits for the same product."""
    K, m, d = W.shape
    n, E = len(X), eps.size
    dt = X.dtype
    delta_out = np.empty((E, K, n, d), dt)
    f_out = np.empty((E, K, n))
    eps_w = eps.astype(dt)[None, :, None]                 # (1, E, 1) against (K, E, nc)
    scale, c = output_scale(net), output_bias(net)
    a_w = net.a.astype(dt)
    sa = (scale * net.a).astype(dt)
    Wt = W.transpose(0, 2, 1)
    for lo, hi in chunks(n, batch):
        nc = hi - lo
        Xc = X[lo:hi]
        yc = y[lo:hi][None, None, :]                      # (1, 1, nc)
        step = (-yc * alpha[None, :, None]).astype(dt)    # (1, E, nc)
        if start is None:
            D = np.zeros((K, E, nc, d), dt)
        else:
            D = (eps[None, :, None, None] * start[:, None, lo:hi, :]).astype(dt)
        D = _constrain_reference(D, Xc, eps_w, norm, bounds)

        def evaluate(D, need_grad):
            Xq = (Xc[None, None] + D).reshape(K, E * nc, d)
            Z = np.matmul(Xq, Wt)
            if b is not None:
                Z = Z + b[:, None, :]
            on = Z > 0
            fq = scale * _lane_total(a_w[:, None, :] * np.where(on, Z, 0).astype(dt)).astype(np.float64) \
                + c[:, None]
            gq = None
            if need_grad:
                gq = np.matmul(np.where(on, sa[:, None, :], 0).astype(dt), W).reshape(K, E, nc, d)
            return fq.reshape(K, E, nc), gq

        f, g = evaluate(D, steps > 0)
        best_margin = yc * f
        best_D = D.copy()
        best_f = f.copy()
        for it in range(steps):
            if norm == "l2":
                gn = np.sqrt(_lane_total(g * g))
                moving = gn > 0
                factor = np.where(moving, step / np.where(moving, gn, 1), 0).astype(dt)
                D = np.where(moving[..., None], D + factor[..., None] * g, D)
            else:
                D = D + step[..., None] * np.sign(g)
            D = _constrain_reference(D, Xc, eps_w, norm, bounds)
            f, g = evaluate(D, it < steps - 1)
            margin = yc * f
            better = margin < best_margin
            if better.any():
                best_margin = np.where(better, margin, best_margin)
                best_f = np.where(better, f, best_f)
                best_D = np.where(better[..., None], D, best_D)
        delta_out[:, :, lo:hi] = best_D.transpose(1, 0, 2, 3)
        f_out[:, :, lo:hi] = best_f.transpose(1, 0, 2)
    return delta_out, f_out


def _constrain_reference(D, Xc, eps_w, norm, bounds):
    """Clip x + delta to the box, then project delta onto the eps ball (authors' order), in D's dtype."""
    if bounds is not None:
        D = np.clip(Xc[None, None] + D, bounds[0], bounds[1]) - Xc[None, None]
    if norm == "l2":
        dn = np.sqrt(_lane_total(D * D))
        outside = dn > eps_w
        return np.where(outside[..., None], D * (eps_w / np.where(outside, dn, 1))[..., None], D)
    return np.clip(D, -eps_w[..., None], eps_w[..., None])


def _pgd_chunks(net, X, y, eps, alpha, norm, steps, start, bounds, W, b, batch):
    """PGD at its roofline: the compiled loop :func:`boundcheck._attack_kernels.pgd_run` (per step, two BLAS
    products on E * batch rows per init and fused passes; no Python per step). The products run on one
    BLAS thread, as the trainers' do: OpenBLAS's multi-threaded products round differently at block edges,
    and PGD's iterates would then depend on the thread count."""

    K, m, d = W.shape
    n, E = len(X), eps.size
    dt = X.dtype
    delta_out = np.empty((E, K, n, d), dt)
    f_out = np.empty((E, K, n))
    if n == 0:
        return delta_out, f_out
    if bounds is None:
        low = high = np.zeros(d, dt)
    else:
        low, high = (np.ascontiguousarray(v, dtype=dt) for v in bounds)
    scale = output_scale(net)
    b_w = np.zeros((K, m), dt) if b is None else np.ascontiguousarray(b, dtype=dt)
    use_start = start is not None
    start = start if use_start else np.zeros((1, 1, 1))
    one_blas_thread(_attack_kernels.pgd_run)(np.ascontiguousarray(X), y, np.ascontiguousarray(W), b_w, net.a.astype(dt),
                            (scale * net.a).astype(dt), output_bias(net), scale, eps, eps.astype(dt),
                            alpha.astype(dt), start, use_start, low, high, bounds is not None, norm == "l2",
                            steps, batch, dt.type(0), delta_out, f_out)
    return delta_out, f_out


def robust_error(net: Network, X, y, eps, **pgd_options) -> np.ndarray:
    """Fraction of points misclassified under the PGD attack, per budget and init.

    A point counts as an error if ``y f(x) <= 0`` or ``y f(x + delta) <= 0`` for the PGD delta (the sup
    over the ball includes delta = 0, even when PGD starts at random).

    Parameters
    ----------
    net : Network
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    eps : float or array_like, shape (E,)
    **pgd_options
        Keyword arguments of :func:`pgd` (norm, steps, step_size, random_start, box, W, b, rng, batch,
        dtype). The clean margin ``y f(x)`` is computed in the same ``dtype`` (PGD with no step at
        eps = 0).

    Returns
    -------
    ndarray, shape (E, K)
    """
    res = pgd(net, X, y, eps, **pgd_options)
    same = {k: pgd_options[k] for k in ("W", "b", "batch", "dtype") if k in pgd_options}
    clean = pgd(net, X, y, 0.0, steps=0, **same).success[0]  # y f(x) <= 0, shape (K, n)
    return (res.success | clean[None]).mean(axis=-1)
