r"""DaRE random forests: Brophy & Lowd (ICML 2021), "Machine Unlearning for Random Forests".

A DaRE tree has *random* nodes in its top ``topd`` layers (a random attribute, a
threshold uniform in :math:`[\min, \max)` of that attribute at the node) and *greedy*
nodes below (the best Gini split over ``k`` sampled thresholds of each of
``max_features`` sampled attributes). Every node caches the statistics its decision
needs — per sampled threshold the class counts left of it — and leaves store their
instances. Deleting an instance walks one root-to-leaf path per tree, decrements the
cached counts and re-decides each node from them; only where the decision changes (or
the cached sample of thresholds loses a member) is the subtree retrained from the
instances below it.

Exactness "with the same randomness". Every random choice is a pure function of the
node's position in the tree and of the candidate it ranks: attributes and thresholds
are picked by the smallest keyed hash (``seed``, tree, node path, attribute, value),
i.e. bottom-k sampling; a random node's threshold is
:math:`\min + u\,(\max - \min)` with :math:`u` hashed from the node path. Deleting
instances can only remove candidates, and a bottom-k sample of a subset that still
holds every sampled member is that same sample, so after any deletions the forest is
*identical* — node for node, count for count — to the forest built from scratch on the
retained rows with the same ``seed`` (:meth:`DaRE.forest_digest` is equal). The
distribution of every choice is the paper's (uniform attribute and threshold at random
nodes; ``k`` thresholds sampled without replacement at greedy nodes).

One documented difference from the paper: candidate thresholds are the distinct
attribute values below the node's maximum (a split ``x <= v``), not only the midpoints
between adjacent values with different labels. Midpoint candidates can *appear* when a
row is deleted, which breaks the bottom-k argument above; value candidates can only
disappear.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import TabularUnlearner, train_rows
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["DaRE", "DaRETree"]

_M = (1 << 64) - 1
_LEAF, _RANDOM, _GREEDY = 0, 1, 2


def _sm(x: int) -> int:
    """splitmix64 on a Python int."""
    x = (x + 0x9E3779B97F4A7C15) & _M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M
    return x ^ (x >> 31)


def _sm_np(x: np.ndarray) -> np.ndarray:
    """splitmix64 over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _priorities(key: int, salt: int, values: np.ndarray) -> np.ndarray:
    base = np.uint64(_sm(key ^ _sm(salt)))
    if values.dtype == np.float64:
        bits = (values + 0.0).view(np.uint64)  # -0.0 and 0.0 rank alike
    else:
        bits = values.astype(np.uint64)
    return _sm_np(bits ^ base)


def _bottom(prio: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest priorities (ties by index), in index order."""
    if len(prio) <= k:
        return np.arange(len(prio))
    order = np.lexsort((np.arange(len(prio)), prio))[:k]
    return np.sort(order)


def _gini_scores(left: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Weighted Gini impurity of splits with class counts ``left`` [k, C] of ``total`` [C]."""
    right = total[None, :] - left
    nl, nr = left.sum(1).astype(np.float64), right.sum(1).astype(np.float64)
    gl = nl - (left.astype(np.float64) ** 2).sum(1) / np.maximum(nl, 1.0)
    gr = nr - (right.astype(np.float64) ** 2).sum(1) / np.maximum(nr, 1.0)
    return (gl + gr) / float(total.sum())


class _Node:
    __slots__ = ("kind", "key", "depth", "counts", "ids", "attr", "thr", "left", "right",
                 "vmin", "vmax", "nmin", "nmax", "attrs", "tattr", "thrs", "lcounts", "neq")


class DaRETree:
    """One DaRE tree over a shared float64 matrix ``X`` and labels ``y`` (positions)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, num_classes: int, key: int, topd: int,
                 k: int, max_depth: int, min_samples_split: int, max_features: int) -> None:
        self.X, self.y, self.C, self.key = X, y, num_classes, key
        self.topd, self.k, self.max_depth = topd, k, max_depth
        self.min_samples_split, self.max_features = min_samples_split, max_features
        self.retrained_nodes = 0

    # -- building -------------------------------------------------------------------
    def build(self, ids: np.ndarray) -> None:
        self.root = self._build(np.sort(ids), 0, self.key)

    def _counts(self, ids: np.ndarray) -> np.ndarray:
        return np.bincount(self.y[ids], minlength=self.C).astype(np.int64)

    def _build(self, ids: np.ndarray, depth: int, key: int) -> _Node:
        node = _Node()
        node.depth, node.key = depth, key
        node.counts = self._counts(ids)
        n = len(ids)
        if depth >= self.max_depth or n < self.min_samples_split or node.counts.max() == n:
            return self._leaf(node, ids)
        ok = self._decide(node, ids)
        if not ok:
            return self._leaf(node, ids)
        col = self.X[ids, node.attr]
        go_left = col <= node.thr
        node.left = self._build(ids[go_left], depth + 1, _sm(key * 2 + 1))
        node.right = self._build(ids[~go_left], depth + 1, _sm(key * 2 + 2))
        node.ids = None
        return node

    def _leaf(self, node: _Node, ids: np.ndarray) -> _Node:
        node.kind, node.ids = _LEAF, ids
        node.left = node.right = None
        return node

    def _decide(self, node: _Node, ids: np.ndarray) -> bool:
        """Fills the node's decision and cached statistics; ``False`` if it cannot split."""
        Xn = self.X[ids]
        mins, maxs = Xn.min(0), Xn.max(0)
        valid = np.flatnonzero(maxs > mins)
        if len(valid) == 0:
            return False
        if node.depth < self.topd:
            prio = _priorities(node.key, 1, valid)
            a = int(valid[np.lexsort((valid, prio))[0]])
            u = float(_sm(node.key ^ 0xA5A5A5A5) >> 11) / float(1 << 53)
            lo, hi = float(mins[a]), float(maxs[a])
            t = lo + u * (hi - lo)
            if not t < hi:
                t = lo
            col = Xn[:, a]
            node.kind, node.attr, node.thr = _RANDOM, a, t
            node.vmin, node.vmax = lo, hi
            node.nmin, node.nmax = int((col == lo).sum()), int((col == hi).sum())
            return True
        node.kind = _GREEDY
        m = min(self.max_features, len(valid))
        attrs = valid[_bottom(_priorities(node.key, 2, valid), m)]
        node.attrs = attrs
        onehot = np.zeros((len(ids), self.C), dtype=np.int64)
        onehot[np.arange(len(ids)), self.y[ids]] = 1
        stats = [self._attr_stats(Xn[:, a], onehot, node.key, int(a)) for a in attrs]
        # flat arrays over every sampled (attribute, threshold), attribute-major
        node.tattr = np.concatenate([np.full(len(t), a, dtype=np.int64) for a, (t, _, _) in zip(attrs, stats, strict=True)])
        node.thrs = np.concatenate([t for t, _, _ in stats])
        node.lcounts = np.concatenate([lc for _, lc, _ in stats])
        node.neq = np.concatenate([ne for _, _, ne in stats])
        self._choose(node)
        return True

    def _attr_stats(self, col: np.ndarray, onehot: np.ndarray, key: int, a: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        uniq = np.unique(col)
        cand = uniq[:-1]  # values below the maximum: both sides non-empty
        t = cand[_bottom(_priorities(key, 3 + a, cand), self.k)]
        le = (col[:, None] <= t[None, :]).astype(np.int64)
        return t, le.T @ onehot, (col[:, None] == t[None, :]).sum(0).astype(np.int64)

    def _choose(self, node: _Node) -> None:
        """Best split: the first minimum of the weighted Gini over all sampled thresholds."""
        j = int(np.argmin(_gini_scores(node.lcounts, node.counts)))
        node.attr, node.thr = int(node.tattr[j]), float(node.thrs[j])

    # -- deletion -------------------------------------------------------------------
    def _gather(self, node: _Node) -> np.ndarray:
        if node.kind == _LEAF:
            return node.ids
        return np.concatenate([self._gather(node.left), self._gather(node.right)])

    def _rebuild(self, node: _Node, drop: int) -> _Node:
        ids = self._gather(node)
        ids = np.sort(ids[ids != drop])
        self.retrained_nodes += 1
        return self._build(ids, node.depth, node.key)

    def delete(self, i: int) -> None:
        self.root = self._delete(self.root, i)

    def _delete(self, node: _Node, i: int) -> _Node:
        yi = self.y[i]
        if node.kind == _LEAF:
            node.counts[yi] -= 1
            pos = np.searchsorted(node.ids, i)
            node.ids = np.delete(node.ids, pos)
            return node
        n = int(node.counts.sum()) - 1
        counts = node.counts.copy()
        counts[yi] -= 1
        if n < self.min_samples_split or counts.max() == n:
            return self._rebuild(node, i)
        xi = self.X[i]
        if node.kind == _RANDOM:
            v = xi[node.attr]
            if (v == node.vmin and node.nmin == 1) or (v == node.vmax and node.nmax == 1):
                return self._rebuild(node, i)
            node.nmin -= int(v == node.vmin)
            node.nmax -= int(v == node.vmax)
            node.counts = counts
        else:
            v = xi[node.tattr]
            node.lcounts[v <= node.thrs, yi] -= 1
            node.neq[v == node.thrs] -= 1
            node.counts = counts
            if (node.neq <= 0).any() or (node.lcounts.sum(1) >= n).any():
                # a sampled threshold left the candidate set: resample from the node's
                # instances (the subtrees are kept if the decision stands)
                ids = self._gather(node)
                ids = np.sort(ids[ids != i])
                old = (node.attr, node.thr)
                left, right = node.left, node.right
                if not self._decide(node, ids):
                    self.retrained_nodes += 1
                    return self._build(ids, node.depth, node.key)
                node.left, node.right = left, right
                if (node.attr, node.thr) != old:
                    self.retrained_nodes += 1
                    return self._build(ids, node.depth, node.key)
            old = (node.attr, node.thr)
            self._choose(node)
            if (node.attr, node.thr) != old:
                return self._rebuild(node, i)
        if xi[node.attr] <= node.thr:
            node.left = self._delete(node.left, i)
        else:
            node.right = self._delete(node.right, i)
        return node

    # -- inference and digest ---------------------------------------------------------
    def proba(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), self.C))
        self._route(self.root, X, np.arange(len(X)), out)
        return out

    def _route(self, node: _Node, X: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        if len(rows) == 0:
            return
        if node.kind == _LEAF:
            n = node.counts.sum()
            out[rows] = node.counts / max(n, 1)
            return
        go = X[rows, node.attr] <= node.thr
        self._route(node.left, X, rows[go], out)
        self._route(node.right, X, rows[~go], out)

    def digest_into(self, h: Any, rows: np.ndarray) -> None:
        """Feeds every node into ``h``; leaf instances as data row ids ``rows[pos]``."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            h.update(np.array([node.kind, node.depth], dtype=np.int64).tobytes())
            h.update(node.counts.tobytes())
            if node.kind == _LEAF:
                h.update(rows[node.ids].astype(np.int64).tobytes())
                continue
            h.update(np.array([node.attr, node.thr]).tobytes())
            if node.kind == _GREEDY:
                h.update(node.attrs.astype(np.int64).tobytes() + node.tattr.tobytes())
                h.update(node.thrs.tobytes() + node.lcounts.tobytes() + node.neq.tobytes())
            else:
                h.update(np.array([node.vmin, node.vmax, node.nmin, node.nmax]).tobytes())
            stack += [node.right, node.left]

    def num_nodes(self) -> int:
        stack, count = [self.root], 0
        while stack:
            node = stack.pop()
            count += 1
            if node.kind != _LEAF:
                stack += [node.left, node.right]
        return count


@register_method("dare", "dare-rf")
class DaRE(TabularUnlearner):
    r"""Data Removal-Enabled random forest (Brophy & Lowd, 2021).

    Args:
        n_estimators (int): number of trees. (default: :obj:`100`)
        max_depth (int): maximum depth. (default: :obj:`10`)
        topd (int): number of random top layers (``0`` = fully greedy DaRE, the paper's
            "G-DaRE"). (default: :obj:`0`)
        k (int): thresholds sampled per attribute at greedy nodes. (default: :obj:`25`)
        max_features (int, float, str): attributes sampled per greedy node: an int, a
            fraction, ``"sqrt"`` or ``None`` (all). (default: ``"sqrt"``)
        min_samples_split (int): smallest node that is split. (default: :obj:`2`)
        seed (int): keys every random choice. (default: :obj:`0`)
    """

    guarantee = Guarantee.EXACT

    def __init__(self, n_estimators: int = 100, max_depth: int = 10, topd: int = 0, k: int = 25,
                 max_features: int | float | str | None = "sqrt", min_samples_split: int = 2,
                 seed: int = 0) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.topd = topd
        self.k = k
        self.max_features = max_features
        self.min_samples_split = min_samples_split
        self.seed = seed

    def _n_features(self, d: int) -> int:
        mf = self.max_features
        if mf is None:
            return d
        if mf == "sqrt":
            return max(1, int(np.sqrt(d)))
        if isinstance(mf, float) and 0 < mf <= 1:
            return max(1, int(mf * d))
        if isinstance(mf, int) and not isinstance(mf, bool) and mf >= 1:
            return min(mf, d)
        raise GraphForgetError(f"max_features must be an int >= 1, a fraction in (0, 1], 'sqrt' "
                               f"or None, got {mf!r}")

    def _check_params(self) -> None:
        for name, low in (("n_estimators", 1), ("max_depth", 1), ("k", 1), ("min_samples_split", 2)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise GraphForgetError(f"{name} must be an integer >= {low}, got {v!r}")
        if not isinstance(self.topd, int) or self.topd < 0:
            raise GraphForgetError(f"topd must be a non-negative integer, got {self.topd!r}")

    def _grow(self, X: np.ndarray, y: np.ndarray, C: int, active: np.ndarray) -> list[DaRETree]:
        m = self._n_features(X.shape[1])
        ids = np.flatnonzero(active)
        trees = []
        for t in range(self.n_estimators):
            tree = DaRETree(X, y, C, _sm(_sm(int(self.seed)) ^ t), self.topd, self.k, self.max_depth,
                            self.min_samples_split, m)
            tree.build(ids)
            trees.append(tree)
        return trees

    def _fit(self, data: Data) -> None:
        self._check_params()
        rows = train_rows(data)
        X = data.x.numpy()[rows].astype(np.float64)
        y = data.y.numpy()[rows].astype(np.int64)
        self.num_classes_ = self.num_classes_of(data)
        self.rows_, self.X_, self.y_ = rows, X, y
        self.active_ = np.ones(len(rows), dtype=bool)
        self.trees_ = self._grow(X, y, self.num_classes_, self.active_)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        ids = request.node_ids.numpy()
        pos = np.searchsorted(self.rows_, ids)
        pos = pos[(pos < len(self.rows_)) & (self.rows_[np.minimum(pos, len(self.rows_) - 1)] == ids)]
        if len(pos) and int(self.active_.sum()) - len(pos) < 1:
            raise GraphForgetError("dare: the request would remove every training row")
        start = time.perf_counter()
        before = sum(t.retrained_nodes for t in self.trees_)
        for tree in self.trees_:  # trees are rebuilt only below changed decisions
            for i in pos:
                tree.delete(int(i))
        self.active_[pos] = False
        report.breakdown["delete"] = time.perf_counter() - start
        report.affected["samples"] = int(len(pos))
        report.diagnostics["retrained_subtrees"] = sum(t.retrained_nodes for t in self.trees_) - before

    def predict_proba(self, data: Data | None = None) -> Tensor:
        x = self.inference_data(data).x.numpy().astype(np.float64)
        return torch.from_numpy(self._proba(x))

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return sum(t.proba(x) for t in self.trees_) / len(self.trees_)

    def _logits(self, data: Data) -> Tensor:
        p = self._proba(data.x.numpy().astype(np.float64))
        return torch.from_numpy(np.log(np.clip(p, 1e-12, None))).to(torch.float32)

    def forest_digest(self) -> str:
        """SHA-256 of every node of every tree (decisions, cached counts, leaf instances)."""
        h = hashlib.sha256()
        for tree in self.trees_:
            tree.digest_into(h, self.rows_)
        return h.hexdigest()

    def reference(self) -> DaRE:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        # The forest is a pure function of (params, X, y, active rows): store those and
        # the digest; load() regrows the forest and checks that the digest matches.
        return {"rows": torch.from_numpy(self.rows_.copy()), "X": torch.from_numpy(self.X_.copy()),
                "y": torch.from_numpy(self.y_.copy()), "active": torch.from_numpy(self.active_.copy()),
                "num_classes": int(self.num_classes_), "digest": self.forest_digest()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.rows_ = state["rows"].numpy().copy()
        self.X_, self.y_ = state["X"].numpy().copy(), state["y"].numpy().copy()
        self.active_ = state["active"].numpy().copy()
        self.num_classes_ = int(state["num_classes"])
        self.trees_ = self._grow(self.X_, self.y_, self.num_classes_, self.active_)
        if self.forest_digest() != state["digest"]:
            raise GraphForgetError("the regrown forest does not match the saved digest")
