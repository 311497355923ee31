r"""Aggregators: how the shard models' outputs become one prediction.

Every aggregator receives the shard log-probabilities ``[K, n, C]`` and returns one row
of scores (log-probabilities) per node. Each declares ``depends_on``: the data its own
fit used. A sharded unlearner refits an aggregator with a non-empty ``depends_on`` after
a request when its inputs changed (a shard was retrained, or a forgotten item lay in
the data it was fitted on); aggregators that depend on nothing are never refitted.

=============  =======================================================  ============
name           rule                                                     depends on
=============  =======================================================  ============
``mean``       :math:`\log \frac1K\sum_i p_i` (probability space)          nothing
``mean-log``   :math:`\frac1K\sum_i \log p_i` (log space, as the           nothing
               official GraphEraser code averages)
``majority``   most shard votes; ties go to the larger mean probability   nothing
``learned``    :math:`\log\sum_i w_i p_i`, :math:`w\ge 0, \sum w = 1`,      validation
               fitted with cross-entropy + :math:`\lambda\|w\|^2` on the   nodes and
               validation mask (GraphEraser's optimal aggregation)        shard outputs
=============  =======================================================  ============
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget._registry import normalize, resolve
from graphforget.errors import GraphForgetError

__all__ = ["Aggregator", "MeanAggregator", "MeanLogAggregator", "MajorityAggregator",
           "LearnedAggregator", "make_aggregator", "aggregator_names", "register_aggregator"]


class Aggregator:
    """Base class. ``fit(log_probs, y)`` (a no-op for data-free rules) then
    ``combine(log_probs) -> [n, C]`` log-probabilities."""

    name: ClassVar[str] = "abstract"
    #: the data :meth:`fit` reads; empty = the rule is fixed and never refitted
    depends_on: ClassVar[tuple[str, ...]] = ()

    @property
    def needs_fit(self) -> bool:
        return bool(self.depends_on)

    def fit(self, log_probs: Tensor, y: Tensor) -> Aggregator:
        return self

    def combine(self, log_probs: Tensor) -> Tensor:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass


class MeanAggregator(Aggregator):
    """Average of the shard probabilities (returned as log-probabilities)."""

    name = "mean"

    def combine(self, log_probs: Tensor) -> Tensor:
        return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.size(0))


class MeanLogAggregator(Aggregator):
    """Average of the shard log-probabilities (a geometric mean of probabilities)."""

    name = "mean-log"

    def combine(self, log_probs: Tensor) -> Tensor:
        return torch.log_softmax(log_probs.mean(dim=0), dim=-1)


class MajorityAggregator(Aggregator):
    """Each shard votes for its arg-max class; the most votes win, ties go to the class
    with the larger mean probability. Returns log vote shares (tie-break folded in)."""

    name = "majority"

    def combine(self, log_probs: Tensor) -> Tensor:
        k, n, c = log_probs.shape
        votes = F.one_hot(log_probs.argmax(dim=-1), c).sum(dim=0).to(log_probs.dtype)
        mean = log_probs.exp().mean(dim=0)
        share = (votes + 1e-3 * mean) / (k + 1e-3)
        return share.clamp_min(1e-12).log()


class LearnedAggregator(Aggregator):
    r"""Non-negative, normalised shard weights :math:`w` minimising

    .. math::
        -\frac{1}{|V|}\sum_{v \in V} \log \sum_i w_i\, p_i(y_v \mid v) + \lambda \|w\|_2^2,
        \qquad w \ge 0,\ \textstyle\sum_i w_i = 1

    over the validation nodes :math:`V` (projected Adam: clamp at 0, renormalise). Full
    batch and deterministic. Unlike the official code (fitted once on training nodes the
    shards saw, never refitted), it is fitted on held-out nodes and refitted by
    ``unlearn`` whenever its inputs change.

    Args:
        l2 (float): :math:`\lambda`. (default: :obj:`0.01`)
        epochs (int): Adam steps. (default: :obj:`200`)
        lr (float): Adam learning rate. (default: :obj:`0.05`)
    """

    name = "learned"
    depends_on = ("validation nodes", "shard outputs")

    def __init__(self, l2: float = 0.01, epochs: int = 200, lr: float = 0.05) -> None:
        self.l2, self.epochs, self.lr = float(l2), int(epochs), float(lr)
        self.weights_: Tensor | None = None

    def fit(self, log_probs: Tensor, y: Tensor) -> LearnedAggregator:
        k = log_probs.size(0)
        if log_probs.size(1) == 0:
            raise GraphForgetError(
                "the learned aggregator is fitted on validation nodes, but data.val_mask is "
                "empty: use a split with a validation part (e.g. 0.6/0.2/0.2) or another aggregator")
        picked = log_probs.detach().gather(2, y.view(1, -1, 1).expand(k, -1, 1)).squeeze(2)
        w = torch.full((k,), 1.0 / k, requires_grad=True)
        opt = torch.optim.Adam([w], lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad()
            wn = w / w.sum().clamp_min(1e-12)
            loss = -torch.logsumexp(picked + wn.clamp_min(1e-12).log().view(-1, 1), dim=0).mean()
            loss = loss + self.l2 * (wn * wn).sum()
            loss.backward()
            opt.step()
            with torch.no_grad():
                w.clamp_(min=0.0)
                if float(w.sum()) == 0.0:
                    w.fill_(1.0 / k)
        with torch.no_grad():
            self.weights_ = (w / w.sum()).detach().clone()
        return self

    def combine(self, log_probs: Tensor) -> Tensor:
        if self.weights_ is None:
            raise GraphForgetError("the learned aggregator is not fitted")
        if self.weights_.numel() != log_probs.size(0):
            raise GraphForgetError(
                f"learned aggregator has {self.weights_.numel()} weights for {log_probs.size(0)} shards")
        logw = self.weights_.clamp_min(1e-30).log().view(-1, 1, 1)
        return torch.logsumexp(log_probs + logw, dim=0)

    def get_state(self) -> dict[str, Any]:
        return {"weights": None if self.weights_ is None else self.weights_.clone()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.weights_ = state.get("weights")


_AGGREGATORS: dict[str, type[Aggregator]] = {
    normalize(c.name): c for c in (MeanAggregator, MeanLogAggregator, MajorityAggregator,
                                   LearnedAggregator)}


def register_aggregator(cls: type[Aggregator]) -> type[Aggregator]:
    """Class decorator: makes an aggregator available to :func:`make_aggregator` by name."""
    _AGGREGATORS[normalize(cls.name)] = cls
    return cls


def aggregator_names() -> list[str]:
    return [c.name for c in _AGGREGATORS.values()]


def make_aggregator(name: str | Aggregator, **kwargs: Any) -> Aggregator:
    """An aggregator by name (``mean``, ``mean-log``, ``majority``, ``learned``)."""
    if isinstance(name, Aggregator):
        return name
    cls = resolve(name, _AGGREGATORS, "aggregator")
    return cls(**kwargs)
