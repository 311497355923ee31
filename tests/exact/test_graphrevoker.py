import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.exact import ContrastiveAggregator, GraphEraser, GraphRevoker, make_aggregator
from graphforget.partition import PropertyAwarePartitioner, make_partitioner, property_losses
from graphforget.requests import EdgeRequest, NodeRequest, sample_nodes
from graphforget.testing import check_unlearner, small_graph

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

FAST = dict(epochs=10, hidden_channels=16, shards=3, aggregator_kwargs={"epochs": 30},
            partition_kwargs={"epochs": 60})


@pytest.fixture(scope="module")
def data():
    return small_graph(150)


def _states(u):
    return [None if m is None else {k: v.clone() for k, v in m.state_dict().items()} for m in u.models_]


def _same(a, b):
    return a is None and b is None or (a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a))


def test_conformance():
    check_unlearner(lambda: GraphRevoker(**FAST), small_graph())


def test_request_equals_refitting_the_affected_shards(data):
    u = GraphRevoker(**FAST).fit(data)
    before = _states(u)
    victim = int((u.partition_.node_shard == 1).nonzero()[0])
    report = u.unlearn(NodeRequest([victim]))
    assert report.affected["shards"] == [1]  # a training node lies in one shard's graph
    after = _states(u)
    assert _same(before[0], after[0]) and _same(before[2], after[2])
    assert not _same(before[1], after[1])
    assert report.diagnostics["aggregator_refit"] == "shard models changed"
    ref = u.reference().fit(NodeRequest([victim]).apply(data))
    for a, b in zip(after, _states(ref), strict=True):
        assert _same(a, b)
    assert torch.equal(u.predict_logits(), ref.predict_logits())


def test_edge_among_validation_nodes_refits_the_aggregator_exactly(data):
    u = GraphRevoker(**dict(FAST, setting="inductive")).fit(data)
    val = data.val_mask
    ei = data.edge_index
    both = (val[ei[0]] & val[ei[1]]).nonzero().view(-1)
    edge = ei[:, both[:1]].t().tolist()
    report = u.unlearn(EdgeRequest(edge))
    assert report.affected["shards"] == []  # inductive shards never saw evaluation nodes
    assert report.diagnostics["aggregator_refit"] is not None
    ref = u.reference().fit(EdgeRequest(edge).apply(data))
    assert torch.equal(u.predict_logits(), ref.predict_logits())


def test_differs_from_grapheraser_in_partition_and_aggregation(data):
    rev = GraphRevoker(**FAST).fit(data)
    era = GraphEraser(epochs=10, hidden_channels=16, shards=3).fit(data)
    # partition: a different algorithm and a different assignment of the same nodes
    assert rev.partition_.method == "property-aware" and era.partition_.method == "blpa"
    assert not torch.equal(rev.partition_.node_shard, era.partition_.node_shard)
    # aggregation: a learned, node-adaptive network instead of GraphEraser's fixed mean
    assert isinstance(rev.aggregator_, ContrastiveAggregator)
    log_probs = rev._shard_log_probs(rev.data_)
    mean = make_aggregator("mean").combine(log_probs)
    assert not torch.allclose(rev.aggregator_.combine(log_probs), mean, atol=1e-3)
    weights = rev.aggregator_.attention(log_probs)
    assert torch.allclose(weights.sum(1), torch.ones(weights.size(0)), atol=1e-5)
    assert float(weights.std(0).max()) > 0  # node-specific shard weights


def test_property_aware_sharding_keeps_structure_and_labels(data):
    kw = dict(nodes="train")
    rand = make_partitioner("random").partition(data, 3, **kw).stats(data)
    part = make_partitioner("property-aware", epochs=150).partition(data, 3, **kw)
    stats = part.stats(data)
    assert stats["cut_edge_ratio"] < 0.75 * rand["cut_edge_ratio"]
    assert stats["max_size"] - stats["min_size"] <= 0.1 * stats["num_assigned"]
    assert stats["label_fairness"] < 0.25
    assert set(part.depends_on) == {"edges", "features", "labels"}
    # the semantic term: "match" keeps label histograms closer to the global one than "entropy"
    ent = make_partitioner("property-aware", epochs=150, semantic="entropy",
                           semantic_weight=5.0).partition(data, 3, **kw).stats(data)
    assert stats["label_fairness"] < ent["label_fairness"]


def test_property_losses_on_a_toy_graph():
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # two components {0,1}, {2,3}
    y = torch.nn.functional.one_hot(torch.tensor([0, 0, 1, 1])).float()
    split = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    cross = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    a, b = property_losses(split, ei, y), property_losses(cross, ei, y)
    assert float(a["cut"]) == 0.0 and float(b["cut"]) > 0.5
    assert float(a["semantic"]) > float(b["semantic"])  # components are label-pure
    assert float(a["balance"]) == 0.0 == float(b["balance"])


def test_errors(data):
    with pytest.raises(GraphForgetError, match="semantic"):
        PropertyAwarePartitioner(semantic="purity")
    with pytest.raises(GraphForgetError, match="epochs"):
        ContrastiveAggregator(epochs=-1)
    empty = data.clone()
    empty.val_mask = torch.zeros_like(data.val_mask)
    with pytest.raises(GraphForgetError, match="val_mask is empty"):
        GraphRevoker(**FAST).fit(empty)
    u = GraphRevoker(**FAST).fit(data)
    with pytest.raises(GraphForgetError, match="shards"):
        u.aggregator_.combine(torch.zeros(5, 3, 3))
    request = sample_nodes(data, count=2, seed=0)
    u.unlearn(request)
    with pytest.raises(ValueError):
        u.unlearn(request)


def test_aggregator_on_training_nodes_stays_exact():
    data = small_graph(150)
    data.val_mask = torch.zeros_like(data.val_mask)  # an 80/20-style split without validation nodes
    u = GraphRevoker(**dict(FAST, aggregator_nodes="train")).fit(data)
    request = sample_nodes(data, count=3, seed=4)
    report = u.unlearn(request)
    assert report.diagnostics["aggregator_refit"] is not None
    ref = u.reference().fit(request.apply(data))
    assert torch.equal(u.predict_logits(), ref.predict_logits())
    with pytest.raises(GraphForgetError, match="aggregator_nodes"):
        GraphRevoker(**dict(FAST, aggregator_nodes="test")).fit(data)
