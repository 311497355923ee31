r"""Metrics: utility, fidelity to the retrained model, and cost.

Each metric states its direction in :data:`HIGHER_IS_BETTER` so tables can mark the
better side without special cases.
"""

from graphforget.metrics._cost import Measurement, measure, peak_rss_mb
from graphforget.metrics._fidelity import (
    fidelity_ratio,
    js_divergence,
    output_kl,
    parameter_distance,
    prediction_agreement,
)
from graphforget.metrics._utility import accuracy, f1_macro, f1_micro, roc_auc
from graphforget.metrics.poison import flip_labels, inject_heterophilic_edges, poison, recovery
from graphforget.metrics.privacy import (
    AttackResult,
    bootstrap_auc,
    loss_attack,
    membership_report,
    posterior_difference_attack,
    query_logits,
    shadow_attack,
)

HIGHER_IS_BETTER = {
    "accuracy": True, "micro_f1": True, "macro_f1": True, "auc": True, "roc_auc": True,
    "ogb_acc": True,  # the OGB Evaluator's accuracy (ogbn-* datasets)
    "parameter_distance": False, "output_kl": False, "output_js": False, "fidelity_ratio": False, "agreement": True,
    "seconds": False, "speedup": True, "peak_memory_mb": False,
    # privacy: a lower membership-inference AUC means less leakage; the headline is the
    # gap to the retrained model's AUC (smaller is better).
    "mia_auc": False, "mia_auc_retrain": False, "mia_gap": False,
    "poison_recovered": True,
}

__all__ = [
    "accuracy", "f1_micro", "f1_macro", "roc_auc", "parameter_distance", "output_kl", "js_divergence",
    "fidelity_ratio",
    "prediction_agreement", "measure", "Measurement", "peak_rss_mb", "HIGHER_IS_BETTER",
    "AttackResult", "bootstrap_auc", "loss_attack", "posterior_difference_attack", "shadow_attack",
    "membership_report", "query_logits", "inject_heterophilic_edges", "flip_labels", "poison",
    "recovery",
]
