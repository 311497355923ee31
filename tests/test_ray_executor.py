"""The Ray executor on a simulated 3-node cluster (the session's ``ray_cluster`` fixture):
placement and the object store, errors, retries of killed workers, failures that leave
the unlearner unchanged, bit-identical models across executors, and the CLI plumbing."""

from __future__ import annotations

import json
import operator

import pytest
import torch

from graphforget.bench.cli import main
from graphforget.errors import GraphForgetError, JobFailedError
from graphforget.exact import SISA, GraphEraser, train_shard_job
from graphforget.exact.guide import GUIDE
from graphforget.executor import RayExecutor, make_executor
from graphforget.recommendation import InteractionRequest, RecEraser, interaction_data
from graphforget.requests import NodeRequest
from graphforget.testing import small_graph
from graphforget.testing.distributed import KillWorkerOnce, ray_probe

EPOCHS = 5
pytestmark = [pytest.mark.usefixtures("ray_cluster"), pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def data():
    return small_graph(90)


def _shard_node(u, shard: int, k: int = 0) -> int:
    """The ``k``-th retained training node of ``shard``."""
    nodes = u.partition_.shard_nodes(shard)
    return int(nodes[k])


# -- the executor itself ----------------------------------------------------------------
def test_jobs_run_on_worker_nodes_and_read_shared_data_from_the_object_store(ray_cluster):
    import ray

    shared = torch.arange(200_000, dtype=torch.float64)  # 1.6 MB: stored in the object store
    ex = make_executor("ray")
    out = ex.map(ray_probe, [(i,) for i in range(6)], shared=shared)
    assert [o["job"] for o in out] == list(range(6))  # job order, whatever finished first
    assert {o["checksum"] for o in out} == {float(shared.sum())}
    nodes = {o["node"] for o in out}
    # the driver's node has no CPU: every job ran on a worker node, which fetched the
    # shared graph from its own object store (no path on the driver's disk is involved)
    assert ray.get_runtime_context().get_node_id() not in nodes
    assert nodes <= set(ray_cluster.worker_node_ids)
    ex.close()
    assert ray.is_initialized()  # the fixture's Ray is not this executor's to shut down


def test_a_failing_job_fails_the_call_in_one_line_naming_it():
    ex = RayExecutor()
    with pytest.raises(JobFailedError, match=r"^job 1 failed: ZeroDivisionError: division by zero$") as info:
        ex.map(operator.truediv, [(1, 1), (1, 0), (4, 2)])
    assert info.value.job == 1 and isinstance(info.value.__cause__, ZeroDivisionError)
    assert dict(ex.as_completed(operator.mul, [(i, 2) for i in range(5)])) == {i: 2 * i for i in range(5)}
    with pytest.raises(JobFailedError, match=r"^job 1 failed: ZeroDivisionError"):
        list(ex.as_completed(operator.truediv, [(1, 1), (1, 0)]))
    assert ex.map(operator.add, [(1, 2)]) == [3]  # and the executor serves the next call


def test_connect_starts_a_private_local_ray_or_joins_the_given_cluster(monkeypatch):
    import ray

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    shutdowns = []
    monkeypatch.setattr(ray, "shutdown", lambda: shutdowns.append(1))
    ex = RayExecutor()
    ex.connect()
    assert calls[-1] == {"address": "local", "include_dashboard": False}  # never some other cluster
    RayExecutor(address="auto").connect()
    assert calls[-1] == {"address": "auto"}
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    ex.close()  # it started this Ray: it shuts it down
    assert shutdowns == [1]

    def refuse(**kw):
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify ...")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(GraphForgetError, match=r"^cannot connect to Ray at 'auto': ConnectionError: "
                                               r"Could not find any running Ray instance\.$"):
        RayExecutor(address="auto").connect()
    with pytest.raises(GraphForgetError, match="max_retries"):
        RayExecutor(max_retries=-2)


# -- exactness ---------------------------------------------------------------------------
METHODS = {
    "grapheraser": lambda ex: GraphEraser(epochs=EPOCHS, shards=3, partition="blpa", executor=ex),
    "sisa": lambda ex: SISA(epochs=EPOCHS, shards=3, slices=2, executor=ex),  # resumes from a stage
    "guide": lambda ex: GUIDE(epochs=EPOCHS, shards=3, hidden_channels=16, executor=ex),
}


def test_serial_process_and_ray_give_bit_identical_shard_weights_and_predictions(data):
    executors = {"serial": "serial", "process": make_executor("process", workers=2),
                 "ray": make_executor("ray")}
    try:
        for name, build in METHODS.items():
            runs = {}
            request = None
            for label, ex in executors.items():
                u = build(ex).fit(data)
                fitted = u.fingerprint()
                if request is None:
                    request = NodeRequest([_shard_node(u, 1)])
                report = u.unlearn(request)
                assert report.affected["shards"], name  # shards were retrained through ex
                runs[label] = (fitted, u.fingerprint(), u.predict_logits())
            serial = runs["serial"]
            for label in ("process", "ray"):
                fitted, unlearned, logits = runs[label]
                assert (fitted, unlearned) == serial[:2], f"{name}: {label} differs from serial"
                assert torch.equal(logits, serial[2]), f"{name}: {label} predictions differ"
    finally:
        executors["process"].close()


def test_receraser_on_ray_equals_serial():
    g = torch.Generator().manual_seed(0)
    users = torch.randint(30, (400,), generator=g)
    items = (users % 3) * 8 + torch.randint(8, (400,), generator=g)
    keys = torch.unique(users * 24 + items)
    split = torch.zeros(keys.numel(), dtype=torch.long)
    split[torch.randperm(keys.numel(), generator=g)[:40]] = 2
    rec = interaction_data(keys // 24, keys % 24, 30, 24, split)
    fast = dict(shards=2, embedding_dim=8, epochs=4, batch_size=128, eval_every=2, aggregator_epochs=3,
                partition_iterations=3)
    serial = RecEraser(**fast).fit(rec)
    on_ray = RecEraser(**fast, executor="ray").fit(rec)
    assert on_ray.fingerprint() == serial.fingerprint()
    ex = on_ray._executor_obj
    try:  # a request runs on the Ray the fit started, and gives the serial result
        pair = serial._shard_data(serial.data_)[0][0][:, :1]
        serial.unlearn(InteractionRequest(pair))
        on_ray.unlearn(InteractionRequest(pair))
        assert on_ray._executor_obj is ex
        assert on_ray.fingerprint() == serial.fingerprint()
    finally:
        on_ray.close()


# -- faults ------------------------------------------------------------------------------
def test_a_killed_worker_is_retried_and_the_result_is_bit_identical(data, tmp_path):
    serial = GraphEraser(epochs=EPOCHS, shards=3, partition="random").fit(data)
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", executor=RayExecutor(max_retries=2))
    killer = KillWorkerOnce(train_shard_job, shard=1, marker_dir=tmp_path)
    u._shard_job = lambda: killer  # shard 1's first worker dies after training, before returning
    u.fit(data)
    assert killer.kills == 1
    assert u.fingerprint() == serial.fingerprint()


def test_a_worker_killed_with_no_retries_left_fails_the_request_and_changes_nothing(data, tmp_path):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random",
                    executor=RayExecutor(max_retries=0)).fit(data)
    before, history = u.fingerprint(), list(u.history_)
    request = NodeRequest([_shard_node(u, 1)])
    killer = KillWorkerOnce(train_shard_job, shard=1, marker_dir=tmp_path)
    u._shard_job = lambda: killer
    with pytest.raises(JobFailedError, match=r"^shard 1 failed: its worker process died") as info:
        u.unlearn(request)
    assert "\n" not in str(info.value) and killer.kills == 1
    assert u.fingerprint() == before and u.history_ == history
    u.unlearn(request)  # the marker exists now: the same request goes through
    serial = GraphEraser(epochs=EPOCHS, shards=3, partition="random").fit(data)
    serial.unlearn(request)
    assert u.fingerprint() == serial.fingerprint()


def test_a_shard_with_bad_data_fails_the_whole_request_and_changes_nothing(data):
    u = GraphEraser(epochs=EPOCHS, shards=3, partition="random", executor="ray").fit(data)
    before, history = u.fingerprint(), list(u.history_)
    request = NodeRequest([_shard_node(u, 0), _shard_node(u, 1)])  # retrains shards 0 and 1
    labels = u.data_.y.clone()
    u.data_.y[_shard_node(u, 1, 1)] = 10_000  # a corrupt label in shard 1 only
    with pytest.raises(JobFailedError) as info:
        u.unlearn(request)
    message = str(info.value)
    assert message.startswith("shard 1 failed: IndexError: Target 10000 is out of bounds") and "\n" not in message
    assert isinstance(info.value, GraphForgetError) and info.value.label == "shard 1"
    u.data_.y.copy_(labels)
    assert u.fingerprint() == before and u.history_ == history  # shard 0's new model was dropped
    u.unlearn(request)
    serial = GraphEraser(epochs=EPOCHS, shards=3, partition="random").fit(data)
    serial.unlearn(request)
    assert u.fingerprint() == serial.fingerprint()


# -- command line ------------------------------------------------------------------------
def test_bench_executor_ray_trains_the_shards_on_ray(monkeypatch, tmp_path, capsys):
    calls = []
    real = RayExecutor.map

    def spy(self, fn, jobs, shared=None):
        calls.append(len(jobs))
        return real(self, fn, jobs, shared)

    monkeypatch.setattr(RayExecutor, "map", spy)
    out = tmp_path / "records.json"
    code = main(["bench", "--method", "grapheraser", "--dataset", "synthetic:nodes=120",
                 "--model", "sgc", "--param", "epochs=3", "--shards", "2", "--partition", "random",
                 "--executor", "ray", "--ray-address", "auto", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())[0]
    assert record["shard_executor"] == "ray" and record["distance_to_retrain"] == 0.0
    assert calls[0] == 2 and len(calls) == 3  # fit (2 shards), unlearn, the reference's fit
