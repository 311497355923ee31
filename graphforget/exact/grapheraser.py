r"""GraphEraser (Chen et al., "Graph Unlearning", CCS 2022): one GNN per graph partition,
aggregated posteriors; exact with respect to the partition."""

from __future__ import annotations

from typing import Any, ClassVar

from graphforget._registry import register_method
from graphforget.exact.sharded import ShardedUnlearner
from graphforget.unlearner import Task

__all__ = ["GraphEraser"]


@register_method("grapheraser", "graph-eraser")
class GraphEraser(ShardedUnlearner):
    r"""GraphEraser (Chen et al., "Graph Unlearning", CCS 2022): balanced graph
    partitions, one GNN per shard, aggregation of the shard posteriors.

    .. math::
        \hat{y}(v) = \arg\max_c\ \mathrm{AGG}\big(f_1(v), \dots, f_K(v)\big)_c,
        \qquad f_i = \mathrm{train}\big(G[S_i \cup E],\ S_i\big)

    Exact with respect to the (fixed) partition: after a request, every shard equals a
    fresh training of that shard on its retained data with the same per-shard seed.

    Args:
        shards (int): ``K``. (default: :obj:`8`)
        partition (str): ``random``, ``blpa``, ``louvain``, ``bekm`` or ``metis``.
            (default: :obj:`"blpa"`)
        aggregator (str): ``mean``, ``mean-log``, ``majority`` or ``learned``.
            (default: :obj:`"mean"`)
        setting (str): ``"transductive"`` (GraphEraser's) or ``"inductive"``.
        Other arguments: see :class:`ShardedUnlearner`.
    """

    tasks = (Task.NODE,)

    demo_params: ClassVar[dict[str, Any]] = {"shards": 4}

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, shards: int = 8,
                 partition: str = "blpa", partition_kwargs: dict[str, Any] | None = None,
                 aggregator: str = "mean", aggregator_kwargs: dict[str, Any] | None = None,
                 setting: str = "transductive", executor: str = "serial",
                 executor_kwargs: dict[str, Any] | None = None,
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype, shards=shards,
                         partition=partition, partition_kwargs=partition_kwargs,
                         aggregator=aggregator, aggregator_kwargs=aggregator_kwargs, slices=1,
                         setting=setting, executor=executor, executor_kwargs=executor_kwargs)
