r"""Partitioning algorithms: random (SISA), BLPA and Louvain (GraphEraser's community
partitions), BEKM (balanced embedding k-means) and METIS (optional ``pymetis``).

Everything is vectorised over ``edge_index`` or the ``[n, k]`` distance matrix: no dense
:math:`n \times n` matrix is ever built and no Python loop visits every node per iteration.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from graphforget.errors import GraphForgetError
from graphforget.partition._balance import group_rank, rebalance, resolve_min_size
from graphforget.partition._base import Partitioner, capacity, register_partitioner

__all__ = ["RandomPartitioner", "BLPAPartitioner", "LouvainPartitioner", "BEKMPartitioner",
           "MetisPartitioner", "balanced_kmeans_assign"]


#: BLPA counts neighbours in a dense ``[n, k]`` table up to this many entries (64 MiB of
#: int64), and through ``torch.unique`` over the (node, shard) pairs above it
_DENSE_COUNT_LIMIT = 1 << 23


def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def _symmetric_edges(view: Data) -> Tensor:
    ei = view.edge_index
    if ei is None or ei.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long)
    ei, _ = remove_self_loops(ei)
    return to_undirected(ei, num_nodes=view.num_nodes)


@register_partitioner("random")
class RandomPartitioner(Partitioner):
    """Uniformly random, balanced shards (SISA, Bourtoule et al., 2021): a seeded
    permutation dealt round-robin, so sizes differ by at most one. Data-independent.

    Args:
        seed (int): permutation seed. (default: :obj:`0`)
    """

    depends_on = ()

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        n = int(view.num_nodes)
        perm = torch.randperm(n, generator=_generator(self.seed))
        shard = torch.empty(n, dtype=torch.long)
        shard[perm] = torch.arange(n) % k
        return shard, {}


@register_partitioner("blpa")
class BLPAPartitioner(Partitioner):
    r"""Balanced label propagation (GraphEraser, Chen et al., CCS 2022; after Ugander &
    Backstrom, WSDM 2013).

    Nodes start in random balanced shards. Each iteration counts, for every node, its
    neighbours per shard as one sparse reduction over ``edge_index`` and proposes to move
    the node to the shard holding most of its neighbours when that beats its own shard
    (desire = gain in neighbours). Moves are accepted in order of desire subject to
    :math:`\text{min\_size} \le |S_i| \le \lceil n/k + \delta(n - n/k)\rceil`, where moves
    *out of* a shard free slots that moves *into* it may use (chained moves); the
    accepted set is the fixed point of these per-shard quotas, computed with vectors
    over the proposals (the greatest fixed point, so that swaps between full shards go
    through). Stops when nothing moves in five consecutive iterations (one with
    ``move_probability=1``) or after ``max_iter`` iterations.

    Args:
        delta (float): capacity slack δ. (default: :obj:`0.005`)
        max_iter (int): iterations. (default: :obj:`30`)
        min_size (int, optional): minimum shard size. (default: ``min_fraction * n / k``)
        min_fraction (float): default minimum as a fraction of ``n / k``. (default: :obj:`0.5`)
        move_probability (float): chance that a node proposes a move in an iteration
            (breaks the oscillation of synchronous updates). (default: :obj:`0.5`)
        seed (int): initial assignment and tie-breaking. (default: :obj:`0`)
    """

    depends_on = ("edges",)

    def __init__(self, delta: float = 0.005, max_iter: int = 30, min_size: int | None = None,
                 min_fraction: float = 0.5, move_probability: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        if not 0 < float(move_probability) <= 1:
            raise GraphForgetError(f"move_probability must lie in (0, 1], got {move_probability}")
        self.move_probability = float(move_probability)
        if not 0 <= float(delta) <= 1:
            raise GraphForgetError(f"delta must lie in [0, 1], got {delta}")
        self.delta, self.max_iter = float(delta), int(max_iter)
        self.min_size, self.min_fraction = min_size, float(min_fraction)

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        n = int(view.num_nodes)
        g = _generator(self.seed)
        cap = capacity(n, k, self.delta)
        low = resolve_min_size(n, k, self.min_size, self.min_fraction)
        shard = torch.empty(n, dtype=torch.long)
        shard[torch.randperm(n, generator=g)] = torch.arange(n) % k
        src, dst = _symmetric_edges(view)
        moves_per_iter: list[int] = []
        stalled = 0
        for _ in range(self.max_iter):
            accepted_nodes, accepted_dst = self._propose_and_accept(
                shard, src, dst, n, k, cap, low, g, self.move_probability)
            if accepted_nodes.numel() == 0:
                stalled += 1  # nothing moved: other proposers may still move (random wake-up)
                if self.move_probability == 1.0 or stalled >= 5:
                    break
                continue
            stalled = 0
            shard[accepted_nodes] = accepted_dst
            moves_per_iter.append(int(accepted_nodes.numel()))
        return shard, {"capacity": cap, "min_size": low, "iterations": len(moves_per_iter),
                       "moves": moves_per_iter}

    @staticmethod
    def _propose_and_accept(shard: Tensor, src: Tensor, dst: Tensor, n: int, k: int, cap: int,
                            low: int, g: torch.Generator, move_probability: float
                            ) -> tuple[Tensor, Tensor]:
        empty = torch.empty(0, dtype=torch.long)
        if src.numel() == 0:
            return empty, empty
        # neighbour counts per (node, shard): one scatter over the edges
        key = src * k + shard[dst]
        if n * k <= _DENSE_COUNT_LIMIT:
            # dense [n, k] table (n*k entries, never n*n): one bincount, then row argmax
            counts = torch.bincount(key, minlength=n * k).view(n, k)
            own = counts.gather(1, shard.view(-1, 1)).view(-1)
            others = counts.scatter(1, shard.view(-1, 1), -1)
            best_count, best_comm = others.max(dim=1)  # ties: lowest shard id
            gain_all = best_count - own
            awake = torch.rand(n, generator=g) < move_probability
            cand = (gain_all > 0) & awake
            node = cand.nonzero().view(-1)
            comm, gain = best_comm[node], gain_all[node]
        else:
            # sparse (node, shard) pairs for very large n*k
            keys, counts = torch.unique(key, return_counts=True)
            node, comm = keys // k, keys % k
            own = torch.zeros(n, dtype=torch.long)
            is_own = comm == shard[node]
            own[node[is_own]] = counts[is_own]
            gain = counts - own[node]
            # each node proposes with probability `move_probability` (symmetry breaking:
            # synchronous label propagation otherwise swaps whole groups back and forth)
            awake = torch.rand(n, generator=g) < move_probability
            cand = (~is_own) & (gain > 0) & awake[node]
            node, comm, gain = node[cand], comm[cand], gain[cand]
            if node.numel():
                # best target per node: highest gain, ties to the lowest shard id
                score = gain * k + (k - 1 - comm)
                best = torch.full((n,), -1, dtype=torch.long).scatter_reduce(0, node, score, "amax")
                pick = score == best[node]
                node, comm, gain = node[pick], comm[pick], gain[pick]
        if node.numel() == 0:
            return empty, empty
        source = shard[node]
        # order of desire: gain descending, random tie-break
        tie = torch.rand(node.numel(), generator=g)
        order = torch.argsort(gain.double() + tie * 0.5, descending=True, stable=True)
        rank_in = group_rank(comm, order)
        rank_out = group_rank(source, order)
        sizes = torch.bincount(shard, minlength=k)
        # greatest fixed point of the quotas: start from "everything moves" and shrink
        # (monotone over k-vectors), so that swaps and longer chains between full shards
        # are accepted together
        inflow = torch.bincount(comm, minlength=k)
        outflow = torch.bincount(source, minlength=k)
        while True:
            room_in = (cap - sizes + outflow).clamp(min=0)
            room_out = (sizes - low + inflow).clamp(min=0)
            ok = (rank_in < room_in[comm]) & (rank_out < room_out[source])
            new_in = torch.bincount(comm[ok], minlength=k)
            new_out = torch.bincount(source[ok], minlength=k)
            if torch.equal(new_in, inflow) and torch.equal(new_out, outflow):
                break
            inflow, outflow = new_in, new_out
        return node[ok], comm[ok]


@register_partitioner("louvain")
class LouvainPartitioner(Partitioner):
    r"""Louvain communities (python-louvain, Blondel et al., 2008) balanced to exactly
    ``k`` shards: communities larger than the capacity are cut into capacity-sized pieces,
    pieces are packed largest-first into the currently smallest shard, and a final pass
    moves nodes (those of the smallest communities first) until every shard lies within
    ``[min_size, capacity]``.

    Args:
        delta (float): capacity slack δ. (default: :obj:`0.005`)
        resolution (float): Louvain resolution. (default: :obj:`1.0`)
        min_size (int, optional), min_fraction (float): as :class:`BLPAPartitioner`.
        seed (int): Louvain's random state. (default: :obj:`0`)
    """

    depends_on = ("edges",)

    def __init__(self, delta: float = 0.005, resolution: float = 1.0, min_size: int | None = None,
                 min_fraction: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.delta, self.resolution = float(delta), float(resolution)
        self.min_size, self.min_fraction = min_size, float(min_fraction)

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        import heapq

        import networkx as nx
        from community import community_louvain

        n = int(view.num_nodes)
        cap = capacity(n, k, self.delta)
        low = resolve_min_size(n, k, self.min_size, self.min_fraction)
        ei = _symmetric_edges(view)
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        keep = ei[0] < ei[1]
        graph.add_edges_from(ei[:, keep].t().tolist())
        labels = community_louvain.best_partition(graph, random_state=int(self.seed),
                                                  resolution=self.resolution)
        comm = torch.tensor([labels[i] for i in range(n)], dtype=torch.long)
        num_comm = int(comm.max()) + 1
        # cut communities into pieces of at most `cap` nodes
        rank = group_rank(comm, torch.arange(n))
        piece_key = comm * (n // cap + 1) + rank // cap
        _, piece = torch.unique(piece_key, return_inverse=True)
        piece_size = torch.bincount(piece)
        order = torch.argsort(-piece_size, stable=True)
        heap = [(0, s) for s in range(k)]
        piece_shard = torch.empty_like(piece_size)
        for p in order.tolist():  # one pass over pieces (not nodes), largest first
            size, s = heapq.heappop(heap)
            piece_shard[p] = s
            heapq.heappush(heap, (size + int(piece_size[p]), s))
        shard = piece_shard[piece]
        comm_size = torch.bincount(comm)
        shard, moved = rebalance(shard, k, cap, low, priority=-comm_size[comm].double())
        return shard, {"communities": num_comm, "pieces": int(piece_size.numel()),
                       "capacity": cap, "min_size": low, "rebalanced_nodes": moved}


def balanced_kmeans_assign(dist: Tensor, cap: int) -> Tensor:
    r"""Global greedy capacity-constrained assignment: visit the :math:`k \cdot n`
    (node, centroid) pairs in ascending distance (one stable ``argsort``) and give each
    node the first centroid that still has room.

    Computed exactly in at most :math:`k` vectorised phases instead of a pass over the
    pairs: with the set of full centroids fixed, every unassigned node's next accepted
    pair is its first pair to a non-full centroid; the centroid whose ``remaining``-th
    such pair comes first fills there, every pair up to that position is final, and the
    next phase starts with one more full centroid. Memory is :math:`O(nk)`.
    """
    n, k = dist.shape
    if cap * k < n:
        raise GraphForgetError(f"capacity {cap} x {k} centroids cannot hold {n} nodes")
    total = n * k
    order = torch.argsort(dist.reshape(-1), stable=True)
    pos = torch.empty_like(order)
    pos[order] = torch.arange(total)
    pos = pos.view(n, k)  # position of each (node, centroid) pair in the greedy order
    assign = torch.full((n,), -1, dtype=torch.long)
    remaining = torch.full((k,), int(cap), dtype=torch.long)
    free = torch.arange(n)
    while free.numel():
        full = (remaining <= 0).unsqueeze(0)
        first, choice = pos[free].masked_fill(full, total).min(dim=1)
        # when does each centroid fill? at the position of its remaining[c]-th chooser
        key, _ = torch.sort(choice * total + first)
        cs, ps = key // total, key % total
        counts = torch.bincount(cs, minlength=k)
        rank = torch.arange(cs.numel()) - (torch.cumsum(counts, 0) - counts)[cs]
        fills = ps[rank == remaining[cs] - 1]
        stop = int(fills.min()) if fills.numel() else total
        take = first <= stop
        assign[free[take]] = choice[take]
        remaining -= torch.bincount(choice[take], minlength=k)
        free = free[~take]
    return assign


def _random_projection(x: Tensor, dim: int, seed: int) -> Tensor:
    """``x @ R`` with a seeded Gaussian ``R`` of variance ``1/dim`` (Johnson-Lindenstrauss):
    row-wise, so a node's embedding depends on its own features only."""
    r = torch.randn(x.size(1), dim, generator=_generator(seed), dtype=torch.float32)
    return x.float() @ (r / dim ** 0.5)


def _pca(x: Tensor, dim: int, seed: int) -> Tensor:
    """Coordinates of ``x`` on its top ``dim`` principal axes (randomised, seeded)."""
    from graphforget.training import seeded

    x = x.float()
    mean = x.mean(0, keepdim=True)
    with seeded(seed):
        _, _, v = torch.pca_lowrank(x - mean, q=dim, center=False, niter=2)
    return (x - mean) @ v


@register_partitioner("bekm")
class BEKMPartitioner(Partitioner):
    r"""Balanced embedding k-means (GraphEraser, Chen et al., CCS 2022).

    Lloyd iterations in which the assignment step is one global greedy pass over the
    :math:`k\cdot n` (node, centroid) pairs sorted by distance (:func:`balanced_kmeans_assign`)
    under the capacity :math:`\lceil n/k + \delta(n - n/k)\rceil`; the update step takes
    each shard's mean embedding. Stops when centroids move less than ``tol`` (sum of
    Euclidean shifts) or after ``max_iter``. Distances come from matrix products
    (:math:`O(nk)` memory, never :math:`n \times n`).

    Embeddings wider than ``dim`` are first reduced to ``dim`` columns: ``"random"``
    multiplies by a seeded Gaussian matrix (Johnson-Lindenstrauss; row-wise, so a node's
    embedding depends on its own features only and the full feature matrix is never
    copied), ``"pca"`` projects onto the top principal axes of the partitioned nodes
    (which then depend on every partitioned node's features). GraphEraser itself
    clusters low-dimensional GNN embeddings (``embedding="model"``).

    Args:
        embedding (str or Tensor): ``"features"`` (raw ``x``), ``"model"`` (outputs of a
            backbone trained on the partitioned graph), or a ``[num_nodes, d]`` tensor
            indexed by original node ids. (default: :obj:`"features"`)
        dim (int, optional): reduce wider embeddings to this many columns; ``None`` keeps
            them as they are. (default: :obj:`64`)
        projection (str): ``"random"`` or ``"pca"``. (default: :obj:`"random"`)
        model (str): backbone for ``embedding="model"``. (default: :obj:`"sgc"`)
        epochs (int): its training epochs. (default: :obj:`100`)
        delta (float): capacity slack δ. (default: :obj:`0.005`)
        max_iter (int): Lloyd iterations. (default: :obj:`20`)
        tol (float): stopping threshold on the centroid shift. (default: :obj:`1e-4`)
        seed (int): centroid initialisation, projection (and model training). (default: :obj:`0`)
    """

    needs_features = True

    def __init__(self, embedding: str | Tensor = "features", dim: int | None = 64,
                 projection: str = "random", model: str = "sgc", epochs: int = 100,
                 delta: float = 0.005, max_iter: int = 20, tol: float = 1e-4, seed: int = 0) -> None:
        super().__init__(seed)
        if isinstance(embedding, str) and embedding not in ("features", "model"):
            raise GraphForgetError(
                f"embedding must be 'features', 'model' or a tensor, got {embedding!r}")
        if dim is not None and (isinstance(dim, bool) or int(dim) < 1):
            raise GraphForgetError(f"dim must be a positive integer or None, got {dim!r}")
        if projection not in ("random", "pca"):
            raise GraphForgetError(f"projection must be 'random' or 'pca', got {projection!r}")
        self.embedding, self.model, self.epochs = embedding, model, int(epochs)
        self.dim, self.projection = None if dim is None else int(dim), projection
        self.delta, self.max_iter, self.tol = float(delta), int(max_iter), float(tol)

    def _depends_on(self) -> tuple[str, ...]:
        if isinstance(self.embedding, Tensor):
            return ("user",)
        if self.embedding == "features":
            return ("features",)
        return ("features", "edges", "labels")

    def _source(self, data: Data) -> Data:
        x = getattr(data, "x", None)
        if (self.embedding == "features" and self.projection == "random" and x is not None
                and self.dim is not None and x.dim() == 2 and x.size(1) > self.dim):
            # project every row before slicing: row-wise, so identical to projecting the
            # view, without copying the wide feature matrix of the partitioned nodes
            return Data(edge_index=data.edge_index, num_nodes=int(data.num_nodes),
                        x=_random_projection(x, self.dim, self.seed))
        return super()._source(data)

    def _reduce(self, emb: Tensor) -> Tensor:
        if self.dim is None or emb.size(1) <= self.dim:
            return emb
        if self.projection == "random":
            return _random_projection(emb, self.dim, self.seed)
        return _pca(emb, min(self.dim, emb.size(0)), self.seed)

    def embed(self, view: Data) -> Tensor:
        """The (reduced) embeddings of the nodes of ``view`` (a relabelled induced subgraph)."""
        if isinstance(self.embedding, Tensor):
            emb = self.embedding
            if emb.dim() != 2 or emb.size(0) <= int(view.node_ids.max()):
                raise GraphForgetError(
                    f"user embeddings must have shape [num_nodes, d], got {tuple(emb.shape)}")
            return self._reduce(emb[view.node_ids].float())
        if getattr(view, "x", None) is None:
            raise GraphForgetError("BEKM needs data.x (or pass embedding=<tensor>)")
        if self.embedding == "features":
            return self._reduce(view.x.float())
        from graphforget.models import build_model
        from graphforget.training import TrainConfig, forward, num_classes, seeded, train_node_classifier

        with seeded(self.seed):
            net = build_model(self.model, view.x.size(-1), num_classes(view))
        mask = torch.ones(view.num_nodes, dtype=torch.bool)
        train_node_classifier(net, view, TrainConfig(epochs=self.epochs), seed=self.seed, mask=mask)
        with torch.no_grad():
            return self._reduce(torch.softmax(forward(net, view), dim=-1))

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        emb = self.embed(view)
        n = emb.size(0)
        cap = capacity(n, k, self.delta)
        init = torch.randperm(n, generator=_generator(self.seed))[:k]
        centroids = emb[init].clone()
        assign = torch.zeros(n, dtype=torch.long)
        iterations, shift = 0, float("inf")
        for iterations in range(1, self.max_iter + 1):  # noqa: B007 - reported below
            dist = torch.cdist(emb, centroids, compute_mode="use_mm_for_euclid_dist")
            assign = balanced_kmeans_assign(dist, cap)
            sums = torch.zeros_like(centroids).index_add_(0, assign, emb)
            counts = torch.bincount(assign, minlength=k).clamp(min=1).unsqueeze(1)
            new = sums / counts
            shift = float((new - centroids).norm(dim=1).sum())
            centroids = new
            if shift < self.tol:
                break
        return assign, {"capacity": cap, "iterations": iterations, "centroid_shift": shift,
                        "embedding_dim": int(emb.size(1))}


@register_partitioner("metis")
class MetisPartitioner(Partitioner):
    """METIS k-way partitioning (Karypis & Kumar, 1998) through the optional ``pymetis``
    package, followed by the same size pass as :class:`LouvainPartitioner`.

    Args:
        delta (float): capacity slack δ. (default: :obj:`0.005`)
        min_size (int, optional), min_fraction (float): as :class:`BLPAPartitioner`.
        seed (int): METIS seed. (default: :obj:`0`)
    """

    depends_on = ("edges",)

    def __init__(self, delta: float = 0.005, min_size: int | None = None,
                 min_fraction: float = 0.5, seed: int = 0) -> None:
        super().__init__(seed)
        self.delta, self.min_size, self.min_fraction = float(delta), min_size, float(min_fraction)

    @staticmethod
    def available() -> bool:
        try:
            import pymetis  # noqa: F401
        except ImportError:
            return False
        return True

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        try:
            import pymetis
        except ImportError:
            raise GraphForgetError(
                "the 'metis' partitioner needs the optional package pymetis "
                "(pip install pymetis)") from None
        n = int(view.num_nodes)
        ei = _symmetric_edges(view)
        order = torch.argsort(ei[0] * n + ei[1])
        ei = ei[:, order]
        xadj = torch.zeros(n + 1, dtype=torch.long)
        xadj[1:] = torch.cumsum(torch.bincount(ei[0], minlength=n), 0)
        opts = pymetis.Options(seed=int(self.seed))
        _, membership = pymetis.part_graph(k, xadj=xadj.numpy(), adjncy=ei[1].numpy(), options=opts)
        shard = torch.as_tensor(membership, dtype=torch.long)
        cap = capacity(n, k, self.delta)
        low = resolve_min_size(n, k, self.min_size, self.min_fraction)
        shard, moved = rebalance(shard, k, cap, low, priority=torch.arange(n, dtype=torch.double))
        return shard, {"capacity": cap, "min_size": low, "rebalanced_nodes": moved}
