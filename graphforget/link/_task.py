"""The ``link`` benchmark task and the OpenGU edge-unlearning protocol."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch
from torch_geometric.data import Data

from graphforget.bench.tasks import BenchTask, register_task
from graphforget.errors import GraphForgetError
from graphforget.link._metrics import deleted_edges, df_metrics, dt_metrics
from graphforget.link._split import is_link_data, link_split, sample_link_edges
from graphforget.requests import ForgetRequest, sample_features, sample_nodes
from graphforget.unlearner import Task, Unlearner

__all__ = ["LinkTask", "parse_link_split", "load_link_dataset", "opengu_edge_protocol"]


def parse_link_split(split: str | None) -> tuple[float, float]:
    """``"0.85/0.05/0.1"`` (train/val/test) or ``"0.8/0.2"`` (train/test) as
    ``(val_ratio, test_ratio)``; ``None`` is the GNNDelete default 0.9/0.05/0.05."""
    if split is None:
        return 0.05, 0.05
    try:
        parts = [float(p) for p in split.split("/")]
    except ValueError:
        raise GraphForgetError(f"link split must be ratios like '0.8/0.2' or '0.85/0.05/0.1', "
                               f"got {split!r}") from None
    if len(parts) not in (2, 3) or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise GraphForgetError(f"link split must be 2 or 3 non-negative ratios summing to 1, got {split!r}")
    return (0.0, parts[1]) if len(parts) == 2 else (parts[1], parts[2])


@functools.lru_cache(maxsize=8)
def load_link_dataset(dataset: str, root: str | None = None, split: str | None = None,
                      seed: int = 0) -> Data:
    """Loads a node dataset and splits its edges (:func:`~graphforget.link.link_split`);
    a link dataset with an official edge split (``ogbl-collab``) is returned as loaded."""
    from graphforget.data import load_dataset

    val_ratio, test_ratio = parse_link_split(split)
    base = load_dataset(dataset, root=root, split=None if not dataset.startswith("synthetic")
                        else "0.6/0.2/0.2", seed=seed)
    if is_link_data(base):
        if split is not None and split != "official":
            raise GraphForgetError(f"dataset {dataset!r} comes with its official edge split; "
                                   f"drop split={split!r}")
        return base
    out = link_split(base, val_ratio, test_ratio, seed)
    out.dataset_name = getattr(base, "dataset_name", dataset)
    return out


class LinkTask(BenchTask):
    """Link prediction: utility is test AUROC on the retained graph (the OGB Evaluator's
    ``hits@50`` on ``ogbl-collab``); records also carry GNNDelete's :math:`D_f` AUROC of
    the unlearned and the retrained model (``df_auc_unlearned``, ``df_auc_retrain``) and
    the test AUPRC."""

    name = "link"
    task = Task.LINK
    utility_metric = "auc"
    request_kinds = ("edge", "node", "feature")
    default_model = "gcn"
    default_dataset = "synthetic"
    retrain_method = "link-retrain"
    #: ``"all"``, ``"in"`` or ``"out"``: the pool edge requests are drawn from.
    edge_pool = "all"
    df_draws = 500

    def load(self, dataset: str, root: str | None, split: str | None, seed: int) -> Data:
        return load_link_dataset(dataset, root, split, seed)

    def sample_request(self, data: Data, kind: str, ratio: float, seed: int,
                       pool: str | None = None) -> ForgetRequest:
        if kind == "edge":
            return sample_link_edges(data, ratio=ratio, seed=seed, pool=pool or self.edge_pool)
        if kind == "node":
            return sample_nodes(data, ratio=ratio, seed=seed)
        if kind == "feature":
            return sample_features(data, ratio=ratio, seed=seed)
        raise GraphForgetError(f"unknown request {kind!r} for task 'link'; "
                               f"choose one of: {', '.join(self.request_kinds)}")

    def utility(self, unlearner: Unlearner) -> float:
        evaluator = self.evaluator(unlearner.inference_data())
        return dt_metrics(unlearner, evaluator=evaluator)[evaluator.metric if evaluator else "auc"]

    def extra_fields(self, original: Any, unlearner: Unlearner, reference: Unlearner,
                     data: Data, request: ForgetRequest) -> dict[str, Any]:
        gone = deleted_edges(data, unlearner.inference_data())
        out: dict[str, Any] = {"deleted_edges": int(gone.size(1))}
        if gone.size(1):
            out["df_auc_unlearned"] = df_metrics(unlearner, gone, self.df_draws)["auc"]
            out["df_auc_retrain"] = df_metrics(reference, gone, self.df_draws)["auc"]
        else:  # feature requests delete no edge
            out["df_auc_unlearned"] = out["df_auc_retrain"] = math.nan
        out["auprc_unlearned"] = dt_metrics(unlearner)["auprc"]
        out["auprc_retrain"] = dt_metrics(reference)["auprc"]
        return out

    fidelity_unit = "test pair, positive or negative (Bernoulli of the link logit)"

    def fidelity_outputs(self, model: Unlearner, query: Any, request: ForgetRequest) -> tuple[Any, Any]:
        """Each pair's predictive distribution is the Bernoulli of its link probability
        (two-class logits ``[0, s]``). Evaluation units: the test positives and negatives
        whose endpoints are retained (:func:`~graphforget.link.dt_metrics`'s pairs);
        forgotten items: the forgotten edges, or for node and feature requests the test
        pairs touching the request's nodes."""
        data = model.inference_data(query)
        pairs = torch.cat([data.test_pos, data.test_neg], dim=1)
        forgotten = getattr(data, "forgotten_mask", None)
        alive = torch.ones(pairs.size(1), dtype=torch.bool) if forgotten is None else \
            ~(forgotten[pairs[0]] | forgotten[pairs[1]])
        edges = getattr(request, "edge_index", None)
        if edges is not None:
            gone = edges
        else:
            ids = getattr(request, "node_ids", torch.empty(0, dtype=torch.long))
            gone = pairs[:, torch.isin(pairs[0], ids) | torch.isin(pairs[1], ids)]
        scores = model.link_scores(torch.cat([pairs[:, alive], gone], dim=1), query).view(-1)
        two = torch.stack([torch.zeros_like(scores), scores], dim=-1)
        k = int(alive.sum())
        return two[:k], two[k:]

    def distance_mask(self, unlearner: Unlearner) -> Any:
        data = unlearner.inference_data()
        forgotten = getattr(data, "forgotten_mask", None)
        return ~forgotten if forgotten is not None else torch.ones(data.num_nodes, dtype=torch.bool)


register_task(LinkTask())


def opengu_edge_protocol(method: str | type, dataset: str, runs: int = 10, ratio: float = 0.1,
                         model: str = "sage", root: str | None = None, first_seed: int = 0,
                         **params: Any) -> list[dict[str, float]]:
    """OpenGU's edge-unlearning link-prediction protocol (Fan et al., 2025, Table 5).

    Per run ``r``: an 80/20 train/test edge split seeded by ``r``, a GraphSAGE encoder,
    10% of the training edges forgotten in one request, AUROC on the test edges after
    unlearning. Returns one ``{"auc", "auc_original", "seconds"}`` per run.
    """
    from graphforget._registry import make_method

    out = []
    for run in range(first_seed, first_seed + int(runs)):
        data = load_link_dataset(dataset, root, "0.8/0.2", run)
        u = make_method(method, model=model, seed=run, **params)
        u.fit(data)
        before = dt_metrics(u)["auc"]
        request = sample_link_edges(data, ratio=ratio, seed=run)
        report = u.unlearn(request)
        out.append({"auc": dt_metrics(u)["auc"], "auc_original": before, "seconds": report.seconds})
    return out
