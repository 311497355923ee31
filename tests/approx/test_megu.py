import pytest
import torch

from graphforget.approx import MEGU, high_influence_neighbours
from graphforget.errors import GraphForgetError
from graphforget.requests import sample_nodes
from graphforget.testing import check_moves_toward_retrain, check_unlearner, small_graph
from graphforget.training import forward

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

COMMON = dict(epochs=100, hidden_channels=16)


def _probs(model, data):
    model.eval()
    with torch.no_grad():
        return torch.softmax(forward(model, data), dim=-1)


def test_conformance():
    check_unlearner(lambda: MEGU(epochs=30, hidden_channels=16, unlearn_epochs=10), small_graph())


def test_update_moves_the_model_and_keeps_utility():
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=12, seed=1)
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
    assert u.score() >= acc - 0.05
    assert report.affected["neighbours"] > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_defaults_move_toward_retraining(seed):
    # check 9's fixture (forgotten training labels set to class 0) at the default update
    # (SGD, 30 steps, no dropout): a no-op (ratio 1) or an overshoot fails
    r = check_moves_toward_retrain(lambda: MEGU(epochs=30, hidden_channels=16), small_graph(), seed=seed)
    assert r["fidelity_ratio"] < 0.95, r


def test_adam_is_still_available_and_the_optimizer_is_checked():
    data = small_graph()
    request = sample_nodes(data, count=6, seed=0)
    a = MEGU(epochs=20, hidden_channels=8, unlearn_epochs=3).fit(data)
    b = MEGU(epochs=20, hidden_channels=8, unlearn_epochs=3, optimizer="adam").fit(data)
    a.unlearn(request)
    b.unlearn(request)
    assert not torch.equal(a.parameter_vector(), b.parameter_vector())
    with pytest.raises(GraphForgetError, match="optimizer must be one of"):
        MEGU(optimizer="rmsprop").fit(data)
    with pytest.raises(GraphForgetError, match="unlearn_dropout"):
        MEGU(unlearn_dropout=1).fit(data)


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
