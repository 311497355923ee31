import pytest
import torch
import torch.nn.functional as F

from graphforget.approx.gradient_ascent import GradientAscent
from graphforget.errors import GraphForgetError
from graphforget.link import df_metrics, sample_link_edges, small_link_graph
from graphforget.requests import EdgeRequest, NodeRequest, sample_nodes
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import forward

torch.set_num_threads(1)


def test_conformance_link_and_node():
    check_unlearner(lambda: GradientAscent(epochs=15, hidden_channels=16), small_link_graph())
    check_unlearner(lambda: GradientAscent(epochs=15, hidden_channels=16, retain_weight=1.0),
                    small_graph())


def test_link_ascent_lowers_scores_of_forgotten_edges():
    data = small_link_graph(num_nodes=200)
    req = sample_link_edges(data, count=10, seed=1)
    u = GradientAscent(epochs=60, hidden_channels=16, unlearn_epochs=20, unlearn_lr=5e-3).fit(data)
    before = df_metrics(u, req.edge_index, 200)["auc"]
    u.unlearn(req)
    after = df_metrics(u, req.edge_index, 200)["auc"]
    assert after > before  # forgotten edges now score below retained ones more often


def test_node_ascent_raises_forgotten_loss_and_retain_term_changes_it():
    data = small_graph()
    req = sample_nodes(data, count=5, seed=2)
    losses, params = [], []
    for beta in (0.0, 1.0):
        u = GradientAscent(epochs=40, hidden_channels=16, unlearn_epochs=10, retain_weight=beta).fit(data)
        with torch.no_grad():
            start = F.cross_entropy(forward(u.model_, data)[req.node_ids], data.y[req.node_ids])
        u.unlearn(req)
        with torch.no_grad():
            losses.append(float(F.cross_entropy(forward(u.model_, data)[req.node_ids],
                                                data.y[req.node_ids]) - start))
        params.append(u.parameter_vector())
    assert losses[0] > 0
    assert not torch.equal(params[0], params[1])


def test_edge_request_on_node_task_and_bad_input():
    data = small_graph()
    u = GradientAscent(epochs=10, hidden_channels=8, unlearn_epochs=2).fit(data)
    ei = data.edge_index[:, data.edge_index[0] < data.edge_index[1]][:, :3]
    before = u.parameter_vector().clone()
    u.unlearn(EdgeRequest(ei))
    assert not torch.equal(before, u.parameter_vector())  # the ascent moved the model
    kept = {tuple(e) for e in u.inference_data().edge_index.t().tolist()}
    assert all((a, b) not in kept and (b, a) not in kept for a, b in ei.t().tolist())
    with pytest.raises(GraphForgetError, match="unlearn_lr"):
        GradientAscent(unlearn_lr=0.0, epochs=1).fit(data)
    test_only = (~data.train_mask).nonzero().view(-1)[:2]
    state = u.fingerprint()
    with pytest.raises(GraphForgetError, match="no training node"):
        u.unlearn(NodeRequest(test_only))
    assert u.fingerprint() == state
