import pytest
import torch

from graphforget.certified.certified_removal import CertifiedRemoval
from graphforget.data.tabular import load_digits_data
from graphforget.requests import sample_samples
from graphforget.testing import check_unlearner


def test_conformance(binary_small):
    check_unlearner(lambda: CertifiedRemoval(lam=1e-2, sigma=0.1), binary_small)


def test_bound_holds_on_every_request_and_budget_retrains(binary_small):
    u = CertifiedRemoval(lam=1e-2, sigma=0.05, epsilon=1.0).fit(binary_small)
    retrained = 0
    for seed in range(12):
        rep = u.unlearn(sample_samples(u.data_, count=4, seed=seed))
        d = rep.diagnostics
        true_residual = u.clf_.residual_norm()  # gradient of the perturbed objective (b included)
        if d["retrained"]:
            retrained += 1
        assert true_residual <= d["cumulative"] + 1e-10
        assert d["cumulative"] <= d["budget"] + 1e-12
    assert retrained >= 1  # a tight budget is exhausted and triggers a retrain
    assert u.clf_.retrains_ == retrained


def test_noise_changes_parameters(binary_small):
    a = CertifiedRemoval(sigma=0.01).fit(binary_small).parameter_vector()
    b = CertifiedRemoval(sigma=1.0).fit(binary_small).parameter_vector()
    assert float((a - b).norm()) > 1e-3 * float(a.norm())


@pytest.mark.parametrize("accounting", ["joint", "per_head"])
def test_multiclass(accounting):
    digits = load_digits_data(normalize=True)  # the bound needs ||x|| <= 1 to be small
    u = CertifiedRemoval(lam=1e-2, sigma=5.0, accounting=accounting).fit(digits)
    before = u.parameter_vector().clone()
    rep = u.unlearn(sample_samples(digits, count=5, seed=0))
    assert not rep.diagnostics["retrained"] and u.score() > 0.8
    assert not torch.equal(before, u.parameter_vector())
