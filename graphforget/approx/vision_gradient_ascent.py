r"""Gradient ascent on the forget set for image classifiers (BAERASER-style)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
    model_logits,
)

__all__ = ["VisionGradientAscent"]


@register_method("vision-gradient-ascent")
class VisionGradientAscent(VisionApproximateUnlearner):
    r"""Gradient ascent on the forget set ("GA"; Thudi et al., 2022; BAERASER, Liu et al.,
    INFOCOM 2022):

    .. math::
        \theta \leftarrow \theta + \eta \nabla_\theta \ell(B_f),\quad B_f \subset D_f

    for ``unlearn_epochs`` passes over :math:`D_f`. Unbounded ascent destroys the model, so
    the defaults are short and gentle (3 epochs at ``unlearn_lr=5e-4``), and
    ``stop_accuracy`` ends the ascent once the forget-set accuracy reaches it.
    ``graphforget bench --task vision --method gradient-ascent`` runs this class.

    Args:
        stop_accuracy (float, optional): stop when the training-mode forget accuracy
            falls to this value (checked after each epoch). (default: :obj:`None`)
    """

    default_unlearn_epochs = 3
    default_unlearn_lr = 5e-4

    def __init__(self, stop_accuracy: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stop_accuracy = stop_accuracy

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        epochs_done = 0
        for _ in range(self.epochs_):
            self.train_epochs(model, x_f, y_f, 1, self.lr_, generator,
                              loss_fn=lambda m, xb, yb: -F.cross_entropy(m(xb), yb))
            epochs_done += 1
            if self.stop_accuracy is not None:
                acc = float((model_logits(model, x_f, self.torch_device).argmax(-1) == y_f).float().mean())
                if acc <= float(self.stop_accuracy):
                    break
        report.diagnostics["ascent_epochs"] = epochs_done
