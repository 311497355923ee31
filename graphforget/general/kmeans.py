r"""Deletion-efficient k-means: Ginart, Guan, Valiant & Zou (NeurIPS 2019),
"Making AI Forget You: Data Deletion in Machine Learning".

* **Q-k-means** (``q-kmeans``): Lloyd's iterations whose centroids are quantised to a
  randomly shifted lattice of step ``epsilon`` after every update,
  :math:`\hat c = \epsilon\,\mathrm{round}((c - \theta)/\epsilon) + \theta`. Each
  iteration's assignment is cached; deleting a point recomputes, iteration by
  iteration, the mean of the cluster it belonged to, and only when a *quantised*
  centroid changes is Lloyd re-run — from that iteration on, since everything before it
  is unchanged. The seeding is re-run only if the point was a seed.
* **DC-k-means** (``dc-kmeans``): divide and conquer. Rows are hashed into
  ``branching ** height`` leaves; every leaf solves k-means on its rows, every inner node
  solves weighted k-means on its children's centroids (weights = cluster sizes), the
  root's centroids are the model. Deleting a row re-solves its leaf and the path to
  the root only.

Exactness. Seeding is k-means++ run as an exponential race — the next seed is
:math:`\arg\min_i E_i / (w_i D(x_i)^2)` with :math:`E_i \sim \mathrm{Exp}(1)` keyed by
(``seed``, round, row id) — which samples exactly the :math:`D^2` distribution and whose
winner does not change when a non-winner is removed. Every cluster mean is computed from
its members in row order. So both methods leave *bitwise* the centroids (and, for
DC-k-means, every leaf's and inner node's centroids) that training from scratch on the
retained rows with the same seed gives.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import TabularUnlearner, to_t, train_rows
from graphforget.general.dare import _sm, _sm_np
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["QKMeans", "DCKMeans", "kmeanspp_race", "lloyd", "kmeans_loss"]


def _exp_clock(seed: int, salt: int, keys: np.ndarray) -> np.ndarray:
    """Keyed Exp(1) variables, one per key."""
    h = _sm_np(keys.astype(np.uint64) ^ np.uint64(_sm(_sm(seed) ^ salt)))
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)
    return -np.log(u)


def kmeanspp_race(X: np.ndarray, keys: np.ndarray, k: int, seed: int,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """Indices (into ``X``) of ``k`` k-means++ seeds drawn by keyed exponential races."""
    w = np.ones(len(X)) if weights is None else weights.astype(np.float64)
    d2 = np.ones(len(X))
    chosen: list[int] = []
    for r in range(min(k, len(X))):
        score = w * d2
        with np.errstate(divide="ignore"):
            race = np.where(score > 0, _exp_clock(seed, r, keys) / score, np.inf)
        if not np.isfinite(race).any():
            break  # fewer distinct points than k
        i = int(np.argmin(race))
        chosen.append(i)
        d2 = np.minimum(d2 if r else np.full(len(X), np.inf), ((X - X[i]) ** 2).sum(1))
    return np.asarray(chosen, dtype=np.int64)


def _assign(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Nearest centroid per row. Distances are computed row by row (no GEMM, whose
    rounding may depend on the other rows), so a row's assignment depends only on it."""
    out = np.empty(len(X), dtype=np.int64)
    step = max(1, 2_000_000 // max(1, C.size))
    for i in range(0, len(X), step):
        out[i:i + step] = ((X[i:i + step, None, :] - C[None]) ** 2).sum(2).argmin(1)
    return out


def _means(X: np.ndarray, w: np.ndarray, a: np.ndarray, prev: np.ndarray) -> np.ndarray:
    out = prev.copy()
    for j in range(len(prev)):
        members = np.flatnonzero(a == j)
        if len(members):
            ww = w[members]
            out[j] = (X[members] * ww[:, None]).sum(0) / ww.sum()
    return out


def lloyd(X: np.ndarray, keys: np.ndarray, k: int, seed: int, iters: int,
          weights: np.ndarray | None = None) -> np.ndarray:
    """Deterministic weighted k-means (race seeding, ``iters`` Lloyd steps, early stop)."""
    w = np.ones(len(X)) if weights is None else weights
    C = X[kmeanspp_race(X, keys, k, seed, w)]
    if len(C) < k:  # fewer distinct points than clusters: repeat the last seed
        C = np.concatenate([C, np.repeat(C[-1:], k - len(C), 0)])
    a = _assign(X, C)
    for _ in range(iters):
        C = _means(X, w, a, C)
        a_new = _assign(X, C)
        if np.array_equal(a_new, a):
            break
        a = a_new
    return C


def kmeans_loss(X: np.ndarray, C: np.ndarray) -> float:
    """Mean squared distance of each row to its nearest centroid."""
    d = ((X[:, None, :] - C[None]) ** 2).sum(2) if len(X) * len(C) * X.shape[1] < 5e7 else None
    if d is None:
        return float(np.mean([((X[i:i + 4096, None, :] - C[None]) ** 2).sum(2).min(1).mean()
                              for i in range(0, len(X), 4096)]))
    return float(d.min(1).mean())


class _KMeansBase(TabularUnlearner):
    guarantee = Guarantee.EXACT

    def _check_k(self) -> None:
        if not isinstance(self.n_clusters, int) or self.n_clusters < 1:
            raise GraphForgetError(f"n_clusters must be a positive integer, got {self.n_clusters!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 0:
            raise GraphForgetError(f"max_iter must be a non-negative integer, got {self.max_iter!r}")

    def _positions(self, request: ForgetRequest) -> np.ndarray:
        ids = request.node_ids.numpy()
        pos = np.searchsorted(self.rows_, ids)
        return pos[(pos < len(self.rows_)) & (self.rows_[np.minimum(pos, len(self.rows_) - 1)] == ids)]

    def _logits(self, data: Data) -> Tensor:
        X = data.x.numpy().astype(np.float64)
        C = self.centroids_
        d = (X * X).sum(1)[:, None] - 2.0 * X @ C.T + (C * C).sum(1)[None, :]
        return torch.from_numpy(-d).to(torch.float32)

    def score(self, data: Data | None = None, mask: str | Tensor = "test_mask") -> float:
        """Cluster purity accuracy: each cluster predicts the majority training label of
        its members; accuracy of that labelling on ``mask``."""
        inf = self.inference_data(data)
        m = inf[mask if str(mask).endswith("_mask") else f"{mask}_mask"] if isinstance(mask, str) else mask
        cl = self.predict(data).numpy()
        tr = train_rows(inf)
        y = inf.y.numpy()
        label = np.zeros(self.n_clusters, dtype=np.int64)
        for j in range(self.n_clusters):
            members = y[tr][cl[tr] == j]
            if len(members):
                label[j] = np.bincount(members).argmax()
        sel = m.numpy()
        return float((label[cl[sel]] == y[sel]).mean()) if sel.any() else 0.0

    def loss(self, data: Data | None = None) -> float:
        """k-means objective on the (retained) training rows."""
        inf = self.inference_data(data)
        return kmeans_loss(inf.x.numpy()[train_rows(inf)].astype(np.float64), self.centroids_)

    def parameter_vector(self) -> Tensor | None:
        c = getattr(self, "centroids_", None)
        return None if c is None else torch.from_numpy(c.reshape(-1).copy())

    def reference(self) -> _KMeansBase:
        return self.clone()


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
