"""Ledger format 2: incremental fingerprints, content-addressed checkpoints, retention,
damage reports, repairs that write nothing under ``persist=False``, the lock and the
Python API."""

import json
import os
import random
import shutil
import time

import pytest
import torch

from graphforget import ledger as ledger_module
from graphforget._checkpoint import CHUNK_BYTES, ObjectStore, StateTracker, parse_tensor_index, state_digest
from graphforget.ledger import (
    EmptyLedgerError,
    Ledger,
    LedgeredUnlearner,
    LedgerError,
    ledger_fingerprint,
    open_ledger,
)
from graphforget.requests import NodeRequest
from graphforget.testing import small_graph

from ._helpers import fast_retrain, tiny_graph, train_ids


def _tree(folder, lock=True):
    """Every file under ``folder`` with its bytes and modification time (a writer
    records its pid in ``lock``: ``lock=False`` leaves that file out)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and (lock or p.name != "lock")}


def _ledger(folder, n=3, **kw):
    data = tiny_graph()
    u = LedgeredUnlearner(fast_retrain().fit(data), folder, **kw)
    for i in train_ids(data, n):
        u.unlearn(NodeRequest([i]))
    return u


# ---------------------------------------------------------------------------
# incremental fingerprints
# ---------------------------------------------------------------------------
class _Moving:
    """A stand-in unlearner whose state changes in every way a method can change it."""

    def __init__(self, seed):
        g = torch.Generator().manual_seed(seed)
        self.g = g
        self.x = torch.randn(300, 40, generator=g)  # 48 KB: several chunks
        self.ei = torch.randint(0, 300, (2, 500), generator=g)
        self.stack = [torch.randn(300, 40, dtype=torch.float64, generator=g) for _ in range(2)]
        self.mod = torch.nn.Linear(40, 30)
        self.p = torch.nn.Parameter(torch.randn(50, 50, generator=g))
        self.history = []
        self.entries = []
        self.extra = {}

    def get_state(self):
        return {"data": {"x": self.x, "edge_index": self.ei},
                "history": [dict(h) for h in self.history],
                "method": {"stack": [s.clone() for s in self.stack],
                           "module": {k: v.clone() for k, v in self.mod.state_dict().items()},
                           "via_data": self.p.data.clone(), "detached": self.p.detach().clone(),
                           "ledger": [dict(e) for e in self.entries], "tuple": (self.stack[0].clone(), 3),
                           **self.extra}}

    def mutate(self, rng):
        kind = rng.randrange(14)
        if kind == 0:  # rows written in place (CGU's propagation stack)
            rows = torch.tensor(rng.sample(range(300), 3))
            self.stack[rng.randrange(2)][rows] = torch.randn(3, 40, dtype=torch.float64, generator=self.g)
        elif kind == 1:  # a new tensor replacing the old one (request.apply's retained graph)
            x = self.x.clone()
            x[rng.randrange(300)] = 0
            self.x = x
        elif kind == 2:  # a live tensor changed in place
            self.x[rng.randrange(300), rng.randrange(40)] += 1
        elif kind == 3:
            with torch.no_grad():
                self.mod.weight[rng.randrange(30)] += 1
        elif kind == 4:  # the parameter's storage replaced (vector_to_parameters)
            self.p.data = self.p.detach() + 1
        elif kind == 5:
            self.history.append({"kind": "node", "node_ids": [rng.randrange(300)]})
        elif kind == 6:
            self.entries.append({"bound": rng.random(), "retrained": False, "terms": {"a": rng.random()}})
        elif kind == 7 and self.entries:  # an old list entry edited: the prefix is not reused
            self.entries[0]["bound"] = rng.random()
        elif kind == 8:  # bitwise change that == would not see: 0.0 -> -0.0
            self.stack[1][rng.randrange(300), 0] = 0.0
            self.stack[1][rng.randrange(300), 0] = -0.0
        elif kind == 9:  # shape and dtype changes
            self.ei = self.ei[:, : self.ei.size(1) - 1].clone()
        elif kind == 10:
            self.extra["new"] = torch.arange(rng.randrange(1, 5000))
        elif kind == 11:
            self.extra.pop("new", None)
            self.extra["scalar"] = rng.choice([1, 1.0, True, "1"])
        elif kind == 12 and self.history:  # an entry replaced by an equal-looking one of another type
            self.history[-1] = {"kind": "node", "node_ids": [float(self.history[-1]["node_ids"][0])]}
        elif kind == 13:  # written through .data: p's version counter does not move, but
            self.p.data[rng.randrange(50)] += 1  # get_state clones p.data / p.detach(): fresh objects


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_fingerprint_equals_the_fingerprint_from_scratch(seed):
    rng = random.Random(seed)
    u = _Moving(seed)
    tracker = StateTracker(chunk=1024)  # small chunks: many per tensor
    seen = set()
    for _ in range(60):
        for _ in range(rng.randrange(3)):
            u.mutate(rng)
        fast = tracker.snapshot(u).fingerprint
        assert fast == state_digest(u.get_state(), chunk=1024)
        assert tracker.snapshot(u).fingerprint == fast  # nothing changed: same value
        seen.add(fast)
    assert len(seen) > 30  # the mutations did change the fingerprint


def test_an_unchanged_state_costs_no_hashing_and_a_row_costs_a_chunk():
    u = _Moving(0)
    tracker = StateTracker()
    tracker.snapshot(u)
    hashed = tracker.bytes_hashed
    tracker.snapshot(u)
    assert tracker.bytes_hashed == hashed  # nothing changed: nothing hashed
    u.stack[0][5] = 1.0  # one row, in place
    tracker.snapshot(u)
    # the row's chunk(s) for the stack and for the tuple that clones the same tensor
    assert 0 < tracker.bytes_hashed - hashed <= 4 * CHUNK_BYTES


# ---------------------------------------------------------------------------
# checkpoints: content addressing, retention, timings
# ---------------------------------------------------------------------------
def test_unchanged_tensors_are_stored_once_and_old_checkpoints_are_collected(tmp_path):
    _ledger(tmp_path, n=5, checkpoint_every=1, keep=2)
    manifests = sorted((tmp_path / "checkpoints").glob("ckpt-*.json"))
    assert [p.stem for p in manifests] == ["ckpt-00000004", "ckpt-00000005"]
    store = ObjectStore(tmp_path / "objects").load()
    old, new = (json.loads(p.read_text())["tensors"] for p in manifests)
    assert old["data/y"] == new["data/y"]  # unchanged: one object, shared
    newest = max(store.packs, key=lambda n: n.split("-")[1])
    assert new["data/y"] not in store.packs[newest].objects
    # packs holding nothing a kept checkpoint uses are gone
    live = set()
    for body in (json.loads(p.read_text()) for p in manifests):
        live.add(body["skeleton"])
        for digest in body["tensors"].values():
            live.add(digest)
            live.update(parse_tensor_index(store.read(digest))[1])
    for pack in store.packs.values():
        assert set(pack.objects) & live
    assert Ledger(tmp_path).verify().ok


def test_recorded_unlearn_seconds_are_the_reports_seconds(tmp_path, monkeypatch):
    data = tiny_graph()
    u = fast_retrain().fit(data)
    led = Ledger(tmp_path, checkpoint_every=1)
    led.init(u)
    real = StateTracker.snapshot

    def slow_snapshot(self, unlearner):  # ledger work made visible: 30 ms per fingerprint
        time.sleep(0.03)
        return real(self, unlearner)

    monkeypatch.setattr(StateTracker, "snapshot", slow_snapshot)
    report = led.apply(u, NodeRequest(train_ids(data, 1)))
    rec = led.records()[-1]
    assert rec["unlearn_seconds"] == report.seconds
    assert report.seconds < 0.03 or rec["unlearn_seconds"] == report.seconds
    # one fingerprint: the state after (the one before is the init's, still valid)
    assert rec["ledger_seconds"] >= 0.03
    assert rec["seconds"] == pytest.approx(rec["unlearn_seconds"] + rec["ledger_seconds"])
    assert led.last["total_ledger_seconds"] >= rec["ledger_seconds"]


def test_a_one_shard_grapheraser_request_writes_about_one_shard(tmp_path):
    from graphforget._registry import make_method, resolve_method

    data = small_graph(num_nodes=160, num_features=256, seed=2)
    u = make_method(resolve_method("grapheraser"), shards=4, partition="random", hidden_channels=256,
                    epochs=5, seed=0).fit(data)
    shard = sum(t.numel() * t.element_size() for t in u.checkpoints_[0][-1]["state"].values())
    led = Ledger(tmp_path, checkpoint_every=1, keep=4)
    led.init(u)
    state_bytes = sum(p.stat().st_size for p in (tmp_path / "objects").iterdir())
    node = int(data.train_mask.nonzero()[0])
    before = led.disk_usage()
    report = led.apply(u, NodeRequest([node]))
    grown = led.disk_usage() - before
    assert len(report.affected.get("shards", [0])) == 1
    assert grown < 2 * shard, (grown, shard)
    assert grown < state_bytes / 2


# ---------------------------------------------------------------------------
# damage: reported, named, not silently rebuilt
# ---------------------------------------------------------------------------
def _newest_chunk(folder):
    """(tensor label, pack path, offset) of a chunk that only the newest checkpoint uses."""
    manifest = json.loads(sorted((folder / "checkpoints").glob("ckpt-*.json"))[-1].read_text())
    store = ObjectStore(folder / "objects").load()
    newest = max(store.packs, key=lambda n: n.split("-")[1])
    for label, digest in sorted(manifest["tensors"].items()):
        for chunk in parse_tensor_index(store.read(digest))[1]:
            if chunk in store.packs[newest].objects:
                return label, folder / "objects" / newest, store.packs[newest].objects[chunk][0]
    raise AssertionError("no new chunk")


def test_a_corrupted_tensor_is_named_by_verify_and_restore_refuses(tmp_path):
    u = _ledger(tmp_path, checkpoint_every=1)
    truth = ledger_fingerprint(u.unlearner)
    label, pack, offset = _newest_chunk(tmp_path)
    raw = bytearray(pack.read_bytes())
    raw[offset + 3] ^= 0x40
    pack.write_bytes(bytes(raw))
    result = Ledger(tmp_path).verify()
    assert result.outcome == "damaged"
    assert any(f"tensor {label}" in e and pack.name in e and "corrupted" in e for e in result.errors), result.errors
    with pytest.raises(LedgerError, match=f"tensor {label}.*{pack.name}"):
        Ledger(tmp_path).restore(persist=False)
    restored, summary = Ledger(tmp_path).restore(persist=False, fallback=True)  # explicit: older + replay
    assert ledger_fingerprint(restored) == truth and summary["damaged"] and summary["replayed"] == 1


def test_a_truncated_pack_is_named_by_verify(tmp_path):
    _ledger(tmp_path, checkpoint_every=1)
    label, pack, _ = _newest_chunk(tmp_path)
    pack.write_bytes(pack.read_bytes()[:-100])
    errors = Ledger(tmp_path).verify().errors
    assert any(pack.name in e and "truncated" in e for e in errors), errors
    assert any(f"tensor {label}" in e for e in errors), errors
    with pytest.raises(LedgerError, match=pack.name):
        Ledger(tmp_path).restore(persist=False)


def test_a_deleted_tensor_is_reported_not_rebuilt(tmp_path):
    _ledger(tmp_path, checkpoint_every=1)
    label, pack, _ = _newest_chunk(tmp_path)
    pack.unlink()
    errors = Ledger(tmp_path).verify().errors
    assert any(f"tensor {label}" in e and "deleted?" in e for e in errors), errors
    before = _tree(tmp_path, lock=False)
    with pytest.raises(LedgerError, match=r"ckpt-00000003: .*in no pack under objects/ \(deleted\?\)"):
        Ledger(tmp_path).restore()
    assert _tree(tmp_path, lock=False) == before  # nothing rebuilt behind the user's back


# ---------------------------------------------------------------------------
# torn tails, --no-persist, empty ledgers
# ---------------------------------------------------------------------------
def test_a_cut_acknowledged_record_is_restored_from_its_checkpoint(tmp_path):
    """The issue's data-loss case: the journal loses the end of its last (acknowledged)
    record; the checkpoint that embeds it brings it back; --no-persist writes nothing."""
    whole = tmp_path / "whole"
    u = _ledger(whole, checkpoint_every=1)
    truth = ledger_fingerprint(u.unlearner)
    pristine = (whole / "journal.jsonl").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    (copy / "journal.jsonl").write_bytes(pristine[:-40])
    before = _tree(copy)
    result = Ledger(copy).verify()
    assert result.ok and result.torn_tail and result.outcome == "needs-repair"
    assert result.records == 4 and result.applied == 3 and "restore record 3" in result.repairs[0]
    restored, summary = Ledger(copy).restore(persist=False)
    assert summary["outcome"] == "needs-repair" and summary["applied"] == 3
    assert ledger_fingerprint(restored) == truth
    assert _tree(copy) == before  # verify and persist=False wrote nothing at all
    restored, summary = Ledger(copy).restore()
    assert summary["outcome"] == "repaired" and ledger_fingerprint(restored) == truth
    assert (copy / "journal.jsonl").read_bytes() == pristine  # nothing acknowledged was deleted
    assert [p.read_bytes() for p in (copy / "torn").iterdir()] == [pristine[pristine.rindex(b"\n", 0, -1) + 1:-40]]
    assert Ledger(copy).verify().outcome == "ok"


def test_an_unacknowledged_torn_append_is_set_aside_not_deleted(tmp_path):
    u = _ledger(tmp_path, n=1, checkpoint_every=1)
    fragment = b'{"type": "request", "outcome": "appl'
    with open(tmp_path / "journal.jsonl", "ab") as f:
        f.write(fragment)
    assert Ledger(tmp_path).verify().outcome == "needs-repair"
    restored, summary = Ledger(tmp_path).restore()
    assert summary["outcome"] == "repaired" and summary["applied"] == 1
    assert ledger_fingerprint(restored) == ledger_fingerprint(u.unlearner)
    assert [p.read_bytes() for p in (tmp_path / "torn").iterdir()] == [fragment]


def test_apply_refuses_a_torn_journal_and_retention_survives_a_replay(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 6)
    u = LedgeredUnlearner(fast_retrain().fit(data), tmp_path, checkpoint_every=1, keep=3)
    for i in ids[:4]:
        u.unlearn(NodeRequest([i]))
    assert len(list((tmp_path / "checkpoints").iterdir())) == 3
    with open(tmp_path / "journal.jsonl", "ab") as f:
        f.write(b'{"type": "req')
    with pytest.raises(LedgerError, match="torn line"):
        u.unlearn(NodeRequest([ids[4]]))
    assert Ledger(tmp_path).verify().outcome == "needs-repair"  # untouched: still repairable
    restored, summary = Ledger(tmp_path).restore()  # no keep given: the recorded one (3)
    assert summary["outcome"] == "repaired" and Ledger(tmp_path).keep == 3
    led = Ledger(tmp_path, checkpoint_every=1)
    led.apply(restored, NodeRequest([ids[4]]))
    assert len(list((tmp_path / "checkpoints").iterdir())) == 3


def test_a_checkpoint_beyond_the_journal_is_reported_untouched(tmp_path):
    _ledger(tmp_path, checkpoint_every=1)
    journal = tmp_path / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-2]))  # two acknowledged records gone
    before = _tree(tmp_path, lock=False)
    result = Ledger(tmp_path).verify()
    assert result.outcome == "damaged" and any("after the journal's last record" in e for e in result.errors)
    with pytest.raises(LedgerError, match="after the journal's last record"):
        Ledger(tmp_path).restore()
    assert _tree(tmp_path, lock=False) == before


def test_a_folder_with_only_a_lock_is_an_empty_ledger(tmp_path):
    folder = tmp_path / "killed-while-loading"
    folder.mkdir()
    (folder / "lock").write_text("1234\n")
    before = _tree(folder)
    result = Ledger(folder).verify()
    assert result.ok and result.empty and result.outcome == "empty" and result.records == 0
    with pytest.raises(EmptyLedgerError, match="nothing was applied"):
        Ledger(folder).restore(persist=False)
    assert _tree(folder) == before
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger(tmp_path / "missing").verify()
    (tmp_path / "unrelated").mkdir()
    (tmp_path / "unrelated" / "notes.txt").write_text("x")
    with pytest.raises(LedgerError, match="not a ledger"):
        Ledger(tmp_path / "unrelated").restore()


# ---------------------------------------------------------------------------
# the lock and the Python API
# ---------------------------------------------------------------------------
def test_a_second_writer_fails_at_once_and_corrupts_nothing(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 3)
    with open_ledger(tmp_path, fast_retrain().fit(data)) as led:
        led.apply(NodeRequest([ids[0]]))
        other = fast_retrain().fit(data)
        start = time.perf_counter()
        with pytest.raises(LedgerError, match=f"in use by another process \\(pid {os.getpid()}\\)"):
            open_ledger(tmp_path)
        with pytest.raises(LedgerError, match="in use"):
            Ledger(tmp_path).apply(other, NodeRequest([ids[1]]))
        with pytest.raises(LedgerError, match="in use"):
            Ledger(tmp_path).verify()  # readers wait for no one: they fail at once too
        assert time.perf_counter() - start < 5
        led.apply(NodeRequest([ids[1]]))
    result = Ledger(tmp_path).verify()
    assert result.outcome == "ok" and result.applied == 2 and result.records == 3


def test_python_api_opens_applies_verifies_and_restores(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 4)
    with pytest.raises(EmptyLedgerError, match="pass a fitted unlearner"):
        open_ledger(tmp_path)
    led = open_ledger(tmp_path, fast_retrain().fit(data), config={"pipeline": "nightly"})
    led.apply(NodeRequest([ids[0]]))
    led.apply(NodeRequest([ids[1]]))
    assert led.verify().ok
    head = ledger_fingerprint(led.unlearner)
    assert ledger_fingerprint(led.restore()) == head  # rebuilt from disk, same state
    led.apply(NodeRequest([ids[2]]))
    live = led.unlearner
    led.close()
    assert Ledger(tmp_path).checkpointed()  # close() leaves the end checkpointed
    with pytest.raises(LedgerError, match="closed"):
        led.apply(NodeRequest([ids[3]]))
    with open_ledger(tmp_path, live) as again:  # the same in-memory model: used as is
        assert again.unlearner is live
        again.apply(NodeRequest([ids[3]]))
    with open_ledger(tmp_path) as resumed:  # restored from the directory
        assert resumed.summary["applied"] == 4
        assert ledger_fingerprint(resumed.unlearner) == ledger_fingerprint(live)
    with pytest.raises(LedgerError, match="not at the ledger's last state"):
        open_ledger(tmp_path, fast_retrain().fit(data))
    assert Ledger(tmp_path).records()[0]["config"] == {"pipeline": "nightly"}


def test_auto_checkpoints_cost_a_bounded_share_of_unlearning(tmp_path, monkeypatch):
    data = tiny_graph()
    real = ledger_module.Ledger._checkpoint_now

    def slow(self, *args, **kwargs):  # a checkpoint costs 50 ms
        time.sleep(0.05)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ledger_module.Ledger, "_checkpoint_now", slow)

    def stream(folder):
        u = fast_retrain().fit(data)
        led = Ledger(folder)  # checkpoint_every="auto"
        led.init(u)
        written = 0
        for i in train_ids(data, 12):
            led.apply(u, NodeRequest([i]))
            written += int(led.last["checkpoint"])
        assert led.verify().ok
        return written

    # the time rule: unlearning takes ~10 ms, a checkpoint 50 ms: one is due only after
    # ~1 s of unlearning (the first request always writes one, to measure the cost)
    with monkeypatch.context() as m:
        m.setattr(ledger_module, "AUTO_CHANGED", 1e9)
        assert stream(tmp_path / "time") == 1
    # the size rule: retraining rewrites more than 10% of this state on every request, so
    # every request is checkpointed (two kept checkpoints then share all but one step)
    assert stream(tmp_path / "size") == 12
