r"""Influence-function machinery: Hessian-vector products of the objective a model was
actually trained on, and inverse-HVP solvers behind one interface.

The objective is the one :func:`graphforget.training.train_node_classifier` minimises,
weight decay included (:func:`graphforget.training.training_objective`):

.. math::
    J(\theta) = \frac{1}{|M|}\sum_{i\in M}\ell_i(\theta) + \frac{\lambda}{2}\|\theta\|^2 .

:class:`ObjectiveHessian` gives exact products :math:`Hv` (double backward) or
Gauss--Newton products :math:`G v = J^\top H_{\text{out}} J v + \lambda v` (positive
semi-definite for softmax cross-entropy, hence safe for non-convex GNNs).

:func:`inverse_hvp` solves :math:`(H+\mu I)\,\Delta = v` with

* ``"cg"`` -- conjugate gradient, stopped when :math:`\|(H+\mu I)\Delta-v\|\le \text{tol}\,\|v\|`
  or at the first non-positive curvature (truncated CG); it returns the iterate (from the
  first on, never the zero start) with the smallest residual (on an indefinite Hessian the residual can grow before CG stops: on
  Cora/CiteSeer GCN the last iterate reached relative residuals up to 10 and the safeguard
  shrank the step to 1/8..1/64, see ``benchmarks/results/fidelity_study.md``);
* ``"lissa"`` -- the Neumann/LiSSA recursion
  :math:`h_{t+1} = v + (I - (H+\mu I)/s)\,h_t`, :math:`\Delta = h/s` (``scale`` :math:`s`
  chosen from the largest eigenvalue when not given);
* ``"gif"`` -- GIF-torch's recursion exactly: :math:`h \leftarrow v + (1-d)h - Hh/s`,
  starting from :math:`h_0=v`, :math:`\Delta = h/s` (damping ``d``, ``scale`` :math:`s`);
* ``"exact"`` -- a dense Hessian and a direct solve (small parameter counts only).

Every solver reports the relative residual :math:`\|(H+\mu I)\Delta-v\|/\|v\|` (one extra
HVP; CG reports its recurrence residual, equal up to rounding, unless ``true_residual``) and raises :class:`~graphforget.errors.SolverError` on divergence or non-finite
values, suggesting more damping or a larger scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError, SolverError
from graphforget.training import forward

__all__ = ["ObjectiveHessian", "LinkObjectiveHessian", "link_objective", "InverseHVPResult", "inverse_hvp", "largest_eigenvalue",
           "flat_grad", "trainable_parameters", "SOLVERS"]

SOLVERS = ("cg", "lissa", "gif", "exact")


def trainable_parameters(model: torch.nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def flat_grad(loss: Tensor, params: list[Tensor], create_graph: bool = False) -> Tensor:
    """The gradient of ``loss`` w.r.t. ``params``, flattened (zeros for unused ones)."""
    grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads, strict=False)])


class _OutputHessian:
    """Products shared by the objectives below: exact ones by differentiating the kept
    gradient ``_grad`` once more, Gauss--Newton ones :math:`J^\top H_\text{out} J v` through
    the model outputs ``_outputs`` with the subclass's output curvature
    (:meth:`_output_curvature`); weight decay is added to both."""

    def _start(self, model: torch.nn.Module, weight_decay: float, kind: str) -> None:
        if kind not in ("exact", "gauss_newton"):
            raise GraphForgetError(f"kind must be 'exact' or 'gauss_newton', got {kind!r}")
        self.model, self.kind, self.weight_decay = model, kind, float(weight_decay)
        self.params = trainable_parameters(model)
        self.dim = sum(p.numel() for p in self.params)
        self.products = 0

    def _output_curvature(self, jv: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _output_curvature")

    def matvec(self, v: Tensor) -> Tensor:
        """:math:`Hv` (or :math:`Gv`), flattened, weight decay included."""
        self.products += 1
        if self.kind == "exact":
            hv = flat_grad_retain(self._grad, v, self.params)
        else:
            out = self._outputs
            # J v by the double-backward trick: d/du <J^T u, v> = J v
            u = torch.zeros_like(out, requires_grad=True)
            jt_u = flat_grad((out * u).sum(), self.params, create_graph=True)
            jv = torch.autograd.grad((jt_u * v).sum(), u, retain_graph=True)[0]
            hv = flat_grad_retain_out(out, self._output_curvature(jv), self.params)
        return hv + self.weight_decay * v

    def dense(self) -> Tensor:
        """The full matrix (``dim x dim``; small models only)."""
        eye = torch.eye(self.dim, dtype=self._grad.dtype)
        return torch.stack([self.matvec(e) for e in eye], dim=1)


class ObjectiveHessian(_OutputHessian):
    r"""Hessian (or Gauss--Newton) products of
    :math:`J(\theta) = \frac{1}{c}\sum_{i\in M}\ell_i(\theta) + \frac{\lambda}{2}\|\theta\|^2`
    at the model's current parameters (eval mode: no dropout).

    Args:
        model (torch.nn.Module): the backbone.
        data (Data): the graph the objective is evaluated on.
        mask (Tensor): nodes whose losses enter (boolean).
        weight_decay (float): :math:`\lambda`. (default: :obj:`0.0`)
        normalizer (float, optional): :math:`c`; ``None`` means ``|M|`` (the mean).
        kind (str): ``"exact"`` or ``"gauss_newton"``. (default: ``"exact"``)
    """

    def __init__(self, model: torch.nn.Module, data: Data, mask: Tensor, weight_decay: float = 0.0,
                 normalizer: float | None = None, kind: str = "exact") -> None:
        self._start(model, weight_decay, kind)
        count = int(mask.sum())
        if count == 0:
            raise GraphForgetError("the Hessian mask selects no nodes")
        self.normalizer = float(count if normalizer is None else normalizer)
        was_training = model.training
        model.eval()
        with torch.enable_grad():
            full = forward(model, data)
            #: all nodes' logits on ``data`` (in the autograd graph): callers that need other
            #: losses on the same graph differentiate them without another forward pass
            self.logits = full
            logits = full[mask]
            self._outputs = logits
            self._labels = data.y[mask]
            loss = F.cross_entropy(logits, self._labels, reduction="sum") / self.normalizer
            # graph kept: every product differentiates this gradient once more
            self._grad = flat_grad(loss, self.params, create_graph=True)
        model.train(was_training)

    def _output_curvature(self, jv: Tensor) -> Tensor:
        # softmax cross-entropy: (diag(p) - p p^T) / c per node
        p = torch.softmax(self._outputs.detach(), dim=-1)
        return (p * jv - p * (p * jv).sum(-1, keepdim=True)) / self.normalizer


def link_objective(model: torch.nn.Module, z: Tensor, positives: Tensor, negatives: Tensor) -> Tensor:
    r"""The link predictor's training loss with a fixed set of negatives,
    :math:`\tfrac12\,\text{mean}_{P}\,\ell^+ + \tfrac12\,\text{mean}_{N}\,\ell^-` (binary
    cross-entropy of the scores; equal to the BCE over ``P`` and ``N`` when :math:`|N|=|P|`,
    as :func:`graphforget.link.train_link_predictor` samples them)."""
    pos, neg = model.decode(z, positives), model.decode(z, negatives)
    return 0.5 * (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                  + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))


class LinkObjectiveHessian(_OutputHessian):
    r"""Hessian (or Gauss--Newton) products of a link predictor's objective
    :math:`J(\theta) = \tfrac12\,\text{mean}_{P}\,\ell^+ + \tfrac12\,\text{mean}_{N}\,\ell^-
    + \frac{\lambda}{2}\|\theta\|^2` (:func:`link_objective`) on ``data``'s message-passing
    graph, at the model's current parameters (eval mode).

    The Gauss--Newton product uses the binary cross-entropy's output curvature
    :math:`w_i\,\sigma(s_i)(1-\sigma(s_i))` (:math:`w_i` the term's weight), positive
    semi-definite for any backbone.

    Args:
        model: a :class:`~graphforget.link.LinkPredictor`.
        data (Data): the graph the encoder runs on.
        positives (Tensor): ``[2, |P|]`` pairs labelled 1.
        negatives (Tensor): ``[2, |N|]`` pairs labelled 0.
        weight_decay (float): :math:`\lambda`. (default: :obj:`0.0`)
        kind (str): ``"exact"`` or ``"gauss_newton"``. (default: ``"exact"``)
    """

    def __init__(self, model: torch.nn.Module, data: Data, positives: Tensor, negatives: Tensor,
                 weight_decay: float = 0.0, kind: str = "exact") -> None:
        if positives.size(1) == 0 or negatives.size(1) == 0:
            raise GraphForgetError("the link objective needs at least one positive and one negative pair")
        self._start(model, weight_decay, kind)
        self.positives, self.negatives = positives, negatives
        was_training = model.training
        model.eval()
        with torch.enable_grad():
            z = forward(model, data)
            self._outputs = torch.cat([model.decode(z, positives), model.decode(z, negatives)])
            p, q = positives.size(1), negatives.size(1)
            self._weights = torch.cat([torch.full((p,), 0.5 / p), torch.full((q,), 0.5 / q)]).to(z.dtype)
            labels = torch.cat([torch.ones(p), torch.zeros(q)]).to(z.dtype)
            losses = F.binary_cross_entropy_with_logits(self._outputs, labels, reduction="none")
            #: the objective's value without weight decay (in the autograd graph)
            self.loss = (self._weights * losses).sum()
            self._grad = flat_grad(self.loss, self.params, create_graph=True)
        model.train(was_training)

    @property
    def gradient(self) -> Tensor:
        r""":math:`\nabla J(\theta)` without the weight-decay term, flattened."""
        return self._grad.detach()

    def _output_curvature(self, jv: Tensor) -> Tensor:
        # binary cross-entropy: w_i sigma(s_i) (1 - sigma(s_i)) per scored pair
        sig = torch.sigmoid(self._outputs.detach())
        return self._weights * sig * (1 - sig) * jv


def flat_grad_retain(grad: Tensor, v: Tensor, params: list[Tensor]) -> Tensor:
    out = torch.autograd.grad(grad, params, grad_outputs=v, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, out, strict=False)]).detach()


def flat_grad_retain_out(outputs: Tensor, grad_outputs: Tensor, params: list[Tensor]) -> Tensor:
    out = torch.autograd.grad(outputs, params, grad_outputs=grad_outputs, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, out, strict=False)]).detach()


@dataclass
class InverseHVPResult:
    """What :func:`inverse_hvp` returns."""

    solution: Tensor  #: Δ with (H + μI) Δ ≈ v
    residual: float  #: ‖(H+μI)Δ − v‖ / ‖v‖
    iterations: int
    method: str
    scale: float | None = None


def largest_eigenvalue(matvec: Callable[[Tensor], Tensor], dim: int, iterations: int = 20,
                       seed: int = 0, dtype: torch.dtype = torch.float) -> float:
    r"""The largest-magnitude eigenvalue :math:`|\lambda|_{\max}` by power iteration (seeded),
    used to pick a LiSSA scale :math:`s > |\lambda|_{\max}`."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.randn(dim, generator=g, dtype=dtype)
    x = x / x.norm()
    value = 0.0
    for _ in range(int(iterations)):
        y = matvec(x)
        norm = float(y.norm())
        if not math.isfinite(norm):
            raise SolverError("power iteration produced non-finite values")
        if norm == 0.0:
            return 0.0
        value = norm
        x = y / norm
    return value


def _check(vec: Tensor, what: str) -> None:
    if not bool(torch.isfinite(vec).all()):
        raise SolverError(f"{what} produced non-finite values: increase damping (or the LiSSA scale)")


def inverse_hvp(matvec: Callable[[Tensor], Tensor], v: Tensor, method: str = "cg",
                damping: float = 0.0, iterations: int = 100, tol: float = 1e-6,
                scale: float | None = None, dense: Callable[[], Tensor] | None = None,
                seed: int = 0, max_residual: float | None = None,
                true_residual: bool = False,
                preconditioner: Callable[[Tensor], Tensor] | None = None,
                hv: Tensor | None = None) -> InverseHVPResult:
    r"""Solves :math:`(H+\mu I)\Delta = v` given :math:`x\mapsto Hx`.

    Args:
        matvec: the Hessian product.
        v: the right-hand side (flat).
        method: ``"cg"``, ``"lissa"``, ``"gif"`` or ``"exact"``. (default: ``"cg"``)
        damping: :math:`\mu` (for ``"gif"``: GIF-torch's ``damp`` :math:`d`, which acts as
            :math:`\mu = d\,s`). (default: :obj:`0.0`)
        iterations: CG / LiSSA / GIF iterations (a maximum for CG). (default: :obj:`100`)
        tol: CG's relative-residual stopping rule. (default: :obj:`1e-6`)
        scale: LiSSA/GIF scale :math:`s`; ``None`` picks :math:`1.1\,|\lambda|_{\max}(H+\mu I)`.
        dense: returns the dense Hessian (``"exact"``; default: ``dim`` products).
        seed: power-iteration seed.
        max_residual: raise :class:`SolverError` when the final relative residual exceeds it
            (``None``: only divergence and non-finite values raise).
        true_residual: CG reports its recurrence residual (the true one up to rounding,
            for free); ``True`` recomputes :math:`\|(H+\mu I)\Delta-v\|` with one more
            product, as the other solvers always do. (default: :obj:`False`)
        preconditioner: ``"cg"`` only: :math:`r\mapsto M^{-1}r` for a symmetric positive
            definite :math:`M\approx H+\mu I` (preconditioned CG; e.g. the Cholesky factor of
            an approximate Hessian kept from training). It changes the iterations, not the
            stopping rule, which still tests the unpreconditioned residual. (default: ``None``)
        hv: :math:`Hv` when the caller already has it (unpreconditioned CG then skips its
            first product, which is exactly that one; with a ``preconditioner`` the first
            direction is :math:`M^{-1}v` and ``hv`` is not used). (default: :obj:`None`)
    """
    if method not in SOLVERS:
        raise GraphForgetError(f"unknown inverse-HVP method {method!r}; choose one of {SOLVERS}")
    vnorm = float(v.norm())
    if vnorm == 0.0:
        return InverseHVPResult(torch.zeros_like(v), 0.0, 0, method)
    _check(v, "the right-hand side")
    mu = float(damping)

    def op(x: Tensor) -> Tensor:
        return matvec(x) + mu * x

    used_scale = None
    if method == "cg":
        precond = preconditioner if preconditioner is not None else (lambda r: r)
        x = torch.zeros_like(v)
        r = v.clone()
        z = precond(r)
        p = z.clone()
        rz = float(r @ z)
        rr_new = float(r @ r)
        best_x, best_rr = x, math.inf  # the zero start never counts: the first iterate is the Cauchy step
        first = hv if preconditioner is None else None  # H p_0 = H v only when p_0 = v
        it = 0
        for it in range(1, int(iterations) + 1):
            hp = first + mu * p if it == 1 and first is not None else op(p)
            curv = float(p @ hp)
            if not curv > 0:
                if it == 1:
                    raise SolverError("CG met non-positive curvature: the Hessian is not positive "
                                      "definite here; add damping or use kind='gauss_newton'")
                break
            alpha = rz / curv
            x = x + alpha * p
            r = r - alpha * hp
            rr_new = float(r @ r)
            _check(x, "CG")
            if rr_new < best_rr:
                best_x, best_rr = x, rr_new
            if math.sqrt(rr_new) <= tol * vnorm:
                break
            z = precond(r)
            rz_new = float(r @ z)
            p = z + (rz_new / rz) * p
            rz = rz_new
        iters = it
        if best_rr < rr_new and best_rr < math.inf:
            # on an indefinite Hessian (a non-convex backbone) CG's residual can grow before
            # it meets non-positive curvature: return the iterate with the smallest residual
            x, rr_new = best_x, best_rr
        # CG's recurrence residual equals (H+mu I)x - v up to rounding: no extra product
        recurrence_residual = math.sqrt(rr_new) / vnorm
    elif method in ("lissa", "gif"):
        if scale is None:
            lam = largest_eigenvalue(op if method == "lissa" else matvec, v.numel(), seed=seed, dtype=v.dtype)
            scale = 1.1 * lam if lam > 0 else 1.0
        used_scale = s = float(scale)
        if method == "gif":
            d = mu
            mu = d * s  # GIF's fixed point: (H + d s I) Δ = v
            h = v.clone()
            for _ in range(int(iterations)):
                h = v + (1.0 - d) * h - matvec(h) / s
                _check(h, "the GIF recursion")
                if float(h.norm()) > 1e12 * vnorm:
                    raise SolverError("the GIF recursion diverged: increase scale or damp")
        else:
            h = v.clone()
            for _ in range(int(iterations)):
                h = v + h - op(h) / s
                _check(h, "LiSSA")
                if float(h.norm()) > 1e12 * vnorm:
                    raise SolverError("LiSSA diverged: increase scale (or damping)")
        x = h / s
        iters = int(iterations)
    else:
        mat = dense() if dense is not None else torch.stack(
            [matvec(e) for e in torch.eye(v.numel(), dtype=v.dtype)], dim=1)
        mat = mat + mu * torch.eye(mat.size(0), dtype=mat.dtype)
        mat = 0.5 * (mat + mat.T)
        try:
            x = torch.linalg.solve(mat.double(), v.double()).to(v.dtype)
        except RuntimeError as exc:
            raise SolverError(f"the Hessian is singular: add damping ({exc})") from None
        _check(x, "the dense solve")
        iters = 1
    if method == "cg" and not true_residual:
        residual = recurrence_residual
    else:
        residual = float((op(x) - v).norm()) / vnorm
    if not math.isfinite(residual):
        raise SolverError(f"{method} produced a non-finite residual: increase damping")
    if max_residual is not None and residual > max_residual:
        raise SolverError(f"{method} stopped at relative residual {residual:.3g} > {max_residual:.3g}: "
                          "increase iterations, damping or (LiSSA) the scale")
    return InverseHVPResult(x, residual, iters, method, used_scale)
