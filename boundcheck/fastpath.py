"""Exact-in-distribution sampling at initialization, in O(m) per sample instead of O(m d).

In the ``"theory"`` parametrization (``a_s ~ Unif{-1,+1}``, ``w_s ~ N(0, I_d)``, ``||x|| = 1``, no
biases), the quantities at W0 that the lemmas need depend on the init only through

* ``g_s = w_s . x ~ N(0, 1)`` i.i.d., independent of ``a``;
* the orthogonal parts ``P w_s`` (``P = I - x x^T``), i.i.d. ``N(0, P)`` and independent of ``g``.

Hence, drawing ``g`` and ``a`` directly (theory section 5.4):

* ``f(x; W0) = (1/sqrt m) sum_s a_s relu(g_s)``;
* the exact range of f over the lazy ball (:func:`boundcheck.f_range`) and the exact maximal number of
  flipped neurons (:func:`boundcheck.max_sign_flips`), both functions of ``g``, ``a`` and ``R``;
* ``N_+ = #{s : g_s > 0}``;
* ``||P grad f(x; W0)||^2 = (1/m) ||sum_{s : g_s > 0} a_s P w_s||^2 =_d (N_+/m) chi^2_{d-1}``, independent
  of ``g`` given ``N_+`` (a sum of ``N_+`` independent ``N(0, P)`` vectors with signs is ``N(0, N_+ P)``);
* ``||grad f(x; W0)||^2 = f^2 + ||P grad f||^2`` (Euler: ``x . grad f = f`` and ``||x|| = 1``).

Every sample is an independent (init, x) pair, so these are exact draws of the joint law of the quantities,
not approximations. Memory is O(batch * m); time O(m) per sample whatever d, so m = 10^6 and d = 10^5 are
within reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._validate import check_int, check_real, check_rng

__all__ = ["InitSample", "sample_at_init"]


@dataclass(frozen=True)
class InitSample:
    """Independent draws, at W0 and ``||x|| = 1`` (theory parametrization), of the quantities below.

    Attributes
    ----------
    f : ndarray, shape (n,)
        f(x; W0).
    f_lower, f_upper : ndarray, shape (n,)
        Exact inf and sup of f(x; W) over the lazy ball of ``radius``.
    n_active : ndarray, shape (n,), int64
        N_+ = number of neurons with g_s > 0.
    max_sign_flips : ndarray, shape (n,), int64
        Exact max over the lazy ball of the number of flipped neurons, ``#{-R < g_s <= R}``.
    proj_grad_norm : ndarray, shape (n,)
        ||P grad f(x; W0)||.
    grad_norm : ndarray, shape (n,)
        ||grad f(x; W0)||.
    d, m : int
    radius : float
    """

    f: np.ndarray
    f_lower: np.ndarray
    f_upper: np.ndarray
    n_active: np.ndarray
    max_sign_flips: np.ndarray
    proj_grad_norm: np.ndarray
    grad_norm: np.ndarray
    d: int
    m: int
    radius: float


def sample_at_init(n: int, d: int, m: int, *, radius: float = 0.0, rng=None,
                   batch: int | None = None) -> InitSample:
    """Draw ``n`` independent (init, x) samples of the W0 quantities, exactly in distribution.

    Parameters
    ----------
    n : int
        Number of samples (each a fresh init and input).
    d : int
        Input dimension (enters only through a chi-square with d - 1 degrees of freedom).
    m : int
        Width.
    radius : float
        Lazy-ball radius R for ``f_lower``, ``f_upper`` and ``max_sign_flips`` (default 0).
    rng : None, int, SeedSequence or Generator
        Source of randomness (SPEC 7). Results depend on ``batch``'s chunking only through the order
        in which the generator's stream is consumed: keep ``batch`` fixed to reproduce numbers exactly.
    batch : int, optional
        Samples per chunk; memory O(batch * m) (default: about 16 MiB of draws per chunk).

    Returns
    -------
    InitSample

    Notes
    -----
    Valid for the ``"theory"`` parametrization on the unit sphere (see the module docstring); use the
    full kernels (:func:`boundcheck.network_pass`) for the other parametrizations.
    """
    n = check_int(n, "n", minimum=1)
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    radius = check_real(radius, "radius", minimum=0.0)
    gen = check_rng(rng)
    if batch is None:
        batch = max(1, min(n, (16 * 2**20) // (9 * m)))
    else:
        batch = check_int(batch, "batch", minimum=1)
    f, lower, upper = np.empty(n), np.empty(n), np.empty(n)
    active, flips = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    scale = 1.0 / np.sqrt(m)
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        g = gen.standard_normal((hi - lo, m))
        a_positive = gen.random((hi - lo, m)) < 0.5
        _kernels.reduce_init_draws(g, a_positive, radius, scale, f, lower, upper, active, flips, lo)
    chi2 = gen.chisquare(d - 1, size=n) if d > 1 else np.zeros(n)
    proj = np.sqrt(active / m * chi2)
    grad = np.sqrt(f ** 2 + proj ** 2)
    return InitSample(f=f, f_lower=lower, f_upper=upper, n_active=active, max_sign_flips=flips,
                      proj_grad_norm=proj, grad_norm=grad, d=d, m=m, radius=radius)
