r"""D2DGN (Sinha, Mandal and Kankanhalli, "Distill to Delete: Unlearning in Graph Networks
with Knowledge Distillation", 2023; arXiv 2309.16173).

The graph's knowledge is split into what is *retained* and what is *deleted*, and a
student learns each part from its own teacher:

* the **preserver** — the trained model :math:`f_{\theta_0}` on the retained graph —
  teaches the retained nodes :math:`R`;
* the **destroyer** — a freshly initialised, untrained backbone :math:`f_{\rho}` (it
  knows nothing) — teaches the deleted nodes :math:`D` (read on the retained graph with
  their original features; they are isolated there).

Knowledge is distilled from the responses (soft targets, KL divergence) and from the
node embeddings (first message-passing layer, mean squared error):

.. math::
    \mathcal{L}_r &= \mathrm{KD}\big(f_\theta(R)\,\|\,f_{\theta_0}(R)\big)
        + \mathrm{MSE}\big(h_\theta(R), h_{\theta_0}(R)\big) \\
    \mathcal{L}_f &= \mathrm{KD}\big(f_\theta(D)\,\|\,f_\rho(D)\big)
        + \mathrm{MSE}\big(h_\theta(D), h_\rho(D)\big) \\
    \mathcal{L} &= \alpha\,\mathcal{L}_r + (1-\alpha)\,\mathcal{L}_f

The student starts from the trained parameters (``student="original"``) or from a fresh
initialisation (``student="fresh"``, the backbone's seeded initialisation) and takes
``unlearn_epochs`` Adam steps, without dropout (``unlearn_dropout``).

**Link prediction** (the paper's edge and node unlearning, evaluated by AUC on
GNNDelete's protocol): the responses are the link predictor's edge probabilities. The
preserver teaches the retained training edges and a fixed, seeded set of as many
non-edges; the destroyer teaches the deleted training edges (an edge request's, or every
training edge of a deleted node). The embedding terms keep the retained nodes' first-layer
embeddings at the preserver's (all nodes for an edge request: its knowledge is edges)
and send a deleted node's to the destroyer's.
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
from graphforget.approx.distillation import first_layer_output, forget_view, kd_loss
from graphforget.errors import GraphForgetError
from graphforget.executor import derive_seed
from graphforget.link._metrics import deleted_edges
from graphforget.link._split import canonical_edges, edge_keys, sample_non_edges
from graphforget.link._unlearner import LinkGNNUnlearner
from graphforget.models import build_model
from graphforget.requests import EdgeRequest, ForgetRequest, NodeRequest
from graphforget.training import seeded
from graphforget.unlearner import Guarantee, Task, UnlearnReport
from graphforget.user_model import fresh_module, message_passing_layers

__all__ = ["D2DGN"]

STUDENTS = ("original", "fresh")


@register_method("d2dgn")
class D2DGN(LinkGNNUnlearner):
    r"""D2DGN: a student distils the retained nodes from the trained model and the deleted
    nodes from an untrained one.

    Args:
        unlearn_epochs (int): Adam steps of the student. (default: :obj:`50`)
        unlearn_lr (float): their learning rate. (default: :obj:`1e-3`)
        alpha (float): :math:`\alpha`, weight of the retained part. (default: :obj:`0.8`)
        temperature (float): distillation temperature. (default: :obj:`1.0`)
        embedding_weight (float): weight of the embedding (MSE) terms. (default: :obj:`1.0`)
        student (str): ``"original"`` or ``"fresh"``. (default: :obj:`"original"`)
        unlearn_dropout (bool): run the backbone's dropout during the unlearning steps.
            Off, a student that starts from the trained model and distils it is at a fixed
            point of the distillation terms; on, those terms pull it toward its own
            dropout-averaged outputs, a drift unrelated to the request (fidelity ratio 1.26
            instead of 1.00 on Cora, GCN, 5% of nodes). (default: :obj:`False`)
        **backbone: as :class:`~graphforget.gnn.GNNUnlearner`, the user's model included
            (``model=`` module or factory, ``train_fn``, ``forward_fn``, ``loss_fn``,
            ``device``, ``dtype``). :meth:`attach` adopts a trained user model as the
            preserver; the destroyer and a ``"fresh"`` student are fresh copies of it
            (template re-initialised under the seed), and the distilled student is written
            into the user's model in place. The embedding terms read the output of the
            model's first ``MessagePassing`` layer (a user model without one needs
            ``embedding_weight=0``).
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (NodeRequest, EdgeRequest)
    #: on node classification an edge's knowledge is not a set of node outputs the destroyer
    #: could teach without damaging the retained endpoints: edge requests on links only
    task_requests = {"node": (NodeRequest,)}
    tasks = (Task.NODE, Task.LINK)
    attachable = True

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, decoder: str = "dot",
                 task: str = "auto", unlearn_epochs: int = 50,
                 unlearn_lr: float = 1e-3, alpha: float = 0.8, temperature: float = 1.0,
                 embedding_weight: float = 1.0, student: str = "original",
                 unlearn_dropout: bool = False,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype, decoder=decoder, task=task)
        self.unlearn_dropout = unlearn_dropout
        self.unlearn_epochs = unlearn_epochs
        self.unlearn_lr = unlearn_lr
        self.alpha = alpha
        self.temperature = temperature
        self.embedding_weight = embedding_weight
        self.student = student

    def _check_params(self) -> None:
        super()._check_params()
        check_int("unlearn_epochs", self.unlearn_epochs, 1)
        for name in ("unlearn_lr", "temperature"):
            check_number(name, getattr(self, name), positive=True)
        check_number("alpha", self.alpha, high=1)
        check_number("embedding_weight", self.embedding_weight)
        if not isinstance(self.unlearn_dropout, bool):
            raise GraphForgetError(f"unlearn_dropout must be a bool, got {self.unlearn_dropout!r}")
        if self.student not in STUDENTS:
            raise GraphForgetError(f"student must be one of {STUDENTS}, got {self.student!r}")

    def _check_user_model(self, data: Data) -> torch.nn.Module:
        module = super()._check_user_model(data)
        if self.embedding_weight and not message_passing_layers(module):
            raise GraphForgetError(
                f"d2dgn distils the output of the first message-passing layer (embedding_weight="
                f"{self.embedding_weight!r}), but {type(module).__name__} has no "
                "torch_geometric.nn.MessagePassing submodule; pass embedding_weight=0")
        return module

    def _destroyer(self) -> torch.nn.Module:
        with seeded(derive_seed(self.seed, "d2dgn-destroyer", len(self.history_))):
            if self.is_link:
                return self._link_predictor().eval()
            if self.is_user_model:
                return self._wrap(fresh_module(self.model)).eval()
            model = build_model(self.model, self.in_channels_, self.num_classes_,
                                hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                                dropout=self.dropout, **(self.model_kwargs or {}))
        return self._place(model).eval()

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_params()
        t0 = time.perf_counter()
        view = forget_view(request, self.data_, retained)
        if self.is_link:
            terms = self._link_terms(request, retained)
        else:
            deleted = request.node_ids
            kept = (~retained.forgotten_mask).nonzero().view(-1)
        with torch.no_grad():
            self.model_.eval()
            destroyer = self._destroyer()
            keep_out, keep_emb = first_layer_output(self.model_, view)
            gone_out, gone_emb = first_layer_output(destroyer, view)
            if self.is_link:  # the responses: the teachers' edge logits
                keep_out = self.model_.decode(keep_out, terms["kept_pairs"])
                gone_out = destroyer.decode(gone_out, terms["deleted_pairs"])
                kept, deleted = terms["kept_nodes"], terms["deleted_nodes"]
        if self.student == "original":
            student = copy.deepcopy(self.model_)
        else:
            student = self._build_model()  # the backbone's seeded initialisation
        t1 = time.perf_counter()
        temp, alpha, beta = float(self.temperature), float(self.alpha), float(self.embedding_weight)
        opt = torch.optim.Adam(student.parameters(), lr=float(self.unlearn_lr))
        history: list[float] = []
        with seeded(self.seed):
            for _ in range(int(self.unlearn_epochs)):
                student.train(bool(self.unlearn_dropout))
                opt.zero_grad()
                out, emb = first_layer_output(student, view)
                if self.is_link:
                    loss_r = _edge_kd(student.decode(out, terms["kept_pairs"]), keep_out, temp)
                    loss_f = _edge_kd(student.decode(out, terms["deleted_pairs"]), gone_out, temp)
                else:
                    loss_r = kd_loss(out[kept], keep_out[kept], temp)
                    loss_f = kd_loss(out[deleted], gone_out[deleted], temp)
                if beta and emb is not None and keep_emb is not None and gone_emb is not None:
                    loss_r = loss_r + beta * _mse(emb[kept], keep_emb[kept])
                    loss_f = loss_f + beta * _mse(emb[deleted], gone_emb[deleted])
                loss = alpha * loss_r + (1 - alpha) * loss_f
                loss.backward()
                opt.step()
                history.append(float(loss.detach()))
        student.eval()
        if any(not torch.isfinite(p).all() for p in student.parameters()):
            raise GraphForgetError("D2DGN diverged (non-finite parameters): lower unlearn_lr")
        t2 = time.perf_counter()
        self._commit_model(student)  # an attached user model is updated in place
        report.breakdown.update(teachers=t1 - t0, distil=t2 - t1)
        report.affected.update(nodes=int(deleted.numel()), retained=int(kept.numel()))
        if self.is_link:
            report.affected.update(edges_deleted=int(terms["deleted_pairs"].size(1)),
                                   edges_retained=int(terms["kept_pairs"].size(1)) // 2)
        report.diagnostics.update(loss_start=history[0], loss_end=history[-1])

    # -- link prediction -----------------------------------------------------------
    def _link_terms(self, request: ForgetRequest, retained: Data) -> dict[str, Tensor]:
        """The pairs and nodes each teacher teaches on the link task: the retained training
        edges plus as many fixed, seeded non-edges (preserver), the deleted training edges
        (destroyer), and the nodes whose embeddings each keeps."""
        n = int(self.data_.num_nodes)
        gone = deleted_edges(self.data_, retained)
        if gone.size(1) == 0:
            raise GraphForgetError("d2dgn (link): the request deletes no training edge")
        kept = canonical_edges(retained.edge_index)
        g = torch.Generator().manual_seed(derive_seed(self.seed, "d2dgn-negatives", len(self.history_)))
        negatives = sample_non_edges(None, n, kept.size(1), g, avoid_keys=edge_keys(self.data_.edge_index, n))
        device = kept.device
        if isinstance(request, NodeRequest):
            deleted_nodes = torch.unique(request.node_ids)
        else:  # an edge request's knowledge is its edges: every node keeps its embedding
            deleted_nodes = torch.empty(0, dtype=torch.long, device=device)
        keep = torch.ones(n, dtype=torch.bool, device=device)
        keep[deleted_nodes] = False
        return {"kept_pairs": torch.cat([kept, negatives.to(device)], dim=1), "deleted_pairs": gone,
                "kept_nodes": keep.nonzero().view(-1), "deleted_nodes": deleted_nodes}


def _edge_kd(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """:func:`kd_loss` between Bernoulli edge probabilities given their logits ``[k]``."""
    zero = torch.zeros_like(student)
    return kd_loss(torch.stack([zero, student], -1), torch.stack([torch.zeros_like(teacher), teacher], -1),
                   temperature)


def _mse(a: Tensor, b: Tensor) -> Tensor:
    return F.mse_loss(a, b) if a.numel() else a.sum() * 0.0
