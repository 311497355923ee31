"""Recommendation unlearning: interaction data, requests, recommenders, metrics, the task's
base unlearner and the ``recommendation`` bench task. RecEraser (:mod:`graphforget.exact.receraser`)
and the retrain baseline (:mod:`graphforget.exact.retrain`) are re-exported on first use."""

from graphforget._moved import lazy_exports
from graphforget.recommendation import _task as _task  # noqa: F401  (registers the task)
from graphforget.recommendation._data import (
    InteractionRequest,
    UserRequest,
    interaction_data,
    load_interactions,
    sample_interactions,
    sample_users,
    split_pairs,
)
from graphforget.recommendation._metrics import ranking_metrics
from graphforget.recommendation._models import LightGCNRecommender, MatrixFactorization, train_bpr
from graphforget.recommendation._partition import capacity_assign, capacity_kmeans, receraser_partition
from graphforget.recommendation.base import RecommenderUnlearner, train_rec_shard_job

_METHODS = {"RecEraser": "graphforget.exact.receraser",
            "AttentionAggregator": "graphforget.exact.receraser",
            "RecommendationRetrain": "graphforget.exact.retrain"}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = ["InteractionRequest", "UserRequest", "interaction_data", "load_interactions",
           "sample_interactions", "sample_users", "split_pairs", "ranking_metrics",
           "MatrixFactorization", "LightGCNRecommender", "train_bpr", "capacity_assign",
           "capacity_kmeans", "receraser_partition", "RecommenderUnlearner", "train_rec_shard_job",
           *_METHODS]
