"""The user-model path (issue #19) for the methods added by issues #23 and #24:
GraphRevoker, MEGU, SGU, D2DGN and GUKD take the user's module, factory and loop;
CEU, IDEA, ScaleGUN and Projector keep their own (linear) models and refuse it in one line."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import graphforget as gf
from graphforget.errors import GraphForgetError
from graphforget.exact.sharded import _stage_seed, shard_seed
from graphforget.partition import induced_view
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import seeded
from tests.test_own_model import CLASSES, IN, MyGNN, _same, _state, trained, user_train

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

FAST = {"graphrevoker": {"shards": 2, "partition": "random", "aggregator_kwargs": {"epochs": 20}},
        "megu": {"unlearn_epochs": 3}, "sgu": {"unlearn_epochs": 3},
        "d2dgn": {"unlearn_epochs": 3}, "gukd": {"teacher_layers": 2, "teacher_hidden": 8,
                                                 "teacher_epochs": 5, "unlearn_epochs": 5}}
ATTACHABLE = ["megu", "sgu", "d2dgn"]


@pytest.fixture(scope="module")
def graph():
    # a validation part for GraphRevoker's contrastive aggregator
    return small_graph(num_nodes=60)


# -- conformance with the user's class as template and as factory ----------------------------
@pytest.mark.parametrize("method", sorted(FAST))
@pytest.mark.parametrize("as_", ["instance", "factory"])
def test_conformance_user_model(method, as_, graph):
    model = MyGNN() if as_ == "instance" else MyGNN
    # 5-epoch models: a smoke test of the adapter; check 9 (moves toward retraining) needs
    # trained models to mean anything and runs with built-in backbones in each method's tests
    done = check_unlearner(lambda: gf.make_method(method, model=model, epochs=5, **FAST[method]), graph,
                           check_determinism=method == "graphrevoker", check_fidelity=False)
    assert "save-load-roundtrip" in done["checks"]


@pytest.mark.parametrize("method", ATTACHABLE)
def test_conformance_attached(method, graph):
    # the user's 15-epoch model is far from converged: check 9 runs on trained built-in
    # backbones in tests/approx
    done = check_unlearner(lambda: gf.make_method(method, train_fn=user_train, **FAST[method]), graph,
                           attach=trained, check_determinism=False, check_fidelity=False)
    assert "save-load-roundtrip" in done["checks"]


@pytest.mark.parametrize("method", ATTACHABLE)
def test_attach_updates_the_users_model_in_place(method, graph):
    model = trained(graph)
    model.train()  # the user left it in train mode
    before = _state(model)
    params = list(model.parameters())
    u = gf.make_method(method, **FAST[method]).attach(model, graph)
    u.predict()
    assert _same(before, _state(model)), "attach() changed a weight"
    u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    assert not _same(before, _state(model)), "unlearn() did not update the user's model in place"
    assert list(model.parameters()) == params and u.model_.module is model
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_megu_sgu_use_the_users_message_passing_depth(graph):
    from torch_geometric.nn import SGConv

    class Deep(torch.nn.Module):  # 3 hops in one layer; num_layers (2) would under-count
        def __init__(self) -> None:
            super().__init__()
            self.conv = SGConv(IN, CLASSES, K=3)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    for method in ("megu", "sgu"):
        u = gf.make_method(method, **FAST[method]).attach(trained(graph, cls=Deep), graph)
        assert u.depth() == 3


def test_d2dgn_needs_a_message_passing_layer_for_its_embedding_terms(graph):
    mlp = torch.nn.Sequential(torch.nn.Linear(IN, CLASSES))
    fwd = {"forward_fn": lambda m, d: m(d.x)}
    with pytest.raises(GraphForgetError, match=r"d2dgn .*Sequential has no torch_geometric.nn.MessagePassing"
                                               r".*embedding_weight=0") as info:
        gf.make_method("d2dgn", **fwd).attach(mlp, graph)
    assert "\n" not in str(info.value)
    u = gf.make_method("d2dgn", embedding_weight=0, unlearn_epochs=2, **fwd).attach(mlp, graph)
    u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))


def test_d2dgn_distils_the_users_first_message_passing_layer(graph):
    from graphforget.approx.distillation import first_layer_output
    from graphforget.user_model import UserModel

    model = UserModel(trained(graph))
    out, emb = first_layer_output(model, graph)
    with torch.no_grad():
        expected = model.module.conv1(graph.x, graph.edge_index)
    assert emb is not None and torch.allclose(emb, expected)


def test_gukd_trains_with_the_users_loop_and_refuses_attach(graph):
    calls = []

    def counting(model, data):
        calls.append(type(model).__name__)
        user_train(model, data, epochs=3)

    u = gf.make_method("gukd", model=MyGNN, train_fn=counting, epochs=5, **FAST["gukd"]).fit(graph)
    assert calls == ["MyGNN"] and isinstance(u.model_.module, MyGNN)
    u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    assert isinstance(u.model_.module, MyGNN) and calls == ["MyGNN"]  # the KD student: built-in loop
    with pytest.raises(GraphForgetError, match="gukd trains its models from scratch.*model=<factory>"):
        gf.make_method("gukd").attach(trained(graph), graph)


# -- GraphRevoker: user factory + train_fn equals retraining the shard, bit for bit ------------
def test_graphrevoker_user_shard_equals_user_retraining(graph):
    u = gf.make_method("graphrevoker", model=lambda: MyGNN(), train_fn=user_train, shards=3,
                       partition="random", aggregator_kwargs={"epochs": 20}).fit(graph)
    node = int(graph.train_mask.nonzero()[0])
    report = u.unlearn(gf.NodeRequest([node]))
    (shard,) = report.affected["shards"]
    nodes = u._graph_mask(u.data_, shard).nonzero().view(-1)
    view = induced_view(u.data_, nodes)
    view.train_mask = u._train_mask(u.data_, shard)[nodes]
    with seeded(shard_seed(u.seed, shard)):
        fresh = MyGNN()
    with seeded(_stage_seed(u.seed, shard, 0)):
        user_train(fresh, view)
    assert _same(_state(fresh), _state(u.models_[shard].module))
    # and the whole ensemble (shards + contrastive aggregator) equals the exact reference
    ref = u.reference().fit(u.data_)
    assert torch.equal(ref.predict_logits(), u.predict_logits())
    with pytest.raises(GraphForgetError, match="graphrevoker trains its models from scratch"):
        gf.make_method("graphrevoker").attach(trained(graph), graph)


# -- the linear methods refuse the user's module in one line ----------------------------------
@pytest.mark.parametrize("method", ["ceu", "idea", "scalegun", "projector", "cgu", "gst"])
def test_linear_methods_refuse_the_users_module(method, graph):
    model = trained(graph)
    before = _state(model)
    # GST serves graph classification, where no method attaches: its message names none
    tail = "takes no model argument" if method == "gst" else "attachable method"
    for spec in (model, MyGNN):
        with pytest.raises(GraphForgetError, match=rf"^{method} keeps its own linear model .*cannot use the "
                                                   rf"user's non-linear MyGNN; .*{tail}") as info:
            gf.make_method(method, model=spec)
        assert "\n" not in str(info.value)
    with pytest.raises(GraphForgetError, match=rf"^{method} keeps its own linear model .*MyGNN"):
        gf.make_method(method).attach(model, graph)
    assert _same(before, _state(model))


def test_user_loss_fn_reaches_megu_fit(graph):
    seen = []

    def loss(model, data, mask):
        seen.append(type(model).__name__)
        return F.cross_entropy(model(data.x, data.edge_index)[mask], data.y[mask])

    gf.make_method("megu", model=MyGNN, loss_fn=loss, epochs=2, unlearn_epochs=2).fit(small_graph(num_nodes=40))
    assert seen and set(seen) == {"MyGNN"}


def test_float64_user_models_and_builtin_dtype(graph):
    node = gf.NodeRequest([int(graph.train_mask.nonzero()[0])])
    for method in ATTACHABLE:
        model = trained(graph).double()
        u = gf.make_method(method, **FAST[method]).attach(model, graph)
        u.unlearn(node)
        assert next(model.parameters()).dtype == torch.float64 and u.predict_logits().dtype == torch.float64
    for method in sorted(FAST):
        b = gf.make_method(method, epochs=3, dtype="float64", **FAST[method]).fit(graph)
        b.unlearn(node)
        assert b.predict_logits().dtype == torch.float64, method
