"""Output paths checked before the work, and written atomically.

A benchmark that runs for an hour and then fails on ``--json /read-only/out.json``
loses its results; :func:`check_output_file` and :func:`check_output_dir` fail in
milliseconds instead (a :class:`~graphforget.errors.GraphForgetError`: one line, exit
status 2 at the CLI). :func:`atomic_write_text` writes a temporary file next to the
target and renames it over the target, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from graphforget.errors import GraphForgetError

__all__ = ["check_output_file", "check_output_dir", "atomic_write_text"]


def _probe_dir(folder: Path, what: str) -> None:
    """Creates and removes a temporary file in ``folder`` (``os.access`` is wrong for
    root, read-only mounts and some network file systems)."""
    # root may write anywhere, but a folder without write bits is meant to stay
    # untouched (the convention of graphforget.data's read-only roots)
    if not folder.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise GraphForgetError(f"{what}: the folder {str(folder)!r} is read-only")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".graphforget-probe-"):
            pass
    except OSError as exc:
        raise GraphForgetError(f"{what}: cannot write into {str(folder)!r} "
                               f"({exc.strerror or type(exc).__name__})") from None


def check_output_file(path: str | os.PathLike, what: str = "output") -> Path:
    """Checks that ``path`` can be written as a file: not a directory, its parent an
    existing writable directory. Returns it as a :class:`~pathlib.Path`.

    Raises:
        GraphForgetError: naming the flag (``what``) and the path.
    """
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise GraphForgetError(f"{what}: {str(path)!r} is a directory; expected a file path")
    parent = p.parent
    if not parent.exists():
        raise GraphForgetError(f"{what}: the folder {str(parent)!r} of {str(path)!r} does not exist")
    if not parent.is_dir():
        raise GraphForgetError(f"{what}: {str(parent)!r} is not a folder (in {str(path)!r})")
    if p.exists() and not os.access(p, os.W_OK):
        raise GraphForgetError(f"{what}: {str(path)!r} exists and is not writable")
    _probe_dir(parent, what)
    return p


def check_output_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Checks that ``path`` is (or can be created as) a writable directory; nothing is
    created. Returns it as a :class:`~pathlib.Path`."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise GraphForgetError(f"{what}: {str(path)!r} exists and is not a folder")
    probe = p
    while not probe.exists():  # the nearest existing ancestor must accept new entries
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise GraphForgetError(f"{what}: {str(probe)!r} is not a folder (in {str(path)!r})")
    _probe_dir(probe, what)
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` to ``path`` through a temporary file in the same folder and
    :func:`os.replace` (atomic on POSIX and Windows)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p
