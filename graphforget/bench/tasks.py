"""Benchmark tasks: how a cell loads data, samples a request and measures utility.

A task is registered by name (``node`` by default; later issues add ``link``,
``graph``, ``tabular``, ...). Adding a task is one subclass of :class:`BenchTask`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from torch_geometric.data import Data

from graphforget._registry import normalize, resolve
from graphforget.requests import ForgetRequest, sample_request
from graphforget.unlearner import Task, Unlearner

__all__ = ["BenchTask", "NodeTask", "forgotten_rows", "register_task", "resolve_task", "task_names"]


class BenchTask:
    """One kind of benchmark cell.

    Attributes:
        name: CLI name (``--task``).
        task: the :class:`~graphforget.Task` that methods must declare.
        retrain_method: registered name of the task's retrain-from-scratch unlearner (for
            ``--method retrain``); :attr:`retrain_class` resolves it.
        utility_metric: the ``utility_metric`` field of records.
        request_kinds: ``--request`` values.
        default_model / default_dataset: CLI defaults.
    """

    name: ClassVar[str] = "abstract"
    task: ClassVar[Task] = Task.NODE
    utility_metric: ClassVar[str] = "micro_f1"
    request_kinds: ClassVar[tuple[str, ...]] = ()
    default_model: ClassVar[str] = "gcn"
    default_dataset: ClassVar[str] = "synthetic"
    #: the exact reference of this task, used when ``--method retrain`` is asked for a
    #: task that :class:`~graphforget.Retrain` (node classification) does not serve.
    retrain_method: ClassVar[str | None] = None
    #: task-specific implementations of a method name registered for another task:
    #: ``{"gradient-ascent": "vision-gradient-ascent"}`` makes ``--method gradient-ascent``
    #: run that class on this task when the registered class does not serve it.
    method_variants: ClassVar[dict[str, str]] = {}

    @property
    def retrain_class(self) -> type | None:
        """The class registered as :attr:`retrain_method` (``None`` when unset)."""
        from graphforget._registry import resolve_method

        return None if self.retrain_method is None else resolve_method(self.retrain_method)

    def resolve_method(self, name: str) -> type:
        """The class ``--method name`` runs on this task: a :attr:`method_variants` entry
        when the registered class of that name does not serve this task (or the name is
        registered by no module), else the registered class."""
        from graphforget._registry import resolve_method
        from graphforget.errors import UnknownNameError

        variants = {normalize(k): v for k, v in self.method_variants.items()}
        variant = variants.get(normalize(name))
        try:
            cls = resolve_method(name)
        except UnknownNameError:
            if variant is None:
                raise
            return resolve_method(variant)
        if variant is not None and self.task not in getattr(cls, "tasks", ()):
            return resolve_method(variant)
        return cls

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Any:
        raise NotImplementedError

    def sample_request(self, data: Any, kind: str, ratio: float, seed: int) -> ForgetRequest:
        raise NotImplementedError

    def utility(self, unlearner: Unlearner) -> float:
        raise NotImplementedError

    def metric_name(self, data: Any) -> str:
        """The ``utility_metric`` of records on ``data``: the metric of the dataset's own
        evaluator when it has one for this task (OGB: ``ogb_acc``, ``hits@50``, see
        :func:`graphforget.data.utility_evaluator`), else :attr:`utility_metric`."""
        evaluator = self.evaluator(data)
        return evaluator.metric if evaluator is not None else self.utility_metric

    def evaluator(self, data: Any) -> Any:
        """The dataset's own evaluator for this task (an :class:`~graphforget.data.OGBEvaluator`),
        or None: :meth:`utility` then uses it instead of the task's default metric."""
        from graphforget.data import utility_evaluator

        evaluator = utility_evaluator(data)
        return evaluator if evaluator is not None and evaluator.serves(self.task) else None

    def retained(self, data: Any, request: ForgetRequest) -> Any:
        return request.apply(data)

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Any, request: ForgetRequest) -> dict[str, Any]:
        """Task-specific record fields (e.g. ``df_auc_unlearned`` for link prediction)."""
        return {}

    def original_fields(self, unlearner: Unlearner, data: Any) -> dict[str, Any]:
        """Task-specific record fields of the original model, read after the fit and before
        the request is served (e.g. ``test_hits@10_original`` for knowledge graphs)."""
        return {}

    def distance_mask(self, unlearner: Unlearner) -> Any:
        """Rows compared by the output-KL fallback distance."""
        return unlearner.inference_data().test_mask

    #: the unit the output distances (``output_distance_*``) average over, recorded as
    #: ``output_distance_unit``; ``None`` when the task has no predictive distribution to
    #: compare (:attr:`fidelity_note` says why).
    fidelity_unit: ClassVar[str | None] = "test row (softmax over classes)"
    fidelity_note: ClassVar[str | None] = None

    def fidelity_outputs(self, model: Unlearner, query: Any, request: ForgetRequest) -> tuple[Any, Any] | None:
        """``(eval_logits, forget_logits)``: logits whose softmax rows are ``model``'s
        predictive distributions over the task's evaluation units and over the forgotten
        items, with ``model`` queried on ``query`` (``None``: its own inference data; the
        runner passes the retained data for the original model so that all three models
        see one input). ``None`` when the task has none (:attr:`fidelity_note`).

        Default: rows of :meth:`~graphforget.Unlearner.predict_logits`; evaluation units
        are the ``test_mask`` rows, forgotten items the request's nodes, samples or graphs
        (for edges, the endpoints)."""
        logits = model.predict_logits(query)
        inf = model.inference_data(query)
        return logits[inf.test_mask], logits[forgotten_rows(request)]


def forgotten_rows(request: ForgetRequest) -> Any:
    """Row ids a request names: the endpoints of forgotten edges, else its graph ids
    (graph-level requests), else its node (sample) ids; empty when it names none."""
    import torch

    edges = getattr(request, "edge_index", None)
    if edges is not None:
        return torch.unique(edges.reshape(-1))
    for name in ("graph_ids", "node_ids"):
        ids = getattr(request, name, None)
        if ids is not None:
            return torch.unique(ids)
    return torch.empty(0, dtype=torch.long)


@functools.lru_cache(maxsize=8)
def _load_node(dataset: str, root: str | None, split: str | None, seed: int) -> Data:
    from graphforget.data import load_dataset

    return load_dataset(dataset, root=root, split=split, seed=seed)


class NodeTask(BenchTask):
    """Transductive node classification; utility is micro-F1 on the test mask (the OGB
    Evaluator's accuracy, ``ogb_acc``, on OGB datasets)."""

    name = "node"
    task = Task.NODE
    utility_metric = "micro_f1"
    fidelity_unit = "test node (softmax over classes)"
    request_kinds = ("node", "edge", "feature")

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Data:
        return _load_node(dataset, root, split, seed)

    def sample_request(self, data: Data, kind: str, ratio: float, seed: int) -> ForgetRequest:
        return sample_request(kind, data, ratio=ratio, seed=seed)

    def utility(self, unlearner: Unlearner) -> float:
        data = unlearner.inference_data()
        evaluator = self.evaluator(data)
        if evaluator is None:
            return unlearner.score(mask="test_mask")
        mask = data.test_mask
        return evaluator.node_metric(data.y[mask], unlearner.predict()[mask])


_TASKS: dict[str, BenchTask] = {}


def register_task(task: BenchTask) -> BenchTask:
    _TASKS[normalize(task.name)] = task
    return task


def resolve_task(name: str) -> BenchTask:
    from graphforget._registry import discover

    discover()
    return resolve(name, _TASKS, "task")


def task_names() -> list[str]:
    from graphforget._registry import discover

    discover()
    return sorted(t.name for t in _TASKS.values())


register_task(NodeTask())
