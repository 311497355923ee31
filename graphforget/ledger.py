r"""A crash-safe deletion ledger: an append-only, hash-chained journal of forget requests.

Layout of a ledger directory (format 2)::

    DIR/
      journal.jsonl              one JSON record per line, append-only, each line fsynced
      CURRENT                    {"checkpoint": "ckpt-00000012", "seq": 12}, replaced atomically
      checkpoints/
        ckpt-00000000.json       manifest: the journal record it follows, fingerprint,
        ckpt-00000012.json       unlearner class and parameters, state skeleton and tensors
      objects/
        pack-00000000-….pack     content-addressed objects (chunks, tensor indexes, skeletons)
        pack-00000012-….pack     only the objects no earlier pack holds
      torn/                      bytes of torn journal lines, set aside by a repair (if any)
      lock                       advisory lock: one writer at a time

Protocol for one request (:meth:`Ledger.apply`):

1. the state's fingerprint is checked against the journal's last state (incrementally:
   see :mod:`graphforget._checkpoint`), then the request is served **in memory**
   (``unlearner.unlearn``); a request the unlearner rejects (invalid ids, unsupported
   kind, ...) leaves the state untouched and is journaled with ``outcome: "rejected"``;
2. when a checkpoint is due, the oldest kept checkpoint is deleted if ``keep`` are
   kept (never the newest, so one always remains), with the packs only it used; packs
   planned for compaction have their live objects copied into new packs (made durable
   as below) and are deleted; then the objects of the new state that no pack holds yet
   are written to new packs (temporary name, fsync, rename, directory fsync); nothing
   refers to them yet;
3. the record (content hash, kind, ids, timestamp, method, outcome, fingerprints
   before/after, timings, certified bound/budget when the report carries them) is
   appended to the journal and **fsynced before any pointer to a new state is
   written**; from this point the request is acknowledged;
4. when a checkpoint is due, its manifest (which embeds the record) is written
   atomically, then ``CURRENT`` is replaced atomically (temporary file, fsync,
   ``os.replace``, directory fsync); then manifests beyond the retention (``keep``) are
   deleted and packs holding no object of a kept manifest are deleted (when the packs
   hold 30% more than the live bytes, the emptiest packs are planned for compaction at
   the next checkpoint, step 2).

Checkpoints are due every ``checkpoint_every`` applied requests, or, with ``"auto"``
(the default), when the unlearning time since the last checkpoint reaches 20 times
the measured cost of a checkpoint (so checkpoints cost at most about 5% of the
unlearning time, and a crash re-applies at most that much work), or when the bytes the
state changed by since the last checkpoint reach 8% of its size (so that two kept
checkpoints share most of their objects and the folder stays near one state's size).
Packs hold at most about 16 MB each, so that garbage collection frees space in small
steps; compaction copies at most 10% of the live bytes (or one pack) per checkpoint.

A crash can therefore leave (a) a torn last journal line, never acknowledged, which a
repair sets aside under ``torn/`` (never deleted); (b) applied records newer than the
newest checkpoint, which :meth:`Ledger.restore` re-applies in order (checking that each
gives the journaled ``fingerprint_after``); (c) a pack or manifest that nothing refers
to yet, or temporary files, which are removed or reused. No request is ever
half-applied: a manifest is a complete state after a known, acknowledged journal record,
and re-applying a journaled request starts from exactly the state its
``fingerprint_before`` names. A journal whose acknowledged last record was lost (cut
after the fact) is completed from the manifest that embeds it; nothing acknowledged is
ever deleted, and ``restore(persist=False)`` writes nothing at all.

Each record carries ``prev`` (the previous record's ``hash``) and its own ``hash``
(SHA-256 of its canonical JSON without ``hash``), so :meth:`Ledger.verify` detects an
edited, deleted, inserted or reordered record; every object of every kept checkpoint is
checked against its SHA-256.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphforget._checkpoint import (
    FINGERPRINT_SCHEME,
    PACK_BYTES,
    CheckpointError,
    ObjectStore,
    Snapshot,
    StateTracker,
    build_skeleton,
    build_unlearner,
    datasync,
    fill_skeleton,
    fsync_dir,
    load_skeleton,
    load_tensor,
    parse_tensor_index,
    path_name,
    skeleton_tensors,
    tensor_bytes,
    write_atomic,
)
from graphforget.errors import GraphForgetError
from graphforget.requests import ForgetRequest, request_from_dict
from graphforget.unlearner import (
    Unlearner,
    UnlearnReport,
    _jsonable,
    _user_params_to_markers,
    state_fingerprint,
)

__all__ = ["Ledger", "LedgerError", "EmptyLedgerError", "LedgeredUnlearner", "OpenLedger",
           "VerifyResult", "open_ledger", "ledger_fingerprint", "GENESIS"]

GENESIS = "0" * 64
JOURNAL = "journal.jsonl"
CURRENT = "CURRENT"
CHECKPOINTS = "checkpoints"
OBJECTS = "objects"
TORN = "torn"
LOCK = "lock"
LEDGER_FORMAT = 2
AUTO_RATIO = 20.0  # "auto": checkpoint once unlearning time reaches 20x a checkpoint's cost, ...
AUTO_CHANGED = 0.08  # ... or once the bytes changed since the last one reach 8% of the state
_WASTE = 1.3  # compact packs once they hold 30% more bytes than the live objects ...
_WASTE_SLACK = 1 << 20  # ... and more than 1 MB of dead bytes
# Keys of UnlearnReport.diagnostics that certified methods use for their guarantee.
_CERT_KEYS = ("epsilon", "delta", "bound", "budget", "gradient_residual", "noise")


class LedgerError(GraphForgetError):
    """The ledger directory is missing, inconsistent or was tampered with."""


class EmptyLedgerError(LedgerError):
    """The directory is a ledger that never committed a state (e.g. a stream killed
    while loading): nothing was applied."""


@dataclass
class VerifyResult:
    """What :meth:`Ledger.verify` found.

    Attributes:
        ok: ``True`` when nothing is wrong (repairs may still be pending).
        records: records read (including one a repair would restore).
        applied / rejected: request records by outcome.
        errors: one line per problem (record, checkpoint, tensor or file, and what is wrong).
        torn_tail: the journal's last line is incomplete.
        empty: the directory never committed a state (only a lock, temporary files).
        repairs: what :meth:`Ledger.restore` (persisting) would repair, one line each.
        checkpoints: manifests found.
        disk_bytes: bytes under the directory.
        fingerprint: the state fingerprint after the last applied request.
    """

    ok: bool
    records: int
    applied: int
    rejected: int
    errors: list[str] = field(default_factory=list)
    torn_tail: bool = False
    empty: bool = False
    repairs: list[str] = field(default_factory=list)
    checkpoints: int = 0
    disk_bytes: int = 0
    fingerprint: str | None = None

    @property
    def outcome(self) -> str:
        """``"damaged"``, ``"empty"``, ``"needs-repair"`` or ``"ok"``."""
        if self.errors:
            return "damaged"
        if self.empty:
            return "empty"
        return "needs-repair" if self.repairs else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "ok": self.ok, "records": self.records, "applied": self.applied,
                "rejected": self.rejected, "checkpoints": self.checkpoints, "torn_tail": self.torn_tail,
                "fingerprint": self.fingerprint, "disk_bytes": self.disk_bytes, "repairs": list(self.repairs),
                "errors": list(self.errors)}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON, without its ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _certificate(report: UnlearnReport) -> dict[str, Any]:
    diag = report.diagnostics or {}
    out = {k: v for k, v in diag.items()
           if any(key in str(k).lower() for key in _CERT_KEYS)}
    return _jsonable(out)


def _guard(unlearner: Unlearner) -> tuple[Any, ...]:
    """What must be unchanged for a snapshot of ``unlearner`` to still hold, besides its
    tensors' version counters: the object, each attribute's binding, the history's
    length (``unlearn``, ``fit``, ``set_state`` and ``load`` all change one of them)."""
    return (id(unlearner), tuple((k, id(v)) for k, v in vars(unlearner).items()),
            len(getattr(unlearner, "history_", ())))


def _ckpt_name(seq: int) -> str:
    return f"ckpt-{seq:08d}"


def ledger_fingerprint(unlearner: Unlearner) -> str:
    """The ledger's fingerprint of an unlearner's complete state, computed from scratch
    (the journal's ``fingerprint_before``/``fingerprint_after``)."""
    return StateTracker().snapshot(unlearner).fingerprint


@dataclass
class _Manifest:
    name: str
    seq: int
    body: dict[str, Any] | None
    error: str | None = None


@dataclass
class _View:
    """The journal and checkpoints as found, and what a repair would change."""

    records: list[dict[str, Any]]  # complete records, plus one restored from a manifest
    chain_errors: list[str]
    errors: list[str]  # other problems (not repairable)
    repairs: list[str]
    torn: bool
    intact: int
    size: int
    recovered: dict[str, Any] | None
    manifests: list[_Manifest]
    pointer: str | None
    temporaries: list[Path]
    empty: bool
    applied: int
    rejected: int


class Ledger:
    """The journal and checkpoints in one directory.

    Args:
        directory: the ledger directory (created by :meth:`init`).
        checkpoint_every: write a checkpoint after this many applied requests, or
            ``"auto"``: once the unlearning time since the last one reaches 20 times the
            measured cost of a checkpoint. The requests in between are recovered by
            re-applying them from the journal. (default: :obj:`"auto"`)
        keep: checkpoints kept (the newest ones); older ones are deleted and objects
            no kept checkpoint refers to are garbage-collected. It is recorded in
            ``CURRENT``; ``None`` uses the recorded value (2 for a new ledger), so a replay
            keeps what the stream kept. (default: :obj:`None`)
        check_before: how :meth:`apply` checks that the unlearner is at the journal's
            last state before serving a request. ``"incremental"`` reuses the fingerprint
            computed after the previous request when the unlearner is the same object,
            none of its attributes was rebound, its history has the same length and no
            tensor of its state was written in place (version counters); ``"full"``
            recomputes the fingerprint every time, which also catches a nested object
            swapped by hand between two requests (replay and :meth:`verify` catch it
            later either way, as a fingerprint mismatch). (default: :obj:`"incremental"`)
    """

    def __init__(self, directory: str | os.PathLike, checkpoint_every: int | str = "auto",
                 keep: int | None = None, check_before: str = "incremental") -> None:
        if check_before not in ("incremental", "full"):
            raise GraphForgetError(f"check_before must be 'incremental' or 'full', got {check_before!r}")
        if checkpoint_every != "auto" and (isinstance(checkpoint_every, bool)
                                           or not isinstance(checkpoint_every, int) or checkpoint_every < 1):
            raise GraphForgetError(f"checkpoint_every must be a positive integer or 'auto', got {checkpoint_every!r}")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise GraphForgetError(f"keep must be a positive integer, got {keep!r}")
        self.directory = Path(directory)
        self.checkpoint_every = checkpoint_every
        self._keep = keep
        self._lock_fd: int | None = None
        self._lock_shared = False
        self._tail_cache: tuple[tuple[int, int], dict[str, Any]] | None = None
        self._tracker: StateTracker | None = None
        self._tracked: Unlearner | None = None
        self._store: ObjectStore | None = None
        self._manifest_objects: dict[str, set[str]] = {}
        self._compact: set[str] = set()
        self._since_checkpoint = 0.0  # unlearning seconds since the last checkpoint
        self._changed_bytes = 0  # bytes re-hashed since the last checkpoint (over-counts repeats)
        self._state_bytes = 0
        self._checkpoint_cost: float | None = None  # running estimate of one checkpoint's cost
        self._last_snap: tuple[tuple[Any, ...], Snapshot] | None = None
        self.check_before = check_before
        self.last: dict[str, float] = {}  # timings of the last apply()

    # -- paths -------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL

    @property
    def exists(self) -> bool:
        """Whether the directory holds an initialised ledger."""
        return (self.directory / CURRENT).is_file()

    @property
    def keep(self) -> int:
        """Checkpoints kept: the value given, else the one recorded in ``CURRENT``, else 2."""
        if self._keep is not None:
            return self._keep
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            stored = json.loads((self.directory / CURRENT).read_text())["keep"]
            if isinstance(stored, int) and not isinstance(stored, bool) and stored >= 1:
                return stored
        return 2

    def disk_usage(self) -> int:
        """Bytes of all files under the directory."""
        total = 0
        if self.directory.is_dir():
            for p in self.directory.rglob("*"):
                with contextlib.suppress(OSError):
                    if p.is_file():
                        total += p.stat().st_size
        return total

    def _objects(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.directory / OBJECTS).load()
        return self._store

    # -- locking -------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """Holds the directory's advisory lock: exclusive for writers (a second writer
        fails at once), shared for readers (which then fail at once while a writer
        holds it). A reader never creates the lock file."""
        import fcntl

        if self._lock_fd is not None:
            if not shared and self._lock_shared:
                raise LedgerError(f"ledger {self.directory} is open read-only here; cannot write")
            yield
            return
        path = self.directory / LOCK
        if shared:
            if not path.is_file():  # nothing ever wrote here: nobody to exclude
                yield
                return
            fd = os.open(path, os.O_RDONLY)
        else:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                pid = int(path.read_text().split()[0])
                holder = f" (pid {pid})"
            os.close(fd)
            raise LedgerError(f"ledger {self.directory} is in use by another process{holder}: "
                              "one writer at a time") from None
        if not shared:
            with contextlib.suppress(OSError):
                mine = f"{os.getpid()}\n".encode()
                if os.pread(fd, len(mine) + 1, 0) != mine:  # rewritten only when another pid held it
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, mine, 0)
        self._lock_fd, self._lock_shared = fd, shared
        try:
            yield
        finally:
            self._lock_fd, self._lock_shared = None, False
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- journal -------------------------------------------------------------------------
    def _read_lines(self) -> tuple[list[dict[str, Any]], list[str], bool, int]:
        """Parsed records, per-line errors, whether the tail is torn, and the byte
        length of the intact prefix."""
        if not self.journal_path.is_file():
            return [], [], False, 0
        raw = self.journal_path.read_bytes()
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        offset, intact = 0, 0
        lines = raw.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and line == b"":
                break
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                if last:  # no newline: the append was interrupted
                    return records, errors, True, intact
                errors.append(f"line {i + 1}: not a JSON record ({exc})")
                offset += len(line) + 1
                continue
            if last:  # complete JSON but no trailing newline: still an interrupted append
                return records, errors, True, intact
            records.append(rec)
            offset += len(line) + 1
            intact = offset
        return records, errors, False, intact

    def records(self) -> list[dict[str, Any]]:
        """Every complete record of the journal."""
        return self._read_lines()[0]

    def _journal_key(self) -> tuple[int, int]:
        try:
            st = self.journal_path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_size)

    def _tail(self) -> dict[str, Any]:
        """Record count, last hash, applied count and head fingerprint of the journal
        (cached while the file is unchanged, so a long stream does not re-read it)."""
        key = self._journal_key()
        if self._tail_cache is not None and self._tail_cache[0] == key:
            return self._tail_cache[1]
        records, _, torn, _ = self._read_lines()
        tail = {"count": len(records), "last_hash": records[-1]["hash"] if records else GENESIS, "torn": torn,
                "applied": sum(1 for r in records if r.get("type") == "request"
                               and r.get("outcome") == "applied"),
                "head": _head_fingerprint(records)}
        self._tail_cache = (key, tail)
        return tail

    def _seal(self, record: dict[str, Any]) -> dict[str, Any]:
        tail = self._tail()
        record = {k: v for k, v in record.items() if k not in ("seq", "prev", "hash")}
        record["seq"] = tail["count"]
        record["prev"] = tail["last_hash"]
        record["hash"] = record_hash(record)
        return record

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Appends a sealed record (see :meth:`_seal`) and fsyncs the journal."""
        tail = dict(self._tail())
        if tail.get("torn"):  # appending after the torn bytes would corrupt the journal's middle
            raise LedgerError(f"the journal of {self.directory} ends with a torn line: repair it first "
                              "(Ledger.recover(), Ledger.restore() or graphforget replay)")
        if record.get("seq") != tail["count"] or record.get("prev") != tail["last_hash"]:
            raise LedgerError("internal error: the record does not follow the journal's tail")
        line = _canonical(record) + b"\n"
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            datasync(fd)  # the record and the journal's new size
        finally:
            os.close(fd)
        tail["count"] += 1
        tail["last_hash"] = record["hash"]
        if record.get("type") == "init" or record.get("outcome") == "applied":
            tail["head"] = record.get("fingerprint_after")
            tail["applied"] += record.get("outcome") == "applied"
        self._tail_cache = (self._journal_key(), tail)
        return record

    # -- inspection ------------------------------------------------------------------------
    def _manifests(self) -> list[_Manifest]:
        folder = self.directory / CHECKPOINTS
        out: list[_Manifest] = []
        if not folder.is_dir():
            return out
        for p in sorted(folder.glob("ckpt-*.json")):
            try:
                seq = int(p.stem.split("-", 1)[1])
            except ValueError:
                continue
            try:
                body = json.loads(p.read_text())
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                int(body["seq"]), str(body["fingerprint"]), str(body["skeleton"])
                dict(body["record"]), dict(body["tensors"]), dict(body["unlearner"])
                if int(body["seq"]) != seq:
                    raise ValueError(f"its seq is {body['seq']}")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                out.append(_Manifest(p.stem, seq, None, f"checkpoint {p.stem} is corrupted: {exc}"))
                continue
            out.append(_Manifest(p.stem, seq, body))
        return out

    def _inspect(self) -> _View:
        """Reads everything once; computes what is wrong and what a repair would do."""
        records, line_errors, torn, intact = self._read_lines()
        size = self.journal_path.stat().st_size if self.journal_path.is_file() else 0
        manifests = self._manifests()
        errors: list[str] = [m.error for m in manifests if m.error]
        repairs: list[str] = []
        old = sorted(p.name for p in (self.directory / CHECKPOINTS).glob("ckpt-*") if p.is_dir()) \
            if (self.directory / CHECKPOINTS).is_dir() else []
        if old or (records and records[0].get("format") == 1):
            errors.append(f"{self.directory} is a format-1 ledger (checkpoint directories); this version "
                          f"reads format {LEDGER_FORMAT} only: replay it with the graphforget that wrote it")
        # no record and no CURRENT: a first run stopped before its genesis commit (its
        # leftovers, if any, are not a state: init() replaces them)
        first_run = not records and not (self.directory / CURRENT).exists() and not old
        # a manifest embeds its record: one lost from the journal's end can be restored
        recovered = None
        last_hash = records[-1].get("hash") if records else GENESIS
        for m in manifests:
            if first_run or m.body is None or m.seq != len(records):
                continue
            rec = m.body["record"]
            if rec.get("seq") == m.seq and rec.get("prev") == last_hash and rec.get("hash") == record_hash(rec):
                recovered = rec
                what = "its torn last line" if torn else "its last line"
                repairs.append(f"restore record {m.seq} ({rec.get('type')}) from checkpoint {m.name}: the "
                               f"journal lost {what}, which that checkpoint acknowledges")
                break
        if torn and recovered is None:
            repairs.append(f"set aside the torn last journal line ({size - intact} bytes, an append cut "
                           f"before it was acknowledged) into {TORN}/")
        view_records = records + ([recovered] if recovered else [])
        chain_errors, applied, rejected = _check_chain(view_records)
        chain_errors = line_errors + chain_errors
        for m in manifests:
            if m.body is None or first_run:
                continue
            if m.seq >= len(view_records):
                errors.append(f"checkpoint {m.name} is after the journal's last record "
                              f"({len(view_records) - 1}): records {len(view_records)}..{m.seq} are lost")
            elif view_records[m.seq].get("hash") != m.body["record"].get("hash"):
                errors.append(f"checkpoint {m.name} does not match journal record {m.seq}")
        pointer = None
        path = self.directory / CURRENT
        if path.is_file():
            try:
                pointer = str(json.loads(path.read_text())["checkpoint"])
            except (OSError, ValueError, KeyError, TypeError):
                pointer = None
        good = [m for m in manifests if m.body is not None and m.seq < len(view_records)]
        if good and pointer != good[-1].name:
            repairs.append(f"point {CURRENT} at {good[-1].name}"
                           + (f" (it names {pointer})" if pointer else " (it is missing or unreadable)"))
        temporaries = self._temporaries()
        if temporaries:
            repairs.append(f"remove {len(temporaries)} temporary file(s) of an interrupted write")
        empty = first_run
        if empty:
            errors = []
            repairs = [r for r in repairs if not r.startswith("point")]
        elif not manifests and not old:
            errors.append(f"{self.directory} has no checkpoint")
        return _View(view_records, chain_errors, errors, repairs, torn, intact, size, recovered, manifests,
                     pointer, temporaries, empty, applied, rejected)

    def _temporaries(self) -> list[Path]:
        out: list[Path] = []
        for folder, pattern in ((self.directory, f".{CURRENT}.tmp-*"), (self.directory, f".{JOURNAL}.tmp-*"),
                                (self.directory / CHECKPOINTS, ".*.tmp-*"), (self.directory / OBJECTS, ".tmp-*")):
            if folder.is_dir():
                out.extend(sorted(folder.glob(pattern)))
        return out

    def _check_directory(self) -> None:
        if not self.directory.is_dir():
            raise LedgerError(f"{self.directory} is not a ledger (no such directory)")
        names = {p.name for p in self.directory.iterdir()}
        ours = {JOURNAL, CURRENT, CHECKPOINTS, OBJECTS, TORN, LOCK}
        if not names & ours and not any(n.startswith((f".{CURRENT}.tmp-", f".{JOURNAL}.tmp-")) for n in names):
            raise LedgerError(f"{self.directory} is not a ledger (no {CURRENT} file)")

    # -- verification --------------------------------------------------------------------
    def verify(self, objects: bool = True) -> VerifyResult:
        """Checks the hash chain, the sequence numbers, the checkpoints and (with
        ``objects``) every stored object of every checkpoint against its SHA-256.
        Reads only: it never changes the directory."""
        self._check_directory()
        with self.locked(shared=True):
            view = self._inspect()
            errors = view.chain_errors + view.errors
            store = ObjectStore(self.directory / OBJECTS).load()
            errors += list(store.bad.values())
            if objects:
                checked: dict[str, str | None] = {}
                for m in view.manifests:
                    if m.body is not None:
                        errors += _check_manifest_objects(store, m, checked)
            return VerifyResult(ok=not errors, records=len(view.records), applied=view.applied,
                                rejected=view.rejected, errors=errors, torn_tail=view.torn, empty=view.empty,
                                repairs=view.repairs, checkpoints=len(view.manifests),
                                disk_bytes=self.disk_usage(), fingerprint=_head_fingerprint(view.records))

    # -- repair ----------------------------------------------------------------------------
    def _repair(self, view: _View) -> list[str]:
        """Writes the repairs :meth:`_inspect` listed; returns them."""
        if view.torn:
            raw = self.journal_path.read_bytes()
            aside = self.directory / TORN
            aside.mkdir(exist_ok=True)
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            write_atomic(aside / f"journal-{view.intact}-{stamp}.part", raw[view.intact:])
            if view.recovered is None:
                with open(self.journal_path, "r+b") as f:
                    f.truncate(view.intact)
                    f.flush()
                    os.fsync(f.fileno())
        if view.recovered is not None:
            raw = self.journal_path.read_bytes()[:view.intact] if self.journal_path.is_file() else b""
            write_atomic(self.journal_path, raw + _canonical(view.recovered) + b"\n")
        good = [m for m in view.manifests if m.body is not None and m.seq < len(view.records)]
        if good and view.pointer != good[-1].name:
            write_atomic(self.directory / CURRENT,
                         json.dumps({"checkpoint": good[-1].name, "seq": good[-1].seq, "keep": self.keep},
                                    sort_keys=True).encode())
        for p in view.temporaries:
            p.unlink(missing_ok=True)
        self._tail_cache = None
        self._store = None
        return list(view.repairs)

    def recover(self) -> list[str]:
        """Writes what a crash (or a cut journal) needs: sets a torn last journal line
        aside, restores an acknowledged record a manifest embeds, points ``CURRENT`` at
        the newest checkpoint, removes temporary files. Returns the repairs made."""
        if not self.directory.is_dir():
            return []
        with self.locked():
            view = self._inspect()
            if view.chain_errors or view.errors:
                problems = view.chain_errors + view.errors
                raise LedgerError(f"ledger is damaged, not repaired: {problems[0]}")
            if view.empty:  # an interrupted first run: start clean
                for p in view.temporaries:
                    p.unlink(missing_ok=True)
                return []
            return self._repair(view)

    # -- checkpoints ---------------------------------------------------------------------
    def _snap(self, unlearner: Unlearner) -> Snapshot:
        if self._tracker is None or self._tracked is not unlearner:
            self._tracker, self._tracked = StateTracker(), unlearner
        snap = self._tracker.snapshot(unlearner)
        self._last_snap = (_guard(unlearner), snap)
        return snap

    def _current(self, unlearner: Unlearner) -> str:
        """The fingerprint of ``unlearner``'s state, reusing the last snapshot when the
        nothing shows the unlearner changed since (see :attr:`check_before`)."""
        if self.check_before == "incremental" and self._last_snap is not None \
                and self._tracked is unlearner and self._tracker is not None:
            guard, snap = self._last_snap
            if guard == _guard(unlearner) and self._tracker.unchanged(snap):
                return snap.fingerprint
        return self._snap(unlearner).fingerprint

    def _due(self, applied: int) -> bool:
        if self.checkpoint_every == "auto":
            return (self._checkpoint_cost is None or self._since_checkpoint >= AUTO_RATIO * self._checkpoint_cost
                    or self._changed_bytes >= AUTO_CHANGED * self._state_bytes)
        return applied % int(self.checkpoint_every) == 0

    def _store_objects(self, snap: Snapshot, seq: int) -> str:
        """Compacts the packs planned for it (their live objects copied into new packs,
        which are made durable, then the old packs deleted), then writes the snapshot's
        objects that no pack holds into new packs; returns the skeleton's digest."""
        # "keep N" holds at every moment: the oldest kept checkpoint goes before the new
        # one is written (never the newest, which stays until the new one is durable)
        self._gc(keep=max(1, self.keep - 1))
        store = self._objects()
        skeleton = build_skeleton(snap.state, snap.leaves)
        skeleton_id = hashlib.sha256(skeleton).hexdigest()
        compact = [n for n in self._compact if n in store.packs]
        if compact:
            # before the new objects, so that the folder never holds the copies and the new
            # objects next to the packs they replace; the copies are durable (fsynced,
            # renamed, directory fsynced) before a compacted pack is deleted, and every
            # object a kept checkpoint uses stays in some pack at every moment
            live = self._live_objects()
            rewrite: set[str] = set()
            for name in compact:
                rewrite |= {d for d in live.intersection(store.packs[name].objects) if store.where.get(d) == name}
            store.write(store.read_many(rewrite), f"{seq:08d}", rewrite)
            store.drop(compact)
        self._compact = set()

        def objects() -> Iterator[tuple[str, Any]]:
            for tr in snap.leaves.values():
                base = tr.base()
                if base is None or tr.digests is None:
                    raise LedgerError("internal error: a tensor changed while it was being checkpointed")
                buf, c = None, tr.chunk
                for i, d in enumerate(tr.digests):
                    h = d.hex()
                    if h not in store.where:
                        if buf is None:
                            buf = tensor_bytes(base)
                        yield h, buf[i * c:(i + 1) * c]
                if tr.digest not in store.where:
                    yield tr.digest, tr.index
            if skeleton_id not in store.where:
                yield skeleton_id, skeleton

        store.write(objects(), f"{seq:08d}")
        return skeleton_id

    def _write_manifest(self, unlearner: Unlearner, snap: Snapshot, record: dict[str, Any], applied: int,
                        skeleton_id: str) -> str:
        params = _jsonable(_user_params_to_markers(unlearner.get_params(deep=False)))
        try:
            json.dumps(params)
        except TypeError as exc:
            raise GraphForgetError(f"parameters of {unlearner.method_name} are not JSON-serialisable: {exc}") from None
        name = _ckpt_name(record["seq"])
        body = {"format": LEDGER_FORMAT, "seq": record["seq"], "record": record, "record_hash": record["hash"],
                "fingerprint": snap.fingerprint, "fingerprint_scheme": FINGERPRINT_SCHEME, "applied": applied,
                "written": _now(), "skeleton": skeleton_id, "tensors": snap.tensors(),
                "unlearner": {"method": unlearner.method_name,
                              "class": f"{type(unlearner).__module__}.{type(unlearner).__qualname__}",
                              "params": params, "params_fingerprint": state_fingerprint(params)}}
        folder = self.directory / CHECKPOINTS
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / f"{name}.json", json.dumps(body, sort_keys=True).encode())
        self._manifest_objects[name] = self._objects_of_snapshot(snap, skeleton_id)
        write_atomic(self.directory / CURRENT,
                     json.dumps({"checkpoint": name, "seq": record["seq"], "keep": self.keep},
                                sort_keys=True).encode())
        return name

    @staticmethod
    def _objects_of_snapshot(snap: Snapshot, skeleton_id: str) -> set[str]:
        out = {skeleton_id}
        for tr in snap.leaves.values():
            out.add(tr.digest)
            out.update(d.hex() for d in tr.digests or ())
        return out

    def _objects_of(self, m: _Manifest) -> set[str]:
        cached = self._manifest_objects.get(m.name)
        if cached is not None:
            return cached
        if m.body is None:
            raise LedgerError(f"checkpoint {m.name} has no readable manifest")
        store = self._objects()
        out = {str(m.body["skeleton"])}
        for digest in m.body["tensors"].values():
            out.add(str(digest))
            with contextlib.suppress(CheckpointError):
                out.update(parse_tensor_index(store.read(str(digest)))[1])
        self._manifest_objects[m.name] = out
        return out

    def _live_objects(self) -> set[str]:
        live: set[str] = set()
        for m in self._manifests():
            if m.body is not None:
                live |= self._objects_of(m)
        return live

    def _gc(self, keep: int | None = None) -> None:
        """Deletes manifests beyond ``keep`` (never the newest), then packs without a
        live object; plans compaction when the packs waste more than 30%."""
        manifests = [m for m in self._manifests() if m.body is not None]
        keep = max(1, self.keep if keep is None else keep)
        drop = manifests[:-keep] if len(manifests) > keep else []
        for m in drop:
            (self.directory / CHECKPOINTS / f"{m.name}.json").unlink(missing_ok=True)
            self._manifest_objects.pop(m.name, None)
        if drop:
            fsync_dir(self.directory / CHECKPOINTS)
        store = self._objects()
        live = self._live_objects()
        per_pack = store.live_bytes(live)
        store.drop([name for name, n in per_pack.items() if n == 0])
        per_pack = {name: n for name, n in per_pack.items() if name in store.packs}
        total, alive = store.size(), sum(per_pack.values())
        self._compact = set()
        if total > _WASTE * alive + _WASTE_SLACK:
            # the emptiest packs first; at most 10% of the live bytes (or one pack) copied
            # per checkpoint, so that compaction never doubles the folder for a moment
            budget = max(PACK_BYTES, 0.1 * alive)
            for name in sorted(per_pack, key=lambda n: per_pack[n] / max(1, store.packs[n].size)):
                if total <= 1.1 * alive or (self._compact and per_pack[name] > budget):
                    break
                self._compact.add(name)
                budget -= per_pack[name]
                total -= store.packs[name].size - per_pack[name]

    def _checkpoint_now(self, unlearner: Unlearner, snap: Snapshot, record: dict[str, Any], applied: int,
                        skeleton_id: str | None = None) -> None:
        if skeleton_id is None:
            skeleton_id = self._store_objects(snap, record["seq"])
        self._write_manifest(unlearner, snap, record, applied, skeleton_id)
        self._gc()
        self._since_checkpoint = 0.0
        self._changed_bytes = 0

    def _load_checkpoint(self, m: _Manifest) -> Unlearner:
        """The unlearner of a manifest; every object is checked, then the fingerprint."""
        if m.body is None:
            raise LedgerError(f"checkpoint {m.name} has no readable manifest")
        store = self._objects()
        try:
            skeleton = load_skeleton(store.read(str(m.body["skeleton"])))
        except CheckpointError as exc:
            raise CheckpointError(f"its state skeleton is unreadable: {exc}") from None
        tensors, seeds = {}, {}
        names = {str(k): str(v) for k, v in m.body["tensors"].items()}
        for path, digest in skeleton_tensors(skeleton):
            label = path_name(path)
            if names.get(label) != digest:
                raise CheckpointError(f"tensor {label} is not listed in the manifest")
            try:
                t, digests = load_tensor(store, digest)
            except CheckpointError as exc:
                raise CheckpointError(f"tensor {label}: {exc}") from None
            tensors[path] = t
            seeds[path] = (t, digests)
        state = fill_skeleton(skeleton, tensors)
        unlearner = build_unlearner(m.body["unlearner"], state)
        tracker = StateTracker()
        tracker.seed(seeds)
        if tracker.snapshot(unlearner).fingerprint != m.body["fingerprint"]:
            raise CheckpointError("the restored state does not match its recorded fingerprint")
        self._tracker, self._tracked = tracker, unlearner
        return unlearner

    # -- lifecycle -----------------------------------------------------------------------
    def init(self, unlearner: Unlearner, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """Starts a ledger for a fitted ``unlearner``: writes the genesis checkpoint, then
        the ``init`` record (method, parameters, fingerprint, and ``config``)."""
        if self.exists or (self.journal_path.is_file() and self.journal_path.stat().st_size):
            raise LedgerError(f"{self.directory} already holds a ledger")
        if not isinstance(unlearner, Unlearner):
            raise TypeError(f"Ledger.init() expects an Unlearner, got {type(unlearner).__name__}")
        unlearner._check_fitted()
        with self.locked():
            # leftovers of an interrupted first run (no CURRENT: nothing was committed)
            for folder in (self.directory / CHECKPOINTS, self.directory / OBJECTS):
                if folder.is_dir():
                    for p in folder.iterdir():
                        if p.is_file():
                            p.unlink()
            self._store, self._manifest_objects = None, {}
            snap = self._snap(unlearner)
            self._tail_cache = None
            # The genesis record's hash is known before it is written, so the checkpoint
            # can embed it; the record is appended right after the checkpoint.
            record = self._seal({"type": "init", "format": LEDGER_FORMAT,
                                 "fingerprint_scheme": FINGERPRINT_SCHEME, "timestamp": _now(),
                                 "method": unlearner.method_name,
                                 "params": _jsonable(_user_params_to_markers(unlearner.get_params(deep=False))),
                                 "fingerprint_after": snap.fingerprint, "config": _jsonable(config or {})})
            self._checkpoint_now(unlearner, snap, record, 0)
            self._append(record)
        return record

    def restore(self, persist: bool = True, fallback: bool = False) -> tuple[Unlearner, dict[str, Any]]:
        """Brings a model to the state after the last applied request.

        Loads the newest checkpoint consistent with the journal (every object checked),
        then re-applies every applied request journaled after it, checking each against
        its recorded fingerprints. A checkpoint whose objects are missing or corrupted is
        an error (with ``fallback``, an older checkpoint is used instead and the damage is
        listed in ``damaged``). With ``persist`` the pending repairs are written (see
        :meth:`recover`) and a checkpoint of the result; without it nothing is written.

        Returns the unlearner and a summary: ``outcome`` (``"ok"``, ``"repaired"``,
        ``"needs-repair"`` (not persisted) or ``"diverged"`` (mismatches)), ``applied``,
        ``replayed``, ``checkpoint``, ``mismatches`` (records whose re-application gave
        another fingerprint: a non-deterministic method), ``fingerprint``, ``records``
        and ``repairs``.

        Raises:
            EmptyLedgerError: the directory never committed a state (nothing applied).
            LedgerError: not a ledger, a damaged journal or checkpoint.
        """
        self._check_directory()
        with self.locked(shared=not persist):
            view = self._inspect()
            if view.empty:
                raise EmptyLedgerError(f"ledger {self.directory} is empty: nothing was applied "
                                       "(it never committed a state)")
            if view.chain_errors:
                raise LedgerError(f"journal failed verification: {view.chain_errors[0]}")
            if view.errors:
                raise LedgerError(f"ledger verification failed: {view.errors[0]}")
            repairs = self._repair(view) if persist and view.repairs else []
            records = view.records
            candidates = [m for m in reversed(view.manifests)
                          if m.body is not None and m.seq < len(records)
                          and records[m.seq].get("hash") == m.body["record"].get("hash")]
            unlearner, chosen, damaged = None, None, []
            self._store = None
            for m in candidates:
                try:
                    unlearner = self._load_checkpoint(m)
                except (CheckpointError, LedgerError) as exc:
                    if not fallback:
                        raise LedgerError(f"checkpoint {m.name}: {exc}") from None
                    damaged.append(f"checkpoint {m.name}: {exc}")
                    continue
                chosen = m
                break
            if unlearner is None or chosen is None:
                raise LedgerError("no usable checkpoint: " + ("; ".join(damaged) or "none matches the journal"))
            replayed, mismatches = 0, []
            for rec in records[chosen.seq + 1:]:
                if rec.get("type") != "request" or rec.get("outcome") != "applied":
                    continue
                if self._current(unlearner) != rec["fingerprint_before"]:
                    mismatches.append(rec["seq"])
                unlearner.unlearn(request_from_dict(rec["request"]))
                replayed += 1
                if self._snap(unlearner).fingerprint != rec["fingerprint_after"]:
                    mismatches.append(rec["seq"])
            applied = view.applied
            snap = self._snap(unlearner)
            if persist and (replayed or damaged):
                self._tail_cache = None
                self._checkpoint_now(unlearner, snap, records[-1], applied)
            elif persist:
                self._gc()  # finishes a collection a crash interrupted
            if mismatches:
                outcome = "diverged"
            elif view.repairs and not persist:
                outcome = "needs-repair"
            else:
                outcome = "repaired" if repairs or damaged else "ok"
            summary = {"outcome": outcome, "applied": applied, "replayed": replayed,
                       "checkpoint": chosen.name, "fingerprint": snap.fingerprint,
                       "mismatches": sorted(set(mismatches)), "records": len(records),
                       "repairs": repairs if persist else list(view.repairs)}
            if damaged:
                summary["damaged"] = damaged
            return unlearner, summary

    def apply(self, unlearner: Unlearner, request: ForgetRequest) -> UnlearnReport:
        """Serves ``request`` on ``unlearner`` under the protocol above.

        Raises the unlearner's own error (after journaling the rejection) when it rejects
        the request; the state is then unchanged.
        """
        with self.locked():
            start = time.perf_counter()
            tail = self._tail()
            if not tail["count"]:
                raise LedgerError(f"{self.directory} has no init record: call Ledger.init first")
            before = self._current(unlearner)
            if before != tail["head"]:
                raise LedgerError("the unlearner's state is not the ledger's last state "
                                  "(restore it with Ledger.restore())")
            base = {"type": "request", "timestamp": _now(), "method": unlearner.method_name,
                    "fingerprint_before": before}
            if not isinstance(request, ForgetRequest):
                self._append(self._seal({**base, "outcome": "rejected", "kind": None, "request": None,
                                         "content_hash": None, "items": 0, "fingerprint_after": before,
                                         "reason": "TypeError: expected a ForgetRequest, got "
                                                   f"{type(request).__name__}"}))
                raise TypeError(f"Ledger.apply() expects a ForgetRequest, got {type(request).__name__}")
            base.update(kind=request.kind, request=request.to_dict(), content_hash=request.content_hash(),
                        items=len(request))
            ledger_s = time.perf_counter() - start
            t0 = time.perf_counter()
            try:
                report = unlearner.unlearn(request)
            except (GraphForgetError, ValueError, TypeError) as exc:
                unlearn_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                after = self._snap(unlearner).fingerprint
                if after != before:  # a method broke the "state untouched" contract
                    raise LedgerError(f"{unlearner.method_name} changed its state while rejecting a "
                                      f"request ({exc}); restore it with Ledger.restore()") from exc
                ledger_s += time.perf_counter() - t1
                self._append(self._seal({**base, "outcome": "rejected", "fingerprint_after": before,
                                         "reason": f"{type(exc).__name__}: {exc}", "unlearn_seconds": unlearn_s,
                                         "ledger_seconds": ledger_s, "seconds": unlearn_s + ledger_s}))
                raise
            t1 = time.perf_counter()
            unlearn_s = float(report.seconds)
            hashed = self._tracker.bytes_hashed if self._tracker is not None and self._tracked is unlearner else 0
            snap = self._snap(unlearner)
            if self._tracker is not None:
                self._changed_bytes += self._tracker.bytes_hashed - hashed
            self._state_bytes = sum(tr.obj.numel() * tr.obj.element_size() for tr in snap.leaves.values())
            applied = tail["applied"] + 1
            self._since_checkpoint += unlearn_s
            due = self._due(applied)
            skeleton_id = self._store_objects(snap, tail["count"]) if due else None
            t_store = time.perf_counter() - t1
            ledger_s += t_store
            record = self._seal({**base, "outcome": "applied", "fingerprint_after": snap.fingerprint,
                                 "unlearn_seconds": unlearn_s, "ledger_seconds": ledger_s,
                                 "seconds": unlearn_s + ledger_s, "noop": report.noop,
                                 "certificate": _certificate(report)})
            t2 = time.perf_counter()
            self._append(record)
            if due:
                t3 = time.perf_counter()
                self._checkpoint_now(unlearner, snap, record, applied, skeleton_id)
                cost = t_store + time.perf_counter() - t3
                self._checkpoint_cost = cost if self._checkpoint_cost is None else \
                    0.7 * self._checkpoint_cost + 0.3 * cost
            end = time.perf_counter()
            self.last = {"unlearn_seconds": unlearn_s, "ledger_seconds": ledger_s,
                         "commit_seconds": end - t2, "total_ledger_seconds": (end - start) - (t1 - t0),
                         "checkpoint": float(due)}
            return report

    def checkpoint(self, unlearner: Unlearner) -> None:
        """Writes a checkpoint of ``unlearner`` (which must be at the ledger's last state)."""
        with self.locked():
            records = self.records()
            snap = self._snap(unlearner)
            if not records or snap.fingerprint != _head_fingerprint(records):
                raise LedgerError("the unlearner's state is not the ledger's last state")
            if any(m.seq == records[-1]["seq"] and m.body is not None for m in self._manifests()):
                return  # already checkpointed
            self._checkpoint_now(unlearner, snap, records[-1], self._tail()["applied"])

    def checkpointed(self) -> bool:
        """Whether the journal's last record has a checkpoint."""
        tail = self._tail()
        return (self.directory / CHECKPOINTS / f"{_ckpt_name(tail['count'] - 1)}.json").is_file()


def _check_chain(records: list[dict[str, Any]]) -> tuple[list[str], int, int]:
    errors: list[str] = []
    prev = GENESIS
    applied = rejected = 0
    last_after: str | None = None
    for i, rec in enumerate(records):
        if rec.get("seq") != i:
            errors.append(f"record {i}: sequence number {rec.get('seq')!r}, expected {i}")
        if rec.get("prev") != prev:
            errors.append(f"record {i}: prev hash does not match record {i - 1} (deleted, inserted "
                          "or reordered record)")
        if rec.get("hash") != record_hash(rec):
            errors.append(f"record {i}: hash mismatch (record edited)")
        prev = rec.get("hash", "")
        kind = rec.get("type")
        if i == 0 and kind != "init":
            errors.append("record 0: the first record must be the init record")
        if kind == "request":
            if rec.get("outcome") == "applied":
                applied += 1
                if last_after is not None and rec.get("fingerprint_before") != last_after:
                    errors.append(f"record {i}: fingerprint_before does not follow the previous state")
                last_after = rec.get("fingerprint_after")
            elif rec.get("outcome") == "rejected":
                rejected += 1
                if rec.get("fingerprint_after") != rec.get("fingerprint_before"):
                    errors.append(f"record {i}: a rejected request changed the state")
            else:
                errors.append(f"record {i}: unknown outcome {rec.get('outcome')!r}")
        elif kind == "init":
            last_after = rec.get("fingerprint_after")
    return errors, applied, rejected


def _check_manifest_objects(store: ObjectStore, m: _Manifest, checked: dict[str, str | None]) -> list[str]:
    """Problems with the objects of one manifest, naming the tensor and the file
    (``checked`` caches verdicts across manifests: each object is hashed once)."""
    if m.body is None:
        return [f"checkpoint {m.name}: the manifest is unreadable"]
    errors: list[str] = []
    skeleton = str(m.body["skeleton"])
    checked.update(store.check([skeleton], skip=checked))
    if checked[skeleton]:
        errors.append(f"checkpoint {m.name}: state skeleton: {checked[skeleton]}")
    for label, digest in sorted(m.body["tensors"].items()):
        digest = str(digest)
        checked.update(store.check([digest], skip=checked))
        if checked[digest]:
            errors.append(f"checkpoint {m.name}: tensor {label}: index {checked[digest]}")
            continue
        _, chunks = parse_tensor_index(store.read(digest))
        checked.update(store.check(chunks, skip=checked))
        bad = [(i, checked[d]) for i, d in enumerate(chunks) if checked[d]]
        if bad:
            i, problem = bad[0]
            more = f" (and {len(bad) - 1} more chunks)" if len(bad) > 1 else ""
            errors.append(f"checkpoint {m.name}: tensor {label}: chunk {i} of {len(chunks)}: {problem}{more}")
    return errors


def _head_fingerprint(records: list[dict[str, Any]]) -> str | None:
    for rec in reversed(records):
        if rec.get("type") == "init" or rec.get("outcome") == "applied":
            return rec.get("fingerprint_after")
    return None


class OpenLedger:
    """A ledger opened on an unlearner (see :func:`open_ledger`): holds the writer's
    lock until :meth:`close`, so another process cannot write meanwhile."""

    def __init__(self, ledger: Ledger, unlearner: Unlearner, summary: dict[str, Any],
                 stack: contextlib.ExitStack) -> None:
        self.ledger, self.unlearner, self.summary = ledger, unlearner, summary
        self._stack = stack
        self.closed = False

    def apply(self, request: ForgetRequest) -> UnlearnReport:
        """Serves and journals one request (see :meth:`Ledger.apply`)."""
        self._check_open()
        return self.ledger.apply(self.unlearner, request)

    def verify(self, objects: bool = True) -> VerifyResult:
        """The auditor's check (see :meth:`Ledger.verify`)."""
        self._check_open()
        return self.ledger.verify(objects)

    def restore(self, persist: bool = True) -> Unlearner:
        """Rebuilds the unlearner from the directory (checkpoint + journal) and makes it
        the one requests go to."""
        self._check_open()
        self.unlearner, self.summary = self.ledger.restore(persist=persist)
        return self.unlearner

    def checkpoint(self) -> None:
        self._check_open()
        self.ledger.checkpoint(self.unlearner)

    def close(self) -> None:
        """Checkpoints the last state (if it is not yet) and releases the lock."""
        if self.closed:
            return
        try:
            if self.ledger._tail()["count"] and not self.ledger.checkpointed():
                self.ledger.checkpoint(self.unlearner)
        finally:
            self.closed = True
            self._stack.close()

    def _check_open(self) -> None:
        if self.closed:
            raise LedgerError(f"ledger {self.ledger.directory} was closed")

    def __enter__(self) -> OpenLedger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_ledger(directory: str | os.PathLike, unlearner: Unlearner | None = None, *,
                checkpoint_every: int | str = "auto", keep: int | None = None,
                config: dict[str, Any] | None = None) -> OpenLedger:
    """Opens the ledger in ``directory`` for a pipeline that logs its own deletions.

    * a directory without a ledger: ``unlearner`` (fitted) starts one (genesis checkpoint
      and init record with ``config``);
    * a ledger and ``unlearner=None``: the unlearner is restored from it;
    * a ledger and an ``unlearner``: it must be at the ledger's last state (it is then
      used as is; otherwise restore it with ``unlearner=None``).

    The writer's lock is held until :meth:`OpenLedger.close` (or the ``with`` block ends).

    Example::

        with open_ledger("ledger/", Retrain().fit(data)) as led:
            led.apply(NodeRequest([12]))
            assert led.verify().ok
        model = open_ledger("ledger/").restore()
    """
    ledger = Ledger(directory, checkpoint_every=checkpoint_every, keep=keep)
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(ledger.locked())
        if not ledger.exists:
            if unlearner is None:
                raise EmptyLedgerError(f"{directory} holds no ledger; pass a fitted unlearner to start one")
            ledger.recover()
            ledger.init(unlearner, config)
            summary: dict[str, Any] = {"outcome": "ok", "applied": 0, "replayed": 0}
        elif unlearner is None:
            unlearner, summary = ledger.restore()
        else:
            ledger.recover()
            if ledger._snap(unlearner).fingerprint != ledger._tail()["head"]:
                raise LedgerError("the unlearner is not at the ledger's last state; open it with "
                                  "unlearner=None to restore that state")
            summary = {"outcome": "ok", "applied": ledger._tail()["applied"], "replayed": 0}
    except BaseException:
        stack.close()
        raise
    return OpenLedger(ledger, unlearner, summary, stack)


class LedgeredUnlearner:
    """An unlearner whose every request goes through a :class:`Ledger`.

    ``LedgeredUnlearner(unlearner, dir)`` starts a ledger for a fitted unlearner (or,
    with ``unlearner=None``, restores the one in ``dir``). Everything but ``unlearn`` is
    delegated to the wrapped unlearner.

    Example::

        u = LedgeredUnlearner(Retrain(epochs=50).fit(data), "ledger/")
        u.unlearn(NodeRequest([3]))
        model, summary = Ledger("ledger/").restore()   # after a crash
    """

    def __init__(self, unlearner: Unlearner | None, directory: str | os.PathLike,
                 checkpoint_every: int | str = "auto", config: dict[str, Any] | None = None,
                 keep: int | None = None) -> None:
        self.ledger = Ledger(directory, checkpoint_every=checkpoint_every, keep=keep)
        if unlearner is None:
            self.unlearner, self.summary = self.ledger.restore()
        else:
            if self.ledger.exists:
                raise LedgerError(f"{directory} already holds a ledger; pass unlearner=None to resume")
            self.ledger.init(unlearner, config)
            self.unlearner, self.summary = unlearner, {"applied": 0}

    def unlearn(self, request: ForgetRequest) -> UnlearnReport:
        try:
            return self.ledger.apply(self.unlearner, request)
        except (GraphForgetError, ValueError, TypeError):
            raise
        except BaseException:
            # Unexpected failure inside the method: its in-memory state is unknown, so
            # go back to the last journaled state before re-raising.
            self.unlearner, self.summary = self.ledger.restore()
            raise

    def unlearn_many(self, requests: Any) -> list[UnlearnReport]:
        return [self.unlearn(r) for r in requests]

    def __getattr__(self, name: str) -> Any:
        if name in ("unlearner", "ledger", "summary"):
            raise AttributeError(name)
        return getattr(self.unlearner, name)
