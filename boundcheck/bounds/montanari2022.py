"""Claims of Montanari and Wu, "Adversarial examples in random neural networks with general activations"
(arXiv 2203.17209, 2022).

FOUND (theory section 10.4, the abstract): random networks with general locally
Lipschitz activations and no restriction on the width; with high probability an adversarial example is
found along the gradient, ``x' = x - s(x) grad_x f(x)``, ``s(x) = sign(f(x)) s_d`` for a positive step
``s_d``; proof by Gaussian conditioning (the joint law of f(x) and f(x')), not local linearity.

Not found: the size of ``s_d``. Entered as a scaling law with a free constant, in the same scale-free form
as Bubeck et al. (RECON: the perturbation ``s_d ||grad f||`` is of order ``||x|| / sqrt(d)``), and the
claim that one step size ``s_d``, the same for every x, works: the flip probability at a common step.

Entries::

    montanari2022_gradient_step      ||delta*|| <= C ||x|| / sqrt(d)   (any activation, any width; RECON size)
    montanari2022_common_step        P_x(x - sign(f) s_d grad f flips) >= 1 - gamma for one s_d  (FOUND, whp)
"""

from __future__ import annotations


from .bubeck2021 import scaling_law
from .registry import Bound, Condition, Parameter, register

__all__ = ["BOUNDS", "montanari2022_gradient_step", "montanari2022_common_step"]

CITATION = "Montanari, Wu (arXiv 2203.17209, 2022)"
SPEC = "docs/theory.md section 10.4"

_CONDS = (Condition("random_network", "independent Gaussian weights; activation locally Lipschitz (any of "
                    "relu, softplus, tanh, gelu); any width", kind="hypothesis"),)

montanari2022_gradient_step = scaling_law(
    id="montanari2022_gradient_step",
    title="An adversarial example along the gradient (general activations, any width)",
    citation=f"{CITATION}, abstract",
    quantity="delta* = the minimal one-step flip ||x' - x||, x' = x - eta sign(f) grad f",
    direction="upper", constant="C_delta", exponent_d=-0.5, x_norm_power=1.0, status="recon",
    estimator="boundcheck.deep.deep_min_flip_step (delta)", conditions=_CONDS,
    notes=(f"{SPEC}. FOUND: an adversarial example is found along the gradient with high probability, for "
           "general locally Lipschitz activations and any width. RECON: its size is of order ||x|| / sqrt(d) "
           "(the Bubeck et al. scale); C_delta free, checked as the exponent of delta*/||x|| in d."),
    example={"d": 100, "x_norm": 10.0})

montanari2022_common_step = Bound(
    id="montanari2022_common_step",
    title="One step size s_d, the same for every x, flips most points",
    citation=f"{CITATION}, abstract (x' = x - sign(f(x)) s_d grad f(x))",
    quantity="P_x(sign f(x - sign(f(x)) s_d grad f(x)) != sign f(x)), the flip rate at a common step s_d",
    direction="lower", function=lambda gamma: 1.0 - gamma,
    formula="1 - gamma (with high probability: gamma -> 0 as d grows; s_d not found)",
    parameters=(Parameter("gamma", "the failure rate allowed (no explicit rate is found)", lower=0, upper=1,
                          lower_open=True, upper_open=True),
                Parameter("s_d", "the common step (not found: free; a study picks it, e.g. a multiple of the "
                          "median eta*)", lower=0, lower_open=True, optional=True)),
    reconstructed={"s_d": "not found"}, conditions=_CONDS, failure_probability=0.0, status="found",
    estimator="deep_forward at x - sign(f) s_d grad f (exact evaluation)", probability_over="x and the init",
    trivial=0.0, example={"gamma": 0.1, "s_d": 1.0},
    notes=(f"{SPEC}. FOUND: s(x) = sign(f(x)) s_d with one positive s_d. The flip at a common step is evaluated "
           "exactly (one forward pass). Not a bound with a rate: 'with high probability' gives no explicit "
           "gamma, so the verdict is for the gamma chosen by the study."))

BOUNDS = (montanari2022_gradient_step, montanari2022_common_step)

for _b in BOUNDS:
    register(_b)
del _b
