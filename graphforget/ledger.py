r"""A crash-safe deletion ledger: an append-only, hash-chained journal of forget requests.

Layout of a ledger directory::

    DIR/
      journal.jsonl          one JSON record per line, append-only, each line fsynced
      CURRENT                {"checkpoint": "ckpt-00000012", ...}, replaced atomically
      checkpoints/
        ckpt-00000000/       unlearner.json + state.pt (Unlearner.save) + meta.json
        ckpt-00000012/
      lock                   advisory lock: one writer at a time

Protocol for one request (:meth:`Ledger.apply`):

1. the request is served **in memory** (``unlearner.unlearn``); a request the unlearner
   rejects (invalid ids, unsupported kind, ...) leaves the state untouched and is
   journaled with ``outcome: "rejected"`` and the reason;
2. the record (content hash, kind, ids, timestamp, method, outcome, fingerprints
   before/after, certified bound/budget when the report carries them) is appended to
   the journal and **fsynced before any model state on disk is replaced**; from this
   point the request is acknowledged;
3. every ``checkpoint_every`` applied requests the state is written as a new checkpoint
   directory (written under a temporary name, fsynced, renamed) and ``CURRENT`` is
   replaced atomically (temporary file, fsync, ``os.replace``, fsync of the directory).

A crash can therefore leave (a) a torn last journal line, never acknowledged, which
:meth:`Ledger.recover` truncates; (b) applied records newer than the checkpoint in
``CURRENT``, which :meth:`Ledger.restore` re-applies in order (checking that each gives
the journaled ``fingerprint_after``); (c) an orphan temporary checkpoint, which is
removed. No request is ever half-applied: the checkpoint in ``CURRENT`` is a complete
state after a known journal record, and re-applying a journaled request starts from
exactly the state its ``fingerprint_before`` names.

Each record carries ``prev`` (the previous record's ``hash``) and its own ``hash``
(SHA-256 of its canonical JSON without ``hash``), so :meth:`Ledger.verify` detects an
edited, deleted, inserted or reordered record.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphforget.errors import GraphForgetError
from graphforget.requests import ForgetRequest, request_from_dict
from graphforget.unlearner import Unlearner, UnlearnReport, _jsonable

__all__ = ["Ledger", "LedgerError", "LedgeredUnlearner", "VerifyResult", "GENESIS"]

GENESIS = "0" * 64
JOURNAL = "journal.jsonl"
CURRENT = "CURRENT"
CHECKPOINTS = "checkpoints"
LEDGER_FORMAT = 1
# Keys of UnlearnReport.diagnostics that certified methods use for their guarantee.
_CERT_KEYS = ("epsilon", "delta", "bound", "budget", "gradient_residual", "noise")


class LedgerError(GraphForgetError):
    """The ledger directory is missing, inconsistent or was tampered with."""


@dataclass
class VerifyResult:
    """What :meth:`Ledger.verify` found.

    Attributes:
        ok: ``True`` when the chain, the sequence numbers and the checkpoint agree.
        records: records read.
        applied / rejected: request records by outcome.
        errors: one line per problem (record number and what is wrong).
        torn_tail: the last line is incomplete (a crash while appending; :meth:`Ledger.recover`
            removes it, as it was never acknowledged).
    """

    ok: bool
    records: int
    applied: int
    rejected: int
    errors: list[str] = field(default_factory=list)
    torn_tail: bool = False


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical JSON, without its ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _certificate(report: UnlearnReport) -> dict[str, Any]:
    diag = report.diagnostics or {}
    out = {k: v for k, v in diag.items()
           if any(key in str(k).lower() for key in _CERT_KEYS)}
    return _jsonable(out)


class Ledger:
    """The journal and checkpoints in one directory.

    Args:
        directory: the ledger directory (created by :meth:`init`).
        checkpoint_every: write a checkpoint after this many applied requests; the
            requests in between are recovered by re-applying them from the journal.
            (default: :obj:`1`)
        keep: checkpoints kept besides the first (genesis) one. (default: :obj:`2`)
    """

    def __init__(self, directory: str | os.PathLike, checkpoint_every: int = 1, keep: int = 2) -> None:
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise GraphForgetError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise GraphForgetError(f"keep must be a positive integer, got {keep!r}")
        self.directory = Path(directory)
        self.checkpoint_every = checkpoint_every
        self.keep = keep
        self._lock_fd: int | None = None
        self._tail_cache: tuple[tuple[int, int], dict[str, Any]] | None = None

    # -- paths -------------------------------------------------------------------------
    @property
    def journal_path(self) -> Path:
        return self.directory / JOURNAL

    @property
    def exists(self) -> bool:
        """Whether the directory holds an initialised ledger."""
        return (self.directory / CURRENT).is_file()

    # -- locking -------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the directory's advisory lock (a second writer fails fast)."""
        import fcntl

        self.directory.mkdir(parents=True, exist_ok=True)
        if self._lock_fd is not None:
            yield
            return
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LedgerError(f"ledger {self.directory} is in use by another process") from None
        self._lock_fd = fd
        try:
            yield
        finally:
            self._lock_fd = None
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
        records = self.records()
        tail = {"count": len(records), "last_hash": records[-1]["hash"] if records else GENESIS,
                "applied": sum(1 for r in records if r.get("type") == "request"
                               and r.get("outcome") == "applied"),
                "head": _head_fingerprint(records)}
        self._tail_cache = (key, tail)
        return tail

    def _append(self, record: dict[str, Any]) -> dict[str, Any]:
        tail = dict(self._tail())
        record = dict(record)
        record["seq"] = tail["count"]
        record["prev"] = tail["last_hash"]
        record["hash"] = record_hash(record)
        line = _canonical(record) + b"\n"
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        tail["count"] += 1
        tail["last_hash"] = record["hash"]
        if record.get("type") == "init" or record.get("outcome") == "applied":
            tail["head"] = record.get("fingerprint_after")
            tail["applied"] += record.get("outcome") == "applied"
        self._tail_cache = (self._journal_key(), tail)
        return record

    def verify(self) -> VerifyResult:
        """Checks the hash chain, the sequence numbers and the current checkpoint."""
        records, errors, torn, _ = self._read_lines()
        errors = list(errors)
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
        try:
            pointer = self._pointer()
            meta = self._checkpoint_meta(pointer["checkpoint"])
            seq = meta["seq"]
            if seq >= len(records):
                errors.append(f"checkpoint {pointer['checkpoint']} is after the journal's last record")
            elif records[seq].get("hash") != meta["record_hash"]:
                errors.append(f"checkpoint {pointer['checkpoint']} does not match journal record {seq}")
        except LedgerError as exc:
            errors.append(str(exc))
        return VerifyResult(ok=not errors, records=len(records), applied=applied,
                            rejected=rejected, errors=errors, torn_tail=torn)

    # -- checkpoints ---------------------------------------------------------------------
    def _pointer(self) -> dict[str, Any]:
        path = self.directory / CURRENT
        if not path.is_file():
            raise LedgerError(f"{self.directory} is not a ledger (no {CURRENT} file)")
        try:
            pointer = json.loads(path.read_text())
            str(pointer["checkpoint"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"corrupted {path}: {exc}") from None
        return pointer

    def _checkpoint_meta(self, name: str) -> dict[str, Any]:
        path = self.directory / CHECKPOINTS / name / "meta.json"
        try:
            meta = json.loads(path.read_text())
            int(meta["seq"]), str(meta["fingerprint"]), str(meta["record_hash"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LedgerError(f"checkpoint {name} is missing or corrupted: {exc}") from None
        return meta

    def _write_checkpoint(self, unlearner: Unlearner, record: dict[str, Any], applied: int,
                          fingerprint: str, extra: dict[str, Any] | None = None) -> None:
        folder = self.directory / CHECKPOINTS
        folder.mkdir(parents=True, exist_ok=True)
        name = f"ckpt-{record['seq']:08d}"
        final = folder / name
        tmp = folder / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        unlearner.save(tmp, include_data=True, include_forgotten=True)  # the ledger keeps everything
        meta = {"seq": record["seq"], "record_hash": record["hash"], "fingerprint": fingerprint,
                "applied": applied, "written": _now(), **(extra or {})}
        _write_atomic(tmp / "meta.json", json.dumps(meta, sort_keys=True).encode())
        _fsync_dir(tmp)
        if final.exists():  # same record re-checkpointed (replay): replace wholesale
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(folder)
        _write_atomic(self.directory / CURRENT,
                      json.dumps({"checkpoint": name, "seq": record["seq"]}, sort_keys=True).encode())
        self._prune()

    def _checkpoint_names(self) -> list[str]:
        folder = self.directory / CHECKPOINTS
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.name.startswith("ckpt-"))

    def _prune(self) -> None:
        names = self._checkpoint_names()
        current = self._pointer()["checkpoint"]
        keep = set(names[:1]) | set(names[-self.keep:]) | {current}
        for name in names:
            if name not in keep:
                shutil.rmtree(self.directory / CHECKPOINTS / name, ignore_errors=True)

    def _load_checkpoint(self, name: str) -> tuple[Unlearner, dict[str, Any]]:
        meta = self._checkpoint_meta(name)
        try:
            unlearner = Unlearner.load(self.directory / CHECKPOINTS / name)
        except GraphForgetError as exc:
            raise LedgerError(f"checkpoint {name} cannot be loaded: {exc}") from None
        if unlearner.fingerprint() != meta["fingerprint"]:
            raise LedgerError(f"checkpoint {name} does not match its recorded fingerprint")
        return unlearner, meta

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
            fingerprint = unlearner.fingerprint()
            record = {"type": "init", "format": LEDGER_FORMAT, "timestamp": _now(),
                      "method": unlearner.method_name, "params": _jsonable(unlearner.get_params()),
                      "fingerprint_after": fingerprint, "config": _jsonable(config or {})}
            # The genesis record's hash is known before it is written, so the checkpoint
            # can point at it; the record is appended right after the checkpoint.
            record.update(seq=0, prev=GENESIS)
            record["hash"] = record_hash(record)
            self._write_checkpoint(unlearner, record, 0, fingerprint, extra={"init_record": record})
            self._append({k: v for k, v in record.items() if k not in ("seq", "prev", "hash")})
        return record

    def recover(self) -> int:
        """Repairs what a crash can leave: truncates a torn last journal line (an
        unacknowledged append) and removes temporary checkpoint directories. Returns
        the number of bytes truncated."""
        with self.locked():
            _, _, torn, intact = self._read_lines()
            cut = 0
            if torn:
                size = self.journal_path.stat().st_size
                with open(self.journal_path, "r+b") as f:
                    f.truncate(intact)
                    f.flush()
                    os.fsync(f.fileno())
                cut = size - intact
            folder = self.directory / CHECKPOINTS
            if folder.is_dir():
                for p in folder.iterdir():
                    if p.name.startswith(".tmp-"):
                        shutil.rmtree(p, ignore_errors=True)
            for p in self.directory.glob(f".{CURRENT}.tmp-*"):
                p.unlink(missing_ok=True)
            if self.exists and not self.records():
                # Killed between the genesis checkpoint and the init record: the record
                # was kept in the checkpoint's metadata; append it now.
                meta = self._checkpoint_meta(self._pointer()["checkpoint"])
                init = meta.get("init_record")
                if meta["seq"] != 0 or not isinstance(init, dict):
                    raise LedgerError(f"{self.directory}: empty journal but a non-genesis checkpoint")
                self._append({k: v for k, v in init.items() if k not in ("seq", "prev", "hash")})
            return cut

    def restore(self, persist: bool = True) -> tuple[Unlearner, dict[str, Any]]:
        """Brings a model to the state after the last applied request.

        Loads the newest consistent checkpoint (``CURRENT``, else older ones), then
        re-applies every applied request journaled after it, checking each against its
        recorded fingerprints. With ``persist`` a checkpoint of the result is written.

        Returns the unlearner and a summary: ``applied`` (requests applied in all),
        ``replayed`` (re-applied now), ``checkpoint``, ``mismatches`` (records whose
        re-application gave another fingerprint: a non-deterministic method) and
        ``fingerprint``.
        """
        if not self.exists:
            raise LedgerError(f"{self.directory} is not a ledger (no {CURRENT} file)")
        with self.locked():
            self.recover()
            result = self.verify()
            chain_errors = [e for e in result.errors if "checkpoint" not in e]
            if chain_errors:
                raise LedgerError(f"journal failed verification: {chain_errors[0]}")
            records = self.records()
            candidates = [self._pointer()["checkpoint"]]
            candidates += [n for n in reversed(self._checkpoint_names()) if n not in candidates]
            unlearner, meta, problems = None, None, []
            for name in candidates:
                try:
                    unlearner, meta = self._load_checkpoint(name)
                except LedgerError as exc:
                    problems.append(str(exc))
                    continue
                seq = meta["seq"]
                if seq < len(records) and records[seq]["hash"] == meta["record_hash"]:
                    break
                problems.append(f"checkpoint {name} does not match the journal")
                unlearner = None
            if unlearner is None or meta is None:
                raise LedgerError("no consistent checkpoint: " + "; ".join(problems))
            replayed, mismatches = 0, []
            for rec in records[meta["seq"] + 1:]:
                if rec.get("type") != "request" or rec.get("outcome") != "applied":
                    continue
                before = unlearner.fingerprint()
                if before != rec["fingerprint_before"]:
                    mismatches.append(rec["seq"])
                unlearner.unlearn(request_from_dict(rec["request"]))
                replayed += 1
                if unlearner.fingerprint() != rec["fingerprint_after"]:
                    mismatches.append(rec["seq"])
            applied = sum(1 for r in records if r.get("type") == "request" and r.get("outcome") == "applied")
            fingerprint = unlearner.fingerprint()
            if persist and replayed:
                self._write_checkpoint(unlearner, records[-1], applied, fingerprint)
            return unlearner, {"applied": applied, "replayed": replayed,
                               "checkpoint": f"ckpt-{meta['seq']:08d}", "fingerprint": fingerprint,
                               "mismatches": sorted(set(mismatches)), "records": len(records)}

    def apply(self, unlearner: Unlearner, request: ForgetRequest) -> UnlearnReport:
        """Serves ``request`` on ``unlearner`` under the protocol above.

        Raises the unlearner's own error (after journaling the rejection) when it rejects
        the request; the state is then unchanged.
        """
        with self.locked():
            tail = self._tail()
            if not tail["count"]:
                raise LedgerError(f"{self.directory} has no init record: call Ledger.init first")
            head = tail["head"]
            before = unlearner.fingerprint()
            if before != head:
                raise LedgerError("the unlearner's state is not the ledger's last state "
                                  "(restore it with Ledger.restore())")
            base = {"type": "request", "timestamp": _now(), "method": unlearner.method_name,
                    "fingerprint_before": before}
            if not isinstance(request, ForgetRequest):
                self._append({**base, "outcome": "rejected", "kind": None, "request": None,
                              "content_hash": None, "items": 0, "fingerprint_after": before,
                              "reason": f"TypeError: expected a ForgetRequest, got {type(request).__name__}"})
                raise TypeError(f"Ledger.apply() expects a ForgetRequest, got {type(request).__name__}")
            base.update(kind=request.kind, request=request.to_dict(), content_hash=request.content_hash(),
                        items=len(request))
            start = time.perf_counter()
            try:
                report = unlearner.unlearn(request)
            except (GraphForgetError, ValueError, TypeError) as exc:
                after = unlearner.fingerprint()
                if after != before:  # a method broke the "state untouched" contract
                    raise LedgerError(f"{unlearner.method_name} changed its state while rejecting a "
                                      f"request ({exc}); restore it with Ledger.restore()") from exc
                self._append({**base, "outcome": "rejected", "fingerprint_after": before,
                              "reason": f"{type(exc).__name__}: {exc}"})
                raise
            after = unlearner.fingerprint()
            record = self._append({**base, "outcome": "applied", "fingerprint_after": after,
                                   "seconds": time.perf_counter() - start, "noop": report.noop,
                                   "certificate": _certificate(report)})
            applied = self._tail()["applied"]
            if applied % self.checkpoint_every == 0:
                self._write_checkpoint(unlearner, record, applied, after)
            return report

    def checkpoint(self, unlearner: Unlearner) -> None:
        """Writes a checkpoint of ``unlearner`` (which must be at the ledger's last state)."""
        with self.locked():
            records = self.records()
            fingerprint = unlearner.fingerprint()
            if not records or fingerprint != _head_fingerprint(records):
                raise LedgerError("the unlearner's state is not the ledger's last state")
            self._write_checkpoint(unlearner, records[-1], self._tail()["applied"], fingerprint)


def _head_fingerprint(records: list[dict[str, Any]]) -> str | None:
    for rec in reversed(records):
        if rec.get("type") == "init" or rec.get("outcome") == "applied":
            return rec.get("fingerprint_after")
    return None


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
                 checkpoint_every: int = 1, config: dict[str, Any] | None = None) -> None:
        self.ledger = Ledger(directory, checkpoint_every=checkpoint_every)
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
