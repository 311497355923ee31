r"""Boundary Shrink (Chen et al., CVPR 2023): fine-tune the forget set towards its nearest wrong class (FGSM)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
    _check_positive,
)

__all__ = ["BoundaryShrink"]


@register_method("boundary-shrink")
class BoundaryShrink(VisionApproximateUnlearner):
    r"""Boundary Shrink (Chen et al., "Boundary Unlearning", CVPR 2023).

    Neighbour search: for each forget sample an FGSM step
    :math:`x' = x + \epsilon\,\mathrm{sign}(\nabla_x \ell(x, y))` on the original model;
    its predicted class on :math:`x'` (the nearest *wrong* class: the true class is
    excluded when the step did not cross the boundary) becomes the new label
    :math:`y_{nbi}`. Then fine-tune on :math:`D_f` only:
    :math:`\min_\theta \ell(D_f, y_{nbi})`, shrinking the forgotten class's decision region.
    Only the forget set is touched, hence its speed.

    Args:
        bound (float): FGSM step :math:`\epsilon` in pixel units (images in [0, 1]).
            (default: :obj:`0.1`, the official setting)
    """

    default_unlearn_epochs = 5
    default_unlearn_lr = 5e-4

    def __init__(self, bound: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bound = bound

    def _check_method(self) -> None:
        _check_positive("bound", self.bound)

    def neighbour_labels(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        model.eval()
        out = []
        for start in range(0, x.size(0), 256):
            xb = self._to(x[start:start + 256]).clone().requires_grad_(True)
            yb = self._to(y[start:start + 256])
            (gx,) = torch.autograd.grad(F.cross_entropy(model(xb), yb), xb)
            with torch.no_grad():
                logits = model(xb + float(self.bound) * gx.sign())
                logits[torch.arange(yb.numel()), yb] = float("-inf")
                out.append(logits.argmax(-1).cpu())
        return torch.cat(out)

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        y_nbi = self.neighbour_labels(model, x_f, y_f)
        self.train_epochs(model, x_f, y_nbi, self.epochs_, self.lr_, generator)
