r"""Sparse-matrix message passing for large graphs (GCN and GraphSAGE layers).

PyG's layers gather one message per edge (an ``[E, d]`` tensor), scatter it back and,
for GCN, recompute the degree normalisation in every forward pass. On a graph with
millions of edges this costs far more than the arithmetic: at ogbn-arxiv size (169k
nodes, 2.3M directed edges, one CPU thread) a 2-layer GCN epoch takes ~5 s, of which
most is allocating and faulting in the per-edge tensors. Here the propagation matrix
is built once per graph as a sparse CSR matrix and cached, and every layer multiplies
it with the dense node matrix:

.. math::
    \text{GCN: } H' = \hat{A} (H W) + b, \quad \hat{A} = D^{-1/2}(A+I)D^{-1/2};
    \qquad \text{SAGE: } H' = (D^{-1}A\,H) W_l + H W_r + b .

LightGCN (:class:`graphforget.recommendation` models) uses the same path with
:math:`D^{-1/2}AD^{-1/2}` (``kind="sym"``).

The backward pass multiplies by the cached transpose (the matrix itself when it is
symmetric, as for every undirected graph), and is itself differentiable, so
double-backward Hessian products (GIF, IF) work unchanged. Nothing :math:`n\times n`
or :math:`E\times d` is formed; memory is :math:`O(E + n d)`.

The layers are drop-in subclasses of :class:`~torch_geometric.nn.conv.GCNConv` and
:class:`~torch_geometric.nn.conv.SAGEConv` (same parameters, same initialisation,
same ``state_dict`` keys). They switch to the sparse path on graphs with at least
:data:`SPARSE_MIN_NODES` nodes or :data:`SPARSE_MIN_EDGES` edges (``auto``) and keep PyG's
own message passing below (the datasets graphforget ships: the largest, Coauthor-Physics,
has 34k nodes and 496k edges). The environment variable
``GRAPHFORGET_SPARSE_PROPAGATION`` overrides the policy: ``always``, ``never`` or
``auto`` (the default). The two paths agree up to float rounding (summation order).

**Sparse input features.** Bag-of-words features (0.4 to 1.3% of the entries are non-zero
on Cora, CiteSeer and the Coauthor graphs) make the first layer's dense ``[n, F] x [F, h]`` products, forward
and backward, the bulk of a training step on graphs of a few hundred to a few thousand
nodes (GraphEraser's shard graphs). The first layer of :class:`ScalableGCN` and
:class:`ScalableGraphSAGE` therefore multiplies a cached CSR copy of the input features
(:func:`sparse_features`) when at most :data:`SPARSE_FEATURES_MAX_DENSITY` of its entries are
non-zero, and GraphSAGE's first layer projects before it aggregates
(:math:`(D^{-1}A X) W_l = D^{-1}A (X W_l)`: the aggregation runs on ``h`` columns instead of
``F``). Same parameters and gradients up to float rounding; features that require a
gradient, and CUDA tensors under ``auto``, keep the dense path. ``GRAPHFORGET_SPARSE_FEATURES``
overrides the policy: ``always``, ``never`` or ``auto`` (the default).
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor
from torch_geometric.nn.conv import GCNConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.models import GCN, GraphSAGE

from graphforget.errors import GraphForgetError

__all__ = ["SPARSE_MIN_NODES", "SPARSE_MIN_EDGES", "SPARSE_FEATURES_MAX_DENSITY", "sparse_policy",
           "sparse_features_policy", "sparse_features", "uses_sparse_propagation", "propagation_matrix",
           "sparse_propagate", "ScalableGCNConv", "ScalableSAGEConv", "ScalableGCN",
           "ScalableGraphSAGE", "clear_propagation_cache"]

#: ``auto`` uses the sparse path from this many nodes or (directed) edges on: graphs of
#: ogbn-arxiv's order (and their shard graphs), while Cora .. Physics keep PyG's computation.
SPARSE_MIN_NODES = 50_000
SPARSE_MIN_EDGES = 500_000

#: ``auto`` multiplies the first layer's input features as a sparse matrix when at most this
#: share of their entries is non-zero.
SPARSE_FEATURES_MAX_DENSITY = 0.1

_POLICIES = ("auto", "always", "never")
_CACHE_SIZE = 3  # the original graph, the retained one and one more (shard views, ...)
_CACHE: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()


def _policy(variable: str) -> str:
    value = os.environ.get(variable, "auto").strip().lower() or "auto"
    if value not in _POLICIES:
        raise GraphForgetError(f"{variable} must be one of {', '.join(_POLICIES)}, got {value!r}")
    return value


def sparse_policy() -> str:
    """The policy from ``GRAPHFORGET_SPARSE_PROPAGATION`` (``auto`` when unset)."""
    return _policy("GRAPHFORGET_SPARSE_PROPAGATION")


def sparse_features_policy() -> str:
    """The policy from ``GRAPHFORGET_SPARSE_FEATURES`` (``auto`` when unset)."""
    return _policy("GRAPHFORGET_SPARSE_FEATURES")


_FEATURE_CACHE: OrderedDict[tuple, tuple[Any, ...]] = OrderedDict()


def sparse_features(x: Any) -> tuple[Tensor, Tensor] | None:
    """``(X, X^T)`` as sparse CSR matrices when the policy puts the dense feature matrix
    ``x`` on the sparse path, else ``None``. Cached per tensor (the same, unmodified
    ``x``), the refusals included, so the density is counted once per feature matrix."""
    if not isinstance(x, Tensor) or x.requires_grad or x.layout != torch.strided or x.dim() != 2 \
            or not x.is_floating_point() or x.numel() == 0:
        return None
    policy = sparse_features_policy()
    if policy == "never" or (policy == "auto" and x.device.type != "cpu"):
        return None
    key = (id(x), x._version, policy)
    hit = _FEATURE_CACHE.get(key)
    if hit is not None and hit[0]() is x:
        _FEATURE_CACHE.move_to_end(key)
        return hit[1]
    out = None
    if policy == "always" or int(torch.count_nonzero(x)) <= SPARSE_FEATURES_MAX_DENSITY * x.numel():
        with warnings.catch_warnings():  # torch's "sparse CSR support is in beta" notice
            warnings.simplefilter("ignore")
            coo = x.to_sparse_coo()
            out = (coo.to_sparse_csr(), coo.t().coalesce().to_sparse_csr())
    _FEATURE_CACHE[key] = (weakref.ref(x), out)
    while len(_FEATURE_CACHE) > _CACHE_SIZE:
        _FEATURE_CACHE.popitem(last=False)
    return out


def _sparse_linear(features: tuple[Tensor, Tensor], weight: Tensor) -> Tensor:
    """``X W^T`` for the cached sparse ``X``; differentiable (twice) in ``weight``."""
    return sparse_propagate(features[0], features[1], weight.t())


def _input_features(layer: Any, x: Any, edge_index: Any) -> tuple[Tensor, Tensor] | None:
    """The sparse features when ``layer`` is a model's first layer, ``x`` qualifies and the
    graph comes as an ``edge_index`` tensor."""
    if not getattr(layer, "_model_input", False) or not isinstance(edge_index, Tensor):
        return None
    return sparse_features(x)


def cacheable_graph(edge_index: Any, edge_weight: Tensor | None = None) -> bool:
    """Whether :func:`propagation_matrix` can stand for this graph: an ``edge_index``
    tensor (not a SparseTensor or torch.sparse adjacency, which PyG handles itself) whose
    edge weights, if any, need no gradient (the cached matrix would cut it)."""
    return isinstance(edge_index, Tensor) and not edge_index.is_sparse and edge_index.dim() == 2 \
        and edge_index.layout == torch.strided and not (edge_weight is not None and edge_weight.requires_grad)


def uses_sparse_propagation(edge_index: Any, edge_weight: Tensor | None = None,
                            num_nodes: int = 0) -> bool:
    """Whether a layer given ``edge_index`` (and ``edge_weight``) on ``num_nodes`` nodes
    takes the sparse path."""
    if not cacheable_graph(edge_index, edge_weight):
        return False
    policy = sparse_policy()
    if policy == "never":
        return False
    return policy == "always" or edge_index.size(1) >= SPARSE_MIN_EDGES \
        or int(num_nodes) >= SPARSE_MIN_NODES


def clear_propagation_cache() -> None:
    """Drops every cached propagation matrix and sparse feature matrix."""
    _CACHE.clear()
    _FEATURE_CACHE.clear()


def _sorted_csr(rows: Tensor, cols: Tensor, values: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """The CSR matrix ``A[rows, cols] = values`` (duplicates summed) and its sorted
    integer keys ``row * n + col``. One sort of the keys; no COO copy is coalesced."""
    keys, perm = torch.sort(rows * n + cols)
    values = values[perm]
    del perm
    if keys.numel() > 1 and bool((keys[1:] == keys[:-1]).any()):
        keys, inverse = torch.unique_consecutive(keys, return_inverse=True)
        values = torch.zeros(keys.numel(), dtype=values.dtype).index_add_(0, inverse, values)
    crow = torch.zeros(n + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(torch.div(keys, n, rounding_mode="floor"), minlength=n), 0)
    with warnings.catch_warnings():  # torch's "sparse CSR support is in beta" notice
        warnings.simplefilter("ignore")
        adj = torch.sparse_csr_tensor(crow, keys % n, values, (n, n))
    return adj, keys


def _build(edge_index: Tensor, edge_weight: Tensor | None, n: int, kind: str,
           dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    src, dst = edge_index[0], edge_index[1]
    if kind in ("gcn", "sym"):
        ei, w = gcn_norm(edge_index, edge_weight, n, False, kind == "gcn", "source_to_target", dtype)
        src, dst = ei[0], ei[1]
        del ei
    elif kind == "mean":
        w = torch.ones(src.numel(), dtype=dtype)
        deg = torch.zeros(n, dtype=dtype).index_add_(0, dst, w)
        w = w / deg.clamp_min(1)[dst]
    else:
        raise GraphForgetError(f"unknown propagation kind {kind!r}")
    adj, keys = _sorted_csr(dst, src, w.detach(), n)  # row = target: out[i] = sum_j w_ji x_j
    del src, dst, w
    # the transpose: the same matrix when the weighted graph is symmetric (undirected graphs)
    cols = adj.col_indices()
    tkeys, order = torch.sort(cols * n + torch.div(keys, n, rounding_mode="floor"))
    values = adj.values()
    symmetric = bool(torch.equal(tkeys, keys) and torch.equal(values[order], values))
    del keys, tkeys, order
    if symmetric:
        return adj, adj
    rows = torch.repeat_interleave(torch.arange(n), adj.crow_indices().diff())
    adj_t, _ = _sorted_csr(cols, rows, values, n)
    return adj, adj_t


def propagation_matrix(edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None,
                       kind: str = "gcn", dtype: torch.dtype = torch.float
                       ) -> tuple[Tensor, Tensor]:
    r"""``(P, P^T)`` as sparse CSR matrices, cached per graph (the same ``edge_index`` and
    ``edge_weight`` tensors, unmodified).

    Args:
        edge_index: ``[2, E]`` edges (source, target).
        num_nodes: :math:`n`.
        edge_weight: optional edge weights (GCN only).
        kind: ``"gcn"`` (:math:`D^{-1/2}(A+I)D^{-1/2}`, as :func:`gcn_norm`), ``"sym"``
            (:math:`D^{-1/2}AD^{-1/2}` without self-loops, LightGCN's ``LGConv``) or
            ``"mean"`` (:math:`D^{-1}A`, the mean over in-neighbours).
        dtype: value type.
    """
    key = (id(edge_index), edge_index._version, None if edge_weight is None else id(edge_weight),
           None if edge_weight is None else edge_weight._version, int(num_nodes), kind, dtype)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is edge_index and (
            edge_weight is None or hit[1]() is edge_weight):
        _CACHE.move_to_end(key)
        return hit[2], hit[3]
    adj, adj_t = _build(edge_index, edge_weight, int(num_nodes), kind, dtype)
    _CACHE[key] = (weakref.ref(edge_index), None if edge_weight is None else weakref.ref(edge_weight),
                   adj, adj_t)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return adj, adj_t


class _SpMM(torch.autograd.Function):
    """``P @ x`` with backward ``P^T @ grad`` (differentiable again: double backward)."""

    @staticmethod
    def forward(ctx: Any, adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
        ctx.adj, ctx.adj_t = adj, adj_t
        return adj @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        return None, None, _SpMM.apply(ctx.adj_t, ctx.adj, grad)


def sparse_propagate(adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` (dense ``x``), differentiable in ``x`` through ``adj_t``."""
    return _SpMM.apply(adj, adj_t, x.contiguous())


class ScalableGCNConv(GCNConv):
    """:class:`~torch_geometric.nn.conv.GCNConv` with the cached sparse path on large graphs
    (default options only: ``normalize``, self-loops, not ``improved``, not ``cached``)."""

    def forward(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        plain = self.normalize and self.add_self_loops and not self.improved and not self.cached \
            and isinstance(x, Tensor)
        features = _input_features(self, x, edge_index) if plain else None
        if plain and uses_sparse_propagation(edge_index, edge_weight, x.size(0)):
            adj, adj_t = propagation_matrix(edge_index, x.size(0), edge_weight, "gcn", x.dtype)
            h = self.lin(x) if features is None else _sparse_linear(features, self.lin.weight)
            out = sparse_propagate(adj, adj_t, h)
        elif features is not None:
            ei, ew = gcn_norm(edge_index, edge_weight, x.size(0), self.improved, self.add_self_loops,
                              self.flow, x.dtype)
            out = self.propagate(ei, x=_sparse_linear(features, self.lin.weight), edge_weight=ew)
        else:
            return super().forward(x, edge_index, edge_weight)
        if self.bias is not None:
            out = out + self.bias
        return out


class ScalableSAGEConv(SAGEConv):
    """:class:`~torch_geometric.nn.conv.SAGEConv` (mean aggregation) with the cached sparse
    path on large graphs."""

    def forward(self, x: Any, edge_index: Any, size: Any = None) -> Tensor:
        plain = isinstance(x, Tensor) and size is None and self.aggr == "mean" and not self.project
        features = _input_features(self, x, edge_index) if plain else None
        sparse = plain and uses_sparse_propagation(edge_index, None, x.size(0))
        if features is not None:
            # project, then aggregate: (D^-1 A X) W_l = D^-1 A (X W_l), on h columns
            weight = self.lin_l.weight if not self.root_weight else torch.cat([self.lin_l.weight,
                                                                                self.lin_r.weight])
            h = _sparse_linear(features, weight)
            left = h[:, :self.out_channels]
            if sparse:
                adj, adj_t = propagation_matrix(edge_index, x.size(0), None, "mean", x.dtype)
                out = sparse_propagate(adj, adj_t, left)
            else:
                out = self.propagate(edge_index, x=(left, left), size=None)
            if self.lin_l.bias is not None:
                out = out + self.lin_l.bias
            if self.root_weight:
                out = out + h[:, self.out_channels:]
        elif sparse:
            adj, adj_t = propagation_matrix(edge_index, x.size(0), None, "mean", x.dtype)
            out = self.lin_l(sparse_propagate(adj, adj_t, x))
            if self.root_weight:
                out = out + self.lin_r(x)
        else:
            return super().forward(x, edge_index, size)
        if self.normalize:
            out = torch.nn.functional.normalize(out, p=2.0, dim=-1)
        return out


def _mark_input_layer(model: Any) -> None:
    """The first layer sees the model's input features (the sparse-feature path)."""
    if len(model.convs) and isinstance(model.in_channels, int) and model.in_channels > 0:
        model.convs[0]._model_input = True


class ScalableGCN(GCN):
    """PyG's :class:`~torch_geometric.nn.models.GCN` built from :class:`ScalableGCNConv`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _mark_input_layer(self)

    def init_conv(self, in_channels: int, out_channels: int, **kwargs: Any) -> GCNConv:
        return ScalableGCNConv(in_channels, out_channels, **kwargs)


class ScalableGraphSAGE(GraphSAGE):
    """PyG's :class:`~torch_geometric.nn.models.GraphSAGE` built from :class:`ScalableSAGEConv`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _mark_input_layer(self)

    def init_conv(self, in_channels: Any, out_channels: int, **kwargs: Any) -> SAGEConv:
        return ScalableSAGEConv(in_channels, out_channels, **kwargs)
