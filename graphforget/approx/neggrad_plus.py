r"""NegGrad+ (Kurmanji et al., NeurIPS 2023): descent on the retained set, ascent on the forget set."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.vision.base import (
    VisionApproximateUnlearner,
)

__all__ = ["NegGradPlus"]


@register_method("neggrad-plus", "neggrad+", "neggradplus")
class NegGradPlus(VisionApproximateUnlearner):
    r"""NegGrad+ (Kurmanji et al., NeurIPS 2023): descent on the retained data and ascent
    on the forget data in one objective,

    .. math::
        \min_\theta\ \beta\,\ell(B_r) - (1-\beta)\,\ell(B_f),

    with each retained batch paired with a forget batch (the forget set is cycled).

    Args:
        beta (float): weight of the retained term, in (0, 1]. (default: :obj:`0.99`)
    """

    default_unlearn_epochs = 3

    def __init__(self, beta: float = 0.99, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta = beta

    def _check_method(self) -> None:
        if not 0.0 < float(self.beta) <= 1.0:
            raise GraphForgetError(f"beta must lie in (0, 1], got {self.beta!r}")

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        beta = float(self.beta)

        def loss_fn(m, xr, yr, xf, yf):  # noqa: ANN001, ANN202
            return beta * F.cross_entropy(m(xr), yr) - (1 - beta) * F.cross_entropy(m(xf), yf)

        self._paired_epochs(model, x_r, y_r, x_f, y_f, generator, loss_fn)
