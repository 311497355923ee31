r"""Boundary Expand (Chen et al., CVPR 2023): a shadow class absorbs the forget set, then is pruned."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
)

__all__ = ["BoundaryExpand"]


@register_method("boundary-expand")
class BoundaryExpand(VisionApproximateUnlearner):
    r"""Boundary Expanding (Chen et al., "Boundary Unlearning", CVPR 2023).

    Widen the classifier with one shadow class :math:`C{+}1` (a new, seeded output row),
    fine-tune the whole network on :math:`D_f` labelled :math:`C{+}1` (the forgotten
    samples' region is absorbed by the shadow class), then prune the shadow row: the
    forgotten samples fall onto the remaining classes' boundaries.

    Uses only the forget set; default 5 epochs at ``unlearn_lr=3e-4``.
    """

    default_unlearn_epochs = 5
    default_unlearn_lr = 3e-4

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        head = model.classifier
        wide = nn.Linear(head.in_features, head.out_features + 1, bias=head.bias is not None)
        with torch.no_grad():
            bound = 1.0 / head.in_features ** 0.5
            wide.weight.uniform_(-bound, bound, generator=generator)
            wide.weight[:-1] = head.weight.detach().cpu()
            if head.bias is not None:
                wide.bias.uniform_(-bound, bound, generator=generator)
                wide.bias[:-1] = head.bias.detach().cpu()
        wide = wide.to(head.weight.device)

        class _Widened(nn.Module):
            def __init__(self, body: nn.Module, classifier: nn.Linear) -> None:
                super().__init__()
                self.body, self.classifier = body, classifier

            def forward(self, x: Tensor) -> Tensor:
                return self.classifier(self.body.features(x))

        widened = _Widened(model, wide)
        shadow = torch.full_like(y_f, head.out_features)
        self.train_epochs(widened, x_f, shadow, self.epochs_, self.lr_, generator)
        with torch.no_grad():  # prune the shadow class
            head.weight.copy_(wide.weight[:-1])
            if head.bias is not None:
                head.bias.copy_(wide.bias[:-1])
