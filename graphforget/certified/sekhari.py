r"""Sekhari, Acharya, Kamath & Suresh (NeurIPS 2021), "Remember What You Want to Forget:
Algorithms for Machine Unlearning".

Learning stores only :math:`T(S) = \{\hat w, \hat H\}` — the exact minimiser of the
mean-form objective and the **sum** Hessian :math:`\sum_i \nabla^2 \ell_i(\hat w)` — and
publishes :math:`\hat w + \nu_0`. Deleting a set :math:`U` (cumulative over requests,
:math:`m = |U|`, :math:`n' = n - m`) uses only :math:`T(S)` and the deleted points:

.. math::

    H_U = \frac{1}{n'}\Big(\hat H - \sum_{j\in U}\nabla^2\ell_j(\hat w)\Big) + \lambda I,
    \qquad
    \bar w = \hat w + \frac{1}{n'} H_U^{-1}\sum_{j\in U}\big(\nabla\ell_j(\hat w) + \lambda\hat w\big),

and publishes :math:`\tilde w = \bar w + \nu`, :math:`\nu \sim \mathcal N(0, \sigma^2 I)`
with :math:`\sigma = \frac{\gamma}{\epsilon}\sqrt{2\log(1.25/\delta)}`,
:math:`\gamma = \frac{2 M m_{\max}^2 L^2}{\lambda^3 n^2}` (their Lemma 10 bound on
:math:`\lVert \bar w - w^*_{S\setminus U}\rVert` for :math:`m \le m_{\max}` deletions;
:math:`L` the Lipschitz constant of the per-row loss, :math:`M` the Lipschitz constant of
its Hessian, both computed from :math:`\max_i\lVert x_i\rVert`). That makes the output
:math:`(\epsilon,\delta)`-indistinguishable from the same procedure run on
:math:`S \setminus U` with no deletion. When more than ``max_deletions`` rows have been
deleted the model is retrained on the retained rows with fresh noise (new
:math:`T(S)`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.executor import derive_seed
from graphforget.general._base import to_t
from graphforget.general._linear import (
    LinearUnlearner,
    fit_linear,
    hessian_sum,
    removal_gradient,
    signed_targets,
)
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["Sekhari"]


@register_method("sekhari", "remember-what-you-want-to-forget")
class Sekhari(LinearUnlearner):
    r"""Newton-step unlearning from stored :math:`(\hat w, \hat H)` with Gaussian noise.

    Args:
        model (str): ``"logreg"`` (the noise calibration assumes it; ``"ridge"`` has
            :math:`M = 0`, so :math:`\gamma = 0` and only ``sigma`` adds noise).
            (default: ``"logreg"``)
        lam (float): L2 coefficient :math:`\lambda`. (default: :obj:`1e-3`)
        epsilon (float): :math:`\epsilon`. (default: :obj:`1.0`)
        delta (float): :math:`\delta`. (default: :obj:`1e-4`)
        max_deletions (int): deletion capacity :math:`m_{\max}` the noise is calibrated
            for; exceeding it retrains. (default: :obj:`100`)
        sigma (float, optional): noise standard deviation; ``None`` calibrates it from
            :math:`(\epsilon, \delta, m_{\max})` as above. (default: :obj:`None`)
        seed (int): seeds the noise. (default: :obj:`0`)
    """

    guarantee = Guarantee.CERTIFIED
    noise_parameter = "epsilon"

    def __init__(self, model: str = "logreg", lam: float = 1e-3, epsilon: float = 1.0,
                 delta: float = 1e-4, max_deletions: int = 100, sigma: float | None = None,
                 seed: int = 0) -> None:
        super().__init__(model=model, lam=lam, seed=seed)
        self.epsilon = epsilon
        self.delta = delta
        self.max_deletions = max_deletions
        self.sigma = sigma

    # -- calibration -------------------------------------------------------------
    def gamma(self, n: int, x_max: float, m: int | None = None) -> float:
        """Lemma-10 bound on :math:`\\lVert\\bar w - w^*\\rVert` after ``m`` deletions
        (default ``max_deletions``)."""
        if self.model == "ridge":
            return 0.0
        m = self.max_deletions if m is None else m
        M = x_max**3 / (6.0 * math.sqrt(3.0))  # third derivative of the logistic loss <= 1/(6 sqrt 3)
        L = 2.0 * x_max  # ||l' y x + lam w|| <= x_max + lam ||w|| and ||w|| <= x_max / lam
        return 2.0 * M * m**2 * L**2 / (self.lam**3 * n**2)

    def noise_std(self, n: int, x_max: float) -> float:
        if self.sigma is not None:
            return float(self.sigma)
        return self.gamma(n, x_max) / self.epsilon * math.sqrt(2.0 * math.log(1.25 / self.delta))

    def _noise(self, shape: tuple[int, ...], k: int) -> np.ndarray:
        g = np.random.default_rng(derive_seed(self.seed, "sekhari-noise", k))
        return g.standard_normal(shape) * self.sigma_

    # -- contract ----------------------------------------------------------------
    def _learn(self, data: Data) -> None:
        """Algorithm 1: stores T(S) = (w_hat, H_hat) and publishes w_hat + noise."""
        x, t = self._prepare(data)
        if not (self.epsilon > 0 and 0 < self.delta < 1):
            raise GraphForgetError(f"need epsilon > 0 and delta in (0, 1), got {self.epsilon!r}, {self.delta!r}")
        if not isinstance(self.max_deletions, int) or self.max_deletions < 1:
            raise GraphForgetError(f"max_deletions must be a positive integer, got {self.max_deletions!r}")
        W = fit_linear(x, t, self.lam, self.model)
        self.W_hat_ = W
        self.H_hat_ = np.stack([hessian_sum(W[:, c], x, t[:, c], self.model) for c in range(W.shape[1])])
        self.n_ = len(x)
        self.x_max_ = float(np.linalg.norm(x, axis=1).max())
        self.sigma_ = self.noise_std(self.n_, self.x_max_)
        self.H_del_ = np.zeros_like(self.H_hat_)
        self.G_ = np.zeros_like(W)
        self.m_ = 0
        self.W_bar_ = W
        self.W_ = W + self._noise(W.shape, self.releases_)

    def _fit(self, data: Data) -> None:
        self.releases_ = 0
        self.retrains_ = 0
        self._learn(data)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        ids = request.node_ids.numpy()
        ids = ids[self.data_.train_mask.numpy()[ids]]
        x, y = self.xy(self.data_, ids)  # the deleted points only: no training data is read
        t = signed_targets(y, self.num_classes_)
        m = self.m_ + len(x)
        self.releases_ += 1
        if m > self.max_deletions:
            self.retrains_ += 1
            self._learn(retained)
            report.diagnostics.update({"retrained": True, "deleted_since_learn": 0})
            report.breakdown["retrain"] = time.perf_counter() - start
            return
        n_left = self.n_ - m
        H_del = self.H_del_ + np.stack([hessian_sum(self.W_hat_[:, c], x, t[:, c], self.model)
                                        for c in range(t.shape[1])])
        G = self.G_ + removal_gradient(self.W_hat_, x, t, self.lam, self.model)
        W_bar = np.empty_like(self.W_hat_)
        for c in range(W_bar.shape[1]):
            H_U = (self.H_hat_[c] - H_del[c]) / n_left
            H_U[np.diag_indices_from(H_U)] += self.lam
            W_bar[:, c] = self.W_hat_[:, c] + np.linalg.solve(H_U, G[:, c]) / n_left
        W = W_bar + self._noise(W_bar.shape, self.releases_)
        report.breakdown["newton"] = time.perf_counter() - start
        report.affected["samples"] = int(len(x))
        report.diagnostics.update({"retrained": False, "deleted_since_learn": m, "sigma": self.sigma_,
                                   "gamma": self.gamma(self.n_, self.x_max_)})
        self.H_del_, self.G_, self.m_, self.W_bar_, self.W_ = H_del, G, m, W_bar, W

    def reference(self) -> Sekhari:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "W_hat": to_t(self.W_hat_), "H_hat": to_t(self.H_hat_),
                "H_del": to_t(self.H_del_), "G": to_t(self.G_), "W_bar": to_t(self.W_bar_),
                "n": int(self.n_), "m": int(self.m_), "x_max": float(self.x_max_),
                "sigma": float(self.sigma_), "releases": int(self.releases_),
                "retrains": int(self.retrains_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        for key in ("W_hat", "H_hat", "H_del", "G", "W_bar"):
            setattr(self, f"{key}_", state[key].numpy().copy())
        self.n_, self.m_, self.x_max_ = int(state["n"]), int(state["m"]), float(state["x_max"])
        self.sigma_, self.releases_ = float(state["sigma"]), int(state["releases"])
        self.retrains_ = int(state["retrains"])
