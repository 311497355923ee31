r"""CEU: certified edge unlearning for graph neural networks (Wu et al., KDD 2023).

One influence step removes a set of edges: with :math:`\theta` the minimiser of the noisy
training objective :math:`L_b(\theta;G)`,

.. math::
    \theta^- = \theta + H_G^{-1}\big[\nabla L(\theta; G) - \nabla L(\theta; G\setminus E)\big],

where :math:`H_G` is the Hessian of the objective on the **original** graph at :math:`\theta`
(the influence function of up-weighting the removed edges to zero) and the gradient difference
counts exactly the nodes whose outputs depend on the removed edges. The certificate follows
Guo et al.: loss perturbation :math:`b^\top\theta` at training, a bound on the gradient residual
of the retained objective per request, accumulated against :math:`\sigma\epsilon/c(\delta)`,
and a retrain with fresh noise once it would be exceeded. The bound and its proof are in
:mod:`graphforget.certified.noisy_influence`; the Hessian mismatch
:math:`\|(H_{G'}-H_G)\Delta\|` that CEU's choice of Hessian introduces is measured and counted.
"""

from __future__ import annotations

from graphforget._registry import register_method
from graphforget.certified.noisy_influence import NoisyInfluenceUnlearner
from graphforget.requests import EdgeRequest

__all__ = ["CEU"]


@register_method("ceu")
class CEU(NoisyInfluenceUnlearner):
    r"""Certified edge unlearning (Wu et al., *Certified Edge Unlearning for Graph Neural Networks*, KDD 2023):
    edge requests only; node and feature requests raise
    :class:`~graphforget.errors.UnsupportedRequestError`.

    Arguments as :class:`~graphforget.certified.noisy_influence.NoisyInfluenceUnlearner`
    (default backbone ``"sgc"``, whose bound is computed from the data; other backbones need
    ``lipschitz=``, the Hessian-Lipschitz constant the paper assumes).
    """

    supported_requests = (EdgeRequest,)
    hessian_graph = "original"
