"""Wall time of `graphforget demo`, quiet and beside one other CPU-bound process.

Issue #26's targets: under 60 s on a quiet machine and under 120 s with one other
CPU-bound process running, with a progress line per cell. Each run starts a fresh
interpreter (`python -m graphforget demo`, output piped, as a CI log or `| tee` sees
it); the demo sizes its torch threads to the idle cores itself (no `OMP_NUM_THREADS`
is set for it). The "loaded" run starts a pure-Python busy loop in another process
first (one core's worth of work) and stops it when the demo ends. Writes
benchmarks/results/demo_time.md.

Why a script and not a ``graphforget reproduce`` table: it times the command line
under a controlled background load, not unlearning cells.

Usage: python benchmarks/demo_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    sum(range(10000))\n"


def _demo(cache: str) -> tuple[float, list[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(PYTHONPATH=str(ROOT), GRAPHFORGET_CACHE=cache)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "graphforget", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    progress = [line for line in proc.stderr.splitlines() if re.match(r"graphforget: cell \d+/\d+ done", line)]
    return wall, progress, proc.stdout.splitlines()[0] if proc.stdout else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per condition (median reported)")
    parser.add_argument("--out", default=str(RESULTS / "demo_time.md"))
    args = parser.parse_args()
    load0 = os.getloadavg()
    rows = []
    detail = []
    with tempfile.TemporaryDirectory() as tmp:
        for condition in ("quiet", "one CPU-bound process beside it"):
            busy = None
            if condition != "quiet":
                busy = subprocess.Popen([sys.executable, "-c", BUSY])
                time.sleep(1.0)
            try:
                walls, cells, first = [], 0, ""
                for _ in range(args.runs):
                    load = os.getloadavg()[0]
                    wall, progress, first = _demo(os.path.join(tmp, "cache"))
                    walls.append(wall)
                    cells = len(progress)
                    detail.append(f"- {condition}: {wall:.1f} s, load average {load:.2f} at its start, "
                                  f"{len(progress)} progress lines (last: `{progress[-1] if progress else '-'}`)")
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
            target = 60.0 if condition == "quiet" else 120.0
            med = statistics.median(walls)
            rows.append(f"| {condition} | {cells} | {med:.1f} | {target:.0f} | "
                        f"{'met' if med < target else 'missed'} |")
    lines = ["# `graphforget demo`: wall time quiet and beside one CPU-bound process", "",
             f"Command: `{' '.join(['python', 'benchmarks/demo_time.py', *sys.argv[1:]])}`", "",
             f"Machine: {platform.machine()}, nproc {os.cpu_count()}, load average at the start "
             f"{load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} (a shared machine), at the end "
             f"{os.getloadavg()[0]:.2f}; Python {platform.python_version()}; date (UTC): "
             f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')}", "",
             "Each run: a fresh interpreter, `python -m graphforget demo` (synthetic graph, every installed "
             "node-task method, edge and node requests), output piped; the demo picks its torch threads "
             "from the idle cores. 'One CPU-bound process beside it': a pure-Python busy loop in another "
             f"process during the run. Median of {args.runs} run(s). Demo header: `{first}`.", "",
             "| condition | cells (progress lines) | wall s | target s | verdict |", "|---|---|---|---|---|",
             *rows, "", "Runs:", "", *detail, ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
