import pytest
import torch

from graphforget.metrics import (
    accuracy,
    f1_macro,
    measure,
    output_kl,
    parameter_distance,
    prediction_agreement,
    roc_auc,
)


def test_utility_metrics_on_hand_built_tensors():
    pred, target = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])
    assert accuracy(pred, target) == 0.75
    # per-class F1: class0 1.0, class1 2/3, class2 2/3
    assert f1_macro(pred, target) == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert roc_auc(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])) == 0.75
    assert roc_auc(torch.tensor([1.0, 1.0]), torch.tensor([0, 1])) == 0.5


def test_fidelity_metrics():
    a, b = torch.zeros(3), torch.tensor([3.0, 4.0, 0.0])
    assert parameter_distance(a, b) == 5.0
    logits = torch.randn(10, 3)
    assert output_kl(logits, logits) == pytest.approx(0.0, abs=1e-12)
    assert output_kl(logits, -logits) > 0
    assert prediction_agreement(logits, logits) == 1.0


def test_measure_reports_time_and_memory():
    with measure() as m:
        x = torch.ones(4_000_000)  # 16 MB
        del x
    assert m.seconds > 0 and m.peak_memory_mb > 0


def test_measure_counts_cpu_time_not_sleep():
    import time

    with measure() as busy:
        end = time.process_time() + 0.05
        while time.process_time() < end:
            pass
    with measure() as idle:
        time.sleep(0.05)
    assert busy.cpu_seconds >= 0.05
    assert idle.seconds >= 0.05 and idle.cpu_seconds < 0.04
