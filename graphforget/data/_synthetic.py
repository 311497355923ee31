r"""Seeded synthetic graphs: the contextual stochastic block model (CSBM).

Nodes get balanced random labels; each of the :math:`n\bar{d}/2` undirected edges joins
a uniformly drawn source to a node of the same class with probability ``homophily``
and to a node of another class otherwise; features are the class mean (a random
Gaussian direction scaled by ``signal``) plus standard Gaussian noise. Generation
is vectorised: seconds for a million edges.
"""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from graphforget.errors import GraphForgetError

__all__ = ["csbm", "parse_synthetic"]

_KEYS = {"nodes": "num_nodes", "classes": "num_classes", "features": "num_features",
         "avgdegree": "avg_degree", "degree": "avg_degree", "homophily": "homophily",
         "signal": "signal", "seed": "seed"}


def parse_synthetic(spec: str) -> dict[str, Any]:
    """Parses ``"nodes=2000,avg-degree=8,classes=4"`` into :func:`csbm` arguments."""
    out: dict[str, Any] = {}
    if not spec:
        return out
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GraphForgetError(f"synthetic parameter {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        norm = key.strip().lower().replace("-", "").replace("_", "")
        if norm not in _KEYS:
            raise GraphForgetError(f"unknown synthetic parameter {key!r}; known: {sorted(set(_KEYS))}")
        arg = _KEYS[norm]
        try:
            out[arg] = float(value) if arg in ("avg_degree", "homophily", "signal") else int(value)
        except ValueError:
            raise GraphForgetError(f"synthetic parameter {key!r} must be a number, got {value!r}") from None
    return out


def csbm(num_nodes: int = 1000, num_classes: int = 4, num_features: int = 32,
         avg_degree: float = 8.0, homophily: float = 0.8, signal: float = 1.0,
         seed: int = 0) -> Data:
    """Generates a contextual SBM graph (undirected, no self-loops, no masks).

    Args:
        num_nodes: nodes. (default: :obj:`1000`)
        num_classes: classes. (default: :obj:`4`)
        num_features: feature dimension. (default: :obj:`32`)
        avg_degree: expected average degree. (default: :obj:`8.0`)
        homophily: probability that an edge stays within a class. (default: :obj:`0.8`)
        signal: norm of each class mean relative to unit noise per dimension. (default: :obj:`1.0`)
        seed: seed. (default: :obj:`0`)
    """
    n, c = int(num_nodes), int(num_classes)
    if n < 2 or c < 1 or num_features < 1 or avg_degree <= 0 or not 0 <= homophily <= 1:
        raise GraphForgetError(
            f"invalid CSBM parameters: nodes={n}, classes={c}, features={num_features}, "
            f"avg_degree={avg_degree}, homophily={homophily}")
    g = torch.Generator().manual_seed(int(seed))
    y = torch.arange(n) % c
    y = y[torch.randperm(n, generator=g)]
    m = int(round(n * avg_degree / 2))
    src = torch.randint(n, (m,), generator=g)
    same = torch.rand(m, generator=g) < homophily
    if c > 1:
        shift = torch.randint(1, c, (m,), generator=g)
        target_class = torch.where(same, y[src], (y[src] + shift) % c)
    else:
        target_class = y[src]
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y, minlength=c)
    offsets = torch.cumsum(counts, 0) - counts
    pick = (torch.rand(m, generator=g) * counts[target_class]).long()
    dst = order[offsets[target_class] + pick]
    edge_index = torch.stack([src, dst])
    edge_index, _ = remove_self_loops(edge_index)
    edge_index = coalesce(to_undirected(edge_index, num_nodes=n), num_nodes=n)
    means = torch.randn(c, num_features, generator=g)
    means = means / means.norm(dim=1, keepdim=True) * signal * num_features ** 0.5 / 4
    x = means[y] + torch.randn(n, num_features, generator=g)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=n)
    data.num_classes = c
    return data
