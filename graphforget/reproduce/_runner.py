"""Run a table's cells through an executor, resuming from a cache of finished cells.

Each cell is a small picklable job: a :class:`~graphforget.bench.runner.CellSpec` run by
:func:`~graphforget.bench.runner.run_cell`, a sequential-removal curve
(:func:`run_sequential`), or a partition-statistics job (:func:`run_partition_stats`).
A finished cell is written at once to ``<cache>/<key>.json``, ``key`` being a hash of
the job's spec, so a killed run recomputes only the cells it had not finished.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from graphforget.errors import GraphForgetError, UnknownNameError
from graphforget.reproduce._config import TableConfig

__all__ = ["Job", "plan", "run_table", "cell_key", "CellCache", "run_sequential", "first_and_steady",
           "run_partition_stats", "CACHE_VERSION"]

#: bump when a job's output format changes, so stale cache entries are not reused
CACHE_VERSION = 1


@dataclass
class Job:
    """One cell of a table: ``kind`` (``cell``, ``sequential``, ``partition``), the method
    label it belongs to, and the picklable spec its job function takes."""

    kind: str
    label: str
    dataset: str
    seed: int
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return cell_key(self.kind, self.spec)


def _method_defaults(spec: dict[str, Any]) -> dict[str, str] | None:
    """The constructor defaults of the job's method (``repr`` of each), or None when the
    job names no registered method: a cell cached before a default changed (a damping, an
    aggregator update mode) must not be reused for the new default."""
    name = spec.get("method")
    if not isinstance(name, str):
        return None
    from graphforget._registry import resolve_method

    try:
        cls = resolve_method(name)
    except (UnknownNameError, GraphForgetError):
        return None
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: repr(p.default) for p in params if p.default is not inspect.Parameter.empty}


def cell_key(kind: str, spec: dict[str, Any]) -> str:
    """A stable hash of a job: its kind, its spec, its method's constructor defaults and
    :data:`CACHE_VERSION`."""
    body: dict[str, Any] = {"kind": kind, "spec": spec, "version": CACHE_VERSION}
    defaults = _method_defaults(spec)
    if defaults is not None:
        body["defaults"] = defaults
    payload = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class CellCache:
    """One JSON file per finished cell under ``directory``."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _entry(self, key: str) -> dict[str, Any] | None:
        """The whole cache entry of ``key``, or None (missing, half-written or foreign)."""
        try:
            with open(self.path(key)) as f:
                entry = json.load(f)
        except (OSError, json.JSONDecodeError):
            return None  # a half-written file from a killed run: recompute the cell
        return entry if entry.get("key") == key else None

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._entry(key)
        return None if entry is None else entry.get("record")

    def provenance(self, keys: list[str]) -> dict[str, Any]:
        """When and how long the cached cells ``keys`` ran: ``first`` and ``last`` finish
        times (ISO, UTC), ``seconds`` (their summed wall time) over the ``timed`` cells
        whose entry records it (older entries kept only the finish time)."""
        finished, seconds, timed = [], 0.0, 0
        for entry in filter(None, map(self._entry, keys)):
            if entry.get("finished"):
                finished.append(str(entry["finished"]))
            if entry.get("seconds") is not None:
                seconds += float(entry["seconds"])
                timed += 1
        return {"first": min(finished, default=None), "last": max(finished, default=None),
                "seconds": seconds, "timed": timed}

    def put(self, job: Job, record: dict[str, Any], seconds: float | None = None,
            finished: str | None | bool = True) -> None:
        """Stores ``record`` atomically with its finish time (UTC; ``finished=None`` where it
        is unknown, e.g. a record taken from a results file) and, if given, the cell's wall
        time in ``seconds``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) if finished is True else finished
        entry = {"key": job.key, "kind": job.kind, "label": job.label, "spec": job.spec,
                 "finished": when, "seconds": seconds, "record": record}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f, default=str)
        os.replace(tmp, self.path(job.key))  # atomic: a cell is either cached whole or not


# -- planning ----------------------------------------------------------------------------
def _method_class(task_name: str, method: str) -> type:
    from graphforget.bench.tasks import resolve_task

    task = resolve_task(task_name)
    try:
        return task.resolve_method(method)
    except UnknownNameError:
        from graphforget._registry import method_names

        raise GraphForgetError(
            f"this table needs method {method!r}, which is not registered in this installation "
            f"(registered: {', '.join(method_names())})") from None


def plan(config: TableConfig, root: str | None = None) -> list[Job]:
    """Every job of ``config`` (already made ``effective``), validated before any training."""
    from graphforget.bench.runner import CellSpec, validate_spec

    p = config.protocol
    jobs: list[Job] = []
    for entry in config.methods:
        cls = _method_class(p["task"], entry.method)
        accepted = set(cls.param_names())
        # protocol-wide params apply to the methods that take them; the entry's own win
        params = {k: v for k, v in p["params"].items() if k in accepted}
        unknown = sorted(set(entry.params) - accepted)
        if unknown:
            raise GraphForgetError(f"{config.name}: method {entry.name!r} ({entry.method}) has no "
                                   f"parameter {unknown[0]!r}")
        params.update(entry.params)
        model = entry.model or p.get("model")
        if model is None:
            from graphforget.bench.runner import default_model_for
            from graphforget.bench.tasks import resolve_task

            model = default_model_for(cls, resolve_task(p["task"]))
        request = entry.request or p["request"]
        # cell options: the entry's own, else the protocol's (graphforget bench --mia/--profile/--poison)
        options = {key: getattr(entry, key) if getattr(entry, key) is not None else p.get(key)
                   for key in ("mia", "profile", "poison")}
        options["profile"] = bool(options["profile"])
        options["poison_ratio"] = float(p.get("poison_ratio", 0.1))  # CellSpec's default: keys unchanged
        if request != "node":
            options["mia"] = None  # membership attacks target forgotten nodes
        for dataset in p["datasets"]:
            if entry.datasets is not None and dataset not in entry.datasets:
                continue  # the entry runs on some of the protocol's datasets only
            for seed in config.seeds_for(dataset):
                if config.kind == "cells":
                    spec = CellSpec(method=entry.method, dataset=dataset, model=model, request=request,
                                    ratio=float(entry.ratio or p["ratio"]), seed=seed, task=p["task"],
                                    root=root, split=p.get("split"), params=params, **options,
                                    # fidelity protocol options: the noise floor (a second
                                    # retrain) and one retrain shared by the methods of a
                                    # (dataset, seed, request)
                                    noise_floor=bool(p.get("noise_floor", False)),
                                    share_reference=bool(p.get("share_reference", False)))
                    validate_spec(spec)
                    d = asdict(spec)
                    d.pop("root")  # where the data lives does not change the cell
                    if d.get("pool") is None:
                        d.pop("pool", None)  # the default pool: keys of older cells unchanged
                    if not d.get("noise_floor"):
                        d.pop("noise_floor", None)  # likewise without a noise floor
                    jobs.append(Job("cell", entry.name, dataset, seed, d))
                else:
                    spec = {"method": entry.method, "task": p["task"], "dataset": dataset, "model": model,
                            "request": request, "split": p.get("split"), "seed": seed,
                            "params": params, "removals": int(p["removals"]), "every": int(p["every"]),
                            "batch": int(p.get("batch", 1))}
                    jobs.append(Job("sequential", entry.name, dataset, seed, spec))
    study = config.partition_study
    if study:
        from graphforget.partition import partitioner_names

        entries = [{"name": e, "partitioner": e, "params": {}} if isinstance(e, str) else e
                   for e in study["partitioners"]]
        for entry in entries:
            if entry["partitioner"] not in partitioner_names():
                raise GraphForgetError(f"{config.name}: unknown partitioner {entry['partitioner']!r} in "
                                       f"partition_study (known: {', '.join(partitioner_names())})")
        for dataset in study.get("datasets", p["datasets"]):
            for entry in entries:
                spec = {"partitioner": entry["partitioner"], "dataset": dataset, "split": p.get("split"),
                        "shards": int(study["shards"]), "nodes": study.get("nodes", "train"),
                        "seed": int(p["first_seed"])}
                if entry["params"]:  # only then: the cache keys of plain partitioners are unchanged
                    spec["params"] = dict(entry["params"])
                jobs.append(Job("partition", entry["name"], dataset, int(p["first_seed"]), spec))
    return jobs


# -- job functions (module level: picklable for process/ray executors) --------------------
def _root(spec: dict[str, Any]) -> str | None:
    return spec.get("root") or os.environ.get("GRAPHFORGET_DATA") or None


def _run_job(kind: str, spec: dict[str, Any], root: str | None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    if kind == "cell":
        from graphforget.bench.runner import CellSpec, run_cell

        record = run_cell(CellSpec(**{**spec, "root": root}))
        record.pop("report", None)  # per-request internals: kept out of the table cache
        return record
    if kind == "sequential":
        return run_sequential({**spec, "root": root})
    if kind == "partition":
        return run_partition_stats({**spec, "root": root})
    raise GraphForgetError(f"unknown job kind {kind!r}")


def _split_request(request: Any, size: int) -> list[Any]:
    """``request`` as consecutive requests of ``size`` items each."""
    from graphforget.requests import EdgeRequest, FeatureRequest, NodeRequest

    if isinstance(request, EdgeRequest):
        ei = request.edge_index
        return [EdgeRequest(ei[:, i:i + size]) for i in range(0, ei.size(1), size)]
    if isinstance(request, FeatureRequest):
        ids = request.node_ids
        return [FeatureRequest(ids[i:i + size], request.feature_ids) for i in range(0, ids.numel(), size)]
    if isinstance(request, NodeRequest):  # SampleRequest too
        ids = request.node_ids
        return [type(request)(ids[i:i + size]) for i in range(0, ids.numel(), size)]
    graph_ids = getattr(request, "graph_ids", None)
    if graph_ids is not None and request.kind == "graph":
        return [type(request)(graph_ids[i:i + size]) for i in range(0, graph_ids.numel(), size)]
    raise GraphForgetError(f"cannot split a {type(request).__name__} into sequential requests")


def _sample_count(task: Any, data: Any, kind: str, count: int, seed: int) -> Any:
    from graphforget.requests import sample_request

    if kind in ("node", "edge", "feature", "sample") and hasattr(data, "train_mask"):
        return sample_request(kind, data, count=count, seed=seed)
    if kind == "graph":
        from graphforget.graph import sample_graphs

        return sample_graphs(data, count=count, seed=seed)
    raise GraphForgetError(f"sequential tables need a node/edge/feature/sample/graph request, got {kind!r}")


def first_and_steady(curve: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """Seconds of the first request after the fit and the median of the later ones, over
    the requests of a sequential ``curve`` that did not retrain: a one-off cost of the first
    removal (a factorisation, a cache) shows as their ratio."""
    served = [float(p["seconds"]) for p in curve[1:] if not p.get("retrained")]
    first = served[0] if served else None
    steady = statistics.median(served[1:]) if len(served) > 1 else None
    return first, steady


def run_sequential(spec: dict[str, Any]) -> dict[str, Any]:
    """Serves ``removals`` items as consecutive requests of ``batch`` items; every ``every``
    requests (and after the last) records the unlearned model's utility and that of a
    retrain on the data retained so far. Certified methods' ledgers (``retrained``,
    ``cumulative``, ``budget``) are read from each report's diagnostics."""
    from graphforget.bench.runner import CellSpec, _build, reference_for
    from graphforget.bench.tasks import resolve_task
    from graphforget.metrics import measure

    task = resolve_task(spec["task"])
    data = task.load(spec["dataset"], spec.get("root"), spec.get("split"), spec["seed"])
    cell = CellSpec(method=spec["method"], dataset=spec["dataset"], model=spec["model"],
                    request=spec["request"], ratio=0.5, seed=spec["seed"], task=spec["task"],
                    params=dict(spec["params"]))
    unlearner = _build(cell)
    with measure() as fit_cost:
        unlearner.fit(data)
    full = _sample_count(task, data, spec["request"], int(spec["removals"]), spec["seed"])
    requests = _split_request(full, int(spec["batch"]))
    curve = [{"step": 0, "items": 0, "utility": task.utility(unlearner), "utility_retrain": None,
              "retrained": False}]
    unlearn_total, retrain_times, retrain_events = 0.0, [], []
    for step, request in enumerate(requests, start=1):
        with measure() as cost:
            report = unlearner.unlearn(request)
        unlearn_total += cost.seconds
        diag = dict(report.diagnostics)
        if diag.get("retrained"):
            retrain_events.append(step)
        point = {"step": step, "items": step * int(spec["batch"]), "seconds": cost.seconds,
                 "retrained": bool(diag.get("retrained", False))}
        for key in ("bound", "cumulative", "budget"):
            if isinstance(diag.get(key), (int, float)):
                point[key] = float(diag[key])
        if step % int(spec["every"]) == 0 or step == len(requests):
            reference = reference_for(unlearner, cell)
            with measure() as rcost:
                reference.fit(unlearner.data_)
            retrain_times.append(rcost.seconds)
            point["utility"] = task.utility(unlearner)
            point["utility_retrain"] = task.utility(reference)
            point["retrain_seconds"] = rcost.seconds
        curve.append(point)
    last = curve[-1]
    mean_unlearn = unlearn_total / max(len(requests), 1)
    first, steady = first_and_steady(curve)
    mean_retrain = sum(retrain_times) / max(len(retrain_times), 1)
    return {"method": spec["method"], "dataset": spec["dataset"], "model": spec["model"],
            "request": spec["request"], "seed": spec["seed"], "task": task.name,
            "utility_metric": task.utility_metric, "utility_original": curve[0]["utility"],
            "utility_unlearned": last["utility"], "utility_retrain": last["utility_retrain"],
            "utility_gap": last["utility"] - last["utility_retrain"],
            "unlearn_seconds": mean_unlearn, "retrain_seconds": mean_retrain,
            "speedup": mean_retrain / max(mean_unlearn, 1e-9), "fit_seconds": fit_cost.seconds,
            "requests": len(requests), "items_forgotten": len(full),
            "first_unlearn_seconds": first, "steady_unlearn_seconds": steady,
            "first_to_steady": (first / steady) if first is not None and steady else None,
            "retrains": len(retrain_events), "retrain_events": retrain_events, "curve": curve}


def run_partition_stats(spec: dict[str, Any]) -> dict[str, Any]:
    """Balance, label fairness and cut edges of one partitioner on one dataset."""
    from graphforget.data import load_dataset
    from graphforget.metrics import measure
    from graphforget.partition import make_partitioner

    data = load_dataset(spec["dataset"], root=spec.get("root"), split=spec.get("split"), seed=spec["seed"])
    partitioner = make_partitioner(spec["partitioner"], seed=spec["seed"], **spec.get("params", {}))
    with measure() as cost:
        part = partitioner.partition(data, int(spec["shards"]), nodes=spec.get("nodes", "train"))
    stats = part.stats(data)
    stats.pop("label_tv_per_shard", None)
    stats.update(partitioner=spec["partitioner"], dataset=spec["dataset"], seconds=part.seconds,
                 peak_memory_mb=cost.peak_memory_mb, delta_memory_mb=cost.delta_memory_mb,
                 iterations=part.info.get("iterations"))
    return stats


# -- running -----------------------------------------------------------------------------
def _job_call(kind: str, spec: dict[str, Any], root: str | None) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    record = _run_job(kind, spec, root)
    return record, time.perf_counter() - start


def _group_call(*jobs: tuple[str, dict[str, Any], str | None]) -> list[tuple[dict[str, Any], float]]:
    """Runs a group of cells one after another in one process, so that cells sharing a
    reference (``share_reference``) fit it, and its noise floor, once."""
    return [_job_call(*job) for job in jobs]


def _reference_group(job: Job) -> tuple | None:
    """The cells that share one retrain (same data, seed, backbone and request), or None
    for a job that shares nothing."""
    spec = job.spec
    if job.kind != "cell" or not spec.get("share_reference"):
        return None
    return (spec.get("task"), job.dataset, spec.get("split"), job.seed, spec.get("model"),
            spec.get("request"), spec.get("ratio"), spec.get("poison"))


def _groups(todo: list[Job]) -> list[list[int]]:
    """Indices of ``todo`` in dispatch units: the cells of one reference group together (in
    plan order), every other job alone."""
    units: list[list[int]] = []
    by_group: dict[tuple, list[int]] = {}
    for i, job in enumerate(todo):
        group = _reference_group(job)
        if group is None:
            units.append([i])
        elif group in by_group:
            by_group[group].append(i)
        else:
            by_group[group] = [i]
            units.append(by_group[group])
    return units


def run_table(config: TableConfig, cache_dir: str | os.PathLike, executor: Any = "serial",
              root: str | None = None, progress: Callable[[int, int, int], None] | None = None,
              jobs: list[Job] | None = None, executor_kwargs: dict[str, Any] | None = None
              ) -> list[tuple[Job, dict[str, Any]]]:
    """Runs every job of ``config`` not already in the cache; returns ``(job, record)``
    pairs in plan order. ``progress(done, total, cached)`` is called after each job.

    Each unit's records are cached the moment it finishes (pooled executors keep every
    worker busy, in any order), so an interrupted run loses only the units in flight. A
    unit is one job, or the cells that share a reference (``share_reference``): those run
    together in one worker, so their retrain and its noise floor are fitted once per
    (data, seed, backbone, request), and are cached when the last of them finishes.
    ``executor="ray"`` runs the jobs here and the shards of sharded methods on Ray
    (:func:`graphforget.bench.runner.cell_executor`; ``executor_kwargs={"address": ...}``);
    cache keys do not depend on the executor."""
    from graphforget.bench.runner import cell_executor

    jobs = plan(config, root) if jobs is None else jobs
    cache = CellCache(cache_dir)
    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        hit = cache.get(job.key)
        if hit is not None:
            results[job.key] = hit
    todo = [j for j in jobs if j.key not in results]
    cached = len(jobs) - len(todo)
    if progress:
        progress(cached, len(jobs), cached)
    if todo:
        owned, cells, context = cell_executor(executor, executor_kwargs)
        try:
            units = _groups(todo)
            args = [tuple((todo[i].kind, todo[i].spec, root or _root(todo[i].spec)) for i in unit)
                    for unit in units]
            done = 0
            with context:
                for u, outputs in cells.as_completed(_group_call, args):
                    for i, (record, seconds) in zip(units[u], outputs, strict=True):
                        cache.put(todo[i], record, seconds)
                        results[todo[i].key] = record
                        done += 1
                        if progress:
                            progress(cached + done, len(jobs), cached)
        finally:
            owned.close()
    return [(job, results[job.key]) for job in jobs]
