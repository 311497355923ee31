import pytest
import torch

from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.exact.projector import Projector
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    NodeRequest,
    sample_edges,
    sample_features,
    sample_nodes,
)
from graphforget.testing import check_unlearner, small_graph

pytestmark = pytest.mark.usefixtures("one_thread")


def test_conformance_exact_against_fresh_fit():
    summary = check_unlearner(lambda: Projector(K=2), small_graph(), exact_atol=1e-9)
    assert "exact-equals-reference" in summary["checks"]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_equals_closed_form_retrain_after_every_request(alpha):
    data = small_graph()
    u = Projector(K=2, alpha=alpha, lam=0.5).fit(data)
    requests = [sample_nodes(data, count=2, seed=1), sample_edges(data, count=4, seed=2),
                sample_features(data, count=2, seed=3), FeatureRequest([5, 7], [0, 3])]
    for req in requests:
        if req.kind == "node":
            req = NodeRequest(req.node_ids)
        u.unlearn(req)
        assert torch.allclose(u.W_, u.closed_form(), atol=1e-10, rtol=0)
    for i in range(5):  # a sequence of single removals
        u.unlearn(NodeRequest(sample_nodes(u.data_, count=1, seed=10 + i).node_ids))
        assert torch.allclose(u.W_, u.closed_form(), atol=1e-10, rtol=0)
    # the forgotten rows are gone from the model: a fresh fit on the retained graph agrees
    ref = u.reference().fit(u.data_)
    assert torch.allclose(ref.W_, u.W_, atol=1e-10, rtol=0)
    assert torch.equal(ref.predict(), u.predict())


def test_projection_removes_the_forgotten_rows_component():
    # K=0 (no graph): the update is a pure projection; the model trained with the row
    # and then projected equals the model that never saw it, and differs from before
    data = small_graph()
    u = Projector(K=0).fit(data)
    before = u.W_.clone()
    node = int(data.train_mask.nonzero()[0])
    report = u.unlearn(NodeRequest([node]))
    assert report.affected["rank"] == 1 and report.affected["removed_rows"] == 1
    assert not torch.allclose(before, u.W_)
    assert torch.allclose(u.W_, u.closed_form(), atol=1e-12, rtol=0)


def test_parameters_validated():
    with pytest.raises(GraphForgetError):
        Projector(lam=0.0)
    with pytest.raises(GraphForgetError):
        Projector(K=-1)
    assert issubclass(UnsupportedRequestError, GraphForgetError)
    assert Projector.supports(EdgeRequest) and Projector.supports(FeatureRequest)


def test_large_request_resolves_and_stays_exact():
    data = small_graph()
    u = Projector(K=2).fit(data)
    report = u.unlearn(sample_nodes(data, count=30, seed=4))
    assert report.diagnostics["update"] == "resolve"
    assert torch.allclose(u.W_, u.closed_form(), atol=1e-10, rtol=0)
    v = Projector(K=0).fit(data)  # no propagation: one forgotten feature row is a rank-2 update
    small = v.unlearn(FeatureRequest([int(data.train_mask.nonzero()[3])], [1]))
    assert small.diagnostics["update"] == "woodbury"
    assert torch.allclose(v.W_, v.closed_form(), atol=1e-12, rtol=0)


@pytest.mark.parametrize("max_pending", [0, 8, 1024])
def test_low_rank_form_stays_exact_and_folds(max_pending):
    # the inverse Gram matrix is kept as M_0 - U C^-1 U^T across requests; folding it into a
    # fresh factorisation (max_pending reached) changes nothing but the bookkeeping
    data = small_graph()
    u = Projector(K=1, lam=0.5, max_pending=max_pending).fit(data)
    methods, pending = [], []
    for i in range(8):
        r = u.unlearn(NodeRequest(sample_nodes(u.data_, count=1, seed=20 + i).node_ids))
        methods.append(r.diagnostics["update"])
        pending.append(r.affected["pending_rank"])
        assert torch.allclose(u.W_, u.closed_form(), atol=1e-10, rtol=0)
        assert pending[-1] <= max(max_pending, 0) or methods[-1] == "resolve"
        if pending[-1] == 0:  # nothing pending: M_ is the inverse of the current Gram matrix
            Z = u._rows(u.stack_[-1][u.data_.train_mask])
            gram = Z.T @ Z + 0.5 * torch.eye(Z.size(1), dtype=torch.float64)
            assert torch.allclose(u.M_ @ gram, torch.eye(Z.size(1), dtype=torch.float64), atol=1e-9)
    if max_pending == 0:  # every request folded at once: nothing ever pending
        assert "fold" in methods and "woodbury" not in methods and set(pending) == {0}
    else:
        assert "woodbury" in methods and max(pending) > 0
    # a mid-stream state carries the pending update: the loaded model continues identically
    state = u._get_state()
    v = Projector(K=1, lam=0.5, max_pending=max_pending).fit(data)
    v._set_state(state)
    v.data_ = u.data_
    req = NodeRequest(sample_nodes(u.data_, count=1, seed=99).node_ids)
    u.unlearn(req)
    v.unlearn(req)
    assert torch.equal(u.W_, v.W_)


def test_pending_form_folds_into_the_inverse_without_a_resolve():
    # K=0: a forgotten training node is a rank-1 update; past max_pending the pending form is
    # folded into M_0 (O(d^2 R)) instead of re-solving from the rows, and stays exact
    data = small_graph()
    u = Projector(K=0, lam=0.5, max_pending=3).fit(data)
    methods = []
    for v in data.train_mask.nonzero().view(-1)[:9].tolist():
        r = u.unlearn(NodeRequest([v]))
        methods.append(r.diagnostics["update"])
        assert torch.allclose(u.W_, u.closed_form(), atol=1e-10, rtol=0)
    assert "fold" in methods and "resolve" not in methods and methods[0] == "woodbury"
    Z = u._rows(u.stack_[-1][u.data_.train_mask])
    gram = Z.T @ Z + 0.5 * torch.eye(Z.size(1), dtype=torch.float64)
    M = u.M_ - u.U_ @ torch.linalg.solve(u.core_, u.U_.T) if u.U_.numel() else u.M_
    assert torch.allclose(M @ gram, torch.eye(Z.size(1), dtype=torch.float64), atol=1e-9)


def test_max_pending_validated():
    with pytest.raises(GraphForgetError, match="max_pending"):
        Projector(max_pending=-1)
