"""Bounds of Wang, Ullah, Mianjy, Arora, "Adversarial Robustness is at Odds with Lazy Training" (NeurIPS 2022).

The paper's formulas were lost (only its prose survives), so every entry is the explicit form that the
project's theory page (``docs/theory.md``) derives along the paper's own proof route; its section is
cited in each entry's notes. The status label follows docs/theory.md (section 0): ``"derived"`` for explicit forms derived and
checked numerically there, ``"recon"`` for reconstructions of the paper's wording. Every constant is a
parameter.

Setting (theory section 1-2): ``f(x; W) = m^{-1/2} sum_s a_s relu(w_s . x)``, ``a_s ~ Unif{+-1}``,
``w_{s,0} ~ N(0, I_d)``, ``||x|| = 1``, the lazy ball ``B_{2,inf}(W0, R)`` with ``R = C0 / sqrt(m)`` (per
neuron), ``g_s = w_{s,0} . x ~ N(0, 1)``, ``S_x = {s : |g_s| <= R}`` and ``P = I - x x^T``.

Entries (ids), one line each::

    lemma_B5_f_range                    |f(x;W)| <= sqrt(2 log(2/gamma)) + C0                       (gamma)
    lemma_B5_deterministic              |f(x;W) - f(x;W0)| <= C0 ||x||                              (sure)
    lemma_B4_sign_flips_hoeffding       |S_x| <= m erf(C0/sqrt(2m)) + sqrt((m/2) log(1/gamma))      (gamma)
    lemma_B4_sign_flips_paper           |S_x| <= C0 sqrt(m) + sqrt((m/2) log(2/gamma))              (gamma)
    lemma_B4_sign_flips_chernoff        |S_x| <= mu + L/2 + sqrt(L^2/4 + 2 mu L)                    (gamma)
    lemma_B6_eq3                        P(flip between x, x') <= arcsin(r)/pi                       (sure)
    lemma_B6_eq4_paper                  P(flip reachable) <= sqrt(2/pi)(tau + R(1+r)) + 2e^{-tau^2/2r^2}
    lemma_B6_eq4_geometric              P(flip reachable) <= arcsin(r)/pi + erf(R/sqrt2) + 1 - e^{-R^2/2}
    lemma_B7_grad_lower_crude           ||grad f|| >= main - C0 - T2_crude                          (4 gamma)
    lemma_B7_grad_lower_sharp           ||grad f|| >= main - C0 - T2_sharp                          (4 gamma)
    lemma_B7_grad_upper                 ||grad f|| <= sqrt(...) + C0 + T2 + |S|_bnd C0/m            (5 gamma)
    lemma_B7_grad_lower_per_sample      ||grad f(W)|| >= ||P grad f(W0)|| - T1 - T2 (per sample)    (sure)
    lemma_B9_grad_difference_per_sample ||grad f(z) - grad f(x)|| <= m^{-1/2} sqrt|F| ||W_F||_op    (sure)
    lemma_B9_grad_difference_hp         same, |F| <= (1+delta) m p, fixed z                         (2 gamma)
    theorem_3_1_sufficient_step         -sign(f) f(x') >= eta G (G - D_seg) - |f|                   (sure)
    theorem_3_1_eta_min                 eta_min = 2 C_f / (c_g^2 d)                                 (recon)
    corollary_3_2_robust_error          L_rob >= 1 - sqrt(gamma')                                   (sqrt gamma')

Helpers: :func:`expected_sign_flips`, :func:`chernoff_count_bound`, :func:`sign_disagreement_probability`,
:func:`lemma_B7_terms`, :func:`grad_norm_lower_certified`, :func:`grad_norm_reference`,
:func:`lemma_B9_reference`, :func:`theorem_3_1_certified`, :func:`theorem_3_1_regime`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from .._validate import as_float_array
from .registry import Bound, Condition, Parameter, register

__all__ = [
    # helpers
    "expected_sign_flips", "chernoff_count_bound", "sign_disagreement_probability", "B7Terms",
    "lemma_B7_terms", "grad_norm_lower_certified", "grad_norm_reference", "lemma_B9_reference",
    "theorem_3_1_certified", "RegimeCheck", "theorem_3_1_regime", "RegimeDims", "theorem_3_1_regime_dims",
    "BOUNDS",
    # entries (Bound objects; calling one is evaluate)
    "lemma_B5_f_range", "lemma_B5_deterministic",
    "lemma_B4_sign_flips_hoeffding", "lemma_B4_sign_flips_paper", "lemma_B4_sign_flips_chernoff",
    "lemma_B6_eq3", "lemma_B6_eq4_paper", "lemma_B6_eq4_geometric",
    "lemma_B7_grad_lower_crude", "lemma_B7_grad_lower_sharp", "lemma_B7_grad_upper",
    "lemma_B7_grad_lower_per_sample",
    "lemma_B9_grad_difference_per_sample", "lemma_B9_grad_difference_hp",
    "theorem_3_1_sufficient_step", "theorem_3_1_eta_min", "corollary_3_2_robust_error",
]

CITATION = "Wang, Ullah, Mianjy, Arora (NeurIPS 2022)"
SPEC = "docs/theory.md"

# ----------------------------------------------------------------------------------------------------------
# Parameter domains
# ----------------------------------------------------------------------------------------------------------

_d = Parameter("d", "input dimension", lower=2, integer=True)
_m = Parameter("m", "width (number of hidden neurons)", lower=1, integer=True)
_C0 = Parameter("C0", "lazy-ball constant, R = C0 / sqrt(m)", lower=0)
_gamma = Parameter("gamma", "failure level of each high-probability event", lower=0, upper=1,
                   lower_open=True, upper_open=True)
_r = Parameter("r", "input perturbation radius ||x' - x|| (with ||x|| = 1)", lower=0, upper=1)
_x_norm = Parameter("x_norm", "the input norm ||x||", lower=0)


def _nonneg_param(name, description, optional=False):
    return Parameter(name, description, lower=0.0, optional=optional)


def _count_param(name, description, optional=False):
    return Parameter(name, description, lower=0, integer=True, optional=optional)


def _validate(**pairs):
    """Validate helper arguments: ``name=(Parameter, value)`` -> dict of standardized values."""
    return {name: spec.validate(value) for name, (spec, value) in pairs.items()}


# ----------------------------------------------------------------------------------------------------------
# Building blocks (private: no validation)
# ----------------------------------------------------------------------------------------------------------

def _log_inv(gamma):
    return -np.log(gamma)


def _mean_flips(m, C0):
    return m * erf(C0 / np.sqrt(2.0 * m))


def _chernoff(mu, gamma):
    L = _log_inv(gamma)
    return mu + L / 2.0 + np.sqrt(L * L / 4.0 + 2.0 * mu * L)


def _b5(gamma, C0, x_norm=1.0, sigma_f=1.0):
    return x_norm * (sigma_f * np.sqrt(2.0 * np.log(2.0 / gamma)) + C0)


def _b7_main(d, m, gamma):
    L = _log_inv(gamma)
    a = np.maximum(0.5 - np.sqrt(L / (2.0 * m)), 0.0)
    b = np.maximum((d - 1.0) - 2.0 * np.sqrt((d - 1.0) * L), 0.0)
    return np.sqrt(a * b)


def _b7_t2(d, m, C0, gamma, t2):
    L = _log_inv(gamma)
    s_bnd = _chernoff(_mean_flips(m, C0), gamma)
    if t2 == "crude":
        return s_bnd / np.sqrt(m) * (np.sqrt(d - 1.0) + np.sqrt(2.0 * np.log(m / gamma)))
    return np.sqrt(s_bnd / m) * (np.sqrt(d - 1.0) + np.sqrt(s_bnd) + np.sqrt(2.0 * L))


def _b7_lower(d, m, C0, gamma, t2):
    return _b7_main(d, m, gamma) - C0 - _b7_t2(d, m, C0, gamma, t2)


def _eq3(r):
    return np.arcsin(r) / np.pi


def _eq4_paper(r, C0, m, tau=None):
    R = C0 / np.sqrt(m)
    pos = r > 0
    r_safe = np.where(pos, r, 1.0)
    if tau is None:
        # tau = r sqrt(2 log(1/r)) (limits 0 at r = 0 and r = 1); then tau / r = sqrt(2 log(1/r)).
        ratio = np.sqrt(np.maximum(-2.0 * np.log(r_safe), 0.0))
        tau = np.where(pos, r_safe * ratio, 0.0)
    else:
        with np.errstate(over="ignore"):
            ratio = tau / r_safe             # tau / r, formed first so that tiny r cannot give 0/0
    # P(|w0.(x'-x)| > tau) <= 2 exp(-tau^2 / (2 r^2)); for r = 0 the variable is 0 and the tail is 0.
    with np.errstate(over="ignore"):
        tail = np.where(pos, 2.0 * np.exp(-0.5 * ratio ** 2), 0.0)
    return np.sqrt(2.0 / np.pi) * (tau + R * (1.0 + r)) + tail


def _eq4_geometric(r, C0, m):
    R = C0 / np.sqrt(m)
    return np.arcsin(r) / np.pi + erf(R / np.sqrt(2.0)) - np.expm1(-R * R / 2.0)


# ----------------------------------------------------------------------------------------------------------
# Public helpers
# ----------------------------------------------------------------------------------------------------------

def expected_sign_flips(m, C0) -> np.ndarray:
    """E|S_x| = m erf(C0 / sqrt(2m)): the expected number of neurons a lazy W can flip at x.

    Parameters
    ----------
    m : array_like of int, >= 1
        Width.
    C0 : array_like of float, >= 0
        Lazy-ball constant (R = C0 / sqrt(m)).

    Returns
    -------
    ndarray of float, broadcast shape of ``m`` and ``C0``

    Notes
    -----
    Theory section 5.2: ``S_x = {s : |g_s| <= R}`` with ``g_s ~ N(0, 1)`` i.i.d., so ``|S_x| ~ Bin(m, p)``
    with ``p = P(|g| <= R) = erf(R / sqrt 2)``. Also ``E|S_x| <= C0 sqrt(2m/pi)`` (erf(z) <= 2z/sqrt(pi)).
    """
    v = _validate(m=(_m, m), C0=(_C0, C0))
    return np.asarray(_mean_flips(v["m"], v["C0"]), dtype=float)


def chernoff_count_bound(mu, gamma) -> np.ndarray:
    """The inverted Chernoff bound (Thm B.2): a count with mean <= mu is <= this with probability >= 1 - gamma.

    Returns ``mu + L/2 + sqrt(L^2/4 + 2 mu L)`` with ``L = log(1/gamma)``, i.e. ``(1 + delta) mu`` where
    ``delta`` solves ``exp(-delta^2 mu / (2 + delta)) = gamma``.

    Parameters
    ----------
    mu : array_like of float, >= 0
        An upper bound on the mean of a sum of independent Bernoulli variables.
    gamma : array_like of float in (0, 1)

    Returns
    -------
    ndarray of float, broadcast shape

    Notes
    -----
    With ``t = delta mu`` the equation ``delta^2 mu / (2 + delta) = L`` reads ``t^2 = L (2 mu + t)``, whose
    positive root is ``t = L/2 + sqrt(L^2/4 + 2 mu L)``. Chernoff's ``P(S >= (1+delta) mu) <=
    exp(-delta^2 mu/(2+delta))`` stays valid when ``mu`` is only an upper bound on ``E S`` (couple each
    Bernoulli with one of a larger parameter).
    """
    v = _validate(mu=(_nonneg_param("mu", "mean"), mu), gamma=(_gamma, gamma))
    return np.asarray(_chernoff(v["mu"], v["gamma"]), dtype=float)


def sign_disagreement_probability(x, x_prime) -> np.ndarray:
    """Exact P_{w ~ N(0, I_d)}(sign(w . x) != sign(w . x')) = angle(x, x') / pi, row by row.

    Parameters
    ----------
    x, x_prime : array_like, shape (..., d)
        Nonzero vectors (broadcast against each other).

    Returns
    -------
    ndarray of float, shape (...)

    Notes
    -----
    Theory section 5.3, eq. (3). Only the projection of w on span(x, x') matters; it is a standard 2-D
    Gaussian, whose direction is uniform, and the two signs differ exactly when that direction falls in one
    of the two opposite sectors of angle theta between the lines orthogonal to x and to x' (probability
    2 theta / (2 pi)). The angle is computed as ``atan2(||x'_perp||, x . x')`` (stable near 0 and pi).
    """
    x = as_float_array(x, "x").reshape(np.shape(x))
    x_prime = as_float_array(x_prime, "x_prime").reshape(np.shape(x_prime))
    if x.ndim == 0 or x_prime.ndim == 0 or x.shape[-1] != x_prime.shape[-1]:
        raise ValueError(f"x and x_prime must be vectors of the same length d, got shapes {x.shape} and "
                         f"{x_prime.shape}")
    nx = np.linalg.norm(x, axis=-1)
    nxp = np.linalg.norm(x_prime, axis=-1)
    if np.any(nx == 0) or np.any(nxp == 0):
        raise ValueError("x and x_prime must be nonzero (the angle to 0 is undefined)")
    u = x / nx[..., None]
    dot = np.sum(u * x_prime, axis=-1)
    perp = np.linalg.norm(x_prime - dot[..., None] * u, axis=-1)
    return np.arctan2(perp, dot) / np.pi


@dataclass(frozen=True)
class B7Terms:
    """The pieces of the Lemma B.7 bound (theory section 5.4), broadcast over the parameters.

    Attributes
    ----------
    main : ndarray
        Lower bound on ||P grad f(x; W0)|| (probability >= 1 - 2 gamma).
    T1 : ndarray
        Bound on ||T1|| (= C0, sure).
    S_x_bound : ndarray
        Chernoff bound on ``|S_x|`` (probability >= 1 - gamma).
    T2_crude, T2_sharp : ndarray
        Bounds on ||T2|| (each: probability >= 1 - gamma given the ``|S_x|`` event).
    lower_crude, lower_sharp : ndarray
        ``main - T1 - T2_*``: lower bounds on ||grad f(x; W)|| for all lazy W (probability >= 1 - 4 gamma).
    upper : ndarray
        The matching upper bound with the sharp T2 (probability >= 1 - 5 gamma).
    failure_lower, failure_upper : ndarray
        ``4 gamma`` and ``5 gamma``.
    """

    main: np.ndarray
    T1: np.ndarray
    S_x_bound: np.ndarray
    T2_crude: np.ndarray
    T2_sharp: np.ndarray
    lower_crude: np.ndarray
    lower_sharp: np.ndarray
    upper: np.ndarray
    failure_lower: np.ndarray
    failure_upper: np.ndarray


def lemma_B7_terms(d, m, C0, gamma) -> B7Terms:
    """The pieces (main, T1, T2 crude and sharp, ``|S_x|`` bound) of the Lemma B.7 gradient bounds.

    Parameters
    ----------
    d : array_like of int, >= 2
    m : array_like of int, >= 1
    C0 : array_like of float, >= 0
    gamma : array_like of float in (0, 1)

    Returns
    -------
    B7Terms
        Every field has the broadcast shape of the parameters.

    See Also
    --------
    lemma_B7_grad_lower_sharp, lemma_B7_grad_lower_crude, lemma_B7_grad_upper : the registered entries.
    """
    v = _validate(d=(_d, d), m=(_m, m), C0=(_C0, C0), gamma=(_gamma, gamma))
    d, m, C0, gamma = v["d"], v["m"], v["C0"], v["gamma"]
    shape = np.broadcast_shapes(d.shape, m.shape, C0.shape, gamma.shape)

    def b(a):
        return np.array(np.broadcast_to(np.asarray(a, dtype=float), shape))

    main = _b7_main(d, m, gamma)
    t2c = _b7_t2(d, m, C0, gamma, "crude")
    t2s = _b7_t2(d, m, C0, gamma, "sharp")
    return B7Terms(main=b(main), T1=b(C0), S_x_bound=b(_chernoff(_mean_flips(m, C0), gamma)),
                   T2_crude=b(t2c), T2_sharp=b(t2s), lower_crude=b(main - C0 - t2c),
                   lower_sharp=b(main - C0 - t2s), upper=b(_b7_upper(d, m, C0, gamma, "sharp")),
                   failure_lower=b(4.0 * gamma), failure_upper=b(5.0 * gamma))


def _grad_lower_per_sample(P_grad_norm_W0, S_x_count, m, C0, op_norm=None, max_P_w_norm=None,
                           n_active_W0=None):
    """Per-sample certified lower bound on ||grad_x f(x; W)|| for every W in the lazy ball.

    See :func:`grad_norm_lower_certified` for the statement and the proof.
    """
    if op_norm is None and max_P_w_norm is None:
        raise ValueError("give op_norm (||[P w_s0]_{s in S_x}||_op) or max_P_w_norm (max_{s in S_x} "
                         "||P w_s0||), or both")
    if np.any(S_x_count > m):
        raise ValueError("S_x_count must be <= m (S_x is a set of neurons)")
    if n_active_W0 is not None and np.any(n_active_W0 > m):
        raise ValueError("n_active_W0 must be <= m")
    t2 = np.inf
    if op_norm is not None:
        t2 = np.sqrt(S_x_count / m) * op_norm
    if max_P_w_norm is not None:
        t2 = np.minimum(t2, S_x_count / np.sqrt(m) * max_P_w_norm)
    if n_active_W0 is None:
        t1 = C0 * np.ones_like(S_x_count)
    else:
        t1 = C0 * np.minimum(1.0, (n_active_W0 + S_x_count) / m)
    return P_grad_norm_W0 - t1 - t2


_PER_SAMPLE_B7_PARAMS = (
    _nonneg_param("P_grad_norm_W0", "||P grad_x f(x; W0)|| with P = I - x x^T / ||x||^2"),
    _count_param("S_x_count", "|S_x| = #{s : |w_s0 . x| <= C0 ||x|| / sqrt(m)}"),
    _m,
    _C0,
    _nonneg_param("op_norm", "||[P w_s0]_{s in S_x}||_op (or any upper bound, e.g. without P)", optional=True),
    _nonneg_param("max_P_w_norm", "max_{s in S_x} ||P w_s0|| (or over all s)", optional=True),
    _count_param("n_active_W0", "N_+ = #{s : w_s0 . x > 0} (optional: sharper T1)", optional=True),
)


def grad_norm_lower_certified(P_grad_norm_W0, S_x_count, m, C0, *, op_norm=None, max_P_w_norm=None,
                              n_active_W0=None) -> np.ndarray:
    """Certified per-sample lower bound on ||grad_x f(x; W)||, valid for **every** W in the lazy ball.

    Computes ``||P grad f(x; W0)|| - T1_bound - T2_bound`` from quantities a study computes at W0 with the
    core kernels, with ``T1_bound = C0`` (or ``C0 min(1, (N_+ + |S_x|)/m)`` when ``n_active_W0`` is given)
    and ``T2_bound = min(sqrt(|S_x|/m) op_norm, |S_x| / sqrt(m) max_P_w_norm)`` (whichever are given).

    Parameters
    ----------
    P_grad_norm_W0 : array_like of float, >= 0
        ``||P grad_x f(x; W0)||`` with ``P = I - x x^T / ||x||^2``.
    S_x_count : array_like of int in [0, m]
        ``|S_x| = #{s : |w_{s,0} . x| <= C0 ||x|| / sqrt(m)}`` (note ``<=``: ties count).
    m : array_like of int, >= 1
    C0 : array_like of float, >= 0
        The lazy ball is ``max_s ||w_s - w_{s,0}|| <= R = C0 / sqrt(m)``.
    op_norm : array_like of float, optional
        ``||[P w_{s,0}]_{s in S_x}||_op`` (the ``d x |S_x|`` matrix of projected initial rows), or any upper
        bound on it (e.g. the same without P).
    max_P_w_norm : array_like of float, optional
        ``max_{s in S_x} ||P w_{s,0}||`` (or any upper bound, e.g. the max over all neurons).
    n_active_W0 : array_like of int, optional
        ``N_+ = #{s : w_{s,0} . x > 0}``; gives the sharper ``T1`` bound.

    Returns
    -------
    ndarray of float, broadcast shape
        A value that may be negative (then the certificate is vacuous).

    Notes
    -----
    Theory section 5.4. Write ``Delta_s = w_s - w_{s,0}`` (``||Delta_s|| <= R``), ``sigma'(z) = 1{z > 0}`` and
    ``grad f(x; W) = m^{-1/2} sum_s a_s sigma'(w_s . x) w_s``. Every step below holds for each W in the ball,
    for the given (a, W0, x): the result is a sure bound (failure probability 0).

    1. ``||grad f(W)|| >= ||P grad f(W)||`` since P is an orthogonal projection.
    2. Adding and subtracting, ``P grad f(W) = P grad f(W0) + T1 + T2`` with
       ``T1 = m^{-1/2} sum_s a_s sigma'(w_s . x) P Delta_s`` and
       ``T2 = m^{-1/2} sum_s a_s (sigma'(w_s . x) - sigma'(w_{s,0} . x)) P w_{s,0}``; then by the triangle
       inequality ``||P grad f(W)|| >= ||P grad f(W0)|| - ||T1|| - ||T2||``.
    3. ``||T1|| <= m^{-1/2} sum_{s active under W} ||P Delta_s|| <= m^{-1/2} A R`` where ``A`` is the number
       of neurons active under W; ``A <= m`` gives ``||T1|| <= sqrt(m) R = C0``. A neuron active under W is
       either active under W0 (``g_s > 0``: at most ``N_+``) or flipped, and every flipped neuron is in
       ``S_x`` (step 4), so ``A <= N_+ + |S_x|`` and ``||T1|| <= C0 (N_+ + |S_x|) / m``.
    4. A neuron with ``sigma'(w_s . x) != sigma'(g_s)`` has ``w_s . x`` and ``g_s`` on different sides of 0
       (or one of them 0), hence ``|g_s| <= |w_s . x - g_s| = |Delta_s . x| <= R ||x||``: it is in ``S_x``.
       So ``T2 = m^{-1/2} V c`` where ``V = [P w_{s,0}]_{s in S_x}`` and ``c`` has entries in {-1, 0, +1},
       so ``||c|| <= sqrt(|S_x|)`` and ``||T2|| <= m^{-1/2} ||V||_op sqrt(|S_x|)``. Alternatively
       ``||T2|| <= m^{-1/2} sum_{s in S_x} ||P w_{s,0}|| <= m^{-1/2} |S_x| max_{s in S_x} ||P w_{s,0}||``.
       Both are valid, so their minimum is.

    Examples
    --------
    >>> round(float(grad_norm_lower_certified(7.0, 25, 1000, 1.0, op_norm=15.0)), 6)   # 7 - 1 - 0.158 * 15
    3.628292
    """
    v = _validate(**{p.name: (p, val) for p, val in zip(
        _PER_SAMPLE_B7_PARAMS,
        (P_grad_norm_W0, S_x_count, m, C0, op_norm, max_P_w_norm, n_active_W0))})
    out = _grad_lower_per_sample(**v)
    shape = np.broadcast_shapes(*(a.shape for a in v.values() if isinstance(a, np.ndarray)))
    return np.array(np.broadcast_to(np.asarray(out, dtype=float), shape))


def grad_norm_reference(d) -> np.ndarray:
    """Reference scale sqrt(d/2) of ||grad_x f(x; W0)|| (E ||grad f(x; W0)||^2 = d/2 exactly; theory section 5.4, 5.6)."""
    v = _validate(d=(_d, d))
    return np.sqrt(v["d"] / 2.0)


def lemma_B9_reference(r, grad_norm) -> np.ndarray:
    """Expected scale of ||grad f(z) - grad f(x)|| for a fixed z at distance r: sqrt(2r/pi) ||grad f(x)||.

    Not a bound. Theory section 5.5: for ``z = x + r u``, ``u`` orthogonal to x, ``E|F| = m arctan(r)/pi``
    and the difference is a sum of ``|F|`` random-sign rows of norm about sqrt(d) over sqrt(m), so its norm
    is about ``sqrt(r d / pi) = sqrt(2r/pi) sqrt(d/2)`` when ``m r / pi >> 1``. At r = c/sqrt(d) this is
    O(d^{-1/4}) relative to ||grad f||.

    Parameters
    ----------
    r : array_like of float in [0, 1]
    grad_norm : array_like of float, >= 0
        ||grad f(x; W)|| (e.g. :func:`grad_norm_reference` for sqrt(d/2)).
    """
    v = _validate(r=(_r, r), grad_norm=(_nonneg_param("grad_norm", "||grad f(x)||"), grad_norm))
    return np.sqrt(2.0 * v["r"] / np.pi) * v["grad_norm"]


def theorem_3_1_certified(eta, G, D_seg, f, *, sign_zero_positive: bool = False) -> np.ndarray:
    """Whether the per-sample sufficient condition of Theorem 3.1 certifies a sign flip.

    Certified iff ``eta G (G - D_seg) > |f|`` and ``f != 0`` (or ``sign_zero_positive``: read sign(0) as
    +1 in the update and the conclusion, theory section 3 "Ties").

    Parameters
    ----------
    eta : array_like of float, >= 0
        Step size; the attack is ``x' = x - eta sign(f(x;W)) grad_x f(x;W)``.
    G : array_like of float, >= 0
        ``||grad_x f(x; W)||``.
    D_seg : array_like of float, >= 0
        ``max_{t in [0, eta]} ||grad f(x - t sign(f) grad f(x;W); W) - grad f(x;W)||`` at the same eta.
    f : array_like of float
        ``f(x; W)``.
    sign_zero_positive : bool
        Certify f = 0 too, under the convention sign(0) := +1.

    Returns
    -------
    ndarray of bool, broadcast shape

    See Also
    --------
    theorem_3_1_sufficient_step : the margin ``eta G (G - D_seg) - |f|`` (a lower bound on -sign(f) f(x')).
    """
    v = _validate(eta=(_nonneg_param("eta", "step size"), eta), G=(_nonneg_param("G", "gradient norm"), G),
                  D_seg=(_nonneg_param("D_seg", "segment gradient difference"), D_seg),
                  f=(Parameter("f", "f(x; W)"), f))
    margin = _thm31_margin(v["eta"], v["G"], v["D_seg"], v["f"])
    ok = margin > 0
    if not sign_zero_positive:
        ok = ok & (v["f"] != 0)
    return np.asarray(ok)


@dataclass(frozen=True)
class RegimeCheck:
    """Theorem 3.1's regime conditions (RECON, low confidence in every constant).

    Attributes
    ----------
    step_lower, step_upper : ndarray of bool or None
        ``eta >= C1/d`` and ``eta <= C2/d`` (None when eta or the constant is not given).
    width_lower : ndarray of bool
        ``m >= poly_coef d^poly_degree``.
    width_upper : ndarray of bool
        ``m <= exp(d^c_exp)``.
    """

    step_lower: np.ndarray | None
    step_upper: np.ndarray | None
    width_lower: np.ndarray
    width_upper: np.ndarray

    @property
    def all_checked_hold(self) -> np.ndarray:
        """True where every condition that could be checked holds."""
        out = self.width_lower & self.width_upper
        for extra in (self.step_lower, self.step_upper):
            if extra is not None:
                out = out & extra
        return out


def theorem_3_1_regime(d, m, eta=None, *, C1=None, C2=None, poly_coef=1.0, poly_degree=1.0,
                       c_exp=0.24) -> RegimeCheck:
    """Check Theorem 3.1's regime: ``eta = Theta(1/d)`` and ``poly(d) <~ m <~ exp(d^c)``.

    RECON, low confidence (theory section 3): the theorem's constants C1, C2, c and the polynomial were not
    recovered. The defaults follow Bubeck et al. 2021's ReLU regime ``d << k << exp(d^c)`` (theory section 7:
    c = 0.24 is recalled with low-medium confidence). Note how small ``exp(d^0.24)`` is: about 20 at d = 100
    and 141 at d = 784, far below the widths of the paper's experiments; the condition is asymptotic. With
    the defaults the range ``d <= m <= exp(d^0.24)`` is empty for every d from 5 to 10775
    (:func:`theorem_3_1_regime_dims` says for which d it is non-empty, for any constants).

    Parameters
    ----------
    d, m : array_like of int
    eta : array_like of float, optional
    C1, C2 : float, optional
        Step-size constants (``C1/d <= eta <= C2/d``); not found in the sources, so no defaults. The
        derived sufficient lower constant is ``2 C_f / c_g^2`` (see ``theorem_3_1_eta_min``).
    poly_coef, poly_degree : float
        ``m >= poly_coef * d**poly_degree``.
    c_exp : float
        ``m <= exp(d**c_exp)``.

    Returns
    -------
    RegimeCheck
    """
    v = _validate(d=(_d, d), m=(_m, m),
                  eta=(_nonneg_param("eta", "step size", optional=True), eta),
                  C1=(_nonneg_param("C1", "lower step constant", optional=True), C1),
                  C2=(_nonneg_param("C2", "upper step constant", optional=True), C2),
                  poly_coef=(_nonneg_param("poly_coef", "width polynomial coefficient"), poly_coef),
                  poly_degree=(_nonneg_param("poly_degree", "width polynomial degree"), poly_degree),
                  c_exp=(Parameter("c_exp", "width exponent c", lower=0, lower_open=True), c_exp))
    d, m, eta = v["d"], v["m"], v["eta"]
    width_lower = np.asarray(m >= v["poly_coef"] * d ** v["poly_degree"])
    with np.errstate(over="ignore"):
        width_upper = np.asarray(np.log(m) <= d ** v["c_exp"])
    step_lower = None if eta is None or v["C1"] is None else np.asarray(eta >= v["C1"] / d)
    step_upper = None if eta is None or v["C2"] is None else np.asarray(eta <= v["C2"] / d)
    return RegimeCheck(step_lower, step_upper, width_lower, width_upper)


@dataclass(frozen=True)
class RegimeDims:
    """For which d the width range ``poly_coef d^poly_degree <= m <= exp(d^c_exp)`` of Theorem 3.1 is non-empty.

    The range is non-empty exactly when ``g(d) = d^c_exp - poly_degree ln d - ln poly_coef >= 0``. ``g``
    decreases up to ``d* = (poly_degree / c_exp)^(1 / c_exp)`` and increases after it, so the set of integer
    ``d >= 2`` where it is non-empty is ``{2, ..., small_max}`` (possibly empty) together with
    ``{d >= threshold}``.

    Attributes
    ----------
    small_max : int
        The largest d of the small-d island (1 when there is none: then only ``d >= threshold`` counts).
    threshold : int
        The smallest d from which the range is non-empty for every larger d.
    poly_coef, poly_degree, c_exp : float
        The (reconstructed) constants used.
    """

    small_max: int
    threshold: int
    poly_coef: float
    poly_degree: float
    c_exp: float

    def nonempty(self, d) -> np.ndarray:
        """Whether the width range is non-empty at each d."""
        d = np.asarray(d)
        return (d <= self.small_max) | (d >= self.threshold)

    def describe(self) -> str:
        """One line, e.g. ``'non-empty only for d <= 4 and d >= 10776 (m >= 1 d^1, log m <= d^0.24)'``."""
        cond = f"m >= {self.poly_coef:g} d^{self.poly_degree:g} and log m <= d^{self.c_exp:g}, RECONSTRUCTED constants"
        small = f"d <= {self.small_max} and " if self.small_max >= 2 else ""
        return f"the width range is non-empty only for {small}d >= {self.threshold} ({cond})"


def theorem_3_1_regime_dims(*, poly_coef=1.0, poly_degree=1.0, c_exp=0.24) -> RegimeDims:
    """For which input dimensions d Theorem 3.1's reconstructed width range is non-empty (see RegimeDims).

    With the defaults (``m >= d``, ``log m <= d^0.24``): only for d <= 4 and for d >= 10776, so every
    (d, m) of the studies (d from 25 to 784) lies outside it, whatever m. The constants are parameters: the
    theory page marks them RECON (``c_exp = 0.24`` recalled with low-medium confidence).
    """
    v = _validate(poly_coef=(Parameter("poly_coef", "width polynomial coefficient", lower=0, lower_open=True),
                             poly_coef),
                  poly_degree=(_nonneg_param("poly_degree", "width polynomial degree"), poly_degree),
                  c_exp=(Parameter("c_exp", "width exponent c", lower=0, lower_open=True), c_exp))
    coef, p, c = float(v["poly_coef"]), float(v["poly_degree"]), float(v["c_exp"])

    def g(d):
        return d ** c - p * math.log(d) - math.log(coef)

    d_star = max(2.0, (p / c) ** (1.0 / c)) if p > 0 else 2.0
    # small-d island: g decreasing on [2, d_star]
    small_max = 1
    if g(2) >= 0:
        lo, hi = 2, int(math.floor(d_star))
        if g(hi) >= 0:
            small_max = hi
        else:
            while hi - lo > 1:                      # g(lo) >= 0 > g(hi)
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if g(mid) >= 0 else (lo, mid)
            small_max = lo
    lo = int(math.ceil(d_star))
    if g(lo) >= 0:
        threshold = lo
    else:
        hi = lo
        while g(hi) < 0:
            hi *= 2
        while hi - lo > 1:                          # g(lo) < 0 <= g(hi)
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if g(mid) >= 0 else (mid, hi)
        threshold = hi
    if small_max >= threshold - 1:                  # the two parts meet: non-empty for every d >= 2
        small_max, threshold = 1, 2
    return RegimeDims(small_max=small_max, threshold=threshold, poly_coef=coef, poly_degree=p, c_exp=c)


# ----------------------------------------------------------------------------------------------------------
# Entry functions (private; the registry validates their arguments)
# ----------------------------------------------------------------------------------------------------------

def _thm31_margin(eta, G, D_seg, f):
    return eta * G * (G - D_seg) - np.abs(f)


def _b7_upper(d, m, C0, gamma, t2="sharp"):
    L = _log_inv(gamma)
    at_w0 = np.sqrt(2.0 * np.log(2.0 / gamma)
                    + (0.5 + np.sqrt(L / (2.0 * m))) * ((d - 1.0) + 2.0 * np.sqrt((d - 1.0) * L) + 2.0 * L))
    s_bnd = _chernoff(_mean_flips(m, C0), gamma)
    return at_w0 + C0 + _b7_t2(d, m, C0, gamma, t2) + s_bnd * C0 / m


def _b9_per_sample(F_count, m, op_norm=None, max_row_norm=None):
    if op_norm is None and max_row_norm is None:
        raise ValueError("give op_norm (||W_F||_op) or max_row_norm (max_{s in F} ||w_s||), or both")
    if np.any(F_count > m):
        raise ValueError("F_count must be <= m (F is a set of neurons)")
    out = np.inf
    if op_norm is not None:
        out = np.sqrt(F_count / m) * op_norm
    if max_row_norm is not None:
        out = np.minimum(out, F_count / np.sqrt(m) * max_row_norm)
    return out


def _b9_p(r, C0, m, p_form="geometric", tau=None):
    return _eq4_paper(r, C0, m, tau) if p_form == "paper" else _eq4_geometric(r, C0, m)


def _b9_count_bound(d, m, C0, r, gamma, p_form="geometric", tau=None):
    return _chernoff(m * _b9_p(r, C0, m, p_form, tau), gamma)


def _b9_hp(d, m, C0, r, gamma, p_form="geometric", tau=None):
    f_bnd = _b9_count_bound(d, m, C0, r, gamma, p_form, tau)
    max_norm = np.sqrt(d) + np.sqrt(2.0 * np.log(m / gamma)) + C0 / np.sqrt(m)
    return f_bnd / np.sqrt(m) * max_norm


def _thm31_eta_min(d, m, C0, gamma, C_f=None, c_g=None, t2="sharp"):
    if C_f is None:
        C_f = _b5(gamma, C0)
    if c_g is None:
        c_g = _b7_lower(d, m, C0, gamma, t2) / np.sqrt(d)
    pos = c_g > 0
    c_safe = np.where(pos, c_g, 1.0)
    return np.where(pos, 2.0 * C_f / (c_safe ** 2 * d), np.inf)


# ----------------------------------------------------------------------------------------------------------
# Shared conditions
# ----------------------------------------------------------------------------------------------------------

_X_FIXED = Condition(
    "x_fixed", "x is fixed before (a, W0) are drawn (independent of the initialization); the statement is "
    "for one x, not uniform over x", kind="hypothesis")
_X_SPHERE = Condition(
    "x_on_sphere", "||x|| = 1 (theory section 1: inputs are normalized); then g_s = w_s0 . x ~ N(0, 1)",
    kind="hypothesis")
_INIT = Condition(
    "theory_init", "a_s ~ Unif{+-1}, w_s0 ~ N(0, I_d) i.i.d., no bias (theory section 1, the theory setting)",
    kind="hypothesis")


# ----------------------------------------------------------------------------------------------------------
# Entries
# ----------------------------------------------------------------------------------------------------------

lemma_B5_f_range = Bound(
    id="lemma_B5_f_range",
    title="Bound on |f(x;W)| over the lazy ball",
    citation=f"{CITATION}, Lemma 4.1 / B.5",
    quantity="sup_{W in B_{2,inf}(W0, R)} |f(x;W)|",
    estimator="boundcheck.f_range: max(-lower, upper)",
    direction="upper",
    function=_b5,
    formula="x_norm * (sigma_f * sqrt(2 log(2/gamma)) + C0)    [= sqrt(2 log(2/gamma)) + C0 at ||x|| = 1]",
    parameters=(_gamma, _C0, _x_norm,
                Parameter("sigma_f", "sub-Gaussian variance proxy of f(x;W0)/||x||", lower=0)),
    constants={"x_norm": 1.0, "sigma_f": 1.0},
    conditions=(_X_FIXED, _INIT),
    failure_probability=lambda gamma: gamma,
    status="derived",
    probability_over="(a, W0)",
    example={"gamma": 0.1, "C0": 1.0},
    notes=(
        f"Theory section 5.1 ({SPEC}). |f(x;W)| <= |f(x;W0)| + |f(x;W) - f(x;W0)|. The second term is at most "
        "C0 ||x|| surely (entry lemma_B5_deterministic). For the first, each term a_s relu(g_s) is 0 with "
        "probability 1/2 and N(0, ||x||^2) otherwise, so its MGF is 1/2 + e^{l^2 ||x||^2/2}/2 <= "
        "e^{l^2 ||x||^2/2}: f(x;W0) is sub-Gaussian with variance proxy ||x||^2 and P(|f(x;W0)| >= t) <= "
        "2 exp(-t^2 / (2 ||x||^2)), i.e. |f(x;W0)| <= ||x|| sqrt(2 log(2/gamma)) with probability >= 1 - gamma. "
        "No width condition is needed (the RECON statement's m >= C' log(1/gamma) is not). The RECON form "
        "is C sqrt(log(1/gamma)) + C0 with C unknown: sigma_f plays the role of C / sqrt 2. The exact "
        "variance of f(x;W0) is 1/2 but 1/2 is not a valid variance proxy; E[sup_W f - f(x;W0)] = C0/2 "
        "exactly, so the C0 term is about 2x loose."),
)

lemma_B5_deterministic = Bound(
    id="lemma_B5_deterministic",
    title="Lipschitz part of Lemma B.5: f moves by at most C0 ||x|| over the lazy ball",
    citation=f"{CITATION}, Lemma 4.1 / B.5 (triangle inequality, relu 1-Lipschitz)",
    quantity="sup_{W in B_{2,inf}(W0, R)} |f(x;W) - f(x;W0)|",
    estimator="boundcheck.f_range minus boundcheck.forward at W0",
    direction="upper",
    function=lambda C0, x_norm=1.0: C0 * x_norm,
    formula="C0 * ||x||",
    parameters=(_C0, _x_norm),
    constants={"x_norm": 1.0},
    conditions=(),
    failure_probability=0.0,
    status="derived",
    probability_over="none (a sure bound, for every (a, W0), x and W in the ball)",
    example={"C0": 1.0},
    notes=(
        f"Theory section 5.1 ({SPEC}). |f(x;W) - f(x;W0)| <= m^{{-1/2}} sum_s |relu(w_s.x) - relu(w_s0.x)| <= "
        "m^{-1/2} sum_s |(w_s - w_s0).x| <= m^{-1/2} m R ||x|| = C0 ||x||. The exact worst case (theory section 5.1) "
        "is about C0/2 on average: the bound is about 2x loose. No free constant."),
)

_B4_COMMON = dict(
    quantity="|S_x| = #{s : |w_s0.x| <= C0 ||x|| / sqrt(m)} (= max over the lazy ball of the number of "
             "neurons whose activation at x differs from W0's, up to ties)",
    estimator="boundcheck.max_sign_flips (exact)",
    direction="upper",
    conditions=(_X_FIXED, _INIT),
    trivial=lambda m: m,
    reference=expected_sign_flips,
    probability_over="(a, W0)",
    example={"m": 1000, "C0": 1.0, "gamma": 0.1},
)

lemma_B4_sign_flips_hoeffding = Bound(
    id="lemma_B4_sign_flips_hoeffding",
    title="Number of neurons that can change sign (exact mean + Hoeffding)",
    citation=f"{CITATION}, Lemma 4.3 / B.4 (Hoeffding)",
    function=lambda m, C0, gamma: _mean_flips(m, C0) + np.sqrt(m / 2.0 * _log_inv(gamma)),
    formula="m erf(C0 / sqrt(2m)) + sqrt((m/2) log(1/gamma))",
    parameters=(_m, _C0, _gamma),
    failure_probability=lambda gamma: gamma,
    status="derived",
    notes=(
        f"Theory section 5.2 ({SPEC}). A flip at x needs |g_s| <= |(w_s - w_s0).x| <= R ||x||, so every W in "
        "the ball flips only neurons of S_x, and W_flip (w_s = w_s0 - R sign(g_s) x) flips all s with "
        "|g_s| < R. |S_x| ~ Bin(m, erf(C0/sqrt(2m))); Hoeffding: P(|S_x| - E|S_x| >= t) <= exp(-2t^2/m), "
        "t = sqrt((m/2) log(1/gamma)). One set; for S_x and S_x' together use gamma/2 each. "
        "Helper: expected_sign_flips(m, C0) = E|S_x|."),
    **_B4_COMMON,
)

lemma_B4_sign_flips_paper = Bound(
    id="lemma_B4_sign_flips_paper",
    title="Number of neurons that can change sign (the paper's route: E|S_x| <= C0 sqrt(m), Hoeffding)",
    citation=f"{CITATION}, Lemma 4.3 / B.4",
    function=lambda m, C0, gamma, mean_coef=1.0: mean_coef * C0 * np.sqrt(m)
    + np.sqrt(m / 2.0 * np.log(2.0 / gamma)),
    formula="mean_coef * C0 sqrt(m) + sqrt((m/2) log(2/gamma)),  mean_coef = 1",
    parameters=(_m, _C0, _gamma,
                Parameter("mean_coef", "constant c in E|S_x| <= c C0 sqrt(m); valid for c >= sqrt(2/pi)",
                          lower=0)),
    constants={"mean_coef": 1.0},
    reconstructed={"mean_coef": "RECONSTRUCTED (the paper's E|S_x| <= C0 sqrt(m))"},
    failure_probability=lambda gamma: gamma,
    status="recon",
    notes=(
        f"Theory section 5.2 ({SPEC}), the RECON statement: with probability >= 1 - gamma both |S_x| and "
        "|S_x'| are below this (log(2/gamma): union bound over the two sets). E|S_x| = m P(|g| <= R) <= "
        "sqrt(2/pi) C0 sqrt(m) <= C0 sqrt(m), then Hoeffding. The inequality is guaranteed only for "
        "mean_coef >= sqrt(2/pi) (condition mean_coef_valid)."),
    **{**_B4_COMMON, "conditions": (_X_FIXED, _INIT, Condition(
        "mean_coef_valid", "mean_coef >= sqrt(2/pi) ~ 0.798 (E|S_x| <= C0 sqrt(2m/pi))",
        check=lambda mean_coef: mean_coef >= math.sqrt(2.0 / math.pi), kind="hypothesis"))},
)

lemma_B4_sign_flips_chernoff = Bound(
    id="lemma_B4_sign_flips_chernoff",
    title="Number of neurons that can change sign (exact mean + inverted Chernoff)",
    citation=f"{CITATION}, Lemma 4.3 / B.4 with Thm B.2 (Chernoff)",
    function=lambda m, C0, gamma: _chernoff(_mean_flips(m, C0), gamma),
    formula="mu + L/2 + sqrt(L^2/4 + 2 mu L),  mu = m erf(C0/sqrt(2m)), L = log(1/gamma)",
    parameters=(_m, _C0, _gamma),
    failure_probability=lambda gamma: gamma,
    status="derived",
    notes=(
        f"Theory section 5.2 ({SPEC}). Chernoff (Thm B.2): P(|S_x| >= (1+delta) mu) <= exp(-delta^2 mu / "
        "(2 + delta)); setting the right side to gamma and solving for t = delta mu gives t^2 = L (2 mu + t), "
        "t = L/2 + sqrt(L^2/4 + 2 mu L). Theory section 5.2 reports tightness 1.04-1.42. This is the |S_x| bound used "
        "by lemma_B7_*."),
    **_B4_COMMON,
)

_B6_COMMON = dict(
    failure_probability=0.0,
    probability_over="none (a deterministic inequality on a probability over w ~ N(0, I_d))",
    trivial=1.0,
)

lemma_B6_eq3 = Bound(
    id="lemma_B6_eq3",
    title="Probability that one random neuron separates x and x' (||x' - x|| <= r)",
    citation=f"{CITATION}, Lemma B.6 eq. (3) (from Bubeck et al. 2021)",
    quantity="sup_{||x'-x|| <= r} P_{w ~ N(0,I_d)}(sign(w.x) != sign(w.x')), ||x|| = 1",
    estimator="frequency of sign(w.x) != sign(w.x') over w ~ N(0, I_d); exact: sign_disagreement_probability",
    direction="upper",
    function=_eq3,
    formula="arcsin(r) / pi  (<= r/2);  exact: angle(x, x') / pi",
    parameters=(_r,),
    conditions=(Condition("x_unit", "||x|| = 1 (for other norms use r / ||x||)", kind="hypothesis"),),
    status="derived",
    reference=sign_disagreement_probability,
    example={"r": 0.1},
    notes=(
        f"Theory section 5.3 ({SPEC}). P = angle(x, x')/pi exactly (the direction of the projection of w on "
        "span(x, x') is uniform). For ||x|| = 1 and ||x' - x|| <= r <= 1 the angle is at most arcsin(r) "
        "(attained when the line through 0 and x' is tangent to the ball B(x, r)), and arcsin(r) <= pi r / 2 "
        "on [0, 1] by convexity of arcsin, so P <= r/2. "
        "Bubeck et al. state it as O(||x - x'|| / ||x||). Helper sign_disagreement_probability(x, x') "
        "computes the exact value."),
    **_B6_COMMON,
)

_B6_EQ4_QUANTITY = ("P_{w_s0}(exists W in B_{2,inf}(W0, R): sign(w_s.x) != sign(w_s.x')) for one neuron s, "
                    "||x|| = 1, ||x' - x|| <= r")
_B6_EQ4_ESTIMATOR = ("fraction of neurons s with |w_s0.x| <= R(1 + r) + |w_s0.(x'-x)| is an upper estimate; "
                     "exact: distance of the projection of w_s0 on span(x, x') to the double wedge <= R")

lemma_B6_eq4_paper = Bound(
    id="lemma_B6_eq4_paper",
    title="Probability that a neuron can be flipped between x and x' by some lazy W (paper route)",
    citation=f"{CITATION}, Lemma B.6 eq. (4)",
    quantity=_B6_EQ4_QUANTITY,
    estimator=_B6_EQ4_ESTIMATOR,
    direction="upper",
    function=_eq4_paper,
    formula="sqrt(2/pi) (tau + R (1 + r)) + 2 exp(-tau^2 / (2 r^2)),  R = C0/sqrt(m), "
            "tau = r sqrt(2 log(1/r)) by default (then the last term is 2r)",
    parameters=(_r, _C0, _m, _nonneg_param("tau", "threshold (any tau >= 0 is valid)", optional=True)),
    constants={"tau": None},
    conditions=(Condition("x_unit", "||x|| = 1", kind="hypothesis"),
                Condition("x_prime_fixed", "x' is fixed before W0 is drawn", kind="hypothesis")),
    status="derived",
    example={"r": 0.1, "C0": 1.0, "m": 1000},
    notes=(
        f"Theory section 5.3 ({SPEC}). A flip at some W implies |w_s.x| <= |w_s.(x' - x)|, hence "
        "|g_s| <= R(1 + r) + |h_s| with h_s = w_s0.(x' - x) ~ N(0, ||x'-x||^2), ||x'-x|| <= r. For any "
        "tau >= 0: P <= P(|h_s| > tau) + P(|g_s| <= tau + R(1+r)) <= 2 exp(-tau^2/(2r^2)) + "
        "sqrt(2/pi)(tau + R(1+r)) (union bound, no independence needed; the Gaussian density is <= "
        "1/sqrt(2 pi)). tau = None picks r sqrt(2 log(1/r)), giving sqrt(2/pi)(r sqrt(2 log(1/r)) + "
        "R(1+r)) + 2r. Checked: valid but 1.3-9.9x loose. Not comparable in general with "
        "lemma_B6_eq4_geometric (neither is always smaller)."),
    **_B6_COMMON,
)

lemma_B6_eq4_geometric = Bound(
    id="lemma_B6_eq4_geometric",
    title="Probability that a neuron can be flipped between x and x' by some lazy W (exact 2-D geometry)",
    citation=f"{CITATION}, Lemma B.6 eq. (4) (sharper derived form)",
    quantity=_B6_EQ4_QUANTITY,
    estimator=_B6_EQ4_ESTIMATOR,
    direction="upper",
    function=_eq4_geometric,
    formula="arcsin(r)/pi + erf(R/sqrt 2) + 1 - exp(-R^2/2)   (<= r/2 + sqrt(2/pi) R + R^2/2),  R = C0/sqrt(m)",
    parameters=(_r, _C0, _m),
    conditions=(Condition("x_unit", "||x|| = 1", kind="hypothesis"),
                Condition("x_prime_fixed", "x' is fixed before W0 is drawn", kind="hypothesis")),
    status="derived",
    example={"r": 0.1, "C0": 1.0, "m": 1000},
    notes=(
        f"Theory section 5.3 ({SPEC}), 'DERIVED, not yet reviewed'; reviewed here. Only u = the projection of "
        "w_s0 on span(x, x') matters (u ~ N(0, I_2); projecting Delta on the span does not increase its norm). "
        "Let D = {u : (u.x)(u.x') <= 0}, the closed double wedge of opening theta = angle(x, x') <= arcsin(r); "
        "the event is dist(u, D) <= R. If u is not in D, its nearest point q in D lies in one of the two "
        "convex sectors K of D and is the nearest point of K, so u - q is in the normal cone of K at q: "
        "either q = 0 (then |u| <= R: probability 1 - e^{-R^2/2}) or q is on one of the 4 boundary rays "
        "and u lies in the outer half-strip of width R along that ray (probability (1/2)(erf(R/sqrt2)/2) "
        "each, erf(R/sqrt2) for the 4). Adding P(u in D) = theta/pi gives the bound. Checked: 0.99-1.06x the "
        "exact probability for R <= 0.1. Not comparable in general with lemma_B6_eq4_paper."),
    **_B6_COMMON,
)

_B7_CONDITIONS = (
    _X_FIXED, _X_SPHERE, _INIT,
    Condition("C0_small", "C0 <= c_prime sqrt(d) (RECON; for C0 >~ ||grad f(W0)|| ~ 0.7 sqrt(d) some lazy W "
              "has ||grad f|| ~ 0, theory section 5.4)", check=lambda C0, d, c_prime: C0 <= c_prime * np.sqrt(d),
              kind="regime"),
    Condition("d_large", "d - 1 > 4 log(1/gamma) (else the chi^2 part of the main term is 0)",
              check=lambda d, gamma: d - 1 > 4.0 * np.log(1.0 / gamma), kind="regime"),
    Condition("m_large", "m > 2 log(1/gamma) (else the N_+/m part of the main term is 0)",
              check=lambda m, gamma: m > 2.0 * np.log(1.0 / gamma), kind="regime"),
)

_B7_PARAMS = (_d, _m, _C0, _gamma,
              Parameter("c_prime", "regime constant in C0 <= c' sqrt(d) (conditions only)", lower=0))

_B7_NOTES = (
    f"Theory section 5.4 ({SPEC}). For every W in the ball: ||grad f(W)|| >= ||P grad f(W)|| >= "
    "||P grad f(W0)|| - ||T1|| - ||T2|| (P = I - x x^T). main: ||P grad f(W0)||^2 = (N_+/m) chi^2_{d-1} "
    "exactly (P w_s0 is independent of g_s); Hoeffding on N_+ ~ Bin(m, 1/2) and the Laurent-Massart "
    "lower tail P(chi^2_k <= k - 2 sqrt(k L)) <= e^{-L} give main with probability >= 1 - 2 gamma. "
    "||T1|| <= C0 surely. T2 sums over flipped neurons, a subset of S_x, with coefficients in {-1, +1}; "
    "|S_x| <= mu + L/2 + sqrt(L^2/4 + 2 mu L) (Chernoff, gamma). "
    "Accounting: 2 gamma (main) + gamma (|S_x|) + gamma (T2's norm event) = 4 gamma, as theory section 5.4 states. "
)

lemma_B7_grad_lower_sharp = Bound(
    id="lemma_B7_grad_lower_sharp",
    title="Lower bound on the input-gradient norm over the lazy ball (sharp T2: operator norm)",
    citation=f"{CITATION}, Lemma 4.2 / B.7",
    quantity="inf_{W in B_{2,inf}(W0, R)} ||grad_x f(x;W)||",
    estimator="min over lazy W of ||boundcheck.input_gradient|| (heuristic worst cases; per-sample "
              "certificate: grad_norm_lower_certified)",
    direction="lower",
    function=lambda d, m, C0, gamma: _b7_lower(d, m, C0, gamma, "sharp"),
    formula="main - C0 - sqrt(S/m) (sqrt(d-1) + sqrt(S) + sqrt(2 log(1/gamma))),  main = sqrt[(1/2 - "
            "sqrt(log(1/gamma)/(2m)))_+ (d-1 - 2 sqrt((d-1) log(1/gamma)))_+],  S = |S_x| Chernoff bound",
    parameters=_B7_PARAMS,
    constants={"c_prime": 1.0 / math.sqrt(2.0)},
    conditions=_B7_CONDITIONS,
    failure_probability=lambda gamma: 4.0 * gamma,
    status="derived",
    reference=grad_norm_reference,
    example={"d": 400, "m": 4000, "C0": 0.5, "gamma": 0.1},
    notes=_B7_NOTES + (
        "Sharp T2 (recommended by theory section 5.4): ||T2|| <= sqrt(|S_x|/m) ||[P w_s0]_{s in S_x}||_op, and given "
        "S_x (which depends only on g) that matrix is a (d-1) x |S_x| standard Gaussian matrix, whose "
        "operator norm is <= sqrt(d-1) + sqrt(|S_x|) + sqrt(2 log(1/gamma)) with probability >= 1 - gamma "
        "(Gordon / Davidson-Szarek with Gaussian concentration). Checked: positive only for C0 <= 1 and "
        "d >= 100; o(sqrt d) once m >> C0^2 + log(1/gamma). lemma_B7_terms(d, m, C0, gamma) returns the pieces."),
)

lemma_B7_grad_lower_crude = Bound(
    id="lemma_B7_grad_lower_crude",
    title="Lower bound on the input-gradient norm over the lazy ball (crude T2: max row norm)",
    citation=f"{CITATION}, Lemma 4.2 / B.7",
    quantity="inf_{W in B_{2,inf}(W0, R)} ||grad_x f(x;W)||",
    estimator="min over lazy W of ||boundcheck.input_gradient||",
    direction="lower",
    function=lambda d, m, C0, gamma: _b7_lower(d, m, C0, gamma, "crude"),
    formula="main - C0 - S m^{-1/2} (sqrt(d-1) + sqrt(2 log(m/gamma))),  main and S as in "
            "lemma_B7_grad_lower_sharp",
    parameters=_B7_PARAMS,
    constants={"c_prime": 1.0 / math.sqrt(2.0)},
    conditions=_B7_CONDITIONS,
    failure_probability=lambda gamma: 4.0 * gamma,
    status="derived",
    reference=grad_norm_reference,
    example={"d": 400, "m": 4000, "C0": 0.1, "gamma": 0.1},
    notes=_B7_NOTES + (
        "Crude T2, as the paper's 'for all s in [m]' suggests: ||T2|| <= m^{-1/2} |S_x| max_s ||P w_s0|| and "
        "max_s ||P w_s0|| <= sqrt(d-1) + sqrt(2 log(m/gamma)) with probability >= 1 - gamma (Thm B.3, "
        "1-Lipschitz norm, E||P w|| <= sqrt(d-1), union over m neurons). Checked: vacuous unless C0 <~ 0.1-0.3."),
)

lemma_B7_grad_upper = Bound(
    id="lemma_B7_grad_upper",
    title="Upper bound on the input-gradient norm over the lazy ball",
    citation=f"{CITATION}, Lemma 4.2 / B.7 (matching upper bound, used to keep ||delta|| = O(1/sqrt d))",
    quantity="sup_{W in B_{2,inf}(W0, R)} ||grad_x f(x;W)||",
    estimator="max over lazy W of ||boundcheck.input_gradient|| (heuristic worst cases)",
    direction="upper",
    function=_b7_upper,
    formula="sqrt(2 log(2/gamma) + (1/2 + sqrt(L/(2m))) (d-1 + 2 sqrt((d-1) L) + 2L)) + C0 + T2 + S C0/m, "
            "L = log(1/gamma), T2 sharp (default) or crude, S = |S_x| Chernoff bound",
    parameters=(_d, _m, _C0, _gamma, Parameter("t2", "which T2 bound", choices=("sharp", "crude"))),
    conditions=(_X_FIXED, _X_SPHERE, _INIT),
    failure_probability=lambda gamma: 5.0 * gamma,
    status="derived",
    reference=grad_norm_reference,
    example={"d": 100, "m": 1000, "C0": 1.0, "gamma": 0.1},
    notes=(
        f"Theory section 5.4 ({SPEC}): NOT YET CHECKED NUMERICALLY. ||grad f(W)|| <= "
        "||grad f(W0)|| + ||grad f(W) - grad f(W0)||. ||grad f(W0)||^2 = f(x;W0)^2 + ||P grad f(W0)||^2 "
        "(Euler: x.grad f = f); f(x;W0)^2 <= 2 log(2/gamma) (gamma) and (N_+/m) chi^2_{d-1} <= "
        "(1/2 + sqrt(L/(2m)))(d-1 + 2 sqrt((d-1)L) + 2L) (Hoeffding + Laurent-Massart upper tail, 2 gamma). "
        "grad f(W) - grad f(W0) = m^{-1/2} sum a_s relu'(w_s.x) Delta_s (norm <= C0, sure) + m^{-1/2} "
        "sum_{flipped} c_s w_s0 whose P-part is <= T2 (|S_x| gamma + norm gamma) and whose x-part is "
        "m^{-1/2} |sum c_s g_s| <= |S_x| R / sqrt(m) = |S_x| C0 / m. Total 5 gamma."),
)

lemma_B7_grad_lower_per_sample = Bound(
    id="lemma_B7_grad_lower_per_sample",
    title="Certified per-sample lower bound on the input-gradient norm over the lazy ball",
    citation=f"{CITATION}, Lemma 4.2 / B.7 (the decomposition, eqs. (5)-(7), per sample)",
    quantity="inf_{W in B_{2,inf}(W0, R)} ||grad_x f(x;W)|| for the given (a, W0, x)",
    estimator="min over lazy W of ||boundcheck.input_gradient|| (must never be below this)",
    direction="lower",
    function=_grad_lower_per_sample,
    formula="||P grad f(x;W0)|| - C0 [min(1, (N_+ + |S_x|)/m)] - min(sqrt(|S_x|/m) ||[P w_s0]_{S_x}||_op, "
            "|S_x| m^{-1/2} max_{s in S_x} ||P w_s0||)",
    parameters=_PER_SAMPLE_B7_PARAMS,
    conditions=(Condition("S_x_definition", "S_x_count counts |w_s0.x| <= C0 ||x|| / sqrt(m) (ties "
                          "included), and op_norm / max_P_w_norm are over the same S_x (or a superset)",
                          kind="hypothesis"),),
    failure_probability=0.0,
    status="derived",
    probability_over="none (a sure bound given the per-sample quantities)",
    example={"P_grad_norm_W0": 7.0, "S_x_count": 25, "m": 1000, "C0": 1.0, "op_norm": 15.0},
    notes=(
        f"Theory section 5.4 ({SPEC}). The deterministic skeleton of Lemma B.7: see "
        "grad_norm_lower_certified's docstring for the proof of every step."),
)

lemma_B9_grad_difference_per_sample = Bound(
    id="lemma_B9_grad_difference_per_sample",
    title="Per-sample bound on the input-gradient difference between x and z at the same W",
    citation=f"{CITATION}, Lemmas 4.4 / B.8 / B.9 (per-sample form)",
    quantity="||grad_x f(z;W) - grad_x f(x;W)||",
    estimator="boundcheck.gradient_difference",
    direction="upper",
    function=_b9_per_sample,
    formula="min(m^{-1/2} sqrt|F| ||W_F||_op, m^{-1/2} |F| max_{s in F} ||w_s||),  "
            "F = {s : 1{w_s.z > 0} != 1{w_s.x > 0}}",
    parameters=(_count_param("F_count", "|F|, the number of neurons whose activation differs at x and z"),
                _m,
                _nonneg_param("op_norm", "||W_F||_op = ||[w_s]_{s in F}||_op (current W)", optional=True),
                _nonneg_param("max_row_norm", "max_{s in F} ||w_s|| (current W; or any upper bound)",
                              optional=True)),
    conditions=(Condition("same_W", "both gradients are taken at the same W, and F holds every neuron whose relu' "
                          "(with relu'(0) = 0) differs at x and z", kind="hypothesis"),),
    failure_probability=0.0,
    status="derived",
    probability_over="none (a sure bound given F)",
    reference=lemma_B9_reference,
    example={"F_count": 40, "m": 1000, "op_norm": 12.0, "max_row_norm": 11.0},
    notes=(
        f"Theory section 5.5 ({SPEC}). grad f(z) - grad f(x) = m^{{-1/2}} sum_{{s in F}} a_s (relu'(w_s.z) - "
        "relu'(w_s.x)) w_s = m^{-1/2} W_F c with c in {-1, +1}^F, so its norm is <= m^{-1/2} ||W_F||_op "
        "sqrt|F| <= m^{-1/2} ||W_F||_Frobenius sqrt|F| <= m^{-1/2} |F| max_{s in F} ||w_s||. Reference: "
        "lemma_B9_reference(r, ||grad f||) = sqrt(2r/pi) ||grad f|| is the expected scale."),
)

lemma_B9_grad_difference_hp = Bound(
    id="lemma_B9_grad_difference_hp",
    title="High-probability bound on the input-gradient difference for a FIXED z (not uniform over z)",
    citation=f"{CITATION}, Lemmas 4.4 / B.8 / B.9 (fixed-z form; the epsilon-net step is not made explicit)",
    quantity="sup_{W in B_{2,inf}(W0, R)} ||grad_x f(z;W) - grad_x f(x;W)|| for one fixed z with "
             "||z - x|| <= r",
    estimator="boundcheck.gradient_difference maximized over lazy W (heuristic)",
    direction="upper",
    function=_b9_hp,
    formula="(1+delta) m p m^{-1/2} (sqrt(d) + sqrt(2 log(m/gamma)) + R),  (1+delta) m p = mu + L/2 + "
            "sqrt(L^2/4 + 2 mu L), mu = m p, p = eq. (4) (geometric by default, or paper with tau)",
    parameters=(_d, _m, _C0, _r, _gamma,
                Parameter("p_form", "which eq. (4) form gives p", choices=("geometric", "paper")),
                _nonneg_param("tau", "threshold for p_form='paper' (default r sqrt(2 log(1/r)))",
                              optional=True)),
    constants={"tau": None},
    conditions=(
        _X_FIXED, _X_SPHERE, _INIT,
        Condition("z_fixed", "fixed z, not uniform over the ball: z (with ||z - x|| <= r) is fixed before "
                  "(a, W0) are drawn. The epsilon-net / Lipschitz argument that makes Lemma B.9 uniform "
                  "over z in B(x, r) is not made explicit, so this entry does NOT bound "
                  "sup_{z in B(x,r)}", kind="hypothesis"),
    ),
    failure_probability=lambda gamma: 2.0 * gamma,
    status="derived",
    reference=lemma_B9_reference,
    example={"d": 100, "m": 1000, "C0": 1.0, "r": 0.1, "gamma": 0.1},
    notes=(
        f"Theory section 5.5 ({SPEC}). For fixed z, F (for any W in the ball) is contained in the set of "
        "neurons that some lazy W flips between x and z; each neuron is in it independently with "
        "probability <= p (Lemma B.6 eq. (4)), so Chernoff with mean <= m p gives |F| <= (1+delta) m p "
        "(gamma), delta solving exp(-delta^2 m p / (2 + delta)) = gamma. max_s ||w_s|| <= max_s ||w_s0|| + R "
        "<= sqrt(d) + sqrt(2 log(m/gamma)) + R (Thm B.3 + union bound, gamma). Then the per-sample bound "
        "m^{-1/2} |F| max_s ||w_s||. Total 2 gamma. NOT uniform over z in B(x, r): the paper's Lemma B.9 "
        "adds an epsilon-net of B(x, r) with |N| <= (3r/eps)^d, Chernoff + union bound over it (needs "
        "m p >~ d log(r/eps)) and Lipschitz concentration to pass from net points to all z; those "
        "constants are not explicit (theory section 5.5). The expected scale is lemma_B9_reference: "
        "sqrt(2r/pi) ||grad f||; this bound is far above it (|F| max ||w|| instead of sqrt|F| ||W_F||_op)."),
)

theorem_3_1_sufficient_step = Bound(
    id="theorem_3_1_sufficient_step",
    title="Per-sample sufficient condition for a one-step sign flip (margin of the certificate)",
    citation=f"{CITATION}, Theorem 3.1 (proof: fundamental theorem of calculus + Cauchy-Schwarz)",
    quantity="-sign(f(x;W)) f(x';W), x' = x - eta sign(f(x;W)) grad_x f(x;W) (> 0 means the sign flipped)",
    estimator="attacks.min_flip_step (exact ray scan) / forward at x'",
    direction="lower",
    function=_thm31_margin,
    formula="eta G (G - D_seg) - |f|,  G = ||grad f(x;W)||, D_seg = max_{t in [0, eta]} ||grad f(x - t "
            "sign(f) grad f(x;W)) - grad f(x;W)||;  flip certified iff > 0 (and f != 0)",
    parameters=(_nonneg_param("eta", "step size"), _nonneg_param("G", "||grad_x f(x;W)||"),
                _nonneg_param("D_seg", "max gradient difference along the step's segment, at the same eta"),
                Parameter("f", "f(x;W)")),
    conditions=(
        Condition("f_nonzero", "f(x;W) != 0 (with f = 0 the update is x' = x unless sign(0) := +1 is used "
                  "in the update and the conclusion; theory section 3 'Ties')",
                  check=lambda f: f != 0, kind="hypothesis"),
        Condition("segment", "D_seg is the maximum over t in [0, eta] along x - t sign(f) grad f(x;W), at "
                  "the same W and the same eta (exact by scanning the ray's breakpoints)", kind="hypothesis"),
    ),
    failure_probability=0.0,
    status="derived",
    probability_over="none (a sure bound given G, D_seg and f)",
    example={"eta": 0.05, "G": 7.0, "D_seg": 1.0, "f": 0.8},
    notes=(
        f"Theory section 3 ({SPEC}). With s = sign f(x), delta = eta s grad f(x): f(x') = f(x) - eta s "
        "int_0^1 grad f(x - u delta).grad f(x) du (f is piecewise linear, hence absolutely continuous on "
        "the segment). Multiplying by s and using grad f(z).grad f(x) >= G^2 - G ||grad f(z) - grad f(x)|| "
        "(Cauchy-Schwarz): s f(x') <= |f| - eta G^2 + eta G D_seg, i.e. -s f(x') >= eta G (G - D_seg) - |f|. "
        "The flip is certified when this margin is > 0 (and f != 0). theorem_3_1_certified(eta, G, D_seg, f) "
        "returns the boolean. Theory section 3 reports 0 false claims in 22,505 cases; eta_suff / eta* has median "
        "1.4-5. A ball-wide D in place of D_seg almost never certifies."),
)

theorem_3_1_eta_min = Bound(
    id="theorem_3_1_eta_min",
    title="Population sufficient step size of Theorem 3.1 from the lemma constants",
    citation=f"{CITATION}, Theorem 3.1 (with Lemmas B.5, B.7, B.9)",
    quantity="the minimal flipping step eta* (sign(f(x - eta sign(f) grad f)) != sign(f) for all "
             "eta in (eta_min, r/G]), simultaneously for all lazy W",
    estimator="attacks.min_flip_step: eta* over points and inits",
    direction="upper",
    function=_thm31_eta_min,
    formula="2 C_f / (c_g^2 d),  C_f = sqrt(2 log(2/gamma)) + C0 (B.5), c_g = B.7 lower bound / sqrt(d) "
            "(inf when c_g <= 0)",
    parameters=(_d, _m, _C0, _gamma,
                _nonneg_param("C_f", "bound on |f| (default: lemma_B5_f_range)", optional=True),
                Parameter("c_g", "gradient constant, ||grad f|| >= c_g sqrt(d) (default: B.7 / sqrt(d))",
                          lower=0, lower_open=True, optional=True),
                Parameter("t2", "which B.7 T2 bound for the default c_g", choices=("sharp", "crude")),
                _nonneg_param("poly_coef", "width condition m >= poly_coef d^poly_degree (RECON)"),
                _nonneg_param("poly_degree", "width condition m >= poly_coef d^poly_degree (RECON)"),
                Parameter("c_exp", "width condition m <= exp(d^c_exp) (RECON, low confidence)", lower=0,
                          lower_open=True),
                Parameter("gamma_D", "failure of the uniform gradient-difference event (B.9); default gamma",
                          lower=0, upper=1, optional=True)),
    constants={"C_f": None, "c_g": None, "poly_coef": 1.0, "poly_degree": 1.0, "c_exp": 0.24},
    reconstructed={"poly_coef": "RECONSTRUCTED, low confidence", "poly_degree": "RECONSTRUCTED, low confidence",
                   "c_exp": "RECONSTRUCTED, low-medium confidence (Bubeck et al.'s ReLU exponent)"},
    conditions=(
        _X_FIXED, _X_SPHERE, _INIT,
        Condition("gradient_difference_uniform", "sup_{z in B(x, eta G)} ||grad f(z;W) - grad f(x;W)|| <= "
                  "c_g sqrt(d) / 2 for all lazy W (Lemma B.9, uniform over z: its constants are not explicit; "
                  "lemma_B9_grad_difference_hp is only for a fixed z)", kind="hypothesis"),
        Condition("step_in_range", "eta = Theta(1/d): C1/d <= eta <= C2/d with eta G <= r of Lemma B.9 "
                  "(C1, C2 not found; see theorem_3_1_regime)", kind="hypothesis"),
        Condition("width_lower", "m >= poly_coef d^poly_degree (poly(d) <~ m; RECON, low confidence)",
                  check=lambda m, d, poly_coef, poly_degree: m >= poly_coef * d ** poly_degree, kind="regime"),
        Condition("width_upper", "m <= exp(d^c_exp) (m <~ exp(d^c); c = 0.24 recalled from Bubeck et al. "
                  "with low-medium confidence)",
                  check=lambda m, d, c_exp: np.log(m) <= d ** c_exp, kind="regime"),
    ),
    failure_probability=lambda gamma, gamma_D=None: 5.0 * gamma + (gamma if gamma_D is None else gamma_D),
    status="recon",
    probability_over="(a, W0)",
    example={"d": 400, "m": 4000, "C0": 0.5, "gamma": 0.01},
    notes=(
        f"Theory section 3 ({SPEC}), RECON (structure high confidence, constants not found). If |f| <= C_f, "
        "||grad f(x)|| >= c_g sqrt(d) and sup_{z in B(x, eta G)} ||grad f(z) - grad f(x)|| <= c_g sqrt(d)/2, "
        "then f(x') <= C_f - eta G (G - c_g sqrt(d)/2) <= C_f - eta c_g^2 d / 2 < 0 whenever "
        "eta > 2 C_f / (c_g^2 d). Failure: gamma (B.5) + 4 gamma (B.7) + gamma_D (B.9 uniform, default "
        "gamma: its explicit form is not derived) when C_f and c_g are the defaults; keeping eta G <= r "
        "needs the B.7 upper bound as well (another 5 gamma) unless eta G is checked per sample. With the "
        "derived constants c_g is often <= 0 (B.7 sharp is positive only for C0 <= 1, d >= 100), and then "
        "eta_min = inf (vacuous). Width conditions: with c_exp = 0.24, exp(d^c) is ~20 at d = 100 and ~141 "
        "at d = 784, so the paper's experimental widths are outside this asymptotic regime."),
)

corollary_3_2_robust_error = Bound(
    id="corollary_3_2_robust_error",
    title="Robust test error of every lazy network is close to 1",
    citation=f"{CITATION}, Corollary 3.2",
    quantity="inf_{W in B_{2,inf}(W0, R)} L_rob(f_W), the l2 robust error at budget eps, for any data "
             "distribution on the sphere",
    estimator="robust test error under the one-step (or PGD) attack at budget eps; best estimate: the converged "
              "minimum-norm attack of boundcheck.minimal.minimal_perturbation (an error where its attained upper "
              "bound on delta_min is <= eps), with its certified lower bounds (> eps) giving the other side of the "
              "sandwich (study robust_beyond_lazy)",
    direction="lower",
    function=lambda gamma_prime: 1.0 - np.sqrt(gamma_prime),
    formula="1 - sqrt(gamma'), with probability >= 1 - sqrt(gamma') over (a, W0); gamma' = Theorem 3.1's "
            "failure probability; needs eps >= eps_d = c_eps / sqrt(d)",
    parameters=(Parameter("gamma_prime", "Theorem 3.1's failure probability (per point x)", lower=0, upper=1,
                          lower_open=True, upper_open=True),
                _nonneg_param("eps", "perturbation budget (conditions only)", optional=True),
                Parameter("d", "input dimension (conditions only)", lower=2, integer=True, optional=True),
                _nonneg_param("c_eps", "eps_d = c_eps / sqrt(d), the size eta ||grad f|| of Theorem 3.1's step")),
    constants={"c_eps": 1.0},
    reconstructed={"c_eps": "not found; calibrate eps_d from Theorem 3.1's law instead"},
    conditions=(
        Condition("eps_at_least_eps_d", "eps >= eps_d = c_eps / sqrt(d) (the perturbation size of Thm 3.1; "
                  "c_eps not found, default 1)",
                  check=lambda eps, d, c_eps: None if eps is None or d is None else eps >= c_eps / np.sqrt(d),
                  kind="hypothesis"),
        Condition("data_on_sphere", "the data distribution is supported on S^{d-1}", kind="hypothesis"),
        Condition("theorem_3_1_for_every_x", "for every x on the sphere, with probability >= 1 - gamma' over "
                  "(a, W0), every lazy W has an adversarial example within eps of x (Theorem 3.1)",
                  kind="hypothesis"),
    ),
    failure_probability=lambda gamma_prime: np.sqrt(gamma_prime),
    status="recon",
    probability_over="(a, W0)",
    example={"gamma_prime": 0.01, "eps": 0.2, "d": 100},
    notes=(
        f"Theory section 4 ({SPEC}), RECON medium-high. Let Z(x) = 1{{some W in the ball has no adversarial "
        "example within eps of x}}. Theorem 3.1 gives E_{a,W0} Z(x) <= gamma' for every x. By Fubini "
        "(Z jointly measurable), E_{a,W0} E_x Z = E_x E_{a,W0} Z <= gamma'. By Markov, "
        "P_{a,W0}(E_x Z >= sqrt(gamma')) <= sqrt(gamma'). Off that event, for every lazy W: "
        "L_rob(f_W) = E_x l_rob(W; x) >= E_x (1 - Z(x)) > 1 - sqrt(gamma'). The label does not matter: "
        "if y f(x) <= 0 the loss is already 1, else the flipped x' has y f(x') < 0 (a tie f(x) = 0 counts "
        "as an error under l_rob = sup 1{y f(x+delta) <= 0}). l2 balls."),
)

BOUNDS: tuple[Bound, ...] = (
    lemma_B5_f_range, lemma_B5_deterministic,
    lemma_B4_sign_flips_hoeffding, lemma_B4_sign_flips_paper, lemma_B4_sign_flips_chernoff,
    lemma_B6_eq3, lemma_B6_eq4_paper, lemma_B6_eq4_geometric,
    lemma_B7_grad_lower_crude, lemma_B7_grad_lower_sharp, lemma_B7_grad_upper, lemma_B7_grad_lower_per_sample,
    lemma_B9_grad_difference_per_sample, lemma_B9_grad_difference_hp,
    theorem_3_1_sufficient_step, theorem_3_1_eta_min, corollary_3_2_robust_error,
)

for _b in BOUNDS:
    register(_b)
del _b
