"""The ``recommendation`` benchmark task: interaction and user requests, Recall@20."""

from __future__ import annotations

from typing import Any

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.errors import GraphForgetError
from graphforget.recommendation._data import load_interactions, sample_interactions, sample_users, split_pairs
from graphforget.recommendation._metrics import ranking_metrics
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Task, Unlearner

__all__ = ["RecommendationTask"]


class RecommendationTask(BenchTask):
    """Top-K recommendation on MovieLens-100K or Gowalla.

    ``--request interaction`` forgets ``--ratio`` of the training interactions,
    ``--request user`` forgets ``--ratio`` of the users (all their interactions).
    Utility is full-ranking Recall@20 on the retained test interactions; records add
    NDCG@20 of the original, unlearned and retrained models.
    """

    name = "recommendation"
    task = Task.RECOMMENDATION
    utility_metric = "recall@20"
    request_kinds = ("interaction", "user")
    default_model = "bpr"
    default_dataset = "movielens100k"
    retrain_method = "recommendation-retrain"

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Any:
        return load_interactions(dataset, root, split, seed)

    def sample_request(self, data: Any, kind: str, ratio: float, seed: int) -> ForgetRequest:
        if kind == "interaction":
            return sample_interactions(data, ratio=ratio, seed=seed)
        if kind == "user":
            return sample_users(data, ratio=ratio, seed=seed)
        raise GraphForgetError(f"the recommendation task serves interaction or user requests, not {kind!r}")

    def utility(self, unlearner: Unlearner) -> float:
        return unlearner.score(mask="test")

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Any, request: ForgetRequest) -> dict[str, Any]:
        nu = int(data.num_users)
        retained = unlearner.inference_data()
        known, test = split_pairs(retained, "train"), split_pairs(retained, "test")
        out = {"ndcg@20_original": ranking_metrics(original[:nu], original[nu:], known, test,
                                                   ks=(20,))["ndcg@20"]}
        for name, model in (("unlearned", unlearner), ("retrain", reference)):
            out[f"ndcg@20_{name}"] = model.evaluate("test", ks=(20,))["ndcg@20"]
        return out

    fidelity_unit = "test user (softmax over all item scores), at most 1000 users"
    fidelity_users = 1000

    def fidelity_outputs(self, model: Unlearner, query: Any, request: ForgetRequest) -> tuple[Any, Any]:
        """A user's predictive distribution is the softmax of its scores over every item
        (the inner products the full ranking sorts). Evaluation units: users with retained
        test interactions (at most :attr:`fidelity_users`, evenly spaced by id); forgotten
        items: the users of the request (its users, or the users of its interactions)."""
        import torch

        data = model.inference_data(query)
        nu = int(data.num_users)
        z = model.predict_logits(query)
        users, items = z[:nu], z[nu:]
        test_users = torch.unique(split_pairs(data, "test")[0])
        if test_users.numel() > self.fidelity_users:
            pick = torch.linspace(0, test_users.numel() - 1, self.fidelity_users).round().long()
            test_users = test_users[pick]
        ids = getattr(request, "user_ids", None)
        if ids is None:
            pairs = getattr(request, "pairs", None)
            ids = pairs[0] if pairs is not None else torch.empty(0, dtype=torch.long)
        gone = torch.unique(ids)[: self.fidelity_users]
        return users[test_users] @ items.T, users[gone] @ items.T

    def distance_mask(self, unlearner: Unlearner) -> Any:
        return None


register_task(RecommendationTask())
