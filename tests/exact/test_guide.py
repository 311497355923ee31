"""GUIDE: guided partition (GPI, Fast, SR), subgraph repair, similarity aggregation."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import to_undirected

from graphforget.exact import GUIDE
from graphforget.exact.guide import (
    pyramid_match,
    pyramid_match_features,
    repaired_shard_graph,
    train_guide_shard_job,
)
from graphforget.partition import GUIDEPartitioner, gpi, polar
from graphforget.partition._guide import _Operator
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest
from graphforget.testing import check_unlearner, small_graph

FAST = dict(shards=3, epochs=15, hidden_channels=16)


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


@pytest.fixture(scope="module")
def graph():
    return small_graph(num_nodes=150)


def _operator(data, beta=1.0):
    ei = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return _Operator(ei, int(data.num_nodes), data.y, 1.0, beta)


def test_polar_uses_the_right_svd_convention():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(30, 4, generator=g, dtype=torch.float64)
    q = polar(m)
    assert torch.allclose(q.t() @ q, torch.eye(4, dtype=torch.float64), atol=1e-12)
    # the polar factor maximises tr(Q^T M) over orthonormal Q: beats random ones and the
    # official notebooks' U @ Vh.T
    u, _, vh = torch.linalg.svd(m, full_matrices=False)
    wrong = u @ vh.t()
    best = float((q * m).sum())
    assert best > float((wrong * m).sum()) + 1e-6
    for _ in range(20):
        r = torch.linalg.qr(torch.randn(30, 4, generator=g, dtype=torch.float64)).Q
        assert best >= float((r * m).sum())


def test_gpi_is_orthonormal_and_monotone(graph):
    op = _operator(graph)
    g = torch.Generator().manual_seed(1)
    h0 = torch.linalg.qr(torch.randn(graph.num_nodes, 3, generator=g, dtype=torch.float64)).Q
    start = op.objective(h0)
    h, trace = gpi(op, h0, max_iter=50, tol=0.0)
    assert torch.allclose(h.t() @ h, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert trace[0] >= start - 1e-9
    diffs = torch.tensor(trace).diff()
    assert bool((diffs >= -1e-9).all()), "GPI must never decrease the objective"
    assert trace[-1] > start


@pytest.mark.parametrize("method", ["fast", "sr"])
def test_guided_partition_is_balanced(graph, method):
    part = GUIDEPartitioner(method=method, seed=0).partition(graph, 3, nodes="train")
    sizes = part.sizes()
    assert int(sizes.sum()) == int(graph.train_mask.sum())
    assert int(sizes.max() - sizes.min()) <= 1
    assert part.info["orthogonality_error"] < 1e-8
    assert (part.node_shard[~graph.train_mask] == -1).all()  # evaluation nodes stay unseen
    if method == "sr":
        # a working stopping rule: stops when no node moves, before the iteration cap
        assert part.info["sr_moves"][-1] == 0 or part.info["sr_iterations"] == 20
        assert part.info["sr_iterations"] >= 1


def test_partition_keeps_edges_inside_and_fairness_knob_works(graph):
    rnd = torch.empty(0)
    from graphforget.partition import make_partitioner

    rnd = make_partitioner("random", seed=0).partition(graph, 3, nodes="train").stats(graph)
    fast = GUIDEPartitioner(beta=0.0, seed=0).partition(graph, 3, nodes="train").stats(graph)
    fair = GUIDEPartitioner(beta=20.0, seed=0).partition(graph, 3, nodes="train").stats(graph)
    assert fast["cut_edge_ratio"] < rnd["cut_edge_ratio"]
    assert fair["label_fairness"] < fast["label_fairness"]


def test_fairness_term_is_the_chi_square_of_the_shard_label_table(graph):
    # J(F; beta=1) - J(F; beta=0) = k - chi2 / n for the scaled indicator F of any partition
    ei = to_undirected(graph.edge_index, num_nodes=graph.num_nodes)
    n, k = int(graph.num_nodes), 4
    assign = torch.randperm(n, generator=torch.Generator().manual_seed(0)) % k
    f = torch.zeros(n, k, dtype=torch.float64)
    sizes = torch.bincount(assign, minlength=k).double()
    f[torch.arange(n), assign] = sizes[assign].rsqrt()
    with_fairness = _Operator(ei, n, graph.y, 0.0, 1.0).objective(f)
    without = _Operator(ei, n, graph.y, 0.0, 0.0).objective(f)
    table = torch.zeros(k, int(graph.y.max()) + 1, dtype=torch.float64)
    table.index_put_((assign, graph.y), torch.ones(n, dtype=torch.float64), accumulate=True)
    expected = table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    assert chi2 > 0
    assert (k - (with_fairness - without)) * n == pytest.approx(chi2, rel=1e-9)


def test_isolated_nodes_fill_small_shards(graph):
    data = graph.clone()
    isolated = torch.tensor([int(i) for i in graph.train_mask.nonzero().view(-1)[:12]])
    hit = torch.isin(data.edge_index, isolated).any(0)
    data.edge_index = data.edge_index[:, ~hit]
    part = GUIDEPartitioner(seed=0).partition(data, 3, nodes="train")
    assert part.info["isolated"] >= 12
    sizes = part.sizes()
    assert int(sizes.max() - sizes.min()) <= 1


def test_pyramid_match_kernel(graph):
    a = pyramid_match_features(graph.edge_index, graph.num_nodes)
    ring = torch.stack([torch.arange(40), (torch.arange(40) + 1) % 40])
    b = pyramid_match_features(to_undirected(ring), 40)
    assert pyramid_match(a, a) == pytest.approx(1.0)
    assert pyramid_match(a, b) == pytest.approx(pyramid_match(b, a))
    assert 0.0 < pyramid_match(a, b) < 1.0


def test_repair_adds_virtual_nodes_outside_the_loss(graph):
    u = GUIDE(repair="mirror", **FAST).fit(graph)
    for s in range(3):
        spec = u._spec(u.data_, s)
        view = u.shard_graph(s)
        n0, m = int(spec["nodes"].numel()), int(spec["boundary"].size(1))
        assert view.num_nodes == n0 + m and m > 0
        assert int(view.train_mask.sum()) == n0  # virtual nodes carry no loss
        local = torch.searchsorted(spec["nodes"], spec["boundary"][0])
        assert torch.equal(view.x[n0:], view.x[local])  # mirror: copies of the inner endpoint
    zero = repaired_shard_graph(u.data_, spec["nodes"], spec["boundary"], "zero")
    assert bool((zero.x[n0:] == 0).all())
    none = repaired_shard_graph(u.data_, spec["nodes"], spec["boundary"], "none")
    assert none.num_nodes == n0


def _cross_shard_node(u):
    data, shard = u.data_, u.partition_.node_shard
    train = data.train_mask
    ei = data.edge_index
    cut = train[ei[0]] & train[ei[1]] & (shard[ei[0]] != shard[ei[1]])
    v, w = int(ei[0, cut][0]), int(ei[1, cut][0])
    return v, w


def test_forgetting_a_node_retrains_neighbour_shards_with_repair(graph):
    u = GUIDE(repair="mixup", **FAST).fit(graph)
    v, w = _cross_shard_node(u)
    sv, sw = int(u.partition_.node_shard[v]), int(u.partition_.node_shard[w])
    report = u.unlearn(NodeRequest([v]))
    assert sv in report.affected["shards"] and sw in report.affected["shards"]
    assert sw in report.diagnostics["kernel_recomputed_shards"]
    # every retrained shard equals a fresh training on its retained (repaired) shard data
    for s in report.affected["shards"]:
        fresh = train_guide_shard_job(u.data_, u._spec(u.data_, s))[0]
        state = u.checkpoints_[s][-1]["state"]
        assert all(torch.equal(fresh[k], state[k]) for k in state)

    plain = GUIDE(repair="none", **FAST).fit(graph)
    report = plain.unlearn(NodeRequest([v]))
    assert report.affected["shards"] == [sv]


def test_edge_and_feature_requests(graph):
    u = GUIDE(repair="zero", **FAST).fit(graph)
    v, w = _cross_shard_node(u)
    sv, sw = int(u.partition_.node_shard[v]), int(u.partition_.node_shard[w])
    report = u.unlearn(EdgeRequest([[v], [w]]))
    assert sorted(report.affected["shards"]) == sorted({sv, sw})
    report = u.unlearn(FeatureRequest([v]))
    assert report.affected["shards"] == [sv]  # virtual features never read another shard


def test_inductive_evaluation_graph_is_unseen(graph):
    u = GUIDE(**FAST).fit(graph)
    assert u.partition_.inductive
    ev = u.evaluation_graph(u.data_)
    assert not bool(torch.isin(ev.edge_index, graph.train_mask.nonzero().view(-1)).any())
    w = u.similarity_weights()
    assert w.numel() == 3 and float(w.sum()) == pytest.approx(1.0) and bool((w > 0).all())
    assert u.score() > 0.5


def test_full_inference_reads_the_retained_graph(graph):
    u = GUIDE(inference="full", **FAST).fit(graph)
    view = u.inference_graph(u.data_)
    assert torch.equal(view.edge_index, graph.edge_index)  # training edges kept for inference
    ev = GUIDE(**FAST).fit(graph)
    # same shard models (inference only changes the prediction graph), other predictions
    assert torch.equal(u.parameter_vector(), ev.parameter_vector())
    assert not torch.equal(u.predict_logits(), ev.predict_logits())
    assert u.score() > 0.5
    v, _ = _cross_shard_node(u)
    u.unlearn(NodeRequest([v]))
    view = u.inference_graph(u.data_)
    assert not bool((view.edge_index == v).any())  # the forgotten node left the graph
    w = u.similarity_weights()
    assert float(w.sum()) == pytest.approx(1.0)


def test_conformance_guide(graph):
    summary = check_unlearner(lambda: GUIDE(**FAST), graph)
    assert "exact-equals-reference" in summary["checks"]


def test_conformance_guide_sr_zero(graph):
    summary = check_unlearner(lambda: GUIDE(partition="sr", repair="zero", aggregator="mean",
                                            inference="full", **FAST),
                              graph)
    assert "exact-equals-reference" in summary["checks"]


def test_bad_parameters_raise(graph):
    for kwargs in ({"repair": "copy"}, {"partition": "blpa"}, {"setting": "transductive"},
                   {"aggregator": "learned"}, {"kernel_dim": 0}, {"inference": "test"}):
        with pytest.raises(ValueError):
            GUIDE(**{**FAST, **kwargs}).fit(graph)
