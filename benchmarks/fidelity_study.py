"""The GIF/IF fidelity study of issue #22: why the influence step barely moved toward the
retrained model, and which settings move it.

    python benchmarks/fidelity_study.py [--datasets cora] [--seeds 1]

Writes ``benchmarks/results/fidelity_study.md``. It is a script, not a reproduce table,
because it sweeps *method settings* (damping, CG products, Hessian kind, safeguard) on one
cell each, against the retrain-to-retrain noise floor, which a table of methods × datasets
does not express. Every cell shares one retrain per (model, request), so speed-ups inside
one (model, request) block are measured in the same run; ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import warnings
from pathlib import Path

import torch

from graphforget.bench.runner import CellSpec, run_cell

RESULTS = Path(__file__).resolve().parent / "results"

#: (label, method, params): the defaults, then one change at a time.
VARIANTS = [
    ("gif default (damping 1e-2, 5 CG)", "gif", {}),
    ("gif damping 1e-4, 30 CG", "gif", {"damping": 1e-4, "iterations": 30}),
    ("gif Gauss-Newton, damping 1e-4, 30 CG", "gif", {"hessian": "gauss_newton", "damping": 1e-4,
                                                      "iterations": 30}),
    ("gif damping 1e-4, 30 CG, no safeguard", "gif", {"damping": 1e-4, "iterations": 30, "safeguard": False}),
    ("if default", "if", {}),
    ("if damping 1e-4, 30 CG", "if", {"damping": 1e-4, "iterations": 30}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cora"])
    parser.add_argument("--models", nargs="+", default=["sgc", "gcn"])
    parser.add_argument("--requests", nargs="+", default=["node", "feature"])
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    for dataset in args.datasets:
        for model in args.models:
            for request in args.requests:
                for seed in range(args.seeds):
                    floor = run_cell(CellSpec(method="retrain", dataset=dataset, model=model, request=request,
                                              ratio=0.05, seed=seed, noise_floor=True, share_reference=True))
                    for label, method, params in VARIANTS:
                        r = run_cell(CellSpec(method=method, dataset=dataset, model=model, request=request,
                                              ratio=0.05, seed=seed, params=params, share_reference=True))
                        diag = r["report"]["diagnostics"]
                        rows.append((dataset, model, request, seed, label, r, diag,
                                     floor["output_distance_retrain_to_retrain"]))
                        print(dataset, model, request, seed, label, f"{r['fidelity_ratio']:.3f}", flush=True)
    load = os.getloadavg()
    lines = ["# Fidelity study: GIF and IF settings against retraining", "",
             f"Command: `python benchmarks/fidelity_study.py {' '.join(sys.argv[1:])}`", "",
             f"Machine: {platform.machine()}, nproc {os.cpu_count()}, load average "
             f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (shared), torch {torch.__version__}, 1 thread; "
             f"date: {datetime.date.today().isoformat()}", "",
             "5% requests, seed(s) as listed, `graphforget bench` defaults otherwise (200 epochs, "
             "weight decay 5e-4). Distances: mean Jensen–Shannon divergence in bits over the test "
             "nodes, all models on the retained graph. `fidelity ratio` = unlearned→retrain / "
             "original→retrain (0 = at the retrained model, 1 = no movement); noise floor / "
             "original→retrain is the lowest ratio seed noise allows a method to be told apart "
             "from. Speed-ups are against the one retrain shared by the block.", "",
             "| dataset | model | request | seed | variant | fidelity ratio ↓ | noise floor / orig→retrain | "
             "utility unlearned | utility retrain | speed-up | step scale | CG products | residual |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for dataset, model, request, seed, label, r, diag, floor in rows:
        o2r = r["output_distance_original_to_retrain"]
        lines.append(f"| {dataset} | {model} | {request} | {seed} | {label} | {r['fidelity_ratio']:.3f} | "
                     f"{floor / o2r:.3f} | {r['utility_unlearned']:.3f} | {r['utility_retrain']:.3f} | "
                     f"{r['speedup']:.1f} | {diag.get('step_scale')} | {diag.get('iterations')} | "
                     f"{diag.get('residual', float('nan')):.2e} |")
    lines += ["", "## Findings", "",
              "* The safeguard used to check the retained objective J' itself. The step is Newton's "
              "on J'(θ') − gᵀ(θ'−θ), which equals J' only when θ minimises the original objective; a "
              "backbone trained with dropout for a fixed number of epochs does not, so the check "
              "rejected steps toward the retrained model (on Cora/GCN it halved them to 1/4–1/16 and "
              "left the ratio above 0.7; this is also how IF was shrunk to 1/64 on CiteSeer). It now "
              "checks the objective the step minimises, with Armijo's sufficient decrease, and warns "
              "below 1/8.",
              "* Damping: the objective's Hessian already contains the weight decay (5e-4); the "
              "default damping 1e-2 suppresses the low-curvature directions in which the original and "
              "the retrained model differ. On the convex SGC, damping 1e-4 with 30 CG products is the "
              "setting that reaches the ≤ 0.2 target; it is not the default because on small, barely "
              "trained non-convex models (the conformance fixture) a small damping overshoots and "
              "ends further from the retrained model than the original (ratio > 1).",
              "* Where noise floor / orig→retrain is near or above 1 (GCN feature requests), the "
              "retrain with another seed differs from the retrain more than the original does: no "
              "method can be told apart from retraining there, and the ratio says nothing.", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fidelity_study.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
