"""GUIDE benchmarks: OpenGU Table 4 row, the inductive Fast/SR x repair grid, and
partition time on Coauthor Physics.

Usage (each part writes benchmarks/results/guide_<part>.md):

    python benchmarks/guide.py opengu --datasets cora citeseer --model sgc --epochs 200 --seeds 10
    python benchmarks/guide.py grid --datasets cora citeseer --models sage gin
    python benchmarks/guide.py partition
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import header

from graphforget.data import load_dataset
from graphforget.exact import GUIDE
from graphforget.partition import GUIDEPartitioner
from graphforget.requests import sample_nodes

RESULTS = Path(__file__).resolve().parent / "results"
#: OpenGU (Fan et al., 2025), Table 4, GUIDE row: node unlearning, micro-F1 (%)
OPENGU = {"cora": "73.89 ± 2.18", "citeseer": "63.50 ± 0.71", "cs": "86.96 ± 0.15"}



def fmt(values: list[float], scale: float = 100.0) -> str:
    if len(values) == 1:
        return f"{values[0] * scale:.2f}"
    return f"{statistics.fmean(values) * scale:.2f} ± {statistics.stdev(values) * scale:.2f}"


def run_one(data, args, partition: str, repair: str, seed: int, ratio: float,
            model: str | None = None) -> dict:
    u = GUIDE(model=model or args.model, shards=args.shards, partition=partition, repair=repair,
              epochs=args.epochs, seed=seed)
    start = time.perf_counter()
    u.fit(data)
    fit_s = time.perf_counter() - start
    before = u.score()
    request = sample_nodes(data, ratio=ratio, seed=seed)
    report = u.unlearn(request)
    after = u.score()
    u.inference = "full"
    after_full = u.score()
    u.inference = "evaluation"
    retained = request.apply(data)
    extras = u.bench_extras(data, request, retained)
    ref = u.reference()
    start = time.perf_counter()
    ref.fit(retained)
    retrain_s = time.perf_counter() - start
    same = bool(torch.equal(u.parameter_vector(), ref.parameter_vector()))
    # then one more request for a single training node: the case sharding is built for
    one = sample_nodes(u.data_, count=1, seed=seed + 1)
    one_report = u.unlearn(one)
    stats = extras["partition_stats"]
    return {"before": before, "after": after, "after_full": after_full, "unlearn_s": report.seconds, "fit_s": fit_s,
            "one_s": one_report.seconds, "one_hit": len(one_report.affected["shards"]),
            "retrain_s": retrain_s, "single": extras["utility_single"],
            "single_s": extras["retrain_single_seconds"], "partition_s": u.partition_seconds_,
            "balance": stats["balance"], "fairness": stats["label_fairness"],
            "cut": stats["cut_edge_ratio"], "shards_hit": len(report.affected["shards"]),
            "weights": extras.get("similarity_weights"), "uniform": extras.get("weights_near_uniform"),
            "same_as_ref": same}


def f1_scores(u, data) -> tuple[float, float]:
    """Micro- and macro-F1 on the retained test nodes from one prediction (OpenGU's GUIDE
    code reports sklearn's average='macro', its other methods average='micro')."""
    from sklearn.metrics import f1_score

    pred = u.predict().cpu()
    test = data.test_mask & ~u.data_.forgotten_mask
    return (float(f1_score(data.y[test], pred[test], average="micro")),
            float(f1_score(data.y[test], pred[test], average="macro")))


def opengu(args) -> list[str]:
    """OpenGU Table 4 protocol: 80/20 split, 10% of the training nodes forgotten in one
    request, GUIDE as OpenGU configures it (SR, MixUp, 10 shards, similarity aggregation,
    prediction on the whole graph), micro- and macro-F1 after unlearning."""
    cols = ("micro_before", "micro_after", "macro_after", "micro_eval", "macro_eval", "single",
            "unlearn_s", "retrain_s", "single_s", "fairness", "cut")
    lines = ["## OpenGU Table 4 protocol: node unlearning, F1 after forgetting 10% of the training nodes", "",
             f"GUIDE here: {args.model.upper()} backbone, {args.partition.upper()} partition (beta = "
             f"{GUIDEPartitioner().beta:g}), {args.repair} repair, similarity aggregation, {args.shards} "
             f"shards, {args.epochs} epochs per shard, lr 0.01; 80/20 split (training nodes only in the "
             "partition and the shard graphs); one request forgetting 10% of the training nodes; "
             "seeds 0..n-1 (split, request and models). `full` = prediction on the whole retained graph "
             "(OpenGU's GUIDE predicts on the whole graph); `evaluation` = prediction on the graph induced "
             "by the test nodes only (GUIDE's own inductive protocol), same models. `single` = one "
             "backbone trained on the whole retained training graph (full inference). `unlearn s` is "
             "the whole `unlearn` call; `retrain s` refits the GUIDE ensemble on the retained data "
             "(partition fixed).", "",
             "| dataset | runs | micro-F1 before | **micro-F1 after (full)** | **macro-F1 after (full)** "
             "| micro-F1 after (evaluation) | macro-F1 after (evaluation) | single model micro-F1 "
             "| unlearn s | retrain s | single s | fairness | cut ratio | OpenGU Table 4 (GUIDE) |",
             "|" + "---|" * 14]
    for name in args.datasets:
        acc: dict[str, list[float]] = {c: [] for c in cols}
        for seed in range(args.seeds):
            data = load_dataset(name, split="0.8/0.2", seed=seed)
            u = GUIDE(model=args.model, shards=args.shards, partition=args.partition,
                      repair=args.repair, epochs=args.epochs, inference="full", seed=seed)
            u.fit(data)
            acc["micro_before"].append(f1_scores(u, data)[0])
            request = sample_nodes(data, ratio=0.1, seed=seed)
            report = u.unlearn(request)
            micro, macro = f1_scores(u, data)
            acc["micro_after"].append(micro)
            acc["macro_after"].append(macro)
            u.inference = "evaluation"
            micro, macro = f1_scores(u, data)
            acc["micro_eval"].append(micro)
            acc["macro_eval"].append(macro)
            u.inference = "full"
            retained = request.apply(data)
            extras = u.bench_extras(data, request, retained)
            acc["single"].append(extras["utility_single"])
            acc["single_s"].append(extras["retrain_single_seconds"])
            ref = u.reference()
            start = time.perf_counter()
            ref.fit(retained)
            acc["retrain_s"].append(time.perf_counter() - start)
            acc["unlearn_s"].append(report.seconds)
            stats = extras["partition_stats"]
            acc["fairness"].append(stats["label_fairness"])
            acc["cut"].append(stats["cut_edge_ratio"])
            print(name, seed, {c: round(v[-1], 4) for c, v in acc.items()}, flush=True)
        lines.append(
            f"| {name} | {args.seeds} | {fmt(acc['micro_before'])} | **{fmt(acc['micro_after'])}** | "
            f"**{fmt(acc['macro_after'])}** | {fmt(acc['micro_eval'])} | {fmt(acc['macro_eval'])} | "
            f"{fmt(acc['single'])} | {fmt(acc['unlearn_s'], 1)} | {fmt(acc['retrain_s'], 1)} | "
            f"{fmt(acc['single_s'], 1)} | {fmt(acc['fairness'], 1)} | {fmt(acc['cut'], 1)} | "
            f"{OPENGU.get(name, 'n/a')} |")
        write("opengu" + args.suffix, lines)
    return lines


def grid(args) -> list[str]:
    lines = ["## Inductive setting: GUIDE-Fast/SR x repair vs one model on the whole training graph", "",
             f"{args.shards} shards, {args.epochs} epochs, lr 0.01, split 0.6/0.2/0.2 (validation and test "
             "nodes unseen by partition, training and aggregation), guided partition with the default "
             f"beta = {GUIDEPartitioner().beta:g}, similarity aggregation, forgetting 1% of the training "
             "nodes in one request, seed 0. `F1` = micro-F1 on the test nodes predicted on the graph "
             "induced by the evaluation nodes (GUIDE's protocol, `inference=\"evaluation\"`); `F1 after "
             "(full)` = the same unlearned models predicting on the whole retained graph. `unlearn s` is "
             "everything `unlearn` does (affected shards, kernel features); `1-node s` / `1-node hit` "
             "time a further request forgetting one training node and count the shards it retrains; "
             "`retrain s` refits the whole GUIDE ensemble (partition fixed); `single` is one model "
             "trained on the whole retained training graph (evaluation-graph prediction). balance = sum|n_i - n/k|/2n, fairness = mean "
             "total-variation distance of shard label histograms from the global one (lower is better "
             "for both).", "",
             "| dataset | model | partition | repair | F1 before | F1 after | F1 after (full) | F1 single "
             "| unlearn s | shards hit | 1-node s | 1-node hit | retrain s | single s | partition s | balance "
             "| fairness | cut ratio | weights near-uniform | equals reference |", "|" + "---|" * 20]
    for name in args.datasets:
        data = load_dataset(name, split="0.6/0.2/0.2", seed=0)
        for model in args.models:
            for partition in ("fast", "sr"):
                for repair in ("none", "zero", "mirror", "mixup"):
                    r = run_one(data, args, partition, repair, 0, 0.01, model=model)
                    lines.append(
                        f"| {name} | {model} | {partition} | {repair} | {r['before'] * 100:.2f} | "
                        f"{r['after'] * 100:.2f} | {r['after_full'] * 100:.2f} | {r['single'] * 100:.2f} | "
                        f"{r['unlearn_s']:.2f} | {r['shards_hit']} | {r['one_s']:.2f} | {r['one_hit']} | "
                        f"{r['retrain_s']:.2f} | {r['single_s']:.2f} | {r['partition_s']:.2f} | {r['balance']:.4f} | "
                        f"{r['fairness']:.3f} | {r['cut']:.3f} | {r['uniform']} | {r['same_as_ref']} |")
                    print(lines[-1], flush=True)
                    write("grid" + args.suffix, lines)  # partial results survive an interrupted run
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
    parser.add_argument("--models", nargs="+", default=["sage", "gin"], help="grid part")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--partition", default="sr", help="opengu part: fast or sr")
    parser.add_argument("--repair", default="mixup", help="opengu part: repair kind")
    parser.add_argument("--suffix", default="", help="appended to the results file name")
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = {"opengu": opengu, "grid": grid, "partition": partition}[args.part](args)
    print(write(args.part + args.suffix, body))


if __name__ == "__main__":
    main()
