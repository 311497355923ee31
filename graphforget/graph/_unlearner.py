r"""Unlearners of the graph-classification task: the shared base and :class:`GraphRetrain`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphforget.errors import GraphForgetError
from graphforget.graph._dataset import GraphDataset
from graphforget.unlearner import Task, Unlearner

__all__ = ["GraphUnlearner", "GraphClassifier", "pool_graphs"]


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
