r"""MEGU (Li, Zhao, Wu, Zhang, Li and Wang, "Towards Effective and General Graph Unlearning
via Mutual Evolution", AAAI 2024; arXiv 2401.11760).

Two modules evolve together under one objective: the *predictive* module is the trained
backbone :math:`f_\theta` itself, and the *unlearning* module is a light map
:math:`g_\phi` on its outputs (a :math:`C\times C` linear layer, started at the
identity). With :math:`T` the request's target nodes, :math:`H` the high-influence
neighbours (below), :math:`H_\ell \subseteq H` those that are retained training nodes,
:math:`y` the labels the model was trained on (``data.y`` on training nodes, the original
model's prediction on any other target) and
:math:`\mathrm{KD}(s\,\|\,t)` the distillation loss of a student :math:`s` to a
teacher :math:`t`:

.. math::
    \mathcal{L}_u &= \mathrm{KD}\big(f_\theta(T)\,\|\,g_\phi(f_\theta(T))\big)
        - \mathrm{CE}\big(g_\phi(f_\theta(T)),\ y_T\big) \\
    \mathcal{L}_r &= \mathrm{KD}\big(g_\phi(f_\theta(H))\,\|\,f_\theta(H)\big)
        + \mathrm{CE}\big(f_\theta(H_\ell),\ y_{H_\ell}\big) \\
    \mathcal{L} &= \kappa\,\mathcal{L}_u + \mathcal{L}_r

The unlearning module is pushed away from the labels learned on the targets and
the predictive module follows it there; on the neighbours the unlearning module follows
the predictive one, which keeps its predictions. Both :math:`\theta` and :math:`\phi`
take ``unlearn_epochs`` plain SGD steps (the authors' optimiser; ``optimizer="adam"``
optional) on the retained graph, without dropout (``unlearn_dropout``); inference uses
:math:`f_\theta` alone.

The paper uses ground-truth labels in both cross-entropies; labels of neighbours that are
not training nodes are not the method's to read, so their CE is dropped (the KD coupling
keeps them). Using the original predictions instead (an earlier version) re-fits the
memorised bias on :math:`H` and fails the conformance check 9 (``docs/methods/megu.md``).

**High-influence neighbours** (topology-guided selection): the targets' features are
reversed (:math:`x \mapsto 1 - x` on the targets' rows, :math:`x \mapsto -x` for
non-binary features), both feature matrices are propagated :math:`L` times with
:math:`\hat A`, and :math:`H` holds the retained nodes within :math:`L` hops of the
targets whose propagated features change most: cosine similarity between the two
propagations at most :math:`\alpha`, with :math:`\alpha` raised from ``alpha`` in steps
of ``alpha_step`` until a step adds no node once at least half of the neighbourhood is
selected (the threshold sits in the first gap of the
similarity distribution beyond the median). When nothing qualifies the whole
:math:`L`-hop neighbourhood is used.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget._params import check_int, check_number
from graphforget._registry import register_method
from graphforget.approx.distillation import forget_view, kd_loss, request_targets
from graphforget.errors import GraphForgetError
from graphforget.gnn import GNNUnlearner
from graphforget.link._split import k_hop_mask
from graphforget.models import propagate
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import forward, seeded
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["MEGU", "high_influence_neighbours"]

OPTIMIZERS = ("sgd", "adam")


def high_influence_neighbours(x: Tensor, edge_index: Tensor, targets: Tensor, hops: int,
                              candidates: Tensor, alpha: float = 0.1, alpha_step: float = 0.1
                              ) -> tuple[Tensor, float]:
    r"""MEGU's adaptive high-influence neighbour selection (see the module docs).

    Args:
        x: node features ``[n, d]`` of the graph the model was trained on.
        edge_index: that graph's edges.
        targets: the request's nodes.
        hops: propagation depth :math:`L` (and neighbourhood radius).
        candidates: boolean mask of nodes that may be selected (retained nodes).
        alpha: first threshold. alpha_step: its increment.

    Returns:
        the selected node ids (sorted) and the final threshold.
    """
    n = x.size(0)
    hood = k_hop_mask(targets, edge_index, n, hops) & candidates
    hood[targets] = False
    if not bool(hood.any()):
        return hood.nonzero().view(-1), float(alpha)
    xf = x.float()
    binary = bool(((xf == 0) | (xf == 1)).all())
    flipped = xf.clone()
    flipped[targets] = 1.0 - xf[targets] if binary else -xf[targets]
    a = propagate(xf, edge_index, hops, num_nodes=n)[hood]
    b = propagate(flipped, edge_index, hops, num_nodes=n)[hood]
    sim = F.cosine_similarity(a, b, dim=1, eps=1e-12)
    ids = hood.nonzero().view(-1)
    threshold, count = float(alpha), -1
    while threshold <= 1.0 + alpha_step:
        now = int((sim <= threshold).sum())
        if now == count and 2 * now >= ids.numel():
            break
        count = now
        threshold += alpha_step
    chosen = ids[sim <= threshold]
    if chosen.numel() == 0:
        return ids, threshold
    return chosen, threshold


def _training_labels(data: Data, preds: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """The labels the model was trained on: ``data.y`` on the training nodes, the original
    predictions elsewhere; and the mask of the nodes whose label is a training label."""
    labels = preds.clone()
    y, train = getattr(data, "y", None), getattr(data, "train_mask", None)
    labelled = torch.zeros(preds.size(0), dtype=torch.bool)
    if y is None or train is None or y.dim() != 1 or y.size(0) != preds.size(0):
        return labels, labelled
    labelled = train.bool() & (y >= 0) & (y < num_classes)
    labels[labelled] = y[labelled].to(labels.dtype)
    return labels, labelled


@register_method("megu")
class MEGU(GNNUnlearner):
    r"""MEGU: the predictive backbone and an output-space unlearning module evolve together.

    Args:
        unlearn_epochs (int): joint optimiser steps. (default: :obj:`30`, the authors' code)
        unlearn_lr (float): their learning rate. (default: :obj:`1e-3`)
        optimizer (str): ``"sgd"`` (plain SGD, the authors' code) or ``"adam"``. Adam
            normalises each step to about ``unlearn_lr`` per parameter whatever the loss, so
            the unbounded forget term drives a converged model far from a retrained one
            (``docs/methods/megu.md``). (default: :obj:`"sgd"`)
        unlearn_dropout (bool): run the backbone's dropout during the unlearning steps.
            Off, the steps are deterministic and the distillation terms vanish at the
            start; on, they push the model toward its own dropout-averaged outputs, a drift
            unrelated to the request. (default: :obj:`False`)
        kappa (float): :math:`\kappa`, the weight of the unlearning loss. (default: :obj:`0.5`)
        temperature (float): distillation temperature. (default: :obj:`1.0`)
        alpha (float): first similarity threshold of the neighbour selection. (default: :obj:`0.1`)
        alpha_step (float): its increment. (default: :obj:`0.1`)
        hops (int, optional): neighbourhood radius (default: ``num_layers``; for a user
            model its message-passing hops).
        **backbone: as :class:`~graphforget.gnn.GNNUnlearner`, the user's model included
            (``model=`` module or factory, ``train_fn``, ``forward_fn``, ``loss_fn``,
            ``device``, ``dtype``). :meth:`attach` adopts a trained user model, which
            ``unlearn`` updates in place (the unlearning module is the method's own).
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.NODE,)
    attachable = True

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, unlearn_epochs: int = 30,
                 unlearn_lr: float = 1e-3, kappa: float = 0.5, temperature: float = 1.0,
                 alpha: float = 0.1, alpha_step: float = 0.1, hops: int | None = None,
                 optimizer: str = "sgd", unlearn_dropout: bool = False,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype)
        self.unlearn_dropout = unlearn_dropout
        self.unlearn_epochs = unlearn_epochs
        self.unlearn_lr = unlearn_lr
        self.kappa = kappa
        self.temperature = temperature
        self.alpha = alpha
        self.alpha_step = alpha_step
        self.hops = hops
        self.optimizer = optimizer

    def _check_params(self) -> None:
        super()._check_params()
        check_int("unlearn_epochs", self.unlearn_epochs, 1)
        for name in ("unlearn_lr", "temperature", "alpha_step"):
            check_number(name, getattr(self, name), positive=True)
        for name in ("kappa", "alpha"):
            check_number(name, getattr(self, name))
        check_int("hops", self.hops, 1, optional=True)
        if self.optimizer not in OPTIMIZERS:
            raise GraphForgetError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not isinstance(self.unlearn_dropout, bool):
            raise GraphForgetError(f"unlearn_dropout must be a bool, got {self.unlearn_dropout!r}")

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_params()
        before = self.data_
        t0 = time.perf_counter()
        targets = request_targets(request)
        hops = self.depth() if self.hops is None else int(self.hops)
        candidates = ~retained.forgotten_mask
        hin, threshold = high_influence_neighbours(before.x, before.edge_index, targets, max(hops, 1),
                                                   candidates, float(self.alpha), float(self.alpha_step))
        with torch.no_grad():
            self.model_.eval()
            logits0 = forward(self.model_, before)
            preds = logits0.argmax(dim=-1)
        forget_labels, labelled = _training_labels(before, preds, self.num_classes_)
        keep_labelled = labelled & ~retained.forgotten_mask
        hin_labelled = hin[keep_labelled[hin]]
        t1 = time.perf_counter()
        view = forget_view(request, before, retained)
        model = copy.deepcopy(self.model_)
        c = self.num_classes_
        gate = torch.nn.Linear(c, c, dtype=logits0.dtype, device=logits0.device)
        with torch.no_grad():
            gate.weight.copy_(torch.eye(c))
            gate.bias.zero_()
        params = list(model.parameters()) + list(gate.parameters())
        opt = torch.optim.SGD(params, lr=float(self.unlearn_lr)) if self.optimizer == "sgd" \
            else torch.optim.Adam(params, lr=float(self.unlearn_lr))
        temp = float(self.temperature)
        history: list[float] = []
        with seeded(self.seed):
            for _ in range(int(self.unlearn_epochs)):
                model.train(bool(self.unlearn_dropout))
                opt.zero_grad()
                out = forward(model, view)
                out_g = gate(out)
                loss_u = kd_loss(out[targets], out_g[targets], temp) \
                    - F.cross_entropy(out_g[targets], forget_labels[targets])
                loss = float(self.kappa) * loss_u
                if hin.numel():
                    loss_r = kd_loss(out_g[hin], out[hin], temp)
                    if hin_labelled.numel():
                        loss_r = loss_r + F.cross_entropy(out[hin_labelled], forget_labels[hin_labelled])
                    loss = loss + loss_r
                loss.backward()
                opt.step()
                history.append(float(loss.detach()))
        model.eval()
        if any(not torch.isfinite(p).all() for p in model.parameters()):
            raise GraphForgetError("MEGU diverged (non-finite parameters): lower unlearn_lr or kappa")
        t2 = time.perf_counter()
        self._commit_model(model)  # an attached user model is updated in place
        report.breakdown.update(select=t1 - t0, train=t2 - t1)
        report.affected.update(nodes=int(targets.numel()), neighbours=int(hin.numel()),
                               labelled_neighbours=int(hin_labelled.numel()))
        report.diagnostics.update(threshold=threshold, loss_start=history[0], loss_end=history[-1])
