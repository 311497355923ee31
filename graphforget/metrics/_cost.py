"""Wall time and peak resident memory of a call."""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the lifetime peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_mb() -> float:
    """Lifetime peak resident memory of this process in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Measurement:
    """Filled in by :func:`measure`: ``seconds`` and ``peak_memory_mb`` (peak resident
    memory during the block, sampled every ``interval`` seconds; ``delta_memory_mb`` is
    that peak minus the memory held when the block started). ``cpu_seconds`` is the CPU
    time (user + system, all threads) the process spent in the block: on a shared machine
    it is far less sensitive to other jobs than the wall time."""

    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    delta_memory_mb: float = 0.0
    cpu_seconds: float = 0.0


@contextlib.contextmanager
def measure(interval: float = 0.005) -> Iterator[Measurement]:
    """Times a block and samples its peak resident memory.

    Example::

        with measure() as m:
            unlearner.unlearn(request)
        print(m.seconds, m.peak_memory_mb)
    """
    result = Measurement()
    base = _rss_bytes()
    peak = [base]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.cpu_seconds = time.process_time() - cpu_start
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes())
        result.peak_memory_mb = peak[0] / 2**20
        result.delta_memory_mb = (peak[0] - base) / 2**20
