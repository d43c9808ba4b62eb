"""Registry of the paper's bounds: one record per lemma, with citation, conditions, constants and a
vectorized evaluator.

>>> from boundcheck.bounds import get, list_bounds
>>> b = get("lemma_B4_sign_flips_chernoff")
>>> b.citation
'Wang, Ullah, Mianjy, Arora (NeurIPS 2022), Lemma 4.3 / B.4 with Thm B.2 (Chernoff)'
>>> round(float(b.evaluate(m=1000, C0=1.0, gamma=0.1)), 3)
37.218

Importing this package registers the entries of :mod:`boundcheck.bounds.wang2022`. It needs numpy and
scipy only. Add a lemma of your own with :func:`register_bound` (see ``docs/extending.md``).
"""

from .registry import (CONDITION_KINDS, DIRECTIONS, STATUSES, Bound, Condition, Parameter, get, list_bounds,
                       register, register_bound, registry, unregister)
from . import wang2022
from . import bartlett2021, bubeck2021, montanari2022  # noqa: F401 (registers the beyond-the-paper claims)
from .wang2022 import (B7Terms, RegimeCheck, chernoff_count_bound, expected_sign_flips, grad_norm_lower_certified,
                       grad_norm_reference, lemma_B7_terms, lemma_B9_reference, sign_disagreement_probability,
                       theorem_3_1_certified, theorem_3_1_regime, theorem_3_1_regime_dims, RegimeDims)

__all__ = [
    "Bound", "Parameter", "Condition", "register", "unregister", "register_bound", "get", "list_bounds",
    "registry", "DIRECTIONS", "STATUSES", "CONDITION_KINDS", "wang2022",
    "expected_sign_flips", "chernoff_count_bound", "sign_disagreement_probability", "B7Terms",
    "lemma_B7_terms", "grad_norm_lower_certified", "grad_norm_reference", "lemma_B9_reference",
    "theorem_3_1_certified", "RegimeCheck", "theorem_3_1_regime", "theorem_3_1_regime_dims", "RegimeDims",
]
