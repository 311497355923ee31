"""Shared base for unlearners that train one GNN backbone for node classification."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.data._validate import validate_data
from graphforget.errors import GraphForgetError
from graphforget.models import build_model
from graphforget.training import TrainConfig, forward, num_classes, seeded, train_node_classifier
from graphforget.unlearner import Unlearner

__all__ = ["GNNUnlearner"]


class GNNUnlearner(Unlearner):
    """An unlearner around one backbone trained by :func:`~graphforget.training.train_node_classifier`.

    Args:
        model (str): backbone name (:func:`graphforget.models.model_names`). (default: ``"gcn"``)
        hidden_channels (int): hidden size. (default: :obj:`64`)
        num_layers (int): message-passing layers (``K`` for SGC). (default: :obj:`2`)
        dropout (float): dropout. (default: :obj:`0.5`)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float): L2 coefficient. (default: :obj:`5e-4`)
        epochs (int): training epochs. (default: :obj:`200`)
        patience (int, optional): early stopping on validation accuracy. (default: :obj:`None`)
        seed (int): seeds initialisation and dropout. (default: :obj:`0`)
        model_kwargs (dict, optional): extra backbone arguments (``heads``, ``K``, ...).
    """

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.patience = patience
        self.seed = seed
        self.model_kwargs = model_kwargs

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay,
                           patience=self.patience)

    def _check_params(self) -> None:
        """Rejects out-of-range hyper-parameters before any training (scikit-learn
        validates in ``fit`` too), so they fail as a ``GraphForgetError`` naming the value
        instead of a torch error deep in the backbone."""
        def integer(name: str, low: int | None) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
                bound = "" if low is None else f" >= {low}"
                raise GraphForgetError(f"{name} must be an integer{bound}, got {value!r}")

        integer("hidden_channels", 1)
        # SGC/GPR read num_layers as their propagation depth K (0 = no propagation);
        # every other backbone needs at least one layer
        integer("num_layers", 0 if str(self.model).lower() in ("sgc", "gpr") else 1)
        integer("epochs", 0)
        integer("seed", None)
        if self.patience is not None:
            integer("patience", 0)
        for name in ("dropout", "lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise GraphForgetError(f"{name} must be a number, got {value!r}")
        if not 0 < self.lr <= 1e4:
            raise GraphForgetError(f"lr must lie in (0, 1e4], got {self.lr!r}")
        if not 0 <= self.weight_decay <= 1e4:
            raise GraphForgetError(f"weight_decay must lie in [0, 1e4], got {self.weight_decay!r}")
        if not 0 <= self.dropout < 1:
            raise GraphForgetError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if self.model_kwargs is not None and not isinstance(self.model_kwargs, dict):
            raise GraphForgetError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        for key, low in (("heads", 1), ("K", 0)):
            value = (self.model_kwargs or {}).get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise GraphForgetError(f"model_kwargs[{key!r}] must be an integer >= {low}, got {value!r}")

    def _check_data(self, data: Data) -> None:
        self._check_params()
        super()._check_data(data)
        for key in ("x", "y", "edge_index", "train_mask"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(f"{self.method_name} needs data.{key}")
        validate_data(data, f"{self.method_name}.fit()")

    def _build_model(self) -> torch.nn.Module:
        with seeded(self.seed):
            return build_model(self.model, self.in_channels_, self.num_classes_,
                               hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                               dropout=self.dropout, **(self.model_kwargs or {}))

    def _train_fresh(self, data: Data) -> torch.nn.Module:
        """A fresh backbone (seeded init) trained on ``data``: the retrain primitive."""
        model = self._build_model()
        train_node_classifier(model, data, self.train_config, seed=self.seed)
        return model

    def _fit(self, data: Data) -> None:
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = num_classes(data)
        self.model_ = self._train_fresh(data)

    def _logits(self, data: Data) -> Tensor:
        self.model_.eval()
        return forward(self.model_, data)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state.update(in_channels=self.in_channels_, num_classes=self.num_classes_)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        self.in_channels_ = int(state["in_channels"])
        self.num_classes_ = int(state["num_classes"])
        super()._set_state(state)
