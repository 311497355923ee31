"""Reproduce paper tables with one command: ``graphforget reproduce TABLE [--quick]``.

A table config (``benchmarks/tables/<name>.yaml``) holds a protocol, the paper's numbers
with their citation, a reduced ``quick`` protocol and an estimated run time;
:func:`reproduce` runs its cells (resuming from a cache of finished cells), and writes a
Markdown table with ours beside the paper's, a verdict per cell, and plots. See
``docs/reproduce.md``.
"""

from graphforget.bench.cli import EXTRA_COMMANDS
from graphforget.reproduce._cli import configure, reproduce, run
from graphforget.reproduce._config import (
    TABLES_ENV,
    MethodEntry,
    Reference,
    TableConfig,
    load_all,
    load_table,
    table_names,
    tables_dir,
    validate,
)
from graphforget.reproduce._page import make_results_page
from graphforget.reproduce._plots import make_plots
from graphforget.reproduce._report import compare, direction, render_markdown, summarize_table, verdict
from graphforget.reproduce._runner import CellCache, Job, cell_key, plan, run_table

EXTRA_COMMANDS["reproduce"] = (configure, run)

__all__ = [
    "TableConfig", "MethodEntry", "Reference", "TABLES_ENV", "load_table", "load_all", "table_names",
    "tables_dir", "validate", "plan", "run_table", "Job", "CellCache", "cell_key", "verdict",
    "direction", "compare", "summarize_table", "render_markdown", "make_plots", "make_results_page",
    "reproduce",
]
