r"""IDEA: a flexible framework of certified unlearning for GNNs (Dong et al., KDD 2024).

IDEA serves four request kinds on one GNN -- node, edge, full-attribute (every feature of
some nodes) and partial-attribute (some features of some nodes) -- with one update derived
from the intermediate objective between the original and the retained training objective:
the first-order approximation of the retained optimum is the Newton step

.. math::
    \bar\theta = \theta + H_{G'}^{-1}\big[\nabla L(\theta; G) - \nabla L(\theta; G')\big],

with :math:`H_{G'}` the Hessian of the **retained** objective at :math:`\theta` and the
gradient difference over exactly the terms the request changes (removed nodes' losses, the
losses of every node whose :math:`L`-hop receptive field the request touches, and for node
requests the change of the training set). What separates IDEA from an influence-function
update such as GIF is the certification: training minimises the noisy objective
:math:`L_b` (:math:`b\sim\mathcal N(0,\sigma^2I)`), every step carries a bound on the gradient
residual of the retained noisy objective, the bounds are accumulated, and the model is
retrained with fresh noise once the sum would exceed :math:`\sigma\epsilon/c(\delta)`. GIF has
none of the three (OpenGU's IDEA at its default noise 0 behaves as GIF). The bound is proved
in :mod:`graphforget.certified.noisy_influence`.
"""

from __future__ import annotations

from graphforget._registry import register_method
from graphforget.certified.noisy_influence import NoisyInfluenceUnlearner
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest

__all__ = ["IDEA"]


@register_method("idea")
class IDEA(NoisyInfluenceUnlearner):
    r"""Certified unlearning of nodes, edges and (full or partial) node attributes on a GNN
    (`Dong et al., KDD 2024 <https://arxiv.org/abs/2407.19398>`_). A
    :class:`~graphforget.requests.FeatureRequest` without ``feature_ids`` is a full-attribute
    request, with ``feature_ids`` a partial-attribute one.

    Arguments as :class:`~graphforget.certified.noisy_influence.NoisyInfluenceUnlearner`
    (default backbone ``"sgc"``; other backbones need ``lipschitz=``).
    """

    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    hessian_graph = "retained"
