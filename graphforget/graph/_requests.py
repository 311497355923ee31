r"""Forget requests of the graph-classification task.

* :class:`GraphRequest` -- forget whole training graphs;
* :class:`GraphNodeRequest` -- forget nodes inside training graphs (features zeroed,
  incident edges dropped, node flagged; Pan et al.'s node-removal setting);
* :class:`GraphFeatureRequest` -- zero node features inside training graphs (OpenGU's
  graph-feature setting: half of the training graphs, 10% of their nodes).

Node-level requests name ``(graph index, local node id)`` pairs, given as a ``[2, k]``
tensor or nested list (row 0 graphs, row 1 nodes), a list of ``(graph, node)`` *tuples*,
or a dict ``{graph: [nodes]}``.
Only training graphs can be forgotten from; validation and test graphs are not
training data.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import InvalidRequestError
from graphforget.graph._dataset import GraphDataset
from graphforget.requests import (
    ForgetRequest,
    _as_id_tensor,
    _check_range,
    _check_unique,
    _generator,
    _how_many,
    _preview,
    register_request_kind,
)

__all__ = ["GraphRequest", "GraphNodeRequest", "GraphFeatureRequest", "sample_graphs",
           "sample_graph_nodes", "sample_graph_features", "sample_graph_request"]


def _check_dataset(data: Any, kind: str) -> GraphDataset:
    if not isinstance(data, GraphDataset):
        raise InvalidRequestError(f"a {kind} request applies to a GraphDataset, got {type(data).__name__}")
    return data


def _check_training_graphs(graphs: Tensor, data: GraphDataset, what: str) -> None:
    _check_range(graphs, data.num_graphs, f"{what} graph indices")
    gone = graphs[data.forgotten_mask[graphs]]
    if gone.numel():
        raise InvalidRequestError(f"graphs already forgotten: {_preview(gone.unique())}")
    not_train = graphs[~data.train_mask[graphs]]
    if not_train.numel():
        raise InvalidRequestError(f"only training graphs can be forgotten from; not training graphs: "
                                  f"{_preview(not_train.unique())}")


def _empty_graph(graph: Data) -> Data:
    d = int(graph.x.size(1))
    return Data(x=torch.zeros(0, d), edge_index=torch.empty(2, 0, dtype=torch.long),
                forgotten_mask=torch.zeros(0, dtype=torch.bool), num_nodes=0)


@register_request_kind
class GraphRequest(ForgetRequest):
    r"""Forget whole training graphs.

    A forgotten graph keeps its index; its nodes and edges are removed, it leaves every
    mask and is flagged in ``data.forgotten_mask``.

    Args:
        graph_ids (sequence of int or LongTensor): indices of the training graphs.
    """

    kind = "graph"

    def __init__(self, graph_ids: Any) -> None:
        self.graph_ids = _as_id_tensor(graph_ids, "graph indices")

    def __len__(self) -> int:
        return int(self.graph_ids.numel())

    def validate(self, data: GraphDataset) -> None:
        _check_dataset(data, self.kind)
        _check_unique(self.graph_ids, "graph indices")
        _check_training_graphs(self.graph_ids, data, "")

    def apply(self, data: GraphDataset, validate: bool = True) -> GraphDataset:
        if validate:
            self.validate(data)
        data = _check_dataset(data, self.kind)
        out = data.clone()
        ids = self.graph_ids[(self.graph_ids >= 0) & (self.graph_ids < data.num_graphs)]
        for g in ids.tolist():
            out.replace(g, _empty_graph(out.graphs[g]))
        for key in ("train_mask", "val_mask", "test_mask"):
            getattr(out, key)[ids] = False
        out.forgotten_mask[ids] = True
        return out

    def affected_graphs(self, data: GraphDataset | None = None) -> Tensor:
        return self.graph_ids.unique()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "graph_ids": self.graph_ids.tolist()}


def _as_pairs(nodes: Any) -> Tensor:
    if isinstance(nodes, dict):
        gs, ns = [], []
        for g, ids in nodes.items():
            ids_t = _as_id_tensor(ids, f"node ids of graph {g}")
            gs.append(torch.full((ids_t.numel(),), int(g), dtype=torch.long))
            ns.append(ids_t)
        if not gs:
            return torch.empty(2, 0, dtype=torch.long)
        return torch.stack([torch.cat(gs), torch.cat(ns)])
    if not isinstance(nodes, (Tensor,)) and not hasattr(nodes, "shape"):
        items = list(nodes)
        if items and all(isinstance(p, tuple) and len(p) == 2 for p in items):
            nodes = [[p[0] for p in items], [p[1] for p in items]]
        else:
            nodes = items
    return _as_id_tensor(nodes, "(graph, node) pairs", ndim=2)


class _GraphNodeBase(ForgetRequest):
    def __init__(self, pairs: Any) -> None:
        self.pairs = _as_pairs(pairs)

    @property
    def graph_ids(self) -> Tensor:
        return self.pairs[0]

    @property
    def node_ids(self) -> Tensor:
        return self.pairs[1]

    def __len__(self) -> int:
        return int(self.pairs.size(1))

    def validate(self, data: GraphDataset) -> None:
        _check_dataset(data, self.kind)
        g, v = self.pairs
        _check_training_graphs(g, data, "")
        sizes = torch.tensor([int(data.graphs[i].x.size(0)) for i in g.tolist()], dtype=torch.long)
        bad = (v < 0) | (v >= sizes)
        if bad.any():
            pairs = list(zip(g[bad].tolist()[:8], v[bad].tolist()[:8], strict=False))
            raise InvalidRequestError(f"node ids out of range of their graph (graph, node): {pairs}"
                                      f" ({int(bad.sum())} in all)")
        keys = g * (int(sizes.max()) + 1 if sizes.numel() else 1) + v
        uniq, counts = torch.unique(keys, return_counts=True)
        if (counts > 1).any():
            raise InvalidRequestError(f"(graph, node) pairs contain duplicates: {int((counts > 1).sum())} repeated")
        gone = torch.tensor([bool(data.graphs[a].forgotten_mask[b]) for a, b in zip(g.tolist(), v.tolist(), strict=False)],
                            dtype=torch.bool)
        if gone.any():
            pairs = list(zip(g[gone].tolist()[:8], v[gone].tolist()[:8], strict=False))
            raise InvalidRequestError(f"nodes already forgotten (graph, node): {pairs}")
        self._validate_more(data)

    def _validate_more(self, data: GraphDataset) -> None:
        """Optional extra checks of a subclass (none by default)."""

    def _edit(self, graph: Data, nodes: Tensor) -> Data:
        """The edited copy of ``graph`` (node removal or feature zeroing)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _edit")

    def apply(self, data: GraphDataset, validate: bool = True) -> GraphDataset:
        if validate:
            self.validate(data)
        data = _check_dataset(data, self.kind)
        out = data.clone()
        g, v = self.pairs
        for graph in g.unique().tolist():
            if not 0 <= graph < data.num_graphs:  # tolerant replay on foreign data
                continue
            nodes = v[g == graph]
            nodes = nodes[(nodes >= 0) & (nodes < int(out.graphs[graph].x.size(0)))]
            out.replace(graph, self._edit(out.graphs[graph], nodes))
        return out

    def affected_graphs(self, data: GraphDataset | None = None) -> Tensor:
        return self.pairs[0].unique()


@register_request_kind
class GraphNodeRequest(_GraphNodeBase):
    r"""Forget nodes inside training graphs.

    Each node keeps its local id: its features are zeroed, every incident edge is
    dropped and it is flagged in the graph's node-level ``forgotten_mask`` (pooling then
    ignores it, so the graph is as if the node had been deleted).

    Args:
        pairs: ``(graph index, node id)`` pairs -- a ``[2, k]`` tensor or nested list, a
            list of ``(graph, node)`` tuples or a dict ``{graph: [node ids]}``.
    """

    kind = "graph-node"

    def _edit(self, graph: Data, nodes: Tensor) -> Data:
        x, fm = graph.x.clone(), graph.forgotten_mask.clone()
        x[nodes] = 0
        fm[nodes] = True
        hit = torch.zeros(x.size(0), dtype=torch.bool)
        hit[nodes] = True
        ei = graph.edge_index
        keep = ~(hit[ei[0]] | hit[ei[1]]) if ei.numel() else torch.empty(0, dtype=torch.bool)
        return Data(x=x, edge_index=ei[:, keep], forgotten_mask=fm, num_nodes=x.size(0))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pairs": self.pairs.tolist()}


@register_request_kind
class GraphFeatureRequest(_GraphNodeBase):
    r"""Zero node features inside training graphs (the graph structure is kept).

    Args:
        pairs: ``(graph index, node id)`` pairs, as for :class:`GraphNodeRequest`.
        feature_ids (sequence of int, optional): columns to zero; ``None`` zeroes whole
            rows. (default: :obj:`None`)
    """

    kind = "graph-feature"

    def __init__(self, pairs: Any, feature_ids: Any = None) -> None:
        super().__init__(pairs)
        self.feature_ids = None if feature_ids is None else _as_id_tensor(feature_ids, "feature ids")
        if self.feature_ids is not None and self.feature_ids.numel() == 0:
            raise InvalidRequestError("feature ids are empty: pass None to forget whole rows")

    def _validate_more(self, data: GraphDataset) -> None:
        if self.feature_ids is not None:
            _check_range(self.feature_ids, data.num_features, "feature ids")
            _check_unique(self.feature_ids, "feature ids")

    def _edit(self, graph: Data, nodes: Tensor) -> Data:
        x = graph.x.clone()
        if self.feature_ids is None:
            x[nodes] = 0
        else:
            cols = self.feature_ids[self.feature_ids < x.size(1)]
            x[nodes.view(-1, 1), cols.view(1, -1)] = 0
        return Data(x=x, edge_index=graph.edge_index, forgotten_mask=graph.forgotten_mask,
                    num_nodes=x.size(0))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pairs": self.pairs.tolist(),
                "feature_ids": None if self.feature_ids is None else self.feature_ids.tolist()}


# ---------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------
def _train_pool(data: GraphDataset) -> Tensor:
    _check_dataset(data, "graph")
    return (data.train_mask & ~data.forgotten_mask).nonzero().view(-1)


def sample_graphs(data: GraphDataset, ratio: float | None = None, count: int | None = None,
                  seed: int | torch.Generator | None = 0) -> GraphRequest:
    """Random training graphs (``ratio`` is a fraction of the retained training graphs)."""
    pool = _train_pool(data)
    k = _how_many(pool.numel(), ratio, count, "training graphs")
    perm = torch.randperm(pool.numel(), generator=_generator(seed))[:k]
    return GraphRequest(pool[perm].sort().values)


def _retained_nodes(graph: Data) -> Tensor:
    return (~graph.forgotten_mask).nonzero().view(-1)


def sample_graph_nodes(data: GraphDataset, ratio: float | None = None, count: int | None = None,
                       seed: int | torch.Generator | None = 0, nodes_per_graph: int = 1) -> GraphNodeRequest:
    """``nodes_per_graph`` random retained nodes from each of ``ratio`` (or ``count``) of the
    training graphs that still have that many nodes (Pan et al. remove one node at a time)."""
    g = _generator(seed)
    pool = _train_pool(data)
    pool = pool[torch.tensor([int((~data.graphs[i].forgotten_mask).sum()) >= nodes_per_graph
                              for i in pool.tolist()], dtype=torch.bool)]
    k = _how_many(pool.numel(), ratio, count, f"training graphs with {nodes_per_graph}+ nodes")
    chosen = pool[torch.randperm(pool.numel(), generator=g)[:k]].sort().values
    gs, vs = [], []
    for i in chosen.tolist():
        nodes = _retained_nodes(data.graphs[i])
        pick = nodes[torch.randperm(nodes.numel(), generator=g)[:nodes_per_graph]].sort().values
        gs.append(torch.full((pick.numel(),), i, dtype=torch.long))
        vs.append(pick)
    return GraphNodeRequest(torch.stack([torch.cat(gs), torch.cat(vs)]))


def sample_graph_features(data: GraphDataset, ratio: float | None = None, count: int | None = None,
                          seed: int | torch.Generator | None = 0,
                          node_fraction: float = 0.1) -> GraphFeatureRequest:
    """OpenGU's graph-feature request: ``ratio`` (OpenGU: 0.5) of the training graphs, and in
    each ``node_fraction`` (OpenGU: 0.1, at least one) of its retained nodes, whose feature
    rows are zeroed."""
    if not 0.0 < float(node_fraction) <= 1.0:
        raise InvalidRequestError(f"node_fraction must lie in (0, 1], got {node_fraction!r}")
    g = _generator(seed)
    pool = _train_pool(data)
    pool = pool[torch.tensor([bool((~data.graphs[i].forgotten_mask).any()) for i in pool.tolist()],
                             dtype=torch.bool)]
    k = _how_many(pool.numel(), ratio, count, "training graphs with nodes")
    chosen = pool[torch.randperm(pool.numel(), generator=g)[:k]].sort().values
    gs, vs = [], []
    for i in chosen.tolist():
        nodes = _retained_nodes(data.graphs[i])
        m = max(1, int(round(float(node_fraction) * nodes.numel())))
        pick = nodes[torch.randperm(nodes.numel(), generator=g)[:m]].sort().values
        gs.append(torch.full((pick.numel(),), i, dtype=torch.long))
        vs.append(pick)
    return GraphFeatureRequest(torch.stack([torch.cat(gs), torch.cat(vs)]))


def sample_graph_request(kind: str, data: GraphDataset, ratio: float | None = None,
                         count: int | None = None, seed: int = 0) -> ForgetRequest:
    """Samples a ``graph``, ``graph-node`` or ``graph-feature`` request."""
    from graphforget.errors import UnknownNameError

    key = kind.lower().replace("_", "-")
    if key == "graph":
        return sample_graphs(data, ratio, count, seed)
    if key == "graph-node":
        return sample_graph_nodes(data, ratio, count, seed)
    if key == "graph-feature":
        return sample_graph_features(data, ratio, count, seed)
    raise UnknownNameError(f"unknown graph request kind {kind!r}; expected graph, graph-node or graph-feature")
