import os
import stat

import pytest
import torch

from graphforget.data import apply_split, csbm, dataset_dir, load_dataset, parse_synthetic
from graphforget.errors import GraphForgetError, UnknownNameError

from .conftest import needs_cora


def test_csbm_is_seeded_undirected_and_homophilous():
    a, b = csbm(num_nodes=500, seed=1), csbm(num_nodes=500, seed=1)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    from torch_geometric.utils import is_undirected

    assert is_undirected(a.edge_index)
    same = (a.y[a.edge_index[0]] == a.y[a.edge_index[1]]).float().mean()
    assert 0.7 < float(same) < 0.9
    assert abs(a.edge_index.size(1) / 500 - 8) < 1.0


def test_parse_synthetic_and_errors():
    assert parse_synthetic("nodes=10,avg-degree=3.5") == {"num_nodes": 10, "avg_degree": 3.5}
    with pytest.raises(GraphForgetError, match="unknown synthetic parameter 'colour'"):
        parse_synthetic("colour=3")


def test_splits_partition_nodes():
    data = csbm(num_nodes=200, seed=0)
    out = apply_split(data, "0.8/0.2", seed=0)
    assert int(out.train_mask.sum()) == 160 and int(out.val_mask.sum()) == 0
    assert not (out.train_mask & out.test_mask).any()
    three = apply_split(data, "0.6/0.2/0.2", seed=0)
    assert int(three.val_mask.sum()) == 40
    with pytest.raises(GraphForgetError, match="sum"):
        apply_split(data, "0.5/0.2", seed=0)


def test_unknown_dataset_lists_choices():
    with pytest.raises(UnknownNameError, match="unknown dataset 'nope'.*cora"):
        load_dataset("nope")


def test_karate_and_synthetic_names_are_case_insensitive():
    assert load_dataset("KarateClub").num_nodes == 34
    assert load_dataset("Synthetic:nodes=100", split="0.8/0.2").num_nodes == 100


def test_read_only_root_goes_through_a_cache(tmp_path, monkeypatch):
    ro = tmp_path / "ro" / "Planetoid" / "Cora" / "raw"
    ro.mkdir(parents=True)
    (ro / "f.txt").write_text("x")
    for p in (ro, ro.parent, ro.parent.parent, ro.parent.parent.parent):
        os.chmod(p, stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("GRAPHFORGET_CACHE", str(tmp_path / "cache"))
    try:
        out = dataset_dir("Planetoid", tmp_path / "ro")
        assert str(tmp_path / "cache") in out
        assert (tmp_path / "ro" / "Planetoid" / "Cora" / "processed").exists() is False
    finally:
        for p in (ro.parent.parent.parent, ro.parent.parent, ro.parent, ro):
            os.chmod(p, stat.S_IRWXU)


@needs_cora
@pytest.mark.integration
def test_cora_public_and_full_splits():
    data = load_dataset("cora")
    assert data.num_nodes == 2708 and int(data.train_mask.sum()) == 140 and data.num_classes == 7
    assert int(load_dataset("cora", split="full").train_mask.sum()) == 1208
