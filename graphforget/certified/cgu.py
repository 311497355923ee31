r"""Certified graph unlearning for SGC and GPR (Chien, Pan & Milenkovic, ICLR 2023).

Features are fixed propagations of the preprocessed node features :math:`X`,

.. math::
    Z = P^K X \;(\text{SGC})\qquad\text{or}\qquad Z=\tfrac{1}{K+1}[X, PX, \dots, P^K X]\;(\text{GPR}),
    \qquad P = D^{-\alpha}(A+I)D^{-(1-\alpha)},

with every row clipped to norm at most 1 (asserted). By default :math:`X` is the raw
feature matrix standardised per column and divided by its largest row norm, as the official
code does (``features="standard"``; the scaler is fitted once, on the graph given to
``fit``, and then held fixed like any public preprocessing); ``features="row"`` normalises
each row to unit norm instead (no statistics of other nodes at all). A one-vs-rest logistic
regression with loss perturbation :math:`b^\top w` is trained on the training rows by
:class:`~graphforget.certified.CertifiedLogisticRegression`. A node, edge or feature
removal changes some rows of :math:`Z`; only those are recomputed, from the stored
intermediate propagations :math:`P^kX` (:math:`k=0..K`): with :math:`C_0` the nodes
whose features change and :math:`C_P` the nodes whose row of :math:`P` changes (the
endpoints and, through the degree normalisation, their neighbours),
:math:`C_k = C_P\cup\mathcal{N}(C_{k-1})` and only rows :math:`C_k` of :math:`P^kX` are
recomputed. The classifier then takes one Newton step in float64 on the changed rows and
adds the data-dependent bound of the step to its ledger; when the cumulative bound
would exceed :math:`\sigma\epsilon/c(\delta)` it retrains on the retained rows with
fresh noise. The result is :math:`(\epsilon,\delta)`-certified removal (Chien et al.,
Thm. 4.1-4.3 with the data-dependent bound of Guo et al., Cor. 1).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from graphforget._registry import register_method
from graphforget.certified.base import CertifiedLogisticRegression
from graphforget.data._validate import validate_data
from graphforget.errors import GraphForgetError, SolverError, UnsupportedModelError
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import num_classes
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport, hint_rows

__all__ = ["CGU", "propagation_stack", "changed_rows", "local_propagation", "standard_scaler"]

_DT = torch.float64


def _with_self_loops(edge_index: Tensor, n: int) -> Tensor:
    keep = edge_index[0] != edge_index[1]
    loops = torch.arange(n).repeat(2, 1)
    return torch.cat([edge_index[:, keep], loops], dim=1)


def _edge_weights(edge_index: Tensor, n: int, alpha: float) -> tuple[Tensor, Tensor]:
    """``(edge_index with self-loops, weights of P)``; row = target, in-degree."""
    ei = _with_self_loops(edge_index, n)
    deg = scatter(torch.ones(ei.size(1), dtype=_DT), ei[1], dim=0, dim_size=n, reduce="sum")
    w = deg[ei[1]].pow(-alpha) * deg[ei[0]].pow(-(1.0 - alpha))
    return ei, w


def _normalise_rows(x: Tensor) -> Tensor:
    norms = x.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, x / norms.clamp_min(1e-300), x)


def _clip_rows(z: Tensor) -> Tensor:
    norms = z.norm(dim=1, keepdim=True)
    return torch.where(norms > 1.0, z / norms, z)


def _spmm(rows: Tensor, cols: Tensor, w: Tensor, shape: tuple[int, int], x: Tensor) -> Tensor:
    """``A @ x`` for the sparse ``A[rows, cols] = w`` (no ``[edges, d]`` intermediate)."""
    a = torch.sparse_coo_tensor(torch.stack([rows, cols]), w, shape, check_invariants=True)
    return torch.sparse.mm(a, x)


def propagation_stack(x: Tensor, edge_index: Tensor, K: int, alpha: float,
                      dtype: torch.dtype = _DT) -> list[Tensor]:
    r"""``[X, PX, ..., P^K X]`` in ``dtype`` (full computation; weights of :math:`P` are
    computed in float64)."""
    n = x.size(0)
    ei, w = _edge_weights(edge_index, n, alpha)
    w = w.to(dtype)
    out = [x.to(dtype)]
    for _ in range(K):
        out.append(_spmm(ei[1], ei[0], w, (n, n), out[-1]))
    return out


def _neighbours(nodes: Tensor, edge_index: Tensor, n: int) -> Tensor:
    """``nodes`` and every node adjacent to them (either direction)."""
    hit = torch.zeros(n, dtype=torch.bool)
    hit[nodes] = True
    mark = hit.clone()
    mark[edge_index[1][hit[edge_index[0]]]] = True
    mark[edge_index[0][hit[edge_index[1]]]] = True
    return mark.nonzero().view(-1)


def changed_rows(old_edge_index: Tensor, new_edge_index: Tensor, feature_nodes: Tensor,
                 n: int, K: int, alpha: float) -> list[Tensor]:
    r"""The nodes whose rows of :math:`P^kX` change, for ``k = 0..K``.

    ``feature_nodes`` are the rows of :math:`X` that change. Rows of :math:`P` change at
    nodes whose degree or adjacency changes and (unless :math:`\alpha=1`, where a row only
    uses its own degree) at their neighbours."""
    both = torch.cat([old_edge_index, new_edge_index], dim=1)
    n_old = scatter(torch.ones(old_edge_index.size(1)), old_edge_index[1], dim=0, dim_size=n)
    n_new = scatter(torch.ones(new_edge_index.size(1)), new_edge_index[1], dim=0, dim_size=n)
    touched = (n_old != n_new).nonzero().view(-1)
    if alpha != 1.0 and touched.numel():
        p_rows = _neighbours(touched, both, n)
    else:
        p_rows = touched
    sets = [torch.unique(feature_nodes)]
    for _ in range(K):
        prev = sets[-1]
        grown = _neighbours(prev, both, n) if prev.numel() else prev
        sets.append(torch.unique(torch.cat([grown, p_rows])))
    return sets


#: the methods that attach to a trained user model (named by the refusals below)
ATTACHABLE_METHODS = "gif, if, gnndelete, gradient-ascent, utu, megu, sgu, d2dgn"

def linear_only_error(method: str, model: Any, what: str, instead: str,
                      attachable: str | None = ATTACHABLE_METHODS) -> GraphForgetError:
    """The one-line refusal of a user module by a method that keeps its own linear model:
    ``"{method} keeps its own linear model ({what}) and cannot use the user's non-linear
    {model}; {instead}, or an attachable method (...)"`` (the last part only where the
    method's task has ``attachable`` methods)."""
    from graphforget.user_model import describe_model

    tail = f", or an attachable method ({attachable})" if attachable else ""
    return GraphForgetError(f"{method} keeps its own linear model ({what}) and cannot use the user's "
                            f"non-linear {describe_model(model).removeprefix('factory ')}; {instead}{tail}")


def standard_scaler(x: Tensor, chunk: int = 8192) -> tuple[Tensor, Tensor]:
    r"""``(shift, scale)`` of the official CGU code's feature preprocessing
    ``(x - shift) * scale``: every column standardised, then the matrix divided by its largest
    row norm (float64 statistics accumulated over row chunks: no float64 copy of ``x``)."""
    n, d = x.size(0), x.size(1)
    total = torch.zeros(d, dtype=_DT)
    for i in range(0, n, chunk):
        total += x[i:i + chunk].to(_DT).sum(0)
    mean = total / n
    sq = torch.zeros(d, dtype=_DT)
    for i in range(0, n, chunk):
        sq += (x[i:i + chunk].to(_DT) - mean).pow(2).sum(0)
    std = (sq / n).sqrt()
    scale = torch.where(std > 0, 1.0 / std.clamp_min(1e-300), torch.ones_like(std))
    top = 0.0
    for i in range(0, n, chunk):
        top = max(top, float(((x[i:i + chunk].to(_DT) - mean) * scale).norm(dim=1).max()))
    return mean, scale / (top if top > 0 else 1.0)


def train_positions(train_nodes: Tensor, n: int) -> Tensor:
    """``[n]``: each training node's row in a linear head (its place in ``train_nodes``),
    -1 for every other node."""
    pos = torch.full((n,), -1, dtype=torch.long)
    pos[train_nodes] = torch.arange(train_nodes.numel())
    return pos


def training_rows(changed: Tensor, train_nodes: Tensor, active: Tensor, n: int,
                  positions: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Where the changed nodes sit in a linear head's training rows (the positions of
    ``train_nodes``): ``(rows, nodes, in_train, live)`` with ``rows``/``nodes`` the
    still-active training rows among ``changed`` and the two masks that select them
    (``changed[in_train][live]`` is ``nodes``), for slicing the new feature rows alike.
    ``positions``: :func:`train_positions` kept by the caller (no ``O(n)`` work here)."""
    pos = train_positions(train_nodes, n) if positions is None else positions
    in_train = pos[changed] >= 0
    rows = pos[changed][in_train]
    live = active[rows]
    return rows[live], changed[in_train][live], in_train, live


def local_propagation(stack: list[Tensor], sets: list[Tensor], x_rows: Tensor, edge_index: Tensor,
                      alpha: float, dtype: torch.dtype = _DT) -> list[Tensor]:
    r"""New values of the changed rows of every :math:`P^kX` after a graph or feature change,
    computed from the stored ``stack`` without modifying or copying it.

    Args:
        stack: the stored ``[X, PX, ..., P^K X]`` of the graph before the change.
        sets: :func:`changed_rows` of the change (``K + 1`` sets of node ids).
        x_rows: the new rows ``sets[0]`` of :math:`X`.
        edge_index: the graph after the change.
        alpha: the normalisation of :math:`P`.
        dtype: the stack's dtype.

    Returns ``[rows of X, rows of PX, ...]``, row ``j`` of entry ``k`` being node ``sets[k][j]``.
    """
    n = stack[0].size(0)
    new_vals = [x_rows.to(dtype)]
    if len(sets) > 1:
        ei, w = _edge_weights(edge_index, n, float(alpha))
        w = w.to(dtype)
    for k in range(1, len(sets)):
        rows, prev_rows = sets[k], sets[k - 1]
        hit = torch.zeros(n, dtype=torch.bool)
        hit[rows] = True
        sel = hit[ei[1]]
        src, dst, ww = ei[0][sel], ei[1][sel], w[sel]
        prev_local = torch.full((n,), -1, dtype=torch.long)
        prev_local[prev_rows] = torch.arange(prev_rows.numel())
        local = torch.full((n,), -1, dtype=torch.long)
        local[rows] = torch.arange(rows.numel())
        # rows of P (new graph) times the stored P^{k-1}X, corrected where its rows changed
        vals = _spmm(local[dst], src, ww, (rows.numel(), n), stack[k - 1])
        fresh = prev_local[src] >= 0
        if bool(fresh.any()):
            change = new_vals[k - 1] - stack[k - 1][prev_rows]
            vals = vals + _spmm(local[dst[fresh]], prev_local[src[fresh]], ww[fresh],
                                (rows.numel(), prev_rows.numel()), change)
        new_vals.append(vals)
    return new_vals


@register_method("cgu")
class CGU(Unlearner):
    r"""Certified graph unlearning with SGC or GPR features (`Chien et al., ICLR 2023
    <https://arxiv.org/abs/2206.09140>`_).

    Args:
        model (str): ``"sgc"`` (:math:`Z=P^KX`) or ``"gpr"`` (:math:`Z=[X,\dots,P^KX]/(K+1)`).
            (default: ``"sgc"``)
        features (str): preprocessing of the raw features before propagation:
            ``"standard"`` -- per-column standardisation, then division by the largest row
            norm (the official code's ``featNorm``; statistics from the graph given to
            ``fit``, frozen afterwards, carried by :meth:`reference`); ``"row"`` -- every
            row scaled to unit norm (data-independent). Without an intercept in the
            one-vs-rest model, centring matters: on Cora (``full`` split, λ=1e-2) test
            accuracy is 84.3% with ``"standard"`` and 61.9% with ``"row"``.
            (default: ``"standard"``)
        K (int): propagation steps. (default: :obj:`2`)
        alpha (float): :math:`P = D^{-\alpha}(A+I)D^{-(1-\alpha)}` (row :math:`i` of
            :math:`P` scaled by :math:`d_i^{-\alpha}`, column :math:`j` by
            :math:`d_j^{-(1-\alpha)}`). :math:`\alpha=1` is row-stochastic (every row of
            :math:`P^kX` is an average of unit rows, so its norm stays <= 1 without
            clipping); this is what the official code computes with its ``--alpha 0``,
            whose PyG message weights apply the exponents the other way round.
            (default: :obj:`1.0`)
        lam (float): L2 coefficient :math:`\lambda`. (default: :obj:`1e-2`)
        sigma (float): noise scale of :math:`b`. (default: :obj:`1e-1`)
        epsilon (float): :math:`\epsilon`. (default: :obj:`1.0`)
        delta (float): :math:`\delta`. (default: :obj:`1e-4`)
        accounting (str): ``"joint"`` or ``"per_head"`` (the official code's ×C budget).
            (default: ``"joint"``)
        solver (str): ``"auto"``, ``"cholesky"`` or ``"cg"`` (see
            :class:`~graphforget.certified.CertifiedLogisticRegression`). (default: ``"auto"``)
        norm (str): ``"tracked"`` or ``"exact"`` spectral norm. (default: ``"tracked"``)
        dtype (str): storage of the propagation stack :math:`P^kX`: ``"float64"``, or
            ``"float32"`` to halve the memory on large graphs (Coauthor Physics: 3.5 GB
            instead of 7 GB for :math:`K=2`). The classifier always works in float64 on the
            rows it is given, so the certificate is unchanged; a locally updated row then
            agrees with a full recomputation to float32 rounding instead of float64.
            (default: ``"float64"``)
        seed (int): seeds the noise. (default: :obj:`0`)
    """

    guarantee = Guarantee.CERTIFIED
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.NODE,)
    noise_parameter = "sigma"
    supported_models = ("sgc", "gpr")

    @classmethod
    def user_model_error(cls, model: Any) -> GraphForgetError:
        """The one-line refusal of a user module or factory (``make_method`` raises it for
        ``model=<module>``): the certificate holds for the method's own linear model only."""
        models = " or ".join(repr(m) for m in cls.supported_models)
        return linear_only_error(cls.method_name, model, "fixed propagation + a certified linear classifier",
                                 f"use model={models}")

    def attach(self, model: torch.nn.Module, data: Data) -> Unlearner:
        """Refused: CGU's certificate holds for its own linear model only."""
        raise self.user_model_error(model)

    def __init__(self, model: str = "sgc", K: int = 2, features: str = "standard", alpha: float = 1.0,
                 lam: float = 1e-2,
                 sigma: float = 1e-1, epsilon: float = 1.0, delta: float = 1e-4,
                 accounting: str = "joint", solver: str = "auto", norm: str = "tracked",
                 dtype: str = "float64", seed: int = 0) -> None:
        if not isinstance(model, str):
            raise self.user_model_error(model)
        if str(model).lower() not in self.supported_models:
            raise UnsupportedModelError(f"cgu does not support model {model!r}; supported models: "
                                        f"{', '.join(self.supported_models)}")
        if int(K) < 0:
            raise GraphForgetError(f"K must be >= 0, got {K!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise GraphForgetError(f"alpha must lie in [0, 1], got {alpha!r}")
        if features not in ("standard", "row"):
            raise GraphForgetError(f"features must be 'standard' or 'row', got {features!r}")
        if dtype not in ("float64", "float32"):
            raise GraphForgetError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        self.model = model
        self.K = K
        self.features = features
        self.dtype = dtype
        self.alpha = alpha
        self.lam = lam
        self.sigma = sigma
        self.epsilon = epsilon
        self.delta = delta
        self.accounting = accounting
        self.solver = solver
        self.norm = norm
        self.seed = seed
        self._classifier_args()  # validates the classifier's arguments early

    def _classifier_args(self) -> CertifiedLogisticRegression:
        return CertifiedLogisticRegression(lam=self.lam, sigma=self.sigma, epsilon=self.epsilon,
                                           delta=self.delta, accounting=self.accounting,
                                           solver=self.solver, norm=self.norm, seed=self.seed)

    # -- features ---------------------------------------------------------------
    def _features(self, stack: list[Tensor]) -> Tensor:
        if self.model.lower() == "sgc":
            z = stack[-1]
        else:
            z = torch.cat(stack, dim=1) / (len(stack))
        return _clip_rows(z)

    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        for key in ("x", "y", "edge_index", "train_mask"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(f"cgu needs data.{key}")
        validate_data(data, f"{self.method_name}.fit()")

    @property
    def _dt(self) -> torch.dtype:
        return torch.float32 if self.dtype == "float32" else _DT

    def _scaler(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(shift, scale)`` of the preprocessing ``(x - shift) * scale`` (float64
        statistics, accumulated over row chunks: no float64 copy of ``x``)."""
        d = x.size(1)
        if self.features == "row":
            return torch.zeros(d, dtype=_DT), torch.ones(d, dtype=_DT)
        frozen = getattr(self, "_frozen_scaler", None)
        if frozen is not None:
            return frozen
        return standard_scaler(x)

    def _preprocess(self, x: Tensor) -> Tensor:
        """Preprocessed features in the stack's dtype (in place on one copy of ``x``)."""
        out = x.to(self._dt, copy=True)
        if self.features == "row":
            norms = out.norm(dim=1, keepdim=True)
            return out.div_(torch.where(norms > 0, norms, torch.ones_like(norms)))
        shift, scale = self.scaler_
        out.sub_(shift.to(self._dt)).mul_(scale.to(self._dt))
        norms = out.norm(dim=1, keepdim=True)
        return out.div_(norms.clamp_min(1.0))  # clip rows to norm <= 1

    def _fit(self, data: Data) -> None:
        self.scaler_ = self._scaler(data.x)
        x = self._preprocess(data.x)
        self.stack_ = propagation_stack(x, data.edge_index, int(self.K), float(self.alpha), self._dt)
        del x
        self.train_nodes_ = data.train_mask.nonzero().view(-1)
        self.num_classes_ = num_classes(data)
        z = self._features([s[self.train_nodes_] for s in self.stack_])  # training rows only
        top = float(z.norm(dim=1).max()) if z.numel() else 0.0
        if not top <= 1.0 + 1e-6:  # the certificate's bound assumes ||z|| <= 1 (NaN fails too)
            raise SolverError(f"cgu: a preprocessed feature row has norm {top}; expected <= 1 "
                              "(check data.x for extreme values)")
        self.classifier_ = self._classifier_args().fit(z, data.y[self.train_nodes_],
                                                       num_classes=self.num_classes_)

    @property
    def ledger_(self) -> list[dict[str, Any]]:
        """Per request: bound, cumulative, budget, retrained, retrains, noise seed, ..."""
        return self.classifier_.ledger_

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        n = retained.num_nodes
        old, new = self.data_, retained
        if isinstance(request, EdgeRequest):
            feature_nodes = torch.empty(0, dtype=torch.long)
        else:
            feature_nodes = request.node_ids
        sets = changed_rows(old.edge_index, new.edge_index, feature_nodes, n, int(self.K), float(self.alpha))
        # new values of the changed rows of each P^k X, computed without touching (or
        # copying) the stored stack: committed in place only once the update succeeded
        new_vals = local_propagation(self.stack_, sets, self._preprocess(new.x[sets[0]]), new.edge_index,
                                     float(self.alpha), self._dt)
        if self.model.lower() == "gpr":
            changed = torch.unique(torch.cat(sets))
            parts = []
            for k in range(int(self.K) + 1):
                part = self.stack_[k][changed]
                local = torch.full((n,), -1, dtype=torch.long)
                local[sets[k]] = torch.arange(sets[k].numel())
                upd = local[changed] >= 0
                part[upd] = new_vals[k][local[changed][upd]]
                parts.append(part)
        else:
            changed = sets[-1]
            parts = [new_vals[-1]]
        new_z = self._features(parts)
        # rows of the classifier = positions in train_nodes_
        rows, nodes, in_train, live = training_rows(changed, self.train_nodes_, self.classifier_.active_, n)
        z_rows = new_z[in_train][live]
        keep = new.train_mask[nodes]
        t1 = time.perf_counter()
        entry = self.classifier_.update_rows(rows, z_rows, keep=keep,
                                             info={"kind": request.kind, "items": len(request)})
        for k, rows_k in enumerate(sets):  # commit (only these rows: a ledger re-hashes just them)
            with hint_rows(self.stack_[k], rows_k):
                self.stack_[k][rows_k] = new_vals[k]
        t2 = time.perf_counter()
        report.breakdown.update(features=t1 - t0, newton=t2 - t1)
        report.affected.update(nodes=int(changed.numel()), train_rows=int(rows.numel()),
                               removed_rows=int((~keep).sum()))
        report.diagnostics.update({k: entry[k] for k in ("bound", "cumulative", "budget", "retrained",
                                                          "retrains", "noise_seed", "solve_residual")})

    def _logits(self, data: Data) -> Tensor:
        if data is self.data_:
            stack = self.stack_
        else:
            x = self._preprocess(data.x)
            stack = propagation_stack(x, data.edge_index, int(self.K), float(self.alpha), self._dt)
        n, chunk = stack[0].size(0), 16384  # row chunks: no full float64 copy of Z
        out = [self.classifier_.decision_function(self._features([s[i:i + chunk] for s in stack])).float()
               for i in range(0, n, chunk)]
        return torch.cat(out)

    def parameter_vector(self) -> Tensor:
        return self.classifier_.W_.reshape(-1).clone()

    def residual_norm(self) -> float:
        """The true gradient-residual norm of the current model on the retained data."""
        return self.classifier_.residual_norm()

    def reference(self) -> CGU:
        """A fresh copy (retrained from scratch by the caller) sharing the frozen scaler:
        the certificate compares with retraining under the same preprocessing."""
        ref = self.clone()
        if self.features == "standard" and getattr(self, "scaler_", None) is not None:
            ref._frozen_scaler = tuple(t.clone() for t in self.scaler_)
        return ref

    def _get_state(self) -> dict[str, Any]:
        return {"stack": [s.clone() for s in self.stack_], "train_nodes": self.train_nodes_.clone(),
                "scaler": [t.clone() for t in self.scaler_],
                "num_classes": self.num_classes_, "classifier": self.classifier_.state_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.stack_ = list(state["stack"])
        self.scaler_ = tuple(state["scaler"])
        self.train_nodes_ = state["train_nodes"]
        self.num_classes_ = int(state["num_classes"])
        self.classifier_ = CertifiedLogisticRegression.from_state_dict(state["classifier"])
