"""Datasets: loading (with data-root resolution), splits and synthetic graphs."""

from graphforget.data._datasets import (
    DatasetInfo,
    apply_split,
    dataset_names,
    load_dataset,
    register_dataset,
)
from graphforget.data._root import cache_root, data_root, dataset_dir
from graphforget.data._synthetic import csbm, parse_synthetic

__all__ = [
    "load_dataset", "dataset_names", "register_dataset", "apply_split", "DatasetInfo",
    "data_root", "cache_root", "dataset_dir", "csbm", "parse_synthetic",
]

from graphforget.data import tabular as _tabular  # noqa: E402,F401  (registers tabular sets)
from graphforget.graph import _dataset as _graph_datasets  # noqa: E402,F401  (registers TU sets)
