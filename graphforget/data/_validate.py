r"""Validation of the data handed to :meth:`~graphforget.unlearner.Unlearner.fit`.

One place for every check, in the spirit of PyG's ``Data.validate()`` and
scikit-learn's ``check_array`` ("Input contains NaN"): a bad field fails as one
:class:`~graphforget.errors.GraphForgetError` that names the field, the first bad
index and what was expected, before any training (so no model is trained to
non-finite parameters and no raw torch ``IndexError`` surfaces).

Integer (or boolean) node features are an **error**, not a silent cast: the data a
model is fitted on is also the graph it predicts on and the graph that requests are
applied to, so a cast copy would silently diverge from the user's object. Pass
``data.x.float()``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphforget.errors import GraphForgetError

__all__ = ["validate_data", "MASK_KEYS"]

#: masks checked when present (one boolean per node)
MASK_KEYS = ("train_mask", "val_mask", "test_mask", "forgotten_mask")


def _first_true(mask: Tensor) -> int:
    return int(mask.reshape(-1).nonzero()[0, 0])


def _check_x(x: Any, num_nodes: int, who: str) -> None:
    if not isinstance(x, Tensor):
        raise GraphForgetError(f"{who}: data.x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.size(0) != num_nodes:
        raise GraphForgetError(
            f"{who}: data.x must have shape [num_nodes={num_nodes}, features], got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise GraphForgetError(
            f"{who}: data.x has dtype {x.dtype}; expected a floating dtype (integer features "
            "are not cast implicitly: pass data.x.float())")
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        row, col = (int(v) for v in bad.nonzero()[0])
        raise GraphForgetError(
            f"{who}: data.x contains NaN or infinity (first at node {row}, feature {col}: "
            f"{float(x[row, col])}); expected finite values")


def _check_edges(edge_index: Any, num_nodes: int, who: str) -> None:
    if not isinstance(edge_index, Tensor):
        raise GraphForgetError(
            f"{who}: data.edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphForgetError(
            f"{who}: data.edge_index must have shape [2, num_edges], got {tuple(edge_index.shape)}")
    if edge_index.dtype != torch.long:
        raise GraphForgetError(f"{who}: data.edge_index has dtype {edge_index.dtype}; expected torch.long")
    if edge_index.numel() == 0:
        return
    bad = (edge_index < 0) | (edge_index >= num_nodes)
    if bool(bad.any()):
        col = _first_true(bad.any(dim=0))
        pair = tuple(int(v) for v in edge_index[:, col])
        raise GraphForgetError(
            f"{who}: data.edge_index[:, {col}] = {pair} points outside the nodes; "
            f"expected ids in [0, {num_nodes - 1}]")


def _check_masks(data: Any, num_nodes: int, who: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        mask = getattr(data, key, None)
        if mask is None:
            continue
        if not isinstance(mask, Tensor):
            raise GraphForgetError(f"{who}: data.{key} must be a torch.Tensor, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise GraphForgetError(
                f"{who}: data.{key} has dtype {mask.dtype}; expected torch.bool (one flag per node)")
        if mask.dim() != 1 or mask.numel() != num_nodes:
            raise GraphForgetError(
                f"{who}: data.{key} has shape {tuple(mask.shape)}; expected [{num_nodes}] "
                "(one flag per node)")


def _check_labels(data: Any, num_nodes: int, who: str) -> None:
    y = data.y
    if not isinstance(y, Tensor):
        raise GraphForgetError(f"{who}: data.y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() != 1 or y.numel() != num_nodes:
        raise GraphForgetError(f"{who}: data.y must have shape [num_nodes={num_nodes}], got {tuple(y.shape)}")
    if torch.is_floating_point(y) or y.dtype == torch.bool or torch.is_complex(y):
        raise GraphForgetError(f"{who}: data.y has dtype {y.dtype}; expected integer class labels")
    train = getattr(data, "train_mask", None)
    if train is None:
        return
    if not bool(train.any()):
        raise GraphForgetError(f"{who}: data.train_mask selects no node; expected at least one")
    nc = getattr(data, "num_classes", None)
    if isinstance(nc, Tensor):
        nc = int(nc)
    labels = y[train]
    if isinstance(nc, int) and not isinstance(nc, bool):
        bad = (labels < 0) | (labels >= nc)
        expected = f"[0, {nc - 1}] (data.num_classes = {nc})"
    else:
        bad = labels < 0
        expected = ">= 0"
    if bool(bad.any()):
        node = int(train.nonzero().view(-1)[_first_true(bad)])
        raise GraphForgetError(
            f"{who}: data.y[{node}] = {int(y[node])} on the training mask; expected a label in {expected}")


def validate_data(data: Any, who: str = "fit()", *, features: bool = True, labels: bool = True,
                  edges: bool = True, masks: tuple[str, ...] = MASK_KEYS) -> None:
    r"""Checks a node-level ``Data`` before training.

    Checked, each only where the field is present: ``x`` (2-D, one row per node,
    floating, finite), ``edge_index`` (``[2, E]`` long, ids in ``[0, num_nodes)``), the
    ``masks`` (boolean, one flag per node), ``y`` (one integer per node, labels of the
    training nodes in ``[0, num_classes)``, a non-empty ``train_mask``).

    Args:
        data: the graph (a :class:`torch_geometric.data.Data`).
        who: prefix of the error message (e.g. ``"gif.fit()"``).
        features: check ``data.x``. (default: :obj:`True`)
        labels: check ``data.y`` and the training mask. (default: :obj:`True`)
        edges: check ``data.edge_index``. (default: :obj:`True`)
        masks: the node masks to check. (default: :data:`MASK_KEYS`)

    Raises:
        GraphForgetError: naming the field and the first bad index.
    """
    num_nodes = data.num_nodes
    if num_nodes is None or int(num_nodes) <= 0:
        raise GraphForgetError(f"{who}: data has no nodes")
    num_nodes = int(num_nodes)
    if masks:
        _check_masks(data, num_nodes, who, masks)
    if features and getattr(data, "x", None) is not None:
        _check_x(data.x, num_nodes, who)
    if edges and getattr(data, "edge_index", None) is not None:
        _check_edges(data.edge_index, num_nodes, who)
    if labels and getattr(data, "y", None) is not None:
        _check_labels(data, num_nodes, who)
