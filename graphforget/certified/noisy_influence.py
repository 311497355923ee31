r"""The certified influence step on a GNN trained on a noisy objective, shared by CEU
(Wu et al., KDD 2023) and IDEA (Dong et al., KDD 2024).

Training minimises the perturbed objective (sum form; Guo et al., ICML 2020)

.. math::
    L_b(\theta; G) = \sum_{i\in M}\ell_i(\theta; G) + \frac{\lambda m}{2}\|\theta\|^2 + b^\top\theta,
    \qquad b\sim\mathcal{N}(0,\sigma^2 I),

(:math:`M` the training nodes, :math:`m=|M|`; the mean form divided by :math:`m` is what the
optimiser sees), first with the shared Adam loop, then polished by L-BFGS in float64 so the
residual :math:`\|\nabla L_b(\theta)\|` is small. A request turns :math:`G, M` into
:math:`G', M'`; the update is one influence step

.. math::
    \theta^- = \theta + H^{-1} v,\qquad v = \nabla L(\theta; G) - \nabla L(\theta; G'),

with :math:`v` the exact gradient difference of the two objectives (the noise cancels; only
the losses of nodes whose prediction or membership changes contribute) and :math:`H` the
Hessian of the original objective (CEU's influence function) or of the retained one
(IDEA's intermediate-state step), solved by CG on exact Hessian-vector products
(:func:`graphforget.approx.influence.inverse_hvp`).

**Bound.** By Taylor's theorem with a Lipschitz Hessian,
:math:`\nabla L'_b(\theta^-) = \nabla L_b(\theta) + (H'\Delta - v) + R` with
:math:`H'` the retained Hessian at :math:`\theta` and :math:`R` the second-order remainder, so

.. math::
    \|\nabla L'_b(\theta^-)\| \le \|\nabla L_b(\theta)\| + \|H'\Delta - v\| + \|R\| .

The middle term is measured with one Hessian-vector product (it covers the CG residual and,
for CEU, the difference between the original and the retained Hessian). For the linear SGC
backbone (softmax cross-entropy on fixed features :math:`\tilde z_i`, with a 1 appended when the
backbone has an intercept; by default it has none) the remainder is
bounded from the data: the softmax Hessian :math:`S(u)=\mathrm{diag}(p)-pp^\top` satisfies
:math:`\|S(u+\delta)-S(u)\|\le \tfrac{3}{\sqrt2}\|\delta\|` (:data:`softmax_hessian_lipschitz`), hence

.. math::
    \|R\| \le \tfrac{3}{2\sqrt2}\,\|\tilde Z_{M'}\|_2\,\max_{i\in M'}\|\delta_i\|\,\|\delta\|_F,
    \qquad \delta_i = \Delta^\top\tilde z_i \;(\text{the logit change of node } i),

with :math:`\|\tilde Z\|_2` exact at (re)training and a guaranteed upper bound afterwards
(removed rows cannot raise it; changed rows raise it by at most the Frobenius norm of the
change). For non-linear backbones the papers assume a Hessian-Lipschitz constant; here it is
the ``lipschitz`` argument :math:`C` (per training node), giving
:math:`\|R\|\le \tfrac{C m'}{2}\|\Delta\|^2` -- a certificate only as good as that
assumption. Bounds accumulate from the training residual; while the sum stays within
:math:`\sigma\epsilon/c(\delta)` the model is :math:`(\epsilon,\delta)`-certified (Guo et al.,
Thm. 3; strong convexity holds for the linear backbone), otherwise the model is retrained on
the retained graph with fresh noise and the sum restarts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch_geometric.data import Data

from graphforget.approx.influence import ObjectiveHessian, flat_grad, inverse_hvp, trainable_parameters
from graphforget.certified.base import budget, cholesky_apply, shared_hessian_factor, spectral_norm_upper
from graphforget.certified.cgu import (
    changed_rows,
    linear_only_error,
    local_propagation,
    propagation_stack,
    standard_scaler,
    training_rows,
)
from graphforget.errors import GraphForgetError, SolverError
from graphforget.executor import derive_seed
from graphforget.gnn import GNNUnlearner
from graphforget.requests import EdgeRequest, ForgetRequest
from graphforget.training import TrainConfig, forward, seeded, train_node_classifier
from graphforget.unlearner import Guarantee, Task, UnlearnReport, hint_rows

__all__ = ["NoisyInfluenceUnlearner", "softmax_hessian_lipschitz"]

_DT = torch.float64

#: a Lipschitz constant of the softmax cross-entropy Hessian :math:`S(u)` in the logits:
#: :math:`dS[\delta]=\mathrm{diag}(q)-qp^\top-pq^\top` with :math:`q=p\circ(\delta-p^\top\delta)`;
#: :math:`\max_j|q_j|` and :math:`\|q\|` are at most :math:`\sqrt{\mathrm{Var}_p(\delta)}
#: \le\|\delta\|/\sqrt2` (Popoviciu), so :math:`\|dS[\delta]\|\le 3\|\delta\|/\sqrt2`
softmax_hessian_lipschitz = 3.0 / math.sqrt(2.0)


def _prep(x: Tensor, scaler: tuple[Tensor, Tensor] | None, row: bool) -> Tensor:
    """Rows of ``x`` in float64, preprocessed by the frozen ``scaler`` (rows then clipped to
    norm 1) or, with ``row``, scaled to unit rows (row-wise: any subset of rows gives the
    same values as the whole matrix)."""
    x = x.to(_DT)
    if scaler is not None:
        x = (x - scaler[0]) * scaler[1]
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1.0)
    elif row:
        norms = x.norm(dim=1, keepdim=True)
        x = torch.where(norms > 0, x / norms.clamp_min(1e-300), x)
    return x


def _as64(data: Data, scaler: tuple[Tensor, Tensor] | None, row: bool) -> Data:
    """``data`` with float64 features, preprocessed by :func:`_prep`."""
    out = data.clone()
    out.x = _prep(data.x, scaler, row)
    ew = getattr(data, "edge_weight", None)
    if ew is not None:
        out.edge_weight = ew.to(_DT)
    return out


class _LinearObjective:
    r"""Gradient and Hessian-vector products of the SGC objective without noise (sum form),
    :math:`\sum_i w_i\,\mathrm{CE}(\Theta\tilde z_i, y_i) + \frac{\lambda m}{2}\|\Theta\|^2`, on fixed
    rows ``Z`` ``[rows, d~]`` with 0/1 row ``weights`` (``None``: all rows count) at ``theta``
    (the flat parameters of ``lin``: weight, then bias). Rows of weight 0 stay in ``Z`` so a
    removal gathers nothing."""

    def __init__(self, Z: Tensor, y: Tensor, theta: Tensor, lin: torch.nn.Linear, lam_m: float,
                 weights: Tensor | None = None, logits: Tensor | None = None) -> None:
        self.C, self.d = lin.weight.shape
        self.bias = lin.bias is not None
        self.Z, self.lam_m, self.theta = Z, float(lam_m), theta
        self.w = None if weights is None else weights.to(Z.dtype).view(-1, 1)
        self.logits = Z @ self._mat(theta).T if logits is None else logits
        self.P = torch.softmax(self.logits, dim=1)
        self.Y = F.one_hot(y, self.C).to(Z.dtype)

    def _mat(self, flat: Tensor) -> Tensor:
        W = flat[: self.C * self.d].view(self.C, self.d)
        return torch.cat([W, flat[self.C * self.d:].view(self.C, 1)], dim=1) if self.bias else W

    def _flat(self, mat: Tensor) -> Tensor:
        if not self.bias:
            return mat.reshape(-1)
        return torch.cat([mat[:, : self.d].reshape(-1), mat[:, self.d]])

    def _weighted(self, rows: Tensor) -> Tensor:
        return rows if self.w is None else rows * self.w

    def gradient(self) -> Tensor:
        return self._flat(self._weighted(self.P - self.Y).T @ self.Z) + self.lam_m * self.theta

    def matvec_logits(self, v: Tensor) -> tuple[Tensor, Tensor]:
        """``(H v, Z V^T)``: the product and the logit changes ``[rows, C]`` of the step ``v``."""
        delta = self.Z @ self._mat(v).T  # logit changes [rows, C]
        s_delta = self.P * delta - self.P * (self.P * delta).sum(1, keepdim=True)
        return self._flat(self._weighted(s_delta).T @ self.Z) + self.lam_m * v, delta

    def matvec(self, v: Tensor) -> Tensor:
        return self.matvec_logits(v)[0]

    def matvec32(self, Z32: Tensor) -> Callable[[Tensor], Tensor]:
        """The Hessian product with the rows' float32 copy ``Z32`` (a solver's operator only:
        what is certified is measured with :meth:`matvec_logits` in float64)."""
        P = self.P.float()
        w = None if self.w is None else self.w.float()

        def apply(v: Tensor) -> Tensor:
            delta = Z32 @ self._mat(v).float().T
            s_delta = P * delta - P * (P * delta).sum(1, keepdim=True)
            s_delta = s_delta if w is None else s_delta * w
            return self._flat(s_delta.T @ Z32).to(v.dtype) + self.lam_m * v
        return apply

    def preconditioner(self, factor: Tensor) -> Callable[[Tensor], Tensor]:
        r""":math:`r\mapsto M^{-1}r` with :math:`M` block-diagonal over classes, every block
        ``factor``'s :math:`LL^\top` (the class-averaged curvature; bias rows included)."""
        def apply(r: Tensor) -> Tensor:
            return self._flat(cholesky_apply(factor, self._mat(r).T).T)
        return apply


class NoisyInfluenceUnlearner(GNNUnlearner):
    r"""Base of CEU and IDEA (see the module docstring for the math).

    Args:
        model, hidden_channels, num_layers, dropout, lr, weight_decay, epochs, patience,
            seed, model_kwargs: as :class:`~graphforget.gnn.GNNUnlearner`; ``weight_decay``
            is :math:`\lambda` (the strong convexity of the objective, so it must be > 0).
        sigma (float): noise scale :math:`\sigma` of :math:`b`. (default: :obj:`0.1`)
        epsilon (float): :math:`\epsilon`. (default: :obj:`1.0`)
        delta (float): :math:`\delta`. (default: :obj:`1e-4`)
        lipschitz (float, optional): assumed Hessian-Lipschitz constant per training node for
            non-linear backbones; ``None`` for SGC, whose remainder is bounded from the data.
        iterations (int): maximum CG iterations of the influence solve. (default: :obj:`100`)
        tol (float): CG relative residual (the residual is measured and enters the bound,
            so a looser value stays certified). The default is CGU's removal ``cg_rtol``:
            on Cora (100 sequential removals) the cumulative bound is the same to four
            digits as with ``1e-8``, which forced a float64 correction after every float32
            solve and made a removal 1.3x slower. (default: :obj:`1e-4`)
        polish_iterations (int): L-BFGS iterations after the Adam epochs. (default: :obj:`200`)
        features (str): preprocessing of the raw features before the backbone:
            ``"standard"`` -- CGU's (every column standardised, the matrix divided by its
            largest row norm; statistics of the graph given to ``fit``, then frozen);
            ``"row"`` -- every row scaled to unit norm; ``"none"``. Rows of norm at most 1
            keep the propagated rows, and so the bound, small. (default: ``"standard"``)
    """

    guarantee = Guarantee.CERTIFIED
    tasks = (Task.NODE,)
    noise_parameter = "sigma"
    #: the backbone whose certificate is computed from the data (the bench's default); other
    #: backbones run only with ``lipschitz=``, the constant the papers assume
    supported_models = ("sgc",)
    #: ``"original"`` (CEU) or ``"retained"`` (IDEA): the Hessian of the influence step
    hessian_graph = "retained"

    def __init__(self, model: str = "sgc", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.0, lr: float = 0.2, weight_decay: float = 1e-2,
                 epochs: int = 100, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, sigma: float = 0.1, epsilon: float = 1.0,
                 delta: float = 1e-4, lipschitz: float | None = None, iterations: int = 100,
                 tol: float = 1e-4, polish_iterations: int = 200, features: str = "standard") -> None:
        if not isinstance(model, str):
            raise self.user_model_error(model)
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs)
        self.sigma = sigma
        self.epsilon = epsilon
        self.delta = delta
        self.lipschitz = lipschitz
        self.iterations = iterations
        self.tol = tol
        self.polish_iterations = polish_iterations
        self.features = features

    # -- the user's model: refused ----------------------------------------------------------
    @classmethod
    def user_model_error(cls, model: Any) -> GraphForgetError:
        """The one-line refusal of a user module or factory (``make_method`` raises it for
        ``model=<module>``): the certificate is proved for the method's own backbone, trained
        on its noisy objective, with SGC's remainder bounded from the data."""
        return linear_only_error(cls.method_name, model, "SGC trained on a noisy certified objective; named "
                                 "non-linear backbones only with an assumed lipschitz=", "use model='sgc'")

    def attach(self, model: torch.nn.Module, data: Data) -> NoisyInfluenceUnlearner:
        """Refused: the certificate needs the model trained on the noisy objective."""
        raise self.user_model_error(model)

    # -- checks -------------------------------------------------------------------------
    @property
    def is_linear(self) -> bool:
        return str(self.model).lower() == "sgc"

    def _check_params(self) -> None:
        super()._check_params()
        if not float(self.weight_decay) > 0:
            raise GraphForgetError(f"weight_decay must be > 0 (strong convexity of the certified "
                                   f"objective), got {self.weight_decay!r}")
        if float(self.sigma) < 0:
            raise GraphForgetError(f"sigma must be >= 0, got {self.sigma!r}")
        if not float(self.epsilon) > 0:
            raise GraphForgetError(f"epsilon must be > 0, got {self.epsilon!r}")
        budget(1.0, 1.0, self.delta)  # validates delta
        if self.features not in ("standard", "row", "none"):
            raise GraphForgetError(f"features must be 'standard', 'row' or 'none', got {self.features!r}")
        if self.lipschitz is None and not self.is_linear:
            raise GraphForgetError(f"model={self.model!r} needs lipschitz= (the assumed Hessian-Lipschitz "
                                   "constant per training node); only 'sgc' is bounded from the data")
        if self.lipschitz is not None and not float(self.lipschitz) >= 0:
            raise GraphForgetError(f"lipschitz must be >= 0, got {self.lipschitz!r}")

    @property
    def budget(self) -> float:
        """:math:`\\sigma\\epsilon/c(\\delta)`, the budget of the cumulative bound."""
        return budget(self.sigma, self.epsilon, self.delta)

    # -- the noisy objective ------------------------------------------------------------
    def _noise(self, k: int, dim: int) -> tuple[Tensor, int]:
        seed = derive_seed(self.seed, "noise", k)
        g = torch.Generator().manual_seed(seed)
        return float(self.sigma) * torch.randn(dim, generator=g, dtype=_DT), seed

    def _objective(self, model: torch.nn.Module, data: Data, noise: Tensor, params: list[Tensor]) -> Tensor:
        """Sum form :math:`L_b` on ``data`` (eval mode)."""
        mask = data.train_mask
        m = int(mask.sum())
        theta = torch.cat([p.reshape(-1) for p in params])
        out = forward(model, data)
        return F.cross_entropy(out[mask], data.y[mask], reduction="sum") \
            + 0.5 * float(self.weight_decay) * m * (theta * theta).sum() + (noise * theta).sum()

    def _train_noisy(self, data64: Data, noise: Tensor, start: torch.nn.Module | None = None) -> torch.nn.Module:
        """Minimises the noisy objective: Adam epochs from the backbone's initialisation, then
        L-BFGS. With ``start`` (the budget's refit during unlearning) L-BFGS alone runs from a
        copy of ``start``'s parameters: the objective is strongly convex and the refit's
        gradient residual is measured and enters the bound whatever the starting point (as
        every removal step's does), so the certificate is unchanged; the refit costs a few
        L-BFGS iterations instead of a training run."""
        model = self._build_model().to(_DT)
        params = trainable_parameters(model)
        m = int(data64.train_mask.sum())
        if m == 0:
            raise GraphForgetError("no training nodes left to train on")
        warm = start is not None and int(self.polish_iterations) > 0
        if warm:
            with torch.no_grad():
                for p, q in zip(params, trainable_parameters(start), strict=True):
                    p.copy_(q)

        def adam_loss(mod: torch.nn.Module, data: Data, mask: Tensor) -> Tensor:
            theta = torch.cat([p.reshape(-1) for p in trainable_parameters(mod)])
            out = forward(mod, data)
            return F.cross_entropy(out[mask], data.y[mask]) + (noise * theta).sum() / m

        config = TrainConfig(epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay, patience=None)
        if int(self.epochs) > 0 and not warm:
            train_node_classifier(model, data64, config, seed=self.seed, loss_fn=adam_loss)
        model.eval()
        if int(self.polish_iterations) > 0:
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=int(self.polish_iterations), history_size=20,
                                    tolerance_grad=1e-12, tolerance_change=1e-16, line_search_fn="strong_wolfe")

            def closure() -> Tensor:
                opt.zero_grad()
                loss = self._objective(model, data64, noise, params) / m
                loss.backward()
                return loss

            with seeded(self.seed):
                opt.step(closure)
        for p in params:
            p.grad = None
        if not all(bool(torch.isfinite(p).all()) for p in params):
            raise SolverError("training diverged (non-finite parameters); lower lr or raise weight_decay")
        return model

    def _gradient(self, data64: Data, noise: Tensor | None) -> Tensor:
        model = self.model_
        model.eval()
        params = trainable_parameters(model)
        with torch.enable_grad():
            loss = self._objective(model, data64, torch.zeros_like(self.noise_) if noise is None else noise, params)
            return flat_grad(loss, params).detach()

    def residual_norm(self) -> float:
        """The true gradient-residual norm :math:`\\|\\nabla L_b(\\theta)\\|` on the retained data."""
        self._check_fitted()
        return float(self._gradient(self._data64(self.data_), self.noise_).norm())

    def _features_norm(self, data64: Data) -> float:
        z = self._linear_rows(data64)
        return spectral_norm_upper(z)

    def _linear_rows(self, data64: Data) -> Tensor:
        """:math:`\\tilde Z_{M}` of the SGC backbone (features plus the bias column)."""
        z = self.model_.features(data64.x, data64.edge_index, getattr(data64, "edge_weight", None))
        z = z[data64.train_mask]
        if self.model_.lin.bias is not None:
            z = torch.cat([z, torch.ones(z.size(0), 1, dtype=z.dtype)], dim=1)
        return z

    # -- data in float64 (cached: the SGC feature cache keys on tensor identity) ---------
    def _data64(self, data: Data) -> Data:
        cache = self.__dict__.setdefault("_cache64", [])
        for src, d64 in cache:
            if src is data:
                return d64
        d64 = _as64(data, getattr(self, "scaler_", None), self.features == "row")
        cache.insert(0, (data, d64))
        del cache[2:]
        return d64

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, data: Data) -> None:
        from graphforget.training import num_classes

        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = num_classes(data)
        self.retrains_ = 0
        self.ledger_: list[dict[str, Any]] = []
        self.__dict__.pop("_cache64", None)
        self.scaler_ = standard_scaler(data.x) if self.features == "standard" else None
        # SGC on an unweighted graph: the propagation stack [X, PX, ..., P^K X] of CGU
        # (P = D^-1/2 (A+I) D^-1/2, alpha = 1/2, the backbone's normalisation) is kept, so a
        # request recomputes only the rows it changes and the step works on the kept rows
        self.stack_: list[Tensor] | None = None
        if self.is_linear and getattr(data, "edge_weight", None) is None:
            K = int(self._build_model().K)
            self.stack_ = propagation_stack(self._x64(data.x), data.edge_index, K, 0.5)
        self._retrain(data)

    def _x64(self, x: Tensor) -> Tensor:
        """Preprocessed float64 rows of the raw features ``x``."""
        return _prep(x, getattr(self, "scaler_", None), self.features == "row")

    def _with_bias(self, z: Tensor) -> Tensor:
        if self.model_.lin.bias is None:
            return z
        return torch.cat([z, torch.ones(z.size(0), 1, dtype=z.dtype)], dim=1)

    def _retrain(self, data: Data, warm: bool = False) -> None:
        """Trains on ``data`` with fresh noise; ``warm``: from the current parameters
        (:meth:`_train_noisy`), as the budget's refit during unlearning does."""
        d64 = self._data64(data)
        dim = sum(p.numel() for p in trainable_parameters(self._build_model()))
        self.noise_, self.noise_seed_ = self._noise(self.retrains_, dim)
        self.model_ = self._train_noisy(d64, self.noise_, start=self.model_ if warm else None)
        if self.stack_ is not None:
            # the certified objective's rows: training rows of the stack, in a fixed order
            # (ids of removed rows stay, with weight 0)
            self.train_nodes_ = data.train_mask.nonzero().view(-1)
            self.Z_ = self._with_bias(self.stack_[-1][self.train_nodes_])
            self.Z32_ = self.Z_.float()  # the solver's copy (see _unlearn_rows)
            self.y_ = data.y[self.train_nodes_].clone()
            self.active_ = torch.ones(self.train_nodes_.numel(), dtype=torch.bool)
            theta = parameters_to_vector(trainable_parameters(self.model_)).detach()
            self.logits_ = None
            obj = self._objective_rows(theta)
            self.logits_ = obj.logits  # Z Θ^T, kept up to date by every step (as CGU's margins)
            self.train_residual_ = float(obj.gradient().add(self.noise_).norm())
            self.z_norm_ = spectral_norm_upper(self.Z_)
            # CG's preconditioner: the Cholesky factor of the class-averaged Hessian at the
            # fitted weights (as the certified classifier's), built once per (re)train
            self.precond_ = None
            if self.Z_.size(1) <= 4096:
                w = (obj.P * (1.0 - obj.P)).mean(1, keepdim=True)
                self.precond_ = shared_hessian_factor(self.Z_, w, float(self.weight_decay) * self.Z_.size(0))
        else:
            self.train_residual_ = float(self._gradient(d64, self.noise_).norm())
            self.z_norm_ = self._features_norm(d64) if self.is_linear else 0.0
        self.cumulative_ = self.train_residual_

    def _objective_rows(self, theta: Tensor) -> _LinearObjective:
        """The noiseless SGC objective on the kept rows ``Z_`` (active rows count)."""
        m = int(self.active_.sum())
        return _LinearObjective(self.Z_, self.y_, theta, self.model_.lin, float(self.weight_decay) * m,
                                weights=self.active_, logits=self.logits_)

    # -- unlearn --------------------------------------------------------------------------
    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        if int(retained.train_mask.sum()) == 0:
            raise GraphForgetError("the request would remove every training node")
        if self.stack_ is not None:
            self._unlearn_rows(request, retained, report)
            return
        t0 = time.perf_counter()
        old64, new64 = self._data64(self.data_), self._data64(retained)
        model = self.model_
        model.eval()
        params = trainable_parameters(model)
        theta = parameters_to_vector(params).detach()
        zero = torch.zeros_like(theta)
        lam = float(self.weight_decay)
        m_old, m_new = int(old64.train_mask.sum()), int(retained.train_mask.sum())
        if self.is_linear:
            # explicit products on the fixed SGC features (no autograd graph): the same
            # objective, several times cheaper per Hessian-vector product
            lin_old = _LinearObjective(self._linear_rows(old64), old64.y[old64.train_mask], theta,
                                       model.lin, lam * m_old)
            lin_new = _LinearObjective(self._linear_rows(new64), new64.y[new64.train_mask], theta,
                                       model.lin, lam * m_new)
            v = lin_old.gradient() - lin_new.gradient()
            matvec_new = lin_new.matvec
            matvec = matvec_new if self.hessian_graph == "retained" else lin_old.matvec
        else:
            with torch.enable_grad():
                grad_old = flat_grad(self._objective(model, old64, zero, params), params).detach()
                hess_new = ObjectiveHessian(model, new64, new64.train_mask, lam * m_new, normalizer=1.0,
                                            kind="exact")
                ce_new = F.cross_entropy(hess_new.logits[new64.train_mask], new64.y[new64.train_mask],
                                         reduction="sum")
                grads = torch.autograd.grad(ce_new, params, retain_graph=True, allow_unused=True)
                grad_new = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                                      for p, g in zip(params, grads, strict=True)]).detach() + lam * m_new * theta
                hess = hess_new if self.hessian_graph == "retained" else \
                    ObjectiveHessian(model, old64, old64.train_mask, lam * m_old, normalizer=1.0, kind="exact")
            v = grad_old - grad_new
            matvec_new, matvec = hess_new.matvec, hess.matvec
        t1 = time.perf_counter()
        with torch.enable_grad():
            result = inverse_hvp(matvec, v, method="cg", iterations=int(self.iterations), tol=float(self.tol))
            step = result.solution
            mismatch = float((matvec_new(step) - v).norm())  # ||H' Δ - v||
        t2 = time.perf_counter()
        remainder, z_norm = self._remainder(step, old64, new64)
        bound = mismatch + remainder
        if not math.isfinite(bound):
            raise SolverError("the influence step is not finite; raise weight_decay")
        retrained = self.cumulative_ + bound > self.budget
        t3 = time.perf_counter()
        if retrained:
            self.retrains_ += 1
            self._retrain(retained, warm=True)
        else:
            vector_to_parameters(theta + step, params)  # commit
            self.cumulative_ += bound
            self.z_norm_ = z_norm
        self._ledger_entry(request, bound, mismatch, remainder, retrained, step, result.iterations)
        report.breakdown.update(gradients=t1 - t0, solve=t2 - t1, bound=t3 - t2, retrain=time.perf_counter() - t3)
        report.affected.update(nodes=int(request.affected_nodes(retained).numel()),
                               train_nodes_before=m_old, train_nodes_after=m_new)
        self._report(report)

    def _unlearn_rows(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        """The same step and bound as the general path, on the kept rows: only the rows of
        :math:`P^kX` the request changes are recomputed (CGU's local propagation), the
        gradient difference is summed over the changed training rows only, and the Hessian
        products run on the kept training rows (removed rows weigh 0)."""
        t0 = time.perf_counter()
        old, n = self.data_, retained.num_nodes
        K = len(self.stack_) - 1
        feature_nodes = torch.empty(0, dtype=torch.long) if isinstance(request, EdgeRequest) else request.node_ids
        sets = changed_rows(old.edge_index, retained.edge_index, feature_nodes, n, K, 0.5)
        new_vals = local_propagation(self.stack_, sets, self._x64(retained.x[sets[0]]), retained.edge_index, 0.5)
        changed = sets[-1]
        left = (old.train_mask & ~retained.train_mask).nonzero().view(-1)
        hit = torch.zeros(n, dtype=torch.bool)
        hit[changed] = True
        if not bool(hit[left].all()):
            raise GraphForgetError("a node left the training set without a change of its features; "
                                   "the row update cannot serve this request")
        rows, nodes, in_train, live = training_rows(changed, self.train_nodes_, self.active_, n)
        z_new = self._with_bias(new_vals[-1][in_train][live])
        keep = retained.train_mask[nodes]
        z_old = self.Z_[rows].clone()
        y_rows = self.y_[rows]
        model = self.model_
        params = trainable_parameters(model)
        theta = parameters_to_vector(params).detach()
        lam = float(self.weight_decay)
        m_old = int(self.active_.sum())
        m_new = m_old - int((~keep).sum())
        lin = model.lin
        # the changed rows' terms of both objectives (the noise and the unchanged rows cancel)
        part_old = _LinearObjective(z_old, y_rows, theta, lin, 0.0)
        part_new = _LinearObjective(z_new, y_rows, theta, lin, 0.0, weights=keep)
        v = part_old.gradient() - part_new.gradient() + lam * (m_old - m_new) * theta
        logits_old = self.logits_

        def restore_rows() -> None:  # the rows, their activity and the logits as they were
            with hint_rows(self.Z_, rows), hint_rows(self.active_, rows):
                self.Z_[rows] = z_old
                self.active_[rows] = True
            self.logits_ = logits_old
            self.Z32_[rows] = z_old.float()

        with hint_rows(self.Z_, rows), hint_rows(self.active_, rows):
            self.Z_[rows] = z_new
            self.active_[rows] = keep
        self.Z32_[rows] = z_new.float()
        try:
            self.logits_ = logits_old.clone()
            self.logits_[rows] = part_new.logits
            lin_new = self._objective_rows(theta)
            extra = lam * (m_old - m_new)

            def original(hv_new: Tensor, u: Tensor) -> Tensor:  # CEU: the changed rows swapped back
                return hv_new + part_old.matvec(u) - part_new.matvec(u) + extra * u

            ceu = self.hessian_graph != "retained"
            mv32 = lin_new.matvec32(self.Z32_)
            t1 = time.perf_counter()
            pre = None if self.precond_ is None else lin_new.preconditioner(self.precond_)
            # CG on float32 products (3x cheaper on CPU), then the step's products in float64;
            # a float64 CG correction only if the float32 stage left more than ``tol``
            result = inverse_hvp((lambda u: original(mv32(u), u)) if ceu else mv32, v, method="cg",
                                 iterations=int(self.iterations), tol=max(float(self.tol), 1e-7),
                                 preconditioner=pre)
            step, iterations = result.solution, result.iterations
            hstep, logit_change = lin_new.matvec_logits(step)
            own = original(hstep, step) if ceu else hstep
            vnorm, rnorm = float(v.norm()), float((own - v).norm())
            if rnorm > float(self.tol) * vnorm:
                fix = inverse_hvp((lambda u: original(lin_new.matvec(u), u)) if ceu else lin_new.matvec,
                                  v - own, method="cg", iterations=int(self.iterations),
                                  tol=float(self.tol) * vnorm / rnorm, preconditioner=pre)
                step, iterations = step + fix.solution, iterations + fix.iterations
                hstep, logit_change = lin_new.matvec_logits(step)
            mismatch = float((hstep - v).norm())  # ||H' Δ - v||, in float64
            t2 = time.perf_counter()
            # ||Z~_{M'}||_2 <= ||Z~_M||_2 + ||change of the kept rows||_F
            z_norm = self.z_norm_ + float((z_new[keep] - z_old[keep]).norm()) * (1.0 + 1e-12)
            kept = logit_change[self.active_]
            remainder = 0.5 * softmax_hessian_lipschitz * z_norm * float(kept.norm(dim=1).max()) \
                * float(kept.norm())
            bound = mismatch + remainder
            if not math.isfinite(bound):
                raise SolverError("the influence step is not finite; raise weight_decay")
        except BaseException:
            restore_rows()
            raise
        retrained = self.cumulative_ + bound > self.budget
        t3 = time.perf_counter()
        saved = [self.stack_[k][rows_k].clone() for k, rows_k in enumerate(sets)]
        for k, rows_k in enumerate(sets):  # commit the changed rows of the stack
            with hint_rows(self.stack_[k], rows_k):
                self.stack_[k][rows_k] = new_vals[k]
        if retrained:
            try:
                self.retrains_ += 1
                self._retrain(retained, warm=True)
            except BaseException:
                self.retrains_ -= 1
                for k, rows_k in enumerate(sets):
                    self.stack_[k][rows_k] = saved[k]
                restore_rows()
                raise
        else:
            vector_to_parameters(theta + step, params)  # commit
            self.logits_ += logit_change
            self.cumulative_ += bound
            self.z_norm_ = z_norm
        self._ledger_entry(request, bound, mismatch, remainder, retrained, step, iterations)
        report.breakdown.update(gradients=t1 - t0, solve=t2 - t1, bound=t3 - t2, retrain=time.perf_counter() - t3)
        report.affected.update(nodes=int(changed.numel()), train_rows=int(rows.numel()),
                               train_nodes_before=m_old, train_nodes_after=m_new)
        self._report(report)

    def _ledger_entry(self, request: ForgetRequest, bound: float, mismatch: float, remainder: float,
                      retrained: bool, step: Tensor, iterations: int) -> None:
        self.ledger_.append({"index": len(self.ledger_), "kind": request.kind, "items": len(request),
                             "bound": bound, "mismatch": mismatch, "remainder": remainder,
                             "cumulative": self.cumulative_, "budget": self.budget, "retrained": bool(retrained),
                             "retrains": self.retrains_, "noise_seed": self.noise_seed_,
                             "step_norm": float(step.norm()), "cg_iterations": int(iterations)})

    def _report(self, report: UnlearnReport) -> None:
        entry = self.ledger_[-1]
        report.diagnostics.update({k: entry[k] for k in ("bound", "mismatch", "remainder", "cumulative", "budget",
                                                         "retrained", "retrains", "noise_seed", "step_norm",
                                                         "cg_iterations")})

    def _remainder(self, step: Tensor, old64: Data, new64: Data) -> tuple[float, float]:
        """``(bound on ||R||, tracked ||Z~_{M'}||_2)`` for the step ``Δ``."""
        m_new = int(new64.train_mask.sum())
        if not self.is_linear:
            return 0.5 * float(self.lipschitz) * m_new * float(step.norm()) ** 2, 0.0
        z_new = self._linear_rows(new64)
        lin = self.model_.lin
        n_w = lin.weight.numel()
        dW = step[:n_w].view_as(lin.weight)
        dTheta = torch.cat([dW, step[n_w:].view(-1, 1)], dim=1) if lin.bias is not None else dW
        logit_change = z_new @ dTheta.T  # [m', C]
        # ||Z~_{M'}||_2 <= ||Z~_M||_2 + ||change of the kept rows||_F
        both = old64.train_mask & new64.train_mask
        z_old_rows = self.model_.features(old64.x, old64.edge_index, getattr(old64, "edge_weight", None))[both]
        z_new_rows = self.model_.features(new64.x, new64.edge_index, getattr(new64, "edge_weight", None))[both]
        z_norm = self.z_norm_ + float((z_new_rows - z_old_rows).norm()) * (1.0 + 1e-12)
        rows = logit_change.norm(dim=1)
        bound = 0.5 * softmax_hessian_lipschitz * z_norm * float(rows.max()) * float(logit_change.norm())
        return bound, z_norm

    # -- inference and state --------------------------------------------------------------
    def _logits(self, data: Data) -> Tensor:
        self.model_.eval()
        if self.stack_ is not None and data is self.data_:
            with torch.no_grad():
                return self.model_.lin(self.stack_[-1]).float()
        return forward(self.model_, self._data64(data)).float()

    def _build_model(self) -> torch.nn.Module:
        if self.is_linear and "bias" not in (self.model_kwargs or {}):
            # no intercept by default (as CGU): a constant column would add sqrt(m) to the
            # spectral norm in the bound; the "standard" preprocessing centres the features
            from graphforget.models import build_model

            with seeded(self.seed):
                model = build_model(self.model, self.in_channels_, self.num_classes_,
                                    hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                                    dropout=self.dropout, bias=False, **(self.model_kwargs or {}))
            return model.to(_DT)
        return super()._build_model().to(_DT)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state.update(noise=self.noise_.clone(), noise_seed=self.noise_seed_, retrains=self.retrains_,
                     cumulative=self.cumulative_, train_residual=self.train_residual_, z_norm=self.z_norm_,
                     ledger=[dict(e) for e in self.ledger_],
                     scaler=None if self.scaler_ is None else [t.clone() for t in self.scaler_],
                     stack=None if self.stack_ is None else [t.clone() for t in self.stack_])
        if self.stack_ is not None:
            state.update(train_nodes=self.train_nodes_.clone(), Z=self.Z_.clone(), y=self.y_.clone(),
                         active=self.active_.clone(), logits=self.logits_.clone(),
                         precond=None if self.precond_ is None else self.precond_.clone())
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.noise_, self.noise_seed_ = state["noise"], int(state["noise_seed"])
        self.retrains_, self.cumulative_ = int(state["retrains"]), float(state["cumulative"])
        self.train_residual_, self.z_norm_ = float(state["train_residual"]), float(state["z_norm"])
        self.ledger_ = [dict(e) for e in state["ledger"]]
        self.scaler_ = None if state["scaler"] is None else tuple(state["scaler"])
        self.stack_ = None if state.get("stack") is None else list(state["stack"])
        if self.stack_ is not None:
            self.train_nodes_, self.Z_ = state["train_nodes"], state["Z"]
            self.y_, self.active_ = state["y"], state["active"]
            self.logits_, self.precond_ = state["logits"], state["precond"]
            self.Z32_ = self.Z_.float()
        self.__dict__.pop("_cache64", None)
