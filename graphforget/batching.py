r"""Batching policy against the availability attack: bounded unlearning work per window.

A party that sends a stream of tiny requests can force a sharded or exact method to
retrain again and again (the "availability" or "slow-down" attack of the unlearning
surveys). :class:`BatchingUnlearner` bounds that work: requests are validated when they
are submitted, queued, and served as **one merged request per kind** when the window
closes, i.e. when

* ``max_batch`` requests are queued (size window), or
* the oldest queued request is ``max_delay`` seconds old (time window; checked on
  :meth:`BatchingUnlearner.submit` and :meth:`BatchingUnlearner.poll`, no thread).

So a stream of ``R`` requests costs at most ``ceil(R / max_batch)`` unlearning calls
per request kind, whatever their rate, and no request waits longer than ``max_delay``
plus one flush. Until its window closes a request is *pending*: it is not yet
forgotten (predictions still use it), and it is not yet in a ledger if the wrapped
unlearner is a :class:`~graphforget.ledger.LedgeredUnlearner` — acknowledgement
happens at flush.

Merging rules: node (and sample) requests are concatenated; edge requests are
concatenated (an undirected edge named twice, in either direction, is rejected at
submit); feature requests merge when they name the same feature columns. A merged
flush serves edges first, then features, then nodes, so a queued edge whose endpoint
is also queued for deletion is still valid when served.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    ForgetRequest,
    NodeRequest,
    SampleRequest,
    is_undirected,
)
from graphforget.unlearner import UnlearnReport

__all__ = ["BatchingUnlearner", "merge_requests"]

_ORDER = {"edge": 0, "feature": 1, "node": 2, "sample": 2}


def merge_requests(requests: list[ForgetRequest]) -> list[ForgetRequest]:
    """Merges requests into at most one request per kind (and feature-column set),
    in serving order: edges, features, nodes/samples."""
    groups: dict[tuple, list[ForgetRequest]] = {}
    for r in requests:
        if isinstance(r, FeatureRequest):
            cols = None if r.feature_ids is None else tuple(r.feature_ids.tolist())
            key = ("feature", cols)
        else:
            key = (r.kind, None)
        groups.setdefault(key, []).append(r)
    merged: list[ForgetRequest] = []
    for (kind, cols), rs in sorted(groups.items(), key=lambda kv: (_ORDER.get(kv[0][0], 3), str(kv[0]))):
        if kind == "edge":
            merged.append(EdgeRequest(torch.cat([r.edge_index for r in rs], dim=1)))
        elif kind == "feature":
            feats = None if cols is None else torch.tensor(cols, dtype=torch.long)
            merged.append(FeatureRequest(torch.cat([r.node_ids for r in rs]), feats))
        elif kind == "sample":
            merged.append(SampleRequest(torch.cat([r.node_ids for r in rs])))
        elif kind == "node":
            merged.append(NodeRequest(torch.cat([r.node_ids for r in rs])))
        else:  # a kind this policy does not know how to merge: serve one by one
            merged.extend(rs)
    return merged


class BatchingUnlearner:
    """Queues forget requests and serves one merged request per kind per window.

    Args:
        unlearner: a fitted :class:`~graphforget.Unlearner` (or a
            :class:`~graphforget.ledger.LedgeredUnlearner`).
        max_batch: requests per window. (default: :obj:`64`)
        max_delay: seconds a request may stay queued. (default: :obj:`60.0`)
        clock: time source (``time.monotonic``; tests pass a fake clock).
    """

    def __init__(self, unlearner: Any, max_batch: int = 64, max_delay: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise GraphForgetError(f"max_batch must be a positive integer, got {max_batch!r}")
        if isinstance(max_delay, bool) or not isinstance(max_delay, (int, float)) or not max_delay >= 0:
            raise GraphForgetError(f"max_delay must be a number >= 0, got {max_delay!r}")
        self.unlearner = unlearner
        self.max_batch = max_batch
        self.max_delay = float(max_delay)
        self.clock = clock
        self._queue: list[ForgetRequest] = []
        self._opened: float | None = None
        self._nodes: set[int] = set()
        self._edges: set[tuple[int, int]] = set()
        self._features: set[tuple[int, Any]] = set()
        self.submitted = 0
        self.flushes = 0
        self.calls = 0

    @property
    def pending(self) -> int:
        """Requests queued and not yet served."""
        return len(self._queue)

    def _check(self, request: ForgetRequest) -> tuple[set, set, set]:
        """Validates against the current data and the queue; returns the new keys."""
        self.unlearner._check_supported(request)
        self.unlearner._check_fitted()
        data = self.unlearner.data_
        request.validate(data)
        nodes: set[int] = set()
        edges: set[tuple[int, int]] = set()
        feats: set[tuple[int, Any]] = set()
        if isinstance(request, EdgeRequest):
            undirected = is_undirected(data)
            for u, v in request.edge_index.t().tolist():
                edges.add((min(u, v), max(u, v)) if undirected else (u, v))
            clash = edges & self._edges
            if clash:
                raise InvalidRequestError(f"edges already queued for deletion: {sorted(clash)[:8]}")
        elif isinstance(request, FeatureRequest):
            cols = None if request.feature_ids is None else tuple(request.feature_ids.tolist())
            feats = {(int(i), cols) for i in request.node_ids.tolist()}
            clash = feats & self._features
            if clash:
                raise InvalidRequestError(f"features already queued for deletion on nodes "
                                          f"{sorted(i for i, _ in clash)[:8]}")
        elif isinstance(request, NodeRequest):
            nodes = {int(i) for i in request.node_ids.tolist()}
            clash = nodes & self._nodes
            if clash:
                raise InvalidRequestError(f"nodes already queued for deletion: {sorted(clash)[:8]}")
        return nodes, edges, feats

    def submit(self, request: ForgetRequest) -> list[UnlearnReport]:
        """Validates and queues ``request``; flushes (and returns the reports) when the
        window is full or expired. Invalid requests raise at once and are not queued."""
        if not isinstance(request, ForgetRequest):
            raise TypeError(f"submit() expects a ForgetRequest, got {type(request).__name__}")
        reports = self.poll()
        if request.is_empty:
            return reports
        nodes, edges, feats = self._check(request)
        self._queue.append(request)
        self._nodes |= nodes
        self._edges |= edges
        self._features |= feats
        self.submitted += 1
        if self._opened is None:
            self._opened = self.clock()
        if len(self._queue) >= self.max_batch:
            reports += self.flush()
        return reports

    def poll(self) -> list[UnlearnReport]:
        """Flushes when the oldest queued request is ``max_delay`` seconds old."""
        if self._queue and self._opened is not None and self.clock() - self._opened >= self.max_delay:
            return self.flush()
        return []

    def flush(self) -> list[UnlearnReport]:
        """Serves every queued request now (one merged request per kind)."""
        if not self._queue:
            return []
        merged = merge_requests(self._queue)
        reports = []
        for i, request in enumerate(merged):
            try:
                reports.append(self.unlearner.unlearn(request))
            except Exception:
                # Keep what was not served queued, so nothing is silently dropped.
                self._queue = merged[i:]
                self._rebuild_keys()
                raise
            self.calls += 1
        self._queue = []
        self._nodes, self._edges, self._features = set(), set(), set()
        self._opened = None
        self.flushes += 1
        return reports

    def _rebuild_keys(self) -> None:
        queue, self._queue = self._queue, []
        self._nodes, self._edges, self._features = set(), set(), set()
        for r in queue:
            nodes, edges, feats = self._check(r)
            self._queue.append(r)
            self._nodes |= nodes
            self._edges |= edges
            self._features |= feats

    def __getattr__(self, name: str) -> Any:
        if name == "unlearner":
            raise AttributeError(name)
        return getattr(self.unlearner, name)
