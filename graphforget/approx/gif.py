r"""GIF (Wu et al., WWW 2023) and the classical influence-function baseline IF.

Both update the trained parameters with one influence (Newton) step
:math:`\theta' = \theta + H^{-1}\,\tilde v` on the objective the backbone was trained on
(:func:`graphforget.training.training_objective`, weight decay included). With :math:`M`
the training nodes before and :math:`M'` after the request, :math:`\lambda` the weight
decay and :math:`H` the Hessian of the retained objective
:math:`J'(\theta)=\frac{1}{|M'|}\sum_{i\in M'}\ell_i(\theta;G')+\frac{\lambda}{2}\|\theta\|^2`,

.. math::
    \tilde v = \frac{1}{|M'|}\Big[\underbrace{\sum_{i\in (R\cup N)\cap M}\nabla\ell_i(\theta;G)
      - \sum_{i\in N'\cap M'}\nabla\ell_i(\theta;G')}_{v}
      + \lambda\,(|M|-|M'|)\,\theta\Big],

which is :math:`-\nabla J'(\theta)` when :math:`\theta` minimises the original objective,
so the step is Newton's step towards the retrained optimum. For **GIF**, :math:`N` is the
influenced neighbourhood: nodes within :math:`L` hops of the changed nodes (:math:`L` =
message-passing layers; :math:`L+1` for node deletion, whose removed edges change the
degree normalisation of the neighbours), :math:`R` the forgotten nodes and :math:`N'`
the part of :math:`R\cup N` still in the loss (:math:`N` for node deletion, all of it for
edge and feature requests). **IF** drops the neighbourhood: only the nodes the request
names (forgotten nodes, endpoints of forgotten edges, nodes whose features are
forgotten) enter :math:`v`.

By default only training nodes' losses enter :math:`v` (``loss_nodes="train"``: no test
labels are used); ``loss_nodes="all"`` reproduces the official GIF-torch code, which sums
the losses of every node in the neighbourhood.

**Link prediction** (GIF only, data from :func:`graphforget.link.link_split`): the objective
is the link predictor's training loss with a fixed, seeded sample :math:`N` of non-edges
(:func:`~graphforget.approx.influence.link_objective`, :math:`|N|=|P|` as in training),

.. math::
    J(\theta) = \tfrac12\,\text{mean}_{(u,v)\in P}\,\ell^+_{uv}(\theta; G)
      + \tfrac12\,\text{mean}_{(u,v)\in N}\,\ell^-_{uv}(\theta; G) + \frac{\lambda}{2}\|\theta\|^2,

with :math:`P` the training edges; :math:`J'` is the same on the retained graph :math:`G'`
and its edges :math:`P'`. The step is :math:`\Delta = H'^{-1}\,(\nabla J(\theta) - \nabla J'(\theta))`:
Newton's step on :math:`J'(\theta') - \nabla J(\theta)^\top(\theta'-\theta)`, which is GIF's
step when :math:`\theta` minimises :math:`J` and, when it does not (a finite training run
with resampled negatives), removes only the request's share of the gradient. The two
gradients differ exactly in the terms GIF counts (pairs whose endpoints lie within
:math:`L` hops of the change, and the forgotten edges); they are computed as two full
passes, which is simpler than cutting out that neighbourhood (the two were not timed
against each other).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph

from graphforget._registry import register_method
from graphforget.approx.influence import (
    SOLVERS,
    LinkObjectiveHessian,
    ObjectiveHessian,
    flat_grad,
    inverse_hvp,
    link_objective,
    trainable_parameters,
)
from graphforget.errors import GraphForgetError
from graphforget.link._unlearner import LinkGNNUnlearner
from graphforget.models import message_passing_depth
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import forward
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["GIF", "IF", "influenced_nodes", "message_passing_depth"]


def influenced_nodes(seeds: Tensor, edge_index: Tensor, num_nodes: int, hops: int) -> Tensor:
    """Nodes reachable from ``seeds`` along edge direction in at most ``hops`` steps
    (seeds included), sorted."""
    if seeds.numel() == 0:
        return seeds.clone()
    if hops == 0 or edge_index.numel() == 0:
        return torch.unique(seeds)
    subset, _, _, _ = k_hop_subgraph(seeds, hops, edge_index, num_nodes=num_nodes, flow="target_to_source")
    return torch.unique(subset)


class _InfluenceUnlearner(LinkGNNUnlearner):
    guarantee = Guarantee.APPROXIMATE
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.NODE,)
    use_neighbourhood = True
    attachable = True

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, solver: str = "cg",
                 hessian: str | None = None, damping: float | str = "auto", iterations: int = 50,
                 tol: float = 1e-2, scale: float | None = None, loss_nodes: str = "train",
                 hops: int | None = None, safeguard: bool = True, max_halvings: int = 6,
                 decoder: str = "dot", task: str = "auto",
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype,
                         decoder=decoder, task=task)
        if solver not in SOLVERS:
            raise GraphForgetError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if hessian not in (None, "auto", "exact", "gauss_newton"):
            raise GraphForgetError(f"hessian must be None, 'auto', 'exact' or 'gauss_newton', got {hessian!r}")
        if loss_nodes not in ("train", "all"):
            raise GraphForgetError(f"loss_nodes must be 'train' or 'all', got {loss_nodes!r}")
        if hops is not None and int(hops) < 0:
            raise GraphForgetError(f"hops must be >= 0, got {hops!r}")
        if isinstance(damping, str):
            if damping != "auto":
                raise GraphForgetError(f"damping must be a number >= 0 or 'auto', got {damping!r}")
        elif not float(damping) >= 0:
            raise GraphForgetError(f"damping must be a number >= 0 or 'auto', got {damping!r}")
        self.solver = solver
        self.hessian = hessian
        self.damping = damping
        self.iterations = iterations
        self.tol = tol
        self.scale = scale
        if int(max_halvings) < 0:
            raise GraphForgetError(f"max_halvings must be >= 0, got {max_halvings!r}")
        self.loss_nodes = loss_nodes
        self.hops = hops
        self.safeguard = safeguard
        self.max_halvings = max_halvings

    def hessian_kind(self) -> str:
        """The Hessian products used. ``None``: ``"exact"`` on node classification (GIF's
        choice), ``"gauss_newton"`` on link prediction, whose bilinear pair scores make the
        exact Hessian indefinite (CG then stops at the first negative curvature).
        ``"auto"``: ``"exact"`` for the linear (convex) SGC node classifier,
        ``"gauss_newton"`` otherwise."""
        if self.hessian is None:
            return "gauss_newton" if self.is_link else "exact"
        if self.hessian != "auto":
            return self.hessian
        is_sgc = isinstance(self.model, str) and self.model.lower() == "sgc"
        return "exact" if is_sgc and not self.is_link else "gauss_newton"

    # -- the sets of nodes whose losses enter v -----------------------------------
    def loss_sets(self, request: ForgetRequest, data: Data) -> tuple[Tensor, Tensor]:
        """``(before, after)``: nodes whose losses on the original graph are removed from
        the objective, and nodes whose losses on the retained graph are added back (before
        restricting to the loss mask)."""
        n = data.num_nodes
        depth = self.depth()
        if isinstance(request, NodeRequest):
            removed = request.node_ids
            hops = depth + 1 if self.hops is None else int(self.hops)
            if not self.use_neighbourhood:
                return removed.sort().values, removed.new_empty(0)
            hood = influenced_nodes(removed, data.edge_index, n, hops)
            return hood, hood[~torch.isin(hood, removed)]
        if isinstance(request, EdgeRequest):
            seeds = torch.unique(request.edge_index.reshape(-1))
        else:
            seeds = torch.unique(request.node_ids)
        if not self.use_neighbourhood:
            return seeds, seeds
        hops = depth if self.hops is None else int(self.hops)
        hood = influenced_nodes(seeds, data.edge_index, n, hops)
        return hood, hood

    def _loss_mask(self, data: Data, nodes: Tensor) -> Tensor:
        mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        mask[nodes] = True
        if self.loss_nodes == "train":
            mask &= data.train_mask
        else:
            mask &= ~data.forgotten_mask
        return mask

    def _local_logits(self, data: Data, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits of the nodes in mask, their labels)`` from a forward pass on the
        ``(L+1)``-hop subgraph around them (all of the graph when that is most of it).

        With ``L`` message-passing layers a node's output depends on its ``L``-hop
        in-neighbourhood, and one hop more keeps every degree (GCN normalisation, GAT's
        softmax) inside it exact, so the logits equal the full-graph ones."""
        nodes = mask.nonzero().view(-1)
        n = data.num_nodes
        subset, sub_ei, mapping, edge_mask = k_hop_subgraph(nodes, self.depth() + 1, data.edge_index,
                                                            relabel_nodes=True, num_nodes=n)
        if subset.numel() > 0.5 * n:
            return forward(self.model_, data)[mask], data.y[mask]
        sub = Data(x=data.x[subset], edge_index=sub_ei, num_nodes=int(subset.numel()))
        ew = getattr(data, "edge_weight", None)
        if ew is not None:
            sub.edge_weight = ew[edge_mask]
        return forward(self.model_, sub)[mapping], data.y[nodes]

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        if self.is_link:
            self._unlearn_link(request, retained, report)
            return
        t0 = time.perf_counter()
        before_nodes, after_nodes = self.loss_sets(request, self.data_)
        mask_before = self._loss_mask(self.data_, before_nodes)
        mask_after = self._loss_mask(retained, after_nodes)
        t1 = time.perf_counter()
        model, params, theta = self._parameters()
        with torch.enable_grad():
            # one forward pass on the retained graph serves the Hessian and the 'after'
            # losses; the 'before' losses only need the subgraph around their nodes
            hess = ObjectiveHessian(model, retained, retained.train_mask, self.weight_decay,
                                    kind=self.hessian_kind())
            loss = hess.logits.new_zeros(())
            if mask_before.any():
                logits, labels = self._local_logits(self.data_, mask_before)
                loss = loss + F.cross_entropy(logits, labels, reduction="sum")
            if mask_after.any():
                loss = loss - F.cross_entropy(hess.logits[mask_after], retained.y[mask_after], reduction="sum")
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                v = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for p, g in zip(params, grads, strict=True)])
            else:
                v = torch.zeros_like(theta)
        m_old, m_new = int(self.data_.train_mask.sum()), int(retained.train_mask.sum())
        v = (v.detach() + self.weight_decay * (m_old - m_new) * theta) / m_new
        backtrack = None
        if bool(retained.train_mask.any()):
            def backtrack(step: Tensor) -> tuple[Tensor, float, float, float]:
                return self._backtrack(hess, retained, params, theta, step, v)
        # m'(∇J'(θ) + ṽ) = m ∇J(θ): the original objective's gradient, for free
        grad_original = (m_new / max(m_old, 1)) * (hess._grad.detach() + self.weight_decay * theta + v)
        self._step(hess, v, params, theta, backtrack, report, t1 - t0, time.perf_counter() - t1,
                   grad_original)
        report.affected.update(nodes=int(before_nodes.numel()), loss_nodes_before=int(mask_before.sum()),
                               loss_nodes_after=int(mask_after.sum()))

    def _parameters(self) -> tuple[torch.nn.Module, list[Tensor], Tensor]:
        """``(model in eval mode, its trainable parameters, their flat copy θ)``."""
        model = self.model_
        model.eval()
        params = trainable_parameters(model)
        return model, params, parameters_to_vector(params).detach()

    def _step(self, hess: Any, v: Tensor, params: list[Tensor], theta: Tensor, backtrack: Any,
              report: UnlearnReport, prepare_s: float, gradients_s: float, grad_original: Tensor) -> None:
        r"""Solves :math:`(H+\mu I)\Delta = v`, lets ``backtrack`` shorten the step (with the
        safeguard on), commits :math:`\theta+\Delta` and reports the solve.
        ``grad_original``: :math:`\nabla J(\theta)`, the original objective's gradient,
        reported as ``gradient_norm`` (how far the trained model is from a stationary
        point of its objective, where the Newton step is least exact)."""
        t2 = time.perf_counter()
        hv = None
        if self.damping != "auto":
            damping = float(self.damping)
        elif self.solver == "gif":  # GIF-torch's d, relative to the scale already
            damping = self.auto_damping_fallback
        else:
            damping, hv = self.auto_damping(hess, v)
        result = inverse_hvp(hess.matvec, v, method=self.solver, damping=damping, hv=hv,
                             iterations=self.iterations, tol=self.tol, scale=self.scale, seed=self.seed)
        step, step_scale, loss0, loss1 = result.solution, 1.0, None, None
        if self.safeguard and backtrack is not None:
            step, step_scale, loss0, loss1 = backtrack(step)
        if step_scale < 1 / 8:
            warnings.warn(f"{self.method_name}: the safeguard shrank the update step to {step_scale:g} of "
                          f"the solved step (below 1/8): the model barely moved; see step_scale in the "
                          f"report", UserWarning, stacklevel=3)
        vector_to_parameters(theta + step, params)  # commit
        report.breakdown.update(neighbourhood=prepare_s, gradients=gradients_s, solve=time.perf_counter() - t2)
        report.diagnostics.update(residual=result.residual, iterations=result.iterations,
                                  hvp_products=hess.products, rhs_norm=float(v.norm()),
                                  step_norm=float(step.norm()), scale=result.scale, step_scale=step_scale,
                                  damping=damping, gradient_norm=float(grad_original.norm()),
                                  retained_loss_before=loss0, retained_loss_after=loss1)

    #: ``damping="auto"``: the damping is this fraction of the curvature along the
    #: right-hand side, :math:`\tilde v^\top H\tilde v/\|\tilde v\|^2`
    auto_damping_factor = 1e-2
    #: ``damping="auto"``: the damping used where the curvature along the right-hand side
    #: is not positive (an indefinite Hessian), added to its magnitude
    auto_damping_fallback = 1e-2

    def auto_damping(self, hess: Any, v: Tensor) -> tuple[float, Tensor | None]:
        r"""``damping="auto"``: :math:`\mu = 0.01\,\tilde v^\top H\tilde v/\|\tilde v\|^2`
        (:attr:`auto_damping_factor`), one Hessian product (CG reuses it as its first).

        A fixed damping is not scale-free: the curvature of the objective scales with the
        features (Cora's row-normalised bag-of-words give curvatures about 70x smaller
        than the conformance fixture's dense features: the damping column of
        ``benchmarks/results/fidelity_study.md``, 7.5e-5 on Cora/SGC node requests against
        5.1e-3 on the fixture), so a damping that is small on one
        dataset suppresses the very directions the request moves on another. The Rayleigh
        quotient along :math:`\tilde v` measures the curvature where the step goes; 1% of
        it leaves those directions nearly undamped (on Cora/SGC the step then lands at
        ``fidelity_ratio`` 0.134, against 0.820 with the former fixed ``1e-2``) while still
        bounding the step along the flattest ones. Where the quotient is not positive (an
        indefinite exact Hessian on a non-convex backbone) the damping is
        ``|quotient| + 1e-2`` (:attr:`auto_damping_fallback`), so CG starts on positive
        curvature. See ``benchmarks/results/fidelity_study.md``.

        Returns ``(damping, Hv)``; CG reuses ``Hv`` as its first product, so the quotient
        costs nothing extra."""
        vv = float(v @ v)
        if vv == 0.0:
            return self.auto_damping_fallback, None
        hv = hess.matvec(v)
        rq = float(v @ hv) / vv
        if not rq > 0:
            return abs(rq) + self.auto_damping_fallback, hv
        return self.auto_damping_factor * rq, hv

    # -- link prediction -----------------------------------------------------------
    def _link_terms(self, request: ForgetRequest, retained: Data) -> tuple[Tensor, Tensor, Tensor]:
        """``(P, P', N)``: training edges before and after the request, and the fixed
        negatives (``|P|`` seeded non-edges of the graph before it)."""
        from graphforget.link._split import canonical_edges, edge_keys, sample_non_edges

        n = int(self.data_.num_nodes)
        before = canonical_edges(self.data_.edge_index)
        after = canonical_edges(retained.edge_index)
        if after.size(1) == 0:
            raise GraphForgetError("the request leaves no training edges: nothing to fit a link "
                                   "predictor to (retrain from scratch instead)")
        g = torch.Generator().manual_seed(int(self.seed))
        negatives = sample_non_edges(None, n, before.size(1), g, avoid_keys=edge_keys(self.data_.edge_index, n))
        return before, after, negatives

    def _unlearn_link(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        before, after, negatives = self._link_terms(request, retained)
        t1 = time.perf_counter()
        model, params, theta = self._parameters()
        with torch.enable_grad():
            grad_before = flat_grad(link_objective(model, forward(model, self.data_), before, negatives), params)
            hess = LinkObjectiveHessian(model, retained, after, negatives, self.weight_decay,
                                        kind=self.hessian_kind())
        # weight decay enters both gradients alike and cancels
        grad_before = grad_before.detach()
        v = grad_before - hess.gradient

        def backtrack(step: Tensor) -> tuple[Tensor, float, float, float]:
            return self._backtrack_link(hess, retained, params, theta, step, grad_before)

        self._step(hess, v, params, theta, backtrack, report, t1 - t0, time.perf_counter() - t1,
                   grad_before + self.weight_decay * theta)
        report.affected.update(nodes=int(request.affected_nodes(retained).numel()),
                               edges_before=int(before.size(1)), edges_after=int(after.size(1)),
                               negatives=int(negatives.size(1)))

    def _backtrack_link(self, hess: LinkObjectiveHessian, retained: Data, params: list, theta: Tensor,
                        step: Tensor, grad_before: Tensor) -> tuple[Tensor, float, float, float]:
        r"""As :meth:`_backtrack`, on the objective the link step minimises,
        :math:`J'(\theta') - \nabla J(\theta)^\top(\theta'-\theta)` (weight decay included)."""
        wd = self.weight_decay
        g = grad_before + wd * theta

        def value(d: Tensor, loss: float) -> float:
            t = theta + d
            return loss + 0.5 * wd * float(t @ t) - float(g @ d)

        def at(d: Tensor) -> float:
            z = forward(self.model_, retained)
            return value(d, float(link_objective(self.model_, z, hess.positives, hess.negatives)))

        return self._halve(params, theta, step, value(torch.zeros_like(theta), float(hess.loss.detach())), at,
                           slope=float((grad_before - hess.gradient.detach()) @ step))

    def _retained_objective(self, logits: Tensor, data: Data, theta: Tensor) -> float:
        mask = data.train_mask
        ce = F.cross_entropy(logits[mask], data.y[mask], reduction="mean")
        return float(ce) + 0.5 * self.weight_decay * float(theta @ theta)

    def _backtrack(self, hess: ObjectiveHessian, retained: Data, params: list, theta: Tensor,
                   step: Tensor, v: Tensor) -> tuple[Tensor, float, float, float]:
        r"""Halves the step (at most ``max_halvings`` times) until the objective the step
        minimises does not increase: a truncated Newton step on a non-convex backbone can
        overshoot where the Hessian is nearly singular or indefinite. One forward pass on
        the retained graph per trial; the original parameters are restored afterwards.

        Since :math:`\tilde v = \tfrac{|M|}{|M'|}\nabla J(\theta) - \nabla J'(\theta)`, the
        step :math:`H'^{-1}\tilde v` is Newton's step on
        :math:`\tilde J(\theta') = J'(\theta') - g^\top(\theta'-\theta)` with
        :math:`g = \nabla J'(\theta) + \tilde v`, and that is the objective checked (as on
        link prediction). It equals :math:`J'` only when :math:`\theta` minimises the
        original objective; a backbone trained with dropout for a fixed number of epochs
        does not, and checking :math:`J'` itself rejected steps that move toward the
        retrained model (measured while fixing it, Cora/GCN node requests, damping 1e-4/1e-3:
        steps halved to 1/4..1/16, ``fidelity_ratio`` 0.74-0.95; with this check the same
        steps are accepted whole or halved once)."""
        g = hess._grad.detach() + self.weight_decay * theta + v
        before = self._retained_objective(hess.logits.detach(), retained, theta)
        return self._halve(params, theta, step, before,
                           lambda d: self._retained_objective(forward(self.model_, retained), retained,
                                                              theta + d) - float(g @ d),
                           slope=float(v @ step))

    #: Armijo constant of the safeguard: a trial step ``s·Δ`` is accepted when the objective
    #: falls by at least this fraction of the decrease its slope predicts, ``s·ṽᵀΔ``.
    sufficient_decrease = 0.25

    def _halve(self, params: list, theta: Tensor, step: Tensor, before: float,
               at: Any, slope: float = 0.0) -> tuple[Tensor, float, float, float]:
        """``(step', scale, before, after)``: the first of ``step, step/2, ...`` (at most
        ``max_halvings`` halvings) at which ``at(d)``, the objective with the parameters
        set to ``θ + d``, is at most ``before - c·scale·slope`` (Armijo's sufficient
        decrease, ``c`` = :attr:`sufficient_decrease`, ``slope`` the decrease the objective's
        gradient predicts along ``step``); the parameters are restored after. The constant
        costs fidelity where the model is far from quadratic: on Cora/GCN with
        ``damping=1e-4`` it halves the step once (``fidelity_ratio`` 0.44; 0.17 unguarded,
        ``benchmarks/results/fidelity_study.md``); it was not tuned."""
        scale, after = 1.0, before
        slope = max(float(slope), 0.0)
        try:
            with torch.no_grad():
                for trial in range(int(self.max_halvings) + 1):
                    scale = 0.5 ** trial
                    vector_to_parameters(theta + scale * step, params)
                    after = at(scale * step)
                    if after <= before - self.sufficient_decrease * scale * slope + 1e-12 * abs(before):
                        break
        finally:
            vector_to_parameters(theta, params)
        return scale * step, scale, before, after


@register_method("gif")
class GIF(_InfluenceUnlearner):
    r"""Graph Influence Function unlearning (`Wu et al., WWW 2023
    <https://arxiv.org/abs/2304.02835>`_): one influence step whose right-hand side
    counts the forgotten nodes' losses **and** the change of the losses of their
    :math:`L`-hop neighbourhood (see the module docstring for the math).

    Args:
        model, hidden_channels, num_layers, dropout, lr, weight_decay, epochs, patience,
            seed, model_kwargs: as :class:`~graphforget.gnn.GNNUnlearner`.
        solver (str): inverse-HVP solver, ``"cg"``, ``"lissa"``, ``"gif"`` (GIF-torch's
            recursion) or ``"exact"``. (default: ``"cg"``)
        hessian (str, optional): ``"exact"``, ``"gauss_newton"`` (positive semi-definite)
            or ``"auto"`` (exact for the convex SGC, Gauss--Newton for non-convex backbones,
            whose exact Hessian is indefinite away from a strict minimum). ``None``: exact on
            node classification, Gauss--Newton on link prediction (:meth:`hessian_kind`).
            (default: :obj:`None`)
        damping (float or str): added to the Hessian (``"gif"``: GIF-torch's ``damp``).
            ``"auto"``: 1% of the curvature along the right-hand side
            (:meth:`auto_damping`; one Hessian product, which CG reuses), reported as ``damping`` in the
            diagnostics (with ``solver="gif"``, ``"auto"`` is ``d = 1e-2``, GIF-torch's damping
            being relative to its scale already). The objective's Hessian already includes the weight decay. A fixed
            ``1e-2`` (the former default) suppresses the low-curvature directions in which
            the original and the retrained model differ (Cora/CiteSeer SGC: ``fidelity_ratio``
            0.64-0.87 with it, 0.09-0.18 with ``"auto"``, at about half the speed-up); see
            ``benchmarks/results/fidelity_study.md``. (default: ``"auto"``)
        iterations (int): solver iterations (CG: a cap; CG stops at relative residual
            ``tol`` or at the first non-positive curvature, keeping the iterate reached,
            as truncated/Steihaug CG does). (default: :obj:`50`)
        tol (float): CG relative-residual tolerance; on Cora and CiteSeer with SGC ``1e-2``
            gives the same ``fidelity_ratio`` as ``1e-3`` with 13-18 products instead of 18-25
            (``benchmarks/results/fidelity_study_run2.md``). (default: :obj:`1e-2`)
        scale (float, optional): LiSSA/GIF scale; ``None`` = from power iteration.
        loss_nodes (str): ``"train"`` (only training nodes' losses enter :math:`v`) or
            ``"all"`` (the official code's behaviour). (default: ``"train"``)
        hops (int, optional): neighbourhood radius; ``None`` = :math:`L` (:math:`L+1` for
            node deletion).
        safeguard (bool): backtrack the step (halve it, at most ``max_halvings`` times)
            until the objective the step minimises does not increase (:meth:`_backtrack`);
            a step shrunk below 1/8 raises a ``UserWarning`` and is reported as
            ``step_scale`` (in the report and in benchmark records). On Cora with GIN the
            unguarded exact-Hessian step overshoots in some seeds (test F1 85 -> 60); the
            check costs one forward pass when the full step is accepted.
            (default: :obj:`True`)
        max_halvings (int): at most this many halvings; the last, smallest step is kept
            when none decreases the objective (reported as ``step_scale``). (default: :obj:`6`)
        decoder (str): ``"dot"`` or ``"mlp"`` (link prediction only). (default: ``"dot"``)
        task (str): ``"auto"`` (link prediction on data from
            :func:`~graphforget.link.link_split`, node classification otherwise), ``"node"``
            or ``"link"``. (default: ``"auto"``)

    On link prediction, ``loss_nodes`` and ``hops`` do not apply: the step uses the
    difference of the full link objectives (module docstring).
    """

    tasks = (Task.NODE, Task.LINK)
    use_neighbourhood = True


@register_method("if")
class IF(_InfluenceUnlearner):
    r"""Classical influence-function unlearning (Koh & Liang, 2017) on a GNN: the same
    Newton step as :class:`GIF` but :math:`v` counts only the nodes the request names
    (forgotten nodes; endpoints of forgotten edges; nodes whose features are forgotten),
    ignoring the neighbourhood the change propagates to. Same arguments as :class:`GIF`;
    node classification only.
    """

    use_neighbourhood = False
