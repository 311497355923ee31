"""Executors: how independent jobs (shards, seeds, benchmark cells) run.

A job is a picklable callable plus picklable arguments; results come back in
submission order, so every executor gives the same output. Per-job seeds are
derived from one global seed with :func:`derive_seed`, never from the order in
which workers happen to pick jobs up.

============  ===================================================================
``serial``    one after another in this process (the deterministic default)
``process``   a stdlib :class:`~concurrent.futures.ProcessPoolExecutor` (spawn
              context, ``threads`` torch threads per worker)
``ray``       Ray tasks on a local Ray or a cluster (optional extra ``graphforget[ray]``):
              the ``shared`` object is ``ray.put`` once, jobs are small specs, results
              come back through the object store, ordered by job; a task whose worker
              dies is retried (``max_retries``)
============  ===================================================================

``map(fn, jobs, shared=obj)`` calls ``fn(obj, *job)``: a large object every job reads
(the graph) travels once per call instead of once per job: the process pool writes it
to a private temporary file on this machine that each worker loads once; Ray stores it
once in the object store and each worker fetches it from there (nothing is read from
the driver's disk, so workers may run on other machines).

A job that raises fails the whole call with a one-line :class:`~graphforget.errors.JobFailedError`
naming the job (``shard 3 failed: RuntimeError: ...``; the original error is its
``__cause__``); jobs still queued are cancelled and no partial result is returned.
"""

from __future__ import annotations

import abc
import hashlib
import os
import pickle
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from graphforget._registry import normalize, resolve
from graphforget.errors import GraphForgetError, JobFailedError, MissingDependencyError

__all__ = ["Executor", "OwnsExecutor", "SerialExecutor", "ProcessExecutor", "RayExecutor", "derive_seed",
           "make_executor", "register_executor", "executor_names", "job_label"]


def derive_seed(seed: int, *keys: Any) -> int:
    """A deterministic 31-bit seed for a job identified by ``keys`` under ``seed``."""
    payload = "/".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:4], "little") & 0x7FFFFFFF


# -- job failures -----------------------------------------------------------------------
def job_label(index: int, args: Sequence[Any]) -> str:
    """How an error names job ``index``: ``shard S`` when an argument is a spec dict with a
    ``shard`` key (the sharded unlearners' jobs), ``cell METHOD on DATASET (seed S)`` for a
    benchmark cell, else ``job INDEX``."""
    for arg in args:
        if not isinstance(arg, dict):
            continue
        if "shard" in arg:
            return f"shard {arg['shard']}"
        if "method" in arg and "dataset" in arg:
            seed = f" (seed {arg['seed']})" if arg.get("seed") is not None else ""
            return f"cell {arg['method']} on {arg['dataset']}{seed}"
    return f"job {index}"


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _job_error(index: int, args: Sequence[Any], exc: BaseException, what: str | None = None
               ) -> JobFailedError:
    """The one-line error for job ``index`` (an error that already names a job passes on)."""
    if isinstance(exc, JobFailedError):
        return exc
    label = job_label(index, args)
    return JobFailedError(f"{label} failed: {what or _describe(exc)}", job=index, label=label)


class Executor(abc.ABC):
    """Runs ``fn(*args)`` for each ``args`` in ``jobs`` and returns results in order."""

    name = "abstract"

    @abc.abstractmethod
    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        """``[fn(*job) for job in jobs]`` (``fn(shared, *job)`` when ``shared`` is given),
        in ``jobs`` order. A failing job raises :class:`~graphforget.errors.JobFailedError`
        naming it, and no result of the call is returned."""

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
        out = []
        for i, args in enumerate(jobs):
            try:
                out.append(fn(shared, *args) if shared is not None else fn(*args))
            except Exception as exc:
                raise _job_error(i, args, exc) from exc
        return out

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        for i, args in enumerate(jobs):
            try:
                value = fn(*args)
            except Exception as exc:
                raise _job_error(i, args, exc) from exc
            yield i, value


# -- moving a shared object between processes -----------------------------------------------
_NUMPY_DTYPES = ("float16", "float32", "float64", "complex64", "complex128", "int8", "int16",
                 "int32", "int64", "uint8", "bool")


def _tensor_from_array(array: Any) -> Any:
    import numpy as np
    import torch

    # the array may be a read-only view of Ray's shared memory: the tensor gets its own copy
    return torch.from_numpy(array if array.flags.writeable else np.array(array, copy=True))


class _TensorPickler(pickle.Pickler):
    """Pickles plain CPU tensors as numpy arrays, whose bytes pickle protocol 5 hands out
    of band: one ``memcpy`` into Ray's object store (or the process pool's file) instead
    of a ``torch.save`` per storage (a 1.2 GB feature matrix: ~4.5 s to pickle and ~4 s
    to unpickle the usual way, a copy here). Other tensors pickle as usual."""

    def reducer_override(self, obj: Any) -> Any:
        import torch

        if type(obj) is torch.Tensor and obj.device.type == "cpu" and obj.layout == torch.strided \
                and not obj.requires_grad and str(obj.dtype).removeprefix("torch.") in _NUMPY_DTYPES:
            return _tensor_from_array, (obj.resolve_conj().resolve_neg().contiguous().numpy(),)
        return NotImplemented


def _pack(obj: Any) -> tuple[bytes, list[Any]]:
    """``obj`` as pickle bytes plus its tensors' raw bytes (``uint8`` arrays: Ray stores
    and ships those zero-copy)."""
    import io

    import numpy as np

    buffers: list[pickle.PickleBuffer] = []
    f = io.BytesIO()
    _TensorPickler(f, protocol=5, buffer_callback=buffers.append).dump(obj)
    return f.getvalue(), [np.frombuffer(b.raw(), dtype=np.uint8) for b in buffers]


def _unpack(packed: tuple[bytes, list[Any]]) -> Any:
    payload, buffers = packed
    return pickle.loads(payload, buffers=buffers)  # noqa: S301 - our own object


# -- process pool ---------------------------------------------------------------------
_WORKER_SHARED: dict[str, Any] = {}


#: seconds between a worker's checks that the process that started it is still alive
PARENT_CHECK_SECONDS = 2.0


def _init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if parent is not None:
        _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """Ends this worker when the process that started it is gone (killed, say, by a SIGTERM
    that gave it no chance to shut the pool down): otherwise the worker would finish its
    job, possibly many minutes of CPU time, for nobody."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:  # re-parented: the parent died
                os._exit(1)

    threading.Thread(target=watch, name="graphforget-parent-watch", daemon=True).start()


def _load_shared(path: str) -> Any:
    # each worker unpickles a shared object once per map call (keyed by its file)
    if path not in _WORKER_SHARED:
        _WORKER_SHARED.clear()
        with open(path, "rb") as f:
            _WORKER_SHARED[path] = _unpack(pickle.load(f))  # noqa: S301 - our own temporary file
    return _WORKER_SHARED[path]


def _call_with_shared(fn: Callable[..., Any], path: str, *args: Any) -> Any:
    return fn(_load_shared(path), *args)


class ProcessExecutor(Executor):
    """A pool of worker processes on this machine (stdlib, ``spawn`` start method).

    Args:
        workers (int): processes. (default: :obj:`2`)
        threads (int): ``torch.set_num_threads`` in each worker. (default: :obj:`1`)

    The pool starts lazily and is reused across ``map`` calls until :meth:`close`.
    A ``shared`` object is pickled once per call into a private temporary file that
    each worker loads once (the workers share this machine's disk). A worker that dies
    breaks the pool: the call fails naming a job and the next call starts a fresh pool.
    """

    name = "process"

    def __init__(self, workers: int = 2, threads: int = 1) -> None:
        if int(workers) < 1 or int(threads) < 1:
            raise GraphForgetError(f"workers and threads must be >= 1, got {workers}, {threads}")
        self.workers, self.threads = int(workers), int(threads)
        self._pool: Any = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                             mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(self.threads, os.getpid()))
        return self._pool

    def _failed(self, index: int, args: Sequence[Any], exc: BaseException,
                futures: Sequence[Any]) -> JobFailedError:
        from concurrent.futures.process import BrokenProcessPool

        for future in futures:
            future.cancel()  # a failed call leaves no queued job behind
        if isinstance(exc, BrokenProcessPool):  # a worker died: the pool cannot be reused
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return _job_error(index, args, exc, "a worker process died (BrokenProcessPool)")
        return _job_error(index, args, exc)

    def _gather(self, futures: list[Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
        out = []
        for i, future in enumerate(futures):
            try:
                out.append(future.result())
            except Exception as exc:
                raise self._failed(i, jobs[i], exc, futures) from exc
        return out

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        jobs = list(jobs)
        if not jobs:
            return []
        pool = self._ensure_pool()
        if shared is None:
            return self._gather([pool.submit(fn, *args) for args in jobs], jobs)
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="graphforget-shared-")
        path = os.path.join(self._tmp.name, f"{uuid.uuid4().hex}.pkl")
        with open(path, "wb") as f:
            pickle.dump(_pack(shared), f, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            return self._gather([pool.submit(_call_with_shared, fn, path, *args) for args in jobs], jobs)
        finally:
            os.remove(path)

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed

        jobs = list(jobs)
        pool = self._ensure_pool()
        futures = {pool.submit(fn, *args): i for i, args in enumerate(jobs)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    value = future.result()
                except Exception as exc:
                    raise self._failed(i, jobs[i], exc, list(futures)) from exc
                yield i, value
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
def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("the 'ray' executor needs the optional package ray: "
                                     "pip install 'graphforget[ray]'") from None
    return ray


#: the one shared object a Ray worker process holds (keyed by its object id)
_RAY_SHARED: dict[str, Any] = {}
_RAY_REMOTE: Any = None


def _ray_task(threads: int, fn: Callable[..., Any], shared_box: list[Any] | None, *args: Any) -> Any:
    """Runs one job in a Ray worker. ``shared_box`` holds the shared object's reference
    (boxed, so that Ray does not resolve it per task): a worker fetches and unpickles it
    once per ``map`` call and reuses it for every job of that call it runs."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    if shared_box is None:
        return fn(*args)
    ref = shared_box[0]
    key = ref.hex()
    if key not in _RAY_SHARED:
        import ray

        _RAY_SHARED.clear()
        _RAY_SHARED[key] = _unpack(ray.get(ref))
    return fn(_RAY_SHARED[key], *args)


def _ray_failure(exc: BaseException, max_retries: int) -> tuple[BaseException, str]:
    """The error to chain and the one-line description of a failed Ray task."""
    ray = _import_ray()
    errors = ray.exceptions
    if isinstance(exc, errors.RayTaskError):  # the job itself raised (not retried)
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            return cause, _describe(cause)
        return exc, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    if isinstance(exc, errors.OutOfMemoryError):
        return exc, "Ray's memory monitor killed its worker (OutOfMemoryError; give tasks more memory)"
    if isinstance(exc, errors.WorkerCrashedError):
        return exc, (f"its worker process died on every attempt (WorkerCrashedError after "
                     f"{max_retries} retries)")
    if isinstance(exc, errors.TaskCancelledError):
        return exc, "the task was cancelled (TaskCancelledError)"
    return exc, _describe(exc)


class RayExecutor(Executor):
    """Ray tasks, on a local Ray or a cluster (optional extra: ``pip install 'graphforget[ray]'``).

    Args:
        address (str, optional): where to run. ``None`` (or ``"local"``) starts a private
            local Ray instance; ``"auto"`` joins the running cluster (``RAY_ADDRESS`` or the
            one ``ray start`` launched on this machine); ``"HOST:PORT"`` or
            ``"ray://HOST:10001"`` joins that cluster. A Ray this process is already
            connected to is reused whatever the address. (default: :obj:`None`)
        num_cpus (float): CPUs each task reserves. (default: :obj:`1`)
        threads (int): ``torch.set_num_threads`` inside each task. (default: :obj:`1`)
        max_retries (int): times Ray re-runs a task whose worker process (or node) dies
            (``-1``: no limit). A job that *raises* is never retried: it fails the call.
            (default: :obj:`3`)
        options (dict, optional): more task options for ``.options()`` (``num_gpus``,
            ``memory``, ``resources``, ``scheduling_strategy``, ``runtime_env``, ...).
        init_kwargs (dict, optional): more ``ray.init`` arguments (a local start defaults to
            ``include_dashboard=False``).

    ``shared`` is stored once with ``ray.put``; each task receives its object reference
    and a small job spec; results (trained weights) come back through the object store,
    gathered in job order. Nothing travels as a path on the driver's disk.

    Connecting is lazy (first :meth:`map`, or :meth:`connect`). :meth:`close` shuts
    Ray down only if this executor started or joined it (a Ray the caller initialised
    stays up); a later :meth:`map` connects again.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: float = 1, threads: int = 1,
                 max_retries: int = 3, options: dict[str, Any] | None = None,
                 init_kwargs: dict[str, Any] | None = None) -> None:
        _import_ray()
        if not float(num_cpus) >= 0:
            raise GraphForgetError(f"num_cpus must be >= 0, got {num_cpus!r}")
        if int(threads) < 1:
            raise GraphForgetError(f"threads must be >= 1, got {threads!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < -1:
            raise GraphForgetError(f"max_retries must be an integer >= -1, got {max_retries!r}")
        self.address = address
        self.num_cpus, self.threads, self.max_retries = num_cpus, int(threads), max_retries
        self.options = dict(options or {})
        self.init_kwargs = dict(init_kwargs or {})
        self._owner = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_owner"] = False  # a copy never shuts down the original's Ray
        return state

    def connect(self) -> None:
        """Starts or joins Ray as ``address`` says, unless this process is connected already."""
        ray = _import_ray()
        if ray.is_initialized():
            return
        kwargs = dict(self.init_kwargs)
        address = self.address
        if address in (None, "", "local"):
            address = "local"  # never silently join some other cluster on this machine
            kwargs.setdefault("include_dashboard", False)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise GraphForgetError(f"cannot connect to Ray at {address!r}: {_describe(exc)}") from exc
        self._owner = True

    def _remote(self) -> Any:
        global _RAY_REMOTE
        ray = _import_ray()
        if _RAY_REMOTE is None:
            _RAY_REMOTE = ray.remote(_ray_task)
        return _RAY_REMOTE.options(num_cpus=self.num_cpus, max_retries=self.max_retries,
                                   retry_exceptions=False, **self.options)

    def _submit(self, fn: Callable[..., Any], jobs: list[tuple[Any, ...]], shared: Any) -> list[Any]:
        self.connect()
        ray = _import_ray()
        remote = self._remote()
        box = None if shared is None else [ray.put(_pack(shared))]
        return [remote.remote(self.threads, fn, box, *args) for args in jobs]

    def _completed(self, refs: list[Any], jobs: list[tuple[Any, ...]]) -> Iterator[tuple[int, Any]]:
        ray = _import_ray()
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    i = index[ref]
                    try:
                        value = ray.get(ref)
                    except Exception as exc:
                        cause, what = _ray_failure(exc, self.max_retries)
                        raise _job_error(i, jobs[i], cause, what) from cause
                    yield i, value
        finally:
            for ref in pending:  # a failed or abandoned call leaves no queued task behind
                ray.cancel(ref)

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]],
            shared: Any = None) -> list[Any]:
        jobs = list(jobs)
        if not jobs:
            return []
        results: list[Any] = [None] * len(jobs)
        for i, value in self._completed(self._submit(fn, jobs, shared), jobs):
            results[i] = value
        return results

    def as_completed(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[int, Any]]:
        jobs = list(jobs)
        if jobs:
            yield from self._completed(self._submit(fn, jobs, None), jobs)

    def close(self) -> None:
        """Shuts Ray down if this executor started (or joined) it; otherwise nothing."""
        if self._owner:
            ray = _import_ray()
            if ray.is_initialized():
                ray.shutdown()
            self._owner = False


_EXECUTORS: dict[str, Callable[..., Executor]] = {
    "serial": SerialExecutor, "process": ProcessExecutor, "ray": RayExecutor}


def executor_names() -> list[str]:
    return sorted(_EXECUTORS)


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    _EXECUTORS[normalize(name)] = factory


def make_executor(name: str | Executor | None = "serial", **kwargs: Any) -> Executor:
    """An executor by name (``serial``, ``process``, ``ray``; others register themselves),
    or ``name`` itself when it already is an :class:`Executor`."""
    if isinstance(name, Executor):
        return name
    from graphforget._registry import discover

    discover()
    return resolve(name or "serial", _EXECUTORS, "executor")(**kwargs)


class OwnsExecutor:
    """Mixin of unlearners with ``executor`` / ``executor_kwargs`` parameters: one executor,
    started on first use and kept between ``fit`` and the requests until :meth:`close`."""

    executor: str | Executor
    executor_kwargs: dict[str, Any] | None

    def _executor(self) -> Executor:
        ex = getattr(self, "_executor_obj", None)
        if ex is None:
            ex = make_executor(self.executor, **(self.executor_kwargs or {}))
            self._executor_obj = ex
        return ex

    def close(self) -> None:
        """Releases the executor's workers (a process pool, a Ray this executor started); the
        unlearner stays usable and starts a new executor when it next trains."""
        ex = getattr(self, "_executor_obj", None)
        if ex is not None:
            ex.close()
            self._executor_obj = None
