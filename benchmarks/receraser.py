"""RecEraser benchmarks: RecEraser vs Retrain vs SISA-random on MovieLens-100K and Gowalla,
the InBP partition time on Gowalla, and the attention aggregator's training speed.

Usage (each part writes benchmarks/results/receraser_<part>.md):

    python benchmarks/receraser.py compare --dataset movielens100k --model bpr
    python benchmarks/receraser.py compare --dataset gowalla --model lightgcn --epochs 20
    python benchmarks/receraser.py partition --dataset gowalla
    python benchmarks/receraser.py aggregator --datasets movielens100k gowalla
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from _common import header

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



def compare(args) -> list[str]:
    """RecEraser vs SISA-random (mean) vs one retrained model: fit once, then serve each
    request on a copy of the fitted model (so both requests start from the same state)."""
    split = args.split or ("given" if args.dataset == "gowalla" else None)
    data = load_interactions(args.dataset, split=split)
    train_kw = {"epochs": args.epochs, "eval_every": args.eval_every, "batch_size": args.batch_size}
    shard_kw = {**train_kw, "aggregator_epochs": args.aggregator_epochs}
    lines = [f"## {args.dataset}, {args.model}: Recall@20 / NDCG@20 before and after forgetting 1%", "",
             f"{int((data.edge_split == 0).sum())} training interactions, {data.num_users} users, "
             f"{data.num_items} items; split `{split or '0.8/0.1/0.1 (seeded)'}`; {args.shards} shards; d=64; "
             f"at most {args.epochs} epochs per model (aggregator: {args.aggregator_epochs}), batch "
             f"{args.batch_size} BPR triples, early stopping on validation Recall@20 "
             f"checked every {args.eval_every} epochs (patience 3); seed 0. One request forgetting 1% of "
             "the training interactions, one forgetting 1% of the users (all their interactions), each "
             "served on a copy of the same fitted model. `unlearn s` is the whole `unlearn` call: for "
             "Retrain it is retraining one model from scratch on the retained data.", "",
             "| method | request | shards hit | Recall@20 before | NDCG@20 before | Recall@20 after | "
             "NDCG@20 after | unlearn s | of which shards s | of which aggregator s | fit s |",
             "|" + "---|" * 11]
    methods = {
        "receraser": ("RecEraser (InBP, attention)", lambda: RecEraser(
            model=args.model, shards=args.shards, partition="inbp", seed=0, **shard_kw)),
        "sisa": ("SISA-random (mean)", lambda: RecEraser(
            model=args.model, shards=args.shards, partition="random", aggregator="mean", seed=0, **shard_kw)),
        "retrain": ("Retrain (one model)", lambda: RecommendationRetrain(model=args.model, seed=0, **train_kw)),
    }
    for key in args.compare:
        name, make = methods[key]
        start = time.perf_counter()
        base = make().fit(data)
        fit_s = time.perf_counter() - start
        before = base.evaluate("test", ks=(20,))
        print(name, "fit", round(fit_s, 1), before, flush=True)
        for kind in args.requests:
            u = copy.deepcopy(base)
            request = sample_interactions(data, ratio=0.01, seed=0) if kind == "interaction" \
                else sample_users(data, ratio=0.01, seed=0)
            report = u.unlearn(request)
            after = u.evaluate("test", ks=(20,))
            hit = report.affected.get("shards", "-")
            hit = len(hit) if isinstance(hit, list) else hit
            b = report.breakdown
            lines.append(f"| {name} | {kind} ({len(request)}) | {hit} | {before['recall@20']:.4f} | "
                         f"{before['ndcg@20']:.4f} | {after['recall@20']:.4f} | {after['ndcg@20']:.4f} | "
                         f"{report.seconds:.1f} | {b.get('retrain_shards', b.get('retrain', 0.0)):.1f} | "
                         f"{b.get('aggregator', 0.0):.1f} | {fit_s:.1f} |")
            print(lines[-1], flush=True)
            write(f"compare_{args.dataset}_{args.model}{args.tag}", lines)
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
    parser.add_argument("part", choices=["compare", "partition", "aggregator"])
    parser.add_argument("--dataset", default="movielens100k")
    parser.add_argument("--split", default=None)
    parser.add_argument("--model", default="bpr")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100, help="compare part: max epochs per model")
    parser.add_argument("--eval-every", type=int, default=5, help="compare part")
    parser.add_argument("--batch-size", type=int, default=2048, help="compare part")
    parser.add_argument("--aggregator-epochs", type=int, default=30, help="compare part")
    parser.add_argument("--methods", nargs="+", default=["inbp", "ubp", "ibp"])
    parser.add_argument("--compare", nargs="+", default=["receraser", "sisa", "retrain"])
    parser.add_argument("--tag", default="", help="compare part: suffix of the result file (to run "
                        "the methods of one comparison in separate processes)")
    parser.add_argument("--requests", nargs="+", default=["interaction", "user"])
    parser.add_argument("--datasets", nargs="+", default=["movielens100k"], help="aggregator part")
    parser.add_argument("--agg-epochs", type=int, default=2, help="aggregator part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"compare": compare, "partition": partition, "aggregator": aggregator}[args.part](args)
    name = {"aggregator": "aggregator", "partition": f"partition_{args.dataset}"}.get(
        args.part, f"{args.part}_{args.dataset}_{args.model}{args.tag}")
    print(write(name, body))


if __name__ == "__main__":
    main()
