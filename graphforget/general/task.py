"""The ``tabular`` benchmark task: edge-less ``Data``, sample requests, test accuracy."""

from __future__ import annotations

import functools
from typing import Any

from torch_geometric.data import Data

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.requests import ForgetRequest, sample_samples
from graphforget.unlearner import Task, Unlearner

__all__ = ["TabularTask"]


@functools.lru_cache(maxsize=4)
def _load(dataset: str, root: str | None, split: str | None, seed: int) -> Data:
    from graphforget.data import load_dataset

    return load_dataset(dataset, root=root, split=split, seed=seed)


class TabularTask(BenchTask):
    """Classification of rows (``adult``, ``mnist``, ``digits``, ``breast-cancer``, ...):
    a ``sample`` request forgets random training rows; utility is test accuracy.
    ``--method retrain`` runs :class:`~graphforget.general.TabularRetrain`."""

    name = "tabular"
    task = Task.TABULAR
    utility_metric = "accuracy"
    request_kinds = ("sample",)
    default_model = "logreg"
    default_dataset = "digits"
    retrain_method = "tabular-retrain"
    fidelity_unit = "test row (softmax over classes)"

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Data:
        return _load(dataset, root, split, seed)

    def sample_request(self, data: Data, kind: str, ratio: float, seed: int) -> ForgetRequest:
        return sample_samples(data, ratio=ratio, seed=seed)

    def utility(self, unlearner: Unlearner) -> float:
        return unlearner.score(mask="test_mask")

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Any, request: ForgetRequest) -> dict[str, Any]:
        return {}


register_task(TabularTask())
