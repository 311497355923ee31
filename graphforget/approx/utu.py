r"""UtU, Unlink-to-Unlearn (Tan et al., "Unlink to Unlearn: Simplifying Edge Unlearning
in GNNs", WWW 2024 Companion; https://arxiv.org/abs/2402.10695).

The forgotten edges are removed from message passing at inference time and the
parameters are left as they are:

.. math::
    \theta^{-} = \theta, \qquad \hat y = f_\theta(X, A \setminus E_f).

No training is done, so unlearning costs one bookkeeping step; it is the
"do nothing but unlink" baseline every edge-unlearning method must beat.
"""

from __future__ import annotations

import time

from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.link._unlearner import LinkGNNUnlearner
from graphforget.requests import EdgeRequest, ForgetRequest, NodeRequest
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["UtU"]


@register_method("utu", "unlink-to-unlearn")
class UtU(LinkGNNUnlearner):
    """Unlink-to-Unlearn: drop the forgotten edges from message passing, keep the weights.

    A node request unlinks every incident edge of the node (its features are zeroed by
    the request itself). Serves link prediction and node classification (``task``).
    Takes the arguments of :class:`~graphforget.link.LinkGNNUnlearner`.
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (EdgeRequest, NodeRequest)
    tasks = (Task.LINK, Task.NODE)
    attachable = True

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        # the base class makes `retained` the inference graph: unlinking is all there is
        removed = int(self.data_.edge_index.size(1) - retained.edge_index.size(1))
        report.affected.update(directed_edges_unlinked=removed,
                               nodes=int(request.affected_nodes(retained).numel()))
        report.breakdown["unlink"] = time.perf_counter() - start
