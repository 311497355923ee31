r"""The recommendation task's base unlearner: data checks, full-ranking evaluation,
scoring and the picklable shard-training job shared by RecEraser and the retrain
reference."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.recommendation._data import (
    InteractionRequest,
    UserRequest,
    check_interaction_data,
    split_pairs,
)
from graphforget.recommendation._metrics import ranking_metrics
from graphforget.recommendation._models import (
    RECOMMENDER_MODELS,
    build_recommender,
    train_bpr,
)
from graphforget.unlearner import Task, Unlearner

__all__ = ["RecommenderUnlearner", "train_rec_shard_job"]


def _train_config(u: Any, epochs: int | None = None, lr: float | None = None) -> dict[str, Any]:
    return {"epochs": int(u.epochs if epochs is None else epochs),
            "lr": float(u.lr if lr is None else lr), "weight_decay": float(u.weight_decay),
            "batch_size": int(u.batch_size), "eval_every": int(u.eval_every),
            "patience": u.patience}


def train_rec_shard_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Trains one recommender from scratch on ``spec["train"]`` (``[2, m]`` pairs) with
    early stopping on ``spec["val"]`` (picklable, runs in any executor)."""
    model = build_recommender(spec["model"], spec["num_users"], spec["num_items"], spec["dim"],
                              spec["num_layers"], spec["seed"])
    info = train_bpr(model, spec["train"], spec["num_users"], spec["num_items"], spec["config"],
                     spec["seed"], val=spec["val"])
    return {"state": {k: v.clone() for k, v in model.state_dict().items()}, "info": info}


class _RecommenderBase(Unlearner):
    """Shared data checks, evaluation and scoring of the recommendation unlearners."""

    tasks = (Task.RECOMMENDATION,)
    supported_requests = (InteractionRequest, UserRequest)
    supported_models = RECOMMENDER_MODELS

    def _check_data(self, data: Data) -> None:
        check_interaction_data(data)
        super()._check_data(data)
        if self.model not in RECOMMENDER_MODELS:
            raise GraphForgetError(f"model must be one of {RECOMMENDER_MODELS}, got {self.model!r}")
        for name in ("embedding_dim", "epochs", "batch_size", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GraphForgetError(f"{name} must be a positive integer, got {value!r}")

    def _embeddings(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def reference(self) -> Unlearner:
        """A fresh, unfitted clone: fitted on the retained interactions it is the exact
        reference."""
        return self.clone()

    def _logits(self, data: Data) -> Tensor:
        """The final user and item embeddings stacked (``[U + I, d]``): scores are dot
        products, so this is what every downstream metric reads."""
        ue, ie = self._embeddings()
        return torch.cat([ue, ie])

    def evaluate(self, split: str = "test", ks: tuple[int, ...] = (10, 20, 50)) -> dict[str, float]:
        """Full-ranking Recall@K / NDCG@K on ``split`` (training items masked)."""
        self._check_fitted()
        ue, ie = self._embeddings()
        data = self.data_
        return ranking_metrics(ue, ie, split_pairs(data, "train"), split_pairs(data, split), ks)

    def score(self, data: Data | None = None, mask: str | Tensor = "test") -> float:
        """Recall@20 on the ``mask`` split (``"test"`` or ``"val"``)."""
        split = mask if isinstance(mask, str) else "test"
        split = split[:-5] if split.endswith("_mask") else split
        return self.evaluate(split, ks=(20,))["recall@20"]


RecommenderUnlearner = _RecommenderBase
