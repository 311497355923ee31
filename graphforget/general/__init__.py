"""Unlearning for non-graph (tabular) models: exact, certified and approximate methods.

One module per method family; each registers its CLI name:

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

The ``tabular`` benchmark task lives in :mod:`graphforget.general.task`; datasets in
:mod:`graphforget.data.tabular`.
"""

from graphforget.general._base import TabularUnlearner
from graphforget.general._linear import LinearUnlearner, TabularRetrain, fit_linear
from graphforget.general.cao_yang import CaoYang
from graphforget.general.certified_removal import CertifiedRemoval
from graphforget.general.dare import DaRE
from graphforget.general.deltagrad import DeltaGrad
from graphforget.general.descent_to_delete import DescentToDelete
from graphforget.general.feature_label import FeatureLabel, LabelRequest
from graphforget.general.jackknife import InfinitesimalJackknife
from graphforget.general.kmeans import DCKMeans, QKMeans
from graphforget.general.pru import PRU
from graphforget.general.sekhari import Sekhari
from graphforget.general.task import TabularTask

__all__ = ["TabularUnlearner", "LinearUnlearner", "TabularRetrain", "fit_linear", "CaoYang",
           "CertifiedRemoval", "DaRE", "DeltaGrad", "DescentToDelete", "FeatureLabel",
           "LabelRequest", "InfinitesimalJackknife", "DCKMeans", "QKMeans", "PRU", "Sekhari",
           "TabularTask"]
