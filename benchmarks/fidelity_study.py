"""The GIF/IF fidelity study of issue #22: why the influence step barely moved toward the
retrained model, and which settings move it.

    python benchmarks/fidelity_study.py [--datasets cora] [--seeds 1] [--out fidelity_study]

Writes ``benchmarks/results/<out>.md`` (default ``fidelity_study.md``). It is a script, not a reproduce table,
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

#: the defaults before this study: a fixed damping and 5 CG products
FORMER = {"damping": 1e-2, "iterations": 5, "tol": 1e-3}

#: (label, method, params): the defaults, then the former defaults. (A first run also
#: swept damping 1e-4 with 30 CG products, Gauss--Newton products and the unguarded step on
#: Cora node requests; its findings are kept below.)
VARIANTS = {
    "default": [
        ("gif default (damping auto)", "gif", {}),
        ("gif former default (damping 1e-2, 5 CG)", "gif", FORMER),
        ("if default (damping auto)", "if", {}),
        ("if former default (damping 1e-2, 5 CG)", "if", FORMER),
    ],
    "defaults-only": [
        ("gif default (damping auto)", "gif", {}),
        ("if default (damping auto)", "if", {}),
    ],
    "backbones": [
        ("gif default (damping auto)", "gif", {}),
        ("if default (damping auto)", "if", {}),
        ("gnndelete default (retain_weight 1)", "gnndelete", {}),
        ("gnndelete paper objective (retain_weight 0)", "gnndelete", {"retain_weight": 0.0}),
    ],
}


def fixture_rows(variants: list) -> list[str]:
    """Check 9's fixture (:func:`graphforget.testing.check_moves_toward_retrain`: 25% of the
    training labels of ``small_graph()`` flipped to class 0 and forgotten, 30 epochs, 16
    hidden channels) for every backbone; the conformance test itself runs GCN."""
    import copy

    from graphforget.approx.gif import GIF, IF
    from graphforget.metrics import js_divergence
    from graphforget.testing import small_graph
    from graphforget.testing._checks import _flipped_fixture

    flipped, request = _flipped_fixture(small_graph(), 0.25, 0)
    retained = request.apply(flipped)
    mask = retained.test_mask
    out = ["", "## Conformance fixture (check 9)", "",
           "`check_moves_toward_retrain`'s fixture (25% of `small_graph()`'s training labels "
           "flipped and forgotten, 30 epochs, 16 hidden channels): the fidelity ratio there; "
           "≥ 1 (✗) fails check 9. The conformance tests run it on GCN.", "",
           "| model | variant | fidelity ratio | damping |", "|---|---|---|---|"]
    for model in ("gcn", "sgc", "gat", "sage"):
        fitted = {}
        for label, method, params in variants:
            cls = GIF if method == "gif" else IF
            if method not in fitted:
                base = cls(model=model, epochs=30, hidden_channels=16).fit(flipped)
                ref = base.reference().fit(retained).predict_logits()[mask]
                fitted[method] = (base, ref, js_divergence(base.predict_logits(retained)[mask], ref))
            base, ref, d_o = fitted[method]
            u = copy.deepcopy(base).set_params(**params) if params else copy.deepcopy(base)
            d = u.unlearn(request).diagnostics
            ratio = js_divergence(u.predict_logits()[mask], ref) / d_o
            out.append(f"| {model} | {label} | {ratio:.3f}{' ✗' if ratio >= 1 else ''} | "
                       f"{d.get('damping', float('nan')):.2g} |")
    return out


def gnndelete_fixture_rows() -> list[str]:
    """GNNDelete on check 9's fixture over 3 graph seeds x 3 fixture seeds (the conformance
    test's configuration: 20 epochs, 16 hidden channels), with and without its retained-label
    term, at the test's 5 and the default 50 operator steps."""
    from graphforget.approx.gnndelete import GNNDelete
    from graphforget.testing import check_moves_toward_retrain, small_graph

    out = ["", "## GNNDelete on the conformance fixture", "",
           "`check_moves_toward_retrain(..., seed=s)` on `small_graph(seed=g)`, g, s ∈ {0, 1, 2}; "
           "GCN, 20 epochs, 16 hidden channels (the conformance test: g = s = 0, 5 steps). Ratios "
           "of the runs that pass; a run fails when the ratio is ≥ 1.", "",
           "| retain_weight | unlearn_epochs | passes (of 9) | ratios (passing runs) |", "|---|---|---|---|"]
    for beta in (0.0, 1.0):
        for steps in (5, 50):
            ratios = []
            for g in range(3):
                for s in range(3):
                    try:
                        r = check_moves_toward_retrain(
                            lambda b=beta, k=steps: GNNDelete(epochs=20, hidden_channels=16, unlearn_epochs=k,
                                                              retain_weight=b), small_graph(seed=g), seed=s)
                        ratios.append(r["fidelity_ratio"])
                    except AssertionError:
                        pass
            span = f"{min(ratios):.2f}–{max(ratios):.2f}" if ratios else "—"
            out.append(f"| {beta:g} | {steps} | {len(ratios)} | {span} |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cora"])
    parser.add_argument("--models", nargs="+", default=["sgc", "gcn"])
    parser.add_argument("--requests", nargs="+", default=["node", "feature"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--variants", choices=sorted(VARIANTS), default="default")
    parser.add_argument("--out", default="fidelity_study", help="results file name (without .md)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows = []
    load0 = os.getloadavg()
    for dataset in args.datasets:
        for model in args.models:
            for request in args.requests:
                for seed in range(args.seeds):
                    floor = run_cell(CellSpec(method="retrain", dataset=dataset, model=model, request=request,
                                              ratio=0.05, seed=seed, noise_floor=True, share_reference=True))
                    for label, method, params in VARIANTS[args.variants]:
                        r = run_cell(CellSpec(method=method, dataset=dataset, model=model, request=request,
                                              ratio=0.05, seed=seed, params=params, share_reference=True))
                        diag = r["report"]["diagnostics"]
                        rows.append((dataset, model, request, seed, label, r, diag,
                                     floor["output_distance_retrain_to_retrain"]))
                        print(dataset, model, request, seed, label, f"{r['fidelity_ratio']:.3f}", flush=True)
    load = os.getloadavg()
    lines = ["# Fidelity study: GIF and IF settings against retraining", "",
             f"Command: `OMP_NUM_THREADS=1 python benchmarks/fidelity_study.py {' '.join(sys.argv[1:])}`", "",
             f"Machine: {platform.machine()}, nproc {os.cpu_count()}, load average at start "
             f"{load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, at end {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} "
             f"(shared), torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
             f"UTC date: {datetime.datetime.now(datetime.timezone.utc).date().isoformat()}", "",
             "5% requests, seeds 0..n-1, `graphforget bench` defaults otherwise (200 epochs, "
             "weight decay 5e-4). Distances: mean Jensen–Shannon divergence in bits over the test "
             "nodes, all models on the retained graph. `fidelity ratio` = unlearned→retrain / "
             "original→retrain (0 = at the retrained model, 1 = no movement); noise floor / "
             "original→retrain is the lowest ratio seed noise allows a method to be told apart "
             "from. Speed-ups are against the one retrain shared by the block (same run, same "
             "machine; the machine is shared, so they are noisy).", "",
             "## Summary (mean over seeds)", "",
             "Target (issue #22): on SGC, GIF/IF ≤ 0.2; on other backbones every ratio < 1 and GIF "
             "≤ 0.5 on node and feature requests. ✗ marks a mean that misses it.", "",
             "| dataset | model | request | variant | fidelity ratio ↓ (mean) | max over seeds | "
             "noise floor / orig→retrain | speed-up (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list] = {}
    for dataset, model, request, _seed, label, r, _diag, floor in rows:
        o2r = r["output_distance_original_to_retrain"]
        groups.setdefault((dataset, model, request, label), []).append(
            (r["fidelity_ratio"], floor / o2r, r["speedup"]))
    for (dataset, model, request, label), vals in groups.items():
        ratio = sum(v[0] for v in vals) / len(vals)
        if model == "sgc":
            target = 0.2
        elif label.startswith("gif") and request in ("node", "feature"):
            target = 0.5
        else:
            target = 1.0
        miss = " ✗" if not (ratio <= target if target < 1 else ratio < 1) else ""
        lines.append(f"| {dataset} | {model} | {request} | {label} | {ratio:.3f}{miss} | "
                     f"{max(v[0] for v in vals):.3f} | {sum(v[1] for v in vals) / len(vals):.3f} | "
                     f"{sum(v[2] for v in vals) / len(vals):.1f} |")
    lines += ["", "## Every cell", "",
              "| dataset | model | request | seed | variant | fidelity ratio ↓ | noise floor / orig→retrain | "
              "utility unlearned | utility retrain | speed-up | damping | step scale | CG products | residual |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for dataset, model, request, seed, label, r, diag, floor in rows:
        o2r = r["output_distance_original_to_retrain"]
        lines.append(f"| {dataset} | {model} | {request} | {seed} | {label} | {r['fidelity_ratio']:.3f} | "
                     f"{floor / o2r:.3f} | {r['utility_unlearned']:.3f} | {r['utility_retrain']:.3f} | "
                     f"{r['speedup']:.1f} | {diag.get('damping', float('nan')):.2g} | {diag.get('step_scale')} | "
                     f"{diag.get('iterations')} | {diag.get('residual', float('nan')):.2e} |")
    if args.variants != "backbones":
        lines += fixture_rows(VARIANTS[args.variants])
        lines += gnndelete_fixture_rows()
    lines += ["", "## Findings", "",
              "* The safeguard used to check the retained objective J' itself. The step is Newton's "
              "on J'(θ') − gᵀ(θ'−θ), which equals J' only when θ minimises the original objective; a "
              "backbone trained with dropout for a fixed number of epochs does not, so the check "
              "rejected steps toward the retrained model (on Cora/GCN it halved them to 1/4–1/16 and "
              "left the ratio above 0.7; this is also how IF was shrunk to 1/64 on CiteSeer). It now "
              "checks the objective the step minimises, with Armijo's sufficient decrease, and warns "
              "below 1/8.",
              "* Damping (first run, Cora node requests, seed 0, `benchmarks/results/fidelity_study_first.md`): the objective's Hessian already "
              "contains the weight decay (5e-4); the former default damping 1e-2 suppresses the "
              "low-curvature directions in which the original and the retrained model differ "
              "(SGC ratio 0.85); damping 1e-4 with 30 CG products gave 0.12 on SGC and 0.44 on GCN "
              "(0.17 unguarded, the safeguard halving the step once), Gauss-Newton products no "
              "better at 1.5-3x the cost.",
              "* A fixed damping is not scale-free: the curvature along the right-hand side, "
              "ṽᵀHṽ/‖ṽ‖², is about two orders of magnitude smaller on Cora (row-normalised "
              "bag-of-words features) than on the conformance fixture (dense features, 30 "
              "epochs), so a damping small enough for Cora is negligible on the fixture, where the "
              "exact step then overshoots past the barely trained retrained model. "
              "`damping=\"auto\"` (the new default) is 1% of that quotient (one Hessian product, reused by CG; "
              "the damping column shows the value it picked); CG stops at relative residual 1e-2 "
              "(cap 50 products) or at the first non-positive curvature (truncated CG), then the "
              "Armijo safeguard. Kept because it reaches the SGC target with the default settings "
              "and passes check 9 on GCN (tables above); the fixture table shows where it still "
              "overshoots.",
              "* CG returns the iterate with the smallest residual. On GCN the exact Hessian is "
              "indefinite; CG's residual grew before it met non-positive curvature (relative "
              "residuals up to 10 in the second run, `benchmarks/results/fidelity_study_run2.md`, "
              "which returned the last iterate and also compared tol 1e-3: same ratios, more "
              "products), and the safeguard then shrank the step to 1/8..1/64. Returning the "
              "best iterate costs nothing (the recurrence residual is free).",
              "* Not kept: choosing the damping from ‖∇J(θ)‖ (Levenberg–Marquardt style): the "
              "gradient left by training is larger relative to the request on Cora than on the "
              "fixture, so it damped Cora as much as the former default (exploratory run, not "
              "recorded).",
              "* Where noise floor / orig→retrain is near or above 1 (GCN feature requests), the "
              "retrain with another seed differs from the retrain more than the original does: no "
              "method can be told apart from retraining there, and the ratio says nothing.", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
