"""Shared fixtures of the trust tests: a tiny graph and a fast exact method."""

from __future__ import annotations

import functools

import torch

from graphforget.exact.retrain import Retrain
from graphforget.testing import small_graph

torch.set_num_threads(1)  # the CI machine has 2 shared cores; avoid oversubscription


@functools.lru_cache(maxsize=1)
def tiny_graph():
    return small_graph(num_nodes=60, num_features=6, seed=3)


def fast_retrain(**kw) -> Retrain:
    params = {"epochs": 3, "hidden_channels": 8, "seed": 0}
    params.update(kw)
    return Retrain(**params)


def train_ids(data, k: int) -> list[int]:
    return data.train_mask.nonzero().view(-1)[:k].tolist()
