"""Sustained request streams under the ledger: ``graphforget stream``, ``replay`` and ``verify``.

``graphforget stream --method M --dataset D --model X --requests N --seed S --ledger DIR``
fits the method (first run only), then applies N sequential single-node deletions,
each through :class:`~graphforget.ledger.Ledger`. The deleted nodes are the first N of a
seeded permutation of the training nodes, fixed when the ledger is created, so a rerun
on the same DIR resumes after the last journaled request. It shows progress on a
terminal and ends with a summary line (requests, retrains, mean unlearn and ledger
seconds, disk used).

``graphforget replay --ledger DIR`` restores the model from the newest consistent
checkpoint and the journal (writing the repairs a crash needs, unless ``--no-persist``)
and ``graphforget verify --ledger DIR`` checks everything without writing; each prints
one outcome line (``ok``, ``repaired``, ``empty``, ``needs-repair``, ``diverged``,
``damaged``) with a matching exit code (0, 1 or 2; see ``docs/trust.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from graphforget.errors import GraphForgetError
from graphforget.ledger import EmptyLedgerError, Ledger, LedgerError
from graphforget.requests import NodeRequest

__all__ = ["stream_plan", "run_stream", "open_stream"]


def stream_plan(data: Any, seed: int) -> list[int]:
    """The deletion order: a seeded permutation of the training nodes."""
    train = data.train_mask.nonzero().view(-1)
    g = torch.Generator().manual_seed(int(seed))
    return train[torch.randperm(train.numel(), generator=g)].tolist()


def _config(method: str, dataset: str, model: str, seed: int, params: dict[str, Any],
            split: str | None) -> dict[str, Any]:
    return {"method": method, "dataset": dataset, "model": model, "seed": int(seed),
            "params": dict(sorted(params.items())), "split": split}


def open_stream(ledger: Ledger, method: str, dataset: str, model: str, seed: int,
                params: dict[str, Any], root: str | None = None, split: str | None = None,
                requests: int | None = None) -> tuple[Any, list[int], int]:
    """Creates or resumes a stream ledger; returns the unlearner, the plan and how many
    planned requests were already journaled."""
    from graphforget._registry import make_method, resolve_method

    config = _config(method, dataset, model, seed, params, split)
    if ledger.exists:
        unlearner, _ = ledger.restore()
        records = ledger.records()
        stored = dict(records[0].get("config", {}))
        plan = stored.pop("plan", None)
        if stored != config or not isinstance(plan, list):
            diff = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
            raise LedgerError(f"ledger {ledger.directory} was created with other settings "
                              f"(differs in: {', '.join(diff) or 'plan'})")
        done = sum(1 for r in records if r.get("type") == "request")
        return unlearner, plan, done
    from graphforget.data import load_dataset

    cls = resolve_method(method)
    names = set(cls.param_names())
    kwargs = {k: v for k, v in (("model", model), ("seed", seed)) if k in names}
    kwargs.update(params)
    unlearner = make_method(cls, **kwargs)
    if not unlearner.supports(NodeRequest):
        raise GraphForgetError(f"method {method!r} cannot serve node requests")
    data = load_dataset(dataset, root=root, split=split, seed=seed)
    plan = stream_plan(data, seed)
    _check_requests(requests, plan)
    ledger.recover()
    unlearner.fit(data)
    ledger.init(unlearner, {**config, "plan": plan})
    return unlearner, plan, 0


def _check_requests(requests: int | None, plan: list[int]) -> None:
    if requests is not None and requests > len(plan):
        raise GraphForgetError(f"--requests {requests} exceeds the {len(plan)} training nodes "
                               "available to delete")


def run_stream(method: str, dataset: str, model: str, requests: int, seed: int, ledger_dir: str,
               params: dict[str, Any] | None = None, root: str | None = None,
               split: str | None = None, checkpoint_every: int | str = "auto", keep: int | None = None,
               progress: Any = None) -> dict[str, Any]:
    """Applies planned single-node deletions until ``requests`` have been journaled.

    ``progress`` (optional) is called after each acknowledged request with
    ``{"request", "node", "seconds", "unlearn_seconds", "ledger_seconds"}`` (``seconds``:
    wall time of the request; ``ledger_seconds``: everything but the method's own
    unlearning, including the journal's fsync and any checkpoint).
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise GraphForgetError(f"requests must be a positive integer, got {requests!r}")
    ledger = Ledger(ledger_dir, checkpoint_every=checkpoint_every, keep=keep)
    with ledger.locked():
        unlearner, plan, done = open_stream(ledger, method, dataset, model, seed, params or {},
                                            root, split, requests)
        _check_requests(requests, plan)
        start = time.perf_counter()
        unlearn_s = ledger_s = 0.0
        retrains = 0
        for i in range(done, requests):
            t0 = time.perf_counter()
            report = ledger.apply(unlearner, NodeRequest([plan[i]]))
            wall = time.perf_counter() - t0
            retrains += bool((report.diagnostics or {}).get("retrained"))
            unlearn_s += report.seconds
            ledger_s += wall - report.seconds
            if progress is not None:
                progress({"request": i + 1, "node": plan[i], "seconds": wall,
                          "unlearn_seconds": report.seconds, "ledger_seconds": wall - report.seconds})
        t0 = time.perf_counter()
        if ledger.records() and not ledger.checkpointed():
            ledger.checkpoint(unlearner)  # leave the end of the stream checkpointed
        ledger_s += time.perf_counter() - t0
        tail = ledger._tail()
        served = requests - done
        return {"applied": tail["applied"], "requests": requests, "resumed_at": done,
                "fingerprint": tail["head"], "seconds": time.perf_counter() - start,
                "served": served, "retrains": retrains,
                "mean_unlearn_seconds": unlearn_s / served if served else 0.0,
                "mean_ledger_seconds": ledger_s / served if served else 0.0,
                "disk_bytes": ledger.disk_usage()}


def _checkpoint_every(value: str) -> int | str:
    if value == "auto":
        return value
    from graphforget.bench.cli import _positive

    return _positive(value)


def _configure_stream(p: argparse.ArgumentParser) -> None:
    from graphforget.bench.cli import _param, _positive

    p.add_argument("--method", required=True, help="method name (see `graphforget list`)")
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--model", default="gcn", help="backbone (default gcn)")
    p.add_argument("--requests", type=_positive, required=True, help="single-node deletions N")
    p.add_argument("--seed", type=int, default=0, help="seed S (default 0)")
    p.add_argument("--ledger", required=True, help="ledger directory (resumed when it exists)")
    p.add_argument("--split", default=None, help="split (default: the dataset's)")
    p.add_argument("--root", default=None, help="data root (default $GRAPHFORGET_DATA)")
    p.add_argument("--param", action="append", type=_param, default=[],
                   help="extra method parameter key=value (JSON values), repeatable")
    p.add_argument("--checkpoint-every", type=_checkpoint_every, default="auto",
                   help="checkpoint after this many applied requests, or 'auto' (default): when the "
                        "unlearning time since the last checkpoint reaches 20x a checkpoint's cost")
    p.add_argument("--keep", type=_positive, default=None,
                   help="checkpoints kept; older ones and unreferenced objects are deleted "
                        "(default: the ledger's, 2 for a new one)")
    p.add_argument("--quiet", action="store_true", help="no per-request JSON lines")


class _Progress:
    """Requests done, rate and ETA on one terminal line (stderr), when it is a terminal."""

    def __init__(self, total: int, stream: Any) -> None:
        self.total, self.stream = total, stream
        self.start: float | None = None
        self.first = 0
        self.last_draw = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start, self.first = now - event["seconds"], event["request"] - 1
        done = event["request"] - self.first
        if now - self.last_draw < 0.2 and event["request"] < self.total:
            return
        self.last_draw = now
        rate = done / max(now - self.start, 1e-9)
        eta = (self.total - event["request"]) / rate if rate > 0 else float("inf")
        self.stream.write(f"\rstream: {event['request']}/{self.total} requests  {rate:.1f} req/s  "
                          f"ETA {_duration(eta)}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.start is not None:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _cmd_stream(args: argparse.Namespace) -> int:
    bar = _Progress(args.requests, sys.stderr) if sys.stderr.isatty() else None

    def progress(event: dict[str, Any]) -> None:
        if not args.quiet:
            print(json.dumps(event), flush=True)
        if bar is not None:
            bar(event)

    try:
        summary = run_stream(args.method, args.dataset, args.model, args.requests, args.seed,
                             args.ledger, dict(args.param), args.root, args.split,
                             args.checkpoint_every, args.keep, progress)
    finally:
        if bar is not None:
            bar.close()
    print(json.dumps(summary), flush=True)
    if sys.stderr.isatty():
        print(f"stream: {summary['served']} requests served ({summary['applied']} applied in all), "
              f"{summary['retrains']} retrains, mean unlearn {summary['mean_unlearn_seconds'] * 1e3:.1f} ms, "
              f"mean ledger {summary['mean_ledger_seconds'] * 1e3:.1f} ms, disk {_size(summary['disk_bytes'])}",
              file=sys.stderr, flush=True)
    return 0


# exit codes of replay and verify
EXIT_OK = 0  # consistent (possibly after repairs written), or an empty ledger
EXIT_ATTENTION = 1  # restorable, but repairs are pending (--no-persist) or replay diverged
EXIT_ERROR = 2  # not a ledger, damaged or tampered with


def _configure_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", required=True, help="ledger directory")
    p.add_argument("--no-persist", action="store_true",
                   help="write nothing at all (no repair, no checkpoint, no lock file)")
    p.add_argument("--fallback", action="store_true",
                   help="if the newest checkpoint is damaged, rebuild from an older one (listed as damaged)")


def _cmd_replay(args: argparse.Namespace) -> int:
    ledger = Ledger(args.ledger)
    try:
        unlearner, summary = ledger.restore(persist=not args.no_persist, fallback=args.fallback)
    except EmptyLedgerError:
        print(json.dumps({"outcome": "empty", "applied": 0, "replayed": 0, "records": 0,
                          "fingerprint": None, "verified": True}), flush=True)
        return EXIT_OK
    summary["verified"] = not summary["mismatches"]
    summary["method"] = unlearner.method_name
    print(json.dumps(summary), flush=True)
    return EXIT_ATTENTION if summary["outcome"] in ("needs-repair", "diverged") else EXIT_OK


def _configure_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", required=True, help="ledger directory")
    p.add_argument("--no-objects", action="store_true",
                   help="skip hashing every stored object (journal and manifests only)")


def _cmd_verify(args: argparse.Namespace) -> int:
    result = Ledger(args.ledger).verify(objects=not args.no_objects)
    print(json.dumps(result.to_dict()), flush=True)
    return {"ok": EXIT_OK, "empty": EXIT_OK, "needs-repair": EXIT_ATTENTION}.get(result.outcome, EXIT_ERROR)


def _register() -> None:
    from graphforget.bench.cli import EXTRA_COMMANDS

    EXTRA_COMMANDS.setdefault("stream", (_configure_stream, _cmd_stream))
    EXTRA_COMMANDS.setdefault("replay", (_configure_replay, _cmd_replay))
    EXTRA_COMMANDS.setdefault("verify", (_configure_verify, _cmd_verify))


_register()
