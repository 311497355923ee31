r"""Full-ranking top-:math:`K` metrics with the training items masked.

For every user :math:`u` with at least one held-out item (the set :math:`T_u`), all items
are scored, the user's training items are excluded, and the top :math:`K` list
:math:`r_1..r_K` is compared with :math:`T_u`:

.. math::
    \mathrm{Recall@}K = \frac{|\{r_1..r_K\} \cap T_u|}{|T_u|}, \qquad
    \mathrm{NDCG@}K = \frac{\sum_{j=1}^{K} [r_j \in T_u] / \log_2(j+1)}
                          {\sum_{j=1}^{\min(K, |T_u|)} 1 / \log_2(j+1)}

averaged over users (LightGCN's and RecEraser's protocol). Users are scored in batches;
nothing of size users × items is held beyond one batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["ranking_metrics"]


def ranking_metrics(user_emb: Tensor, item_emb: Tensor, known: Tensor, target: Tensor,
                    ks: tuple[int, ...] = (10, 20, 50), batch_size: int = 1024,
                    users: Tensor | None = None) -> dict[str, float]:
    """Recall@K and NDCG@K (keys ``recall@K``, ``ndcg@K``, plus ``users``).

    Args:
        user_emb, item_emb: ``[U, d]`` and ``[I, d]``; scores are dot products.
        known: ``[2, m]`` ``(user, item)`` pairs excluded from the ranking (training items).
        target: ``[2, t]`` ``(user, item)`` held-out pairs to retrieve.
        users: restrict the average to these users (default: every user with a target).
    """
    num_items = item_emb.size(0)
    kmax = min(max(ks), num_items)
    eval_users = torch.unique(target[0]) if users is None else torch.unique(users)
    eval_users = eval_users[torch.isin(eval_users, target[0])]
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg")}
    if eval_users.numel() == 0:
        return {**{k: float("nan") for k in sums}, "users": 0}
    # pairs sorted by user once, so that each batch (sorted users) reads one slice of them
    known, target = _by_user(known), _by_user(target)
    pos = torch.full((user_emb.size(0),), -1, dtype=torch.long)
    discount = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)
    # one score buffer for every batch: a fresh [batch, I] matrix per batch spent about as
    # long in page faults as in the product itself (the values are the same either way)
    buffer = torch.empty(min(batch_size, eval_users.numel()), num_items,
                         dtype=torch.result_type(user_emb, item_emb))
    for start in range(0, eval_users.numel(), batch_size):
        batch = eval_users[start:start + batch_size]
        pos[batch] = torch.arange(batch.numel())
        with torch.no_grad():
            scores = torch.mm(user_emb[batch].detach(), item_emb.detach().t(), out=buffer[:batch.numel()])
        ku, ki = _slice(known, batch)
        row = pos[ku]
        sel = row >= 0
        scores[row[sel], ki[sel]] = float("-inf")
        tu, ti = _slice(target, batch)
        row = pos[tu]
        sel = row >= 0
        target_keys = row[sel] * num_items + ti[sel]
        n_target = torch.bincount(row[sel], minlength=batch.numel()).double()
        pos[batch] = -1
        top = torch.topk(scores, kmax, dim=1).indices  # [b, kmax]
        rows = torch.arange(batch.numel()).view(-1, 1)
        hits = torch.isin(rows * num_items + top, target_keys).double()
        for k in ks:
            kk = min(k, kmax)
            h = hits[:, :kk]
            sums[f"recall@{k}"] += float((h.sum(1) / n_target).sum())
            dcg = (h * discount[:kk]).sum(1)
            idcg = ideal[(n_target.clamp(max=kk) - 1).long()]
            sums[f"ndcg@{k}"] += float((dcg / idcg).sum())
    n = eval_users.numel()
    out = {k: v / n for k, v in sums.items()}
    out["users"] = int(n)
    return out


def _by_user(pairs: Tensor) -> Tensor:
    if pairs.size(1) > 1 and not bool((pairs[0, 1:] >= pairs[0, :-1]).all()):
        pairs = pairs[:, torch.argsort(pairs[0], stable=True)]
    return pairs


def _slice(pairs: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
    """The ``(user, item)`` pairs (sorted by user) whose user lies in ``[batch[0], batch[-1]]``."""
    lo = int(torch.searchsorted(pairs[0], batch[0]))
    hi = int(torch.searchsorted(pairs[0], batch[-1], right=True))
    return pairs[0, lo:hi], pairs[1, lo:hi]
