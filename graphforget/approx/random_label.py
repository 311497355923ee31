r"""Random labelling (RL): fine-tune the forget set with random wrong labels, interleaved with the retained set."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
)

__all__ = ["RandomLabel"]


def _random_wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    shift = torch.randint(1, num_classes, y.shape, generator=generator)
    return (y + shift) % num_classes


@register_method("random-label", "random-labelling", "rl")
class RandomLabel(VisionApproximateUnlearner):
    r"""Random labelling ("RL"; Golatkar et al., 2020; as run by SalUn, Fan et al., ICLR 2024):
    relabel every forget sample with a uniformly drawn *wrong* class (redrawn each epoch)
    and train on it together with the retained data,

    .. math::
        \min_\theta\ \ell(B_r) + \ell(B_f, \tilde y),\qquad \tilde y \sim U(\{1..C\}\setminus\{y\}).

    Each retained batch is paired with a forget batch. Defaults: 3 epochs at ``1e-3``.
    """

    default_unlearn_epochs = 3

    def _mask_hook(self, model: nn.Module) -> Any:
        return None

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        hook = self._mask_hook(model)
        if hook is not None:
            report.diagnostics["mask_fraction"] = hook.fraction
        for _ in range(self.epochs_):
            y_rand = _random_wrong_labels(y_f, self.num_classes_, generator)

            def loss_fn(m, xr, yr, xf, yf):  # noqa: ANN001, ANN202
                return F.cross_entropy(m(xr), yr) + F.cross_entropy(m(xf), yf)

            self._paired_epochs(model, x_r, y_r, x_f, y_rand, generator, loss_fn, epochs=1,
                                after_backward=hook)
