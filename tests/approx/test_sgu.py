import pytest
import torch
from torch_geometric.data import Data

from graphforget.approx import SGU, node_influence
from graphforget.errors import GraphForgetError
from graphforget.exact.retrain import Retrain
from graphforget.requests import NodeRequest, sample_nodes
from graphforget.testing import check_moves_toward_retrain, check_unlearner, small_graph
from graphforget.training import forward

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

COMMON = dict(epochs=100, hidden_channels=16)


def _probs(model, data):
    model.eval()
    with torch.no_grad():
        return torch.softmax(forward(model, data), dim=-1)


def test_conformance():
    check_unlearner(lambda: SGU(epochs=30, hidden_channels=16, unlearn_epochs=10), small_graph())


def test_influence_follows_the_graph():
    # path 0-1-2-3-4-5-6-7: forgetting node 0 influences 1 most, then 2, ...
    pairs = [(i, i + 1) for i in range(7)]
    ei = torch.tensor(pairs).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    x = torch.ones(8, 2)
    soft = torch.full((8, 2), 0.5)
    score = node_influence(x, ei, soft, torch.tensor([0]), hops=2, similarity_weight=0.0)
    assert score[1] > score[2] > score[3] == 0 == score[7]


def test_selects_the_most_influenced_nodes_within_budget():
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=6, seed=2)
    u = SGU(**COMMON, budget=15).fit(data)
    retained = request.apply(data)
    active, score = u.activate(request, data, retained)
    assert active.numel() == 15
    assert not bool(retained.forgotten_mask[active].any())
    eligible = ~retained.forgotten_mask
    assert float(score[active].min()) >= float(score[eligible & ~torch.isin(torch.arange(200), active)].max())
    # the forgotten nodes' direct neighbours dominate the ranking
    ei = data.edge_index
    hit = torch.isin(ei[0], request.node_ids)
    neighbours = set(ei[1, hit].tolist()) - set(request.node_ids.tolist())
    assert len(neighbours & set(active.tolist())) >= min(len(neighbours), 15) // 2
    assert u.budget_count(200) == 15 and SGU(budget=0.1).budget_count(200) == 20


def test_update_moves_toward_retraining():
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=12, seed=1)
    ref = _probs(Retrain(**COMMON).fit(request.apply(data)).model_, data)
    u = SGU(**COMMON).fit(data)
    original = u.parameter_vector().clone()
    before = _probs(u.model_, data)
    acc = u.score(request.apply(data))
    report = u.unlearn(request)
    after = _probs(u.model_, data)
    ids = request.node_ids
    assert not torch.equal(u.parameter_vector(), original)
    assert (after[ids] - ref[ids]).norm(dim=1).mean() < (before[ids] - ref[ids]).norm(dim=1).mean()
    assert u.score() >= acc - 0.05
    assert report.affected["activated"] == 20


def test_self_distillation_alone_is_a_fixed_point():
    # with the prototype, forget and proximal terms off, SGU only distils the original model
    # on the activated nodes: the update must not move it (it did when the steps ran with
    # dropout against the original's dropout-free outputs: max change 0.064 here, fidelity
    # ratio 1.45 on Cora; without dropout only Adam's normalised float noise is left, 0.002)
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=12, seed=1)
    u = SGU(**COMMON, proto_weight=0.0, forget_weight=0.0, proximal=0.0).fit(data)
    before = _probs(u.model_, data)
    u.unlearn(request)
    assert float((_probs(u.model_, data) - before).abs().max()) < 0.01


@pytest.mark.parametrize("seed", [0, 1])
def test_defaults_move_toward_retraining(seed):
    # check 9's fixture at the default update: a no-op (ratio 1) or a move away fails
    r = check_moves_toward_retrain(lambda: SGU(epochs=30, hidden_channels=16), small_graph(), seed=seed)
    assert r["fidelity_ratio"] < 1.0, r


def test_errors():
    with pytest.raises(GraphForgetError, match="budget"):
        SGU(budget=0).fit(small_graph())
    with pytest.raises(GraphForgetError, match="budget"):
        SGU(budget=1.5).fit(small_graph())
    lonely = Data(x=torch.ones(3, 2), edge_index=torch.empty(2, 0, dtype=torch.long),
                  y=torch.tensor([0, 1, 0]), train_mask=torch.ones(3, dtype=torch.bool))
    u = SGU(epochs=2, hidden_channels=4).fit(lonely)
    u.unlearn(NodeRequest([0, 1]))
    with pytest.raises(GraphForgetError, match="no retained node"):
        u.unlearn(NodeRequest([2]))
