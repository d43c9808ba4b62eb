"""One-step adversarial noises and how linearly separable they are (a re-export; kept for old imports).

The pieces live in modules of their own:

* :mod:`boundcheck.multiclass` -- the multi-class two-layer network (:class:`MulticlassNetwork`, logits,
  input gradients, the cross-entropy gradient) and :func:`init_classifier` / :func:`classification_accuracy`;
* :mod:`boundcheck.noises` -- the one-step noises (:func:`one_step_noise`, built on
  :func:`boundcheck.attacks.fgm` / :func:`~boundcheck.attacks.fgsm` for binary networks);
* :mod:`boundcheck.probes` -- zero-shot and Hebbian directions, margins, the logistic-regression probe and
  the LP certificate of exact separability;
* :mod:`boundcheck.noise_predictions` -- the derived predictions: margin laws at initialization and the
  arc-cosine kernel of the noises (with the derivation in its Notes);
* :func:`boundcheck.train.train_gd` -- full-batch gradient descent on the first layer.
"""

from __future__ import annotations

from .multiclass import (MulticlassNetwork, classification_accuracy, cross_entropy_input_gradient,
                         init_classifier, init_multiclass_network, multiclass_forward, multiclass_input_gradient)
from .noise_predictions import (KernelAgreement, MarginPrediction, arc_cosine_kernel, kernel_agreement,
                                margin_limit, margin_prediction, reduced_margin_model, signed_gram)
from .noises import MARGIN_LOSSES, NORMS, one_step_noise, one_step_noises, random_labels
from .probes import (LPResult, ProbeResult, cover_capacity, direction_accuracy, hebbian_directions,
                     logistic_probe, lp_separable, multiclass_margins, signed_margins, zero_shot_directions)
from .train import GDResult, train_gd

__all__ = [
    "NORMS", "MARGIN_LOSSES",
    "MulticlassNetwork", "init_multiclass_network",
    "multiclass_forward", "multiclass_input_gradient", "cross_entropy_input_gradient",
    "init_classifier", "classification_accuracy",
    "one_step_noise", "one_step_noises", "random_labels",
    "zero_shot_directions", "signed_margins", "multiclass_margins", "hebbian_directions",
    "direction_accuracy",
    "ProbeResult", "logistic_probe",
    "LPResult", "lp_separable", "cover_capacity",
    "arc_cosine_kernel", "signed_gram", "KernelAgreement", "kernel_agreement",
    "MarginPrediction", "margin_limit", "margin_prediction", "reduced_margin_model",
    "GDResult", "train_gd",
]
