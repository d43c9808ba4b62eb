"""Claims of Bubeck, Cherapanamjeri, Gidel, Tachet des Combes, "A single gradient step finds adversarial
examples on random two-layers neural networks" (NeurIPS 2021, arXiv 2104.03863).

Setting (FOUND, theory sections 10.2 and 7): ``f(x) = k^{-1/2}
sum_l a_l psi(w_l . x)``, ``w_l ~ N(0, I_d / d)``, ``a_l ~ Unif{+-1}``, ``x`` on the sphere of radius
``sqrt(d)`` (``boundcheck.deep.init_deep_network(d, k, parametrization="bubeck")``). The claims are found;
their constants are not: each is entered as a **scaling law with a free constant** (``C`` or ``c``, status
"not found"), and a study checks its **exponent** in d (the fitted exponent next to ``exponent_d``), not
the constant. ``evaluate`` gives ``C d^exponent_d`` so that a study can also draw the law.

Entries::

    bubeck2021_f_order_one           |f(x)| <= C_f                         (exponent in d: 0)
    bubeck2021_grad_order_one        ||grad f(x)|| >= c_g                  (exponent in d: 0; RECON form)
    bubeck2021_one_step_smooth       ||delta*|| <= C ||x|| / sqrt(d)       (smooth psi, k << exp(o(d)))
    bubeck2021_one_step_relu         ||delta*|| <= C ||x|| / sqrt(d)       (ReLU, d << k << exp(d^c))

``delta*`` is the exact minimal one-step flip ``||x' - x||`` of ``x' = x - eta sign(f) grad f``
(:func:`boundcheck.deep.deep_min_flip_step`). :func:`scaling_law` builds such entries (also used by
:mod:`~boundcheck.bounds.bartlett2021` and :mod:`~boundcheck.bounds.montanari2022`).
"""

from __future__ import annotations

import numpy as np

from .registry import Bound, Condition, Parameter, register

__all__ = ["scaling_law", "BOUNDS", "bubeck2021_f_order_one", "bubeck2021_grad_order_one",
           "bubeck2021_one_step_smooth", "bubeck2021_one_step_relu"]

CITATION = "Bubeck, Cherapanamjeri, Gidel, Tachet des Combes (NeurIPS 2021, arXiv 2104.03863)"
SPEC = "docs/theory.md sections 10.2 and 7"

_d = Parameter("d", "input dimension", lower=1, integer=True)
_k = Parameter("k", "width (hidden neurons)", lower=1, integer=True, optional=True)
_gamma = Parameter("gamma", "failure level of the high-probability statement", lower=0, upper=1,
                   lower_open=True, upper_open=True, optional=True)


def scaling_law(*, id: str, title: str, citation: str, quantity: str, direction: str, constant: str,
                exponent_d: float, status: str, notes: str, estimator: str, conditions=(), extra=(),
                x_norm_power: float = 0.0, example=None) -> Bound:
    """A claim "quantity <= C d^p" (or ">= c d^p") whose constant is not known, as a :class:`Bound`.

    ``evaluate(d, <constant>, x_norm=...) = <constant> * x_norm^x_norm_power * d^exponent_d``; the
    constant's default is 1 and it is listed in ``reconstructed`` as "not found", so every verdict line
    that uses it says so. The exponent ``exponent_d`` is a constant of the record too (a study compares its
    fitted exponent against it). The failure probability is ``gamma`` when given (a "with high probability"
    claim with no explicit rate), else 0; verdicts on the constant are then only indicative.
    """
    import inspect
    params = [inspect.Parameter("d", inspect.Parameter.KEYWORD_ONLY),
              inspect.Parameter("x_norm", inspect.Parameter.KEYWORD_ONLY, default=1.0),
              inspect.Parameter("gamma", inspect.Parameter.KEYWORD_ONLY, default=None),
              inspect.Parameter("k", inspect.Parameter.KEYWORD_ONLY, default=None),
              inspect.Parameter(constant, inspect.Parameter.KEYWORD_ONLY, default=1.0),
              inspect.Parameter("exponent_d", inspect.Parameter.KEYWORD_ONLY, default=exponent_d)]
    for p in extra:
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=None))

    def wrapper(**kw):
        return kw[constant] * kw.get("x_norm", 1.0) ** x_norm_power * kw["d"] ** kw["exponent_d"]

    wrapper.__signature__ = inspect.Signature(params)
    return Bound(
        id=id, title=title, citation=citation, quantity=quantity, direction=direction, function=wrapper,
        formula=(f"{constant} * " + (f"||x||^{x_norm_power:g} * " if x_norm_power else "")
                 + f"d^exponent_d,  exponent_d = {exponent_d:g},  {constant} not found (free)"),
        parameters=(_d, Parameter("x_norm", "the input norm ||x||", lower=0), _gamma, _k,
                    Parameter(constant, "the claim's constant (not found: free)", lower=0, lower_open=True),
                    Parameter("exponent_d", "the claimed exponent in d"), *extra),
        constants={constant: 1.0, "exponent_d": float(exponent_d)},
        reconstructed={constant: "not found"},
        conditions=conditions, failure_probability=lambda gamma=None: 0.0 if gamma is None else gamma,
        status=status, estimator=estimator, probability_over="the random init (and x)", notes=notes,
        example=example or {"d": 100})


def _width_regime_relu(d, k=None, c_exp=None, poly_coef=None):
    if k is None:
        return None
    c_exp = 0.24 if c_exp is None else c_exp
    poly_coef = 1.0 if poly_coef is None else poly_coef
    return (k >= poly_coef * d) & (np.log(k) <= d ** c_exp)


def _width_regime_smooth(d, k=None, c_sub=None):
    if k is None:
        return None
    c_sub = 0.5 if c_sub is None else c_sub
    return np.log(k) <= d ** c_sub


_SPHERE = Condition("x_on_sphere", "||x|| = sqrt(d) (Bubeck et al.'s input sphere); the law is scale-free "
                    "through x_norm", kind="hypothesis")
_INIT = Condition("bubeck_init", "w_l ~ N(0, I_d/d), a_l ~ Unif{+-1}, two layers, no bias", kind="hypothesis")

bubeck2021_f_order_one = scaling_law(
    id="bubeck2021_f_order_one", title="|f(x)| is of order 1 at a random two-layer init",
    citation=f"{CITATION}, introduction (f(x) close to N(0, E psi(G)^2))",
    quantity="|f(x)| at a fixed x", direction="upper", constant="C_f", exponent_d=0.0, status="found",
    estimator="boundcheck.deep.deep_forward (|f|; quantiles over inits)",
    conditions=(_INIT,),
    notes=(f"{SPEC}. FOUND: with high probability |f(x)| is of order 1; f(x) is close to N(0, E psi(G)^2) "
           "(= N(0, 1/2) for ReLU). Exponent of |f| in d and in k: 0. The constant C_f (a quantile of the "
           "limiting Gaussian) is free."))

bubeck2021_grad_order_one = scaling_law(
    id="bubeck2021_grad_order_one", title="||grad f(x)|| is bounded below by a constant",
    citation=f"{CITATION}, proof ingredient (ii) as read by Wang et al. 2022",
    quantity="||grad_x f(x)|| at a fixed x (Bubeck scale, ||x|| = sqrt(d))", direction="lower", constant="c_g",
    exponent_d=0.0, status="recon", estimator="boundcheck.deep.deep_input_gradient (norm)",
    conditions=(_INIT, _SPHERE),
    notes=(f"{SPEC}. RECON form (theory section 7, fact 2): ||grad f(x)|| >= c = Omega(1); E||grad f||^2 = "
           "E psi'(G)^2 (1/2 for ReLU). In scale-free form ||grad f|| ||x|| / sqrt(d) >= c_g."))

bubeck2021_one_step_smooth = scaling_law(
    id="bubeck2021_one_step_smooth",
    title="One gradient step of size O(||x||/sqrt(d)) flips the sign (smooth activations)",
    citation=f"{CITATION}, main theorem (smooth psi)",
    quantity="delta* = the minimal one-step flip ||x' - x||, x' = x - eta sign(f) grad f",
    direction="upper", constant="C_delta", exponent_d=-0.5, x_norm_power=1.0, status="found",
    estimator="boundcheck.deep.deep_min_flip_step (delta; bracketed root)",
    conditions=(_INIT, Condition("smooth_activation", "psi non-constant, Lipschitz, with Lipschitz derivative "
                                 "(softplus, tanh, GELU)", kind="hypothesis"),
                Condition("width_subexponential", "k << exp(o(d)); checked as log k <= d^c_sub with c_sub = 0.5 "
                          "(our reading of o(d), free)", check=_width_regime_smooth, kind="regime")),
    extra=(Parameter("c_sub", "exponent standing for o(d) in k << exp(o(d)) (free)", lower=0, optional=True),),
    notes=(f"{SPEC}. FOUND: a single step delta = eta grad f(x) flips the sign with ||delta|| of order "
           "||x|| / sqrt(d) (= 1 on the sphere of radius sqrt(d)), for smooth psi at sub-exponential width. "
           "The constant is free; the exponent of delta* / ||x|| in d is -1/2 (0 for delta* itself on the "
           "radius-sqrt(d) sphere)."),
    example={"d": 100, "x_norm": 10.0})

bubeck2021_one_step_relu = scaling_law(
    id="bubeck2021_one_step_relu",
    title="One gradient step of size O(||x||/sqrt(d)) flips the sign (ReLU, d << k << exp(d^c))",
    citation=f"{CITATION}, main theorem (ReLU)",
    quantity="delta* = the minimal one-step flip ||x' - x||, x' = x - eta sign(f) grad f",
    direction="upper", constant="C_delta", exponent_d=-0.5, x_norm_power=1.0, status="found",
    estimator="boundcheck.deep.deep_min_flip_step (delta; exact ray walk)",
    conditions=(_INIT, Condition("width_regime", "d << k << exp(d^c): checked as poly_coef d <= k <= exp(d^c_exp), "
                                 "c_exp = 0.24 recalled with low-medium confidence (paper.md section 7)",
                                 check=_width_regime_relu, kind="regime")),
    extra=(Parameter("c_exp", "the c of k << exp(d^c) (RECON 0.24)", lower=0, optional=True),
           Parameter("poly_coef", "d << k read as k >= poly_coef d", lower=0, optional=True)),
    notes=(f"{SPEC}. FOUND for ReLU when d << k << exp(d^c) for some c > 0 (c = 0.24 RECON). Same law as the "
           "smooth case: delta* <= C ||x|| / sqrt(d), C free, exponent of delta*/||x|| in d = -1/2."),
    example={"d": 100, "x_norm": 10.0})

BOUNDS = (bubeck2021_f_order_one, bubeck2021_grad_order_one, bubeck2021_one_step_smooth, bubeck2021_one_step_relu)

for _b in BOUNDS:
    register(_b)
del _b
