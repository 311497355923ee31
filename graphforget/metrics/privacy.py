r"""Membership inference on forgotten data: did forgetting remove the evidence?

Three attacks, each reported as a ROC AUC with a seeded bootstrap interval, for the
unlearned model and for the exact reference (``Retrain`` on the retained data). The
reference's figure is the target: an unlearned model whose AUC sits above it still
carries evidence that the forgotten nodes were trained on.

* :func:`loss_attack` — a loss threshold (Yeom et al., CSF 2018): the score is
  :math:`-\ell(f(x_v), y_v)`, calibrated (threshold chosen by Youden's J) on retained
  training nodes (members) against half of the test nodes, then evaluated on the
  forgotten nodes against the other half.
* :func:`posterior_difference_attack` — Chen et al., "When Machine Unlearning
  Jeopardizes Privacy" (CCS 2021): the score is
  :math:`\lVert p_{\text{before}}(v) - p_{\text{after}}(v)\rVert_2`, the L2 distance
  between the posteriors of the original and the unlearned model. Forgotten nodes are
  the positives, never-trained (test) nodes the negatives. For ``Retrain`` the
  "after" model is the retrained one: Chen et al.'s point is that even exact
  retraining leaks through this difference.
* :func:`shadow_attack` — Shokri et al. (S&P 2017), as adapted to GNNs by Olatunji et
  al. (2021): shadow models with the target's architecture are trained on node sets
  disjoint from the target's training and test nodes; an attack classifier learns
  member / non-member from their sorted posteriors and scores the forgotten nodes
  (positive) against test nodes (negative).

The attacker queries the model with a node's *original* features and neighbourhood
(:func:`query_logits` evaluates the model on the original graph, not on the retained
graph that :meth:`~graphforget.Unlearner.predict_logits` uses, where a forgotten
node's features are zeroed and its edges removed, which would hide the evidence the
attack looks for).

Direction: a lower AUC means less leakage (:data:`HIGHER_IS_BETTER` says ``False``);
the headline is the gap to the reference, ``mia_gap = |auc - auc_retrain|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError
from graphforget.metrics._utility import roc_auc

__all__ = [
    "AttackResult",
    "query_logits",
    "bootstrap_auc",
    "loss_attack",
    "posterior_difference_attack",
    "shadow_attack",
    "membership_report",
    "ATTACKS",
]

ATTACKS = ("loss", "posterior", "shadow")


@dataclass
class AttackResult:
    """AUC of one attack on forgotten (positive) vs never-trained (negative) nodes.

    Attributes:
        attack: ``"loss"``, ``"posterior"`` or ``"shadow"``.
        auc, auc_low, auc_high: the unlearned model's AUC and its bootstrap interval.
        auc_retrain, auc_retrain_low, auc_retrain_high: the same for the reference.
        positives, negatives: how many nodes each side had.
        extra: attack-specific figures (calibration AUC, attack advantage, ...).
    """

    higher_is_better: ClassVar[bool] = False  # less leakage is better; compare with retrain

    attack: str
    auc: float
    auc_low: float
    auc_high: float
    auc_retrain: float = float("nan")
    auc_retrain_low: float = float("nan")
    auc_retrain_high: float = float("nan")
    positives: int = 0
    negatives: int = 0
    extra: dict[str, Any] | None = None

    @property
    def gap(self) -> float:
        """``|auc - auc_retrain|``: distance from the exact reference's leakage."""
        return abs(self.auc - self.auc_retrain)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["gap"] = self.gap
        return out


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def query_logits(unlearner: Any, data: Data) -> Tensor:
    """The model's outputs when queried on ``data`` as given (the attacker's view).

    Unlike :meth:`~graphforget.Unlearner.predict_logits`, the requests served so far
    are *not* applied to ``data`` first: the attacker holds the original records.
    """
    unlearner._check_fitted()
    from graphforget.unlearner import with_forgotten_mask  # here: privacy does not import unlearner

    data = with_forgotten_mask(data)  # as fit() takes it
    with torch.no_grad():
        return unlearner._logits(data).detach().float()


def _ids(ids: Tensor | Sequence[int], what: str, n: int) -> Tensor:
    t = torch.as_tensor(ids)
    if t.dtype == torch.bool:
        if t.numel() != n:
            raise GraphForgetError(f"{what} mask has {t.numel()} entries, expected {n}")
        t = t.nonzero().view(-1)
    if t.is_floating_point() or t.dim() != 1:
        raise GraphForgetError(f"{what} must be a 1-D integer tensor of node ids or a boolean mask")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= n):
        raise GraphForgetError(f"{what} out of range [0, {n})")
    return t.long()


def _auc_pos_neg(pos: Tensor, neg: Tensor) -> float:
    score = torch.cat([pos, neg])
    label = torch.cat([torch.ones(pos.numel(), dtype=torch.bool),
                       torch.zeros(neg.numel(), dtype=torch.bool)])
    return roc_auc(score, label)


def bootstrap_auc(pos: Tensor, neg: Tensor, samples: int = 200, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float, float]:
    """AUC of scores ``pos`` (members) over ``neg`` and a percentile bootstrap interval.

    Positives and negatives are resampled separately (stratified), ``samples`` times,
    with a seeded generator.
    """
    pos, neg = pos.detach().double().view(-1), neg.detach().double().view(-1)
    if pos.numel() == 0 or neg.numel() == 0:
        raise GraphForgetError(f"an AUC needs positives and negatives, got {pos.numel()} and {neg.numel()}")
    if not 0 < level < 1:
        raise GraphForgetError(f"level must lie in (0, 1), got {level}")
    auc = _auc_pos_neg(pos, neg)
    if samples <= 0:
        return auc, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    p, q = pos.numpy(), neg.numpy()
    # Rank-based AUC per resample, vectorised over a Mann-Whitney comparison matrix.
    cmp = (p[:, None] > q[None, :]).astype(np.float64) + 0.5 * (p[:, None] == q[None, :])
    stats = np.empty(samples)
    for b in range(samples):
        i = rng.integers(0, p.size, p.size)
        j = rng.integers(0, q.size, q.size)
        stats[b] = cmp[np.ix_(i, j)].mean()
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return auc, float(low), float(high)


def _loss_scores(logits: Tensor, y: Tensor) -> Tensor:
    return -F.cross_entropy(logits.double(), y.long(), reduction="none")


def _split_half(ids: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(int(seed))
    perm = ids[torch.randperm(ids.numel(), generator=g)]
    half = perm.numel() // 2
    return perm[:half].sort().values, perm[half:].sort().values


def _youden_threshold(pos: Tensor, neg: Tensor) -> float:
    cands = torch.cat([pos, neg]).unique()
    best, best_t = -2.0, float(cands[0])
    for t in cands.tolist():
        j = float((pos >= t).double().mean() - (neg >= t).double().mean())
        if j > best:
            best, best_t = j, t
    return best_t


# ---------------------------------------------------------------------------
# attacks
# ---------------------------------------------------------------------------
def loss_attack(logits: Tensor, data: Data, forgotten: Tensor, retained_train: Tensor,
                test: Tensor, reference_logits: Tensor | None = None, samples: int = 200,
                seed: int = 0) -> AttackResult:
    """Loss-threshold attack: calibrated on retained vs test, AUC on forgotten vs test.

    Args:
        logits: the unlearned model's outputs on the original graph (:func:`query_logits`).
        data: the original graph (labels ``y``).
        forgotten: ids (or mask) of forgotten training nodes (positives).
        retained_train: ids (or mask) of training nodes still trained on (calibration members).
        test: ids (or mask) of never-trained nodes; split in half, one half calibrates,
            the other is the negative side of the reported AUC.
        reference_logits: the same outputs of the exact reference (``Retrain``).
        samples, seed: bootstrap resamples and seed.
    """
    n = data.num_nodes
    forgotten = _ids(forgotten, "forgotten", n)
    retained_train = _ids(retained_train, "retained_train", n)
    test = _ids(test, "test", n)
    if test.numel() < 2:
        raise GraphForgetError("the loss attack needs at least 2 test nodes")
    calib_test, eval_test = _split_half(test, seed)

    def run(out: Tensor) -> tuple[tuple[float, float, float], dict[str, float]]:
        score = _loss_scores(out, data.y)
        calib_auc = _auc_pos_neg(score[retained_train], score[calib_test]) \
            if retained_train.numel() else float("nan")
        threshold = _youden_threshold(score[retained_train], score[calib_test]) \
            if retained_train.numel() else float("inf")
        tpr = float((score[forgotten] >= threshold).double().mean())
        fpr = float((score[eval_test] >= threshold).double().mean())
        auc = bootstrap_auc(score[forgotten], score[eval_test], samples, seed=seed)
        return auc, {"calibration_auc": calib_auc, "threshold": threshold,
                     "advantage": tpr - fpr}

    (auc, low, high), extra = run(logits)
    result = AttackResult("loss", auc, low, high, positives=int(forgotten.numel()),
                          negatives=int(eval_test.numel()), extra=extra)
    if reference_logits is not None:
        (result.auc_retrain, result.auc_retrain_low, result.auc_retrain_high), ref_extra = \
            run(reference_logits)
        result.extra = {**extra, **{f"{k}_retrain": v for k, v in ref_extra.items()}}
    return result


def posterior_difference_attack(original_logits: Tensor, unlearned_logits: Tensor,
                                forgotten: Tensor, never_trained: Tensor,
                                reference_logits: Tensor | None = None, samples: int = 200,
                                seed: int = 0) -> AttackResult:
    r"""Chen et al. (CCS 2021): score :math:`\lVert p_0(v) - p_1(v)\rVert_2`.

    Args:
        original_logits: the model before unlearning, on the original graph.
        unlearned_logits: the model after unlearning, on the original graph.
        forgotten: positives (ids or mask).
        never_trained: negatives, e.g. test nodes (ids or mask).
        reference_logits: the retrained model's outputs; its figure is the same
            distance between ``original_logits`` and the retrained posteriors.
    """
    n = original_logits.size(0)
    forgotten = _ids(forgotten, "forgotten", n)
    never_trained = _ids(never_trained, "never_trained", n)
    p0 = original_logits.double().softmax(-1)

    def run(after: Tensor) -> tuple[float, float, float]:
        if after.shape != original_logits.shape:
            raise GraphForgetError(f"posterior shapes differ: {tuple(after.shape)} vs "
                                   f"{tuple(original_logits.shape)}")
        dist = (p0 - after.double().softmax(-1)).norm(dim=-1)
        return bootstrap_auc(dist[forgotten], dist[never_trained], samples, seed=seed)

    auc, low, high = run(unlearned_logits)
    result = AttackResult("posterior", auc, low, high, positives=int(forgotten.numel()),
                          negatives=int(never_trained.numel()))
    if reference_logits is not None:
        result.auc_retrain, result.auc_retrain_low, result.auc_retrain_high = run(reference_logits)
    return result


def _attack_features(logits: Tensor) -> np.ndarray:
    # Sorted posteriors (Salem et al., NDSS 2019): label-agnostic, so one attack model
    # serves every class.
    probs = logits.double().softmax(-1)
    return probs.sort(dim=-1, descending=True).values.numpy()


def shadow_attack(target: Any, data: Data, forgotten: Tensor, test: Tensor,
                  reference: Any | None = None, shadow_pool: Tensor | None = None,
                  num_shadows: int = 2, samples: int = 200, seed: int = 0,
                  shadow_factory: Any = None) -> AttackResult:
    """Shadow-model attack on forgotten (positive) vs test (negative) nodes.

    Shadow models are plain ``Retrain`` models of the target's backbone for node
    classification (the attacker mimics the architecture, not the unlearning method;
    other tasks use ``target.reference()``), each trained on a random half
    of ``shadow_pool``; the
    other half are its non-members. A small MLP attack classifier learns membership from
    the shadows' sorted posteriors and scores the target's posteriors.

    Args:
        target: the fitted (unlearned) unlearner.
        data: the original graph.
        forgotten, test: positives and negatives (ids or masks).
        reference: the fitted exact reference; scored by the same attack model.
        shadow_pool: nodes the attacker owns (disjoint from the target's training and
            test nodes). (default: nodes in no training/test mask: validation and
            unlabelled nodes)
        num_shadows: shadow models. (default: :obj:`2`)
        shadow_factory: ``seed -> unfitted Unlearner`` to build the shadows instead.
    """
    from sklearn.neural_network import MLPClassifier

    from graphforget.executor import derive_seed

    n = data.num_nodes
    forgotten = _ids(forgotten, "forgotten", n)
    test = _ids(test, "test", n)
    if shadow_pool is None:
        used = data.train_mask.clone() | data.test_mask
        if getattr(data, "forgotten_mask", None) is not None:
            used |= data.forgotten_mask
        used[forgotten] = True
        shadow_pool = (~used).nonzero().view(-1)
    shadow_pool = _ids(shadow_pool, "shadow_pool", n)
    overlap = torch.isin(shadow_pool, torch.cat([forgotten, test]))
    if overlap.any():
        raise GraphForgetError("the shadow pool must be disjoint from the evaluated nodes")
    if shadow_pool.numel() < 8:
        raise GraphForgetError(f"the shadow attack needs at least 8 shadow nodes, got {shadow_pool.numel()}")
    features, labels = [], []
    for k in range(int(num_shadows)):
        s = derive_seed(seed, "shadow", k)
        members, non_members = _split_half(shadow_pool, s)
        shadow_data = data.clone()
        for key in ("train_mask", "val_mask", "test_mask"):
            if getattr(shadow_data, key, None) is not None:
                shadow_data[key] = torch.zeros(n, dtype=torch.bool)
        shadow_data.train_mask[members] = True
        shadow_data.test_mask[non_members] = True
        shadow = _shadow_model(target, s) if shadow_factory is None else shadow_factory(s)
        shadow.fit(shadow_data)
        out = query_logits(shadow, data)
        features += [_attack_features(out[members]), _attack_features(out[non_members])]
        labels += [np.ones(members.numel()), np.zeros(non_members.numel())]
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    attack = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed % (2**32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        attack.fit(np.concatenate(features), np.concatenate(labels))

    def run(model: Any) -> tuple[float, float, float]:
        out = query_logits(model, data)
        score = torch.from_numpy(attack.predict_proba(_attack_features(out))[:, 1])
        return bootstrap_auc(score[forgotten], score[test], samples, seed=seed)

    auc, low, high = run(target)
    result = AttackResult("shadow", auc, low, high, positives=int(forgotten.numel()),
                          negatives=int(test.numel()),
                          extra={"shadows": int(num_shadows), "shadow_nodes": int(shadow_pool.numel())})
    if reference is not None:
        result.auc_retrain, result.auc_retrain_low, result.auc_retrain_high = run(reference)
    return result


def _shadow_model(target: Any, seed: int) -> Any:
    # The attacker mimics the target's backbone, not its unlearning machinery: for node
    # classification a plain Retrain of the same architecture (the base
    # Unlearner.reference, ignoring overrides such as a sharded method returning a copy
    # of itself); for other tasks the method's own exact reference.
    from graphforget._registry import reference_from_registry

    node_task = any(getattr(task, "value", task) == "node" for task in target.tasks)
    shadow = reference_from_registry(target, "retrain") if node_task else target.reference()
    if "seed" in shadow.param_names():
        shadow.set_params(seed=int(seed))
    return shadow


def membership_report(original_logits: Tensor, unlearned: Any, reference: Any, data: Data,
                      forgotten: Tensor, attacks: Sequence[str] = ATTACKS, samples: int = 200,
                      seed: int = 0) -> dict[str, AttackResult]:
    """Runs the chosen attacks for an unlearned model and its exact reference.

    Args:
        original_logits: the model before unlearning, queried on ``data``
            (:func:`query_logits` called before :meth:`~graphforget.Unlearner.unlearn`).
        unlearned: the unlearner after serving the request.
        reference: the exact reference fitted on the retained data.
        data: the original graph (with ``train_mask`` and ``test_mask``).
        forgotten: the forgotten training nodes.
        attacks: any of :data:`ATTACKS`.
    """
    unknown = sorted(set(attacks) - set(ATTACKS))
    if unknown:
        raise GraphForgetError(f"unknown attack(s) {unknown}; choose from {list(ATTACKS)}")
    n = data.num_nodes
    forgotten = _ids(forgotten, "forgotten", n)
    test = data.test_mask.nonzero().view(-1)
    hit = torch.zeros(n, dtype=torch.bool)
    hit[forgotten] = True
    retained_train = (data.train_mask & ~hit).nonzero().view(-1)
    out = {}
    unlearned_logits = query_logits(unlearned, data)
    reference_logits = query_logits(reference, data)
    if "loss" in attacks:
        out["loss"] = loss_attack(unlearned_logits, data, forgotten, retained_train, test,
                                  reference_logits, samples, seed)
    if "posterior" in attacks:
        out["posterior"] = posterior_difference_attack(original_logits, unlearned_logits, forgotten,
                                                       test, reference_logits, samples, seed)
    if "shadow" in attacks:
        out["shadow"] = shadow_attack(unlearned, data, forgotten, test, reference,
                                      samples=samples, seed=seed)
    return out
