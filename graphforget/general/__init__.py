"""Unlearning for non-graph (tabular) models: exact, certified and approximate methods.

The tabular task and its methods (each registers its CLI name):

========================  ===================  =============================================
CLI name                  class                guarantee
========================  ===================  =============================================
``tabular-retrain``       TabularRetrain       exact (the ``tabular`` task's ``retrain``)
``cao-yang``              CaoYang              exact (summations; 1e-9 float tolerance)
``dare``                  DaRE                 exact (same seed: identical forest)
``dc-kmeans``             DCKMeans             exact (bitwise centroids)
``q-kmeans``              QKMeans              exact (bitwise centroids)
``certified-removal``     CertifiedRemoval     certified (Guo et al.)
``sekhari``               Sekhari              certified
``descent-to-delete``     DescentToDelete      certified
``jackknife``             InfinitesimalJackknife  approximate
``deltagrad``             DeltaGrad            approximate (``period=1``: exact)
``pru``                   PRU                  approximate
``feature-label``         FeatureLabel         approximate
========================  ===================  =============================================

The methods live in their families (``graphforget.exact.dare``, ``graphforget.certified.sekhari``,
``graphforget.approx.pru``, ...) and are re-exported here on first use. This package holds
the tabular task itself: the base unlearner, the linear models and the ``tabular``
benchmark task (:mod:`graphforget.general.task`); datasets live in
:mod:`graphforget.data.tabular`.
"""

from graphforget._moved import lazy_exports
from graphforget.general._base import TabularUnlearner
from graphforget.general._linear import LinearUnlearner, fit_linear
from graphforget.general.task import TabularTask

_METHODS = {
    "TabularRetrain": "graphforget.exact.retrain",
    "CaoYang": "graphforget.exact.cao_yang",
    "DaRE": "graphforget.exact.dare",
    "DCKMeans": "graphforget.exact.dc_kmeans",
    "QKMeans": "graphforget.exact.q_kmeans",
    "CertifiedRemoval": "graphforget.certified.certified_removal",
    "Sekhari": "graphforget.certified.sekhari",
    "DescentToDelete": "graphforget.certified.descent_to_delete",
    "InfinitesimalJackknife": "graphforget.approx.jackknife",
    "DeltaGrad": "graphforget.approx.deltagrad",
    "PRU": "graphforget.approx.pru",
    "FeatureLabel": "graphforget.approx.feature_label",
    "LabelRequest": "graphforget.approx.feature_label",
}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = ["TabularUnlearner", "LinearUnlearner", "fit_linear", "TabularTask", *_METHODS]
