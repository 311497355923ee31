r"""Graph-property-aware sharding (GraphRevoker, Zhang et al., "Graph Unlearning with
Efficient Partial Retraining", WWW 2024 companion; arXiv 2403.07353).

A small assignment network maps every partitioned node to a soft shard membership
:math:`P \in [0, 1]^{n \times k}` (rows sum to one) and is trained to keep two graph
properties inside the shards while staying balanced:

* **structure** — the expected normalised cut
  :math:`\mathcal{L}_\text{cut} = \sum_s \frac{\sum_{(u,v)\in E} P_{us}(1-P_{vs})}
  {\sum_u P_{us} d_u}` (edges kept inside a shard are not lost to its sub-model);
* **semantics** — every shard's label histogram :math:`q_s = \frac{P_{:s}^\top Y}{\sum_u
  P_{us}}` stays close to the global one :math:`q` (``semantic="match"``:
  :math:`\frac1k\sum_s \mathrm{KL}(q\,\|\,q_s)`), or is made pure
  (``semantic="entropy"``: :math:`\frac1k\sum_s H(q_s)`, the term the authors' code trains);
* **balance** — :math:`k \sum_s (\bar P_{:s} - 1/k)^2`.

The network reads structure-aware node features: the :math:`\hat A^{h}` propagation of
the features (``hops``), reduced to ``dim`` principal components. After training the
hard assignment is the capacity-constrained greedy of
:func:`~graphforget.partition.balanced_kmeans_assign` on :math:`-\log P`, with GraphEraser's
capacity :math:`\lceil n/k + \delta(n - n/k)\rceil`. Everything is full batch over
``edge_index`` (no dense :math:`n \times n`) and seeded.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.partition._algorithms import _pca, _symmetric_edges, balanced_kmeans_assign
from graphforget.partition._base import Partitioner, capacity, register_partitioner

__all__ = ["PropertyAwarePartitioner", "property_losses"]

SEMANTICS = ("match", "entropy")


def property_losses(p: Tensor, edge_index: Tensor, y_onehot: Tensor | None,
                    semantic: str = "match") -> dict[str, Tensor]:
    r"""The three sharding losses of a soft assignment ``p`` (``[n, k]``, rows on the
    simplex) over the symmetric ``edge_index``: ``cut`` (expected normalised cut),
    ``semantic`` (label-histogram term; ``0`` without labels) and ``balance``."""
    n, k = p.shape
    eps = 1e-9
    if edge_index.numel():
        src, dst = edge_index
        deg = torch.bincount(src, minlength=n).to(p.dtype)
        volume = (p * deg.unsqueeze(1)).sum(0)
        crossing = (p[src] * (1 - p[dst])).sum(0)
        cut = (crossing / (volume + eps)).sum()
    else:
        cut = p.new_zeros(())
    if y_onehot is not None and y_onehot.numel():
        counts = p.t() @ y_onehot + eps  # [k, C]
        q_s = counts / counts.sum(1, keepdim=True)
        if semantic == "match":
            q = y_onehot.sum(0) / y_onehot.sum()
            present = q > 0
            sem = (q[present] * (q[present].log() - q_s[:, present].log())).sum(1).mean()
        else:
            sem = -(q_s * q_s.log()).sum(1).mean()
    else:
        sem = p.new_zeros(())
    share = p.mean(0)
    balance = k * ((share - 1.0 / k) ** 2).sum()
    return {"cut": cut, "semantic": sem, "balance": balance}


@register_partitioner("property-aware")
class PropertyAwarePartitioner(Partitioner):
    r"""GraphRevoker's graph-property-aware sharding (see the module docs).

    Args:
        hops (int): feature propagation steps :math:`h` fed to the network. (default: :obj:`2`)
        dim (int): principal components kept of the propagated features. (default: :obj:`32`)
        hidden (int): hidden width of the assignment network. (default: :obj:`64`)
        epochs (int): full-batch Adam steps. (default: :obj:`200`)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        semantic (str): ``"match"`` (shard label histograms close to the global one) or
            ``"entropy"`` (label-pure shards). (default: :obj:`"match"`)
        semantic_weight (float): weight of the semantic term. (default: :obj:`1.0`)
        balance_weight (float): weight of the balance term. (default: :obj:`1.0`)
        delta (float): capacity slack δ of the final hard assignment. (default: :obj:`0.005`)
        seed (int): seeds the network and the PCA. (default: :obj:`0`)
    """

    depends_on = ("edges", "features", "labels")
    needs_features = True

    def __init__(self, hops: int = 2, dim: int = 32, hidden: int = 64, epochs: int = 200,
                 lr: float = 0.01, semantic: str = "match", semantic_weight: float = 1.0,
                 balance_weight: float = 1.0, delta: float = 0.005, seed: int = 0) -> None:
        super().__init__(seed=seed)
        for name, value, low in (("hops", hops, 0), ("dim", dim, 1), ("hidden", hidden, 1),
                                 ("epochs", epochs, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise GraphForgetError(f"{name} must be an integer >= {low}, got {value!r}")
        if semantic not in SEMANTICS:
            raise GraphForgetError(f"semantic must be one of {SEMANTICS}, got {semantic!r}")
        for name, value in (("lr", lr), ("semantic_weight", semantic_weight),
                            ("balance_weight", balance_weight), ("delta", delta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise GraphForgetError(f"{name} must be a number >= 0, got {value!r}")
        if not lr > 0:
            raise GraphForgetError(f"lr must be > 0, got {lr!r}")
        self.hops, self.dim, self.hidden, self.epochs = hops, dim, hidden, epochs
        self.lr, self.semantic = float(lr), semantic
        self.semantic_weight, self.balance_weight = float(semantic_weight), float(balance_weight)
        self.delta = float(delta)

    def _depends_on(self) -> tuple[str, ...]:
        return tuple(self.depends_on) if self.semantic_weight else ("edges", "features")

    def node_inputs(self, view: Data) -> Tensor:
        """The network's input: :math:`\\hat A^h X` on the partitioned subgraph, reduced to
        ``dim`` principal components and standardised."""
        from graphforget.models import propagate

        n = int(view.num_nodes)
        x = getattr(view, "x", None)
        x = torch.ones(n, 1) if x is None else x.float()
        ei = _symmetric_edges(view)
        h = propagate(x, ei, self.hops, num_nodes=n) if ei.numel() else x
        if h.size(1) > self.dim and n > 1:
            h = _pca(h, min(self.dim, n - 1), self.seed)
        return (h - h.mean(0)) / (h.std(0, unbiased=False) + 1e-6)

    def soft_assignment(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        """Trains the assignment network on ``view`` and returns ``P`` (``[n, k]``) and
        the final loss terms."""
        from graphforget.training import seeded

        n = int(view.num_nodes)
        h = self.node_inputs(view)
        ei = _symmetric_edges(view)
        y = getattr(view, "y", None)
        onehot = None
        if self.semantic_weight and y is not None and y.dim() == 1 and y.numel() == n:
            onehot = F.one_hot(y.long().clamp_min(0), int(y.max()) + 1).float()
        with seeded(self.seed):
            net = torch.nn.Sequential(torch.nn.Linear(h.size(1), self.hidden), torch.nn.GELU(),
                                      torch.nn.Linear(self.hidden, k))
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            terms: dict[str, Tensor] = {}
            for _ in range(self.epochs):
                opt.zero_grad()
                p = torch.softmax(net(h), dim=1)
                terms = property_losses(p, ei, onehot, self.semantic)
                loss = terms["cut"] + self.semantic_weight * terms["semantic"] \
                    + self.balance_weight * terms["balance"]
                loss.backward()
                opt.step()
        with torch.no_grad():
            p = torch.softmax(net(h), dim=1)
            final = property_losses(p, ei, onehot, self.semantic)
        return p, {f"loss_{key}": float(v) for key, v in final.items()}

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        n = int(view.num_nodes)
        p, info = self.soft_assignment(view, k)
        cap = max(capacity(n, k, self.delta), -(-n // k))
        shard = balanced_kmeans_assign(-(p + 1e-12).log(), cap)
        info.update(capacity=cap, epochs=self.epochs)
        return shard, info
