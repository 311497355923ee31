import pytest
import torch

from graphforget.certified.cgu import _clip_rows, propagation_stack
from graphforget.certified.scalegun import LazyPropagation, ScaleGUN
from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest, sample_edges, sample_nodes
from graphforget.testing import check_unlearner, small_graph

pytestmark = pytest.mark.usefixtures("one_thread")


def test_conformance():
    summary = check_unlearner(lambda: ScaleGUN(sigma=1.0), small_graph())
    assert "noise-changes-model" in summary["checks"]


def _exact(u, K):
    return propagation_stack(u._preprocess(u.data_.x), u.data_.edge_index, K, 1.0)[-1]


@pytest.mark.parametrize("r_max", [0.0, 1e-9, 0.05])
def test_lazy_propagation_within_push_tolerance_after_every_removal(r_max):
    data = small_graph()
    K = 3
    x = torch.randn(data.num_nodes, 5, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True)
    prop = LazyPropagation(x, data.edge_index, K, r_max)
    exact = propagation_stack(x, data.edge_index, K, 1.0)[-1]
    assert float((exact - prop.embedding).norm(dim=1).max()) <= K * r_max + 1e-12
    current, g = data, torch.Generator().manual_seed(0)
    for step in range(6):
        req = sample_edges(current, count=2, seed=step)
        current = req.apply(current)
        node = int(torch.randint(0, data.num_nodes, (1,), generator=g))
        x[node] = 0.0
        before = prop.pushes
        changed, _ = prop.update(torch.stack([torch.minimum(*req.edge_index), torch.maximum(*req.edge_index)]),
                                 torch.tensor([node]), x[[node]])
        exact = propagation_stack(x, current.edge_index, K, 1.0)[-1]
        err = (exact - prop.embedding).norm(dim=1)
        assert float(err.max()) <= K * r_max + 1e-12
        # the update is local: far fewer pushes than nodes, and rows outside `changed` kept
        assert prop.pushes - before < data.num_nodes
    if r_max == 0.05:
        assert float(err.max()) > 0  # the tolerance is used, not exact propagation in disguise


def test_update_touches_only_a_local_region():
    # a long path: removing an edge at one end never reaches the other end
    n = 400
    src = torch.arange(n - 1)
    ei = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    x = torch.ones(n, 2, dtype=torch.float64) / 2 ** 0.5
    x[::7] = 0
    prop = LazyPropagation(x, ei, 3, 1e-12)
    before = prop.pushes
    changed, _ = prop.update(torch.tensor([[0], [1]]), torch.empty(0, dtype=torch.long), torch.empty(0, 2))
    assert int(changed.max()) <= 4 and prop.pushes - before <= 8


def test_certified_bound_covers_exact_residual_on_a_sequence():
    data = small_graph()
    u = ScaleGUN(sigma=2.0, K=2, r_max=1e-6).fit(data)
    assert u.classifier_.cumulative_ >= u.exact_residual_norm()
    reqs = [NodeRequest(sample_nodes(data, count=1, seed=s).node_ids) for s in range(3)]
    reqs += [sample_edges(data, count=2, seed=7), FeatureRequest([2, 9], [0, 4])]
    for req in reqs:
        report = u.unlearn(req)
        assert report.diagnostics["approximation"] > 0
        assert u.ledger_[-1]["cumulative"] >= u.exact_residual_norm()
        exact = _exact(u, 2)
        assert float((exact - u.prop_.embedding).norm(dim=1).max()) <= 2 * 1e-6 + 1e-12
    # the classifier's rows are the approximate embedding's rows of the training nodes
    active = u.classifier_.active_
    z = _clip_rows(u.prop_.embedding[u.train_nodes_])
    assert torch.allclose(u.classifier_.Z_[active], z[active], atol=1e-12)


def test_sigma_changes_model_and_too_large_r_max_is_refused():
    data = small_graph()
    a = ScaleGUN(sigma=1.0).fit(data).parameter_vector()
    b = ScaleGUN(sigma=3.0).fit(data).parameter_vector()
    assert not torch.allclose(a, b)
    with pytest.raises(GraphForgetError, match="r_max"):
        ScaleGUN(sigma=0.1, r_max=0.1).fit(data)
    with pytest.raises(UnsupportedRequestError):
        ScaleGUN(model="gpr")
    with pytest.raises(GraphForgetError):
        ScaleGUN(r_max=-1.0)


def _same_data(a, b):
    keys = lambda d: set((d.edge_index[0] * d.num_nodes + d.edge_index[1]).tolist())  # noqa: E731
    assert keys(a) == keys(b)
    for key in ("x", "train_mask", "test_mask", "forgotten_mask"):
        assert torch.equal(a[key], b[key]), key


def test_graph_copy_is_deferred_and_equals_eager_application():
    data = small_graph()
    u = ScaleGUN(sigma=2.0, r_max=1e-9).fit(data)
    stored = u.__dict__["_data"]
    reqs = [NodeRequest(sample_nodes(data, count=2, seed=1).node_ids)]
    eager = reqs[0].apply(data)
    reqs.append(sample_edges(eager, count=3, seed=2))
    eager = reqs[1].apply(eager)
    reqs.append(NodeRequest(sample_nodes(eager, count=1, seed=3).node_ids))
    eager = reqs[2].apply(eager)
    for req in reqs:
        u.unlearn(req)
        assert u.__dict__["_data"] is stored  # no copy of the graph per request
    assert len(u.__dict__["_pending"]) == 3
    _same_data(u.data_, eager)  # read: all three applied at once
    assert not u.__dict__["_pending"] and u.__dict__["_data"] is not stored
    # the model is the one an eager run reaches (the same pushes and Newton steps)
    v = ScaleGUN(sigma=2.0, r_max=1e-9).fit(data)
    for req in reqs:
        v.unlearn(req)
        v.data_  # noqa: B018  materialise after every request
    assert torch.allclose(u.classifier_.W_, v.classifier_.W_, atol=0, rtol=0)
    # a feature request (served with the retained graph) first brings the graph up to date
    u.unlearn(FeatureRequest([int(eager.train_mask.nonzero()[0])], [0]))
    assert not u.__dict__["_pending"]


def test_deferred_requests_are_validated_against_the_pending_ones():
    data = small_graph()
    u = ScaleGUN(sigma=2.0).fit(data)
    node = int(data.train_mask.nonzero()[0])
    u.unlearn(NodeRequest([node]))
    edge = sample_edges(u.data_, count=1, seed=0)
    u.unlearn(edge)
    W, pending = u.classifier_.W_.clone(), len(u.__dict__["_pending"])
    with pytest.raises(ValueError, match=rf"nodes already forgotten: \[{node}\]"):
        u.unlearn(NodeRequest([node]))
    with pytest.raises(ValueError, match="do not exist in the graph"):
        u.unlearn(edge)
    nb = int(data.edge_index[1][data.edge_index[0] == node][0])
    with pytest.raises(ValueError, match="do not exist in the graph"):
        u.unlearn(EdgeRequest([[node], [nb]]))  # an edge of a forgotten node
    with pytest.raises(ValueError, match="out of range"):
        u.unlearn(NodeRequest([data.num_nodes]))
    assert torch.equal(u.classifier_.W_, W) and len(u.__dict__["_pending"]) == pending
    assert len(u.history_) == 2


def test_row_sparse_matches_a_dense_matrix():
    from graphforget.certified.scalegun import RowSparse

    g = torch.Generator().manual_seed(0)
    dense = torch.zeros(9, 3, dtype=torch.float64)
    dense[[2, 5]] = torch.randn(2, 3, generator=g, dtype=torch.float64)
    m = RowSparse.from_dense(dense)
    assert m.values.size(0) == 2 and m.size() == torch.Size([9, 3])  # only the nonzero rows stored
    idx = torch.tensor([7, 2, 7])  # a new row, a stored one, a repeat
    vals = torch.randn(3, 3, generator=g, dtype=torch.float64)
    m.index_add_(0, idx, vals)
    dense.index_add_(0, idx, vals)
    m[torch.tensor([5])] = 0
    dense[5] = 0
    assert torch.equal(m[torch.arange(9)], dense) and torch.equal(m.dense(), dense)
    back = RowSparse.from_state(m.state())
    assert torch.equal(back.dense(), dense) and torch.equal(back.nodes, m.nodes)
