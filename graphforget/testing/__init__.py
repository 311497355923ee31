"""Test helpers: the conformance suite every unlearner must pass, and small graphs."""

from graphforget.testing._checks import check_moves_toward_retrain, check_unlearner, small_graph

__all__ = ["check_unlearner", "check_moves_toward_retrain", "small_graph"]
