"""Claims of Bartlett, Bubeck, Cherapanamjeri, "Adversarial examples in multi-layer random ReLU networks"
(NeurIPS 34, 2021).

Setting (FOUND, theory section 10.3): ReLU networks of constant depth with independent
Gaussian weights in every layer, widths that may differ ("for instance, polynomially related widths")
(``boundcheck.deep.init_deep_network(d, widths, parametrization="bubeck")``).

FOUND claims, in words: (1) the function is locally very close to a random linear function, so
``||grad f(x)|| ||x|| >> |f(x)|`` and a step of size about ``|f(x)| / ||grad f(x)||`` along
``-f(x) grad f(x)`` flips the sign; (2) bottleneck layers set the scales (the smallest width up to a layer
determines the scale and the sensitivity of the map up to that layer); (3) some suitably deep random networks
compute, with constant probability, a function close to constant, so some constraint on depth is necessary.

No constant or exponent of these statements is found. Entered here, as scaling laws with free constants
(checked as exponents by the studies): our reading (RECON) that the gradient dominates by a factor
``sqrt(d)`` (the linear-function value: for f(x) = w . x with a random direction w, ``||w|| ||x|| / |w . x|``
is of order sqrt(d)), and the one-step flip of order ``||x|| / sqrt(d)``. Claim (2) enters only through the
regime condition "widths polynomially related"; claim (3) is an existence statement (no bound a cell can
cross): the studies measure the depth effect descriptively (|f| and ||grad f|| ||x|| / |f| against depth).

Entries::

    bartlett2021_gradient_dominance   ||grad f|| ||x|| / |f| >= c sqrt(d)     (RECON exponent 1/2)
    bartlett2021_one_step             ||delta*|| <= C ||x|| / sqrt(d)         (RECON exponent -1/2)
"""

from __future__ import annotations

from .bubeck2021 import scaling_law
from .registry import Condition, Parameter, register

__all__ = ["BOUNDS", "bartlett2021_gradient_dominance", "bartlett2021_one_step"]

CITATION = "Bartlett, Bubeck, Cherapanamjeri (NeurIPS 34, 2021)"
SPEC = "docs/theory.md section 10.3"


def _polynomial_widths(d, min_width=None, max_width=None, poly_degree=None):
    """Widths polynomially related to d: d^(1/p) <= m <= d^p for every width (p = poly_degree, default 2)."""
    if min_width is None or max_width is None:
        return None
    p = 2.0 if poly_degree is None else poly_degree
    return (min_width >= d ** (1.0 / p)) & (max_width <= d ** p)


_EXTRA = (Parameter("min_width", "the smallest hidden width (conditions only)", lower=1, optional=True),
          Parameter("max_width", "the largest hidden width (conditions only)", lower=1, optional=True),
          Parameter("depth", "L, the number of layers (conditions only)", lower=2, integer=True, optional=True),
          Parameter("poly_degree", "'polynomially related' read as d^(1/p) <= m <= d^p (RECON, default 2)",
                    lower=1, optional=True))
_CONDS = (
    Condition("gaussian_relu_init", "ReLU, independent Gaussian weights in every layer (variance ~ 1/fan-in), "
              "no bias", kind="hypothesis"),
    Condition("constant_depth", "depth L fixed as d grows (some deep networks are close to constant: claim 3)",
              kind="hypothesis"),
    Condition("polynomial_widths", "widths polynomially related to d (FOUND as an example; read as "
              "d^(1/p) <= m <= d^p, p = poly_degree)", check=_polynomial_widths, kind="regime"),
)

bartlett2021_gradient_dominance = scaling_law(
    id="bartlett2021_gradient_dominance",
    title="The gradient dominates: ||grad f(x)|| ||x|| >> |f(x)| (deep random ReLU networks)",
    citation=f"{CITATION}, abstract and introduction (locally close to a random linear function)",
    quantity="||grad_x f(x)|| ||x|| / |f(x)| at a fixed x", direction="lower", constant="c_dom", exponent_d=0.5,
    status="recon", estimator="boundcheck.deep.deep_pass (gradient norm times ||x|| over |f|)",
    conditions=_CONDS, extra=_EXTRA,
    notes=(f"{SPEC}. FOUND: ||grad f|| ||x|| >> |f| (the function is locally close to a random linear function). "
           "RECON: the factor is of order sqrt(d), as for a random linear function; c_dom free. Bottlenecks: "
           "FOUND that the smallest width up to a layer sets that layer's scale; whether it changes this factor "
           "is what the study measures (equal / growing / decreasing / bottleneck width profiles)."),
    example={"d": 100})

bartlett2021_one_step = scaling_law(
    id="bartlett2021_one_step",
    title="A step of size about |f|/||grad f|| along -f grad f flips the sign (deep random ReLU networks)",
    citation=f"{CITATION}, abstract and introduction",
    quantity="delta* = the minimal one-step flip ||x' - x||, x' = x - eta sign(f) grad f",
    direction="upper", constant="C_delta", exponent_d=-0.5, x_norm_power=1.0, status="recon",
    estimator="boundcheck.deep.deep_min_flip_step (delta; exact ray walk over every layer's breakpoints)",
    conditions=_CONDS, extra=_EXTRA,
    notes=(f"{SPEC}. FOUND: the step of size about |f(x)| / ||grad f(x)|| along -f grad f flips the sign. "
           "RECON: with the gradient dominance of order sqrt(d), ||delta*|| <= C ||x|| / sqrt(d); C free."),
    example={"d": 100, "x_norm": 10.0})

BOUNDS = (bartlett2021_gradient_dominance, bartlett2021_one_step)

for _b in BOUNDS:
    register(_b)
del _b
