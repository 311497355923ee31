"""Row hints (``hint_rows``): the incremental fingerprint compares only the hinted rows,
stays equal to the fingerprint from scratch, and still sees every write a hint does not
cover."""

import random

import pytest
import torch

from graphforget._checkpoint import CheckpointError, StateTracker, hint_rows, state_digest
from graphforget.certified.cgu import CGU
from graphforget.ledger import Ledger
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest
from graphforget.testing import small_graph

CHUNK = 256  # small chunks: a few rows each, so a missed row is a missed chunk


class _Rows:
    """A stand-in unlearner: a large tensor written by rows, and a live copy."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.g = g
        self.z = torch.randn(400, 16, dtype=torch.float64, generator=g)  # 128-byte rows
        self.x = torch.randn(400, 8, generator=g)

    def get_state(self):
        return {"z": self.z.clone(), "x": self.x}


def _check(tracker, u):
    fast = tracker.snapshot(u).fingerprint
    assert fast == state_digest(u.get_state(), chunk=CHUNK)
    return fast


def test_hinted_rows_are_the_only_ones_compared_and_the_fingerprint_is_exact():
    u = _Rows()
    tracker = StateTracker(chunk=CHUNK, check_hints=True)
    before = _check(tracker, u)
    compared = tracker.bytes_compared
    rows = torch.tensor([3, 250])
    with hint_rows(u.z, rows):
        u.z[rows] = 1.0
    after = _check(tracker, u)
    assert after != before
    assert tracker.hinted == 1
    assert tracker.bytes_compared - compared <= 2 * CHUNK  # two rows: two chunks, not 51 KB


def test_a_write_without_a_hint_is_still_seen():
    u = _Rows()
    tracker = StateTracker(chunk=CHUNK)
    fp = _check(tracker, u)
    u.z[100, 3] += 1.0  # no hint at all
    assert _check(tracker, u) != fp
    assert tracker.hinted == 0  # compared in full
    fp = _check(tracker, u)
    # a hinted write, then an unhinted one, then a hinted one: the gap is noticed
    with hint_rows(u.z, [1]):
        u.z[1] = 2.0
    u.z[399] = 5.0
    with hint_rows(u.z, [2]):
        u.z[2] = 2.0
    assert _check(tracker, u) != fp
    assert tracker.hinted == 0
    # a write through a view shares the version counter: not covered by the hint
    with hint_rows(u.z, [7]):
        u.z[7] = 3.0
    u.z[300:301].add_(1.0)
    _check(tracker, u)
    assert tracker.hinted == 0


def test_a_wrong_hint_is_caught_by_check_hints():
    u = _Rows()
    tracker = StateTracker(chunk=CHUNK, check_hints=True)
    _check(tracker, u)
    with hint_rows(u.z, [0]):
        u.z[200] = 9.0  # broken promise: row 200 is not hinted
    with pytest.raises(CheckpointError, match="missed a write"):
        tracker.snapshot(u)


def test_a_hinted_copy_is_compared_with_its_base_on_the_hinted_rows_only():
    u = _Rows()
    tracker = StateTracker(chunk=CHUNK, check_hints=True)
    fp = _check(tracker, u)
    new = u.x.clone()
    with hint_rows(new, [5], base=u.x):
        new[5] = 0.0
    u.x = new
    compared = tracker.bytes_compared
    assert _check(tracker, u) != fp
    assert tracker.hinted == 1 and tracker.bytes_compared - compared <= CHUNK
    # a base written after the copy was made: the hint no longer holds, full comparison
    new = u.x.clone()
    with hint_rows(new, [6], base=u.x):
        new[6] = 0.0
    u.x[50] = 7.0  # the old tensor changed in place after the copy
    u.x = new
    hinted = tracker.hinted
    _check(tracker, u)
    assert tracker.hinted == hinted
    # a copy written again without a hint: full comparison
    new = u.x.clone()
    with hint_rows(new, [8], base=u.x):
        new[8] = 0.0
    new[9] = 1.0
    u.x = new
    _check(tracker, u)
    assert tracker.hinted == hinted


@pytest.mark.parametrize("seed", [0, 1])
def test_cgu_stream_hinted_fingerprint_equals_the_one_from_scratch(seed):
    data = small_graph(num_nodes=150, num_features=16, seed=seed)
    u = CGU(model="sgc" if seed == 0 else "gpr", seed=seed).fit(data)
    tracker = StateTracker(chunk=CHUNK, check_hints=True)
    rng = random.Random(seed)
    train = data.train_mask.nonzero().view(-1).tolist()
    rng.shuffle(train)
    edges = data.edge_index.t().tolist()
    seen = {_check(tracker, u)}
    for _ in range(25):
        kind = rng.randrange(3)
        if kind == 0:
            req = NodeRequest([train.pop()])
        elif kind == 1:
            a, b = edges[rng.randrange(len(edges))]
            live = u.data_.edge_index
            if not bool(((live[0] == a) & (live[1] == b)).any()):
                continue
            req = EdgeRequest([[a, b]])
        else:
            req = FeatureRequest([train.pop()])
        u.unlearn(req)
        seen.add(_check(tracker, u))
        assert tracker.snapshot(u).fingerprint in seen  # unchanged: same value
    assert len(seen) > 15
    assert tracker.hinted > 20  # the stack, Z_ and active_ took the hinted path


def _cgu_ledger(folder, every):
    data = small_graph(num_nodes=150, num_features=16, seed=2)
    u = CGU(seed=0).fit(data)
    led = Ledger(folder, checkpoint_every=every)
    led.init(u)
    for node in data.train_mask.nonzero().view(-1)[:7].tolist():
        led.apply(u, NodeRequest([node]))
    assert led._tracker.hinted > 0
    head = led.records()[-1]["fingerprint_after"]
    assert head == state_digest(u.get_state())  # the journaled (hinted) fingerprint is exact
    return head


@pytest.mark.parametrize("every", [1, 100])
def test_cgu_through_the_ledger_restores_to_the_same_fingerprints(tmp_path, every):
    head = _cgu_ledger(tmp_path, every)
    restored, summary = Ledger(tmp_path).restore(persist=False)
    # every=1: the last checkpoint; every=100: the genesis checkpoint and 7 requests replayed
    assert summary["outcome"] == "ok" and not summary["mismatches"]
    assert summary["replayed"] == (0 if every == 1 else 7)
    assert summary["fingerprint"] == head == state_digest(restored.get_state())
    assert Ledger(tmp_path).verify().ok


def test_cgu_replay_after_a_mid_stream_checkpoint_is_bit_identical(tmp_path):
    _cgu_ledger(tmp_path, 3)
    _, summary = Ledger(tmp_path).restore(persist=False)
    assert summary["replayed"] == 1 and summary["outcome"] == "ok"
