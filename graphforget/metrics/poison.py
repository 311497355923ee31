r"""Poisoning removal: inject a poison, train, forget exactly the poison, measure recovery.

Two poisons:

* :func:`inject_heterophilic_edges` — OpenGU's edge poison (Fan et al., 2024): add
  ``ratio`` × |E| undirected edges, each between two nodes of *different* classes, so
  message passing mixes classes. The forget request is an
  :class:`~graphforget.requests.EdgeRequest` naming exactly the added edges; the
  retained graph is then the clean graph.
* :func:`flip_labels` — label-flipped training nodes: a ``ratio`` of the training
  nodes get a random wrong label; the forget request is a
  :class:`~graphforget.requests.NodeRequest` naming them.

Recovery (:func:`recovery`) is the fraction of the clean–poisoned utility gap that
unlearning closes:

.. math::
    \text{recovered} = \frac{U_{\text{unlearned}} - U_{\text{poisoned}}}
                            {U_{\text{clean}} - U_{\text{poisoned}}},

1 when the unlearned model is as good as the clean one, 0 when unlearning did nothing
(it may be negative or exceed 1). When the poison cost no utility (gap below
``min_gap``) the ratio is undefined and ``nan`` is returned.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.requests import EdgeRequest, ForgetRequest, NodeRequest, is_undirected

__all__ = ["inject_heterophilic_edges", "flip_labels", "poison", "recovery", "POISONS"]

POISONS = ("edge", "label")


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < float(ratio) <= 1:
        raise GraphForgetError(f"poison ratio must lie in (0, 1], got {ratio!r}")
    return float(ratio)


def inject_heterophilic_edges(data: Data, ratio: float = 0.1, seed: int = 0) -> tuple[Data, EdgeRequest]:
    """Adds ``ratio`` × (undirected edges) new edges between nodes of different classes.

    Returns the poisoned graph (``data`` is not modified; edges are added in both
    directions when ``data`` is undirected) and the :class:`EdgeRequest` forgetting them.
    """
    ratio = _check_ratio(ratio)
    n = data.num_nodes
    undirected = is_undirected(data)
    ei = data.edge_index
    m = ei.size(1) // 2 if undirected else ei.size(1)
    k = max(1, int(round(ratio * m)))
    g = torch.Generator().manual_seed(int(seed))
    existing = set((ei[0] * n + ei[1]).tolist())
    chosen: list[tuple[int, int]] = []
    seen: set[int] = set()
    y = data.y
    for _ in range(100):  # rejection sampling in vectorised rounds
        need = k - len(chosen)
        if need <= 0:
            break
        u = torch.randint(0, n, (4 * need,), generator=g)
        v = torch.randint(0, n, (4 * need,), generator=g)
        for a, b in zip(u.tolist(), v.tolist(), strict=True):
            if a == b or int(y[a]) == int(y[b]):
                continue
            if undirected and a > b:
                a, b = b, a
            key = a * n + b
            if key in existing or key in seen or (undirected and b * n + a in existing):
                continue
            seen.add(key)
            chosen.append((a, b))
            if len(chosen) == k:
                break
    if len(chosen) < k:
        raise GraphForgetError(f"could only find {len(chosen)} of {k} heterophilic non-edges")
    new = torch.tensor(chosen, dtype=torch.long).t()
    added = torch.cat([new, new.flip(0)], dim=1) if undirected else new
    out = data.clone()
    for key in list(out.keys()):
        value = out[key]
        if key != "edge_index" and isinstance(value, torch.Tensor) and out.is_edge_attr(key) \
                and value.dim() >= 1 and value.size(0) == ei.size(1):
            raise GraphForgetError(f"cannot poison a graph with edge attribute {key!r}")
    out.edge_index = torch.cat([ei, added], dim=1)
    if hasattr(out, "_gf_undirected"):
        del out._gf_undirected
    return out, EdgeRequest(new)


def flip_labels(data: Data, ratio: float = 0.1, seed: int = 0) -> tuple[Data, NodeRequest]:
    """Gives a ``ratio`` of the training nodes a random wrong label.

    Returns the poisoned data and the :class:`NodeRequest` forgetting the flipped nodes.
    """
    ratio = _check_ratio(ratio)
    train = data.train_mask.nonzero().view(-1)
    k = max(1, int(round(ratio * train.numel())))
    if k > train.numel():
        raise GraphForgetError("not enough training nodes to flip")
    g = torch.Generator().manual_seed(int(seed))
    nodes = train[torch.randperm(train.numel(), generator=g)[:k]].sort().values
    c = int(data.num_classes) if isinstance(getattr(data, "num_classes", None), int) \
        else int(data.y.max()) + 1
    if c < 2:
        raise GraphForgetError("label flipping needs at least two classes")
    shift = torch.randint(1, c, (k,), generator=g)
    out = data.clone()
    out.y = data.y.clone()
    out.y[nodes] = (data.y[nodes] + shift) % c
    return out, NodeRequest(nodes)


def poison(data: Data, kind: str = "edge", ratio: float = 0.1, seed: int = 0) -> tuple[Data, ForgetRequest]:
    """Dispatches to :func:`inject_heterophilic_edges` (``"edge"``) or :func:`flip_labels` (``"label"``)."""
    if kind == "edge":
        return inject_heterophilic_edges(data, ratio, seed)
    if kind == "label":
        return flip_labels(data, ratio, seed)
    raise GraphForgetError(f"unknown poison {kind!r}; choose one of: {', '.join(POISONS)}")


def recovery(clean: float, poisoned: float, unlearned: float, min_gap: float = 1e-9) -> float:
    """Fraction of the clean–poisoned utility gap closed by unlearning (``nan`` if no gap)."""
    gap = clean - poisoned
    if abs(gap) <= min_gap:
        return float("nan")
    return (unlearned - poisoned) / gap
