"""Training in the lazy regime, in plain numpy: lazy SGD and projected adversarial training.

Wang et al. 2022, section 5: the first layer ``W`` (and the first-layer biases ``b``, in the authors'
code) is trained by minibatch SGD on the logistic loss while the top layer ``a`` and the output bias stay
fixed at their initial values. The lazy regime is the ball ``B_{2,inf}(W0, R)``, ``R = C0 / sqrt(m)``,
of rows ``[w_s, b_s]`` (theory section 2).

Two trainers work on **one** init (a :class:`~boundcheck.network.Network` with ``K = 1``; pick one with
``net.select(k)``):

:func:`train_lazy_sgd`
    Section 5.1. Minibatch SGD (lr 0.1, batch 64, at most 1000 epochs in the paper) that either **stops**
    the moment an update would leave the lazy ball (checked before every step; the offending update is
    not applied, so the returned weights are inside the ball) or **projects** onto the ball after every
    step. The authors' code checks once per epoch and keeps the first model outside the ball (theory section
    6.3); checking every step is the stricter rule the toolkit uses.
:func:`train_adversarial`
    Section 5.2, Algorithm 1 (theory section 6.4). Every epoch: PGD-l2 examples for all training points against
    the current model (:func:`boundcheck.attacks.pgd`), one SGD epoch on them, a projection onto the
    ball after every step (or once per epoch, as in the authors' code), clean and robust test accuracy;
    early stopping when the robust training accuracy has not risen by more than ``min_improvement``
    for more than ``patience`` consecutive epochs.

Conventions
-----------
* Loss: ``mean_i log(1 + exp(-y_i f(x_i)))``, computed as ``logaddexp(0, -y f)`` (no overflow), with
  labels ``y`` in {-1, +1}. Its derivative in ``f_i`` is ``-y_i sigmoid(-y_i f_i) / n``.
* ``d f / d w_s = (1/sqrt m) a_s 1{w_s . x + b_s > 0} x`` and ``d f / d b_s`` the same without ``x``
  (``relu'(0) = 0``, as everywhere in boundcheck).
* Order: the training set is shuffled **once** with ``rng`` and then visited in that fixed order every
  epoch (the authors' code, theory section 6.3); ``shuffle="every_epoch"`` reshuffles each epoch. The last
  minibatch of an epoch may be smaller (no sample is dropped).
* A step is two BLAS products over the whole minibatch, ``Z = X_B W^T`` and the in-place update
  ``W += -lr G^T X_B`` (one GEMM with beta = 1; for ``d + 1 < 2 batch_size`` the update is formed apart and
  applied in one fused pass), plus O(batch * m) element-wise work in Numba kernels
  (:mod:`boundcheck._train_kernels`). The steps of an epoch run in **one compiled call**
  (:mod:`boundcheck._sgd_kernels`, BLAS through :mod:`boundcheck._blas_kernels`), back in Python only at epoch
  ends, checkpoints and the stop; a user's ``on_step`` callback selects the Python loop over the same
  compiled step functions (the same numbers, bit for bit).
* The products run on one BLAS thread (OpenBLAS's multi-threaded products round differently at block
  edges), so the same seed gives the same numbers whatever the thread count.
* Memory O(batch_size * m) per step, O(chunk * m) per evaluation, and ``X W0^T`` for the whole training
  set (n * m in the working dtype, up to 2 GiB) once per run.
* ``dtype=np.float32`` halves memory and roughly doubles speed; the returned weights are float64 either way.

The lazy check without a pass over W
------------------------------------
The squared deviation of row s after a step follows from the one before it and what the step computes:
``||D_s - lr G_s^T X||^2 = ||D_s||^2 - 2 lr sum_i G_is (Z_is - Z0_is) + lr^2 G_s^T K G_s`` (augmented rows
and inputs when there are biases; ``K`` the batch Gram matrix). Each row carries a rigorous bound on the
rounding error of this running value; a row that might cross the threshold is recomputed exactly (the
candidate step is formed apart first, so no update that leaves the ball is ever applied), and every row is
recomputed exactly every 64 steps. At small d (``2 d <= batch_size``) the compiled loop skips the tracker:
the update ``U = G^T X_B`` is formed there anyway, and the pass that applies it also computes every row's
exact deviation (m x d work, less than the tracker's batch x m). The result is bit for bit that of the slow
reference trainer ``_train_lazy_sgd_reference`` (every row, every step), in float64 and float32 (tested).
Speed, the rooflines and the float32 validation: ``docs/speed.md``.

Float32 and the ball
--------------------
In float64 the stop and project rules hold exactly: after every applied step
``max_s ||[w_s, b_s] - [w0_s, b0_s]|| <= R`` (checked in the tests after every step). In float32 the
deviation of the float32 weights from the float32-rounded W0 is computed exactly (in float64), and the
projection shrinks to ``R (1 - 1e-5)``; measured against the float64 W0 the deviation can still exceed R
by the rounding of W0 to float32 (about ``6e-8 * ||w0_s||``). In both precisions a projected row is
measured again after it is stored (``w0 + delta f`` rounds every coordinate to a multiple of ``ulp(w0)``,
which can leave it outside when R is far below ``||w0_s||``) and pulled further in until it measures
inside (:func:`boundcheck._train_kernels.project_rows`).
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from . import _sgd_kernels as _sk
from . import _train_kernels as _tk
from ._kernels import ball_slack as _ball_slack
from ._blas_kernels import gemm as _gemm
from ._numeric import one_blas_thread as _one_blas_thread
from ._validate import as_float_array, check_choice, check_float_dtype, check_int, check_real, check_rng
from ._validate_network import check_network
from .network import Network, lazy_radius

__all__ = [
    "LossGradient",
    "Checkpoint",
    "TrainResult",
    "loss_and_gradient",
    "logistic_loss",
    "evaluate",
    "train_lazy_sgd",
    "train_adversarial",
    "STOP_REASONS",
]

#: Why a training run ended.
#: ``"left_ball"`` -- stop mode: the next update would have left the lazy ball (not applied);
#: ``"epochs"`` -- the epoch budget was used up;
#: ``"target_loss"`` -- the training loss reached ``target_loss``;
#: ``"patience"`` -- adversarial training: the robust training accuracy stopped rising.
STOP_REASONS = ("left_ball", "epochs", "target_loss", "patience")

MODES = ("stop", "project")
PROJECTIONS = ("step", "epoch")
SHUFFLES = ("once", "every_epoch")

_EVAL_ELEMENTS = 2**22  # pre-activations per evaluation chunk (32 MiB in float64)


# --------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LossGradient:
    """The logistic loss of one network on a batch and its gradient in the first layer.

    Attributes
    ----------
    loss : float
        ``mean_i log(1 + exp(-y_i f(x_i)))``.
    grad_W : ndarray, shape (m, d)
        d loss / d W.
    grad_b : ndarray, shape (m,), or None
        d loss / d b (None for networks without biases).
    f : ndarray, shape (n,)
        The outputs f(x_i).
    """

    loss: float
    grad_W: np.ndarray
    grad_b: np.ndarray | None
    f: np.ndarray


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """The state a stop-mode run with a smaller ``C0`` would have returned.

    In stop mode the trajectory does not depend on ``C0`` until the run stops, so one run with the largest
    ``C0`` passes through the final state of every run with a smaller one (same init, same ``rng``); a
    checkpoint is that state, bit for bit.

    Attributes
    ----------
    C0 : float
    radius : float
        ``C0 / sqrt(m)``.
    W : ndarray, shape (m, d)
    b : ndarray, shape (m,), or None
    steps : int
        Updates applied before the stop.
    epochs_trained : float
        ``steps / steps_per_epoch``.
    max_deviation : float
        ``max_s ||[w_s, b_s] - [w0_s, b0_s]||`` of the checkpointed state (<= radius).
    stopped_reason : str
        ``"left_ball"``, or the whole run's reason when the run ended before leaving this smaller ball.
    """

    C0: float
    radius: float
    W: np.ndarray
    b: np.ndarray | None
    steps: int
    epochs_trained: float
    max_deviation: float
    stopped_reason: str

    def stacked(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(W[None], b[None])``: the weights in the (K=1, m, d) layout of :mod:`boundcheck.ops`."""
        return self.W[None], None if self.b is None else self.b[None]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """A finished training run of one init.

    Attributes
    ----------
    W : ndarray, shape (m, d)
        The trained first layer (float64).
    b : ndarray, shape (m,), or None
        The trained first-layer biases (None for networks without biases).
    history : pandas.DataFrame
        One row per evaluation: ``epoch`` (0 = at initialization; the epoch during which a stop-mode run
        ended gets its own row), ``steps`` (updates applied so far), ``epochs_trained`` (steps over steps
        per epoch), ``loss``, ``train_acc`` (on the clean training set; NaN when not evaluated),
        ``test_acc`` (NaN without a test set), ``max_deviation`` (``max_s ||[w_s,b_s] - [w0_s,b0_s]||``),
        ``deviation_over_radius`` and ``seconds`` (wall time of that epoch's training, evaluation
        excluded). Adversarial training adds ``robust_train_acc``, ``robust_test_acc``,
        ``attack_seconds`` (PGD on the training set, included in ``seconds``) and ``eval_seconds`` (the
        test set's clean and robust evaluation, not included).
    stopped_reason : str
        One of :data:`STOP_REASONS`.
    steps : int
        Number of updates applied.
    epochs_completed : int
        Number of full epochs.
    steps_per_epoch : int
        ``ceil(n_train / batch_size)``.
    radius : float
        The lazy-ball radius R.
    mode : str
        ``"stop"`` or ``"project"`` (lazy SGD), or ``"adversarial-step"`` / ``"adversarial-epoch"``.
    seconds : float
        Total wall time of the run.
    checkpoints : dict of float to Checkpoint
        Stop mode with ``checkpoints=``: the final state of the run for each smaller ``C0`` (empty
        otherwise).
    """

    W: np.ndarray
    b: np.ndarray | None
    history: pd.DataFrame
    stopped_reason: str
    steps: int
    epochs_completed: int
    steps_per_epoch: int
    radius: float
    mode: str
    seconds: float
    checkpoints: dict = field(default_factory=dict)

    @property
    def epochs_trained(self) -> float:
        """Steps applied over steps per epoch (fractional when a run stopped mid-epoch)."""
        return self.steps / self.steps_per_epoch

    @property
    def final(self) -> dict:
        """The last row of the history, as a dict."""
        return self.history.iloc[-1].to_dict()

    @property
    def seconds_per_epoch(self) -> float:
        """Mean wall time of one full epoch of training (evaluation excluded); NaN before any step."""
        rows = self.history[self.history["epoch"] > 0]
        if not len(rows) or self.steps == 0:
            return float("nan")
        return float(rows["seconds"].sum() / self.epochs_trained)

    def stacked(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(W[None], b[None])``: the trained weights in the (K=1, m, d) layout of :mod:`boundcheck.ops`."""
        return self.W[None], None if self.b is None else self.b[None]


# --------------------------------------------------------------------------------------------------------
# The model in a given dtype
# --------------------------------------------------------------------------------------------------------

@dataclass
class _Model:
    """The fixed parts of one init, cast to the working dtype."""

    a_scaled: np.ndarray  # (m,) a_s / sqrt(m)
    c: float  # output bias (0.0 without)
    W0: np.ndarray  # (m, d)
    b0: np.ndarray | None  # (m,)
    dtype: np.dtype


def _check_single(net) -> Network:
    net = check_network(net)
    if net.n_inits != 1:
        raise ValueError(f"the trainers work on one init at a time, but net has K = {net.n_inits} inits; "
                         "pick one with net.select(k)")
    return net


def _model(net: Network, dtype: np.dtype) -> _Model:
    m = net.width
    c = 0.0 if net.output_bias is None else float(net.output_bias[0])
    return _Model(a_scaled=(net.a[0] / np.sqrt(m)).astype(dtype), c=c, W0=net.W0[0].astype(dtype),
                  b0=None if net.b0 is None else net.b0[0].astype(dtype), dtype=dtype)


def _check_data(net: Network, X, y, xname: str = "X", yname: str = "y") -> tuple[np.ndarray, np.ndarray]:
    if np.ndim(X) != 2:
        raise ValueError(f"{xname} must be a 2-D array of shape (n, {net.dim}), got shape {np.shape(X)}")
    X = as_float_array(X, xname, ndim=2)
    if X.shape[1] != net.dim:
        raise ValueError(f"{xname} must have shape (n, d) with d = {net.dim} (the network's input dimension), "
                         f"got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{xname} must hold at least one point")
    y = as_float_array(y, yname, ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{yname} must have one label per row of {xname} ({X.shape[0]}), got {y.shape[0]}")
    if not np.all((y == 1.0) | (y == -1.0)):
        bad = y[(y != 1.0) & (y != -1.0)][0]
        raise ValueError(f"{yname} must hold labels in {{-1, +1}}, found {bad:g}")
    return X, y


def _check_weights(net: Network, W, b) -> tuple[np.ndarray, np.ndarray | None]:
    m, d = net.width, net.dim
    if W is None:
        W = net.W0[0]
    else:
        W = as_float_array(W, "W", ndim=(2, 3))
        if W.ndim == 3:
            if W.shape[0] != 1:
                raise ValueError(f"W must have shape (m, d) = ({m}, {d}) or (1, m, d), got {W.shape}")
            W = W[0]
        if W.shape != (m, d):
            raise ValueError(f"W must have shape (m, d) = ({m}, {d}), got {W.shape}")
    if b is None:
        b = None if net.b0 is None else net.b0[0]
    else:
        if net.b0 is None:
            raise ValueError("b was given but the network has no biases (net.b0 is None)")
        b = as_float_array(b, "b", ndim=(1, 2))
        if b.ndim == 2:
            if b.shape[0] != 1:
                raise ValueError(f"b must have shape (m,) = ({m},) or (1, m), got {b.shape}")
            b = b[0]
        if b.shape != (m,):
            raise ValueError(f"b must have shape (m,) = ({m},), got {b.shape}")
    return W, b


# --------------------------------------------------------------------------------------------------------
# Loss, gradient and evaluation (private kernels: no validation)
# --------------------------------------------------------------------------------------------------------

def _outputs(X, W, b, a_scaled, c) -> np.ndarray:
    Z = X @ W.T
    if b is not None:
        Z += b
    np.maximum(Z, 0, out=Z)
    return Z @ a_scaled + c


def _logistic_loss_slope(y, f) -> tuple[float, np.ndarray]:
    """The one logistic loss of every trainer: mean ``log(1 + exp(-y f))`` and its slope ``d loss / d f``.

    ``d loss / d f_i = -y_i sigmoid(-y_i f_i) / n``, with ``sigmoid(-t) = exp(-logaddexp(0, t))`` (stable for
    any margin). Shapes: y, f (n,); returns (loss, slope of shape (n,)).
    """
    margin = y * f
    loss = float(np.mean(np.logaddexp(0, -margin)))
    return loss, -y * np.exp(-np.logaddexp(0, margin)) / len(f)


def _loss_grad(X, y, W, b, a_scaled, c):
    """Logistic loss, its gradient in (W, b) and the outputs, for one minibatch (all BLAS)."""
    Z = X @ W.T  # (n, m) pre-activations
    if b is not None:
        Z += b
    active = Z > 0
    np.maximum(Z, 0, out=Z)
    f = Z @ a_scaled + c
    loss, g = _logistic_loss_slope(y, f)
    g = g.astype(Z.dtype, copy=False)
    G = np.multiply(active, g[:, None], out=Z)  # reuse Z's memory: G_is = g_i 1{z_is > 0}
    G *= a_scaled
    grad_W = G.T @ X
    grad_b = G.sum(axis=0) if b is not None else None
    return loss, grad_W, grad_b, f


def _evaluate(X, y, W, b, a_scaled, c) -> tuple[float, float]:
    """(mean logistic loss, accuracy) on a data set, in chunks bounding memory."""
    n, m = X.shape[0], W.shape[0]
    chunk = max(1, _EVAL_ELEMENTS // max(m, 1))
    loss = 0.0
    correct = 0
    for lo in range(0, n, chunk):
        f = _outputs(X[lo:lo + chunk], W, b, a_scaled, c)
        margin = y[lo:lo + chunk] * f
        loss += float(np.sum(np.logaddexp(0, -margin), dtype=np.float64))
        correct += int(np.count_nonzero(margin > 0))
    return loss / n, correct / n


def _row_sq(W, W0, b, b0, rows=None) -> np.ndarray:
    """``||[w_s, b_s] - [w0_s, b0_s]||^2`` (float64) for the given rows (default all): the exact kernel every
    lazy check and projection decides with (a row's value does not depend on the other rows computed)."""
    if rows is None:
        rows = np.arange(W.shape[0])
    out = np.empty(len(rows))
    if len(rows):
        _tk.row_sq_deviation(W, W0, _zeros_if_none(b, W), _zeros_if_none(b0, W), b is not None, rows, out)
    return out


def _row_deviation(W, W0, b, b0, buf=None) -> np.ndarray:
    """``||[w_s, b_s] - [w0_s, b0_s]||`` for every row s (float64)."""
    return np.sqrt(_row_sq(W, W0, b, b0))


def _zeros_if_none(b, W):
    return np.zeros(W.shape[0], W.dtype) if b is None else b


def _project_rows(W, W0, b, b0, radius: float, rows=None, sq=None) -> np.ndarray:
    """Project the given rows (default all) that lie outside the ball onto it, in place; returns the rows'
    squared deviations after the projection. A projected row measures inside the ball in the exact kernel
    after rounding to the working dtype (:func:`boundcheck._train_kernels.project_rows`)."""
    if rows is None:
        rows = np.arange(W.shape[0])
    sq = _row_sq(W, W0, b, b0, rows) if sq is None else np.array(sq, dtype=np.float64)
    if len(rows):
        _tk.project_rows(W, W0, _zeros_if_none(b, W), _zeros_if_none(b0, W), b is not None, rows, sq,
                         float(radius))
    return sq


def _project_inplace(W, W0, b, b0, radius: float, buf=None) -> None:
    """Project the rows ``[w_s, b_s]`` onto the ball of radius R around ``[w0_s, b0_s]``, in place.

    The same map as :func:`boundcheck.lazy.project_lazy` (tested against it), without validation and in
    the working dtype; only the rows outside the ball are written.
    """
    _project_rows(W, W0, b, b0, radius)


# --------------------------------------------------------------------------------------------------------
# One SGD step at the BLAS roofline
# --------------------------------------------------------------------------------------------------------

_UNIT_ROUNDOFF = {np.dtype(np.float64): 2.0 ** -53, np.dtype(np.float32): 2.0 ** -24}
_Z0_BYTES = 2 ** 31  # precompute X W0^T for the whole training set up to this size (else one more GEMM/step)
_SYNC_EVERY = 64  # recompute every row's deviation exactly at least this often (steps)


def _inner_radius(radius: float, model: _Model) -> float:
    """The radius that the trainers' checks compare measured deviations with: ``R (1 - ball_slack(p))``.

    The exact kernel (:func:`_row_sq`, float64) measures a row ``[w_s, b_s] - [w0_s, b0_s]`` of length p with
    relative error below :func:`boundcheck._kernels.ball_slack` ``(p)``, so a row it reads within this radius
    is within R exactly. A step that lands within that margin (about ``1e-13`` relative) of the sphere
    counts as leaving the ball."""
    p = model.W0.shape[1] + (model.b0 is not None)
    return float(radius) * (1.0 - _ball_slack(p))


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of an n-term dot product."""
    return n * u / (1.0 - n * u)


def _gemm_update(W, Xb, G, alpha: float) -> None:
    """``W += alpha * G^T Xb`` in place, one BLAS call with beta = 1 (no gradient array is formed)."""
    _gemm(True, False, alpha, G, Xb, 1.0, W)


class _Stepper:
    """Buffers of one minibatch SGD step on one init, in the working dtype, and the step as two calls.

    ``gradient`` runs the first product ``Z = X_B W^T`` and the fused element-wise passes; ``apply`` the
    second, in place. With ``track``, the per-row quantities of the incremental lazy check are computed in
    the same pass. Both are the compiled step functions of :mod:`boundcheck._sgd_kernels` that the compiled
    loop calls, so the Python loop, the compiled loop and the reference give the same numbers."""

    def __init__(self, model: _Model, batch_size: int, m: int):
        dt = model.dtype
        d = model.W0.shape[1]
        self.model = model
        self.has_bias = model.b0 is not None
        self.Z = np.empty((batch_size, m), dt)
        self.G = np.empty((batch_size, m), dt)
        self.KG = np.empty((batch_size, m), dt)
        self.f = np.empty(batch_size)
        self.g = np.empty(batch_size, dt)
        self.gb = np.zeros(m)
        self.inc = np.zeros(m)
        self.A = np.zeros(m)
        self.q = np.empty(m)
        self.zero_b = np.zeros(m, dt)
        self.zero_x = np.zeros(batch_size)
        # d + 1 < 2 batch: form the update U = G^T X_B (a product of batch x d x m, as cheap as the in-place
        # update) and apply it in one fused pass over W; the lazy check's quadratic term is then
        # ||[U_s, gb_s]||^2 for a pass over U. The Gram route (a product of batch x batch x m, 2 batch / d
        # of the update's) costs more than those two passes below about d = 2 batch (measured).
        self.explicit = d + 1 < 2 * batch_size
        # the compiled loop's lazy check at small d: every row's exact deviation after the update (a pass over
        # m x d) instead of the incremental tracker (passes over batch x m); measured faster at d = 25 and
        # slower at d = 100 (batch 64, m = 1000)
        self.exact_pass = self.explicit and 2 * d <= batch_size
        self.U = np.empty((m, d) if self.explicit else (0, d), dt)

    def bias(self, b):
        return self.zero_b if b is None else b

    def gradient(self, Xb, yb, W, b, Z0b=None, xnorm=None):
        """Loss of the batch; fills ``G`` (and ``gb``, and with Z0b ``inc`` and ``A``). Returns (loss, G)."""
        nb = Xb.shape[0]
        track = Z0b is not None
        Z, G = self.Z[:nb], self.G[:nb]
        loss = _sk.step_gradient(Xb, yb, W, self.bias(b), self.model.a_scaled, self.model.c,
                                 Z0b if track else Z, xnorm if track else self.zero_x[:nb], track,
                                 self.explicit, Z, G, self.U, self.f[:nb], self.g[:nb], self.gb, self.inc,
                                 self.A)
        return loss, G

    def apply(self, W, b, Xb, G, lr: float) -> None:
        """``W -= lr G^T X_B`` (one GEMM in place, or the fused pass with U) and ``b -= lr sum_i G_i``."""
        _sk.apply_update(W, self.bias(b), b is not None, Xb, G, self.U, self.gb, lr, self.explicit)


class _LazyTracker:
    """Squared row deviations ``p`` kept up to date from what a step computes, with error bounds ``e``.

    Invariant: the exact kernel's value (:func:`_row_sq`) of every row is at most ``(p + e) (1 + gam_exact)``.
    A step is predicted by :func:`boundcheck._train_kernels.track_rows` in O(batch * m); only flagged rows
    (those that might cross the threshold) are recomputed exactly. Every ``_SYNC_EVERY`` steps, or when an
    error bound grows past 1% of the threshold, all rows are recomputed exactly. The state arrays are
    updated in place (the compiled loop of :mod:`boundcheck._sgd_kernels` continues them)."""

    def __init__(self, model: _Model, Xs, batch_size: int, lr: float, light: bool = False):
        dt = model.dtype
        self.light = light  # the compiled loop's formed-update route: no X W0^T and no Grams needed
        m, d = model.W0.shape
        has_bias = model.b0 is not None
        self.model, self.lr, self.has_bias = model, lr, has_bias
        u = _UNIT_ROUNDOFF[dt]
        u64 = _UNIT_ROUNDOFF[np.dtype(np.float64)]
        da = d + 1
        self.gam_dot = _gamma(da + 2, u) + _gamma(batch_size + 2, u64)
        self.gam_quad = _gamma(batch_size + da + 3, u) + _gamma(batch_size + 2, u64)
        self.gam_upd = _gamma(batch_size + 3, u) + _gamma(batch_size + 3, u64)
        self.gam_exact = _gamma(da + 4, u64)
        self.gams = np.array([self.gam_dot, self.gam_quad, self.gam_upd, self.gam_exact])
        W0 = model.W0.astype(np.float64)
        sq0 = np.einsum("ij,ij->i", W0, W0)
        if has_bias:
            sq0 = sq0 + model.b0.astype(np.float64) ** 2
        self.w0norm = np.sqrt(sq0) * (1 + 1e-12)
        self.b0 = np.zeros(m, dt) if model.b0 is None else model.b0
        self.p = np.zeros(m)
        self.e = np.zeros(m)
        self.p_new = np.empty(m)
        self.e_new = np.empty(m)
        self.flag = np.zeros(m, dtype=np.bool_)
        self.all_rows = np.arange(m)
        self.state = np.zeros(1, np.int64)  # steps since the last exact resynchronization
        self.set_data(Xs, batch_size)

    @property
    def since_sync(self) -> int:
        return int(self.state[0])

    def set_data(self, Xs, batch_size: int) -> None:
        """The training inputs in visiting order: their norms, X W0^T (if it fits) and the batch Grams."""
        model = self.model
        dt = model.dtype
        n, m = Xs.shape[0], model.W0.shape[0]
        x64 = Xs.astype(np.float64)
        self.xnorm = np.sqrt(np.einsum("ij,ij->i", x64, x64) + (1.0 if self.has_bias else 0.0)) * (1 + 1e-12)
        self.Z0 = None
        if not self.light and n * m * dt.itemsize <= _Z0_BYTES:
            self.Z0 = np.empty((n, m), dt)
            chunk = max(1, 2 ** 22 // max(m, 1))
            for lo in range(0, n, chunk):
                self._pre0(Xs[lo:lo + chunk], self.Z0[lo:lo + chunk])
        self.Z0_buf = np.empty((batch_size, m), dt)
        n_batches = -(-n // batch_size)
        self.grams = np.zeros((n_batches, 0, 0) if self.light else (n_batches, batch_size, batch_size), dt)
        for k, lo in enumerate(range(0, n if not self.light else 0, batch_size)):
            Xb = Xs[lo:lo + batch_size]
            K = self.grams[k, :len(Xb), :len(Xb)]
            np.matmul(Xb, Xb.T, out=K)
            if self.has_bias:
                K += 1

    def _pre0(self, Xb, out):
        _sk.pre0(Xb, self.model.W0, self.b0, self.has_bias, out)

    def batch(self, k: int, lo: int, hi: int, Xb):
        """(Z0 rows of the batch, norms of its inputs, its Gram matrix)."""
        if self.Z0 is not None:
            Z0b = self.Z0[lo:hi]
        else:
            Z0b = self.Z0_buf[:hi - lo]
            self._pre0(Xb, Z0b)
        return Z0b, self.xnorm[lo:hi], self.grams[k, :hi - lo, :hi - lo]

    def sync(self, W, b) -> None:
        """Exact squared deviations of every row."""
        _sk.sync_rows(W, self.model.W0, _zeros_if_none(b, W), self.b0, self.has_bias, self.all_rows, self.p,
                      self.e, self.gam_exact)
        self.state[0] = 0

    def maybe_sync(self, W, b, thr: float) -> None:
        if self.since_sync >= _SYNC_EVERY or self.e.max() > 1e-2 * thr * thr:
            self.sync(W, b)

    def predict(self, stepper: _Stepper, G, K, Xb, thr: float) -> int:
        """Predict every row's squared deviation after the step; returns how many rows are flagged (might
        exceed ``thr`` in the exact kernel)."""
        nb = G.shape[0]
        return _sk.predict_rows(G, K, stepper.KG[:nb], stepper.U, stepper.gb, self.has_bias, stepper.explicit,
                                stepper.inc, stepper.A, self.p, self.e, self.w0norm, self.lr, self.gams, thr,
                                stepper.q, self.p_new, self.e_new, self.flag)

    def accept(self, rows=None, sq=None) -> None:
        """Take the predicted values (the step was applied); rows recomputed exactly get their exact values."""
        self.p[:] = self.p_new
        self.e[:] = self.e_new
        if rows is not None:
            self.p[rows] = sq
            self.e[rows] = self.gam_exact * sq
        self.state[0] += 1


class _CompiledLoop:
    """The buffers of :func:`boundcheck._sgd_kernels.lazy_steps` and its driver: runs of steps between
    Python-level events (epoch ends, checkpoints, the stop)."""

    def __init__(self, model: _Model, stepper: _Stepper, tracker: _LazyTracker, W, b, n_batches: int,
                 want_checkpoints: bool):
        m, d = model.W0.shape
        dt = model.dtype
        self.model, self.stepper, self.tracker = model, stepper, tracker
        self.has_bias = b is not None
        self.W_new = np.empty_like(W)
        self.b_new = np.empty_like(b) if b is not None else np.zeros(m, dt)
        self.b_dummy = np.zeros(m, dt)
        self.sq = np.empty(m)
        self.rows = np.empty(m, np.int64)
        self.losses = np.empty(n_batches)
        self.ck_W = np.empty((m, d) if want_checkpoints else (0, d), dt)
        self.ck_b = np.empty(m if (want_checkpoints and b is not None) else 0, dt)
        self.out = np.zeros(4, np.int64)
        self.Z0_none = np.empty((0, m), dt)

    def run(self, k_lo: int, k_hi: int, batch_size: int, Xs, ys64, W, b, lr: float, stop: bool, thr_list,
            radius: float):
        """Steps on batches k_lo .. k_hi - 1 until the range ends or an event; returns
        (status, W, b, out) with the state buffers swapped back into place."""
        st, tr, model = self.stepper, self.tracker, self.model
        b_arr = b if b is not None else self.b_dummy
        b_new = self.b_new
        use_z0 = tr.Z0 is not None
        status = _sk.lazy_steps(
            k_lo, k_hi, batch_size, Xs, ys64, W, b_arr, self.W_new, b_new, self.has_bias, model.W0, tr.b0,
            model.a_scaled, model.c, tr.Z0 if use_z0 else self.Z0_none, use_z0, tr.xnorm, tr.grams, lr, stop,
            thr_list, 0, radius, tr.p, tr.e, tr.p_new, tr.e_new, tr.flag, tr.w0norm, tr.gams, _SYNC_EVERY,
            tr.state, st.explicit, st.exact_pass, st.Z, st.G, st.KG, st.U, st.f, st.g, st.gb, st.inc, st.A, st.q, tr.Z0_buf,
            self.sq, self.rows, tr.all_rows, self.losses, self.ck_W, self.ck_b, self.out)
        if self.out[2]:
            W, self.W_new = self.W_new, W
            if b is not None:
                b, self.b_new = self.b_new, b
        return status, W, b, self.out


# --------------------------------------------------------------------------------------------------------
# Public loss and evaluation
# --------------------------------------------------------------------------------------------------------

def loss_and_gradient(net: Network, W, b, X, y) -> LossGradient:
    """The logistic loss of one init on ``(X, y)`` and its exact gradient in the first layer.

    Parameters
    ----------
    net : Network
        One init (``K = 1``); its top layer ``a`` and output bias are fixed.
    W : array_like, shape (m, d) or (1, m, d), or None
        First-layer weights (None: ``net.W0``).
    b : array_like, shape (m,) or (1, m), or None
        First-layer biases (None: ``net.b0``; must be None for networks without biases).
    X : array_like, shape (n, d)
        Inputs.
    y : array_like, shape (n,)
        Labels in {-1, +1}.

    Returns
    -------
    LossGradient
        ``loss`` (mean over the batch), ``grad_W`` (m, d), ``grad_b`` (m,) or None, ``f`` (n,).

    Notes
    -----
    ``d loss / d w_s = sum_i g_i (1/sqrt m) a_s 1{w_s . x_i + b_s > 0} x_i`` with
    ``g_i = -y_i sigmoid(-y_i f(x_i)) / n``: two BLAS products, O(n m d). At a kink (``w_s . x_i + b_s =
    0`` exactly) this is the one-sided derivative with ``relu'(0) = 0``.

    Examples
    --------
    >>> from boundcheck import init_network
    >>> net = init_network(4, 8, parametrization="paper_code", rng=0)
    >>> X = np.eye(4); y = np.array([1, -1, 1, -1])
    >>> lg = loss_and_gradient(net, None, None, X, y)
    >>> lg.grad_W.shape, lg.grad_b.shape
    ((8, 4), (8,))
    """
    net = _check_single(net)
    X, y = _check_data(net, X, y)
    W, b = _check_weights(net, W, b)
    model = _model(net, np.dtype(np.float64))
    loss, gW, gb, f = _loss_grad(X, y, W, b, model.a_scaled, model.c)
    return LossGradient(loss=loss, grad_W=gW, grad_b=gb, f=f)


def logistic_loss(net: Network, W, b, X, y) -> float:
    """The mean logistic loss of one init on ``(X, y)`` (see :func:`loss_and_gradient`)."""
    return evaluate(net, W, b, X, y)[0]


def evaluate(net: Network, W, b, X, y) -> tuple[float, float]:
    """``(mean logistic loss, accuracy)`` of one init on ``(X, y)``; a point counts as correct iff
    ``y f(x) > 0``. Memory O(chunk * m), chunks of at most 2^22 pre-activations."""
    net = _check_single(net)
    X, y = _check_data(net, X, y)
    W, b = _check_weights(net, W, b)
    model = _model(net, np.dtype(np.float64))
    return _evaluate(X, y, W, b, model.a_scaled, model.c)


# --------------------------------------------------------------------------------------------------------
# Shared training machinery
# --------------------------------------------------------------------------------------------------------

def _check_common(net, X, y, X_test, y_test, lr, batch_size, epochs, dtype, shuffle, log_every):
    net = _check_single(net)
    X, y = _check_data(net, X, y)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together (or neither)")
    if X_test is not None:
        X_test, y_test = _check_data(net, X_test, y_test, "X_test", "y_test")
    lr = check_real(lr, "lr", minimum=0.0, closed_min=False)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    epochs = check_int(epochs, "epochs", minimum=0)
    dt = check_float_dtype(dtype)
    check_choice(shuffle, "shuffle", SHUFFLES)
    log_every = check_int(log_every, "log_every", minimum=1)
    return net, X, y, X_test, y_test, lr, batch_size, epochs, dt, log_every


def _check_on_step(on_step):
    if on_step is not None and not callable(on_step):
        raise TypeError(f"on_step must be callable or None, got {type(on_step).__name__}")
    return on_step


def _batches(n: int, batch_size: int):
    return [(lo, min(n, lo + batch_size)) for lo in range(0, n, batch_size)]


def _log(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _history_frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


_LAZY_COLUMNS = ["epoch", "steps", "epochs_trained", "loss", "train_acc", "test_acc", "max_deviation",
                 "deviation_over_radius", "seconds"]


# --------------------------------------------------------------------------------------------------------
# Lazy SGD
# --------------------------------------------------------------------------------------------------------

@_one_blas_thread
def train_lazy_sgd(net: Network, X, y, *, C0: float, lr: float = 0.1, batch_size: int = 64,
                   epochs: int = 1000, mode: str = "stop", X_test=None, y_test=None, rng=None,
                   dtype=np.float64, shuffle: str = "once", target_loss: float | None = None,
                   eval_train: bool = True, checkpoints=(), progress: bool = False, log_every: int = 1,
                   on_step: Callable | None = None) -> TrainResult:
    """Minibatch SGD on the logistic loss inside the lazy ball ``B_{2,inf}(W0, C0/sqrt(m))``.

    Wang et al. 2022, section 5.1 (theory section 6.3): plain SGD (no momentum, no weight decay) of the first
    layer and its biases; the top layer and the output bias stay fixed.

    Parameters
    ----------
    net : Network
        One init (``K = 1``), e.g. ``init_network(d, m, parametrization="paper_code", rng=...)`` or
        ``net.select(k)``. Training starts at ``(net.W0, net.b0)``.
    X : array_like, shape (n, d)
        Training inputs.
    y : array_like, shape (n,)
        Training labels in {-1, +1}.
    C0 : float
        The lazy-ball constant, >= 0; the radius is ``R = C0 / sqrt(m)``.
    lr : float
        Learning rate (the paper: 0.1).
    batch_size : int
        Minibatch size (the paper: 64).
    epochs : int
        At most this many epochs (the paper: 1000).
    mode : {"stop", "project"}
        ``"stop"``: before each update, check whether ``max_s ||[w_s,b_s] - [w0_s,b0_s]||`` after it would
        exceed R; if so, stop without applying it (``stopped_reason="left_ball"``). ``"project"``: apply
        every update, then project each row back onto its ball (:func:`boundcheck.lazy.project_lazy`'s
        map).
    X_test, y_test : array_like, optional
        A test set, evaluated at the end of every epoch.
    rng : None, int, SeedSequence or Generator
        Source of the training order.
    dtype : {numpy.float64, numpy.float32}
        Working precision (see the module notes on float32 and the ball).
    shuffle : {"once", "every_epoch"}
        ``"once"``: one permutation drawn from ``rng``, kept for every epoch (the authors' code).
    target_loss : float, optional
        Stop (``"target_loss"``) once the training loss at the end of an epoch is at most this.
    eval_train : bool
        Evaluate loss and accuracy on the whole training set at every epoch end (one forward pass). When
        False, ``loss`` is the mean minibatch loss of the epoch (before each update) and ``train_acc`` is
        NaN; the row at epoch 0 is still evaluated on the training set.
    checkpoints : sequence of float
        Stop mode only: smaller constants ``C0' <= C0``. For each, the state at which a stop-mode run with
        ``C0'`` (same init and ``rng``) would have stopped is kept in ``result.checkpoints[C0']``: one run
        with the largest ``C0`` gives a whole grid of them (see :class:`Checkpoint`).
    progress : bool
        Print one line per ``log_every`` epochs to stderr (loss, accuracies, deviation, seconds).
    log_every : int
        See ``progress``.
    on_step : callable, optional
        ``on_step(step, W, b)`` after every applied update, with the current weights in the working
        dtype (read-only views of the trainer's state; copy to keep). For tests and monitoring. With a
        callback the steps run in a Python loop (the same compiled step functions, the same numbers) instead
        of the compiled epoch loop: slower at small d.

    Returns
    -------
    TrainResult

    Notes
    -----
    Cost per step: two BLAS products of ``batch_size x m x d`` (the second updates W in place), O(batch_size
    * m) element-wise work, and the lazy check's quadratic term (a product of ``batch_size x min(batch_size,
    d + 1) x m``); no pass over ``W`` except for rows near the radius and an exact resynchronization every
    64 steps (see the module notes). Bit for bit the stop step of the slow reference.
    The history gets one row at initialization (epoch 0), one per full epoch, and one for a stop-mode
    run's last, partial epoch.

    Examples
    --------
    >>> from boundcheck import init_network
    >>> gen = np.random.default_rng(0)
    >>> X = gen.standard_normal((200, 5)); y = np.sign(X[:, 0])
    >>> net = init_network(5, 100, parametrization="theory", rng=1)
    >>> res = train_lazy_sgd(net, X, y, C0=5.0, epochs=20, rng=2)
    >>> bool(res.history["max_deviation"].iloc[-1] <= 5.0 / np.sqrt(100))
    True
    """
    net, X, y, X_test, y_test, lr, batch_size, epochs, dt, log_every = _check_common(
        net, X, y, X_test, y_test, lr, batch_size, epochs, dtype, shuffle, log_every)
    C0 = check_real(C0, "C0", minimum=0.0)
    check_choice(mode, "mode", MODES)
    if target_loss is not None:
        target_loss = check_real(target_loss, "target_loss", minimum=0.0)
    on_step = _check_on_step(on_step)
    gen = check_rng(rng)
    radius = lazy_radius(C0, net.width)
    pending = _check_checkpoints(checkpoints, C0, mode, net.width)
    saved: dict[float, Checkpoint] = {}
    start_time = time.perf_counter()

    model = _model(net, dt)
    Xw, yw = X.astype(dt), y.astype(dt)
    Xt, yt = (X_test.astype(dt), y_test.astype(dt)) if X_test is not None else (None, None)
    W = model.W0.copy()
    b = None if model.b0 is None else model.b0.copy()
    W_new = np.empty_like(W)
    check_radius = _inner_radius(radius, model)  # surely inside R when a measurement says so
    proj_radius = radius * (1.0 - 1e-5) if dt == np.float32 else check_radius
    n = X.shape[0]
    batches = _batches(n, batch_size)
    order = gen.permutation(n)

    rows: list[dict] = []

    def record(epoch, steps, seconds, batch_losses=None, evaluate_train=True):
        if evaluate_train:
            loss, acc = _evaluate(Xw, yw, W, b, model.a_scaled, model.c)
        else:
            loss = float(np.mean(batch_losses)) if batch_losses else float("nan")
            acc = float("nan")
        test_acc = _evaluate(Xt, yt, W, b, model.a_scaled, model.c)[1] if Xt is not None else float("nan")
        dev = float(_row_deviation(W, model.W0, b, model.b0).max())
        rows.append(dict(epoch=epoch, steps=steps, epochs_trained=steps / len(batches), loss=loss,
                         train_acc=acc, test_acc=test_acc, max_deviation=dev,
                         deviation_over_radius=dev / radius if radius > 0 else (0.0 if dev == 0 else np.inf),
                         seconds=seconds))
        if epoch % log_every == 0 or epoch == epochs:
            _log(progress, f"epoch {epoch:4d}  steps {steps:6d}  loss {loss:.4g}  train_acc {acc:.4f}  "
                           f"test_acc {test_acc:.4f}  dev/R {rows[-1]['deviation_over_radius']:.3f}  "
                           f"{seconds:.2f} s")

    record(0, 0, 0.0)
    steps = 0
    reason = "epochs"
    epochs_completed = 0
    Xs, ys = Xw[order], yw[order]
    ys64 = ys.astype(np.float64)
    stepper = _Stepper(model, batch_size, net.width)
    tracker = _LazyTracker(model, Xs, batch_size, lr, light=on_step is None and stepper.exact_pass) if epochs else None
    compiled = None
    if epochs and on_step is None:
        compiled = _CompiledLoop(model, stepper, tracker, W, b, len(batches), bool(pending))
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        if shuffle == "every_epoch" and epoch > 1:
            order = gen.permutation(n)
            Xs, ys = Xw[order], yw[order]
            ys64 = ys.astype(np.float64)
            tracker.set_data(Xs, batch_size)
        batch_losses = []
        stopped = False
        if compiled is not None:  # the whole epoch in compiled code, back in Python only for events
            k = 0
            while k < len(batches):
                thr_list = np.array([_inner_radius(r, model) for _, r in pending] + [check_radius]
                                    if mode == "stop" else [proj_radius])
                status, W, b, out = compiled.run(k, len(batches), batch_size, Xs, ys64, W, b, lr, mode == "stop",
                                                 thr_list, check_radius)
                batch_losses.extend(compiled.losses[k:k + out[3]].tolist())
                steps += int(out[0])
                k += int(out[3])
                if out[1]:  # checkpoint radii passed by the last step: the state before it
                    ck_steps = steps if status == _sk.LEFT_BALL else steps - 1
                    for _ in range(int(out[1])):
                        c0j, rj = pending.pop(0)
                        saved[c0j] = _checkpoint(c0j, rj, compiled.ck_W, None if b is None else compiled.ck_b,
                                                 model, ck_steps, len(batches), "left_ball")
                if status == _sk.LEFT_BALL:
                    stopped = True
                    break
        else:  # the Python loop (a user's on_step after every step): the same step functions one by one
            for k, (lo, hi) in enumerate(batches):
                thr = (_inner_radius(pending[0][1], model) if (pending and mode == "stop")
                       else (check_radius if mode == "stop" else proj_radius))
                tracker.maybe_sync(W, b, thr)
                Xb = Xs[lo:hi]
                Z0b, xnb, Kb = tracker.batch(k, lo, hi, Xb)
                loss, G = stepper.gradient(Xb, ys64[lo:hi], W, b, Z0b, xnb)
                batch_losses.append(loss)
                flagged = tracker.predict(stepper, G, Kb, Xb, thr)
                if mode == "stop":
                    if not flagged:
                        stepper.apply(W, b, Xb, G, lr)
                        tracker.accept()
                    else:
                        # some row might cross a threshold: form the candidate apart and decide exactly
                        rows_f = np.flatnonzero(tracker.flag)
                        np.copyto(W_new, W)
                        b_new = None if b is None else b.copy()
                        stepper.apply(W_new, b_new, Xb, G, lr)
                        sq = _row_sq(W_new, model.W0, b_new, model.b0, rows_f)
                        dmax = float(np.sqrt(sq.max()))
                        while pending and dmax > _inner_radius(pending[0][1], model):
                            c0j, rj = pending.pop(0)
                            saved[c0j] = _checkpoint(c0j, rj, W, b, model, steps, len(batches), "left_ball")
                        if dmax > check_radius:
                            stopped = True
                            break
                        W, W_new = W_new, W
                        b = b_new
                        tracker.accept(rows_f, sq)
                else:
                    stepper.apply(W, b, Xb, G, lr)
                    if flagged:
                        rows_f = np.flatnonzero(tracker.flag)
                        tracker.accept(rows_f, _project_rows(W, model.W0, b, model.b0, proj_radius, rows_f))
                    else:
                        tracker.accept()
                steps += 1
                if on_step is not None:
                    on_step(steps, _readonly(W), None if b is None else _readonly(b))
        seconds = time.perf_counter() - t0
        if stopped:
            reason = "left_ball"
            record(epoch, steps, seconds, batch_losses, evaluate_train=True)
            break
        epochs_completed = epoch
        record(epoch, steps, seconds, batch_losses, evaluate_train=eval_train)
        if target_loss is not None and eval_train and rows[-1]["loss"] <= target_loss:
            reason = "target_loss"
            break

    for c0j, rj in pending:
        saved[c0j] = _checkpoint(c0j, rj, W, b, model, steps, len(batches), reason)
    history = _history_frame(rows, _LAZY_COLUMNS)
    return TrainResult(W=W.astype(np.float64), b=None if b is None else b.astype(np.float64), history=history,
                       stopped_reason=reason, steps=steps, epochs_completed=epochs_completed,
                       steps_per_epoch=len(batches), radius=float(radius), mode=mode,
                       seconds=time.perf_counter() - start_time,
                       checkpoints={c: saved[c] for c in sorted(saved)})


@_one_blas_thread
def _train_lazy_sgd_reference(net: Network, X, y, *, C0: float, lr: float = 0.1, batch_size: int = 64,
                              epochs: int = 1000, mode: str = "stop", rng=None, dtype=np.float64,
                              shuffle: str = "once", checkpoints=()) -> dict:
    """The slow, obviously correct lazy SGD that :func:`train_lazy_sgd` is tested against (no validation).

    Every step forms the candidate weights apart (the same gradient and the same BLAS update as the fast
    trainer), computes **every** row's deviation with the exact kernel, and only then stops (stop mode) or
    projects every row outside the ball (project mode). No incremental bookkeeping: a pass over W per step.

    Returns
    -------
    dict
        ``W``, ``b`` (working dtype), ``steps``, ``stopped_reason``, ``checkpoints`` (C0 -> (W, b, steps)),
        ``max_deviations`` (after every applied step).
    """
    dt = np.dtype(dtype)
    gen = check_rng(rng)
    m = net.width
    radius = lazy_radius(C0, m)
    model = _model(net, dt)
    check_radius = _inner_radius(radius, model)
    proj_radius = radius * (1.0 - 1e-5) if dt == np.float32 else check_radius
    pending = sorted((float(c), _inner_radius(lazy_radius(c, m), model)) for c in set(checkpoints))
    Xw, yw = np.asarray(X).astype(dt), np.asarray(y, dtype=np.float64)
    W, b = model.W0.copy(), None if model.b0 is None else model.b0.copy()
    n = len(Xw)
    batches = _batches(n, batch_size)
    order = gen.permutation(n)
    stepper = _Stepper(model, batch_size, m)
    saved, devs, steps, reason = {}, [], 0, "epochs"
    for epoch in range(1, epochs + 1):
        if shuffle == "every_epoch" and epoch > 1:
            order = gen.permutation(n)
        Xs, ys = Xw[order], yw[order]
        for lo, hi in batches:
            _, G = stepper.gradient(Xs[lo:hi], ys[lo:hi], W, b)
            if mode == "stop":
                W_new, b_new = W.copy(), None if b is None else b.copy()
                stepper.apply(W_new, b_new, Xs[lo:hi], G, lr)
                dmax = float(np.sqrt(_row_sq(W_new, model.W0, b_new, model.b0).max()))
                while pending and dmax > pending[0][1]:
                    saved[pending.pop(0)[0]] = (W.copy(), None if b is None else b.copy(), steps)
                if dmax > check_radius:
                    reason = "left_ball"
                    break
                W, b = W_new, b_new
            else:
                stepper.apply(W, b, Xs[lo:hi], G, lr)
                _project_rows(W, model.W0, b, model.b0, proj_radius)
            steps += 1
            devs.append(float(np.sqrt(_row_sq(W, model.W0, b, model.b0).max())))
        if reason == "left_ball":
            break
    for c0j, _ in pending:
        saved[c0j] = (W.copy(), None if b is None else b.copy(), steps)
    return dict(W=W, b=b, steps=steps, stopped_reason=reason, checkpoints=saved, max_deviations=np.array(devs))


def _check_checkpoints(checkpoints, C0: float, mode: str, m: int) -> list[tuple[float, float]]:
    try:
        values = [check_real(c, "checkpoints[i]", minimum=0.0, maximum=C0) for c in checkpoints]
    except TypeError as exc:
        if isinstance(checkpoints, (int, float)):
            raise TypeError("checkpoints must be a sequence of C0 values, e.g. (1.0, 2.0)") from None
        raise exc
    if values and mode != "stop":
        raise ValueError("checkpoints are only defined in stop mode (the trajectory of project mode depends on C0)")
    return [(c, c / np.sqrt(m)) for c in sorted(set(values))]


def _checkpoint(C0, radius, W, b, model, steps, steps_per_epoch, reason) -> Checkpoint:
    dev = float(_row_deviation(W, model.W0, b, model.b0).max())
    return Checkpoint(C0=float(C0), radius=float(radius), W=W.astype(np.float64),
                      b=None if b is None else b.astype(np.float64), steps=steps,
                      epochs_trained=steps / steps_per_epoch, max_deviation=dev, stopped_reason=reason)


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.setflags(write=False)
    return view


# --------------------------------------------------------------------------------------------------------
# Projected adversarial training (Algorithm 1)
# --------------------------------------------------------------------------------------------------------

_ADV_COLUMNS = ["epoch", "steps", "epochs_trained", "loss", "train_acc", "robust_train_acc", "test_acc",
                "robust_test_acc", "max_deviation", "deviation_over_radius", "seconds", "attack_seconds",
                "eval_seconds"]


def _default_attack(net, X, y, eps, *, steps, step_size, random_start, box, W, b, rng, dtype=np.float64):
    """PGD-l2 from :mod:`boundcheck.attacks` in ``dtype`` (train_adversarial passes its training dtype);
    returns the adversarial inputs, shape (n, d)."""
    from .attacks import pgd

    res = pgd(net, X, y, eps, norm="l2", steps=steps, step_size=step_size, random_start=random_start,
              box=box, W=W, b=b, rng=rng, dtype=dtype)
    return np.asarray(res.X_adv).reshape(X.shape)


@_one_blas_thread
def train_adversarial(net: Network, X, y, *, radius: float, eps: float, pgd_steps: int = 100,
                      pgd_step_size: float | None = None, lr: float = 0.01, batch_size: int = 32,
                      epochs: int = 1000, patience: int = 20, min_improvement: float = 1e-4,
                      projection: str = "step", box=(0.0, 1.0), random_start: bool = False,
                      X_test=None, y_test=None, test_every: int = 1, rng=None, dtype=np.float64,
                      shuffle: str = "once", eval_train: bool = False, progress: bool = False,
                      log_every: int = 1, on_step: Callable | None = None,
                      attack: Callable | None = None) -> TrainResult:
    """Projected adversarial training of one init inside the lazy ball (Algorithm 1, theory section 6.4).

    Every epoch: PGD-l2 examples ``x_i + delta_i`` (``||delta_i|| <= eps``) for all training points against
    the current model; one SGD epoch on them (logistic loss); a projection of every row ``[w_s, b_s]``
    onto its ball of radius ``radius`` around the init, after every step (``projection="step"``, the
    paper's text) or once per epoch (``"epoch"``, the authors' code); then clean and robust (same PGD)
    test accuracy. Training stops when the robust training accuracy has not risen by more than
    ``min_improvement`` over its best value for more than ``patience`` consecutive epochs.

    Parameters
    ----------
    net : Network
        One init (``K = 1``). The paper: width 1000, ``paper_code`` parametrization, inputs on the unit
        sphere.
    X, y : array_like, shapes (n, d) and (n,)
        Training set, labels in {-1, +1}.
    radius : float
        The lazy-ball radius V >= 0 (``C0 / sqrt(m)``, or the "gap" of ``advtraingap.py``).
    eps : float
        The l2 budget of the attack, >= 0.
    pgd_steps : int
        PGD iterations K (the paper: 100).
    pgd_step_size : float, optional
        PGD step alpha (default ``2.5 * eps / pgd_steps``, Madry et al., as in the paper).
    lr, batch_size, epochs : float, int, int
        SGD settings (the paper: 0.01, 32, 1000).
    patience : int
        Early stopping (the paper: 20); see above.
    min_improvement : float
        The rise that counts as an improvement (the paper: 1e-4).
    projection : {"step", "epoch"}
        When to project (see above).
    box : pair of float, or None
        PGD clips ``x + delta`` to this box (the authors clip to [0, 1], although the inputs lie on the
        unit sphere). None: no clipping.
    random_start : bool
        Start PGD from a random point of the eps-ball (the paper: no, it starts at 0).
    X_test, y_test : array_like, optional
        Test set for clean and robust accuracy.
    test_every : int
        Evaluate the test set every this many epochs (and always after the last epoch). The robust test
        accuracy costs a PGD run on the test set.
    rng : None, int, SeedSequence or Generator
        Source of the training order and of PGD's random starts.
    dtype : {numpy.float64, numpy.float32}
        Working precision of the SGD steps and of the default attack (PGD in ``dtype``; a user ``attack``
        gets float64 weights and may choose its own).
    shuffle : {"once", "every_epoch"}
        As in :func:`train_lazy_sgd`.
    eval_train : bool
        Also evaluate the clean training loss and accuracy every epoch (one forward pass). When False,
        ``loss`` is the mean minibatch loss on the adversarial examples and ``train_acc`` is NaN.
    progress, log_every, on_step
        As in :func:`train_lazy_sgd`.
    attack : callable, optional
        Replace PGD: ``attack(net, X, y, eps, *, steps, step_size, random_start, box, W, b, rng) -> X_adv``
        with ``W`` (1, m, d) and ``b`` (1, m) or None, returning (n, d). Default:
        :func:`boundcheck.attacks.pgd` with ``norm="l2"`` and ``dtype=dtype``.

    Returns
    -------
    TrainResult
        ``history`` has, per epoch, ``robust_train_acc`` (the accuracy on the epoch's PGD examples of the
        model they were made against, i.e. the model at the start of the epoch), ``robust_test_acc`` (PGD
        against the model at the end of the epoch), ``test_acc``, ``loss`` and the deviation,
        ``seconds`` (the epoch's PGD on the training set and its SGD steps), ``attack_seconds`` (that PGD
        alone) and ``eval_seconds`` (clean and robust test evaluation). The reported robust test
        accuracy is that of the last row.
    """
    net, X, y, X_test, y_test, lr, batch_size, epochs, dt, log_every = _check_common(
        net, X, y, X_test, y_test, lr, batch_size, epochs, dtype, shuffle, log_every)
    radius = check_real(radius, "radius", minimum=0.0)
    eps = check_real(eps, "eps", minimum=0.0)
    pgd_steps = check_int(pgd_steps, "pgd_steps", minimum=1)
    step_size = 2.5 * eps / pgd_steps if pgd_step_size is None else check_real(pgd_step_size, "pgd_step_size",
                                                                              minimum=0.0)
    patience = check_int(patience, "patience", minimum=0)
    min_improvement = check_real(min_improvement, "min_improvement", minimum=0.0)
    check_choice(projection, "projection", PROJECTIONS)
    if box is not None:
        try:
            lo_box, hi_box = (check_real(v, f"box[{i}]") for i, v in enumerate(box))
        except TypeError:
            raise TypeError(f"box must be a pair (low, high) or None, got {box!r}") from None
        if lo_box >= hi_box:
            raise ValueError(f"box must satisfy low < high, got {box!r}")
        box = (lo_box, hi_box)
    test_every = check_int(test_every, "test_every", minimum=1)
    on_step = _check_on_step(on_step)
    if attack is None:
        attack = functools.partial(_default_attack, dtype=dt)
    elif not callable(attack):
        raise TypeError(f"attack must be callable or None, got {type(attack).__name__}")
    gen = check_rng(rng)
    start_time = time.perf_counter()

    model = _model(net, dt)
    W = model.W0.copy()
    b = None if model.b0 is None else model.b0.copy()
    proj_radius = radius * (1.0 - 1e-5) if dt == np.float32 else _inner_radius(radius, model)
    n = X.shape[0]
    batches = _batches(n, batch_size)
    order = gen.permutation(n)
    Xs, ys = X[order], y[order]
    stepper = _Stepper(model, batch_size, net.width)
    b0_arr = stepper.bias(model.b0)
    losses = np.empty(len(batches))
    Xw, yw = Xs.astype(dt), ys.astype(dt)
    Xt, yt = (X_test.astype(dt), y_test.astype(dt)) if X_test is not None else (None, None)

    def run_attack(Xa, ya):
        if eps == 0.0:  # the ball {0}: nothing to attack
            return Xa
        Wk = W.astype(np.float64)[None]
        bk = None if b is None else b.astype(np.float64)[None]
        X_adv = attack(net, Xa, ya, eps, steps=pgd_steps, step_size=step_size, random_start=random_start,
                       box=box, W=Wk, b=bk, rng=gen)
        X_adv = np.asarray(X_adv, dtype=np.float64)
        if X_adv.shape != Xa.shape:
            raise ValueError(f"attack returned shape {X_adv.shape}, expected {Xa.shape}")
        return X_adv

    rows: list[dict] = []

    def record(epoch, steps, seconds, attack_seconds, loss, robust_train_acc, evaluate_test):
        if eval_train or epoch == 0:
            tr_loss, tr_acc = _evaluate(Xw, yw, W, b, model.a_scaled, model.c)
            if epoch == 0 or not np.isfinite(loss):
                loss = tr_loss
        else:
            tr_acc = float("nan")
        test_acc = rob_test = float("nan")
        t0 = time.perf_counter()
        if evaluate_test and Xt is not None:
            test_acc = _evaluate(Xt, yt, W, b, model.a_scaled, model.c)[1]
            X_adv_t = run_attack(X_test, y_test)
            rob_test = _evaluate(X_adv_t.astype(dt), yt, W, b, model.a_scaled, model.c)[1]
        eval_seconds = time.perf_counter() - t0
        dev = float(_row_deviation(W, model.W0, b, model.b0).max())
        rows.append(dict(
            epoch=epoch, steps=steps, epochs_trained=steps / len(batches), loss=loss, train_acc=tr_acc,
            robust_train_acc=robust_train_acc, test_acc=test_acc, robust_test_acc=rob_test,
            max_deviation=dev,
            deviation_over_radius=dev / radius if radius > 0 else (0.0 if dev == 0 else np.inf),
            seconds=seconds, attack_seconds=attack_seconds, eval_seconds=eval_seconds))
        if epoch % log_every == 0:
            _log(progress, f"epoch {epoch:4d}  loss {loss:.4g}  robust_train_acc {robust_train_acc:.4f}  "
                           f"test_acc {test_acc:.4f}  robust_test_acc {rob_test:.4f}  "
                           f"dev/R {rows[-1]['deviation_over_radius']:.3f}  {seconds:.2f} s "
                           f"(attack {attack_seconds:.2f} s, evaluation {eval_seconds:.2f} s)")

    record(0, 0, 0.0, 0.0, float("nan"), float("nan"), evaluate_test=True)
    steps = 0
    reason = "epochs"
    epochs_completed = 0
    best = -np.inf
    stale = 0
    for epoch in range(1, epochs + 1):
        if shuffle == "every_epoch" and epoch > 1:
            perm = gen.permutation(n)
            Xs, ys, order = Xs[perm], ys[perm], order[perm]
            Xw, yw = Xs.astype(dt), ys.astype(dt)
        t0 = time.perf_counter()
        X_adv = run_attack(Xs, ys)
        attack_seconds = time.perf_counter() - t0
        Xa = X_adv.astype(dt)
        ya = ys.astype(np.float64)
        robust_train_acc = _evaluate(Xa, yw, W, b, model.a_scaled, model.c)[1]
        batch_losses = []
        if on_step is None:  # the epoch's SGD steps in one compiled call
            _sk.sgd_steps(0, len(batches), batch_size, Xa, ya, W, stepper.bias(b), b is not None, model.W0,
                          b0_arr, model.a_scaled, model.c, lr, stepper.explicit, projection == "step",
                          proj_radius, stepper.Z, stepper.G, stepper.U, stepper.f, stepper.g, stepper.gb,
                          stepper.inc, stepper.A, stepper.zero_x, losses)
            batch_losses = losses.tolist()
            steps += len(batches)
        else:  # the Python loop: the same step functions one by one
            for lo, hi in batches:
                Xb = Xa[lo:hi]
                loss, G = stepper.gradient(Xb, ya[lo:hi], W, b)
                batch_losses.append(loss)
                stepper.apply(W, b, Xb, G, lr)
                if projection == "step":
                    _project_rows(W, model.W0, b, model.b0, proj_radius)
                steps += 1
                on_step(steps, _readonly(W), None if b is None else _readonly(b))
        if projection == "epoch":
            _project_rows(W, model.W0, b, model.b0, proj_radius)
        seconds = time.perf_counter() - t0
        epochs_completed = epoch
        if robust_train_acc > best + min_improvement:
            best, stale = robust_train_acc, 0
        else:
            stale += 1
        done = stale > patience
        last = done or epoch == epochs
        record(epoch, steps, seconds, attack_seconds, float(np.mean(batch_losses)), robust_train_acc,
               evaluate_test=last or epoch % test_every == 0)
        if done:
            reason = "patience"
            break

    history = _history_frame(rows, _ADV_COLUMNS)
    return TrainResult(W=W.astype(np.float64), b=None if b is None else b.astype(np.float64), history=history,
                       stopped_reason=reason, steps=steps, epochs_completed=epochs_completed,
                       steps_per_epoch=len(batches), radius=float(radius), mode=f"adversarial-{projection}",
                       seconds=time.perf_counter() - start_time)


# ==========================================================================================================
# Full-batch gradient descent on the first layer (binary or multi-class; moved from boundcheck.separability)
# ==========================================================================================================

__all__ += ["GDResult", "train_gd"]


@dataclass(frozen=True, eq=False)
class GDResult:
    """A full-batch gradient-descent run on the first layer of every init.

    Attributes
    ----------
    W : ndarray, shape (K, m, d)
        The trained first layers.
    steps : int
    lr : float
    radius : float or None
        The lazy-ball radius the run was projected onto after every step (None: unconstrained).
    loss_initial, loss_final : ndarray, shape (K,)
        Mean training loss (logistic or cross-entropy) before and after.
    train_accuracy : ndarray, shape (K,)
        After training.
    relative_movement : ndarray, shape (K,)
        ``||W - W0||_F / ||W0||_F``.
    max_row_movement : ndarray, shape (K,)
        ``max_s ||w_s - w0_s||``: the (2, inf) distance that defines the lazy ball.
    seconds : float
    """

    W: np.ndarray
    steps: int
    lr: float
    radius: float | None
    loss_initial: np.ndarray
    loss_final: np.ndarray
    train_accuracy: np.ndarray
    relative_movement: np.ndarray
    max_row_movement: np.ndarray
    seconds: float


def _gd_loss_grad(X, T, W, A, c, binary: bool, want_grad: bool = True):
    """Mean loss, accuracy and d loss / d W for one init. A: (C, m) (C = 1 binary); T: labels."""
    m = W.shape[0]
    pre = X @ W.T  # (n, m)
    act = np.maximum(pre, 0)
    out = act @ A.T / W.dtype.type(np.sqrt(m))  # (n, C)
    n = len(X)
    if binary:
        f = out[:, 0] + c
        loss, slope = _logistic_loss_slope(T, f)
        acc = float(np.mean(T * f > 0))
        if not want_grad:
            return loss, acc, None
        G = slope[:, None].astype(W.dtype, copy=False)  # (n, 1)
    else:
        Lmax = out.max(axis=1, keepdims=True)
        E = np.exp(out - Lmax)
        S = E.sum(axis=1, keepdims=True)
        idx = np.arange(n)
        loss = float((np.log(S[:, 0]) + Lmax[:, 0] - out[idx, T]).mean())
        acc = float(np.mean(np.argmax(out, axis=1) == T))
        if not want_grad:
            return loss, acc, None
        G = E / S
        G[idx, T] -= 1.0
        G /= n
    coef = (G @ A) * (pre > 0) / W.dtype.type(np.sqrt(m))  # (n, m)
    return loss, acc, coef.T @ X


def train_gd(net, X, y, *, steps: int, lr: float, radius: float | None = None, W=None,
             dtype=np.float64) -> GDResult:
    """Full-batch gradient descent on the first layer; the top layer stays fixed.

    Loss: mean logistic loss ``log(1 + exp(-y f))`` for a binary :class:`~boundcheck.network.Network`
    (labels in {-1, +1}; no first-layer biases), mean cross-entropy for a
    :class:`~boundcheck.multiclass.MulticlassNetwork`
    (labels in 0..C-1). With ``radius``, every step is followed by the exact projection onto the lazy
    ball ``B_{2,inf}(W0, radius)`` (:func:`boundcheck.lazy.project_lazy`), so the run never leaves it.

    Parameters
    ----------
    net : Network or MulticlassNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    steps : int
        Number of GD steps, >= 0.
    lr : float
        Step size, > 0.
    radius : float, optional
        Lazy-ball radius ``C0 / sqrt(m)``; None for unconstrained training.
    W : array_like, shape (K, m, d), optional
        Starting weights (default ``net.W0``; the ball is always centred at ``net.W0``).
    dtype : {numpy.float64, numpy.float32}
        Working precision of the steps (float32 roughly halves the time). The projection is computed in
        float64 and, in float32, repeated once in float64 on the returned weights, so the returned ``W``
        lies in the ball exactly.

    Returns
    -------
    GDResult

    Notes
    -----
    Cost: three BLAS products of size n x m x d per step and init; memory O(n m).
    """
    from .lazy import project_lazy

    from .multiclass import _check_any_net, _check_binary_labels, _check_class_labels, _check_W, _check_X

    net = _check_any_net(net)
    X = _check_X(net, X)
    steps = check_int(steps, "steps", minimum=0)
    lr = check_real(lr, "lr", minimum=0.0, closed_min=False)
    if radius is not None:
        radius = check_real(radius, "radius", minimum=0.0)
    Wstart = _check_W(net, W)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be float64 or float32, got {dt}")
    binary = isinstance(net, Network)
    if binary:
        if net.has_bias:
            raise ValueError("train_gd does not train first-layer biases; use a network without biases")
        T = _check_binary_labels(y, len(X))
        tops = net.a[:, None, :]  # (K, 1, m)
        cs = net.output_bias if net.output_bias is not None else np.zeros(net.n_inits)
    else:
        T = _check_class_labels(y, len(X), net.n_classes)
        tops = net.A
        cs = np.zeros(net.n_inits)
    start = time.perf_counter()
    K = net.n_inits
    W_out = np.empty_like(net.W0)
    loss0, loss1, acc1 = np.empty(K), np.empty(K), np.empty(K)
    Xd = X.astype(dt, copy=False)
    Td = T.astype(dt) if binary else T
    for k in range(K):
        W0k = net.W0[k]
        if steps == 0:
            W_out[k] = Wstart[k]
            loss0[k], acc1[k], _ = _gd_loss_grad(X, T, W_out[k], tops[k], cs[k], binary, want_grad=False)
            loss1[k] = loss0[k]
            continue
        Wk = np.array(Wstart[k], dtype=dt, copy=True)
        top = tops[k].astype(dt)
        for t in range(steps):
            loss, _, grad = _gd_loss_grad(Xd, Td, Wk, top, cs[k], binary)
            if t == 0:
                loss0[k] = loss
            Wk -= dt.type(lr) * grad
            if radius is not None:
                Wk = project_lazy(Wk, W0k, radius).astype(dt, copy=False)
        Wk = Wk.astype(np.float64)
        if radius is not None:
            Wk = project_lazy(Wk, W0k, radius)
        loss1[k], acc1[k], _ = _gd_loss_grad(X, T, Wk, tops[k], cs[k], binary, want_grad=False)
        W_out[k] = Wk
    diff = W_out - net.W0
    rel = np.sqrt(np.einsum("kmd,kmd->k", diff, diff)) / np.sqrt(np.einsum("kmd,kmd->k", net.W0, net.W0))
    rows = np.sqrt(np.einsum("kmd,kmd->km", diff, diff)).max(axis=1)
    return GDResult(W=W_out, steps=steps, lr=lr, radius=radius, loss_initial=loss0, loss_final=loss1,
                    train_accuracy=acc1, relative_movement=rel, max_row_movement=rows,
                    seconds=time.perf_counter() - start)
