"""The library's error classes.

Every error raised for bad user input derives from :class:`GraphForgetError`,
which is also a :class:`ValueError`, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class GraphForgetError(ValueError):
    """Base class of every input error raised by graphforget."""


class InvalidRequestError(GraphForgetError):
    """A forget request does not fit the data it refers to (bad ids, shapes, ...)."""


class UnsupportedRequestError(GraphForgetError):
    """The unlearner cannot serve this kind of request (or this task)."""


class UnsupportedModelError(GraphForgetError):
    """The method cannot work with this backbone (the message lists the ones it can)."""


class NotFittedError(GraphForgetError, AttributeError):
    """``unlearn``/``predict`` was called before ``fit``."""


class UnknownNameError(GraphForgetError, KeyError):
    """A method, model, dataset or option name could not be resolved."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SolverError(GraphForgetError, ArithmeticError):
    """A numerical solver diverged or produced non-finite values."""


class JobFailedError(GraphForgetError):
    """A job run by an executor (a shard's training, a benchmark cell) failed; the message
    names the job (``shard 3 failed: RuntimeError: ...``) and ``__cause__`` holds the
    original error where one came back.

    Attributes:
        job (int): the job's position in the submitted list.
        label (str): ``"shard 3"``, ``"cell sisa on cora (seed 0)"`` or ``"job 5"``.
    """

    def __init__(self, message: str, job: int = -1, label: str = "") -> None:
        super().__init__(message)
        self.job, self.label = job, label

    def __reduce__(self) -> tuple:  # picklable with its attributes (errors cross processes)
        return (type(self), (str(self), self.job, self.label))


class MissingDependencyError(GraphForgetError, ImportError):
    """An optional package a feature needs is not installed (the message says which extra)."""
