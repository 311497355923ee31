r"""Regularised linear models shared by the second-order and gradient-based methods.

Objective, per output column (one-vs-rest for more than two classes; labels
:math:`y_i \in \{-1, +1\}`), in mean form with an optional linear perturbation
:math:`b` (Guo et al.'s loss perturbation):

.. math::

    F_D(w) = \frac{1}{n}\Big(\sum_{i \in D} \ell(y_i x_i^\top w) + b^\top w\Big)
             + \frac{\lambda}{2}\lVert w\rVert^2,

with :math:`\ell(z) = \log(1 + e^{-z})` (``"logreg"``) or
:math:`\ell(z) = \tfrac12 (1 - z)^2` (``"ridge"``, i.e. least squares on :math:`\pm 1`
targets). :func:`fit_linear` minimises it by Newton's method to a gradient norm of
``1e-10`` in float64, deterministically, so retraining is reproducible bit for bit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import resolve_method
from graphforget.errors import GraphForgetError
from graphforget.general._base import TabularUnlearner, to_t
from graphforget.unlearner import Unlearner

__all__ = ["LOSSES", "signed_targets", "loss_derivs", "gradient", "hessian", "fit_linear",
           "linear_logits", "LinearUnlearner"]

LOSSES = ("logreg", "ridge")


def signed_targets(y: np.ndarray, num_classes: int) -> np.ndarray:
    """``[n, 1]`` ±1 targets for two classes, ``[n, C]`` one-vs-rest ±1 targets otherwise."""
    if num_classes <= 2:
        return np.where(y == 1, 1.0, -1.0)[:, None]
    out = -np.ones((len(y), num_classes))
    out[np.arange(len(y)), y] = 1.0
    return out


def loss_derivs(z: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ℓ(z), ℓ'(z), ℓ''(z))`` elementwise."""
    if loss == "logreg":
        val = np.logaddexp(0.0, -z)
        s = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid, overflow-free
        return val, s - 1.0, s * (1.0 - s)
    if loss == "ridge":
        return 0.5 * (1.0 - z) ** 2, z - 1.0, np.ones_like(z)
    raise GraphForgetError(f"unknown linear model {loss!r}; choose one of {LOSSES}")


def row_gradients(w: np.ndarray, x: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """``[k, d]``: :math:`\\nabla_w \\ell(y_i x_i^\\top w)` for each row (one column ``w``)."""
    _, d1, _ = loss_derivs(y * (x @ w), loss)
    return (y * d1)[:, None] * x


def gradient(w: np.ndarray, x: np.ndarray, y: np.ndarray, lam: float, loss: str,
             b: np.ndarray | None = None, n: int | None = None) -> np.ndarray:
    """Gradient of :math:`F` for one column (``n`` defaults to ``len(x)``)."""
    n = len(x) if n is None else n
    _, d1, _ = loss_derivs(y * (x @ w), loss)
    g = x.T @ (y * d1)
    if b is not None:
        g = g + b
    return g / n + lam * w


def hessian_sum(w: np.ndarray, x: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """:math:`\\sum_i \\ell''_i x_i x_i^\\top` (no regulariser, not averaged)."""
    _, _, d2 = loss_derivs(y * (x @ w), loss)
    xs = x * np.sqrt(d2)[:, None]  # l'' >= 0 for both losses: a symmetric rank-k product
    return xs.T @ xs


def hessian(w: np.ndarray, x: np.ndarray, y: np.ndarray, lam: float, loss: str) -> np.ndarray:
    """Hessian of :math:`F` for one column."""
    h = hessian_sum(w, x, y, loss) / len(x)
    h[np.diag_indices_from(h)] += lam
    return h


def objective(w: np.ndarray, x: np.ndarray, y: np.ndarray, lam: float, loss: str,
              b: np.ndarray | None = None) -> float:
    val, _, _ = loss_derivs(y * (x @ w), loss)
    extra = 0.0 if b is None else float(b @ w)
    return float((val.sum() + extra) / len(x) + 0.5 * lam * w @ w)


def fit_linear(x: np.ndarray, targets: np.ndarray, lam: float, loss: str,
               b: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 100,
               w0: np.ndarray | None = None) -> np.ndarray:
    """Minimises :math:`F` for every column of ``targets`` by damped Newton; ``[d, C]``."""
    if lam <= 0:
        raise GraphForgetError(f"lam must be > 0 (strong convexity), got {lam!r}")
    d, cols = x.shape[1], targets.shape[1]
    out = np.zeros((d, cols)) if w0 is None else np.array(w0, dtype=np.float64, copy=True)
    for c in range(cols):
        y, bc = targets[:, c], None if b is None else b[:, c]
        w = out[:, c].copy()
        for _ in range(max_iter):
            g = gradient(w, x, y, lam, loss, bc)
            if np.linalg.norm(g) <= tol:
                break
            step = np.linalg.solve(hessian(w, x, y, lam, loss), g)
            if loss == "ridge":
                w = w - step
                continue
            f0, t = objective(w, x, y, lam, loss, bc), 1.0
            while t > 1e-8 and objective(w - t * step, x, y, lam, loss, bc) > f0 - 0.25 * t * (g @ step):
                t *= 0.5
            w = w - t * step
        out[:, c] = w
    return out


def linear_logits(w: np.ndarray, x: np.ndarray) -> Tensor:
    """``[n, C]`` logits: ``[0, z]`` for a binary model, ``x W`` one-vs-rest otherwise."""
    z = torch.from_numpy(x @ w).to(torch.float32)
    if w.shape[1] == 1:
        return torch.cat([torch.zeros_like(z), z], dim=1)
    return z


class LinearUnlearner(TabularUnlearner):
    """Base of the linear-model unlearners: stores ``W_`` (``[d, C]`` float64).

    Args:
        model (str): ``"logreg"`` (logistic loss) or ``"ridge"`` (squared loss).
            (default: ``"logreg"``)
        lam (float): L2 regularisation :math:`\\lambda` of the mean-form objective.
            (default: :obj:`1e-3`)
        seed (int): seed of any randomness. (default: :obj:`0`)
    """

    supported_models = LOSSES

    def __init__(self, model: str = "logreg", lam: float = 1e-3, seed: int = 0) -> None:
        self.model = model
        self.lam = lam
        self.seed = seed

    def _validate_params(self) -> None:
        if self.model not in LOSSES:
            raise GraphForgetError(f"unknown linear model {self.model!r}; choose one of {LOSSES}")
        if not (isinstance(self.lam, (int, float)) and self.lam > 0):
            raise GraphForgetError(f"lam must be a positive number, got {self.lam!r}")

    def _prepare(self, data: Data) -> tuple[np.ndarray, np.ndarray]:
        self._validate_params()
        x, y = self.xy(data)
        self.num_classes_ = self.num_classes_of(data)
        return x, signed_targets(y, self.num_classes_)

    def _logits(self, data: Data) -> Tensor:
        return linear_logits(self.W_, data.x.numpy().astype(np.float64))

    def parameter_vector(self) -> Tensor | None:
        w = getattr(self, "W_", None)
        return None if w is None else torch.from_numpy(w.reshape(-1).copy())

    reference_method: ClassVar[str] = "tabular-retrain"

    def reference(self) -> Unlearner:
        return resolve_method(self.reference_method)(model=self.model, lam=self.lam, seed=self.seed)

    def _get_state(self) -> dict[str, Any]:
        return {"W": to_t(self.W_), "num_classes": int(self.num_classes_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.W_ = state["W"].numpy().copy()
        self.num_classes_ = int(state["num_classes"])


def as_float64(t: Tensor | np.ndarray) -> np.ndarray:
    return (t.numpy() if isinstance(t, torch.Tensor) else np.asarray(t)).astype(np.float64)


def grad_sum(W: np.ndarray, x: np.ndarray, targets: np.ndarray, loss: str) -> np.ndarray:
    r"""``[d, C]``: :math:`\sum_i \nabla_w \ell(y_i x_i^\top w)` for every column (no regulariser)."""
    _, d1, _ = loss_derivs(targets * (x @ W), loss)
    return x.T @ (targets * d1)


def full_gradient(W: np.ndarray, x: np.ndarray, targets: np.ndarray, lam: float, loss: str) -> np.ndarray:
    """``[d, C]`` gradient of the mean-form objective for every column."""
    return grad_sum(W, x, targets, loss) / len(x) + lam * W


def removal_gradient(W: np.ndarray, x_del: np.ndarray, t_del: np.ndarray, lam: float,
                     loss: str) -> np.ndarray:
    r""":math:`\sum_{j \in R} (\nabla \ell_j(W) + \lambda W)`: at an exact minimiser on
    :math:`n` rows, minus this divided by :math:`n - |R|` is the gradient of the objective
    on the retained rows."""
    return grad_sum(W, x_del, t_del, loss) + lam * len(x_del) * W


def fit_gd(x: np.ndarray, targets: np.ndarray, lam: float, loss: str, lr: float, iters: int
           ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Full-batch gradient descent from zero; returns ``(W, trajectory, sum-gradients)``
    where ``trajectory[t]`` is :math:`W_t` and the sum-gradients are
    :math:`\\sum_i \\nabla \\ell_i(W_t)` (what DeltaGrad caches)."""
    W = np.zeros((x.shape[1], targets.shape[1]))
    traj, sums = [], []
    for _ in range(iters):
        s = grad_sum(W, x, targets, loss)
        traj.append(W)
        sums.append(s)
        W = W - lr * (s / len(x) + lam * W)
    return W, traj, sums
