import gzip
import struct

import numpy as np
import pytest
import torch

from graphforget.bench.runner import CellSpec, run_cell
from graphforget.data import dataset_names, load_dataset
from graphforget.data.tabular import read_idx, tabular_data
from graphforget.errors import GraphForgetError
from graphforget.general import TabularRetrain
from graphforget.requests import SampleRequest
from graphforget.testing import check_unlearner
from tests.conftest import has_dataset


def _is_tabular(data):
    assert data.edge_index.shape == (2, 0) and data.edge_index.dtype == torch.long
    assert data.x.dtype == torch.float32 and data.x.dim() == 2
    assert data.train_mask.dtype == torch.bool and not bool((data.train_mask & data.test_mask).any())
    assert int(data.y.max()) < data.num_classes


def test_registered_as_tabular():
    names = dataset_names("tabular")
    for name in ("adult", "digits", "breast-cancer", "classification", "mnist", "mnist-3v8"):
        assert name in names


@pytest.mark.parametrize("name", ["digits", "breast-cancer", "classification:n_samples=300"])
def test_embedded_sets(name):
    data = load_dataset(name)
    _is_tabular(data)
    normed = load_dataset(name, normalize=True)
    assert torch.allclose(normed.x.norm(dim=1), torch.ones(normed.num_nodes), atol=1e-5)


def test_tabular_data_rejects_bad_shapes():
    with pytest.raises(GraphForgetError, match="x \\[n, d\\]"):
        tabular_data(np.zeros((3, 2)), np.zeros(4))


def test_idx_reader_roundtrip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", 2, 3, 4) + arr.tobytes()
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(GraphForgetError, match="magic"):
        read_idx(tmp_path / "bad")


@pytest.mark.skipif(not has_dataset("MNIST/raw"), reason="MNIST not available")
def test_mnist_3v8():
    data = load_dataset("mnist-3v8")
    _is_tabular(data)
    assert data.num_classes == 2 and data.x.shape[1] == 784
    assert int(data.train_mask.sum()) == 11982  # 6131 threes + 5851 eights


@pytest.mark.skipif(not has_dataset("Adult"), reason="Adult not available")
def test_adult():
    data = load_dataset("adult")
    _is_tabular(data)
    assert int(data.train_mask.sum()) == 32561 and int(data.test_mask.sum()) == 16281
    assert 0.2 < float(data.y.float().mean()) < 0.3
    x = data.x[data.train_mask]
    assert float(x[:, 0].mean().abs()) < 1e-4  # age standardised on the training rows


def test_tabular_retrain_is_exact(multi_small):
    check_unlearner(lambda: TabularRetrain(lam=1e-2), multi_small)


def test_bench_retrain_cell():
    rec = run_cell(CellSpec(method="retrain", task="tabular", dataset="digits", model="logreg",
                            request="sample", ratio=0.02, seed=0))
    assert rec["task"] == "tabular" and rec["utility_metric"] == "accuracy"
    assert rec["utility_unlearned"] > 0.9 and rec["distance_to_retrain"] == 0.0


def test_sample_request_on_tabular(digits):
    req = SampleRequest([0, 1])
    out = req.apply(digits)
    assert not bool(out.train_mask[[0, 1]].any()) and bool((out.x[[0, 1]] == 0).all())


def test_sisa_serves_the_tabular_task():
    rec = run_cell(CellSpec(method="sisa", task="tabular", dataset="breast-cancer", model="mlp",
                            request="sample", ratio=0.02, seed=0,
                            params={"epochs": 30, "shards": 3, "hidden_channels": 16}))
    assert rec["task"] == "tabular" and rec["utility_unlearned"] > 0.8
    affected = rec["report"]["affected"]
    assert affected["nodes"] == rec["items_forgotten"] and set(affected["shards"]) <= {0, 1, 2}


def test_default_model_per_method_on_the_tabular_task():
    from graphforget._registry import resolve_method
    from graphforget.bench.runner import default_model_for, validate_spec
    from graphforget.bench.tasks import resolve_task

    task = resolve_task("tabular")
    assert default_model_for(resolve_method("sisa"), task) == "mlp"  # a GNN backbone on rows
    assert default_model_for(resolve_method("sekhari"), task) == "logreg"
    assert default_model_for(resolve_method("dare"), task) == "logreg"  # takes no model
    assert default_model_for(resolve_method("cgu"), resolve_task("node")) == "sgc"
    with pytest.raises(GraphForgetError, match="unknown model 'logreg'"):
        validate_spec(CellSpec(method="sisa", task="tabular", dataset="digits", model="logreg",
                               request="sample", ratio=0.1, seed=0))


def test_dataset_options_after_the_name():
    data = load_dataset("digits:normalize")
    assert torch.allclose(data.x.norm(dim=1), torch.ones(data.num_nodes), atol=1e-5)
    assert not torch.allclose(load_dataset("digits").x.norm(dim=1), torch.ones(data.num_nodes))
    small = load_dataset("classification:n_samples=300,normalize")
    assert small.num_nodes == 300 and float(small.x.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(GraphForgetError, match="unknown dataset option 'normalise'"):
        load_dataset("digits:normalise")
    with pytest.raises(GraphForgetError, match="unknown dataset option 'max_train'"):
        load_dataset("breast-cancer:max_train=10")  # only the large sets take it
    with pytest.raises(GraphForgetError, match="takes no value or 0/1"):
        load_dataset("digits:normalize=maybe")
