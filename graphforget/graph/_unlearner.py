r"""Unlearners of the graph-classification task: the shared base and :class:`GraphRetrain`."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.graph._dataset import GraphDataset
from graphforget.graph._requests import GraphFeatureRequest, GraphNodeRequest, GraphRequest
from graphforget.requests import ForgetRequest
from graphforget.training import seeded
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport

__all__ = ["GraphUnlearner", "GraphClassifier", "GraphRetrain", "pool_graphs"]


class GraphUnlearner(Unlearner):
    """Base of unlearners whose data is a :class:`~graphforget.graph.GraphDataset`.

    It validates the container, serialises it (the flat state of
    :meth:`GraphDataset.to_state`) and restores it on :meth:`~graphforget.Unlearner.load`.
    Predictions are one row per graph; :meth:`~graphforget.Unlearner.score` is graph
    accuracy on a graph mask. Subclasses implement ``_load_method_state`` instead of
    ``_set_state``.
    """

    tasks = (Task.GRAPH,)

    def _check_data(self, data: Any) -> None:
        if not isinstance(data, GraphDataset):
            raise TypeError(f"fit() expects a graphforget.graph.GraphDataset, got {type(data).__name__}")
        if int((data.train_mask & ~data.forgotten_mask).sum()) == 0:
            raise GraphForgetError("fit() got a GraphDataset without training graphs")

    def get_state(self) -> dict[str, Any]:
        self._check_fitted()
        return {"data": self.data_.to_state(), "history": [r.to_dict() for r in self.history_],
                "method": self._get_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        data = self.data_
        if not isinstance(data, GraphDataset):  # Unlearner.load gives a Data of the flat state
            flat = data.to_dict() if hasattr(data, "to_dict") else dict(data)
            if not GraphDataset.is_state(flat):
                raise GraphForgetError("saved state does not hold a GraphDataset")
            self.data_ = GraphDataset.from_state(flat)
        self._load_method_state(state)

    def _load_method_state(self, state: dict[str, Any]) -> None:
        """Restores the method's own state (each graph method defines it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _load_method_state")


def pool_graphs(h: Tensor, batch: Tensor, keep: Tensor, num_graphs: int, how: str = "mean") -> Tensor:
    """Sum or mean of node rows per graph over the retained nodes (``keep``); a graph with
    no retained node pools to zeros."""
    from torch_geometric.utils import scatter

    h, b = h[keep], batch[keep]
    total = scatter(h, b, dim=0, dim_size=num_graphs, reduce="sum")
    if how == "sum":
        return total
    if how != "mean":
        raise GraphForgetError(f"pooling must be 'mean' or 'sum', got {how!r}")
    count = torch.bincount(b, minlength=num_graphs).clamp_min(1).to(h.dtype)
    return total / count.view(-1, 1)


class GraphClassifier(torch.nn.Module):
    r"""A GNN graph classifier: message passing, readout over retained nodes, MLP head.

    .. math::
        \hat y_G = \mathrm{MLP}\Big(\mathrm{pool}_{v\in G}\, h_v^{(K)}\Big)

    Args:
        in_channels (int): node features.
        num_classes (int): classes.
        conv (str): ``"gin"`` (Xu et al., 2019) or ``"gcn"``. (default: ``"gin"``)
        hidden_channels (int): hidden size. (default: :obj:`64`)
        num_layers (int): message-passing layers. (default: :obj:`3`)
        dropout (float): dropout between layers and in the head. (default: :obj:`0.0`)
        pooling (str): ``"sum"`` (GIN's readout) or ``"mean"``. (default: ``"sum"``)
    """

    def __init__(self, in_channels: int, num_classes: int, conv: str = "gin", hidden_channels: int = 64,
                 num_layers: int = 3, dropout: float = 0.0, pooling: str = "sum", **kwargs: Any) -> None:
        super().__init__()
        from torch_geometric.nn.models import GCN, GIN

        klass = {"gin": GIN, "gcn": GCN}.get(conv.lower())
        if klass is None:
            raise GraphForgetError(f"graph classifier conv must be 'gin' or 'gcn', got {conv!r}")
        kwargs.setdefault("norm", None)
        self.encoder = klass(in_channels, hidden_channels, num_layers, dropout=dropout, **kwargs)
        self.convs = self.encoder.convs
        self.head = torch.nn.Sequential(torch.nn.Linear(hidden_channels, hidden_channels), torch.nn.ReLU(),
                                        torch.nn.Dropout(dropout), torch.nn.Linear(hidden_channels, num_classes))
        self.pooling = pooling

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor, keep: Tensor, num_graphs: int) -> Tensor:
        h = self.encoder(x, edge_index)
        return self.head(pool_graphs(h, batch, keep, num_graphs, self.pooling))


@register_method("graph-retrain", "retrain-graph")
class GraphRetrain(GraphUnlearner):
    r"""Exact graph-classification unlearning: retrain a GNN classifier from scratch.

    After a request the model is a fresh :class:`GraphClassifier` initialised with the
    same seed and trained with the same hyper-parameters on the retained training graphs,
    so it equals ``GraphRetrain(...).fit(retained)`` bit for bit on CPU. This is also the
    "retrain a GIN after every request" baseline of Pan et al.

    Training: Adam on the mean cross-entropy of the training graphs, full batch by default
    (``batch_size`` turns on seeded mini-batches).

    Args:
        model (str): ``"gin"`` or ``"gcn"``. (default: ``"gin"``)
        hidden_channels (int): hidden size. (default: :obj:`64`)
        num_layers (int): message-passing layers. (default: :obj:`3`)
        dropout (float): dropout. (default: :obj:`0.0`)
        pooling (str): ``"sum"`` or ``"mean"``. (default: ``"sum"``)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float): Adam weight decay. (default: :obj:`0.0`)
        epochs (int): epochs. (default: :obj:`100`)
        batch_size (int, optional): graphs per step; ``None`` is full batch. (default: :obj:`None`)
        seed (int): seeds initialisation, dropout and batching. (default: :obj:`0`)
        model_kwargs (dict, optional): extra arguments of the PyG encoder.
    """

    guarantee = Guarantee.EXACT
    supported_requests = (GraphRequest, GraphNodeRequest, GraphFeatureRequest)
    supported_models = ("gin", "gcn")

    def __init__(self, model: str = "gin", hidden_channels: int = 64, num_layers: int = 3,
                 dropout: float = 0.0, pooling: str = "sum", lr: float = 0.01, weight_decay: float = 0.0,
                 epochs: int = 100, batch_size: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.pooling = pooling
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.model_kwargs = model_kwargs

    def _build_model(self) -> torch.nn.Module:
        with seeded(self.seed):
            return GraphClassifier(self.in_channels_, self.num_classes_, conv=self.model,
                                   hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                                   dropout=self.dropout, pooling=self.pooling, **(self.model_kwargs or {}))

    def _train_fresh(self, data: GraphDataset) -> torch.nn.Module:
        model = self._build_model()
        train = (data.train_mask & ~data.forgotten_mask).nonzero().view(-1)
        if train.numel() == 0:
            raise GraphForgetError("no training graphs left to train on")
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        size = train.numel() if self.batch_size is None else int(self.batch_size)
        full = data.collate(train) if size >= train.numel() else None
        gen = torch.Generator().manual_seed(int(self.seed))
        model.train()
        with seeded(self.seed):
            for _ in range(int(self.epochs)):
                order = torch.arange(train.numel()) if full is not None else \
                    torch.randperm(train.numel(), generator=gen)
                for lo in range(0, train.numel(), size):
                    part = order[lo:lo + size]
                    x, ei, batch, keep = full if full is not None else data.collate(train[part])
                    opt.zero_grad()
                    out = model(x, ei, batch, keep, part.numel())
                    loss = F.cross_entropy(out, data.y[train[part]])
                    loss.backward()
                    opt.step()
        model.eval()
        return model

    def _fit(self, data: GraphDataset) -> None:
        self.in_channels_ = int(data.num_features)
        self.num_classes_ = int(data.num_classes)
        self.model_ = self._train_fresh(data)

    def _unlearn(self, request: ForgetRequest, retained: GraphDataset, report: UnlearnReport) -> None:
        start = time.perf_counter()
        self.model_ = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["graphs"] = int(request.affected_graphs(retained).numel())

    def _logits(self, data: GraphDataset) -> Tensor:
        self.model_.eval()
        x, ei, batch, keep = data.collate()
        return self.model_(x, ei, batch, keep, data.num_graphs)

    def _get_state(self) -> dict[str, Any]:
        return {"model": {k: v.clone() for k, v in self.model_.state_dict().items()},
                "in_channels": self.in_channels_, "num_classes": self.num_classes_}

    def _load_method_state(self, state: dict[str, Any]) -> None:
        self.in_channels_ = int(state["in_channels"])
        self.num_classes_ = int(state["num_classes"])
        model = self._build_model()
        model.load_state_dict(state["model"])
        model.eval()
        self.model_ = model

    def reference(self) -> GraphRetrain:
        return self.clone()
