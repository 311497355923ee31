"""Cost vs graph size of every node-classification method (issue 11).

Why a script: it sweeps generated graph sizes and needs each cell's own peak memory, so
every cell runs ``graphforget bench --profile`` in a fresh subprocess (a ``reproduce``
table runs its cells in one process, whose peak RSS would mix cells), then fits growth
exponents across sizes, which no table row expresses.

Each (method, size, request) cell is one ``graphforget bench ... --profile`` run in its
own subprocess, so its peak resident memory is its own (the record's ``peak_memory_mb``
per phase, sampled by :func:`graphforget.metrics.measure`, plus the child's lifetime
``ru_maxrss`` from ``wait4``, which also covers loading the data and the bench's metrics). Records accumulate in a JSON file (re-runs skip cells
already there unless ``--fresh``), and the report is rebuilt from all of them:
a table per size, the growth exponent of each method (least-squares slope of log cost
against log nodes, and the local slope between the two largest sizes), and log-log
plots of time and memory against size.

Usage:

    python benchmarks/scale_profile.py --sizes 10000 30000 80000 169343 --epochs 50
    python benchmarks/scale_profile.py --sizes 169343 --epochs default --requests node edge feature \\
        --series arxiv-default
    python benchmarks/scale_profile.py --report-only

Writes ``benchmarks/results/scale_profile.md`` (+ ``.json``) and
``benchmarks/results/plots/scale_time.{png,svg}``, ``scale_memory.{png,svg}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = RESULTS / "scale_profile.json"
REPORT = RESULTS / "scale_profile.md"
PLOTS = RESULTS / "plots"

#: every landed node-classification method of the graph core
NODE_METHODS = ["retrain", "gif", "if", "cgu", "gnndelete", "gradient-ascent", "utu",
                "grapheraser", "sisa", "guide"]
SIZES = [10_000, 30_000, 80_000, 169_343]
#: the CSBM at ogbn-arxiv's shape (used until the ``synthetic-arxiv`` preset exists)
CSBM_TEMPLATE = "synthetic:nodes={n},avg-degree=13.7,features=128,classes=40"
ARXIV_TEMPLATE = "synthetic-arxiv:nodes={n}"


def default_template() -> str:
    from graphforget.data import dataset_names

    return ARXIV_TEMPLATE if "synthetic-arxiv" in dataset_names() else CSBM_TEMPLATE


def method_params(method: str, epochs: str) -> list[str]:
    """``--param`` flags: the epoch budget for methods that train a backbone."""
    from graphforget._registry import resolve_method

    names = set(resolve_method(method).param_names())
    if epochs != "default" and "epochs" in names:
        return ["--param", f"epochs={int(epochs)}"]
    return []


def supports(method: str, request: str) -> bool:
    """Whether ``method`` serves ``request`` requests (unsupported cells are skipped, not run)."""
    from graphforget._registry import resolve_method
    from graphforget.errors import UnknownNameError
    from graphforget.requests import request_class

    try:
        return resolve_method(method).supports(request_class(request))
    except UnknownNameError:  # a task-specific kind: the bench itself decides
        return True


def graph_size(dataset: str) -> tuple[int, int]:
    """(nodes, directed edges) of a dataset spec, loaded in a throw-away subprocess."""
    code = ("import sys; from graphforget.data import load_dataset; "
            "d = load_dataset(sys.argv[1]); print(d.num_nodes, d.edge_index.size(1))")
    out = subprocess.run([sys.executable, "-c", code, dataset], capture_output=True, text=True,
                         env=child_env("auto"), check=True)
    nodes, edges = out.stdout.split()[-2:]
    return int(nodes), int(edges)


def child_env(propagation: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GRAPHFORGET_SPARSE_PROPAGATION=propagation)
    return env


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def run_cell(method: str, dataset: str, request: str, epochs: str, timeout: float,
             propagation: str, task: str, extra: list[str], memory_limit_mb: float = 0.0
             ) -> dict[str, Any]:
    """One bench run in a subprocess; returns its record plus wall time and max RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "record.json"
        argv = [sys.executable, "-m", "graphforget", "bench", "--method", method, "--dataset", dataset,
                "--task", task, "--request", request, "--ratio", "0.01", "--seeds", "1", "--profile",
                "--json", str(out)] + method_params(method, epochs) + extra
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=child_env(propagation))
        err: list[str] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        over_memory = threading.Event()
        done = threading.Event()

        def guard() -> None:  # keeps a shared machine alive: kill the run above the limit
            while not done.wait(0.2):
                if memory_limit_mb and rss_mb(proc.pid) > memory_limit_mb:
                    over_memory.set()
                    proc.kill()
                    return

        watcher = threading.Thread(target=guard, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (its peak RSS)
        done.set()
        timer.cancel()
        reader.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        timed_out = killed.is_set()
        if over_memory.is_set():
            err.append(f"\nkilled: resident memory above --memory-limit-mb {memory_limit_mb:.0f} MiB")
        cell: dict[str, Any] = {"method": method, "dataset": dataset, "request": request, "task": task,
                                "epochs": epochs, "propagation": propagation, "rc": proc.returncode,
                                "wall_seconds": wall, "timed_out": timed_out,
                                "max_rss_mb": usage.ru_maxrss / 1024.0,
                                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                                "system_seconds": usage.ru_stime,
                                "command": "graphforget " + " ".join(shlex.quote(a) for a in argv[3:]
                                                                     if a != str(out))}
        if proc.returncode == 0 and out.exists():
            (record,) = json.loads(out.read_text())
            cell.update({k: record.get(k) for k in (
                "model", "fit_seconds", "unlearn_seconds", "retrain_seconds", "peak_memory_mb", "cpu_seconds",
                "utility_original", "utility_unlearned", "utility_retrain", "distance_to_retrain",
                "items_forgotten")})
            cell["breakdown"] = record.get("report", {}).get("breakdown")
        else:
            lines = [ln for ln in "".join(err).strip().splitlines() if ln.strip()]
            cell["error"] = "timed out" if timed_out else (lines[-1] if lines else f"exit {proc.returncode}")
        return cell


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def peak(cell: dict[str, Any]) -> float | None:
    mem = cell.get("peak_memory_mb")
    return max(mem.values()) if mem else None


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log y against log x (``None`` with fewer than 2 points)."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def local_slope(points: list[tuple[float, float]]) -> float | None:
    pts = sorted((x, y) for x, y in points if y and y > 0)
    return slope(pts[-2:]) if len(pts) >= 2 else None


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def series_cells(records: list[dict[str, Any]], series: str, request: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("series") == series and r["request"] == request]


def phase_cost(cell: dict[str, Any], phase: str, clock: str) -> float | None:
    """Seconds of ``phase`` (fit, unlearn, retrain): CPU time when ``clock == "cpu"``."""
    if clock == "cpu":
        return (cell.get("cpu_seconds") or {}).get(phase)
    return cell.get(f"{phase}_seconds")


def clock_of(cells: list[dict[str, Any]]) -> str:
    """``cpu`` when every successful cell recorded per-phase CPU time, else ``wall``."""
    ok = [c for c in cells if c["rc"] == 0]
    return "cpu" if ok and all(c.get("cpu_seconds") for c in ok) else "wall"


def exponents(cells: list[dict[str, Any]], method: str, clock: str) -> dict[str, Any]:
    ok = sorted((c for c in cells if c["method"] == method and c["rc"] == 0), key=lambda c: c["nodes"])
    out: dict[str, Any] = {"sizes": len(ok), "largest": ok[-1]["nodes"] if ok else None}
    for key in ("fit", "unlearn", "retrain"):
        pts = [(c["nodes"], phase_cost(c, key, clock)) for c in ok]
        out[key] = slope(pts)
        out[key + "_top"] = local_slope(pts)
    pts = [(c["nodes"], peak(c)) for c in ok]
    out["memory"], out["memory_top"] = slope(pts), local_slope(pts)
    return out


def _loglog(ax: Any, cells: list[dict[str, Any]], methods: list[str], cost: Any, title: str) -> None:
    """One log-log line per method: ``cost(cell)`` against nodes over its finished cells."""
    for m in methods:
        pts = sorted((c["nodes"], cost(c)) for c in cells if c["method"] == m and c["rc"] == 0 and cost(c))
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=m)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel("nodes")
    ax.grid(True, which="both", alpha=0.3)


def _save(fig: Any, name: str) -> list[str]:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    written = []
    for ext in ("png", "svg"):
        path = PLOTS / f"{name}.{ext}"
        fig.savefig(path, dpi=120)
        written.append(str(path.relative_to(RESULTS)))
    plt.close(fig)
    return written


def plot(records: list[dict[str, Any]], series: str, request: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = series_cells(records, series, request)
    methods = [m for m in NODE_METHODS if any(c["method"] == m and c["rc"] == 0 for c in cells)]
    methods += sorted({c["method"] for c in cells if c["rc"] == 0} - set(methods))
    PLOTS.mkdir(parents=True, exist_ok=True)
    clock = clock_of(cells)
    panels = (("fit", "fit (train the original)"), ("unlearn", "unlearn"),
              ("retrain", "retrain (exact reference)"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharex=True)
    for ax, (key, title) in zip(axes, panels, strict=True):
        _loglog(ax, cells, methods, lambda c, key=key: phase_cost(c, key, clock), title)
    axes[0].set_ylabel(f"{'CPU' if clock == 'cpu' else 'wall'} seconds (1 thread)")
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"Time vs graph size ({series}, {request} requests, 1% forgotten)")
    written = _save(fig, "scale_time")
    fig, ax = plt.subplots(figsize=(7.5, 5))
    _loglog(ax, cells, methods, peak, f"Peak memory vs graph size ({series}, {request} requests)")
    ax.set_ylabel("peak resident memory, MiB (max of fit / unlearn / retrain)")
    ax.legend(fontsize=8)
    return written + _save(fig, "scale_memory")


def cell_row(c: dict[str, Any]) -> str:
    mem = c.get("peak_memory_mb") or {}
    if c["rc"] != 0:
        return (f"| {c['method']} | {c['nodes']} | {c['edges']} | {c['request']} | — | — | — | — | — | — | "
                f"{fmt(c.get('max_rss_mb'), 4)} | — | {fmt(c['wall_seconds'])} | "
                f"**failed**: {c.get('error', '')} |")
    def both(phase: str) -> str:
        cpu = phase_cost(c, phase, "cpu")
        wall = fmt(c[f"{phase}_seconds"])
        return wall if cpu is None else f"{wall} / {fmt(cpu)}"

    return (f"| {c['method']} | {c['nodes']} | {c['edges']} | {c['request']} | {both('fit')} | "
            f"{both('unlearn')} | {both('retrain')} | {fmt(mem.get('fit'), 4)} | "
            f"{fmt(mem.get('unlearn'), 4)} | {fmt(mem.get('retrain'), 4)} | {fmt(c.get('max_rss_mb'), 4)} | "
            f"{fmt(c.get('utility_unlearned'))} / {fmt(c.get('utility_retrain'))} | "
            f"{fmt(c['wall_seconds'])} | {c.get('model', '')} |")


TABLE_HEAD = ["| method | nodes | edges (directed) | request | fit s (wall / CPU) | unlearn s | retrain s | "
              "peak MiB fit | peak MiB unlearn | peak MiB retrain | process max RSS MiB | "
              "utility unlearned / retrain (node: micro-F1, link: AUC) | run wall s | model / note |", "|---|" + "---|" * 13]


def report(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# Cost vs graph size of every node method (issue 11)", ""]
    lines += [f"Generated by `benchmarks/scale_profile.py`; the runs below were made by these "
              f"commands (one `graphforget bench` subprocess per cell, {meta.get('threads', 1)} torch "
              "thread, `OMP_NUM_THREADS=1`):", ""]
    for cmd in meta.get("commands", []):
        lines.append(f"    {cmd}")
    lines += ["", f"Machine: {meta.get('machine')}; load average (1/5/15 min, the machine is shared "
              f"with other jobs) at the start of each batch: {', '.join(meta.get('loads', []))}; "
              f"dates (UTC): {', '.join(meta.get('dates', []))}.", "",
              "Per cell: the record's `fit_seconds` (train the original model), `unlearn_seconds`, "
              "`retrain_seconds` (fit the method's exact reference on the retained graph) and "
              "`peak_memory_mb` per phase (resident set size of the whole process, sampled every "
              "5 ms; it includes the ~350 MiB of the interpreter, torch and the loaded graph). "
              "1% of the training nodes are forgotten (`--ratio 0.01`, one seed). Growth exponent: "
              "least-squares slope of log cost against log nodes over all sizes reached, and the "
              "local slope between the two largest sizes (closer to the asymptotic rate, since "
              "fixed costs flatten the small sizes).", ""]
    for series in meta.get("series_order", []):
        info = meta["series"].get(series, {})
        for request in ("node", "edge", "feature"):
            cells = series_cells(records, series, request)
            if not cells:
                continue
            lines += [f"## {series}: {request} requests", "", info.get("description", ""), ""]
            sizes = sorted({c["nodes"] for c in cells})
            for n in sizes:
                lines += [f"### {n} nodes", ""] + TABLE_HEAD
                order = {m: i for i, m in enumerate(NODE_METHODS)}
                for c in sorted((c for c in cells if c["nodes"] == n),
                                key=lambda c: order.get(c["method"], 99)):
                    lines.append(cell_row(c))
                lines.append("")
            if len(sizes) > 1:
                clock = clock_of(cells)
                lines += [f"### Growth exponents ({series}, {request})", "",
                          f"Slopes of log {'CPU' if clock == 'cpu' else 'wall'} seconds "
                          f"(and of log peak MiB) against log nodes.", "",
                          "| method | sizes reached | largest nodes | fit | unlearn | retrain | peak memory | "
                          "fit (top) | unlearn (top) | memory (top) |", "|---|" + "---|" * 9]
                for m in NODE_METHODS + sorted({c["method"] for c in cells} - set(NODE_METHODS)):
                    if not any(c["method"] == m for c in cells):
                        continue
                    e = exponents(cells, m, clock)
                    lines.append(f"| {m} | {e['sizes']} | {fmt(e['largest'])} | {fmt(e['fit'], 2)} | "
                                 f"{fmt(e['unlearn'], 2)} | {fmt(e['retrain'], 2)} | {fmt(e['memory'], 2)} | "
                                 f"{fmt(e['fit_top'], 2)} | {fmt(e['unlearn_top'], 2)} | "
                                 f"{fmt(e['memory_top'], 2)} |")
                lines.append("")
                if info.get("plots"):
                    lines += ["![time vs size](plots/scale_time.png)", "",
                              "![memory vs size](plots/scale_memory.png)", ""]
    if meta.get("kernel"):
        lines += kernel_lines(meta["kernel"])
    lines += meta.get("notes", [])
    return "\n".join(lines).rstrip() + "\n"


def machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
        mem_text = f"{mem:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        mem_text = "RAM unknown"
    import torch

    return f"{platform.machine()} {cpu}, {os.cpu_count()} cores (shared), {mem_text}, torch {torch.__version__}"


def load_json(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"records": [], "meta": {"commands": [], "loads": [], "dates": [], "series": {},
                                    "series_order": [], "notes": []}}


KERNEL_CODE = """
import json, sys, time, torch
torch.set_num_threads(1)
from graphforget.data import load_dataset
from graphforget.metrics import measure
from graphforget.models import build_model
from graphforget.training import TrainConfig, forward, train_node_classifier
data = load_dataset(sys.argv[1])
epochs, out, params = int(sys.argv[2]), {}, {}
for name in ("gcn", "sage"):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(name, data.x.size(1), int(data.y.max()) + 1)
    train_node_classifier(model, data, TrainConfig(epochs=1), seed=0)  # warm-up: builds caches
    with measure() as m:
        train_node_classifier(model, data, TrainConfig(epochs=epochs), seed=1)
    with torch.no_grad():
        pred = forward(model, data).argmax(-1)
    acc = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
    out[name] = {"seconds_per_epoch": m.seconds / epochs, "peak_memory_mb": m.peak_memory_mb,
                 "test_accuracy": acc}
    params[name] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
torch.save(params, sys.argv[3])
print(json.dumps(out))
"""


def compare_kernels(dataset: str, epochs: int) -> dict[str, Any]:
    """Seconds per training epoch, peak memory and the trained parameters of GCN and
    GraphSAGE on ``dataset`` with PyG's message passing (``never``) and the cached sparse
    propagation (``always``), each in its own process, one thread, same seeds."""
    import torch

    result: dict[str, Any] = {"dataset": dataset, "epochs": epochs,
                              "load": "/".join(f"{x:.2f}" for x in os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("never", "always"):
            proc = subprocess.run([sys.executable, "-c", KERNEL_CODE, dataset, str(epochs),
                                   str(Path(tmp) / policy)], capture_output=True, text=True,
                                  env=child_env(policy))
            if proc.returncode != 0:
                result[policy] = {"error": proc.stderr.strip().splitlines()[-1]}
                continue
            result[policy] = json.loads(proc.stdout.strip().splitlines()[-1])
        if all("error" not in result[p] for p in ("never", "always")):
            a, b = (torch.load(Path(tmp) / p) for p in ("never", "always"))
            for name in a:  # how far the two float orders drift apart over the epochs
                result["always"][name]["relative_parameter_distance"] = \
                    float((a[name] - b[name]).norm() / a[name].norm())
    return result


def kernel_lines(kernel: dict[str, Any]) -> list[str]:
    lines = ["## Message passing: PyG vs cached sparse propagation", "",
             f"One process per policy, `{kernel['dataset']}`, {kernel['epochs']} full-batch training epochs "
             f"after one warm-up epoch, 1 thread, load average {kernel['load']} at the start "
             "(`GRAPHFORGET_SPARSE_PROPAGATION=never` is PyG's gather/scatter message passing with the "
             "GCN normalisation recomputed every pass; `always` is `graphforget.models._sparse`). Same "
             "initialisation and dropout seeds; the last columns show how far the two summation orders "
             "drift apart after training.", "",
             "| backbone | PyG s/epoch | sparse s/epoch | speed-up | PyG peak MiB | sparse peak MiB | "
             "test acc. PyG / sparse | ‖θ_PyG − θ_sparse‖ / ‖θ_PyG‖ |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("gcn", "sage"):
        a, b = kernel.get("never", {}).get(name), kernel.get("always", {}).get(name)
        if not a or not b:
            lines.append(f"| {name} | failed: {kernel.get('never', {}).get('error', '')} "
                         f"{kernel.get('always', {}).get('error', '')} | | | | | | |")
            continue
        lines.append(f"| {name} | {a['seconds_per_epoch']:.2f} | {b['seconds_per_epoch']:.2f} | "
                     f"{a['seconds_per_epoch'] / b['seconds_per_epoch']:.1f}× | "
                     f"{a['peak_memory_mb']:.0f} | {b['peak_memory_mb']:.0f} | "
                     f"{a['test_accuracy']:.4f} / {b['test_accuracy']:.4f} | "
                     f"{fmt(b.get('relative_parameter_distance'), 2)} |")
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", default=NODE_METHODS)
    parser.add_argument("--sizes", nargs="+", type=int, default=SIZES)
    parser.add_argument("--requests", nargs="+", default=["node"])
    parser.add_argument("--epochs", default="50",
                        help="backbone epochs of every method (fit, unlearn, retrain), or 'default'")
    parser.add_argument("--dataset", default=None,
                        help="dataset template with {n} (default: synthetic-arxiv:nodes={n} when "
                             "registered, else the CSBM of the same shape)")
    parser.add_argument("--task", default="node")
    parser.add_argument("--series", default="sweep", help="name of this group of runs in the report")
    parser.add_argument("--description", default=None, help="report text for this series")
    parser.add_argument("--propagation", default="always", choices=("auto", "always", "never"),
                        help="GRAPHFORGET_SPARSE_PROPAGATION of the runs (default: always, so every "
                             "size uses the same kernels)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per cell")
    parser.add_argument("--memory-limit-mb", type=float, default=0.0,
                        help="kill a run whose resident memory exceeds this (0: no limit)")
    parser.add_argument("--extra", default="", help="more bench flags for every cell (quoted)")
    parser.add_argument("--fresh", action="store_true", help="re-run cells already recorded")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--compare-kernels", type=int, default=0, metavar="EPOCHS",
                        help="also time GCN/SAGE epochs with PyG vs sparse propagation on the largest "
                             "size (this many epochs) and add the table to the report")
    parser.add_argument("--plot-series", default=None, help="series plotted (default: sweep)")
    parser.add_argument("--records", type=Path, default=RECORDS)
    args = parser.parse_args()
    state = load_json(args.records)
    records, meta = state["records"], state["meta"]
    if not args.report_only:
        template = args.dataset or default_template()
        command = "python benchmarks/scale_profile.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        meta["commands"].append(command)
        meta["loads"].append("/".join(f"{x:.2f}" for x in os.getloadavg()))
        meta["dates"].append(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"))
        meta["machine"] = machine()
        meta["threads"] = 1
        meta["series"].setdefault(args.series, {})
        if args.description:
            meta["series"][args.series]["description"] = args.description
        if args.series not in meta["series_order"]:
            meta["series_order"].append(args.series)
        for n in sorted(args.sizes) if args.methods else []:
            dataset = template.format(n=n)
            nodes, edges = graph_size(dataset)
            for request in args.requests:
                for method in args.methods:
                    if not supports(method, request):
                        print(f"skip {method} {request}: not supported by the method", flush=True)
                        continue
                    key = (args.series, method, dataset, request, args.epochs)
                    old = [r for r in records if (r.get("series"), r["method"], r["dataset"],
                                                  r["request"], r["epochs"]) == key]
                    if old and not args.fresh:
                        print(f"skip {key}: recorded", flush=True)
                        continue
                    print(f"{datetime.datetime.now():%H:%M:%S} {method} n={n} {request} "
                          f"epochs={args.epochs} load={os.getloadavg()[0]:.2f}", flush=True)
                    cell = run_cell(method, dataset, request, args.epochs, args.timeout,
                                    args.propagation, args.task, shlex.split(args.extra),
                                    args.memory_limit_mb)
                    cell.update(series=args.series, nodes=nodes, edges=edges,
                                load=os.getloadavg()[0])
                    records[:] = [r for r in records if (r.get("series"), r["method"], r["dataset"],
                                                         r["request"], r["epochs"]) != key] + [cell]
                    print("   ", {k: cell.get(k) for k in ("rc", "fit_seconds", "unlearn_seconds",
                                                           "retrain_seconds", "peak_memory_mb",
                                                           "error")}, flush=True)
                    args.records.write_text(json.dumps(state, indent=1, default=str))
    if args.compare_kernels and not args.report_only:
        dataset = (args.dataset or default_template()).format(n=max(args.sizes))
        meta["kernel"] = compare_kernels(dataset, args.compare_kernels)
        print(meta["kernel"], flush=True)
    plot_series = args.plot_series or ("sweep" if "sweep" in meta["series_order"] else None)
    if plot_series:
        for s in meta["series"].values():
            s.pop("plots", None)
        if any(r.get("series") == plot_series for r in records):
            plot(records, plot_series, "node")
            meta["series"][plot_series]["plots"] = True
    if not args.report_only:  # a report-only pass never races a running batch for the file
        args.records.write_text(json.dumps(state, indent=1, default=str))
    REPORT.write_text(report(records, meta))
    print(f"wrote {REPORT}", flush=True)


if __name__ == "__main__":
    main()
