r"""Gradient ascent on the forgotten data, with an optional retained-data term.

The classic unlearning baseline (used by GNNDelete, Cheng et al. 2023, and most
unlearning benchmarks): starting from the trained parameters, take ``unlearn_epochs``
Adam steps on

.. math::
    \mathcal{L}(\theta) = -\,\mathcal{L}_\text{forget}(\theta)
        + \beta\,\mathcal{L}_\text{retain}(\theta),

i.e. *ascend* the training loss of the forgotten items and (with
:math:`\beta` = ``retain_weight`` > 0) keep descending on the retained training data.

The forget and retain losses are the task's own training losses:

* link prediction: BCE of the forgotten edges as positives (an edge request's edges,
  a node request's incident edges); the retained term is the training BCE on the
  retained edges against fresh negatives. Embeddings come from the retained graph.
* node classification (and any ``Data`` with ``train_mask`` and no edges, e.g.
  tabular/vision rows): cross-entropy of the forgotten training nodes (node/sample
  requests) or of the training endpoints of forgotten edges, computed on the graph
  the model was trained on (the loss terms it actually learned from); the retained
  term is the cross-entropy of the retained training mask on the retained graph.

The loss pieces are plain callables (:meth:`GradientAscent.forget_loss`,
:meth:`GradientAscent.retain_loss`) so other tasks can extend the method.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.link._metrics import deleted_edges
from graphforget.link._model import link_loss
from graphforget.link._split import canonical_edges, edge_keys, sample_non_edges
from graphforget.link._unlearner import LinkGNNUnlearner
from graphforget.requests import EdgeRequest, ForgetRequest, NodeRequest, SampleRequest
from graphforget.training import forward, seeded
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["GradientAscent", "ascend"]

LossFn = Callable[[torch.nn.Module], Tensor]


def ascend(model: torch.nn.Module, forget_loss: LossFn, retain_loss: LossFn | None,
           epochs: int, lr: float, retain_weight: float = 0.0,
           seed: int | None = None) -> list[float]:
    """Runs ``epochs`` Adam steps on ``-forget_loss + retain_weight * retain_loss`` (in place).

    Returns the forget loss per step. Task-agnostic: the callables close over the data.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    history: list[float] = []
    with seeded(seed):
        for _ in range(int(epochs)):
            model.train()
            opt.zero_grad()
            forget = forget_loss(model)
            loss = -forget
            if retain_loss is not None and retain_weight:
                loss = loss + float(retain_weight) * retain_loss(model)
            loss.backward()
            opt.step()
            history.append(float(forget.detach()))
    model.eval()
    return history


@register_method("gradient-ascent", "ga")
class GradientAscent(LinkGNNUnlearner):
    r"""Gradient ascent on the forgotten edges/nodes (approximate; no guarantee).

    Args:
        unlearn_epochs (int): ascent steps. (default: :obj:`10`)
        unlearn_lr (float): their Adam learning rate. (default: :obj:`1e-3`)
        retain_weight (float): :math:`\beta`, the weight of the retained-data loss;
            ``0`` is pure ascent. (default: :obj:`0.0`)
        **others: as :class:`~graphforget.link.LinkGNNUnlearner` (``task``: link or node).
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (NodeRequest, EdgeRequest, SampleRequest)
    tasks = (Task.NODE, Task.LINK)
    attachable = True

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, decoder: str = "dot",
                 task: str = "auto", unlearn_epochs: int = 10, unlearn_lr: float = 1e-3,
                 retain_weight: float = 0.0,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype,
                         decoder=decoder, task=task)
        self.unlearn_epochs = unlearn_epochs
        self.unlearn_lr = unlearn_lr
        self.retain_weight = retain_weight

    def _check_params(self) -> None:
        if int(self.unlearn_epochs) < 0:
            raise GraphForgetError(f"unlearn_epochs must be >= 0, got {self.unlearn_epochs}")
        if not float(self.unlearn_lr) > 0:
            raise GraphForgetError(f"unlearn_lr must be > 0, got {self.unlearn_lr}")
        if float(self.retain_weight) < 0:
            raise GraphForgetError(f"retain_weight must be >= 0, got {self.retain_weight}")

    def _check_data(self, data: Data) -> None:
        self._check_params()
        super()._check_data(data)

    # -- the two loss pieces -----------------------------------------------------------
    def forget_loss(self, before: Data, retained: Data, request: ForgetRequest) -> LossFn:
        """The training loss of the forgotten items, as a function of the model."""
        if self.is_link:
            gone = deleted_edges(before, retained)
            if gone.size(1) == 0:
                raise GraphForgetError("gradient ascent (link): the request deletes no training edge")
            return lambda m: F.binary_cross_entropy_with_logits(
                m.decode(forward(m, retained), gone), torch.ones(gone.size(1)))
        if isinstance(request, NodeRequest):
            rows = request.node_ids[before.train_mask[request.node_ids]]
        else:  # edge request on node classification: the training endpoints' loss terms
            ends = torch.unique(request.edge_index.reshape(-1))
            rows = ends[before.train_mask[ends]]
        if rows.numel() == 0:
            raise GraphForgetError("gradient ascent: the request touches no training node")
        return lambda m: F.cross_entropy(forward(m, before)[rows], before.y[rows])

    def retain_loss(self, retained: Data) -> LossFn:
        """The training loss on the retained data, as a function of the model."""
        if self.is_link:
            positives = canonical_edges(retained.edge_index)
            n = int(retained.num_nodes)
            avoid = edge_keys(retained.edge_index, n)
            g = torch.Generator().manual_seed(int(self.seed))
            return lambda m: link_loss(m, forward(m, retained), positives,
                                       sample_non_edges(None, n, positives.size(1), g, avoid_keys=avoid))
        mask = retained.train_mask
        return lambda m: F.cross_entropy(forward(m, retained)[mask], retained.y[mask])

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_params()
        start = time.perf_counter()
        forget = self.forget_loss(self.data_, retained, request)
        retain = self.retain_loss(retained) if float(self.retain_weight) else None
        model = copy.deepcopy(self.model_)
        history = ascend(model, forget, retain, int(self.unlearn_epochs), float(self.unlearn_lr),
                         float(self.retain_weight), seed=self.seed)
        if any(not torch.isfinite(p).all() for p in model.parameters()):
            raise GraphForgetError("gradient ascent diverged (non-finite parameters): "
                                   "lower unlearn_lr or unlearn_epochs")
        self._commit_model(model)  # an attached user model is updated in place
        report.breakdown["ascent"] = time.perf_counter() - start
        report.diagnostics.update(forget_loss_start=history[0] if history else None,
                                  forget_loss_end=history[-1] if history else None)
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())
