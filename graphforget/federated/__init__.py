"""Federated knowledge-graph embedding: data, clients, scorers and the ``kg`` bench task.
FedLU (:mod:`graphforget.approx.fedlu`) and federated retraining
(:mod:`graphforget.exact.retrain`) are re-exported on first use."""

from graphforget._moved import lazy_exports
from graphforget.federated._kg import (
    TripleRequest,
    build_federated_kg,
    load_kg,
    random_relation_split,
    relation_cooccurrence,
    sample_triples,
    spectral_relation_split,
    split_client_triples,
    synthetic_kg,
)
from graphforget.federated._kge import KGE_MODELS, KGEScorer, filter_index, filtered_ranks, rank_metrics
from graphforget.federated._task import KGTask  # noqa: E402  (registers the "kg" bench task)

_METHODS = {"FedLU": "graphforget.approx.fedlu", "FederatedRetrain": "graphforget.exact.retrain"}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = [
    *_METHODS, "TripleRequest", "KGTask", "KGEScorer", "KGE_MODELS",
    "load_kg", "synthetic_kg", "build_federated_kg", "sample_triples", "relation_cooccurrence",
    "spectral_relation_split", "random_relation_split", "split_client_triples",
    "filter_index", "filtered_ranks", "rank_metrics",
]
