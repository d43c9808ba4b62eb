"""The compiled SGD loop of :mod:`boundcheck.train`: whole runs of minibatch steps in one Numba call.

Private: no validation. At small sizes (d = 25, m = 1000: a step's two products take about 0.1 ms) a step
written in Python spends as long in the interpreter (a few dozen calls) as in its products; here a run of
steps between Python-level events (an epoch end, a checkpoint, the stop) is one compiled function that
calls BLAS through :func:`boundcheck._blas_kernels.gemm` and the element-wise kernels of
:mod:`boundcheck._train_kernels`. The Python loop of :func:`boundcheck.train.train_lazy_sgd` (kept for a
user's ``on_step`` callback) and the reference trainer call the **same** step functions below, one at a time,
so all three give the same numbers bit for bit.

:func:`step_gradient`
    ``Z = X_B W^T`` (BLAS), the fused forward pass, the logistic slope, the gradient coefficients (and the
    lazy tracker's per-row sums), and ``U = G^T X_B`` when the update is formed apart.
:func:`apply_update`
    ``W -= lr G^T X_B`` (one GEMM with beta = 1, or the fused pass with U) and ``b -= lr sum_i G_i``.
:func:`predict_rows`
    the tracker's prediction of every row's squared deviation after the step and its rounding bound
    (:func:`boundcheck._train_kernels.track_rows`); flags rows that may cross the threshold.
:func:`update_exact`
    at small d, the formed update applied and every row's exact deviation, instead of the tracker.
:func:`lazy_steps`
    a run of steps of lazy SGD (stop or project mode) with the incremental tracker, its exact rechecks and
    the projection of the rows that leave.
:func:`sgd_steps`
    plain SGD steps with an exact projection after each (the SGD part of adversarial training).

Every sum is accumulated in a fixed order and no kernel is parallel: results do not depend on threads
(BLAS computes every output entry with one thread and a fixed order of its k-loop).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._blas_kernels import gemm
from ._kernels import NJIT_OPTIONS
from ._train_kernels import (_row_sq_one, forward_rows, gradient_rows, project_rows, quad_from_KG, quad_from_U,
                             row_sq_deviation, track_rows, update_rows)

_LOG2 = math.log(2.0)
_U64 = 2.0 ** -53

# status codes of lazy_steps
DONE = 0  # every batch of the range was stepped
LEFT_BALL = 1  # stop mode: the next update would leave the ball (not applied)
CHECKPOINT = 2  # stop mode: the last step passed one or more checkpoint radii (pre-step state in ck_W)


@nb.njit(**NJIT_OPTIONS)
def _logaddexp0(x):
    """``log(1 + exp(x))`` without overflow (numpy's ``logaddexp(0, x)`` formula)."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    if x < 0.0:
        return math.log1p(math.exp(x))
    if x == 0.0:
        return _LOG2
    return x  # nan


@nb.njit(**NJIT_OPTIONS)
def batch_slope(y, f, g):
    """The mean logistic loss of a batch (returned) and its slope ``g[i] = -y_i sigmoid(-y_i f_i) / n``
    (float64 arithmetic, stored in g's dtype). Shapes: y, f (n,) float64; g (n,) working dtype."""
    n = f.shape[0]
    loss = 0.0
    for i in range(n):
        margin = y[i] * f[i]
        loss += _logaddexp0(-margin)
        g[i] = -y[i] * math.exp(-_logaddexp0(margin)) / n
    return loss / n


@nb.njit(**NJIT_OPTIONS)
def step_gradient(Xb, yb, W, b, a, c, Z0b, xnorm, track, explicit, Z, G, U, f, g, gb, inc, A):
    """The first half of a step on the batch ``Xb`` (nb, d); returns the batch's mean loss.

    Fills ``Z`` (nb, m) with the pre-activations, ``f`` (nb,) with the outputs, ``G`` (nb, m) with the
    gradient coefficients, ``gb`` (m,) with the bias gradient; with ``track`` also ``inc`` and ``A`` (m,)
    (:func:`boundcheck._train_kernels.gradient_rows`, ``Z0b`` the batch's rows of ``X W0^T + b0``); with
    ``explicit`` the update ``U = G^T X_B`` (m, d). ``b`` is zeros for a network without biases.
    """
    gemm(False, True, 1.0, Xb, W, 0.0, Z)
    forward_rows(Z, b, a, c, f)
    loss = batch_slope(yb, f, g)
    gradient_rows(Z, Z0b, track, g, a, xnorm, G, gb, inc, A)
    if explicit:
        gemm(True, False, 1.0, G, Xb, 0.0, U)
    return loss


@nb.njit(**NJIT_OPTIONS)
def apply_update(W, b, has_bias, Xb, G, U, gb, lr, explicit):
    """``W -= lr G^T X_B`` in place (one GEMM with beta = 1, or with ``explicit`` the fused pass with the
    formed update U) and ``b -= lr gb`` (float64 arithmetic, stored in b's dtype)."""
    if explicit:
        update_rows(W, U, lr)
    else:
        gemm(True, False, -lr, G, Xb, 1.0, W)
    if has_bias:
        for s in range(b.shape[0]):
            b[s] = np.float64(b[s]) - lr * gb[s]


@nb.njit(**NJIT_OPTIONS)
def predict_rows(G, K, KG, U, gb, has_bias, explicit, inc, A, p, e, w0norm, lr, gams, thr, q, p_new, e_new,
                 flag):
    """The tracker's prediction (:func:`boundcheck._train_kernels.track_rows`) with the quadratic term
    ``q_s = G_s^T K G_s`` from the formed update (``||[U_s, gb_s]||^2``) or from the product ``K G`` (one
    GEMM of nb x nb x m); ``gams`` = (gam_dot, gam_quad, gam_upd, gam_exact). Returns the flagged count."""
    if explicit:
        quad_from_U(U, gb, has_bias, q)
    else:
        gemm(False, False, 1.0, K, G, 0.0, KG)
        quad_from_KG(G, KG, q)
    thr2 = thr * thr * (1.0 - 4 * _U64)
    return track_rows(q, inc, A, p, e, w0norm, lr, gams[0], gams[1], gams[2], gams[3], thr2, p_new, e_new, flag)


@nb.njit(**NJIT_OPTIONS)
def pre0(Xb, W0, b0, has_bias, out):
    """``out = Xb W0^T + b0``: the batch's pre-activations at the init (when not precomputed)."""
    gemm(False, True, 1.0, Xb, W0, 0.0, out)
    if has_bias:
        n, m = out.shape
        for i in range(n):
            for s in range(m):
                out[i, s] = out[i, s] + b0[s]


@nb.njit(**NJIT_OPTIONS)
def sync_rows(W, W0, b, b0, has_bias, all_rows, p, e, gam_exact):
    """The tracker's exact resynchronization: every row's squared deviation, its bound gam_exact * p."""
    row_sq_deviation(W, W0, b, b0, has_bias, all_rows, p)
    for s in range(p.shape[0]):
        e[s] = gam_exact * p[s]


@nb.njit(**NJIT_OPTIONS)
def update_exact(W, W_new, W0, U, b, b_new, b0, gb, has_bias, lr, sq):
    """The formed update and the exact deviation of every updated row: ``W_new = W - lr U``,
    ``b_new = b - lr gb`` (the numbers of :func:`apply_update`), then ``sq[s]`` = the exact kernel's squared
    deviation of every stored row. ``W_new`` may be ``W`` (in place). Returns ``max_s sq[s]``.

    Two passes (the update, then the deviations): fusing them row by row was slower (the deviation loop
    reads back what the vectorized update loop has just stored)."""
    m = W.shape[0]
    update_into(W, W_new, U, lr)
    if has_bias:
        for s in range(m):
            b_new[s] = np.float64(b[s]) - lr * gb[s]
    d = W.shape[1]
    smax = 0.0
    for s in range(m):  # _row_sq_one's sums, written out here (the call was not inlined: 3x slower)
        Wr = W_new[s]
        W0r = W0[s]
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        k = 0
        while k + 4 <= d:
            v0 = np.float64(Wr[k]) - np.float64(W0r[k])
            v1 = np.float64(Wr[k + 1]) - np.float64(W0r[k + 1])
            v2 = np.float64(Wr[k + 2]) - np.float64(W0r[k + 2])
            v3 = np.float64(Wr[k + 3]) - np.float64(W0r[k + 3])
            t0 += v0 * v0
            t1 += v1 * v1
            t2 += v2 * v2
            t3 += v3 * v3
            k += 4
        while k < d:
            v0 = np.float64(Wr[k]) - np.float64(W0r[k])
            t0 += v0 * v0
            k += 1
        v = (t0 + t1) + (t2 + t3)
        if has_bias:
            v0 = np.float64(b_new[s]) - np.float64(b0[s])
            v += v0 * v0
        sq[s] = v
        if v > smax:
            smax = v
    return smax


@nb.njit(**NJIT_OPTIONS)
def update_into(W, W_new, U, lr):
    """W_new[s, j] = W[s, j] - lr U[s, j] (float64 arithmetic, stored in the working dtype; W_new may be W):
    :func:`boundcheck._train_kernels.update_rows`'s numbers."""
    m, d = W.shape
    for s in range(m):
        Wr = W[s]
        Wn = W_new[s]
        Ur = U[s]
        for j in range(d):
            Wn[j] = np.float64(Wr[j]) - lr * np.float64(Ur[j])


@nb.njit(**NJIT_OPTIONS)
def checkpoints_passed(dmax, thr_list, thr_pos, W, b, has_bias, ck_W, ck_b, out):
    """How many pending checkpoint radii ``thr_list[thr_pos:-1]`` a step to deviation ``dmax`` passes; if any,
    the state before the step (W, b) is copied into ``ck_W``, ``ck_b`` and the count into ``out[1]``."""
    passed = 0
    while thr_pos + passed < thr_list.shape[0] - 1 and dmax > thr_list[thr_pos + passed]:
        passed += 1
    if passed:
        ck_W[:, :] = W
        if has_bias:
            ck_b[:] = b
        out[1] = passed
    return passed


@nb.njit(**NJIT_OPTIONS)
def project_outside_sq(W, W0, b, b0, has_bias, sq, radius, rows_buf, sq_buf):
    """Project the rows with ``sqrt(sq[s]) > radius`` (sq: every row's exact squared deviation) onto the
    ball, as :func:`boundcheck._train_kernels.project_rows` on all rows would. Returns the count."""
    count = 0
    for s in range(sq.shape[0]):
        if math.sqrt(sq[s]) > radius:
            rows_buf[count] = s
            sq_buf[count] = sq[s]
            count += 1
    if count:
        project_rows(W, W0, b, b0, has_bias, rows_buf[:count], sq_buf[:count], radius)
    return count


@nb.njit(**NJIT_OPTIONS)
def _flagged(flag, rows_buf):
    count = 0
    for s in range(flag.shape[0]):
        if flag[s]:
            rows_buf[count] = s
            count += 1
    return rows_buf[:count]


@nb.njit(**NJIT_OPTIONS)
def lazy_steps(k_lo, k_hi, batch, Xs, ys, W, b, W_new, b_new, has_bias, W0, b0, a, c,
               Z0, use_z0, xnorm, grams, lr, stop_mode, thr_list, thr_pos, radius,
               p, e, p_new, e_new, flag, w0norm, gams, sync_every, since_sync,
               explicit, exact_pass, Z, G, KG, U, f, g, gb, inc, A, q, Z0buf, sq_buf, rows_buf, all_rows,
               losses, ck_W, ck_b, out):
    """Lazy SGD on the batches ``k_lo .. k_hi - 1`` of the visiting order ``Xs`` (n, d), ``ys`` (n,).

    The compiled form of the Python loop in :func:`boundcheck.train.train_lazy_sgd` (same kernels, same
    order of operations, same decisions). Per step: the tracker is resynchronized exactly when it is due
    (``since_sync[0] >= sync_every`` or a bound past 1% of the threshold); the step's products and fused
    passes (:func:`step_gradient`); the prediction of every row's deviation (:func:`predict_rows`). Stop
    mode (``stop_mode``): with no row flagged the update is applied in place; otherwise the candidate is
    formed in ``W_new`` (a copy of W, the same update), the flagged rows are recomputed with the exact
    kernel, checkpoint radii passed by it are reported, and the step is refused if a row leaves the ball
    of ``radius`` (otherwise the state buffers are swapped, see ``out[2]``). Project mode: the update is
    applied and only the flagged rows are recomputed and projected onto the ball of ``thr_list[0]``.

    With ``exact_pass`` (small d, the update U formed apart) there is no tracker: the update is written into
    ``W_new`` (stop mode; swapped in if accepted) or W (project mode) by :func:`update_exact`, which also
    gives every row's exact deviation, and the decisions are taken on those.

    ``thr_list[thr_pos:]``: the pending checkpoint radii, ascending, then the run's radius (stop mode), or
    the projection radius (project mode). ``p, e`` and ``since_sync`` (1,) are the tracker's state, updated.
    ``losses[k]`` gets batch k's mean loss. ``out`` (4,) int64: [steps applied, checkpoint radii passed by
    the last step, 1 if (W, b) and (W_new, b_new) ended swapped, batches visited].

    Returns DONE, LEFT_BALL (the step on batch ``k_lo + out[3] - 1`` was not applied) or CHECKPOINT (the last
    step, on batch ``k_lo + out[3] - 1``, passed ``out[1]`` radii; the state before it is in ck_W, ck_b; the
    step itself was applied).
    """
    n = Xs.shape[0]
    out[0] = 0
    out[1] = 0
    out[2] = 0
    out[3] = 0
    status = DONE
    gam_exact = gams[3]
    for k in range(k_lo, k_hi):
        lo = k * batch
        hi = min(n, lo + batch)
        nb_ = hi - lo
        out[3] += 1
        thr = thr_list[thr_pos]
        Xb = Xs[lo:hi]
        Zb = Z[:nb_]
        Gb = G[:nb_]
        if exact_pass:
            # small d (with the formed update U = G^T X_B): every row's exact deviation after the update costs
            # a pass over m x d, less than the tracker's work over batch x m, so no tracker
            losses[k] = step_gradient(Xb, ys[lo:hi], W, b, a, c, Zb, xnorm[lo:hi], False, True, Zb, Gb, U,
                                      f[:nb_], g[:nb_], gb, inc, A)
            if stop_mode:
                dmax = math.sqrt(update_exact(W, W_new, W0, U, b, b_new, b0, gb, has_bias, lr, sq_buf))
                passed = checkpoints_passed(dmax, thr_list, thr_pos, W, b, has_bias, ck_W, ck_b, out)
                if dmax > radius:
                    return LEFT_BALL
                W, W_new = W_new, W
                b, b_new = b_new, b
                out[2] = 1 - out[2]
                if passed:
                    status = CHECKPOINT
            else:
                update_exact(W, W, W0, U, b, b, b0, gb, has_bias, lr, sq_buf)
                project_outside_sq(W, W0, b, b0, has_bias, sq_buf, thr, rows_buf, q)
            out[0] += 1
            if status != DONE:
                return status
            continue
        emax = 0.0
        for s in range(e.shape[0]):
            if e[s] > emax:
                emax = e[s]
        if since_sync[0] >= sync_every or emax > 1e-2 * thr * thr:
            sync_rows(W, W0, b, b0, has_bias, all_rows, p, e, gam_exact)
            since_sync[0] = 0
        if use_z0:
            Z0b = Z0[lo:hi]
        else:
            Z0b = Z0buf[:nb_]
            pre0(Xb, W0, b0, has_bias, Z0b)
        losses[k] = step_gradient(Xb, ys[lo:hi], W, b, a, c, Z0b, xnorm[lo:hi], True, explicit, Zb, Gb, U,
                                  f[:nb_], g[:nb_], gb, inc, A)
        flagged = predict_rows(Gb, grams[k, :nb_, :nb_], KG[:nb_], U, gb, has_bias, explicit, inc, A, p, e,
                               w0norm, lr, gams, thr, q, p_new, e_new, flag)
        if stop_mode:
            if flagged == 0:
                apply_update(W, b, has_bias, Xb, Gb, U, gb, lr, explicit)
                p[:] = p_new
                e[:] = e_new
            else:
                rows = _flagged(flag, rows_buf)
                W_new[:, :] = W
                if has_bias:
                    b_new[:] = b
                apply_update(W_new, b_new, has_bias, Xb, Gb, U, gb, lr, explicit)
                sq = sq_buf[:rows.shape[0]]
                row_sq_deviation(W_new, W0, b_new, b0, has_bias, rows, sq)
                dmax = math.sqrt(sq.max())
                passed = checkpoints_passed(dmax, thr_list, thr_pos, W, b, has_bias, ck_W, ck_b, out)
                if dmax > radius:
                    return LEFT_BALL
                W, W_new = W_new, W
                b, b_new = b_new, b
                out[2] = 1 - out[2]
                p[:] = p_new
                e[:] = e_new
                for j in range(rows.shape[0]):
                    p[rows[j]] = sq[j]
                    e[rows[j]] = gam_exact * sq[j]
                if passed:
                    status = CHECKPOINT
        else:
            apply_update(W, b, has_bias, Xb, Gb, U, gb, lr, explicit)
            p[:] = p_new
            e[:] = e_new
            if flagged:
                rows = _flagged(flag, rows_buf)
                sq = sq_buf[:rows.shape[0]]
                row_sq_deviation(W, W0, b, b0, has_bias, rows, sq)
                project_rows(W, W0, b, b0, has_bias, rows, sq, thr)
                for j in range(rows.shape[0]):
                    p[rows[j]] = sq[j]
                    e[rows[j]] = gam_exact * sq[j]
        since_sync[0] += 1
        out[0] += 1
        if status != DONE:
            return status
    return status


@nb.njit(**NJIT_OPTIONS)
def project_outside(W, W0, b, b0, has_bias, radius, one, sq1):
    """Project every row outside the ball of ``radius`` onto it, in one pass over W (each row's exact
    deviation, then :func:`boundcheck._train_kernels.project_rows` on that row alone: the same numbers as
    computing all deviations first). ``one`` (1,) int64 and ``sq1`` (1,) float64 are work buffers.
    Returns the number of rows projected."""
    count = 0
    for r in range(W.shape[0]):
        sq1[0] = _row_sq_one(W, W0, b, b0, has_bias, r)
        if math.sqrt(sq1[0]) > radius:
            one[0] = r
            count += project_rows(W, W0, b, b0, has_bias, one, sq1, radius)
    return count


@nb.njit(**NJIT_OPTIONS)
def sgd_steps(k_lo, k_hi, batch, Xs, ys, W, b, has_bias, W0, b0, a, c, lr, explicit, project_each_step,
              radius, Z, G, U, f, g, gb, inc, A, xnorm0, losses):
    """Plain minibatch SGD on batches ``k_lo .. k_hi - 1`` of ``Xs`` (n, d), ``ys`` (n,) (the SGD part of
    adversarial training): per step :func:`step_gradient` (no tracking), :func:`apply_update` and, with
    ``project_each_step``, the exact projection of every row outside the ball (:func:`project_outside`).
    ``losses[k]`` gets batch k's mean loss."""
    n = Xs.shape[0]
    one = np.empty(1, np.int64)
    sq1 = np.empty(1)
    m = W.shape[0]
    sq_all = np.empty(m)
    sq_rows = np.empty(m)
    rows_buf = np.empty(m, np.int64)
    for k in range(k_lo, k_hi):
        lo = k * batch
        hi = min(n, lo + batch)
        nb_ = hi - lo
        Xb = Xs[lo:hi]
        Zb = Z[:nb_]
        Gb = G[:nb_]
        losses[k] = step_gradient(Xb, ys[lo:hi], W, b, a, c, Zb, xnorm0[:nb_], False, explicit, Zb, Gb, U,
                                  f[:nb_], g[:nb_], gb, inc, A)
        if explicit and project_each_step:  # the update pass gives every row's exact deviation
            update_exact(W, W, W0, U, b, b, b0, gb, has_bias, lr, sq_all)
            project_outside_sq(W, W0, b, b0, has_bias, sq_all, radius, rows_buf, sq_rows)
        else:
            apply_update(W, b, has_bias, Xb, Gb, U, gb, lr, explicit)
            if project_each_step:
                project_outside(W, W0, b, b0, has_bias, radius, one, sq1)
