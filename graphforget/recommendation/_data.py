r"""Interaction data for recommendation unlearning, and its forget requests.

An interaction set is a :class:`~torch_geometric.data.Data` with

* ``num_users`` :math:`U`, ``num_items`` :math:`I`, ``num_nodes`` :math:`= U + I`
  (users are nodes ``0..U-1``, item :math:`j` is node :math:`U + j`);
* ``edge_index`` ``[2, m]``: one column ``(user, U + item)`` per interaction (the
  bipartite graph, user to item);
* ``edge_split`` ``[m]``: ``0`` training, ``1`` validation, ``2`` test;
* ``train_mask`` ``[U + I]``: nodes with at least one retained training interaction;
  ``forgotten_mask``: users forgotten by a :class:`UserRequest`.

Forgetting never renumbers users or items: a forgotten interaction's column is removed,
a forgotten user keeps its id, loses every interaction (training, validation and test)
and is flagged in ``forgotten_mask``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.data import dataset_dir
from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.requests import (
    ForgetRequest,
    IdLike,
    _as_id_tensor,
    _check_range,
    _check_unique,
    _preview,
    register_request_kind,
)

__all__ = ["interaction_data", "load_interactions", "InteractionRequest", "UserRequest",
           "sample_interactions", "sample_users", "split_pairs", "check_interaction_data",
           "RECOMMENDATION_DATASETS"]

SPLITS = {"train": 0, "val": 1, "validation": 1, "test": 2}
RECOMMENDATION_DATASETS = ("movielens100k", "gowalla")


def check_interaction_data(data: Any) -> None:
    """Raises a clear error unless ``data`` is an interaction set (see the module docs)."""
    if not isinstance(data, Data):
        raise TypeError(f"expected interaction data (a torch_geometric Data), got {type(data).__name__}")
    for key in ("num_users", "num_items", "edge_index", "edge_split"):
        if getattr(data, key, None) is None:
            raise GraphForgetError(f"interaction data needs data.{key} (see graphforget.recommendation)")


def interaction_data(users: Tensor, items: Tensor, num_users: int, num_items: int,
                     split: Tensor) -> Data:
    """Builds an interaction set from parallel ``users`` / ``items`` (item ids from 0) and a
    per-interaction ``split`` (0/1/2)."""
    users, items, split = users.long().view(-1), items.long().view(-1), split.long().view(-1)
    if users.numel() and (int(users.min()) < 0 or int(users.max()) >= num_users):
        raise GraphForgetError(f"user ids must lie in [0, {num_users})")
    if items.numel() and (int(items.min()) < 0 or int(items.max()) >= num_items):
        raise GraphForgetError(f"item ids must lie in [0, {num_items})")
    order = torch.argsort(users * num_items + items, stable=True)
    data = Data(edge_index=torch.stack([users[order], items[order] + num_users]),
                edge_split=split[order], num_nodes=num_users + num_items)
    data.num_users, data.num_items = int(num_users), int(num_items)
    data.forgotten_mask = torch.zeros(num_users + num_items, dtype=torch.bool)
    data.train_mask = _train_nodes(data)
    return data


def _train_nodes(data: Data) -> Tensor:
    mask = torch.zeros(int(data.num_nodes), dtype=torch.bool)
    ei = data.edge_index[:, data.edge_split == 0]
    mask[ei[0]] = True
    mask[ei[1]] = True
    return mask


def split_pairs(data: Data, split: str | int) -> Tensor:
    """``[2, m_s]`` ``(user, item)`` pairs (items *not* offset) of one split."""
    code = SPLITS[split] if isinstance(split, str) else int(split)
    ei = data.edge_index[:, data.edge_split == code]
    return torch.stack([ei[0], ei[1] - int(data.num_users)])


def _random_split(n: int, fractions: tuple[float, float, float], seed: int) -> Tensor:
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    split = torch.zeros(n, dtype=torch.long)
    split[perm[:n_test]] = 2
    split[perm[n_test:n_test + n_val]] = 1
    return split


def _parse_fractions(split: str | None) -> tuple[float, float, float]:
    if split is None:
        return (0.8, 0.1, 0.1)
    try:
        parts = tuple(float(p) for p in split.split("/"))
    except ValueError:
        raise GraphForgetError(f"split must look like 0.8/0.1/0.1 or 'given', got {split!r}") from None
    if len(parts) != 3 or abs(sum(parts) - 1) > 1e-6 or min(parts) < 0:
        raise GraphForgetError(f"split must be three fractions summing to 1, got {split!r}")
    return parts  # type: ignore[return-value]


def _read_movielens(folder: Path) -> tuple[Tensor, Tensor, int, int]:
    rows = []
    for name in ("u1.base", "u1.test"):  # u1.base + u1.test = all 100,000 ratings
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"MovieLens-100K file {path} not found (expected raw/u1.base, raw/u1.test)")
        rows.append(np.loadtxt(path, dtype=np.int64, usecols=(0, 1)))
    arr = np.concatenate(rows)
    users, items = torch.from_numpy(arr[:, 0] - 1), torch.from_numpy(arr[:, 1] - 1)
    return users, items, int(users.max()) + 1, int(items.max()) + 1


def _read_lightgcn(path: Path) -> tuple[Tensor, Tensor]:
    users, items = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            ids = np.asarray(parts, dtype=np.int64)
            users.append(np.full(ids.size - 1, ids[0]))
            items.append(ids[1:])
    return torch.from_numpy(np.concatenate(users)), torch.from_numpy(np.concatenate(items))


@functools.lru_cache(maxsize=4)
def load_interactions(name: str, root: str | None = None, split: str | None = None,
                      seed: int = 0) -> Data:
    """MovieLens-100K (``movielens100k``, all 100,000 ratings as implicit feedback) or
    Gowalla (``gowalla``, LightGCN's preprocessed files) from the data root.

    ``split``: ``"0.8/0.1/0.1"`` (default; seeded random split of all interactions) or,
    for Gowalla, ``"given"``: LightGCN's train/test files, with 10% of the training
    interactions (seeded) held out for validation.
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key in ("movielens100k", "ml100k"):
        folder = Path(dataset_dir("MovieLens100K", root)) / "raw"
        users, items, nu, ni = _read_movielens(folder)
        part = _random_split(users.numel(), _parse_fractions(split), seed)
    elif key == "gowalla":
        folder = Path(dataset_dir("LightGCN/gowalla", root)) / "raw"
        for f in ("train.txt", "test.txt"):
            if not (folder / f).is_file():
                raise FileNotFoundError(f"Gowalla file {folder / f} not found (LightGCN format)")
        tu, ti = _read_lightgcn(folder / "train.txt")
        su, si = _read_lightgcn(folder / "test.txt")
        nu = int(max(tu.max(), su.max())) + 1
        ni = int(max(ti.max(), si.max())) + 1
        if split == "given":
            given = torch.cat([torch.zeros(tu.numel(), dtype=torch.long),
                               torch.full((su.numel(),), 2, dtype=torch.long)])
            users, items = torch.cat([tu, su]), torch.cat([ti, si])
            val = _random_split(tu.numel(), (0.9, 0.1, 0.0), seed)
            given[:tu.numel()] = val
            part = given
        else:
            users, items = torch.cat([tu, su]), torch.cat([ti, si])
            part = _random_split(users.numel(), _parse_fractions(split), seed)
    else:
        raise GraphForgetError(f"unknown recommendation dataset {name!r}; choose one of "
                               f"{', '.join(RECOMMENDATION_DATASETS)}")
    data = interaction_data(users, items, nu, ni, part)
    data.name = key
    return data


# ---------------------------------------------------------------------------
# requests
# ---------------------------------------------------------------------------
def _keys(data: Data, users: Tensor, items: Tensor) -> Tensor:
    return users * int(data.num_items) + items


@register_request_kind
class InteractionRequest(ForgetRequest):
    r"""Forget training interactions (user–item pairs).

    Args:
        pairs (``[2, k]`` integer array or list of ``(user, item)``): users and items,
            item ids *not* offset by the number of users.
    """

    kind = "interaction"

    def __init__(self, pairs: IdLike) -> None:
        t = pairs
        if not isinstance(t, (Tensor, np.ndarray)) and len(list(t)) == 0:  # type: ignore[arg-type]
            t = torch.empty(2, 0, dtype=torch.long)
        if not isinstance(t, (Tensor, np.ndarray)):
            items = list(t)  # type: ignore[arg-type]
            if items and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in items):
                t = [[p[0] for p in items], [p[1] for p in items]]
            else:
                t = items
        self.pairs = _as_id_tensor(t, "interaction pairs", ndim=2)

    def __len__(self) -> int:
        return int(self.pairs.size(1))

    def validate(self, data: Data) -> None:
        check_interaction_data(data)
        _check_range(self.pairs[0], int(data.num_users), "user ids")
        _check_range(self.pairs[1], int(data.num_items), "item ids")
        keys = _keys(data, self.pairs[0], self.pairs[1])
        _check_unique(keys, "interactions (as user * num_items + item)")
        train = split_pairs(data, "train")
        missing = ~torch.isin(keys, _keys(data, train[0], train[1]))
        if missing.any():
            bad = self.pairs[:, missing]
            raise InvalidRequestError(
                "interactions are not retained training interactions (unknown, held out for "
                f"validation/test, or already forgotten): {list(zip(bad[0].tolist()[:8], bad[1].tolist()[:8], strict=False))}"
                f" ({int(missing.sum())} in all)")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = data.clone()
        ei = out.edge_index
        keys = _keys(data, ei[0], ei[1] - int(data.num_users))
        drop = torch.isin(keys, _keys(data, self.pairs[0], self.pairs[1])) & (out.edge_split == 0)
        out.edge_index, out.edge_split = ei[:, ~drop], out.edge_split[~drop]
        out.train_mask = _train_nodes(out) & ~out.forgotten_mask
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        return torch.unique(torch.cat([self.pairs[0], self.pairs[1] + int(data.num_users)]))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pairs": self.pairs.tolist()}


@register_request_kind
class UserRequest(ForgetRequest):
    r"""Forget whole users: every interaction of theirs (training, validation, test)
    is removed and the user is flagged in ``forgotten_mask``.

    Args:
        user_ids (sequence of int): the users.
    """

    kind = "user"

    def __init__(self, user_ids: IdLike) -> None:
        self.user_ids = _as_id_tensor(user_ids, "user ids")

    def __len__(self) -> int:
        return int(self.user_ids.numel())

    def validate(self, data: Data) -> None:
        check_interaction_data(data)
        _check_range(self.user_ids, int(data.num_users), "user ids")
        _check_unique(self.user_ids, "user ids")
        gone = self.user_ids[data.forgotten_mask[self.user_ids]]
        if gone.numel():
            raise InvalidRequestError(f"users already forgotten: {_preview(gone)}")

    def apply(self, data: Data, validate: bool = True) -> Data:
        if validate:
            self.validate(data)
        out = data.clone()
        hit = torch.zeros(int(data.num_nodes), dtype=torch.bool)
        hit[self.user_ids] = True
        keep = ~hit[out.edge_index[0]]
        out.edge_index, out.edge_split = out.edge_index[:, keep], out.edge_split[keep]
        out.forgotten_mask = out.forgotten_mask.clone()
        out.forgotten_mask[self.user_ids] = True
        out.train_mask = _train_nodes(out) & ~out.forgotten_mask
        return out

    def affected_nodes(self, data: Data) -> Tensor:
        return self.user_ids.clone()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "user_ids": self.user_ids.tolist()}


def sample_interactions(data: Data, ratio: float | None = None, count: int | None = None,
                        seed: int = 0) -> InteractionRequest:
    """Random retained training interactions (``ratio`` of them, or ``count``)."""
    from graphforget.requests import _how_many

    pairs = split_pairs(data, "train")
    k = _how_many(pairs.size(1), ratio, count, "training interactions")
    g = torch.Generator().manual_seed(int(seed))
    pick = torch.randperm(pairs.size(1), generator=g)[:k].sort().values
    return InteractionRequest(pairs[:, pick])


def sample_users(data: Data, ratio: float | None = None, count: int | None = None,
                 seed: int = 0) -> UserRequest:
    """Random retained users with at least one training interaction."""
    from graphforget.requests import _how_many

    users = data.train_mask[: int(data.num_users)].nonzero().view(-1)
    k = _how_many(users.numel(), ratio, count, "users")
    g = torch.Generator().manual_seed(int(seed))
    pick = torch.randperm(users.numel(), generator=g)[:k]
    return UserRequest(users[pick].sort().values)
