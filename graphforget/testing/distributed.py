"""Helpers for testing and benchmarking executors on many processes or machines: fault
injection, a placement probe, a timed job and a no-op job. Everything here is importable
on a worker (module level, picklable)."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["KillWorkerOnce", "TimedJob", "noop", "ray_probe"]


def _shard_of(args: tuple[Any, ...]) -> int | None:
    for arg in args:
        if isinstance(arg, dict) and "shard" in arg:
            return int(arg["shard"])
    return None


class KillWorkerOnce:
    """Wraps a shard job (``fn(data, spec)``): the first time shard ``shard`` runs, the
    worker process trains it and then kills itself with ``SIGKILL`` before the result
    leaves it, as if its machine had been lost mid-task. "First" is decided across every
    process through a marker file created atomically in ``marker_dir`` (a directory all
    workers see: on one machine, or on a simulated cluster).

    The process that created the wrapper (the driver) is never killed: there the wrapper
    just runs ``fn``. :attr:`kills` counts the kills so far.
    """

    def __init__(self, fn: Callable[..., Any], shard: int, marker_dir: str | os.PathLike) -> None:
        self.fn, self.shard, self.marker_dir = fn, int(shard), os.fspath(marker_dir)
        self.creator_pid = os.getpid()

    @property
    def marker(self) -> str:
        return os.path.join(self.marker_dir, f"killed-shard-{self.shard}")

    @property
    def kills(self) -> int:
        return int(os.path.exists(self.marker))

    def __call__(self, *args: Any) -> Any:
        result = self.fn(*args)
        if _shard_of(args) == self.shard and os.getpid() != self.creator_pid:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return result  # killed once already: this is the retry
            os.close(fd)
            os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        return result


def ray_probe(shared: Any, job: int) -> dict[str, Any]:
    """Where a Ray job ran and what it read: ``node`` (Ray node id), ``pid``, the job id
    and ``checksum`` (the sum of ``shared``, a tensor)."""
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "job": job,
            "checksum": float(shared.sum())}


def noop(*args: Any) -> None:
    """A job that does nothing (measures an executor's per-task overhead)."""
    return None


class TimedJob:
    """Wraps a job: returns ``{"result", "seconds", "pid", "node"}`` (``node``: the Ray node
    id inside a Ray task, else the host name), so a caller can see how long each job
    computed and where. The seconds exclude fetching the shared object."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any) -> dict[str, Any]:
        start = time.perf_counter()
        result = self.fn(*args)
        seconds = time.perf_counter() - start
        node = os.uname().nodename if hasattr(os, "uname") else ""
        ray = sys.modules.get("ray")  # a Ray worker has imported it; others need not pay for it
        if ray is not None and ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
        return {"result": result, "seconds": seconds, "pid": os.getpid(), "node": node}
