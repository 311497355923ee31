"""RecEraser internals: the InBP/UBP/IBP partition time on Gowalla, the attention
aggregator's training speed (full tables vs the mini-batch's rows), and the parts of one
``unlearn`` call (shards, aggregator) against retraining one model.

Why a script: the first two time a component (``receraser_partition``, ``train_bpr`` on an
``AttentionAggregator``) outside any unlearning request, which a ``graphforget reproduce``
cell (fit, unlearn, retrain) cannot isolate; ``unlearn`` serves several requests and
aggregator modes on copies of one fit (cached on disk with ``--fitted``) beside one retrained
model, where a cell would refit RecEraser's exact reference too (a second 17-minute fit on
Gowalla). RecEraser vs SISA-random vs Retrain is a table config:
``benchmarks/tables/receraser-recall-ndcg.yaml`` and ``receraser-gowalla.yaml``.

Usage (each part writes benchmarks/results/receraser_<part>.md):

    python benchmarks/receraser.py partition --dataset gowalla
    python benchmarks/receraser.py aggregator --datasets movielens100k gowalla
    python benchmarks/receraser.py unlearn --dataset gowalla --model bpr --epochs 20 \
        --batch-size 8192 --fitted /tmp/receraser-gowalla-bpr
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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


def unlearn(args) -> list[str]:
    """RecEraser (InBP, attention) fitted once; each request (and aggregator update mode)
    served on a copy; one model of the same kind retrained on the same retained data."""
    from graphforget.recommendation import RecEraser, RecommendationRetrain

    split = args.split or ("given" if args.dataset == "gowalla" else None)
    data = load_interactions(args.dataset, split=split)
    train_kw = {"epochs": args.epochs, "eval_every": args.eval_every, "batch_size": args.batch_size}
    fitted = Path(args.fitted) if args.fitted else None
    if fitted is not None and (fitted / "unlearner.json").is_file():
        base = RecEraser.load(fitted, data=data)
        fit_info = json.loads((fitted.parent / (fitted.name + ".fit.json")).read_text())
    else:
        base = RecEraser(model=args.model, shards=args.shards, partition="inbp", seed=0,
                         aggregator_epochs=args.aggregator_epochs, **train_kw)
        start = time.perf_counter()
        base.fit(data)
        fit_info = {"seconds": time.perf_counter() - start, "load_start": os.getloadavg()[0],
                    "aggregator_epochs_run": base.aggregator_info_.get("epochs"),
                    "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
        if fitted is not None:
            base.save(fitted)
            (fitted.parent / (fitted.name + ".fit.json")).write_text(json.dumps(fit_info))
    print("fit", fit_info, flush=True)
    if args.fit_only:
        return [f"fit only: {fit_info}"]
    before = base.evaluate("test", ks=(20,))
    lines = [f"## {args.dataset}, {args.model}: one `unlearn` call against retraining one model", "",
             f"{int((data.edge_split == 0).sum())} training interactions, {data.num_users} users, "
             f"{data.num_items} items; split `{split or '0.8/0.1/0.1 (seeded)'}`; {args.shards} shards "
             f"(InBP); d=64; at most {args.epochs} epochs per model (aggregator fit: "
             f"{args.aggregator_epochs}), batch {args.batch_size} BPR triples, early stopping on "
             f"validation Recall@20 checked every {args.eval_every} epochs (patience 3); seed 0. "
             "Each request is served on a copy of one fitted RecEraser"
             + (f" (fitted by an earlier process of this script and loaded from `--fitted`: fit "
                f"{fit_info['seconds']:.1f} s at load {fit_info['load_start']:.2f}, {fit_info['date']} UTC)"
                if fitted is not None else f" (fit {fit_info['seconds']:.1f} s in this run)")
             + ". `Retrain` fits one model of the same kind from scratch on the same retained data, "
             "in this run, right after the RecEraser request; `speed-up` is its time over the "
             "`unlearn` call's.", "",
             "| method | aggregator update | request | shards hit | Recall@20 before | NDCG@20 before | "
             "Recall@20 after | NDCG@20 after | unlearn s | of which shards s | of which aggregator s "
             "| aggregator rows trained on | speed-up vs Retrain |",
             "|" + "---|" * 13]
    for kind in args.requests:
        request = _request(data, kind)
        rows = []
        variants = [(m, on) for m in args.modes for on in (args.update_on if m == "incremental" else [None])]
        for mode, on in variants:
            u = copy.deepcopy(base).set_params(aggregator_update=mode)
            if on is not None:
                u.set_params(aggregator_update_on=on)
            report = u.unlearn(request)
            after = u.evaluate("test", ks=(20,))
            b, d = report.breakdown, report.diagnostics
            label = mode if on is None else f"{mode} (on {on})"
            rows.append((label, report, after, b, d))
            print(kind, label, round(report.seconds, 1), b, after, flush=True)
        single = RecommendationRetrain(model=args.model, seed=0, **train_kw)
        start = time.perf_counter()
        single.fit(u.data_)
        retrain_s = time.perf_counter() - start
        single_after = single.evaluate("test", ks=(20,))
        for mode, report, after, b, d in rows:
            lines.append(f"| RecEraser (InBP, attention) | {mode} | {kind} ({len(request)}) | "
                         f"{len(report.affected['shards'])} | {before['recall@20']:.4f} | "
                         f"{before['ndcg@20']:.4f} | {after['recall@20']:.4f} | {after['ndcg@20']:.4f} | "
                         f"{report.seconds:.1f} | {b['retrain_shards']:.1f} | {b['aggregator']:.1f} | "
                         f"{d.get('aggregator_train_interactions', '-')} | "
                         f"{retrain_s / report.seconds:.2f}x |")
        lines.append(f"| Retrain (one model) | - | {kind} ({len(request)}) | - | - | - | "
                     f"{single_after['recall@20']:.4f} | {single_after['ndcg@20']:.4f} | {retrain_s:.1f} | "
                     f"{retrain_s:.1f} | 0.0 | - | 1.00x |")
        print(lines[-1], flush=True)
        write(f"unlearn_{args.dataset}_{args.model}", lines)
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.2f}."]
    if args.before and Path(args.before).is_file():
        old = Path(args.before).read_text().splitlines()
        shown = os.path.relpath(args.before, RESULTS.parent.parent)
        lines += ["", f"### Before (aggregator refit from scratch): rows copied from `{shown}`", "",
                  "That earlier run fitted and served the same requests (same seeds and settings) "
                  "with the code before the incremental aggregator update:", ""]
        lines += [line for line in old if line.startswith("|") and "SISA" not in line]
    return lines


def _request(data, kind: str):
    """``interaction``/``user``: 1% of the training interactions / users (every shard hit);
    ``one-interaction``/``one-user``: a single one (one shard hit: the right-to-be-forgotten
    case, and the request RecEraser's paper times)."""
    from graphforget.recommendation import sample_interactions, sample_users

    if kind == "interaction":
        return sample_interactions(data, ratio=0.01, seed=0)
    if kind == "user":
        return sample_users(data, ratio=0.01, seed=0)
    if kind == "one-interaction":
        return sample_interactions(data, count=1, seed=0)
    if kind == "one-user":
        return sample_users(data, count=1, seed=0)
    raise SystemExit(f"unknown request kind {kind!r}")


def write(name: str, body: list[str]) -> str:
    text = "\n".join(header("python benchmarks/receraser.py " + " ".join(sys.argv[1:])) + body) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"receraser_{name}.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["partition", "aggregator", "unlearn"])
    parser.add_argument("--dataset", default="gowalla", help="partition and unlearn parts")
    parser.add_argument("--split", default=None, help="unlearn part (gowalla: given)")
    parser.add_argument("--model", default="bpr", help="unlearn part")
    parser.add_argument("--epochs", type=int, default=20, help="unlearn part: max epochs per model")
    parser.add_argument("--eval-every", type=int, default=5, help="unlearn part")
    parser.add_argument("--batch-size", type=int, default=8192, help="unlearn part")
    parser.add_argument("--aggregator-epochs", type=int, default=30, help="unlearn part")
    parser.add_argument("--requests", nargs="+", default=["interaction", "user"], help="unlearn part")
    parser.add_argument("--update-on", nargs="+", default=["sample"], choices=["sample", "users"],
                        help="unlearn part: the incremental update's rows (aggregator_update_on)")
    parser.add_argument("--modes", nargs="+", default=["incremental"], choices=["incremental", "full"],
                        help="unlearn part: RecEraser's aggregator_update values to serve each request with")
    parser.add_argument("--fitted", default=None, help="unlearn part: folder caching the fitted RecEraser "
                        "(fitted and saved there when absent)")
    parser.add_argument("--fit-only", action="store_true", help="unlearn part: fit (and save) only")
    parser.add_argument("--before", default=str(RESULTS / "receraser_compare_gowalla_bpr.md"),
                        help="unlearn part: earlier results whose rows are copied below the new ones")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["inbp", "ubp", "ibp"], help="partition part")
    parser.add_argument("--datasets", nargs="+", default=["movielens100k"], help="aggregator part")
    parser.add_argument("--agg-epochs", type=int, default=2, help="aggregator part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"partition": partition, "aggregator": aggregator, "unlearn": unlearn}[args.part](args)
    if args.part == "unlearn" and args.fit_only:
        print(body[0])
        return
    name = {"aggregator": "aggregator", "partition": f"partition_{args.dataset}"}.get(
        args.part, f"unlearn_{args.dataset}_{args.model}")
    print(write(name, body))


if __name__ == "__main__":
    main()
