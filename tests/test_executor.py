"""Executor.as_completed: every job's result exactly once, as soon as it exists."""

from __future__ import annotations

import operator
import os

import pytest

from graphforget.bench.cli import main
from graphforget.errors import JobFailedError
from graphforget.executor import job_label, make_executor


def test_serial_as_completed_is_lazy_and_in_order():
    calls = []

    def f(a, b):
        calls.append(a)
        return a * b

    it = make_executor("serial").as_completed(f, [(1, 2), (3, 4), (5, 6)])
    assert next(it) == (0, 2) and calls == [1]  # the first result comes before the second job runs
    assert list(it) == [(1, 12), (2, 30)]


def test_process_as_completed_returns_every_job_once():
    ex = make_executor("process", workers=2)
    try:
        jobs = [(i, i + 1) for i in range(7)]
        out = dict(ex.as_completed(operator.mul, jobs))
        assert out == {i: i * (i + 1) for i in range(7)}
        # a failing job raises in the caller, in one line naming the job and the worker's error
        with pytest.raises(JobFailedError, match=r"^job 1 failed: ZeroDivisionError: division by zero$") as info:
            list(ex.as_completed(operator.truediv, [(1, 1), (1, 0)]))
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        with pytest.raises(JobFailedError, match=r"^job 2 failed: ZeroDivisionError"):
            ex.map(operator.truediv, [(1, 1), (2, 1), (1, 0)])
        # the pool survives and serves the next call
        assert ex.map(operator.add, [(1, 2)]) == [3]
    finally:
        ex.close()


def test_ray_as_completed_returns_every_job_once(ray_cluster):
    ex = make_executor("ray")
    assert dict(ex.as_completed(operator.mul, [(i, 2) for i in range(5)])) == {i: 2 * i for i in range(5)}


def test_serial_failures_name_the_job_and_keep_the_cause():
    ex = make_executor("serial")
    with pytest.raises(JobFailedError, match=r"^shard 4 failed: KeyError: 'x'$") as info:
        ex.map(lambda spec: spec["x"], [({"shard": 3, "x": 1},), ({"shard": 4},)])
    assert isinstance(info.value.__cause__, KeyError) and info.value.job == 1
    it = ex.as_completed(operator.truediv, [(1, 1), (1, 0)])
    assert next(it) == (0, 1.0)
    with pytest.raises(JobFailedError, match=r"^job 1 failed"):
        next(it)
    assert job_label(0, ({"method": "sisa", "dataset": "cora", "seed": 2},)) == "cell sisa on cora (seed 2)"


def test_ray_address_needs_the_ray_executor(capsys):
    code = main(["bench", "--method", "retrain", "--executor", "process", "--ray-address", "auto"])
    assert code == 2
    assert capsys.readouterr().err.strip() == \
        "graphforget: error: --ray-address needs --executor ray, not 'process'"


def test_shared_objects_travel_as_raw_tensor_bytes_and_come_back_equal():
    import torch

    from graphforget.executor import _pack, _unpack
    from graphforget.testing import small_graph

    data = small_graph(40)
    obj = {"data": data, "bf16": torch.ones(3, dtype=torch.bfloat16), "grad": torch.ones(2, requires_grad=True),
           "view": torch.arange(12.0).view(3, 4)[:, 1], "flag": torch.tensor(True), "same": data.x}
    payload, buffers = _pack(obj)
    assert len(buffers) >= 3 and sum(b.nbytes for b in buffers) >= data.x.numel() * 4  # out of band
    for b in buffers:
        b.flags.writeable = False  # as Ray's shared memory hands them to a worker
    back = _unpack((payload, buffers))
    for key in data.keys():
        assert torch.equal(back["data"][key], data[key]) if torch.is_tensor(data[key]) else True
    assert back["same"] is back["data"].x  # one tensor stays one tensor
    assert back["bf16"].dtype == torch.bfloat16 and back["grad"].requires_grad
    assert torch.equal(back["view"], torch.tensor([1.0, 5.0, 9.0])) and back["flag"].item() is True
    back["data"].x += 1  # writable: the worker owns a copy of the read-only buffers


def test_an_executor_object_saves_as_its_kind(tmp_path):
    """``save()`` writes an executor object as its kind's name; ``load()`` makes a fresh one."""
    import torch

    from graphforget.exact import GraphEraser
    from graphforget.requests import NodeRequest
    from graphforget.testing import small_graph

    data = small_graph(60)
    ex = make_executor("serial")
    u = GraphEraser(model="sgc", shards=2, partition="random", epochs=3, executor=ex).fit(data)
    u.save(tmp_path / "m")
    loaded = GraphEraser.load(tmp_path / "m", data=data)  # the graph it was fitted on
    assert loaded.executor == "serial"
    assert torch.equal(loaded.predict_logits(), u.predict_logits())
    node = int(data.train_mask.nonzero()[0])
    loaded.unlearn(NodeRequest([node]))
    u.unlearn(NodeRequest([node]))
    assert torch.equal(loaded.predict_logits(), u.predict_logits())


def _children(pid: int, marker: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and marker in cmd:
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc (Linux)")
def test_process_workers_exit_when_their_parent_is_killed():
    # a parent killed by a signal cannot shut its pool down; its workers used to run their
    # job to the end (minutes of CPU for nobody)
    import signal
    import subprocess
    import sys
    import time

    script = ("import time\nfrom graphforget.executor import ProcessExecutor\n"
              "ProcessExecutor(workers=1).map(time.sleep, [(300,)])\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = _children(parent.pid, "spawn_main")
        assert workers, "the pool started no worker"
        time.sleep(1.0)  # the worker's initializer (torch import, the watch thread) has run
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "a worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
