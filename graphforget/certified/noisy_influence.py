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
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch_geometric.data import Data

from graphforget.approx.influence import ObjectiveHessian, flat_grad, inverse_hvp, trainable_parameters
from graphforget.certified.base import budget, spectral_norm_upper
from graphforget.certified.cgu import linear_only_error, standard_scaler
from graphforget.errors import GraphForgetError, SolverError
from graphforget.executor import derive_seed
from graphforget.gnn import GNNUnlearner
from graphforget.requests import ForgetRequest
from graphforget.training import TrainConfig, forward, seeded, train_node_classifier
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["NoisyInfluenceUnlearner", "softmax_hessian_lipschitz"]

_DT = torch.float64

#: a Lipschitz constant of the softmax cross-entropy Hessian :math:`S(u)` in the logits:
#: :math:`dS[\delta]=\mathrm{diag}(q)-qp^\top-pq^\top` with :math:`q=p\circ(\delta-p^\top\delta)`;
#: :math:`\max_j|q_j|` and :math:`\|q\|` are at most :math:`\sqrt{\mathrm{Var}_p(\delta)}
#: \le\|\delta\|/\sqrt2` (Popoviciu), so :math:`\|dS[\delta]\|\le 3\|\delta\|/\sqrt2`
softmax_hessian_lipschitz = 3.0 / math.sqrt(2.0)


def _as64(data: Data, scaler: tuple[Tensor, Tensor] | None, row: bool) -> Data:
    """``data`` with float64 features, preprocessed by the frozen ``scaler`` (rows then
    clipped to norm 1) or, with ``row``, scaled to unit rows."""
    out = data.clone()
    x = data.x.to(_DT)
    if scaler is not None:
        x = (x - scaler[0]) * scaler[1]
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1.0)
    elif row:
        norms = x.norm(dim=1, keepdim=True)
        x = torch.where(norms > 0, x / norms.clamp_min(1e-300), x)
    out.x = x
    ew = getattr(data, "edge_weight", None)
    if ew is not None:
        out.edge_weight = ew.to(_DT)
    return out


class _LinearObjective:
    r"""Gradient and Hessian-vector products of the SGC objective without noise (sum form),
    :math:`\sum_i \mathrm{CE}(\Theta\tilde z_i, y_i) + \frac{\lambda m}{2}\|\Theta\|^2`, on fixed rows
    ``Z`` ``[m, d~]`` at ``theta`` (the flat parameters of ``lin``: weight, then bias)."""

    def __init__(self, Z: Tensor, y: Tensor, theta: Tensor, lin: torch.nn.Linear, lam_m: float) -> None:
        self.C, self.d = lin.weight.shape
        self.bias = lin.bias is not None
        self.Z, self.lam_m, self.theta = Z, float(lam_m), theta
        self.P = torch.softmax(Z @ self._mat(theta).T, dim=1)
        self.Y = F.one_hot(y, self.C).to(Z.dtype)

    def _mat(self, flat: Tensor) -> Tensor:
        W = flat[: self.C * self.d].view(self.C, self.d)
        return torch.cat([W, flat[self.C * self.d:].view(self.C, 1)], dim=1) if self.bias else W

    def _flat(self, mat: Tensor) -> Tensor:
        if not self.bias:
            return mat.reshape(-1)
        return torch.cat([mat[:, : self.d].reshape(-1), mat[:, self.d]])

    def gradient(self) -> Tensor:
        return self._flat((self.P - self.Y).T @ self.Z) + self.lam_m * self.theta

    def matvec(self, v: Tensor) -> Tensor:
        delta = self.Z @ self._mat(v).T  # logit changes [m, C]
        s_delta = self.P * delta - self.P * (self.P * delta).sum(1, keepdim=True)
        return self._flat(s_delta.T @ self.Z) + self.lam_m * v


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
            so a looser value stays certified). (default: :obj:`1e-8`)
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
                 dropout: float = 0.0, lr: float = 0.2, weight_decay: float = 1e-3,
                 epochs: int = 100, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, sigma: float = 0.1, epsilon: float = 1.0,
                 delta: float = 1e-4, lipschitz: float | None = None, iterations: int = 100,
                 tol: float = 1e-8, polish_iterations: int = 200, features: str = "standard") -> None:
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

    def _train_noisy(self, data64: Data, noise: Tensor) -> torch.nn.Module:
        model = self._build_model().to(_DT)
        params = trainable_parameters(model)
        m = int(data64.train_mask.sum())
        if m == 0:
            raise GraphForgetError("no training nodes left to train on")

        def adam_loss(mod: torch.nn.Module, data: Data, mask: Tensor) -> Tensor:
            theta = torch.cat([p.reshape(-1) for p in trainable_parameters(mod)])
            out = forward(mod, data)
            return F.cross_entropy(out[mask], data.y[mask]) + (noise * theta).sum() / m

        config = TrainConfig(epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay, patience=None)
        if int(self.epochs) > 0:
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
        self._retrain(data)

    def _retrain(self, data: Data) -> None:
        d64 = self._data64(data)
        dim = sum(p.numel() for p in trainable_parameters(self._build_model()))
        self.noise_, self.noise_seed_ = self._noise(self.retrains_, dim)
        self.model_ = self._train_noisy(d64, self.noise_)
        self.train_residual_ = float(self._gradient(d64, self.noise_).norm())
        self.cumulative_ = self.train_residual_
        self.z_norm_ = self._features_norm(d64) if self.is_linear else 0.0

    # -- unlearn --------------------------------------------------------------------------
    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        old64, new64 = self._data64(self.data_), self._data64(retained)
        if int(retained.train_mask.sum()) == 0:
            raise GraphForgetError("the request would remove every training node")
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
            self._retrain(retained)
        else:
            vector_to_parameters(theta + step, params)  # commit
            self.cumulative_ += bound
            self.z_norm_ = z_norm
        entry = {"index": len(self.ledger_), "kind": request.kind, "items": len(request),
                 "bound": bound, "mismatch": mismatch, "remainder": remainder,
                 "cumulative": self.cumulative_, "budget": self.budget, "retrained": bool(retrained),
                 "retrains": self.retrains_, "noise_seed": self.noise_seed_,
                 "step_norm": float(step.norm()), "cg_iterations": int(result.iterations)}
        self.ledger_.append(entry)
        report.breakdown.update(gradients=t1 - t0, solve=t2 - t1, bound=t3 - t2, retrain=time.perf_counter() - t3)
        report.affected.update(nodes=int(request.affected_nodes(retained).numel()),
                               train_nodes_before=m_old, train_nodes_after=m_new)
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
                     scaler=None if self.scaler_ is None else [t.clone() for t in self.scaler_])
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.noise_, self.noise_seed_ = state["noise"], int(state["noise_seed"])
        self.retrains_, self.cumulative_ = int(state["retrains"]), float(state["cumulative"])
        self.train_residual_, self.z_norm_ = float(state["train_residual"]), float(state["z_norm"])
        self.ledger_ = [dict(e) for e in state["ledger"]]
        self.scaler_ = None if state["scaler"] is None else tuple(state["scaler"])
        self.__dict__.pop("_cache64", None)
