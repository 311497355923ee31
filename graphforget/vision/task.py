r"""The ``vision`` benchmark task.

``graphforget bench --task vision --dataset digits|mnist --model mlp|cnn|resnet18
--request sample|class --method ...``:

* ``--request sample`` forgets ``--ratio`` of the training images at random;
  ``--request class`` forgets every training image of class ``seed mod C`` (``--ratio``
  is ignored then);
* utility is the test accuracy on the classes that still have training data (for a
  random request every class; for a class request the forgotten class's test images are
  left out, as in SalUn's class-wise protocol);
* records add the protocol of :mod:`graphforget.metrics.forgetting`:
  ``forget_accuracy_{unlearned,retrain}``, ``retain_accuracy_{unlearned,retrain}``,
  ``test_accuracy_{unlearned,retrain}``, ``mia_efficacy_{unlearned,retrain}``,
  ``average_gap``, ``kl_forget``, ``kl_test``, ``agreement_forget``, ``agreement_test``;
* ``--method retrain`` runs :class:`~graphforget.vision.VisionRetrain`, and
  ``--method gradient-ascent`` runs :class:`~graphforget.vision.VisionGradientAscent`
  (the graph tasks' ``gradient-ascent`` is another class; :attr:`method_variants` maps
  the name).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch_geometric.data import Data

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.errors import GraphForgetError
from graphforget.metrics.forgetting import evaluate_forgetting
from graphforget.requests import ForgetRequest, sample_samples
from graphforget.unlearner import Task, Unlearner
from graphforget.vision.data import load_vision, retained_classes, sample_class_request

__all__ = ["VisionTask", "test_mask_of_retained_classes"]


@functools.lru_cache(maxsize=4)
def _load(dataset: str, root: str | None, split: str | None, seed: int) -> Data:
    return load_vision(dataset, root, split, seed)


def test_mask_of_retained_classes(data: Data) -> torch.Tensor:
    """Test rows whose class still has training samples in ``data``."""
    return data.test_mask & torch.isin(data.y, retained_classes(data))


def _logits_on(unlearner: Unlearner, x: torch.Tensor) -> torch.Tensor:
    fn = getattr(unlearner, "logits_on", None)
    if fn is None:
        raise GraphForgetError(f"{type(unlearner).__name__} cannot be queried on raw images")
    return fn(x)


class VisionTask(BenchTask):
    """Image classification with sample- and class-forgetting; utility is test accuracy."""

    name = "vision"
    task = Task.VISION
    utility_metric = "accuracy"
    request_kinds = ("sample", "class")
    default_model = "mlp"
    default_dataset = "digits"
    retrain_method = "vision-retrain"
    fidelity_unit = "test image (softmax over classes)"
    method_variants = {"gradient-ascent": "vision-gradient-ascent"}

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Data:
        return _load(dataset, root, split, seed)

    def sample_request(self, data: Data, kind: str, ratio: float, seed: int) -> ForgetRequest:
        if kind == "sample":
            return sample_samples(data, ratio=ratio, seed=seed)
        if kind == "class":
            return sample_class_request(data, seed=seed)
        raise GraphForgetError(f"unknown request {kind!r} for task vision; choose sample or class")

    def utility(self, unlearner: Unlearner) -> float:
        return unlearner.score(mask=test_mask_of_retained_classes(unlearner.inference_data()))

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Any, request: ForgetRequest) -> dict[str, Any]:
        ids = request.node_ids  # type: ignore[attr-defined]
        forget = torch.zeros(data.num_nodes, dtype=torch.bool)
        forget[ids] = True
        retained = request.apply(data)
        retain = retained.train_mask
        test = test_mask_of_retained_classes(retained)
        fields = evaluate_forgetting(_logits_on(unlearner, data.x), _logits_on(reference, data.x),
                                     data.y, forget, retain, test, seed=0)
        out = {k: v for k, v in fields.items() if not k.startswith("unlearn_accuracy")}
        out["forget_class"] = int(data.y[ids[0]]) if len(request) and \
            bool((data.y[ids] == data.y[ids[0]]).all()) and not bool(retain[data.y == data.y[ids[0]]].any()) \
            else None
        return out


register_task(VisionTask())
