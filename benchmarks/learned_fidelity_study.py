"""Fidelity study of the learned approximate methods (MEGU, SGU, D2DGN, GUKD; issue #22).

Fits one method on one cell once, retrains on the retained data (same seed, and another
seed for the noise floor), then unlearns every ``--variant`` (a JSON dict of parameters
set on a copy of the fitted method) and prints one line per variant: fidelity ratio, the
noise-floor ratio, the distances (bits, the bench's ``output_distances`` fields), the
forgotten nodes' distances and test utility. Prints only; writes no results file.

    python benchmarks/learned_fidelity_study.py --method megu --dataset cora --model gcn \\
        --seed 0 --variant '{"optimizer": "adam", "unlearn_epochs": 50, "unlearn_dropout": true}' \\
        --variant '{}'
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from graphforget import make_method
from graphforget.bench.runner import output_distances
from graphforget.bench.tasks import resolve_task
from graphforget.executor import derive_seed


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def main() -> None:
    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cora")
    p.add_argument("--model", default="gcn")
    p.add_argument("--request", default="node")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", required=True)
    p.add_argument("--variant", action="append", default=[], help="JSON dict of parameters")
    a = p.parse_args()
    task = resolve_task("node")
    data = task.load(a.dataset, None, None, a.seed)
    base = make_method(a.method, model=a.model, seed=a.seed).fit(data)
    original = copy.deepcopy(base)
    request = task.sample_request(data, a.request, 0.05, a.seed)
    retained = task.retained(data, request)
    ref = base.reference()
    t = time.perf_counter()
    ref.fit(retained)
    retrain_s = time.perf_counter() - t
    second = ref.clone(seed=derive_seed(a.seed, "noise-floor")).fit(retained)
    u_orig, u_ret = task.utility(original), task.utility(ref)
    for variant in [json.loads(v) for v in a.variant] or [{}]:
        u = copy.deepcopy(base)
        if variant:
            u.set_params(**variant)
        t = time.perf_counter()
        report = u.unlearn(request)
        unlearn_s = time.perf_counter() - t
        d = output_distances(task, u, ref, original, retained, request, second)
        o2r = d["output_distance_original_to_retrain"]
        floor = d["output_distance_retrain_to_retrain"] / o2r
        forget = (_round(d["output_distance_forget_to_retrain"]),
                  _round(d["output_distance_forget_original_to_retrain"]))
        diag = {k: _round(v) for k, v in report.diagnostics.items()}
        print(f"{a.method} {a.dataset} {a.model} {a.request} s{a.seed} {json.dumps(variant)}: "
              f"ratio={d['fidelity_ratio']:.3f} floor_ratio={floor:.3f} "
              f"u2r={d['output_distance_to_retrain']:.3g} o2r={o2r:.3g} "
              f"r2r={d['output_distance_retrain_to_retrain']:.3g} forget u2r/o2r={forget[0]}/{forget[1]} "
              f"util {u_orig:.3f}->{task.utility(u):.3f} (retrain {u_ret:.3f}) "
              f"unlearn {unlearn_s:.2f}s retrain {retrain_s:.2f}s diag={diag}", flush=True)


if __name__ == "__main__":
    main()
