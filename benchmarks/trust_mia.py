"""Membership inference on forgotten nodes, for every registered method beside Retrain.

For each dataset and each method that serves node requests on node classification:
fit, query the original model on the original graph, forget ``--ratio`` of the training
nodes, fit the method's exact reference (Retrain of the same backbone) on the retained
graph, and run the three attacks of :mod:`graphforget.metrics.privacy` (loss threshold,
posterior difference of Chen et al. CCS 2021, shadow models). Each cell gives the AUC on
forgotten vs test nodes with a 95% bootstrap interval, and Retrain's AUC beside it.

Usage (writes benchmarks/results/trust_mia.md)::

    python benchmarks/trust_mia.py --datasets cora citeseer            # every method
    python benchmarks/trust_mia.py --datasets cora --method retrain --method gif
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path

import torch

from graphforget._registry import make_method, method_names, resolve_method
from graphforget.bench.cli import _param
from graphforget.data import load_dataset
from graphforget.metrics.privacy import ATTACKS, membership_report, query_logits
from graphforget.requests import NodeRequest, sample_nodes
from graphforget.unlearner import Task

RESULTS = Path(__file__).resolve().parent / "results"


def node_methods() -> list[str]:
    out = []
    for name in method_names():
        cls = resolve_method(name)
        if Task.NODE in cls.tasks and cls.supports(NodeRequest):
            out.append(name)
    return out


def cell(args: argparse.Namespace, method: str, data) -> dict:
    cls = resolve_method(method)
    names = set(cls.param_names())
    params = {k: v for k, v in (("model", args.model), ("seed", args.seed)) if k in names}
    if cls.supported_models is not None and args.model not in cls.supported_models:
        params["model"] = cls.supported_models[0]
    params.update({k: v for k, v in args.param if k in names})
    u = make_method(cls, **params).fit(data)
    original = query_logits(u, data)
    request = sample_nodes(data, ratio=args.ratio, seed=args.seed)
    start = time.perf_counter()
    u.unlearn(request)
    seconds = time.perf_counter() - start
    reference = u.reference().fit(request.apply(data))
    report = membership_report(original, u, reference, data, request.node_ids, attacks=args.attacks,
                               samples=args.bootstrap, seed=args.seed)
    return {"method": method, "model": params.get("model", "-"), "forgotten": len(request),
            "unlearn_s": seconds, "f1": u.score(mask="test_mask"),
            "f1_retrain": reference.score(mask="test_mask"), "attacks": report}


def fmt(auc: float, low: float, high: float) -> str:
    return f"{auc:.3f} [{low:.3f}, {high:.3f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["cora", "citeseer"])
    p.add_argument("--method", action="append", default=None, help="default: every node method")
    p.add_argument("--model", default="gcn")
    p.add_argument("--split", default="public")
    p.add_argument("--ratio", type=float, default=0.2, help="fraction of training nodes forgotten")
    p.add_argument("--attacks", nargs="+", default=list(ATTACKS), choices=list(ATTACKS))
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--param", action="append", type=_param, default=[],
                   help="key=value for every method that has the parameter")
    p.add_argument("--out", default=str(RESULTS / "trust_mia.md"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = args.method or node_methods()
    command = "python benchmarks/trust_mia.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    lines = ["# Membership inference on forgotten nodes", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch "
             f"{torch.__version__}, {torch.get_num_threads()} thread(s); date: "
             f"{datetime.date.today().isoformat()}", "",
             f"Split {args.split}; {args.ratio:.0%} of the training nodes forgotten (seed {args.seed}); "
             f"AUC of forgotten (positive) vs test (negative) nodes with a 95% bootstrap interval "
             f"({args.bootstrap} resamples). `retrain` = the method's exact reference fitted on the "
             "retained graph, attacked the same way; the gap |AUC - AUC retrain| is the headline "
             "(0 = as private as retraining).", "",
             "| dataset | method | model | attack | AUC (method) | AUC (retrain) | gap | "
             "micro-F1 | micro-F1 retrain |", "|---|---|---|---|---|---|---|---|---|"]
    failures = []
    for name in args.datasets:
        data = load_dataset(name, split=args.split, seed=args.seed)
        for method in methods:
            try:
                row = cell(args, method, data)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                failures.append(f"{name}/{method}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
                continue
            for attack, r in row["attacks"].items():
                lines.append(f"| {name} | {method} | {row['model']} | {attack} | "
                             f"{fmt(r.auc, r.auc_low, r.auc_high)} | "
                             f"{fmt(r.auc_retrain, r.auc_retrain_low, r.auc_retrain_high)} | "
                             f"{r.gap:.3f} | {row['f1']:.4f} | {row['f1_retrain']:.4f} |")
                print(lines[-1], flush=True)
            _write(args.out, lines + ["", "(run in progress)"])
    lines += ["", "Reading the table: the loss and shadow attacks ask whether the unlearned model "
              "still treats forgotten nodes like training nodes; their retrain figure is what a model "
              "that never saw them gives. The posterior-difference attack (Chen et al., \"When Machine "
              "Unlearning Jeopardizes Privacy\", CCS 2021) compares the model before and after "
              "unlearning; Chen et al. show that it exceeds 0.5 even for exact retraining, which is why "
              "Retrain's own figure is printed beside each method's rather than 0.5."]
    if failures:
        lines += ["", "Cells that failed:", ""] + [f"- {f}" for f in failures]
    _write(args.out, lines)
    print(f"wrote {args.out}")
    return 0


def _write(path: str, lines: list[str]) -> None:
    Path(path).parent.mkdir(exist_ok=True)
    Path(path).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
