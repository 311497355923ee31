import json

import pytest
import torch

from graphforget.bench.cli import main
from graphforget.certified.cgu import CGU, _normalise_rows, propagation_stack
from graphforget.errors import GraphForgetError, UnsupportedModelError
from graphforget.requests import EdgeRequest, NodeRequest, sample_edges, sample_features, sample_nodes
from graphforget.testing import check_unlearner, small_graph

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


@pytest.mark.parametrize("model", ["sgc", "gpr"])
def test_conformance(model):
    check_unlearner(lambda: CGU(model=model, sigma=1.0), small_graph())


def test_only_sgc_and_gpr():
    with pytest.raises(UnsupportedModelError, match="supported models: sgc, gpr"):
        CGU(model="gcn")


@pytest.mark.parametrize("features", ["standard", "row"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("model", ["sgc", "gpr"])
def test_local_feature_update_equals_full_recomputation(model, alpha, features):
    data = small_graph()
    u = CGU(model=model, alpha=alpha, K=3, sigma=1.0, features=features).fit(data)
    for req in (sample_nodes(data, count=2, seed=1), sample_edges(data, count=3, seed=2),
                sample_features(data, count=2, seed=3)):
        u.unlearn(req) if req.kind != "node" else u.unlearn(NodeRequest(req.node_ids))
        full = propagation_stack(u._preprocess(u.data_.x), u.data_.edge_index, 3, alpha)
        for a, b in zip(full, u.stack_, strict=False):
            assert torch.allclose(a, b, atol=1e-12)
    # and the classifier's training rows are the retained data's rows
    z = u._features(u.stack_)[u.train_nodes_]
    assert torch.allclose(u.classifier_.Z_, z, atol=1e-12)


def test_bound_holds_on_every_request_and_ledger_survives_save(tmp_path):
    data = small_graph()
    u = CGU(sigma=5.0, norm="tracked").fit(data)
    for i in range(4):
        u.unlearn(sample_nodes(u.data_, count=1, seed=i))
        assert u.ledger_[-1]["cumulative"] >= u.residual_norm()
    u.unlearn(sample_edges(u.data_, count=2, seed=9))  # two edges: the case a round-trip bug once broke
    assert u.ledger_[-1]["cumulative"] >= u.residual_norm()
    u.save(tmp_path)
    v = CGU.load(tmp_path, data=u.data_)
    assert v.ledger_ == u.ledger_ and torch.equal(v.parameter_vector(), u.parameter_vector())


def test_budget_exhaustion_retrains_equal_fresh_fit_with_new_noise():
    data = small_graph()
    u = CGU(sigma=0.05).fit(data)
    for i in range(6):
        report = u.unlearn(sample_nodes(u.data_, count=1, seed=i))
        if report.diagnostics["retrained"]:
            break
    assert report.diagnostics["retrained"] and u.ledger_[-1]["cumulative"] < 1e-6
    # the retrained model is a fresh fit on the retained rows with the new noise draw
    clf = u.classifier_
    fresh = type(clf)(**clf.get_params())
    fresh.Z_, fresh.Y_, fresh.active_, fresh.retrains_ = clf.Z_, clf.Y_, clf.active_, clf.retrains_
    fresh.num_classes_ = clf.num_classes_
    fresh._retrain()
    assert torch.allclose(fresh.W_, clf.W_)


def test_batched_equals_one_step_and_sigma_matters():
    data = small_graph()
    edges = sample_edges(data, count=4, seed=0)
    a = CGU(sigma=5.0).fit(data)
    a.unlearn(edges)
    b = CGU(sigma=5.0).fit(data)
    for j in range(4):
        b.unlearn(EdgeRequest(edges.edge_index[:, j:j + 1]))
    assert len(a.ledger_) == 1 and len(b.ledger_) == 4
    # One Newton step and four are different approximations of the same retrained optimum
    # W*, so they agree only up to their own errors. The objective is (lam m)-strongly
    # convex, so ||W - W*||_F <= ||grad L(W)||_F / (lam m) for each, and the two lie within
    # the sum of those radii of each other: the tightest tolerance the math allows.
    radius = 0.0
    for u in (a, b):
        clf = u.classifier_
        radius += u.residual_norm() / (clf.lam * int(clf.active_.sum()))
    gap = float((a.classifier_.W_ - b.classifier_.W_).norm())
    assert gap <= radius
    assert 0.0 < gap  # and they are not the same computation
    c = CGU(sigma=0.5).fit(data)
    assert not torch.allclose(CGU(sigma=5.0).fit(data).parameter_vector(), c.parameter_vector())


@pytest.mark.parametrize("request_kind", ["node", "edge", "feature"])
@pytest.mark.parametrize("model", ["sgc", "gpr"])
def test_bench_cli_writes_records(tmp_path, capsys, request_kind, model):
    path = tmp_path / "out.json"
    code = main(["bench", "--method", "cgu", "--model", model, "--request", request_kind,
                 "--dataset", "synthetic:nodes=300", "--ratio", "0.05", "--param", "sigma=1.0",
                 "--json", str(path)])
    assert code == 0, capsys.readouterr().out
    (record,) = json.loads(path.read_text())
    assert record["method"] == "cgu" and record["model"] == model and record["request"] == request_kind
    assert record["unlearn_seconds"] > 0 and record["retrain_seconds"] > 0
    assert 0.0 <= record["utility_unlearned"] <= 1.0


def test_default_propagation_keeps_rows_in_the_unit_ball_without_clipping():
    data = small_graph()
    u = CGU(K=3).fit(data)  # alpha=1: P = D^-1 (A + I), row-stochastic
    for z in u.stack_:
        assert float(z.norm(dim=1).max()) <= 1.0 + 1e-12
    # the paper's column-stochastic alpha=0 leaves the unit ball at a hub of leaves with
    # equal features (then rows are rescaled); alpha=1 averages and stays inside
    star = torch.tensor([[0] * 5 + list(range(1, 6)), list(range(1, 6)) + [0] * 5])
    x = torch.ones(6, 2, dtype=torch.float64) / 2 ** 0.5
    assert float(propagation_stack(x, star, 1, 0.0)[-1][0].norm()) > 2.0
    assert float(propagation_stack(x, star, 1, 1.0)[-1].norm(dim=1).max()) <= 1.0 + 1e-12


def test_feature_preprocessing_modes():
    data = small_graph()
    row = CGU(features="row", sigma=1.0).fit(data)
    x = row._preprocess(data.x)
    assert torch.allclose(x, _normalise_rows(data.x.double()))
    std = CGU(features="standard", sigma=1.0).fit(data)
    x = std._preprocess(data.x)
    assert float(x.norm(dim=1).max()) == pytest.approx(1.0)  # divided by the largest row norm
    assert torch.allclose(x.mean(0), torch.zeros(x.size(1), dtype=x.dtype), atol=1e-12)  # centred
    # the scaler is frozen at fit: the reference retrains under the same preprocessing
    retained = NodeRequest([0, 1, 2]).apply(data)
    ref = std.reference().fit(retained)
    assert all(torch.equal(a, b) for a, b in zip(ref.scaler_, std.scaler_, strict=True))
    assert not torch.allclose(CGU(sigma=1.0).fit(retained).scaler_[0], std.scaler_[0])
    with pytest.raises(GraphForgetError, match="features"):
        CGU(features="minmax")


def test_float32_stack_matches_full_recomputation_and_keeps_the_bound():
    data = small_graph()
    u = CGU(dtype="float32", sigma=5.0).fit(data)
    assert u.stack_[0].dtype == torch.float32 and u.classifier_.Z_.dtype == torch.float64
    for req in (sample_nodes(data, count=2, seed=1), sample_edges(data, count=3, seed=2),
                sample_features(data, count=2, seed=3)):
        u.unlearn(req)
        full = propagation_stack(u._preprocess(u.data_.x), u.data_.edge_index, 2, 1.0, torch.float32)
        for a, b in zip(full, u.stack_, strict=True):
            assert torch.allclose(a, b, atol=1e-5)
        assert u.ledger_[-1]["cumulative"] >= u.residual_norm()
    ref = CGU(sigma=5.0).fit(data)  # float64: same predictions up to rounding
    assert (CGU(dtype="float32", sigma=5.0).fit(data).predict() == ref.predict()).float().mean() > 0.95
    with pytest.raises(GraphForgetError, match="dtype"):
        CGU(dtype="float16")
