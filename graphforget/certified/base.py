r"""The certified linear classifier shared by CGU (Chien et al.), GST (Pan et al.) and
certified removal for tabular data (Guo et al.).

One-vs-rest (or binary) L2-regularised logistic regression trained on the
**perturbed** objective of Guo et al. (ICML 2020), one head :math:`w_h` per class:

.. math::
    L(W; Z) = \sum_{h}\Big[\sum_{i\in\mathcal{A}} \log\big(1+e^{-y_{ih} z_i^\top w_h}\big)
    + \frac{\lambda m}{2}\|w_h\|^2 + b_h^\top w_h\Big],\qquad b_h\sim\mathcal{N}(0,\sigma^2 I),

where :math:`\mathcal{A}` are the *active* training rows (``m`` of them) and
:math:`y_{ih}=\pm1`. Everything runs in float64. A removal is a Newton step on the new
objective :math:`L'` (rows deleted and/or rows of :math:`Z` changed),

.. math::
    W \leftarrow W + H_{L'}(W)^{-1}\big[\nabla L(W) - \nabla L'(W)\big],

(the gradient difference only involves the rows that changed). Its gradient residual is
bounded data-dependently (Guo et al., Cor. 1):

.. math::
    \|\nabla L'(W^-)\| \le \|r_{\text{solve}}\| + \gamma\,\|Z'\|_2\,\max_i\|z'_i\|\,
    \|\Delta\|\,\|Z'\Delta\| \;(+\text{caller terms}),

with :math:`\gamma=\tfrac14` for the logistic loss, :math:`\|Z'\|_2` an exact or guaranteed
upper spectral norm of the active rows (never a random power-iteration estimate) and
:math:`r_{\text{solve}}` the measured residual of the linear solve (zero up to rounding for
Cholesky, the CG residual otherwise). Bounds accumulate; while the sum stays within the
budget :math:`\sigma\epsilon/c(\delta)`, :math:`c(\delta)=\sqrt{2\log(1.5/\delta)}`, the
model is :math:`(\epsilon,\delta)`-certified; a request that would exceed it triggers a
retrain on the retained rows with fresh noise, and the sum restarts.

API (what callers use)
----------------------

``CertifiedLogisticRegression(lam=1e-2, sigma=1e-2, epsilon=1.0, delta=1e-4,
accounting="joint", gamma=0.25, solver="auto", norm="tracked", tol=1e-10,
max_newton=50, seed=0, cg_rtol=1e-6)``

* ``fit(Z, y, num_classes=None) -> self`` -- ``Z``: ``[m, d]`` training rows (any float
  dtype, stored as float64); ``y``: ``[m]`` integer labels in ``[0, C)``. ``C == 2`` trains
  one binary head, ``C > 2`` one head per class (one-vs-rest). The row index of ``Z`` is the
  row's id for every later call (ids never change; removed rows become inactive).
* ``remove_rows(rows, extra_bound=0.0, bound_scale=1.0, info=None) -> dict`` -- deletes
  training rows (Guo et al.; GST deletes graphs).
* ``update_rows(rows, new_rows, keep=None, extra_bound=0.0, bound_scale=1.0, info=None)
  -> dict`` -- replaces the features of ``rows`` by ``new_rows`` (CGU's K-hop updates);
  ``keep`` (bool per row, default all ``True``) marks rows that also leave the loss.
* both return the ledger entry of the request (also appended to ``ledger_``): ``bound``
  (this request, after ``bound_scale`` and ``extra_bound``), ``cumulative``, ``budget``,
  ``retrained`` (bool), ``retrains`` (so far), ``noise_seed`` (of the current noise),
  ``solve_residual``, ``rows`` and the caller's ``info`` dict; the returned copy adds
  ``seconds`` and ``solve_seconds`` (kept out of the stored ledger, which must be
  deterministic).
* ``decision_function(Z) -> [n, C]`` (binary: ``[-s, s]``), ``predict(Z) -> [n]``.
* ``gradient() -> [d, H]`` the full objective gradient on the active rows (noise included);
  ``residual_norm() -> float`` its norm under the accounting (what the bound bounds).
* ``budget`` (property), ``cumulative_`` (float), ``retrains_`` (int), ``ledger_``.
* ``state_dict()`` / ``load_state_dict(state)`` -- plain dicts of tensors, numbers,
  strings and lists (``torch.load(weights_only=True)`` loads them). Callers embed it in
  their ``_get_state``.

Extension points: ``extra_bound`` (an additive term a caller proves, e.g. graph terms)
and ``bound_scale`` (a multiplicative factor, e.g. GST's) per request; or override
:meth:`CertifiedLogisticRegression.bound_terms` to add named terms for every request.

Multi-class accounting (``accounting``): ``"joint"`` (default) treats all heads as one
parameter vector :math:`W\in\mathbb{R}^{d\times C}` with noise on every coordinate; the
residual is the Frobenius norm, bounded by :math:`\sqrt{\sum_h \beta_h^2}`, against the
budget :math:`\sigma\epsilon/c(\delta)`. ``"per_head"`` reproduces the official
sgc_unlearn code: per-head bounds are summed and compared with ``C`` times the budget.

Stored ``Z`` is dense float64: a caller with a sparse feature matrix densifies the
training rows it certifies.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget.errors import GraphForgetError, NotFittedError, SolverError
from graphforget.executor import derive_seed
from graphforget.unlearner import hint_rows

__all__ = ["CertifiedLogisticRegression", "budget", "c_delta", "spectral_norm_upper", "shared_hessian_factor",
           "cholesky_apply"]

#: relative float64 rounding level of the summed objective, below which a predicted
#: decrease cannot be verified by comparing objective values
_ROUNDING = 1e3 * torch.finfo(torch.float64).eps
_DT = torch.float64


def c_delta(delta: float) -> float:
    r""":math:`c(\delta)=\sqrt{2\log(1.5/\delta)}` (Guo et al., Thm. 3)."""
    if not 0.0 < float(delta) < 1.0:
        raise GraphForgetError(f"delta must lie in (0, 1), got {delta!r}")
    return math.sqrt(2.0 * math.log(1.5 / float(delta)))


def budget(sigma: float, epsilon: float, delta: float) -> float:
    r"""The gradient-residual budget :math:`\sigma\epsilon/c(\delta)`."""
    return float(sigma) * float(epsilon) / c_delta(delta)


def spectral_norm_upper(Z: Tensor) -> float:
    r"""An exact spectral norm :math:`\|Z\|_2` (eigenvalues of the smaller Gram matrix,
    float64), inflated by a relative ``1e-9`` so rounding cannot make it an underestimate."""
    if Z.numel() == 0:
        return 0.0
    Z = Z.to(_DT)
    gram = Z.T @ Z if Z.size(1) <= Z.size(0) else Z @ Z.T
    top = float(torch.linalg.eigvalsh(gram)[-1].clamp_min(0.0))
    return math.sqrt(top) * (1.0 + 1e-9) + 1e-12


def _chol_apply(L: Tensor, R: Tensor) -> Tensor:
    """Solves ``L L^T X = R``: with one factor ``L`` ``[d, d]`` shared by every head, all
    columns of ``R`` ``[d, H]`` at once (one pass over the factor); with per-head factors
    ``[H, d, d]``, ``L_h L_h^T x_h = R[:, h]`` for every head (two triangular solves each:
    several times faster on CPU than ``torch.cholesky_solve`` for one right-hand side)."""
    if L.dim() == 2:
        y = torch.linalg.solve_triangular(L, R.to(L.dtype), upper=False)
        return torch.linalg.solve_triangular(L.T, y, upper=True).to(R.dtype)
    y = torch.linalg.solve_triangular(L, R.T.unsqueeze(-1).to(L.dtype), upper=False)
    return torch.linalg.solve_triangular(L.mT, y, upper=True).squeeze(-1).T.to(R.dtype)


def shared_hessian_factor(Z: Tensor, w: Tensor, reg: float) -> Tensor:
    r"""The lower Cholesky factor ``[d, d]`` of :math:`Z^\top\mathrm{diag}(w)Z+\mathrm{reg}\,I`
    (``w``: ``[rows, 1]`` curvature per row), in float32 when that factorisation succeeds and
    float64 otherwise; a preconditioner for the Hessians of linear models on the rows ``Z``
    (CGU's heads, the SGC objective of CEU and IDEA). Row-major, so a saved copy and the
    solves that use it are the same bytes after a save/load."""
    Zf = Z.float()
    H = Zf.T @ (w.float() * Zf) + float(reg) * torch.eye(Z.size(1), dtype=torch.float32)
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) != 0:
        Z = Z.to(_DT)
        L = torch.linalg.cholesky(Z.T @ (w.to(_DT) * Z) + float(reg) * torch.eye(Z.size(1), dtype=_DT))
    # LAPACK returns the factor column-major; kept row-major
    return L.contiguous()


def cholesky_apply(L: Tensor, R: Tensor) -> Tensor:
    """Solves ``L L^T X = R`` for a factor of :func:`shared_hessian_factor` (see
    :func:`_chol_apply`)."""
    return _chol_apply(L, R)


class CertifiedLogisticRegression:
    r"""Certified-removal logistic regression (see the module docstring for the API).

    Args:
        lam (float): L2 coefficient :math:`\lambda` (the objective uses :math:`\lambda m`).
            (default: :obj:`1e-2`)
        sigma (float): noise scale :math:`\sigma` of :math:`b`. (default: :obj:`1e-2`)
        epsilon (float): :math:`\epsilon`. (default: :obj:`1.0`)
        delta (float): :math:`\delta`. (default: :obj:`1e-4`)
        accounting (str): ``"joint"`` or ``"per_head"``. (default: ``"joint"``)
        gamma (float): Lipschitz constant of :math:`\ell''` (1/4 for logistic). (default: :obj:`0.25`)
        solver (str): ``"cholesky"`` (dense per-head Hessians), ``"cg"`` (Hessian-vector
            products, preconditioned by the Cholesky factor of one Hessian shared by all
            heads -- :math:`Z^\top\bar D Z+\lambda m I` with the curvature averaged over
            heads -- cached at the first request after each (re)train when ``d <= 4096``
            and rebuilt when CG needs more than 10 iterations) or ``"auto"`` (Cholesky for
            ``d <= 256``). (default: ``"auto"``)
        norm (str): ``"tracked"`` -- exact :math:`\|Z\|_2` at (re)training, then a guaranteed
            upper bound (row deletions cannot raise it; a changed row raises it by at most
            the Frobenius norm of the change); ``"exact"`` -- recomputed on every request.
            (default: ``"tracked"``)
        tol (float): gradient-norm tolerance of training and of CG (absolute, sum-form
            objective). (default: :obj:`1e-10`)
        max_newton (int): Newton iterations of training. (default: :obj:`50`)
        seed (int): seeds the noise; retrain ``k`` uses ``derive_seed(seed, "noise", k)``.
            (default: :obj:`0`)
        cg_rtol (float): relative residual at which CG stops in a removal step
            (``||r|| <= cg_rtol ||rhs||``, or ``tol``). The solve residual is part of the
            bound, so a looser tolerance stays certified and only spends more budget (on
            Cora, 1e-4 leaves a solve residual ~100x below the step's other bound term).
            (default: :obj:`1e-4`)
    """

    def __init__(self, lam: float = 1e-2, sigma: float = 1e-2, epsilon: float = 1.0,
                 delta: float = 1e-4, accounting: str = "joint", gamma: float = 0.25,
                 solver: str = "auto", norm: str = "tracked", tol: float = 1e-10,
                 max_newton: int = 50, seed: int = 0, cg_rtol: float = 1e-4) -> None:
        if not float(lam) > 0:
            raise GraphForgetError(f"lam must be > 0 (strong convexity), got {lam!r}")
        if float(sigma) < 0:
            raise GraphForgetError(f"sigma must be >= 0, got {sigma!r}")
        if not float(epsilon) > 0:
            raise GraphForgetError(f"epsilon must be > 0, got {epsilon!r}")
        c_delta(delta)
        if accounting not in ("joint", "per_head"):
            raise GraphForgetError(f"accounting must be 'joint' or 'per_head', got {accounting!r}")
        if solver not in ("auto", "cholesky", "cg"):
            raise GraphForgetError(f"solver must be 'auto', 'cholesky' or 'cg', got {solver!r}")
        if norm not in ("tracked", "exact"):
            raise GraphForgetError(f"norm must be 'tracked' or 'exact', got {norm!r}")
        self.lam, self.sigma, self.epsilon, self.delta = float(lam), float(sigma), float(epsilon), float(delta)
        self.accounting, self.gamma, self.solver, self.norm = accounting, float(gamma), solver, norm
        if not 0.0 <= float(cg_rtol) < 1.0:
            raise GraphForgetError(f"cg_rtol must lie in [0, 1), got {cg_rtol!r}")
        self.tol, self.max_newton, self.seed = float(tol), int(max_newton), int(seed)
        self.cg_rtol = float(cg_rtol)

    # ------------------------------------------------------------------ basics
    @property
    def budget(self) -> float:
        """The budget the cumulative bound is compared with (``C`` times it per head)."""
        b = budget(self.sigma, self.epsilon, self.delta)
        return b * self.num_heads_ if self.accounting == "per_head" else b

    @property
    def num_heads_(self) -> int:
        return int(self.W_.size(1))

    def _check_fitted(self) -> None:
        if getattr(self, "W_", None) is None:
            raise NotFittedError("CertifiedLogisticRegression is not fitted: call fit(Z, y) first")

    def _targets(self, y: Tensor, num_classes: int) -> Tensor:
        if num_classes == 2:
            return (2.0 * (y == 1).to(_DT) - 1.0).view(-1, 1)
        return 2.0 * F.one_hot(y, num_classes).to(_DT) - 1.0

    def _noise(self, k: int) -> tuple[Tensor, int]:
        seed = derive_seed(self.seed, "noise", k)
        g = torch.Generator().manual_seed(seed)
        d, h = self.Z_.size(1), self.Y_.size(1)
        return self.sigma * torch.randn(d, h, generator=g, dtype=_DT), seed

    @property
    def _solver(self) -> str:
        """The solver of training's Newton steps: per-head Cholesky for small ``d``."""
        if self.solver != "auto":
            return self.solver
        return "cholesky" if self.Z_.size(1) <= 256 else "cg"

    @property
    def _removal_solver(self) -> str:
        """The solver of removal steps. ``auto``: conjugate gradient on the exact per-head
        Hessians, preconditioned by the Cholesky factor of the Hessian at the fitted weights
        (built once per fit). The retained-data Hessian differs from it only by the removed
        rows and the drift of the weights, so a few ``O(md)`` iterations replace the
        ``O(m d^2)`` Hessian a direct solve rebuilds at every request; the solve residual
        is part of the bound, so the certificate is unchanged."""
        return "cg" if self.solver == "auto" else self.solver

    # ------------------------------------------------------------ objective
    # Inactive rows stay in Z_ with weight 0 (no gathers or copies of Z per request).
    def _weights(self) -> Tensor:
        return self.active_.to(_DT).view(-1, 1)

    def _loss(self, W: Tensor, m: int) -> Tensor:
        margins = self.Y_ * (self.Z_ @ W)
        return (self._weights() * F.softplus(-margins)).sum() + 0.5 * self.lam * m * (W * W).sum() \
            + (self.B_ * W).sum()

    @staticmethod
    def _loss_grad_rows(W: Tensor, Z: Tensor, Y: Tensor, weights: Tensor | None = None) -> Tensor:
        """Sum over rows of the logistic-loss gradients (no regulariser, no noise)."""
        if Z.numel() == 0:
            return torch.zeros_like(W)
        coef = -Y * torch.sigmoid(-(Y * (Z @ W)))
        return Z.T @ (coef if weights is None else weights * coef)

    def _grad(self, W: Tensor, m: int) -> Tensor:
        return self._loss_grad_rows(W, self.Z_, self.Y_, self._weights()) + self.lam * m * W + self.B_

    def _curvature(self, W: Tensor, margins: Tensor | None = None) -> Tensor:
        s = torch.sigmoid(self.Y_ * (self.Z_ @ W if margins is None else margins))
        return self._weights() * s * (1.0 - s)

    def _hvp(self, V: Tensor, D: Tensor, m: int) -> Tensor:
        return self.Z_.T @ (D * (self.Z_ @ V)) + self.lam * m * V

    def _hessians(self, D: Tensor, m: int) -> Tensor:
        Z = self.Z_
        eye = torch.eye(Z.size(1), dtype=_DT)
        return torch.stack([Z.T @ (D[:, h:h + 1] * Z) + self.lam * m * eye for h in range(D.size(1))])

    def _tracks_hessian(self, m: int) -> bool:
        """Whether removal steps keep the shared Hessian behind the preconditioner current:
        the ``[d, d]`` matrix is downdated by the rows a request changes (``O(k d^2)``) and
        refactored (``O(d^3)``) at every request, which costs no more than about one
        ``O(m d)`` pass over the rows when ``d^2 <= 3 m``. The factor is then that of the
        retained rows' Hessian (exact for one binary head until the weights move), so CG
        stops after one iteration at the first request after a fit, and after few later."""
        d = self.Z_.size(1)
        return self._removal_solver == "cg" and d <= 4096 and d * d <= 3 * m

    def _factor_preconditioner(self, D: Tensor, m: int
                               ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """The Cholesky factor ``[d, d]`` of one Hessian shared by all heads (curvature
        averaged over heads; :func:`shared_hessian_factor`). A preconditioner only steers
        CG, which runs in float64 on the exact per-head Hessians; one shared factor costs
        ``1/H`` of per-head factors to build and to apply, and on Cora CG needs the same
        number of iterations with it. Where :meth:`_tracks_hessian`, the matrix (built as
        above, the same ``O(m d^2)`` work) is kept in float64 and returned with the
        curvature each row entered it with (``[n]``, 0 for inactive rows), for later
        downdates; else the second item is ``None``."""
        w = D.mean(1, keepdim=True)
        if self._tracks_hessian(m):
            Z = self.Z_.float()
            H = (Z.T @ (w.float() * Z) + float(self.lam * m) * torch.eye(Z.size(1), dtype=torch.float32)).to(_DT)
            L, info = torch.linalg.cholesky_ex(H)
            if int(info) == 0:
                return L.contiguous(), (H, w.view(-1).clone())
        return shared_hessian_factor(self.Z_, w, self.lam * m), None

    def _downdated_preconditioner(self, rows: Tensor, old_Z: Tensor, new_rows: Tensor, keep: Tensor,
                                  D: Tensor, m_new: int, removed: int
                                  ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """The tracked Hessian with ``rows`` taken out at the curvature they entered with
        and their kept new versions put in at the current curvature (``D``, after the
        request), refactored; rebuilt from all rows if the factorisation fails."""
        H, w = self._precond_H, self._precond_w
        w_old = w[rows].view(-1, 1)
        w_new = D[rows].mean(1)  # 0 for rows leaving the loss (their weight is 0)
        kept = new_rows[keep]
        H = H - old_Z.T @ (w_old * old_Z) + kept.T @ (w_new[keep].view(-1, 1) * kept) \
            - self.lam * removed * torch.eye(H.size(0), dtype=_DT)
        L, info = torch.linalg.cholesky_ex(H)
        if int(info) != 0:
            return self._factor_preconditioner(D, m_new)
        w = w.clone()
        w[rows] = w_new
        return L.contiguous(), (H, w)

    def _solve(self, rhs: Tensor, D: Tensor, m: int, precond: Tensor | None, rtol: float = 0.0,
               method: str | None = None) -> Tensor:
        """Solves the block-diagonal system H X = rhs (one block per head)."""
        return self._solve_zx(rhs, D, m, precond, rtol, method)[0]

    def _solve_zx(self, rhs: Tensor, D: Tensor, m: int, precond: Tensor | None, rtol: float = 0.0,
                  method: str | None = None) -> tuple[Tensor, Tensor | None]:
        """:meth:`_solve` and, from CG, ``Z X`` (summed from the products CG computes
        anyway; ``None`` from Cholesky)."""
        if (method or self._solver) == "cholesky":
            L, info = torch.linalg.cholesky_ex(self._hessians(D, m))
            if int(info.max()) != 0:
                raise SolverError("the Hessian is not positive definite; increase lam")
            return _chol_apply(L, rhs), None
        return self._pcg(rhs, D, m, precond, rtol=rtol)

    def _pcg(self, rhs: Tensor, D: Tensor, m: int, precond: Tensor | None, max_iter: int = 1000,
             rtol: float = 0.0) -> tuple[Tensor, Tensor]:
        """Preconditioned CG on every head at once; stops at ``||r|| <= tol``. Returns
        ``X`` and ``Z X`` (accumulated from each iteration's ``Z S``)."""
        diag = None if precond is not None else (self.Z_ * self.Z_).T @ D + self.lam * m  # Jacobi fallback

        def apply_m(R: Tensor) -> Tensor:
            if precond is None:
                return R / diag
            return _chol_apply(precond, R)

        X = torch.zeros_like(rhs)
        ZX = torch.zeros(self.Z_.size(0), rhs.size(1), dtype=rhs.dtype)
        R = rhs.clone()
        self.cg_iterations_ = 0
        target = max(self.tol, max(rtol, 1e-14) * float(rhs.norm()))
        if float(R.norm()) <= target:
            return X, ZX
        P = apply_m(R)
        S = P.clone()
        rz = (R * P).sum(0)
        for _ in range(max_iter):
            self.cg_iterations_ += 1
            ZS = self.Z_ @ S
            HS = self.Z_.T @ (D * ZS) + self.lam * m * S  # = self._hvp(S, D, m)
            denom = (S * HS).sum(0)
            alpha = torch.where(denom > 0, rz / denom.clamp_min(1e-300), torch.zeros_like(rz))
            X = X + alpha * S
            ZX = ZX + alpha * ZS
            R = R - alpha * HS
            if float(R.norm()) <= target:  # checked before preconditioning the new residual
                break
            P = apply_m(R)
            rz_new = (R * P).sum(0)
            beta = torch.where(rz > 0, rz_new / rz.clamp_min(1e-300), torch.zeros_like(rz))
            S = P + beta * S
            rz = rz_new
        if not bool(torch.isfinite(X).all()):
            raise SolverError("conjugate gradient produced non-finite values; increase lam")
        return X, ZX

    # ------------------------------------------------------------ training
    def _train(self, W0: Tensor | None = None) -> Tensor:
        """Damped Newton on the noisy objective from ``W0`` (zeros by default) until the
        gradient norm is at most ``tol * sqrt(m)``."""
        m = int(self.active_.sum())
        if m == 0:
            raise GraphForgetError("no active training rows left to train on")
        W = torch.zeros(self.Z_.size(1), self.Y_.size(1), dtype=_DT) if W0 is None else W0.to(_DT).clone()
        G = self._grad(W, m)
        self.newton_iterations_ = 0
        for _ in range(self.max_newton):
            gnorm = float(G.norm())
            if not math.isfinite(gnorm):
                raise SolverError("training diverged (non-finite gradient); increase lam")
            if gnorm <= self.tol * max(1.0, math.sqrt(m)):
                break
            self.newton_iterations_ += 1
            step = -self._solve(G, self._curvature(W), m, None)
            f0, t = float(self._loss(W, m)), 1.0
            slope = float((G * step).sum())
            if -slope > _ROUNDING * max(1.0, abs(f0)):
                # Armijo backtracking on the objective
                while t > 1e-8 and float(self._loss(W + t * step, m)) > f0 + 1e-4 * t * slope:
                    t *= 0.5
                W = W + t * step
                G = self._grad(W, m)
            else:
                # Near the optimum the predicted decrease is below the objective's float64
                # rounding (the sum-form loss grows with m), so comparing losses is a coin
                # toss and Armijo would stall on a tiny step. Newton's full step is then
                # judged by the gradient norm instead.
                while True:
                    G_new = self._grad(W + t * step, m)
                    if float(G_new.norm()) < gnorm or t <= 1e-8:
                        break
                    t *= 0.5
                W, G = W + t * step, G_new
            if t <= 1e-8:
                break  # no progress possible in float64: stop with the residual reached
        return W

    def fit(self, Z: Tensor, y: Tensor, num_classes: int | None = None) -> CertifiedLogisticRegression:
        """Trains on ``Z`` ``[m, d]`` with integer labels ``y`` ``[m]``; returns ``self``."""
        if not isinstance(Z, Tensor) or Z.dim() != 2:
            raise GraphForgetError(f"Z must be a 2-D tensor [m, d], got {type(Z).__name__}"
                                   f"{'' if not isinstance(Z, Tensor) else tuple(Z.shape)}")
        if not isinstance(y, Tensor) or y.dim() != 1 or y.numel() != Z.size(0) or y.is_floating_point():
            raise GraphForgetError(f"y must be an integer tensor of shape [{Z.size(0)}]")
        if Z.size(0) == 0:
            raise GraphForgetError("Z has no rows")
        if not bool(torch.isfinite(Z).all()):
            raise GraphForgetError("Z has non-finite entries")
        C = int(y.max()) + 1 if num_classes is None else int(num_classes)
        if C < 2 or int(y.min()) < 0 or int(y.max()) >= C:
            raise GraphForgetError(f"labels must lie in [0, {C}) with at least 2 classes")
        self.num_classes_ = C
        self.Z_ = Z.detach().to(_DT).clone()
        self.Y_ = self._targets(y, C)
        self.active_ = torch.ones(Z.size(0), dtype=torch.bool)
        self.retrains_ = 0
        self.ledger_: list[dict[str, Any]] = []
        self._retrain()
        return self

    def _retrain(self) -> None:
        self.B_, self.noise_seed_ = self._noise(self.retrains_)
        self.W_ = self._train()
        self.margins_ = self.Z_ @ self.W_  # Z W, kept up to date by every removal step
        self.z_norm_ = spectral_norm_upper(self.Z_[self.active_])
        self.row_max_ = float(self.Z_[self.active_].norm(dim=1).max())
        self._precond: Tensor | None = None
        self._precond_H: Tensor | None = None
        self._precond_w: Tensor | None = None
        if self._removal_solver == "cg" and self.Z_.size(1) <= 4096:
            # factored once per fit, so the first removal costs what later ones cost
            self._precond, tracked = self._factor_preconditioner(
                self._curvature(self.W_, self.margins_), int(self.active_.sum()))
            if tracked is not None:
                self._precond_H, self._precond_w = tracked
        # the optimiser's own residual starts the sum: the certificate covers it too
        self.train_residual_ = self.residual_norm()
        self.cumulative_ = self.train_residual_

    # ------------------------------------------------------------ inference
    def decision_function(self, Z: Tensor) -> Tensor:
        """Scores ``[n, C]`` (binary: ``[-s, s]``)."""
        self._check_fitted()
        s = Z.to(_DT) @ self.W_
        return torch.cat([-s, s], dim=1) if self.num_classes_ == 2 else s

    def predict(self, Z: Tensor) -> Tensor:
        return self.decision_function(Z).argmax(-1)

    def gradient(self) -> Tensor:
        """:math:`\\nabla L(W)` on the active rows (noise and regulariser included)."""
        self._check_fitted()
        return self._grad(self.W_, int(self.active_.sum()))

    def residual_norm(self) -> float:
        """The true gradient-residual norm, under the accounting (Frobenius, or sum over heads)."""
        G = self.gradient()
        return float(G.norm()) if self.accounting == "joint" else float(G.norm(dim=0).sum())

    # ------------------------------------------------------------ removal
    def bound_terms(self, step: dict[str, Any]) -> dict[str, float]:
        """Extra named bound terms added to every request (override in a subclass).

        ``step`` holds ``delta`` (the Newton step ``[d, H]``), ``rows``, ``new_rows`` and
        ``keep``; ``self.Z_`` / ``self.active_`` already show the rows after the request. The default adds nothing."""
        return {}

    def remove_rows(self, rows: Tensor | list[int], extra_bound: float = 0.0, bound_scale: float = 1.0,
                    info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Deletes training ``rows`` (ids of ``fit``'s ``Z``) with one Newton step."""
        self._check_fitted()
        rows = self._check_rows(rows)
        return self._update(rows, self.Z_[rows], torch.zeros(rows.numel(), dtype=torch.bool),
                            extra_bound, bound_scale, info)

    def update_rows(self, rows: Tensor | list[int], new_rows: Tensor, keep: Tensor | None = None,
                    extra_bound: float = 0.0, bound_scale: float = 1.0,
                    info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Replaces the features of ``rows`` by ``new_rows``; rows with ``keep=False`` also
        leave the loss. One Newton step for all of them."""
        self._check_fitted()
        rows = self._check_rows(rows)
        if not isinstance(new_rows, Tensor) or tuple(new_rows.shape) != (rows.numel(), self.Z_.size(1)):
            raise GraphForgetError(f"new_rows must have shape [{rows.numel()}, {self.Z_.size(1)}], "
                                   f"got {getattr(new_rows, 'shape', type(new_rows).__name__)}")
        if not bool(torch.isfinite(new_rows).all()):
            raise GraphForgetError("new_rows has non-finite entries")
        keep_t = torch.ones(rows.numel(), dtype=torch.bool) if keep is None else torch.as_tensor(keep, dtype=torch.bool)
        if keep_t.shape != (rows.numel(),):
            raise GraphForgetError(f"keep must have shape [{rows.numel()}]")
        return self._update(rows, new_rows.detach().to(_DT), keep_t, extra_bound, bound_scale, info)

    def _check_rows(self, rows: Tensor | list[int]) -> Tensor:
        r = torch.as_tensor(rows)
        if r.is_floating_point() or r.dim() != 1:
            raise GraphForgetError(f"rows must be a 1-D integer sequence, got {r.dtype} {tuple(r.shape)}")
        r = r.long()
        if r.numel() and (int(r.min()) < 0 or int(r.max()) >= self.Z_.size(0)):
            raise GraphForgetError(f"rows must lie in [0, {self.Z_.size(0)})")
        if r.unique().numel() != r.numel():
            raise GraphForgetError("rows contain duplicates")
        if r.numel() and not bool(self.active_[r].all()):
            raise GraphForgetError(f"rows already removed: {r[~self.active_[r]].tolist()[:8]}")
        return r

    def _update(self, rows: Tensor, new_rows: Tensor, keep: Tensor, extra_bound: float,
                bound_scale: float, info: dict[str, Any] | None) -> dict[str, Any]:
        start = time.perf_counter()
        W = self.W_
        old_Z, old_Y = self.Z_[rows].clone(), self.Y_[rows]
        m_old = int(self.active_.sum())
        m_new = m_old - int((~keep).sum())
        if m_new == 0:
            raise GraphForgetError("the request would remove every training row")
        # gradient difference over the changed rows only: old rows out, kept new rows in
        rhs = self._loss_grad_rows(W, old_Z, old_Y) - self._loss_grad_rows(W, new_rows[keep], old_Y[keep]) \
            + self.lam * (m_old - m_new) * W
        # change the rows in place (hinted: a ledger re-hashes only these rows); restored
        # if anything below fails
        with hint_rows(self.Z_, rows), hint_rows(self.active_, rows):
            self.Z_[rows] = new_rows
            self.active_[rows] = keep
        try:
            if self.norm == "exact":
                z_norm = spectral_norm_upper(self.Z_[self.active_])
            else:
                change = (new_rows[keep] - old_Z[keep]).norm()
                z_norm = self.z_norm_ + float(change) * (1.0 + 1e-12)
            # Z W with the changed rows recomputed: one pass over Z saved per request
            margins = self.margins_.clone()
            margins[rows] = new_rows @ W
            D = self._curvature(W, margins)
            solve_start = time.perf_counter()
            precond, tracked = self._precond, None
            if self._removal_solver == "cg" and self.Z_.size(1) <= 4096:
                if precond is None:
                    precond, tracked = self._factor_preconditioner(D, m_new)
                elif getattr(self, "_precond_H", None) is not None and self._tracks_hessian(m_new):
                    precond, tracked = self._downdated_preconditioner(
                        rows, old_Z, new_rows, keep, D, m_new, m_old - m_new)
            delta, Z_delta = self._solve_zx(rhs, D, m_new, precond, rtol=self.cg_rtol,
                                            method=self._removal_solver)
            solve_seconds = time.perf_counter() - solve_start
            if Z_delta is None:
                Z_delta = self.Z_ @ delta
            # Z delta is shared by the solve residual, the bound and the margins
            r_solve = self.Z_.T @ (D * Z_delta) + self.lam * m_new * delta - rhs
            ZD = Z_delta * self._weights()
            # max row norm: rows that leave cannot raise it, changed rows can
            kept_new = new_rows[keep]
            row_max = max(self.row_max_, float(kept_new.norm(dim=1).max()) if kept_new.numel() else 0.0)
            per_head = self.gamma * z_norm * row_max * delta.norm(dim=0) * ZD.norm(dim=0)
            if self.accounting == "joint":
                bound = float(r_solve.norm()) + float(per_head.norm())
            else:
                bound = float(r_solve.norm(dim=0).sum()) + float(per_head.sum())
            terms = self.bound_terms({"delta": delta, "rows": rows, "new_rows": new_rows, "keep": keep})
            bound = bound * float(bound_scale) + float(extra_bound) + float(sum(terms.values()))
            if not math.isfinite(bound):
                raise SolverError("the removal step is not finite; increase lam")
        except BaseException:
            with hint_rows(self.Z_, rows), hint_rows(self.active_, rows):
                self.Z_[rows] = old_Z
                self.active_[rows] = True
            raise
        retrained = self.cumulative_ + bound > self.budget
        if retrained:
            self.retrains_ += 1
            self._retrain()
        else:
            self.W_ = W + delta
            self.margins_ = margins + Z_delta
            self._precond = precond
            self._precond_H, self._precond_w = tracked if tracked is not None else (None, None)
            if self._removal_solver == "cg" and getattr(self, "cg_iterations_", 0) > 10:
                # stale: rebuilt at the next request
                self._precond = self._precond_H = self._precond_w = None
            self.cumulative_ += bound
            self.z_norm_ = z_norm
            self.row_max_ = row_max
        entry = {
            "index": len(self.ledger_), "rows": int(rows.numel()), "removed": int((~keep).sum()),
            "bound": bound, "cumulative": self.cumulative_, "budget": self.budget,
            "retrained": bool(retrained), "retrains": self.retrains_, "noise_seed": self.noise_seed_,
            "solve_residual": float(r_solve.norm()), "z_norm": z_norm,
            "terms": {k: float(v) for k, v in terms.items()},
            "info": dict(info or {}),
        }
        self.ledger_.append(entry)  # deterministic fields only: the ledger is part of the state
        return dict(entry, solve_seconds=solve_seconds, seconds=time.perf_counter() - start)

    # ------------------------------------------------------------ state
    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("lam", "sigma", "epsilon", "delta", "accounting", "gamma",
                                              "solver", "norm", "tol", "max_newton", "seed", "cg_rtol")}

    def state_dict(self) -> dict[str, Any]:
        """Plain nested dict (tensors, numbers, strings, lists): ``weights_only``-loadable."""
        self._check_fitted()
        return {
            "params": self.get_params(), "num_classes": self.num_classes_,
            "Z": self.Z_.clone(), "Y": self.Y_.clone(), "active": self.active_.clone(),
            "W": self.W_.clone(), "B": self.B_.clone(), "noise_seed": self.noise_seed_,
            "retrains": self.retrains_, "cumulative": self.cumulative_, "z_norm": self.z_norm_,
            "row_max": self.row_max_, "train_residual": self.train_residual_, "ledger": [dict(e) for e in self.ledger_],
            # the cached margins Z W are updated incrementally by every removal step, so
            # they differ from a fresh Z @ W in the last bits: saved, the roundtrip is exact
            "margins": self.margins_.clone(),
            # the factor itself: it was built from the rows as they were at its build, which
            # later removals change, so a loaded model must not rebuild it (its next removal
            # would solve to another rounding). Content-addressed checkpoints store it once
            # per rebuild.
            "precond_factor": (self._precond.clone() if getattr(self, "_precond", None) is not None
                               else None),
            # the tracked Hessian behind it and each row's curvature in it (None where the
            # factor is not downdated, see _tracks_hessian)
            "precond_hessian": (self._precond_H.clone() if getattr(self, "_precond_H", None) is not None
                                else None),
            "precond_curvature": (self._precond_w.clone() if getattr(self, "_precond_w", None) is not None
                                  else None),
        }

    def load_state_dict(self, state: dict[str, Any]) -> CertifiedLogisticRegression:
        self.__init__(**state["params"])  # type: ignore[misc]
        self.num_classes_ = int(state["num_classes"])
        self.Z_, self.Y_, self.active_ = state["Z"], state["Y"], state["active"]
        self.W_, self.B_ = state["W"], state["B"]
        self.noise_seed_, self.retrains_ = int(state["noise_seed"]), int(state["retrains"])
        self.cumulative_, self.z_norm_ = float(state["cumulative"]), float(state["z_norm"])
        self.row_max_ = float(state["row_max"]) if "row_max" in state else \
            float(self.Z_[self.active_].norm(dim=1).max())
        self.train_residual_ = float(state["train_residual"])
        self.ledger_ = [dict(e) for e in state["ledger"]]
        self.margins_ = state["margins"] if "margins" in state else self.Z_ @ self.W_
        self._precond = state.get("precond_factor")
        self._precond_H = state.get("precond_hessian")
        self._precond_w = state.get("precond_curvature")
        return self

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> CertifiedLogisticRegression:
        return cls(**state["params"]).load_state_dict(state)
