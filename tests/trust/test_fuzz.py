"""Property-based fuzzing of every public entry point that takes user data.

Every case must end either in success or in a ``ValueError``/``TypeError`` (the
library's ``GraphForgetError`` is a ``ValueError``) with a message, and a failed call
must leave the unlearner byte-identical (``fingerprint()``).

Profiles: ``ci`` (default, bounded) and ``full`` (thorough, by hand)::

    GRAPHFORGET_FUZZ_PROFILE=full python -m pytest tests/trust/test_fuzz.py

``GRAPHFORGET_FUZZ_METHODS=all`` fuzzes every registered node-classification method
instead of ``retrain`` alone.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphforget._registry import make_method, method_names, resolve_method
from graphforget.batching import BatchingUnlearner
from graphforget.errors import GraphForgetError
from graphforget.ledger import Ledger
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest, SampleRequest
from graphforget.unlearner import Task, Unlearner

from ._helpers import fast_retrain, tiny_graph, train_ids

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("full", max_examples=1000, deadline=None,
                          suppress_health_check=list(HealthCheck))
FUZZ = settings(settings.get_profile(os.environ.get("GRAPHFORGET_FUZZ_PROFILE", "ci")))


def _methods() -> list[str]:
    if os.environ.get("GRAPHFORGET_FUZZ_METHODS") != "all":
        return ["retrain"]
    names = []
    for name in method_names():
        cls = resolve_method(name)
        if Task.NODE in cls.tasks and cls.supported_requests:
            names.append(name)
    return names


_FITTED: dict[str, Unlearner] = {}


def _fitted(method: str) -> Unlearner:
    """A fitted unlearner that has already forgotten one node (to fuzz "already forgotten")."""
    if method not in _FITTED:
        data = tiny_graph()
        cls = resolve_method(method)
        if method == "retrain":
            u = fast_retrain()
        else:
            names = set(cls.param_names())
            u = make_method(cls, **{k: v for k, v in (("epochs", 3), ("seed", 0)) if k in names})
        u.fit(data)
        if u.supports(NodeRequest):
            u.unlearn(NodeRequest([train_ids(data, 1)[0]]))
        _FITTED[method] = u
    return copy.deepcopy(_FITTED[method])


N = tiny_graph().num_nodes
FORGOTTEN = train_ids(tiny_graph(), 1)[0]

ids_int = st.integers(min_value=-3, max_value=N + 3) | st.sampled_from([FORGOTTEN, -2**63, 2**62])
id_values = st.one_of(
    st.lists(ids_int, max_size=6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=3),
    st.lists(st.lists(ids_int, max_size=3), min_size=1, max_size=3),
    st.sampled_from([None, "3", b"1", 3.0, {1: 2}, object()]),
    ids_int,
    st.builds(lambda xs, dt: torch.tensor(xs, dtype=dt), st.lists(st.integers(0, N + 2), max_size=4),
              st.sampled_from([torch.long, torch.int32, torch.uint8, torch.float32, torch.bool])),
    st.builds(lambda xs, shape: np.array(xs[: int(np.prod(shape))] + [0] * int(np.prod(shape)),
                                         dtype=np.int64)[: int(np.prod(shape))].reshape(shape),
              st.lists(st.integers(-1, N + 1), max_size=8), st.sampled_from([(0,), (2, 2), (1, 3), (3,)])),
)


def _make_request(kind: str, ids, extra):
    if kind == "node":
        return NodeRequest(ids)
    if kind == "sample":
        return SampleRequest(ids)
    if kind == "feature":
        return FeatureRequest(ids, extra)
    return EdgeRequest(ids)


def _expect_clean_failure(exc: BaseException) -> None:
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


@pytest.mark.parametrize("method", _methods())
@FUZZ
@given(kind=st.sampled_from(["node", "sample", "feature", "edge"]), ids=id_values,
       extra=st.one_of(st.none(), id_values))
def test_random_requests_fail_cleanly_and_leave_state_untouched(method, kind, ids, extra):
    u = _fitted(method)
    before = u.fingerprint()
    try:
        request = _make_request(kind, ids, extra)
    except Exception as exc:  # noqa: BLE001 - the constructor is an entry point too
        _expect_clean_failure(exc)
        return
    try:
        u.unlearn(request)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        assert u.fingerprint() == before, f"state changed after a rejected {request!r}"
        return
    # Accepted: it must have been a valid request, and the state reflects it.
    assert request.is_empty or u.history_[-1] == request


@pytest.mark.parametrize("case, needle", [
    (lambda: NodeRequest([-1]), "out of range"),
    (lambda: NodeRequest([N]), "out of range"),
    (lambda: NodeRequest([1.5]), "integers"),
    (lambda: NodeRequest([2, 2]), "duplicates"),
    (lambda: NodeRequest(torch.zeros(2, 2, dtype=torch.long)), "one-dimensional"),
    (lambda: NodeRequest(torch.tensor([1.0])), "integer dtype"),
    (lambda: NodeRequest([FORGOTTEN]), "already forgotten"),
    (lambda: EdgeRequest([[0, 1, 2]]), "shape [2, k]"),
    (lambda: EdgeRequest([[0], [0]]), "do not exist"),
    (lambda: FeatureRequest([1], [999]), "feature ids out of range"),
])
def test_each_bad_input_names_its_problem(case, needle):
    u = _fitted("retrain")
    before = u.fingerprint()
    with pytest.raises((ValueError, TypeError)) as info:
        u.unlearn(case())
    assert needle in str(info.value)
    assert u.fingerprint() == before


config_values = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                          st.text(max_size=4), st.none(), st.booleans(),
                          st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.mark.parametrize("method", _methods())
@FUZZ
@given(key=st.sampled_from(["epochs", "lr", "weight_decay", "hidden_channels", "num_layers",
                            "dropout", "patience", "seed", "model", "model_kwargs", "no_such_knob",
                            "Epochs", ""]),
       value=config_values)
def test_configs_with_unknown_keys_or_bad_values_fail_cleanly(method, key, value):
    data = tiny_graph()
    try:
        u = make_method(method, **{key: value})
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        assert key not in resolve_method(method).param_names() or isinstance(exc, ValueError)
        return
    if key in ("epochs",) and isinstance(value, int) and not isinstance(value, bool) and value > 5:
        return
    try:
        if "epochs" in u.param_names() and key != "epochs":
            u.set_params(epochs=2)
        u.fit(data)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)


def _saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    u = _fitted("retrain")
    u.save(folder)
    return folder, u


@FUZZ
@given(data=st.data())
def test_corrupted_or_truncated_saves_are_rejected(tmp_path_factory, data):
    folder, u = _saved(tmp_path_factory)
    target = folder / data.draw(st.sampled_from(["state.pt", "unlearner.json"]))
    raw = target.read_bytes()
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
    elif how == "garbage":
        raw = data.draw(st.binary(max_size=64))
    else:
        raw = b""
    target.write_bytes(raw)
    try:
        loaded = Unlearner.load(folder, data=u.data_)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        assert isinstance(exc, GraphForgetError)
        return
    # A harmless change (e.g. JSON whitespace or zip metadata) must load the same state.
    assert loaded.fingerprint() == u.fingerprint()


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_loading_never_executes_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "evil"
    _fitted("retrain").save(folder)
    torch.save({"data": _Exploit(), "history": [], "method": {}}, folder / "state.pt")
    with pytest.raises(GraphForgetError, match="corrupted or unsafe"):
        Unlearner.load(folder)
    # the same with a raw (non-zip) pickle
    (folder / "state.pt").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(GraphForgetError):
        Unlearner.load(folder)
    assert not (tmp_path / "pwned-by-pickle").exists()


@FUZZ
@given(kind=st.sampled_from(["node", "edge"]), ids=id_values)
def test_ledger_and_batching_reject_bad_requests_without_changing_state(tmp_path_factory, kind, ids):
    try:
        request = _make_request(kind, ids, None)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        return
    u = _fitted("retrain")
    led = Ledger(tmp_path_factory.mktemp("ledger"))
    led.init(u)
    before = u.fingerprint()
    try:
        led.apply(u, request)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        assert u.fingerprint() == before
        assert led.records()[-1]["outcome"] == "rejected"
        assert led.verify().ok
    batcher = BatchingUnlearner(_fitted("retrain"), max_batch=4)
    before = batcher.fingerprint()
    try:
        batcher.submit(request)
    except Exception as exc:  # noqa: BLE001
        _expect_clean_failure(exc)
        assert batcher.pending == 0 and batcher.fingerprint() == before


@FUZZ
@given(data=st.data())
def test_corrupted_ledger_files_never_restore_a_wrong_state(tmp_path_factory, data):
    """Bytes flipped or cut anywhere in the journal or the current checkpoint: restore
    either reaches the true state (falling back to an older checkpoint and replaying)
    or refuses with a LedgerError; it never returns another state silently."""
    from graphforget.ledger import LedgeredUnlearner, LedgerError

    if "ledger" not in _FITTED:  # one pristine ledger, copied for every example
        pristine = tmp_path_factory.mktemp("pristine")
        graph = tiny_graph()
        u = LedgeredUnlearner(fast_retrain().fit(graph), pristine)
        for i in train_ids(graph, 3)[1:]:
            u.unlearn(NodeRequest([i]))
        _FITTED["ledger"] = (pristine, u.fingerprint())
    pristine, truth = _FITTED["ledger"]
    folder = tmp_path_factory.mktemp("ledger") / "copy"
    shutil.copytree(pristine, folder)
    current = json.loads((folder / "CURRENT").read_text())["checkpoint"]
    packs = sorted(p.name for p in (folder / "objects").glob("pack-*.pack"))
    target = folder / data.draw(st.sampled_from(
        ["journal.jsonl", f"checkpoints/{current}.json", "CURRENT"] + [f"objects/{n}" for n in packs]))
    raw = target.read_bytes()
    # positions as fractions: file sizes vary with timestamps, the strategy must not
    pos = min(len(raw) - 1, int(data.draw(st.floats(0, 1)) * len(raw)))
    if data.draw(st.booleans()):
        raw = raw[:pos]
    else:
        raw = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
    target.write_bytes(raw)
    try:
        restored, _ = Ledger(folder).restore(persist=False)
    except LedgerError as exc:
        assert str(exc)
        return
    if target.name == "journal.jsonl":
        # only a cut inside the last record can pass: it is restored from the checkpoint
        # that embeds it (or, if none does, it was a torn append)
        from graphforget.ledger import ledger_fingerprint

        records = Ledger(folder).records()
        assert restored.fingerprint() == truth or \
            ledger_fingerprint(restored) in {r.get("fingerprint_after") for r in records}
    else:
        assert restored.fingerprint() == truth
