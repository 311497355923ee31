"""RecEraser benchmarks: RecEraser vs Retrain vs SISA-random on MovieLens-100K, and the
InBP partition time on Gowalla.

Usage (each part writes benchmarks/results/receraser_<part>.md):

    python benchmarks/receraser.py compare --dataset movielens100k --model bpr
    python benchmarks/receraser.py partition --dataset gowalla
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

from graphforget.recommendation import (
    RecEraser,
    RecommendationRetrain,
    load_interactions,
    receraser_partition,
    sample_interactions,
    sample_users,
)

RESULTS = Path(__file__).resolve().parent / "results"
#: RecEraser (Chen et al., WWW 2022), Table 3 reports ML-1M / Yelp / Amazon, not ML-100K;
#: we quote no paper number for MovieLens-100K.


def header(command: str) -> list[str]:
    return [f"Command: `{command}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch "
            f"{torch.__version__}, {torch.get_num_threads()} threads; date: "
            f"{datetime.date.today().isoformat()}", ""]


prefix: list[str] = []


def compare(args) -> list[str]:
    data = load_interactions(args.dataset, split=args.split)
    lines = [f"## {args.dataset}, {args.model}: Recall@20 / NDCG@20 before and after forgetting 1%", "",
             f"{int((data.edge_split == 0).sum())} training interactions, {data.num_users} users, "
             f"{data.num_items} items; seeded 0.8/0.1/0.1 split; {args.shards} shards; d=64; early "
             "stopping on validation Recall@20. `unlearn s` is the whole `unlearn` call (affected "
             "shards + aggregator retraining for RecEraser); Retrain refits one model from scratch.", "",
             "| method | request | shards hit | Recall@20 before | NDCG@20 before | Recall@20 after | "
             "NDCG@20 after | unlearn s | of which aggregator s | fit s |", "|" + "---|" * 10]
    methods = {
        "RecEraser (InBP, attention)": lambda: RecEraser(model=args.model, shards=args.shards,
                                                         partition="inbp", seed=0),
        "SISA-random (mean)": lambda: RecEraser(model=args.model, shards=args.shards, partition="random",
                                                aggregator="mean", seed=0),
        "Retrain (one model)": lambda: RecommendationRetrain(model=args.model, seed=0),
    }
    chosen = {"receraser": "RecEraser (InBP, attention)", "sisa": "SISA-random (mean)",
              "retrain": "Retrain (one model)"}
    methods = {chosen[m]: methods[chosen[m]] for m in args.compare}
    for name, make in methods.items():
        start = time.perf_counter()
        base = make().fit(data)
        fit_s = time.perf_counter() - start
        before = base.evaluate("test", ks=(20,))
        for kind in args.requests:
            u = make().fit(data) if kind == "user" else base
            request = sample_interactions(data, ratio=0.01, seed=0) if kind == "interaction" \
                else sample_users(data, ratio=0.01, seed=0)
            report = u.unlearn(request)
            after = u.evaluate("test", ks=(20,))
            hit = report.affected.get("shards", "-")
            hit = len(hit) if isinstance(hit, list) else hit
            lines.append(f"| {name} | {kind} ({len(request)}) | {hit} | {before['recall@20']:.4f} | "
                         f"{before['ndcg@20']:.4f} | {after['recall@20']:.4f} | {after['ndcg@20']:.4f} | "
                         f"{report.seconds:.1f} | {report.breakdown.get('aggregator', 0.0):.1f} | {fit_s:.1f} |")
            print(lines[-1], flush=True)
            write(f"compare_{args.dataset}_{args.model}", prefix + lines)
    return lines


def partition(args) -> list[str]:
    data = load_interactions(args.dataset, split="given")
    m = int((data.edge_split == 0).sum())
    lines = [f"## Partition time on {args.dataset} ({m} training interactions, {data.num_users} users, "
             f"{data.num_items} items), {args.shards} shards", "",
             "Includes pre-training the BPR-MF embeddings (20 epochs, d=32) on all training "
             "interactions, which the data-dependent partitions need.", "",
             "| partition | seconds | of which embeddings | k-means iterations | max shard / mean |",
             "|---|---|---|---|---|"]
    for method in args.methods:
        part = receraser_partition(data, args.shards, method, seed=0)
        sizes = torch.bincount(part.edge_shard[part.edge_shard >= 0], minlength=args.shards).double()
        lines.append(f"| {method} | {part.seconds:.1f} | {part.info.get('embedding_seconds', 0.0):.1f} | "
                     f"{part.info.get('iterations', '-')} | {float(sizes.max() / sizes.mean()):.3f} |")
        print(lines[-1], flush=True)
    return lines


def write(name: str, body: list[str]) -> str:
    text = "\n".join(header("python benchmarks/receraser.py " + " ".join(sys.argv[1:])) + body) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"receraser_{name}.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["compare", "partition"])
    parser.add_argument("--dataset", default="movielens100k")
    parser.add_argument("--split", default=None)
    parser.add_argument("--model", default="bpr")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["inbp", "ubp", "ibp"])
    parser.add_argument("--compare", nargs="+", default=["receraser", "sisa", "retrain"])
    parser.add_argument("--requests", nargs="+", default=["interaction", "user"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"compare": compare, "partition": partition}[args.part](args)
    print(write(f"{args.part}_{args.dataset}_{args.model}", body))


if __name__ == "__main__":
    main()
