"""Per-removal cost of CEU, IDEA, ScaleGUN and Projector against retraining and CGU (issue 23).

    python benchmarks/opengu_certified.py [--datasets cora citeseer] [--removals 200]
        [--physics-removals 10] [--sizes 100000 300000 1000000 2449029] [--train-nodes 20000]
        [--scale-removals 50] [--products-removals 200]

Writes benchmarks/results/opengu_certified.md. Every (dataset, method, request kind) runs in
its own process, so each row's peak memory (``ru_maxrss``, the ``--profile`` figure of the
issue) is that run's alone.

* **Real graphs** (Cora, CiteSeer with ``--removals`` sequential single removals; Coauthor
  Physics with ``--physics-removals``, ``--datasets`` may drop it): every method on node
  requests and on edge requests where it serves them, beside CGU on the same kind.
* **ScaleGUN as the graph grows**: ``synthetic-products`` DC-SBM graphs (its degree,
  feature and class counts) of ``--sizes`` nodes with a fixed set of ``--train-nodes``
  labelled training nodes (the regime of the paper's large graphs, where the labelled set
  is a small, fixed part of the graph; the classifier's Newton step is linear in the
  training rows, whatever the propagation), ScaleGUN and CGU in separate processes; the
  time exponent is fitted over the sizes, for the whole call and for the method's own update
  (the call less the library's ``request.apply``, which copies the graph: ``O(E)``).
* **synthetic-products at its own split** (0.08 train: 196K training nodes): ScaleGUN over
  ``--products-removals`` sequential removals, with the certified budget's retrain count.

``--sizes`` with no value skips the sweep and the products run and copies those sections
from the results file it replaces, marked as reused (with that run's command and date).

Why a script and not a ``graphforget reproduce`` table: the questions are sequential costs
(seconds per single removal over a run of removals, the budget's retrain count along it, the
per-removal time as the graph grows with each run's peak memory in its own process and a
fitted exponent); ``reproduce`` tables measure one request per cell against paper numbers.

Everything runs with one thread (``OMP_NUM_THREADS=1``) on both sides of every ratio; the
machine is shared, so only ratios measured within this run are meaningful.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header  # noqa: E402

from graphforget.certified.ceu import CEU  # noqa: E402
from graphforget.certified.cgu import CGU  # noqa: E402
from graphforget.certified.idea import IDEA  # noqa: E402
from graphforget.certified.scalegun import ScaleGUN  # noqa: E402
from graphforget.data import load_dataset  # noqa: E402
from graphforget.exact.projector import Projector  # noqa: E402
from graphforget.requests import EdgeRequest, NodeRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

METHODS = {
    "cgu": lambda: CGU(sigma=0.1),
    "scalegun": lambda: ScaleGUN(sigma=0.1),
    "projector": lambda: Projector(),
    "idea": lambda: IDEA(sigma=0.1),
    "ceu": lambda: CEU(sigma=0.1),
}
#: (method, request kind) rows of the real-graph section, in print order; CEU serves edges only
RUNS = [("cgu", "node"), ("scalegun", "node"), ("projector", "node"), ("idea", "node"),
        ("cgu", "edge"), ("scalegun", "edge"), ("projector", "edge"), ("idea", "edge"), ("ceu", "edge")]
#: rows run on Coauthor Physics (each costs minutes: 8,415 features in float64)
PHYSICS_RUNS = [("cgu", "node"), ("scalegun", "node"), ("projector", "node"), ("idea", "node"),
                ("cgu", "edge"), ("ceu", "edge")]


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _removal_order(data, count: int, seed: int = 0) -> list[int]:
    train = data.train_mask.nonzero().view(-1)
    perm = torch.randperm(train.numel(), generator=torch.Generator().manual_seed(seed))
    return train[perm][:count].tolist()


def _edge_order(data, count: int, seed: int = 0) -> list[tuple[int, int]]:
    ei = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
    perm = torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(seed))
    return [tuple(map(int, ei[:, j])) for j in perm[:count]]


def _sequence(u, requests: list) -> dict:
    """Serves ``requests`` one after another; per-removal seconds (whole call and the
    method's own update), the budget's retrains, accuracy after."""
    secs, own, steady, retrains = [], [], [], 0
    for req in requests:
        r = u.unlearn(req)
        secs.append(r.seconds)
        own.append(sum(r.breakdown.values()))
        hit = bool(r.diagnostics.get("retrained", False))
        retrains += hit
        if not hit:
            steady.append(r.seconds)
    return {"per_removal_mean": statistics.mean(secs), "per_removal_median": statistics.median(secs),
            "own_median": statistics.median(own), "first": secs[0],
            "steady_median": statistics.median(steady) if steady else float("nan"), "retrains": retrains,
            "acc_after": 100 * u.score()}


def one_run(dataset: str, method: str, kind: str, removals: int, retrain_reps: int) -> dict:
    """One (dataset, method, request kind) in this process: fit, ``removals`` sequential
    single removals, then the method's own fresh fit on the retained graph (the retrain)."""
    data = load_dataset(dataset, split="0.8/0.2", seed=0)
    if kind == "edge":
        requests = [EdgeRequest([e]) for e in _edge_order(data, removals)]
    else:
        requests = [NodeRequest([v]) for v in _removal_order(data, removals)]
    t = time.perf_counter()
    u = METHODS[method]().fit(data)
    row = {"dataset": dataset, "method": method, "kind": kind, "removals": removals,
           "fit_s": time.perf_counter() - t, "acc_before": 100 * u.score()}
    row.update(_sequence(u, requests))
    # the retrain, with the unlearner gone first (on Physics two float64 stacks do not fit)
    template = u.reference() if method in ("projector", "cgu", "scalegun") else METHODS[method]()
    retained = u.data_
    del u
    gc.collect()
    retrain_s = []
    for _ in range(retrain_reps):  # what the certified budget forces, and the exact alternative
        fresh = copy.deepcopy(template)
        t = time.perf_counter()
        fresh.fit(retained)
        retrain_s.append(time.perf_counter() - t)
        del fresh
        gc.collect()
    row["retrain_s"] = statistics.median(retrain_s)
    row["peak_rss_gb"] = _peak_gb()
    return row


def _fixed_train(data, count: int, seed: int = 0):
    """``count`` training nodes drawn at random, every other node a test node."""
    perm = torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(seed))
    train = torch.zeros(data.num_nodes, dtype=torch.bool)
    train[perm[:count]] = True
    data.train_mask, data.test_mask = train, ~train
    if "val_mask" in data:
        data.val_mask = torch.zeros_like(train)
    return data


def one_size(nodes: int, method: str, train_nodes: int, removals: int) -> dict:
    """One synthetic-products-like size and one method in this process (its peak memory).
    ``train_nodes`` 0 keeps the preset's split."""
    t = time.perf_counter()
    spec = "synthetic-products" if nodes == 2_449_029 else f"synthetic-products:nodes={nodes}"
    data = load_dataset(spec, seed=0)
    if train_nodes:
        data = _fixed_train(data, train_nodes)
    out = {"nodes": nodes, "edges": int(data.edge_index.size(1) // 2), "method": method,
           "train": int(data.train_mask.sum()), "load_s": time.perf_counter() - t, "removals": removals}
    t = time.perf_counter()
    u = METHODS[method]().fit(data)
    out["fit_s"] = time.perf_counter() - t
    del data
    secs, own, prop, pushes, retrains = [], [], [], [], 0
    for v in _removal_order(u.data_, removals, seed=1):
        r = u.unlearn(NodeRequest([v]))
        secs.append(r.seconds)
        own.append(sum(r.breakdown.values()))
        prop.append(r.breakdown.get("propagation", r.breakdown.get("features", float("nan"))))
        retrains += bool(r.diagnostics["retrained"])
        pushes.append(r.affected.get("pushes", 0))
    out.update(removal_median=statistics.median(secs), removal_mean=statistics.mean(secs),
               own_median=statistics.median(own), propagation_median=statistics.median(prop),
               pushes_median=statistics.median(pushes), retrains=retrains, acc=100 * u.score(),
               peak_rss_gb=_peak_gb())
    return out


def _fit_exponent(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def _child(args: list[str]) -> dict:
    """Runs this script with ``args`` in a fresh one-thread process; its RESULT line."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    if proc.returncode != 0:  # e.g. killed for memory (-9): the table says so
        print(proc.stderr[-3000:], file=sys.stderr, flush=True)
        return {"failed": f"exit {proc.returncode}" + (" (killed: out of memory)" if proc.returncode == -9 else ""),
                "args": args}
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="*", default=["cora", "citeseer", "coauthor-physics"])
    p.add_argument("--removals", type=int, default=200)
    p.add_argument("--physics-removals", type=int, default=10)
    p.add_argument("--sizes", nargs="*", type=int, default=[100_000, 300_000, 1_000_000, 2_449_029])
    p.add_argument("--train-nodes", type=int, default=20_000)
    p.add_argument("--scale-removals", type=int, default=50)
    p.add_argument("--products-removals", type=int, default=200)
    p.add_argument("--cgu-scale-removals", type=int, default=10,
                   help="CGU's removals per size (each scans the edge list: 17 s at 2.4M nodes)")
    p.add_argument("--rows-from", default=None,
                   help="a log of an earlier invocation (its JSON lines): datasets whose every row it holds are "
                        "taken from it instead of rerun, and the results file says so")
    p.add_argument("--rows-note", default="",
                   help="with --rows-from: what differs between that invocation and this one (printed)")
    p.add_argument("--reuse-methods", nargs="*", default=["cgu", "scalegun", "projector", "idea", "ceu"],
                   help="with --rows-from: the methods whose size-sweep rows may be reused")
    p.add_argument("--one-run", nargs=3, default=None, help=argparse.SUPPRESS)
    p.add_argument("--one-size", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.one_run is not None:
        name, method, kind = args.one_run
        physics = "physics" in name
        count = args.physics_removals if physics else args.removals
        print("RESULT " + json.dumps(one_run(name, method, kind, count, 1 if physics else 2)), flush=True)
        return
    if args.one_size is not None:
        nodes, method = int(args.one_size[0]), args.one_size[1]
        print("RESULT " + json.dumps(one_size(nodes, method, args.train_nodes, args.scale_removals)), flush=True)
        return
    start = time.perf_counter()
    passthrough = ["--removals", str(args.removals), "--physics-removals", str(args.physics_removals)]
    rows, reused = [], []
    earlier = []
    if args.rows_from:
        earlier = [json.loads(x) for x in Path(args.rows_from).read_text().splitlines() if x.startswith("{")]
    for name in args.datasets:
        runs = PHYSICS_RUNS if "physics" in name else RUNS
        old = [next((r for r in earlier if r.get("dataset") == name and r.get("method") == m and r.get("kind") == k
                     and r.get("removals") == (args.physics_removals if "physics" in name else args.removals)), None)
               for m, k in runs]
        if all(old):
            rows += old
            reused.append(name)
            continue
        rows += [_child(["--one-run", name, method, kind, *passthrough]) for method, kind in runs]
    sizes, products = [], None
    if args.sizes:
        for n in args.sizes:
            for method in ("scalegun", "cgu"):
                count = args.scale_removals if method == "scalegun" else args.cgu_scale_removals
                old = next((r for r in earlier if r.get("nodes") == n and r.get("method") == method
                            and r.get("train") == args.train_nodes and r.get("removals") == count
                            and method in args.reuse_methods), None)
                if old is not None:
                    sizes.append(old)
                    reused.append(f"{method} at {n} nodes")
                    continue
                sizes.append(_child(["--one-size", str(n), method, "--train-nodes", str(args.train_nodes),
                                     "--scale-removals", str(count)]))
        products = next((r for r in earlier if r.get("nodes") == 2_449_029 and r.get("method") == "scalegun"
                         and r.get("train", 0) > args.train_nodes and r.get("removals") == args.products_removals
                         and "scalegun" in args.reuse_methods), None)
        if products is not None:
            reused.append("synthetic-products at its own split")
        else:
            products = _child(["--one-size", "2449029", "scalegun", "--train-nodes", "0",
                               "--scale-removals", str(args.products_removals)])
    lines = ["# CEU, IDEA, ScaleGUN and Projector: per-removal cost (issue 23)", ""]
    lines += header(f"OMP_NUM_THREADS=1 python benchmarks/opengu_certified.py {' '.join(sys.argv[1:])}".strip())
    lines += [f"Total wall time of this run: {time.perf_counter() - start:.0f} s.", ""]
    if reused:
        lines += [f"Rows of {', '.join(reused)} are taken from the log of earlier invocations of this script with "
                  f"the same settings (`--rows-from {args.rows_from}`; modified "
                  f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(Path(args.rows_from).stat().st_mtime))} UTC), "
                  f"not re-measured by this one. {args.rows_note}".rstrip(), ""]
    lines += _real_section(args, rows)
    if args.sizes:
        lines += _scale_section(args, sizes, products)
    else:
        lines += _reused_scale_section()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "opengu_certified.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _real_section(args: argparse.Namespace, rows: list[dict]) -> list[str]:
    lines = ["## Sequential single removals on real graphs (80/20 split, SGC K=2 features)", "",
             f"{args.removals} sequential single removals on Cora and CiteSeer, {args.physics_removals} on "
             "Coauthor Physics (8,415 features: every float64 step costs seconds there), seed 0: training "
             "nodes (`node`) or edges (`edge`) in a fixed random order, the same for every method. "
             "`retrain` is the method's own fresh fit on the retained graph after the run (median of 2; 1 on "
             "Physics), which is also what the certified budget forces. `steady` is the median over removals "
             "the budget did not turn into a retrain; `first` is the first removal after the fit. "
             "`CGU / method` divides CGU's mean on the same request kind by the method's (above 1: the "
             "method is faster). Peak memory is the run's own process. Ratios are within this run.", "",
             "| dataset | method | request | acc before | acc after | s / removal (mean, incl. retrains) "
             "| first | steady median | budget retrains | retrain s | retrain / removal (mean) "
             "| CGU / method (mean) | peak RSS GB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "failed" in r:
            name, method, kind = r["args"][1:4]
            lines.append(f"| {name} | {method} | {kind} | failed: {r['failed']} |" + " |" * 9)
            continue
        cgu = next((x for x in rows if x.get("dataset") == r["dataset"] and x.get("method") == "cgu"
                    and x.get("kind") == r["kind"]), None)
        ratio = f"{cgu['per_removal_mean'] / r['per_removal_mean']:.2f}" if cgu else "—"
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['kind']} | {r['acc_before']:.2f} | {r['acc_after']:.2f} "
            f"| {r['per_removal_mean']:.3f} | {r['first']:.3f} | {r['steady_median']:.3f} "
            f"| {r['retrains']} / {r['removals']} | {r['retrain_s']:.2f} "
            f"| {r['retrain_s'] / r['per_removal_mean']:.1f}x | {ratio} | {r['peak_rss_gb']:.2f} |")
    return lines


_SCALE_TITLE = "## ScaleGUN as the graph grows"


def _reused_scale_section() -> list[str]:
    """The size-sweep sections of the results file this run replaces, marked as reused."""
    old = (RESULTS / "opengu_certified.md").read_text() if (RESULTS / "opengu_certified.md").exists() else ""
    if _SCALE_TITLE not in old:
        return ["", f"{_SCALE_TITLE}", "", "Not run (`--sizes` without values) and no earlier run to reuse.", ""]
    head = old.split(_SCALE_TITLE)[0]
    command = next((x for x in head.splitlines() if x.startswith("Command:")), "Command: unknown")
    date = next((x.split("date (UTC):")[-1].strip() for x in head.splitlines() if "date (UTC):" in x), "unknown")
    body = old.split(_SCALE_TITLE, 1)[1]
    for marker in ("\n**Reused", "\n_Reused"):  # drop an earlier reuse note
        if marker in body:
            body = body.split(marker)[0] + body.split(marker, 1)[1].split("\n", 1)[1]
    title, rest = body.split("\n", 1)
    note = (f"**Reused from the earlier run, not re-measured by this one** (that run: "
            f"{command.removeprefix('Command: ')}, UTC {date}).")
    return ["", _SCALE_TITLE + title, "", note] + rest.rstrip("\n").split("\n") + [""]


def _scale_section(args: argparse.Namespace, sizes: list[dict], products: dict) -> list[str]:
    lines = ["", f"{_SCALE_TITLE} (synthetic-products DC-SBM: average degree 50.5, 100 features, 47 classes; "
             f"{args.train_nodes} training nodes at every size)", "",
             f"{args.scale_removals} sequential single-node removals per size for ScaleGUN, {args.cgu_scale_removals} for "
             "CGU (each of its removals scans the edge list), each method in its own process. `own` is the method's update (ScaleGUN: push + Newton step; CGU: local recomputation, "
             "which scans the edge list, + Newton step); CGU's whole call adds `request.apply`, the library's "
             "copy of the retained graph (`O(n d + E)`), which ScaleGUN defers until the graph is read "
             "(docs/methods/scalegun.md), so its whole call is its own update. `propagation` is the embedding "
             "update alone. Peak memory is the process's maximum RSS (`ru_maxrss`), graph generation "
             "included.", "",
             "| nodes | edges | method | whole call s (median) | own s (median) | propagation s | pushes "
             "| budget retrains | acc | fit s | peak RSS GB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    failed = [s for s in sizes if "failed" in s]
    sizes = [s for s in sizes if "failed" not in s]
    for s in failed:
        lines.append(f"| {s['args'][1]} | | {s['args'][2]} | failed: {s['failed']} |" + " |" * 7)
    for s in sizes:
        pushes = f"{s['pushes_median']:.0f}" if s["method"] == "scalegun" else "—"
        lines.append(f"| {s['nodes']} | {s['edges']} | {s['method']} | {s['removal_median']:.4f} "
                     f"| {s['own_median']:.4f} | {s['propagation_median']:.4f} | {pushes} "
                     f"| {s['retrains']} / {s['removals']} | {s['acc']:.2f} | {s['fit_s']:.1f} "
                     f"| {s['peak_rss_gb']:.2f} |")
    ns = sorted({s["nodes"] for s in sizes})
    if len(ns) >= 3:
        lines += ["", "Fitted exponents b of time ~ n^b (least squares on log-log over the sizes above):", ""]
        for method in ("scalegun", "cgu"):
            pts = sorted(((s["nodes"], s) for s in sizes if s["method"] == method), key=lambda t: t[0])
            if len(pts) < 3:
                lines.append(f"* {method}: fewer than three sizes ran, no exponent fitted")
                continue
            xs = [n for n, _ in pts]
            fits = {k: _fit_exponent(xs, [s[k] for _, s in pts])
                    for k in ("propagation_median", "own_median", "removal_median")}
            lines.append(f"* {method}: propagation b = {fits['propagation_median']:.2f}; own update "
                         f"b = {fits['own_median']:.2f}; whole call b = {fits['removal_median']:.2f}")
    if products is not None and "failed" in products:
        lines += ["", "### synthetic-products at its own split (0.08 / 0.02 / 0.9)", "",
                  f"ScaleGUN failed: {products['failed']}."]
    elif products is not None:
        p = products
        lines += ["", "### synthetic-products at its own split (0.08 / 0.02 / 0.9)", "",
                  f"ScaleGUN, {p['removals']} sequential single-node removals of training nodes, "
                  f"{p['train']} training rows.", "",
                  "| nodes | edges | whole call s (median / mean) | own s (median) | propagation s | pushes "
                  "| budget retrains | acc | fit s | peak RSS GB |", "|---|---|---|---|---|---|---|---|---|---|",
                  f"| {p['nodes']} | {p['edges']} | {p['removal_median']:.3f} / {p['removal_mean']:.3f} "
                  f"| {p['own_median']:.3f} | {p['propagation_median']:.4f} | {p['pushes_median']:.0f} "
                  f"| {p['retrains']} / {p['removals']} | {p['acc']:.2f} | {p['fit_s']:.1f} "
                  f"| {p['peak_rss_gb']:.2f} |"]
    return lines + [""]


if __name__ == "__main__":
    main()
