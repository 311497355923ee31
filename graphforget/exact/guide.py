r"""GUIDE: inductive graph unlearning (Wang, Huai & Wang, "Inductive Graph Unlearning",
USENIX Security 2023), on the sharded framework of :mod:`graphforget.exact`.

**Inductive split.** The training graph :math:`G_{tr}` is induced by the training nodes;
the evaluation nodes (validation and test) and every edge touching them are unseen by
the partition, by shard training and by the aggregation. Predictions are made on an
inference graph :math:`G_{ev}` the models never trained on:

* ``inference="evaluation"`` (GUIDE's protocol): the graph induced by the evaluation nodes
  (edges to training nodes are dropped too), a test graph disjoint from :math:`G_{tr}`,
  so a shard model never reads a training node of another shard;
* ``inference="full"``: the whole retained graph, i.e. new nodes arrive attached to the
  training graph (GraphSAGE's inductive evaluation, and how OpenGU evaluates GUIDE).
  Forgotten nodes have left it, so no prediction reads them.

**Guided partition.** :class:`~graphforget.partition.GUIDEPartitioner` (``"fast"`` or
``"sr"``) splits :math:`G_{tr}` into balanced, label-fair shards :math:`S_1..S_K`.

**Subgraph repair.** Shard :math:`i` trains on :math:`G_{tr}[S_i]` plus, for every cut
edge :math:`(u, v)` with :math:`u \in S_i`, :math:`v \notin S_i`, one virtual neighbour
:math:`\tilde v_{uv}` of :math:`u`:

=========  ==============================================================
``none``   no virtual node (the cut edge is simply lost)
``zero``   :math:`x_{\tilde v} = 0`
``mirror`` :math:`x_{\tilde v} = x_u` (a mirror of the endpoint inside the shard)
``mixup``  :math:`x_{\tilde v} = \lambda x_u + (1-\lambda)\,\overline{x}_{N_i(u)}`, the
           mean over :math:`u`'s neighbours inside the shard (:math:`x_u` if none)
=========  ==============================================================

Virtual nodes carry no label and are excluded from the loss. Their features never read
another shard's data, but their *existence* encodes the edge :math:`(u, v)`: forgetting
:math:`v` (or the edge) removes them, so the shards of :math:`v`'s neighbours are
retrained as well (they appear in ``report.affected["shards"]``).

**Similarity aggregation.** Shard posteriors on :math:`G_{ev}` are combined as
:math:`\log\sum_i w_i p_i` with :math:`w_i = k(G_i, G_{ev}) / \sum_j k(G_j, G_{ev})`,
where :math:`k` is the normalised pyramid match kernel on adjacency spectra
(:func:`pyramid_match_features`). It uses no labels and no training data beyond each
shard's own graph, so a deletion only recomputes the kernel features of the shards it
retrains.

Exactness: each shard equals a fresh training, from the same per-shard seed, on its
retained shard graph (with its retained virtual nodes), bitwise on CPU.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.exact._aggregators import Aggregator, register_aggregator
from graphforget.exact.sharded import ShardedUnlearner, _build_backbone, _stage_seed, _train_backbone
from graphforget.executor import derive_seed
from graphforget.partition import GUIDEPartitioner, induced_view
from graphforget.requests import EdgeRequest, FeatureRequest, ForgetRequest, NodeRequest
from graphforget.training import TrainConfig, forward
from graphforget.unlearner import Task, UnlearnReport, state_fingerprint

__all__ = ["GUIDE", "SimilarityAggregator", "pyramid_match_features", "pyramid_match",
           "repaired_shard_graph", "train_guide_shard_job", "REPAIRS"]

REPAIRS = ("none", "zero", "mirror", "mixup")
INFERENCE = ("evaluation", "full")


# ---------------------------------------------------------------------------
# pyramid match kernel on adjacency spectra
# ---------------------------------------------------------------------------
def pyramid_match_features(edge_index: Tensor, num_nodes: int, dim: int = 6, levels: int = 4
                           ) -> Tensor:
    r"""Kernel features of a graph for the pyramid match kernel of Nikolentzos,
    Meladianos & Vazirgiannis ("Matching Node Embeddings for Graph Similarity", AAAI
    2017): each node is embedded by the absolute values of the ``dim`` eigenvectors of the
    adjacency matrix with the largest-magnitude eigenvalues (points of :math:`[0,1]^d`);
    at level :math:`l = 0..L` every dimension is cut into :math:`2^l` equal bins.

    Returns the concatenated per-level, per-dimension histograms (``[(L+1), d, 2^L]``,
    zero-padded), from which :func:`pyramid_match` computes the kernel.
    """
    d = int(dim)
    out = torch.zeros(levels + 1, d, 2 ** levels, dtype=torch.float64)
    if num_nodes == 0:
        return out
    emb = _spectral_embedding(edge_index, num_nodes, d)
    for lvl in range(levels + 1):
        bins = 2 ** lvl
        idx = (emb * bins).long().clamp(max=bins - 1)  # [n, d]
        for j in range(d):
            out[lvl, j, :bins] = torch.bincount(idx[:, j], minlength=bins).double()
    return out


def _spectral_embedding(edge_index: Tensor, n: int, d: int) -> Tensor:
    import scipy.sparse as sp

    ei = edge_index.numpy()
    a = sp.coo_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(n, n)).tocsr()
    a = ((a + a.T) > 0).astype(np.float64)
    k = min(d, n)
    if n <= 400 or k >= n - 1:
        vals, vecs = np.linalg.eigh(a.toarray())
        order = np.argsort(-np.abs(vals), kind="stable")[:k]
        vecs = vecs[:, order]
    else:
        from scipy.sparse.linalg import eigsh

        _, vecs = eigsh(a, k=k, which="LM", v0=np.ones(n) / math.sqrt(n), tol=1e-8)
    emb = np.zeros((n, d))
    emb[:, :k] = np.abs(vecs)
    return torch.from_numpy(emb)


def pyramid_match(a: Tensor, b: Tensor) -> float:
    r"""The normalised pyramid match kernel between two feature sets of
    :func:`pyramid_match_features`:

    .. math::
        K = I_L + \sum_{l<L} 2^{-(L-l)} (I_l - I_{l+1}), \qquad
        I_l = \sum_{j, \text{bin}} \min\big(h^a_{l,j}, h^b_{l,j}\big),
        \qquad \hat K = K / \sqrt{K_{aa} K_{bb}}.

    :math:`K_{aa} = d\,n_a`, since every level's self-intersection counts every node in
    every dimension.
    """
    inter = torch.minimum(a, b).sum(dim=(1, 2))  # I_l
    levels = inter.numel() - 1
    k = float(inter[levels])
    for lvl in range(levels):
        k += float(inter[lvl] - inter[lvl + 1]) / 2 ** (levels - lvl)
    kaa, kbb = float(a[0].sum()), float(b[0].sum())
    return k / math.sqrt(kaa * kbb) if kaa > 0 and kbb > 0 else 0.0


@register_aggregator
class SimilarityAggregator(Aggregator):
    r"""GUIDE's similarity-based aggregation :math:`\log\sum_i w_i p_i`, with weights
    :math:`w` set from graph-kernel similarities (:class:`GUIDE` sets them for each
    evaluation graph). It is fitted on no labels, so it never needs a refit."""

    name = "similarity"

    def __init__(self) -> None:
        self.weights_: Tensor | None = None

    def combine(self, log_probs: Tensor) -> Tensor:
        k = log_probs.size(0)
        w = self.weights_ if self.weights_ is not None and self.weights_.numel() == k \
            else torch.full((k,), 1.0 / k)
        return torch.logsumexp(log_probs + w.clamp_min(1e-30).log().view(-1, 1, 1).to(log_probs.dtype), dim=0)


# ---------------------------------------------------------------------------
# repaired shard graphs
# ---------------------------------------------------------------------------
def repaired_shard_graph(data: Data, nodes: Tensor, boundary: Tensor, repair: str,
                         mixup_weight: float = 0.5) -> Data:
    """The training graph of one shard: ``data`` induced by ``nodes`` (ascending ids), plus
    one virtual neighbour per cut edge in ``boundary`` (``[2, m]``, first row inside the
    shard), with features from ``repair``. Virtual nodes have ``train_mask=False``."""
    view = induced_view(data, nodes)
    out = Data(x=view.x, y=view.y, edge_index=view.edge_index, num_nodes=int(nodes.numel()))
    out.train_mask = torch.ones(int(nodes.numel()), dtype=torch.bool)
    out.node_ids = nodes
    if repair == "none" or boundary.numel() == 0:
        return out
    local = torch.searchsorted(nodes, boundary[0])
    m, n0 = int(local.numel()), int(nodes.numel())
    x = out.x
    if repair == "zero":
        xv = torch.zeros(m, x.size(1), dtype=x.dtype)
    elif repair == "mirror":
        xv = x[local]
    elif repair == "mixup":
        ei = out.edge_index
        mean = scatter(x[ei[0]], ei[1], dim=0, dim_size=n0, reduce="mean")
        has = torch.bincount(ei[1], minlength=n0) > 0
        mean = torch.where(has.view(-1, 1), mean, x)
        lam = float(mixup_weight)
        xv = lam * x[local] + (1.0 - lam) * mean[local]
    else:
        raise GraphForgetError(f"repair must be one of {REPAIRS}, got {repair!r}")
    virtual = torch.arange(n0, n0 + m)
    extra = torch.cat([torch.stack([local, virtual]), torch.stack([virtual, local])], dim=1)
    out.x = torch.cat([x, xv])
    out.y = torch.cat([out.y, torch.zeros(m, dtype=out.y.dtype)])
    out.edge_index = torch.cat([out.edge_index, extra], dim=1)
    out.train_mask = torch.cat([out.train_mask, torch.zeros(m, dtype=torch.bool)])
    out.num_nodes = n0 + m
    return out


def train_guide_shard_job(data: Data, spec: dict[str, Any]) -> list[dict[str, Tensor] | None]:
    """Trains one GUIDE shard from scratch on its repaired shard graph (any executor)."""
    config, shard, seed = spec["config"], int(spec["shard"]), int(spec["seed"])
    nodes = spec["nodes"]
    if nodes.numel() == 0:
        return [None]
    graph = repaired_shard_graph(data, nodes, spec["boundary"], spec["repair"], spec["mixup_weight"])
    model = _build_backbone(config, _stage_seed(seed, shard, 0))
    cfg = TrainConfig(epochs=spec["stage_epochs"][0], lr=config["lr"],
                      weight_decay=config["weight_decay"], patience=config["patience"])
    _train_backbone(model, graph, cfg, _stage_seed(seed, shard, 0), config)
    return [{k: v.clone() for k, v in model.state_dict().items()}]


# ---------------------------------------------------------------------------
# the unlearner
# ---------------------------------------------------------------------------
@register_method("guide")
class GUIDE(ShardedUnlearner):
    r"""GUIDE (Wang, Huai & Wang, USENIX Security 2023): guided partition, subgraph repair
    and similarity-based aggregation for inductive graph unlearning (see the module docs).

    .. math::
        \hat y(v) = \arg\max_c \log \sum_i w_i(G_{ev})\, f_i(v; G_{ev})_c, \qquad
        f_i = \mathrm{train}\big(\mathrm{repair}(G_{tr}[S_i])\big)

    Args:
        model (str): backbone. (default: :obj:`"sage"`)
        shards (int): ``K``. (default: :obj:`10`)
        partition (str): ``"fast"`` or ``"sr"``. (default: :obj:`"fast"`)
        partition_kwargs (dict, optional): :class:`~graphforget.partition.GUIDEPartitioner`
            arguments (``alpha``, ``beta``, ``delta``, ...).
        repair (str): ``"none"``, ``"zero"``, ``"mirror"`` or ``"mixup"``. (default: :obj:`"mixup"`)
        mixup_weight (float): :math:`\lambda` of the mixup repair. (default: :obj:`0.5`)
        aggregator (str): ``"similarity"``, ``"mean"``, ``"mean-log"`` or ``"majority"``
            (the ``learned`` aggregator would fit on evaluation nodes, which the inductive
            setting keeps unseen). (default: :obj:`"similarity"`)
        kernel_dim (int): eigenvectors per node of the pyramid match kernel. (default: :obj:`6`)
        kernel_levels (int): pyramid levels :math:`L`. (default: :obj:`4`)
        setting (str): ``"inductive"`` (the only setting GUIDE is defined for).
        inference (str): the graph predictions are made on: ``"evaluation"`` (induced by
            the evaluation nodes, GUIDE's disjoint test graph) or ``"full"`` (the whole
            retained graph, OpenGU's evaluation). (default: :obj:`"evaluation"`)
        Other arguments: see :class:`~graphforget.exact.ShardedUnlearner`.
    """

    tasks = (Task.NODE,)
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest)

    def __init__(self, model: str = "sage", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 100, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, shards: int = 10,
                 partition: str = "fast", partition_kwargs: dict[str, Any] | None = None,
                 repair: str = "mixup", mixup_weight: float = 0.5,
                 aggregator: str = "similarity", aggregator_kwargs: dict[str, Any] | None = None,
                 kernel_dim: int = 6, kernel_levels: int = 4, setting: str = "inductive",
                 inference: str = "evaluation", executor: str = "serial",
                 executor_kwargs: dict[str, Any] | None = None,
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
        self.repair = repair
        self.mixup_weight = mixup_weight
        self.kernel_dim = kernel_dim
        self.kernel_levels = kernel_levels
        self.inference = inference

    # -- configuration ---------------------------------------------------------------
    def _validate_params(self) -> None:
        if self.setting != "inductive":
            raise GraphForgetError(f"GUIDE is an inductive method: setting must be 'inductive', "
                                   f"got {self.setting!r}")
        if self.inference not in INFERENCE:
            raise GraphForgetError(f"inference must be one of {INFERENCE}, got {self.inference!r}")
        if self.repair not in REPAIRS:
            raise GraphForgetError(f"repair must be one of {REPAIRS}, got {self.repair!r}")
        if not 0.0 <= float(self.mixup_weight) <= 1.0:
            raise GraphForgetError(f"mixup_weight must lie in [0, 1], got {self.mixup_weight!r}")
        if str(self.aggregator).lower() == "learned":
            raise GraphForgetError("GUIDE keeps evaluation nodes unseen, so the 'learned' aggregator "
                                   "(fitted on validation nodes) is not available; use 'similarity'")
        for name in ("kernel_dim", "kernel_levels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GraphForgetError(f"{name} must be a positive integer, got {value!r}")
        super()._validate_params()

    def _make_partitioner(self) -> GUIDEPartitioner:
        if self.partition not in ("fast", "sr"):
            raise GraphForgetError(f"GUIDE's partition must be 'fast' or 'sr', got {self.partition!r}")
        kwargs = dict(self.partition_kwargs or {})
        kwargs.setdefault("seed", derive_seed(self.seed, "partition"))
        return GUIDEPartitioner(method=self.partition, **kwargs)

    def _shard_job(self) -> Any:
        return train_guide_shard_job

    # -- shard graphs ------------------------------------------------------------------
    def _boundary(self, data: Data, shard: int) -> Tensor:
        """Retained cut edges ``(u, v)`` of the training graph with ``u`` in ``shard`` and
        ``v`` a training node of another shard (one virtual node each)."""
        ei = data.edge_index
        if self.repair == "none" or ei is None or ei.numel() == 0:
            return torch.empty(2, 0, dtype=torch.long)
        inside = self._train_mask(data, shard)
        other = data.train_mask & ~data.forgotten_mask & (self.partition_.node_shard >= 0) & \
            (self.partition_.node_shard != shard)
        cut = ei[:, inside[ei[0]] & other[ei[1]]]
        order = torch.argsort(cut[0] * int(data.num_nodes) + cut[1])
        return cut[:, order]

    def _spec(self, data: Data, shard: int) -> dict[str, Any]:
        spec = super()._spec(data, shard)
        spec.update(boundary=self._boundary(data, shard), repair=self.repair,
                    mixup_weight=float(self.mixup_weight))
        return spec

    def stage_keys(self, data: Data, shard: int) -> list[str]:
        base = super().stage_keys(data, shard)
        extra = [self._boundary(data, shard), self.repair, float(self.mixup_weight)]
        return [state_fingerprint([k, extra]) for k in base]

    def affected_shards(self, request: ForgetRequest, data: Data | None = None) -> list[int]:
        """The shards holding an item of ``request`` plus, with repair on, the shards whose
        virtual nodes stand for an edge the request removes."""
        data = self.data_ if data is None else data
        hit = set(super().affected_shards(request, data))
        if self.repair == "none" or isinstance(request, FeatureRequest):
            return sorted(hit)  # virtual features never read another shard's features
        node_shard = self.partition_.node_shard
        member = data.train_mask & ~data.forgotten_mask & (node_shard >= 0)
        ei = data.edge_index
        if isinstance(request, NodeRequest):
            gone = torch.zeros(int(data.num_nodes), dtype=torch.bool)
            gone[request.node_ids] = True
            touch = gone[ei[1]] & member[ei[0]] & member[ei[1]]
            hit.update(node_shard[ei[0, touch]].tolist())
        elif isinstance(request, EdgeRequest):
            r = request.edge_index
            both = member[r[0]] & member[r[1]]
            hit.update(node_shard[r[0, both]].tolist())
            hit.update(node_shard[r[1, both]].tolist())
        return sorted(hit)

    def shard_graph(self, shard: int, data: Data | None = None) -> Data:
        """Shard ``shard``'s (repaired) training graph on ``data`` (default: retained data)."""
        data = self.data_ if data is None else data
        spec = self._spec(data, shard)
        return repaired_shard_graph(data, spec["nodes"], spec["boundary"], self.repair,
                                    float(self.mixup_weight))

    # -- evaluation graph and similarity weights -------------------------------------------
    @staticmethod
    def evaluation_graph(data: Data) -> Data:
        """``data`` with only the edges between evaluation (non-training, retained) nodes."""
        ei = data.edge_index
        seen = _seen(data)
        keep = ~seen[ei[0]] & ~seen[ei[1]]
        view = Data(x=data.x, edge_index=ei[:, keep], num_nodes=data.num_nodes)
        ew = getattr(data, "edge_weight", None)
        if ew is not None:
            view.edge_weight = ew[keep]
        return view

    def inference_graph(self, data: Data) -> Data:
        """The graph predictions are made on (see ``inference``): :meth:`evaluation_graph`
        or the whole retained ``data``."""
        if self.inference == "evaluation":
            return self.evaluation_graph(data)
        view = Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
        ew = getattr(data, "edge_weight", None)
        if ew is not None:
            view.edge_weight = ew
        return view

    def _query_nodes(self, data: Data) -> Tensor:
        """Nodes of the inference graph the similarity kernel compares shards with."""
        if self.inference == "evaluation":
            return ~_seen(data)
        forgotten = getattr(data, "forgotten_mask", None)
        keep = torch.ones(int(data.num_nodes), dtype=torch.bool)
        return keep if forgotten is None else ~forgotten

    def _kernel(self, edge_index: Tensor, nodes: Tensor, n: int) -> Tensor:
        relabel = torch.full((n,), -1, dtype=torch.long)
        relabel[nodes] = torch.arange(nodes.numel())
        inside = (relabel[edge_index[0]] >= 0) & (relabel[edge_index[1]] >= 0)
        return pyramid_match_features(relabel[edge_index[:, inside]], int(nodes.numel()),
                                      self.kernel_dim, self.kernel_levels)

    def _shard_kernels(self, data: Data) -> tuple[dict[int, Tensor], list[int]]:
        """Kernel features of every active shard's graph; recomputes only shards whose
        content key changed since they were last computed."""
        cache: dict[int, tuple[str, Tensor]] = getattr(self, "_kernel_cache", {})
        out, recomputed = {}, []
        for s in self.active_shards:
            key = self.checkpoints_[s][-1]["key"]
            if s not in cache or cache[s][0] != key:
                nodes = self._train_mask(data, s).nonzero().view(-1)
                cache[s] = (key, self._kernel(data.edge_index, nodes, int(data.num_nodes)))
                recomputed.append(s)
            out[s] = cache[s][1]
        self._kernel_cache = cache
        return out, recomputed

    def similarity_weights(self, data: Data | None = None) -> Tensor:
        """Normalised kernel similarities :math:`w_i` of the active shards to the
        inference graph of ``data`` (default: the retained data)."""
        data = self.data_ if data is None else data
        shard_feats, _ = self._shard_kernels(self.data_)
        query = self._query_nodes(data)
        key = state_fingerprint([data.edge_index, query, self.inference])
        cached = getattr(self, "_eval_kernel", None)
        if cached is None or cached[0] != key:
            cached = (key, self._kernel(self.inference_graph(data).edge_index,
                                        query.nonzero().view(-1), int(data.num_nodes)))
            self._eval_kernel = cached
        sims = torch.tensor([pyramid_match(shard_feats[s], cached[1]) for s in self.active_shards],
                            dtype=torch.float64)
        if float(sims.sum()) <= 0:
            return torch.full_like(sims, 1.0 / max(sims.numel(), 1))
        return sims / sims.sum()

    def _logits(self, data: Data) -> Tensor:
        log_probs = self._shard_log_probs(self.inference_graph(data))
        if isinstance(self.aggregator_, SimilarityAggregator):
            self.aggregator_.weights_ = self.similarity_weights(data).float()
        return self.aggregator_.combine(log_probs)

    # -- fitting and unlearning -----------------------------------------------------------
    def _fit(self, data: Data) -> None:
        self._kernel_cache = {}
        self._eval_kernel = None
        super()._fit(data)
        self.partition_.inductive = True
        if isinstance(self.aggregator_, SimilarityAggregator):
            self._shard_kernels(data)

    def _shard_log_probs(self, data: Data, models: list[torch.nn.Module | None] | None = None
                         ) -> Tensor:
        models = self.models_ if models is None else models
        outs = []
        with torch.no_grad():
            for m in models:
                if m is not None:
                    m.eval()
                    outs.append(torch.log_softmax(forward(m, data), dim=-1))
        if not outs:
            raise GraphForgetError("every shard lost all its training nodes: nothing to predict with")
        return torch.stack(outs)

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        super()._unlearn(request, retained, report)
        start = time.perf_counter()
        if isinstance(self.aggregator_, SimilarityAggregator):
            _, recomputed = self._shard_kernels(retained)
            weights = self.similarity_weights(retained)
            report.diagnostics["kernel_recomputed_shards"] = recomputed
            report.diagnostics["similarity_weights"] = weights.tolist()
            report.diagnostics["weights_near_uniform"] = _near_uniform(weights)
        report.breakdown["kernel"] = time.perf_counter() - start
        report.diagnostics["repair"] = self.repair

    def _set_state(self, state: dict[str, Any]) -> None:
        self._kernel_cache = {}
        self._eval_kernel = None
        super()._set_state(state)

    # -- benchmarks -------------------------------------------------------------------------
    def bench_extras(self, data: Data, request: ForgetRequest, retained: Data) -> dict[str, Any]:
        """``retrain_single_seconds`` / ``utility_single``: one backbone trained on the
        whole retained training graph (inductive, predicting on the inference graph);
        partition statistics (GUIDE's balance and label-fairness scores) and the effective
        aggregation weights."""
        start = time.perf_counter()
        train_nodes = (retained.train_mask & ~retained.forgotten_mask).nonzero().view(-1)
        graph = induced_view(retained, train_nodes)
        model = _build_backbone(self._config(), self.seed)
        _train_backbone(model, graph, TrainConfig(epochs=self.epochs, lr=self.lr,
                                                  weight_decay=self.weight_decay),
                        self.seed, self._config())
        seconds = time.perf_counter() - start
        with torch.no_grad():
            model.eval()
            pred = forward(model, self.inference_graph(retained)).argmax(-1)
        test = retained.test_mask
        utility_single = float((pred[test] == retained.y[test]).float().mean())
        out: dict[str, Any] = {"retrain_single_seconds": seconds, "utility_single": utility_single,
                               "partition_seconds": self.partition_seconds_,
                               "partition_stats": self.partition_.stats(data),
                               "partition_info": {k: v for k, v in self.partition_.info.items()
                                                  if not isinstance(v, list)}}
        if isinstance(self.aggregator_, SimilarityAggregator):
            w = self.similarity_weights()
            out["similarity_weights"] = w.tolist()
            out["weights_near_uniform"] = _near_uniform(w)
        return out


def _seen(data: Data) -> Tensor:
    """Training or forgotten nodes: everything the evaluation graph must not contain."""
    forgotten = getattr(data, "forgotten_mask", None)
    return data.train_mask if forgotten is None else data.train_mask | forgotten


def _near_uniform(weights: Tensor, tolerance: float = 0.1) -> bool:
    """Whether every weight lies within ``tolerance`` (relative) of :math:`1/K`."""
    k = weights.numel()
    return bool(((weights - 1.0 / k).abs() <= tolerance / k).all()) if k else True
