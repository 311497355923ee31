import copy
import json
import os

import pytest
import torch

from graphforget import ledger as ledger_module
from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.ledger import Ledger, LedgeredUnlearner, LedgerError, ledger_fingerprint, record_hash
from graphforget.requests import EdgeRequest, NodeRequest

from ._helpers import fast_retrain, tiny_graph, train_ids


def _expected_fingerprints(requests):
    u = fast_retrain().fit(tiny_graph())
    fps = [ledger_fingerprint(u)]
    for r in requests:
        u.unlearn(r)
        fps.append(ledger_fingerprint(u))
    return fps


def test_records_carry_the_contract_fields(tmp_path):
    data = tiny_graph()
    a, b = train_ids(data, 2)
    u = LedgeredUnlearner(fast_retrain().fit(data), tmp_path)
    before = ledger_fingerprint(u)
    u.unlearn(NodeRequest([a]))
    with pytest.raises(InvalidRequestError, match="already forgotten"):
        u.unlearn(NodeRequest([a]))
    u.unlearn(NodeRequest([b]))
    records = Ledger(tmp_path).records()
    assert [r["type"] for r in records] == ["init", "request", "request", "request"]
    assert [r.get("outcome") for r in records[1:]] == ["applied", "rejected", "applied"]
    first, rejected = records[1], records[2]
    assert first["content_hash"] == NodeRequest([a]).content_hash()
    assert first["kind"] == "node" and first["request"]["node_ids"] == [a]
    assert first["method"] == "retrain" and first["timestamp"]
    assert first["fingerprint_before"] == before != first["fingerprint_after"]
    assert "already forgotten" in rejected["reason"]
    assert rejected["fingerprint_before"] == rejected["fingerprint_after"] == first["fingerprint_after"]
    assert records[3]["fingerprint_after"] == ledger_fingerprint(u.unlearner)
    for rec in (first, rejected):
        assert rec["unlearn_seconds"] > 0 and rec["ledger_seconds"] > 0
        assert rec["seconds"] == pytest.approx(rec["unlearn_seconds"] + rec["ledger_seconds"])
    for prev, rec in zip(records[:-1], records[1:], strict=True):
        assert rec["prev"] == prev["hash"] and rec["hash"] == record_hash(rec)
    assert Ledger(tmp_path).verify().ok


def test_certified_bound_and_budget_are_journaled(tmp_path):
    data = tiny_graph()
    u = fast_retrain().fit(data)
    led = Ledger(tmp_path)
    led.init(u)
    real = u._unlearn

    def with_certificate(request, retained, report):
        real(request, retained, report)
        report.diagnostics.update(epsilon=1.0, budget_left=0.25, residual_bound=0.01, other=3)

    u._unlearn = with_certificate
    led.apply(u, NodeRequest(train_ids(data, 1)))
    cert = led.records()[-1]["certificate"]
    assert cert == {"epsilon": 1.0, "budget_left": 0.25, "residual_bound": 0.01}


def test_restore_reapplies_requests_after_the_checkpoint(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 4)
    requests = [NodeRequest([i]) for i in ids]
    fps = _expected_fingerprints(requests)
    u = LedgeredUnlearner(fast_retrain().fit(data), tmp_path, checkpoint_every=3)
    u.unlearn_many(requests)
    assert ledger_fingerprint(u) == fps[-1]
    restored, summary = Ledger(tmp_path).restore()
    assert summary["checkpoint"] == "ckpt-00000003" and summary["replayed"] == 1
    assert summary["applied"] == 4 and summary["mismatches"] == []
    assert ledger_fingerprint(restored) == fps[-1]
    resumed = LedgeredUnlearner(None, tmp_path)
    assert ledger_fingerprint(resumed.unlearner) == fps[-1] and resumed.summary["replayed"] == 0


def test_tampering_is_detected(tmp_path):
    data = tiny_graph()
    u = LedgeredUnlearner(fast_retrain().fit(data), tmp_path)
    for i in train_ids(data, 3):
        u.unlearn(NodeRequest([i]))
    path = tmp_path / "journal.jsonl"
    pristine = path.read_bytes()
    lines = pristine.decode().splitlines()

    def write(ls):
        path.write_text("\n".join(ls) + "\n")

    # 1. an edited field
    rec = json.loads(lines[2])
    rec["request"]["node_ids"] = [999]
    write(lines[:2] + [json.dumps(rec)] + lines[3:])
    result = Ledger(tmp_path).verify()
    assert not result.ok and any("record 2: hash mismatch" in e for e in result.errors)
    with pytest.raises(LedgerError, match="verification"):
        Ledger(tmp_path).restore()
    # 2. an edited field with its own hash recomputed: the chain breaks at the next record
    rec["hash"] = record_hash(rec)
    write(lines[:2] + [json.dumps(rec)] + lines[3:])
    assert any("record 3: prev hash" in e for e in Ledger(tmp_path).verify().errors)
    # 3. a deleted record
    write(lines[:1] + lines[2:])
    errors = Ledger(tmp_path).verify().errors
    assert any("record 1: sequence number" in e for e in errors)
    assert any("prev hash" in e for e in errors)
    # 4. swapped records
    write([lines[0], lines[2], lines[1], lines[3]])
    assert not Ledger(tmp_path).verify().ok
    # the untouched journal verifies
    path.write_bytes(pristine)
    assert Ledger(tmp_path).verify().ok


def test_torn_tail_is_an_unacknowledged_request(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 3)
    u = LedgeredUnlearner(fast_retrain().fit(data), tmp_path)
    u.unlearn(NodeRequest([ids[0]]))
    acknowledged = ledger_fingerprint(u.unlearner)
    path = tmp_path / "journal.jsonl"
    with open(path, "ab") as f:  # a crash half-way through appending the next record
        f.write(b'{"type": "request", "outcome": "appl')
    assert Ledger(tmp_path).verify().torn_tail
    restored, summary = Ledger(tmp_path).restore()
    assert ledger_fingerprint(restored) == acknowledged and summary["applied"] == 1
    assert Ledger(tmp_path).verify().ok and not Ledger(tmp_path).verify().torn_tail


class _Crash(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing catches it on the way up."""


def _crashing(monkeypatch, at):
    """Makes the ``at``-th durable step (fsync of a file or directory, rename, atomic
    replace, deletion by the garbage collector) raise, leaving whatever was written so
    far on disk."""
    calls = {"n": 0}

    def tick():
        calls["n"] += 1
        if calls["n"] == at:
            raise _Crash()

    real = {name: getattr(os, name) for name in ("fsync", "replace", "rename", "unlink")}

    def wrap(name):
        def step(*args, **kwargs):
            tick()
            return real[name](*args, **kwargs)
        return step

    for name in real:  # the ledger and its object store call os.<name> at run time
        monkeypatch.setattr(os, name, wrap(name))
    return calls


def test_a_crash_at_every_write_point_is_recovered(tmp_path, monkeypatch):
    """Crash at the k-th durable write for every k: restore never sees a half-applied
    request, never loses an acknowledged one, and resuming ends in the same state."""
    data = tiny_graph()
    requests = [NodeRequest([i]) for i in train_ids(data, 4)] + [EdgeRequest([[0], [0]])]
    fps = _expected_fingerprints(requests[:4])
    fitted = fast_retrain().fit(data)
    # every checkpoint, one kept, and compaction of packs as soon as any byte is dead:
    # every write of the protocol (pack, manifest, CURRENT, GC, compaction) is crashed at
    monkeypatch.setattr(ledger_module, "_WASTE_SLACK", 0)
    at, crashed_somewhere = 1, True
    while crashed_somewhere:
        folder = tmp_path / f"crash-{at}"
        acknowledged = 0
        with monkeypatch.context() as m:
            _crashing(m, at)
            try:
                led = Ledger(folder, checkpoint_every=1, keep=1)
                u = fitted.clone().fit(data)
                led.init(u)
                for r in requests[:4]:
                    led.apply(u, r)
                    acknowledged += 1
                crashed_somewhere = False
            except _Crash:
                pass
        led = Ledger(folder, checkpoint_every=1, keep=1)
        if not led.exists:  # crashed before the genesis checkpoint: start over
            assert acknowledged == 0
            led.recover()
            u = fitted.clone().fit(data)
            led.init(u)
        else:
            u, summary = led.restore()
            assert summary["mismatches"] == []
            assert summary["applied"] >= acknowledged, f"crash {at}: an acknowledged request was lost"
            assert ledger_fingerprint(u) == fps[summary["applied"]], f"crash {at}: half-applied state"
        done = sum(1 for r in led.records() if r["type"] == "request")
        for r in requests[done:4]:
            led.apply(u, r)
        assert ledger_fingerprint(u) == fps[4]
        result = led.verify()
        assert result.ok and result.outcome == "ok", (at, result.errors, result.repairs)
        assert result.checkpoints == 1  # keep=1: the garbage collector ran
        reloaded, _ = Ledger(folder).restore()
        assert ledger_fingerprint(reloaded) == fps[4]
        at += 1
    assert at > 40  # the protocol has many write points; each was crashed at


def test_apply_refuses_a_model_out_of_sync_with_the_ledger(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 2)
    u = fast_retrain().fit(data)
    led = Ledger(tmp_path)
    led.init(u)
    u.unlearn(NodeRequest([ids[0]]))  # served behind the ledger's back
    with pytest.raises(LedgerError, match="not the ledger's last state"):
        led.apply(u, NodeRequest([ids[1]]))
    assert len(led.records()) == 1


@pytest.mark.parametrize("change", ["in_place", "rebound", "refit", "swapped"])
def test_the_incremental_check_before_a_request_sees_changes_made_behind_its_back(tmp_path, change):
    # apply() reuses the previous request's fingerprint as the "before" one only while
    # nothing shows a change: an in-place write to a state tensor, a rebound attribute,
    # a refit or another unlearner object are each refused before any work
    data = tiny_graph()
    ids = train_ids(data, 3)
    u = fast_retrain().fit(data)
    led = Ledger(tmp_path)
    led.init(u)
    led.apply(u, NodeRequest([ids[0]]))
    if change == "in_place":
        with torch.no_grad():
            next(u.model_.parameters()).add_(1.0)
    elif change == "rebound":
        u.model_ = copy.deepcopy(u.model_)
        with torch.no_grad():
            next(u.model_.parameters()).mul_(2.0)
    elif change == "refit":
        u.fit(data)
    else:
        u = fast_retrain().fit(data)
    with pytest.raises(LedgerError, match="not the ledger's last state"):
        led.apply(u, NodeRequest([ids[1]]))
    assert len(led.records()) == 2


def test_check_before_full_recomputes_the_fingerprint_every_time(tmp_path, monkeypatch):
    data = tiny_graph()
    ids = train_ids(data, 3)
    u = fast_retrain().fit(data)
    counts = {}
    for mode in ("incremental", "full"):
        led = Ledger(tmp_path / mode, check_before=mode)
        led.init(u)
        calls = []
        real = led._snap
        monkeypatch.setattr(led, "_snap", lambda un, real=real, calls=calls: calls.append(1) or real(un))
        led.apply(u, NodeRequest([ids[0 if mode == "incremental" else 1]]))
        counts[mode] = len(calls)
    assert counts == {"incremental": 1, "full": 2}
    with pytest.raises(GraphForgetError, match="check_before"):
        Ledger(tmp_path / "x", check_before="never")


def test_ledger_errors_are_clear(tmp_path):
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger(tmp_path / "nothing").restore()
    with pytest.raises(GraphForgetError, match="checkpoint_every"):
        Ledger(tmp_path, checkpoint_every=0)
    u = fast_retrain().fit(tiny_graph())
    LedgeredUnlearner(u, tmp_path)
    with pytest.raises(LedgerError, match="already holds a ledger"):
        LedgeredUnlearner(u, tmp_path)
    with pytest.raises(TypeError, match="ForgetRequest"):
        Ledger(tmp_path).apply(u, [1, 2])
    assert Ledger(tmp_path).records()[-1]["outcome"] == "rejected"
    first = Ledger(tmp_path)
    with first.locked(), pytest.raises(LedgerError, match="in use"):
        with Ledger(tmp_path).locked():
            pass
