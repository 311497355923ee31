"""Retraining from scratch: the exact reference every method is compared with."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.approx.fedlu import FedLU
from graphforget.errors import GraphForgetError
from graphforget.general._linear import LinearUnlearner, fit_linear
from graphforget.gnn import GNNUnlearner
from graphforget.graph._dataset import GraphDataset
from graphforget.graph._requests import GraphFeatureRequest, GraphNodeRequest, GraphRequest
from graphforget.graph._unlearner import GraphClassifier, GraphUnlearner
from graphforget.link._unlearner import LinkGNNUnlearner
from graphforget.recommendation._data import (
    split_pairs,
)
from graphforget.recommendation._models import (
    bipartite_graph,
    build_recommender,
)
from graphforget.recommendation.base import _RecommenderBase, _train_config, train_rec_shard_job
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest, SampleRequest
from graphforget.training import seeded
from graphforget.unlearner import Guarantee, Task, UnlearnReport
from graphforget.vision.base import VisionUnlearner

__all__ = ["Retrain", "LinkRetrain", "GraphRetrain", "TabularRetrain", "VisionRetrain",
           "RecommendationRetrain", "FederatedRetrain"]


@register_method("retrain")
class Retrain(GNNUnlearner):
    r"""Exact unlearning by retraining from scratch on the retained data.

    After a request, the model is a fresh backbone initialised with the same seed and
    trained with the same hyper-parameters on ``request.apply(data)``, so its
    parameters equal those of ``Retrain(...).fit(retained)`` bit for bit on CPU.

    Takes the arguments of :class:`~graphforget.gnn.GNNUnlearner`.
    """

    guarantee = Guarantee.EXACT
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest, SampleRequest)
    tasks = (Task.NODE,)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        self.model_ = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())

    def reference(self) -> Retrain:
        return self.clone()


@register_method("vision-retrain")
class VisionRetrain(VisionUnlearner):
    r"""Exact unlearning for vision models: retrain from scratch on the retained data.

    After a request the model is a fresh network initialised with the same seed and
    trained with the same recipe (optimizer, learning rate, epochs, batch size, batch
    order) on the retained training rows, so on CPU its parameters equal those of
    ``VisionRetrain(...).fit(retained)`` bit for bit. ``graphforget bench --task vision
    --method retrain`` runs this class.

    Takes the arguments of :class:`VisionUnlearner`.
    """

    guarantee = Guarantee.EXACT

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        model = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["samples"] = len(request)
        self.model_ = model

    def reference(self) -> VisionRetrain:
        return self.clone()  # type: ignore[return-value]


@register_method("link-retrain")
class LinkRetrain(LinkGNNUnlearner):
    r"""Exact link-prediction unlearning: retrain the link predictor on the retained graph.

    The new model is a fresh encoder + decoder initialised with the same seed and
    trained with the same negatives generator on ``request.apply(data)``, so it equals
    ``LinkRetrain(...).fit(retained)`` bit for bit on CPU. This is the task's
    ``retrain_class``: ``graphforget bench --method retrain --task link`` runs it.
    """

    guarantee = Guarantee.EXACT
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)
    tasks = (Task.LINK,)

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, decoder: str = "dot",
                 task: str = "link",
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype,
                         decoder=decoder, task=task)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        self.model_ = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())

    def reference(self) -> LinkRetrain:
        return self.clone()


@register_method("graph-retrain", "retrain-graph")
class GraphRetrain(GraphUnlearner):
    r"""Exact graph-classification unlearning: retrain a GNN classifier from scratch.

    After a request the model is a fresh :class:`GraphClassifier` initialised with the
    same seed and trained with the same hyper-parameters on the retained training graphs,
    so it equals ``GraphRetrain(...).fit(retained)`` bit for bit on CPU. This is also the
    "retrain a GIN after every request" baseline of Pan et al.

    Training: Adam on the mean cross-entropy of the training graphs, full batch by default
    (``batch_size`` turns on seeded mini-batches).

    Args:
        model (str): ``"gin"`` or ``"gcn"``. (default: ``"gin"``)
        hidden_channels (int): hidden size. (default: :obj:`64`)
        num_layers (int): message-passing layers. (default: :obj:`3`)
        dropout (float): dropout. (default: :obj:`0.0`)
        pooling (str): ``"sum"`` or ``"mean"``. (default: ``"sum"``)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float): Adam weight decay. (default: :obj:`0.0`)
        epochs (int): epochs. (default: :obj:`100`)
        batch_size (int, optional): graphs per step; ``None`` is full batch. (default: :obj:`None`)
        seed (int): seeds initialisation, dropout and batching. (default: :obj:`0`)
        model_kwargs (dict, optional): extra arguments of the PyG encoder.
    """

    guarantee = Guarantee.EXACT
    supported_requests = (GraphRequest, GraphNodeRequest, GraphFeatureRequest)
    supported_models = ("gin", "gcn")

    def __init__(self, model: str = "gin", hidden_channels: int = 64, num_layers: int = 3,
                 dropout: float = 0.0, pooling: str = "sum", lr: float = 0.01, weight_decay: float = 0.0,
                 epochs: int = 100, batch_size: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.pooling = pooling
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.model_kwargs = model_kwargs

    def _build_model(self) -> torch.nn.Module:
        with seeded(self.seed):
            return GraphClassifier(self.in_channels_, self.num_classes_, conv=self.model,
                                   hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                                   dropout=self.dropout, pooling=self.pooling, **(self.model_kwargs or {}))

    def _train_fresh(self, data: GraphDataset) -> torch.nn.Module:
        model = self._build_model()
        train = (data.train_mask & ~data.forgotten_mask).nonzero().view(-1)
        if train.numel() == 0:
            raise GraphForgetError("no training graphs left to train on")
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        size = train.numel() if self.batch_size is None else int(self.batch_size)
        full = data.collate(train) if size >= train.numel() else None
        gen = torch.Generator().manual_seed(int(self.seed))
        model.train()
        with seeded(self.seed):
            for _ in range(int(self.epochs)):
                order = torch.arange(train.numel()) if full is not None else \
                    torch.randperm(train.numel(), generator=gen)
                for lo in range(0, train.numel(), size):
                    part = order[lo:lo + size]
                    x, ei, batch, keep = full if full is not None else data.collate(train[part])
                    opt.zero_grad()
                    out = model(x, ei, batch, keep, part.numel())
                    loss = F.cross_entropy(out, data.y[train[part]])
                    loss.backward()
                    opt.step()
        model.eval()
        return model

    def _fit(self, data: GraphDataset) -> None:
        self.in_channels_ = int(data.num_features)
        self.num_classes_ = int(data.num_classes)
        self.model_ = self._train_fresh(data)

    def _unlearn(self, request: ForgetRequest, retained: GraphDataset, report: UnlearnReport) -> None:
        start = time.perf_counter()
        self.model_ = self._train_fresh(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["graphs"] = int(request.affected_graphs(retained).numel())

    def _logits(self, data: GraphDataset) -> Tensor:
        self.model_.eval()
        x, ei, batch, keep = data.collate()
        return self.model_(x, ei, batch, keep, data.num_graphs)

    def _get_state(self) -> dict[str, Any]:
        return {"model": {k: v.clone() for k, v in self.model_.state_dict().items()},
                "in_channels": self.in_channels_, "num_classes": self.num_classes_}

    def _load_method_state(self, state: dict[str, Any]) -> None:
        self.in_channels_ = int(state["in_channels"])
        self.num_classes_ = int(state["num_classes"])
        model = self._build_model()
        model.load_state_dict(state["model"])
        model.eval()
        self.model_ = model

    def reference(self) -> GraphRetrain:
        return self.clone()


@register_method("tabular-retrain", "linear-retrain")
class TabularRetrain(LinearUnlearner):
    r"""Exact reference of the tabular task: the regularised linear model
    (:func:`fit_linear`) retrained from scratch on the retained rows.

    Newton's method from zero to a gradient norm of ``1e-10`` is deterministic, so
    after a request the weights equal ``TabularRetrain(...).fit(retained)`` bit for bit.
    """

    guarantee = Guarantee.EXACT

    def _fit(self, data: Data) -> None:
        x, t = self._prepare(data)
        self.W_ = fit_linear(x, t, self.lam, self.model)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        x, t = self._prepare(retained)
        self.W_ = fit_linear(x, t, self.lam, self.model)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["samples"] = len(request)

    def reference(self) -> TabularRetrain:
        return self.clone()


@register_method("recommendation-retrain", "rec-retrain")
class RecommendationRetrain(_RecommenderBase):
    r"""One recommender (BPR-MF or LightGCN) retrained from scratch on the retained
    training interactions: the exact reference of the recommendation task.

    Args:
        model (str): ``"bpr"`` or ``"lightgcn"``. (default: :obj:`"bpr"`)
        embedding_dim (int): :math:`d`. (default: :obj:`64`)
        num_layers (int): LightGCN layers. (default: :obj:`2`)
        lr (float): Adam learning rate. (default: :obj:`0.005`)
        weight_decay (float): BPR L2 coefficient :math:`\lambda`. (default: :obj:`1e-4`)
        epochs (int): maximum epochs. (default: :obj:`100`)
        batch_size (int): BPR triples per step. (default: :obj:`2048`)
        eval_every (int): epochs between validation checks. (default: :obj:`5`)
        patience (int, optional): validation checks without improvement before stopping
            (``None``: no early stopping). (default: :obj:`3`)
        seed (int): (default: :obj:`0`)
    """

    guarantee = Guarantee.EXACT

    def __init__(self, model: str = "bpr", embedding_dim: int = 64, num_layers: int = 2,
                 lr: float = 0.005, weight_decay: float = 1e-4, epochs: int = 100,
                 batch_size: int = 2048, eval_every: int = 5, patience: int | None = 3,
                 seed: int = 0) -> None:
        self.model = model
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.eval_every = eval_every
        self.patience = patience
        self.seed = seed

    def _spec(self, data: Data) -> dict[str, Any]:
        return {"model": self.model, "num_users": int(data.num_users), "num_items": int(data.num_items),
                "dim": self.embedding_dim, "num_layers": self.num_layers, "seed": int(self.seed),
                "train": split_pairs(data, "train"), "val": split_pairs(data, "val"),
                "config": _train_config(self)}

    def _fit(self, data: Data) -> None:
        out = train_rec_shard_job(self._spec(data))
        self._load(out["state"], data)
        self.train_info_ = out["info"]

    def _load(self, state: dict[str, Tensor], data: Data) -> None:
        m = build_recommender(self.model, int(data.num_users), int(data.num_items),
                              self.embedding_dim, self.num_layers, self.seed)
        m.load_state_dict(state)
        m.eval()
        self.model_ = m
        self.graph_ = bipartite_graph(split_pairs(data, "train"), int(data.num_users))

    def _embeddings(self) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            ue, ie = self.model_.embeddings(self.graph_)
        return ue.detach(), ie.detach()

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        out = train_rec_shard_job(self._spec(retained))
        self._load(out["state"], retained)
        self.train_info_ = out["info"]
        report.breakdown["retrain"] = time.perf_counter() - start

    def _get_state(self) -> dict[str, Any]:
        return {"model": {k: v.clone() for k, v in self.model_.state_dict().items()}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._load(state["model"], self.data_)


@register_method("fed-retrain", "federated-retrain")
class FederatedRetrain(FedLU):
    """Exact reference: federated training from scratch on the retained triples, with
    FedLU's learning procedure and hyper-parameters (the paper's retraining baseline).
    Takes the arguments of :class:`FedLU` (the unlearning ones are unused)."""

    guarantee = Guarantee.EXACT

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        start = time.perf_counter()
        state = self._train_federated(retained)
        report.breakdown["retrain"] = time.perf_counter() - start
        report.affected["triples"] = len(request)
        report.diagnostics["rounds"] = int(state["rounds"])
        self._commit(state)

    def reference(self) -> FederatedRetrain:
        return self.clone()
