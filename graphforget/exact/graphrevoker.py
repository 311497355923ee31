r"""GraphRevoker (Zhang, Wang, Wang and Fan, "Graph Unlearning with Efficient Partial
Retraining", WWW 2024 companion; arXiv 2403.07353): partition-based exact unlearning with
graph-property-aware sharding and a graph-contrastive sub-model aggregator.

Two pieces differ from GraphEraser:

* **Sharding** — :class:`~graphforget.partition.PropertyAwarePartitioner`
  (``partition="property-aware"``): a learned soft assignment trained to keep edges inside
  shards (expected normalised cut), to keep every shard's label histogram close to the
  global one, and to stay balanced; then a capacity-constrained hard assignment.
* **Aggregation** — :class:`ContrastiveAggregator` (``aggregator="contrastive"``): a
  light attention network over the sub-models' outputs. Each node's shard outputs are
  projected per shard, pooled with node-specific attention weights and classified; it
  is trained on the validation nodes with cross-entropy plus a local-global contrastive
  term (the pooling over all shards agrees with the pooling over a random subset of
  them, and not with another node's) and a local-local structural reconstruction term
  (a node's pooled representation is closer to a neighbour's than to a random node's).

Unlearning is GraphEraser's partial retraining: the shards whose training graph held a
forgotten item are retrained from their seeds and the aggregator is refitted when its
inputs changed, so the ensemble equals one fitted from scratch on the retained data with
the same partition (exact, bitwise on CPU).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.exact._aggregators import Aggregator, make_aggregator, register_aggregator
from graphforget.exact.sharded import ShardedUnlearner
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Task, UnlearnReport, state_fingerprint

__all__ = ["GraphRevoker", "ContrastiveAggregator", "ContrastiveAggregatorNet"]

AGGREGATOR_NODES = ("val", "train")


class ContrastiveAggregatorNet(torch.nn.Module):
    r"""Per-shard projection, node-wise attention pooling over shards and a linear classifier.

    For node :math:`v` with shard outputs :math:`z_{v,1..K}` (log-probabilities):
    :math:`u_{v,s} = \mathrm{ReLU}(z_{v,s} W_s + b_s)`, attention
    :math:`a_{v,s} = \mathrm{ReLU}(u_{v,s} A + c)\,h`, pooled
    :math:`g_v = \sum_s \mathrm{softmax}_s(a_{v,s} / \tau_a)\, u_{v,s}` and logits
    :math:`g_v W_o + b_o`. Masked shards take no attention.
    """

    def __init__(self, shards: int, classes: int, proj_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.w_proj = torch.nn.Parameter(torch.randn(shards, classes, proj_dim) * (1.0 / math.sqrt(classes)))
        self.b_proj = torch.nn.Parameter(torch.zeros(shards, proj_dim))
        self.attn = torch.nn.Linear(proj_dim, attn_dim)
        self.score = torch.nn.Linear(attn_dim, 1, bias=False)
        self.out = torch.nn.Linear(proj_dim, classes)

    def project(self, z: Tensor) -> Tensor:
        """``z``: ``[n, K, C]`` -> per-shard projections ``[n, K, d]``."""
        return torch.relu(torch.einsum("nkc,kcd->nkd", z, self.w_proj) + self.b_proj)

    def pool(self, u: Tensor, mask: Tensor | None = None) -> Tensor:
        """Attention pooling of ``u`` (``[n, K, d]``); ``mask`` (``[n, K]``, ``True`` =
        dropped shard) removes shards from the pooling."""
        a = self.score(torch.relu(self.attn(u))).squeeze(-1) / 2.0
        if mask is not None:
            a = a.masked_fill(mask, float("-inf"))
        return (torch.softmax(a, dim=1).unsqueeze(-1) * u).sum(1)

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.pool(self.project(z)))


@register_aggregator
class ContrastiveAggregator(Aggregator):
    r"""GraphRevoker's graph-contrastive sub-model aggregator (see the module docs).

    Fitted on the (retained) validation nodes :math:`V` by full-batch Adam on

    .. math::
        \mathcal{L} = \mathrm{CE}\big(g_V W_o + b_o,\ y_V\big)
          + \lambda_c\,\mathcal{L}_\text{local-global} + \lambda_r\,\mathcal{L}_\text{local-local}

    * :math:`\mathcal{L}_\text{local-global} = -\log \frac{e^{s(g_v, l_v)/\tau}}
      {e^{s(g_v, l_v)/\tau} + e^{s(g_v, g_{\pi(v)})/\tau} + e^{s(g_v, l_{\pi(v)})/\tau}}`,
      with :math:`l_v` the pooling over a random subset of the shards (``drop`` of them
      masked), :math:`\pi` a random permutation of the nodes (the corrupted negatives)
      and :math:`s` the cosine similarity;
    * :math:`\mathcal{L}_\text{local-local} = \max(0,\ d(g_v, g_u) - d(g_v, g_w) + m)`
      with :math:`u` a neighbour of :math:`v` among :math:`V`, :math:`w` a random node,
      :math:`d = 1 - s` and margin :math:`m = 1`. It needs the graph among :math:`V`
      (:meth:`set_graph`); without edges it is zero.

    Deterministic (seeded) so that a refit on unchanged inputs is bitwise identical.

    Args:
        proj_dim (int): projection width. (default: :obj:`32`)
        attn_dim (int): attention width. (default: :obj:`16`)
        epochs (int): Adam steps. (default: :obj:`200`)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float): AdamW decoupled weight decay. (default: :obj:`1e-4`)
        contrast_weight (float): :math:`\lambda_c`. (default: :obj:`0.1`)
        recon_weight (float): :math:`\lambda_r`. (default: :obj:`0.1`)
        drop (int, optional): shards masked out of the local view (default ``K // 3``, at
            least one when :math:`K > 1`).
        tau (float): contrastive temperature. (default: :obj:`0.5`)
        seed (int): seeds initialisation, masks and negatives. (default: :obj:`0`)
    """

    name = "contrastive"
    depends_on = ("validation nodes", "shard outputs", "edges among validation nodes")

    def __init__(self, proj_dim: int = 32, attn_dim: int = 16, epochs: int = 200, lr: float = 0.01,
                 weight_decay: float = 1e-4, contrast_weight: float = 0.1, recon_weight: float = 0.1,
                 drop: int | None = None, tau: float = 0.5, seed: int = 0) -> None:
        for name, value in (("proj_dim", proj_dim), ("attn_dim", attn_dim), ("epochs", epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                raise GraphForgetError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("lr", lr), ("tau", tau)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise GraphForgetError(f"{name} must be a number > 0, got {value!r}")
        for name, value in (("weight_decay", weight_decay), ("contrast_weight", contrast_weight),
                            ("recon_weight", recon_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise GraphForgetError(f"{name} must be a number >= 0, got {value!r}")
        if drop is not None and (isinstance(drop, bool) or not isinstance(drop, int) or drop < 0):
            raise GraphForgetError(f"drop must be a non-negative integer or None, got {drop!r}")
        self.proj_dim, self.attn_dim, self.epochs = proj_dim, attn_dim, epochs
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.contrast_weight, self.recon_weight = float(contrast_weight), float(recon_weight)
        self.drop, self.tau, self.seed = drop, float(tau), int(seed)
        self.edge_index_: Tensor | None = None
        self.net_: ContrastiveAggregatorNet | None = None
        self.history_: dict[str, float] = {}

    def set_graph(self, edge_index: Tensor | None) -> ContrastiveAggregator:
        """The edges among the nodes :meth:`fit` receives, in their order (``[2, m]``)."""
        self.edge_index_ = None if edge_index is None else edge_index.long()
        return self

    def _drop_count(self, k: int) -> int:
        if k <= 1:
            return 0
        d = max(1, k // 3) if self.drop is None else int(self.drop)
        return min(d, k - 1)

    def fit(self, log_probs: Tensor, y: Tensor) -> ContrastiveAggregator:
        k, n, c = log_probs.shape
        if n == 0:
            raise GraphForgetError(
                "the contrastive aggregator is fitted on validation nodes, but data.val_mask is "
                "empty: use a split with a validation part (e.g. 0.6/0.2/0.2) or another aggregator")
        z = log_probs.detach().permute(1, 0, 2).contiguous()  # [n, K, C]
        g = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = ContrastiveAggregatorNet(k, c, self.proj_dim, self.attn_dim).to(z.dtype)  # float64 shards
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        ei = self.edge_index_
        if ei is not None and ei.numel():
            ei = ei[:, ei[0] != ei[1]]
            if ei.numel() and int(ei.max()) >= n:
                raise GraphForgetError(f"aggregator graph names node {int(ei.max())} of {n}")
        drop = self._drop_count(k)
        last = {"ce": 0.0, "contrast": 0.0, "recon": 0.0}
        for _ in range(self.epochs):
            opt.zero_grad()
            u = net.project(z)
            anchor = net.pool(u)
            loss = F.cross_entropy(net.out(anchor), y)
            last["ce"] = float(loss.detach())
            if self.contrast_weight and drop and n > 1:
                scores = torch.rand(n, k, generator=g)
                mask = torch.zeros(n, k, dtype=torch.bool)
                mask.scatter_(1, scores.argsort(dim=1)[:, :drop], True)
                local = net.pool(u, mask)
                perm = torch.randperm(n, generator=g)
                sim = lambda a, b: F.cosine_similarity(a, b, dim=-1, eps=1e-8) / self.tau  # noqa: E731
                logits = torch.stack([sim(anchor, local), sim(anchor, anchor[perm]),
                                      sim(anchor, local[perm])], dim=1)
                contrast = -torch.log_softmax(logits, dim=1)[:, 0].mean()
                loss = loss + self.contrast_weight * contrast
                last["contrast"] = float(contrast.detach())
            if self.recon_weight and ei is not None and ei.numel():
                neg = torch.randint(0, n, (ei.size(1),), generator=g)
                dist = lambda a, b: 1.0 - F.cosine_similarity(a, b, dim=-1, eps=1e-8)  # noqa: E731
                recon = F.relu(dist(anchor[ei[0]], anchor[ei[1]]) - dist(anchor[ei[0]], anchor[neg])
                               + 1.0).mean()
                loss = loss + self.recon_weight * recon
                last["recon"] = float(recon.detach())
            loss.backward()
            opt.step()
        net.eval()
        self.net_ = net
        self.history_ = last
        return self

    def combine(self, log_probs: Tensor) -> Tensor:
        if self.net_ is None:
            raise GraphForgetError("the contrastive aggregator is not fitted")
        if self.net_.w_proj.size(0) != log_probs.size(0):
            raise GraphForgetError(f"contrastive aggregator was fitted on {self.net_.w_proj.size(0)} "
                                   f"shards, got outputs of {log_probs.size(0)}")
        with torch.no_grad():
            return torch.log_softmax(self.net_(log_probs.permute(1, 0, 2)), dim=-1)

    def attention(self, log_probs: Tensor) -> Tensor:
        """Each node's attention weights over the shards (``[n, K]``)."""
        if self.net_ is None:
            raise GraphForgetError("the contrastive aggregator is not fitted")
        with torch.no_grad():
            u = self.net_.project(log_probs.permute(1, 0, 2))
            a = self.net_.score(torch.relu(self.net_.attn(u))).squeeze(-1) / 2.0
            return torch.softmax(a, dim=1)

    def get_state(self) -> dict[str, Any]:
        if self.net_ is None:
            return {"net": None}
        k, c, d = self.net_.w_proj.shape
        return {"net": {key: v.clone() for key, v in self.net_.state_dict().items()},
                "shards": int(k), "classes": int(c)}

    def set_state(self, state: dict[str, Any]) -> None:
        if state.get("net") is None:
            self.net_ = None
            return
        net = ContrastiveAggregatorNet(int(state["shards"]), int(state["classes"]),
                                       self.proj_dim, self.attn_dim).to(state["net"]["b_proj"].dtype)
        net.load_state_dict(state["net"])
        net.eval()
        self.net_ = net


def _validation_graph(data: Data, nodes: Tensor) -> Tensor:
    """Edges of ``data`` with both endpoints in ``nodes`` (a boolean mask), relabelled
    to positions among the ``True`` entries."""
    ei = data.edge_index
    if ei is None or ei.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long)
    keep = nodes[ei[0]] & nodes[ei[1]]
    pos = torch.cumsum(nodes.long(), 0) - 1
    return pos[ei[:, keep]]


@register_method("graphrevoker", "graph-revoker")
class GraphRevoker(ShardedUnlearner):
    r"""GraphRevoker: property-aware shards, one GNN per shard, a contrastive aggregator.

    .. math::
        \hat{y}(v) = \arg\max_c\ \mathrm{CA}_\phi\big(\log f_1(v), \dots, \log f_K(v)\big)_c,
        \qquad f_i = \mathrm{train}\big(G[S_i \cup E],\ S_i\big)

    with :math:`S_1..S_K` from the property-aware partitioner and :math:`\mathrm{CA}_\phi`
    the contrastive aggregator fitted on the validation nodes. Exact with respect to the
    (fixed) partition, like GraphEraser: after a request every affected shard equals a fresh
    training on its retained data from its seed, and the aggregator equals one fitted on
    the retained data (it is refitted when the shard outputs on the validation nodes, the
    validation nodes themselves or the edges among them change).

    Args:
        shards (int): ``K``. (default: :obj:`8`)
        partition (str): partitioner name. (default: :obj:`"property-aware"`)
        partition_kwargs (dict, optional): e.g. ``{"semantic": "entropy", "epochs": 300}``.
        aggregator (str): ``contrastive`` or any other aggregator name. (default:
            :obj:`"contrastive"`)
        aggregator_kwargs (dict, optional): :class:`ContrastiveAggregator` arguments.
        setting (str): ``"transductive"`` (default) or ``"inductive"``.
        aggregator_nodes (str): the nodes the aggregator is fitted on: ``"val"`` (held-out
            validation nodes, default) or ``"train"`` (the retained training nodes, as the
            OpenGU code does; for splits without a validation part). Either way a forgotten
            node that lay in them triggers a refit.
        model, train_fn, forward_fn, loss_fn, device, dtype: the user's model and loop, as
            for GraphEraser (``docs/own_model.md``): ``model`` may be a factory or a template
            module, ``train_fn`` trains every shard (under the shard's seed), so a request
            still equals retraining the affected shards with the user's loop. GraphRevoker
            trains per shard and cannot attach to a trained model.
        Other arguments: see :class:`~graphforget.exact.sharded.ShardedUnlearner`.
    """

    tasks = (Task.NODE,)

    demo_params: ClassVar[dict[str, Any]] = {"shards": 4}

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, shards: int = 8,
                 partition: str = "property-aware", partition_kwargs: dict[str, Any] | None = None,
                 aggregator: str = "contrastive", aggregator_kwargs: dict[str, Any] | None = None,
                 setting: str = "transductive", executor: str = "serial",
                 executor_kwargs: dict[str, Any] | None = None, aggregator_nodes: str = "val",
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype, shards=shards,
                         partition=partition, partition_kwargs=partition_kwargs,
                         aggregator=aggregator, aggregator_kwargs=aggregator_kwargs, slices=1,
                         setting=setting, executor=executor, executor_kwargs=executor_kwargs)
        self.aggregator_nodes = aggregator_nodes

    def _validate_params(self) -> None:
        if self.aggregator_nodes not in AGGREGATOR_NODES:
            raise GraphForgetError(
                f"aggregator_nodes must be one of {AGGREGATOR_NODES}, got {self.aggregator_nodes!r}")
        super()._validate_params()

    def _aggregator_inputs(self, data: Data, log_probs: Tensor) -> tuple[Tensor, Tensor]:
        nodes = self._val_nodes(data)
        return log_probs[:, nodes], data.y[nodes]

    def _val_nodes(self, data: Data) -> Tensor:
        """The nodes the aggregator is fitted on (retained validation or training nodes)."""
        key = "train_mask" if self.aggregator_nodes == "train" else "val_mask"
        val = getattr(data, key, None)
        if val is None:
            val = torch.zeros(data.num_nodes, dtype=torch.bool)
        return val & ~data.forgotten_mask

    def _graph_key(self, data: Data) -> str:
        nodes = self._val_nodes(data)
        return state_fingerprint([nodes.nonzero().view(-1), _validation_graph(data, nodes)])

    def _fit_aggregator(self, data: Data, log_probs: Tensor, aggregator: Aggregator | None = None
                        ) -> str | None:
        agg = self.aggregator_ if aggregator is None else aggregator
        if hasattr(agg, "set_graph"):
            agg.set_graph(_validation_graph(data, self._val_nodes(data)))
        key = super()._fit_aggregator(data, log_probs, aggregator)
        self.aggregator_graph_key_ = self._graph_key(data)
        return key

    def _fit(self, data: Data) -> None:
        self.aggregator_graph_key_ = None
        super()._fit(data)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        previous_key = self.aggregator_graph_key_
        super()._unlearn(request, retained, report)
        if not self.aggregator_.needs_fit or report.diagnostics.get("aggregator_refit"):
            return
        if previous_key != self._graph_key(retained):  # only the graph among validation nodes changed
            agg = make_aggregator(self.aggregator, **(self.aggregator_kwargs or {}))
            key = self._fit_aggregator(retained, self._shard_log_probs(retained), agg)
            self.aggregator_, self.aggregator_key_ = agg, key
            report.diagnostics["aggregator_refit"] = "the graph among validation nodes changed"

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state["aggregator_graph_key"] = self.aggregator_graph_key_
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.aggregator_graph_key_ = state.get("aggregator_graph_key")
