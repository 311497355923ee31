"""``graphforget reproduce``: run a table config, write Markdown beside the paper's numbers."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from graphforget.errors import GraphForgetError

__all__ = ["configure", "run", "default_out", "default_cache", "reproduce"]


def default_out(tables: Path) -> Path:
    """``benchmarks/results`` of the source tree when the tables are the checkout's, else
    the current directory (an installed package never writes into site-packages)."""
    from graphforget.reproduce._config import source_tables_dir

    source = source_tables_dir()
    if source is not None and tables.resolve() == source.resolve():
        return source.parent / "results"
    return Path.cwd()


def default_cache(table: str) -> Path:
    """``$GRAPHFORGET_CACHE/reproduce/<table>`` (default ``~/.cache/graphforget``)."""
    base = os.environ.get("GRAPHFORGET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "graphforget")
    return Path(base) / "reproduce" / table


def configure(p: argparse.ArgumentParser) -> None:
    p.description = "Reproduce a paper table from benchmarks/tables/TABLE.yaml."
    p.add_argument("table", nargs="?", default=None, help="table name (see --list) or a .yaml path")
    p.add_argument("--list", action="store_true", help="list the tables and their estimated run time")
    p.add_argument("--quick", action="store_true", help="run the documented reduced protocol")
    p.add_argument("--executor", default="serial", choices=("serial", "process", "ray"),
                   help="serial (default); process: cells in worker processes; ray: cells here, "
                        "the shards of sharded methods as Ray tasks")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: 'auto' joins the running cluster, HOST:PORT or "
                        "ray://HOST:10001 that one (default: start a local Ray)")
    p.add_argument("--out", default=None, help="output directory (default: benchmarks/results in a "
                   "source checkout, else the current directory)")
    p.add_argument("--tables", default=None,
                   help="table config directory (default $GRAPHFORGET_TABLES or benchmarks/tables)")
    p.add_argument("--cache", default=None,
                   help="cache of finished cells (default $GRAPHFORGET_CACHE/reproduce/TABLE)")
    p.add_argument("--root", default=None, help="data root (default $GRAPHFORGET_DATA)")
    p.add_argument("--fresh", action="store_true", help="ignore cached cells (recompute and overwrite)")
    p.add_argument("--from-results", action="store_true",
                   help="take the cells of the table's results JSON (an earlier run) whose protocol is "
                        "unchanged, and run only the others: re-renders a page after its notes or "
                        "references changed")
    p.add_argument("--no-plots", action="store_true", help="write no plots")
    p.add_argument("--page", action="store_true",
                   help="regenerate docs/results.md from the results directory (after running TABLE, if given)")


def _list(tables: str | None) -> int:
    from graphforget.bench.cli import _console
    from graphforget.reproduce._config import load_all, tables_dir

    console = _console()
    configs = load_all(tables)
    console.print(f"tables in {tables_dir(tables)}:")
    for c in configs:
        est = c.estimated_minutes
        console.print(f"  {c.name:<34} full ~{est['full']:g} min, --quick ~{est['quick']:g} min  {c.title}")
    return 0


def _executor_kwargs(executor: Any, ray_address: str | None) -> dict[str, Any] | None:
    if ray_address is None:
        return None
    if executor != "ray":
        raise GraphForgetError(f"--ray-address needs --executor ray, not {executor!r}")
    return {"address": ray_address}


def reproduce(table: str, quick: bool = False, executor: str = "serial", out: str | os.PathLike | None = None,
              tables: str | None = None, cache: str | os.PathLike | None = None, root: str | None = None,
              plots: bool = True, fresh: bool = False, command: str | None = None,
              progress: Any = None, ray_address: str | None = None,
              from_results: bool = False) -> dict[str, Any]:
    """Runs a table and writes ``<out>/<table>[_quick].md`` (+ ``.json`` and plots).

    ``from_results=True`` first takes every planned cell whose key is in the table's
    results file (``<out>/<table>[_quick].json``, written by an earlier run) into the cache,
    so a page re-renders after its config's notes, references or verdict rules changed
    without recomputing cells whose protocol did not.

    ``executor="ray"`` trains the shards of sharded methods as Ray tasks on a local Ray
    (``ray_address=None``) or the cluster at ``ray_address`` (``"auto"``: the running one).

    Returns ``{"markdown": path, "json": path, "plots": [...], "results": [(job, record)]}``."""
    from graphforget.reproduce._config import load_table, tables_dir
    from graphforget.reproduce._page import MARKER
    from graphforget.reproduce._plots import make_plots
    from graphforget.reproduce._report import render_markdown
    from graphforget.reproduce._runner import plan, run_table

    executor_kwargs = _executor_kwargs(executor, ray_address)
    config = load_table(table, tables).effective(quick)
    out_dir = Path(out) if out else default_out(tables_dir(tables))
    cache_dir = Path(cache) if cache else default_cache(config.name + ("-quick" if quick else ""))
    jobs = plan(config, root)  # fails before any training on a missing method or bad value
    from graphforget.bench._paths import atomic_write_text, check_output_dir

    check_output_dir(out_dir, "--out")  # before the work, not after it
    if fresh:
        for job in jobs:
            (cache_dir / f"{job.key}.json").unlink(missing_ok=True)
    stem = config.name + ("_quick" if quick else "")
    from graphforget.reproduce._runner import CellCache

    if from_results and (out_dir / f"{stem}.json").is_file():
        try:
            saved = {e["key"]: e["record"] for e in json.loads((out_dir / f"{stem}.json").read_text())}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise GraphForgetError(f"{out_dir / (stem + '.json')} is not a results file: {exc}") from None
        cache = CellCache(cache_dir)
        for job in jobs:
            if job.key in saved and cache.get(job.key) is None:
                cache.put(job, saved[job.key], None, finished=None)
    cached = sum(CellCache(cache_dir).get(job.key) is not None for job in jobs)
    start = time.perf_counter()
    results = run_table(config, cache_dir, executor=executor, root=root, progress=progress, jobs=jobs,
                        executor_kwargs=executor_kwargs)
    wall = time.perf_counter() - start
    plot_paths = make_plots(results, out_dir / "plots", stem, config.name) if plots else []
    rel_plots = [os.path.relpath(p, out_dir) for p in plot_paths]
    command = command or f"graphforget reproduce {config.name}" + (" --quick" if quick else "") + (
        " --from-results" if from_results else "")
    provenance = CellCache(cache_dir).provenance([job.key for job in jobs])
    text = MARKER.format(name=stem) + "\n" + render_markdown(config, results, command, quick, rel_plots, wall, cached,
                                                             provenance)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{stem}.md"
    atomic_write_text(md, text)
    js = out_dir / f"{stem}.json"
    atomic_write_text(js, json.dumps([{"kind": j.kind, "label": j.label, "dataset": j.dataset, "seed": j.seed,
                                       "key": j.key, "record": r} for j, r in results], indent=1, default=str))
    return {"markdown": str(md), "json": str(js), "plots": plot_paths, "results": results}


def run(args: argparse.Namespace) -> int:
    from graphforget.bench.cli import _console
    from graphforget.reproduce._config import tables_dir
    from graphforget.reproduce._page import SITE_RESULTS, make_results_page

    if args.list:
        return _list(args.tables)
    if args.table is None and not args.page:
        raise GraphForgetError("reproduce needs TABLE (see `graphforget reproduce --list`) or --page")
    console = _console(stderr=True)
    if args.table is not None:
        command = "graphforget " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
            if sys.argv[1:2] == ["reproduce"] else None

        def progress(done: int, total: int, cached: int) -> None:
            console.print(f"reproduce: {done}/{total} cells done ({cached} from cache)")

        out = reproduce(args.table, quick=args.quick, executor=args.executor, out=args.out, tables=args.tables,
                        cache=args.cache, root=args.root, plots=not args.no_plots, fresh=args.fresh,
                        from_results=args.from_results,
                        command=command, progress=progress, ray_address=args.ray_address)
        _console().print(Path(out["markdown"]).read_text())
        console.print(f"wrote {out['markdown']}, {out['json']} and {len(out['plots'])} plot files")
    if args.page:
        results = Path(args.out) if args.out else default_out(tables_dir(args.tables))
        docs = Path(__file__).resolve().parents[2] / "docs"
        if not docs.is_dir():
            raise GraphForgetError("--page regenerates docs/results.md of a source checkout; "
                                   "this graphforget is installed without one")
        page = docs / "results.md"
        make_results_page(results, page, link_base=SITE_RESULTS)
        console.print(f"wrote {page}")
    return 0
