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
