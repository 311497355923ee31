r"""RecEraser (Chen et al., "Recommendation Unlearning", WWW 2022) and the recommendation
retrain baseline.

RecEraser partitions the training interactions into ``K`` balanced shards
(:mod:`graphforget.recommendation._partition`), trains one recommender per shard
(BPR-MF or LightGCN, BPR loss, early stopping on the validation interactions of the
shard's users) and combines the frozen shard embeddings with an attention aggregator:

.. math::
    \tilde e^{(i)}_u = W_i e^{(i)}_u + b_i, \qquad
    a^{(i)}_u = \frac{\exp\big(q^\top \mathrm{ReLU}(W_a \tilde e^{(i)}_u + b_a)\big)}
                     {\sum_j \exp\big(q^\top \mathrm{ReLU}(W_a \tilde e^{(j)}_u + b_a)\big)},
    \qquad e_u = \sum_i a^{(i)}_u \tilde e^{(i)}_u

(items alike, with their own parameters), :math:`\hat y_{ui} = e_u^\top e_i`, trained with
BPR on all retained training interactions. Forgetting retrains, from their seeds, only
the shards whose training (or shard-validation) interactions changed; then the aggregator is
either refit from scratch on all retained interactions (``aggregator_update="full"``) or
warm-started from its current parameters and trained for ``aggregator_update_epochs`` epochs
on a uniform sample of the retained interactions as large as the retrained shards
(``"incremental"``, the default; ``aggregator_update_on="users"`` trains on every retained
interaction of a user whose inputs changed instead); the report times the two parts apart.

Guarantees. Every shard model equals a fresh training on its retained shard data from its
seed, bitwise on CPU, in both modes. With ``aggregator_update="full"`` (or
``aggregator="mean"``) the aggregator equals a fresh fit too, so the whole model equals
:meth:`RecEraser.reference` fitted on the retained interactions: the method is exact. With
``"incremental"`` the aggregator is *not* a fresh fit: the forgotten interactions are not in
its update's training set, but its starting point (a few ``K d^2`` transform parameters and
the attention layer, no per-user or per-item parameter) was trained on them, so their
influence on those parameters is reduced, not provably removed. The report then says
``guarantee: "approximate"``; shard models, which hold all per-user and per-item
parameters, stay exact. The partition itself was computed from embeddings of all original
interactions (``partition_.depends_on``); :meth:`RecEraser.reference` keeps it, as
GraphEraser does.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import register_method, resolve_method
from graphforget.errors import GraphForgetError
from graphforget.executor import OwnsExecutor, derive_seed
from graphforget.partition import Partition
from graphforget.recommendation._data import (
    InteractionRequest,
    UserRequest,
    split_pairs,
)
from graphforget.recommendation._models import (
    bipartite_graph,
    build_recommender,
    train_bpr,
)
from graphforget.recommendation._partition import REC_PARTITIONS, receraser_partition
from graphforget.recommendation.base import _RecommenderBase, _train_config, train_rec_shard_job
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport, state_fingerprint

__all__ = ["RecEraser", "AttentionAggregator"]


class AttentionAggregator(torch.nn.Module):
    """RecEraser's attention over shard embeddings (see the module docs), for users and
    items separately. Inputs are the frozen shard embeddings ``[K, U, d]`` / ``[K, I, d]``."""

    def __init__(self, users: Tensor, items: Tensor, attention_dim: int = 32) -> None:
        super().__init__()
        k, _, d = users.shape
        self.register_buffer("users", users)
        self.register_buffer("items", items)
        self.transform = torch.nn.ParameterDict({
            side: torch.nn.Parameter(torch.eye(d).repeat(k, 1, 1)) for side in ("user", "item")})
        self.bias = torch.nn.ParameterDict({
            side: torch.nn.Parameter(torch.zeros(k, 1, d)) for side in ("user", "item")})
        self.attn = torch.nn.ModuleDict({side: torch.nn.Linear(d, attention_dim) for side in ("user", "item")})
        self.query = torch.nn.ParameterDict({
            side: torch.nn.Parameter(torch.randn(attention_dim) * 0.1) for side in ("user", "item")})

    def _side(self, side: str, stack: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.bmm(stack, self.transform[side]) + self.bias[side]  # [K, N, d], all shards at once
        logits = torch.relu(self.attn[side](h)) @ self.query[side]  # [K, N]
        weights = torch.softmax(logits, dim=0)
        return (weights.unsqueeze(-1) * h).sum(0), weights

    def embeddings(self, graph: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._side("user", self.users)[0], self._side("item", self.items)[0]

    def rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
        """The aggregated embeddings of ``users`` and ``items`` only (each row depends on
        its own shard embeddings alone, so a mini-batch needs nothing else)."""
        return self._side("user", self.users[:, users])[0], self._side("item", self.items[:, items])[0]

    def attention(self) -> tuple[Tensor, Tensor]:
        """Mean attention weight per shard, for users and for items."""
        with torch.no_grad():
            return self._side("user", self.users)[1].mean(1), self._side("item", self.items)[1].mean(1)

    def l2(self) -> Tensor:
        return sum((p * p).sum() for p in self.parameters())


AGGREGATOR_UPDATES = ("incremental", "full")
AGGREGATOR_UPDATE_ON = ("sample", "users")


class _ModeGuarantee:
    """``RecEraser.guarantee``: exact for the class (its family, the registry), and for an
    instance as its aggregator update makes it: approximate with the incremental update of
    the attention aggregator, exact otherwise."""

    def __get__(self, obj: Any, owner: type | None = None) -> Guarantee:
        if obj is None or getattr(obj, "aggregator", None) != "attention" \
                or getattr(obj, "aggregator_update", "full") != "incremental":
            return Guarantee.EXACT
        return Guarantee.APPROXIMATE


@register_method("receraser", "rec-eraser")
class RecEraser(OwnsExecutor, _RecommenderBase):
    r"""RecEraser: balanced shards, one recommender per shard, attention aggregation
    (see the module docs).

    Args:
        model (str): shard model, ``"bpr"`` or ``"lightgcn"``. (default: :obj:`"bpr"`)
        shards (int): ``K``. (default: :obj:`10`)
        partition (str): ``"ubp"``, ``"ibp"``, ``"inbp"`` or ``"random"``. (default: :obj:`"inbp"`)
        aggregator (str): ``"attention"`` (RecEraser) or ``"mean"`` (SISA-style average of
            the shard scores). (default: :obj:`"attention"`)
        capacity (float): shard capacity as a multiple of the mean size. (default: :obj:`1.2`)
        partition_iterations (int): k-means iterations ``T``. (default: :obj:`10`)
        embedding_dim, num_layers, lr, weight_decay, epochs, batch_size, eval_every,
            patience: shard training, as in :class:`RecommendationRetrain`.
        aggregator_epochs (int): maximum aggregator epochs. (default: :obj:`30`)
        aggregator_lr (float): aggregator learning rate. (default: :obj:`0.005`)
        aggregator_update (str): how ``unlearn`` updates the attention aggregator after the
            shards: ``"incremental"`` warm-starts it from its current parameters and trains
            it for ``aggregator_update_epochs`` epochs on the retained interactions of the
            users whose inputs changed (a user whose shard embedding changed or who lost
            interactions, or who interacted with such an item); ``"full"`` refits it from
            scratch on all retained interactions, which keeps the whole model exact.
            Incremental makes the aggregator, and so the request's reported guarantee,
            approximate (see the module docs). (default: :obj:`"incremental"`)
        aggregator_update_epochs (int): epochs of the incremental update. (default: :obj:`1`)
        aggregator_update_on (str): the interactions the incremental update trains on:
            ``"sample"``, a seeded uniform sample of the retained training interactions, as
            many as the retrained shards hold (a request that hits one shard trains the
            update on about ``1/K`` of the data, one that hits every shard on all of it);
            ``"users"``, every retained interaction of a user whose inputs changed (a user
            whose shard embedding changed or who lost interactions, or who interacted with
            such an item: with BPR's sampled negatives, nearly every user even when one
            shard was retrained). (default: ``"sample"``) While some active shard kept its
            model, the update trains only the retrained shards' transform and bias (the
            shared attention layer and the other shards' parameters stay fixed).
        seed (int): partition, shard and aggregator seeds derive from it. (default: :obj:`0`)
        executor (str): ``serial``, ``process`` or ``ray`` for the shard jobs.
        executor_kwargs (dict, optional): executor arguments.
    """

    guarantee = _ModeGuarantee()  # type: ignore[assignment]

    def __init__(self, model: str = "bpr", shards: int = 10, partition: str = "inbp",
                 aggregator: str = "attention", capacity: float = 1.2,
                 partition_iterations: int = 10, embedding_dim: int = 64, num_layers: int = 2,
                 lr: float = 0.005, weight_decay: float = 1e-4, epochs: int = 100,
                 batch_size: int = 2048, eval_every: int = 5, patience: int | None = 3,
                 aggregator_epochs: int = 30, aggregator_lr: float = 0.005,
                 aggregator_update: str = "incremental", aggregator_update_epochs: int = 1,
                 aggregator_update_on: str = "sample", seed: int = 0,
                 executor: str = "serial", executor_kwargs: dict[str, Any] | None = None) -> None:
        self.model = model
        self.shards = shards
        self.partition = partition
        self.aggregator = aggregator
        self.capacity = capacity
        self.partition_iterations = partition_iterations
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.eval_every = eval_every
        self.patience = patience
        self.aggregator_epochs = aggregator_epochs
        self.aggregator_lr = aggregator_lr
        self.aggregator_update = aggregator_update
        self.aggregator_update_epochs = aggregator_update_epochs
        self.aggregator_update_on = aggregator_update_on
        self.seed = seed
        self.executor = executor
        self.executor_kwargs = executor_kwargs

    # -- configuration ----------------------------------------------------------------
    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or self.shards < 1:
            raise GraphForgetError(f"shards must be a positive integer, got {self.shards!r}")
        if self.partition not in REC_PARTITIONS:
            raise GraphForgetError(f"partition must be one of {REC_PARTITIONS}, got {self.partition!r}")
        if self.aggregator not in ("attention", "mean"):
            raise GraphForgetError(f"aggregator must be 'attention' or 'mean', got {self.aggregator!r}")
        self._check_update()

    def _check_update(self) -> None:
        if self.aggregator_update not in AGGREGATOR_UPDATES:
            raise GraphForgetError(f"aggregator_update must be one of {AGGREGATOR_UPDATES}, "
                                   f"got {self.aggregator_update!r}")
        e = self.aggregator_update_epochs
        if isinstance(e, bool) or not isinstance(e, int) or e < 0:
            raise GraphForgetError(f"aggregator_update_epochs must be a non-negative integer, got {e!r}")
        if self.aggregator_update_on not in AGGREGATOR_UPDATE_ON:
            raise GraphForgetError(f"aggregator_update_on must be one of {AGGREGATOR_UPDATE_ON}, "
                                   f"got {self.aggregator_update_on!r}")

    # -- shard data ----------------------------------------------------------------------
    def _shard_data(self, data: Data) -> list[tuple[Tensor, Tensor]]:
        """Per shard: its retained training pairs and the validation pairs of its users."""
        train = split_pairs(data, "train")
        val = split_pairs(data, "val")
        keys = train[0] * int(data.num_items) + train[1]
        pos = torch.searchsorted(self.part_keys_, keys).clamp(max=self.part_keys_.numel() - 1)
        shard = torch.where(self.part_keys_[pos] == keys, self.part_shard_[pos], torch.full_like(keys, -1))
        out = []
        for s in range(self.shards):
            tr = train[:, shard == s]
            users = torch.zeros(int(data.num_users), dtype=torch.bool)
            users[tr[0]] = True
            out.append((tr, val[:, users[val[0]]]))
        return out

    def _spec(self, data: Data, shard: int, pairs: tuple[Tensor, Tensor]) -> dict[str, Any]:
        return {"model": self.model, "num_users": int(data.num_users), "num_items": int(data.num_items),
                "dim": self.embedding_dim, "num_layers": self.num_layers,
                "seed": derive_seed(self.seed, "shard", shard), "train": pairs[0], "val": pairs[1],
                "config": _train_config(self)}

    def _key(self, spec: dict[str, Any]) -> str:
        return state_fingerprint([spec["train"], spec["val"], spec["seed"], spec["config"], spec["model"]])

    def _train(self, data: Data, shards: list[int], per_shard: list[tuple[Tensor, Tensor]]
               ) -> dict[int, dict[str, Any]]:
        specs = {s: self._spec(data, s, per_shard[s]) for s in shards}
        todo = [s for s in shards if specs[s]["train"].size(1) > 0]
        results = self._executor().map(train_rec_shard_job, [(specs[s],) for s in todo]) if todo else []
        out = {s: {"key": self._key(specs[s]), "state": None, "info": {}} for s in shards}
        for s, r in zip(todo, results, strict=True):
            out[s].update(state=r["state"], info=r["info"])
        return out

    # -- models and embeddings -----------------------------------------------------------------
    @property
    def active_shards(self) -> list[int]:
        return [s for s, c in enumerate(self.shards_) if c["state"] is not None]

    def _shard_embeddings(self, data: Data, shards_state: list[dict[str, Any]],
                          per_shard: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        users, items = [], []
        for s, c in enumerate(shards_state):
            if c["state"] is None:
                continue
            m = build_recommender(self.model, int(data.num_users), int(data.num_items),
                                  self.embedding_dim, self.num_layers, 0)
            m.load_state_dict(c["state"])
            with torch.no_grad():
                ue, ie = m.embeddings(bipartite_graph(per_shard[s][0], int(data.num_users)))
            users.append(ue.detach())
            items.append(ie.detach())
        if not users:
            raise GraphForgetError("every shard lost all its interactions: nothing to recommend with")
        return torch.stack(users), torch.stack(items)

    def _fit_aggregator(self, data: Data, users: Tensor, items: Tensor
                        ) -> tuple[AttentionAggregator | None, dict[str, Any]]:
        if self.aggregator == "mean":
            return None, {}
        seed = derive_seed(self.seed, "aggregator")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            agg = AttentionAggregator(users, items)
        info = train_bpr(agg, split_pairs(data, "train"), int(data.num_users), int(data.num_items),
                         _train_config(self, self.aggregator_epochs, self.aggregator_lr), seed,
                         val=split_pairs(data, "val"),
                         ego_fn=lambda m, u, i, j: 0.5 * m.l2() * u.numel(),
                         rows_fn=lambda m, users, items: m.rows(users, items))
        return agg, info

    def _update_aggregator(self, request: ForgetRequest, data: Data, shards_state: list[dict[str, Any]],
                           users: Tensor, items: Tensor, changed: list[int],
                           per_shard: list[tuple[Tensor, Tensor]]
                           ) -> tuple[AttentionAggregator, dict[str, Any], dict[str, Any]]:
        """The incremental update: the current aggregator's parameters (those of the shards
        still active) on the new shard embeddings, trained ``aggregator_update_epochs``
        epochs on the retained interactions ``aggregator_update_on`` selects."""
        old_active = self.active_shards
        new_active = [s for s, c in enumerate(shards_state) if c["state"] is not None]
        keep = torch.tensor([old_active.index(s) for s in new_active], dtype=torch.long)
        nu, ni = int(data.num_users), int(data.num_items)
        changed_users = (users != self.stack_users_[keep]).any(-1).any(0)
        changed_items = (items != self.stack_items_[keep]).any(-1).any(0)
        if isinstance(request, InteractionRequest):
            changed_users[request.pairs[0]] = True
            changed_items[request.pairs[1]] = True
        elif isinstance(request, UserRequest):
            changed_users[request.user_ids] = True
            lost = split_pairs(self.data_, "train")
            changed_items[lost[1, torch.isin(lost[0], request.user_ids)]] = True
        train, val = split_pairs(data, "train"), split_pairs(data, "val")
        if self.aggregator_update_on == "sample":
            # the retrained shards' share of the data, drawn uniformly from every retained
            # interaction: training on those shards' own interactions instead skews the shared
            # attention towards them (in an exploratory run on Gowalla it cost about a third
            # of Recall@20)
            count = sum(int(per_shard[s][0].size(1)) for s in changed)
            if count >= train.size(1):
                sub = train
            else:
                g = torch.Generator().manual_seed(derive_seed(self.seed, "aggregator-sample", len(self.history_)))
                sub = train[:, torch.randperm(train.size(1), generator=g)[:count].sort().values]
            chosen = torch.zeros(nu, dtype=torch.bool)
            chosen[sub[0]] = True
        else:
            chosen = changed_users.clone()
            chosen[train[0, changed_items[train[1]]]] = True  # users who interacted with a changed item
            sub = train[:, chosen[train[0]]]  # each chosen user's whole retained history
        state = {k: v for k, v in self.aggregator_.state_dict().items() if k not in ("users", "items")}
        for side in ("user", "item"):
            state[f"transform.{side}"] = state[f"transform.{side}"][keep]
            state[f"bias.{side}"] = state[f"bias.{side}"][keep]
        with torch.random.fork_rng(devices=[]):
            agg = AttentionAggregator(users, items)
        agg.load_state_dict({**state, "users": users, "items": items})
        info: dict[str, Any] = {"epochs": 0}
        # Only the retrained shards' transform and bias train while some active shard kept its
        # model: the other shards' transformed embeddings and attention logits (the shared
        # attention layer frozen) then stay bit for bit, and only the retrained shards'
        # contribution to each row is refit. With every shard retrained, everything trains.
        retrained = [new_active.index(s) for s in changed if s in new_active]
        local = len(retrained) < len(new_active)
        handles = []
        if local:
            mask = torch.zeros(len(new_active), 1, 1)
            mask[retrained] = 1.0
            for side in ("user", "item"):
                for p in (agg.transform[side], agg.bias[side]):
                    handles.append(p.register_hook(lambda grad, m=mask: grad * m))
            for p in list(agg.attn.parameters()) + list(agg.query.parameters()):
                p.requires_grad_(False)
        try:
            if self.aggregator_update_epochs > 0 and sub.size(1) > 0:
                info = train_bpr(agg, sub, nu, ni, _train_config(self, self.aggregator_update_epochs,
                                                                 self.aggregator_lr),
                                 derive_seed(self.seed, "aggregator-update", len(self.history_)),
                                 val=val[:, chosen[val[0]]],
                                 ego_fn=lambda m, u, i, j: 0.5 * m.l2() * u.numel(),
                                 rows_fn=lambda m, users, items: m.rows(users, items))
        finally:
            for h in handles:
                h.remove()
            for p in agg.parameters():
                p.requires_grad_(True)
        diag = {"aggregator_update_on": self.aggregator_update_on,
                "aggregator_trained": "retrained shards" if local else "all",
                "aggregator_changed_users": int(changed_users.sum()),
                "aggregator_changed_items": int(changed_items.sum()),
                "aggregator_train_users": int(chosen.sum()),
                "aggregator_train_interactions": int(sub.size(1)),
                "aggregator_update_epochs_run": int(info.get("epochs", 0))}
        return agg, info, diag

    def _combine(self) -> None:
        if self.aggregator == "mean":
            k = self.stack_users_.size(0)
            self.final_ = (self.stack_users_.permute(1, 0, 2).reshape(self.stack_users_.size(1), -1) / k,
                           self.stack_items_.permute(1, 0, 2).reshape(self.stack_items_.size(1), -1))
        else:
            with torch.no_grad():
                ue, ie = self.aggregator_.embeddings()
            self.final_ = (ue.detach(), ie.detach())

    def _embeddings(self) -> tuple[Tensor, Tensor]:
        return self.final_

    # -- fitting --------------------------------------------------------------------------------
    def _fit(self, data: Data) -> None:
        given = getattr(self, "_given_partition", None)
        if given is not None:
            self.partition_, self.part_keys_, self.part_shard_ = given
        else:
            part = receraser_partition(data, self.shards, self.partition,
                                       derive_seed(self.seed, "partition"), self.capacity,
                                       self.partition_iterations)
            cols = part.edge_shard >= 0
            ei = data.edge_index[:, cols]
            keys = ei[0] * int(data.num_items) + (ei[1] - int(data.num_users))
            order = torch.argsort(keys)
            self.partition_, self.part_keys_, self.part_shard_ = part, keys[order], part.edge_shard[cols][order]
        self.partition_seconds_ = float(self.partition_.seconds)
        per_shard = self._shard_data(data)
        start = time.perf_counter()
        trained = self._train(data, list(range(self.shards)), per_shard)
        self.shards_ = [trained[s] for s in range(self.shards)]
        self.train_seconds_ = time.perf_counter() - start
        self.stack_users_, self.stack_items_ = self._shard_embeddings(data, self.shards_, per_shard)
        self.aggregator_, self.aggregator_info_ = self._fit_aggregator(data, self.stack_users_, self.stack_items_)
        self._combine()

    # -- unlearning --------------------------------------------------------------------------------
    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_update()
        t0 = time.perf_counter()
        per_shard = self._shard_data(retained)
        changed = [s for s in range(self.shards)
                   if self._key(self._spec(retained, s, per_shard[s])) != self.shards_[s]["key"]]
        t1 = time.perf_counter()
        trained = self._train(retained, changed, per_shard)
        shards_state = [trained.get(s, self.shards_[s]) for s in range(self.shards)]
        t2 = time.perf_counter()
        users, items = self._shard_embeddings(retained, shards_state, per_shard)
        incremental = self.aggregator == "attention" and self.aggregator_update == "incremental"
        update: dict[str, Any] = {}
        if incremental:
            aggregator, info, update = self._update_aggregator(request, retained, shards_state, users, items,
                                                               changed, per_shard)
        else:
            aggregator, info = self._fit_aggregator(retained, users, items)
        t3 = time.perf_counter()
        self.shards_ = shards_state  # commit only after every step succeeded
        self.stack_users_, self.stack_items_ = users, items
        self.aggregator_, self.aggregator_info_ = aggregator, info
        self._combine()
        report.breakdown.update({"locate": t1 - t0, "retrain_shards": t2 - t1, "aggregator": t3 - t2})
        report.affected["shards"] = changed
        report.affected["interactions"] = int(self._count(request))
        report.diagnostics["aggregator_retrained"] = self.aggregator == "attention" and not incremental
        report.diagnostics["aggregator_update"] = self.aggregator_update if self.aggregator == "attention" else None
        report.diagnostics["aggregator_reason"] = (
            "mean aggregation has no parameters" if self.aggregator == "mean" else
            "the attention aggregator was warm-started from its current parameters and trained on the "
            + ("a uniform sample of the retained interactions, the retrained shards' share"
               if self.aggregator_update_on == "sample"
               else "retained interactions of the users whose inputs changed")
            + ": the shard models are exact, the aggregator is not a fresh fit (its starting point saw "
            "the forgotten interactions)"
            if incremental else "the attention aggregator is trained on all retained interactions, so it "
            "is retrained from scratch after the affected shards (exact)")
        report.diagnostics.update(update)
        report.diagnostics["partition_depends_on"] = list(self.partition_.depends_on)
        report.diagnostics["active_shards"] = len(self.active_shards)

    def _count(self, request: ForgetRequest) -> int:
        if isinstance(request, InteractionRequest):
            return len(request)
        hit = torch.isin(self.data_.edge_index[0], request.user_ids)
        return int(hit.sum())

    # -- parameters, reference, state -----------------------------------------------------------
    def parameter_vector(self) -> Tensor | None:
        parts = [v.reshape(-1).float() for c in self.shards_ if c["state"] is not None
                 for v in c["state"].values()]
        if self.aggregator_ is not None:
            parts += [p.detach().reshape(-1) for p in self.aggregator_.parameters()]
        return torch.cat(parts) if parts else None

    def reference(self) -> RecEraser:
        """A fresh clone that reuses this partition (the exact reference)."""
        self._check_fitted()
        ref = self.clone(executor="serial", executor_kwargs=None)
        ref._given_partition = (self.partition_, self.part_keys_, self.part_shard_)
        return ref

    def attention_weights(self) -> dict[str, list[float]] | None:
        """Mean attention per active shard for users and items (``None`` for ``mean``)."""
        if self.aggregator_ is None:
            return None
        u, i = self.aggregator_.attention()
        return {"users": u.tolist(), "items": i.tolist()}

    def bench_extras(self, data: Data, request: ForgetRequest, retained: Data) -> dict[str, Any]:
        """One recommender of the same kind retrained on all retained interactions
        (``retrain_single_seconds``, ``utility_single``, ``ndcg@20_single``), NDCG@20 of the
        unlearned model, the partition time and the shard sizes."""
        single = resolve_method("recommendation-retrain")(model=self.model, embedding_dim=self.embedding_dim,
                                       num_layers=self.num_layers, lr=self.lr,
                                       weight_decay=self.weight_decay, epochs=self.epochs,
                                       batch_size=self.batch_size, eval_every=self.eval_every,
                                       patience=self.patience, seed=self.seed)
        start = time.perf_counter()
        single.fit(retained)
        seconds = time.perf_counter() - start
        metrics = single.evaluate("test", ks=(20,))
        sizes = torch.tensor([c[0].size(1) for c in self._shard_data(self.data_)])
        return {"retrain_single_seconds": seconds, "utility_single": metrics["recall@20"],
                "ndcg@20_single": metrics["ndcg@20"],
                "partition_seconds": self.partition_seconds_,
                "partition_info": {k: v for k, v in self.partition_.info.items() if not isinstance(v, list)},
                "shard_sizes": sizes.tolist(), "attention": self.attention_weights()}

    def _get_state(self) -> dict[str, Any]:
        part = self.partition_.to_state()
        part.pop("seconds")
        return {"partition": part, "part_keys": self.part_keys_, "part_shard": self.part_shard_,
                "shards": [{"key": c["key"], "state": c["state"]} for c in self.shards_],
                "aggregator": None if self.aggregator_ is None else
                {k: v.clone() for k, v in self.aggregator_.state_dict().items()}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.partition_ = Partition.from_state(state["partition"])
        self.partition_seconds_ = 0.0
        self.part_keys_, self.part_shard_ = state["part_keys"], state["part_shard"]
        self.shards_ = [{"key": c["key"], "state": c["state"], "info": {}} for c in state["shards"]]
        per_shard = self._shard_data(self.data_)
        self.stack_users_, self.stack_items_ = self._shard_embeddings(self.data_, self.shards_, per_shard)
        self.aggregator_ = None
        if state["aggregator"] is not None:
            self.aggregator_ = AttentionAggregator(self.stack_users_, self.stack_items_)
            self.aggregator_.load_state_dict(state["aggregator"])
        self._combine()
