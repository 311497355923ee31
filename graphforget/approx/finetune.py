r"""Fine-tuning (FT): a few epochs on the retained set from the trained image classifier."""

from __future__ import annotations

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
)

__all__ = ["FineTune"]


@register_method("finetune", "fine-tune")
class FineTune(VisionApproximateUnlearner):
    r"""Fine-tuning on the retained data ("FT"; Warnecke et al., 2023; Golatkar et al., 2020).

    .. math::
        \theta \leftarrow \theta_0 - \eta \sum_{t} \nabla_\theta \ell(B_t),\quad B_t \subset D_r

    for ``unlearn_epochs`` passes over :math:`D_r` (catastrophic forgetting of
    :math:`D_f`). Defaults: 5 epochs at ``unlearn_lr=1e-3``.
    """

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        hist = self.train_epochs(model, x_r, y_r, self.epochs_, self.lr_, generator)
        report.diagnostics["retain_loss"] = hist[-1] if hist else None
