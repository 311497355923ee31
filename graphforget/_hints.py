"""Row hints: a method declares which rows of a tensor it rewrote in place, so that the
ledger's incremental fingerprint (:mod:`graphforget._checkpoint`) compares only those.

A leaf module (numpy and torch only), imported by the unlearner base, requests and the
checkpoint code alike.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from torch import Tensor

__all__ = ["hint_rows", "hinted_rows", "origin_rows", "row_chunks"]

_HINT_LOG = 32  # hints kept per tensor (a tracker that misses some compares everything)
# id(tensor) -> (weak reference to it, [(version before, version after, sorted unique rows)])
_HINTS: dict[int, tuple[weakref.ref, list[tuple[int, int, np.ndarray]]]] = {}


def _forget_hints(key: int, ref: weakref.ref) -> None:
    entry = _HINTS.get(key)
    if entry is not None and entry[0] is ref:
        del _HINTS[key]


# id(copy) -> (weak reference to the copy, weak reference to its base, base version, copy version)
_ORIGINS: dict[int, tuple[weakref.ref, weakref.ref, int, int]] = {}


def _forget_origin(key: int, ref: weakref.ref) -> None:
    entry = _ORIGINS.get(key)
    if entry is not None and entry[0] is ref:
        del _ORIGINS[key]


@contextmanager
def hint_rows(tensor: Tensor, rows: Tensor | Sequence[int] | np.ndarray,
              base: Tensor | None = None) -> Iterator[Tensor]:
    r"""Declares that the block writes only rows ``rows`` (indices along dimension 0) of
    ``tensor``, so that a ledger's incremental fingerprint compares and re-hashes only the
    chunks holding them (see the module docstring).

    The hint is optional and checked against ``tensor``'s version counter: a write to
    ``tensor`` outside any hinted block makes the tracker compare the whole tensor, as
    without hints. A write inside the block to a row not in ``rows`` breaks the promise
    (the incremental fingerprint would miss it); ``StateTracker(check_hints=True)``
    detects that. Writes through ``tensor.data`` or ``.numpy()`` are never seen.

    Args:
        tensor (torch.Tensor): the tensor written in place (the very object that
            ``get_state`` clones or returns).
        rows (torch.Tensor or sequence of int): the rows written (any order; duplicates
            and negative indices allowed).
        base (torch.Tensor, optional): a tensor that ``tensor`` equals on entering the
            block (``tensor`` a fresh copy of it, e.g. the retained graph's features
            before the rows of forgotten nodes are zeroed). Where the state held ``base``
            before and now holds ``tensor`` at the same place, only the hinted rows are
            compared with ``base`` (which must not have been written since).
            (default: :obj:`None`)

    Example::

        with hint_rows(self.stack_[k], rows_k):
            self.stack_[k][rows_k] = new_vals[k]
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"hint_rows() expects a tensor, got {type(tensor).__name__}")
    before = tensor._version
    if base is not None and isinstance(base, Tensor) and base is not tensor and base.dtype == tensor.dtype \
            and base.shape == tensor.shape:
        key = id(tensor)
        ref = weakref.ref(tensor, lambda r_, k=key: _forget_origin(k, r_))
        _ORIGINS[key] = (ref, weakref.ref(base), base._version, before)
    try:
        yield tensor
    finally:
        after = tensor._version
        if after != before and tensor.dim() > 0:
            n = tensor.size(0)
            r = rows.detach().cpu().numpy() if isinstance(rows, Tensor) else np.asarray(rows)
            r = np.unique(np.asarray(r, dtype=np.int64).reshape(-1) % max(n, 1))
            key = id(tensor)
            entry = _HINTS.get(key)
            if entry is None or entry[0]() is not tensor:
                ref = weakref.ref(tensor, lambda r_, k=key: _forget_hints(k, r_))
                entry = (ref, [])
                _HINTS[key] = entry
            log = entry[1]
            log.append((before, after, r))
            del log[:-_HINT_LOG]


def hinted_rows(t: Tensor, since: int) -> np.ndarray | None:
    """The rows of ``t`` written since version ``since``, when hints cover every write
    (their versions chain from ``since`` to the current one); else ``None``."""
    now = t._version
    if now == since:
        return np.empty(0, dtype=np.int64)
    entry = _HINTS.get(id(t))
    if entry is None or entry[0]() is not t:
        return None
    v, parts = since, []
    for before, after, r in entry[1]:
        if before == v:
            parts.append(r)
            v = after
        elif parts:
            return None  # a write between two hinted blocks
    if v != now or not parts:
        return None
    return parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))


def origin_rows(t: Tensor, base: Tensor) -> np.ndarray | None:
    """The rows in which ``t`` may differ from ``base``, when ``t`` was hinted as a copy of
    ``base`` (unchanged since) with every later write to ``t`` hinted; else ``None``."""
    entry = _ORIGINS.get(id(t))
    if entry is None or entry[0]() is not t or entry[1]() is not base or base._version != entry[2]:
        return None
    return hinted_rows(t, entry[3])


def row_chunks(rows: np.ndarray, row_bytes: int, nbytes: int, chunk: int) -> np.ndarray:
    """Sorted indices of the chunks holding rows ``rows`` (rows of ``row_bytes`` each)."""
    if rows.size == 0 or row_bytes == 0:
        return np.empty(0, dtype=np.int64)
    first = rows * row_bytes // chunk
    last = np.minimum((rows + 1) * row_bytes - 1, nbytes - 1) // chunk
    counts = last - first + 1
    if int(counts.max()) == 1:
        return np.unique(first)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.unique(np.repeat(first, counts) + offsets)
