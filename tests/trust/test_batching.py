import pytest

from graphforget.batching import BatchingUnlearner, merge_requests
from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.ledger import Ledger, LedgeredUnlearner
from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest

from ._helpers import fast_retrain, tiny_graph, train_ids


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_size_window_bounds_unlearning_calls_and_equals_one_batched_request():
    data = tiny_graph()
    ids = train_ids(data, 7)
    batcher = BatchingUnlearner(fast_retrain().fit(data), max_batch=3, max_delay=1e9)
    reports = []
    for i in ids:
        reports += batcher.submit(NodeRequest([i]))
    assert batcher.calls == 2 and batcher.pending == 1 and len(reports) == 2
    reports += batcher.flush()
    assert batcher.calls == 3 and batcher.pending == 0
    # exact method: the batched result equals serving the same windows directly
    direct = fast_retrain().fit(data)
    for window in (ids[:3], ids[3:6], ids[6:]):
        direct.unlearn(NodeRequest(window))
    assert batcher.fingerprint() == direct.fingerprint()


def test_time_window_flushes_on_submit_and_poll():
    data = tiny_graph()
    ids = train_ids(data, 3)
    clock = Clock()
    batcher = BatchingUnlearner(fast_retrain().fit(data), max_batch=100, max_delay=5.0, clock=clock)
    batcher.submit(NodeRequest([ids[0]]))
    clock.now = 4.0
    assert batcher.poll() == [] and batcher.pending == 1
    clock.now = 5.0
    assert len(batcher.poll()) == 1 and batcher.pending == 0
    batcher.submit(NodeRequest([ids[1]]))
    clock.now = 11.0
    assert len(batcher.submit(NodeRequest([ids[2]]))) == 1  # the expired window flushed first
    assert batcher.pending == 1


def test_queue_rejects_repeats_and_merges_in_a_safe_order():
    data = tiny_graph()
    a, b = train_ids(data, 2)
    u = fast_retrain().fit(data)
    batcher = BatchingUnlearner(u, max_batch=10)
    edge = data.edge_index[:, data.edge_index[0] == a][:, :1]
    batcher.submit(NodeRequest([a]))
    with pytest.raises(InvalidRequestError, match="already queued"):
        batcher.submit(NodeRequest([a]))
    batcher.submit(EdgeRequest(edge))  # an edge of a queued node: served before the node
    with pytest.raises(InvalidRequestError, match="already queued"):
        batcher.submit(EdgeRequest(edge.flip(0)))  # same undirected edge
    batcher.submit(FeatureRequest([b]))
    merged = merge_requests(batcher._queue)
    assert [r.kind for r in merged] == ["edge", "feature", "node"]
    before = u.fingerprint()
    assert batcher.pending == 3 and u.fingerprint() == before  # nothing served yet
    assert len(batcher.flush()) == 3 and bool(u.data_.forgotten_mask[a])
    with pytest.raises(GraphForgetError, match="max_batch"):
        BatchingUnlearner(u, max_batch=0)


def test_batching_over_a_ledger_journals_one_record_per_flush(tmp_path):
    data = tiny_graph()
    ids = train_ids(data, 4)
    batcher = BatchingUnlearner(LedgeredUnlearner(fast_retrain().fit(data), tmp_path), max_batch=2)
    for i in ids:
        batcher.submit(NodeRequest([i]))
    records = Ledger(tmp_path).records()
    assert [len(r["request"]["node_ids"]) for r in records[1:]] == [2, 2]
    restored, _ = Ledger(tmp_path).restore()
    assert restored.fingerprint() == batcher.fingerprint()
