r"""The unlearning evaluation protocol of the deep-unlearning literature, reusable by
every task that can produce logits for its retained, forgotten and test rows.

All functions take **logits computed on the original inputs** (a forgotten sample is
queried with its real features: the evaluator holds the forget set) and boolean masks.

Accuracies (SalUn, Fan et al. ICLR 2024; Jia et al. NeurIPS 2023)
    RA (retained training rows), TA (test rows), FA (forget rows) and UA = 1 − FA, each
    beside the retrained model's. The **average gap** is
    :math:`\frac14\big(|UA-UA^\star| + |MIA-MIA^\star| + |RA-RA^\star| + |TA-TA^\star|\big)`
    with :math:`\star` = the retrained model (SalUn's Table 3 "Avg. Gap"), in the same
    units as its inputs (fractions here; SalUn prints percentages).

MIA-efficacy (Jia et al. 2023, as used by SalUn)
    An attack classifier (RBF SVC) on confidence features — true-class probability,
    prediction entropy and the modified entropy of Song & Mittal (USENIX Sec. 2021) — is
    trained on retained training rows (members) against test rows (non-members), balanced
    and seeded; applied to the forget rows, the fraction it judges *non-member* is the
    MIA-efficacy (higher = more forgotten; compare with the retrained model's).

Fidelity to the retrained model
    Output KL :math:`\mathrm{KL}(p_{\text{retrain}}\,\|\,p_{\text{unlearned}})` and
    prediction agreement on the forget and test rows (reusing
    :func:`graphforget.metrics.output_kl` / :func:`prediction_agreement`); parameter
    distance comes from :func:`graphforget.metrics.parameter_distance`.

Forgetting quality (NeurIPS 2023 Machine Unlearning Challenge)
    Triantafillou et al., "Are we making progress in unlearning? Findings from the first
    NeurIPS unlearning competition" (arXiv:2406.09073, 2024), §3. With :math:`N` unlearned
    and :math:`N` retrained models, for every forget example :math:`s` the scalar outputs
    (default: its cross-entropy loss) of the two populations are separated by threshold
    attacks; each attack's false-positive/negative rates give
    :math:`\epsilon = \max\{\log\frac{1-\delta-\mathrm{FPR}}{\mathrm{FNR}},
    \log\frac{1-\delta-\mathrm{FNR}}{\mathrm{FPR}}\}` (attacks with a zero rate are
    discarded, both zero gives :math:`\infty`), and :math:`\epsilon_s` is the largest over
    attacks. Buckets of width 0.5 score :math:`H(\epsilon) = 2/2^{\lfloor\epsilon/0.5\rfloor+1}`
    (1 for :math:`\epsilon<0.5`, then 1/2, 1/4, …), and
    :math:`\mathcal F = \frac1S\sum_s H(\epsilon_s)`. The final score is
    :math:`\mathcal F\cdot \frac{RA_U}{RA_R}\cdot\frac{TA_U}{TA_R}` with the mean accuracies
    of the unlearned (U) and retrained (R) populations. The competition used
    :math:`N = 512` and :math:`\delta = 0.01`; at small :math:`N` (16–32) the attainable
    :math:`\epsilon` resolution is coarse (at best :math:`\log(N)`-ish), so compare methods
    at one :math:`N`.

U-LiRA (Hayes et al., "Inexact unlearning needs more careful evaluations to avoid a false
sense of privacy", 2024)
    Per-example likelihood-ratio test between "trained on x, then unlearned x" and "never
    trained on x" (retrained without it), with Gaussians fitted to the logit-scaled
    confidence :math:`\phi = \log\frac{p_y}{1-p_y}` of shadow models; reports attack
    accuracy and TPR at low FPR on held-out target models. Optional and slow
    (:func:`u_lira`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from graphforget.errors import GraphForgetError
from graphforget.metrics._fidelity import output_kl, prediction_agreement

__all__ = [
    "unlearning_accuracies", "average_gap", "confidence_features", "mia_efficacy",
    "fidelity_to_retrain", "evaluate_forgetting", "per_example_epsilon", "epsilon_score",
    "forgetting_quality", "collect_forgetting_quality", "u_lira", "logit_confidence",
]

AVERAGE_GAP_KEYS = ("unlearn_accuracy", "mia_efficacy", "retain_accuracy", "test_accuracy")


def _mask(mask: Tensor, n: int, what: str) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.numel() != n:
        raise GraphForgetError(f"{what} must be a bool mask of {n} entries, "
                               f"got {getattr(mask, 'dtype', type(mask).__name__)} of {getattr(mask, 'numel', lambda: '?')()}")
    return mask.view(-1)


def _acc(logits: Tensor, y: Tensor, mask: Tensor) -> float:
    if not bool(mask.any()):
        return float("nan")
    return float((logits[mask].argmax(-1) == y[mask]).double().mean())


def unlearning_accuracies(logits: Tensor, y: Tensor, forget_mask: Tensor, retain_mask: Tensor,
                          test_mask: Tensor) -> dict[str, float]:
    """RA, TA, FA and UA = 1 − FA of one model (``*_accuracy`` keys)."""
    n = y.numel()
    if logits.dim() != 2 or logits.size(0) != n:
        raise GraphForgetError(f"logits must be [{n}, classes], got {tuple(logits.shape)}")
    fa = _acc(logits, y, _mask(forget_mask, n, "forget_mask"))
    return {"retain_accuracy": _acc(logits, y, _mask(retain_mask, n, "retain_mask")),
            "test_accuracy": _acc(logits, y, _mask(test_mask, n, "test_mask")),
            "forget_accuracy": fa, "unlearn_accuracy": 1.0 - fa}


def average_gap(unlearned: dict[str, float], retrained: dict[str, float],
                keys: Sequence[str] = AVERAGE_GAP_KEYS) -> float:
    """Mean absolute difference over ``keys`` (default UA, MIA-efficacy, RA, TA; SalUn)."""
    missing = [k for k in keys if k not in unlearned or k not in retrained]
    if missing:
        raise GraphForgetError(f"average_gap needs {missing} in both dicts")
    return float(np.mean([abs(float(unlearned[k]) - float(retrained[k])) for k in keys]))


def confidence_features(logits: Tensor, y: Tensor) -> np.ndarray:
    r"""Per-row ``[p_y, entropy, modified entropy]`` (Song & Mittal, 2021):
    :math:`M = -(1-p_y)\log p_y - \sum_{c\ne y} p_c\log(1-p_c)`."""
    logp = F.log_softmax(logits.double(), -1)
    p = logp.exp()
    py = p.gather(1, y.view(-1, 1)).view(-1)
    entropy = -(p * logp).sum(-1)
    log1m = torch.log1p(-p.clamp(max=1 - 1e-12))
    onehot = F.one_hot(y, p.size(1)).bool()
    m_ent = -(1 - py) * logp.gather(1, y.view(-1, 1)).view(-1) - (p * log1m).masked_fill(onehot, 0).sum(-1)
    return torch.stack([py, entropy, m_ent], 1).numpy()


def mia_efficacy(logits: Tensor, y: Tensor, member_mask: Tensor, nonmember_mask: Tensor,
                 target_mask: Tensor, seed: int = 0, max_samples: int = 2000) -> float:
    """Fraction of ``target_mask`` rows an SVC attack (trained on members vs non-members,
    balanced to ``min(#members, #non-members, max_samples)`` each) calls non-members."""
    from sklearn.svm import SVC

    n = y.numel()
    member = _mask(member_mask, n, "member_mask").nonzero().view(-1)
    nonmember = _mask(nonmember_mask, n, "nonmember_mask").nonzero().view(-1)
    target = _mask(target_mask, n, "target_mask").nonzero().view(-1)
    if member.numel() == 0 or nonmember.numel() == 0:
        raise GraphForgetError("mia_efficacy needs both member and non-member rows")
    if target.numel() == 0:
        return float("nan")
    g = torch.Generator().manual_seed(int(seed))
    k = min(member.numel(), nonmember.numel(), int(max_samples))
    member = member[torch.randperm(member.numel(), generator=g)[:k]]
    nonmember = nonmember[torch.randperm(nonmember.numel(), generator=g)[:k]]
    feats = confidence_features(logits, y)
    x_train = np.concatenate([feats[member.numpy()], feats[nonmember.numpy()]])
    y_train = np.r_[np.ones(k), np.zeros(k)]
    clf = SVC(C=3, gamma="auto", kernel="rbf")  # the setting of SalUn's SVC_MIA
    clf.fit(x_train, y_train)
    return float((clf.predict(feats[target.numpy()]) == 0).mean())


def fidelity_to_retrain(logits_unlearned: Tensor, logits_retrained: Tensor, forget_mask: Tensor,
                        test_mask: Tensor) -> dict[str, float]:
    """``kl_forget``/``kl_test`` (KL(retrain ‖ unlearned)) and ``agreement_forget``/``agreement_test``."""
    out = {}
    for name, mask in (("forget", forget_mask), ("test", test_mask)):
        if not bool(mask.any()):
            out[f"kl_{name}"] = out[f"agreement_{name}"] = float("nan")
            continue
        out[f"kl_{name}"] = output_kl(logits_retrained, logits_unlearned, mask)
        out[f"agreement_{name}"] = prediction_agreement(logits_retrained, logits_unlearned, mask)
    return out


def evaluate_forgetting(logits_unlearned: Tensor, logits_retrained: Tensor, y: Tensor,
                        forget_mask: Tensor, retain_mask: Tensor, test_mask: Tensor,
                        seed: int = 0, mia_samples: int = 2000) -> dict[str, float]:
    """The whole protocol for one (unlearned, retrained) pair, as benchmark record fields:
    ``{forget,retain,test,unlearn}_accuracy_{unlearned,retrain}``,
    ``mia_efficacy_{unlearned,retrain}``, ``average_gap``, ``kl_{forget,test}``,
    ``agreement_{forget,test}``."""
    out: dict[str, float] = {}
    per_model = {}
    for tag, logits in (("unlearned", logits_unlearned), ("retrain", logits_retrained)):
        acc = unlearning_accuracies(logits, y, forget_mask, retain_mask, test_mask)
        acc["mia_efficacy"] = mia_efficacy(logits, y, retain_mask, test_mask, forget_mask, seed, mia_samples)
        per_model[tag] = acc
        for k, v in acc.items():
            out[f"{k}_{tag}"] = v
    out["average_gap"] = average_gap(per_model["unlearned"], per_model["retrain"])
    out.update(fidelity_to_retrain(logits_unlearned, logits_retrained, forget_mask, test_mask))
    return out


# ---------------------------------------------------------------------------
# NeurIPS 2023 forgetting quality
# ---------------------------------------------------------------------------
def _threshold_rates(unlearned: np.ndarray, retrained: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPR/FNR of every threshold attack "positive (= unlearned) iff output > t" and of
    its mirror "iff output < t", over all thresholds between the observed values."""
    values = np.unique(np.concatenate([unlearned, retrained]))
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    above_u = (unlearned[None, :] > cuts[:, None]).mean(1)
    above_r = (retrained[None, :] > cuts[:, None]).mean(1)
    # rule ">" : FPR = retrained called positive, FNR = unlearned called negative
    fpr = np.concatenate([above_r, 1 - above_r])
    fnr = np.concatenate([1 - above_u, above_u])
    return fpr, fnr


def per_example_epsilon(unlearned: np.ndarray | Tensor, retrained: np.ndarray | Tensor,
                        delta: float = 0.01) -> float:
    r"""The competition's :math:`\epsilon_s` for one forget example from the scalar outputs
    of :math:`N` unlearned and :math:`N` retrained models (best threshold attack)."""
    u = np.asarray(unlearned, dtype=np.float64).reshape(-1)
    r = np.asarray(retrained, dtype=np.float64).reshape(-1)
    if u.size == 0 or r.size == 0:
        raise GraphForgetError("per_example_epsilon needs outputs of at least one model per side")
    fpr, fnr = _threshold_rates(u, r)
    eps = [0.0]
    for a, b in zip(fpr, fnr, strict=True):
        if a == 0 and b == 0:
            eps.append(math.inf)
        elif a == 0 or b == 0:
            continue  # discarded, as in the competition's metric
        else:
            candidates = [math.log(x) - math.log(z) for x, z in ((1 - delta - a, b), (1 - delta - b, a)) if x > 0]
            eps.append(max(candidates) if candidates else math.inf)
    return float(max(eps))


def epsilon_score(epsilon: float | np.ndarray, bin_width: float = 0.5) -> np.ndarray:
    r""":math:`H(\epsilon) = 2 / 2^{\lfloor\epsilon/w\rfloor + 1}` (``0`` for :math:`\infty`)."""
    e = np.asarray(epsilon, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        out = 2.0 / np.power(2.0, np.floor(e / bin_width) + 1)
    return np.where(np.isinf(e), 0.0, out)


def forgetting_quality(outputs_unlearned: np.ndarray | Tensor, outputs_retrained: np.ndarray | Tensor,
                       retain_accuracy: tuple[float, float] = (1.0, 1.0),
                       test_accuracy: tuple[float, float] = (1.0, 1.0), delta: float = 0.01,
                       bin_width: float = 0.5) -> dict[str, Any]:
    r"""The competition score from ``[N, S]`` scalar outputs (N models, S forget examples).

    Args:
        retain_accuracy: mean RA of (unlearned, retrained) models.
        test_accuracy: mean TA of (unlearned, retrained) models.

    Returns ``{"score": F·RA_U/RA_R·TA_U/TA_R, "F": F, "epsilons": [S]}``.
    """
    u = np.asarray(outputs_unlearned, dtype=np.float64)
    r = np.asarray(outputs_retrained, dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise GraphForgetError(f"outputs must be [N, S] with one S, got {u.shape} and {r.shape}")
    eps = np.array([per_example_epsilon(u[:, s], r[:, s], delta) for s in range(u.shape[1])])
    f = float(epsilon_score(eps, bin_width).mean())
    ra_ratio = retain_accuracy[0] / retain_accuracy[1]
    ta_ratio = test_accuracy[0] / test_accuracy[1]
    return {"score": f * ra_ratio * ta_ratio, "F": f, "epsilons": eps,
            "retain_ratio": ra_ratio, "test_ratio": ta_ratio}


def _example_loss(logits: Tensor, y: Tensor) -> np.ndarray:
    return F.cross_entropy(logits.double(), y, reduction="none").numpy()


def collect_forgetting_quality(make_unlearner: Callable[[int], Any], make_reference: Callable[[int], Any],
                               data: Any, request: Any, forget_mask: Tensor, retain_mask: Tensor,
                               test_mask: Tensor, n_models: int = 16,
                               original: Any | None = None, delta: float = 0.01,
                               logits_fn: Callable[[Any, Any], Tensor] | None = None) -> dict[str, Any]:
    """Runs the competition protocol at small ``n_models``.

    ``make_unlearner(i)`` returns an unfitted unlearner with seed ``i``: it is fitted on
    ``data`` (or, when ``original`` is given, a copy of ``original``'s trained state is
    used, as in the competition where one original model is unlearned N times with
    different seeds) and then unlearns ``request``. ``make_reference(i)`` is fitted on the
    retained data. ``logits_fn(model, data)`` gives logits on the original rows
    (default: ``model.logits_on(data.x)``).
    """
    logits_fn = logits_fn or (lambda m, d: m.logits_on(d.x))
    retained = request.apply(data)
    y = data.y
    outs_u, outs_r, ra, ta = [], [], ([], []), ([], [])
    for i in range(int(n_models)):
        u = make_unlearner(i)
        if original is not None:
            u = _from_state(u, original)
        else:
            u.fit(data)
        u.unlearn(request)
        r = make_reference(i).fit(retained)
        for side, model, outs in ((0, u, outs_u), (1, r, outs_r)):
            logits = logits_fn(model, data)
            outs.append(_example_loss(logits[forget_mask], y[forget_mask]))
            ra[side].append(_acc(logits, y, retain_mask))
            ta[side].append(_acc(logits, y, test_mask))
    result = forgetting_quality(np.stack(outs_u), np.stack(outs_r),
                                (float(np.mean(ra[0])), float(np.mean(ra[1]))),
                                (float(np.mean(ta[0])), float(np.mean(ta[1]))), delta)
    result["n_models"] = int(n_models)
    return result


def _from_state(fresh: Any, original: Any) -> Any:
    """``fresh`` (unfitted, own seed) carrying a copy of ``original``'s trained state."""
    import copy

    fresh.data_ = original.data_
    fresh.history_ = list(original.history_)
    for key, value in vars(original).items():
        if key.endswith("_") and not key.startswith("_") and key not in ("data_", "history_"):
            setattr(fresh, key, copy.deepcopy(value))
    return fresh


# ---------------------------------------------------------------------------
# U-LiRA
# ---------------------------------------------------------------------------
def logit_confidence(logits: Tensor, y: Tensor) -> np.ndarray:
    r""":math:`\phi = \log p_y - \log(1-p_y)`, computed stably from logits."""
    logp = F.log_softmax(logits.double(), -1)
    lpy = logp.gather(1, y.view(-1, 1)).view(-1)
    others = logp.masked_fill(F.one_hot(y, logp.size(1)).bool(), -math.inf)
    return (lpy - torch.logsumexp(others, -1)).numpy()


def u_lira(make_unlearner: Callable[[int], Any], make_reference: Callable[[int], Any], data: Any,
           candidates: Tensor, n_shadows: int = 8, n_targets: int = 4, forget_fraction: float = 0.5,
           seed: int = 0, fpr_levels: Sequence[float] = (0.01, 0.05),
           logits_fn: Callable[[Any, Any], Tensor] | None = None) -> dict[str, Any]:
    r"""U-LiRA at small N (optional, slow: ``2·(n_shadows + n_targets)`` trainings).

    For each of ``n_shadows + n_targets`` model pairs a random ``forget_fraction`` of the
    ``candidates`` (training rows) forms the forget set :math:`F_i`: the unlearner is fitted
    on ``data`` and unlearns :math:`F_i` ("in then unlearned"), and the reference is fitted
    on the data without :math:`F_i` ("never in"). For every candidate :math:`x`, Gaussians
    are fitted to :math:`\phi(x)` under the shadow pairs' "unlearned" outputs (where
    :math:`x\in F_i`) and "never in" outputs (retrained without :math:`x`); on the target
    pairs each :math:`x\in F_j` is scored on the unlearned model (positive) and on the
    retrained one (negative) by the likelihood ratio. Returns the balanced attack accuracy
    (best threshold), the ROC AUC and TPR at each FPR in ``fpr_levels`` (0.5 / 0.5 / ~FPR
    mean the unlearned model is indistinguishable from retraining).
    """
    from graphforget.metrics import roc_auc
    from graphforget.requests import SampleRequest

    logits_fn = logits_fn or (lambda m, d: m.logits_on(d.x))
    candidates = candidates.view(-1)
    k = max(1, int(round(forget_fraction * candidates.numel())))
    g = torch.Generator().manual_seed(int(seed))
    y = data.y[candidates]
    phi_u, phi_r, members = [], [], []
    for i in range(int(n_shadows) + int(n_targets)):
        member = torch.zeros(candidates.numel(), dtype=torch.bool)
        member[torch.randperm(candidates.numel(), generator=g)[:k]] = True
        request = SampleRequest(candidates[member].sort().values)
        u = make_unlearner(i).fit(data)
        u.unlearn(request)
        r = make_reference(i).fit(request.apply(data))
        phi_u.append(logit_confidence(logits_fn(u, data)[candidates], y))
        phi_r.append(logit_confidence(logits_fn(r, data)[candidates], y))
        members.append(member.numpy())
    pu, pr, mem = np.stack(phi_u), np.stack(phi_r), np.stack(members)
    shadow = slice(0, int(n_shadows))
    # per-candidate Gaussians from the shadow pairs (x unlearned vs x never seen)
    mu_in, mu_out, sd_in, sd_out = [], [], [], []
    for c in range(candidates.numel()):
        ins = pu[shadow, c][mem[shadow, c]]
        outs = pr[shadow, c][mem[shadow, c]]
        mu_in.append(ins.mean() if ins.size else 0.0)
        mu_out.append(outs.mean() if outs.size else 0.0)
        sd_in.append(ins.std() if ins.size > 1 else 1.0)
        sd_out.append(outs.std() if outs.size > 1 else 1.0)
    mu_in, mu_out = np.array(mu_in), np.array(mu_out)
    sd_in = np.maximum(np.array(sd_in), 1e-3)
    sd_out = np.maximum(np.array(sd_out), 1e-3)

    def llr(phi: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        return norm.logpdf(phi, mu_in, sd_in) - norm.logpdf(phi, mu_out, sd_out)

    pos, neg = [], []
    for j in range(int(n_shadows), int(n_shadows) + int(n_targets)):
        m = mem[j]
        pos.append(llr(pu[j])[m])
        neg.append(llr(pr[j])[m])
    pos_s, neg_s = np.concatenate(pos), np.concatenate(neg)
    scores = torch.from_numpy(np.r_[pos_s, neg_s])
    labels = torch.from_numpy(np.r_[np.ones(pos_s.size), np.zeros(neg_s.size)]).bool()
    auc = roc_auc(scores, labels)
    fpr, fnr = _threshold_rates(pos_s, neg_s)
    half = fpr.size // 2  # the ">" rules: large LLR = unlearned
    acc = float(np.max(1 - (fpr[:half] + fnr[:half]) / 2))
    tpr_at = {}
    for level in fpr_levels:
        ok = fpr[:half] <= level
        tpr_at[f"tpr_at_fpr_{level:g}"] = float(np.max(1 - fnr[:half][ok])) if ok.any() else 0.0
    return {"accuracy": acc, "auc": auc, **tpr_at, "n_shadows": int(n_shadows),
            "n_targets": int(n_targets), "examples": int(pos_s.size)}
