r"""Fisher forgetting (Golatkar et al., CVPR 2020): noise scaled by the inverse diagonal Fisher of the retained set."""

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

__all__ = ["FisherForgetting"]


@register_method("fisher", "fisher-forgetting")
class FisherForgetting(VisionApproximateUnlearner):
    r"""Fisher forgetting (Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless
    Net", CVPR 2020): noise shaped by the diagonal Fisher information of the *retained*
    data, so weights the retained data pins down move little and the others are scrubbed,

    .. math::
        F = \mathbb{E}_{x\sim D_r}\,\mathbb{E}_{y\sim p_\theta(\cdot|x)}
            \big[(\nabla_\theta \log p_\theta(y|x))^2\big],\qquad
        \theta \leftarrow \theta_0 + \sigma\,\min(F^{-1/4}, c)\odot n,\quad n\sim\mathcal N(0, I).

    :math:`F^{-1/4}` is the paper's optimal noise shape (:math:`(\lambda\sigma_h^2)^{1/4}F^{-1/4}`);
    ``max_scale`` caps it where :math:`F\approx 0` (the official code clips the variance
    :math:`1/F` at :math:`10^3`, i.e. :math:`F^{-1/4}\le 10^{3/4}\approx 5.6`). When the
    request removes a whole class (its label has no retained sample), the classifier row and
    bias of that class are set to zero before the noise, as in the official code.

    Args:
        sigma (float): noise scale :math:`\sigma`. (default: :obj:`0.01`)
        max_scale (float): cap :math:`c` of :math:`F^{-1/4}`. (default: :obj:`5.6`)
        fisher_samples (int, optional): retained samples used to estimate :math:`F`
            (a seeded subsample; ``None`` = all). (default: :obj:`1000`)
    """

    default_unlearn_epochs = 0

    def __init__(self, sigma: float = 0.01, max_scale: float = 5.6, fisher_samples: int | None = 1000,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sigma = sigma
        self.max_scale = max_scale
        self.fisher_samples = fisher_samples

    def _check_method(self) -> None:
        _check_positive("sigma", self.sigma, allow_zero=True)
        _check_positive("max_scale", self.max_scale)
        if self.fisher_samples is not None:
            _check_positive("fisher_samples", self.fisher_samples)

    def diagonal_fisher(self, model: nn.Module, x: Tensor) -> list[Tensor]:
        """Expected diagonal Fisher over ``x`` (labels drawn from the model's own softmax,
        summed exactly over classes), computed with per-sample gradients (``torch.func``)."""
        from torch.func import functional_call, grad, vmap

        model.eval()
        params = {k: v.detach() for k, v in model.named_parameters()}
        buffers = {k: v.detach() for k, v in model.named_buffers()}

        def log_probs(p: dict[str, Tensor], xi: Tensor) -> Tensor:
            return F.log_softmax(functional_call(model, (p, buffers), (xi.unsqueeze(0),)), -1)[0]

        def weighted_grad(p: dict[str, Tensor], xi: Tensor, c: Tensor) -> dict[str, Tensor]:
            return grad(lambda q: log_probs(q, xi)[c])(p)

        fisher = {k: torch.zeros_like(v) for k, v in params.items()}
        classes = torch.arange(self.num_classes_, device=self.torch_device)
        for start in range(0, x.size(0), 64):
            xb = self._to(x[start:start + 64])
            with torch.no_grad():
                probs = F.softmax(model(xb), -1)  # [B, C]
            for c in classes:
                g = vmap(weighted_grad, in_dims=(None, 0, None))(params, xb, c)
                w = probs[:, c]
                for k in fisher:
                    fisher[k] += torch.einsum("b,b...->...", w, g[k] * g[k])
        n = max(x.size(0), 1)
        return [fisher[k] / n for k, _ in model.named_parameters()]

    def _update(self, model, x_f, y_f, x_r, y_r, report, generator):  # noqa: ANN001
        if self.fisher_samples is not None and x_r.size(0) > int(self.fisher_samples):
            pick = torch.randperm(x_r.size(0), generator=generator)[:int(self.fisher_samples)]
            x_r = x_r[pick]
        fisher = self.diagonal_fisher(model, x_r)
        forgotten_classes = [int(c) for c in torch.unique(y_f) if not bool((y_r == c).any())]
        with torch.no_grad():
            if forgotten_classes:
                head = model.classifier
                for c in forgotten_classes:
                    head.weight[c].zero_()
                    if head.bias is not None:
                        head.bias[c] = 0.0
            for p, f in zip(model.parameters(), fisher, strict=True):
                scale = f.clamp_min(1e-30).pow(-0.25).clamp_max(float(self.max_scale))
                noise = torch.randn(p.shape, generator=generator).to(p.device)
                p.add_(float(self.sigma) * scale * noise)
        report.diagnostics["forgotten_classes"] = forgotten_classes
        report.diagnostics["mean_noise_scale"] = float(
            torch.cat([f.clamp_min(1e-30).pow(-0.25).clamp_max(float(self.max_scale)).reshape(-1)
                       for f in fisher]).mean()) * float(self.sigma)


# ---------------------------------------------------------------------------
# Boundary unlearning
# ---------------------------------------------------------------------------
