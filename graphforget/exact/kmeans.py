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

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.exact.dare import _sm, _sm_np
from graphforget.general._base import TabularUnlearner, train_rows
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee

__all__ = ["kmeanspp_race", "lloyd", "kmeans_loss"]


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
