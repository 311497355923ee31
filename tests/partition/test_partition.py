import pytest
import torch
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError, UnknownNameError
from graphforget.partition import (
    BEKMPartitioner,
    MetisPartitioner,
    Partition,
    balanced_kmeans_assign,
    capacity,
    make_partitioner,
)
from graphforget.testing import small_graph


def _undirected(pairs, n):
    ei = torch.tensor(pairs, dtype=torch.long).t()
    return torch.cat([ei, ei.flip(0)], 1)


def two_cliques(size=6):
    pairs = [(i, j) for i in range(size) for j in range(i + 1, size)]
    pairs += [(i + size, j + size) for i, j in pairs]
    pairs.append((0, size))  # one bridge
    n = 2 * size
    y = torch.tensor([0] * size + [1] * size)
    return Data(x=torch.eye(n), edge_index=_undirected(pairs, n), y=y, num_nodes=n)


def test_stats_exact_on_tiny_graph():
    # path 0-1-2-3-4-5, shards {0,1,2}, {3,4}, node 5 unassigned
    data = Data(edge_index=_undirected([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], 6),
                y=torch.tensor([0, 0, 1, 1, 1, 0]), num_nodes=6)
    part = Partition(torch.tensor([0, 0, 0, 1, 1, -1]), 2)
    s = part.stats(data)
    assert s["sizes"] == [3, 2] and s["num_assigned"] == 5
    # balance = (|3 - 2.5| + |2 - 2.5|) / (2 * 5)
    assert s["balance"] == pytest.approx(0.1)
    # global over assigned: y = [0,0,1,1,1] -> (0.4, 0.6); shard 0 (2/3, 1/3): TV 4/15; shard 1 (0, 1): TV 0.4
    assert s["label_fairness"] == pytest.approx((4 / 15 + 0.4) / 2)
    # edges among assigned nodes: 4 undirected (8 directed), one cut (2-3)
    assert s["num_edges"] == 8 and s["cut_edges"] == 2
    assert s["cut_edge_ratio"] == pytest.approx(0.25)
    assert part.edge_shards(torch.tensor([[0, 2, 4], [1, 3, 5]])).tolist() == [0, -1, -1]


def test_capacity_formula():
    assert capacity(100, 4, 0.0) == 25
    assert capacity(100, 4, 0.1) == 33  # ceil(25 + 7.5)
    assert capacity(10, 3, 0.0) == 4


def test_shard_view_keeps_ids():
    data = small_graph(60)
    part = make_partitioner("random", seed=1).partition(data, 3, nodes="train")
    view = part.shard_view(data, 1)
    assert torch.equal(view.node_ids, part.shard_nodes(1))
    assert torch.equal(view.x, data.x[view.node_ids])
    # every view edge maps back to an edge of the graph inside shard 1
    back = view.node_ids[view.edge_index]
    keys = set(map(tuple, data.edge_index.t().tolist()))
    assert all(tuple(e) in keys for e in back.t().tolist())
    assert bool((part.node_shard[back] == 1).all())


def test_random_is_balanced_seeded_and_data_independent():
    data = small_graph(100)
    a = make_partitioner("Random", seed=3).partition(data, 7, nodes="train")
    b = make_partitioner("random", seed=3).partition(data, 7, nodes="train")
    c = make_partitioner("random", seed=4).partition(data, 7, nodes="train")
    assert torch.equal(a.node_shard, b.node_shard) and not torch.equal(a.node_shard, c.node_shard)
    sizes = a.sizes()
    assert int(sizes.max() - sizes.min()) <= 1
    assert bool((a.node_shard[~data.train_mask] == -1).all())
    assert not a.data_dependent


@pytest.mark.parametrize("name", ["blpa", "louvain"])
def test_community_partitions_respect_sizes_and_cut_fewer_edges(name):
    data = small_graph(300)
    k = 4
    part = make_partitioner(name, delta=0.05, seed=0).partition(data, k, nodes="train")
    n = int(data.train_mask.sum())
    sizes = part.sizes()
    assert int(sizes.sum()) == n and sizes.numel() == k
    assert int(sizes.max()) <= capacity(n, k, 0.05)
    assert int(sizes.min()) >= part.info["min_size"] >= 1
    rnd = make_partitioner("random").partition(data, k, nodes="train")
    assert part.stats(data)["cut_edge_ratio"] < rnd.stats(data)["cut_edge_ratio"]
    assert part.depends_on == ("edges",)
    again = make_partitioner(name, delta=0.05, seed=0).partition(data, k, nodes="train")
    assert torch.equal(part.node_shard, again.node_shard)


def test_blpa_separates_two_cliques():
    data = two_cliques()
    part = make_partitioner("BLPA", delta=0.0, seed=0).partition(data, 2)
    assert part.sizes().tolist() == [6, 6]
    assert part.stats(data)["cut_edges"] == 2  # only the bridge, both directions


def test_louvain_balances_to_exactly_k():
    data = two_cliques(8)
    part = make_partitioner("louvain", delta=0.0, min_size=4).partition(data, 4)
    assert sorted(part.sizes().tolist()) == [4, 4, 4, 4]


def _greedy_reference(dist, cap):
    n, k = dist.shape
    assign = [-1] * n
    room = [cap] * k
    for idx in torch.argsort(dist.reshape(-1), stable=True).tolist():
        v, c = divmod(idx, k)
        if assign[v] < 0 and room[c] > 0:
            assign[v], room[c] = c, room[c] - 1
    return assign


@pytest.mark.parametrize("seed", range(5))
def test_balanced_kmeans_assign_equals_global_greedy(seed):
    g = torch.Generator().manual_seed(seed)
    n, k = 57, 5
    dist = torch.rand(n, k, generator=g)
    if seed % 2:  # clustered: most nodes prefer centroid 0
        dist[:, 0] *= 0.1
    cap = capacity(n, k, 0.02)
    got = balanced_kmeans_assign(dist, cap)
    assert got.tolist() == _greedy_reference(dist, cap)
    assert int(torch.bincount(got, minlength=k).max()) <= cap


def test_bekm_embedding_sources_and_dependencies():
    data = small_graph(150)
    k = 3
    feat = BEKMPartitioner(embedding="features", delta=0.0).partition(data, k, nodes="train")
    n = int(data.train_mask.sum())
    assert int(feat.sizes().max()) <= capacity(n, k, 0.0)
    assert feat.depends_on == ("features",)
    model = make_partitioner("bekm", embedding="model", epochs=10).partition(data, k, nodes="train")
    assert set(model.depends_on) == {"features", "edges", "labels"}
    user = torch.zeros(data.num_nodes, 2)
    user[:, 0] = torch.arange(data.num_nodes, dtype=torch.float)
    mine = make_partitioner("bekm", embedding=user, delta=0.0).partition(data, k, nodes="train")
    assert mine.depends_on == ("user",)
    # 1-d embedding along node id: shards are contiguous id ranges
    ids = mine.node_shard[data.train_mask]
    assert int((ids[1:] != ids[:-1]).sum()) == k - 1
    with pytest.raises(GraphForgetError, match="embedding"):
        BEKMPartitioner(embedding="pixels")


def test_metis_optional():
    data = small_graph(80)
    if MetisPartitioner.available():
        part = make_partitioner("metis").partition(data, 3, nodes="train")
        assert part.sizes().numel() == 3
    else:
        with pytest.raises(GraphForgetError, match="pymetis"):
            make_partitioner("metis").partition(data, 3, nodes="train")


def test_bad_input():
    data = small_graph(40)
    with pytest.raises(UnknownNameError, match="partitioner"):
        make_partitioner("spectral")
    with pytest.raises(GraphForgetError, match="num_shards"):
        make_partitioner("random").partition(data, 0)
    with pytest.raises(GraphForgetError, match="non-empty"):
        make_partitioner("random").partition(data, 1000)
    with pytest.raises(GraphForgetError):
        Partition(torch.tensor([0, 3]), 2)


def test_state_roundtrip_and_without():
    data = small_graph(60)
    part = make_partitioner("blpa").partition(data, 3, nodes="train")
    back = Partition.from_state(part.to_state())
    assert torch.equal(back.node_shard, part.node_shard) and back.depends_on == part.depends_on
    v = part.shard_nodes(0)[:2]
    assert bool((part.without(v).node_shard[v] == -1).all())
    assert bool((part.node_shard[v] == 0).all())


@pytest.mark.parametrize("seed", range(3))
def test_balanced_kmeans_assign_with_ties_and_tight_capacity(seed):
    g = torch.Generator().manual_seed(100 + seed)
    n, k = 43, 6
    dist = torch.randint(0, 4, (n, k), generator=g).float()  # many exact ties
    cap = -(-n // k)
    got = balanced_kmeans_assign(dist, cap)
    assert got.tolist() == _greedy_reference(dist, cap)
    with pytest.raises(GraphForgetError, match="cannot hold"):
        balanced_kmeans_assign(dist, n // k - 1)


def test_blpa_dense_and_sparse_counting_agree(monkeypatch):
    import graphforget.partition._algorithms as algorithms

    data = small_graph(200, seed=3)
    dense = make_partitioner("blpa", seed=1).partition(data, 4, nodes="train")
    monkeypatch.setattr(algorithms, "_DENSE_COUNT_LIMIT", 0)
    sparse = make_partitioner("blpa", seed=1).partition(data, 4, nodes="train")
    assert torch.equal(dense.node_shard, sparse.node_shard)
    assert dense.info["moves"] == sparse.info["moves"] and sum(dense.info["moves"]) > 0


def test_bekm_reduces_wide_embeddings():
    data = small_graph(150, num_features=40)
    k = 3
    n = int(data.train_mask.sum())
    rand = BEKMPartitioner(dim=5, delta=0.0).partition(data, k, nodes="train")
    again = BEKMPartitioner(dim=5, delta=0.0).partition(data, k, nodes="train")
    assert rand.info["embedding_dim"] == 5 and torch.equal(rand.node_shard, again.node_shard)
    assert int(rand.sizes().max()) <= capacity(n, k, 0.0)
    pca = BEKMPartitioner(dim=5, projection="pca").partition(data, k, nodes="train")
    assert pca.info["embedding_dim"] == 5 and pca.depends_on == ("features",)
    raw = BEKMPartitioner(dim=None).partition(data, k, nodes="train")
    assert raw.info["embedding_dim"] == 40
    # the random projection is row-wise: projecting every node then slicing equals
    # projecting the partitioned nodes only (what the partitioner does to avoid a copy)
    from graphforget.partition._algorithms import _random_projection

    ids = data.train_mask.nonzero().view(-1)
    assert torch.allclose(_random_projection(data.x, 5, 0)[ids], _random_projection(data.x[ids], 5, 0),
                          atol=1e-5)
    for bad in ({"dim": 0}, {"projection": "svd"}):
        with pytest.raises(GraphForgetError):
            BEKMPartitioner(**bad)
