"""Exact unlearning by sharding: SISA, GraphEraser and their aggregators."""

from graphforget.exact._aggregators import (
    Aggregator,
    LearnedAggregator,
    MajorityAggregator,
    MeanAggregator,
    MeanLogAggregator,
    aggregator_names,
    make_aggregator,
)
from graphforget.exact._sharded import SISA, GraphEraser, ShardedUnlearner, shard_seed, train_shard_job
from graphforget.exact.guide import GUIDE, SimilarityAggregator

__all__ = ["GraphEraser", "SISA", "ShardedUnlearner", "shard_seed", "train_shard_job",
           "Aggregator", "MeanAggregator", "MeanLogAggregator", "MajorityAggregator",
           "LearnedAggregator", "make_aggregator", "aggregator_names", "GUIDE", "SimilarityAggregator"]
