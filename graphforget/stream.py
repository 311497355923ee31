"""Sustained request streams under the ledger: ``graphforget stream`` and ``graphforget replay``.

``graphforget stream --method M --dataset D --model X --requests N --seed S --ledger DIR``
fits the method (first run only), then applies N sequential single-node deletions,
each through :class:`~graphforget.ledger.Ledger`. The deleted nodes are the first N of a
seeded permutation of the training nodes, fixed when the ledger is created, so a rerun
on the same DIR resumes after the last journaled request. ``graphforget replay
--ledger DIR`` restores the model from the last consistent checkpoint and the journal
and prints one JSON line with ``applied`` and ``fingerprint``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import torch

from graphforget.errors import GraphForgetError
from graphforget.ledger import Ledger, LedgerError
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
               split: str | None = None, checkpoint_every: int = 1,
               progress: Any = None) -> dict[str, Any]:
    """Applies planned single-node deletions until ``requests`` have been journaled."""
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        raise GraphForgetError(f"requests must be a positive integer, got {requests!r}")
    ledger = Ledger(ledger_dir, checkpoint_every=checkpoint_every)
    with ledger.locked():
        unlearner, plan, done = open_stream(ledger, method, dataset, model, seed, params or {},
                                            root, split, requests)
        _check_requests(requests, plan)
        start = time.perf_counter()
        for i in range(done, requests):
            t0 = time.perf_counter()
            ledger.apply(unlearner, NodeRequest([plan[i]]))
            if progress is not None:
                progress({"request": i + 1, "node": plan[i], "seconds": time.perf_counter() - t0})
        if done < requests and requests % checkpoint_every:
            ledger.checkpoint(unlearner)  # leave the end of the stream checkpointed
        tail = ledger._tail()
        return {"applied": tail["applied"], "requests": requests, "resumed_at": done,
                "fingerprint": unlearner.fingerprint(), "seconds": time.perf_counter() - start}


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
    p.add_argument("--checkpoint-every", type=_positive, default=1,
                   help="checkpoint after this many applied requests (default 1)")
    p.add_argument("--quiet", action="store_true", help="no per-request progress lines")


def _cmd_stream(args: argparse.Namespace) -> int:
    def progress(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    summary = run_stream(args.method, args.dataset, args.model, args.requests, args.seed,
                         args.ledger, dict(args.param), args.root, args.split,
                         args.checkpoint_every, None if args.quiet else progress)
    print(json.dumps(summary), flush=True)
    return 0


def _configure_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ledger", required=True, help="ledger directory")
    p.add_argument("--no-persist", action="store_true",
                   help="do not write a checkpoint of the replayed state")


def _cmd_replay(args: argparse.Namespace) -> int:
    ledger = Ledger(args.ledger)
    unlearner, summary = ledger.restore(persist=not args.no_persist)
    verdict = ledger.verify()
    summary["verified"] = verdict.ok
    summary["method"] = unlearner.method_name
    print(json.dumps(summary), flush=True)
    if not verdict.ok:
        print(f"graphforget: error: ledger verification failed: {verdict.errors[0]}", file=sys.stderr)
        return 2
    return 0


def _register() -> None:
    from graphforget.bench.cli import EXTRA_COMMANDS

    EXTRA_COMMANDS.setdefault("stream", (_configure_stream, _cmd_stream))
    EXTRA_COMMANDS.setdefault("replay", (_configure_replay, _cmd_replay))


_register()
