"""How close an unlearned model is to the retrained one."""

from __future__ import annotations

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
