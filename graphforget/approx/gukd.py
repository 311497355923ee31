r"""GUKD (Zheng et al., "Graph Unlearning Using Knowledge Distillation", ICICS 2023, LNCS
14252, pp. 485-501; doi:10.1007/978-981-99-7356-9_29), as integrated by OpenGU
(arXiv 2501.02728).

A deep teacher — GCNII (Chen et al., ICML 2020: initial residual and identity mapping) —
is trained next to the shallow student backbone at fit time. To forget, the teacher is
run on the *retained* graph and a fresh student (seeded initialisation) is trained on the
retained data from the teacher's soft targets:

.. math::
    \mathcal{L}(\theta) = \frac{1}{|M|}\sum_{v\in M}\mathrm{CE}\big(f_\theta(v), y_v\big)
      + \lambda\,\mathrm{KD}\big(f_\theta(R)\,\|\,t(R)\big)

with :math:`M` the retained training nodes, :math:`R` every retained node and :math:`t`
the teacher's logits on the retained graph (fixed). ``teacher_refresh=True`` first
retrains the teacher on the retained data (the paper's "retrained teacher"; it costs a
full deep-model training), the default keeps the teacher fitted on the original data as
OpenGU does, so the teacher's weights still carry the forgotten items: only the student
is rebuilt, and it never sees the forgotten nodes directly.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn import GCN2Conv

from graphforget._params import check_int, check_number
from graphforget._registry import register_method
from graphforget.approx.distillation import kd_loss
from graphforget.errors import GraphForgetError
from graphforget.executor import derive_seed
from graphforget.gnn import GNNUnlearner
from graphforget.models._sparse import sparse_features
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import TrainConfig, forward, seeded, train_node_classifier
from graphforget.unlearner import Guarantee, Task, UnlearnReport

__all__ = ["GUKD", "GCNIITeacher"]


class GCNIITeacher(torch.nn.Module):
    r"""GCNII: :math:`h^{(0)} = \mathrm{ReLU}(xW_\text{in})`, ``layers`` ``GCN2Conv`` layers
    :math:`h^{(l+1)} = \mathrm{ReLU}\big(((1-\alpha)\hat A h^{(l)} + \alpha h^{(0)})
    ((1-\beta_l) I + \beta_l W_l)\big)` with :math:`\beta_l = \log(\theta/l + 1)`, then a
    linear read-out."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, layers: int = 8,
                 alpha: float = 0.1, theta: float = 0.5, dropout: float = 0.5) -> None:
        super().__init__()
        self.lin_in = torch.nn.Linear(in_channels, hidden_channels)
        self.convs = torch.nn.ModuleList(
            GCN2Conv(hidden_channels, alpha=alpha, theta=theta, layer=i + 1, cached=False)
            for i in range(layers))
        self.lin_out = torch.nn.Linear(hidden_channels, out_channels)
        self.dropout = float(dropout)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        h0 = h = torch.relu(self._input(x))
        for conv in self.convs:
            h = F.dropout(h, self.dropout, self.training)
            h = torch.relu(conv(h, h0, edge_index, edge_weight))
        h = F.dropout(h, self.dropout, self.training)
        return self.lin_out(h)

    def _input(self, x: Tensor) -> Tensor:
        """``lin_in`` of the input after dropout. Sparse bag-of-words features (the sparse
        first-layer policy, :func:`graphforget.models._sparse.sparse_features`) are
        multiplied as a CSR matrix, dropout acting on the stored entries only: dropping a
        zero changes nothing, so the distribution is that of dense dropout (the random draws
        differ). On Coauthor CS (0.88% non-zero) a GUKD fit took 13 to 16 minutes before and
        1.6 to 4.1 minutes after (teacher and student, ``benchmarks/results/fidelity.md``)."""
        features = sparse_features(x)
        if features is None:
            return self.lin_in(F.dropout(x, self.dropout, self.training))
        csr = features[0]
        if self.training and self.dropout > 0:
            values = F.dropout(csr.values(), self.dropout, True)
            csr = torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(), values, csr.size(),
                                          check_invariants=False)
        out = torch.sparse.mm(csr, self.lin_in.weight.t())
        return out if self.lin_in.bias is None else out + self.lin_in.bias


@register_method("gukd")
class GUKD(GNNUnlearner):
    r"""GUKD: a fresh shallow student distilled from a deep GCNII teacher on the retained graph.

    Args:
        teacher_layers (int): GCNII depth. (default: :obj:`8`)
        teacher_hidden (int): GCNII width. (default: :obj:`64`)
        teacher_epochs (int, optional): teacher training epochs (default: ``epochs``).
        teacher_refresh (bool): retrain the teacher on the retained data at every request.
            (default: :obj:`False`)
        unlearn_epochs (int, optional): student epochs (default: ``epochs // 2``, at least 1:
            the teacher's soft targets on every retained node carry more per epoch than the
            labels of the training nodes alone, so half a training's epochs keeps the
            student's outputs on the forgotten nodes close to a retrained model's (tested) at
            about half a retraining's time; a quarter was too few on the test fixture.
            ``epochs`` trains the student as long as a retraining).
        kd_weight (float): :math:`\lambda`. (default: :obj:`1.0`)
        temperature (float): distillation temperature. (default: :obj:`2.0`)
        **backbone: the student, as :class:`~graphforget.gnn.GNNUnlearner`: ``model`` may
            be the user's factory or template module. ``train_fn`` trains the student at
            ``fit`` (and the retrain reference); the student rebuilt at every request is
            trained by the built-in loop on the method's objective (cross-entropy + KD, which
            a user loop cannot carry), ``loss_fn`` replacing its cross-entropy term. The
            teacher is always the method's GCNII (built-in loop). GUKD trains fresh students
            and cannot attach to a trained model.
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.NODE,)

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, teacher_layers: int = 8,
                 teacher_hidden: int = 64, teacher_epochs: int | None = None,
                 teacher_refresh: bool = False, unlearn_epochs: int | None = None,
                 kd_weight: float = 1.0, temperature: float = 2.0,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype)
        self.teacher_layers = teacher_layers
        self.teacher_hidden = teacher_hidden
        self.teacher_epochs = teacher_epochs
        self.teacher_refresh = teacher_refresh
        self.unlearn_epochs = unlearn_epochs
        self.kd_weight = kd_weight
        self.temperature = temperature

    def _check_params(self) -> None:
        super()._check_params()
        for name, low, optional in (("teacher_layers", 1, False), ("teacher_hidden", 1, False),
                                    ("teacher_epochs", 0, True), ("unlearn_epochs", 1, True)):
            check_int(name, getattr(self, name), low, optional=optional)
        if not isinstance(self.teacher_refresh, bool):
            raise GraphForgetError(f"teacher_refresh must be a bool, got {self.teacher_refresh!r}")
        check_number("kd_weight", self.kd_weight)
        check_number("temperature", self.temperature, positive=True)

    def _build_teacher(self) -> torch.nn.Module:
        with seeded(derive_seed(self.seed, "gukd-teacher")):
            teacher = GCNIITeacher(self.in_channels_, int(self.teacher_hidden), self.num_classes_,
                                   layers=int(self.teacher_layers), dropout=self.dropout)
        return self._place(teacher)

    def _train_teacher(self, data: Data) -> torch.nn.Module:
        teacher = self._build_teacher()
        epochs = self.epochs if self.teacher_epochs is None else self.teacher_epochs
        train_node_classifier(teacher, data, TrainConfig(epochs=int(epochs), lr=self.lr,
                                                         weight_decay=self.weight_decay),
                              seed=derive_seed(self.seed, "gukd-teacher"))
        return teacher

    def _fit(self, data: Data) -> None:
        super()._fit(data)
        self.teacher_ = self._train_teacher(data)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_params()
        t0 = time.perf_counter()
        teacher = self._train_teacher(retained) if self.teacher_refresh else self.teacher_
        with torch.no_grad():
            teacher.eval()
            soft = forward(teacher, retained)
        kept = ~retained.forgotten_mask
        t1 = time.perf_counter()
        # the backbone's seeded initialisation, the same as a retraining's: without the KD
        # term and with ``epochs`` student epochs the student is the retrained model
        student = self._build_model()
        temp, lam = float(self.temperature), float(self.kd_weight)
        user_loss = self._loss_for_loop()

        def loss_fn(model: torch.nn.Module, data: Data, mask: Tensor) -> Tensor:
            out = forward(model, data)
            fit = F.cross_entropy(out[mask], data.y[mask]) if user_loss is None else user_loss(model, data, mask)
            return fit + lam * kd_loss(out[kept], soft[kept].to(out.dtype), temp)

        epochs = max(1, int(self.epochs) // 2) if self.unlearn_epochs is None else int(self.unlearn_epochs)
        history = train_node_classifier(student, retained, TrainConfig(
            epochs=epochs, lr=self.lr, weight_decay=self.weight_decay, patience=self.patience),
            seed=self.seed, loss_fn=loss_fn)
        t2 = time.perf_counter()
        self.model_ = student
        if self.teacher_refresh:
            self.teacher_ = teacher
        report.breakdown.update(teacher=t1 - t0, student=t2 - t1)
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())
        report.diagnostics.update(student_epochs=epochs, loss_end=history["loss"][-1] if history["loss"] else None)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state["teacher"] = {k: v.clone() for k, v in self.teacher_.state_dict().items()}
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        teacher = self._build_teacher()
        teacher.load_state_dict(state["teacher"])
        teacher.eval()
        self.teacher_ = teacher
