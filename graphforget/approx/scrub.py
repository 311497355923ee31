r"""SCRUB (Kurmanji et al., NeurIPS 2023): teacher-student max/min steps on the forget and retained sets."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget._registry import register_method
from graphforget.vision.base import (
    VisionApproximateUnlearner,
    _check_positive,
    make_optimizer,
    minibatches,
)

__all__ = ["SCRUB"]


def _kl_teacher_student(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    t = float(temperature)
    log_s = F.log_softmax(student_logits / t, -1)
    log_t = F.log_softmax(teacher_logits / t, -1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean") * t * t


@register_method("scrub")
class SCRUB(VisionApproximateUnlearner):
    r"""SCRUB (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023;
    meghdadk/SCRUB). The student starts at the teacher :math:`\theta_0` and alternates

    * a **max-step** on the forget set (the first ``max_steps`` epochs only):
      :math:`\min_\theta -\mathrm{KL}_T(p_{\theta_0}\,\|\,p_\theta)(B_f)`, moving away from
      the teacher there;
    * a **min-step** on the retained set (every epoch):
      :math:`\min_\theta \alpha\,\mathrm{KL}_T(p_{\theta_0}\,\|\,p_\theta)(B_r) + \gamma\,\ell(B_r)`,
      staying close to the teacher and accurate there,

    with :math:`\mathrm{KL}_T` the temperature-:math:`T` distillation divergence.

    Args:
        max_steps (int): epochs that include a max-step (``msteps``). (default: :obj:`3`)
        alpha (float): weight of the retained KL term. (default: :obj:`1.0`)
        gamma (float): weight of the retained cross-entropy. (default: :obj:`1.0`)
        temperature (float): distillation temperature :math:`T`. (default: :obj:`4.0`)
    """

    default_unlearn_epochs = 4
    default_unlearn_lr = 2e-3

    def __init__(self, max_steps: int = 3, alpha: float = 1.0, gamma: float = 1.0,
                 temperature: float = 4.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_steps = max_steps
        self.alpha = alpha
        self.gamma = gamma
        self.temperature = temperature

    def _check_method(self) -> None:
        _check_positive("max_steps", self.max_steps, allow_zero=True)
        _check_positive("alpha", self.alpha, allow_zero=True)
        _check_positive("gamma", self.gamma, allow_zero=True)
        _check_positive("temperature", self.temperature)

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        teacher = self._copy_model()
        for p in teacher.parameters():
            p.requires_grad_(False)
        opt = make_optimizer(self.optimizer, model.parameters(), self.lr_, self.momentum, self.weight_decay)
        bs, temp = int(self.batch_size), float(self.temperature)
        for epoch in range(self.epochs_):
            if epoch < int(self.max_steps):
                model.train()
                for idx in minibatches(x_f.size(0), bs, generator):
                    xb = self._to(x_f[idx])
                    with torch.no_grad():
                        t_out = teacher(xb)
                    opt.zero_grad()
                    (-_kl_teacher_student(model(xb), t_out, temp)).backward()
                    opt.step()
            model.train()
            for idx in minibatches(x_r.size(0), bs, generator):
                xb, yb = self._to(x_r[idx]), self._to(y_r[idx])
                with torch.no_grad():
                    t_out = teacher(xb)
                opt.zero_grad()
                out = model(xb)
                loss = float(self.alpha) * _kl_teacher_student(out, t_out, temp) \
                    + float(self.gamma) * F.cross_entropy(out, yb)
                loss.backward()
                opt.step()
        model.eval()


# ---------------------------------------------------------------------------
# Fisher forgetting
# ---------------------------------------------------------------------------
