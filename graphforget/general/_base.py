"""Shared pieces of the tabular unlearners: the base class and state helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.data._validate import validate_data
from graphforget.errors import GraphForgetError
from graphforget.requests import SampleRequest
from graphforget.unlearner import Task, Unlearner

__all__ = ["TabularUnlearner", "train_rows", "to_np", "to_t"]


def to_np(t: Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, Tensor) else np.asarray(t)


def to_t(a: np.ndarray | Tensor | float) -> Tensor:
    if isinstance(a, Tensor):
        return a.detach().clone()
    return torch.from_numpy(np.array(a, copy=True))


def train_rows(data: Data) -> np.ndarray:
    """Indices of the current training rows (``train_mask`` minus forgotten rows)."""
    mask = data.train_mask
    forgotten = getattr(data, "forgotten_mask", None)
    if forgotten is not None:
        mask = mask & ~forgotten
    return mask.nonzero().view(-1).numpy()


class TabularUnlearner(Unlearner):
    """Base of the methods of :mod:`graphforget.general`: edge-less ``Data`` in, rows
    forgotten with :class:`~graphforget.requests.SampleRequest`.

    Subclasses keep their learned state as numpy arrays and expose it to
    ``_get_state`` as tensors (float64 unless stated), so that save/load and the
    fingerprint are byte-exact.
    """

    tasks = (Task.TABULAR,)
    supported_requests: tuple = (SampleRequest,)

    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        if data.x is None or data.x.dim() != 2:
            raise GraphForgetError("tabular methods need data.x of shape [n, d]")
        if getattr(data, "y", None) is None or data.y.dim() != 1:
            raise GraphForgetError("tabular methods need integer labels data.y of shape [n]")
        if getattr(data, "train_mask", None) is None or not bool(data.train_mask.any()):
            raise GraphForgetError("tabular methods need a non-empty data.train_mask")
        validate_data(data, f"{self.method_name}.fit()", edges=False)

    def num_classes_of(self, data: Data) -> int:
        c = getattr(data, "num_classes", None)
        return int(c) if c is not None else int(data.y.max()) + 1

    @staticmethod
    def xy(data: Data, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Training features (float64) and labels of ``rows`` (default: training rows)."""
        rows = train_rows(data) if rows is None else rows
        x = data.x.numpy()[rows].astype(np.float64)
        y = data.y.numpy()[rows].astype(np.int64)
        return x, y

    def _get_state(self) -> dict[str, Any]:
        """The method's learned state (each tabular method defines its own)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _get_state")

    def _set_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_get_state`."""
        raise NotImplementedError(f"{type(self).__name__} must implement _set_state")
