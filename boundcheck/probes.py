"""How linearly separable labelled points (one-step noises, or raw inputs as the control) are.

Fixed directions (no fitting):

* :func:`zero_shot_directions`: ``v = -sum_s a_s w0_s`` (binary) or ``v_k = -sum_s A_ks w0_s`` per class:
  a data-free separator of a network's noises at initialization; predict ``sign <v, delta>`` or
  ``argmax_k <v_k, delta>``;
* :func:`signed_margins` / :func:`multiclass_margins`: normalized margins against given directions;
* :func:`hebbian_directions`: the label-signed mean (binary) or class means (multi-class) of a few points;
* :func:`direction_accuracy`: the accuracy of such a rule.

Fitted probes and the certificate:

* :func:`logistic_probe`: L2-regularized logistic / softmax regression on standardized features (train
  statistics), fit by L-BFGS with a bounded number of iterations, evaluated on held-out points;
* :func:`lp_separable`: exact separability by a max-margin linear program (HiGHS), refused where Cover's
  counting makes separability unremarkable (``n <= 2 (d + 1)``, :func:`cover_capacity`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ._numeric import unit_rows
from ._validate import as_float_array, check_int, check_real
from .multiclass import _check_any_net, _check_binary_labels, _check_class_labels, _check_W
from .network import Network

__all__ = [
    "zero_shot_directions", "signed_margins", "multiclass_margins", "hebbian_directions",
    "direction_accuracy", "ProbeResult", "logistic_probe", "LPResult", "lp_separable", "cover_capacity",
]


# ==========================================================================================================
# Directions, margins, accuracies
# ==========================================================================================================

def zero_shot_directions(net, W=None) -> np.ndarray:
    """The data-free separating directions at initialization (or the same built from other weights).

    Binary: ``v = -sum_s a_s w0_s`` (predict ``sign <v, delta>``). Multi-class: ``v_k = -sum_s A_ks w0_s``
    (predict ``argmax_k <v_k, delta>``). The minus sign is the untargeted attack's: the noise moves
    against ``y grad f`` and ``grad f`` has mean ``u / (2 sqrt m)``, ``u = sum_s a_s w_s``.

    Parameters
    ----------
    net : Network or MulticlassNetwork
    W : array_like, shape (K, m, d), optional
        First-layer weights to build the directions from instead of ``net.W0`` (e.g. trained weights).

    Returns
    -------
    ndarray, shape (K, d) (binary) or (K, C, d) (multi-class)
    """
    net = _check_any_net(net)
    W = _check_W(net, W)
    if isinstance(net, Network):
        return -np.einsum("ks,ksd->kd", net.a, W)
    return -np.matmul(net.A, W)


def _check_noises(noises, name: str = "noises") -> np.ndarray:
    return as_float_array(noises, name, ndim=(2, 3))


def signed_margins(noises, y, direction) -> np.ndarray:
    """Binary normalized margins ``gamma_i = y_i <v / ||v||, delta_i / ||delta_i||>``.

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    direction : array_like, shape (d,) or (K, d)
        One direction per net (broadcast against the noises).

    Returns
    -------
    ndarray, shape (n,) or (K, n)
        In [-1, 1]; 0 for a zero noise.
    """
    D = _check_noises(noises)
    n, d = D.shape[-2:]
    yv = _check_binary_labels(y, n)
    v = as_float_array(direction, "direction", ndim=(1, 2))
    if v.shape[-1] != d:
        raise ValueError(f"direction must have last dimension d = {d}, got shape {v.shape}")
    if D.ndim == 2 and v.ndim == 2:
        raise ValueError("direction must be 1-D (d,) for 2-D noises (n, d)")
    if D.ndim == 3 and v.ndim == 2 and v.shape[0] != D.shape[0]:
        raise ValueError(f"direction must have shape (K, d) = ({D.shape[0]}, {d}), got {v.shape}")
    vhat = unit_rows(v)[0]
    proj = np.einsum("...nd,...d->...n", unit_rows(D)[0], vhat)
    return yv * proj


def multiclass_margins(noises, y, directions) -> np.ndarray:
    """Multi-class normalized margins ``<v_y, delta> - max_{k != y} <v_k, delta>`` (unit ``v_k``, ``delta``).

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like of int, shape (n,)
    directions : array_like, shape (C, d) or (K, C, d)

    Returns
    -------
    ndarray, shape (n,) or (K, n)
        Positive where the rule ``argmax_k <v_k, delta>`` is right.
    """
    D = _check_noises(noises)
    n, d = D.shape[-2:]
    V = as_float_array(directions, "directions", ndim=(2, 3))
    if V.shape[-1] != d:
        raise ValueError(f"directions must have last dimension d = {d}, got shape {V.shape}")
    if D.ndim == 2 and V.ndim == 3:
        raise ValueError("directions must be 2-D (C, d) for 2-D noises (n, d)")
    if D.ndim == 3 and V.ndim == 3 and V.shape[0] != D.shape[0]:
        raise ValueError(f"directions must have shape (K, C, d) with K = {D.shape[0]}, got {V.shape}")
    C = V.shape[-2]
    yv = _check_class_labels(y, n, C)
    scores = np.matmul(unit_rows(D)[0], np.swapaxes(unit_rows(V)[0], -1, -2))  # (..., n, C)
    idx = np.arange(n)
    own = scores[..., idx, yv]
    scores[..., idx, yv] = -np.inf
    return own - scores.max(axis=-1)


def hebbian_directions(noises, y, *, n_classes: int | None = None) -> np.ndarray:
    """Directions learned by averaging noises (no optimization).

    Binary (``n_classes=None``, labels in {-1, +1}): ``v = mean_i y_i delta_i / ||delta_i||``.
    Multi-class: ``v_k`` = the mean of the unit noises of class ``k`` (zero for a class with no noise).

    Parameters
    ----------
    noises : array_like, shape (n, d) or (K, n, d)
    y : array_like, shape (n,)
    n_classes : int, optional

    Returns
    -------
    ndarray, shape (d,) / (K, d) (binary) or (C, d) / (K, C, d) (multi-class)
    """
    D = _check_noises(noises)
    n = D.shape[-2]
    if n < 1:
        raise ValueError("noises must hold at least one noise")
    U = unit_rows(D)[0]
    if n_classes is None:
        yv = _check_binary_labels(y, n)
        return np.einsum("...nd,n->...d", U, yv) / n
    C = check_int(n_classes, "n_classes", minimum=2)
    yv = _check_class_labels(y, n, C)
    onehot = np.zeros((C, n))
    onehot[yv, np.arange(n)] = 1.0
    counts = np.maximum(onehot.sum(axis=1, keepdims=True), 1.0)
    return np.matmul(onehot / counts, U)


def direction_accuracy(noises, y, directions):
    """Accuracy of the linear rule given by fixed directions (no offset).

    Binary when ``directions`` has one dimension less than ``noises`` (``(d,)`` for ``(n, d)``,
    ``(K, d)`` for ``(K, n, d)``): predict ``sign <v, delta>``; multi-class otherwise
    (``(C, d)`` / ``(K, C, d)``): predict ``argmax_k <v_k, delta>``. Ties and zero scores count as errors.

    Returns
    -------
    float or ndarray of shape (K,)
    """
    D = _check_noises(noises)
    V = as_float_array(directions, "directions")
    if V.ndim == D.ndim - 1:
        acc = (signed_margins(D, y, V) > 0).mean(axis=-1)
    elif V.ndim == D.ndim:
        acc = (multiclass_margins(D, y, V) > 0).mean(axis=-1)
    else:
        raise ValueError(f"directions must have {D.ndim - 1} (binary) or {D.ndim} (multi-class) dimensions "
                         f"for noises of shape {D.shape}, got shape {V.shape}")
    return float(acc) if np.ndim(acc) == 0 else acc


# ==========================================================================================================
# The logistic-regression probe
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class ProbeResult:
    """A fitted linear probe (L2-regularized logistic or softmax regression) and its accuracies.

    Attributes
    ----------
    train_accuracy, test_accuracy : float
        Accuracies on the training and held-out points (``test_accuracy`` is NaN without a test set).
    n_classes : int
        2 for the binary probe (labels in {-1, +1}), else C.
    coef : ndarray, shape (d,) (binary) or (C, d)
        Weights on the *standardized* features.
    intercept : float or ndarray of shape (C,)
    mean, scale : ndarray, shape (d,)
        The training statistics used to standardize (``scale`` is 1 for constant features).
    lam : float
        The L2 penalty ``(lam / 2) ||coef||^2`` added to the mean loss.
    n_iter : int
        L-BFGS iterations used.
    converged : bool
        Whether L-BFGS met its tolerance within ``max_iter`` iterations.
    """

    train_accuracy: float
    test_accuracy: float
    n_classes: int
    coef: np.ndarray
    intercept: float | np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    lam: float
    n_iter: int
    converged: bool

    def decision_function(self, X) -> np.ndarray:
        """Scores, shape (n,) (binary) or (n, C)."""
        X = as_float_array(X, "X", ndim=2)
        if X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"X must have {self.mean.shape[0]} features, got {X.shape[1]}")
        Z = (X - self.mean) / self.scale
        if self.n_classes == 2 and self.coef.ndim == 1:
            return Z @ self.coef + self.intercept
        return Z @ self.coef.T + self.intercept

    def predict(self, X) -> np.ndarray:
        """Labels in {-1, +1} (binary; a score of exactly 0 gives -1) or 0..C-1."""
        s = self.decision_function(X)
        if s.ndim == 1:
            return np.where(s > 0, 1, -1)
        return np.argmax(s, axis=1)


def _binary_objective(theta, Z, y, lam):
    w, c = theta[:-1], theta[-1]
    t = y * (Z @ w + c)
    n = len(y)
    loss = np.logaddexp(0.0, -t).mean() + 0.5 * lam * (w @ w)
    from scipy.special import expit
    r = -y * expit(-t) / n
    grad = np.empty_like(theta)
    grad[:-1] = Z.T @ r + lam * w
    grad[-1] = r.sum()
    return loss, grad


def _softmax_objective(theta, Z, Y, lam, C):
    d = Z.shape[1]
    V = theta[: C * d].reshape(C, d)
    c = theta[C * d:]
    L = Z @ V.T + c
    Lmax = L.max(axis=1, keepdims=True)
    E = np.exp(L - Lmax)
    S = E.sum(axis=1, keepdims=True)
    n = len(Z)
    loss = float((np.log(S[:, 0]) + Lmax[:, 0] - (L * Y).sum(axis=1)).mean()) + 0.5 * lam * float((V * V).sum())
    R = (E / S - Y) / n
    grad = np.empty_like(theta)
    grad[: C * d] = (R.T @ Z + lam * V).ravel()
    grad[C * d:] = R.sum(axis=0)
    return loss, grad


def logistic_probe(X_train, y_train, X_test=None, y_test=None, *, lam: float = 1e-3, max_iter: int = 300,
                   n_classes: int | None = None, tol: float = 1e-6, threads: int | None = 1) -> ProbeResult:
    """Fit an L2-regularized linear classifier on the training points; report train and test accuracy.

    Features are standardized with the **training** mean and standard deviation. The objective is the
    mean logistic (binary) or softmax cross-entropy (multi-class) loss plus ``(lam / 2) ||coef||^2``
    (the intercept is not penalized), minimized by L-BFGS (``scipy.optimize.minimize``) from zero for at
    most ``max_iter`` iterations: with ``lam > 0`` the problem is strongly convex, so the fit is unique
    and finite even on separable data.

    Parameters
    ----------
    X_train : array_like, shape (n, d)
    y_train : array_like, shape (n,)
        Binary labels in {-1, +1}, or integer classes 0..C-1 (then a softmax probe).
    X_test : array_like, shape (n_test, d), optional
    y_test : array_like, shape (n_test,), optional
    lam : float
        L2 penalty, > 0.
    max_iter : int
        Iteration cap of L-BFGS, >= 1.
    n_classes : int, optional
        C for integer labels (default ``max(y_train) + 1``).
    tol : float
        Gradient tolerance of L-BFGS (``pgtol``).
    threads : int or None
        BLAS threads during the fit (restored afterwards); None leaves the setting alone. The products
        are skinny (n x d by d x C): one thread was 14x faster than two for n = 500, d = 784, C = 10 on
        a shared 2-core machine.

    Returns
    -------
    ProbeResult
    """
    X = as_float_array(X_train, "X_train", ndim=2)
    n, d = X.shape
    if n < 2:
        raise ValueError(f"X_train must hold at least 2 points, got {n}")
    lam = check_real(lam, "lam", minimum=0.0, closed_min=False)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    tol = check_real(tol, "tol", minimum=0.0, closed_min=False)
    y_raw = np.asarray(y_train)
    binary = n_classes is None and y_raw.size > 0 and np.all(np.isin(y_raw, (-1, 1)))
    if binary:
        y = _check_binary_labels(y_raw, n, "y_train")
        C = 2
    else:
        yc = _check_class_labels(y_raw, n, n_classes, "y_train")
        C = check_int(n_classes, "n_classes", minimum=2) if n_classes is not None else max(int(yc.max()) + 1, 2)
    have_test = X_test is not None or y_test is not None
    if have_test:
        if X_test is None or y_test is None:
            raise ValueError("X_test and y_test must be given together")
        Xt = as_float_array(X_test, "X_test", ndim=2)
        if Xt.shape[1] != d:
            raise ValueError(f"X_test must have d = {d} columns like X_train, got {Xt.shape}")
        yt = (_check_binary_labels(y_test, len(Xt), "y_test") if binary
              else _check_class_labels(y_test, len(Xt), C, "y_test"))
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    options = {"maxiter": max_iter, "gtol": tol}
    if threads is not None:
        threads = check_int(threads, "threads", minimum=1)
        from threadpoolctl import threadpool_limits
        with threadpool_limits(threads, user_api="blas"):
            return _fit_probe(Z, X, y if binary else yc, binary, C, lam, options, mean, scale,
                              (Xt, yt) if have_test else None)
    return _fit_probe(Z, X, y if binary else yc, binary, C, lam, options, mean, scale,
                      (Xt, yt) if have_test else None)


def _fit_probe(Z, X, labels, binary, C, lam, options, mean, scale, test) -> ProbeResult:
    from scipy.optimize import minimize

    n, d = Z.shape
    if binary:
        y = labels
        res = minimize(_binary_objective, np.zeros(d + 1), args=(Z, y, lam), jac=True, method="L-BFGS-B",
                       options=options)
        coef, intercept = res.x[:-1].copy(), float(res.x[-1])
    else:
        yc = labels
        Y = np.zeros((n, C))
        Y[np.arange(n), yc] = 1.0
        res = minimize(_softmax_objective, np.zeros(C * (d + 1)), args=(Z, Y, lam, C), jac=True,
                       method="L-BFGS-B", options=options)
        coef, intercept = res.x[: C * d].reshape(C, d).copy(), res.x[C * d:].copy()
    probe = ProbeResult(train_accuracy=float("nan"), test_accuracy=float("nan"), n_classes=C, coef=coef,
                        intercept=intercept, mean=mean, scale=scale, lam=lam, n_iter=int(res.nit),
                        converged=bool(res.success))
    train_acc = float(np.mean(probe.predict(X) == labels))
    test_acc = float(np.mean(probe.predict(test[0]) == test[1])) if test is not None and len(test[0]) else float("nan")
    return dataclasses.replace(probe, train_accuracy=train_acc, test_accuracy=test_acc)


# ==========================================================================================================
# Exact separability by linear programming
# ==========================================================================================================

@dataclass(frozen=True, eq=False)
class LPResult:
    """Whether ``{(x_i, y_i)}`` is strictly linearly separable (with an offset).

    Attributes
    ----------
    separable : bool or None
        True: a separator was found and verified; False: the optimal margin of the LP is 0 (not strictly
        separable); None: the solver stopped without a decision (``status`` says why).
    status : str
        ``"separable"``, ``"not separable"`` or ``"undecided: ..."`` with the solver's message.
    direction : ndarray, shape (d,), or None
        ``v`` with ``y_i (v . x_i + offset) > 0`` for all i (in the original coordinates).
    offset : float or None
    min_margin : float
        ``min_i y_i (v . x_i + offset) / ||v||`` (NaN without a separator): the geometric margin of the
        separator found (a feasible one, not the maximum-margin one).
    n, d : int
    seconds : float
    """

    separable: bool | None
    status: str
    direction: np.ndarray | None
    offset: float | None
    min_margin: float
    n: int
    d: int
    seconds: float


def cover_capacity(d: int) -> int:
    """``2 (d + 1)``: below this many points, random labels are affinely separable with probability >= 1/2.

    Cover (1965): ``n`` points in general position in R^d admit
    ``2 sum_{k=0}^{d} binom(n - 1, k)`` of the ``2^n`` labelings as affine dichotomies; the fraction is 1
    for ``n <= d + 1`` and exactly 1/2 at ``n = 2 (d + 1)``.
    """
    return 2 * (check_int(d, "d", minimum=1) + 1)


def lp_separable(X, y, *, force: bool = False, time_limit: float = 120.0, tol: float = 1e-9) -> LPResult:
    """Decide whether the labelled points are strictly linearly separable (with an offset), by linear programming.

    Solve ``max t`` subject to ``y_i (v . z_i + c) >= t`` for all i, ``-1 <= v_j <= 1``, ``t <= 1``, on
    the standardized features ``z_i`` (an affine change of coordinates, which keeps affine separability
    and helps the solver), with HiGHS's dual simplex. The LP is always feasible and bounded; the set is
    strictly separable iff ``t* > 0``. A separator with ``t* > tol`` is mapped back and **verified** in
    the original coordinates; ``t* <= tol`` is reported as not separable (no separator with a margin above
    ``tol`` in these units exists, up to the solver's tolerances).

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    force : bool
        Run even when ``n <= 2 (d + 1)`` (see Raises).
    time_limit : float
        Seconds allowed to HiGHS; when exceeded, ``separable`` is None.
    tol : float
        Smallest optimal ``t`` taken as separable.

    Returns
    -------
    LPResult

    Raises
    ------
    ValueError
        When ``n <= 2 (d + 1)`` and not ``force``: there, separability says little (Cover 1965: random
        labels on points in general position are separable with probability >= 1/2, and always when
        ``n <= d + 1``); judge such sets by held-out accuracy or a data-independent direction instead.

    Notes
    -----
    Measured (2 shared cores): n = 2000 noises in d = 256 / 784, separable, 0.5 s / 1.5 s; raw Gaussian
    points with random labels (not separable), 3 s / 24 s. The pure feasibility form
    ``y_i (v . x_i + c) >= 1`` left HiGHS undecided on the latter.
    """
    from scipy.optimize import linprog

    X = as_float_array(X, "X", ndim=2)
    n, d = X.shape
    if d < 1 or n < 1:
        raise ValueError(f"X must hold at least one point with at least one feature, got shape {X.shape}")
    yv = _check_binary_labels(y, n)
    time_limit = check_real(time_limit, "time_limit", minimum=0.0, closed_min=False)
    tol = check_real(tol, "tol", minimum=0.0)
    if n <= cover_capacity(d) and not force:
        raise ValueError(
            f"lp_separable refuses n = {n} points in d = {d} dimensions: with n <= 2 (d + 1) = {cover_capacity(d)}, "
            f"even random labels are linearly separable with probability >= 1/2 (Cover 1965; always when "
            f"n <= d + 1), so 'separable' would say nothing about the noises. Use more points than "
            f"2 (d + 1), judge by held-out accuracy, or pass force=True.")
    start = time.perf_counter()
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    A_ub = np.empty((n, d + 2))
    A_ub[:, :d] = -yv[:, None] * Z
    A_ub[:, d] = -yv
    A_ub[:, d + 1] = 1.0
    cost = np.zeros(d + 2)
    cost[-1] = -1.0
    bounds = [(-1.0, 1.0)] * d + [(None, None), (None, 1.0)]
    res = linprog(cost, A_ub=A_ub, b_ub=np.zeros(n), bounds=bounds, method="highs-ds",
                  options={"time_limit": time_limit})
    seconds = time.perf_counter() - start
    if res.status != 0 or res.x is None:
        return LPResult(None, f"undecided: {res.message}", None, None, float("nan"), n, d, seconds)
    t_star = -float(res.fun)
    if t_star <= tol:
        return LPResult(False, "not separable", None, None, float("nan"), n, d, seconds)
    v = res.x[:d] / scale
    c = float(res.x[d] - v @ mean)
    margins = yv * (X @ v + c)
    vn = float(np.linalg.norm(v))
    if not np.all(margins > 0) or vn == 0:
        return LPResult(None, "undecided: the LP separator does not verify in the original coordinates",
                        None, None, float("nan"), n, d, seconds)
    return LPResult(True, "separable", v, c, float(margins.min() / vn), n, d, seconds)
