import torch

from graphforget.approx.utu import UtU
from graphforget.link import sample_link_edges, small_link_graph
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import forward

torch.set_num_threads(1)


def test_conformance_link_and_node():
    check_unlearner(lambda: UtU(epochs=15, hidden_channels=16), small_link_graph())
    # UtU keeps the original parameters by design (it only unlinks): check 9 does not apply
    check_unlearner(lambda: UtU(epochs=15, hidden_channels=16), small_graph(), check_fidelity=False)


def test_parameters_unchanged_and_edges_unlinked():
    data = small_link_graph()
    u = UtU(epochs=15, hidden_channels=16).fit(data)
    params = u.parameter_vector().clone()
    req = sample_link_edges(data, count=5, seed=0)
    full = u.predict_logits()
    u.unlearn(req)
    assert torch.equal(u.parameter_vector(), params)
    with torch.no_grad():
        expected = forward(u.model_, req.apply(data))
    assert torch.equal(u.predict_logits(), expected)
    assert not torch.equal(u.predict_logits(), full)  # inference really lost the edges
