"""Executors: how independent jobs (shards, seeds, benchmark cells) run.

A job is a picklable callable plus picklable arguments; results come back in
submission order, so every executor gives the same output. Per-job seeds are
derived from one global seed with :func:`derive_seed`, never from the order in
which workers happen to pick jobs up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from graphforget._registry import normalize, resolve

__all__ = ["Executor", "SerialExecutor", "derive_seed", "make_executor", "register_executor"]


def derive_seed(seed: int, *keys: Any) -> int:
    """A deterministic 31-bit seed for a job identified by ``keys`` under ``seed``."""
    payload = "/".join(str(k) for k in (seed, *keys)).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:4], "little") & 0x7FFFFFFF


class Executor:
    """Runs ``fn(*args)`` for each ``args`` in ``jobs`` and returns results in order."""

    name = "abstract"

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Releases workers (no-op for the serial executor)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs jobs one after another in this process (the deterministic default)."""

    name = "serial"

    def map(self, fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [fn(*args) for args in jobs]


_EXECUTORS: dict[str, Callable[..., Executor]] = {"serial": SerialExecutor}


def register_executor(name: str, factory: Callable[..., Executor]) -> None:
    _EXECUTORS[normalize(name)] = factory


def make_executor(name: str | Executor | None = "serial", **kwargs: Any) -> Executor:
    """An executor by name (``serial``; others register themselves)."""
    if isinstance(name, Executor):
        return name
    from graphforget._registry import discover

    discover()
    return resolve(name or "serial", _EXECUTORS, "executor")(**kwargs)
