"""Graph classification: TU datasets, graph-level forget requests, GNN classifiers and
the ``graph`` benchmark task (GST certified unlearning lives in
:mod:`graphforget.certified.gst`, the retrain reference in :mod:`graphforget.exact.retrain`)."""

from graphforget._moved import lazy_exports
from graphforget.graph._dataset import (
    TU_DATASETS,
    GraphDataset,
    graph_split,
    load_tu_dataset,
    synthetic_graphs,
)
from graphforget.graph._requests import (
    GraphFeatureRequest,
    GraphNodeRequest,
    GraphRequest,
    sample_graph_features,
    sample_graph_nodes,
    sample_graph_request,
    sample_graphs,
)
from graphforget.graph._task import GraphTask
from graphforget.graph._unlearner import GraphClassifier, GraphUnlearner, pool_graphs

_METHODS = {"GraphRetrain": "graphforget.exact.retrain"}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = [
    "GraphDataset", "load_tu_dataset", "graph_split", "synthetic_graphs", "TU_DATASETS",
    "GraphRequest", "GraphNodeRequest", "GraphFeatureRequest",
    "sample_graphs", "sample_graph_nodes", "sample_graph_features", "sample_graph_request",
    "GraphUnlearner", "GraphClassifier", *_METHODS, "pool_graphs", "GraphTask",
]
