"""Ledger overhead: what the deletion ledger costs per request of a ``graphforget stream``.

Why a script and not a ``graphforget reproduce`` table: the reproduce runner runs bench
cells (fit, one unlearning request, metrics against retraining), while this measures a
*stream* of requests through the ledger (journal, fingerprints, checkpoints, garbage
collection) and compares two versions of the code (the "before" rows run a checkout of
commit c654ffb, the ledger before format 2), which no bench cell can express.

Each stream runs in its own process (``--worker``), with ``PYTHONPATH`` pointing at the
checkout under test: it calls ``graphforget.stream.run_stream`` (single-node deletions,
a seeded permutation of the training nodes, as ``graphforget stream`` does), records the
method's own time of each request (``UnlearnReport.seconds``, hooked in
``Unlearner.unlearn``) next to the request's wall time inside ``Ledger.apply``, so that
every ratio below comes from one run; for the new ledger it also counts the bytes it
writes (packs, manifests) and, per checkpoint, the bytes of the tensors that changed
since the previous one (the bound the ledger's growth must stay under) and the disk
usage after every pack write and before garbage collection (the peak).

Usage (writes benchmarks/results/ledger_overhead.md; the "before" checkout is made with
``git worktree add /tmp/ledger-before c654ffb``)::

    OMP_NUM_THREADS=1 python benchmarks/ledger_overhead.py --before-tree /tmp/ledger-before
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import header

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]

# name, method, model, extra parameters (the settings: Cora, full split)
CONFIGS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "cgu": ("cgu", "sgc", {}),
    "gif": ("gif", "gcn", {}),
    "grapheraser": ("grapheraser", "gcn", {"shards": 10}),
}


def _du(folder: str) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One stream with the code on ``sys.path``; returns per-request measurements."""
    import torch

    torch.set_num_threads(1)
    from graphforget import stream
    from graphforget.unlearner import Unlearner

    unlearn: list[float] = []
    real_unlearn = Unlearner.unlearn

    def timed(self: Any, request: Any) -> Any:
        report = real_unlearn(self, request)
        unlearn.append(report.seconds)
        return report

    Unlearner.unlearn = timed  # type: ignore[method-assign]
    written: dict[str, int] = {"packs": 0, "manifests": 0, "first_pack": 0}
    changed: list[int] = []
    peaks: list[int] = []
    new_format = True
    try:
        from graphforget import ledger as ledger_module
        from graphforget._checkpoint import ObjectStore
    except ImportError:
        new_format = False
    if new_format:
        real_write = ObjectStore.write

        def write(self: Any, objects: Any, name: str, rewrite: Any = frozenset()) -> Any:
            out = real_write(self, objects, name, rewrite)
            peaks.append(_du(str(self.directory.parent)))  # the folder only grows by writes
            size = sum(self.packs[n].size for n in out)
            written["packs"] += size
            written["first_pack"] = written["first_pack"] or size
            return out

        ObjectStore.write = write  # type: ignore[method-assign]
        real_manifest = ledger_module.Ledger._write_manifest
        previous: dict[Any, str] = {}

        def manifest(self: Any, unlearner: Any, snap: Any, record: Any, applied: int, skeleton_id: str) -> str:
            name = real_manifest(self, unlearner, snap, record, applied, skeleton_id)
            size = (self.directory / "checkpoints" / f"{name}.json").stat().st_size
            written["manifests"] += size
            written.setdefault("first_manifest", size)
            if previous:  # bytes of the tensors whose content changed since the last checkpoint
                changed.append(sum(tr.obj.numel() * tr.obj.element_size() for p, tr in snap.leaves.items()
                                   if previous.get(p) != tr.digest))
            previous.clear()
            previous.update({p: tr.digest for p, tr in snap.leaves.items()})
            return name

        ledger_module.Ledger._write_manifest = manifest  # type: ignore[method-assign]
        real_gc = ledger_module.Ledger._gc

        def gc(self: Any, *args: Any, **kwargs: Any) -> None:
            peaks.append(_du(str(self.directory)))
            real_gc(self, *args, **kwargs)

        ledger_module.Ledger._gc = gc  # type: ignore[method-assign]

    walls: list[float] = []
    folder = tempfile.mkdtemp(prefix="gf-ledger-bench-")
    kwargs: dict[str, Any] = {"params": spec["params"], "split": "full"}
    if new_format:
        kwargs["keep"] = spec["keep"]
    try:
        start = time.perf_counter()
        summary = stream.run_stream(spec["method"], "cora", spec["model"], spec["requests"], 0, folder,
                                    progress=lambda e: walls.append(e["seconds"]), **kwargs)
        seconds = time.perf_counter() - start
        journal = os.path.getsize(os.path.join(folder, "journal.jsonl"))
        init_line = len(open(os.path.join(folder, "journal.jsonl"), "rb").readline())
        checkpoints = os.path.join(folder, "checkpoints")
        if new_format:
            records = [json.loads(line) for line in open(os.path.join(folder, "journal.jsonl"))][1:]
            recorded = [r.get("ledger_seconds") for r in records]
            state = written.pop("first_pack")  # the genesis pack: the whole state
            written["packs"] -= state  # written at init, not by a request
            written["manifests"] -= written.pop("first_manifest")
            n_ckpt = len(changed) + 1
        else:
            recorded = []
            newest = sorted(os.listdir(checkpoints))[-1]
            state = _du(os.path.join(checkpoints, newest))  # every request wrote one such checkpoint
            written["packs"] = state * spec["requests"]
            n_ckpt = spec["requests"]
        return {"name": spec["name"], "requests": spec["requests"], "unlearn": unlearn[-spec["requests"]:],
                "walls": walls, "recorded": recorded, "seconds": seconds, "disk": _du(folder),
                "journal_per_request": (journal - init_line) / spec["requests"], "written": written,
                "changed": changed, "peak": max(peaks + [_du(folder)]), "state": state,
                "checkpoints": n_ckpt, "summary": {k: v for k, v in summary.items() if k != "fingerprint"}}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(tree: Path, spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.setdefault("GRAPHFORGET_DATA", str(REPO.parent.parent / "shared" / "datasets"))
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                          capture_output=True, text=True, cwd=str(tree))
    if proc.returncode:
        raise SystemExit(f"worker {spec['name']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else float("nan")


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def row(label: str, r: dict[str, Any], new: bool) -> str:
    unlearn, walls = r["unlearn"], r["walls"]
    ledger = [w - u for w, u in zip(walls, unlearn, strict=True)]
    u_mean, l_mean = _mean(unlearn), _mean(ledger)
    per_request = (r["written"]["packs"] + r["written"]["manifests"]) / r["requests"] + r["journal_per_request"]
    bound = sum(r["changed"]) / r["requests"] if new and r["changed"] else float("nan")
    recorded = f"{_mean(r['recorded']) * 1e3:.1f}" if r["recorded"] else "—"
    return (f"| {label} | {r['requests']} | {r['checkpoints']} | {u_mean * 1e3:.1f} | {l_mean * 1e3:.1f} | "
            f"{_median(ledger) * 1e3:.1f} | {recorded} | **{100 * l_mean / u_mean:.0f}%** | {_mb(per_request)} | "
            f"{_mb(bound) if bound == bound else '—'} | {_mb(r['journal_per_request'])} | "
            f"{_mb(r['peak'])} | {_mb(r['disk'])} | {_mb(r['state'])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--before-tree", default=None, help="checkout of the code before (c654ffb)")
    parser.add_argument("--methods", default="cgu,gif,grapheraser")
    parser.add_argument("--requests", type=int, default=200, help="requests per stream (new ledger)")
    parser.add_argument("--grapheraser-requests", type=int, default=None,
                        help="fewer requests for GraphEraser (default: --requests)")
    parser.add_argument("--before-requests", type=int, default=30, help="requests per stream (old ledger)")
    parser.add_argument("--grapheraser-before-requests", type=int, default=None,
                        help="fewer old-ledger requests for GraphEraser (default: --before-requests)")
    parser.add_argument("--long", type=int, default=1000, help="CGU requests of the disk-usage stream (0: skip)")
    parser.add_argument("--keep", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "ledger_overhead.md"))
    parser.add_argument("--reuse", default=None,
                        help="JSON of an earlier run: rows of streams not measured now are taken from it")
    parser.add_argument("--reuse-label", default="an earlier run", help="how to name that run in the file")
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    command = "OMP_NUM_THREADS=1 python benchmarks/ledger_overhead.py " + shlex.join(sys.argv[1:])
    head = header(command)
    rows: list[str] = []
    notes: list[str] = []
    raw: dict[str, Any] = {}
    reused = json.loads(Path(args.reuse).read_text()) if args.reuse else {}
    measured = [n for n in args.methods.split(",") if n]
    for name, (method, model, params) in CONFIGS.items():
        label = f"{name}" + (f" ({params['shards']} shards)" if "shards" in params else "")
        spec = {"name": name, "method": method, "model": model, "params": params, "keep": args.keep}
        for phase in ("before", "after"):
            tag = "before (c654ffb)" if phase == "before" else "after"
            if name not in measured or (phase == "before" and not args.before_tree):
                r = reused.get(f"{name}-{phase}")
                if r is not None:
                    raw[f"{name}-{phase}"] = r
                    rows.append(row(f"{label}, {tag} [{args.reuse_label}]", r, new=phase == "after"))
                    if name == "grapheraser" and phase == "after" and r["requests"] < args.requests:
                        notes.append(f"GraphEraser streams {r['requests']} requests, not {args.requests}: at "
                                     "about 4-5 s per request on this shared machine a 200-request stream "
                                     "would exceed the ~8 minutes allotted.")
                continue
            t0 = time.perf_counter()
            if phase == "before":
                n = args.grapheraser_before_requests if name == "grapheraser" and args.grapheraser_before_requests \
                    else args.before_requests
                r = run(Path(args.before_tree), {**spec, "requests": n})
            else:
                n = args.grapheraser_requests if name == "grapheraser" and args.grapheraser_requests \
                    else args.requests
                if n != args.requests:
                    notes.append(f"GraphEraser streams {n} requests, not {args.requests}: at about 4-5 s per "
                                 "request on this shared machine a 200-request stream would exceed the ~8 "
                                 "minutes allotted.")
                r = run(REPO, {**spec, "requests": n})
            raw[f"{name}-{phase}"] = r
            rows.append(row(f"{label}, {tag}", r, new=phase == "after"))
            print(f"{name} {phase}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    long_line = ""
    if not args.long and "cgu-long" in reused:
        raw["cgu-long"] = reused["cgu-long"]
    if args.long:
        t0 = time.perf_counter()
        spec = {"name": "cgu-long", "method": "cgu", "model": "sgc", "params": {}, "keep": args.keep,
                "requests": args.long}
        long = run(REPO, spec)
        raw["cgu-long"] = long
        unlearn = long["unlearn"]
        ledger = [w - u for w, u in zip(long["walls"], unlearn, strict=True)]
        long_line = (f"A {args.long}-request CGU stream on Cora (same settings, keep={args.keep}): peak disk "
                     f"usage {_mb(long['peak'])} (measured after every pack write and before each garbage "
                     "collection), "
                     f"{_mb(long['disk'])} at the end, {long['checkpoints']} checkpoints; mean unlearn "
                     f"{_mean(unlearn) * 1e3:.1f} ms, mean ledger {_mean(ledger) * 1e3:.1f} ms per request "
                     f"({100 * _mean(ledger) / _mean(unlearn):.0f}%), {long['seconds']:.0f} s in all.")
        print(f"cgu long: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    load_end = os.getloadavg()[0]
    lines = ["# Ledger overhead per request (`graphforget stream`, Cora, full split, seed 0)", "", *head,
             f"Load average at the end: {load_end:.2f}. `nproc`: {os.cpu_count()}. One torch thread per "
             "stream (`OMP_NUM_THREADS=1`); each stream in its own process.", "",
             "Columns: *unlearn* is the method's own time per request (`UnlearnReport.seconds`); *ledger* is "
             "the rest of the request's wall time inside `Ledger.apply` (fingerprints, journal append and "
             "fsync, checkpoints and garbage collection, amortised over the requests), measured in the same "
             "process as *unlearn*, so the *ledger/unlearn* ratio is within one run; *recorded* is the mean "
             "`ledger_seconds` of the journal records (the ledger work done before the record is written, "
             "i.e. without the record's own fsync and the pointer switch after it); *written/request* is "
             "every byte the ledger wrote (packs, manifests, journal) divided by the requests; *changed "
             "state/request* is, summed over checkpoints, the bytes of the tensors whose content changed "
             "since the previous checkpoint, divided by the requests (the bound *written* must stay under, "
             "plus a journal line); *peak disk* is the largest size of the ledger folder (measured after "
             "every pack write and before each garbage collection); *state* is the size of one full checkpoint (the genesis pack, or a "
             "checkpoint directory of the old format). The genesis checkpoint (written when the stream "
             "starts) and the checkpoint `stream` writes after its last request are not requests' work: "
             "they are left out of *ledger* and *written*.", "",
             "The \"before\" rows run the code at c654ffb (every request: two full-state fingerprints and a "
             f"full checkpoint; {args.before_requests} requests per stream"
             + (f", {args.grapheraser_before_requests} for GraphEraser" if args.grapheraser_before_requests else "")
             + "), the \"after\" rows this "
             "branch with its defaults (`--checkpoint-every auto`, "
             f"`--keep {args.keep}`).", "",
             "| stream | requests | checkpoints | unlearn ms | ledger ms (mean) | ledger ms (median) | "
             "recorded ms | ledger/unlearn | written/request | changed state/request | journal/request | "
             "peak disk | disk at end | state |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
    if long_line:
        lines += [long_line, ""]
    if reused:
        notes.append(f"Rows marked [{args.reuse_label}] are that run's measurements, reused here (not "
                     "measured again, to stay within the benchmark time allotted on this shared machine).")
    lines += notes
    Path(args.out).write_text("\n".join(lines) + "\n")
    Path(args.out).with_suffix(".json").write_text(json.dumps(raw) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
