"""Recommendation unlearning: interaction data, requests, RecEraser and its retrain baseline."""

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
from graphforget.recommendation.receraser import AttentionAggregator, RecEraser, RecommendationRetrain

__all__ = ["InteractionRequest", "UserRequest", "interaction_data", "load_interactions",
           "sample_interactions", "sample_users", "split_pairs", "ranking_metrics",
           "MatrixFactorization", "LightGCNRecommender", "train_bpr", "capacity_assign",
           "capacity_kmeans", "receraser_partition", "RecEraser", "RecommendationRetrain",
           "AttentionAggregator"]
