"""The evaluation protocol (graphforget.metrics.forgetting) and the vision bench task."""

import math

import numpy as np
import pytest
import torch

from graphforget.bench.runner import CellSpec, method_class, run_cell
from graphforget.errors import GraphForgetError
from graphforget.metrics.forgetting import (
    average_gap,
    epsilon_score,
    forgetting_quality,
    mia_efficacy,
    per_example_epsilon,
    u_lira,
    unlearning_accuracies,
)
from graphforget.vision import FineTune, VisionGradientAscent, VisionRetrain, load_vision


def test_epsilon_buckets():
    h = epsilon_score(np.array([0.0, 0.49, 0.5, 0.99, 1.2, 2.0, math.inf]))
    assert h.tolist() == [1.0, 1.0, 0.5, 0.5, 0.25, 0.0625, 0.0]


def test_per_example_epsilon_hand_built():
    # indistinguishable populations: no attack beats chance, epsilon = 0
    assert per_example_epsilon([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]) == 0.0
    # perfectly separated: one threshold has FPR = FNR = 0, epsilon = inf
    assert per_example_epsilon([10.0, 11.0, 12.0], [0.0, 1.0, 2.0]) == math.inf
    # u = [0,1,1,1], r = [0,0,0,1]: the best rule "output > 0.5" has FPR = FNR = 1/4,
    # so epsilon = log((1 - 0.01 - 1/4) / (1/4)) = log(2.96)
    eps = per_example_epsilon([0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0], delta=0.01)
    assert eps == pytest.approx(math.log(0.74 / 0.25))


def test_forgetting_quality_formula():
    u = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    r = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    out = forgetting_quality(u, r, retain_accuracy=(0.9, 1.0), test_accuracy=(0.8, 1.0))
    # example 0: eps = log(2.96) = 1.085 -> bucket 2 -> H = 0.25; example 1: eps = 0 -> H = 1
    assert out["epsilons"][0] == pytest.approx(math.log(2.96))
    assert out["F"] == pytest.approx(0.625)
    assert out["score"] == pytest.approx(0.625 * 0.9 * 0.8)
    with pytest.raises(GraphForgetError):
        forgetting_quality(u, r[:, :1])


def test_accuracies_gap_and_mia():
    y = torch.tensor([0, 1, 0, 1])
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])
    masks = [torch.tensor(m, dtype=torch.bool) for m in ([0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1])]
    acc = unlearning_accuracies(logits, y, *masks)
    assert acc == {"retain_accuracy": 1.0, "test_accuracy": 1.0, "forget_accuracy": 0.0,
                   "unlearn_accuracy": 1.0}
    a = {"unlearn_accuracy": 0.1, "mia_efficacy": 0.2, "retain_accuracy": 0.9, "test_accuracy": 0.8}
    b = {"unlearn_accuracy": 0.3, "mia_efficacy": 0.2, "retain_accuracy": 1.0, "test_accuracy": 0.9}
    assert average_gap(a, b) == pytest.approx((0.2 + 0.0 + 0.1 + 0.1) / 4)
    with pytest.raises(GraphForgetError):
        unlearning_accuracies(logits, y, masks[0].long(), masks[1], masks[2])

    # members: confident and right; non-members: unsure. Forget rows that look like
    # non-members are judged non-members, those that look like members are not.
    g = torch.Generator().manual_seed(0)
    n = 400
    y = torch.randint(0, 3, (n,), generator=g)
    conf = torch.where(torch.arange(n) < 200, torch.tensor(8.0), torch.tensor(0.5))
    logits = torch.randn(n, 3, generator=g) * 0.1
    logits[torch.arange(n), y] += conf
    member = torch.arange(n) < 150
    nonmember = (torch.arange(n) >= 200) & (torch.arange(n) < 350)
    forget_like_members = (torch.arange(n) >= 150) & (torch.arange(n) < 200)
    forget_like_test = torch.arange(n) >= 350
    assert mia_efficacy(logits, y, member, nonmember, forget_like_test) > 0.9
    assert mia_efficacy(logits, y, member, nonmember, forget_like_members) < 0.1


def test_vision_task_records_contract():
    spec = CellSpec(method="finetune", dataset="digits", model="mlp", request="class", ratio=0.1,
                    seed=0, task="vision", params={"epochs": 5})
    record = run_cell(spec)
    for key in ("forget_accuracy_unlearned", "forget_accuracy_retrain", "retain_accuracy_unlearned",
                "retain_accuracy_retrain", "mia_efficacy_unlearned", "mia_efficacy_retrain",
                "average_gap", "kl_forget", "agreement_test"):
        assert key in record and not math.isnan(record[key]), key
        assert record[key] >= 0.0 and (key.startswith("kl") or record[key] <= 1.0), key
    assert record["utility_metric"] == "accuracy"
    assert record["forget_accuracy_retrain"] == 0.0  # a forgotten class is never predicted
    assert record["mia_efficacy_retrain"] > 0.5
    # gradient-ascent resolves to the vision variant on this task; retrain to VisionRetrain
    assert method_class(CellSpec("gradient-ascent", "digits", "mlp", "sample", 0.1, 0, task="vision")) \
        is VisionGradientAscent
    assert method_class(CellSpec("retrain", "digits", "mlp", "sample", 0.1, 0, task="vision")) is VisionRetrain


@pytest.mark.slow
def test_u_lira_runs_and_is_bounded():
    data = load_vision("digits").subgraph(torch.arange(300))
    candidates = data.train_mask.nonzero().view(-1)[:40]
    out = u_lira(lambda i: FineTune(epochs=3, hidden_channels=32, seed=i),
                 lambda i: VisionRetrain(epochs=3, hidden_channels=32, seed=i),
                 data, candidates, n_shadows=3, n_targets=1)
    assert 0.5 <= out["accuracy"] <= 1.0 and 0.0 <= out["auc"] <= 1.0
    assert out["examples"] == 20


def test_collect_forgetting_quality_small_n():
    from graphforget.metrics.forgetting import collect_forgetting_quality
    from graphforget.requests import sample_samples

    data = load_vision("digits").subgraph(torch.arange(300))
    request = sample_samples(data, ratio=0.1, seed=0)
    forget = torch.zeros(data.num_nodes, dtype=torch.bool)
    forget[request.indices] = True
    retained = request.apply(data)
    # the "unlearner" is VisionRetrain itself: unlearned and retrained populations are the
    # same distribution, so no threshold attack separates them well and F is high
    res = collect_forgetting_quality(lambda i: VisionRetrain(epochs=2, hidden_channels=16, seed=i),
                                     lambda i: VisionRetrain(epochs=2, hidden_channels=16, seed=i + 100),
                                     data, request, forget, retained.train_mask, retained.test_mask,
                                     n_models=3)
    assert res["epsilons"].shape == (int(forget.sum()),)
    assert 0.0 <= res["F"] <= 1.0 and res["F"] >= 0.5
    assert res["score"] == pytest.approx(res["F"] * res["retain_ratio"] * res["test_ratio"])
