r"""SISA training (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021): random shards,
slices with checkpoints, majority vote; on graphs and on non-graph data."""

from __future__ import annotations

from typing import Any

from graphforget._registry import register_method
from graphforget.exact.sharded import ShardedUnlearner
from graphforget.unlearner import Task

__all__ = ["SISA"]


@register_method("sisa")
class SISA(ShardedUnlearner):
    r"""SISA training (Bourtoule et al., "Machine Unlearning", IEEE S&P 2021): random
    shards, optional slices with checkpoints, majority vote by default.

    Works on graphs (backbone per shard, see :class:`ShardedUnlearner`) and on non-graph
    data (a ``Data`` with an empty ``edge_index``, ``model="mlp"``, ``SampleRequest``).

    Args:
        shards (int): ``K``. (default: :obj:`5`)
        slices (int): ``R`` slices per shard. (default: :obj:`1`)
        aggregator (str): (default: :obj:`"majority"`)
        setting (str): (default: :obj:`"inductive"`: shards never see other nodes)
        Other arguments: see :class:`ShardedUnlearner`.
    """

    tasks = (Task.NODE, Task.TABULAR)

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, shards: int = 5, slices: int = 1,
                 aggregator: str = "majority", aggregator_kwargs: dict[str, Any] | None = None,
                 setting: str = "inductive", executor: str = "serial",
                 executor_kwargs: dict[str, Any] | None = None,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype, shards=shards,
                         partition="random", partition_kwargs=None, aggregator=aggregator,
                         aggregator_kwargs=aggregator_kwargs, slices=slices, setting=setting,
                         executor=executor, executor_kwargs=executor_kwargs)
