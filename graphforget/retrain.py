"""Retraining from scratch: the exact reference every method is compared with."""

from __future__ import annotations

import time

from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.gnn import GNNUnlearner
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest, SampleRequest
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["Retrain"]


@register_method("retrain")
class Retrain(GNNUnlearner):
    r"""Exact unlearning by retraining from scratch on the retained data.

    After a request, the model is a fresh backbone initialised with the same seed and
    trained with the same hyper-parameters on ``request.apply(data)``, so its
    parameters equal those of ``Retrain(...).fit(retained)`` bit for bit on CPU.

    Takes the arguments of :class:`~graphforget.gnn.GNNUnlearner`.
    """

    guarantee = Guarantee.EXACT
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest, SampleRequest)
    tasks = (Task.NODE,)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        self.model_ = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())

    def reference(self) -> Retrain:
        return self.clone()
