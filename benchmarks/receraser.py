"""RecEraser internals: the InBP/UBP/IBP partition time on Gowalla, and the attention
aggregator's training speed (full tables vs the mini-batch's rows).

Why a script: both time a component (``receraser_partition``, ``train_bpr`` on an
``AttentionAggregator``) outside any unlearning request, which a ``graphforget reproduce``
cell (fit, unlearn, retrain) cannot isolate. RecEraser vs SISA-random vs Retrain is a table
config: ``benchmarks/tables/receraser-recall-ndcg.yaml`` and ``receraser-gowalla.yaml``.

Usage (each part writes benchmarks/results/receraser_<part>.md):

    python benchmarks/receraser.py partition --dataset gowalla
    python benchmarks/receraser.py aggregator --datasets movielens100k gowalla
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from _common import header

from graphforget.recommendation import load_interactions, receraser_partition

RESULTS = Path(__file__).resolve().parent / "results"


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


def aggregator(args) -> list[str]:
    """Seconds per epoch of the attention aggregator's BPR training: full tables per
    mini-batch (the code before issue 6) against the batch's rows only (now)."""
    from graphforget.exact.receraser import AttentionAggregator
    from graphforget.recommendation import split_pairs, train_bpr

    lines = ["## Attention aggregator training: full tables vs mini-batch rows", "",
             f"{args.shards} shards, d=64, batch 2048 BPR triples, {args.agg_epochs} epoch(s) without "
             "early stopping, frozen shard embeddings drawn at random (std 0.1; timing does not depend "
             "on their values). `full` recomputes the attention over every user and item for each "
             "mini-batch (as `train_bpr(agg, ...)` did before); `rows` computes it for the batch's "
             "distinct users and items only (`rows_fn=AttentionAggregator.rows`), vectorised over shards "
             "with one batched matrix product. Both run the same optimisation (the unit test "
             "`test_aggregator_minibatch_rows_match_the_full_tables` checks equal parameters); "
             "`max |diff|` compares the parameters here.", "",
             "| dataset | training interactions | full s/epoch | rows s/epoch | speed-up | max abs diff of parameters |",
             "|---|---|---|---|---|---|"]
    for name in args.datasets:
        data = load_interactions(name, split="given" if name == "gowalla" else None)
        train = split_pairs(data, "train")
        nu, ni = int(data.num_users), int(data.num_items)
        g = torch.Generator().manual_seed(0)
        users = torch.randn(args.shards, nu, 64, generator=g) * 0.1
        items = torch.randn(args.shards, ni, 64, generator=g) * 0.1
        config = {"epochs": args.agg_epochs, "lr": 0.005, "weight_decay": 1e-4, "batch_size": 2048,
                  "eval_every": 5, "patience": None}
        reg = {"ego_fn": lambda m, u, i, j: 0.5 * m.l2() * u.numel()}
        seconds, models = {}, {}
        for mode in ("rows", "full"):
            torch.manual_seed(0)
            agg = AttentionAggregator(users, items)
            extra = {"rows_fn": lambda m, uu, ii: m.rows(uu, ii)} if mode == "rows" else {}
            start = time.perf_counter()
            train_bpr(agg, train, nu, ni, config, seed=0, **reg, **extra)
            seconds[mode] = (time.perf_counter() - start) / args.agg_epochs
            models[mode] = agg
            print(name, mode, round(seconds[mode], 2), flush=True)
        diff = max(float((a.detach() - b.detach()).abs().max()) for a, b in
                   zip(models["full"].parameters(), models["rows"].parameters(), strict=True))
        lines.append(f"| {name} | {train.size(1)} | {seconds['full']:.2f} | {seconds['rows']:.2f} | "
                     f"{seconds['full'] / seconds['rows']:.1f}x | {diff:.1e} |")
        write("aggregator", lines)
    return lines


def write(name: str, body: list[str]) -> str:
    text = "\n".join(header("python benchmarks/receraser.py " + " ".join(sys.argv[1:])) + body) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"receraser_{name}.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["partition", "aggregator"])
    parser.add_argument("--dataset", default="gowalla", help="partition part")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["inbp", "ubp", "ibp"], help="partition part")
    parser.add_argument("--datasets", nargs="+", default=["movielens100k"], help="aggregator part")
    parser.add_argument("--agg-epochs", type=int, default=2, help="aggregator part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"partition": partition, "aggregator": aggregator}[args.part](args)
    name = "aggregator" if args.part == "aggregator" else f"partition_{args.dataset}"
    print(write(name, body))


if __name__ == "__main__":
    main()
