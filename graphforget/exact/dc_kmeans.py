r"""DC-k-means (Ginart et al., NeurIPS 2019): divide-and-conquer k-means over a tree
of leaves; a deletion re-solves its leaf and the path to the root. Bitwise equal to training from scratch
(see :mod:`graphforget.exact.kmeans`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.exact.dare import _sm, _sm_np
from graphforget.exact.kmeans import (
    _assign,
    _KMeansBase,
    lloyd,
)
from graphforget.general._base import to_t, train_rows
from graphforget.requests import ForgetRequest
from graphforget.unlearner import UnlearnReport

__all__ = ["DCKMeans"]


@register_method("dc-kmeans", "divide-conquer-kmeans")
class DCKMeans(_KMeansBase):
    r"""Divide-and-conquer k-means (Ginart et al., 2019).

    Args:
        n_clusters (int): :math:`k`. (default: :obj:`10`)
        branching (int): children per inner node. (default: :obj:`8`)
        height (int): tree height (``branching ** height`` leaves). (default: :obj:`1`)
        max_iter (int): Lloyd iterations per sub-problem. (default: :obj:`10`)
        seed (int): keys the leaf hashing and every seeding race. (default: :obj:`0`)
    """

    def __init__(self, n_clusters: int = 10, branching: int = 8, height: int = 1,
                 max_iter: int = 10, seed: int = 0) -> None:
        self.n_clusters = n_clusters
        self.branching = branching
        self.height = height
        self.max_iter = max_iter
        self.seed = seed

    def _solve(self, level: int, index: int) -> None:
        """Re-solves node ``index`` of ``level`` (0 = leaves) from its inputs."""
        k, salt = self.n_clusters, _sm(int(self.seed) ^ _sm(level * 1_000_003 + index))
        if level == 0:
            members = np.flatnonzero(self.active_ & (self.leaf_of_ == index))
            if len(members) == 0:
                self.levels_[0][index] = (np.zeros((0, self.X_.shape[1])), np.zeros(0))
                return
            X, keys, w = self.X_[members], self.rows_[members], np.ones(len(members))
        else:
            kids = [self.levels_[level - 1][c] for c in range(index * self.branching,
                                                               (index + 1) * self.branching)]
            X = np.concatenate([c for c, _ in kids])
            w = np.concatenate([wt for _, wt in kids])
            keys = np.concatenate([np.arange(len(c)) + j * k for j, (c, _) in enumerate(kids)])
            keep = w > 0
            X, w, keys = X[keep], w[keep], keys[keep]
        C = lloyd(X, keys, k, salt, self.max_iter, w)
        a = _assign(X, C)
        counts = np.bincount(a, weights=w, minlength=len(C))
        self.levels_[level][index] = (C, counts)

    def _fit(self, data: Data) -> None:
        self._check_k()
        for name in ("branching", "height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise GraphForgetError(f"{name} must be a positive integer, got {v!r}")
        rows = train_rows(data)
        self.rows_, self.X_ = rows, data.x.numpy()[rows].astype(np.float64)
        self.active_ = np.ones(len(rows), dtype=bool)
        n_leaves = self.branching ** self.height
        h = _sm_np(rows.astype(np.uint64) ^ np.uint64(_sm(int(self.seed) ^ 0x5EED)))
        self.leaf_of_ = (h % np.uint64(n_leaves)).astype(np.int64)
        self.levels_: list[list[Any]] = [[None] * (n_leaves // self.branching ** lv)
                                         for lv in range(self.height + 1)]
        for level in range(self.height + 1):
            for index in range(len(self.levels_[level])):
                self._solve(level, index)
        self.centroids_ = self.levels_[-1][0][0]

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        pos = self._positions(request)
        active = self.active_.copy()
        active[pos] = False
        if active.sum() < self.n_clusters:
            raise GraphForgetError(f"dc-kmeans: fewer than {self.n_clusters} rows would remain")
        start = time.perf_counter()
        self.active_ = active
        touched = sorted(set(self.leaf_of_[pos].tolist()))
        solved = 0
        for level in range(self.height + 1):
            for index in touched:
                self._solve(level, index)
                solved += 1
            touched = sorted({i // self.branching for i in touched})
        self.centroids_ = self.levels_[-1][0][0]
        report.breakdown["delete"] = time.perf_counter() - start
        report.affected.update({"samples": int(len(pos)), "subproblems": solved})

    def _get_state(self) -> dict[str, Any]:
        return {"rows": to_t(self.rows_), "X": to_t(self.X_), "active": to_t(self.active_),
                "leaf_of": to_t(self.leaf_of_),
                "levels": [[{"C": to_t(c), "w": to_t(w)} for c, w in lv] for lv in self.levels_]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rows_, self.X_ = state["rows"].numpy().copy(), state["X"].numpy().copy()
        self.active_, self.leaf_of_ = state["active"].numpy().copy(), state["leaf_of"].numpy().copy()
        self.levels_ = [[(e["C"].numpy().copy(), e["w"].numpy().copy()) for e in lv] for lv in state["levels"]]
        self.centroids_ = self.levels_[-1][0][0]
