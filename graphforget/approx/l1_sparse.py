r"""l1-sparse unlearning (Jia et al., NeurIPS 2023, "Model Sparsity Can Simplify Machine Unlearning"):
fine-tuning on the retained set with a decaying l1 penalty."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
    _check_positive,
)

__all__ = ["L1Sparse"]


@register_method("l1-sparse", "l1sparse")
class L1Sparse(VisionApproximateUnlearner):
    r"""ℓ1-sparse fine-tuning ("model sparsity can simplify machine unlearning",
    Jia et al., NeurIPS 2023): fine-tune on :math:`D_r` with an ℓ1 penalty whose weight
    decays linearly over the unlearning epochs,

    .. math::
        \min_\theta\ \ell(D_r) + \gamma_t \|\theta\|_1,\qquad
        \gamma_t = \gamma\,(1 - t/T).

    Args:
        l1_alpha (float): :math:`\gamma`, the initial ℓ1 weight. (default: :obj:`5e-4`,
            the paper's setting)
    """

    def __init__(self, l1_alpha: float = 5e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.l1_alpha = l1_alpha

    def _check_method(self) -> None:
        _check_positive("l1_alpha", self.l1_alpha, allow_zero=True)

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        total = max(self.epochs_, 1)
        for epoch in range(self.epochs_):
            gamma = float(self.l1_alpha) * (1.0 - epoch / total)

            def loss_fn(m: nn.Module, xb: Tensor, yb: Tensor, gamma: float = gamma) -> Tensor:
                l1 = sum(p.abs().sum() for p in m.parameters())
                return F.cross_entropy(m(xb), yb) + gamma * l1

            self.train_epochs(model, x_r, y_r, 1, self.lr_, generator, loss_fn=loss_fn)


# ---------------------------------------------------------------------------
# gradient update on the forget set
# ---------------------------------------------------------------------------
