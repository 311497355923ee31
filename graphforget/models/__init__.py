r"""Backbones on :mod:`torch_geometric.nn`.

Every backbone has the same call signature ``model(x, edge_index, edge_weight=None)``
and returns one row of logits per node, so every unlearner can swap backbones.
Message-passing layers live in ``model.convs`` (a :class:`~torch.nn.ModuleList`) for
the GNNs, which is where deletion operators (GNNDelete) attach.

=========  ==========================================================================
name       model
=========  ==========================================================================
``gcn``    :class:`torch_geometric.nn.models.GCN` (Kipf & Welling, 2017)
``gat``    :class:`torch_geometric.nn.models.GAT` (Velickovic et al., 2018)
``sage``   :class:`torch_geometric.nn.models.GraphSAGE` (Hamilton et al., 2017)
``gin``    :class:`torch_geometric.nn.models.GIN` (Xu et al., 2019)
``sgc``    :class:`SGC`: :math:`\mathrm{softmax}(\hat{A}^K X W)` (Wu et al., 2019)
``gpr``    :class:`GPRGNN`: :math:`\sum_k \gamma_k \hat{A}^k\,\mathrm{MLP}(X)` (Chien et al., 2021)
``mlp``    :class:`MLP`: features only, no edges
=========  ==========================================================================

``gcn`` and ``sage`` are PyG's models whose layers switch to a cached sparse-matrix
propagation on graphs with 50,000 nodes or 500,000 edges or more (:mod:`graphforget.models._sparse`:
same parameters and initialisation, no per-edge message tensors).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import GAT, GIN

from graphforget._registry import normalize, resolve
from graphforget.models._sparse import (
    ScalableGCN,
    ScalableGraphSAGE,
    _sparse_linear,
    cacheable_graph,
    propagation_matrix,
    sparse_features,
    sparse_propagate,
)

__all__ = ["build_model", "model_names", "message_passing_depth", "receptive_hops", "SGC", "GPRGNN", "MLP", "propagate", "normalized_adjacency"]


def propagate(x: Tensor, edge_index: Tensor, K: int, num_nodes: int | None = None,
              edge_weight: Tensor | None = None, add_self_loops: bool = True) -> Tensor:
    r"""Computes :math:`\hat{A}^K X` with :math:`\hat{A} = D^{-1/2}(A+I)D^{-1/2}`, sparsely."""
    n = x.size(0) if num_nodes is None else num_nodes
    if K == 0:
        return x
    adj = normalized_adjacency(edge_index, n, edge_weight, add_self_loops, x.dtype)
    for _ in range(K):
        x = adj @ x
    return x


def normalized_adjacency(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                         add_self_loops: bool = True, dtype: torch.dtype = torch.float) -> Tensor:
    r""":math:`D^{-1/2}(A+I)D^{-1/2}` as a sparse CSR matrix (row = target node)."""
    import warnings

    ei, ew = gcn_norm(edge_index, edge_weight, num_nodes, add_self_loops=add_self_loops, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_coo_tensor(ei.flip(0), ew, (num_nodes, num_nodes)).coalesce().to_sparse_csr()


#: :math:`\hat{A}^K X` of the last few graphs, shared by every :class:`SGC` (see
#: :meth:`SGC.features`): ``key -> (weak references to x, edge_index, edge_weight; features)``
_PROPAGATED: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()


class SGC(torch.nn.Module):
    r"""Simplified graph convolution: :math:`\hat{A}^K X W + b` (linear in :math:`W`).

    Args:
        in_channels (int): input features.
        out_channels (int): classes.
        K (int): propagation steps. (default: :obj:`2`)
    """

    #: propagated graphs kept, shared by all SGC models (an unlearning step evaluates the
    #: original graph, the retained graph and a subgraph; a sharded method's shards all
    #: predict on the same graph)
    _CACHE_SIZE = 4

    def __init__(self, in_channels: int, out_channels: int, K: int = 2, bias: bool = True) -> None:
        super().__init__()
        self.K = K
        self.lin = torch.nn.Linear(in_channels, out_channels, bias=bias)
        self.convs = torch.nn.ModuleList()  # no learnable message passing

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def features(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        r""":math:`\hat{A}^K X`, cached while the same (unmodified) tensors come back:
        the features do not depend on the parameters, so training propagates once. The
        cache is one for all SGC models (the last :attr:`_CACHE_SIZE` graphs, holding
        weak references to the input tensors), so that the 10 or 20 shard models of a
        sharded method predicting on one graph share one propagated matrix, and copying a
        model copies no features. (Each model kept its own cache before: on Coauthor CS,
        whose propagated features take 0.5 GB, GraphEraser with 10 SGC shards grew past
        19 GB and was killed.)"""
        if x.requires_grad or (edge_weight is not None and edge_weight.requires_grad):
            return propagate(x, edge_index, self.K, x.size(0), edge_weight)
        key = (int(self.K), id(x), x._version, id(edge_index), edge_index._version,
               None if edge_weight is None else (id(edge_weight), edge_weight._version))
        hit = _PROPAGATED.get(key)
        if hit is not None and hit[0]() is x and hit[1]() is edge_index and \
                (edge_weight is None or hit[2]() is edge_weight):
            _PROPAGATED.move_to_end(key)
            return hit[3]
        with torch.no_grad():
            z = propagate(x, edge_index, self.K, x.size(0), edge_weight)
        _PROPAGATED[key] = (weakref.ref(x), weakref.ref(edge_index),
                            None if edge_weight is None else weakref.ref(edge_weight), z)
        while len(_PROPAGATED) > self._CACHE_SIZE:
            _PROPAGATED.popitem(last=False)
        return z

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        r""":math:`\hat{A}^K X W^T + b`. Sparse bag-of-words features (the sparse first-layer
        policy, :func:`graphforget.models._sparse.sparse_features`) are projected first and
        the ``out_channels`` columns propagated, :math:`\hat{A}^K (X W^T)`: the same linear
        map without the dense :math:`n \times F` propagated matrix (on Coauthor CS, 0.88%
        non-zero, one training run took 78 s the other way). Differentiable twice in the
        weights (Hessian-vector products)."""
        sparse = self._sparse_input(x, edge_index, edge_weight)
        if sparse is None:
            return self.lin(self.features(x, edge_index, edge_weight))
        adj, adj_t = propagation_matrix(edge_index, x.size(0), edge_weight, "gcn", x.dtype)
        h = _sparse_linear(sparse, self.lin.weight)
        for _ in range(int(self.K)):
            h = sparse_propagate(adj, adj_t, h)
        return h if self.lin.bias is None else h + self.lin.bias

    def _sparse_input(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None) -> Any:
        if int(self.K) == 0 or not cacheable_graph(edge_index, edge_weight):
            return None
        return sparse_features(x)


class _GPRProp(MessagePassing):
    def __init__(self, K: int, alpha: float) -> None:
        super().__init__(aggr="add")
        self.K = K
        init = alpha * (1 - alpha) ** torch.arange(K + 1, dtype=torch.float)
        init[-1] = (1 - alpha) ** K
        self.temp = torch.nn.Parameter(init)
        self._init = init.clone()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.temp.copy_(self._init)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        ei, ew = gcn_norm(edge_index, edge_weight, x.size(0), add_self_loops=True, dtype=x.dtype)
        out = self.temp[0] * x
        for k in range(self.K):
            x = self.propagate(ei, x=x, norm=ew)
            out = out + self.temp[k + 1] * x
        return out

    def message(self, x_j: Tensor, norm: Tensor) -> Tensor:
        return norm.view(-1, 1) * x_j


class GPRGNN(torch.nn.Module):
    r"""Generalised PageRank GNN (Chien et al., ICLR 2021):
    :math:`Z = \sum_{k=0}^{K} \gamma_k \hat{A}^k\, \mathrm{MLP}(X)` with learnable :math:`\gamma`.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 K: int = 10, alpha: float = 0.1, dropout: float = 0.5) -> None:
        super().__init__()
        self.lin1 = torch.nn.Linear(in_channels, hidden_channels)
        self.lin2 = torch.nn.Linear(hidden_channels, out_channels)
        self.prop = _GPRProp(K, alpha)
        self.dropout = dropout
        self.convs = torch.nn.ModuleList()

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        x = torch.nn.functional.dropout(x, self.dropout, self.training)
        x = torch.relu(self.lin1(x))
        x = torch.nn.functional.dropout(x, self.dropout, self.training)
        return self.prop(self.lin2(x), edge_index, edge_weight)


class MLP(torch.nn.Module):
    """A features-only multi-layer perceptron with the backbone call signature."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__()
        from torch_geometric.nn.models import MLP as _PygMLP

        channels = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.mlp = _PygMLP(channels, dropout=dropout, norm=None)
        self.convs = torch.nn.ModuleList()

    def forward(self, x: Tensor, edge_index: Tensor | None = None,
                edge_weight: Tensor | None = None) -> Tensor:
        return self.mlp(x)


def _basic(klass: type) -> Any:
    def make(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
             dropout: float = 0.5, **kwargs: Any) -> torch.nn.Module:
        return klass(in_channels, hidden_channels, num_layers, out_channels,
                     dropout=dropout, **kwargs)

    return make


def _sgc(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
         dropout: float = 0.0, K: int | None = None, **kwargs: Any) -> torch.nn.Module:
    return SGC(in_channels, out_channels, K=num_layers if K is None else K, **kwargs)


def _gpr(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
         dropout: float = 0.5, K: int = 10, alpha: float = 0.1) -> torch.nn.Module:
    return GPRGNN(in_channels, hidden_channels, out_channels, K=K, alpha=alpha, dropout=dropout)


def _mlp(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2,
         dropout: float = 0.5) -> torch.nn.Module:
    return MLP(in_channels, hidden_channels, out_channels, num_layers, dropout)


_MODELS = {
    "gcn": _basic(ScalableGCN), "gat": _basic(GAT), "sage": _basic(ScalableGraphSAGE),
    "graphsage": _basic(ScalableGraphSAGE), "gin": _basic(GIN), "sgc": _sgc, "gpr": _gpr,
    "gprgnn": _gpr, "mlp": _mlp,
}


def message_passing_depth(model: str, num_layers: int, model_kwargs: dict[str, Any] | None = None) -> int:
    """How many hops a backbone's output depends on (``K`` for SGC/GPR)."""
    kwargs = model_kwargs or {}
    name = model.lower().replace("-", "").replace("_", "")
    if name == "sgc":
        return int(kwargs.get("K", num_layers))
    if name in ("gpr", "gprgnn"):
        return int(kwargs.get("K", 10))
    if name == "mlp":
        return 0
    return int(num_layers)


def receptive_hops(model: str, num_layers: int, model_kwargs: dict[str, Any] | None = None) -> int:
    """How many hops around a node its loss (and gradients) can reach in a full-batch
    forward: :func:`message_passing_depth`, plus one for the backbones that scale each
    message by its *source's* degree (GCN, SGC and GPR's symmetric normalisation), whose
    outermost nodes need their own neighbours to be counted. Mean (GraphSAGE) and
    attention (GAT) aggregation normalise over the receiving node's neighbours, which lie
    within the depth already."""
    depth = message_passing_depth(model, num_layers, model_kwargs)
    return depth if normalize(model) in ("sage", "graphsage", "gat", "mlp") else depth + 1


def model_names() -> list[str]:
    return ["gcn", "gat", "sage", "gin", "sgc", "gpr", "mlp"]


def build_model(name: str, in_channels: int, out_channels: int, hidden_channels: int = 64,
                num_layers: int = 2, dropout: float = 0.5, **kwargs: Any) -> torch.nn.Module:
    """Builds a backbone by name (case- and dash-insensitive).

    Args:
        name: one of :func:`model_names`.
        in_channels: input feature size.
        out_channels: output size (classes).
        hidden_channels: hidden size. (default: :obj:`64`)
        num_layers: message-passing layers (``K`` for SGC). (default: :obj:`2`)
        dropout: dropout probability. (default: :obj:`0.5`)
        **kwargs: passed to the backbone (e.g. ``heads`` for GAT, ``K`` for GPR).
    """
    make = resolve(name, {normalize(k): v for k, v in _MODELS.items()}, "model")
    return make(in_channels, hidden_channels, out_channels, num_layers=num_layers,
                dropout=dropout, **kwargs)
