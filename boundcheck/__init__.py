"""boundcheck: Monte Carlo checks of the theory of adversarial examples in lazily trained networks.

The theory is "Adversarial Robustness is at Odds with Lazy Training" (Wang, Ullah, Mianjy, Arora,
NeurIPS 2022), which extends Bubeck et al. 2021 to every network in the lazy ball around initialization.
boundcheck puts each bound of the paper next to what actually happens, by exact worst cases where the math
allows, certified bounds and strong optimizers where it does not.
"""

from .attacks import (FlipStep, PGDResult, fgm, fgsm, min_flip_step, pgd, project_box, project_l2,
                      project_linf, robust_error)
from .data import MNIST, MNISTNotFoundError, MNISTPair, load_mnist, load_mnist_pair, mnist_pair, resize_images
from .fastpath import InitSample, sample_at_init
from .lazy import FRange, WorstCase, f_range, lazy_distance, max_pair_flips, max_sign_flips, project_lazy
from .network import PARAMETRIZATIONS, Network, init_network, lazy_radius, sample_sphere
from .separability import (MulticlassNetwork, init_multiclass_network, logistic_probe, lp_separable,
                           margin_prediction, one_step_noise, one_step_noises, train_gd, zero_shot_directions)
from .worst_cases import (GradDiffWorstCase, GradNormWorstCase, expected_crossings, grad_difference_per_sample_bound,
                          grad_difference_upper, grad_norm_lower, grad_norm_upper)
from .robust_lazy import (RobustLazyResult, StepCertificate, StepMargin, SufficientStep, certify_step,
                          random_lazy_weights, robust_lazy_weights, segment_gradient_deviation, step_margin,
                          sufficient_step)
from .train import (Checkpoint, LossGradient, TrainResult, evaluate, loss_and_gradient, train_adversarial,
                    train_lazy_sgd)
from .ops import (NetworkPass, activation_counts, forward, gradient_difference, input_gradient,
                  network_pass, preactivations, sign_flips)

__version__ = "0.1.0"

# Beyond the paper (deep and smooth networks, minimal perturbations): imported on first use, so that
# ``import boundcheck`` (and every worker process) does not pay for modules a run does not need.
_LAZY = {
    **{name: "deep" for name in ("DeepNetwork", "init_deep_network", "from_network", "deep_forward",
                                 "deep_input_gradient", "deep_pass", "DeepPass", "activation_patterns",
                                 "deep_min_flip_step", "DeepFlipStep")},
    **{name: "deep_lazy" for name in ("deep_lazy_radii", "project_deep_lazy", "deep_lazy_distance",
                                      "deep_f_range_last_layer", "deep_f_range_certified",
                                      "deep_f_range_heuristic", "train_deep_lazy_sgd", "DeepTrainResult")},
    **{name: "minimal" for name in ("minimal_perturbation", "MinimalPerturbation", "PerturbationBound",
                                    "ddn_attack", "pgd_search", "lipschitz_lower", "relaxation_lower",
                                    "region_search")},
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'boundcheck' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Network", "init_network", "sample_sphere", "lazy_radius", "PARAMETRIZATIONS",
    "forward", "input_gradient", "activation_counts", "sign_flips", "gradient_difference",
    "network_pass", "NetworkPass", "preactivations",
    "project_lazy", "f_range", "max_sign_flips", "max_pair_flips", "lazy_distance", "WorstCase", "FRange",
    "MNIST", "MNISTPair", "MNISTNotFoundError", "load_mnist", "load_mnist_pair", "mnist_pair", "resize_images",
    "sample_at_init", "InitSample",
    "min_flip_step", "FlipStep", "fgm", "fgsm", "pgd", "PGDResult", "robust_error",
    "project_l2", "project_linf", "project_box",
    "train_lazy_sgd", "train_adversarial", "loss_and_gradient", "evaluate", "TrainResult", "Checkpoint",
    "LossGradient",
    "MulticlassNetwork", "init_multiclass_network", "one_step_noise", "one_step_noises", "logistic_probe",
    "grad_norm_lower", "grad_norm_upper", "grad_difference_upper", "GradNormWorstCase", "GradDiffWorstCase",
    "expected_crossings", "grad_difference_per_sample_bound",
    "segment_gradient_deviation", "sufficient_step", "certify_step", "step_margin", "random_lazy_weights",
    "robust_lazy_weights", "SufficientStep", "StepCertificate", "StepMargin", "RobustLazyResult",
    "lp_separable", "zero_shot_directions", "margin_prediction", "train_gd",
    *_LAZY,
    "__version__",
]
