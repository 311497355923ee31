r"""Certified unlearning: the update is indistinguishable from retraining up to
(epsilon, delta), checked by a bound and enforced by noise.

One module per method: ``cgu``, ``gst``, ``certified_removal`` (Guo et al.), ``sekhari``,
``descent_to_delete``, ``ceu``, ``idea``, ``scalegun``. Shared by the family: ``base`` (the
certified linear classifier, budgets and the removal ledger used by CGU, GST, ScaleGUN and
Guo et al.) and ``noisy_influence`` (the certified influence step on a noisy-objective GNN
shared by CEU and IDEA).

Every name below is importable from this package; each is loaded on first use.
"""

from graphforget._moved import lazy_exports

_EXPORTS = {
    "CertifiedLogisticRegression": "graphforget.certified.base",
    "budget": "graphforget.certified.base",
    "c_delta": "graphforget.certified.base",
    "spectral_norm_upper": "graphforget.certified.base",
    "shared_hessian_factor": "graphforget.certified.base",
    "cholesky_apply": "graphforget.certified.base",
    "CEU": "graphforget.certified.ceu",
    "CertifiedRemoval": "graphforget.certified.certified_removal",
    "CGU": "graphforget.certified.cgu",
    "propagation_stack": "graphforget.certified.cgu",
    "changed_rows": "graphforget.certified.cgu",
    "local_propagation": "graphforget.certified.cgu",
    "standard_scaler": "graphforget.certified.cgu",
    "DescentToDelete": "graphforget.certified.descent_to_delete",
    "GST": "graphforget.certified.gst",
    "IDEA": "graphforget.certified.idea",
    "NoisyInfluenceUnlearner": "graphforget.certified.noisy_influence",
    "softmax_hessian_lipschitz": "graphforget.certified.noisy_influence",
    "PAN_PRESETS": "graphforget.certified.gst",
    "scattering_embeddings": "graphforget.certified.gst",
    "lazy_random_walk": "graphforget.certified.gst",
    "scattering_dimension": "graphforget.certified.gst",
    "ScaleGUN": "graphforget.certified.scalegun",
    "ApproximateRowsLogisticRegression": "graphforget.certified.scalegun",
    "LazyPropagation": "graphforget.certified.scalegun",
    "RowSparse": "graphforget.certified.scalegun",
    "Sekhari": "graphforget.certified.sekhari",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
