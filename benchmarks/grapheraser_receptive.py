"""GraphEraser's transductive shard training, before and after issue 26: shard-training
seconds of a fit, the one-node unlearning speed-up over retraining one model, and whether
the variants give the same model.

Three variants, each in this process on the same seed, one after the other, so their
ratios are measured under one load:

- ``before``: every shard trains on its whole shard graph with dense input features (the
  code path before issue 26);
- ``receptive``: on its training nodes' receptive field inside the shard graph, dense
  features;
- ``now``: the receptive field, and the first layer multiplies the bag-of-words features
  as a sparse matrix (``graphforget.models._sparse.sparse_features``; GraphSAGE projects
  before it aggregates). This is the library as shipped.

Why a script: the earlier code paths are reachable only by switching off the private
``_train_hops`` hook (as ``tests/exact/test_sharded.py`` does) and by
``GRAPHFORGET_SPARSE_FEATURES=never``; a reproduce cell runs the library as shipped.

Protocol: ``grapheraser-partition-aggregator``'s speed-up row (GraphSAGE, 0.6/0.2/0.2, 20
BLPA shards, learned aggregator, 100 epochs, one training node forgotten), plus GCN
(GraphEraser's default backbone), plus ``before`` and ``now`` refitted with dropout 0,
whose predictions should agree.

    python benchmarks/grapheraser_receptive.py --datasets cora citeseer --seeds 0 1
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


VARIANTS = {"before": (False, "never"), "receptive": (True, "never"), "now": (True, "auto")}


def _build(model: str, seed: int, receptive: bool, **extra) -> GraphEraser:
    u = GraphEraser(seed=seed, **{**SETTING, "model": model}, **extra)
    if not receptive:
        u._train_hops = lambda: None  # the whole shard graph: the code path before issue 26
    return u


def _features(policy: str) -> None:
    os.environ["GRAPHFORGET_SPARSE_FEATURES"] = policy


def run(dataset: str, model: str, seed: int) -> dict:
    data = load_dataset(dataset, split="0.6/0.2/0.2", seed=seed)
    node = int(data.train_mask.nonzero().view(-1)[torch.randperm(int(data.train_mask.sum()),
                                                 generator=torch.Generator().manual_seed(seed))[0]])
    out: dict = {"dataset": dataset, "model": model, "seed": seed}
    for tag, (receptive, policy) in VARIANTS.items():
        _features(policy)
        u = _build(model, seed, receptive)
        start = time.perf_counter()
        u.fit(data)
        out[f"fit_{tag}"] = time.perf_counter() - start
        out[f"shard_train_{tag}"] = u.train_seconds_
        report = u.unlearn(NodeRequest([node]))
        out[f"unlearn_{tag}"] = report.seconds
        out[f"f1_{tag}"] = u.score()
        if tag == "now":
            out["hops"] = u._train_hops()
        if tag != "receptive":
            out[f"retrain_single_{tag}"] = u.bench_extras(data, NodeRequest([node]), u.data_)["retrain_single_seconds"]
        print(dataset, model, seed, tag, {k: round(v, 3) for k, v in out.items() if isinstance(v, float)}, flush=True)
    # dropout off: the same model before and now, up to float rounding
    _features("auto")
    a = _build(model, seed, True, dropout=0.0).fit(data)
    _features("never")
    b = _build(model, seed, False, dropout=0.0).fit(data)
    _features("auto")
    out["max_logit_diff_dropout0"] = float((a.predict_logits() - b.predict_logits()).abs().max())
    out["same_predictions_dropout0"] = bool(torch.equal(a.predict(), b.predict()))
    out["agreement_dropout0"] = float((a.predict() == b.predict()).float().mean())
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
    lines += ["## GraphEraser: shard training before and after issue 26", "",
              "Setting: " + ", ".join(f"{k}={v}" for k, v in SETTING.items() if k != "model")
              + ", backbone per row (GraphSAGE: the table's; GCN: GraphEraser's default), split 0.6/0.2/0.2; "
              "one seeded training node forgotten. `before` trains every transductive shard on its "
              "whole shard graph (all validation and test nodes included) with dense input features, "
              "the code path before issue 26; `receptive` on its training nodes' receptive field inside "
              "the shard graph, dense features; `now` on the receptive field with the first layer "
              "multiplying the bag-of-words features as a sparse matrix (the library as shipped). "
              "`hops` = the layers, plus one for GCN, whose messages are scaled by their source's degree. "
              "Each row runs the variants in one process on the same seed. `retrain one` is one model of "
              "the row's backbone trained on the whole retained graph (GraphEraser's speed-up baseline), "
              "timed once per row with dense features (before) and as shipped (now). Dropout-0 columns "
              "refit `before` and `now` with dropout 0.", "",
              "| dataset | backbone | hops | seed | shard training s (before / receptive / now) | "
              "fit speed-up (receptive / now) | one-node unlearn s (before / now) | retrain one s (before / now) | "
              "speed-up vs retrain one (before / now) | test F1 (before / now) | dropout 0: same predictions | "
              "dropout 0: max logit diff |",
              "|" + "---|" * 12]
    for r in rows:
        b, c, n = r["shard_train_before"], r["shard_train_receptive"], r["shard_train_now"]
        same = "yes" if r["same_predictions_dropout0"] else f"no ({100 * r['agreement_dropout0']:.2f}% agree)"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['hops']} | {r['seed']} | {b:.2f} / {c:.2f} / {n:.2f} | "
            f"{b / c:.2f}x / {b / n:.2f}x | "
            f"{r['unlearn_before']:.3f} / {r['unlearn_now']:.3f} | "
            f"{r['retrain_single_before']:.3f} / {r['retrain_single_now']:.3f} | "
            f"{r['retrain_single_before'] / r['unlearn_before']:.2f}x / "
            f"{r['retrain_single_now'] / r['unlearn_now']:.2f}x | "
            f"{100 * r['f1_before']:.2f} / {100 * r['f1_now']:.2f} | {same} | {r['max_logit_diff_dropout0']:.1e} |")
    for d, m in ((d, m) for d in args.datasets for m in args.models):
        rs = [r for r in rows if r["dataset"] == d and r["model"] == m]
        fit_r = sum(r["shard_train_before"] / r["shard_train_receptive"] for r in rs) / len(rs)
        fit_n = sum(r["shard_train_before"] / r["shard_train_now"] for r in rs) / len(rs)
        w = sum(r["retrain_single_before"] / r["unlearn_before"] for r in rs) / len(rs)
        c = sum(r["retrain_single_now"] / r["unlearn_now"] for r in rs) / len(rs)
        lines += ["", f"{d}, {m}: mean over {len(rs)} seed(s): shard training {fit_n:.2f}x faster than before "
                  f"({fit_r:.2f}x from the receptive field alone); one-node speed-up over retraining one model "
                  f"{w:.2f}x (before) -> {c:.2f}x (now)."]
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.2f}."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
