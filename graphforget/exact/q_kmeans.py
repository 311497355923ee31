r"""Q-k-means (Ginart et al., NeurIPS 2019): Lloyd iterations on a randomly shifted
quantisation lattice; a deletion re-runs Lloyd only from the first iteration whose quantised centroids change.
Bitwise equal to training from scratch on the retained rows (see :mod:`graphforget.exact.kmeans`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.exact.dare import _sm
from graphforget.exact.kmeans import (
    _assign,
    _KMeansBase,
    _means,
    kmeanspp_race,
)
from graphforget.general._base import to_t, train_rows
from graphforget.requests import ForgetRequest
from graphforget.unlearner import UnlearnReport

__all__ = ["QKMeans"]


@register_method("q-kmeans", "quantized-kmeans")
class QKMeans(_KMeansBase):
    r"""Quantised k-means (Ginart et al., 2019).

    Args:
        n_clusters (int): :math:`k`. (default: :obj:`10`)
        epsilon (float): lattice step of the quantisation, relative to the data's
            feature range (larger = more deletion-stable, coarser). (default: :obj:`0.05`)
        max_iter (int): Lloyd iterations (stops early at a fixed point). (default: :obj:`10`)
        seed (int): keys the seeding race and the lattice phase. (default: :obj:`0`)
    """

    def __init__(self, n_clusters: int = 10, epsilon: float = 0.05, max_iter: int = 10,
                 seed: int = 0) -> None:
        self.n_clusters = n_clusters
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.seed = seed

    def _quantise(self, C: np.ndarray) -> np.ndarray:
        return self.step_ * np.round((C - self.phase_) / self.step_) + self.phase_

    def _run(self, start: int, C: np.ndarray, active: np.ndarray) -> None:
        """Lloyd from iteration ``start`` with quantised centroids ``C`` (the input of that
        iteration); fills ``assign_`` / ``trajectory_`` from there on."""
        X = self.X_
        act = np.flatnonzero(active)
        del self.trajectory_[start + 1:]
        del self.assign_[start:]
        for _ in range(start, self.max_iter):
            a = np.full(len(X), -1, dtype=np.int64)
            a[act] = _assign(X[act], C)
            self.assign_.append(a)
            C_new = self._quantise(_means(X, np.ones(len(X)), a, C))
            self.trajectory_.append(C_new)
            if np.array_equal(C_new, C):
                break
            C = C_new
        self.centroids_ = self.trajectory_[-1]

    def _train(self, active: np.ndarray) -> None:
        act = np.flatnonzero(active)
        seeds = kmeanspp_race(self.X_[act], self.rows_[act], self.n_clusters, self.seed)
        if len(seeds) < self.n_clusters:
            raise GraphForgetError(f"q-kmeans needs at least {self.n_clusters} distinct rows")
        self.seeds_ = self.rows_[act][seeds]
        C0 = self._quantise(self.X_[act][seeds])
        self.trajectory_ = [C0]
        self.assign_ = []
        self._run(0, C0, active)

    def _fit(self, data: Data) -> None:
        self._check_k()
        if not self.epsilon > 0:
            raise GraphForgetError(f"epsilon must be > 0, got {self.epsilon!r}")
        rows = train_rows(data)
        self.rows_, self.X_ = rows, data.x.numpy()[rows].astype(np.float64)
        self.active_ = np.ones(len(rows), dtype=bool)
        span = float(self.X_.max() - self.X_.min()) or 1.0
        self.step_ = float(self.epsilon) * span
        g = np.random.default_rng(_sm(int(self.seed)) & 0xFFFFFFFF)
        self.phase_ = g.uniform(0.0, self.step_, size=self.X_.shape[1])
        self._train(self.active_)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        pos = self._positions(request)
        active = self.active_.copy()
        active[pos] = False
        if active.sum() < self.n_clusters:
            raise GraphForgetError(f"q-kmeans: fewer than {self.n_clusters} rows would remain")
        start = time.perf_counter()
        if np.isin(self.rows_[pos], self.seeds_).any():
            self.active_ = active
            self._train(active)
            report.diagnostics["restart"] = "seed deleted"
        else:
            restart = None
            X = self.X_
            for t, a in enumerate(self.assign_):
                hit = np.unique(a[pos])
                a2 = a.copy()
                a2[pos] = -1
                C_prev = self.trajectory_[t]
                C_new = self.trajectory_[t + 1].copy()
                for j in hit:
                    members = np.flatnonzero(a2 == j)
                    if len(members):
                        C_new[j] = self._quantise(X[members].sum(0)[None] / len(members))[0]
                    else:
                        C_new[j] = C_prev[j]
                if not np.array_equal(C_new, self.trajectory_[t + 1]):
                    restart = t
                    break
                a[pos] = -1
            self.active_ = active
            if restart is not None:
                self._run(restart, self.trajectory_[restart], active)
            report.diagnostics["restart"] = restart
        report.breakdown["delete"] = time.perf_counter() - start
        report.affected["samples"] = int(len(pos))

    def _get_state(self) -> dict[str, Any]:
        return {"rows": to_t(self.rows_), "X": to_t(self.X_), "active": to_t(self.active_),
                "step": self.step_, "phase": to_t(self.phase_), "seeds": to_t(self.seeds_),
                "trajectory": [to_t(c) for c in self.trajectory_],
                "assign": [to_t(a) for a in self.assign_], "centroids": to_t(self.centroids_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rows_, self.X_ = state["rows"].numpy().copy(), state["X"].numpy().copy()
        self.active_, self.step_ = state["active"].numpy().copy(), float(state["step"])
        self.phase_, self.seeds_ = state["phase"].numpy().copy(), state["seeds"].numpy().copy()
        self.trajectory_ = [c.numpy().copy() for c in state["trajectory"]]
        self.assign_ = [a.numpy().copy() for a in state["assign"]]
        self.centroids_ = state["centroids"].numpy().copy()
