r"""Infinitesimal jackknife: Suriyakumar & Wilson (NeurIPS 2022), "Algorithms that
Approximate Data Removal: New Results and Limitations".

At fit time, the exact minimiser :math:`\hat w` of the mean-form objective
:math:`F_D(w) = \frac1n\sum_i \ell_i(w) + \frac\lambda2\lVert w\rVert^2` and **one**
inverse Hessian :math:`\hat H^{-1} = \nabla^2 F_D(\hat w)^{-1}` per output column are
stored. After the deleted set grows to :math:`R` (:math:`n' = n - |R|` rows left),

.. math::

    w_{-R} = \hat w + \frac{1}{n'} \hat H^{-1} \sum_{j \in R}\big(\nabla\ell_j(\hat w)
    + \lambda \hat w\big),

the infinitesimal-jackknife (first-order Taylor) approximation of the leave-:math:`R`-out
minimiser. The running sum is updated by the new rows only, so a request of :math:`k`
rows costs :math:`O(kd + d^2)` per column — no pass over the data, no solve.

Proximal variant (``l1 > 0``): for the elastic net :math:`F + l_1\lVert w\rVert_1`
(trained by proximal gradient) the optimality condition on the support :math:`S` of
:math:`\hat w` adds :math:`l_1\,\mathrm{sign}(\hat w)` to each removed row's term; the
step uses the inverse Hessian of the smooth part restricted to :math:`S` (coordinates
off the support stay zero) and a coordinate whose sign would flip is set to zero — the
proximal map of the :math:`\ell_1` term on the support.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import to_t
from graphforget.general._linear import (
    LinearUnlearner,
    fit_linear,
    hessian,
    removal_gradient,
    signed_targets,
)
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["InfinitesimalJackknife", "fit_elastic_net"]


def _soft(u: np.ndarray, thr: np.ndarray) -> np.ndarray:
    return np.sign(u) * np.maximum(np.abs(u) - thr, 0.0)


def fit_elastic_net(x: np.ndarray, targets: np.ndarray, lam: float, l1: float, loss: str,
                    iters: int = 3000, tol: float = 1e-12) -> np.ndarray:
    """Proximal gradient (ISTA with a fixed step ``1/L``) for ``F + l1 |w|_1``."""
    L = (0.25 if loss == "logreg" else 1.0) * float(np.linalg.norm(x, 2) ** 2) / len(x) + lam
    W = np.zeros((x.shape[1], targets.shape[1]))
    from graphforget.general._linear import full_gradient

    for _ in range(iters):
        W_new = _soft(W - full_gradient(W, x, targets, lam, loss) / L, l1 / L)
        if np.abs(W_new - W).max() < tol:
            return W_new
        W = W_new
    return W


@register_method("jackknife", "infinitesimal-jackknife", "ij")
class InfinitesimalJackknife(LinearUnlearner):
    r"""Online infinitesimal-jackknife deletion for regularised linear models.

    Args:
        model (str): ``"logreg"`` or ``"ridge"``. (default: ``"logreg"``)
        lam (float): L2 coefficient :math:`\lambda`. (default: :obj:`1e-3`)
        l1 (float): :math:`\ell_1` coefficient; ``> 0`` selects the proximal variant
            (elastic net, trained by proximal gradient). (default: :obj:`0.0`)
        seed (int): unused (deterministic). (default: :obj:`0`)
    """

    guarantee = Guarantee.APPROXIMATE

    def __init__(self, model: str = "logreg", lam: float = 1e-3, l1: float = 0.0, seed: int = 0) -> None:
        super().__init__(model=model, lam=lam, seed=seed)
        self.l1 = l1

    def _train(self, data: Data) -> np.ndarray:
        x, t = self._prepare(data)
        if self.l1 < 0:
            raise GraphForgetError(f"l1 must be >= 0, got {self.l1!r}")
        if self.l1 > 0:
            return fit_elastic_net(x, t, self.lam, self.l1, self.model)
        return fit_linear(x, t, self.lam, self.model)

    def _fit(self, data: Data) -> None:
        W = self._train(data)
        x, t = self._prepare(data)
        self.n_ = len(x)
        self.W_hat_ = W
        inv = []
        for c in range(W.shape[1]):
            h = hessian(W[:, c], x, t[:, c], self.lam, self.model)
            if self.l1 > 0:  # smooth part on the support; off-support coordinates stay 0
                sup = np.flatnonzero(W[:, c] != 0)
                hi = np.zeros_like(h)
                if len(sup):
                    hi[np.ix_(sup, sup)] = np.linalg.inv(h[np.ix_(sup, sup)])
                inv.append(hi)
            else:
                inv.append(np.linalg.inv(h))
        self.H_inv_ = np.stack(inv)
        self.G_ = np.zeros_like(W)
        self.removed_ = 0
        self.W_ = W.copy()

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        x, y = self.xy(self.data_, request.node_ids.numpy())
        inside = self.data_.train_mask.numpy()[request.node_ids.numpy()]
        x, y = x[inside], y[inside]
        t = signed_targets(y, self.num_classes_)
        G = self.G_ + removal_gradient(self.W_hat_, x, t, self.lam, self.model)
        removed = self.removed_ + len(x)
        n_left = self.n_ - removed
        if n_left < 1:
            raise GraphForgetError("jackknife: the request would remove every training row")
        if self.l1 == 0:
            step = np.stack([self.H_inv_[c] @ G[:, c] for c in range(G.shape[1])], axis=1) / n_left
            W = self.W_hat_ + step
        else:
            # the l1 subgradient at w_hat is part of each removed row's term; a coordinate
            # whose sign would flip is set to 0 (the proximal map on the support)
            G = G + self.l1 * len(x) * np.sign(self.W_hat_)
            step = np.stack([self.H_inv_[c] @ G[:, c] for c in range(G.shape[1])], axis=1) / n_left
            W = self.W_hat_ + step
            W = np.where(np.sign(W) == np.sign(self.W_hat_), W, 0.0)
        report.breakdown["update"] = time.perf_counter() - start
        report.affected["samples"] = int(len(x))
        report.diagnostics["step_norm"] = float(np.linalg.norm(step))
        self.G_, self.removed_, self.W_ = G, removed, W

    def reference(self):  # noqa: ANN201 - an unlearner of the same objective
        if self.l1 > 0:
            return InfinitesimalJackknife(model=self.model, lam=self.lam, l1=self.l1, seed=self.seed)
        return super().reference()

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "W_hat": to_t(self.W_hat_), "H_inv": to_t(self.H_inv_),
                "G": to_t(self.G_), "removed": int(self.removed_),
                "n": int(self.n_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.W_hat_, self.H_inv_ = state["W_hat"].numpy().copy(), state["H_inv"].numpy().copy()
        self.G_ = state["G"].numpy().copy()
        self.removed_, self.n_ = int(state["removed"]), int(state["n"])
