import functools
import json
import math

import pytest
import torch

from graphforget.data import apply_split, csbm
from graphforget.errors import GraphForgetError
from graphforget.exact.retrain import Retrain
from graphforget.metrics import HIGHER_IS_BETTER
from graphforget.metrics.poison import flip_labels, inject_heterophilic_edges, recovery
from graphforget.metrics.privacy import (
    AttackResult,
    bootstrap_auc,
    loss_attack,
    membership_report,
    query_logits,
    shadow_attack,
)
from graphforget.requests import EdgeRequest, NodeRequest

from ._helpers import tiny_graph

OVERFIT = dict(model="gcn", epochs=150, weight_decay=0.0, dropout=0.0, hidden_channels=64, seed=0)


@functools.lru_cache(maxsize=1)
def _noisy_graph():
    data = csbm(num_nodes=300, num_classes=3, num_features=16, avg_degree=4, homophily=0.6,
                signal=0.4, seed=1)
    data = apply_split(data, "0.3/0.2/0.5", 1)
    data.num_classes = 3
    return data


@functools.lru_cache(maxsize=1)
def _overfit_run():
    """An overfit model, its posteriors, and the same model after forgetting 30 nodes."""
    data = _noisy_graph()
    u = Retrain(**OVERFIT).fit(data)
    original = query_logits(u, data)
    train = data.train_mask.nonzero().view(-1)
    forgotten = train[:30]
    u.unlearn(NodeRequest(forgotten))
    return data, original, u, forgotten


def test_loss_attack_detects_members_of_an_overfit_model_and_retraining_removes_them():
    data, original, retrained, forgotten = _overfit_run()
    train = data.train_mask.nonzero().view(-1)
    test = data.test_mask.nonzero().view(-1)
    # before unlearning the forgotten nodes are members: the attack sees them
    members = loss_attack(original, data, forgotten, train[30:], test)
    assert members.auc > 0.7 and members.auc_low > 0.6
    assert members.extra["calibration_auc"] > 0.7 and members.extra["advantage"] > 0.2
    # after exact unlearning they look like test nodes; a no-op "unlearning" does not
    after = loss_attack(query_logits(retrained, data), data, forgotten, train[30:], test,
                        reference_logits=original)
    assert after.auc < 0.6 and after.auc_low < 0.5 < after.auc_high
    assert after.auc_retrain == pytest.approx(members.auc)
    assert after.gap > 0.2


def test_membership_report_gives_every_attack_and_retrains_figure():
    data, original, retrained, forgotten = _overfit_run()
    report = membership_report(original, retrained, retrained, data, forgotten, seed=0)
    assert set(report) == {"loss", "posterior", "shadow"}
    for result in report.values():
        assert isinstance(result, AttackResult) and result.higher_is_better is False
        assert 0 <= result.auc_low <= result.auc <= result.auc_high <= 1
        assert result.auc_retrain == result.auc  # the unlearner *is* Retrain here
        assert result.positives == 30 and result.negatives > 0
        json.dumps(result.to_dict())
    # Chen et al.: even exact retraining leaks through the posterior difference
    assert report["posterior"].auc > 0.55
    # the same seed gives the same figures
    again = membership_report(original, retrained, retrained, data, forgotten, attacks=["posterior"], seed=0)
    assert again["posterior"].to_dict() == report["posterior"].to_dict()
    assert HIGHER_IS_BETTER["mia_auc"] is False and HIGHER_IS_BETTER["poison_recovered"] is True


def test_shadow_attack_learns_membership_from_disjoint_shadows():
    data, _, _, forgotten = _overfit_run()
    target = Retrain(**OVERFIT).fit(data)  # still trained on the "forgotten" nodes
    result = shadow_attack(target, data, forgotten, data.test_mask.nonzero().view(-1), seed=0)
    assert result.auc > 0.6 and result.extra["shadow_nodes"] > 50
    with pytest.raises(GraphForgetError, match="disjoint"):
        shadow_attack(target, data, forgotten, data.test_mask, shadow_pool=forgotten)


def test_bootstrap_interval_and_errors():
    pos, neg = torch.tensor([3.0, 4.0, 5.0]), torch.tensor([0.0, 1.0, 2.0, 3.0])
    auc, low, high = bootstrap_auc(pos, neg, samples=100, seed=1)
    assert auc == pytest.approx((3 * 4 - 0.5) / 12) and low <= auc <= high <= 1
    assert bootstrap_auc(pos, neg, samples=100, seed=1) == (auc, low, high)
    with pytest.raises(GraphForgetError, match="positives and negatives"):
        bootstrap_auc(pos, torch.tensor([]))
    with pytest.raises(GraphForgetError, match="membership_report|unknown attack"):
        membership_report(torch.zeros(3, 2), None, None, tiny_graph(), [0], attacks=["nope"])


def test_edge_poison_is_exactly_removed_by_its_request():
    clean = tiny_graph()
    poisoned, request = inject_heterophilic_edges(clean, ratio=0.1, seed=0)
    m = clean.edge_index.size(1) // 2
    assert isinstance(request, EdgeRequest) and len(request) == round(0.1 * m)
    u, v = request.edge_index
    assert bool((clean.y[u] != clean.y[v]).all())  # heterophilic
    assert poisoned.edge_index.size(1) == clean.edge_index.size(1) + 2 * len(request)
    assert torch.equal(request.apply(poisoned).edge_index, clean.edge_index)
    assert torch.equal(clean.edge_index, tiny_graph().edge_index)  # input untouched


def test_label_poison_and_recovery():
    clean = tiny_graph()
    poisoned, request = flip_labels(clean, ratio=0.2, seed=0)
    ids = request.node_ids
    assert bool((poisoned.y[ids] != clean.y[ids]).all()) and bool(clean.train_mask[ids].all())
    assert int((poisoned.y != clean.y).sum()) == len(request)
    assert recovery(0.8, 0.6, 0.8) == 1.0 and recovery(0.8, 0.6, 0.6) == 0.0
    assert recovery(0.8, 0.6, 0.7) == pytest.approx(0.5) and math.isnan(recovery(0.7, 0.7, 0.7))
    with pytest.raises(GraphForgetError, match="poison ratio"):
        flip_labels(clean, ratio=0)


def test_bench_switches_add_the_contract_fields(tmp_path):
    from graphforget.bench.cli import main

    path = tmp_path / "mia.json"
    common = ["bench", "--method", "retrain", "--dataset", "synthetic:nodes=150,features=8",
              "--model", "gcn", "--param", "epochs=5", "--param", "hidden_channels=8"]
    assert main([*common, "--ratio", "0.2", "--mia", "--json", str(path)]) == 0
    record = json.loads(path.read_text())[0]
    assert 0 <= record["mia_auc"] <= 1 and record["mia_auc"] == record["mia_auc_retrain"]
    assert main([*common, "--poison", "--json", str(path)]) == 0
    record = json.loads(path.read_text())[0]
    assert record["request"] == "edge" and record["poison"]["kind"] == "edge"
    # exact retraining on the retained (= clean) graph recovers all of the gap
    assert math.isnan(record["poison_recovered"]) or record["poison_recovered"] == pytest.approx(1.0)
    assert main([*common, "--mia", "nope"]) == 2
    assert main([*common, "--mia", "--request", "edge"]) == 2
