"""Load benchmark: sequential single-node deletions through the ledger, with and without batching.

Why a script: it drives :class:`~graphforget.ledger.LedgeredUnlearner` and
:class:`~graphforget.batching.BatchingUnlearner` (journal, checkpoints, batching windows)
and measures per-submission latency quantiles; ``graphforget reproduce`` cells call a
method's ``unlearn`` directly, without the ledger.

For each method (any registered method serving node requests): fit on the dataset,
then stream N single-node deletions (a seeded permutation of the training nodes, as
``graphforget stream`` does) through :class:`~graphforget.ledger.LedgeredUnlearner`.
Reports throughput, p50/p99 latency per request, resident-memory growth and test
micro-F1 every ``--every`` requests; then the same stream through
:class:`~graphforget.batching.BatchingUnlearner` (``--batch`` requests per window).

Usage (writes benchmarks/results/trust_load.md)::

    python benchmarks/trust_load.py --method retrain --dataset cora --requests 10000 --every 1000
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from graphforget._registry import make_method, resolve_method
from graphforget.batching import BatchingUnlearner
from graphforget.bench.cli import _param
from graphforget.data import load_dataset
from graphforget.ledger import LedgeredUnlearner
from graphforget.metrics._cost import _rss_bytes
from graphforget.requests import NodeRequest
from graphforget.stream import stream_plan

RESULTS = Path(__file__).resolve().parent / "results"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _build(args: argparse.Namespace, method: str):
    cls = resolve_method(method)
    names = set(cls.param_names())
    params = {k: v for k, v in (("model", args.model), ("seed", args.seed)) if k in names}
    params.update({k: v for k, v in args.param if k in names})
    return make_method(cls, **params)


def run(args: argparse.Namespace, method: str, batch: int, data, plan) -> dict:
    u = _build(args, method).fit(data)
    folder = tempfile.mkdtemp(prefix="gf-load-")
    ledgered = LedgeredUnlearner(u, folder, checkpoint_every=args.checkpoint_every)
    target = BatchingUnlearner(ledgered, max_batch=batch, max_delay=1e9) if batch else ledgered
    rss0 = _rss_bytes()
    latencies, unlearn_seconds, drift = [], [], [(0, u.score(mask="test_mask"), 0.0)]
    start = time.perf_counter()
    for i in range(args.requests):
        t0 = time.perf_counter()
        request = NodeRequest([plan[i]])
        if batch:
            reports = target.submit(request)
        else:
            reports = [target.unlearn(request)]
        latencies.append(time.perf_counter() - t0)
        unlearn_seconds += [r.seconds for r in reports]
        if (i + 1) % args.every == 0 or i + 1 == args.requests:
            if batch:
                t1 = time.perf_counter()
                reports = target.flush()  # measure utility on what has been served
                latencies[-1] += time.perf_counter() - t1
                unlearn_seconds += [r.seconds for r in reports]
            drift.append((i + 1, ledgered.unlearner.score(mask="test_mask"),
                          (_rss_bytes() - rss0) / 2**20))
    total = time.perf_counter() - start
    return {"method": method, "batch": batch, "requests": args.requests, "seconds": total,
            "throughput": args.requests / total, "p50": _quantile(latencies, 0.5),
            "p99": _quantile(latencies, 0.99), "max": max(latencies), "drift": drift,
            "ledger_share": 1 - sum(unlearn_seconds) / total,
            "calls": getattr(target, "calls", args.requests), "ledger": folder}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", action="append", default=None, help="method(s) (default: retrain)")
    p.add_argument("--dataset", default="cora")
    p.add_argument("--split", default=None)
    p.add_argument("--model", default="gcn")
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--every", type=int, default=1000, help="utility/memory every this many requests")
    p.add_argument("--batch", type=int, default=10, help="requests per window for the batched run (0: skip)")
    p.add_argument("--checkpoint-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--param", action="append", type=_param, default=[])
    p.add_argument("--out", default=str(RESULTS / "trust_load.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_dataset(args.dataset, split=args.split, seed=args.seed)
    plan = stream_plan(data, args.seed)
    if args.requests > len(plan):
        p.error(f"--requests {args.requests} exceeds the {len(plan)} training nodes of {args.dataset}")
    command = "python benchmarks/trust_load.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines = [f"# Load: sequential single-node deletions on {args.dataset} with the ledger on", "",
             f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch "
             f"{torch.__version__}, {torch.get_num_threads()} thread(s); date: "
             f"{datetime.date.today().isoformat()}", "",
             f"{args.requests} requests, checkpoint every {args.checkpoint_every} applied request(s); "
             "each request is journaled (fsynced) before the state is checkpointed.", "",
             "| method | batching | requests | unlearn calls | throughput (req/s) | p50 s | p99 s | max s "
             "| time outside unlearn() (ledger, queue) |",
             "|---|---|---|---|---|---|---|---|---|"]
    results = []
    for method in args.method or ["retrain"]:
        for batch in ([0, args.batch] if args.batch else [0]):
            r = run(args, method, batch, data, plan)
            results.append(r)
            lines.append(f"| {method} | {'window of ' + str(batch) if batch else 'off'} | {r['requests']} | "
                         f"{r['calls']} | {r['throughput']:.3f} | {r['p50']:.3f} | {r['p99']:.3f} | "
                         f"{r['max']:.3f} | {100 * r['ledger_share']:.1f}% |")
            print(lines[-1], flush=True)
    lines += ["", "Utility drift (test micro-F1) and resident-memory growth:", "",
              "| method | batching | after requests | micro-F1 | RSS growth MiB |", "|---|---|---|---|---|"]
    for r in results:
        for n, f1, mem in r["drift"]:
            lines.append(f"| {r['method']} | {r['batch'] or 'off'} | {n} | {f1:.4f} | {mem:.1f} |")
    lines += ["", "With batching, latency is per submission: most submissions only queue (cheap) and "
              "the one that closes a window pays for one merged unlearning call; the p99 column is "
              "that flush. Batching bounds the work per window to one call per request kind "
              "(docs/trust.md)."]
    RESULTS.mkdir(exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
