"""RecEraser, recommendation data/requests, partitions and ranking metrics."""

from __future__ import annotations

import math

import pytest
import torch

from graphforget.errors import InvalidRequestError
from graphforget.exact.receraser import AttentionAggregator, train_rec_shard_job
from graphforget.executor import make_executor
from graphforget.recommendation import (
    InteractionRequest,
    RecEraser,
    RecommendationRetrain,
    UserRequest,
    capacity_assign,
    interaction_data,
    ranking_metrics,
    receraser_partition,
    sample_interactions,
    sample_users,
    split_pairs,
    train_bpr,
)
from graphforget.requests import request_from_dict
from graphforget.testing import check_unlearner

FAST = dict(shards=3, embedding_dim=8, epochs=10, batch_size=128, eval_every=2, patience=2,
            aggregator_epochs=6, partition_iterations=5)


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    num_users, num_items = 40, 30
    users = torch.randint(num_users, (600,), generator=g)
    items = (users % 3) * 10 + torch.randint(10, (600,), generator=g)  # three taste groups
    keys = torch.unique(users * num_items + items)
    split = torch.zeros(keys.numel(), dtype=torch.long)
    perm = torch.randperm(keys.numel(), generator=g)
    split[perm[:60]] = 2
    split[perm[60:120]] = 1
    return interaction_data(keys // num_items, keys % num_items, num_users, num_items, split)


def test_metrics_on_a_hand_built_example():
    # 2 users, 4 items; scores are dot products with one-dimensional embeddings
    user = torch.tensor([[1.0], [1.0]])
    item = torch.tensor([[4.0], [3.0], [2.0], [1.0]])
    known = torch.tensor([[0], [0]])  # user 0 trained on item 0: masked from its ranking
    target = torch.tensor([[0, 0, 1], [1, 3, 2]])  # user 0 -> {1, 3}; user 1 -> {2}
    out = ranking_metrics(user, item, known, target, ks=(1, 2))
    # user 0 ranks 1, 2, 3: hits at rank 1 (and 3). user 1 ranks 0, 1, 2, 3: hit at rank 3.
    assert out["recall@1"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["ndcg@1"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    idcg0 = 1 + 1 / math.log2(3)
    assert out["ndcg@2"] == pytest.approx((1.0 / idcg0 + 0.0) / 2)
    assert out["users"] == 2



def _brute_force_metrics(user, item, known, target, k, users):
    """Per-user Python loop: rank all items but the known ones, compare with the targets."""
    recall, ndcg = [], []
    for u in users:
        t = set(target[1, target[0] == u].tolist())
        if not t:
            continue
        masked = set(known[1, known[0] == u].tolist())
        scores = (item @ user[u]).tolist()
        ranked = sorted((i for i in range(item.size(0)) if i not in masked), key=lambda i: -scores[i])[:k]
        hits = [i in t for i in ranked]
        recall.append(sum(hits) / len(t))
        ideal = sum(1 / math.log2(j + 2) for j in range(min(k, len(t))))
        ndcg.append(sum(h / math.log2(j + 2) for j, h in enumerate(hits)) / ideal)
    return sum(recall) / len(recall), sum(ndcg) / len(ndcg), len(recall)


@pytest.mark.parametrize("subset", [False, True])
def test_metrics_match_a_per_user_loop_across_batches(subset):
    # unsorted pairs, several user batches, optional user subset: same numbers as a loop
    g = torch.Generator().manual_seed(3)
    num_users, num_items = 37, 23
    user, item = torch.randn(num_users, 4, generator=g), torch.randn(num_items, 4, generator=g)
    keys = torch.randperm(num_users * num_items, generator=g)[:300]
    pairs = torch.stack([keys // num_items, keys % num_items])
    known, target = pairs[:, :200], pairs[:, 200:]
    users = torch.arange(0, num_users, 2) if subset else None
    out = ranking_metrics(user, item, known, target, ks=(5,), batch_size=4, users=users)
    want = _brute_force_metrics(user, item, known, target, 5,
                                users.tolist() if subset else range(num_users))
    assert out["recall@5"] == pytest.approx(want[0])
    assert out["ndcg@5"] == pytest.approx(want[1])
    assert out["users"] == want[2]


def test_requests_validate_apply_and_roundtrip(data):
    pairs = split_pairs(data, "train")[:, :3]
    req = InteractionRequest(pairs)
    retained = req.apply(data)
    assert retained.edge_index.size(1) == data.edge_index.size(1) - 3
    assert request_from_dict(req.to_dict()) == req
    with pytest.raises(InvalidRequestError, match="not retained training"):
        req.validate(retained)  # already forgotten
    test_pair = split_pairs(data, "test")[:, :1]
    with pytest.raises(InvalidRequestError):
        InteractionRequest(test_pair).validate(data)
    with pytest.raises(InvalidRequestError, match="out of range"):
        InteractionRequest([[0], [data.num_items]]).validate(data)
    with pytest.raises(TypeError):
        InteractionRequest(torch.tensor([[0.5], [1.0]]))
    user = int(pairs[0, 0])
    gone = UserRequest([user]).apply(data)
    assert not bool((gone.edge_index[0] == user).any()) and bool(gone.forgotten_mask[user])
    with pytest.raises(InvalidRequestError, match="already forgotten"):
        UserRequest([user]).validate(gone)
    assert request_from_dict(UserRequest([user]).to_dict()) == UserRequest([user])


def test_capacity_assignment_respects_capacity():
    g = torch.Generator().manual_seed(0)
    dist = torch.rand(100, 4, generator=g)
    dist[:, 0] -= 1  # everyone prefers anchor 0
    assign = capacity_assign(dist, 30)
    assert (assign >= 0).all()
    assert int(torch.bincount(assign, minlength=4).max()) <= 30


@pytest.mark.parametrize("method", ["ubp", "ibp", "inbp", "random"])
def test_partitions_are_balanced_and_declare_dependencies(data, method):
    part = receraser_partition(data, 3, method, seed=0, capacity=1.2, iterations=5,
                               embedding_dim=8, embedding_config={"epochs": 3})
    train = data.edge_split == 0
    assert bool((part.edge_shard[train] >= 0).all()) and bool((part.edge_shard[~train] == -1).all())
    sizes = torch.bincount(part.edge_shard[train], minlength=3)
    if method in ("inbp", "random"):  # capacity is counted in interactions
        assert int(sizes.max()) <= math.ceil(1.2 * int(train.sum()) / 3)
    assert part.data_dependent == (method != "random")


def test_conformance_receraser(data):
    requests = [sample_interactions(data, count=5, seed=1), sample_users(data, count=1, seed=2)]
    summary = check_unlearner(lambda: RecEraser(aggregator_update="full", **FAST), data, requests=requests)
    assert "exact-equals-reference" in summary["checks"]
    report = summary["reports"][0]
    assert report["diagnostics"]["aggregator_retrained"] is True
    assert report["guarantee"] == "exact"
    assert "aggregator" in report["breakdown"]


def test_conformance_receraser_incremental_aggregator(data):
    requests = [sample_interactions(data, count=5, seed=1), sample_users(data, count=1, seed=2)]
    summary = check_unlearner(lambda: RecEraser(**FAST), data, requests=requests)
    # the default update leaves the aggregator approximate, so the whole-model check is skipped
    assert "exact-equals-reference" not in summary["checks"]
    assert "save-load-roundtrip" in summary["checks"] and "deterministic" in summary["checks"]
    report = summary["reports"][0]
    assert report["guarantee"] == "approximate"
    assert report["diagnostics"]["aggregator_update"] == "incremental"
    assert report["diagnostics"]["aggregator_retrained"] is False
    assert RecEraser.guarantee.value == "exact"  # the class (its family) stays exact
    assert RecEraser(aggregator="mean").guarantee.value == "exact"


def test_incremental_aggregator_update(data):
    import copy

    base = RecEraser(partition="ubp", **FAST).fit(data)
    before_users = base.final_[0].clone()
    old = {k: v.clone() for k, v in base.aggregator_.named_parameters()}
    # one interaction of one UBP shard: only that shard is retrained
    pair = base._shard_data(base.data_)[1][0][:, :1]
    request = InteractionRequest(pair)
    inc, full = copy.deepcopy(base), copy.deepcopy(base).set_params(aggregator_update="full")
    frozen = copy.deepcopy(base).set_params(aggregator_update_epochs=0)
    r_inc, r_full, r_frozen = inc.unlearn(request), full.unlearn(request), frozen.unlearn(request)
    assert r_inc.affected["shards"] == r_full.affected["shards"] == [1]
    # the shard models are exact in both modes: equal to each other and to a fresh reference
    ref = full.reference().fit(full.data_)
    for a, b, c in zip(inc.shards_, full.shards_, ref.shards_, strict=True):
        assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
        assert all(torch.equal(a["state"][k], c["state"][k]) for k in a["state"])
    d = r_inc.diagnostics
    # UBP: users outside shard 1 keep their shard embeddings, so only some rows changed
    assert 0 < d["aggregator_changed_users"] < int(data.num_users)
    assert d["aggregator_train_interactions"] <= split_pairs(inc.data_, "train").size(1)
    assert d["aggregator_update_epochs_run"] == 1
    assert r_frozen.diagnostics["aggregator_update_epochs_run"] == 0
    # warm start: with 0 epochs the parameters are the old ones, and a user whose shard
    # embeddings did not change keeps its aggregated row bit for bit
    for k, v in frozen.aggregator_.named_parameters():
        assert torch.equal(v, old[k]), k
    unchanged = (frozen.stack_users_ == base.stack_users_).all(-1).all(0)
    assert bool(unchanged.any())
    assert torch.equal(frozen.final_[0][unchanged], before_users[unchanged])
    user = int(pair[0, 0])
    assert not bool(unchanged[user])  # the request's user lost an interaction: its inputs changed
    # one epoch of training moves the parameters and the request user's row
    assert any(not torch.equal(v, old[k]) for k, v in inc.aggregator_.named_parameters())
    assert not torch.equal(inc.final_[0][user], before_users[user])
    # retained utility stays close to the full refit's
    assert abs(inc.score() - full.score()) < 0.05, (inc.score(), full.score())


def test_incremental_aggregator_sample_is_the_retrained_shards_share(data):
    """``aggregator_update_on="sample"`` (default) trains the update on a uniform sample of
    the retained interactions, as many as the retrained shards hold; ``"users"`` on every
    retained interaction of the users whose inputs changed, a superset here."""
    import copy

    base = RecEraser(partition="ubp", **FAST).fit(data)
    pair = base._shard_data(base.data_)[2][0][:, :1]
    request = InteractionRequest(pair)
    sample, on_users = copy.deepcopy(base), copy.deepcopy(base).set_params(aggregator_update_on="users")
    r_s, r_u = sample.unlearn(request), on_users.unlearn(request)
    assert r_s.affected["shards"] == r_u.affected["shards"] == [2]
    shard_rows = sample._shard_data(sample.data_)[2][0].size(1)
    retained = split_pairs(sample.data_, "train").size(1)
    assert r_s.diagnostics["aggregator_update_on"] == "sample"
    assert r_s.diagnostics["aggregator_train_interactions"] == shard_rows < retained
    assert r_u.diagnostics["aggregator_train_interactions"] > shard_rows
    # shard models equal in both; only the aggregator's update differs
    for a, b in zip(sample.shards_, on_users.shards_, strict=True):
        assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert any(not torch.equal(a, b) for a, b in zip(sample.aggregator_.parameters(),
                                                     on_users.aggregator_.parameters(), strict=True))
    assert abs(sample.score() - on_users.score()) < 0.05
    # one shard retrained: only its transform and bias moved; the other shards' and the
    # shared attention layer are bit for bit the old ones
    assert r_s.diagnostics["aggregator_trained"] == "retrained shards"
    old, new = base.aggregator_.state_dict(), sample.aggregator_.state_dict()
    for side in ("user", "item"):
        for name in (f"transform.{side}", f"bias.{side}"):
            others = [s for s in range(base.shards) if s != 2]
            assert torch.equal(new[name][others], old[name][others]), name
        assert not torch.equal(new[f"transform.{side}"][2], old[f"transform.{side}"][2])
    for name in old:
        if name.startswith(("attn.", "query.")):
            assert torch.equal(new[name], old[name]), name
    assert all(p.requires_grad for p in sample.aggregator_.parameters())
    # a request that hits every shard trains on every retained interaction
    every = copy.deepcopy(base)
    pairs = torch.cat([p[0][:, :1] for p in base._shard_data(base.data_)], dim=1)
    r_all = every.unlearn(InteractionRequest(pairs))
    assert len(r_all.affected["shards"]) == base.shards
    assert r_all.diagnostics["aggregator_train_interactions"] == split_pairs(every.data_, "train").size(1)
    assert r_all.diagnostics["aggregator_trained"] == "all"
    with pytest.raises(ValueError, match="aggregator_update_on"):
        copy.deepcopy(base).set_params(aggregator_update_on="shards").unlearn(request)


def test_incremental_aggregator_sequence_and_bad_mode(data):
    u = RecEraser(**FAST).fit(data)
    for seed in range(3):
        u.unlearn(sample_interactions(u.data_, count=4, seed=seed))
    u.unlearn(sample_users(u.data_, count=1, seed=5))
    assert 0.0 <= u.score() <= 1.0
    state = u.fingerprint()
    for bad in ({"aggregator_update": "none"}, {"aggregator_update_epochs": -1}):
        u.set_params(**bad)
        with pytest.raises(ValueError, match="aggregator_update"):
            u.unlearn(sample_interactions(u.data_, count=1, seed=9))
        assert u.fingerprint() == state
        u.set_params(aggregator_update="incremental", aggregator_update_epochs=1)


def test_conformance_retrain(data):
    summary = check_unlearner(lambda: RecommendationRetrain(embedding_dim=8, epochs=6, batch_size=128),
                              data, requests=[sample_interactions(data, count=3, seed=1)],
                              )
    assert "exact-equals-reference" in summary["checks"]


def test_shard_retraining_is_exact_and_local(data):
    u = RecEraser(model="lightgcn", partition="ubp", **{k: v for k, v in FAST.items()}).fit(data)
    per_shard = u._shard_data(u.data_)
    sizes = [p[0].size(1) for p in per_shard]
    assert all(s > 0 for s in sizes)
    # a user's interactions live in one UBP shard: forgetting one touches that shard only
    pair = per_shard[1][0][:, :1]
    report = u.unlearn(InteractionRequest(pair))
    assert report.affected["shards"] == [1]
    fresh = train_rec_shard_job(u._spec(u.data_, 1, u._shard_data(u.data_)[1]))["state"]
    assert all(torch.equal(fresh[k], u.shards_[1]["state"][k]) for k in fresh)
    assert 0.0 <= u.score() <= 1.0


def test_one_executor_serves_fit_and_requests(data, monkeypatch):
    made = []
    import graphforget.executor as module

    def counting(name, **kwargs):
        made.append(name)
        return make_executor(name, **kwargs)

    monkeypatch.setattr(module, "make_executor", counting)
    u = RecEraser(partition="ubp", **FAST).fit(data)
    ex = u._executor_obj
    pair = u._shard_data(u.data_)[0][0][:, :1]
    u.unlearn(InteractionRequest(pair))
    assert made == ["serial"] and u._executor_obj is ex  # not restarted per request
    u.close()
    assert u._executor_obj is None
    u.unlearn(InteractionRequest(u._shard_data(u.data_)[1][0][:, :1]))  # usable after close
    assert made == ["serial", "serial"]


def test_aggregator_minibatch_rows_match_the_full_tables(data):
    g = torch.Generator().manual_seed(1)
    users, items = torch.randn(3, 40, 8, generator=g), torch.randn(3, 30, 8, generator=g)

    def fresh():
        torch.manual_seed(0)
        return AttentionAggregator(users, items, attention_dim=4)

    agg = fresh()
    ue, ie = agg.embeddings()
    ru, ri = agg.rows(torch.tensor([5, 0, 39]), torch.tensor([2, 29]))
    assert torch.allclose(ru, ue[[5, 0, 39]]) and torch.allclose(ri, ie[[2, 29]])
    # BPR training on mini-batch rows takes the same steps as on the full tables
    config = {"epochs": 3, "lr": 0.01, "weight_decay": 1e-3, "batch_size": 64, "eval_every": 1,
              "patience": None}
    train = split_pairs(data, "train")
    reg = dict(ego_fn=lambda m, u, i, j: 0.5 * m.l2() * u.numel())
    full, rows = fresh(), fresh()
    train_bpr(full, train, 40, 30, config, seed=3, **reg)
    train_bpr(rows, train, 40, 30, config, seed=3, rows_fn=lambda m, u, i: m.rows(u, i), **reg)
    for (name, a), b in zip(full.named_parameters(), rows.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


def test_recommendation_task_registered():
    from graphforget.bench.tasks import resolve_task

    task = resolve_task("recommendation")
    assert task.utility_metric == "recall@20"
    assert set(task.request_kinds) == {"interaction", "user"}
    assert task.retrain_class is RecommendationRetrain


def test_bad_parameters_raise(data):
    for kwargs in ({"partition": "metis"}, {"model": "gcn"}, {"aggregator": "learned"}, {"shards": 0}):
        with pytest.raises(ValueError):
            RecEraser(**{**FAST, **kwargs}).fit(data)
