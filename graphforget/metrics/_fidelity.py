"""How close an unlearned model is to the retrained one."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget.errors import GraphForgetError


def parameter_distance(a: Tensor | torch.nn.Module, b: Tensor | torch.nn.Module) -> float:
    """L2 distance between two parameter vectors (or two models of one architecture)."""
    if isinstance(a, torch.nn.Module):
        a = torch.cat([p.detach().reshape(-1) for p in a.parameters()])
    if isinstance(b, torch.nn.Module):
        b = torch.cat([p.detach().reshape(-1) for p in b.parameters()])
    if a.shape != b.shape:
        raise GraphForgetError(f"parameter vectors differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    return float((a.double() - b.double()).norm())


def output_kl(logits_p: Tensor, logits_q: Tensor, mask: Tensor | None = None) -> float:
    r"""Mean :math:`\mathrm{KL}(p\,\|\,q)` between the softmax outputs of two models."""
    if mask is not None:
        logits_p, logits_q = logits_p[mask], logits_q[mask]
    if logits_p.shape != logits_q.shape:
        raise GraphForgetError(f"output shapes differ: {tuple(logits_p.shape)} vs {tuple(logits_q.shape)}")
    lp = F.log_softmax(logits_p.double(), -1)
    lq = F.log_softmax(logits_q.double(), -1)
    return float((lp.exp() * (lp - lq)).sum(-1).mean())


def prediction_agreement(logits_p: Tensor, logits_q: Tensor, mask: Tensor | None = None) -> float:
    """Fraction of rows where the two models predict the same class."""
    if mask is not None:
        logits_p, logits_q = logits_p[mask], logits_q[mask]
    return float((logits_p.argmax(-1) == logits_q.argmax(-1)).float().mean())


def js_divergence(logits_p: Tensor, logits_q: Tensor, mask: Tensor | None = None,
                  reduction: str = "mean") -> Tensor | float:
    r"""Jensen–Shannon divergence between the softmax distributions of two sets of logits,
    **in bits** (base-2 logarithm), row by row:

    .. math::
        \mathrm{JS}(p, q) = \tfrac12\,\mathrm{KL}(p\,\|\,m) + \tfrac12\,\mathrm{KL}(q\,\|\,m),
        \qquad m = \tfrac12 (p + q),

    so each row lies in :math:`[0, 1]`: 0 for identical distributions, 1 for
    distributions with disjoint support. It is symmetric and finite (unlike KL), and its
    square root is a metric. Lower is closer (:data:`HIGHER_IS_BETTER` ``["output_js"]`` is
    ``False``). A binary score :math:`s` (a link logit) is the two-class row ``[0, s]``.

    Args:
        logits_p, logits_q (Tensor): ``[units, classes]`` raw outputs (or log-probabilities).
        mask (Tensor, optional): boolean mask or index over the units.
        reduction (str): ``"mean"`` (a float; ``nan`` when no unit is left) or ``"none"``
            (the per-unit tensor).
    """
    if reduction not in ("mean", "none"):
        raise GraphForgetError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if mask is not None:
        logits_p, logits_q = logits_p[mask], logits_q[mask]
    if logits_p.shape != logits_q.shape:
        raise GraphForgetError(f"output shapes differ: {tuple(logits_p.shape)} vs {tuple(logits_q.shape)}")
    lp = F.log_softmax(logits_p.double(), -1)
    lq = F.log_softmax(logits_q.double(), -1)
    lm = torch.logaddexp(lp, lq) - math.log(2.0)
    p, q = lp.exp(), lq.exp()
    # 0 * log 0 = 0: where p (or q) is 0 its term vanishes
    kl_pm = torch.where(p > 0, p * (lp - lm), torch.zeros_like(p)).sum(-1)
    kl_qm = torch.where(q > 0, q * (lq - lm), torch.zeros_like(q)).sum(-1)
    per_unit = (0.5 * (kl_pm + kl_qm) / math.log(2.0)).clamp(min=0.0, max=1.0)
    if reduction == "none":
        return per_unit
    return float(per_unit.mean()) if per_unit.numel() else float("nan")


def fidelity_ratio(unlearned_to_retrain: float | None, original_to_retrain: float | None) -> float | None:
    """``unlearned_to_retrain / original_to_retrain`` (output space): 0 means the unlearned
    model sits at the retrained one, 1 means it did not move from the original, above 1
    means it moved away. ``None`` when either is missing or the original already matches
    the retrained model (distance 0). Lower is better."""
    if unlearned_to_retrain is None or original_to_retrain is None:
        return None
    if math.isnan(unlearned_to_retrain) or math.isnan(original_to_retrain) or original_to_retrain <= 0:
        return None
    return float(unlearned_to_retrain / original_to_retrain)
