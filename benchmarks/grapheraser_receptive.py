"""GraphEraser's transductive shard training on the training nodes' receptive field
against training on the whole shard graph (issue 26): shard-training seconds of a fit,
the one-node unlearning speed-up over retraining one model, and whether the two give the
same model.

Why a script: "the whole shard graph" is the code path before issue 26, reachable only by
switching off the private ``_train_hops`` hook (as ``tests/exact/test_sharded.py`` does); a
reproduce cell runs the library as shipped. Both variants run here in one process, one
after the other on the same seed, so their ratio is measured under one load.

Protocol: ``grapheraser-partition-aggregator``'s speed-up row (GraphSAGE, 0.6/0.2/0.2, 20
BLPA shards, learned aggregator, 100 epochs, one training node forgotten), plus the same
fit with dropout 0 in both variants, whose predictions must be identical.

    python benchmarks/grapheraser_receptive.py --datasets cora citeseer --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from _common import header

from graphforget.data import load_dataset
from graphforget.exact import GraphEraser
from graphforget.requests import NodeRequest

RESULTS = Path(__file__).resolve().parent / "results"
SETTING = {"model": "sage", "shards": 20, "partition": "blpa", "aggregator": "learned", "epochs": 100}


def _build(model: str, seed: int, receptive: bool, **extra) -> GraphEraser:
    u = GraphEraser(seed=seed, **{**SETTING, "model": model}, **extra)
    if not receptive:
        u._train_hops = lambda: None  # the whole shard graph: the code path before issue 26
    return u


def run(dataset: str, model: str, seed: int) -> dict:
    data = load_dataset(dataset, split="0.6/0.2/0.2", seed=seed)
    node = int(data.train_mask.nonzero().view(-1)[torch.randperm(int(data.train_mask.sum()),
                                                 generator=torch.Generator().manual_seed(seed))[0]])
    out: dict = {"dataset": dataset, "model": model, "seed": seed}
    retained = None
    for receptive in (True, False):
        tag = "receptive" if receptive else "whole"
        u = _build(model, seed, receptive)
        start = time.perf_counter()
        u.fit(data)
        out[f"fit_{tag}"] = time.perf_counter() - start
        out[f"shard_train_{tag}"] = u.train_seconds_
        report = u.unlearn(NodeRequest([node]))
        out[f"unlearn_{tag}"] = report.seconds
        out[f"f1_{tag}"] = u.score()
        retained = u.data_
        if receptive:
            out["hops"] = u._train_hops()
            out["retrain_single"] = u.bench_extras(data, NodeRequest([node]), retained)["retrain_single_seconds"]
        print(dataset, model, seed, tag, {k: round(v, 3) for k, v in out.items() if isinstance(v, float)}, flush=True)
    # dropout off: the same model either way
    a = _build(model, seed, True, dropout=0.0).fit(data)
    b = _build(model, seed, False, dropout=0.0).fit(data)
    out["max_logit_diff_dropout0"] = float((a.predict_logits() - b.predict_logits()).abs().max())
    out["same_predictions_dropout0"] = bool(torch.equal(a.predict(), b.predict()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    parser.add_argument("--models", nargs="+", default=["sage", "gcn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default=str(RESULTS / "grapheraser_receptive.md"))
    args = parser.parse_args()
    SETTING["epochs"] = args.epochs
    rows = [run(d, m, s) for d in args.datasets for m in args.models for s in args.seeds]
    lines = header("python benchmarks/grapheraser_receptive.py " + " ".join(sys.argv[1:]))
    lines += ["## GraphEraser: shards trained on the receptive field vs the whole shard graph", "",
              "Setting: " + ", ".join(f"{k}={v}" for k, v in SETTING.items() if k != "model")
              + ", backbone per row (GraphSAGE: the table's; GCN: GraphEraser's default), split 0.6/0.2/0.2; "
              "one seeded training node forgotten. `whole` trains every transductive shard on its "
              "whole shard graph (all validation and test nodes included; before issue 26), "
              "`receptive` on its training nodes' receptive field inside the shard graph (now): "
              "`hops` = the layers, plus one for GCN, whose messages are scaled by their source's degree. Each row runs both variants in one process on the same seed; "
              "`retrain one` is one GraphSAGE trained on the whole retained graph (GraphEraser's "
              "speed-up baseline), timed once per row. Dropout-0 columns refit both variants "
              "with dropout 0.", "",
              "| dataset | backbone | hops | seed | shard training s (whole / receptive) | fit speed-up | "
              "one-node unlearn s (whole / receptive) | retrain one s | speed-up vs retrain one "
              "(whole / receptive) | test F1 (whole / receptive) | dropout 0: same predictions | "
              "dropout 0: max logit diff |",
              "|" + "---|" * 12]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['hops']} | {r['seed']} | {r['shard_train_whole']:.2f} / {r['shard_train_receptive']:.2f} | "
            f"{r['shard_train_whole'] / r['shard_train_receptive']:.2f}x | "
            f"{r['unlearn_whole']:.3f} / {r['unlearn_receptive']:.3f} | {r['retrain_single']:.3f} | "
            f"{r['retrain_single'] / r['unlearn_whole']:.2f}x / {r['retrain_single'] / r['unlearn_receptive']:.2f}x | "
            f"{100 * r['f1_whole']:.2f} / {100 * r['f1_receptive']:.2f} | "
            f"{'yes' if r['same_predictions_dropout0'] else 'no'} | {r['max_logit_diff_dropout0']:.1e} |")
    for d, m in ((d, m) for d in args.datasets for m in args.models):
        rs = [r for r in rows if r["dataset"] == d and r["model"] == m]
        fit = sum(r["shard_train_whole"] / r["shard_train_receptive"] for r in rs) / len(rs)
        w = sum(r["retrain_single"] / r["unlearn_whole"] for r in rs) / len(rs)
        c = sum(r["retrain_single"] / r["unlearn_receptive"] for r in rs) / len(rs)
        lines += ["", f"{d}, {m}: mean over {len(rs)} seed(s): shard training {fit:.2f}x faster; one-node "
                  f"speed-up over retraining one model {w:.2f}x (whole) -> {c:.2f}x (receptive)."]
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.2f}."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
