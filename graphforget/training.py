r"""One training loop shared by every method.

Full-batch training with Adam on the cross-entropy of the training mask, plus the
L2 term :math:`\frac{\lambda}{2}\|\theta\|^2` that Adam's ``weight_decay=λ`` adds to
the gradient (influence methods need to know the objective actually optimised:
see :func:`training_objective`). Seeded without touching the global RNG, and
deterministic on CPU.

By default there is no per-epoch evaluation: that is the fair retraining baseline.
``patience`` turns on early stopping on the validation mask (best validation
accuracy's parameters are restored).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.user_model import UserModel, _anchor, _move

__all__ = ["seeded", "TrainConfig", "train_node_classifier", "training_objective",
           "forward", "num_classes"]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Runs the block with torch's CPU RNG seeded, restoring the global RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_node_classifier`.

    Args:
        epochs: full-batch epochs. (default: :obj:`200`)
        lr: Adam learning rate. (default: :obj:`0.01`)
        weight_decay: L2 coefficient λ (Adam adds λθ to the gradient). (default: :obj:`5e-4`)
        patience: early stopping on validation accuracy; ``None`` trains all epochs
            without evaluating. (default: :obj:`None`)
    """

    epochs: int = 200
    lr: float = 0.01
    weight_decay: float = 5e-4
    patience: int | None = None

    def __post_init__(self) -> None:
        if int(self.epochs) < 0:
            raise GraphForgetError(f"epochs must be >= 0, got {self.epochs}")
        if not float(self.lr) > 0:
            raise GraphForgetError(f"lr must be > 0, got {self.lr}")
        if float(self.weight_decay) < 0:
            raise GraphForgetError(f"weight_decay must be >= 0, got {self.weight_decay}")


def num_classes(data: Data) -> int:
    """Number of classes (``data.num_classes`` if set, else ``max(y) + 1``)."""
    nc = getattr(data, "num_classes", None)
    if isinstance(nc, int):
        return nc
    if isinstance(nc, Tensor):
        return int(nc)
    return int(data.y.max()) + 1


def forward(model: torch.nn.Module, data: Data) -> Tensor:
    """Runs a backbone on a graph (edge weights used when present).

    A :class:`~graphforget.user_model.UserModel` runs its own way (``forward_fn``). Inputs
    follow the model's device and dtype; the output comes back on the data's device."""
    if isinstance(model, UserModel):
        return model.run(data)
    moved = _move(data, _anchor(model))
    ew = getattr(moved, "edge_weight", None)
    if ew is not None:
        out = model(moved.x, moved.edge_index, edge_weight=ew)
    else:
        out = model(moved.x, moved.edge_index)
    if moved is not data and out.device != data.x.device:
        out = out.to(data.x.device)
    return out


def training_objective(model: torch.nn.Module, data: Data, mask: Tensor,
                       weight_decay: float = 0.0, reduction: str = "mean") -> Tensor:
    r"""The loss :func:`train_node_classifier` minimises:
    :math:`\frac{1}{|M|}\sum_{i\in M}\ell_i + \frac{\lambda}{2}\|\theta\|^2`
    (``reduction="sum"`` gives :math:`\sum_i \ell_i` instead of the mean)."""
    out = forward(model, data)
    loss = F.cross_entropy(out[mask], data.y[mask], reduction=reduction)
    if weight_decay:
        loss = loss + 0.5 * weight_decay * sum((p * p).sum() for p in model.parameters()
                                                if p.requires_grad)
    return loss


def train_node_classifier(model: torch.nn.Module, data: Data, config: TrainConfig | None = None,
                          seed: int | None = None, mask: Tensor | None = None,
                          loss_fn: Callable[[torch.nn.Module, Data, Tensor], Tensor] | None = None,
                          ) -> dict[str, list[float]]:
    """Trains ``model`` on ``data`` (in place) and returns the loss history.

    Args:
        model: a backbone from :mod:`graphforget.models` (already initialised).
        data: graph with ``x``, ``edge_index``, ``y`` and ``train_mask``.
        config: :class:`TrainConfig`. (default: :obj:`TrainConfig()`)
        seed: seeds dropout (``None`` leaves the RNG as is).
        mask: training nodes. (default: ``data.train_mask``)
        loss_fn: replaces the cross-entropy on ``mask``.
    """
    config = config or TrainConfig()
    mask = data.train_mask if mask is None else mask
    if int(mask.sum()) == 0:
        raise GraphForgetError("no training nodes left to train on")
    history: dict[str, list[float]] = {"loss": []}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                           lr=config.lr, weight_decay=config.weight_decay)
    use_val = config.patience is not None and getattr(data, "val_mask", None) is not None \
        and bool(data.val_mask.any())
    best_acc, best_state, bad = -1.0, None, 0
    with seeded(seed):
        for _ in range(int(config.epochs)):
            model.train()
            opt.zero_grad()
            if loss_fn is None:
                out = forward(model, data)
                loss = F.cross_entropy(out[mask], data.y[mask])
            else:
                loss = loss_fn(model, data, mask)
            loss.backward()
            opt.step()
            history["loss"].append(float(loss.detach()))
            if use_val:
                model.eval()
                with torch.no_grad():
                    pred = forward(model, data).argmax(-1)
                acc = float((pred[data.val_mask] == data.y[data.val_mask]).float().mean())
                if acc > best_acc:
                    best_acc, best_state, bad = acc, copy.deepcopy(model.state_dict()), 0
                else:
                    bad += 1
                    if bad > int(config.patience):  # type: ignore[arg-type]
                        break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
