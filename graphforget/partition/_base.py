r"""The :class:`Partition` record and the :class:`Partitioner` base class.

A partition assigns nodes (or, for interaction data, edges) to ``k`` shards. It keeps
the original node ids: shard views are built with :func:`torch_geometric.utils.subgraph`
and carry ``node_ids`` (view index -> original id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from graphforget._registry import normalize, resolve
from graphforget.errors import GraphForgetError

__all__ = ["Partition", "Partitioner", "register_partitioner", "make_partitioner",
           "partitioner_names", "capacity", "select_nodes"]


def capacity(n: int, k: int, delta: float) -> int:
    r"""GraphEraser's shard capacity :math:`\lceil n/k + \delta (n - n/k)\rceil`."""
    return int(-(-(n / k + float(delta) * (n - n / k)) // 1))


def select_nodes(data: Data, nodes: str | Tensor | None) -> Tensor:
    """Resolves which nodes are partitioned: ``None``/``"all"`` (every node not forgotten),
    a mask name such as ``"train"``, or an id / boolean tensor."""
    n = int(data.num_nodes)
    forgotten = getattr(data, "forgotten_mask", None)
    keep = torch.ones(n, dtype=torch.bool) if forgotten is None else ~forgotten
    if nodes is None or (isinstance(nodes, str) and nodes == "all"):
        mask = keep
    elif isinstance(nodes, str):
        key = nodes if nodes.endswith("_mask") else f"{nodes}_mask"
        if getattr(data, key, None) is None:
            raise GraphForgetError(f"data has no {key!r} to partition")
        mask = data[key] & keep
    elif isinstance(nodes, Tensor) and nodes.dtype == torch.bool:
        if nodes.numel() != n:
            raise GraphForgetError(f"node mask has {nodes.numel()} entries, expected {n}")
        mask = nodes & keep
    elif isinstance(nodes, Tensor):
        ids = nodes.long().view(-1)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
            raise GraphForgetError(f"node ids to partition must lie in [0, {n})")
        mask = torch.zeros(n, dtype=torch.bool)
        mask[ids] = True
        mask &= keep
    else:
        raise TypeError(f"nodes must be None, a mask name or a tensor, got {type(nodes).__name__}")
    return mask.nonzero().view(-1)


@dataclass
class Partition:
    """Nodes (and optionally edges) assigned to shards.

    Attributes:
        node_shard: ``[num_nodes]`` shard id per node, ``-1`` for nodes outside every
            shard (e.g. evaluation nodes when only training nodes are partitioned).
        num_shards: ``k``.
        edge_shard: optional ``[num_edges]`` shard id per edge (interaction data;
            ``-1`` = no shard).
        method: the partitioner's name.
        depends_on: what data the assignment was computed from (``"edges"``,
            ``"features"``, ``"labels"``, ``"user"``); empty for a data-independent
            (random) partition. Forgetting an item of one of these kinds leaves a trace
            in the partition itself unless the partition is recomputed.
        inductive: the partition was computed without the nodes it is later applied to.
        seconds: wall-clock time of the partitioning.
        info: partitioner-specific figures (iterations, moves, ...).
    """

    node_shard: Tensor
    num_shards: int
    edge_shard: Tensor | None = None
    method: str = "custom"
    depends_on: tuple[str, ...] = ()
    inductive: bool = False
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.node_shard = torch.as_tensor(self.node_shard, dtype=torch.long).view(-1)
        self.depends_on = tuple(self.depends_on)
        if self.num_shards < 1:
            raise GraphForgetError(f"num_shards must be >= 1, got {self.num_shards}")
        if self.node_shard.numel() and int(self.node_shard.max()) >= self.num_shards:
            raise GraphForgetError(
                f"node_shard holds shard {int(self.node_shard.max())} but num_shards={self.num_shards}")
        if self.node_shard.numel() and int(self.node_shard.min()) < -1:
            raise GraphForgetError("node_shard entries must be >= -1")

    # -- views ---------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return int(self.node_shard.numel())

    @property
    def data_dependent(self) -> bool:
        """Whether the assignment depends on data that may later be forgotten."""
        return bool(self.depends_on)

    def sizes(self) -> Tensor:
        """Number of nodes per shard (edges for an edge partition without node shards)."""
        if self.edge_shard is not None and not bool((self.node_shard >= 0).any()):
            s = self.edge_shard[self.edge_shard >= 0]
        else:
            s = self.node_shard[self.node_shard >= 0]
        return torch.bincount(s, minlength=self.num_shards)

    def shard_nodes(self, shard: int) -> Tensor:
        """Original ids of the nodes of ``shard`` (ascending)."""
        self._check_shard(shard)
        return (self.node_shard == shard).nonzero().view(-1)

    def shard_of(self, nodes: Tensor) -> Tensor:
        """Shard of each node (``-1`` when outside every shard)."""
        return self.node_shard[nodes]

    def edge_shards(self, edge_index: Tensor) -> Tensor:
        """Shard of each edge: the common shard of its endpoints, ``-1`` for a cut edge."""
        a, b = self.node_shard[edge_index[0]], self.node_shard[edge_index[1]]
        return torch.where(a == b, a, torch.full_like(a, -1))

    def shard_view(self, data: Data, shard: int, extra_nodes: Tensor | None = None) -> Data:
        """The subgraph induced by the nodes of ``shard`` (plus ``extra_nodes``), relabelled
        with :func:`~torch_geometric.utils.subgraph`; ``view.node_ids`` maps back to ids."""
        nodes = self.shard_nodes(shard)
        if extra_nodes is not None and extra_nodes.numel():
            nodes = torch.unique(torch.cat([nodes, extra_nodes.long().view(-1)]))
        return induced_view(data, nodes)

    def without(self, nodes: Tensor) -> Partition:
        """A copy in which ``nodes`` belong to no shard (what is left after forgetting them)."""
        shard = self.node_shard.clone()
        shard[nodes] = -1
        return Partition(shard, self.num_shards, None if self.edge_shard is None else
                         self.edge_shard.clone(), self.method, self.depends_on, self.inductive,
                         self.seconds, dict(self.info))

    def _check_shard(self, shard: int) -> None:
        if not 0 <= int(shard) < self.num_shards:
            raise GraphForgetError(f"shard {shard} out of range [0, {self.num_shards})")

    # -- statistics -------------------------------------------------------------------
    def stats(self, data: Data | None = None) -> dict[str, Any]:
        r"""Sizes, balance :math:`\sum_i |n_i - n/k| / 2n`, label fairness (mean total
        variation distance of each shard's label histogram from the global one) and the
        cut-edge ratio (edges between partitioned nodes whose endpoints lie in different
        shards). Fairness and cut edges need ``data``."""
        sizes = self.sizes()
        n = int(sizes.sum())
        k = self.num_shards
        out: dict[str, Any] = {"num_shards": k, "sizes": sizes.tolist(), "num_assigned": n,
                               "min_size": int(sizes.min()), "max_size": int(sizes.max()),
                               "balance": float((sizes.double() - n / k).abs().sum() / (2 * n))
                               if n else 0.0}
        if data is None:
            return out
        assigned = self.node_shard >= 0
        y = getattr(data, "y", None)
        if y is not None and y.dim() == 1 and y.numel() == self.num_nodes and n:
            c = int(y[assigned].max()) + 1
            glob = torch.bincount(y[assigned], minlength=c).double()
            glob = glob / glob.sum()
            pair = self.node_shard[assigned] * c + y[assigned]
            hist = torch.bincount(pair, minlength=k * c).view(k, c).double()
            nonempty = hist.sum(1) > 0
            hist = hist[nonempty] / hist[nonempty].sum(1, keepdim=True)
            tv = 0.5 * (hist - glob).abs().sum(1)
            out["label_fairness"] = float(tv.mean())
            out["label_tv_per_shard"] = tv.tolist()
        ei = getattr(data, "edge_index", None)
        if ei is not None and ei.numel() and self.num_nodes == int(data.num_nodes):
            a, b = self.node_shard[ei[0]], self.node_shard[ei[1]]
            both = (a >= 0) & (b >= 0)
            m = int(both.sum())
            out["num_edges"] = m
            out["cut_edges"] = int((a[both] != b[both]).sum())
            out["cut_edge_ratio"] = out["cut_edges"] / m if m else 0.0
        return out

    # -- state ------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"node_shard": self.node_shard.clone(), "num_shards": self.num_shards,
                "edge_shard": self.edge_shard, "method": self.method,
                "depends_on": list(self.depends_on), "inductive": self.inductive,
                "seconds": float(self.seconds)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Partition:
        return cls(state["node_shard"], int(state["num_shards"]), state.get("edge_shard"),
                   str(state.get("method", "custom")), tuple(state.get("depends_on", ())),
                   bool(state.get("inductive", False)), float(state.get("seconds", 0.0)))


def induced_view(data: Data, nodes: Tensor) -> Data:
    """The subgraph induced by ``nodes`` (ascending ids), relabelled; every node-level
    tensor is sliced, edge attributes are filtered, ``node_ids`` maps back."""
    nodes = nodes.long().view(-1)
    n = int(data.num_nodes)
    ei = data.edge_index
    if ei is not None and ei.numel():
        sub_ei, _, edge_mask = subgraph(nodes, ei, relabel_nodes=True, num_nodes=n,
                                        return_edge_mask=True)
    else:
        sub_ei = torch.empty(2, 0, dtype=torch.long)
        edge_mask = None
    out = Data(edge_index=sub_ei, num_nodes=int(nodes.numel()))
    m = 0 if ei is None else int(ei.size(1))
    for key, value in data.items():
        if key in ("edge_index", "num_nodes"):
            continue
        if isinstance(value, Tensor) and value.dim() >= 1 and value.size(0) == n and \
                data.is_node_attr(key):
            out[key] = value[nodes]
        elif isinstance(value, Tensor) and edge_mask is not None and value.dim() >= 1 \
                and value.size(0) == m and data.is_edge_attr(key):
            out[key] = value[edge_mask]
        elif not isinstance(value, Tensor):
            out[key] = value
    out.node_ids = nodes
    return out


def _structure_only(data: Data) -> Data:
    return Data(edge_index=data.edge_index, num_nodes=int(data.num_nodes))


class Partitioner:
    """Base class: ``partition(data, num_shards, nodes=None) -> Partition``.

    Subclasses implement ``_assign(data, nodes, num_shards) -> Tensor`` returning the shard
    of each node in ``nodes`` (``nodes`` ascending), and declare ``depends_on``.
    ``nodes`` selects what is partitioned (``"train"`` for GraphEraser); the others get
    shard ``-1``. Algorithms see the subgraph induced by the selected nodes.
    """

    name: ClassVar[str] = "abstract"
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: whether ``_assign`` reads node features/labels (otherwise only the structure is sliced)
    needs_features: ClassVar[bool] = False

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def partition(self, data: Data, num_shards: int, nodes: str | Tensor | None = None) -> Partition:
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
            raise GraphForgetError(f"num_shards must be a positive integer, got {num_shards!r}")
        ids = select_nodes(data, nodes)
        if ids.numel() < num_shards:
            raise GraphForgetError(
                f"cannot split {ids.numel()} nodes into {num_shards} non-empty shards")
        start = time.perf_counter()
        view = induced_view(self._source(data), ids)
        local, info = self._assign(view, num_shards)
        node_shard = torch.full((int(data.num_nodes),), -1, dtype=torch.long)
        node_shard[ids] = local.long()
        return Partition(node_shard, num_shards, method=self.name, depends_on=self._depends_on(),
                         seconds=time.perf_counter() - start, info=info)

    def _depends_on(self) -> tuple[str, ...]:
        return tuple(self.depends_on)

    def _source(self, data: Data) -> Data:
        """The graph whose induced subgraph ``_assign`` sees: the whole ``data`` when the
        algorithm reads node attributes, else its structure only (nothing wide is sliced)."""
        return data if self.needs_features else _structure_only(data)

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


_PARTITIONERS: dict[str, Callable[..., Partitioner]] = {}


def register_partitioner(name: str) -> Callable[[type], type]:
    """Class decorator: makes a partitioner available by (case/dash-insensitive) name."""

    def deco(cls: type) -> type:
        _PARTITIONERS[normalize(name)] = cls
        cls.name = name
        return cls

    return deco


def partitioner_names() -> list[str]:
    return sorted(_PARTITIONERS)


def make_partitioner(name: str | Partitioner, **kwargs: Any) -> Partitioner:
    """A partitioner by name (``random``, ``blpa``, ``louvain``, ``bekm``, ``metis``)."""
    if isinstance(name, Partitioner):
        return name
    cls = resolve(name, _PARTITIONERS, "partitioner")
    return cls(**kwargs)
