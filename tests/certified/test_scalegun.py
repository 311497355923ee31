import pytest
import torch

from graphforget.certified.cgu import _clip_rows, propagation_stack
from graphforget.certified.scalegun import LazyPropagation, ScaleGUN
from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.requests import FeatureRequest, NodeRequest, sample_edges, sample_nodes
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
