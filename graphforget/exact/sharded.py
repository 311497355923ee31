r"""Sharded exact unlearning: SISA (Bourtoule et al., IEEE S&P 2021) and GraphEraser
(Chen et al., CCS 2022).

The training nodes are partitioned into ``K`` shards; shard :math:`i` trains its own
backbone :math:`f_i` on the subgraph induced by its training nodes :math:`S_i` (edges to
other shards are dropped), and predictions aggregate the shard outputs. Forgetting an
item retrains only the shards whose training graph contained it, from the same
per-shard seed, so the ensemble equals one fitted from scratch on the retained data with
the same partition (bitwise on CPU).

Settings:

* ``transductive`` (GraphEraser): shard :math:`i`'s graph is induced by
  :math:`S_i \cup E`, with :math:`E` the evaluation (validation and test) nodes; the
  shard model sees their features and edges, but not their labels. Inference for
  shard :math:`i` uses the same edges. Forgetting an evaluation node or an edge between
  two evaluation nodes therefore touches every shard.
* ``inductive``: shard :math:`i` trains on the graph induced by :math:`S_i` alone and
  predicts on the whole (retained) inference graph, which it never saw in training.

SISA slicing splits each shard's training nodes into ``R`` slices; stage :math:`r`
trains on slices :math:`1..r` starting from stage :math:`r-1`'s model, and a checkpoint
is kept after each stage under a content hash of the prefix (node ids, induced edges,
features, labels). A deletion resumes from the last checkpoint whose hash is unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph

from graphforget.errors import GraphForgetError
from graphforget.exact._aggregators import Aggregator, make_aggregator
from graphforget.executor import OwnsExecutor, derive_seed
from graphforget.gnn import GNNUnlearner
from graphforget.models import build_model, receptive_hops
from graphforget.partition import Partition, induced_view, make_partitioner
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    ForgetRequest,
    NodeRequest,
    SampleRequest,
    is_undirected,
)
from graphforget.training import TrainConfig, forward, num_classes, seeded, train_node_classifier
from graphforget.unlearner import Guarantee, UnlearnReport, state_fingerprint
from graphforget.user_model import UserModel, fresh_module, is_user_model, resolve_dtype

__all__ = ["ShardedUnlearner", "SETTINGS", "train_shard_job", "shard_seed"]

SETTINGS = ("transductive", "inductive")


def shard_seed(seed: int, shard: int) -> int:
    """The seed of shard ``shard``'s model (initialisation and first-stage dropout)."""
    return derive_seed(seed, "shard", shard)


def _stage_seed(seed: int, shard: int, stage: int) -> int:
    base = shard_seed(seed, shard)
    return base if stage == 0 else derive_seed(base, "slice", stage)


def _build_backbone(config: dict[str, Any], seed: int) -> torch.nn.Module:
    """A fresh backbone (a registered name or the user's module/factory), seeded, on the
    configured device and dtype."""
    dtype, device = resolve_dtype(config.get("dtype")), config.get("device")
    with seeded(seed):
        if is_user_model(config["model"]):
            model: torch.nn.Module = UserModel(fresh_module(config["model"]), config.get("forward_fn"))
        else:
            model = build_model(config["model"], config["in_channels"], config["num_classes"],
                                hidden_channels=config["hidden_channels"],
                                num_layers=config["num_layers"], dropout=config["dropout"],
                                **(config["model_kwargs"] or {}))
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    return model


def _train_backbone(model: torch.nn.Module, view: Data, cfg: TrainConfig, seed: int,
                    config: dict[str, Any]) -> None:
    """Trains one shard model in place: the user's ``train_fn`` (under ``seed``) when
    configured, else :func:`~graphforget.training.train_node_classifier`."""
    module = model.module if isinstance(model, UserModel) else model
    train_fn, loss_fn = config.get("train_fn"), config.get("loss_fn")
    if train_fn is not None:
        with seeded(seed):
            train_fn(module, view)
        model.eval()
        return
    loop_loss = None if loss_fn is None else (
        lambda m, d, mask: loss_fn(m.module if isinstance(m, UserModel) else m, d, mask))
    train_node_classifier(model, view, cfg, seed=seed, loss_fn=loop_loss)


def _receptive_field(data: Data, nodes: Tensor, stage_of: Tensor, hops: int) -> tuple[Tensor, Tensor]:
    """The nodes of a transductive shard graph that its training nodes' loss can depend on:
    the ``hops``-hop in-neighbourhood of the training nodes inside the graph induced by
    ``nodes``. With ``hops`` from :func:`~graphforget.models.receptive_hops` (the layers,
    plus one where messages are normalised by their source's degree, so that every node
    whose representation reaches a training node keeps its whole degree) the loss and its
    gradients equal those on the whole shard graph (the evaluation nodes outside it only
    cost time)."""
    view = induced_view(data, nodes)
    seeds = (stage_of >= 0).nonzero().view(-1)
    subset, _, _, _ = k_hop_subgraph(seeds, hops, view.edge_index, num_nodes=int(nodes.numel()))
    return nodes[subset], stage_of[subset]


def train_shard_job(data: Data, spec: dict[str, Any]) -> list[dict[str, Tensor] | None]:
    """Trains one shard's remaining stages (runs in any executor; ``spec`` is small).

    ``spec``: ``shard``, ``nodes`` (ids of the shard's final training graph, ascending),
    ``stage_of`` (the slice of each of those nodes; ``-1`` for evaluation nodes that are
    in the graph but not trained on), ``start`` (first stage to train), ``init`` (the
    state to resume from, or ``None``), ``seed``, ``stage_epochs`` and ``config``.
    Returns the model state after each trained stage (``None`` where the prefix has no
    training node yet and no model exists).
    """
    config = spec["config"]
    nodes, stage_of = spec["nodes"], spec["stage_of"]
    shard, seed = int(spec["shard"]), int(spec["seed"])
    model: torch.nn.Module | None = None
    if spec["init"] is not None:
        model = _build_backbone(config, _stage_seed(seed, shard, 0))
        model.load_state_dict(spec["init"])
    out: list[dict[str, Tensor] | None] = []
    hops = config.get("train_hops")
    for stage in range(int(spec["start"]), len(spec["stage_epochs"])):
        in_stage = stage_of <= stage
        stage_nodes, stage_slice = nodes[in_stage], stage_of[in_stage]
        if hops and bool((stage_slice < 0).any()):
            stage_nodes, stage_slice = _receptive_field(data, stage_nodes, stage_slice, int(hops))
        view = induced_view(data, stage_nodes)
        view.train_mask = stage_slice >= 0
        if int(view.train_mask.sum()) == 0:
            out.append(None if model is None else {k: v.clone() for k, v in model.state_dict().items()})
            continue
        if model is None:
            model = _build_backbone(config, _stage_seed(seed, shard, 0))
        cfg = TrainConfig(epochs=spec["stage_epochs"][stage], lr=config["lr"],
                          weight_decay=config["weight_decay"], patience=config["patience"])
        _train_backbone(model, view, cfg, _stage_seed(seed, shard, stage), config)
        out.append({k: v.clone() for k, v in model.state_dict().items()})
    return out


class ShardedUnlearner(OwnsExecutor, GNNUnlearner):
    r"""Shared machinery of :class:`GraphEraser` and :class:`SISA` (see the module docs).

    Args:
        shards (int): ``K``. (default: :obj:`8`)
        partition (str): partitioner name (:func:`graphforget.partition.make_partitioner`).
        partition_kwargs (dict, optional): partitioner arguments (``delta``, ``embedding``, ...).
        aggregator (str): ``mean``, ``mean-log``, ``majority`` or ``learned``.
        aggregator_kwargs (dict, optional): aggregator arguments.
        slices (int): SISA slices per shard (``1`` = none). (default: :obj:`1`)
        setting (str): ``"transductive"`` or ``"inductive"``.
        executor (str): ``serial``, ``process`` or ``ray``. (default: :obj:`"serial"`)
        executor_kwargs (dict, optional): executor arguments (``workers``, ``threads``, ...).
        **backbone: the arguments of :class:`~graphforget.gnn.GNNUnlearner`; ``epochs`` is
            per shard (and split over slices as SISA does, see :meth:`stage_epochs`).
    """

    guarantee = Guarantee.EXACT
    supported_requests = (NodeRequest, EdgeRequest, FeatureRequest, SampleRequest)

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, shards: int = 8,
                 partition: str = "random", partition_kwargs: dict[str, Any] | None = None,
                 aggregator: str = "mean", aggregator_kwargs: dict[str, Any] | None = None,
                 slices: int = 1, setting: str = "transductive", executor: str = "serial",
                 executor_kwargs: dict[str, Any] | None = None,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype)
        self.shards = shards
        self.partition = partition
        self.partition_kwargs = partition_kwargs
        self.aggregator = aggregator
        self.aggregator_kwargs = aggregator_kwargs
        self.slices = slices
        self.setting = setting
        self.executor = executor
        self.executor_kwargs = executor_kwargs

    # -- configuration ---------------------------------------------------------------
    def _validate_params(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise GraphForgetError(f"shards must be a positive integer, got {self.shards!r}")
        if isinstance(self.slices, bool) or not isinstance(self.slices, int) or self.slices < 1:
            raise GraphForgetError(f"slices must be a positive integer, got {self.slices!r}")
        if self.setting not in SETTINGS:
            raise GraphForgetError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
        make_aggregator(self.aggregator, **(self.aggregator_kwargs or {}))
        self._make_partitioner()

    def _make_partitioner(self) -> Any:
        """The partitioner of this unlearner (subclasses map their own ``partition`` names)."""
        return make_partitioner(self.partition, **self._partitioner_kwargs())

    def _shard_job(self) -> Any:
        """The picklable module-level function that trains one shard (``fn(data, spec)``)."""
        return train_shard_job

    def _partitioner_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.partition_kwargs or {})
        kwargs.setdefault("seed", derive_seed(self.seed, "partition"))
        return kwargs

    def stage_epochs(self) -> list[int]:
        """Epochs of each SISA stage: all ``epochs`` without slicing; with ``R`` slices,
        :math:`\\max(1, \\mathrm{round}(2e/(R+1)))` per stage, so that the total work
        matches training each shard for ``epochs`` (Bourtoule et al., Sec. V)."""
        if self.slices == 1:
            return [int(self.epochs)]
        per = max(1, round(2 * int(self.epochs) / (self.slices + 1)))
        return [per] * self.slices

    def _config(self) -> dict[str, Any]:
        return {"model": self.model, "in_channels": self.in_channels_,
                "num_classes": self.num_classes_, "hidden_channels": self.hidden_channels,
                "num_layers": self.num_layers, "dropout": self.dropout,
                "model_kwargs": self.model_kwargs, "lr": self.lr,
                "weight_decay": self.weight_decay, "patience": self.patience,
                "train_fn": self.train_fn, "forward_fn": self.forward_fn, "loss_fn": self.loss_fn,
                "device": self.device, "dtype": self.dtype, "train_hops": self._train_hops()}

    def _train_hops(self) -> int | None:
        """Transductive shard graphs are trained on their training nodes' receptive field
        only (see :func:`_receptive_field`): ``layers`` hops for mean and attention
        aggregation (GraphSAGE, GAT), ``layers + 1`` where a message is scaled by its
        source's degree (GCN, SGC, GPR; :func:`~graphforget.models.receptive_hops`); known
        for the named backbones without node-batch statistics; ``None`` (the whole shard
        graph) for a user's model, whose propagation graphforget cannot see, and for batch
        normalisation, whose statistics span every node of the graph."""
        if self.setting != "transductive" or not isinstance(self.model, str):
            return None
        kwargs = dict(self.model_kwargs or {})
        if kwargs.get("norm") not in (None, "none") or self.model.lower() in ("gin",):
            return None
        return receptive_hops(self.model, self.num_layers, kwargs)

    # -- membership ---------------------------------------------------------------------
    @staticmethod
    def _eval_mask(data: Data) -> Tensor:
        n = int(data.num_nodes)
        mask = torch.zeros(n, dtype=torch.bool)
        for key in ("val_mask", "test_mask"):
            m = getattr(data, key, None)
            if m is not None:
                mask |= m
        train = data.train_mask
        return mask & ~train & ~data.forgotten_mask

    def _train_mask(self, data: Data, shard: int) -> Tensor:
        return (self.partition_.node_shard == shard) & data.train_mask & ~data.forgotten_mask

    def _graph_mask(self, data: Data, shard: int) -> Tensor:
        """Nodes of shard ``shard``'s training graph."""
        mask = self._train_mask(data, shard)
        if self.setting == "transductive":
            mask = mask | self._eval_mask(data)
        return mask

    def _spec(self, data: Data, shard: int) -> dict[str, Any]:
        nodes = self._graph_mask(data, shard).nonzero().view(-1)
        train = self._train_mask(data, shard)[nodes]
        stage_of = torch.where(train, self.node_slice_[nodes], torch.full_like(nodes, -1))
        return {"shard": shard, "nodes": nodes, "stage_of": stage_of, "seed": int(self.seed),
                "stage_epochs": self.stage_epochs(), "config": self._config()}

    def stage_keys(self, data: Data, shard: int) -> list[str]:
        """Content hash of every SISA stage prefix of shard ``shard``: a chain over the
        slices, each adding its node ids, features, labels and the edges it induces with
        the prefix (plus, transductively, the evaluation nodes' content in stage 0)."""
        graph = self._graph_mask(data, shard)
        train = self._train_mask(data, shard)
        ei = data.edge_index
        x = getattr(data, "x", None)
        key = state_fingerprint(["shard", shard, self.setting])
        keys = []
        evaluation = graph & ~train
        in_prefix = evaluation.clone()
        for stage in range(self.slices):
            new = train & (self.node_slice_ == stage)
            in_prefix |= new
            if stage == 0:
                new = new | evaluation
            ids = new.nonzero().view(-1)
            if ei is not None and ei.numel():
                both = in_prefix[ei[0]] & in_prefix[ei[1]] & (new[ei[0]] | new[ei[1]])
                edges = ei[:, both]
            else:
                edges = torch.empty(2, 0, dtype=torch.long)
            key = state_fingerprint([key, ids, None if x is None else x[ids], data.y[ids],
                                     data.train_mask[ids], edges])
            keys.append(key)
        return keys

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, data: Data) -> None:
        self._validate_params()
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = num_classes(data)
        given = getattr(self, "_given_partition", None)
        if given is not None:
            self.partition_ = given[0]
            self.node_slice_ = given[1]
        else:
            partitioner = self._make_partitioner()
            part = partitioner.partition(data, self.shards, nodes=data.train_mask & ~data.forgotten_mask)
            self.partition_ = part
            self.node_slice_ = self._assign_slices(part)
        self.partition_seconds_ = float(self.partition_.seconds)
        start = time.perf_counter()
        self.checkpoints_ = self._train(data, list(range(self.shards)), {})
        self.train_seconds_ = time.perf_counter() - start
        self._build_models()
        self.aggregator_ = make_aggregator(self.aggregator, **(self.aggregator_kwargs or {}))
        if self.aggregator_.needs_fit:  # data-free rules need no shard outputs here
            self._fit_aggregator(data, self._shard_log_probs(data))
        else:
            self.aggregator_key_ = None

    def _assign_slices(self, part: Partition) -> Tensor:
        node_slice = torch.full_like(part.node_shard, -1)
        for shard in range(self.shards):  # one seeded permutation per shard (K iterations)
            nodes = part.shard_nodes(shard)
            g = torch.Generator().manual_seed(derive_seed(self.seed, "slices", shard))
            perm = torch.randperm(nodes.numel(), generator=g)
            node_slice[nodes[perm]] = torch.arange(nodes.numel()) % self.slices
        return node_slice

    def _train(self, data: Data, shards: list[int], resume: dict[int, int],
               keys: dict[int, list[str]] | None = None) -> list[list[dict[str, Any]]]:
        """Trains ``shards`` (each once, from stage ``resume[s]``: the stages before it are
        kept) and returns their full checkpoint lists; the others are copied from the
        current ones. ``keys``: the shards' stage keys on ``data`` where the caller has
        them already (hashed here otherwise)."""
        specs, keys = [], dict(keys or {})
        for s in shards:
            spec = self._spec(data, s)
            start = resume.get(s, 0)
            spec["start"] = start
            spec["init"] = None if start == 0 else self.checkpoints_[s][start - 1]["state"]
            specs.append((spec,))
            if s not in keys:
                keys[s] = self.stage_keys(data, s)
        results = self._executor().map(self._shard_job(), specs, shared=data) if specs else []
        old = getattr(self, "checkpoints_", None)
        out = []
        by_shard = dict(zip(shards, results, strict=True))
        for s in range(self.shards):
            if s in by_shard:
                start = resume.get(s, 0)
                kept = [] if start == 0 else [dict(c) for c in old[s][:start]]
                fresh = [{"key": keys[s][start + j], "state": st} for j, st in enumerate(by_shard[s])]
                out.append(kept + fresh)
            else:
                out.append(old[s])
        return out

    def _build_models(self, checkpoints: list[list[dict[str, Any]]] | None = None,
                      reuse: tuple[Any, Any] | None = None) -> list[torch.nn.Module | None]:
        """One eval-mode backbone per shard from its last checkpoint. ``reuse``: the
        ``(checkpoints, models)`` before a request; a shard whose checkpoint chain is still
        that very list (untouched by the request) keeps its model object."""
        checkpoints = self.checkpoints_ if checkpoints is None else checkpoints
        config = self._config()
        old_chains, old_models = reuse or (None, None)
        models: list[torch.nn.Module | None] = []
        for s, chain in enumerate(checkpoints):
            state = chain[-1]["state"]
            if state is None:
                models.append(None)
                continue
            if old_models is not None and old_chains[s] is chain:  # untouched: built from this state
                models.append(old_models[s])
                continue
            m = _build_backbone(config, shard_seed(self.seed, s))
            m.load_state_dict(state)
            m.eval()
            models.append(m)
        if checkpoints is self.checkpoints_:
            self.models_ = models
        return models

    @property
    def active_shards(self) -> list[int]:
        """Shards that hold a model (a shard whose training nodes were all forgotten holds none)."""
        return [s for s, m in enumerate(self.models_) if m is not None]

    # -- inference ----------------------------------------------------------------------
    def _shard_log_probs(self, data: Data, models: list[torch.nn.Module | None] | None = None
                         ) -> Tensor:
        models = self.models_ if models is None else models
        outs = []
        with torch.no_grad():
            for s, m in enumerate(models):
                if m is None:
                    continue
                view = data
                if self.setting == "transductive" and data.edge_index is not None \
                        and data.edge_index.numel() and data.num_nodes == self.partition_.num_nodes:
                    member = self._graph_mask(data, s)
                    ei = data.edge_index
                    keep = member[ei[0]] & member[ei[1]]
                    view = Data(x=data.x, edge_index=ei[:, keep], num_nodes=data.num_nodes)
                    ew = getattr(data, "edge_weight", None)
                    if ew is not None:
                        view.edge_weight = ew[keep]
                m.eval()
                outs.append(torch.log_softmax(forward(m, view), dim=-1))
        if not outs:
            raise GraphForgetError("every shard lost all its training nodes: nothing to predict with")
        return torch.stack(outs)

    def _logits(self, data: Data) -> Tensor:
        return self.aggregator_.combine(self._shard_log_probs(data))

    def _aggregator_inputs(self, data: Data, log_probs: Tensor) -> tuple[Tensor, Tensor]:
        val = getattr(data, "val_mask", None)
        if val is None:
            val = torch.zeros(data.num_nodes, dtype=torch.bool)
        val = val & ~data.forgotten_mask
        return log_probs[:, val], data.y[val]

    def _fit_aggregator(self, data: Data, log_probs: Tensor, aggregator: Aggregator | None = None
                        ) -> str | None:
        agg = self.aggregator_ if aggregator is None else aggregator
        if not agg.needs_fit:
            self.aggregator_key_ = None
            return None
        inputs, y = self._aggregator_inputs(data, log_probs)
        agg.fit(inputs, y)
        key = state_fingerprint([self.active_shards, inputs, y])
        if aggregator is None:
            self.aggregator_key_ = key
        return key

    # -- unlearning -----------------------------------------------------------------------
    def affected_shards(self, request: ForgetRequest, data: Data | None = None) -> list[int]:
        """Shards whose training graph holds an item of ``request`` (``data``: the data
        *before* the request; default the current retained data)."""
        data = self.data_ if data is None else data
        masks = torch.stack([self._graph_mask(data, s) for s in range(self.shards)])  # [K, n]
        if isinstance(request, (NodeRequest, FeatureRequest)):
            hit = masks[:, request.node_ids].any(dim=1)
        elif isinstance(request, EdgeRequest):
            ei = request.edge_index
            hit = (masks[:, ei[0]] & masks[:, ei[1]]).any(dim=1)
        else:
            raise GraphForgetError(f"cannot map a {request.kind} request to shards")
        return hit.nonzero().view(-1).tolist()

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        t0 = time.perf_counter()
        candidates = self.affected_shards(request)
        resume: dict[int, int] = {}
        new_keys: dict[int, list[str]] = {}
        for s in candidates:
            new_keys[s] = self.stage_keys(retained, s)
            old_keys = [c["key"] for c in self.checkpoints_[s]]
            first = next((r for r, (a, b) in enumerate(zip(new_keys[s], old_keys, strict=True))
                          if a != b), None)
            if first is not None:
                resume[s] = first
        shards = sorted(resume)
        t1 = time.perf_counter()
        # one job per touched shard, resuming from the checkpoint of the last slice
        # before its earliest changed one (however many of its items the request names)
        checkpoints = self._train(retained, shards, resume, new_keys)
        t2 = time.perf_counter()
        previous = (self.checkpoints_, getattr(self, "models_", None))
        self.checkpoints_ = checkpoints
        try:
            self._build_models(reuse=previous)
            if not self.active_shards:
                raise GraphForgetError("every shard lost all its training nodes: nothing to predict with")
            refit_reason = None
            if self.aggregator_.needs_fit:  # only then are the shard outputs needed here
                log_probs = self._shard_log_probs(retained)
                inputs, y = self._aggregator_inputs(retained, log_probs)
                key = state_fingerprint([self.active_shards, inputs, y])
                if key != self.aggregator_key_:
                    agg = make_aggregator(self.aggregator, **(self.aggregator_kwargs or {}))
                    self._fit_aggregator(retained, log_probs, agg)
                    refit_reason = "shard models changed" if shards else \
                        "a forgotten item lay in the validation data"
                    self.aggregator_, self.aggregator_key_ = agg, key
        except Exception:
            self.checkpoints_, self.models_ = previous
            raise
        t3 = time.perf_counter()
        report.breakdown.update({"locate": t1 - t0, "retrain_shards": t2 - t1,
                                 "aggregate": t3 - t2})
        report.affected["shards"] = shards
        report.affected["resumed_from_stage"] = {str(s): resume[s] for s in shards}
        # stages re-run per shard, counted from the checkpoints its job returned
        retrained = {str(s): len(checkpoints[s]) - resume[s] for s in shards}
        report.affected["shards_retrained"] = len(shards)
        report.affected["slices_retrained"] = sum(retrained.values())
        report.affected["slices_retrained_per_shard"] = retrained
        report.affected["nodes"] = int(request.affected_nodes(retained).numel())
        report.diagnostics["aggregator_refit"] = refit_reason
        report.diagnostics["partition_depends_on"] = list(self.partition_.depends_on)
        report.diagnostics["active_shards"] = len(self.active_shards)

    def unlearn_batch(self, requests: list[ForgetRequest]) -> UnlearnReport:
        """Serves several requests of one kind as one (each affected shard retrains once)."""
        if not requests:
            raise GraphForgetError("unlearn_batch needs at least one request")
        kinds = {type(r) for r in requests}
        if len(kinds) != 1:
            raise GraphForgetError(f"unlearn_batch needs requests of one kind, got {sorted(k.kind for k in kinds)}")
        first = requests[0]
        if isinstance(first, EdgeRequest):
            merged: ForgetRequest = EdgeRequest(torch.cat([r.edge_index for r in requests], 1))
        elif isinstance(first, FeatureRequest):
            feats = {None if r.feature_ids is None else tuple(r.feature_ids.tolist()) for r in requests}
            if len(feats) != 1:
                raise GraphForgetError("feature requests in one batch must name the same feature columns")
            merged = FeatureRequest(torch.cat([r.node_ids for r in requests]), first.feature_ids)
        else:
            merged = type(first)(torch.cat([r.node_ids for r in requests]))
        return self.unlearn(merged)

    # -- parameters, reference, state -------------------------------------------------------
    def parameter_vector(self) -> Tensor | None:
        params = [p.detach().reshape(-1) for m in self.models_ if m is not None
                  for p in m.parameters()]
        return torch.cat(params) if params else None

    def reference(self) -> ShardedUnlearner:
        """A fresh clone that, fitted on the retained data, reuses this partition and these
        slices (minus forgotten nodes) and the same seeds: the exact reference."""
        self._check_fitted()
        ref = self.clone(executor="serial", executor_kwargs=None)
        ref._given_partition = (self.partition_, self.node_slice_)
        return ref

    def bench_extras(self, data: Data, request: ForgetRequest, retained: Data) -> dict[str, Any]:
        """``retrain_single_seconds`` and ``utility_single``: one backbone of the same kind
        retrained on the whole retained graph (GraphEraser's speed-up baseline)."""
        from graphforget.exact.retrain import Retrain

        single = Retrain(model=self.model, hidden_channels=self.hidden_channels,
                         num_layers=self.num_layers, dropout=self.dropout, lr=self.lr,
                         weight_decay=self.weight_decay, epochs=self.epochs,
                         patience=self.patience, seed=self.seed, model_kwargs=self.model_kwargs,
                         train_fn=self.train_fn, forward_fn=self.forward_fn, loss_fn=self.loss_fn,
                         device=self.device, dtype=self.dtype)
        start = time.perf_counter()
        single.fit(retained)
        seconds = time.perf_counter() - start
        return {"retrain_single_seconds": seconds, "utility_single": single.score(mask="test_mask"),
                "partition_seconds": self.partition_seconds_,
                "partition_stats": self.partition_.stats(data)}

    def _get_state(self) -> dict[str, Any]:
        part = self.partition_.to_state()
        part.pop("seconds")
        return {"in_channels": self.in_channels_, "num_classes": self.num_classes_,
                "partition": part, "node_slice": self.node_slice_.clone(),
                "checkpoints": [[{"key": c["key"], "state": c["state"]} for c in chain]
                                for chain in self.checkpoints_],
                "aggregator": self.aggregator_.get_state(),
                "aggregator_key": self.aggregator_key_}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.in_channels_ = int(state["in_channels"])
        self.num_classes_ = int(state["num_classes"])
        self.partition_ = Partition.from_state(state["partition"])
        self.partition_seconds_ = 0.0
        self.node_slice_ = state["node_slice"]
        self.checkpoints_ = [[dict(c) for c in chain] for chain in state["checkpoints"]]
        self._build_models()
        self.aggregator_ = make_aggregator(self.aggregator, **(self.aggregator_kwargs or {}))
        self.aggregator_.set_state(state["aggregator"])
        self.aggregator_key_ = state["aggregator_key"]

    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        if data.edge_index is not None and data.edge_index.numel() and not is_undirected(data):
            pass  # directed graphs are fine: shard graphs keep edge directions
