"""What ``graphforget list`` prints, cached so that listing does not import every module.

Discovering the methods imports the whole package (torch, torch_geometric and every
method: seconds). The listing is therefore computed once and kept in
``$GRAPHFORGET_CACHE`` (default: the temp folder) under a key made of the path, size
and modification time of every source file of the package: any edit, install or
upgrade changes the key, so a stale listing is never shown. Without a writable cache
the listing is computed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["listing", "compute_listing", "index_key"]

_PACKAGE = Path(__file__).resolve().parent


def index_key() -> str:
    """A hash of the package's source files (path, size, mtime) and the Python version."""
    h = hashlib.sha256(f"{sys.version_info[:2]}|{_PACKAGE}".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(_PACKAGE)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _cache_file() -> Path:
    env = os.environ.get("GRAPHFORGET_CACHE")
    base = Path(env) if env else Path(tempfile.gettempdir()) / "graphforget-datasets"
    return base / "cli" / f"list-{index_key()}.json"


def compute_listing() -> dict[str, Any]:
    """Methods (guarantee, tasks, request kinds), datasets, models and tasks, by import."""
    from graphforget._registry import method_names, resolve_method
    from graphforget.bench.tasks import task_names
    from graphforget.data import dataset_names
    from graphforget.models import model_names

    methods = []
    for name in method_names():
        cls = resolve_method(name)
        entry = {"name": name, "guarantee": cls.guarantee.value, "tasks": [t.value for t in cls.tasks],
                 "requests": [r.kind for r in cls.supported_requests]}
        if cls.task_requests:  # kinds served on some tasks only
            entry["task_requests"] = {t: [r.kind for r in kinds] for t, kinds in cls.task_requests.items()}
        methods.append(entry)
    return {"methods": methods, "datasets": list(dataset_names()), "models": list(model_names()),
            "tasks": list(task_names())}


def listing(use_cache: bool = True) -> dict[str, Any]:
    """:func:`compute_listing`, read from the cache when the package is unchanged."""
    if not use_cache:
        return compute_listing()
    path = _cache_file()
    try:
        cached = json.loads(path.read_text())
        if isinstance(cached, dict) and set(cached) == {"methods", "datasets", "models", "tasks"}:
            return cached
    except (OSError, ValueError):
        pass
    out = compute_listing()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out))
        os.replace(tmp, path)
        for old in path.parent.glob("list-*.json"):  # listings of earlier versions
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:  # a read-only cache only costs the speed
        pass
    return out
