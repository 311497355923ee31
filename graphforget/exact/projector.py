r"""Projector (Cong & Mahdavi, AISTATS 2023): unlearning a linear GNN by projecting its
weights onto the span of the retained nodes' features.

The model is a linear GNN on fixed propagated features :math:`Z = P^K X` (the propagation
stack of :mod:`graphforget.certified.cgu`, with a constant column appended for the bias),
fitted in closed form by ridge regression to one-hot labels on the active training rows
:math:`\mathcal{A}`:

.. math::
    W = \arg\min_W \|Z_{\mathcal{A}}W - Y_{\mathcal{A}}\|_F^2 + \lambda\|W\|_F^2
      = (Z_{\mathcal{A}}^\top Z_{\mathcal{A}} + \lambda I)^{-1} Z_{\mathcal{A}}^\top Y_{\mathcal{A}} .

**Why a projection is exact here.** Append to every training row :math:`z_i` the scaled
indicator :math:`\sqrt{\lambda}\,e_i`. The augmented rows are linearly independent, the
ridge solution is the :math:`Z`-block of the minimum-norm interpolant :math:`\tilde W` of
the augmented rows, and :math:`\tilde W` lies in their span. Projecting :math:`\tilde W`
onto the span of the retained augmented rows (Projector's rule: drop the component that
only the forgotten rows explain) gives the minimum-norm interpolant of the retained rows,
i.e. the ridge model retrained without them. In the original coordinates this projection is
the rank-:math:`k` downdate of :math:`M=(Z^\top Z+\lambda I)^{-1}` and of :math:`Z^\top Y`
by the removed rows (Woodbury), so no gradient step and no refit is taken.

On a graph a request also changes the propagated rows of the retained neighbours (within
:math:`K` hops; :func:`~graphforget.certified.cgu.changed_rows`). Those rows are projected
out with the forgotten ones and re-inserted with their new values (the same rank update
with the opposite sign), so the model after every request equals the closed-form ridge model
on the retained graph, to floating-point rounding. This re-insertion is our addition: the
paper's linear-GNN analysis projects in raw-feature space and bounds the distance to
retraining instead.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.certified.cgu import (
    _normalise_rows,
    changed_rows,
    linear_only_error,
    local_propagation,
    propagation_stack,
    training_rows,
)
from graphforget.errors import GraphForgetError, SolverError
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import num_classes
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport

__all__ = ["Projector"]

_DT = torch.float64


@register_method("projector")
class Projector(Unlearner):
    r"""Projection unlearning for a linear GNN (`Cong & Mahdavi, AISTATS 2023
    <https://arxiv.org/abs/2302.08990>`_), exact for its closed-form ridge model (see the
    module docstring).

    Args:
        K (int): propagation steps of :math:`Z=P^KX`. (default: :obj:`2`)
        alpha (float): :math:`P = D^{-\alpha}(A+I)D^{-(1-\alpha)}`; ``1`` is row-stochastic.
            (default: :obj:`1.0`)
        lam (float): ridge coefficient :math:`\lambda > 0` (sum-form objective).
            (default: :obj:`1.0`)
        normalize (bool): scale every raw feature row to unit norm before propagating
            (data-independent preprocessing). (default: :obj:`True`)
        bias (bool): append a constant column (a regularised bias). (default: :obj:`True`)
        max_pending (int): the largest accumulated rank :math:`R` of the low-rank form
            :math:`M_0 - UC^{-1}U^\top` of the inverse Gram matrix before it is folded into
            :math:`M_0` (:math:`O(d^2R)`; also once :math:`R` reaches half the dimension).
            A request costs one pass over :math:`M_0` plus :math:`O(dR + R^3)` instead of
            rewriting the :math:`d\times d` inverse; a request whose own rank reaches half
            the dimension re-solves from the rows. 512 gave the lowest mean over 200
            sequential removals on Cora and CiteSeer among 128-2048. (default: :obj:`512`)
        seed (int): unused by the closed form; kept for the common interface.
            (default: :obj:`0`)
    """

    guarantee = Guarantee.EXACT
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.NODE,)

    def __init__(self, K: int = 2, alpha: float = 1.0, lam: float = 1.0, normalize: bool = True,
                 bias: bool = True, max_pending: int = 512, seed: int = 0) -> None:
        if isinstance(K, bool) or not isinstance(K, int) or K < 0:
            raise GraphForgetError(f"K must be an integer >= 0, got {K!r}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise GraphForgetError(f"alpha must lie in [0, 1], got {alpha!r}")
        if not float(lam) > 0:
            raise GraphForgetError(f"lam must be > 0 (it makes every row independent), got {lam!r}")
        self.K = K
        self.alpha = alpha
        self.lam = lam
        self.normalize = normalize
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 0:
            raise GraphForgetError(f"max_pending must be an integer >= 0, got {max_pending!r}")
        self.bias = bias
        self.max_pending = max_pending
        self.seed = seed

    # -- the user's model: refused ------------------------------------------------------
    @classmethod
    def user_model_error(cls, model: Any) -> GraphForgetError:
        """The one-line refusal of a user module or factory (``make_method`` raises it for
        ``model=<module>``): exactness is proved for the closed-form ridge model only."""
        return linear_only_error(cls.method_name, model, "closed-form ridge regression on fixed propagated "
                                 "features", "tune K, alpha and lam")

    def attach(self, model: torch.nn.Module, data: Data) -> Projector:
        """Refused: the projection is exact for the closed-form linear model only."""
        raise self.user_model_error(model)

    # -- features -------------------------------------------------------------------
    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        for key in ("x", "y", "edge_index", "train_mask"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(f"projector needs data.{key}")

    def _preprocess(self, x: Tensor) -> Tensor:
        x = x.to(_DT)
        return _normalise_rows(x) if self.normalize else x

    def _rows(self, z: Tensor) -> Tensor:
        """Design rows: propagated features, plus the constant column."""
        if not self.bias:
            return z
        return torch.cat([z, torch.ones(z.size(0), 1, dtype=z.dtype)], dim=1)

    def _targets(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.num_classes_).to(_DT)

    # -- fit ------------------------------------------------------------------------
    def _fit(self, data: Data) -> None:
        self.num_classes_ = num_classes(data)
        self.stack_ = propagation_stack(self._preprocess(data.x), data.edge_index, int(self.K), float(self.alpha))
        self.train_nodes_ = data.train_mask.nonzero().view(-1)
        if self.train_nodes_.numel() == 0:
            raise GraphForgetError("projector needs at least one training node")
        Z = self._rows(self.stack_[-1][self.train_nodes_])
        Y = self._targets(data.y[self.train_nodes_])
        gram = Z.T @ Z + float(self.lam) * torch.eye(Z.size(1), dtype=_DT)
        L, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            raise SolverError("the ridge Gram matrix is not positive definite; increase lam")
        self.M_ = torch.cholesky_inverse(L)
        self.B_ = Z.T @ Y
        self.W_ = self.M_ @ self.B_
        self.active_ = torch.ones(self.train_nodes_.numel(), dtype=torch.bool)
        self._reset_pending()

    def _reset_pending(self) -> None:
        """No rank update pending: ``M_`` is the inverse of the current Gram matrix."""
        self.U_, self.G_, self.S_, self.core_ = self._empty_pending(self.M_.size(0))

    @staticmethod
    def _empty_pending(dim: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(U, G, S, core)`` of an empty pending form."""
        return (torch.empty(dim, 0, dtype=_DT), torch.empty(0, dim, dtype=_DT),
                torch.empty(0, dtype=_DT), torch.empty(0, 0, dtype=_DT))

    # -- unlearn --------------------------------------------------------------------
    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        n = retained.num_nodes
        old = self.data_
        feature_nodes = torch.empty(0, dtype=torch.long) if isinstance(request, EdgeRequest) else request.node_ids
        sets = changed_rows(old.edge_index, retained.edge_index, feature_nodes, n, int(self.K), float(self.alpha))
        new_vals = local_propagation(self.stack_, sets, self._preprocess(retained.x[sets[0]]),
                                     retained.edge_index, float(self.alpha))
        changed = sets[-1]
        rows, nodes, in_train, live = training_rows(changed, self.train_nodes_, self.active_, n)
        new_rows = new_vals[-1][in_train][live]
        keep = retained.train_mask[nodes]
        t1 = time.perf_counter()
        old_Z = self._rows(self.stack_[-1][nodes])  # projected out
        new_Z = self._rows(new_rows[keep])  # re-inserted (retained rows whose features changed)
        y = retained.y[nodes]
        old_Y, new_Y = self._targets(y), self._targets(y[keep])
        F_ = torch.cat([old_Z, new_Z])
        signs = torch.cat([-torch.ones(old_Z.size(0), dtype=_DT), torch.ones(new_Z.size(0), dtype=_DT)])
        B = self.B_ - old_Z.T @ old_Y + new_Z.T @ new_Y
        dim = self.M_.size(0)
        rank = F_.size(0)
        if 2 * rank >= dim:
            # this request alone is a rank update that costs more than re-solving the d x d
            # system on the retained rows (the same projection, computed directly)
            active = self.active_.clone()
            active[rows[~keep]] = False
            rows_z = self.stack_[-1][self.train_nodes_].clone()
            rows_z[rows] = new_rows
            Z = self._rows(rows_z[active])
            L, info = torch.linalg.cholesky_ex(Z.T @ Z + float(self.lam) * torch.eye(dim, dtype=_DT))
            if int(info) != 0:
                raise SolverError("the ridge Gram matrix is not positive definite; increase lam")
            M = torch.cholesky_inverse(L)
            U, G, S, core = self._empty_pending(dim)
            W = M @ B
            method = "resolve"
        else:
            # M_t = (G_0 + G^T S G)^{-1} = M_0 - U core^{-1} U^T with U = M_0 G^T and
            # core = S + G U (Woodbury, S = diag(+-1) = S^{-1}): the request appends its rows
            # to G, so it costs one pass over M_0 and O(d r (R + r)) -- never a d x d update
            M, method = self.M_, "woodbury"
            MF_B = M @ torch.cat([F_.T, B], dim=1)  # one pass over M_0: M_0 F^T and M_0 B
            Un, A = MF_B[:, : F_.size(0)], MF_B[:, F_.size(0):]
            U = torch.cat([self.U_, Un], dim=1)
            G = torch.cat([self.G_, F_])
            S = torch.cat([self.S_, signs])
            cross = self.G_ @ Un  # [R, r]
            core = torch.cat([torch.cat([self.core_, cross], dim=1),
                              torch.cat([cross.T, torch.diag(signs) + F_ @ Un], dim=1)])
            core = 0.5 * (core + core.T)
            # past max_pending (or half the dimension) the pending form is folded into the
            # inverse, M = M_0 - U C^{-1} U^T (O(d^2 R); a re-solve from the rows costs
            # O(m d^2 + d^3)); one solve with the core serves the weights and the fold
            fold = 2 * U.size(1) >= dim or U.size(1) > self.max_pending
            W = A
            if U.size(1):
                rhs = torch.cat([G @ A, U.T], dim=1) if fold else G @ A  # U^T B = G M_0 B = G A
                try:
                    sol = torch.linalg.solve(core, rhs)
                except RuntimeError as exc:
                    raise SolverError(f"the projection's rank update is singular ({exc}); increase lam") from None
                W = A - U @ sol[:, : A.size(1)]
                if fold:
                    M = M - U @ sol[:, A.size(1):]
                    M = 0.5 * (M + M.T)
                    U, G, S, core = self._empty_pending(dim)
                    method = "fold"
        if not bool(torch.isfinite(W).all()):
            raise SolverError("the projection produced non-finite weights; increase lam")
        # commit
        for k, rows_k in enumerate(sets):
            self.stack_[k][rows_k] = new_vals[k]
        self.M_, self.B_, self.W_ = M, B, W
        self.U_, self.G_, self.S_, self.core_ = U, G, S, core
        self.active_[rows[~keep]] = False
        t2 = time.perf_counter()
        report.breakdown.update(features=t1 - t0, projection=t2 - t1)
        report.affected.update(nodes=int(changed.numel()), train_rows=int(rows.numel()),
                               removed_rows=int((~keep).sum()), rank=int(F_.size(0)),
                               pending_rank=int(U.size(1)))
        report.diagnostics["update"] = method

    # -- inference and state ----------------------------------------------------------
    def _logits(self, data: Data) -> Tensor:
        if data is self.data_:
            z = self.stack_[-1]
        else:
            z = propagation_stack(self._preprocess(data.x), data.edge_index, int(self.K), float(self.alpha))[-1]
        return (self._rows(z) @ self.W_).float()

    def parameter_vector(self) -> Tensor:
        return self.W_.reshape(-1).clone()

    def closed_form(self) -> Tensor:
        """The ridge weights refitted from scratch on the current retained graph (for checks)."""
        self._check_fitted()
        data = self.data_
        z = propagation_stack(self._preprocess(data.x), data.edge_index, int(self.K), float(self.alpha))[-1]
        nodes = data.train_mask.nonzero().view(-1)
        Z, Y = self._rows(z[nodes]), self._targets(data.y[nodes])
        return torch.linalg.solve(Z.T @ Z + float(self.lam) * torch.eye(Z.size(1), dtype=_DT), Z.T @ Y)

    def reference(self) -> Projector:
        """A fresh copy: its fit on the retained data is the closed-form retrained model."""
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        return {"stack": [s.clone() for s in self.stack_], "train_nodes": self.train_nodes_.clone(),
                "num_classes": self.num_classes_, "M": self.M_.clone(), "B": self.B_.clone(),
                "W": self.W_.clone(), "active": self.active_.clone(),
                "pending": [self.U_.clone(), self.G_.clone(), self.S_.clone(), self.core_.clone()]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.stack_ = list(state["stack"])
        self.train_nodes_ = state["train_nodes"]
        self.num_classes_ = int(state["num_classes"])
        self.M_, self.B_, self.W_ = state["M"], state["B"], state["W"]
        self.active_ = state["active"]
        if "pending" in state:
            self.U_, self.G_, self.S_, self.core_ = state["pending"]
        else:  # saved before the low-rank form: M_ was the current inverse
            self._reset_pending()
