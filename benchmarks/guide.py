"""GUIDE benchmarks: OpenGU Table 4 row, the inductive Fast/SR x repair grid, and
partition time on Coauthor Physics.

Usage (each part writes benchmarks/results/guide_<part>.md):

    python benchmarks/guide.py opengu --datasets cora citeseer
    python benchmarks/guide.py grid --datasets cora citeseer
    python benchmarks/guide.py partition
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from graphforget.data import load_dataset
from graphforget.exact import GUIDE
from graphforget.partition import GUIDEPartitioner
from graphforget.requests import sample_nodes

RESULTS = Path(__file__).resolve().parent / "results"
#: OpenGU (Fan et al., 2025), Table 4, GUIDE row: node unlearning, micro-F1 (%)
OPENGU = {"cora": "73.89 ± 2.18", "citeseer": "63.50 ± 0.71", "cs": "86.96 ± 0.15"}


def header(command: str) -> list[str]:
    return [f"Command: `{command}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads; date: "
            f"{datetime.date.today().isoformat()}", ""]


def fmt(values: list[float], scale: float = 100.0) -> str:
    if len(values) == 1:
        return f"{values[0] * scale:.2f}"
    return f"{statistics.fmean(values) * scale:.2f} ± {statistics.stdev(values) * scale:.2f}"


def run_one(data, args, partition: str, repair: str, seed: int, ratio: float) -> dict:
    u = GUIDE(model=args.model, shards=args.shards, partition=partition, repair=repair,
              epochs=args.epochs, seed=seed)
    start = time.perf_counter()
    u.fit(data)
    fit_s = time.perf_counter() - start
    before = u.score()
    request = sample_nodes(data, ratio=ratio, seed=seed)
    report = u.unlearn(request)
    after = u.score()
    retained = request.apply(data)
    extras = u.bench_extras(data, request, retained)
    ref = u.reference()
    start = time.perf_counter()
    ref.fit(retained)
    retrain_s = time.perf_counter() - start
    stats = extras["partition_stats"]
    return {"before": before, "after": after, "unlearn_s": report.seconds, "fit_s": fit_s,
            "retrain_s": retrain_s, "single": extras["utility_single"],
            "single_s": extras["retrain_single_seconds"], "partition_s": u.partition_seconds_,
            "balance": stats["balance"], "fairness": stats["label_fairness"],
            "cut": stats["cut_edge_ratio"], "shards_hit": len(report.affected["shards"]),
            "weights": extras.get("similarity_weights"), "uniform": extras.get("weights_near_uniform"),
            "same_as_ref": bool(torch.equal(u.parameter_vector(), ref.parameter_vector()))}


def opengu(args) -> list[str]:
    lines = ["## OpenGU Table 4 protocol: node unlearning, micro-F1 after forgetting 10% of the training nodes", "",
             f"GUIDE here: {args.model.upper()}, Fast partition, mixup repair, similarity aggregation, "
             f"{args.shards} shards, {args.epochs} epochs per shard, 80/20 split (inductive: test nodes "
             f"unseen), {args.seeds} seed(s) (OpenGU: 10 runs).", "",
             "| dataset | ours: micro-F1 after unlearning | one model on the whole retained training graph "
             "| OpenGU Table 4 (GUIDE) |", "|---|---|---|---|"]
    for name in args.datasets:
        after, single = [], []
        for seed in range(args.seeds):
            data = load_dataset(name, split="0.8/0.2", seed=seed)
            r = run_one(data, args, "fast", "mixup", seed, 0.1)
            after.append(r["after"])
            single.append(r["single"])
        lines.append(f"| {name} | {fmt(after)} | {fmt(single)} | {OPENGU.get(name, 'n/a')} |")
    return lines


def grid(args) -> list[str]:
    lines = ["## Inductive setting: GUIDE-Fast/SR x repair vs one model on the whole training graph", "",
             f"{args.model.upper()}, {args.shards} shards, {args.epochs} epochs, split 0.6/0.2/0.2 "
             "(validation and test nodes unseen by partition, training and aggregation; predictions "
             "on the graph induced by them), forgetting 1% of the training nodes, seed 0. "
             "`unlearn s` is everything `unlearn` does (affected shards, kernel features); "
             "`retrain s` refits the whole GUIDE ensemble (partition fixed); `single` is one model "
             "trained on the whole retained training graph. balance = sum|n_i - n/k|/2n, fairness = "
             "mean total-variation distance of shard label histograms from the global one (lower is "
             "better for both).", "",
             "| dataset | partition | repair | F1 before | F1 after | F1 single | unlearn s | retrain s "
             "| single s | shards hit | partition s | balance | fairness | cut ratio | weights near-uniform | "
             "equals reference |", "|" + "---|" * 16]
    for name in args.datasets:
        data = load_dataset(name, split="0.6/0.2/0.2", seed=0)
        for partition in ("fast", "sr"):
            for repair in ("none", "zero", "mirror", "mixup"):
                r = run_one(data, args, partition, repair, 0, 0.01)
                lines.append(
                    f"| {name} | {partition} | {repair} | {r['before'] * 100:.2f} | {r['after'] * 100:.2f} "
                    f"| {r['single'] * 100:.2f} | {r['unlearn_s']:.2f} | {r['retrain_s']:.2f} | "
                    f"{r['single_s']:.2f} | {r['shards_hit']} | {r['partition_s']:.2f} | {r['balance']:.4f} | "
                    f"{r['fairness']:.3f} | {r['cut']:.3f} | {r['uniform']} | {r['same_as_ref']} |")
                print(lines[-1], flush=True)
                write("grid", lines)  # partial results survive an interrupted run
        lines.append("")
        lines.append(f"Effective similarity weights (last row, {name}): "
                     f"{[round(w, 4) for w in r['weights']]}")
        lines.append("")
    return lines


def partition(args) -> list[str]:
    lines = ["## GUIDE partition time, Coauthor Physics (training nodes of a 0.6/0.2/0.2 split)", "",
             "| method | nodes | shards | seconds | GPI iterations | SR iterations | balance | fairness | cut ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    data = load_dataset("physics", split="0.6/0.2/0.2", seed=0)
    for method in ("fast", "sr"):
        start = time.perf_counter()
        part = GUIDEPartitioner(method=method, seed=0).partition(data, args.shards, nodes="train")
        seconds = time.perf_counter() - start
        s = part.stats(data)
        lines.append(f"| {method} | {s['num_assigned']} | {args.shards} | {seconds:.1f} | "
                     f"{part.info.get('gpi_iterations')} | {part.info.get('sr_iterations', '-')} | "
                     f"{s['balance']:.4f} | {s['label_fairness']:.3f} | {s['cut_edge_ratio']:.3f} |")
        print(lines[-1], flush=True)
    return lines


def write(part: str, body: list[str]) -> str:
    text = "\n".join(header("python benchmarks/guide.py " + " ".join(sys.argv[1:])) + body) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"guide_{part}.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["opengu", "grid", "partition"])
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    parser.add_argument("--model", default="sage")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"opengu": opengu, "grid": grid, "partition": partition}[args.part](args)
    print(write(args.part, body))


if __name__ == "__main__":
    main()
