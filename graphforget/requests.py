r"""Forget requests: what is to be forgotten, validated against the data it refers to.

A request is an immutable description of items to forget. It never mutates the
data it is applied to: :meth:`ForgetRequest.apply` returns the *retained* data,
which is also exactly what the :class:`~graphforget.Retrain` baseline trains on.

Node ids always refer to the ids of the data the model was first fitted on:
forgetting never renumbers nodes. A forgotten node keeps its slot, but its
features are zeroed, every incident edge is removed, it leaves every ``*_mask``
and it is flagged in ``data.forgotten_mask`` so that a second request naming it
is rejected.

Like a PyG transform, a request is callable: ``retained = request(data)``.
"""

from __future__ import annotations

import abc
import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._hints import hint_rows
from graphforget.errors import InvalidRequestError, UnknownNameError

__all__ = [
    "ForgetRequest",
    "NodeRequest",
    "EdgeRequest",
    "FeatureRequest",
    "SampleRequest",
    "request_class",
    "request_from_dict",
    "sample_nodes",
    "sample_edges",
    "sample_high_degree_nodes",
    "sample_class_nodes",
    "sample_features",
    "sample_samples",
    "sample_request",
    "is_undirected",
    "node_masks",
]

IdLike = Sequence[int] | Tensor | np.ndarray


# ---------------------------------------------------------------------------
# id handling
# ---------------------------------------------------------------------------
def _as_id_tensor(ids: Any, what: str, ndim: int = 1) -> Tensor:
    """Converts user ids to a ``torch.long`` tensor, rejecting floats, bools and bad shapes."""
    if isinstance(ids, Tensor):
        t = ids.detach().cpu()
    elif isinstance(ids, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(ids))
    elif isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
        t = torch.tensor([int(ids)])
    else:
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"{what} must be a sequence of integers, got {type(ids).__name__}")
        items = list(ids)
        if ndim == 2:
            try:
                t = torch.as_tensor(np.asarray(items))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{what} must be a 2 x k integer array: {exc}") from None
            if t.numel() == 0:  # [] and [[], []]: numpy calls them float64; an empty request
                t = t.to(torch.long)
        elif any(isinstance(item, (list, tuple, np.ndarray, Tensor)) for item in items):
            try:
                t = torch.as_tensor(np.asarray(items))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{what} must be a flat sequence of integers: {exc}") from None
        else:
            for item in items:
                if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
                    raise TypeError(
                        f"{what} must be integers, got {item!r} ({type(item).__name__})")
            t = torch.tensor([int(i) for i in items], dtype=torch.long)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{what} must have an integer dtype, got {t.dtype}")
    if ndim == 1:
        if t.dim() == 0:
            t = t.view(1)
        if t.dim() != 1:
            raise InvalidRequestError(f"{what} must be one-dimensional, got shape {tuple(t.shape)}")
    else:
        if t.numel() == 0:
            t = t.reshape(2, 0)
        if t.dim() != 2 or t.size(0) != 2:
            raise InvalidRequestError(f"{what} must have shape [2, k], got {tuple(t.shape)}")
    return t.to(torch.long).contiguous()


def _preview(values: Tensor, limit: int = 8) -> str:
    vals = values.tolist()
    text = ", ".join(str(v) for v in vals[:limit])
    return f"[{text}{', ...' if len(vals) > limit else ''}] ({len(vals)} in all)"


def _check_range(ids: Tensor, n: int, what: str) -> None:
    bad = ids[(ids < 0) | (ids >= n)]
    if bad.numel():
        raise InvalidRequestError(f"{what} out of range [0, {n}): {_preview(bad)}")


def _check_unique(ids: Tensor, what: str) -> None:
    uniq, counts = torch.unique(ids, return_counts=True)
    dup = uniq[counts > 1]
    if dup.numel():
        raise InvalidRequestError(f"{what} contain duplicates: {_preview(dup)}")


def _forgotten_mask(data: Data) -> Tensor:
    mask = getattr(data, "forgotten_mask", None)
    if mask is None:
        return torch.zeros(data.num_nodes, dtype=torch.bool)
    return mask


def _check_not_forgotten(ids: Tensor, data: Data, what: str) -> None:
    mask = _forgotten_mask(data)
    bad = ids[mask[ids]]
    if bad.numel():
        raise InvalidRequestError(f"{what} already forgotten: {_preview(bad)}")


def node_masks(data: Data) -> list[str]:
    """Names of the node-level boolean masks of ``data`` (``train_mask``, ...)."""
    out = []
    for key, value in data.items():
        if (key.endswith("_mask") and key != "forgotten_mask" and isinstance(value, Tensor)
                and value.dtype == torch.bool and value.dim() == 1
                and value.numel() == data.num_nodes):
            out.append(key)
    return out


def is_undirected(data: Data) -> bool:
    """Whether ``data.edge_index`` holds every edge in both directions (cached on ``data``)."""
    cached = getattr(data, "_gf_undirected", None)
    if isinstance(cached, bool):
        return cached
    if data.edge_index is None or data.edge_index.numel() == 0:
        return True
    from torch_geometric.utils import is_undirected as _pyg_is_undirected

    return bool(_pyg_is_undirected(data.edge_index, num_nodes=data.num_nodes))


def _edge_keys(edge_index: Tensor, n: int) -> Tensor:
    return edge_index[0] * n + edge_index[1]


def _edge_level_keys(data: Data) -> list[str]:
    m = data.edge_index.size(1)
    keys = []
    for key, value in data.items():
        if key == "edge_index" or not isinstance(value, Tensor):
            continue
        if data.is_edge_attr(key) and value.dim() >= 1 and value.size(0) == m:
            keys.append(key)
    return keys


def _filter_edges(data: Data, keep: Tensor) -> None:
    """Keeps only edges where ``keep`` is True, for ``edge_index`` and every edge attribute."""
    for key in _edge_level_keys(data):
        data[key] = data[key][keep]
    data.edge_index = data.edge_index[:, keep]


def _copy_for_update(data: Data, edges_replaced: bool = False) -> Data:
    """A copy of ``data`` the request may write to (the input is never mutated). With
    ``edges_replaced`` the caller replaces ``edge_index`` and every edge attribute by
    :func:`_filter_edges`, whose indexing makes new tensors anyway: those are shared
    instead of cloned (one ``O(E)`` copy less per request)."""
    if edges_replaced and data.edge_index is not None:
        out = copy.copy(data)  # new storage, same tensors
        shared = set(_edge_level_keys(data)) | {"edge_index"}
        for key, value in data.items():
            if key not in shared:
                out[key] = value.clone() if isinstance(value, Tensor) else copy.deepcopy(value)
    else:
        out = data.clone()  # tensors are cloned
    if getattr(out, "forgotten_mask", None) is None:
        out.forgotten_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    return out


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------
class ForgetRequest(abc.ABC):
    """Base class of all requests.

    Subclasses declare ``kind`` (a short name used in reports, the CLI and ledgers).
    """

    kind: ClassVar[str] = "abstract"

    @abc.abstractmethod
    def __len__(self) -> int:  # number of items to forget
        """Number of items to forget."""

    @property
    def is_empty(self) -> bool:
        """An empty request forgets nothing; unlearners treat it as the identity."""
        return len(self) == 0

    @abc.abstractmethod
    def validate(self, data: Data) -> None:
        """Raises :class:`InvalidRequestError` (a ``ValueError``) naming the bad items."""

    @abc.abstractmethod
    def apply(self, data: Data, validate: bool = True) -> Data:
        """Returns the retained data; ``data`` itself is left untouched."""

    def __call__(self, data: Data) -> Data:
        return self.apply(data)

    def affected_nodes(self, data: Data) -> Tensor:
        """Nodes whose own features, label or incident edges change. Requests on other
        units (whole graphs, triples, interactions) name theirs in their own methods."""
        raise TypeError(f"{type(self).__name__} requests do not name nodes of one graph")

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, inverse of :meth:`from_dict`."""

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ForgetRequest:
        """Inverse of :meth:`to_dict` (``payload`` without its ``kind``)."""
        return cls(**payload)

    def content_hash(self) -> str:
        """A stable SHA-256 of the request's content (kind and ids)."""
        payload = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} items)"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self.content_hash())


class NodeRequest(ForgetRequest):
    r"""Forget whole nodes.

    Forgetting a node removes its features (zeroed), its label's loss term (the node
    leaves every ``*_mask``) and every incident edge, in both directions. The node keeps
    its id and is flagged in ``data.forgotten_mask``.

    Args:
        node_ids (sequence of int or LongTensor): ids of the nodes to forget.
    """

    kind = "node"

    def __init__(self, node_ids: IdLike) -> None:
        self.node_ids = _as_id_tensor(node_ids, "node ids")

    def __len__(self) -> int:
        return int(self.node_ids.numel())

    def validate(self, data: Data) -> None:
        _check_range(self.node_ids, data.num_nodes, "node ids")
        _check_unique(self.node_ids, "node ids")
        _check_not_forgotten(self.node_ids, data, "nodes")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = _copy_for_update(data, edges_replaced=True)
        ids = self.node_ids
        if validate is False:  # tolerant replay on foreign data: skip out-of-range ids
            ids = ids[(ids >= 0) & (ids < data.num_nodes)]
        if out.x is not None:
            with hint_rows(out.x, ids, base=data.x):  # a ledger compares only these rows with data.x
                out.x[ids] = 0
        for key in node_masks(out):
            out[key][ids] = False
        out.forgotten_mask[ids] = True
        if out.edge_index is not None and out.edge_index.numel():
            hit = torch.zeros(data.num_nodes, dtype=torch.bool)
            hit[ids] = True
            keep = ~(hit[out.edge_index[0]] | hit[out.edge_index[1]])
            _filter_edges(out, keep)
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        return self.node_ids.clone()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node_ids": self.node_ids.tolist()}


class SampleRequest(NodeRequest):
    r"""Forget training samples of non-graph (tabular, vision) data.

    The rows are removed from the training set (every ``*_mask``) and zeroed, exactly
    like a :class:`NodeRequest` on a graph without edges.

    Args:
        indices (sequence of int or LongTensor): row indices to forget.
    """

    kind = "sample"

    def __init__(self, indices: IdLike) -> None:
        self.node_ids = _as_id_tensor(indices, "sample indices")

    @property
    def indices(self) -> Tensor:
        return self.node_ids

    def validate(self, data: Data) -> None:
        _check_range(self.node_ids, data.num_nodes, "sample indices")
        _check_unique(self.node_ids, "sample indices")
        _check_not_forgotten(self.node_ids, data, "samples")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "indices": self.node_ids.tolist()}


class EdgeRequest(ForgetRequest):
    r"""Forget edges.

    In an undirected graph (every edge stored in both directions) forgetting
    ``(u, v)`` removes both ``(u, v)`` and ``(v, u)``; naming both directions in one
    request is a duplicate. Edge attributes are filtered along with the edges.

    Args:
        edge_index (LongTensor ``[2, k]`` or list of pairs): the edges to forget.
    """

    kind = "edge"

    def __init__(self, edge_index: IdLike) -> None:
        t = edge_index
        if not isinstance(t, Tensor) and not isinstance(t, np.ndarray):
            items = list(t)  # type: ignore[arg-type]
            if items and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in items):
                t = [[int(p[0]) for p in items], [int(p[1]) for p in items]] if all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                    for p in items for v in p) else items
            else:
                t = items
        self.edge_index = _as_id_tensor(t, "edge_index", ndim=2)

    def __len__(self) -> int:
        return int(self.edge_index.size(1))

    def _keys(self, data: Data, both: bool) -> Tensor:
        n = data.num_nodes
        keys = _edge_keys(self.edge_index, n)
        if both:
            keys = torch.cat([keys, _edge_keys(self.edge_index.flip(0), n)])
        return keys

    def validate(self, data: Data) -> None:
        n = data.num_nodes
        self.check_pairs(n, is_undirected(data))
        existing = _edge_keys(data.edge_index, n) if data.edge_index is not None else torch.empty(0)
        self.check_exist(torch.isin(_edge_keys(self.edge_index, n), existing))

    def check_pairs(self, n: int, undirected: bool) -> None:
        """The checks that need no edge list: endpoints in ``[0, n)``, no edge twice (in an
        undirected graph ``(u, v)`` and ``(v, u)`` are the same edge)."""
        _check_range(self.edge_index.reshape(-1), n, "edge endpoints")
        canon = self.edge_index.sort(dim=0).values if undirected else self.edge_index
        keys = _edge_keys(canon, n)
        uniq, counts = torch.unique(keys, return_counts=True)
        dup = uniq[counts > 1]
        if dup.numel():
            pairs = [(int(k) // n, int(k) % n) for k in dup[:8]]
            raise InvalidRequestError(f"edges contain duplicates: {pairs}")

    def check_exist(self, present: Tensor) -> None:
        """Raises naming the edges whose entry of ``present`` (``[k]`` bool, one per edge of
        the request, however the caller looked them up) is False."""
        missing = ~present
        if missing.any():
            bad = self.edge_index[:, missing]
            pairs = list(zip(bad[0].tolist()[:8], bad[1].tolist()[:8], strict=False))
            raise InvalidRequestError(
                f"edges do not exist in the graph (or were already forgotten): {pairs}"
                f" ({int(missing.sum())} in all)")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        if data.edge_index is None or data.edge_index.numel() == 0 or len(self) == 0:
            return _copy_for_update(data)
        out = _copy_for_update(data, edges_replaced=True)
        keys = self._keys(data, both=is_undirected(data))
        keep = ~torch.isin(_edge_keys(out.edge_index, data.num_nodes), keys)
        _filter_edges(out, keep)
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        return torch.unique(self.edge_index.reshape(-1))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "edge_index": self.edge_index.tolist()}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> EdgeRequest:
        # a [2, k] list is ambiguous with k pairs when k == 2: go through a tensor
        rows = payload["edge_index"]
        return cls(torch.tensor(rows, dtype=torch.long).reshape(2, -1) if len(rows) == 2
                   else torch.empty(2, 0, dtype=torch.long))


class FeatureRequest(ForgetRequest):
    r"""Forget node features (they are zeroed).

    Args:
        node_ids (sequence of int): the nodes whose features are forgotten.
        feature_ids (sequence of int, optional): which feature columns; ``None`` forgets
            the whole feature row. (default: :obj:`None`)
    """

    kind = "feature"

    def __init__(self, node_ids: IdLike, feature_ids: IdLike | None = None) -> None:
        self.node_ids = _as_id_tensor(node_ids, "node ids")
        self.feature_ids = None if feature_ids is None else _as_id_tensor(feature_ids, "feature ids")
        if self.feature_ids is not None and self.feature_ids.numel() == 0:
            raise InvalidRequestError("feature ids are empty: pass None to forget whole rows")

    def __len__(self) -> int:
        return int(self.node_ids.numel())

    def validate(self, data: Data) -> None:
        if data.x is None:
            raise InvalidRequestError("a FeatureRequest needs data.x, but the data has no features")
        _check_range(self.node_ids, data.num_nodes, "node ids")
        _check_unique(self.node_ids, "node ids")
        _check_not_forgotten(self.node_ids, data, "nodes")
        if self.feature_ids is not None:
            _check_range(self.feature_ids, data.x.size(-1), "feature ids")
            _check_unique(self.feature_ids, "feature ids")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = _copy_for_update(data, edges_replaced=True)
        ids = self.node_ids
        if self.feature_ids is None:
            out.x[ids] = 0
        else:
            out.x[ids.view(-1, 1), self.feature_ids.view(1, -1)] = 0
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        return self.node_ids.clone()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node_ids": self.node_ids.tolist(),
                "feature_ids": None if self.feature_ids is None else self.feature_ids.tolist()}


_REQUEST_KINDS: dict[str, type[ForgetRequest]] = {
    "node": NodeRequest, "edge": EdgeRequest, "feature": FeatureRequest, "sample": SampleRequest,
}


def register_request_kind(cls: type[ForgetRequest]) -> type[ForgetRequest]:
    """Makes a request class (de)serialisable by :func:`request_from_dict`."""
    _REQUEST_KINDS[cls.kind] = cls
    return cls


def request_class(kind: str) -> type[ForgetRequest]:
    """The request class registered for ``kind`` (``"node"``, ``"edge"``, ...)."""
    if kind not in _REQUEST_KINDS:
        raise UnknownNameError(f"unknown request kind {kind!r}; expected one of {sorted(_REQUEST_KINDS)}")
    return _REQUEST_KINDS[kind]


def request_from_dict(payload: dict[str, Any]) -> ForgetRequest:
    """Inverse of :meth:`ForgetRequest.to_dict`."""
    args = {k: v for k, v in payload.items() if k != "kind"}
    return request_class(payload.get("kind")).from_dict(args)


# ---------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------
def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _how_many(pool_size: int, ratio: float | None, count: int | None, what: str) -> int:
    if (ratio is None) == (count is None):
        raise InvalidRequestError("pass exactly one of ratio or count")
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
            raise InvalidRequestError(f"ratio must lie in (0, 1), got {ratio!r}")
        k = int(round(float(ratio) * pool_size))
        k = max(k, 1) if pool_size else 0
    else:
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise InvalidRequestError(f"count must be a positive integer, got {count!r}")
        k = int(count)
    if k > pool_size:
        raise InvalidRequestError(f"asked for {k} {what} but only {pool_size} are available")
    if k == 0:
        raise InvalidRequestError(f"no {what} available to sample from")
    return k


def _pool(data: Data, pool: str) -> Tensor:
    forgotten = _forgotten_mask(data)
    if pool == "all":
        mask = torch.ones(data.num_nodes, dtype=torch.bool)
    else:
        key = pool if pool.endswith("_mask") else f"{pool}_mask"
        mask = getattr(data, key, None)
        if mask is None:
            raise InvalidRequestError(f"data has no {key!r} to sample from")
    return (mask & ~forgotten).nonzero().view(-1)


def sample_nodes(data: Data, ratio: float | None = None, count: int | None = None,
                 seed: int | torch.Generator | None = 0, pool: str = "train") -> NodeRequest:
    """Random nodes from ``pool`` (training nodes by default; never validation/test nodes).

    ``ratio`` is a fraction of the pool.
    """
    candidates = _pool(data, pool)
    k = _how_many(candidates.numel(), ratio, count, f"{pool} nodes")
    perm = torch.randperm(candidates.numel(), generator=_generator(seed))[:k]
    return NodeRequest(candidates[perm].sort().values)


def sample_samples(data: Data, ratio: float | None = None, count: int | None = None,
                   seed: int | torch.Generator | None = 0, pool: str = "train") -> SampleRequest:
    """Random training samples of non-graph data."""
    return SampleRequest(sample_nodes(data, ratio, count, seed, pool).node_ids)


def sample_class_nodes(data: Data, label: int, ratio: float | None = None,
                       count: int | None = None, seed: int | torch.Generator | None = 0,
                       pool: str = "train") -> NodeRequest:
    """Random training nodes of one class (``ratio`` of that class's pool)."""
    candidates = _pool(data, pool)
    candidates = candidates[data.y[candidates] == int(label)]
    k = _how_many(candidates.numel(), ratio, count, f"{pool} nodes of class {label}")
    perm = torch.randperm(candidates.numel(), generator=_generator(seed))[:k]
    return NodeRequest(candidates[perm].sort().values)


def sample_high_degree_nodes(data: Data, ratio: float | None = None, count: int | None = None,
                             pool: str = "train") -> NodeRequest:
    """The highest-degree nodes of ``pool`` (ties broken by id; deterministic)."""
    from torch_geometric.utils import degree

    candidates = _pool(data, pool)
    k = _how_many(candidates.numel(), ratio, count, f"{pool} nodes")
    deg = degree(data.edge_index[0], data.num_nodes)[candidates]
    order = torch.argsort(-deg, stable=True)[:k]
    return NodeRequest(candidates[order].sort().values)


def sample_edges(data: Data, ratio: float | None = None, count: int | None = None,
                 seed: int | torch.Generator | None = 0, among: str = "all") -> EdgeRequest:
    """Random edges; each undirected edge counts once and is named once.

    Args:
        among: ``"all"`` edges, or ``"train"`` for edges with both endpoints in the
            training mask.
    """
    ei = data.edge_index
    if ei is None or ei.numel() == 0:
        raise InvalidRequestError("the graph has no edges to sample from")
    if is_undirected(data):
        ei = ei[:, ei[0] < ei[1]]
    if among != "all":
        mask = getattr(data, f"{among}_mask")
        ei = ei[:, mask[ei[0]] & mask[ei[1]]]
    k = _how_many(ei.size(1), ratio, count, "edges")
    perm = torch.randperm(ei.size(1), generator=_generator(seed))[:k]
    return EdgeRequest(ei[:, perm.sort().values])


def sample_features(data: Data, ratio: float | None = None, count: int | None = None,
                    seed: int | torch.Generator | None = 0, pool: str = "train",
                    feature_ratio: float | None = None) -> FeatureRequest:
    """Random feature rows of training nodes (or random columns of them with ``feature_ratio``)."""
    g = _generator(seed)
    nodes = sample_nodes(data, ratio, count, g, pool).node_ids
    feats = None
    if feature_ratio is not None:
        d = data.x.size(-1)
        k = _how_many(d, feature_ratio, None, "feature columns")
        feats = torch.randperm(d, generator=g)[:k].sort().values
    return FeatureRequest(nodes, feats)


def sample_request(kind: str, data: Data, ratio: float | None = None, count: int | None = None,
                   seed: int = 0) -> ForgetRequest:
    """Samples a request of ``kind`` (``node``, ``edge``, ``feature``, ``sample``)."""
    kind = kind.lower()
    if kind == "node":
        return sample_nodes(data, ratio, count, seed)
    if kind == "edge":
        return sample_edges(data, ratio, count, seed)
    if kind == "feature":
        return sample_features(data, ratio, count, seed)
    if kind == "sample":
        return sample_samples(data, ratio, count, seed)
    raise UnknownNameError(f"unknown request kind {kind!r}; expected one of node, edge, feature, sample")
