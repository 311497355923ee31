import pytest
import torch
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.exact import SISA, GraphEraser, make_aggregator, shard_seed, sharded
from graphforget.exact.sharded import _receptive_field, _stage_seed
from graphforget.executor import make_executor
from graphforget.models import build_model
from graphforget.partition import induced_view
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest, SampleRequest
from graphforget.testing import check_unlearner, small_graph
from graphforget.training import TrainConfig, seeded, train_node_classifier

torch.set_num_threads(1)
EPOCHS = 5


@pytest.fixture(scope="module")
def data():
    return small_graph(90)


def _shard_states(u):
    return [None if m is None else {k: v.clone() for k, v in m.state_dict().items()}
            for m in u.models_]


def _equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_conformance_grapheraser():
    check_unlearner(lambda: GraphEraser(epochs=EPOCHS, shards=3, partition="blpa",
                                        aggregator="learned"), small_graph())


def test_conformance_sisa_sliced():
    check_unlearner(lambda: SISA(epochs=EPOCHS, shards=2, slices=3), small_graph())


def test_sisa_on_tabular_data():
    g = torch.Generator().manual_seed(0)
    n = 80
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] > 0).long()
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:50]], masks[1][perm[50:65]], masks[2][perm[65:]] = True, True, True
    tab = Data(x=x, y=y, edge_index=torch.empty(2, 0, dtype=torch.long), train_mask=masks[0],
               val_mask=masks[1], test_mask=masks[2], num_classes=2)
    check_unlearner(lambda: SISA(model="mlp", epochs=EPOCHS, shards=2, slices=2), tab,
                    requests=[SampleRequest(perm[:3].sort().values)])
    u = SISA(model="mlp", epochs=50, shards=2).fit(tab)
    assert u.score() > 0.7


@pytest.mark.parametrize("setting", ["transductive", "inductive"])
def test_forgetting_a_node_retrains_its_shard_exactly(data, setting):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", setting=setting, seed=7).fit(data)
    before = _shard_states(u)
    objects = list(u.models_)
    v = int(u.partition_.shard_nodes(1)[0])
    report = u.unlearn(NodeRequest([v]))
    assert report.affected["shards"] == [1]
    after = _shard_states(u)
    for s in (0, 2):
        assert _equal_states(before[s], after[s]), f"shard {s} changed"
        assert u.models_[s] is objects[s]  # untouched shards keep their model objects
    assert u.models_[1] is not objects[1]
    logits = u.predict_logits()
    rebuilt = u._build_models(list(u.checkpoints_))  # models built afresh predict the same
    assert all(m is not o for m, o in zip(rebuilt, u.models_, strict=True))
    assert torch.equal(u.aggregator_.combine(u._shard_log_probs(u.data_, rebuilt)), logits)
    # a fresh training of shard 1 on its retained data with the same per-shard seed
    retained = u.data_
    train = (u.partition_.node_shard == 1) & retained.train_mask
    extra = u._eval_mask(retained).nonzero().view(-1) if setting == "transductive" else None
    view = u.partition_.without(torch.tensor([v])).shard_view(retained, 1, extra_nodes=extra)
    view.train_mask = train[view.node_ids]
    assert v not in view.node_ids.tolist()
    if setting == "transductive":  # a shard trains on its training nodes' receptive field
        nodes, stage = _receptive_field(retained, view.node_ids, torch.where(view.train_mask, 0, -1), 3)
        view = induced_view(retained, nodes)
        view.train_mask = stage >= 0
    seed = shard_seed(7, 1)
    with seeded(seed):
        model = build_model("gcn", data.x.size(1), 3)
    train_node_classifier(model, view, TrainConfig(epochs=EPOCHS), seed=seed)
    assert _equal_states(model.state_dict(), after[1])


def test_edges_map_to_shards(data):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", setting="inductive").fit(data)
    ns = u.partition_.node_shard
    ei = data.edge_index
    same = (ns[ei[0]] >= 0) & (ns[ei[0]] == ns[ei[1]]) & (ei[0] < ei[1])
    cross = (ns[ei[0]] >= 0) & (ns[ei[1]] >= 0) & (ns[ei[0]] != ns[ei[1]]) & (ei[0] < ei[1])
    inside = ei[:, same][:, :1]
    across = ei[:, cross][:, :1]
    before = u.fingerprint()
    rep = u.unlearn(EdgeRequest(across))
    assert rep.affected["shards"] == []
    assert u.fingerprint() != before  # the edge left the inference graph
    rep = u.unlearn(EdgeRequest(inside))
    assert rep.affected["shards"] == [int(ns[inside[0, 0]])]


def test_feature_request_and_batching(data):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", setting="inductive").fit(data)
    a, b = u.partition_.shard_nodes(2)[:2].tolist()
    rep = u.unlearn_batch([NodeRequest([a]), NodeRequest([b])])
    assert rep.affected["shards"] == [2] and len(rep.request) == 2
    c = int(u.partition_.shard_nodes(0)[0])
    rep = u.unlearn(FeatureRequest([c], [0, 1]))
    assert rep.affected["shards"] == [0]
    with pytest.raises(GraphForgetError, match="one kind"):
        u.unlearn_batch([NodeRequest([1]), EdgeRequest(data.edge_index[:, :1])])


def test_transductive_eval_node_touches_every_shard(data):
    u = GraphEraser(epochs=EPOCHS, shards=2, partition="random").fit(data)
    test_node = int(data.test_mask.nonzero()[0])
    rep = u.unlearn(NodeRequest([test_node]))
    assert rep.affected["shards"] == [0, 1]


def test_learned_aggregator_refits_on_validation_change(data):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", aggregator="learned").fit(data)
    w = u.aggregator_.weights_
    assert bool((w >= 0).all()) and float(w.sum()) == pytest.approx(1.0)
    val_node = int(data.val_mask.nonzero()[0])
    rep = u.unlearn(NodeRequest([val_node]))
    assert rep.diagnostics["aggregator_refit"] is not None
    # mean/majority depend on nothing and are never refitted
    m = GraphEraser(epochs=EPOCHS, shards=3, partition="random", aggregator="majority").fit(data)
    rep = m.unlearn(NodeRequest([int(m.partition_.shard_nodes(0)[0])]))
    assert rep.diagnostics["aggregator_refit"] is None


def test_aggregators_by_hand():
    p = torch.tensor([[[0.9, 0.1]], [[0.2, 0.8]], [[0.4, 0.6]]]).log()  # 3 shards, 1 node
    mean = make_aggregator("mean").combine(p).exp()
    assert torch.allclose(mean, torch.tensor([[0.5, 0.5]]))
    assert make_aggregator("majority").combine(p).argmax(-1).item() == 1
    geo = make_aggregator("Mean_Log").combine(p).exp()
    expected = torch.tensor([0.9 * 0.2 * 0.4, 0.1 * 0.8 * 0.6]) ** (1 / 3)
    assert torch.allclose(geo, (expected / expected.sum()).view(1, 2), atol=1e-6)
    # learned weights move to the shard that is right on the validation nodes
    good = torch.tensor([[0.9, 0.1]] * 20).log()
    bad = torch.tensor([[0.1, 0.9]] * 20).log()
    agg = make_aggregator("learned", l2=0.0).fit(torch.stack([good, bad]), torch.zeros(20, dtype=torch.long))
    assert agg.weights_[0] > 0.9
    with pytest.raises(GraphForgetError, match="validation"):
        make_aggregator("learned").fit(torch.empty(2, 0, 2), torch.empty(0, dtype=torch.long))


def test_sisa_resumes_from_last_unaffected_slice(data):
    u = SISA(epochs=EPOCHS, shards=2, slices=3).fit(data)
    nodes = u.partition_.shard_nodes(0)
    last = int(nodes[u.node_slice_[nodes] == 2][0])
    keys = [c["key"] for c in u.checkpoints_[0]]
    states = [c["state"] for c in u.checkpoints_[0]]
    rep = u.unlearn(NodeRequest([last]))
    assert rep.affected["resumed_from_stage"] == {"0": 2}
    assert [c["key"] for c in u.checkpoints_[0]][:2] == keys[:2]
    assert _equal_states(u.checkpoints_[0][1]["state"], states[1])
    first = int(nodes[u.node_slice_[nodes] == 0][0])
    assert u.unlearn(NodeRequest([first])).affected["resumed_from_stage"] == {"0": 0}


def _tabular(n=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:110]], masks[1][perm[110:130]], masks[2][perm[130:]] = True, True, True
    return Data(x=x, y=y, edge_index=torch.empty(2, 0, dtype=torch.long), train_mask=masks[0],
                val_mask=masks[1], test_mask=masks[2], num_classes=2)


def _rows_in(u, shard, stage, count):
    hit = (u.partition_.node_shard == shard) & (u.node_slice_ == stage)
    return hit.nonzero().view(-1)[:count].tolist()


@pytest.mark.parametrize("where", ["one-shard", "every-shard"])
def test_sisa_request_trains_each_touched_shard_once_from_its_resume_point(monkeypatch, where):
    """Several rows per shard, in several slices: each touched shard runs its stages from
    the earliest changed slice on, once (counted at the training call itself), and the
    ensemble equals the reference refitted on the retained rows with the same seeds."""
    tab = _tabular()
    u = SISA(model="mlp", epochs=8, shards=3, slices=3, seed=1).fit(tab)
    if where == "one-shard":  # shard 1: rows in slices 1 and 2 -> resume at 1
        rows, resume = _rows_in(u, 1, 1, 2) + _rows_in(u, 1, 2, 3), {1: 1}
    else:  # every shard, earliest changed slice s for shard s, plus rows in later slices
        rows, resume = [], {}
        for s in range(3):
            rows += [r for stage in range(s, 3) for r in _rows_in(u, s, stage, 2)]
            resume[s] = s
    calls = []
    real = sharded._train_backbone

    def spy(model, view, cfg, seed, config):
        calls.append(seed)
        return real(model, view, cfg, seed, config)

    monkeypatch.setattr(sharded, "_train_backbone", spy)
    rep = u.unlearn(SampleRequest(sorted(rows)))
    monkeypatch.setattr(sharded, "_train_backbone", real)
    stage_of = {_stage_seed(1, s, r): (s, r) for s in range(3) for r in range(3)}
    trained = sorted(stage_of[c] for c in calls)
    assert trained == [(s, r) for s in sorted(resume) for r in range(resume[s], 3)]
    assert rep.affected["resumed_from_stage"] == {str(s): r for s, r in resume.items()}
    assert rep.affected["shards_retrained"] == len(resume)
    assert rep.affected["slices_retrained"] == len(trained)
    assert rep.affected["slices_retrained_per_shard"] == {str(s): 3 - r for s, r in resume.items()}
    ref = u.reference().fit(u.data_)
    assert all(_equal_states(a, b) for a, b in zip(_shard_states(u), _shard_states(ref), strict=True))
    assert torch.equal(u.predict_logits(), ref.predict_logits())


def test_bad_parameters(data):
    for bad in (dict(shards=0), dict(setting="semi"), dict(aggregator="median"),
                dict(partition="nope")):
        with pytest.raises(GraphForgetError):
            GraphEraser(epochs=1, **bad).fit(data)


def test_bench_cell_distance_is_zero():
    from graphforget.bench.runner import CellSpec, run_cell

    rec = run_cell(CellSpec("grapheraser", "synthetic", "sgc", "node", 0.05, 0,
                            params={"epochs": EPOCHS, "shards": 3, "partition": "bekm"}))
    assert rec["distance_to_retrain"] == 0.0
    assert rec["utility_unlearned"] == rec["utility_retrain"]
    assert rec["retrain_single_seconds"] > 0 and 0 <= rec["utility_single"] <= 1


@pytest.mark.slow
def test_process_executor_gives_identical_models(data):
    serial = GraphEraser(epochs=EPOCHS, shards=2, partition="random").fit(data)
    proc = GraphEraser(epochs=EPOCHS, shards=2, partition="random", executor="process",
                       executor_kwargs={"workers": 2}).fit(data)
    try:
        assert proc.fingerprint() == serial.fingerprint()
        v = int(serial.partition_.shard_nodes(1)[0])
        serial.unlearn(NodeRequest([v]))
        proc.unlearn(NodeRequest([v]))
        assert proc.fingerprint() == serial.fingerprint()
    finally:
        proc.close()


def test_ray_executor_gives_identical_models(data, ray_cluster):
    serial = GraphEraser(epochs=EPOCHS, shards=2, partition="random").fit(data)
    ray_u = GraphEraser(epochs=EPOCHS, shards=2, partition="random", executor="ray").fit(data)
    assert ray_u.fingerprint() == serial.fingerprint()


def test_executor_shared_argument_and_names():
    ex = make_executor("Serial")
    assert ex.map(lambda s, a: s + a, [(1,), (2,)], shared=10) == [11, 12]
    with pytest.raises(GraphForgetError, match="executor"):
        make_executor("threads")


@pytest.mark.parametrize("model,hops", [("gcn", 3), ("sage", 2), ("gat", 2), ("sgc", 3)])
def test_transductive_shards_train_on_the_receptive_field_without_changing_the_model(data, model, hops):
    # with dropout off the loss on the training nodes' receptive field (layers hops, plus one
    # where messages are normalised by their source's degree) is the loss on the whole shard
    # graph: same weights up to float summation order, same predictions
    def fit(train_hops: int | None = -1) -> GraphEraser:
        u = GraphEraser(model=model, epochs=EPOCHS, shards=3, partition="random", dropout=0.0, seed=3)
        if train_hops != -1:
            u._train_hops = lambda: train_hops
        return u.fit(data)

    whole, reduced = fit(None), fit()
    assert reduced._config()["train_hops"] == hops
    if hops == 3:  # one hop fewer misses the outermost nodes' degrees: a different model
        short = fit(hops - 1)
        assert any(not torch.allclose(a[k], b[k], atol=1e-5)
                   for a, b in zip(_shard_states(whole), _shard_states(short), strict=True) if a for k in a)
    for a, b in zip(_shard_states(whole), _shard_states(reduced), strict=True):
        for key in a:
            assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert torch.equal(whole.predict(), reduced.predict())
    # a user's model: graphforget cannot see its propagation, so the whole shard graph is used
    assert GraphEraser(model=lambda: build_model("gcn", 8, 3))._train_hops() is None
