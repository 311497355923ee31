r"""Exact unlearning: after a request the model equals one trained from scratch on the
retained data (same seed, bit for bit on CPU).

One module per method: ``retrain`` (every task's reference), ``grapheraser``, ``sisa``,
``graphrevoker``, ``guide``, ``receraser``, ``cao_yang``, ``dare``, ``q_kmeans``, ``dc_kmeans``,
``projector``. Shared by the
family: ``sharded`` (the sharded-ensemble base, shard jobs), ``_aggregators``, ``kmeans``
(Lloyd and seeding shared by the two k-means methods).

Every name below is importable from this package; each is loaded on first use.
"""

from graphforget._moved import lazy_exports

_EXPORTS = {
    "Aggregator": "graphforget.exact._aggregators",
    "MeanAggregator": "graphforget.exact._aggregators",
    "MeanLogAggregator": "graphforget.exact._aggregators",
    "MajorityAggregator": "graphforget.exact._aggregators",
    "LearnedAggregator": "graphforget.exact._aggregators",
    "make_aggregator": "graphforget.exact._aggregators",
    "aggregator_names": "graphforget.exact._aggregators",
    "register_aggregator": "graphforget.exact._aggregators",
    "CaoYang": "graphforget.exact.cao_yang",
    "DaRE": "graphforget.exact.dare",
    "DaRETree": "graphforget.exact.dare",
    "DCKMeans": "graphforget.exact.dc_kmeans",
    "GraphEraser": "graphforget.exact.grapheraser",
    "GraphRevoker": "graphforget.exact.graphrevoker",
    "ContrastiveAggregator": "graphforget.exact.graphrevoker",
    "ContrastiveAggregatorNet": "graphforget.exact.graphrevoker",
    "GUIDE": "graphforget.exact.guide",
    "SimilarityAggregator": "graphforget.exact.guide",
    "pyramid_match_features": "graphforget.exact.guide",
    "pyramid_match": "graphforget.exact.guide",
    "repaired_shard_graph": "graphforget.exact.guide",
    "train_guide_shard_job": "graphforget.exact.guide",
    "REPAIRS": "graphforget.exact.guide",
    "kmeanspp_race": "graphforget.exact.kmeans",
    "lloyd": "graphforget.exact.kmeans",
    "kmeans_loss": "graphforget.exact.kmeans",
    "Projector": "graphforget.exact.projector",
    "QKMeans": "graphforget.exact.q_kmeans",
    "RecEraser": "graphforget.exact.receraser",
    "AttentionAggregator": "graphforget.exact.receraser",
    "Retrain": "graphforget.exact.retrain",
    "LinkRetrain": "graphforget.exact.retrain",
    "GraphRetrain": "graphforget.exact.retrain",
    "TabularRetrain": "graphforget.exact.retrain",
    "VisionRetrain": "graphforget.exact.retrain",
    "RecommendationRetrain": "graphforget.exact.retrain",
    "FederatedRetrain": "graphforget.exact.retrain",
    "ShardedUnlearner": "graphforget.exact.sharded",
    "SETTINGS": "graphforget.exact.sharded",
    "train_shard_job": "graphforget.exact.sharded",
    "shard_seed": "graphforget.exact.sharded",
    "SISA": "graphforget.exact.sisa",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
