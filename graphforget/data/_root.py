"""Where datasets live.

The data root resolves from the ``root`` argument, else the environment variable
``GRAPHFORGET_DATA``, else ``~/.cache/graphforget/datasets`` (where PyG downloads as
usual). A root that cannot be written (a read-only shared folder) is never written
into: its raw files are copied once into a writable cache (``GRAPHFORGET_CACHE``, else
``<tmp>/graphforget-datasets``), where PyG then builds ``processed/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["data_root", "cache_root", "dataset_dir"]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The resolved data root (not created)."""
    if root is not None:
        return Path(root).expanduser().resolve()
    env = os.environ.get("GRAPHFORGET_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return Path.home().joinpath(".cache", "graphforget", "datasets")


def cache_root() -> Path:
    env = os.environ.get("GRAPHFORGET_CACHE")
    base = Path(env) if env else Path(tempfile.gettempdir()) / "graphforget-datasets"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists():
        probe = probe.parent
    # root passes os.access() even without write bits, so look at the bits as well:
    # a folder shipped without write bits is meant to stay untouched.
    mode = probe.stat().st_mode
    return os.access(probe, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def dataset_dir(sub: str, root: str | os.PathLike | None = None, create: bool = True) -> str:
    """The folder to hand to a PyG dataset class for ``root/sub``.

    A writable root is used as is (PyG downloads into it when files are missing);
    a read-only one is mirrored into the cache, copying everything but ``processed``.
    With ``create=False`` a missing folder is not created (only its parent is), for
    loaders such as OGB's that treat an existing folder as a finished download.
    """
    base = data_root(root)
    src = base / sub
    if _writable(src):
        (src if create else src.parent).mkdir(parents=True, exist_ok=True)
        return str(src)
    # read-only root: copy its raw files once into a cache keyed by the root's path
    key = hashlib.sha256(str(base).encode()).hexdigest()[:12]
    dst = cache_root() / key / sub
    if src.exists() and not dst.exists():
        tmp = dst.with_name(dst.name + f".tmp-{os.getpid()}")
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("processed"),
                        copy_function=shutil.copy)
        for folder, _dirs, _files in os.walk(tmp):  # copies keep no read-only bits
            os.chmod(folder, 0o755)
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, dst)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    (dst if create or src.exists() else dst.parent).mkdir(parents=True, exist_ok=True)
    return str(dst)
