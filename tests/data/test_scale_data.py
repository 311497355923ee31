"""Real-scale synthetic graphs (DC-SBM, presets) and the OGB loaders (on tiny folders in
OGB's on-disk layout: no network)."""

import math
import os
import stat
import sys

import numpy as np
import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected, to_undirected

from graphforget.data import (
    SYNTHETIC_PRESETS,
    csbm,
    dataset_names,
    dcsbm,
    load_dataset,
    parse_synthetic,
    synthetic_graph,
    undirected_edges,
)
from graphforget.data._synthetic import _propensities, _WeightedNodeSampler
from graphforget.errors import GraphForgetError

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


def _degrees(data):
    return torch.bincount(data.edge_index[0], minlength=data.num_nodes)


def _edge_homophily(data):
    return float((data.y[data.edge_index[0]] == data.y[data.edge_index[1]]).float().mean())


def _assert_simple_undirected(data):
    ei = data.edge_index
    assert is_undirected(ei, num_nodes=data.num_nodes)
    assert not (ei[0] == ei[1]).any()
    keys = ei[0] * data.num_nodes + ei[1]
    assert torch.equal(keys, torch.unique(keys))  # sorted, no duplicates


# ---------------------------------------------------------------------------
# DC-SBM
# ---------------------------------------------------------------------------
def test_dcsbm_is_seeded_simple_and_has_the_requested_size():
    a = dcsbm(num_nodes=2000, num_classes=5, num_features=12, avg_degree=10, seed=3)
    b = dcsbm(num_nodes=2000, num_classes=5, num_features=12, avg_degree=10, seed=3)
    c = dcsbm(num_nodes=2000, num_classes=5, num_features=12, avg_degree=10, seed=4)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.edge_index, c.edge_index)
    _assert_simple_undirected(a)
    assert a.edge_index.size(1) == 2000 * 10  # m = n * d / 2 distinct edges, both directions
    assert a.x.shape == (2000, 12) and a.num_classes == 5
    assert torch.bincount(a.y).tolist() == [400] * 5


def test_dcsbm_degrees_are_heavy_tailed_and_csbm_degrees_are_not():
    n, d = 20000, 10.0
    heavy = _degrees(dcsbm(num_nodes=n, avg_degree=d, exponent=2.5, num_features=4, seed=0)).double()
    light = _degrees(csbm(num_nodes=n, avg_degree=d, num_features=4, seed=0)).double()
    assert heavy.max() > 30 * heavy.mean()
    assert light.max() < 4 * light.mean()
    # complementary CDF P(deg >= k) ~ k^-(gamma - 1): fitted log-log slope over the tail
    ks = torch.logspace(math.log10(3 * d), math.log10(float(heavy.max()) / 3), 12, dtype=torch.float64)
    ccdf = torch.stack([(heavy >= k).double().mean() for k in ks])
    slope = float(torch.linalg.lstsq(torch.stack([ks.log(), torch.ones_like(ks)], 1),
                                     ccdf.log().unsqueeze(1)).solution[0])
    assert -2.0 < slope < -1.0, slope  # gamma = 2.5 predicts -1.5
    steeper = _degrees(dcsbm(num_nodes=n, avg_degree=d, exponent=3.5, num_features=4, seed=0)).double()
    assert steeper.max() < heavy.max()


def test_dcsbm_max_degree_caps_the_hubs():
    capped = _degrees(dcsbm(num_nodes=5000, avg_degree=8, max_degree=40, num_features=4, seed=1))
    free = _degrees(dcsbm(num_nodes=5000, avg_degree=8, num_features=4, seed=1))
    assert int(free.max()) > 150
    assert int(capped.max()) < 80  # expected degree <= 40, plus Poisson spread


@pytest.mark.parametrize("homophily", [0.2, 0.65, 0.9])
def test_dcsbm_edge_homophily_is_close_to_the_request(homophily):
    data = dcsbm(num_nodes=3000, num_classes=6, avg_degree=12, homophily=homophily, num_features=4, seed=2)
    # same- and cross-class pairs are each drawn to their exact count
    same = int((data.y[data.edge_index[0]] == data.y[data.edge_index[1]]).sum())
    assert same == 2 * round(homophily * 18000)


def test_weighted_node_sampler_is_exact():
    g = torch.Generator().manual_seed(1)
    n, c, draws = 300, 3, 600_000
    y = torch.arange(n) % c
    theta = _propensities(n, 2.5, 50.0, g)
    sampler = _WeightedNodeSampler(theta, y, c)
    for target in (None, 2):
        tc = None if target is None else torch.full((draws,), target)
        nodes = sampler.draw(draws, tc, g)
        weight = theta if target is None else torch.where(y == target, theta, 0)
        if target is not None:
            assert (y[nodes] == target).all()
        expected = weight / weight.sum() * draws
        seen = torch.bincount(nodes, minlength=n).double()
        keep = expected > 0
        chi2 = float(((seen[keep] - expected[keep]) ** 2 / expected[keep]).sum())
        df = int(keep.sum()) - 1
        assert chi2 < df + 6 * math.sqrt(2 * df), (target, chi2, df)  # proposing groups by mass gives ~50x df


def test_undirected_edges_matches_pyg():
    g = torch.Generator().manual_seed(0)
    n = 50
    src, dst = torch.randint(n, (2, 400), generator=g)
    keep = src != dst
    lo, hi = torch.minimum(src, dst)[keep], torch.maximum(src, dst)[keep]
    expected = coalesce(to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n), num_nodes=n)
    assert torch.equal(undirected_edges(lo * n + hi, n), expected)


def test_dcsbm_rejects_bad_parameters():
    with pytest.raises(GraphForgetError, match="exponent must be > 1, got 1.0"):
        dcsbm(num_nodes=100, exponent=1.0)
    with pytest.raises(GraphForgetError, match="nodes=3 < classes=4"):
        dcsbm(num_nodes=3, num_classes=4)
    with pytest.raises(GraphForgetError, match="max_degree must be at least avg_degree"):
        dcsbm(num_nodes=100, avg_degree=8, max_degree=2)
    tiny = dcsbm(num_nodes=6, num_classes=2, avg_degree=8, num_features=2)  # cap below d: clipped
    _assert_simple_undirected(tiny)


# ---------------------------------------------------------------------------
# spec and presets
# ---------------------------------------------------------------------------
def test_spec_selects_the_model():
    assert parse_synthetic("model=dcsbm,power-law=2.2,max_degree=50") == {
        "model": "dcsbm", "exponent": 2.2, "max_degree": 50.0}
    old = load_dataset("synthetic:nodes=400,avg-degree=6,classes=3,seed=5", split="0.6/0.2/0.2")
    ref = csbm(num_nodes=400, avg_degree=6, num_classes=3, seed=5)
    assert torch.equal(old.edge_index, ref.edge_index) and torch.equal(old.x, ref.x)
    heavy = load_dataset("synthetic:nodes=400,avg-degree=6,exponent=2.3,seed=5")
    assert torch.equal(heavy.edge_index, dcsbm(num_nodes=400, avg_degree=6, exponent=2.3, seed=5).edge_index)
    explicit = load_dataset("synthetic:model=dcsbm,nodes=400,avg-degree=6,seed=5")
    assert torch.equal(explicit.edge_index, dcsbm(num_nodes=400, avg_degree=6, seed=5).edge_index)
    assert torch.equal(synthetic_graph(num_nodes=50, seed=1).edge_index, csbm(num_nodes=50, seed=1).edge_index)


def test_spec_errors_name_the_value():
    with pytest.raises(GraphForgetError, match="unknown synthetic model 'sbm'"):
        parse_synthetic("model=sbm")
    with pytest.raises(GraphForgetError, match=r"\['exponent'\] need model=dcsbm"):
        load_dataset("synthetic:model=csbm,exponent=2.5,nodes=100")
    with pytest.raises(GraphForgetError, match="'exponent' must be a number, got 'steep'"):
        parse_synthetic("exponent=steep")
    with pytest.raises(GraphForgetError, match="no 'public' split"):
        load_dataset("synthetic-arxiv:nodes=100", split="public")


def test_presets_are_registered_and_take_overrides():
    assert {"synthetic-arxiv", "synthetic-products"} <= set(dataset_names())
    arxiv = load_dataset("synthetic-arxiv:nodes=3000,seed=3")
    assert arxiv.num_nodes == 3000 and arxiv.x.size(1) == 128 and arxiv.num_classes == 40
    assert arxiv.edge_index.size(1) == round(3000 * 13.7 / 2) * 2
    assert arxiv.dataset_name == "synthetic-arxiv"
    assert [int(m.sum()) for m in (arxiv.train_mask, arxiv.val_mask, arxiv.test_mask)] == [1620, 540, 840]
    again = load_dataset("Synthetic_Arxiv:nodes=3000,seed=3")
    assert torch.equal(again.edge_index, arxiv.edge_index)
    products = load_dataset("synthetic-products:nodes=20000", split="0.6/0.2/0.2", seed=1)
    assert products.x.size(1) == 100 and products.num_classes == 47 and int(products.train_mask.sum()) == 12000
    assert abs(products.edge_index.size(1) / 20000 - 2 * 61_859_140 / 2_449_029) < 1e-3
    assert abs(_edge_homophily(products) - SYNTHETIC_PRESETS["synthetic-products"]["homophily"]) < 1e-3
    assert not torch.equal(load_dataset("synthetic-arxiv:nodes=3000,seed=4").edge_index, arxiv.edge_index)


def test_synthetic_arxiv_at_full_size():
    data = load_dataset("synthetic-arxiv")
    assert data.num_nodes == 169_343 and data.edge_index.size(1) == 2 * 1_160_000
    deg = _degrees(data)
    assert int(deg.max()) > 1000 and _edge_homophily(data) == pytest.approx(0.65, abs=1e-6)


# ---------------------------------------------------------------------------
# OGB, on tiny folders in OGB's layout
# ---------------------------------------------------------------------------
def _csv(path, rows):
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(np.asarray(rows)).to_csv(path, header=False, index=False, compression="gzip")


def _write_arxiv_like(root, n=60, edges=200, seed=0):
    """An ``ogbn_arxiv`` folder as OGB's download leaves it (raw csv.gz, time split, marker)."""
    rng = np.random.default_rng(seed)
    folder = root / "ogbn_arxiv"
    e = rng.integers(0, n, (edges, 2))
    e[:5, 1] = e[:5, 0]  # self-loops and a repeated, reversed pair: the loader drops them
    e[5], e[6] = [1, 2], [2, 1]
    _csv(folder / "raw" / "edge.csv.gz", e)
    _csv(folder / "raw" / "node-feat.csv.gz", rng.normal(size=(n, 8)).astype(np.float32))
    _csv(folder / "raw" / "node-label.csv.gz", rng.integers(0, 40, (n, 1)))
    _csv(folder / "raw" / "node_year.csv.gz", rng.integers(1990, 2020, (n, 1)))
    _csv(folder / "raw" / "num-node-list.csv.gz", [n])
    _csv(folder / "raw" / "num-edge-list.csv.gz", [edges])
    perm = rng.permutation(n)
    split = {"train": perm[:30], "valid": perm[30:40], "test": perm[40:]}
    for key, idx in split.items():
        _csv(folder / "split" / "time" / f"{key}.csv.gz", idx)
    (folder / "mapping").mkdir()
    (folder / "mapping" / "README.md").write_text("tiny test copy\n")
    (folder / "RELEASE_v1.txt").write_text("tiny test copy of ogbn-arxiv\n")
    return split


def _write_collab_like(root, n=80, edges=300, seed=0):
    """An ``ogbl_collab`` folder: raw csv.gz with yearly multi-edges, ``split/time/*.pt``
    dicts of numpy arrays (as OGB ships them), release marker."""
    rng = np.random.default_rng(seed)
    folder = root / "ogbl_collab"
    pairs = rng.integers(0, n, (edges + 120, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    train, valid, test = pairs[:edges], pairs[edges:edges + 40], pairs[edges + 40:edges + 80]
    train = np.concatenate([train, train[:10]])  # the same authors in another year
    _csv(folder / "raw" / "edge.csv.gz", train)
    _csv(folder / "raw" / "node-feat.csv.gz", rng.normal(size=(n, 8)).astype(np.float32))
    _csv(folder / "raw" / "num-node-list.csv.gz", [n])
    _csv(folder / "raw" / "num-edge-list.csv.gz", [len(train)])
    _csv(folder / "raw" / "edge_weight.csv.gz", np.ones((len(train), 1), dtype=np.int64))
    _csv(folder / "raw" / "edge_year.csv.gz", rng.integers(2000, 2018, (len(train), 1)))
    split_dir = folder / "split" / "time"
    split_dir.mkdir(parents=True)
    years = {"train": 2010, "valid": 2018, "test": 2019}
    negatives = {"valid": rng.integers(0, n, (70, 2)), "test": rng.integers(0, n, (70, 2))}
    for key, e in (("train", train), ("valid", valid), ("test", test)):
        item = {"edge": e.astype(np.int64), "weight": np.ones(len(e), dtype=np.int64),
                "year": np.full(len(e), years[key], dtype=np.int64)}
        if key in negatives:
            item["edge_neg"] = negatives[key].astype(np.int64)
        torch.save(item, split_dir / f"{key}.pt")
    (folder / "RELEASE_v1.txt").write_text("tiny test copy of ogbl-collab\n")
    return train, valid, test, negatives


def test_ogbn_arxiv_layout_loads_with_official_split_and_evaluator(tmp_path):
    pytest.importorskip("ogb")
    from graphforget.bench.tasks import resolve_task
    from graphforget.exact.retrain import Retrain

    split = _write_arxiv_like(tmp_path)
    data = load_dataset("ogbn-arxiv", root=tmp_path)
    assert data.num_nodes == 60 and data.y.shape == (60,) and data.x.dtype == torch.float32
    assert data.num_classes == 40 and data.ogb_name == "ogbn-arxiv"
    _assert_simple_undirected(data)
    for mask, key in ((data.train_mask, "train"), (data.val_mask, "valid"), (data.test_mask, "test")):
        assert torch.equal(mask.nonzero().view(-1), torch.as_tensor(np.sort(split[key])))
    assert (tmp_path / "ogbn_arxiv" / "processed").is_dir()  # a writable root is used in place
    ratio = load_dataset("ogbn-arxiv", root=tmp_path, split="0.5/0.5")
    assert int(ratio.train_mask.sum()) == 30 and torch.equal(ratio.edge_index, data.edge_index)

    task = resolve_task("node")
    assert task.metric_name(data) == "ogb_acc"
    model = Retrain(model="gcn", epochs=5, seed=0).fit(data)
    mask = data.test_mask
    manual = float((model.predict()[mask] == data.y[mask]).float().mean())
    assert task.utility(model) == pytest.approx(manual)
    plain = load_dataset("synthetic:nodes=60", split="0.5/0.5")
    assert task.metric_name(plain) == "micro_f1"


def test_ogb_bench_record_names_the_evaluator_metric(tmp_path):
    pytest.importorskip("ogb")
    from graphforget.bench.runner import CellSpec, run_cell

    _write_arxiv_like(tmp_path)
    record = run_cell(CellSpec(method="retrain", dataset="ogbn-arxiv", model="sgc", request="node",
                               ratio=0.1, seed=0, root=str(tmp_path), params={"epochs": 3}))
    assert record["utility_metric"] == "ogb_acc" and 0 <= record["utility_unlearned"] <= 1


def test_ogb_read_only_root_goes_through_the_cache(tmp_path, monkeypatch):
    pytest.importorskip("ogb")
    ro = tmp_path / "ro"
    _write_arxiv_like(ro)
    monkeypatch.setenv("GRAPHFORGET_CACHE", str(tmp_path / "cache"))
    folders = [p for p, _, _ in os.walk(ro)]
    try:
        for p in folders:
            os.chmod(p, stat.S_IRUSR | stat.S_IXUSR)
        data = load_dataset("ogbn-arxiv", root=ro)
        assert data.num_nodes == 60
        assert not (ro / "ogbn_arxiv" / "processed").exists()
        assert list((tmp_path / "cache").rglob("geometric_data_processed.pt"))
    finally:
        for p in folders:
            os.chmod(p, stat.S_IRWXU)


def test_ogb_folder_without_release_marker_is_refused_not_prompted(tmp_path, monkeypatch):
    pytest.importorskip("ogb")
    _write_arxiv_like(tmp_path)
    (tmp_path / "ogbn_arxiv" / "RELEASE_v1.txt").unlink()
    monkeypatch.setattr("builtins.input", lambda *_: pytest.fail("OGB asked on stdin"))
    with pytest.raises(GraphForgetError, match="not a complete ogbn-arxiv release v1"):
        load_dataset("ogbn-arxiv", root=tmp_path)


def test_failed_ogb_download_leaves_no_half_folder(tmp_path, monkeypatch):
    pytest.importorskip("ogb")
    import ogb.linkproppred.dataset_pyg as link_module

    def offline(url, folder, log=True):
        raise OSError(f"no network for {url}")

    monkeypatch.setattr(link_module, "download_url", offline)
    with pytest.raises(GraphForgetError, match="could not load dataset 'ogbl-collab'.*no network"):
        load_dataset("ogbl-collab", root=tmp_path)
    assert not (tmp_path / "ogbl_collab").exists()  # so the next try downloads again


def test_missing_ogb_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ogb", None)  # import ogb -> ImportError
    with pytest.raises(GraphForgetError, match=r"pip install graphforget\[ogb\]"):
        load_dataset("ogbn-products", root=tmp_path)


def test_ogbl_collab_layout_loads_as_link_data_with_hits(tmp_path):
    pytest.importorskip("ogb")
    from graphforget.link import LinkRetrain, is_link_data, load_link_dataset
    from graphforget.link._task import LinkTask

    train, valid, test, negatives = _write_collab_like(tmp_path)
    data = load_dataset("ogbl-collab", root=tmp_path)
    assert is_link_data(data) and data.ogb_name == "ogbl-collab" and data.num_nodes == 80
    _assert_simple_undirected(data)
    distinct = {tuple(sorted(p)) for p in train.tolist()}
    assert data.edge_index.size(1) == 2 * len(distinct)  # multi-year repeats collapsed
    assert torch.equal(data.val_pos, torch.as_tensor(valid).t())
    assert torch.equal(data.test_neg, torch.as_tensor(negatives["test"]).t())
    assert load_link_dataset("ogbl-collab", str(tmp_path)) is not None
    with pytest.raises(GraphForgetError, match="official edge split"):
        load_link_dataset("ogbl-collab", str(tmp_path), "0.8/0.2")

    task = LinkTask()
    assert task.metric_name(data) == "hits@50"
    model = LinkRetrain(epochs=3, seed=0).fit(data)
    pos, neg = model.link_scores(data.test_pos), model.link_scores(data.test_neg)
    kth = torch.topk(neg, 50).values[-1]
    assert task.utility(model) == pytest.approx(float((pos > kth).float().mean()))


def test_ogb_evaluator_metrics():
    pytest.importorskip("ogb")
    from graphforget.data import OGBEvaluator

    node = OGBEvaluator("ogbn-products")
    assert node.metric == "ogb_acc" and node.serves("node") and not node.serves("link")
    assert node.node_metric(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 0, 3])) == 0.75
    link = OGBEvaluator("ogbl-collab")
    neg = torch.arange(100, dtype=torch.float)  # 50th best negative scores 50
    assert link.link_metric(torch.tensor([10.0, 60.0, 99.5, 49.0]), neg) == 0.5
    with pytest.raises(GraphForgetError, match="node dataset: use node_metric"):
        node.link_metric(torch.ones(2), torch.ones(2))
    with pytest.raises(GraphForgetError, match="no OGB evaluator for 'ogbn-mag'"):
        OGBEvaluator("ogbn-mag")
