"""GUKD."""

import pytest
import torch

from graphforget.approx import GUKD
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


@pytest.fixture(scope="module")
def setting():
    data = small_graph(200, num_features=16)
    request = sample_nodes(data, count=12, seed=1)
    retained = request.apply(data)
    ref = Retrain(**COMMON).fit(retained)
    return data, request, retained, _probs(ref.model_, data), ref.score()


def test_conformance_gukd():
    check_unlearner(lambda: GUKD(epochs=30, hidden_channels=16, teacher_layers=2, teacher_hidden=16,
                                 unlearn_epochs=10), small_graph())


def test_gukd_teacher_refresh_retrains_the_teacher(setting):
    data, request, *_ = setting
    kw = dict(epochs=20, hidden_channels=8, teacher_layers=2, teacher_hidden=8, unlearn_epochs=5)
    u = GUKD(**kw).fit(data)
    old = [p.clone() for p in u.teacher_.parameters()]
    u.unlearn(NodeRequest(request.node_ids[:2]))
    assert all(torch.equal(a, b) for a, b in zip(old, u.teacher_.parameters(), strict=True))
    v = GUKD(teacher_refresh=True, **kw).fit(data)
    v.unlearn(NodeRequest(request.node_ids[:2]))
    assert not all(torch.equal(a, b) for a, b in zip(old, v.teacher_.parameters(), strict=True))


@pytest.mark.parametrize("cls,kw", [(GUKD, {"teacher_layers": 4})])
def test_student_moves_toward_retraining_and_keeps_utility(setting, cls, kw):
    data, request, retained, ref, ref_acc = setting
    u = cls(**COMMON, **kw).fit(data)
    before = _probs(u.model_, data)
    acc = u.score(retained)
    u.unlearn(request)
    after = _probs(u.model_, data)
    ids = request.node_ids
    d_before = (before[ids] - ref[ids]).norm(dim=1).mean()
    d_after = (after[ids] - ref[ids]).norm(dim=1).mean()
    assert d_after < 0.9 * d_before, (float(d_before), float(d_after))
    assert u.score() >= min(acc, ref_acc) - 0.05


def test_the_distillation_term_is_the_only_difference_from_retraining(setting):
    # the student starts from the backbone's seeded initialisation, as a retraining does:
    # without the KD term, trained as long, it is the retrained model; with it, it is not
    data, request, retained, _, _ = setting
    ref = Retrain(**COMMON).fit(retained)
    kw = dict(COMMON, teacher_layers=2, teacher_hidden=8, unlearn_epochs=COMMON["epochs"])
    plain = GUKD(**kw, kd_weight=0.0).fit(data)
    plain.unlearn(request)
    assert torch.allclose(plain.predict_logits(), ref.predict_logits(), atol=1e-5)
    distilled = GUKD(**kw).fit(data)
    distilled.unlearn(request)
    assert not torch.allclose(distilled.predict_logits(), ref.predict_logits(), atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_defaults_move_toward_retraining(seed):
    # check 9's fixture at the default student: a no-op (ratio 1) or a move away fails
    r = check_moves_toward_retrain(lambda: GUKD(epochs=30, hidden_channels=16, teacher_layers=2,
                                                teacher_hidden=16), small_graph(), seed=seed)
    assert r["fidelity_ratio"] < 0.8, r


def test_errors():
    with pytest.raises(GraphForgetError, match="teacher_layers"):
        GUKD(teacher_layers=0).fit(small_graph())


def test_default_student_epochs_are_half_of_training():
    data = small_graph()
    u = GUKD(epochs=20, hidden_channels=8, teacher_layers=2, teacher_hidden=8).fit(data)
    report = u.unlearn(sample_nodes(data, count=2, seed=0))
    assert report.diagnostics["student_epochs"] == 10
    assert GUKD(epochs=1, hidden_channels=8, teacher_layers=2, teacher_hidden=8).fit(data).unlearn(
        sample_nodes(data, count=1, seed=1)).diagnostics["student_epochs"] == 1


def test_teacher_multiplies_sparse_features_as_the_dense_path_does(monkeypatch):
    from graphforget.approx.gukd import GCNIITeacher

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 200, generator=g) < 0.02).float()  # 2% non-zero: the sparse path
    ei = torch.randint(0, 300, (2, 1200), generator=g)
    teacher = GCNIITeacher(200, 16, 4, layers=3).eval()
    sparse = teacher(x, ei)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "never")
    dense = teacher(x, ei)
    assert torch.allclose(sparse, dense, atol=1e-5)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "auto")
    # training: dropout acts on the stored entries; without dropout it is the eval output
    teacher.train()
    torch.manual_seed(1)
    dropped = teacher(x, ei)
    assert not torch.allclose(dropped, sparse)
    dropped.sum().backward()
    assert teacher.lin_in.weight.grad is not None and float(teacher.lin_in.weight.grad.abs().sum()) > 0
    teacher.dropout = 0.0
    assert torch.allclose(teacher(x, ei), sparse, atol=1e-5)
