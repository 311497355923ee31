"""Bring your own model (issue #19): the user's module, factory, train_fn and forward_fn."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv, MessagePassing
from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE

import graphforget as gf
from graphforget.errors import GraphForgetError, JobFailedError
from graphforget.link import small_link_graph
from graphforget.partition import induced_view
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import seeded

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

IN, HID, CLASSES = 8, 16, 3


class MyGNN(torch.nn.Module):
    """A user's two-layer GCN (not from graphforget.models)."""

    def __init__(self, out: int = CLASSES) -> None:
        super().__init__()
        self.conv1 = GCNConv(IN, HID)
        self.conv2 = GCNConv(HID, out)

    def forward(self, x, edge_index):
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


class MyConv(MessagePassing):
    """A user-written message-passing layer: mean of neighbours, then linear."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(aggr="mean")
        self.lin = torch.nn.Linear(cin, cout)

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()

    def forward(self, x, edge_index):
        return self.lin(x + self.propagate(edge_index, x=x))


class MyMPNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = MyConv(IN, HID), MyConv(HID, CLASSES)

    def forward(self, x, edge_index):
        return self.b(F.relu(self.a(x, edge_index)), edge_index)


class DataForward(torch.nn.Module):
    """A model whose forward takes the whole Data (needs forward_fn)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = MyGNN()

    def forward(self, data):
        return self.net(data.x, data.edge_index)


def user_train(model: torch.nn.Module, data, epochs: int = 15) -> None:
    """The user's own loop (as in PyG's examples/gcn.py)."""
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
    model.eval()


def trained(data, seed: int = 0, cls=MyGNN) -> torch.nn.Module:
    with seeded(seed):
        model = cls()
    user_train(model, data)
    return model


@pytest.fixture(scope="module")
def graph():
    return small_graph(num_nodes=60)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


FAST = {"gif": {}, "if": {}, "gnndelete": {"unlearn_epochs": 3}, "gradient-ascent": {"unlearn_epochs": 3},
        "utu": {}, "retrain": {}, "grapheraser": {"shards": 2, "partition": "random"},
        "sisa": {"shards": 2}, "guide": {"shards": 2, "aggregator": "mean"}}
NODE_METHODS = sorted(FAST)
ATTACHABLE = ["gif", "if", "gnndelete", "gradient-ascent", "utu"]


# -- conformance: every node- and link-task method with the user's class --------------
@pytest.mark.parametrize("method", NODE_METHODS)
@pytest.mark.parametrize("as_", ["instance", "factory"])
def test_conformance_node_user_model(method, as_, graph):
    model = MyGNN() if as_ == "instance" else MyGNN
    # a 5-epoch smoke test of the adapter: check 9 (moves toward retraining) needs trained
    # models to mean anything and runs in tests/approx (built-in backbones) instead
    done = check_unlearner(lambda: gf.make_method(method, model=model, epochs=5, **FAST[method]), graph,
                           check_determinism=method in ("gif", "grapheraser"), check_fidelity=False)
    assert "save-load-roundtrip" in done["checks"]


@pytest.mark.parametrize("method", ATTACHABLE)
def test_conformance_attached(method, graph):
    # the user's 15-epoch model is far from a minimum, where an influence step is not meant
    # to land near retraining: check 9 runs on trained built-in backbones in tests/approx
    done = check_unlearner(lambda: gf.make_method(method, train_fn=user_train, **FAST[method]), graph,
                           attach=trained, check_determinism=method == "gif", check_fidelity=False)
    assert "save-load-roundtrip" in done["checks"]


class MyEncoder(MyGNN):
    def __init__(self) -> None:
        super().__init__(out=HID)


@pytest.mark.parametrize("method", ["gif", "gnndelete", "gradient-ascent", "utu", "link-retrain"])
@pytest.mark.parametrize("as_", ["instance", "factory"])
def test_conformance_link_user_model(method, as_):
    data = small_link_graph()
    model = MyEncoder() if as_ == "instance" else MyEncoder
    extra = {k: v for k, v in FAST.get(method, {}).items()}
    check_unlearner(lambda: gf.make_method(method, model=model, epochs=5, task="link", **extra), data,
                    check_determinism=False)


# -- attach changes nothing until unlearn; GIF same weights in -> same weights out -----------
@pytest.mark.parametrize("method", ATTACHABLE)
def test_attach_changes_no_weight_until_unlearn(method, graph):
    model = trained(graph)
    model.train()  # the user left it in train mode
    before = _state(model)
    u = gf.make_method(method, **FAST[method]).attach(model, graph)
    u.predict()
    assert _same(before, _state(model))
    assert model.training and all(m.training for m in model.modules())
    node = int(graph.train_mask.nonzero()[0])
    u.unlearn(gf.NodeRequest([node]))
    assert model.training, "the user's train() mode was not restored"
    assert all(p.requires_grad for p in model.parameters())
    if method in ("gif", "if", "gradient-ascent"):
        assert not _same(before, _state(model)), "unlearn() did not update the user's model in place"


def test_gif_attached_equals_gif_on_graphforget_trained_model(graph):
    """Same weights in -> same weights out: GIF on the user's GCN equals GIF on
    graphforget's own backbone holding the same weights."""
    builtin = gf.make_method("gif", model="gcn", hidden_channels=HID, epochs=20).fit(graph)
    user = GCN(IN, HID, 2, CLASSES)
    user.load_state_dict(builtin.model_.state_dict())
    attached = gf.make_method("gif").attach(user, graph)
    request = gf.EdgeRequest(graph.edge_index[:, :4].t().tolist())
    builtin.unlearn(request)
    attached.unlearn(request)
    for k, v in builtin.model_.state_dict().items():
        assert torch.allclose(v, user.state_dict()[k], atol=1e-6, rtol=0), k


# -- GraphEraser: user factory + train_fn equals retraining the shard, bit for bit --------
def test_grapheraser_user_shard_equals_user_retraining(graph):
    from graphforget.exact.sharded import _stage_seed, shard_seed

    u = gf.make_method("grapheraser", model=lambda: MyGNN(), train_fn=user_train, shards=3,
                       partition="random").fit(graph)
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


# -- PyG's models, a user MessagePassing, NeighborLoader training -------------------------
PYG = {
    "gcn": lambda: GCN(IN, HID, 2, CLASSES),
    "sage-jk": lambda: GraphSAGE(IN, HID, 2, CLASSES, jk="cat"),
    "gat": lambda: GAT(IN, HID, 2, CLASSES, heads=2),
    "gin-bn": lambda: GIN(IN, HID, 2, CLASSES, norm="batch_norm"),
    "user-mp": MyMPNet,
}


@pytest.mark.parametrize("name", sorted(PYG))
def test_pyg_models_attach_and_factory(name, graph):
    with seeded(0):
        model = PYG[name]()
    user_train(model, graph)
    request = gf.EdgeRequest(graph.edge_index[:, :2].t().tolist())
    for method in ("gif", "gnndelete"):
        m = copy.deepcopy(model)
        u = gf.make_method(method, unlearn_epochs=3) if method == "gnndelete" else \
            gf.make_method(method, hessian="gauss_newton")  # briefly trained: not at a minimum
        u.attach(m, graph).unlearn(request)
        assert torch.isfinite(u.predict_logits()).all()
    ge = gf.make_method("grapheraser", model=PYG[name], train_fn=user_train, shards=2,
                        partition="random").fit(graph)
    ge.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    assert ge.score() >= 0


def _neighbor_batches(data, batch_size: int = 16):
    """PyG's NeighborLoader where a sampling backend (pyg-lib / torch-sparse) is installed;
    else the same kind of batch by hand: seed nodes first, their 2-hop subgraph."""
    from torch_geometric import typing as pyg_typing

    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        from torch_geometric.loader import NeighborLoader

        yield from NeighborLoader(data, num_neighbors=[5, 5], batch_size=batch_size,
                                  input_nodes=data.train_mask, shuffle=True)
        return
    from torch_geometric.data import Data
    from torch_geometric.utils import k_hop_subgraph

    seeds = data.train_mask.nonzero().view(-1)
    seeds = seeds[torch.randperm(seeds.numel())]
    for lo in range(0, seeds.numel(), batch_size):
        part = seeds[lo:lo + batch_size]
        subset, ei, _, _ = k_hop_subgraph(part, 2, data.edge_index, relabel_nodes=True,
                                          num_nodes=data.num_nodes)
        order = torch.cat([part, subset[~torch.isin(subset, part)]])
        relabel = torch.empty(data.num_nodes, dtype=torch.long)
        relabel[order] = torch.arange(order.numel())
        ei = relabel[subset[ei]]
        yield Data(x=data.x[order], edge_index=ei, y=data.y[order], batch_size=part.numel())


def test_neighbor_loader_user_training_and_retrain_reference(graph):
    def loader_train(model, data):
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(3):
            for batch in _neighbor_batches(data):
                model.train()
                opt.zero_grad()
                out = model(batch.x, batch.edge_index)[:batch.batch_size]
                F.cross_entropy(out, batch.y[:batch.batch_size]).backward()
                opt.step()
        model.eval()

    with seeded(0):
        model = GraphSAGE(IN, HID, 2, CLASSES)
    loader_train(model, graph)
    u = gf.make_method("gif", train_fn=loader_train).attach(model, graph)
    u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    ref = u.reference()
    assert ref.train_fn is loader_train and ref.model is model
    ref.fit(u.data_)  # retrains a fresh copy with the user's NeighborLoader loop
    assert ref.model_.module is not model and ref.score() >= 0


# -- forward_fn adapters, device/dtype ----------------------------------------------------
def test_forward_fn_for_data_forward_and_edge_weight(graph):
    model = DataForward()
    with pytest.raises(GraphForgetError, match=r"DataForward\.forward\(data\).*forward_fn"):
        gf.make_method("gif").attach(model, graph)
    u = gf.make_method("gif", forward_fn=lambda m, d: m(d)).attach(model, graph)
    u.unlearn(gf.EdgeRequest(graph.edge_index[:, :2].t().tolist()))
    weighted = graph.clone()
    weighted.edge_weight = torch.rand(graph.edge_index.size(1), generator=torch.Generator().manual_seed(0))
    gcn = GCN(IN, HID, 2, CLASSES)  # forward(x, edge_index, edge_weight=...) is used as is
    gf.make_method("gif").attach(gcn, weighted).unlearn(gf.EdgeRequest(graph.edge_index[:, :2].t().tolist()))


def test_float64_user_model_and_builtin_dtype(graph):
    model = trained(graph).double()
    u = gf.make_method("gif").attach(model, graph)
    u.unlearn(gf.EdgeRequest(graph.edge_index[:, :2].t().tolist()))
    assert next(model.parameters()).dtype == torch.float64
    assert u.predict_logits().dtype == torch.float64
    d = gf.make_method("gnndelete", unlearn_epochs=2).attach(trained(graph).double(), graph)
    d.unlearn(gf.EdgeRequest(graph.edge_index[:, :2].t().tolist()))
    assert d.operators_[0].dtype == torch.float64
    for method in ("gif", "retrain", "grapheraser", "gnndelete"):
        extra = {"shards": 2} if method == "grapheraser" else {}
        b = gf.make_method(method, epochs=5, dtype="float64", **extra).fit(graph)
        b.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
        assert b.parameter_vector().dtype == torch.float64, method
        assert b.predict_logits().dtype == torch.float64, method
    with pytest.raises(GraphForgetError, match="dtype"):
        gf.make_method("gif", dtype="int64").fit(graph)


# -- bad input ------------------------------------------------------------------------------
def test_errors_are_one_line_and_leave_the_model_untouched(graph):
    model = trained(graph)
    before = _state(model)
    wrong = small_graph(num_nodes=60, num_features=5)
    with pytest.raises(GraphForgetError) as info:
        gf.make_method("gif").attach(model, wrong)
    assert "\n" not in str(info.value) and "MyGNN.forward(x, edge_index)" in str(info.value)
    assert _same(before, _state(model))
    shared = MyGNN()
    with pytest.raises(GraphForgetError, match="same MyGNN instance"):
        gf.make_method("grapheraser", model=lambda: shared, shards=2).fit(graph)
    for name in ("retrain", "grapheraser", "guide", "sisa"):
        with pytest.raises(GraphForgetError, match="trains its models from scratch"):
            gf.make_method(name).attach(model, graph)
    with pytest.raises(GraphForgetError, match="cannot use the user's non-linear MyGNN"):
        gf.make_method("cgu").attach(model, graph)
    with pytest.raises(GraphForgetError, match="cannot use the user's non-linear MyGNN"):
        gf.make_method("cgu", model=model)
    with pytest.raises(GraphForgetError, match="no torch_geometric.nn.MessagePassing"):
        gf.make_method("gnndelete", forward_fn=lambda m, d: m(d.x)).attach(
            torch.nn.Sequential(torch.nn.Linear(IN, CLASSES)), graph)


def test_train_fn_that_raises_leaves_previous_state(graph):
    calls = {"n": 0}

    def flaky(model, data):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("user loop failed")
        user_train(model, data, epochs=3)

    u = gf.make_method("grapheraser", model=MyGNN, train_fn=flaky, shards=2, partition="random").fit(graph)
    before = u.fingerprint()
    # the executor names the shard whose job failed and chains the user's exception
    with pytest.raises(JobFailedError, match=r"shard \d+ failed: RuntimeError: user loop failed") as info:
        u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert u.fingerprint() == before and not u.history_
    with pytest.raises(JobFailedError, match="user loop failed"):
        u.fit(graph)
    assert u.fingerprint() == before


def test_save_load_needs_the_factory(graph, tmp_path):
    model = trained(graph)
    u = gf.make_method("gif").attach(model, graph)
    u.unlearn(gf.NodeRequest([int(graph.train_mask.nonzero()[0])]))
    u.save(tmp_path)
    assert "MyGNN" in (tmp_path / "unlearner.json").read_text()
    with pytest.raises(GraphForgetError, match=r"saved with the user's model \(MyGNN\).*model=") as info:
        gf.Unlearner.load(tmp_path)
    assert "\n" not in str(info.value)
    loaded = gf.Unlearner.load(tmp_path, data=u.data_, model=MyGNN)
    assert torch.equal(loaded.predict_logits(), u.predict_logits())
    assert loaded.model_.module is not model


# -- the example runs on the shared Cora ------------------------------------------------------
def test_example_own_model_cora():
    import importlib.util
    import os
    from pathlib import Path

    root = os.environ.get("GRAPHFORGET_DATA")
    if not root or not (Path(root) / "Planetoid" / "Cora").is_dir():
        pytest.skip("the shared Cora is not available (set GRAPHFORGET_DATA)")
    path = Path(__file__).resolve().parents[1] / "examples" / "own_model_cora.py"
    spec = importlib.util.spec_from_file_location("own_model_cora", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--epochs", "20", "--shards", "2"])
    assert set(results) == {"gif", "gnndelete", "grapheraser"}
    for method, row in results.items():
        assert 0.3 < row["after"] <= 1.0 and row["seconds"] > 0, method


# -- vision methods attach to the user's image classifier ---------------------------------------
class MyImageNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("method", ["finetune", "neggrad-plus", "scrub"])
def test_vision_methods_attach(method, tmp_path):
    from graphforget.vision import load_vision

    data = load_vision("digits").subgraph(torch.arange(300))
    with seeded(0):
        model = MyImageNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(model(data.x[data.train_mask]), data.y[data.train_mask]).backward()
        opt.step()
    model.train()
    before = _state(model)
    u = gf.make_method(method, unlearn_epochs=1).attach(model, data)
    u.predict()
    assert _same(before, _state(model)) and model.training
    rows = data.train_mask.nonzero().view(-1)[:5]
    u.unlearn(gf.SampleRequest(rows))
    assert not _same(before, _state(model)), "the user's model was not updated in place"
    assert model.training
    u.save(tmp_path)
    assert torch.equal(gf.Unlearner.load(tmp_path, data=u.data_, model=MyImageNet).predict_logits(), u.predict_logits())
    with pytest.raises(GraphForgetError, match="trains its models from scratch"):
        gf.make_method("vision-retrain").attach(model, data)
