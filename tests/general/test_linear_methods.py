import numpy as np
import pytest
import torch

from graphforget.approx.deltagrad import DeltaGrad
from graphforget.approx.jackknife import InfinitesimalJackknife
from graphforget.certified.sekhari import Sekhari
from graphforget.general import TabularRetrain
from graphforget.requests import sample_samples
from graphforget.testing import check_unlearner


def _dist(a, b):
    return float((a - b).norm())


def _run(u, data, count=12, steps=2):
    original = u.parameter_vector().clone()
    retained = data
    for seed in range(steps):
        req = sample_samples(u.data_, count=count, seed=seed)
        u.unlearn(req)
        retained = req.apply(retained)
    return original, retained


@pytest.mark.parametrize("factory", [
    lambda: InfinitesimalJackknife(lam=1e-2),
    lambda: InfinitesimalJackknife(lam=1e-2, l1=1e-3),
    lambda: Sekhari(lam=1e-2, max_deletions=10),
    lambda: DeltaGrad(lam=1e-2, iters=60, lr=1.0),
])
def test_conformance(factory, multi_small):
    check_unlearner(factory, multi_small)


@pytest.mark.parametrize("model", ["logreg", "ridge"])
def test_jackknife_moves_toward_retraining(model, binary_small):
    u = InfinitesimalJackknife(model=model, lam=1e-2).fit(binary_small)
    original, retained = _run(u, binary_small)
    ref = TabularRetrain(model=model, lam=1e-2).fit(retained).parameter_vector()
    assert _dist(u.parameter_vector(), ref) < 0.2 * _dist(original, ref)


def test_proximal_jackknife_moves_toward_retraining(binary_small):
    u = InfinitesimalJackknife(lam=1e-2, l1=2e-3).fit(binary_small)
    original, retained = _run(u, binary_small)
    ref = InfinitesimalJackknife(lam=1e-2, l1=2e-3).fit(retained).parameter_vector()
    assert (original == 0).any()  # the l1 term makes the model sparse
    assert _dist(u.parameter_vector(), ref) < 0.5 * _dist(original, ref)


def test_sekhari_within_lemma_bound_and_noise(binary_small):
    u = Sekhari(lam=1e-2, sigma=0.0).fit(binary_small)
    original, retained = _run(u, binary_small, count=5, steps=3)
    exact = TabularRetrain(lam=1e-2).fit(retained).W_
    gap = float(np.linalg.norm(u.W_bar_ - exact))
    assert gap <= u.gamma(u.n_, u.x_max_, m=u.m_)  # Lemma 10
    assert gap < 0.05 * float(np.linalg.norm(original.numpy().reshape(exact.shape) - exact))
    noisy = Sekhari(lam=1e-2, epsilon=1.0, max_deletions=5).fit(binary_small)
    quieter = Sekhari(lam=1e-2, epsilon=100.0, max_deletions=5).fit(binary_small)
    assert _dist(noisy.parameter_vector(), quieter.parameter_vector()) > 0
    assert noisy.sigma_ == pytest.approx(100 * quieter.sigma_)


def test_sekhari_capacity_retrains(binary_small):
    u = Sekhari(lam=1e-2, sigma=0.0, max_deletions=8).fit(binary_small)
    r1 = u.unlearn(sample_samples(u.data_, count=6, seed=0))
    r2 = u.unlearn(sample_samples(u.data_, count=6, seed=1))
    assert not r1.diagnostics["retrained"] and r2.diagnostics["retrained"]
    exact = TabularRetrain(lam=1e-2).fit(u.data_).parameter_vector()
    assert torch.allclose(u.parameter_vector(), exact, atol=1e-12)


def test_deltagrad_period_one_is_retraining(binary_small):
    u = DeltaGrad(lam=1e-2, lr=1.0, iters=80, period=1).fit(binary_small)
    _, retained = _run(u, binary_small)
    ref = DeltaGrad(lam=1e-2, lr=1.0, iters=80, period=1).fit(retained)
    assert torch.equal(u.parameter_vector(), ref.parameter_vector())


def test_deltagrad_approximates_retraining(binary_small):
    u = DeltaGrad(lam=1e-2, lr=1.0, iters=150, period=5, burn_in=5).fit(binary_small)
    original, retained = _run(u, binary_small)
    ref = DeltaGrad(lam=1e-2, lr=1.0, iters=150).fit(retained).parameter_vector()
    assert _dist(u.parameter_vector(), ref) < 0.1 * _dist(original, ref)
