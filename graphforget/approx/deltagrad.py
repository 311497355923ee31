r"""DeltaGrad: Wu, Dobriban & Davidson (ICML 2020), "DeltaGrad: Rapid retraining of
machine learning models".

Training is full-batch gradient descent on the mean-form objective,
:math:`w_{t+1} = w_t - \eta\big(\tfrac1n S_D(w_t) + \lambda w_t\big)` with
:math:`S_D(w) = \sum_{i\in D}\nabla\ell_i(w)`, for ``iters`` steps from zero; every
:math:`w_t` and :math:`S_D(w_t)` is cached. Deleting :math:`R` replays the trajectory
on :math:`D' = D\setminus R` (:math:`n' = n - |R|`):

* at the first ``j0`` steps and every ``T0``-th step after, the gradient on :math:`D'`
  is computed exactly, and the pair
  :math:`(w'_t - w_t,\; S_D(w'_t) - S_D(w_t))` joins an L-BFGS history of ``m`` pairs;
* in between, :math:`S_D(w'_t) \approx S_D(w_t) + B_t (w'_t - w_t)` with the L-BFGS
  compact-form quasi-Hessian :math:`B_t`, and
  :math:`\nabla F_{D'}(w'_t) \approx \frac{1}{n'}\big(S_D(w'_t) - S_R(w'_t)\big) + \lambda w'_t`
  — only the deleted rows are touched.

With ``T0 = 1`` every step is exact and the result is *bitwise* the model gradient
descent trains on :math:`D'` (same code path). Guarantee: approximate (the paper bounds
:math:`\lVert w' - w^{D'}\rVert = o(r/n)` for strongly convex smooth losses).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import to_t
from graphforget.general._linear import LinearUnlearner, fit_gd, grad_sum, signed_targets
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["DeltaGrad", "lbfgs_product"]


def lbfgs_product(S: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
    r""":math:`B v` for the L-BFGS matrix of pairs ``S`` [m, d], ``Y`` [m, d] (oldest
    first), compact form of Byrd, Nocedal & Schnabel (1994) with
    :math:`B_0 = \sigma I`, :math:`\sigma = y^\top y / s^\top y` of the newest pair."""
    sy = S @ Y.T  # [m, m]
    sigma = float(Y[-1] @ Y[-1]) / float(sy[-1, -1])
    L = np.tril(sy, -1)
    D = np.diag(np.diag(sy))
    top = np.concatenate([sigma * S @ S.T, L], axis=1)
    bot = np.concatenate([L.T, -D], axis=1)
    mid = np.concatenate([top, bot], axis=0)
    rhs = np.concatenate([sigma * S @ v, Y @ v])
    coef = np.linalg.solve(mid, rhs)
    m = len(S)
    return sigma * v - (sigma * S.T @ coef[:m] + Y.T @ coef[m:])


@register_method("deltagrad", "delta-grad")
class DeltaGrad(LinearUnlearner):
    r"""DeltaGrad replay of a cached gradient-descent trajectory.

    Args:
        model (str): ``"logreg"`` or ``"ridge"``. (default: ``"logreg"``)
        lam (float): L2 coefficient. (default: :obj:`1e-3`)
        lr (float): gradient-descent step size :math:`\eta`. (default: :obj:`0.5`)
        iters (int): gradient-descent steps. (default: :obj:`200`)
        period (int): :math:`T_0`, exact-gradient period (``1`` = exact replay).
            (default: :obj:`5`)
        burn_in (int): :math:`j_0`, leading exact steps. (default: :obj:`10`)
        history (int): L-BFGS pairs :math:`m`. (default: :obj:`2`)
        seed (int): unused (deterministic). (default: :obj:`0`)
    """

    guarantee = Guarantee.APPROXIMATE

    def __init__(self, model: str = "logreg", lam: float = 1e-3, lr: float = 0.5, iters: int = 200,
                 period: int = 5, burn_in: int = 10, history: int = 2, seed: int = 0) -> None:
        super().__init__(model=model, lam=lam, seed=seed)
        self.lr = lr
        self.iters = iters
        self.period = period
        self.burn_in = burn_in
        self.history = history

    def _fit(self, data: Data) -> None:
        for name in ("iters", "period", "history"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise GraphForgetError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.burn_in, int) and self.burn_in >= 0):
            raise GraphForgetError(f"burn_in must be a non-negative integer, got {self.burn_in!r}")
        if not self.lr > 0:
            raise GraphForgetError(f"lr must be > 0, got {self.lr!r}")
        x, t = self._prepare(data)
        self.W_, self.traj_, self.sums_ = fit_gd(x, t, self.lam, self.model, self.lr, self.iters)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        ids = request.node_ids.numpy()
        ids = ids[self.data_.train_mask.numpy()[ids]]
        x_del, y_del = self.xy(self.data_, ids)
        t_del = signed_targets(y_del, self.num_classes_)
        x, t = self._prepare(retained)
        n_new, n_old = len(x), len(x) + len(x_del)
        if n_new == 0:
            raise GraphForgetError("deltagrad: the request would remove every training row")
        C = t.shape[1]
        W = np.zeros_like(self.traj_[0])
        pairs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(C)]
        traj, sums, exact = [], [], 0
        for step in range(self.iters):
            Wt, St = self.traj_[step], self.sums_[step]
            is_exact = step < self.burn_in or (step - self.burn_in) % self.period == 0 \
                or any(len(p) == 0 for p in pairs)
            if self.period == 1 or is_exact:
                s_ret = grad_sum(W, x, t, self.model)  # the exact gradient on D'
                s_del = grad_sum(W, x_del, t_del, self.model) if len(x_del) else 0.0 * W
                full = s_ret + s_del
                for c in range(C):
                    dw, dg = W[:, c] - Wt[:, c], full[:, c] - St[:, c]
                    if float(dw @ dg) > 1e-12 * float(dw @ dw) and float(dw @ dw) > 0:
                        pairs[c] = (pairs[c] + [(dw, dg)])[-self.history:]
                exact += 1
            else:
                full = St.copy()
                for c in range(C):
                    Sm = np.stack([p[0] for p in pairs[c]])
                    Ym = np.stack([p[1] for p in pairs[c]])
                    full[:, c] += lbfgs_product(Sm, Ym, W[:, c] - Wt[:, c])
                s_ret = full - grad_sum(W, x_del, t_del, self.model)
            traj.append(W)
            sums.append(s_ret)  # S_{D'}(w'_t): D' is the "full" data of the next request
            W = W - self.lr * (s_ret / n_new + self.lam * W)
        report.breakdown["replay"] = time.perf_counter() - start
        report.affected["samples"] = int(len(x_del))
        report.diagnostics.update({"exact_steps": exact, "approx_steps": self.iters - exact,
                                   "n_before": n_old})
        self.traj_, self.sums_, self.W_ = traj, sums, W

    def reference(self) -> DeltaGrad:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "traj": to_t(np.stack(self.traj_)),
                "sums": to_t(np.stack(self.sums_))}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.traj_ = list(state["traj"].numpy().copy())
        self.sums_ = list(state["sums"].numpy().copy())
