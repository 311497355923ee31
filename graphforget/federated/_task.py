"""The ``kg`` benchmark task: federated KG completion with triple requests."""

from __future__ import annotations

from typing import Any

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.federated._kg import TripleRequest, load_kg, sample_triples
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Task, Unlearner

__all__ = ["KGTask"]


class KGTask(BenchTask):
    """Federated KG completion (FedLU's setting).

    ``--split`` names the client partition: ``C<k>`` (spectral clustering of relation
    co-occurrence, default ``C3``; ``--clients k`` selects ``C<k>``) or ``R<k>`` (random
    relation split). ``--ratio`` is the fraction of *each client's* training triples
    forgotten (the paper uses 0.01). Utility is the filtered MRR on the retained test
    triples; records add the filtered MRR on the forgotten triples.
    """

    name = "kg"
    task = Task.KG
    utility_metric = "mrr"
    request_kinds = ("triple",)
    default_model = "transe"
    default_dataset = "fb15k-237"
    retrain_method = "fed-retrain"

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Any:
        return load_kg(dataset, root, split, seed)

    def sample_request(self, data: Any, kind: str, ratio: float, seed: int) -> ForgetRequest:
        if kind != "triple":
            raise GraphForgetError(f"the kg task serves triple requests, not {kind!r}")
        return sample_triples(data, ratio=ratio, seed=seed)

    def utility(self, unlearner: Unlearner) -> float:
        return unlearner.score(mask="test")

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Any, request: ForgetRequest) -> dict[str, Any]:
        if not isinstance(request, TripleRequest):
            raise UnsupportedRequestError(f"the kg task measures triple requests, got a {request.kind} request")
        ids = request.resolve(data)
        out: dict[str, Any] = {"clients": int(data.num_clients)}
        for name, model in (("unlearned", unlearner), ("retrain", reference)):
            metrics = model.evaluate(ids)
            out[f"forget_mrr_{name}"] = metrics["mrr"]
            out[f"forget_hits@10_{name}"] = metrics["hits@10"]
            test = model.evaluate("test")
            for k in ("hits@1", "hits@3", "hits@10"):
                out[f"test_{k}_{name}"] = test[k]
        return out

    def original_fields(self, unlearner: Unlearner, data: Any) -> dict[str, Any]:
        """The learned model's test Hits@1/3/10 (papers report the model before unlearning)."""
        test = unlearner.evaluate("test")
        return {f"test_{k}_original": test[k] for k in ("hits@1", "hits@3", "hits@10")}

    fidelity_unit = None
    fidelity_note = ("kg: not computed; a triple's predictive distribution would be a softmax over "
                     "every candidate entity per client model, which the federated unlearners do "
                     "not expose as one output")

    def fidelity_outputs(self, model: Unlearner, query: Any, request: ForgetRequest) -> None:
        return None

    def distance_mask(self, unlearner: Unlearner) -> Any:
        return None


register_task(KGTask())
