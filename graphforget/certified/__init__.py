r"""Certified unlearning: the update is indistinguishable from retraining up to
(epsilon, delta), checked by a bound and enforced by noise.

One module per method: ``cgu``, ``gst``, ``certified_removal`` (Guo et al.), ``sekhari``,
``descent_to_delete``. Shared by the family: ``base`` (the certified linear classifier,
budgets and the removal ledger used by CGU, GST and Guo et al.).

Every name below is importable from this package; each is loaded on first use.
"""

from graphforget._moved import lazy_exports

_EXPORTS = {
    "CertifiedLogisticRegression": "graphforget.certified.base",
    "budget": "graphforget.certified.base",
    "c_delta": "graphforget.certified.base",
    "spectral_norm_upper": "graphforget.certified.base",
    "CertifiedRemoval": "graphforget.certified.certified_removal",
    "CGU": "graphforget.certified.cgu",
    "propagation_stack": "graphforget.certified.cgu",
    "changed_rows": "graphforget.certified.cgu",
    "local_propagation": "graphforget.certified.cgu",
    "DescentToDelete": "graphforget.certified.descent_to_delete",
    "GST": "graphforget.certified.gst",
    "PAN_PRESETS": "graphforget.certified.gst",
    "scattering_embeddings": "graphforget.certified.gst",
    "lazy_random_walk": "graphforget.certified.gst",
    "scattering_dimension": "graphforget.certified.gst",
    "Sekhari": "graphforget.certified.sekhari",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
