r"""Link-prediction metrics and the GNNDelete evaluation protocol.

* :func:`auprc`: average precision (area under the precision-recall curve, step-wise,
  as :func:`sklearn.metrics.average_precision_score`).
* :func:`df_auc`: GNNDelete's :math:`D_f` score (Cheng et al., ICLR 2023, §5): the
  deleted edges (label 0) against an equal-size random sample of retained training
  edges (label 1), AUROC averaged over ``draws`` seeded draws, all draws at once.
  An unlearned model should score deleted edges like non-edges, so higher means
  "more forgotten"; a model that never saw any edge information scores 0.5.
* :func:`dt_metrics` / :func:`df_metrics`: the same on a fitted link unlearner, with
  embeddings computed on its retained graph (:math:`D_t`: test positives vs test
  negatives, pairs touching a forgotten node left out).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.metrics import roc_auc

__all__ = ["auprc", "df_auc", "dt_metrics", "df_metrics", "deleted_edges", "link_scores"]


def auprc(score: Tensor, label: Tensor) -> float:
    """Average precision :math:`\\sum_k (R_k - R_{k-1}) P_k` over distinct thresholds."""
    score = score.detach().double().view(-1)
    label = label.detach().view(-1).bool()
    n_pos = int(label.sum())
    if n_pos == 0 or n_pos == label.numel():
        raise GraphForgetError("auprc needs both positive and negative labels")
    order = torch.argsort(score, descending=True, stable=True)
    s, y = score[order], label[order].double()
    tp, fp = torch.cumsum(y, 0), torch.cumsum(1 - y, 0)
    last = torch.ones_like(s, dtype=torch.bool)  # last index of each run of tied scores
    last[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def df_auc(deleted_scores: Tensor, retained_scores: Tensor, draws: int = 500,
           seed: int = 0, chunk: int = 50) -> dict[str, float]:
    r"""GNNDelete's :math:`D_f` AUROC, averaged over ``draws`` seeded draws.

    Each draw pairs the ``k`` deleted-edge scores (label 0) with ``k`` retained-edge
    scores sampled without replacement (label 1). The AUROC of every draw is computed
    at once by binary search in the sorted deleted scores (ties count half), in chunks
    of ``chunk`` draws, so memory is ``O(chunk * retained)``.

    Returns ``{"auc": mean, "auc_std": std}``.
    """
    neg = deleted_scores.detach().double().view(-1)
    pos = retained_scores.detach().double().view(-1)
    k, m = neg.numel(), pos.numel()
    if k == 0:
        raise GraphForgetError("df_auc needs at least one deleted edge")
    if m < k:
        raise GraphForgetError(f"df_auc needs at least as many retained edges ({m}) as deleted ({k})")
    if int(draws) < 1:
        raise GraphForgetError(f"draws must be >= 1, got {draws}")
    g = torch.Generator().manual_seed(int(seed))
    neg_sorted = neg.sort().values
    aucs = []
    for start in range(0, int(draws), int(chunk)):
        size = min(int(chunk), int(draws) - start)
        idx = torch.rand(size, m, generator=g).topk(k, dim=1, sorted=False).indices
        sample = pos[idx]  # [size, k]
        below = torch.searchsorted(neg_sorted, sample, right=False)
        upto = torch.searchsorted(neg_sorted, sample, right=True)
        aucs.append((below + 0.5 * (upto - below)).sum(1) / (k * k))
    all_aucs = torch.cat(aucs)
    return {"auc": float(all_aucs.mean()),
            "auc_std": float(all_aucs.std()) if all_aucs.numel() > 1 else 0.0}


def deleted_edges(before: Data, after: Data) -> Tensor:
    """Training edges (each once, ``u < v``) present in ``before`` but not in ``after``."""
    from graphforget.link._split import canonical_edges

    n = int(before.num_nodes)
    a, b = canonical_edges(before.edge_index), canonical_edges(after.edge_index)
    gone = ~torch.isin(a[0] * n + a[1], b[0] * n + b[1])
    return a[:, gone]


def link_scores(unlearner: Any, pairs: Tensor, data: Data | None = None) -> Tensor:
    """Logits of ``pairs`` under a fitted link unlearner, embeddings from its inference graph."""
    return unlearner.link_scores(pairs, data)


def _alive(pairs: Tensor, data: Data) -> Tensor:
    forgotten = getattr(data, "forgotten_mask", None)
    if forgotten is None or pairs.numel() == 0:
        return pairs
    return pairs[:, ~(forgotten[pairs[0]] | forgotten[pairs[1]])]


def dt_metrics(unlearner: Any, split: str = "test", evaluator: Any = None) -> dict[str, float]:
    """AUROC and AUPRC of ``{split}_pos`` vs ``{split}_neg`` on the retained graph, plus
    ``evaluator``'s metric (e.g. ``hits@50`` from an :class:`~graphforget.data.OGBEvaluator`)
    when one is given."""
    data = unlearner.inference_data()
    pos, neg = getattr(data, f"{split}_pos", None), getattr(data, f"{split}_neg", None)
    if pos is None or neg is None:
        raise GraphForgetError(f"data has no {split}_pos/{split}_neg: make it with link_split()")
    pos, neg = _alive(pos, data), _alive(neg, data)
    scores = unlearner.link_scores(torch.cat([pos, neg], dim=1))
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
    out = {"auc": roc_auc(scores, labels), "auprc": auprc(scores, labels)}
    if evaluator is not None:
        out[evaluator.metric] = evaluator.link_metric(scores[:pos.size(1)], scores[pos.size(1):])
    return out


def df_metrics(unlearner: Any, deleted: Tensor, draws: int = 500, seed: int = 0) -> dict[str, float]:
    """:func:`df_auc` of ``deleted`` edges against the retained training edges of ``unlearner``."""
    from graphforget.link._split import canonical_edges

    if deleted.numel() == 0:
        return {"auc": float("nan"), "auc_std": float("nan")}
    retained = canonical_edges(unlearner.inference_data().edge_index)
    scores = unlearner.link_scores(torch.cat([deleted, retained], dim=1))
    k = deleted.size(1)
    return df_auc(scores[:k], scores[k:], draws=draws, seed=seed)
