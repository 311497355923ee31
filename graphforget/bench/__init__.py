"""Benchmark runner, tasks and the command line (names imported on first access, so
that the command line starts without torch)."""

from graphforget._moved import lazy_exports

_LAZY = {name: "graphforget.bench.runner" for name in
         ("RECORD_FIELDS", "CellSpec", "run_bench", "run_cell", "summarize", "to_markdown")}
_LAZY.update({name: "graphforget.bench.tasks" for name in ("BenchTask", "register_task", "resolve_task")})
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["CellSpec", "RECORD_FIELDS", "run_cell", "run_bench", "summarize", "to_markdown",
           "BenchTask", "register_task", "resolve_task"]
