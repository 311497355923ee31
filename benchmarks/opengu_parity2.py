"""Unlearning time, speed-up over retraining and membership inference on the forget set for
GraphRevoker, MEGU, SGU, D2DGN and GUKD (issue #24, "OpenGU parity II"), at OpenGU's Table 4
protocol (SGC, 80/20 split, 10% of the training nodes forgotten in one request).

Usage (writes benchmarks/results/opengu_parity2.md):

    OMP_NUM_THREADS=1 python benchmarks/opengu_parity2.py --datasets cora citeseer --seeds 1

Every method's cell also retrains the backbone it is compared with (``retrain s``; for
GraphRevoker that is its own exact reference, every shard and the aggregator refitted), and
runs the loss-threshold MIA on the forgotten nodes against test nodes for both the unlearned
and the retrained model (AUC 0.5 = the forgotten nodes look like unseen ones).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _common import header

from graphforget.bench.runner import CellSpec, run_bench

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = {"retrain": {}, "graphrevoker": {"shards": 10, "aggregator_nodes": "train"},
           "megu": {}, "sgu": {}, "d2dgn": {}, "gukd": {}}


def col(records: list[dict], key: str) -> list:
    return [r.get(key) for r in records]


def fmt(values: list[float], digits: int = 2, scale: float = 1.0) -> str:
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.fmean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--out", default=str(RESULTS / "opengu_parity2.md"))
    args = p.parse_args(argv)
    lines = ["# OpenGU parity II: unlearning time, speed-up and MIA", "",
             *header("python benchmarks/opengu_parity2.py " + " ".join(sys.argv[1:] if argv is None else argv)),
             f"Protocol: SGC (K=2), split 0.8/0.2, one request forgetting 10% of the training nodes, "
             f"{args.epochs} training epochs, seeds 0..{args.seeds - 1}. `speed-up` = retrain s / "
             "unlearn s, both measured in the same cell (same process, same load). MIA: loss-threshold "
             "attack, forgotten nodes (members) against test nodes; `MIA retrain` is the same attack "
             "on the retrained model. Utility: micro-F1 (%) on the test nodes.", "",
             "| dataset | method | utility unlearned | utility retrain | unlearn s | retrain s | "
             "speed-up | MIA AUC | MIA AUC retrain |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset in args.datasets:
        for method in args.methods:
            specs = [CellSpec(method=method, dataset=dataset, model="sgc", request="node", ratio=0.1,
                              seed=s, split="0.8/0.2", params={"epochs": args.epochs, **METHODS[method]},
                              mia="loss") for s in range(args.seeds)]
            recs = run_bench(specs)
            lines.append(f"| {dataset} | {method} | {fmt(col(recs, 'utility_unlearned'), scale=100)} | "
                         f"{fmt(col(recs, 'utility_retrain'), scale=100)} | {fmt(col(recs, 'unlearn_seconds'))} | "
                         f"{fmt(col(recs, 'retrain_seconds'))} | {fmt(col(recs, 'speedup'))} | "
                         f"{fmt(col(recs, 'mia_auc'), 3)} | {fmt(col(recs, 'mia_auc_retrain'), 3)} |")
            print(lines[-1], flush=True)
            Path(args.out).write_text("\n".join(lines) + "\n")  # after every row: a killed run keeps its rows
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
