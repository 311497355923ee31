"""Executors: how independent jobs (shards, seeds, benchmark cells) run.

A job is a picklable callable plus picklable arguments; results come back in
submission order, so every executor gives the same output. Per-job seeds are
derived from one global seed with :func:`derive_seed`, never from the order in
which workers happen to pick jobs up.

============  ===================================================================
``serial``    one after another in this process (the deterministic default)
``process``   a stdlib :class:`~concurrent.futures.ProcessPoolExecutor` (spawn
              context, ``threads`` torch threads per worker)
``ray``       Ray tasks (optional extra): the ``shared`` object is ``ray.put`` once,
              jobs are small specs, results come back ordered by job
============  ===================================================================

``map(fn, jobs, shared=obj)`` calls ``fn(obj, *job)``: a large object every job reads
(the graph) travels once per call (a file the workers load once, or one Ray object)
instead of once per job.
"""

from __future__ import annotations

import abc
import hashlib
import os
import pickle
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from graphforget._registry import normalize, resolve

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor", "RayExecutor", "derive_seed",
           "make_executor", "register_executor", "executor_names"]


def derive_seed(seed: int, *keys: Any) -> int:
    """A deterministic 31-bit seed for a job identified by ``keys`` under ``seed``."""
    payload = "/".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:4], "little") & 0x7FFFFFFF


class Executor(abc.ABC):
    """Runs ``fn(*args)`` for each ``args`` in ``jobs`` and returns results in order."""

    name = "abstract"

    @abc.abstractmethod
    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        """``[fn(*job) for job in jobs]`` (``fn(shared, *job)`` when ``shared`` is given),
        in ``jobs`` order."""

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        """Yields ``(i, fn(*jobs[i]))`` as each job finishes (any order), so that a caller
        can keep every result the moment it exists. Pooled executors keep every worker
        busy until the jobs run out; the default runs :meth:`map` one job at a time."""
        for i, args in enumerate(jobs):
            yield i, self.map(fn, [args])[0]

    def close(self) -> None:  # noqa: B027 - optional hook; only pooled executors hold workers
        """Releases workers (nothing to release for the serial executor)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs jobs one after another in this process (the deterministic default)."""

    name = "serial"

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        if shared is not None:
            return [fn(shared, *args) for args in jobs]
        return [fn(*args) for args in jobs]


# -- process pool ---------------------------------------------------------------------
_WORKER_SHARED: dict[str, Any] = {}


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _load_shared(path: str) -> Any:
    # each worker unpickles a shared object once per map call (keyed by its file)
    if path not in _WORKER_SHARED:
        _WORKER_SHARED.clear()
        with open(path, "rb") as f:
            _WORKER_SHARED[path] = pickle.load(f)  # noqa: S301 - our own temporary file
    return _WORKER_SHARED[path]


def _call_with_shared(fn: Callable[..., Any], path: str, *args: Any) -> Any:
    return fn(_load_shared(path), *args)


class ProcessExecutor(Executor):
    """A pool of worker processes (stdlib, ``spawn`` start method).

    Args:
        workers (int): processes. (default: :obj:`2`)
        threads (int): ``torch.set_num_threads`` in each worker. (default: :obj:`1`)

    The pool starts lazily and is reused across ``map`` calls until :meth:`close`.
    A ``shared`` object is pickled once per call into a private temporary file that
    each worker loads once.
    """

    name = "process"

    def __init__(self, workers: int = 2, threads: int = 1) -> None:
        if int(workers) < 1 or int(threads) < 1:
            raise ValueError(f"workers and threads must be >= 1, got {workers}, {threads}")
        self.workers, self.threads = int(workers), int(threads)
        self._pool: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.threads,))
        return self._pool

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        jobs = list(jobs)
        if not jobs:
            return []
        pool = self._ensure_pool()
        if shared is None:
            futures = [pool.submit(fn, *args) for args in jobs]
            return [f.result() for f in futures]
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="graphforget-shared-")
        path = os.path.join(self._tmp.name, f"{uuid.uuid4().hex}.pkl")
        with open(path, "wb") as f:
            pickle.dump(shared, f, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            futures = [pool.submit(_call_with_shared, fn, path, *args) for args in jobs]
            return [f.result() for f in futures]
        finally:
            os.remove(path)

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed

        pool = self._ensure_pool()
        futures = {pool.submit(fn, *args): i for i, args in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()  # a failed or abandoned run leaves no queued job behind

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# -- Ray ------------------------------------------------------------------------------
class RayExecutor(Executor):
    """Ray tasks, on a local Ray or a cluster (optional extra: ``pip install ray``).

    Args:
        address (str, optional): cluster address passed to ``ray.init`` (``"auto"`` joins
            a running cluster; ``None`` starts or reuses a local one). (default: :obj:`None`)
        num_cpus (float): CPUs per task. (default: :obj:`1`)
        threads (int): ``torch.set_num_threads`` inside each task. (default: :obj:`1`)
        init_kwargs (dict, optional): more ``ray.init`` arguments.

    ``shared`` is stored once with ``ray.put``; each task receives its object reference
    and a small job spec; ``ray.get`` returns results in job order.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1, threads: int = 1,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("the 'ray' executor needs the optional package ray "
                              "(pip install 'ray[default]')") from None
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, **(init_kwargs or {}))
        self.num_cpus, self.threads = num_cpus, int(threads)

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        ray = self._ray
        remote = ray.remote(num_cpus=self.num_cpus)(_ray_task)
        if shared is None:
            refs = [remote.remote(self.threads, fn, False, None, *args) for args in jobs]
        else:
            shared_ref = ray.put(shared)
            # wrapped in a list so Ray passes the reference itself, resolved in the task
            refs = [remote.remote(self.threads, fn, True, [shared_ref], *args) for args in jobs]
        return ray.get(refs)

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        ray = self._ray
        remote = ray.remote(num_cpus=self.num_cpus)(_ray_task)
        pending = {remote.remote(self.threads, fn, False, None, *args): i for i, args in enumerate(jobs)}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)


def _ray_task(threads: int, fn: Callable[..., Any], has_shared: bool, shared_box: Any,
              *args: Any) -> Any:
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if has_shared:
        import ray

        return fn(ray.get(shared_box[0]), *args)
    return fn(*args)


_EXECUTORS: dict[str, Callable[..., Executor]] = {
    "serial": SerialExecutor, "process": ProcessExecutor, "ray": RayExecutor}


def executor_names() -> list[str]:
    return sorted(_EXECUTORS)


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    _EXECUTORS[normalize(name)] = factory


def make_executor(name: str | Executor | None = "serial", **kwargs: Any) -> Executor:
    """An executor by name (``serial``; others register themselves)."""
    if isinstance(name, Executor):
        return name
    from graphforget._registry import discover

    discover()
    return resolve(name or "serial", _EXECUTORS, "executor")(**kwargs)
