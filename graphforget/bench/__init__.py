"""Benchmark runner, tasks and the command line."""

from graphforget.bench.runner import RECORD_FIELDS, CellSpec, run_bench, run_cell, summarize, to_markdown
from graphforget.bench.tasks import BenchTask, register_task, resolve_task

__all__ = ["CellSpec", "RECORD_FIELDS", "run_cell", "run_bench", "summarize", "to_markdown",
           "BenchTask", "register_task", "resolve_task"]
