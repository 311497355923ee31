r"""Approximate unlearning for deep image classifiers: the baselines current benchmarks use.

Every method starts from the trained model, touches only a copy, and commits it at the
end. Each serves :class:`~graphforget.requests.SampleRequest` (random samples or a whole
class) on the ``vision`` task, and its exact reference is
:class:`~graphforget.vision.VisionRetrain` with the same model, recipe and seed.

Notation: :math:`D_r` the retained training set, :math:`D_f` the forget set,
:math:`\ell` the cross-entropy, :math:`\theta_0` the trained parameters.

=====================  ============================================================================
name                   update
=====================  ============================================================================
``finetune``           a few epochs of :math:`\min_\theta \ell(D_r)` from :math:`\theta_0`
``gradient-ascent``    a few epochs of :math:`\max_\theta \ell(D_f)` (BAERASER-style ascent)
``neggrad-plus``       :math:`\min_\theta \beta\,\ell(D_r) - (1-\beta)\,\ell(D_f)` (Kurmanji et al., 2023)
``random-label``       :math:`\min_\theta \ell(D_f \text{ with random wrong labels}) + \ell(D_r)`
``l1-sparse``          :math:`\min_\theta \ell(D_r) + \gamma_t\|\theta\|_1`, :math:`\gamma_t` decays linearly (Jia et al., 2023)
``salun``              random labelling with gradients masked to the most forget-salient weights (Fan et al., 2024)
``scrub``              teacher-student: max-steps on :math:`\mathrm{KL}(D_f)`, min-steps on :math:`\mathrm{KL}+\ell(D_r)` (Kurmanji et al., 2023)
``fisher``             :math:`\theta_0 + \sigma F^{-1/4}\odot n`, :math:`F` the diagonal Fisher on :math:`D_r` (Golatkar et al., 2020)
``boundary-shrink``    fine-tune :math:`D_f` towards its nearest wrong class, found by FGSM (Chen et al., 2023)
``boundary-expand``    add a shadow class, fine-tune :math:`D_f` into it, prune it (Chen et al., 2023)
=====================  ============================================================================

Defaults were set on scikit-learn digits and MNIST so that test accuracy stays within a
few points of the original model (the literature's main complaint about these
baselines is that aggressive settings collapse utility); ``docs/methods/`` documents
each knob.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphforget._registry import register_method
from graphforget.errors import GraphForgetError
from graphforget.requests import ForgetRequest
from graphforget.unlearner import Guarantee, UnlearnReport
from graphforget.vision.base import VisionUnlearner, make_optimizer, minibatches, model_logits

__all__ = [
    "VisionApproximateUnlearner", "FineTune", "VisionGradientAscent", "NegGradPlus", "RandomLabel",
    "L1Sparse", "SalUn", "SCRUB", "FisherForgetting", "BoundaryShrink", "BoundaryExpand",
]


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
        raise GraphForgetError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


class VisionApproximateUnlearner(VisionUnlearner):
    """Shared knobs of the approximate vision methods.

    Args:
        unlearn_epochs (int): passes of the unlearning update. (method default)
        unlearn_lr (float): learning rate of the unlearning update. (method default)
        **kwargs: the arguments of :class:`~graphforget.vision.base.VisionUnlearner`.
    """

    guarantee = Guarantee.APPROXIMATE
    default_unlearn_epochs = 5
    default_unlearn_lr = 1e-3

    def __init__(self, unlearn_epochs: int | None = None, unlearn_lr: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unlearn_epochs = unlearn_epochs
        self.unlearn_lr = unlearn_lr

    @property
    def epochs_(self) -> int:
        return int(self.default_unlearn_epochs if self.unlearn_epochs is None else self.unlearn_epochs)

    @property
    def lr_(self) -> float:
        return float(self.default_unlearn_lr if self.unlearn_lr is None else self.unlearn_lr)

    def _check_config(self) -> None:
        super()._check_config()
        _check_positive("unlearn_epochs", self.epochs_, allow_zero=True)
        _check_positive("unlearn_lr", self.lr_)
        self._check_method()

    def _check_method(self) -> None:
        """Method-specific hyper-parameter checks (raise GraphForgetError)."""

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_config()
        start = time.perf_counter()
        x_f, y_f = self.forget_set(request)
        x_r, y_r = self.retain_set(retained)
        model = self._copy_model()
        self._update(model, x_f, y_f, x_r, y_r, report, self._generator(1, len(self.history_)))
        model.eval()
        report.breakdown["update"] = time.perf_counter() - start
        report.affected["samples"] = len(request)
        self.model_ = model

    def _update(self, model: nn.Module, x_f: Tensor, y_f: Tensor, x_r: Tensor, y_r: Tensor,
                report: UnlearnReport, generator: torch.Generator) -> None:
        raise NotImplementedError

    def _paired_epochs(self, model: nn.Module, x_r: Tensor, y_r: Tensor, x_f: Tensor, y_f: Tensor,
                       generator: torch.Generator, loss_fn: Any, epochs: int | None = None,
                       after_backward: Any = None) -> list[float]:
        """Epochs over retained batches, each paired with a forget batch (cycled):
        ``loss_fn(model, xr, yr, xf, yf)``."""
        opt = make_optimizer(self.optimizer, model.parameters(), self.lr_, self.momentum, self.weight_decay)
        bs = int(self.batch_size)
        history = []
        forget_iter = iter(())
        for _ in range(self.epochs_ if epochs is None else epochs):
            model.train()
            total, steps = 0.0, 0
            for idx in minibatches(x_r.size(0), bs, generator):
                fidx = next(forget_iter, None)
                if fidx is None:
                    forget_iter = iter(minibatches(x_f.size(0), bs, generator))
                    fidx = next(forget_iter)
                opt.zero_grad()
                loss = loss_fn(model, self._to(x_r[idx]), self._to(y_r[idx]),
                               self._to(x_f[fidx]), self._to(y_f[fidx]))
                loss.backward()
                if after_backward is not None:
                    after_backward(model)
                opt.step()
                total, steps = total + float(loss.detach()), steps + 1
            history.append(total / max(steps, 1))
        model.eval()
        return history


# ---------------------------------------------------------------------------
# re-optimisation on the retained data
# ---------------------------------------------------------------------------
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
