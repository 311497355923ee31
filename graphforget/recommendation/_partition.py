r"""RecEraser's balanced data partitions (Chen et al., "Recommendation Unlearning", WWW
2022, Algorithms 1–3), as :class:`~graphforget.partition.Partition` records with an
``edge_shard`` over the interactions.

* ``ubp`` (user-based): users are clustered on their pre-trained embeddings; a user's
  training interactions all go to its shard.
* ``ibp`` (item-based, missing in the official code): the same over items.
* ``inbp`` (interaction-based): an interaction :math:`(u, i)` is the point
  :math:`[e_u; e_i]`, so its distance to an anchor :math:`(u_a, i_a)` is
  :math:`\|e_u - e_{u_a}\|^2 + \|e_i - e_{i_a}\|^2` as in the paper.
* ``random``: interactions dealt uniformly at random (SISA's data-independent split).

The clustering is capacity-constrained k-means: ``k`` random anchors; each of ``T``
iterations assigns points to their nearest anchor that still has room (capacity
:math:`\lceil c \cdot N / k\rceil`, :math:`c = 1.2` by default), then moves each
anchor to the *vector* mean of its points (the official code's update collapses the
centroid to a scalar). The assignment runs in at most ``k`` vectorised rounds: every
unassigned point proposes to its nearest non-full anchor, which accepts its closest
proposers up to its remaining capacity; an anchor that rejects anyone is then full.

The embeddings come from a BPR-MF model trained on **all** training interactions, so the
partition depends on every interaction (``Partition.depends_on``); forgetting an
interaction leaves that trace in the partition unless it is recomputed.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.partition import Partition
from graphforget.partition._balance import group_rank
from graphforget.recommendation._data import split_pairs
from graphforget.recommendation._models import build_recommender, train_bpr

__all__ = ["capacity_assign", "capacity_kmeans", "receraser_partition", "REC_PARTITIONS"]

REC_PARTITIONS = ("ubp", "ibp", "inbp", "random")


def capacity_assign(dist: Tensor, cap: int) -> Tensor:
    """Nearest-anchor assignment with at most ``cap`` points per anchor (see module docs)."""
    n, k = dist.shape
    if cap * k < n:
        raise GraphForgetError(f"capacity {cap} x {k} anchors cannot hold {n} points")
    assign = torch.full((n,), -1, dtype=torch.long)
    remaining = torch.full((k,), int(cap), dtype=torch.long)
    for _ in range(k + 1):
        todo = (assign < 0).nonzero().view(-1)
        if todo.numel() == 0:
            break
        d = dist[todo].clone()
        d[:, remaining <= 0] = float("inf")
        choice = d.argmin(1)
        order = torch.argsort(d.gather(1, choice.view(-1, 1)).view(-1), stable=True)
        rank = group_rank(choice, order)
        accept = rank < remaining[choice]
        assign[todo[accept]] = choice[accept]
        remaining -= torch.bincount(choice[accept], minlength=k)
    return assign


def capacity_kmeans(points: Tensor, k: int, capacity: float, iterations: int,
                    g: torch.Generator) -> tuple[Tensor, dict[str, Any]]:
    """``T`` iterations of capacity-constrained k-means on ``points`` (``[N, d]``)."""
    n = points.size(0)
    cap = int(-(-capacity * n // k))
    anchors = points[torch.randperm(n, generator=g)[:k]].clone()
    assign = None
    it = 0
    for it in range(1, int(iterations) + 1):  # noqa: B007
        sq = (points * points).sum(1, keepdim=True) - 2 * points @ anchors.t() + \
            (anchors * anchors).sum(1).view(1, -1)
        new = capacity_assign(sq, cap)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        sums = torch.zeros_like(anchors).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k)
        keep = counts > 0
        anchors[keep] = sums[keep] / counts[keep].to(points.dtype).view(-1, 1)
    return assign, {"capacity": cap, "iterations": it}


def receraser_partition(data: Data, k: int, method: str, seed: int, capacity: float = 1.2,
                        iterations: int = 10, embedding_dim: int = 32,
                        embedding_config: dict[str, Any] | None = None) -> Partition:
    """Partitions the training interactions of ``data`` into ``k`` shards (see module docs)."""
    if method not in REC_PARTITIONS:
        raise GraphForgetError(f"unknown RecEraser partition {method!r}; choose one of {REC_PARTITIONS}")
    if float(capacity) < 1.0:
        raise GraphForgetError(f"capacity must be >= 1 (a multiple of the mean shard size), got {capacity}")
    start = time.perf_counter()
    nu, ni = int(data.num_users), int(data.num_items)
    train_cols = (data.edge_split == 0).nonzero().view(-1)
    pairs = split_pairs(data, "train")
    if pairs.size(1) < k:
        raise GraphForgetError(f"cannot split {pairs.size(1)} interactions into {k} shards")
    g = torch.Generator().manual_seed(int(seed))
    info: dict[str, Any] = {"method": method}
    depends: tuple[str, ...] = ()
    if method == "random":
        perm = torch.randperm(pairs.size(1), generator=g)
        local = torch.empty(pairs.size(1), dtype=torch.long)
        local[perm] = torch.arange(pairs.size(1)) % k
    else:
        cfg = {"epochs": 20, "lr": 0.01, "weight_decay": 1e-4, "batch_size": 2048,
               "eval_every": 5, "patience": None, **(embedding_config or {})}
        t0 = time.perf_counter()
        mf = build_recommender("bpr", nu, ni, embedding_dim, 0, seed)
        train_bpr(mf, pairs, nu, ni, cfg, seed)
        with torch.no_grad():
            ue, ie = (t.detach() for t in mf.embeddings())
        info["embedding_seconds"] = time.perf_counter() - t0
        info["embeddings"] = "BPR-MF trained on all training interactions"
        depends = ("interactions", "pre-trained embeddings of all training interactions")
        if method == "ubp":
            users = torch.unique(pairs[0])
            user_shard, kinfo = capacity_kmeans(ue[users], k, capacity, iterations, g)
            lookup = torch.full((nu,), -1, dtype=torch.long)
            lookup[users] = user_shard
            local = lookup[pairs[0]]
        elif method == "ibp":
            items = torch.unique(pairs[1])
            item_shard, kinfo = capacity_kmeans(ie[items], k, capacity, iterations, g)
            lookup = torch.full((ni,), -1, dtype=torch.long)
            lookup[items] = item_shard
            local = lookup[pairs[1]]
        else:
            points = torch.cat([ue[pairs[0]], ie[pairs[1]]], dim=1)
            local, kinfo = capacity_kmeans(points, k, capacity, iterations, g)
        info.update(kinfo)
    edge_shard = torch.full((data.edge_index.size(1),), -1, dtype=torch.long)
    edge_shard[train_cols] = local
    node_shard = torch.full((int(data.num_nodes),), -1, dtype=torch.long)
    part = Partition(node_shard, k, edge_shard=edge_shard, method=f"receraser-{method}",
                     depends_on=depends, seconds=time.perf_counter() - start, info=info)
    return part
