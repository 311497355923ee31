"""MkDocs hook: serves ``benchmarks/results/`` (Markdown tables, plots, JSON) under
``results/`` of the documentation site, so that ``docs/results.md`` links inside the
site and ``mkdocs build --strict`` checks those links. Nothing is copied into
``docs/``: the files are added to the build from where the benchmarks write them.

Registered in ``mkdocs.yml`` under ``hooks:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent / "results"
SITE_FOLDER = "results"  # graphforget.reproduce._page.SITE_RESULTS
SUFFIXES = {".md", ".png", ".svg", ".json"}


def on_files(files: Files, config: Any) -> Files:
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            uri = f"{SITE_FOLDER}/{path.relative_to(RESULTS).as_posix()}"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files
