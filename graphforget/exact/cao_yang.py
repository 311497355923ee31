r"""Cao & Yang (S&P 2015), "Towards Making Systems Forget with Machine Unlearning".

A learner in *summation form* depends on the data only through a few sums
:math:`G_k = \sum_i g_k(x_i, y_i)`; forgetting row :math:`j` subtracts
:math:`g_k(x_j, y_j)` and recomputes the model from the updated sums, in time
independent of :math:`n`. Two learners are provided:

* ``"naive-bayes"`` (Gaussian): per class :math:`n_c`, :math:`\sum x`, :math:`\sum x^2`;
  :math:`\mu_c = S_c / n_c`, :math:`\sigma^2_c = Q_c / n_c - \mu_c^2 + \epsilon`,
  prior :math:`n_c / n`, with :math:`\epsilon` = ``var_smoothing`` times the largest
  feature variance of the training set (scikit-learn's convention);
* ``"ridge"``: :math:`A = X^\top X`, :math:`B = X^\top T` (±1 one-vs-rest targets),
  :math:`W = (A + \lambda n I)^{-1} B` — the minimiser of the mean-form squared loss
  :math:`\frac{1}{2n}\lVert XW - T\rVert^2 + \frac{\lambda}{2}\lVert W\rVert^2`.

Guarantee: exact. The updated sums equal the sums over the retained rows up to
float64 rounding of the subtraction (relative error ~1e-15 per row), so the model
equals a fresh fit on the retained rows to ``1e-9`` (stated tolerance).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import TabularUnlearner, to_t
from graphforget.general._linear import linear_logits, signed_targets
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["CaoYang"]

MODELS = ("naive-bayes", "ridge")


@register_method("cao-yang", "summation-unlearning")
class CaoYang(TabularUnlearner):
    r"""Statistical-query unlearning by updating summations (Cao & Yang, 2015).

    Args:
        learner (str): ``"naive-bayes"`` (Gaussian) or ``"ridge"``. (default: ``"naive-bayes"``)
        lam (float): ridge regularisation of the mean-form objective. (default: :obj:`1e-3`)
        var_smoothing (float): Gaussian naive Bayes variance floor, relative to the
            largest feature variance. (default: :obj:`1e-9`)
        seed (int): unused (the method is deterministic); kept for the CLI. (default: :obj:`0`)
    """

    guarantee = Guarantee.EXACT

    def __init__(self, learner: str = "naive-bayes", lam: float = 1e-3, var_smoothing: float = 1e-9,
                 seed: int = 0) -> None:
        self.learner = learner
        self.lam = lam
        self.var_smoothing = var_smoothing
        self.seed = seed

    # -- summations -------------------------------------------------------------
    def _sums(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        if self.learner == "naive-bayes":
            onehot = np.zeros((len(y), self.num_classes_))
            onehot[np.arange(len(y)), y] = 1.0
            return {"count": onehot.sum(0), "s1": onehot.T @ x, "s2": onehot.T @ (x * x)}
        t = signed_targets(y, self.num_classes_)
        return {"count": np.array([float(len(y))]), "xx": x.T @ x, "xt": x.T @ t}

    def _model_from_sums(self, sums: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.learner == "naive-bayes":
            n_c = sums["count"]
            safe = np.maximum(n_c, 1.0)[:, None]
            mean = sums["s1"] / safe
            var = np.maximum(sums["s2"] / safe - mean**2, 0.0)
            n = n_c.sum()
            tot_mean = sums["s1"].sum(0) / n
            tot_var = np.maximum(sums["s2"].sum(0) / n - tot_mean**2, 0.0)
            eps = self.var_smoothing * max(float(tot_var.max()), 1e-12)
            with np.errstate(divide="ignore"):
                prior = np.log(n_c / n)
            return {"mean": mean, "var": var + eps, "log_prior": prior}
        n = float(sums["count"][0])
        a = sums["xx"] + self.lam * n * np.eye(sums["xx"].shape[0])
        return {"W": np.linalg.solve(a, sums["xt"])}

    def _check_params(self) -> None:
        if self.learner not in MODELS:
            raise GraphForgetError(f"unknown cao-yang learner {self.learner!r}; choose one of {MODELS}")
        if self.learner == "ridge" and not self.lam > 0:
            raise GraphForgetError(f"lam must be > 0, got {self.lam!r}")

    # -- contract ----------------------------------------------------------------
    def _fit(self, data: Data) -> None:
        self._check_params()
        self.num_classes_ = self.num_classes_of(data)
        x, y = self.xy(data)
        self.sums_ = self._sums(x, y)
        self.params_ = self._model_from_sums(self.sums_)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        rows = request.node_ids.numpy()
        x, y = self.xy(self.data_, rows)
        delta = self._sums(x, y)
        sums = {k: self.sums_[k] - delta[k] for k in self.sums_}
        if sums["count"].sum() < 1:
            raise GraphForgetError("cao-yang: the request would remove every training row")
        t1 = time.perf_counter()
        params = self._model_from_sums(sums)
        report.breakdown["update_sums"] = t1 - t0
        report.breakdown["recompute_model"] = time.perf_counter() - t1
        report.affected["samples"] = len(rows)
        self.sums_, self.params_ = sums, params

    def _logits(self, data: Data) -> Tensor:
        x = data.x.numpy().astype(np.float64)
        if self.learner == "ridge":
            return linear_logits(self.params_["W"], x)
        mean, var, prior = self.params_["mean"], self.params_["var"], self.params_["log_prior"]
        ll = -0.5 * (np.log(2 * np.pi * var).sum(1)[None, :]
                     + (((x[:, None, :] - mean[None]) ** 2) / var[None]).sum(2))
        return torch.from_numpy(ll + prior[None, :]).to(torch.float32)

    def parameter_vector(self) -> Tensor | None:
        p = getattr(self, "params_", None)
        if p is None:
            return None
        parts = [np.nan_to_num(p[k], neginf=-1e30).reshape(-1) for k in sorted(p)]
        return torch.from_numpy(np.concatenate(parts))

    def reference(self) -> CaoYang:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        return {"sums": {k: to_t(v) for k, v in self.sums_.items()},
                "params": {k: to_t(v) for k, v in self.params_.items()},
                "num_classes": int(self.num_classes_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.sums_ = {k: v.numpy().copy() for k, v in state["sums"].items()}
        self.params_ = {k: v.numpy().copy() for k, v in state["params"].items()}
        self.num_classes_ = int(state["num_classes"])
