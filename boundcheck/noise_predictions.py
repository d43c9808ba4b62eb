"""What the theory predicts for one-step noises at initialization: margins and the kernel of their signs.

The phenomenon (Zhang, Yu, Lu, He, "Adversarial noises are linearly separable for (nearly) random neural
networks", AISTATS 2023, PMLR 206:2792-2804; arXiv 2206.04316): the noises that one-step gradient attacks
add to the inputs (:mod:`boundcheck.noises`), paired with the labels used to craft them, are linearly
separable for random and lazily trained two-layer networks. The paper's own theorem statements were not
available (only its abstract is cited); the predictions here are derived in the Notes below.

* :func:`margin_limit`, :func:`margin_prediction`, :func:`reduced_margin_model`: the zero-shot margin;
* :func:`arc_cosine_kernel`, :func:`signed_gram`, :func:`kernel_agreement`: the signed Gram matrix of the
  normalized noises against the order-0 arc-cosine kernel ``1 - theta / pi`` (FGM) and its FGSM image
  ``(2 / pi) arcsin(1 - theta / pi)``, next to the control of a constant prediction equal to the kernel's
  mean (which a kernel check must beat to say anything about the kernel's shape).

Notes
-----
**The margin against the zero-shot direction, at initialization** (our derivation; ``w_s ~ N(0, I_d)``,
``a_s`` uniform signs; the scale of ``W`` and of ``x`` does not matter). Write ``u = sum_s a_s w_s`` and
``g = sqrt(m) grad f(x) = sum_s a_s h_s w_s`` with ``h_s = 1{w_s . x > 0}``. The distribution over the
init is the same for every fixed ``x``; take ``x = e_1``. Then ``h`` depends only on the first coordinates
``w_s1``, and given the ``a_s`` and ``h_s``, the coordinates ``j >= 2`` of ``(u, g)`` are **exactly**
i.i.d. bivariate normal with ``Var u_j = m``, ``Var g_j = Cov(u_j, g_j) = N = sum_s h_s``,
``N ~ Binomial(m, 1/2)``; the first coordinate has the same covariance and is normal up to the CLT in
``m``. This *reduced model* (:func:`reduced_margin_model`) gives the margin's distribution at finite
``d`` and ``m``:

* FGM: ``gamma = cos(u, g)`` is the uncentered sample correlation of ``d`` normal pairs with correlation
  ``rho = sqrt(N / m) -> 1/sqrt(2)``. Hence ``E gamma = (1/sqrt 2)(1 - 1/(4d) - 1/(8m)) + O(d^-2)``,
  ``Var gamma = 1/(4d) + 1/(8m)`` (of which ``1/(16d)`` is common to a net and ``3/(16d) + 1/(8m)``
  varies across inputs within a net), and exactly
  ``P(gamma <= 0) = E_N P(F_{d,d} <= (1 - rho) / (1 + rho))`` (``sum u_j g_j`` is a difference of two
  scaled chi-squares).
* FGSM: ``gamma = <u, sign g> / (||u|| sqrt d) -> sqrt(2/pi) rho = 1/sqrt(pi)``; the ``1/d`` terms of
  the mean cancel, ``E gamma = (1/sqrt pi)(1 - 1/(8m)) + O(d^-2)``, and
  ``Var gamma = (pi - 2)/(pi d) + 1/(4 pi m)`` (second-order delta method on ``sum_j u_j sign(g_j)``
  and ``||u||^2``).

The reduced model was checked against the real networks by the study ``noise_separability_synthetic``
(means, spreads and the fraction of non-positive margins, d from 4 to 784, m in {256, 2048}); the
closed forms agree with the reduced model to ``O(d^-2)`` in the mean and relative ``O(1/d)`` in the
spread (Hotelling's next term, ``11 rho^2 / (4 d)`` in the FGM sd).

**Kernel.** For ``w_s ~ N(0, sigma^2 I_d)``, ``E <grad f(x), grad f(x')> = sigma^2 d (pi - theta)/(2 pi)``
exactly (``theta`` the angle between ``x`` and ``x'``; ``(pi - theta)/(2 pi)`` for ``sigma^2 = 1/d``:
split ``w`` into its part in the plane of ``x, x'`` and the rest), so the cosine of two FGM
noises, signed by their labels, is ``1 - theta/pi`` up to a per-pair error of order ``d^{-1/2}`` that
does not vanish as ``m -> infinity``; for FGSM, ``(2/pi) arcsin(1 - theta/pi)`` (Sheppard's formula).

**Invariances (binary).** ReLU is positively homogeneous: scaling ``W`` or ``a`` by ``c > 0`` scales
``grad f`` by ``c``, scaling ``x`` leaves it unchanged, and ``l'(y f)`` keeps its sign, so neither noise
changes. The multi-class noise is *not* invariant: the softmax probabilities depend on the scale of the
logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._numeric import unit_rows
from ._validate import as_float_array, check_choice, check_int, check_rng
from .multiclass import _check_binary_labels
from .noises import NORMS

__all__ = [
    "arc_cosine_kernel", "signed_gram", "KernelAgreement", "kernel_agreement",
    "MarginPrediction", "margin_limit", "margin_prediction", "reduced_margin_model",
]


# ==========================================================================================================
# The arc-cosine kernel
# ==========================================================================================================

def arc_cosine_kernel(X, Z=None, *, norm: str = "l2") -> np.ndarray:
    """The predicted signed cosine of two noises: ``1 - theta/pi`` (FGM) or ``(2/pi) arcsin(1 - theta/pi)`` (FGSM).

    ``theta`` is the angle between the inputs. ``1 - theta/pi = E<grad f(x), grad f(x')> / E||grad f||^2``
    over the init (the order-0 arc-cosine kernel, normalized); the FGSM form is Sheppard's
    ``E sign(U) sign(V) = (2/pi) arcsin(rho)`` for normal coordinates with correlation ``rho``.

    Parameters
    ----------
    X : array_like, shape (n, d)
    Z : array_like, shape (n', d), optional
        Default ``X``.
    norm : {"l2", "linf"}

    Returns
    -------
    ndarray, shape (n, n')
    """
    check_choice(norm, "norm", NORMS)
    X = as_float_array(X, "X", ndim=2)
    Z = X if Z is None else as_float_array(Z, "Z", ndim=2)
    if Z.shape[1] != X.shape[1]:
        raise ValueError(f"Z must have d = {X.shape[1]} columns like X, got {Z.shape}")
    if np.any(np.linalg.norm(X, axis=1) == 0) or np.any(np.linalg.norm(Z, axis=1) == 0):
        raise ValueError("X and Z must have nonzero rows (the angle to 0 is undefined)")
    cos = np.clip(unit_rows(X)[0] @ unit_rows(Z)[0].T, -1.0, 1.0)
    kappa = 1.0 - np.arccos(cos) / np.pi
    if norm == "linf":
        return (2.0 / np.pi) * np.arcsin(kappa)
    return kappa


def signed_gram(noises, y) -> np.ndarray:
    """``y_i y_j cos(delta_i, delta_j)`` for binary labels, shape (n, n) (0 rows for zero noises)."""
    D = as_float_array(noises, "noises", ndim=2)
    yv = _check_binary_labels(y, len(D))
    U = unit_rows(D)[0] * yv[:, None]
    return U @ U.T


@dataclass(frozen=True)
class KernelAgreement:
    """Signed Gram of the normalized noises against a predicted kernel, over pairs ``i < j``.

    Attributes
    ----------
    mean_deviation : float
        Mean of ``signed_gram - prediction``.
    mean_abs_deviation : float
    max_abs_deviation : float
    min_signed_gram : float
        The smallest signed cosine (> 0 means every pair lies on the same side: a strong form of
        separability through the origin).
    n_pairs : int
    prediction_mean : float
        The mean of the prediction over the pairs.
    constant_mean_abs_deviation : float
        The control: mean ``|signed_gram - prediction_mean|``, the deviation of a *constant* prediction
        equal to the prediction's mean. A kernel that does not beat it says nothing about how the noises'
        cosines depend on the angle between the inputs (for the arc-cosine kernel at ``d = 64`` both are
        near 0.08, well inside a tolerance ``1/sqrt(d) + 1/sqrt(m)``).
    """

    mean_deviation: float
    mean_abs_deviation: float
    max_abs_deviation: float
    min_signed_gram: float
    n_pairs: int
    prediction_mean: float = float("nan")
    constant_mean_abs_deviation: float = float("nan")

    @property
    def gain_over_constant(self) -> float:
        """``constant_mean_abs_deviation - mean_abs_deviation``: > 0 where the prediction beats the control."""
        return self.constant_mean_abs_deviation - self.mean_abs_deviation


def kernel_agreement(noises, y, X, *, norm: str = "l2", prediction=None) -> KernelAgreement:
    """Compare the signed Gram of one net's noises with :func:`arc_cosine_kernel` of their inputs.

    Parameters
    ----------
    noises : array_like, shape (n, d)
    y : array_like, shape (n,)
        The labels the noises were crafted with, in {-1, +1}.
    X : array_like, shape (n, d)
        The inputs.
    norm : {"l2", "linf"}
        Which noise (selects the kernel's form).
    prediction : array_like, shape (n, n), optional
        Another predicted signed Gram to compare with instead of the arc-cosine kernel (e.g. a negative
        control: a constant, or the other attack's kernel); only its entries ``i < j`` are used.

    Returns
    -------
    KernelAgreement
        With the constant control (a prediction equal to the mean of the prediction over the pairs).
    """
    D = as_float_array(noises, "noises", ndim=2)
    X = as_float_array(X, "X", ndim=2)
    if X.shape != D.shape:
        raise ValueError(f"X must have the shape of noises, {D.shape}, got {X.shape}")
    n = len(D)
    if n < 2:
        raise ValueError("kernel_agreement needs at least 2 points")
    G = signed_gram(D, y)
    if prediction is None:
        Kp = arc_cosine_kernel(X, norm=norm)
    else:
        check_choice(norm, "norm", NORMS)
        Kp = as_float_array(prediction, "prediction", ndim=2)
        if Kp.shape != (n, n):
            raise ValueError(f"prediction must have shape (n, n) = ({n}, {n}), got {Kp.shape}")
    iu = np.triu_indices(n, 1)
    pred = Kp[iu]
    dev = G[iu] - pred
    pmean = float(pred.mean())
    return KernelAgreement(mean_deviation=float(dev.mean()), mean_abs_deviation=float(np.abs(dev).mean()),
                           max_abs_deviation=float(np.abs(dev).max()), min_signed_gram=float(G[iu].min()),
                           n_pairs=int(dev.size), prediction_mean=pmean,
                           constant_mean_abs_deviation=float(np.abs(G[iu] - pmean).mean()))


# ==========================================================================================================
# Predictions for the margins at initialization
# ==========================================================================================================

@dataclass(frozen=True)
class MarginPrediction:
    """The derived statistics of the zero-shot margin at initialization (see the module Notes).

    Attributes
    ----------
    d, m : int
    norm : {"l2", "linf"}
    limit : float
        ``1/sqrt(2)`` (FGM) or ``1/sqrt(pi)`` (FGSM): the limit as d, m -> infinity.
    first_order_mean : float
        The limit with its first-order corrections in ``1/d`` and ``1/m``.
    sd_total : float
        The leading-order standard deviation over inits and inputs.
    sd_within : float
        The leading-order standard deviation across inputs within one net (FGM; NaN for FGSM).
    sd_net : float
        The leading-order standard deviation of a net's mean margin (FGM; NaN for FGSM).
    p_nonpositive : float
        ``P(gamma <= 0)`` exactly in the reduced model (FGM; NaN for FGSM, see
        :func:`reduced_margin_model`).
    """

    d: int
    m: int
    norm: str
    limit: float
    first_order_mean: float
    sd_total: float
    sd_within: float
    sd_net: float
    p_nonpositive: float


def margin_limit(norm: str) -> float:
    """``1/sqrt(2)`` for FGM (``"l2"``), ``1/sqrt(pi)`` for FGSM (``"linf"``)."""
    check_choice(norm, "norm", NORMS)
    return 1.0 / math.sqrt(2.0) if norm == "l2" else 1.0 / math.sqrt(math.pi)


def margin_prediction(d: int, m: int, norm: str) -> MarginPrediction:
    """The derived mean, spreads and (FGM) probability of a non-positive margin at initialization.

    Parameters
    ----------
    d, m : int
        Input dimension and width.
    norm : {"l2", "linf"}

    Returns
    -------
    MarginPrediction

    Notes
    -----
    FGM: mean ``(1/sqrt 2)(1 - 1/(4d) - 1/(8m))``, variance ``1/(4d) + 1/(8m)`` split into
    ``1/(16d)`` per net and ``3/(16d) + 1/(8m)`` within a net; ``P(gamma <= 0) =
    E_N F_{d,d}.cdf((1 - rho_N)/(1 + rho_N))``, ``rho_N = sqrt(N/m)``, ``N ~ Bin(m, 1/2)``.
    FGSM: mean ``(1/sqrt pi)(1 - 1/(8m))``, variance ``(pi - 2)/(pi d) + 1/(4 pi m)``.
    """
    from scipy import stats

    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    check_choice(norm, "norm", NORMS)
    limit = margin_limit(norm)
    if norm == "l2":
        N = np.arange(m + 1)
        w = stats.binom.pmf(N, m, 0.5)
        rho = np.sqrt(N / m)
        p = float(np.sum(w * stats.f.cdf((1.0 - rho) / (1.0 + rho), d, d)))
        return MarginPrediction(d, m, norm, limit, limit * (1 - 1 / (4 * d) - 1 / (8 * m)),
                                math.sqrt(1 / (4 * d) + 1 / (8 * m)), math.sqrt(3 / (16 * d) + 1 / (8 * m)),
                                math.sqrt(1 / (16 * d)), p)
    return MarginPrediction(d, m, norm, limit, limit * (1 - 1 / (8 * m)),
                            math.sqrt((math.pi - 2) / (math.pi * d) + 1 / (4 * math.pi * m)),
                            float("nan"), float("nan"), float("nan"))


def reduced_margin_model(d: int, m: int, norm: str, *, size: int, rng=None) -> np.ndarray:
    """Samples of the zero-shot margin at initialization from the reduced model (module Notes).

    ``N ~ Binomial(m, 1/2)``; ``d`` i.i.d. pairs ``g_j = sqrt(N) z_j``, ``u_j = g_j + sqrt(m - N) z'_j``;
    FGM ``gamma = <u, g> / (||u|| ||g||)``, FGSM ``gamma = <u, sign g> / (||u|| sqrt d)``. Exact for the
    ``d - 1`` coordinates orthogonal to ``x`` and normal up to the CLT in ``m`` for the last one.

    Parameters
    ----------
    d, m : int
    norm : {"l2", "linf"}
    size : int
        Number of samples; memory O(min(size, 2^22 / d) * d).
    rng : None, int, SeedSequence or numpy.random.Generator

    Returns
    -------
    ndarray, shape (size,)
    """
    d = check_int(d, "d", minimum=1)
    m = check_int(m, "m", minimum=1)
    check_choice(norm, "norm", NORMS)
    size = check_int(size, "size", minimum=1)
    gen = check_rng(rng)
    out = np.empty(size)
    chunk = max(1, 2**22 // d)
    for lo in range(0, size, chunk):
        hi = min(size, lo + chunk)
        N = gen.binomial(m, 0.5, size=hi - lo)[:, None].astype(float)
        g = np.sqrt(N) * gen.standard_normal((hi - lo, d))
        u = g + np.sqrt(m - N) * gen.standard_normal((hi - lo, d))
        un = np.linalg.norm(u, axis=1)
        if norm == "l2":
            gn = np.linalg.norm(g, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[lo:hi] = np.where(gn > 0, np.einsum("ij,ij->i", u, g) / (un * gn), 0.0)
        else:
            out[lo:hi] = np.einsum("ij,ij->i", u, np.sign(g)) / (un * math.sqrt(d))
    return out
