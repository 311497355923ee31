"""Federated knowledge-graph embedding learning and unlearning (FedLU)."""

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
from graphforget.federated.fedlu import FederatedRetrain, FedLU

__all__ = [
    "FedLU", "FederatedRetrain", "TripleRequest", "KGTask", "KGEScorer", "KGE_MODELS",
    "load_kg", "synthetic_kg", "build_federated_kg", "sample_triples", "relation_cooccurrence",
    "spectral_relation_split", "random_relation_split", "split_client_triples",
    "filter_index", "filtered_ranks", "rank_metrics",
]
