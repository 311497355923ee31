import pytest
import torch

from graphforget.approx import MEGU, high_influence_neighbours
from graphforget.errors import GraphForgetError
from graphforget.exact.retrain import Retrain
from graphforget.requests import sample_nodes
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import forward

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

COMMON = dict(epochs=100, hidden_channels=16)


def _probs(model, data):
    model.eval()
    with torch.no_grad():
        return torch.softmax(forward(model, data), dim=-1)


def test_conformance():
    check_unlearner(lambda: MEGU(epochs=30, hidden_channels=16, unlearn_epochs=10), small_graph())


def test_moves_toward_retraining():
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=12, seed=1)
    ref = _probs(Retrain(**COMMON).fit(request.apply(data)).model_, data)
    u = MEGU(**COMMON).fit(data)
    original = u.parameter_vector().clone()
    before = _probs(u.model_, data)
    acc = u.score()
    report = u.unlearn(request)
    after = _probs(u.model_, data)
    ids = request.node_ids
    # not a no-op: the parameters and the forgotten nodes' outputs changed
    assert not torch.equal(u.parameter_vector(), original)
    assert float((after[ids] - before[ids]).abs().max()) > 1e-3
    # the outputs on the forgotten nodes are closer to the retrained model's than before
    d_before = (before[ids] - ref[ids]).norm(dim=1).mean()
    d_after = (after[ids] - ref[ids]).norm(dim=1).mean()
    assert d_after < d_before, (float(d_before), float(d_after))
    assert u.score() >= acc - 0.05
    assert report.affected["neighbours"] > 0


def test_neighbour_selection_prefers_influenced_nodes():
    # path 0-1-2-3-4 plus an isolated far node 5; forgetting node 0's features
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    keep = torch.ones(6, dtype=torch.bool)
    chosen, _ = high_influence_neighbours(x, ei, torch.tensor([0]), 2, keep)
    assert set(chosen.tolist()) <= {1, 2}  # within 2 hops, target excluded
    assert 1 in chosen.tolist()  # the direct neighbour is the most influenced
    keep[1] = False
    chosen, _ = high_influence_neighbours(x, ei, torch.tensor([0]), 2, keep)
    assert 1 not in chosen.tolist()


def test_errors():
    with pytest.raises(GraphForgetError, match="kappa"):
        MEGU(kappa=-1.0).fit(small_graph())
    with pytest.raises(GraphForgetError, match="unlearn_epochs"):
        MEGU(unlearn_epochs=0).fit(small_graph())
