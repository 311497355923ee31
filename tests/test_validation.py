"""Data and hyper-parameter validation at ``fit`` (issue #28): one GraphForgetError naming
the field and the first bad index, the unlearner left unfitted."""

import pytest
import torch

from graphforget import GraphForgetError, make_method
from graphforget.testing import small_graph

METHODS = {
    "retrain": dict(epochs=2, hidden_channels=8),
    "gif": dict(epochs=2, hidden_channels=8),
    "cgu": dict(),
    "grapheraser": dict(epochs=2, hidden_channels=8, shards=2, partition="random"),
}


def _nan_x(d):
    d.x[5, 3] = float("nan")
    return "data.x", "node 5, feature 3"


def _inf_x(d):
    d.x[7, 0] = float("inf")
    return "data.x", "node 7, feature 0"


def _int_x(d):
    d.x = (d.x * 10).long()
    return "data.x", "floating dtype"


def _first_train(d):
    return int(d.train_mask.nonzero()[0])


def _label_neg(d):
    node = _first_train(d)
    d.y[node] = -1
    return f"data.y[{node}] = -1", "[0, 2]"


def _label_big(d):
    node = _first_train(d)
    d.y[node] = 3
    return f"data.y[{node}] = 3", "num_classes = 3"


def _edge_past(d):
    d.edge_index[1, 4] = d.num_nodes
    return "data.edge_index[:, 4]", "[0, 119]"


def _edge_negative(d):
    d.edge_index[0, 2] = -1
    return "data.edge_index[:, 2]", "outside the nodes"


def _mask_length(d):
    d.train_mask = d.train_mask[:-1]
    return "data.train_mask", "[120]"


def _mask_dtype(d):
    d.test_mask = d.test_mask.long()
    return "data.test_mask", "torch.bool"


BAD = [_nan_x, _inf_x, _int_x, _label_neg, _label_big, _edge_past, _edge_negative,
       _mask_length, _mask_dtype]


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("corrupt", BAD, ids=lambda f: f.__name__.lstrip("_"))
def test_bad_data_matrix(method, corrupt):
    data = small_graph()
    data.num_nodes = 120
    field, detail = corrupt(data)
    u = make_method(method, **METHODS[method])
    with pytest.raises(GraphForgetError) as info:
        u.fit(data)
    message = str(info.value)
    assert "\n" not in message
    assert field in message and detail in message, message
    assert not u.is_fitted


@pytest.mark.parametrize("method", ["retrain", "gif", "grapheraser"])
@pytest.mark.parametrize("params, name", [
    (dict(model="gat", model_kwargs={"heads": 0}), "heads"),
    (dict(model="gcn", num_layers=0), "num_layers"),
    (dict(model="sage", num_layers=-1), "num_layers"),
])
def test_bad_model_parameters(method, params, name):
    kw = {**METHODS[method], **params}
    u = make_method(method, **kw)
    with pytest.raises(GraphForgetError, match=name):
        u.fit(small_graph())
    assert not u.is_fitted


def test_sgc_depth_zero_is_allowed():
    u = make_method("retrain", model="sgc", num_layers=0, epochs=2).fit(small_graph())
    assert u.is_fitted


def test_clean_data_still_fits():
    for method, kw in METHODS.items():
        assert make_method(method, **kw).fit(small_graph()).is_fitted, method


def test_no_assert_in_library_code():
    """User-facing checks raise errors (``python -O`` strips asserts); the conformance
    suite (``graphforget.testing``) is a test helper and may assert."""
    import ast
    from pathlib import Path

    import graphforget

    root = Path(graphforget.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if "testing" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not found, found


def test_cgu_rejects_unclippable_rows_without_assert(monkeypatch):
    from graphforget.certified import cgu as module
    from graphforget.errors import SolverError

    u = make_method("cgu")
    monkeypatch.setattr(module, "_clip_rows", lambda z: z * 10)
    with pytest.raises(SolverError, match="norm"):
        u.fit(small_graph())
    assert not u.is_fitted
    assert torch.isfinite(small_graph().x).all()


def test_cora_features_raw_by_default_normalised_on_request():
    import os

    from graphforget import load_dataset
    from graphforget.errors import GraphForgetError as Err

    if not os.path.isdir(os.path.join(os.environ.get("GRAPHFORGET_DATA", ""), "Planetoid", "Cora")):
        pytest.skip("Cora is not under GRAPHFORGET_DATA")
    raw = load_dataset("cora")
    assert set(raw.x.unique().tolist()) <= {0.0, 1.0}
    by_name = load_dataset("cora:normalize")
    by_kwarg = load_dataset("cora", normalize=True)
    assert torch.equal(by_name.x, by_kwarg.x)
    sums = by_name.x.sum(1)
    nonzero = raw.x.sum(1) > 0
    assert torch.allclose(sums[nonzero], torch.ones(int(nonzero.sum())))
    assert "raw" in load_dataset.__doc__ and "normalize" in load_dataset.__doc__
    with pytest.raises(Err, match="unknown dataset option 'nope'"):
        load_dataset("cora:nope")
