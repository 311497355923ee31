"""Executor.as_completed: every job's result exactly once, as soon as it exists."""

from __future__ import annotations

import operator

import pytest

from graphforget.executor import make_executor


def test_serial_as_completed_is_lazy_and_in_order():
    calls = []

    def f(a, b):
        calls.append(a)
        return a * b

    it = make_executor("serial").as_completed(f, [(1, 2), (3, 4), (5, 6)])
    assert next(it) == (0, 2) and calls == [1]  # the first result comes before the second job runs
    assert list(it) == [(1, 12), (2, 30)]


def test_process_as_completed_returns_every_job_once():
    ex = make_executor("process", workers=2)
    try:
        jobs = [(i, i + 1) for i in range(7)]
        out = dict(ex.as_completed(operator.mul, jobs))
        assert out == {i: i * (i + 1) for i in range(7)}
        # a failing job raises in the caller, naming the worker's error
        with pytest.raises(ZeroDivisionError):
            list(ex.as_completed(operator.truediv, [(1, 1), (1, 0)]))
        # the pool survives and serves the next call
        assert ex.map(operator.add, [(1, 2)]) == [3]
    finally:
        ex.close()


def test_ray_as_completed_returns_every_job_once():
    pytest.importorskip("ray")
    ex = make_executor("ray")
    assert dict(ex.as_completed(operator.mul, [(i, 2) for i in range(5)])) == {i: 2 * i for i in range(5)}
