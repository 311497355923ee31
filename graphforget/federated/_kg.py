r"""Federated knowledge graphs: loading, relation-based client splits, triple requests.

A federated KG is one :class:`~torch_geometric.data.Data` whose *edges are triples*:

* ``edge_index`` ``[2, T]`` (head, tail) and ``edge_type`` ``[T]`` (relation), global ids;
* ``triple_client`` ``[T]``: the client holding each triple (all triples of a relation
  live on one client, as in FedLU's relation-based partition);
* ``triple_split`` ``[T]``: ``0`` train, ``1`` validation, ``2`` test (per client 80/10/10,
  every entity and relation of a validation/test triple also seen in that client's
  training triples);
* ``forgotten_triple_mask`` ``[T]``: training triples forgotten so far (their slot and id
  never change; they leave the training set);
* ``train_mask`` ``[num_nodes]``: entities that occur in a retained training triple (a
  node-level view, so node samplers and generic tooling keep working);
* ``num_relations`` and ``num_clients``.

A :class:`TripleRequest` forgets training triples by id or by ``(head, relation, tail)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError, InvalidRequestError, UnknownNameError
from graphforget.requests import ForgetRequest, IdLike, _as_id_tensor, _preview, register_request_kind

__all__ = [
    "TRAIN", "VALID", "TEST",
    "TripleRequest", "sample_triples", "relation_cooccurrence", "spectral_relation_split",
    "random_relation_split", "split_client_triples", "build_federated_kg", "load_kg",
    "synthetic_kg", "triple_keys", "parse_partition",
]

TRAIN, VALID, TEST = 0, 1, 2


def triple_keys(head: Tensor, relation: Tensor, tail: Tensor, num_entities: int,
                num_relations: int) -> Tensor:
    """A unique int64 key per ``(head, relation, tail)``."""
    return (head * num_relations + relation) * num_entities + tail


def _keys(data: Data) -> Tensor:
    return triple_keys(data.edge_index[0], data.edge_type, data.edge_index[1],
                       int(data.num_nodes), int(data.num_relations))


def _train_entities(data: Data) -> Tensor:
    keep = (data.triple_split == TRAIN) & ~data.forgotten_triple_mask
    mask = torch.zeros(int(data.num_nodes), dtype=torch.bool)
    mask[data.edge_index[:, keep].reshape(-1)] = True
    return mask


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------
@register_request_kind
class TripleRequest(ForgetRequest):
    r"""Forget training triples of a knowledge graph.

    Forgotten triples keep their ids; they leave the training set (``triple_split``
    stays, ``forgotten_triple_mask`` is set) and every later filter (the filtered
    ranking's set of known true triples) is built without them.

    Args:
        triple_ids (sequence of int or LongTensor, optional): ids (columns of
            ``data.edge_index``) of training triples.
        triples (``[k, 3]`` integer array, optional): ``(head, relation, tail)`` rows,
            resolved to ids against the data at validation time. Pass exactly one of
            ``triple_ids`` and ``triples``. (default: :obj:`None`)
    """

    kind = "triple"

    def __init__(self, triple_ids: IdLike | None = None, triples: Any = None) -> None:
        if (triple_ids is None) == (triples is None):
            raise InvalidRequestError("TripleRequest takes exactly one of triple_ids or triples")
        if triples is not None:
            self.triple_ids: Tensor | None = None
            self.triples: Tensor | None = _rows_tensor(triples)
        else:
            self.triple_ids = _as_id_tensor(triple_ids, "triple ids")
            self.triples = None

    def __len__(self) -> int:
        return int(self.triple_ids.numel() if self.triple_ids is not None else self.triples.size(0))

    def resolve(self, data: Data) -> Tensor:
        """The ids of the requested triples in ``data`` (raises for unknown rows)."""
        _check_kg(data)
        if self.triple_ids is not None:
            return self.triple_ids
        rows = self.triples
        ne, nr = int(data.num_nodes), int(data.num_relations)
        bad = (rows[:, 0] < 0) | (rows[:, 0] >= ne) | (rows[:, 2] < 0) | (rows[:, 2] >= ne) \
            | (rows[:, 1] < 0) | (rows[:, 1] >= nr)
        if bad.any():
            raise InvalidRequestError(
                f"triples out of range (entities [0, {ne}), relations [0, {nr})): "
                f"{rows[bad][:8].tolist()} ({int(bad.sum())} in all)")
        keys = _keys(data)
        want = triple_keys(rows[:, 0], rows[:, 1], rows[:, 2], ne, nr)
        order = torch.argsort(keys)
        pos = torch.searchsorted(keys[order], want).clamp(max=keys.numel() - 1)
        found = keys[order][pos] == want
        if not found.all():
            raise InvalidRequestError(
                f"triples not in the knowledge graph: {rows[~found][:8].tolist()} "
                f"({int((~found).sum())} in all)")
        return order[pos]

    def validate(self, data: Data) -> None:
        ids = self.resolve(data)
        t = data.edge_index.size(1)
        bad = ids[(ids < 0) | (ids >= t)]
        if bad.numel():
            raise InvalidRequestError(f"triple ids out of range [0, {t}): {_preview(bad)}")
        uniq, counts = torch.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InvalidRequestError(f"triple ids contain duplicates: {_preview(uniq[counts > 1])}")
        not_train = ids[data.triple_split[ids] != TRAIN]
        if not_train.numel():
            raise InvalidRequestError(
                f"only training triples can be forgotten; these are validation/test triples: "
                f"{_preview(not_train)}")
        again = ids[data.forgotten_triple_mask[ids]]
        if again.numel():
            raise InvalidRequestError(f"triples already forgotten: {_preview(again)}")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = data.clone()
        ids = self.resolve(data)
        if not validate:  # tolerant replay: skip ids that do not fit
            ids = ids[(ids >= 0) & (ids < data.edge_index.size(1))]
        out.forgotten_triple_mask[ids] = True
        out.train_mask = _train_entities(out)
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        ids = self.resolve(data)
        return torch.unique(data.edge_index[:, ids].reshape(-1))

    def to_dict(self) -> dict[str, Any]:
        if self.triple_ids is not None:
            return {"kind": self.kind, "triple_ids": self.triple_ids.tolist()}
        return {"kind": self.kind, "triples": self.triples.tolist()}


def _rows_tensor(triples: Any) -> Tensor:
    if isinstance(triples, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(triples))
    elif isinstance(triples, Tensor):
        t = triples.detach().cpu()
    else:
        items = list(triples)
        for row in items:
            for v in row:
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) and not (
                        isinstance(v, Tensor) and not v.is_floating_point()):
                    raise TypeError(f"triples must hold integers, got {v!r} ({type(v).__name__})")
        if any(len(row) != 3 for row in items):
            raise InvalidRequestError("triples must be (head, relation, tail) rows of length 3")
        t = torch.tensor([[int(v) for v in row] for row in items], dtype=torch.long).reshape(-1, 3)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"triples must have an integer dtype, got {t.dtype}")
    if t.numel() == 0:
        t = t.reshape(0, 3)
    if t.dim() != 2 or t.size(1) != 3:
        raise InvalidRequestError(f"triples must have shape [k, 3], got {tuple(t.shape)}")
    return t.to(torch.long).contiguous()


def _check_kg(data: Data) -> None:
    for key in ("edge_index", "edge_type", "triple_client", "triple_split", "forgotten_triple_mask",
                "num_relations"):
        if getattr(data, key, None) is None:
            raise InvalidRequestError(
                f"a TripleRequest needs a federated knowledge graph with data.{key} "
                "(see graphforget.federated.build_federated_kg)")


def sample_triples(data: Data, ratio: float | None = None, count: int | None = None,
                   seed: int = 0, clients: IdLike | None = None) -> TripleRequest:
    """Forget ``ratio`` of each client's retained training triples (FedLU's default: 1%).

    Like the official sampler, a triple is taken only while its head, tail and relation
    keep at least one other retained training triple on that client, so every entity
    and relation stays seen in training. ``count`` takes that many per client instead.

    Args:
        clients: restrict to these clients (default: every client).
    """
    _check_kg(data)
    if (ratio is None) == (count is None):
        raise InvalidRequestError("pass exactly one of ratio or count")
    if ratio is not None and not 0.0 < float(ratio) < 1.0:
        raise InvalidRequestError(f"ratio must lie in (0, 1), got {ratio!r}")
    rng = np.random.default_rng(seed)
    chosen_clients = range(int(data.num_clients)) if clients is None else \
        _as_id_tensor(clients, "clients").tolist()
    picked: list[int] = []
    head, tail = data.edge_index[0].numpy(), data.edge_index[1].numpy()
    rel = data.edge_type.numpy()
    for c in chosen_clients:
        if not 0 <= int(c) < int(data.num_clients):
            raise InvalidRequestError(f"client {c} out of range [0, {int(data.num_clients)})")
        pool = ((data.triple_client == int(c)) & (data.triple_split == TRAIN)
                & ~data.forgotten_triple_mask).nonzero().view(-1).numpy()
        k = math.ceil(len(pool) * float(ratio)) if ratio is not None else int(count)
        ent_count: dict[int, int] = {}
        rel_count: dict[int, int] = {}
        for i in pool:
            for e in (head[i], tail[i]):
                ent_count[e] = ent_count.get(e, 0) + 1
            rel_count[rel[i]] = rel_count.get(rel[i], 0) + 1
        got = []
        for i in rng.permutation(pool):
            if len(got) == k:
                break
            h, r, t = head[i], rel[i], tail[i]
            need = 2 if h != t else 3
            if ent_count[h] < need or ent_count[t] < need or rel_count[r] < 2:
                continue
            ent_count[h] -= 1
            ent_count[t] -= 1
            rel_count[r] -= 1
            got.append(int(i))
        if len(got) < k:
            raise InvalidRequestError(
                f"client {c}: only {len(got)} of {k} requested triples can be forgotten while "
                "keeping every entity and relation seen in training")
        picked += got
    return TripleRequest(torch.tensor(sorted(picked), dtype=torch.long))


# ---------------------------------------------------------------------------
# relation-based client splits
# ---------------------------------------------------------------------------
def relation_cooccurrence(edge_index: Tensor, edge_type: Tensor, num_entities: int,
                          num_relations: int) -> Tensor:
    r"""Relation co-occurrence counts :math:`C = B^\top B - \mathrm{diag}`, where
    :math:`B_{e,r} = 1` when entity :math:`e` is the head or tail of a triple of
    relation :math:`r`: :math:`C_{r,s}` is the number of entities shared by relations
    :math:`r \neq s` (the official FedLU construction). Sparse product, dense ``[R, R]``
    output (``R`` is small)."""
    ents = torch.cat([edge_index[0], edge_index[1]])
    rels = torch.cat([edge_type, edge_type])
    pairs = torch.unique(ents * num_relations + rels)
    rows, cols = pairs // num_relations, pairs % num_relations
    import scipy.sparse as sp

    inc = sp.csr_matrix((np.ones(len(rows)), (rows.numpy(), cols.numpy())),
                        shape=(num_entities, num_relations))
    co = (inc.T @ inc).toarray()
    np.fill_diagonal(co, 0)
    return torch.from_numpy(co).to(torch.float64)


def spectral_relation_split(cooccurrence: Tensor, num_clients: int, seed: int = 0) -> Tensor:
    """Cluster relations into ``num_clients`` groups by spectral clustering of the
    co-occurrence affinity (scikit-learn, ``affinity="precomputed"``)."""
    from sklearn.cluster import SpectralClustering

    r = cooccurrence.size(0)
    if not 1 <= num_clients <= r:
        raise GraphForgetError(f"cannot split {r} relations into {num_clients} clients")
    if num_clients == 1:
        return torch.zeros(r, dtype=torch.long)
    sc = SpectralClustering(num_clients, affinity="precomputed", random_state=seed,
                            assign_labels="kmeans", n_init=10)
    labels = sc.fit_predict(cooccurrence.numpy())
    return _relabel(torch.from_numpy(labels).long())


def random_relation_split(num_relations: int, num_clients: int, seed: int = 0) -> Tensor:
    """The control split: relations shuffled and cut into ``num_clients`` near-equal groups."""
    if not 1 <= num_clients <= num_relations:
        raise GraphForgetError(f"cannot split {num_relations} relations into {num_clients} clients")
    perm = torch.randperm(num_relations, generator=torch.Generator().manual_seed(seed))
    labels = torch.empty(num_relations, dtype=torch.long)
    labels[perm] = torch.arange(num_relations) * num_clients // num_relations
    return labels


def _relabel(labels: Tensor) -> Tensor:
    """Cluster ids renumbered by their smallest relation id (deterministic naming)."""
    order = {}
    for lab in labels.tolist():
        order.setdefault(lab, len(order))
    return torch.tensor([order[v] for v in labels.tolist()], dtype=torch.long)


def split_client_triples(head: np.ndarray, relation: np.ndarray, tail: np.ndarray,
                         ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                         seed: int = 0) -> np.ndarray:
    """Train/valid/test labels for one client's triples (``0/1/2``).

    Validation then test triples are drawn at random (``ceil`` of their share), taking a
    triple only while its head, tail and relation keep another training triple, so
    every entity and relation of a held-out triple is seen in training.
    """
    n = len(head)
    out = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    ent_count: dict[int, int] = {}
    rel_count: dict[int, int] = {}
    for h, r, t in zip(head.tolist(), relation.tolist(), tail.tolist(), strict=False):
        ent_count[h] = ent_count.get(h, 0) + 1
        ent_count[t] = ent_count.get(t, 0) + 1
        rel_count[r] = rel_count.get(r, 0) + 1
    order = rng.permutation(n).tolist()
    pos = 0
    for label, share in ((VALID, ratios[1]), (TEST, ratios[2])):
        want, got = math.ceil(n * share) if share > 0 else 0, 0
        rest = []
        for i in order[pos:]:
            if got == want:
                rest.append(i)
                continue
            h, r, t = int(head[i]), int(relation[i]), int(tail[i])
            need = 2 if h != t else 3
            if ent_count[h] < need or ent_count[t] < need or rel_count[r] < 2:
                rest.append(i)
                continue
            ent_count[h] -= 1
            ent_count[t] -= 1
            rel_count[r] -= 1
            out[i] = label
            got += 1
        order, pos = rest, 0
    return out


def parse_partition(partition: str | None, default_clients: int = 3) -> tuple[str, int]:
    """``"C3"`` → ("spectral", 3); ``"R5"`` → ("random", 5); ``None`` → spectral default."""
    if partition is None:
        return "spectral", default_clients
    text = str(partition).strip().lower()
    for prefix, kind in (("clients=", "spectral"), ("spectral", "spectral"), ("random", "random"),
                         ("c", "spectral"), ("r", "random")):
        if text.startswith(prefix):
            digits = text[len(prefix):].lstrip(":=")
            if digits.isdigit() and int(digits) >= 1:
                return kind, int(digits)
    raise GraphForgetError(
        f"unknown client partition {partition!r}: use C<k> (spectral clustering of relation "
        "co-occurrence, e.g. C3) or R<k> (random relation split, e.g. R3)")


def build_federated_kg(edge_index: Tensor, edge_type: Tensor, num_entities: int,
                       num_relations: int, num_clients: int = 3, partition: str = "spectral",
                       ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0,
                       relation_client: Tensor | None = None) -> Data:
    """Splits a KG's triples over clients by relation and each client's triples 80/10/10.

    Duplicated triples are dropped. ``relation_client`` overrides the partition.
    """
    keys = triple_keys(edge_index[0], edge_type, edge_index[1], num_entities, num_relations)
    _, first = np.unique(keys.numpy(), return_index=True)
    first = torch.from_numpy(np.sort(first))
    edge_index, edge_type = edge_index[:, first].contiguous(), edge_type[first].contiguous()
    if relation_client is None:
        if partition == "spectral":
            co = relation_cooccurrence(edge_index, edge_type, num_entities, num_relations)
            relation_client = spectral_relation_split(co, num_clients, seed)
        elif partition == "random":
            relation_client = random_relation_split(num_relations, num_clients, seed)
        else:
            raise UnknownNameError(f"unknown partition {partition!r}; choose spectral or random")
    triple_client = relation_client[edge_type]
    split = np.zeros(edge_type.numel(), dtype=np.int64)
    h, r, t = edge_index[0].numpy(), edge_type.numpy(), edge_index[1].numpy()
    for c in range(num_clients):
        idx = (triple_client == c).nonzero().view(-1).numpy()
        if len(idx):
            split[idx] = split_client_triples(h[idx], r[idx], t[idx], ratios, seed=seed * 1000 + c)
    data = Data(edge_index=edge_index, edge_type=edge_type, triple_client=triple_client,
                triple_split=torch.from_numpy(split),
                forgotten_triple_mask=torch.zeros(edge_type.numel(), dtype=torch.bool),
                relation_client=relation_client.clone(), num_nodes=int(num_entities))
    data.num_relations = int(num_relations)
    data.num_clients = int(num_clients)
    data.train_mask = _train_entities(data)
    return data


# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------
_KG_DATASETS = {"fb15k237": "FB15k-237", "wn18rr": "WN18RR"}


def _read_pyg(name: str, root: str | None) -> tuple[Tensor, Tensor, int, int]:
    from graphforget._registry import normalize
    from graphforget.data import dataset_dir

    key = normalize(name)
    if key not in _KG_DATASETS:
        raise UnknownNameError(f"unknown knowledge graph {name!r}; choose one of: fb15k-237, wn18rr")
    folder = dataset_dir(_KG_DATASETS[key], root)
    if key == "fb15k237":
        from torch_geometric.datasets import FB15k_237

        parts = [FB15k_237(folder, split=s)[0] for s in ("train", "val", "test")]
        edge_index = torch.cat([p.edge_index for p in parts], dim=1)
        edge_type = torch.cat([p.edge_type for p in parts])
        num_entities = max(int(p.num_nodes) for p in parts)
    else:
        from torch_geometric.datasets import WordNet18RR

        d = WordNet18RR(folder)[0]
        edge_index, edge_type, num_entities = d.edge_index, d.edge_type, int(d.num_nodes)
    num_entities = max(num_entities, int(edge_index.max()) + 1)
    return edge_index, edge_type, num_entities, int(edge_type.max()) + 1


@functools.lru_cache(maxsize=8)
def load_kg(name: str = "fb15k-237", root: str | None = None, partition: str | None = None,
            seed: int = 0) -> Data:
    """A federated KG from the shared raw files (PyG ``FB15k_237`` / ``WordNet18RR``).

    As in FedLU, the official train/valid/test files are merged and re-split per client.

    Args:
        name: ``fb15k-237`` or ``wn18rr``.
        partition: ``C<k>`` (spectral clustering of relation co-occurrence into ``k``
            clients, the paper's FB15k-237-C3/C5/C10) or ``R<k>`` (random relation
            split, the control). (default: ``"C3"``)
    """
    kind, clients = parse_partition(partition)
    edge_index, edge_type, ne, nr = _read_pyg(name, root)
    return build_federated_kg(edge_index, edge_type, ne, nr, clients, kind, seed=seed)


def synthetic_kg(num_groups: int = 3, entities_per_group: int = 40, relations_per_group: int = 4,
                 overlap: int = 6, heads_per_relation: float = 0.8, random_relations: int = 1, classes: int = 4,
                 num_clients: int | None = None, partition: str = "spectral", seed: int = 0) -> Data:
    """A small KG with clear structure, split over clients by relation.

    Entities form ``num_groups`` blocks arranged on a ring, consecutive blocks sharing
    ``overlap`` entities, and each entity has a class (its position modulo ``classes``).
    Each block owns ``relations_per_group`` relations; a *structured* relation sends
    every head of class ``k`` to the relation's hub entity for class ``k`` (the classes
    are shared by all structured relations, so a held-out triple is predictable from
    the others), and the last ``random_relations`` of each
    block map heads to random tails of the block (learnable only by memorising, so a
    never-trained model cannot rank their triples). Relations of one block co-occur far
    more than relations of different blocks, so spectral clustering with
    ``num_clients = num_groups`` recovers the blocks.
    """
    g = torch.Generator().manual_seed(seed)
    size = entities_per_group
    step = size - overlap
    num_entities = step * num_groups if num_groups > 1 else size
    heads, rels, tails = [], [], []
    rel = 0
    for b in range(num_groups):
        block = (torch.arange(size) + b * step) % num_entities
        for j in range(relations_per_group):
            chosen = torch.randperm(size, generator=g)[: max(1, int(heads_per_relation * size))]
            if j >= relations_per_group - random_relations:
                target = torch.randint(0, size, (chosen.numel(),), generator=g)
            else:  # many-to-one: every head of class k points at the relation's hub of class k
                hubs = torch.randperm(size, generator=g)[:classes]
                target = hubs[chosen % classes]
            heads.append(block[chosen])
            tails.append(block[target])
            rels.append(torch.full((chosen.numel(),), rel))
            rel += 1
    edge_index = torch.stack([torch.cat(heads), torch.cat(tails)])
    edge_type = torch.cat(rels)
    keep = edge_index[0] != edge_index[1]
    return build_federated_kg(edge_index[:, keep], edge_type[keep], num_entities, rel,
                              num_clients or num_groups, partition, seed=seed)
