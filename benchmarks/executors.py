"""Executors compared: serial, process pool, Ray on a local instance and Ray on a simulated
3-node cluster, for GraphEraser (BLPA, 20 shards) and SISA (20 shards), fit and one-node
unlearning, plus each executor's per-task overhead and the cost of shipping the graph.

Run: ``OMP_NUM_THREADS=1 python benchmarks/executors.py`` (writes
``benchmarks/results/executors.md`` and a ``.json`` of the raw measurements).

Why a script and not a ``graphforget reproduce`` table: a table's cells are independent
runs of one benchmark cell through one executor, cached by their spec (which does not
name the executor, since all executors give identical models). This comparison is about
the executors themselves: it must start and stop Ray twice in one driver (a local
instance, then a ``ray.cluster_utils.Cluster`` with a head node and two worker nodes),
time no-op tasks, time each shard job where it ran, check that every executor's shard
weights equal the serial ones bit for bit, and project wall times on 10 and 100 workers
from the measured per-shard times. None of that is a cell.

The machine these numbers come from has 2 cores shared with other jobs: the point is the
overhead and the exactness, not a speed-up. Epochs are cut (``--ge-epochs``,
``--sisa-epochs``) so that the whole run fits in about a quarter of an hour; the shard
job times scale roughly linearly with epochs, so the projections can be rescaled.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import torch  # noqa: E402
from _common import LOAD, header  # noqa: E402

from graphforget.data import load_dataset  # noqa: E402
from graphforget.exact import SISA, GraphEraser  # noqa: E402
from graphforget.executor import Executor, make_executor  # noqa: E402
from graphforget.requests import NodeRequest  # noqa: E402
from graphforget.testing.distributed import TimedJob, noop  # noqa: E402
from graphforget.unlearner import state_fingerprint  # noqa: E402

GIB = 1024 ** 3


class TimingExecutor(Executor):
    """Runs every job of ``inner`` through :class:`TimedJob` and keeps, per ``map`` call,
    its wall time and each job's compute seconds, process and node."""

    def __init__(self, inner: Executor) -> None:
        self.inner, self.name = inner, inner.name
        self.calls: list[dict[str, Any]] = []

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], shared: Any = None) -> list[Any]:
        start = time.perf_counter()
        out = self.inner.map(TimedJob(fn), jobs, shared=shared)
        self.calls.append({"wall": time.perf_counter() - start, "jobs": [o["seconds"] for o in out],
                           "pids": sorted({o["pid"] for o in out}), "nodes": sorted({o["node"] for o in out})})
        return [o["result"] for o in out]

    def close(self) -> None:
        self.inner.close()


def weights_hash(u: Any) -> str:
    return state_fingerprint([[c["state"] for c in chain] for chain in u.checkpoints_])


def overhead(ex: Executor, rounds: int, batch: int) -> dict[str, float]:
    """Per-task overhead of ``ex``: the first call of ``batch`` no-ops (it starts every
    worker), the median round trip of a one-no-op call and the per-task time of a warm
    call with ``batch`` no-ops."""
    start = time.perf_counter()
    ex.map(noop, [(i,) for i in range(batch)])
    first = time.perf_counter() - start
    trips = []
    for _ in range(rounds):
        start = time.perf_counter()
        ex.map(noop, [()])
        trips.append(time.perf_counter() - start)
    start = time.perf_counter()
    ex.map(noop, [(i,) for i in range(batch)])
    per_task = (time.perf_counter() - start) / batch
    return {"first_call_s": first, "round_trip_ms": 1e3 * statistics.median(trips),
            "batch_per_task_ms": 1e3 * per_task}


def ship_graph(ex: Executor, data: Any, workers: int) -> float:
    """Seconds to hand ``data`` to ``workers`` no-op jobs (store it, move it, unpickle it
    once per worker), minus a no-op call of the same size."""
    jobs = [(i,) for i in range(workers)]
    start = time.perf_counter()
    ex.map(noop, jobs)
    bare = time.perf_counter() - start
    start = time.perf_counter()
    ex.map(noop, jobs, shared=data)
    return time.perf_counter() - start - bare


def lpt_makespan(times: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule of ``times`` on ``workers`` (what a greedy
    scheduler such as Ray's achieves within 4/3 of optimal)."""
    loads = [0.0] * max(1, workers)
    for t in sorted(times, reverse=True):
        i = loads.index(min(loads))
        loads[i] += t
    return max(loads)


def build(method: str, executor: Executor, shards: int, ge_epochs: int, sisa_epochs: int) -> Any:
    if method == "grapheraser":
        return GraphEraser(shards=shards, partition="blpa", epochs=ge_epochs, executor=executor)
    return SISA(shards=shards, epochs=sisa_epochs, executor=executor)


def run_methods(label: str, executor: Executor, datasets: dict[str, Any], args: argparse.Namespace,
                rows: list[dict[str, Any]], requests: dict[tuple[str, str], int]) -> None:
    timing = TimingExecutor(executor)
    for name, data in datasets.items():
        for method in args.methods:
            timing.calls.clear()
            u = build(method, timing, args.shards, args.ge_epochs, args.sisa_epochs)
            start = time.perf_counter()
            u.fit(data)
            fit = time.perf_counter() - start
            fit_call = timing.calls[-1]
            fitted = weights_hash(u)
            key = (name, method)
            if key not in requests:  # the first executor (serial) picks the node for all
                requests[key] = int(u.partition_.shard_nodes(0)[0])
            report = u.unlearn(NodeRequest([requests[key]]))
            unlearn_call = timing.calls[-1] if len(timing.calls) > 1 else None
            rows.append({"executor": label, "dataset": name, "method": method, "fit_s": fit,
                         "partition_s": float(u.partition_seconds_), "shards_s": float(u.train_seconds_),
                         "fit_call": fit_call, "unlearn_s": report.seconds,
                         "unlearn_shards": report.affected["shards"], "unlearn_call": unlearn_call,
                         "fit_hash": fitted, "unlearn_hash": weights_hash(u)})
            print(f"  {label:<12} {name:<16} {method:<12} fit {fit:7.1f} s  unlearn {report.seconds:6.2f} s  "
                  f"({len(fit_call['pids'])} worker processes on {len(fit_call['nodes'])} nodes)", flush=True)
            del u
            gc.collect()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["physics", "synthetic-arxiv"])
    p.add_argument("--methods", nargs="+", default=["grapheraser", "sisa"], choices=["grapheraser", "sisa"])
    p.add_argument("--executors", nargs="+", default=["serial", "process", "ray-local", "ray-cluster"],
                   choices=["serial", "process", "ray-local", "ray-cluster"])
    p.add_argument("--shards", type=int, default=20)
    p.add_argument("--ge-epochs", type=int, default=2, help="GraphEraser epochs per shard (paper: 100+)")
    p.add_argument("--sisa-epochs", type=int, default=10, help="SISA epochs per shard (default 200)")
    p.add_argument("--workers", type=int, default=2, help="process workers / Ray CPUs (default 2)")
    p.add_argument("--store-gib", type=float, default=3.0, help="object store per Ray node (GiB)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "executors.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    command = "python benchmarks/executors.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    head = header(command.strip())
    t0 = time.perf_counter()

    datasets = {}
    for name in args.datasets:
        start = time.perf_counter()
        datasets[name] = load_dataset(name)
        d = datasets[name]
        print(f"{name}: {d.num_nodes} nodes, {d.edge_index.size(1)} edges, x {tuple(d.x.shape)} "
              f"(loaded in {time.perf_counter() - start:.1f} s)", flush=True)
    stats = {n: {"nodes": int(d.num_nodes), "edges": int(d.edge_index.size(1)), "features": int(d.x.size(1)),
                 "train": int(d.train_mask.sum()), "x_mb": d.x.numel() * d.x.element_size() / 2 ** 20}
             for n, d in datasets.items()}
    rows: list[dict[str, Any]] = []
    overheads: dict[str, dict[str, float]] = {}
    shipping: dict[str, dict[str, float]] = {}
    requests: dict[tuple[str, str], int] = {}
    startup: dict[str, float] = {}

    def measure(label: str, ex: Executor) -> None:
        overheads[label] = overhead(ex, rounds=30, batch=200)
        shipping[label] = {n: ship_graph(ex, d, args.workers) for n, d in datasets.items()}
        print(f"{label}: {overheads[label]}, shipping {shipping[label]}", flush=True)
        run_methods(label, ex, datasets, args, rows, requests)

    for label in args.executors:
        if label == "serial":
            measure(label, make_executor("serial"))
        elif label == "process":
            ex = make_executor("process", workers=args.workers, threads=1)
            try:
                measure(label, ex)
            finally:
                ex.close()
        elif label == "ray-local":
            import ray

            start = time.perf_counter()
            ex = make_executor("ray", init_kwargs={"num_cpus": args.workers,
                                                   "object_store_memory": int(args.store_gib * GIB)})
            ex.connect()
            startup[label] = time.perf_counter() - start
            try:
                measure(label, ex)
            finally:
                ex.close()  # it started this Ray: shuts it down
        else:
            import ray
            from ray.cluster_utils import Cluster

            start = time.perf_counter()
            store = int(args.store_gib * GIB)
            cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 0, "include_dashboard": False, "object_store_memory": store})
            try:
                for _ in range(args.workers):
                    cluster.add_node(num_cpus=1, object_store_memory=store)
                ray.init(address=cluster.address)
                cluster.wait_for_nodes()
                startup[label] = time.perf_counter() - start
                measure(label, make_executor("ray"))
            finally:
                ray.shutdown()
                cluster.shutdown()
    wall = time.perf_counter() - t0

    out = Path(args.out)
    raw = {"command": command, "stats": stats, "rows": rows, "overheads": overheads, "shipping": shipping,
           "startup": startup, "wall_s": wall, "load_start": LOAD, "load_end": os.getloadavg()[0],
           "args": vars(args)}
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    out.write_text(render(raw, head))
    print(f"wrote {out} and {out.with_suffix('.json')} ({wall / 60:.1f} min)")
    return 0


# -- Markdown ------------------------------------------------------------------------------
def render(raw: dict[str, Any], head: list[str]) -> str:
    args = raw["args"]
    rows, workers = raw["rows"], args["workers"]
    lines = ["# Executors: serial, process pool, Ray (local and a simulated 3-node cluster)", "", *head]
    lines += [f"`nproc`: {os.cpu_count()}; load average {raw['load_start']:.2f} at the start, "
              f"{raw['load_end']:.2f} at the end (other jobs share these 2 cores, so every timing "
              f"is noisy and parallel executors cannot beat 2x). Whole run: {raw['wall_s'] / 60:.1f} min.", "",
              "Generated by `benchmarks/executors.py` (raw numbers in `executors.json`); do not edit.", ""]
    lines += ["## Setup", "",
              f"* GraphEraser: BLPA partition, {args['shards']} shards, GCN, transductive (each shard "
              f"trains on its training nodes plus all evaluation nodes), **{args['ge_epochs']} epochs** "
              "per shard (cut from the paper's 100+ to fit the time budget).",
              f"* SISA: random partition, {args['shards']} shards, 1 slice, GCN, inductive, "
              f"**{args['sisa_epochs']} epochs** per shard (default 200).",
              f"* `process`: {workers} spawned worker processes, 1 torch thread each. `ray-local`: "
              f"`ray.init(address=\"local\", num_cpus={workers})`. `ray-cluster`: `ray.cluster_utils.Cluster` "
              f"with a head node with 0 CPUs (the driver's; no task runs there) and {workers} worker nodes "
              "with 1 CPU each, every node with its own raylet and object store: each task reads the "
              "graph from its own node's store, copied there from the head's.",
              "* Unlearning: one training node of shard 0 (the same node for every executor), so one "
              "shard retrains.", ""]
    lines += ["| dataset | nodes | edges | features | training nodes | x (MB) |", "|---|---|---|---|---|---|"]
    for n, s in raw["stats"].items():
        lines.append(f"| {n} | {s['nodes']:,} | {s['edges']:,} | {s['features']} | {s['train']:,} | {s['x_mb']:.0f} |")
    lines += ["", "## Per-task overhead", "",
              "No-op jobs through each executor: the first call (200 jobs; it starts the workers), the "
              "median round trip of a call with one job (30 calls), and the time per job of a warm call "
              "with 200 jobs. Ray start-up: `ray.init` of a local instance, or starting the 3 nodes and "
              "connecting.", "",
              "| executor | start-up (s) | first call (s) | one-job round trip (ms) | per job, 200 jobs (ms) |",
              "|---|---|---|---|---|"]
    for label, o in raw["overheads"].items():
        st = raw["startup"].get(label)
        lines.append(f"| {label} | {'-' if st is None else f'{st:.1f}'} | {o['first_call_s']:.2f} | "
                     f"{o['round_trip_ms']:.2f} | {o['batch_per_task_ms']:.2f} |")
    lines += ["", "## Shipping the graph", "",
              f"Seconds to hand the whole graph to {workers} no-op jobs, minus the same call without it: "
              "serial passes a reference; the process pool pickles it to a temporary file that each "
              "worker loads; Ray puts it in the object store once, each worker node pulls a copy and each "
              "worker process unpickles it once per call. Tensors travel as raw bytes (pickle protocol 5, "
              "out of band), not through `torch.save`.", "",
              "| executor | " + " | ".join(raw["shipping"][next(iter(raw["shipping"]))]) + " |",
              "|---|" + "---|" * len(raw["stats"])]
    for label, s in raw["shipping"].items():
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in s.values()) + " |")
    lines += ["", "## Fit and one-node unlearning", "",
              "`fit` is the whole `fit()` wall time (partition, shard specs and SISA content keys built "
              "in the driver, shard training, aggregator); `call` the one executor call that trains the "
              "shards (shipping the graph, scheduling, training, gathering the weights); `Σ jobs` and "
              "`max job` the compute seconds of the shard jobs measured inside the workers; `overhead/job` "
              "is `call` minus the ideal (longest-first) schedule of those jobs on the executor's "
              "workers, per job. `identical` compares the shard weights (every checkpoint) with the "
              "serial run's, after fit and after unlearning.", "",
              "| dataset | method | executor | fit (s) | call (s) | Σ jobs (s) | max job (s) | overhead/job (s) "
              "| unlearn (s) | unlearn call (s) | processes / nodes | identical (fit, unlearn) |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    serial = {(r["dataset"], r["method"]): r for r in rows if r["executor"] == "serial"}
    for r in rows:
        ref = serial.get((r["dataset"], r["method"]))
        same = "-" if ref is None or r is ref else \
            f"{r['fit_hash'] == ref['fit_hash']}, {r['unlearn_hash'] == ref['unlearn_hash']}"
        call = r["fit_call"]
        jobs = call["jobs"]
        ideal = lpt_makespan(jobs, 1 if r["executor"] == "serial" else workers)
        ucall = r["unlearn_call"]["wall"] if r["unlearn_call"] else 0.0
        lines.append(f"| {r['dataset']} | {r['method']} | {r['executor']} | {r['fit_s']:.1f} | {call['wall']:.1f} | "
                     f"{sum(jobs):.1f} | {max(jobs):.2f} | {(call['wall'] - ideal) / len(jobs):.3f} | "
                     f"{r['unlearn_s']:.2f} | {ucall:.2f} | {len(call['pids'])} / {len(call['nodes'])} | {same} |")
    lines += ["", "## Projection to 10 and 100 workers (on paper)", "",
              "From the serial run's measured per-shard job times and the simulated cluster's overheads: "
              "`fit(W) = fit_serial - call_serial + ship + LPT(jobs, W) + ceil(K/W) × task` and "
              "`unlearn(W) = unlearn_serial - unlearn_call_serial + ship + slowest retrained job + task`, "
              "with `ship` the cluster's graph-shipping time above, `task` its one-job round trip and "
              "everything the driver does (partition, specs, keys, aggregation) as measured serially. "
              "Assumes one worker per core at this machine's per-core speed and a network that moves the "
              "graph to each node as fast as the simulated cluster's shared memory did (on 10 Gb/s "
              "Ethernet allow ~1 s per GB per receiving node; Ray pulls from any node that already "
              f"holds a copy). With K = {args['shards']} shards, more than {args['shards']} workers cannot "
              "speed up a fit; one-node unlearning retrains one shard whatever W is.", "",
              "| dataset | method | K | mean job (s) | max job (s) | fit serial (s) | fit on 10 (s) | fit on 100 (s) "
              "| unlearn serial (s) | unlearn on 10 or 100 (s) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    cluster = "ray-cluster" if "ray-cluster" in raw["overheads"] else next(
        (k for k in raw["overheads"] if k != "serial"), "serial")
    task = raw["overheads"].get(cluster, {"round_trip_ms": 0.0})["round_trip_ms"] / 1e3
    for (name, method), r in serial.items():
        jobs = r["fit_call"]["jobs"]
        ship = raw["shipping"].get(cluster, {}).get(name, 0.0)
        k = len(jobs)
        driver = r["fit_s"] - r["fit_call"]["wall"]
        proj = {w: driver + ship + lpt_makespan(jobs, w) + -(-k // w) * task for w in (10, 100)}
        if r["unlearn_call"]:
            uj = r["unlearn_call"]["jobs"]
            unlearn = r["unlearn_s"] - r["unlearn_call"]["wall"] + ship + max(uj) + task
        else:
            unlearn = r["unlearn_s"]
        lines.append(f"| {name} | {method} | {k} | {statistics.fmean(jobs):.2f} | {max(jobs):.2f} | {r['fit_s']:.1f} | "
                     f"{proj[10]:.1f} | {proj[100]:.1f} | {r['unlearn_s']:.2f} | {unlearn:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
