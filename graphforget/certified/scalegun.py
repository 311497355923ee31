r"""ScaleGUN: scalable certified graph unlearning with lazy local propagation (Yi & Wei,
ICLR 2025).

The model is CGU's (:mod:`graphforget.certified.cgu`): SGC features :math:`Z=P^KX`,
:math:`P=D^{-1}(A+I)` (row-stochastic), preprocessed rows of norm at most 1, and the certified
one-vs-rest logistic regression of :mod:`graphforget.certified.base`. What changes is how
:math:`Z` is computed and kept up to date: by layered forward push instead of exact
propagation.

**Lazy local propagation.** Every level :math:`k=0..K` keeps a reserve :math:`q^{(k)}` and a
residual :math:`r^{(k)}` (``[n, d]`` each; :math:`q^{(K)}=0`) with the invariants

.. math::
    q^{(0)} + r^{(0)} = X,\qquad q^{(k)} + r^{(k)} = P\,q^{(k-1)}\;(k\ge1),

and the embedding is :math:`\hat Z = r^{(K)}`. Pushing node :math:`u` at level :math:`k<K`
moves its residual into the reserve and spreads it one level down,
:math:`q^{(k)}_u \mathrel{+}= r^{(k)}_u`,
:math:`r^{(k+1)}_v \mathrel{+}= r^{(k)}_u/d_v` for :math:`v\in\mathcal N(u)\cup\{u\}`,
:math:`r^{(k)}_u=0`, which keeps the invariants. Every row of :math:`r^{(k)}`, :math:`k<K`, with
norm above ``r_max`` is pushed, level by level, so that

.. math::
    P^KX - \hat Z = \sum_{k<K} P^{K-k} r^{(k)},\qquad
    \|z_i - \hat z_i\| \le K\,r_{\max}\quad\text{for every node}

(rows of :math:`P^j r` are averages of rows of :math:`r`). A request restores the invariants
*locally*: a changed feature row :math:`u` sets :math:`r^{(0)}_u = x'_u - q^{(0)}_u`; a removed
edge changes the rows of :math:`P` at its two endpoints only, so
:math:`r^{(k)}_v \mathrel{+}= ((P'-P)q^{(k-1)})_v` for those :math:`v`; then only residual rows
that exceed ``r_max`` are pushed. The work is proportional to the pushes, independent of the
graph's size (ScaleGUN's sublinear update); the changed rows of :math:`\hat Z` feed CGU's
Newton step.

**Certificate.** The classifier's ledger bounds the gradient residual of the noisy objective
on the approximate rows :math:`\hat Z`. Against the objective on the exact rows :math:`Z` (what
retraining with exact propagation minimises), each training row adds at most
:math:`\|g(z_i)-g(\hat z_i)\|\le(1+\tfrac14\|w_h\|)\,\|z_i-\hat z_i\|` per head (the logistic
loss gradient :math:`g(z)=-y\sigma(-yz^\top w)z` has :math:`\|\partial g/\partial z\|\le
1+\tfrac14\|z\|\|w\|`, rows of norm at most 1), so every request and every (re)training adds
the term

.. math::
    m\,K\,r_{\max}\,\Big(\sum_h\big(1+\tfrac14\|w_h\|\big)^2\Big)^{1/2}

to the cumulative bound (the paper's approximation-error term, here in its data-dependent
form). While the sum stays within :math:`\sigma\epsilon/c(\delta)` the model is
:math:`(\epsilon,\delta)`-certified with respect to retraining on exactly propagated features.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.certified.base import CertifiedLogisticRegression
from graphforget.certified.cgu import CGU, _clip_rows, propagation_stack, train_positions, training_rows
from graphforget.errors import GraphForgetError, InvalidRequestError, UnsupportedRequestError
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    ForgetRequest,
    NodeRequest,
    _preview,
    is_undirected,
)
from graphforget.training import num_classes
from graphforget.unlearner import UnlearnReport

__all__ = ["ScaleGUN", "ApproximateRowsLogisticRegression", "LazyPropagation", "RowSparse"]

_DT = torch.float64


class ApproximateRowsLogisticRegression(CertifiedLogisticRegression):
    r"""The certified classifier trained on approximate rows :math:`\hat z_i` with
    :math:`\|\hat z_i - z_i\|\le` ``row_error``: adds the approximation term of the module
    docstring to every request and to the training residual."""

    def __init__(self, *args: Any, row_error: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not float(row_error) >= 0:
            raise GraphForgetError(f"row_error must be >= 0, got {row_error!r}")
        self.row_error = float(row_error)

    def get_params(self) -> dict[str, Any]:
        return dict(super().get_params(), row_error=self.row_error)

    def approximation_term(self, W: Tensor) -> float:
        """Bound on :math:`\\|\\nabla L(W;Z)-\\nabla L(W;\\hat Z)\\|` (under the accounting)."""
        if self.row_error == 0.0:
            return 0.0
        m = int(self.active_.sum())
        per_head = m * self.row_error * (1.0 + 0.25 * W.norm(dim=0))
        return float(per_head.norm()) if self.accounting == "joint" else float(per_head.sum())

    def bound_terms(self, step: dict[str, Any]) -> dict[str, float]:
        return {"approximation": self.approximation_term(self.W_ + step["delta"])}

    def _retrain(self) -> None:
        super()._retrain()
        self.cumulative_ += self.approximation_term(self.W_)


class RowSparse:
    r"""An ``[n, d]`` float64 matrix that stores only the rows ever written (a residual of the
    layered push: after the full push at fit every row below ``r_max`` is zero, and a request
    touches a few rows). Supports what the push reads and writes: row gathers ``m[idx]``
    (absent rows read as zeros), row writes ``m[idx] = v`` and ``index_add_(0, idx, v)``.
    On ``synthetic-products`` it saves two dense ``[n, d]`` float64 matrices (3.9 GB)."""

    def __init__(self, n: int, d: int, nodes: Tensor | None = None, values: Tensor | None = None) -> None:
        self.n, self.d = int(n), int(d)
        self.slot = torch.full((self.n,), -1, dtype=torch.long)
        self.nodes = torch.empty(0, dtype=torch.long)  # the node of each slot
        self.values = torch.empty(0, self.d, dtype=_DT)
        if nodes is not None and nodes.numel():
            self[nodes] = values

    @classmethod
    def from_dense(cls, dense: Tensor) -> RowSparse:
        nz = (dense != 0).any(dim=1).nonzero().view(-1)
        return cls(dense.size(0), dense.size(1), nz, dense[nz])

    def size(self, dim: int | None = None) -> Any:
        shape = torch.Size([self.n, self.d])
        return shape if dim is None else shape[dim]

    def _slots(self, nodes: Tensor) -> Tensor:
        """Slots of ``nodes``, allocating zero rows for those without one."""
        s = self.slot[nodes]
        if bool((s < 0).any()):
            new = torch.unique(nodes[s < 0])
            start = self.nodes.numel()
            self.slot[new] = torch.arange(start, start + new.numel())
            self.nodes = torch.cat([self.nodes, new])
            self.values = torch.cat([self.values, torch.zeros(new.numel(), self.d, dtype=_DT)])
            s = self.slot[nodes]
        return s

    def __getitem__(self, nodes: Tensor) -> Tensor:
        s = self.slot[nodes]
        out = torch.zeros(nodes.numel(), self.d, dtype=_DT)
        hit = s >= 0
        out[hit] = self.values[s[hit]]
        return out

    def __setitem__(self, nodes: Tensor, values: Tensor | float) -> None:
        slots = self._slots(nodes)  # first: it may grow (replace) self.values
        self.values[slots] = values if isinstance(values, (int, float)) else values.to(_DT)

    def index_add_(self, dim: int, nodes: Tensor, values: Tensor) -> RowSparse:
        slots = self._slots(nodes)
        self.values.index_add_(0, slots, values.to(_DT))
        return self

    def dense(self) -> Tensor:
        out = torch.zeros(self.n, self.d, dtype=_DT)
        out[self.nodes] = self.values
        return out

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "d": self.d, "nodes": self.nodes.clone(), "values": self.values.clone()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RowSparse:
        obj = cls(int(state["n"]), int(state["d"]))
        obj.nodes, obj.values = state["nodes"], state["values"]  # slots in the saved order
        obj.slot[obj.nodes] = torch.arange(obj.nodes.numel())
        return obj


class LazyPropagation:
    r"""Layered forward push for :math:`P^KX`, :math:`P=D^{-1}(A+I)`, on an undirected graph,
    with local updates for removed edges and changed feature rows (module docstring).

    Args:
        x (Tensor): ``[n, d]`` features (float64).
        edge_index (Tensor): an undirected graph (both directions present).
        K (int): levels.
        r_max (float): push threshold on a residual row's norm.
        copy (bool): copy ``x`` (else a float64 ``x`` becomes the level-0 residual and is
            modified in place). (default: :obj:`True`)
    """

    def __init__(self, x: Tensor, edge_index: Tensor, K: int, r_max: float, copy: bool = True) -> None:
        n = x.size(0)
        self.K, self.r_max, self.n = int(K), float(r_max), n
        # CSR by source; copies of the edge list only where needed (on a products-size graph
        # each [2, E] temporary is 2 GB): self-loops dropped if any, a sort only if the
        # sources are not already grouped (PyG's and our generators' edge lists are sorted)
        ei = edge_index
        loops = ei[0] == ei[1]
        if bool(loops.any()):
            ei = ei[:, ~loops]
        del loops
        src = ei[0]
        if src.numel() > 1 and not bool((src[1:] >= src[:-1]).all()):
            order = torch.argsort(src, stable=True)
            src, self.col = src[order], ei[1][order]
            del order
        else:
            self.col = ei[1].clone()
        counts = torch.bincount(src, minlength=n)
        del src, ei
        self.rowptr = torch.zeros(n + 1, dtype=torch.long)
        self.rowptr[1:] = torch.cumsum(counts, 0)
        self.alive = torch.ones(self.col.numel(), dtype=torch.bool)
        self.deg = (counts + 1).to(_DT)
        del counts
        # level 0 starts as X (with copy=False a float64 input is taken over: one [n, d]
        # matrix less on large graphs; ScaleGUN passes its own preprocessed copy). Reserves
        # q^(k) and the embedding r^(K) are dense; the residuals r^(k), k < K, are row-sparse
        # once their level is pushed (RowSparse). Levels are allocated as the push reaches them.
        self.q: list[Tensor] = []
        self.r: list[Any] = [x.to(_DT, copy=copy)]
        self.pushes = 0
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore")
            adj = torch.sparse_csr_tensor(self.rowptr, self.col, torch.ones(self.col.numel(), dtype=_DT), (n, n))
        for k in range(self.K):  # full push, level by level: sparse products, no [E, d] temporaries
            level = self.r[k]
            mask = (level.norm(dim=1) > self.r_max).to(_DT).view(-1, 1)
            moved = level * mask  # becomes q^(k)
            level.sub_(moved)
            self.r[k] = RowSparse.from_dense(level)
            del level
            spread = torch.sparse.mm(adj, moved)  # the one [n, d] temporary of the level
            self.r.append(spread.add_(moved).div_(self.deg.view(-1, 1)))
            self.q.append(moved)
            self.pushes += int(mask.sum())
        del adj

    @property
    def embedding(self) -> Tensor:
        """:math:`\\hat Z = r^{(K)}` (the stored tensor: do not modify)."""
        return self.r[self.K]

    # -- local graph access --------------------------------------------------------------
    def _segments(self, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """``(owner, position)`` of every alive adjacency entry of ``nodes``."""
        starts, ends = self.rowptr[nodes], self.rowptr[nodes + 1]
        counts = ends - starts
        total = int(counts.sum())
        owner = torch.repeat_interleave(torch.arange(nodes.numel()), counts)
        offsets = torch.arange(total) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        pos = starts[owner] + offsets
        keep = self.alive[pos]
        return owner[keep], pos[keep]

    def has_edges(self, edges: Tensor) -> Tensor:
        """``[k]`` bool: whether each column ``(u, v)`` of ``edges`` is an edge of the
        current graph (``O(k + degrees)``: no scan of the edge list)."""
        present = torch.zeros(edges.size(1), dtype=torch.bool)
        if edges.numel():
            owner, pos = self._segments(edges[0])
            present[owner[self.col[pos] == edges[1][owner]]] = True
        return present

    def _p_rows(self, nodes: Tensor, x: Tensor) -> Tensor:
        """Rows ``nodes`` of :math:`P x` on the current graph."""
        owner, pos = self._segments(nodes)
        out = x[nodes].clone()
        out.index_add_(0, owner, x[self.col[pos]])
        return out / self.deg[nodes].view(-1, 1)

    def _push(self, k: int, nodes: Tensor, log: list) -> Tensor:
        """Pushes ``nodes`` at level ``k``; returns the nodes whose level-``k+1`` residual changed."""
        R = self.r[k][nodes].clone()
        owner, pos = self._segments(nodes)
        dst = torch.cat([self.col[pos], nodes])
        src = torch.cat([owner, torch.arange(nodes.numel())])
        targets = torch.unique(dst)
        log.append((self.q[k], nodes, self.q[k][nodes].clone()))
        log.append((self.r[k], nodes, R))
        log.append((self.r[k + 1], targets, self.r[k + 1][targets].clone()))
        self.q[k][nodes] += R
        self.r[k][nodes] = 0
        self.r[k + 1].index_add_(0, dst, R[src] / self.deg[dst].view(-1, 1))
        self.pushes += int(nodes.numel())
        return targets

    # -- updates ---------------------------------------------------------------------------
    def update(self, removed: Tensor, feature_nodes: Tensor, feature_rows: Tensor) -> tuple[Tensor, list]:
        """Removes the undirected edges ``removed`` (``[2, k]``, one direction each) and sets the
        rows ``feature_nodes`` of :math:`X` to ``feature_rows``; returns ``(nodes whose
        embedding row changed, undo log)``. :meth:`undo` reverts the change."""
        log: list = []
        K = self.K
        ends = torch.unique(removed.reshape(-1)) if removed.numel() else removed.new_empty(0)
        old_rows = [self._p_rows(ends, self.q[k - 1]) for k in range(1, K + 1)] if ends.numel() else []
        if removed.numel():
            a = torch.cat([removed[0], removed[1]])
            b = torch.cat([removed[1], removed[0]])
            owner, pos = self._segments(a)
            hit = pos[self.col[pos] == b[owner]]
            log.append((self.alive, hit, self.alive[hit].clone()))
            log.append((self.deg, ends, self.deg[ends].clone()))
            self.alive[hit] = False
            self.deg.index_add_(0, a, -torch.ones(a.numel(), dtype=_DT))
        changed = [feature_nodes.clone()] + [ends.clone() for _ in range(K)]
        if feature_nodes.numel():
            log.append((self.r[0], feature_nodes, self.r[0][feature_nodes].clone()))
            self.r[0][feature_nodes] = feature_rows.to(_DT) - self.q[0][feature_nodes]
        for k in range(1, K + 1):
            if ends.numel():
                log.append((self.r[k], ends, self.r[k][ends].clone()))
                self.r[k][ends] += self._p_rows(ends, self.q[k - 1]) - old_rows[k - 1]
        for k in range(K):
            cand = torch.unique(changed[k])
            if cand.numel() == 0:
                continue
            big = cand[self.r[k][cand].norm(dim=1) > self.r_max]
            if big.numel():
                changed[k + 1] = torch.cat([changed[k + 1], self._push(k, big, log)])
        return torch.unique(changed[K]), log

    @staticmethod
    def undo(log: list) -> None:
        for tensor, index, values in reversed(log):
            tensor[index] = values

    def state(self) -> dict[str, Any]:
        return {"K": self.K, "r_max": self.r_max, "rowptr": self.rowptr.clone(), "col": self.col.clone(),
                "alive": self.alive.clone(), "deg": self.deg.clone(), "pushes": self.pushes,
                "q": [t.clone() for t in self.q],
                "r": [t.state() if isinstance(t, RowSparse) else t.clone() for t in self.r]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LazyPropagation:
        obj = cls.__new__(cls)
        obj.K, obj.r_max = int(state["K"]), float(state["r_max"])
        obj.rowptr, obj.col, obj.alive, obj.deg = state["rowptr"], state["col"], state["alive"], state["deg"]
        obj.n = int(obj.rowptr.numel() - 1)
        obj.pushes = int(state["pushes"])
        obj.q = list(state["q"])
        obj.r = [RowSparse.from_state(t) if isinstance(t, dict) else t for t in state["r"]]
        return obj


@register_method("scalegun")
class ScaleGUN(CGU):
    r"""Certified graph unlearning with lazy local propagation (`Yi & Wei, ICLR 2025
    <https://arxiv.org/abs/2408.09212>`_): CGU's certified SGC classifier on features kept
    up to date by layered forward push (module docstring).

    Args:
        model (str): ``"sgc"`` only (the layered push computes :math:`P^KX`).
            (default: ``"sgc"``)
        K (int): propagation steps. (default: :obj:`2`)
        features (str): ``"standard"`` or ``"row"`` preprocessing (as :class:`CGU`).
            (default: ``"standard"``)
        r_max (float): push threshold; every embedding row is within :math:`K r_{\max}` of
            the exact one and the certificate pays for it (module docstring).
            (default: :obj:`1e-9`)
        lam, sigma, epsilon, delta, accounting, solver, norm, seed: as :class:`CGU`.
    """

    supported_models = ("sgc",)

    def __init__(self, model: str = "sgc", K: int = 2, features: str = "standard", r_max: float = 1e-9,
                 lam: float = 1e-2, sigma: float = 1e-1, epsilon: float = 1.0, delta: float = 1e-4,
                 accounting: str = "joint", solver: str = "auto", norm: str = "tracked", seed: int = 0) -> None:
        if not isinstance(model, str):
            raise self.user_model_error(model)
        if str(model).lower() not in self.supported_models:
            raise UnsupportedRequestError(f"scalegun supports models {self.supported_models}, got {model!r}")
        if not float(r_max) >= 0:
            raise GraphForgetError(f"r_max must be >= 0, got {r_max!r}")
        super().__init__(model=model, K=K, features=features, alpha=1.0, lam=lam, sigma=sigma, epsilon=epsilon,
                         delta=delta, accounting=accounting, solver=solver, norm=norm, dtype="float64", seed=seed)
        self.r_max = r_max

    def _classifier_args(self) -> CertifiedLogisticRegression:
        return ApproximateRowsLogisticRegression(
            lam=self.lam, sigma=self.sigma, epsilon=self.epsilon, delta=self.delta, accounting=self.accounting,
            solver=self.solver, norm=self.norm, seed=self.seed,
            row_error=int(self.K) * float(getattr(self, "r_max", 0.0)))

    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        if not is_undirected(data):
            raise GraphForgetError("scalegun needs an undirected graph (every edge in both directions)")

    def _fit(self, data: Data) -> None:
        self.scaler_ = self._scaler(data.x)
        self.prop_ = LazyPropagation(self._preprocess(data.x), data.edge_index, int(self.K), float(self.r_max),
                                     copy=False)
        self.train_nodes_ = data.train_mask.nonzero().view(-1)
        self._train_pos = train_positions(self.train_nodes_, self.prop_.n)  # no O(n) work per request
        self.num_classes_ = num_classes(data)
        z = _clip_rows(self.prop_.embedding[self.train_nodes_])
        self.classifier_ = self._classifier_args().fit(z, data.y[self.train_nodes_], num_classes=self.num_classes_)
        clf = self.classifier_
        if clf.cumulative_ > clf.budget:
            raise GraphForgetError(
                f"r_max={self.r_max!r} leaves a residual bound {clf.cumulative_:.3g} (approximation term "
                f"included) above the budget {clf.budget:.3g} at training: lower r_max or raise sigma")

    def _removed_edges(self, request: ForgetRequest) -> Tensor:
        if isinstance(request, EdgeRequest):
            e = request.edge_index
        elif isinstance(request, NodeRequest):
            prop = self.prop_
            owner, pos = prop._segments(request.node_ids)
            e = torch.stack([request.node_ids[owner], prop.col[pos]])
        else:
            return torch.empty(2, 0, dtype=torch.long)
        lo, hi = torch.minimum(e[0], e[1]), torch.maximum(e[0], e[1])
        keys = torch.unique(lo * self.prop_.n + hi)
        return torch.stack([keys // self.prop_.n, keys % self.prop_.n])

    # -- the retained graph, brought up to date only when read --------------------------
    # Node and edge requests are served from the push state alone (the CSR graph with its
    # alive edges, the residuals and reserves), so the library's copy of the retained graph
    # (request.apply: O(n d + E) per request) is deferred: ``data_`` applies the requests
    # received since it was last read, all at once, when something reads it (scoring, a
    # ledger, get_state). A removal then costs what its pushes and the Newton step cost.
    _DEFERRED = (NodeRequest, EdgeRequest)

    @property
    def data_(self) -> Data:
        d = self.__dict__
        if "_data" not in d:
            raise AttributeError("data_")
        if d.get("_pending"):
            nodes = [r.node_ids for r in d["_pending"] if isinstance(r, NodeRequest)]
            edges = [r.edge_index for r in d["_pending"] if isinstance(r, EdgeRequest)]
            data = d["_data"]
            # one pass for all: the requests commute (an edge request names live edges only)
            if edges:
                data = EdgeRequest(torch.cat(edges, dim=1)).apply(data, validate=False)
            if nodes:
                data = NodeRequest(torch.cat(nodes)).apply(data, validate=False)
            d["_data"], d["_pending"] = data, []
        return d["_data"]

    @data_.setter
    def data_(self, value: Data) -> None:
        self.__dict__["_data"] = value
        self.__dict__["_pending"] = []

    @property
    def is_fitted(self) -> bool:
        return self.__dict__.get("_data") is not None  # without bringing the graph up to date

    def _deferred(self, request: ForgetRequest) -> bool:
        return type(request) in self._DEFERRED and getattr(self, "prop_", None) is not None

    def _validate_request(self, request: ForgetRequest) -> None:
        if not self._deferred(request):
            return super()._validate_request(request)
        data = self.__dict__["_data"]  # the graph as last materialised: ids, ranges, forgotten
        if isinstance(request, NodeRequest):
            request.validate(data)
            pending = [r.node_ids for r in self.__dict__["_pending"] if isinstance(r, NodeRequest)]
            if pending:
                again = request.node_ids[torch.isin(request.node_ids, torch.cat(pending))]
                if again.numel():
                    raise InvalidRequestError(f"nodes already forgotten: {_preview(again)}")
        else:
            request.check_pairs(data.num_nodes, undirected=True)
            request.check_exist(self.prop_.has_edges(request.edge_index))

    def _retained(self, request: ForgetRequest) -> Data | None:
        return None if self._deferred(request) else super()._retained(request)

    def _commit_retained(self, request: ForgetRequest, retained: Data | None) -> None:
        if retained is None:
            self.__dict__["_pending"].append(request)
        else:
            super()._commit_retained(request, retained)

    def _unlearn(self, request: ForgetRequest, retained: Data | None, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        removed = self._removed_edges(request)
        if isinstance(request, (NodeRequest, FeatureRequest)):
            fnodes = torch.unique(request.node_ids)
            if retained is None:  # a forgotten node's features are zero (NodeRequest.apply)
                frows = self._preprocess(torch.zeros(fnodes.numel(), self.prop_.r[0].size(1)))
            else:
                frows = self._preprocess(retained.x[fnodes])
        else:
            fnodes, frows = torch.empty(0, dtype=torch.long), torch.empty(0, 0, dtype=_DT)
        pushes_before = self.prop_.pushes
        changed, log = self.prop_.update(removed, fnodes, frows)
        t1 = time.perf_counter()
        try:
            rows, nodes, _, _ = training_rows(changed, self.train_nodes_, self.classifier_.active_,
                                              self.prop_.n, positions=self._train_pos)
            z_rows = _clip_rows(self.prop_.embedding[nodes])
            if retained is not None:
                keep = retained.train_mask[nodes]
            elif isinstance(request, NodeRequest):  # the request's nodes leave every mask
                keep = ~torch.isin(nodes, request.node_ids)
            else:
                keep = torch.ones(nodes.numel(), dtype=torch.bool)
            entry = self.classifier_.update_rows(rows, z_rows, keep=keep,
                                                 info={"kind": request.kind, "items": len(request)})
        except BaseException:
            LazyPropagation.undo(log)
            self.prop_.pushes = pushes_before
            raise
        t2 = time.perf_counter()
        report.breakdown.update(propagation=t1 - t0, newton=t2 - t1)
        report.affected.update(nodes=int(changed.numel()), train_rows=int(rows.numel()),
                               removed_edges=int(removed.size(1)), pushes=self.prop_.pushes - pushes_before)
        report.diagnostics.update({k: entry[k] for k in ("bound", "cumulative", "budget", "retrained",
                                                          "retrains", "noise_seed", "solve_residual")})
        report.diagnostics["approximation"] = entry["terms"].get("approximation", 0.0)

    def _logits(self, data: Data) -> Tensor:
        if data is self.data_:
            z = self.prop_.embedding
        else:
            z = propagation_stack(self._preprocess(data.x), data.edge_index, int(self.K), 1.0)[-1]
        n, chunk = z.size(0), 16384
        return torch.cat([self.classifier_.decision_function(_clip_rows(z[i:i + chunk])).float()
                          for i in range(0, n, chunk)])

    def exact_residual_norm(self) -> float:
        """The gradient-residual norm of the current model on the **exactly** propagated
        features of the retained graph (what the certificate bounds; full propagation)."""
        self._check_fitted()
        data = self.data_
        z = _clip_rows(propagation_stack(self._preprocess(data.x), data.edge_index, int(self.K), 1.0)[-1])
        state = self.classifier_.state_dict()
        state["params"] = {k: v for k, v in state["params"].items() if k != "row_error"}
        clf = CertifiedLogisticRegression.from_state_dict(state)
        clf.Z_ = z[self.train_nodes_].to(_DT)
        return clf.residual_norm()

    def _get_state(self) -> dict[str, Any]:
        return {"prop": self.prop_.state(), "train_nodes": self.train_nodes_.clone(),
                "scaler": [t.clone() for t in self.scaler_], "num_classes": self.num_classes_,
                "classifier": self.classifier_.state_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.prop_ = LazyPropagation.from_state(state["prop"])
        self.scaler_ = tuple(state["scaler"])
        self.train_nodes_ = state["train_nodes"]
        self._train_pos = train_positions(self.train_nodes_, self.prop_.n)
        self.num_classes_ = int(state["num_classes"])
        self.classifier_ = ApproximateRowsLogisticRegression.from_state_dict(state["classifier"])
