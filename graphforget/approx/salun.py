r"""SalUn (Fan et al., ICLR 2024): random labelling with gradients masked to the most forget-salient weights."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphforget._registry import register_method
from graphforget.approx.random_label import RandomLabel
from graphforget.errors import GraphForgetError

__all__ = ["SalUn"]


class _GradientMask:
    """Multiplies every parameter's gradient by a fixed 0/1 mask (SalUn)."""

    def __init__(self, masks: list[Tensor]) -> None:
        self.masks = masks
        total = sum(m.numel() for m in masks)
        self.fraction = float(sum(m.sum() for m in masks) / max(total, 1))

    def __call__(self, model: nn.Module) -> None:
        for p, m in zip(model.parameters(), self.masks, strict=True):
            if p.grad is not None:
                p.grad.mul_(m)


@register_method("salun")
class SalUn(RandomLabel):
    r"""SalUn, saliency unlearning (Fan et al., ICLR 2024; OPTML-Group/Unlearn-Saliency).

    1. Weight saliency: :math:`g = \nabla_\theta \ell(D_f)` at :math:`\theta_0`; the mask
       :math:`m_S = \mathbb{1}[|g| \ge \gamma]` keeps the ``saliency_ratio`` fraction of
       weights with the largest :math:`|g|` (one global threshold over all layers, as in
       the official ``generate_mask.py``).
    2. Random labelling restricted to the mask:
       :math:`\theta \leftarrow \theta - \eta\, m_S \odot \nabla_\theta[\ell(B_r) + \ell(B_f, \tilde y)]`.

    Args:
        saliency_ratio (float): fraction of weights updated, in (0, 1]. (default: :obj:`0.5`,
            the paper's usual setting)
    """

    def __init__(self, saliency_ratio: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.saliency_ratio = saliency_ratio

    def _check_method(self) -> None:
        if not 0.0 < float(self.saliency_ratio) <= 1.0:
            raise GraphForgetError(f"saliency_ratio must lie in (0, 1], got {self.saliency_ratio!r}")

    def saliency_masks(self, model: nn.Module, x_f: Tensor, y_f: Tensor) -> list[Tensor]:
        model.zero_grad()
        model.eval()
        bs = max(int(self.batch_size), 256)
        for start in range(0, x_f.size(0), bs):
            xb, yb = self._to(x_f[start:start + bs]), self._to(y_f[start:start + bs])
            F.cross_entropy(model(xb), yb, reduction="sum").backward()
        grads = [p.grad.detach().abs() if p.grad is not None else torch.zeros_like(p)
                 for p in model.parameters()]
        model.zero_grad()
        flat = torch.cat([g.reshape(-1) for g in grads])
        k = max(1, int(round(float(self.saliency_ratio) * flat.numel())))
        threshold = torch.topk(flat, k, sorted=True).values[-1]
        return [(g >= threshold).to(g.dtype) for g in grads]

    def _mask_hook(self, model: nn.Module) -> _GradientMask:
        return self._pending_mask

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        self._pending_mask = _GradientMask(self.saliency_masks(model, x_f, y_f))
        try:
            super()._update(model, x_f, y_f, x_r, y_r, report, generator)
        finally:
            del self._pending_mask


# ---------------------------------------------------------------------------
# teacher-student
# ---------------------------------------------------------------------------
