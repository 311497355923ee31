r"""Projective residual update (PRU): Izzo, Smart, Chaudhuri & Zou (AISTATS 2021),
"Approximate Data Deletion from Machine Learning Models".

For ridge / least squares :math:`W = A^{-1} X^\top T`, :math:`A = X^\top X + \lambda n I`
(mean-form ridge; :math:`A^{-1}` is cached), deleting the rows :math:`R`
(:math:`k = |R|`) takes two steps:

1. leave-:math:`k`-out predictions on the deleted rows from the hat block
   :math:`H_{RR} = X_R A^{-1} X_R^\top`:
   :math:`\hat T^{(-R)}_R = T_R - (I - H_{RR})^{-1}(T_R - X_R W)`;
2. the smallest update **in the span of the deleted rows** that makes the model
   predict them: :math:`\Delta = X_R^\top (X_R X_R^\top)^{+}\,(\hat T^{(-R)}_R - X_R W)`.

Cost per request: :math:`O(k^2 d)` for the projection and the :math:`k\times k` systems
plus :math:`O(k d^2)` to form :math:`H_{RR}` and downdate :math:`A^{-1}` by Woodbury for
the next request (the paper's :math:`O(k^2 d)` assumes the hat entries at hand).
Guarantee: approximate — the update is exact on the deleted rows' predictions and
zero orthogonal to their span; the retrained model also moves orthogonally to it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.general._base import to_t
from graphforget.general._linear import LinearUnlearner, signed_targets
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["PRU"]


@register_method("pru", "projective-residual-update")
class PRU(LinearUnlearner):
    r"""Projective residual update for ridge regression (±1 one-vs-rest targets).

    Args:
        lam (float): ridge coefficient of the mean-form objective (the cached
            :math:`A` keeps :math:`\lambda n` of the original :math:`n`). (default: :obj:`1e-3`)
        seed (int): unused (deterministic). (default: :obj:`0`)
    """

    guarantee = Guarantee.APPROXIMATE
    supported_models = None  # least squares only: no ``model`` argument

    def __init__(self, lam: float = 1e-3, seed: int = 0) -> None:
        super().__init__(model="ridge", lam=lam, seed=seed)

    def _fit(self, data: Data) -> None:
        x, t = self._prepare(data)
        A = x.T @ x + self.lam * len(x) * np.eye(x.shape[1])
        self.A_inv_ = np.linalg.inv(A)
        self.W_ = self.A_inv_ @ (x.T @ t)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        ids = request.node_ids.numpy()
        ids = ids[self.data_.train_mask.numpy()[ids]]
        xr, yr = self.xy(self.data_, ids)
        if len(xr) == 0:
            report.affected["samples"] = 0
            return
        tr = signed_targets(yr, self.num_classes_)
        AinvXr = self.A_inv_ @ xr.T  # [d, k]
        H = xr @ AinvXr  # hat block H_RR
        k = len(xr)
        resid = tr - xr @ self.W_
        I_H = np.eye(k) - H
        loo = tr - np.linalg.lstsq(I_H, resid, rcond=None)[0]  # leave-k-out predictions
        target_change = loo - xr @ self.W_
        gram = xr @ xr.T
        delta = xr.T @ (np.linalg.pinv(gram, hermitian=True) @ target_change)
        # Woodbury downdate: (A - Xr^T Xr)^{-1} = A^{-1} + A^{-1}Xr^T (I - H)^{-1} Xr A^{-1}
        A_inv = self.A_inv_ + AinvXr @ np.linalg.solve(I_H, AinvXr.T)
        report.breakdown["update"] = time.perf_counter() - start
        report.affected["samples"] = k
        report.diagnostics["max_leverage"] = float(np.diag(H).max())
        self.W_, self.A_inv_ = self.W_ + delta, A_inv

    def reference(self):  # noqa: ANN201
        from graphforget.general._linear import TabularRetrain

        return TabularRetrain(model="ridge", lam=self.lam, seed=self.seed)

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "A_inv": to_t(self.A_inv_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.A_inv_ = state["A_inv"].numpy().copy()
