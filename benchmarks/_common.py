"""Shared header of benchmark result files (run scripts as ``python benchmarks/NAME.py``:
this folder is then on ``sys.path``)."""

from __future__ import annotations

import datetime
import os
import platform

import torch

#: load average when the script started (the machine is shared)
LOAD = os.getloadavg()[0]


def header(command: str) -> list[str]:
    """The command, machine, load, torch version and threads, and the UTC date."""
    return [f"Command: `{command}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs; load "
            f"average at the start {LOAD:.2f}), torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; date (UTC): "
            f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')}", ""]
