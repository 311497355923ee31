r"""Seeded edge splits for link prediction, negative sampling and deletion pools.

A *link-prediction* :class:`~torch_geometric.data.Data` keeps the node features and
stores:

* ``edge_index``: the **training** message-passing graph, every edge in both
  directions (this is what an :class:`~graphforget.requests.EdgeRequest` forgets
  from);
* ``val_pos`` / ``val_neg`` / ``test_pos`` / ``test_neg``: ``[2, k]`` tensors of
  held-out positive edges and sampled non-edges (one direction each);
* ``train_mask``: every node (node requests may forget any node).

No dense :math:`n \times n` structure is ever built: edges are handled as integer
keys :math:`u \cdot n + v` and membership is tested with :func:`torch.isin`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.requests import EdgeRequest, _how_many

__all__ = ["link_split", "is_link_data", "canonical_edges", "sample_non_edges",
           "deletion_pool", "sample_link_edges", "edge_keys", "small_link_graph", "k_hop_mask"]

SPLIT_KEYS = ("val_pos", "val_neg", "test_pos", "test_neg")


def is_link_data(data: Data) -> bool:
    """Whether ``data`` carries a link-prediction split (``test_pos``/``test_neg``)."""
    return getattr(data, "test_pos", None) is not None and getattr(data, "test_neg", None) is not None


def canonical_edges(edge_index: Tensor) -> Tensor:
    """Each undirected edge once, as ``(min, max)`` pairs, sorted; self-loops dropped."""
    if edge_index.numel() == 0:
        return edge_index.new_empty(2, 0)
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    n = int(hi.max()) + 1 if hi.numel() else 1
    keys = torch.unique(lo * n + hi)
    return torch.stack([keys // n, keys % n])


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(0 if seed is None else int(seed))


def edge_keys(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Sorted unique keys ``min * n + max`` of the undirected edges (self-loops dropped)."""
    if edge_index.numel() == 0:
        return torch.empty(0, dtype=torch.long)
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    return torch.unique(lo[keep] * int(num_nodes) + hi[keep])


def sample_non_edges(edge_index: Tensor | None, num_nodes: int, count: int,
                     generator: int | torch.Generator | None = 0,
                     exclude: Tensor | None = None, avoid_keys: Tensor | None = None) -> Tensor:
    """``count`` distinct random node pairs ``(u < v)`` that are not edges.

    Rejection sampling on integer keys (vectorised; memory ``O(edges + count)``).

    Args:
        edge_index: edges to avoid (either direction).
        num_nodes: number of nodes.
        count: pairs wanted.
        generator: a seed or a :class:`torch.Generator`.
        exclude: more pairs to avoid (``[2, k]``, either direction).
        avoid_keys: precomputed :func:`edge_keys` of everything to avoid (replaces
            ``edge_index`` and ``exclude``; saves work when sampling every epoch).
    """
    g = _generator(generator)
    n = int(num_nodes)
    if count <= 0:
        return torch.empty(2, 0, dtype=torch.long)
    if avoid_keys is None:
        avoid = edge_index if exclude is None else torch.cat([edge_index, exclude], dim=1)
        avoid_keys = edge_keys(avoid, n)
    capacity = n * (n - 1) // 2 - avoid_keys.numel()
    if count > capacity:
        raise GraphForgetError(f"asked for {count} non-edges but the graph has only {capacity}")
    found = torch.empty(0, dtype=torch.long)
    for _ in range(100):
        need = count - found.numel()
        if need <= 0:
            break
        draw = torch.randint(0, n, (2, 2 * need + 16), generator=g)
        lo, hi = torch.minimum(draw[0], draw[1]), torch.maximum(draw[0], draw[1])
        keys = (lo * n + hi)[lo != hi]
        keys = keys[~_sorted_contains(avoid_keys, keys)]
        if found.numel():
            keys = keys[~torch.isin(keys, found)]
        # keep the first occurrence of each key, in draw order (deterministic)
        uniq, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
        keys = keys[first.sort().values]
        found = torch.cat([found, keys[:need]])
    if found.numel() < count:
        raise GraphForgetError(f"could not sample {count} non-edges (the graph is too dense)")
    return torch.stack([found // n, found % n])


def _sorted_contains(sorted_keys: Tensor, keys: Tensor) -> Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_max(sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


def _split_counts(total: int, val_ratio: float, test_ratio: float) -> tuple[int, int]:
    for name, r in (("val_ratio", val_ratio), ("test_ratio", test_ratio)):
        if not 0 <= float(r) < 1:
            raise GraphForgetError(f"{name} must lie in [0, 1), got {r!r}")
    if val_ratio + test_ratio >= 1:
        raise GraphForgetError(f"val_ratio + test_ratio must be < 1, got {val_ratio + test_ratio}")
    n_test = int(round(test_ratio * total))
    n_val = int(round(val_ratio * total))
    if test_ratio > 0 and n_test == 0:
        raise GraphForgetError(f"the graph has too few edges ({total}) for a test split")
    return n_val, n_test


def link_split(data: Data, val_ratio: float = 0.05, test_ratio: float = 0.1,
               seed: int = 0) -> Data:
    r"""Splits the edges of ``data`` into train/val/test positives plus sampled negatives.

    Each undirected edge is assigned to one split (seeded permutation); validation and
    test negatives are distinct non-edges of the *full* graph, as many as positives.
    The returned ``edge_index`` is the training graph in both directions.

    Args:
        data: a graph with ``x`` and ``edge_index`` (treated as undirected).
        val_ratio: fraction of edges held out for validation. (default: :obj:`0.05`)
        test_ratio: fraction of edges held out for testing. (default: :obj:`0.1`)
        seed: seeds the split and the negatives. (default: :obj:`0`)
    """
    if getattr(data, "edge_index", None) is None or data.edge_index.numel() == 0:
        raise GraphForgetError("link_split needs a graph with edges")
    n = int(data.num_nodes)
    edges = canonical_edges(data.edge_index)
    total = edges.size(1)
    n_val, n_test = _split_counts(total, val_ratio, test_ratio)
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(total, generator=g)
    test = edges[:, perm[:n_test].sort().values]
    val = edges[:, perm[n_test:n_test + n_val].sort().values]
    train = edges[:, perm[n_test + n_val:].sort().values]
    negatives = sample_non_edges(edges, n, n_test + n_val, g)
    out = Data(x=data.x.clone() if data.x is not None else None, num_nodes=n)
    both = torch.cat([train, train.flip(0)], dim=1)
    order = torch.argsort(both[0] * n + both[1])
    out.edge_index = both[:, order]
    out.test_pos, out.test_neg = test, negatives[:, :n_test]
    out.val_pos, out.val_neg = val, negatives[:, n_test:]
    out.train_mask = torch.ones(n, dtype=torch.bool)
    if getattr(data, "y", None) is not None:
        out.y = data.y.clone()
    if getattr(data, "num_classes", None) is not None:
        out.num_classes = data.num_classes
    return out


def k_hop_mask(seeds: Tensor, edge_index: Tensor, num_nodes: int, hops: int) -> Tensor:
    """Boolean mask of the nodes within ``hops`` hops of ``seeds`` (undirected, sparse)."""
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[seeds] = True
    if edge_index.numel() == 0:
        return mask
    src, dst = edge_index
    for _ in range(int(hops)):
        nxt = mask.clone()
        nxt[dst[mask[src]]] = True
        nxt[src[mask[dst]]] = True
        if torch.equal(nxt, mask):
            break
        mask = nxt
    return mask


def deletion_pool(data: Data, where: str = "all", hops: int = 2) -> Tensor:
    """Training edges (each once, ``u < v``) eligible for deletion.

    ``"in"``: edges with both endpoints in the ``hops``-hop enclosing subgraph of the
    test edges (deleting them can change test predictions); ``"out"``: all other
    training edges; ``"all"``: every training edge (GNNDelete, Cheng et al. 2023, §5).
    """
    edges = canonical_edges(data.edge_index)
    if where == "all":
        return edges
    if where not in ("in", "out"):
        raise GraphForgetError(f"deletion pool must be 'all', 'in' or 'out', got {where!r}")
    if not is_link_data(data):
        raise GraphForgetError("the 'in'/'out' pools need a link split (data.test_pos)")
    near = k_hop_mask(data.test_pos.reshape(-1), data.edge_index, int(data.num_nodes), hops)
    inside = near[edges[0]] & near[edges[1]]
    return edges[:, inside if where == "in" else ~inside]


def sample_link_edges(data: Data, ratio: float | None = None, count: int | None = None,
                      seed: int | torch.Generator | None = 0, pool: str = "all") -> EdgeRequest:
    """An :class:`~graphforget.requests.EdgeRequest` of random training edges from ``pool``.

    ``ratio`` is a fraction of *all* training edges (the GNNDelete convention: 0.5%,
    2.5%, 5% of the training edges, drawn from the "in" or "out" pool).
    """
    candidates = deletion_pool(data, pool)
    total = canonical_edges(data.edge_index).size(1)
    if ratio is not None:
        k = _how_many(total, ratio, None, "training edges")
    else:
        k = _how_many(candidates.size(1), None, count, f"training edges in pool {pool!r}")
    if k > candidates.size(1):
        raise InvalidRequestError(f"asked for {k} edges but pool {pool!r} has only {candidates.size(1)}")
    perm = torch.randperm(candidates.size(1), generator=_generator(seed))[:k]
    return EdgeRequest(candidates[:, perm.sort().values])


def small_link_graph(num_nodes: int = 120, seed: int = 0, num_features: int = 8) -> Data:
    """A seeded CSBM graph with a 0.85/0.05/0.1 edge split, for unit tests."""
    from graphforget.testing import small_graph

    return link_split(small_graph(num_nodes=num_nodes, num_features=num_features, seed=seed),
                      0.05, 0.1, seed)
