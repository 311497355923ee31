"""SISA on full Adult (issue #26): one-row and 1% requests, the code before a commit
against the working tree, in one run.

Why a script: it runs the same ``graphforget bench`` cells on two versions of the code
(``git archive`` of the ``--before`` commit into a temporary folder, and this tree), each
in its own process with its own ``PYTHONPATH``, which a table config cannot express.

Usage (writes benchmarks/results/sisa_adult_speed.md):

    flock /tmp/gf-bench.lock python benchmarks/sisa_adult_speed.py --before 0ac241e
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: one row of Adult's 32,561 training rows (the ratio rounds up to one row), and 1%
REQUESTS = {"1 row": 0.00001, "1%": 0.01}


def run_cell(tree: Path, ratio: float, slices: int, timeout: float) -> dict:
    """One ``graphforget bench`` cell (fit, request, reference refit) on the code in ``tree``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cell.json"
        cmd = [sys.executable, "-m", "graphforget", "bench", "--method", "sisa", "--task", "tabular",
               "--request", "sample", "--dataset", "adult", "--ratio", str(ratio), "--seeds", "1",
               "--json", str(out)]
        if slices != 1:
            cmd += ["--param", f"slices={slices}"]
        env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
        start = time.perf_counter()
        try:
            subprocess.run(cmd, cwd=tree, env=env, check=True, timeout=timeout,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        except subprocess.TimeoutExpired:
            return {"timed_out": True, "wall": time.perf_counter() - start}
        record = json.loads(out.read_text())[0]
        record["wall"] = time.perf_counter() - start
        return record


def _fmt(rec: dict, key: str, spec: str) -> str:
    return "—" if rec.get(key) is None else format(rec[key], spec)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="0ac241e", help="commit of the 'before' code")
    parser.add_argument("--slices", type=int, nargs="+", default=[1], help="SISA slices R (one row per R)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell")
    parser.add_argument("--out", default=str(RESULTS / "sisa_adult_speed.md"))
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as before_dir:
        archive = subprocess.run(["git", "archive", args.before, "graphforget"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", before_dir], input=archive, check=True)
        trees = {f"before ({args.before})": Path(before_dir), "after (this tree)": ROOT}
        for slices in args.slices:
            for request, ratio in REQUESTS.items():
                for version, tree in trees.items():  # interleaved: both see the same load
                    rec = run_cell(tree, ratio, slices, args.timeout)
                    print(f"{version} R={slices} {request}: {rec.get('unlearn_seconds', 'timed out')}",
                          file=sys.stderr, flush=True)
                    rows.append((slices, request, version, rec))
    load_end = os.getloadavg()[0]
    lines = [f"# SISA on Adult: one-row and 1% requests, before ({args.before}) and after", ""]
    lines += header("flock /tmp/gf-bench.lock python benchmarks/sisa_adult_speed.py "
                    + " ".join(sys.argv[1:]))
    lines += [f"Load average at the end: {load_end:.2f} (start {load_start:.2f}). Each cell is "
              "`graphforget bench --method sisa --task tabular --request sample --dataset adult "
              "--ratio RATIO --seeds 1` (model mlp, 5 shards, 200 epochs per shard, majority "
              "vote; `--param slices=R` where R > 1) in its own process, OMP_NUM_THREADS=1; "
              "before and after cells alternate. Retrain = the exact reference: the same "
              "ensemble refitted on the retained rows with the same partition, slices and seeds.",
              "",
              "| slices | request | code | rows | shards retrained | resumed from stage | "
              "unlearn s (locate / shards / aggregate) | retrain s | speed-up | accuracy unlearned | accuracy retrain | "
              "distance to retrain | cell wall s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for slices, request, version, rec in rows:
        if rec.get("timed_out"):
            lines.append(f"| {slices} | {request} | {version} | — | — | — | >{rec['wall']:.0f} "
                         "(timed out) | — | — | — | — | — | — |")
            continue
        affected = rec["report"]["affected"]
        parts = rec["report"].get("breakdown", {})
        split = " / ".join(f"{parts.get(k, 0.0):.2f}" for k in ("locate", "retrain_shards", "aggregate"))
        resumed = ", ".join(f"{s}:{r}" for s, r in affected["resumed_from_stage"].items())
        lines.append(f"| {slices} | {request} | {version} | {rec['items_forgotten']} | "
                     f"{len(affected['shards'])} | {resumed} | {_fmt(rec, 'unlearn_seconds', '.2f')} ({split}) | "
                     f"{_fmt(rec, 'retrain_seconds', '.2f')} | {_fmt(rec, 'speedup', '.2f')} | "
                     f"{_fmt(rec, 'utility_unlearned', '.4f')} | {_fmt(rec, 'utility_retrain', '.4f')} | "
                     f"{_fmt(rec, 'distance_to_retrain', '.3g')} | {rec['wall']:.0f} |")
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
