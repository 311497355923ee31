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
