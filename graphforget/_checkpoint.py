r"""Incremental state fingerprints and content-addressed checkpoints for the ledger.

**Fingerprint.** The ledger fingerprint of a state (``Unlearner.get_state()``) is a
SHA-256 Merkle hash: every tensor is cut into :data:`CHUNK_BYTES` chunks of its
contiguous bytes, each chunk is hashed, and the tensor's digest is the hash of its
*index* (dtype, shape, chunk size and the chunk digests); lists hash to the digest of
their elements, dicts stream their sorted keys and values, other values their
``repr``. It is a pure function of the state: :func:`state_digest` computes it from
scratch, and :class:`StateTracker` computes the same value incrementally:

* ``get_state()`` runs under a torch-function mode that intercepts ``clone()``. A
  source tensor seen before whose version counter has not moved is answered with the
  private copy (*mirror*) made the first time, so an unchanged tensor is neither copied
  nor hashed again; a source changed in place is compared with its mirror chunk by
  chunk and only the chunks that differ are copied and re-hashed;
* a tensor that ``get_state()`` returns without cloning (e.g. the retained graph) is
  kept by reference: the same object with the same version counter is unchanged, and a
  new object at the same place in the state is compared chunk by chunk with the
  previous one (still intact in memory), so only the chunks that differ are hashed;
* a list whose leading elements are unchanged (the request history, a certified
  method's budget ledger) resumes hashing from the saved hash state of that prefix.

The cost per request is therefore a byte comparison of the tensors that changed (memory
speed) plus SHA-256 of the chunks that differ. Change detection relies on PyTorch's
version counter: a write that bypasses it (through ``tensor.data`` or a ``.numpy()``
view) would go unseen, and no method of the library writes state that way.

**Row hints.** A method that rewrites a few rows of a large tensor in place can say so,
so that the comparison covers those rows only instead of the whole tensor::

    with hint_rows(self.Z_, rows):   # only rows ``rows`` of Z_ are written in the block
        self.Z_[rows] = new_rows

:func:`hint_rows` records the tensor's version counter on entering and leaving the block
and the rows. When the tracker next meets that very tensor object (as the source of a
``clone()`` in ``get_state``, or kept by reference), it looks for hints that chain the
version it last saw to the current one; if they do, only the chunks holding the hinted
rows are compared (and re-hashed where they differ), else (an unhinted write, a gap, a
non-contiguous tensor) the whole tensor is compared as without hints. The hint is a
promise about the block: writes inside it to rows it does not list would go unseen by
the incremental fingerprint (``StateTracker(check_hints=True)`` compares everything and
raises on such a write; tests use it), while a from-scratch fingerprint
(:func:`state_digest`, a restore, ``graphforget verify``) never uses hints.

**Checkpoints.** A checkpoint is a small manifest (``checkpoints/ckpt-<seq>.json``)
naming the state's *skeleton* (the state with every tensor replaced by its digest,
serialised with ``torch.save``) and its tensors; the skeleton, the tensor indexes and
the chunks are objects addressed by their SHA-256 and stored in append-only *pack*
files (``objects/pack-*.pack``). An object already stored is never written again, so a
checkpoint costs the chunks that changed since the objects it shares with older ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import marshal
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from graphforget._hints import hint_rows, hinted_rows, origin_rows, row_chunks
from graphforget.errors import GraphForgetError

__all__ = ["CHUNK_BYTES", "PACK_BYTES", "StateTracker", "Snapshot", "ObjectStore", "CheckpointError",
           "state_digest", "hint_rows", "tensor_index", "parse_tensor_index", "build_skeleton",
           "fill_skeleton", "build_unlearner"]

CHUNK_BYTES = 16384
PACK_BYTES = 16 << 20  # a new pack is started once one holds this much
FINGERPRINT_SCHEME = "sha256-merkle-16k"
_MARK = "__graphforget_tensor__"
_PACK_MAGIC = b"GFPACK1\n"
_PACK_END = b"GFPKEND1"
_INDEX_MAGIC = b"GFTENSOR1\n"


class CheckpointError(GraphForgetError):
    """A checkpoint or one of its objects is missing, truncated or corrupted."""


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def datasync(fd: int) -> None:
    """Makes a file's bytes durable: ``fdatasync`` where the platform has it (the data
    and the metadata needed to read them back, its size included, without the
    timestamps ``fsync`` also writes), else ``fsync``."""
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def write_atomic(path: Path, payload: bytes) -> None:
    """Writes ``payload`` to a temporary file, syncs it, renames it over ``path`` and
    fsyncs the directory."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        datasync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


# ---------------------------------------------------------------------------
# tensors as bytes
# ---------------------------------------------------------------------------
def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype_from(name: str) -> torch.dtype:
    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype):
        raise CheckpointError(f"unknown tensor dtype {name!r}")
    return dtype


def tensor_bytes(t: Tensor) -> np.ndarray:
    """The tensor's contiguous bytes as a flat ``uint8`` array (no copy when possible)."""
    if t.layout != torch.strided:
        raise CheckpointError(f"tensors with layout {t.layout} cannot be checkpointed by the ledger")
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.is_conj():
        t = t.resolve_conj()
    if t.is_neg():
        t = t.resolve_neg()
    if not t.is_contiguous():
        t = t.contiguous()
    if t.numel() == 0:
        return np.empty(0, dtype=np.uint8)
    return t.reshape(-1).view(torch.uint8).numpy()


def _chunks(nbytes: int, chunk: int) -> int:
    return (nbytes + chunk - 1) // chunk


def _hash_chunks(buf: np.ndarray, chunk: int, which: Iterable[int] | None = None) -> dict[int, bytes]:
    n = _chunks(buf.size, chunk)
    idx = range(n) if which is None else which
    sha = hashlib.sha256
    return {i: sha(buf[i * chunk:(i + 1) * chunk]).digest() for i in idx}


def diff_chunks(a: np.ndarray, b: np.ndarray, chunk: int) -> list[int]:
    """Indices of the chunks whose bytes differ between two equally long byte arrays."""
    n = a.size
    full = n // chunk
    out: list[int] = []
    if full:
        if chunk % 8 == 0 and a.ctypes.data % 8 == 0 and b.ctypes.data % 8 == 0:
            width, av, bv = chunk // 8, a[:full * chunk].view(np.uint64), b[:full * chunk].view(np.uint64)
        else:
            width, av, bv = chunk, a[:full * chunk], b[:full * chunk]
        av, bv = av.reshape(full, width), bv.reshape(full, width)
        step = 64  # chunks per block: a small temporary, one pass over both arrays
        for s in range(0, full, step):
            hit = (av[s:s + step] != bv[s:s + step]).any(axis=1)
            if hit.any():
                out.extend((np.flatnonzero(hit) + s).tolist())
    if n > full * chunk and not np.array_equal(a[full * chunk:], b[full * chunk:]):
        out.append(full)
    return out


def tensor_index(dtype: str, shape: list[int], nbytes: int, chunk: int, digests: list[bytes]) -> bytes:
    """The index object of a tensor: its header and chunk digests. Its SHA-256 is the
    tensor's digest."""
    header = json.dumps({"dtype": dtype, "shape": shape, "nbytes": nbytes, "chunk": chunk,
                         "chunks": len(digests)}, sort_keys=True, separators=(",", ":")).encode()
    return _INDEX_MAGIC + header + b"\n" + b"".join(digests)


def _index_with_count(head: bytes, count: int) -> bytes:
    """``head`` (an index without digests, built for 0 chunks) with the real count."""
    return head.replace(b'"chunks":0', b'"chunks":%d' % count, 1)


def parse_tensor_index(blob: bytes) -> tuple[dict[str, Any], list[str]]:
    """``(header, chunk digests as hex)`` of a tensor index object."""
    if not blob.startswith(_INDEX_MAGIC):
        raise CheckpointError("not a tensor index object")
    end = blob.index(b"\n", len(_INDEX_MAGIC))
    header = json.loads(blob[len(_INDEX_MAGIC):end])
    raw = blob[end + 1:]
    if len(raw) != 32 * int(header["chunks"]):
        raise CheckpointError("tensor index object has the wrong number of chunk digests")
    return header, [raw[i:i + 32].hex() for i in range(0, len(raw), 32)]


def diff_selected(a: np.ndarray, b: np.ndarray, chunk: int, which: np.ndarray) -> list[int]:
    """The chunks among ``which`` whose bytes differ between ``a`` and ``b``."""
    n = a.size
    full = n // chunk
    out: list[int] = []
    inner = which[which < full]
    if inner.size:
        if chunk % 8 == 0 and a.ctypes.data % 8 == 0 and b.ctypes.data % 8 == 0:
            width, av, bv = chunk // 8, a[:full * chunk].view(np.uint64), b[:full * chunk].view(np.uint64)
        else:
            width, av, bv = chunk, a[:full * chunk], b[:full * chunk]
        av, bv = av.reshape(full, width), bv.reshape(full, width)
        hit = (av[inner] != bv[inner]).any(axis=1)
        out.extend(inner[hit].tolist())
    if n > full * chunk and bool((which == full).any()) and not np.array_equal(a[full * chunk:], b[full * chunk:]):
        out.append(full)
    return out


# ---------------------------------------------------------------------------
# incremental fingerprints
# ---------------------------------------------------------------------------
class _Tracked:
    """A tensor object the tracker holds, with the digests of its bytes."""

    __slots__ = ("obj", "version", "shadow", "digests", "digest", "index", "meta", "owned", "chunk", "head")

    def __init__(self, obj: Tensor, meta: tuple[str, tuple[int, ...]], owned: bool) -> None:
        self.obj = obj
        self.version = obj._version
        self.shadow: Tensor | None = None  # a private copy, for live tensors changed in place
        self.digests: list[bytes] | None = None
        self.digest = ""
        self.index = b""
        self.meta = meta
        self.owned = owned  # a mirror made by the tracker (nobody else writes it)
        self.chunk = CHUNK_BYTES
        self.head: bytes | None = None

    def base(self) -> Tensor | None:
        """A tensor whose bytes are the ones ``digests`` describe, or ``None``."""
        if self.digests is None:
            return None
        if self.shadow is not None:
            return self.shadow
        return self.obj if self.obj._version == self.version else None

    def seal(self, chunk: int) -> None:
        if self.digests is None:  # an internal invariant: tracked tensors are hashed before sealing
            raise CheckpointError("a tensor was sealed before it was hashed")
        if self.head is None or self.chunk != chunk:
            dtype, shape = self.meta
            nbytes = self.obj.numel() * self.obj.element_size()
            self.head = tensor_index(dtype, list(shape), nbytes, chunk, [])[:-1] + b"\n"
        self.chunk = chunk
        self.index = _index_with_count(self.head, len(self.digests)) + b"".join(self.digests)
        self.digest = hashlib.sha256(self.index).hexdigest()


class _Source:
    __slots__ = ("src", "version", "mirror", "round")

    def __init__(self, src: Tensor, mirror: _Tracked, rnd: int) -> None:
        self.src, self.version, self.mirror, self.round = src, src._version, mirror, rnd


def _meta(t: Tensor) -> tuple[str, tuple[int, ...]]:
    return _dtype_name(t.dtype), tuple(t.shape)


def _source_key(t: Tensor) -> tuple[Any, ...]:
    return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype,
            t.device)


class _CloneMode(TorchFunctionMode):
    """Answers ``clone()`` of an unchanged source with its mirror (see the module doc)."""

    def __init__(self, tracker: StateTracker) -> None:
        super().__init__()
        self.tracker = tracker

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if (func is Tensor.clone or func is torch.clone) and len(args) == 1 and isinstance(args[0], Tensor) \
                and kwargs.get("memory_format", torch.preserve_format) == torch.preserve_format \
                and args[0].layout == torch.strided and args[0].device.type == "cpu":
            return self.tracker._clone(args[0])
        return func(*args, **kwargs)


@dataclass
class Snapshot:
    """A state and its fingerprint: ``leaves`` maps each tensor's path to its record."""

    fingerprint: str
    state: dict[str, Any]
    leaves: dict[tuple[Any, ...], _Tracked] = field(repr=False)

    def tensors(self) -> dict[str, str]:
        """Tensor digests by path (``"method/stack/1"``)."""
        return {path_name(p): tr.digest for p, tr in self.leaves.items()}


def path_name(path: tuple[Any, ...]) -> str:
    return "/".join(str(p) for p in path)


class StateTracker:
    """Computes :func:`state_digest` of an unlearner's state incrementally (see the module
    docstring). One tracker follows one unlearner; it holds mirrors of the tensors that
    ``get_state`` clones.

    Args:
        chunk (int): chunk size in bytes. (default: :data:`CHUNK_BYTES`)
        check_hints (bool): also compare the rows a :func:`hint_rows` hint leaves out, and
            raise :class:`CheckpointError` when one of them changed (a broken hint).
            (default: :obj:`False`)
    """

    def __init__(self, chunk: int = CHUNK_BYTES, check_hints: bool = False) -> None:
        self.chunk = int(chunk)
        self.check_hints = bool(check_hints)
        self.hinted = 0  # tensors refreshed from hints (the others were compared in full)
        self._paths: dict[tuple[Any, ...], _Tracked] = {}
        self._objs: dict[int, _Tracked] = {}
        self._sources: dict[tuple[Any, ...], _Source] = {}
        self._lists: dict[tuple[Any, ...], tuple[bytes, int, Any]] = {}
        self._round = 0
        self._seen: dict[int, _Tracked] = {}
        self.bytes_hashed = 0
        self.bytes_compared = 0

    # -- entry points ---------------------------------------------------------------------
    def snapshot(self, unlearner: Any) -> Snapshot:
        """The fingerprint of ``unlearner.get_state()``."""
        self._round += 1
        self._seen = {}
        with _CloneMode(self):
            state = unlearner.get_state()
        return self._digest(state)

    def digest_state(self, state: Any) -> Snapshot:
        self._round += 1
        self._seen = {}
        return self._digest(state)

    def seed(self, leaves: dict[tuple[Any, ...], tuple[Tensor, list[bytes]]]) -> None:
        """Primes the tracker with tensors whose digests are known (a loaded checkpoint)."""
        for path, (t, digests) in leaves.items():
            tr = _Tracked(t, _meta(t), owned=False)
            tr.digests = list(digests)
            tr.seal(self.chunk)
            self._paths[path] = tr
            self._objs[id(t)] = tr

    def unchanged(self, snap: Snapshot) -> bool:
        """Whether every tensor behind ``snap`` (this tracker's last snapshot) still holds
        the bytes it was hashed with: the tensors ``get_state`` cloned and those it
        returned directly keep their version counters (an in-place write moves them)."""
        for src in self._sources.values():
            if src.src._version != src.version or src.mirror.obj._version != src.mirror.version:
                return False
        return all(tr.obj._version == tr.version for tr in snap.leaves.values())

    # -- internals ------------------------------------------------------------------------
    def _digest(self, state: Any) -> Snapshot:
        new_paths: dict[tuple[Any, ...], _Tracked] = {}
        lists: dict[tuple[Any, ...], tuple[bytes, int, Any]] = {}
        h = hashlib.sha256(FINGERPRINT_SCHEME.encode())
        self._enc(state, (), h, new_paths, lists)
        self._paths = new_paths
        self._lists = lists
        keep = dict(self._seen)
        for src in self._sources.values():
            if src.round == self._round:
                keep[id(src.mirror.obj)] = src.mirror
        self._objs = keep
        self._sources = {k: s for k, s in self._sources.items() if s.round == self._round}
        return Snapshot(h.hexdigest(), state, new_paths)

    def _clone(self, src: Tensor) -> Tensor:
        key = _source_key(src)
        rec = self._sources.get(key)
        meta = _meta(src)
        if rec is not None and rec.mirror.obj._version == rec.mirror.version and rec.mirror.meta == meta:
            # Free only for the very object seen before with an unmoved version counter;
            # another object over the same memory (``p.data``, a fresh ``detach()``) may
            # have its own counter, so its bytes are compared with the mirror.
            if rec.src is not src:
                self._refresh(rec.mirror, src)
                rec.src, rec.version = src, src._version
            elif src._version != rec.version:
                self._refresh(rec.mirror, src, since=rec.version)
                rec.version = src._version
            rec.round = self._round
            return rec.mirror.obj
        mirror = src.detach().clone(memory_format=torch.contiguous_format)
        tr = _Tracked(mirror, _meta(mirror), owned=True)
        self._sources[key] = _Source(src, tr, self._round)
        self._objs[id(mirror)] = tr
        return mirror

    def _refresh(self, tr: _Tracked, src: Tensor, since: int | None = None) -> None:
        """Copies into ``tr``'s private tensor (mirror or shadow) the chunks of ``src``
        that differ, re-hashing only those. With ``since`` (the version of ``src`` the
        private tensor matches) and hints covering every write since, only the chunks of
        the hinted rows are compared."""
        own = tr.shadow if tr.shadow is not None else tr.obj
        c = self.chunk
        rows = hinted_rows(src, since) if since is not None and src.is_contiguous() \
            and src.device.type == "cpu" and src.dim() > 0 else None
        sb, ob = tensor_bytes(src), tensor_bytes(own)
        if rows is not None:
            which = row_chunks(rows, sb.size // max(1, src.size(0)), sb.size, c)
            self.bytes_compared += int(which.size) * c
            self.hinted += 1
            changed = diff_selected(sb, ob, c, which)
            if self.check_hints:
                missed = sorted(set(diff_chunks(sb, ob, c)) - set(changed))
                if missed:
                    raise CheckpointError(f"a hint_rows() hint missed a write: chunk {missed[0]} of a "
                                          f"tensor of shape {tuple(src.shape)} changed outside the hinted rows")
        else:
            self.bytes_compared += sb.size
            changed = diff_chunks(sb, ob, c)
        for i in changed:
            ob[i * c:(i + 1) * c] = sb[i * c:(i + 1) * c]
        if tr.digests is not None and changed:
            for i, d in _hash_chunks(ob, c, changed).items():
                tr.digests[i] = d
            self.bytes_hashed += sum(min(c, ob.size - i * c) for i in changed)
            tr.seal(c)

    def _leaf(self, t: Tensor, path: tuple[Any, ...]) -> _Tracked:
        meta = _meta(t)
        c = self.chunk
        tr = self._objs.get(id(t))
        if tr is not None and (tr.obj is not t or tr.meta != meta):
            tr = None
        if tr is not None and tr.digests is not None:
            if t._version == tr.version:
                return tr
            # the same object, changed in place
            if tr.shadow is not None:
                self._refresh(tr, t, since=tr.version)
                tr.version = t._version
                return tr
            tr.version = t._version
            self._full(tr)
            if tr.owned:  # a mirror changed by get_state itself: stop answering clones with it
                self._sources = {k: s for k, s in self._sources.items() if s.mirror is not tr}
                tr.owned = False
            # keep a private copy, to compare with next time
            tr.shadow = t.detach().clone(memory_format=torch.contiguous_format)
            return tr
        if tr is None:
            tr = _Tracked(t, meta, owned=False)
        prev = self._paths.get(path)
        base = prev.base() if prev is not None and prev.meta == meta and prev.obj is not t else None
        tr.version = t._version
        if base is not None and prev is not None and prev.digests is not None:
            buf = tensor_bytes(t)
            rows = origin_rows(t, prev.obj) if base is prev.obj and t.is_contiguous() and t.dim() > 0 else None
            if rows is not None:  # a hinted copy of the previous tensor: compare the hinted rows only
                which = row_chunks(rows, buf.size // max(1, t.size(0)), buf.size, c)
                self.bytes_compared += int(which.size) * c
                self.hinted += 1
                changed = diff_selected(buf, tensor_bytes(base), c, which)
                if self.check_hints:
                    missed = sorted(set(diff_chunks(buf, tensor_bytes(base), c)) - set(changed))
                    if missed:
                        raise CheckpointError(f"a hint_rows() hint missed a write: chunk {missed[0]} of a "
                                              f"tensor of shape {tuple(t.shape)} differs from its base "
                                              "outside the hinted rows")
            else:
                self.bytes_compared += buf.size
                changed = diff_chunks(buf, tensor_bytes(base), c)
            digests = list(prev.digests)
            for i, d in _hash_chunks(buf, c, changed).items():
                digests[i] = d
            self.bytes_hashed += sum(min(c, buf.size - i * c) for i in changed)
            tr.digests = digests
            tr.seal(c)
        else:
            self._full(tr)
        return tr

    def _full(self, tr: _Tracked) -> None:
        buf = tensor_bytes(tr.obj)
        hashed = _hash_chunks(buf, self.chunk)
        tr.digests = [hashed[i] for i in range(len(hashed))]
        self.bytes_hashed += buf.size
        tr.seal(self.chunk)

    def _enc(self, value: Any, path: tuple[Any, ...], h: Any, leaves: dict[tuple[Any, ...], _Tracked],
             lists: dict[tuple[Any, ...], tuple[bytes, int, Any]]) -> None:
        if isinstance(value, Tensor):
            tr = self._leaf(value, path)
            self._seen[id(tr.obj)] = tr
            leaves[path] = tr
            h.update(b"T" + tr.digest.encode())
        elif isinstance(value, dict):
            h.update(b"{%d:" % len(value))
            for k in sorted(value, key=str):
                key = str(k).encode()
                h.update(b"K%d:" % len(key) + key)
                self._enc(value[k], path + (k,), h, leaves, lists)
            h.update(b"}")
        elif isinstance(value, (list, tuple)):
            h.update(b"L" + self._list_digest(value, path, leaves, lists))
        elif isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value)
            head = f"A{arr.dtype.str}{arr.shape}".encode()
            h.update(head + hashlib.sha256(arr.view(np.uint8).reshape(-1) if arr.size else b"").digest())
        else:
            text = repr(value).encode()
            h.update(b"S%d:" % len(text) + text)

    def _list_digest(self, value: list[Any] | tuple[Any, ...], path: tuple[Any, ...],
                     leaves: dict[tuple[Any, ...], _Tracked],
                     lists: dict[tuple[Any, ...], tuple[bytes, int, Any]]) -> bytes:
        """SHA-256 of a list's elements; for a list without tensors, the hash state of
        an unchanged leading part (detected on its ``marshal`` bytes) is reused."""
        body: bytes | None = None
        if value and not isinstance(value[0], Tensor):
            try:
                body = marshal.dumps(list(value), 2)[5:]  # header: type + element count
            except ValueError:  # holds tensors or other unmarshallable objects
                body = None
        start, sub = 0, hashlib.sha256(b"[")
        if body is not None:
            cached = self._lists.get(path)
            if cached is not None and cached[1] <= len(value) and body.startswith(cached[0]):
                start, sub = cached[1], cached[2].copy()
        for i in range(start, len(value)):
            self._enc(value[i], path + (i,), sub, leaves, lists)
        if body is not None:
            lists[path] = (body, len(value), sub.copy())
        sub.update(b"]%d" % len(value))
        return sub.digest()


def state_digest(state: Any, chunk: int = CHUNK_BYTES) -> str:
    """The ledger fingerprint of a state dict, computed from scratch."""
    return StateTracker(chunk).digest_state(state).fingerprint


# ---------------------------------------------------------------------------
# object store: packs of content-addressed objects
# ---------------------------------------------------------------------------
@dataclass
class _Pack:
    name: str
    size: int
    objects: dict[str, tuple[int, int]]  # digest -> (offset, length)


class ObjectStore:
    """Content-addressed objects in append-only pack files under ``objects/``.

    A pack is ``GFPACK1\\n``, the objects back to back, a JSON index
    ``{"objects": [[digest, offset, length], ...]}``, its length (8 bytes, little
    endian) and ``GFPKEND1``. It is written under a temporary name, fsynced, then
    renamed, so a pack under its final name is complete.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.packs: dict[str, _Pack] = {}
        self.bad: dict[str, str] = {}  # pack name -> why it cannot be read
        self.where: dict[str, str] = {}  # digest -> pack name
        self._loaded = False

    def load(self) -> ObjectStore:
        self.packs, self.bad, self.where = {}, {}, {}
        if self.directory.is_dir():
            for p in sorted(self.directory.glob("pack-*.pack")):
                try:
                    self.packs[p.name] = self._read_index(p)
                except CheckpointError as exc:
                    self.bad[p.name] = str(exc)
        for pack in self.packs.values():
            for d in pack.objects:
                self.where.setdefault(d, pack.name)
        self._loaded = True
        return self

    def _read_index(self, path: Path) -> _Pack:
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                if f.read(len(_PACK_MAGIC)) != _PACK_MAGIC or size < len(_PACK_MAGIC) + 16:
                    raise CheckpointError(f"objects/{path.name} is truncated or not a pack")
                f.seek(size - 16)
                tail = f.read(16)
                if tail[8:] != _PACK_END:
                    raise CheckpointError(f"objects/{path.name} is truncated (no index at its end)")
                (length,) = struct.unpack("<Q", tail[:8])
                if length > size - 16 - len(_PACK_MAGIC):
                    raise CheckpointError(f"objects/{path.name} has a corrupted index")
                f.seek(size - 16 - length)
                index = json.loads(f.read(length))
            objects = {str(d): (int(o), int(n)) for d, o, n in index["objects"]}
        except OSError as exc:
            raise CheckpointError(f"objects/{path.name} cannot be read: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"objects/{path.name} has a corrupted index: {exc}") from None
        limit = size - 16 - length
        for d, (o, n) in objects.items():
            if o < len(_PACK_MAGIC) or o + n > limit:
                raise CheckpointError(f"objects/{path.name} has a corrupted index (object {d[:12]} out of bounds)")
        return _Pack(path.name, size, objects)

    def __contains__(self, digest: str) -> bool:
        return digest in self.where

    def write(self, objects: Iterable[tuple[str, Any]], name: str,
              rewrite: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Writes the objects not yet stored (and those in ``rewrite``, copies of live
        objects of packs being compacted) into new packs of at most about
        :data:`PACK_BYTES` each (so that garbage collection frees space in small
        steps; the copies in ``rewrite`` start a pack of their own, so that long-lived
        objects are not mixed with new ones that later requests may soon replace);
        returns their names. Every pack is fsynced and renamed, then the
        directory is fsynced once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        written: list[tuple[Path, Path, list[list[Any]]]] = []
        seen: set[str] = set()
        f, offset, cold_pack = None, 0, False
        try:
            for digest, payload in objects:
                if digest in seen or (digest in self.where and digest not in rewrite):
                    continue
                seen.add(digest)
                cold = digest in rewrite
                if f is None or offset >= PACK_BYTES or (cold and not cold_pack):
                    cold_pack = cold
                    if f is not None:
                        self._seal_pack(f, written[-1][2])
                    final = self.directory / f"pack-{name}-{os.urandom(4).hex()}.pack"
                    tmp = self.directory / f".tmp-{final.name}"
                    written.append((tmp, final, []))
                    f = open(tmp, "wb")  # noqa: SIM115 - closed by _seal_pack or below
                    f.write(_PACK_MAGIC)
                    offset = len(_PACK_MAGIC)
                n = len(memoryview(payload).cast("B"))
                f.write(payload)
                written[-1][2].append([digest, offset, n])
                offset += n
            if f is not None:
                self._seal_pack(f, written[-1][2])
                f = None
        finally:
            if f is not None:
                f.close()
        for tmp, final, _ in written:
            os.rename(tmp, final)
        if written:
            fsync_dir(self.directory)
        names = []
        for _, final, index in written:
            pack = _Pack(final.name, final.stat().st_size, {d: (o, n) for d, o, n in index})
            self.packs[final.name] = pack
            for d in pack.objects:
                self.where[d] = final.name
            names.append(final.name)
        return names

    @staticmethod
    def _seal_pack(f: Any, index: list[list[Any]]) -> None:
        raw = json.dumps({"objects": index}, separators=(",", ":")).encode()
        f.write(raw + struct.pack("<Q", len(raw)) + _PACK_END)
        f.flush()
        datasync(f.fileno())
        f.close()

    def read(self, digest: str) -> bytes:
        """An object's bytes, checked against its digest."""
        name = self.where.get(digest)
        if name is None:
            raise CheckpointError(self._missing(digest))
        offset, n = self.packs[name].objects[digest]
        try:
            with open(self.directory / name, "rb") as f:
                f.seek(offset)
                raw = f.read(n)
        except OSError as exc:
            raise CheckpointError(f"objects/{name} cannot be read: {exc}") from None
        if len(raw) != n:
            raise CheckpointError(f"objects/{name} is truncated (object {digest[:16]})")
        if hashlib.sha256(raw).hexdigest() != digest:
            raise CheckpointError(f"objects/{name} is corrupted (object {digest[:16]} at offset {offset} "
                                  "does not match its SHA-256)")
        return raw

    def read_into(self, digests: list[str], out: np.ndarray, chunk: int) -> None:
        """Reads the chunks ``digests`` into ``out`` (checked), grouped by pack."""
        by_pack: dict[str, list[tuple[int, int, int, str]]] = {}
        for i, d in enumerate(digests):
            name = self.where.get(d)
            if name is None:
                raise CheckpointError(f"chunk {i}: {self._missing(d)}")
            offset, n = self.packs[name].objects[d]
            by_pack.setdefault(name, []).append((offset, n, i, d))
        for name, items in by_pack.items():
            items.sort()
            try:
                with open(self.directory / name, "rb") as f:
                    for offset, n, i, d in items:
                        f.seek(offset)
                        view = out[i * chunk:i * chunk + n]
                        if view.size != n or f.readinto(memoryview(view)) != n:
                            raise CheckpointError(f"objects/{name} is truncated (chunk {i})")
                        if hashlib.sha256(view).hexdigest() != d:
                            raise CheckpointError(f"objects/{name} is corrupted (chunk {i}, object {d[:16]} at "
                                                  f"offset {offset} does not match its SHA-256)")
            except OSError as exc:
                raise CheckpointError(f"objects/{name} cannot be read: {exc}") from None

    def _missing(self, digest: str) -> str:
        why = f"object {digest[:16]} is in no pack under objects/ (deleted?)"
        if self.bad:
            why += "; unreadable: " + "; ".join(self.bad.values())
        return why

    def check(self, digests: Iterable[str], skip: dict[str, str | None] | None = None) -> dict[str, str | None]:
        """``{digest: None or the problem}``: each object read once (one pass per pack)
        and checked against its SHA-256."""
        out: dict[str, str | None] = {}
        by_pack: dict[str, list[tuple[int, int, str]]] = {}
        for d in digests:
            if (skip is not None and d in skip) or d in out:
                continue
            name = self.where.get(d)
            if name is None:
                out[d] = self._missing(d)
                continue
            offset, n = self.packs[name].objects[d]
            by_pack.setdefault(name, []).append((offset, n, d))
            out[d] = None
        for name, items in by_pack.items():
            items.sort()
            try:
                with open(self.directory / name, "rb") as f:
                    for offset, n, d in items:
                        f.seek(offset)
                        raw = f.read(n)
                        if len(raw) != n:
                            out[d] = f"objects/{name} is truncated (object {d[:16]} at offset {offset})"
                        elif hashlib.sha256(raw).hexdigest() != d:
                            out[d] = (f"objects/{name} is corrupted (object {d[:16]} at offset {offset} "
                                      "does not match its SHA-256)")
            except OSError as exc:
                for _, _, d in items:
                    out[d] = f"objects/{name} cannot be read: {exc}"
        return out

    def size(self) -> int:
        return sum(p.size for p in self.packs.values())

    def live_bytes(self, live: set[str]) -> dict[str, int]:
        """Bytes of live objects per pack."""
        out: dict[str, int] = {}
        where = self.where
        for name, pack in self.packs.items():
            objects = pack.objects
            out[name] = sum(objects[d][1] for d in live.intersection(objects) if where.get(d) == name)
        return out

    def read_many(self, digests: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """``(digest, bytes)`` of objects (each checked against its SHA-256), read pack by
        pack in file order (one open per pack)."""
        by_pack: dict[str, list[tuple[int, int, str]]] = {}
        for d in digests:
            name = self.where.get(d)
            if name is None:
                raise CheckpointError(self._missing(d))
            offset, n = self.packs[name].objects[d]
            by_pack.setdefault(name, []).append((offset, n, d))
        for name, items in by_pack.items():
            items.sort()
            try:
                with open(self.directory / name, "rb") as f:
                    for offset, n, d in items:
                        f.seek(offset)
                        raw = f.read(n)
                        if len(raw) != n:
                            raise CheckpointError(f"objects/{name} is truncated (object {d[:16]})")
                        if hashlib.sha256(raw).hexdigest() != d:
                            raise CheckpointError(f"objects/{name} is corrupted (object {d[:16]} at offset "
                                                  f"{offset} does not match its SHA-256)")
                        yield d, raw
            except OSError as exc:
                raise CheckpointError(f"objects/{name} cannot be read: {exc}") from None

    def drop(self, names: Iterable[str]) -> None:
        """Deletes packs (their objects must be stored elsewhere or dead)."""
        removed = False
        for name in names:
            pack = self.packs.pop(name, None)
            if pack is None:
                continue
            (self.directory / name).unlink(missing_ok=True)
            removed = True
            for d in pack.objects:
                if self.where.get(d) == name:
                    del self.where[d]
                    for other in self.packs.values():
                        if d in other.objects:
                            self.where[d] = other.name
                            break
        if removed:
            fsync_dir(self.directory)

    def temporaries(self) -> list[Path]:
        return sorted(self.directory.glob(".tmp-*")) if self.directory.is_dir() else []


# ---------------------------------------------------------------------------
# skeletons and unlearners
# ---------------------------------------------------------------------------
def build_skeleton(state: Any, leaves: dict[tuple[Any, ...], _Tracked]) -> bytes:
    """``torch.save`` bytes of the state with each tensor replaced by its digest."""

    def strip(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, Tensor):
            return {_MARK: leaves[path].digest, "requires_grad": bool(value.requires_grad)}
        if isinstance(value, dict):
            return {k: strip(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return tuple(strip(v, path + (i,)) for i, v in enumerate(value))
        return value

    buf = io.BytesIO()
    torch.save(strip(state, ()), buf)
    return buf.getvalue()


def skeleton_tensors(skeleton: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """``(path, digest)`` of every tensor marker of a loaded skeleton."""
    if isinstance(skeleton, dict):
        if _MARK in skeleton:
            yield path, str(skeleton[_MARK])
            return
        for k, v in skeleton.items():
            yield from skeleton_tensors(v, path + (k,))
    elif isinstance(skeleton, (list, tuple)):
        for i, v in enumerate(skeleton):
            yield from skeleton_tensors(v, path + (i,))


def fill_skeleton(skeleton: Any, tensors: dict[tuple[Any, ...], Tensor], path: tuple[Any, ...] = ()) -> Any:
    """The state: each marker replaced by its tensor."""
    if isinstance(skeleton, dict):
        if _MARK in skeleton:
            t = tensors[path]
            if skeleton.get("requires_grad") and t.is_floating_point():
                t.requires_grad_(True)
            return t
        return {k: fill_skeleton(v, tensors, path + (k,)) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [fill_skeleton(v, tensors, path + (i,)) for i, v in enumerate(skeleton)]
    if isinstance(skeleton, tuple):
        return tuple(fill_skeleton(v, tensors, path + (i,)) for i, v in enumerate(skeleton))
    return skeleton


def load_skeleton(blob: bytes) -> Any:
    try:
        return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means corruption
        raise CheckpointError(f"corrupted or unsafe state skeleton: {exc}") from None


def load_tensor(store: ObjectStore, index_digest: str) -> tuple[Tensor, list[bytes]]:
    """A tensor from its index object; every chunk is checked."""
    header, chunks = parse_tensor_index(store.read(index_digest))
    dtype = _dtype_from(header["dtype"])
    shape = [int(s) for s in header["shape"]]
    chunk = int(header["chunk"])
    t = torch.empty(shape, dtype=dtype)
    nbytes = t.numel() * t.element_size()
    if nbytes != int(header["nbytes"]) or len(chunks) != _chunks(nbytes, chunk):
        raise CheckpointError("tensor index does not match its shape")
    if nbytes:
        store.read_into(chunks, t.reshape(-1).view(torch.uint8).numpy(), chunk)
    return t, [bytes.fromhex(c) for c in chunks]


def build_unlearner(config: dict[str, Any], state: dict[str, Any]) -> Any:
    """An unlearner from its parameters and complete state (as :meth:`Unlearner.load`)."""
    from graphforget._registry import resolve_method
    from graphforget.requests import request_from_dict
    from graphforget.unlearner import data_from_state, state_fingerprint

    try:
        method, params = config["method"], config["params"]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"corrupted unlearner description: {exc}") from None
    if "params_fingerprint" in config and (
            not isinstance(params, dict) or state_fingerprint(params) != config["params_fingerprint"]):
        raise CheckpointError("parameters do not match their fingerprint")
    klass = resolve_method(method)
    from graphforget.unlearner import _user_params_from_markers

    try:  # an unlearner around the user's own model: the ledger holds its weights, not its code
        params = _user_params_from_markers(params, {}, "the ledger")
    except GraphForgetError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        obj = klass(**params)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"corrupted parameters: {exc}") from None
    try:
        obj.data_ = data_from_state(state["data"])
        obj.history_ = [request_from_dict(r) for r in state["history"]]
        obj._set_state(state["method"])
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"corrupted state: {exc}") from None
    return obj
