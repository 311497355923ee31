"""Shared size-constraint helpers: rank within groups and a rebalancing pass."""

from __future__ import annotations

import heapq

import torch
from torch import Tensor

__all__ = ["group_rank", "rebalance", "resolve_min_size"]


def resolve_min_size(n: int, k: int, min_size: int | None, min_fraction: float) -> int:
    """The minimum shard size: ``min_size`` if given, else ``floor(min_fraction * n / k)``
    (at least 1)."""
    if min_size is not None:
        value = int(min_size)
    else:
        value = int(float(min_fraction) * n / k)
    return max(1, min(value, n // k))


def group_rank(groups: Tensor, order: Tensor) -> Tensor:
    """For items visited in ``order`` (a permutation), the rank of each item among the
    items of its group visited before it (0 = first of its group)."""
    g = groups[order]
    perm = torch.argsort(g, stable=True)
    gs = g[perm]
    counts = torch.bincount(gs, minlength=int(groups.max()) + 1 if groups.numel() else 1)
    starts = torch.cumsum(counts, 0) - counts
    rank_sorted = torch.arange(gs.numel()) - starts[gs]
    rank_in_order = torch.empty_like(rank_sorted)
    rank_in_order[perm] = rank_sorted
    out = torch.empty_like(rank_sorted)
    out[order] = rank_in_order
    return out


def rebalance(shard: Tensor, k: int, cap: int, min_size: int, priority: Tensor) -> tuple[Tensor, int]:
    """Moves nodes so that every shard holds between ``min_size`` and ``cap`` nodes.

    Overfull shards give away their nodes of highest ``priority`` first; the receivers are
    always the currently smallest shards (water filling). Returns the new assignment and
    the number of nodes moved. Loops run over moved nodes only (a one-off post-pass).
    """
    shard = shard.clone()
    n = shard.numel()
    if cap * k < n or min_size * k > n:
        raise ValueError(f"cannot fit {n} nodes into {k} shards of sizes [{min_size}, {cap}]")
    sizes = torch.bincount(shard, minlength=k)
    moved = 0
    # 1. overflow: take the highest-priority nodes out of shards above cap
    excess = (sizes - cap).clamp(min=0)
    if int(excess.sum()):
        order = torch.argsort(-priority.double(), stable=True)
        rank = group_rank(shard, order)
        pool = order[(rank < excess[shard])[order]]
        sizes = sizes - excess
        heap = [(int(sizes[s]), s) for s in range(k) if int(sizes[s]) < cap]
        heapq.heapify(heap)
        dest = torch.empty_like(pool)
        for i in range(pool.numel()):
            size, s = heapq.heappop(heap)
            dest[i] = s
            if size + 1 < cap:
                heapq.heappush(heap, (size + 1, s))
        shard[pool] = dest
        sizes = torch.bincount(shard, minlength=k)
        moved += int(pool.numel())
    # 2. underflow: shards below min_size take nodes from the largest shards
    deficit = (min_size - sizes).clamp(min=0)
    if int(deficit.sum()):
        donors = [(-int(sizes[s]), s) for s in range(k) if int(sizes[s]) > min_size]
        heapq.heapify(donors)
        order = torch.argsort(-priority.double(), stable=True)
        by_shard = {s: [int(v) for v in order[shard[order] == s]] for s in range(k)}
        for s in range(k):
            for _ in range(int(deficit[s])):
                neg, d = heapq.heappop(donors)
                v = by_shard[d].pop(0)
                shard[v] = s
                moved += 1
                if -neg - 1 > min_size:
                    heapq.heappush(donors, (neg + 1, d))
    return shard, moved
