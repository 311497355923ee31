r"""Descent-to-Delete: Neel, Roth & Sharifi-Malvajerdi (ALT 2021), "Descent-to-Delete:
Gradient-Based Methods for Machine Unlearning" — the strongly convex, smooth case.

The learner keeps a *secret* unnoised iterate :math:`\theta` and publishes
:math:`\hat\theta = \theta + \mathcal N(0, \sigma^2 I)`. Training runs ``iters`` steps of
projected gradient descent on the mean-form objective
:math:`F_D(w) = \frac1n\sum_i\ell_i(w) + \frac\lambda2\lVert w\rVert^2` from zero, with
step :math:`\eta = 2/(\beta + \lambda)` and projection onto the ball of radius
:math:`R = \max_i\lVert x_i\rVert/\lambda` (which holds the minimiser). Each request
runs ``steps_per_deletion`` (:math:`T'`) more projected steps *from the secret iterate*
on the retained rows and publishes it with fresh noise of scale

.. math::

    \sigma = \frac{4\sqrt2\,M\,\gamma^{T'}}{\lambda n\,(1-\gamma^{T'})
             \big(\sqrt{\log(1/\delta)+\epsilon} - \sqrt{\log(1/\delta)}\big)},
    \qquad \gamma = \frac{\beta - \lambda}{\beta + \lambda},

(their Theorem 3.1), with :math:`\beta = \max_i\lVert x_i\rVert^2/4 + \lambda`
(``1 + λ`` for ridge) the smoothness and :math:`M = \max_i\lVert x_i\rVert + \lambda R`
the Lipschitz constant of the per-row loss on the ball. The published sequence is then
:math:`(\epsilon, \delta)`-indistinguishable from the one the same algorithm produces
after retraining on the retained data.
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
from graphforget.general._linear import LinearUnlearner, full_gradient
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport

__all__ = ["DescentToDelete"]


@register_method("descent-to-delete", "d2d")
class DescentToDelete(LinearUnlearner):
    r"""Perturbed projected gradient descent from the secret iterate (Neel et al., 2021).

    Args:
        model (str): ``"logreg"`` or ``"ridge"``. (default: ``"logreg"``)
        lam (float): strong convexity :math:`\lambda`. (default: :obj:`1e-2`)
        epsilon (float): :math:`\epsilon`. (default: :obj:`1.0`)
        delta (float): :math:`\delta`. (default: :obj:`1e-4`)
        iters (int): training steps. (default: :obj:`200`)
        steps_per_deletion (int): :math:`T'` steps per request. (default: :obj:`10`)
        seed (int): seeds the noise. (default: :obj:`0`)
    """

    guarantee = Guarantee.CERTIFIED
    noise_parameter = "epsilon"

    def __init__(self, model: str = "logreg", lam: float = 1e-2, epsilon: float = 1.0,
                 delta: float = 1e-4, iters: int = 200, steps_per_deletion: int = 10,
                 seed: int = 0) -> None:
        super().__init__(model=model, lam=lam, seed=seed)
        self.epsilon = epsilon
        self.delta = delta
        self.iters = iters
        self.steps_per_deletion = steps_per_deletion

    def constants(self, x_max: float) -> dict[str, float]:
        beta = (x_max**2 / 4.0 if self.model == "logreg" else x_max**2) + self.lam
        radius = x_max / self.lam
        M = x_max + self.lam * radius if self.model == "logreg" else x_max * (1 + x_max * radius) + self.lam * radius
        return {"beta": beta, "radius": radius, "M": M, "eta": 2.0 / (beta + self.lam),
                "gamma": (beta - self.lam) / (beta + self.lam)}

    def sensitivity(self, n: int) -> float:
        """:math:`4 M \\gamma^{T'} / (\\lambda n (1 - \\gamma^{T'}))`: how far the secret
        iterate can be from the one retraining would hold."""
        c = self.constants_
        g = c["gamma"] ** self.steps_per_deletion
        return 4.0 * c["M"] * g / (self.lam * n * (1.0 - g))

    def noise_std(self, n: int) -> float:
        ld = math.log(1.0 / self.delta)
        return math.sqrt(2.0) * self.sensitivity(n) / (math.sqrt(ld + self.epsilon) - math.sqrt(ld))

    def _descend(self, W: np.ndarray, x: np.ndarray, t: np.ndarray, steps: int) -> np.ndarray:
        c = self.constants_
        for _ in range(steps):
            W = W - c["eta"] * full_gradient(W, x, t, self.lam, self.model)
            norms = np.linalg.norm(W, axis=0)
            W = W * np.minimum(1.0, c["radius"] / np.maximum(norms, 1e-300))[None, :]
        return W

    def _publish(self, n: int) -> None:
        self.sigma_ = self.noise_std(n)
        g = np.random.default_rng(derive_seed(self.seed, "d2d-noise", self.releases_))
        self.W_ = self.secret_ + self.sigma_ * g.standard_normal(self.secret_.shape)

    def _fit(self, data: Data) -> None:
        if not (self.epsilon > 0 and 0 < self.delta < 1):
            raise GraphForgetError(f"need epsilon > 0 and delta in (0, 1), got {self.epsilon!r}, {self.delta!r}")
        for name in ("iters", "steps_per_deletion"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise GraphForgetError(f"{name} must be a positive integer, got {v!r}")
        x, t = self._prepare(data)
        self.x_max_ = float(np.linalg.norm(x, axis=1).max())
        self.constants_ = self.constants(self.x_max_)
        self.secret_ = self._descend(np.zeros((x.shape[1], t.shape[1])), x, t, self.iters)
        self.releases_ = 0
        self._publish(len(x))

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        x, t = self._prepare(retained)
        if len(x) == 0:
            raise GraphForgetError("descent-to-delete: the request would remove every training row")
        secret = self._descend(self.secret_, x, t, self.steps_per_deletion)
        self.secret_ = secret
        self.releases_ += 1
        self._publish(len(x))
        report.breakdown["descent"] = time.perf_counter() - start
        report.affected["samples"] = len(request)
        report.diagnostics.update({"sigma": self.sigma_, "sensitivity": self.sensitivity(len(x)),
                                   "steps": self.steps_per_deletion})

    def reference(self) -> DescentToDelete:
        return self.clone()

    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "secret": to_t(self.secret_), "x_max": float(self.x_max_),
                "releases": int(self.releases_), "sigma": float(self.sigma_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.secret_ = state["secret"].numpy().copy()
        self.x_max_, self.releases_ = float(state["x_max"]), int(state["releases"])
        self.sigma_ = float(state["sigma"])
        self.constants_ = self.constants(self.x_max_)
