"""Datasets: loading (with data-root resolution), splits and synthetic graphs."""

from graphforget.data._datasets import (
    SYNTHETIC_PRESETS,
    DatasetInfo,
    apply_split,
    dataset_names,
    load_dataset,
    register_dataset,
    split_masks,
)
from graphforget.data._ogb import OGBEvaluator, utility_evaluator
from graphforget.data._root import cache_root, data_root, dataset_dir
from graphforget.data._synthetic import csbm, dcsbm, parse_synthetic, synthetic_graph, undirected_edges

__all__ = [
    "load_dataset", "dataset_names", "register_dataset", "apply_split", "split_masks", "DatasetInfo",
    "data_root", "cache_root", "dataset_dir", "csbm", "dcsbm", "synthetic_graph", "parse_synthetic",
    "undirected_edges", "SYNTHETIC_PRESETS", "OGBEvaluator", "utility_evaluator",
]

from graphforget.data import tabular as _tabular  # noqa: E402,F401  (registers tabular sets)
