"""Utility metrics on label tensors."""

from __future__ import annotations

import torch
from torch import Tensor

from graphforget.errors import GraphForgetError


def _check(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise GraphForgetError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def accuracy(pred: Tensor, target: Tensor) -> float:
    """Fraction of equal entries (equals micro-F1 for single-label classification)."""
    _check(pred, target)
    if target.numel() == 0:
        return float("nan")
    return float((pred == target).float().mean())


f1_micro = accuracy


def f1_macro(pred: Tensor, target: Tensor, num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``pred`` or ``target``."""
    _check(pred, target)
    if target.numel() == 0:
        return float("nan")
    c = int(num_classes or int(torch.cat([pred, target]).max()) + 1)
    idx = target * c + pred
    conf = torch.bincount(idx, minlength=c * c).view(c, c).double()
    tp = conf.diag()
    denom = conf.sum(0) + conf.sum(1)
    present = denom > 0
    f1 = torch.where(present, 2 * tp / denom.clamp_min(1), torch.zeros_like(tp))
    return float(f1[present].mean())


def roc_auc(score: Tensor, label: Tensor) -> float:
    """Area under the ROC curve (ties counted half), computed by ranking."""
    score = score.detach().double().view(-1)
    label = label.detach().view(-1).bool()
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        raise GraphForgetError("roc_auc needs both positive and negative labels")
    from scipy.stats import rankdata

    ranks = torch.from_numpy(rankdata(score.numpy()))
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
