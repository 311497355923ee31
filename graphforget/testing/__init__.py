"""Test helpers: the conformance suite every unlearner must pass, and small graphs."""

from graphforget.testing._checks import check_unlearner, small_graph

__all__ = ["check_unlearner", "small_graph"]
