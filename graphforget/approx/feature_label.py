r"""Feature and label unlearning: Warnecke, Pirch, Wressnegger & Rieck (NDSS 2023),
"Machine Unlearning of Features and Labels".

When rows :math:`Z` of the training set change into :math:`\tilde Z` (features zeroed by
a :class:`~graphforget.requests.FeatureRequest`, labels replaced by a
:class:`LabelRequest`, or rows removed by a :class:`~graphforget.requests.SampleRequest`),
the model is updated in closed form from the gradient difference on the changed rows
only, with per-row terms :math:`f(z; w) = \ell(z; w) + \frac\lambda2\lVert w\rVert^2`:

.. math::

    \Delta = \frac{1}{n'}\Big(\sum_{\tilde z}\nabla f(\tilde z; w) - \sum_{z}\nabla f(z; w)\Big),
    \qquad
    w \leftarrow w - \tau\,\Delta \;\;(\text{first order}),\qquad
    w \leftarrow w - H_{w}^{-1}\Delta \;\;(\text{second order}),

with :math:`H_w` the Hessian of the mean-form objective on the changed training set
(:math:`n'` rows). Guarantee: approximate (the second-order update is one Newton step
towards the retrained model; the paper certifies it with added noise, not done here).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.general._linear import LinearUnlearner, hessian, row_gradients, signed_targets
from graphforget.requests import (
    FeatureRequest,
    ForgetRequest,
    IdLike,
    SampleRequest,
    _as_id_tensor,
    _check_not_forgotten,
    _check_range,
    _check_unique,
    _copy_for_update,
    register_request_kind,
)
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["LabelRequest", "FeatureLabel"]


@register_request_kind
class LabelRequest(ForgetRequest):
    r"""Replace the labels of rows (poisoned or wrong labels to be unlearned).

    Args:
        node_ids (sequence of int): the rows whose label changes.
        labels (sequence of int): their new labels, in ``[0, num_classes)``.
    """

    kind = "label"

    def __init__(self, node_ids: IdLike, labels: IdLike) -> None:
        self.node_ids = _as_id_tensor(node_ids, "node ids")
        self.labels = _as_id_tensor(labels, "labels")
        if self.labels.numel() != self.node_ids.numel():
            raise InvalidRequestError(f"{self.node_ids.numel()} node ids but {self.labels.numel()} labels")

    def __len__(self) -> int:
        return int(self.node_ids.numel())

    def validate(self, data: Data) -> None:
        _check_range(self.node_ids, data.num_nodes, "node ids")
        _check_unique(self.node_ids, "node ids")
        _check_not_forgotten(self.node_ids, data, "nodes")
        c = getattr(data, "num_classes", None)
        c = int(c) if c is not None else int(data.y.max()) + 1
        _check_range(self.labels, c, "labels")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = _copy_for_update(data)
        out.y[self.node_ids] = self.labels.to(out.y.dtype)
        return out

    def affected_nodes(self, data: Data) -> torch.Tensor:
        return self.node_ids.clone()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node_ids": self.node_ids.tolist(), "labels": self.labels.tolist()}


@register_method("feature-label", "feature-label-unlearning", "warnecke")
class FeatureLabel(LinearUnlearner):
    r"""First- and second-order closed-form updates for changed rows (Warnecke et al.).

    Args:
        model (str): ``"logreg"`` or ``"ridge"``. (default: ``"logreg"``)
        lam (float): L2 coefficient. (default: :obj:`1e-3`)
        order (int): ``1`` (gradient step of size ``tau``) or ``2`` (Newton step).
            (default: :obj:`2`)
        tau (float): first-order step size. (default: :obj:`1.0`)
        seed (int): unused (deterministic). (default: :obj:`0`)
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (SampleRequest, FeatureRequest, LabelRequest)

    def __init__(self, model: str = "logreg", lam: float = 1e-3, order: int = 2, tau: float = 1.0,
                 seed: int = 0) -> None:
        super().__init__(model=model, lam=lam, seed=seed)
        self.order = order
        self.tau = tau

    def _fit(self, data: Data) -> None:
        if self.order not in (1, 2):
            raise GraphForgetError(f"order must be 1 or 2, got {self.order!r}")
        from graphforget.general._linear import fit_linear

        x, t = self._prepare(data)
        self.W_ = fit_linear(x, t, self.lam, self.model)

    def _row_terms(self, data: Data, rows: np.ndarray, W: np.ndarray) -> np.ndarray:
        x, y = self.xy(data, rows)
        t = signed_targets(y, self.num_classes_)
        out = np.zeros_like(W)
        for c in range(W.shape[1]):
            out[:, c] = row_gradients(W[:, c], x, t[:, c], self.model).sum(0) + self.lam * len(x) * W[:, c]
        return out

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        ids = request.node_ids.numpy()
        ids = ids[self.data_.train_mask.numpy()[ids]]
        kept = ids[retained.train_mask.numpy()[ids]]
        W = self.W_
        delta_sum = self._row_terms(retained, kept, W) - self._row_terms(self.data_, ids, W)
        x, t = self._prepare(retained)
        if len(x) == 0:
            raise GraphForgetError("feature-label: the request would remove every training row")
        delta = delta_sum / len(x)
        if self.order == 1:
            W_new = W - self.tau * delta
        else:
            W_new = np.empty_like(W)
            for c in range(W.shape[1]):
                W_new[:, c] = W[:, c] - np.linalg.solve(hessian(W[:, c], x, t[:, c], self.lam, self.model),
                                                        delta[:, c])
        report.breakdown["update"] = time.perf_counter() - start
        report.affected["samples"] = int(len(ids))
        report.diagnostics["gradient_change"] = float(np.linalg.norm(delta))
        self.W_ = W_new
