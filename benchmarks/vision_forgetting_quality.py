"""Forgetting quality (NeurIPS 2023 unlearning challenge score) of vision methods.

Why a script: the score compares the loss distributions of N independently trained-then-
unlearned models with N retrained ones on every forget example, so one measurement is 2N
fits sharing one request; a ``graphforget reproduce`` cell is one fit, one request and one
reference. The per-method comparison (RA, TA, FA, MIA efficacy, average gap, speed-up) is a
table config: ``benchmarks/tables/vision-salun.yaml``.

Usage: python benchmarks/vision_forgetting_quality.py [--methods fisher l1-sparse finetune] [--models 16]
Writes benchmarks/results/vision_forgetting_quality.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch
from _common import header

from graphforget.bench.tasks import resolve_task
from graphforget.metrics.forgetting import collect_forgetting_quality
from graphforget.requests import sample_samples
from graphforget.vision import VisionRetrain, load_vision

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # default: the three smallest average gaps on digits · mlp, 10% (vision_unlearning.md)
    p.add_argument("--methods", nargs="+", default=["fisher", "l1-sparse", "finetune"])
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="mlp")
    p.add_argument("--ratio", type=float, default=0.1, help="random forget set (fraction of training rows)")
    p.add_argument("--models", type=int, default=16, help="N unlearned and N retrained models")
    p.add_argument("--out", default=str(RESULTS / "vision_forgetting_quality.md"))
    args = p.parse_args()
    torch.set_num_threads(1)
    task = resolve_task("vision")
    data = load_vision(args.dataset)
    request = sample_samples(data, ratio=args.ratio, seed=0)
    forget = torch.zeros(data.num_nodes, dtype=torch.bool)
    forget[request.indices] = True
    retained = request.apply(data)
    lines = ["# Forgetting quality (NeurIPS 2023 unlearning challenge score)", ""]
    lines += header("python benchmarks/vision_forgetting_quality.py " + " ".join(map(shlex.quote, sys.argv[1:])))
    lines += [f"{args.dataset} · {args.model}, {args.ratio:.0%} random forget set, N = {args.models} unlearned "
              "models (seeds 0..N-1, each trained then unlearned) against N retrained models; per-example "
              "statistic = cross-entropy loss, best threshold attack, δ = 0.01, bucket width 0.5 "
              "(graphforget.metrics.forgetting). Scores at small N are only comparable with each other.", "",
              "| method | F | RA ratio | TA ratio | score | seconds |", "|---|---|---|---|---|---|"]
    for name in args.methods:
        cls = task.resolve_method(name)  # gradient-ascent -> its vision variant
        t0 = time.perf_counter()
        res = collect_forgetting_quality(
            lambda i, cls=cls: cls(model=args.model, seed=i),
            lambda i: VisionRetrain(model=args.model, seed=i),
            data, request, forget, retained.train_mask, retained.test_mask, n_models=args.models)
        lines.append(f"| {name} | {res['F']:.3f} | {res['retain_ratio']:.3f} | {res['test_ratio']:.3f} | "
                     f"{res['score']:.3f} | {time.perf_counter() - t0:.0f} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
