"""Per-removal cost of CEU, IDEA, ScaleGUN and Projector against retraining and CGU (issue 23).

    python benchmarks/opengu_certified.py [--datasets cora citeseer] [--removals 30]
        [--sizes 20000 50000 169343] [--scale-removals 20]

Writes benchmarks/results/opengu_certified.md. ``--sizes`` with no value skips the ScaleGUN
size sweep and copies that section from the results file it replaces, marked there as
reused from the earlier run (with that run's command and date), so a shorter rerun of the
real-graph section keeps the sweep's numbers without claiming to have measured them.

Why a script and not a ``graphforget reproduce`` table: the questions here are sequential
costs (seconds per single removal over a run of removals, the certified budget's retrain
count along the run, the per-removal time of ScaleGUN as the graph grows, with each size's
peak memory measured in its own process and a fitted exponent). ``reproduce`` tables measure
one request per cell and compare utilities with paper numbers; none of these quantities fit
that shape.

Everything runs with one thread (``OMP_NUM_THREADS=1``) on both sides of every ratio; the
machine is shared and busy, so only ratios measured within this run are meaningful.
"""

from __future__ import annotations

import argparse
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


def _removal_order(data, count: int, seed: int = 0) -> list[int]:
    train = data.train_mask.nonzero().view(-1)
    perm = torch.randperm(train.numel(), generator=torch.Generator().manual_seed(seed))
    return train[perm][:count].tolist()


def _edge_order(data, count: int, seed: int = 0) -> list[tuple[int, int]]:
    ei = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]
    perm = torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(seed))
    return [tuple(map(int, ei[:, j])) for j in perm[:count]]


def run_dataset(name: str, removals: int) -> list[dict]:
    data = load_dataset(name, split="0.8/0.2", seed=0)
    nodes, edges = _removal_order(data, removals), _edge_order(data, removals)
    rows = []
    for method, make in METHODS.items():
        t = time.perf_counter()
        u = make().fit(data)
        fit_s = time.perf_counter() - t
        acc0 = 100 * u.score()
        secs, retrains, steady = [], 0, []
        kind = "edge" if method == "ceu" else "node"
        for j in range(removals):
            req = EdgeRequest([edges[j]]) if kind == "edge" else NodeRequest([nodes[j]])
            r = u.unlearn(req)
            secs.append(r.seconds)
            hit = bool(r.diagnostics.get("retrained", False))
            retrains += hit
            if not hit:
                steady.append(r.seconds)
        acc1 = 100 * u.score()
        retrain_s = []
        for _ in range(2):  # the method's own retrain: a fresh fit on the retained graph
            t = time.perf_counter()
            u.reference().fit(u.data_) if method in ("projector", "cgu", "scalegun") else make().fit(u.data_)
            retrain_s.append(time.perf_counter() - t)
        row = {"dataset": name, "method": method, "kind": kind, "removals": removals, "fit_s": fit_s,
               "acc_before": acc0, "acc_after": acc1, "per_removal_mean": statistics.mean(secs),
               "per_removal_median": statistics.median(secs),
               "steady_median": statistics.median(steady) if steady else float("nan"),
               "retrains": retrains, "retrain_s": statistics.median(retrain_s)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def one_size(nodes: int, removals: int) -> dict:
    """One synthetic-arxiv size in this process (peak memory is the process's)."""
    data = load_dataset(f"synthetic-arxiv:nodes={nodes}", seed=0)
    order = _removal_order(data, removals, seed=1)
    out = {"nodes": nodes, "edges": int(data.edge_index.size(1) // 2)}
    for method, make in (("scalegun", lambda: ScaleGUN(sigma=0.1)), ("cgu", lambda: CGU(sigma=0.1))):
        t = time.perf_counter()
        u = make().fit(data)
        out[f"{method}_fit_s"] = time.perf_counter() - t
        secs, prop, retr, pushes = [], [], 0, []
        for v in order:
            r = u.unlearn(NodeRequest([v]))
            secs.append(r.seconds)
            prop.append(r.breakdown.get("propagation", r.breakdown.get("features", float("nan"))))
            retr += bool(r.diagnostics["retrained"])
            pushes.append(r.affected.get("pushes", 0))
        out[f"{method}_removal_median"] = statistics.median(secs)
        out[f"{method}_propagation_median"] = statistics.median(prop)
        out[f"{method}_retrains"] = retr
        if method == "scalegun":
            out["pushes_median"] = statistics.median(pushes)
            out["scalegun_acc"] = 100 * u.score()
        del u
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _fit_exponent(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--datasets", nargs="*", default=["cora", "citeseer"])
    p.add_argument("--removals", type=int, default=30)
    p.add_argument("--sizes", nargs="*", type=int, default=[20000, 50000, 169343])
    p.add_argument("--scale-removals", type=int, default=20)
    p.add_argument("--one-size", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.one_size is not None:
        print("RESULT " + json.dumps(one_size(args.one_size, args.scale_removals)), flush=True)
        return
    start = time.perf_counter()
    rows = [r for name in args.datasets for r in run_dataset(name, args.removals)]
    sizes = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one-size", str(n), "--scale-removals",
                               str(args.scale_removals)], capture_output=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS="1"), check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        sizes.append(json.loads(line[len("RESULT "):]))
        print(json.dumps(sizes[-1]), flush=True)
    lines = ["# CEU, IDEA, ScaleGUN and Projector: per-removal cost (issue 23)", ""]
    lines += header(f"OMP_NUM_THREADS=1 python benchmarks/opengu_certified.py {' '.join(sys.argv[1:])}".strip())
    lines += [f"Total wall time of this run: {time.perf_counter() - start:.0f} s.", "",
              "## Sequential single removals on real graphs (80/20 split, SGC K=2 features)", "",
              f"{args.removals} sequential single-node removals (CEU: single-edge removals, its only "
              "request kind) from the training set, seed 0. `retrain` is the method's own fresh fit on "
              "the retained graph after the run (median of 2; for the certified methods this is also "
              "what the budget forces). `steady` is the median over removals the budget did not turn "
              "into a retrain. Ratios are within this run.", "",
              "| dataset | method | request | acc before | acc after | s / removal (mean, incl. retrains) "
              "| s / removal (steady median) | budget retrains | retrain s | retrain / removal (mean) "
              "| CGU / method (mean) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cgu = next(x for x in rows if x["dataset"] == r["dataset"] and x["method"] == "cgu")
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['kind']} | {r['acc_before']:.2f} | {r['acc_after']:.2f} "
            f"| {r['per_removal_mean']:.3f} | {r['steady_median']:.3f} | {r['retrains']} / {r['removals']} "
            f"| {r['retrain_s']:.2f} | {r['retrain_s'] / r['per_removal_mean']:.1f}x "
            f"| {cgu['per_removal_mean'] / r['per_removal_mean']:.2f} |")
    if not sizes:
        lines += _reused_scale_section()
    else:
        lines += _scale_section(args, sizes)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "opengu_certified.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


_SCALE_TITLE = "## ScaleGUN as the graph grows"


def _reused_scale_section() -> list[str]:
    """The size-sweep section of the results file this run replaces, marked as reused."""
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
            f"{command.removeprefix('Command: ')}, UTC {date}; code before the CEU/IDEA/Projector "
            "speed-ups, which leave ScaleGUN's and CGU's computations unchanged).")
    return ["", _SCALE_TITLE + title, "", note] + rest.rstrip("\n").split("\n") + [""]


def _scale_section(args: argparse.Namespace, sizes: list[dict]) -> list[str]:
    lines = ["", "## ScaleGUN as the graph grows (synthetic-arxiv DC-SBM, 0.54/0.18/0.28 split)", "",
              f"{args.scale_removals} sequential single-node removals per size, ScaleGUN (r_max=1e-9) and "
              "CGU in the same process; `propagation` is the embedding update alone (ScaleGUN's push; "
              "CGU's local recomputation, which scans the edge list). The whole call also includes "
              "`request.apply` (a copy of the graph, linear in its size, outside both methods). Peak "
              "memory is the process's maximum RSS (`ru_maxrss`), one process per size.", "",
              "| nodes | edges | ScaleGUN s / removal | ScaleGUN propagation s | pushes / removal "
              "| CGU s / removal | CGU propagation s | ScaleGUN retrains | ScaleGUN acc | peak RSS GB |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        lines.append(f"| {s['nodes']} | {s['edges']} | {s['scalegun_removal_median']:.3f} "
                     f"| {s['scalegun_propagation_median']:.4f} | {s['pushes_median']:.0f} "
                     f"| {s['cgu_removal_median']:.3f} | {s['cgu_propagation_median']:.4f} "
                     f"| {s['scalegun_retrains']} / {args.scale_removals} | {s['scalegun_acc']:.2f} "
                     f"| {s['peak_rss_gb']:.2f} |")
    if len(sizes) >= 3:
        ns = [s["nodes"] for s in sizes]
        fits = {key: _fit_exponent(ns, [s[key] for s in sizes]) for key in
                ("scalegun_propagation_median", "scalegun_removal_median", "cgu_propagation_median",
                 "cgu_removal_median")}
        lines += ["", "Fitted exponents b of time ~ n^b (least squares on log-log over the sizes above):", "",
                  f"* ScaleGUN propagation update: b = {fits['scalegun_propagation_median']:.2f}; whole "
                  f"call: b = {fits['scalegun_removal_median']:.2f}",
                  f"* CGU propagation update: b = {fits['cgu_propagation_median']:.2f}; whole call: "
                  f"b = {fits['cgu_removal_median']:.2f}"]
    lines += ["", "`synthetic-products` (2.45M nodes, 62M edges, 100 features) is not run: ScaleGUN's "
              "state alone is 2K+1 = 5 float64 [n, d] matrices (9.8 GB), plus the graph (about 3 GB) and "
              "the copy `request.apply` makes per request, which does not fit in the memory this shared "
              "machine has free (16 of 23 GB).", ""]
    return lines


if __name__ == "__main__":
    main()
