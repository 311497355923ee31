r"""Guo, Goldstein, Hannun & van der Maaten (ICML 2020), "Certified Data Removal from
Machine Learning Models" — on tabular rows.

A thin adapter: the model, the Newton removal step, the data-dependent residual bound
and the budget ledger are those of the shared
:class:`graphforget.certified.CertifiedLogisticRegression` (also used by CGU and GST).
Training minimises the perturbed objective
:math:`\sum_i \ell(y_i x_i^\top w) + \frac{\lambda m}{2}\lVert w\rVert^2 + b^\top w`,
:math:`b \sim \mathcal N(0, \sigma^2 I)`; removing rows :math:`R` applies
:math:`w \leftarrow w + H_{w}^{-1} \Delta` with :math:`\Delta` the gradient of the removed
terms and :math:`H` the Hessian on the retained rows, and adds the bound
:math:`\gamma \lVert X\rVert_2 \max_i\lVert x_i\rVert \lVert H^{-1}\Delta\rVert
\lVert X H^{-1}\Delta\rVert` (+ the solve residual) to the ledger. While the sum stays
below :math:`\sigma\epsilon / c(\delta)` the model is :math:`(\epsilon, \delta)`-certified;
a request that would exceed it retrains on the retained rows with fresh noise.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.certified.base import CertifiedLogisticRegression
from graphforget.general._base import TabularUnlearner, train_rows
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["CertifiedRemoval"]

_TIMINGS = ("seconds", "solve_seconds")


@register_method("certified-removal", "guo")
class CertifiedRemoval(TabularUnlearner):
    r"""Certified removal for L2-regularised logistic regression (Guo et al., 2020).

    Args:
        lam (float): L2 coefficient :math:`\lambda` (mean form). (default: :obj:`1e-3`)
        sigma (float): standard deviation of the loss perturbation :math:`b`.
            (default: :obj:`1.0`)
        epsilon (float): :math:`\epsilon` of the certificate. (default: :obj:`1.0`)
        delta (float): :math:`\delta` of the certificate. (default: :obj:`1e-4`)
        accounting (str): ``"joint"`` (Frobenius over all heads) or ``"per_head"``
            (the official code's sum over one-vs-rest heads). (default: ``"joint"``)
        solver (str): ``"auto"``, ``"cholesky"`` or ``"cg"``. (default: ``"auto"``)
        seed (int): seeds the noise. (default: :obj:`0`)
    """

    guarantee = Guarantee.CERTIFIED
    noise_parameter = "sigma"

    def __init__(self, lam: float = 1e-3, sigma: float = 1.0, epsilon: float = 1.0,
                 delta: float = 1e-4, accounting: str = "joint", solver: str = "auto",
                 seed: int = 0) -> None:
        self.lam = lam
        self.sigma = sigma
        self.epsilon = epsilon
        self.delta = delta
        self.accounting = accounting
        self.solver = solver
        self.seed = seed

    def _make(self) -> CertifiedLogisticRegression:
        return CertifiedLogisticRegression(lam=self.lam, sigma=self.sigma, epsilon=self.epsilon,
                                           delta=self.delta, accounting=self.accounting,
                                           solver=self.solver, seed=self.seed)

    def _fit(self, data: Data) -> None:
        clf = self._make()
        rows = train_rows(data)
        clf.fit(data.x[rows].to(torch.float64), data.y[rows], num_classes=self.num_classes_of(data))
        self.clf_, self.rows_ = clf, rows

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        pos = np.searchsorted(self.rows_, request.node_ids.numpy())
        inside = (pos < len(self.rows_)) & (self.rows_[np.minimum(pos, len(self.rows_) - 1)]
                                            == request.node_ids.numpy())
        pos = pos[inside]  # rows outside the training set carry no loss term
        if len(pos) == 0:
            report.affected["samples"] = 0
            report.diagnostics["bound"] = 0.0
            return
        entry = self.clf_.remove_rows(torch.from_numpy(pos))
        report.breakdown["newton"] = time.perf_counter() - start
        report.affected["samples"] = int(len(pos))
        report.diagnostics.update({k: entry[k] for k in ("bound", "cumulative", "budget", "retrained",
                                                         "retrains", "solve_residual")})

    def _logits(self, data: Data) -> Tensor:
        return self.clf_.decision_function(data.x).to(torch.float32)

    def parameter_vector(self) -> Tensor | None:
        clf = getattr(self, "clf_", None)
        return None if clf is None else clf.W_.reshape(-1).clone()

    @property
    def ledger_(self) -> list[dict[str, Any]]:
        """The per-request ledger of the certified classifier (bound, cumulative, budget...)."""
        return self.clf_.ledger_

    def reference(self) -> CertifiedRemoval:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        state = self.clf_.state_dict()
        # wall-clock timings are not learned state: keep them out of the fingerprint
        state["ledger"] = [{k: v for k, v in e.items() if k not in _TIMINGS} for e in state["ledger"]]
        return {"clf": state, "rows": torch.from_numpy(self.rows_.copy())}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.clf_ = CertifiedLogisticRegression.from_state_dict(state["clf"])
        self.rows_ = state["rows"].numpy().copy()
