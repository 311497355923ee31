import json

import pytest
import torch

import graphforget as gf
from graphforget.errors import NotFittedError, UnsupportedRequestError
from graphforget.requests import EdgeRequest, NodeRequest, sample_edges, sample_nodes
from graphforget.testing import check_unlearner
from graphforget.unlearner import Guarantee, Unlearner


def fast_retrain(**kw):
    return gf.Retrain(epochs=30, hidden_channels=16, **kw)


def test_retrain_passes_the_conformance_suite(graph):
    summary = check_unlearner(lambda: fast_retrain(), graph)
    assert "exact-equals-reference" in summary["checks"]
    assert "save-load-roundtrip" in summary["checks"]


@pytest.mark.parametrize("model", ["gcn", "gat", "sage", "gin", "sgc", "gpr", "mlp"])
def test_retrain_equals_fresh_fit_for_every_backbone(graph, model):
    req = sample_nodes(graph, count=4, seed=0)
    u = gf.Retrain(model=model, epochs=10, hidden_channels=8).fit(graph)
    u.unlearn(req)
    ref = gf.Retrain(model=model, epochs=10, hidden_channels=8).fit(req.apply(graph))
    assert torch.equal(u.parameter_vector(), ref.parameter_vector())


def test_unlearn_before_fit_and_wrong_types(graph):
    with pytest.raises(NotFittedError, match="call fit"):
        fast_retrain().unlearn(NodeRequest([1]))
    with pytest.raises(TypeError, match="ForgetRequest"):
        fast_retrain().fit(graph).unlearn([1])


def test_unsupported_request_raises_before_touching_state(graph):
    class NodeOnly(gf.Retrain):
        supported_requests = (NodeRequest,)

    u = NodeOnly(epochs=5).fit(graph)
    before = u.fingerprint()
    with pytest.raises(UnsupportedRequestError, match="cannot serve edge requests; it supports: node"):
        u.unlearn(sample_edges(graph, count=1))
    assert u.fingerprint() == before


def test_sequential_requests_and_history(graph):
    u = fast_retrain().fit(graph)
    r1, r2 = sample_nodes(graph, count=2, seed=0), sample_edges(graph, count=2, seed=0)
    reports = u.unlearn_many([r1, r2])
    assert [r.request.kind for r in reports] == ["node", "edge"]
    assert u.history_ == [r1, r2]
    # predict(data) on the original graph applies every forgotten item first
    assert torch.equal(u.predict(graph), u.predict())
    d = reports[0].to_dict()
    json.dumps(d)
    assert d["request"]["items"] == 2 and d["guarantee"] == "exact"


def test_params_clone_and_repr():
    u = gf.Retrain(model="sgc", epochs=3)
    assert u.get_params()["model"] == "sgc"
    v = u.clone(epochs=4)
    assert v.epochs == 4 and v.model == "sgc" and "Retrain(" in repr(v)
    with pytest.raises(gf.GraphForgetError, match="no parameter 'nope'"):
        u.set_params(nope=1)


def test_load_rejects_corruption(tmp_path, graph):
    u = fast_retrain().fit(graph)
    u.save(tmp_path / "m")
    (tmp_path / "m" / "state.pt").write_bytes(b"garbage")
    with pytest.raises(gf.GraphForgetError, match="corrupted"):
        Unlearner.load(tmp_path / "m")
    with pytest.raises(gf.GraphForgetError, match="does not hold"):
        Unlearner.load(tmp_path / "missing")


def test_registry_resolves_names_insensitively():
    assert gf.resolve_method("ReTrain") is gf.Retrain
    assert gf.resolve_method("re-train") is gf.Retrain
    with pytest.raises(gf.UnknownNameError, match="unknown method 'nope'; choose one of: .*retrain"):
        gf.resolve_method("nope")
    assert gf.Retrain.guarantee is Guarantee.EXACT
    assert gf.Retrain.supports(EdgeRequest)
