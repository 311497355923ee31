"""The ``graph`` benchmark task: graph classification on TU datasets."""

from __future__ import annotations

import functools
from typing import Any

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.graph._dataset import GraphDataset
from graphforget.graph._requests import sample_graph_request
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Task, Unlearner

__all__ = ["GraphTask"]


@functools.lru_cache(maxsize=8)
def _load(dataset: str, root: str | None, split: str | None, seed: int) -> GraphDataset:
    from graphforget.data import load_dataset
    from graphforget.errors import GraphForgetError

    data = load_dataset(dataset, root=root, split=split, seed=seed)
    if not isinstance(data, GraphDataset):
        raise GraphForgetError(f"dataset {dataset!r} is not a graph-classification dataset; "
                               "choose mutag, proteins, imdb-binary or imdb-multi")
    return data


class GraphTask(BenchTask):
    """Graph classification; utility is test accuracy over graphs.

    Requests: ``graph`` (``ratio`` of the training graphs), ``graph-node`` (one node from
    each of ``ratio`` of the training graphs, Pan et al.) and ``graph-feature`` (``ratio``
    of the training graphs, 10% of their nodes' features zeroed; OpenGU uses 0.5).
    """

    name = "graph"
    task = Task.GRAPH
    utility_metric = "accuracy"
    request_kinds = ("graph", "graph-node", "graph-feature")
    default_model = "gin"
    default_dataset = "mutag"
    retrain_method = "graph-retrain"
    fidelity_unit = "test graph (softmax over classes)"

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> GraphDataset:
        return _load(dataset, root, split, seed)

    def sample_request(self, data: GraphDataset, kind: str, ratio: float, seed: int) -> ForgetRequest:
        return sample_graph_request(kind, data, ratio=ratio, seed=seed)

    def utility(self, unlearner: Unlearner) -> float:
        return unlearner.score(mask="test_mask")

    def distance_mask(self, unlearner: Unlearner) -> Any:
        return unlearner.inference_data().test_mask


register_task(GraphTask())
