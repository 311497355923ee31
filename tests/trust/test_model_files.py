"""Model files keep no forgotten data by default, take their data back by fingerprint,
refuse files without fingerprints, and can be signed with a key."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.exact.retrain import Retrain
from graphforget.requests import EdgeRequest, NodeRequest
from graphforget.testing import small_graph
from graphforget.unlearner import ForgottenDigest, Unlearner, state_fingerprint


@pytest.fixture
def unlearned():
    data = small_graph(60)
    u = Retrain(model="sgc", epochs=5).fit(data)
    train = data.train_mask.nonzero().view(-1)
    forgotten = [int(train[3]), int(train[7])]
    u.unlearn(NodeRequest(forgotten))
    ei = u.data_.edge_index
    u.unlearn(EdgeRequest(ei[:, (ei[0] < ei[1]).nonzero()[0]]))
    return data, u, forgotten


def _ints(obj):
    """Every integer-looking value in a nested saved state (tensors flattened)."""
    if isinstance(obj, torch.Tensor):
        return set(obj.flatten().tolist()) if not obj.is_floating_point() else set()
    if isinstance(obj, dict):
        return set().union(*(_ints(v) for v in obj.values())) if obj else set()
    if isinstance(obj, (list, tuple)):
        return set().union(*(_ints(v) for v in obj)) if obj else set()
    return {obj} if isinstance(obj, int) and not isinstance(obj, bool) else set()


def test_default_file_keeps_no_graph_and_no_forgotten_ids(unlearned, tmp_path):
    data, u, forgotten = unlearned
    u.save(tmp_path)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    config = json.loads((tmp_path / "unlearner.json").read_text())
    assert state["data"] is None and config["contains"] == {"data": False, "forgotten_ids": False}
    assert [set(h) for h in state["history"]] == [{"kind", "items", "digest"}] * 2
    assert [h["items"] for h in state["history"]] == [2, 1]
    assert not set(forgotten) & _ints(state["history"])
    # the digests are keyed by the file's salt: the requests' plain content hashes are absent
    plain = {r.content_hash() for r in u.history_}
    assert not plain & {h["digest"] for h in state["history"]}
    # against the earlier format, which embedded the whole retained graph with its forgotten_mask
    embedded = tmp_path / "embedded"
    u.save(embedded, include_data=True, include_forgotten=True)
    assert (tmp_path / "state.pt").stat().st_size < (embedded / "state.pt").stat().st_size / 5
    full = torch.load(embedded / "state.pt", weights_only=True)
    assert bool(full["data"]["forgotten_mask"][forgotten].all())


def test_load_takes_the_data_back_and_checks_it(unlearned, tmp_path):
    data, u, _ = unlearned
    u.save(tmp_path)
    with pytest.raises(GraphForgetError, match=r"does not embed its data.*data="):
        Unlearner.load(tmp_path)
    with pytest.raises(GraphForgetError, match="not the data this unlearner was saved with.*after "
                                               "unlearning, pass the retained data"):
        Unlearner.load(tmp_path, data=data)  # the original graph, not the retained one
    w = Unlearner.load(tmp_path, data=u.data_)
    assert w.fingerprint() == u.fingerprint() and torch.equal(w.predict(), u.predict())
    assert all(isinstance(r, ForgottenDigest) for r in w.history_) and len(w.history_) == 2
    with pytest.raises(GraphForgetError, match="include_forgotten=True"):
        w.predict(data)  # removing the forgotten items from new data needs their ids
    # it keeps serving requests like the original
    nxt = NodeRequest([int(u.data_.train_mask.nonzero()[0])])
    w.unlearn(nxt)
    u.unlearn(nxt)
    assert torch.equal(w.predict(), u.predict()) and w.fingerprint() == u.fingerprint()


def test_a_model_saved_before_unlearning_loads_with_the_graph_it_was_fitted_on(tmp_path):
    data = small_graph(60)
    u = Retrain(model="sgc", epochs=5).fit(data)
    u.save(tmp_path)
    w = Unlearner.load(tmp_path, data=data)  # no forgotten_mask: prepared as fit() does
    assert w.fingerprint() == u.fingerprint() and torch.equal(w.predict(), u.predict())
    assert getattr(data, "forgotten_mask", None) is None  # the caller's graph is not written to
    other = small_graph(60, seed=1)
    with pytest.raises(GraphForgetError, match="not the data this unlearner was saved with"):
        Unlearner.load(tmp_path, data=other)


def test_opting_in_keeps_ids_and_data(unlearned, tmp_path):
    data, u, _ = unlearned
    with pytest.raises(GraphForgetError, match="include_forgotten=True"):
        u.save(tmp_path, include_data=True)
    u.save(tmp_path, include_data=True, include_forgotten=True)
    w = Unlearner.load(tmp_path)
    assert [r.to_dict() for r in w.history_] == [r.to_dict() for r in u.history_]
    assert torch.equal(w.predict(data), u.predict(data))


def test_signed_files_detect_tampering_unsigned_ones_only_corruption(unlearned, tmp_path):
    _, u, _ = unlearned
    u.save(tmp_path, key="s3cret")
    assert Unlearner.load(tmp_path, data=u.data_, key="s3cret").fingerprint() == u.fingerprint()
    with pytest.raises(GraphForgetError, match="signature does not match"):
        Unlearner.load(tmp_path, data=u.data_, key="another")
    # an attacker edits a parameter and recomputes the (unkeyed) fingerprint
    path = tmp_path / "unlearner.json"
    config = json.loads(path.read_text())
    config["params"]["epochs"] = 6
    config["params_fingerprint"] = state_fingerprint(config["params"])
    path.write_text(json.dumps(config))
    assert Unlearner.load(tmp_path, data=u.data_).epochs == 6  # corruption checks cannot see it
    with pytest.raises(GraphForgetError, match="signature does not match"):
        Unlearner.load(tmp_path, data=u.data_, key="s3cret")
    unsigned = tmp_path / "unsigned"
    u.save(unsigned)
    with pytest.raises(GraphForgetError, match="not signed"):
        Unlearner.load(unsigned, data=u.data_, key="s3cret")


def test_files_without_fingerprints_are_refused(unlearned, tmp_path):
    _, u, _ = unlearned
    u.save(tmp_path)
    path = tmp_path / "unlearner.json"
    config = json.loads(path.read_text())
    for key in ("fingerprint", "params_fingerprint"):
        config.pop(key)
    path.write_text(json.dumps(config))
    with pytest.raises(GraphForgetError, match="no fingerprints"):
        Unlearner.load(tmp_path, data=u.data_)


def test_an_unsafe_file_error_never_suggests_weights_only_false(unlearned, tmp_path):
    _, u, _ = unlearned
    u.save(tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("never runs",))

    (tmp_path / "state.pt").write_bytes(pickle.dumps({"data": Payload()}))
    with pytest.raises(GraphForgetError) as info:
        Unlearner.load(tmp_path, data=u.data_)
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
