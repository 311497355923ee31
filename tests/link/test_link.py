import json
import math

import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.link import (
    LinkRetrain,
    auprc,
    canonical_edges,
    deletion_pool,
    df_auc,
    df_metrics,
    dt_metrics,
    link_split,
    sample_link_edges,
    sample_non_edges,
    small_link_graph,
)
from graphforget.metrics import roc_auc
from graphforget.testing import check_unlearner, small_graph

torch.set_num_threads(1)  # the shared CI box is oversubscribed; tiny graphs run faster single-threaded


@pytest.fixture(scope="module")
def link_graph():
    return small_link_graph()


def _keys(pairs, n):
    lo, hi = pairs.min(0).values, pairs.max(0).values
    return set((lo * n + hi).tolist())


def test_link_split_is_a_partition_with_true_negatives():
    base = small_graph(num_nodes=150)
    data = link_split(base, 0.1, 0.2, seed=4)
    n = base.num_nodes
    all_edges = _keys(canonical_edges(base.edge_index), n)
    train = _keys(canonical_edges(data.edge_index), n)
    val, test = _keys(data.val_pos, n), _keys(data.test_pos, n)
    assert train | val | test == all_edges
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(test) == round(0.2 * len(all_edges)) and len(val) == round(0.1 * len(all_edges))
    negs = _keys(torch.cat([data.val_neg, data.test_neg], 1), n)
    assert not (negs & all_edges) and len(negs) == data.val_neg.size(1) + data.test_neg.size(1)
    assert bool((data.test_neg[0] != data.test_neg[1]).all())
    # both directions of every training edge, and seeded
    assert _keys(data.edge_index.flip(0), n) == train and data.edge_index.size(1) == 2 * len(train)
    again = link_split(base, 0.1, 0.2, seed=4)
    assert torch.equal(again.test_pos, data.test_pos) and torch.equal(again.test_neg, data.test_neg)
    assert not torch.equal(link_split(base, 0.1, 0.2, seed=5).test_pos, data.test_pos)


def test_bad_split_ratios_raise():
    with pytest.raises(GraphForgetError, match="val_ratio"):
        link_split(small_graph(), 0.6, 0.5)
    with pytest.raises(GraphForgetError, match="test_ratio"):
        link_split(small_graph(), 0.1, 1.5)


def test_sample_non_edges_avoids_edges_and_is_deterministic():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    pairs = sample_non_edges(ei, 6, 10, 0)
    assert pairs.size(1) == 10 and bool((pairs[0] < pairs[1]).all())
    assert not (_keys(pairs, 6) & {1, 8})  # (0,1), (1,2)
    assert len(_keys(pairs, 6)) == 10
    assert torch.equal(pairs, sample_non_edges(ei, 6, 10, 0))
    with pytest.raises(GraphForgetError, match="non-edges"):
        sample_non_edges(ei, 6, 14, 0)


def test_deletion_pools_partition_training_edges(link_graph):
    n = link_graph.num_nodes
    inside, outside = deletion_pool(link_graph, "in"), deletion_pool(link_graph, "out")
    everything = _keys(deletion_pool(link_graph, "all"), n)
    assert _keys(inside, n) | _keys(outside, n) == everything
    assert not (_keys(inside, n) & _keys(outside, n))
    req = sample_link_edges(link_graph, count=3, seed=0, pool="in")
    assert _keys(req.edge_index, n) <= _keys(inside, n)
    with pytest.raises(GraphForgetError, match="pool"):
        deletion_pool(link_graph, "near")


def test_auprc_matches_sklearn():
    from sklearn.metrics import average_precision_score

    g = torch.Generator().manual_seed(0)
    score = torch.randint(0, 20, (300,), generator=g).float()  # many ties
    label = torch.rand(300, generator=g) > 0.6
    assert auprc(score, label) == pytest.approx(average_precision_score(label.numpy(), score.numpy()))
    with pytest.raises(GraphForgetError):
        auprc(score, torch.ones(300, dtype=torch.bool))


def test_df_auc_single_full_draw_equals_roc_auc():
    g = torch.Generator().manual_seed(1)
    deleted, retained = torch.randn(40, generator=g), torch.randn(40, generator=g) + 0.5
    out = df_auc(deleted, retained, draws=3, seed=0)
    labels = torch.cat([torch.zeros(40), torch.ones(40)])
    assert out["auc"] == pytest.approx(roc_auc(torch.cat([deleted, retained]), labels))
    assert out["auc_std"] == pytest.approx(0.0, abs=1e-12)
    pool = torch.randn(400, generator=g)
    assert df_auc(deleted, pool, draws=500, seed=3) == df_auc(deleted, pool, draws=500, seed=3)
    assert df_auc(deleted, pool, draws=500, seed=3)["auc_std"] > 0
    with pytest.raises(GraphForgetError):
        df_auc(torch.randn(5), torch.randn(3))


def test_df_is_one_half_for_a_model_that_never_saw_edges(link_graph):
    # a features-only MLP that was never trained: deleted and retained edges are
    # exchangeable for it, so Df must be 0.5 up to sampling noise
    data = small_link_graph(num_nodes=300, num_features=16)
    u = LinkRetrain(model="mlp", epochs=0).fit(data)
    req = sample_link_edges(data, ratio=0.1, seed=2)
    u.unlearn(req)
    out = df_metrics(u, req.edge_index, draws=500, seed=0)
    k = req.edge_index.size(1)
    noise = math.sqrt((2 * k + 1) / (12 * k * k))  # std of the AUROC of two exchangeable samples
    assert abs(out["auc"] - 0.5) < 3 * noise, out


def test_link_retrain_conformance_and_exactness(link_graph):
    done = check_unlearner(lambda: LinkRetrain(epochs=20, hidden_channels=16), link_graph)
    assert "exact-equals-reference" in done["checks"]


def test_link_retrain_learns(link_graph):
    data = small_link_graph(num_nodes=300, num_features=16)
    trained = LinkRetrain(epochs=100, hidden_channels=32).fit(data)
    untrained = LinkRetrain(epochs=0, hidden_channels=32).fit(data)
    assert dt_metrics(trained)["auc"] > dt_metrics(untrained)["auc"] + 0.05


def test_mlp_decoder_and_node_data_rejected(link_graph):
    u = LinkRetrain(epochs=5, decoder="mlp", hidden_channels=8).fit(link_graph)
    assert 0.0 <= u.link_metrics()["auc"] <= 1.0
    with pytest.raises(GraphForgetError, match="link_split"):
        LinkRetrain(epochs=1).fit(small_graph())
    with pytest.raises(GraphForgetError, match="decoder"):
        LinkRetrain(epochs=1, decoder="bilinear").fit(link_graph)


def test_bench_cli_link_task(tmp_path):
    from graphforget.bench.cli import main

    out = tmp_path / "rec.json"
    rc = main(["bench", "--method", "retrain", "--method", "gnndelete", "--task", "link",
               "--dataset", "synthetic:nodes=150,features=8", "--request", "edge",
               "--ratio", "0.05", "--param", "epochs=15", "--param", "hidden_channels=16",
               "--json", str(out)])
    assert rc == 0
    records = json.loads(out.read_text())
    assert [r["method"] for r in records] == ["retrain", "gnndelete"]
    for r in records:
        assert r["utility_metric"] == "auc" and r["task"] == "link"
        assert 0 <= r["df_auc_unlearned"] <= 1 and 0 <= r["df_auc_retrain"] <= 1
    # retrain is the exact reference: its Df equals the reference's
    assert records[0]["df_auc_unlearned"] == records[0]["df_auc_retrain"]
    # GNNDelete adds deletion operators, so both of its distances are output KLs (one unit)
    assert records[0]["distance_kind"] == "parameter_l2" and records[0]["distance_to_retrain"] == 0
    assert records[1]["distance_kind"] == "output_kl"
    assert records[1]["distance_original_to_retrain"] > 0 and records[1]["distance_to_retrain"] >= 0
