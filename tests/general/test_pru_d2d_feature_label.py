import numpy as np
import pytest
import torch

from graphforget.approx.feature_label import FeatureLabel, LabelRequest
from graphforget.approx.pru import PRU
from graphforget.certified.descent_to_delete import DescentToDelete
from graphforget.errors import GraphForgetError
from graphforget.general import TabularRetrain
from graphforget.requests import FeatureRequest, request_from_dict, sample_samples
from graphforget.testing import check_unlearner


def _dist(a, b):
    return float((a - b).norm())


@pytest.mark.parametrize("factory", [
    lambda: PRU(lam=1e-2),
    lambda: DescentToDelete(lam=0.05, iters=100, steps_per_deletion=5),
    lambda: FeatureLabel(lam=1e-2),
    lambda: FeatureLabel(lam=1e-2, order=1),
])
def test_conformance(factory, multi_small):
    check_unlearner(factory, multi_small)


def test_pru_moves_toward_retraining(binary_small):
    u = PRU(lam=1e-2).fit(binary_small)
    original = u.parameter_vector().clone()
    req = sample_samples(binary_small, count=4, seed=3)
    u.unlearn(req)
    ref = TabularRetrain(model="ridge", lam=1e-2).fit(req.apply(binary_small)).parameter_vector()
    assert _dist(u.parameter_vector(), ref) < _dist(original, ref)


def test_pru_exact_on_deleted_predictions(binary_small):
    u = PRU(lam=1e-2).fit(binary_small)
    req = sample_samples(binary_small, count=3, seed=1)
    xr = binary_small.x[req.node_ids].double().numpy()
    W0 = u.W_.copy()
    u.unlearn(req)
    # the update lies in the span of the deleted rows
    delta = u.W_ - W0
    proj = xr.T @ np.linalg.lstsq(xr.T, delta, rcond=None)[0]
    assert np.allclose(proj, delta, atol=1e-10)


def test_pru_is_least_squares(binary_small):
    assert "model" not in PRU.param_names() and PRU().model == "ridge"
    with pytest.raises(GraphForgetError, match="lam"):
        PRU(lam=0).fit(binary_small)


def test_d2d_secret_within_sensitivity_and_noise(binary_small):
    u = DescentToDelete(lam=0.05, iters=300, steps_per_deletion=20).fit(binary_small)
    for seed in range(3):
        req = sample_samples(u.data_, count=2, seed=seed)
        rep = u.unlearn(req)
        exact = TabularRetrain(lam=0.05).fit(u.data_).W_
        assert float(np.linalg.norm(u.secret_ - exact)) <= rep.diagnostics["sensitivity"] / 2
    a = DescentToDelete(lam=0.05, epsilon=1.0).fit(binary_small)
    b = DescentToDelete(lam=0.05, epsilon=10.0).fit(binary_small)
    assert a.sigma_ > b.sigma_ and _dist(a.parameter_vector(), b.parameter_vector()) > 0
    assert np.array_equal(a.secret_, b.secret_)  # only the published noise differs


@pytest.mark.parametrize("order,tau,factor", [(2, 1.0, 0.1), (1, 20.0, 0.8)])
def test_label_flip_moves_toward_retraining(order, tau, factor, binary_small):
    u = FeatureLabel(lam=1e-2, order=order, tau=tau).fit(binary_small)
    original = u.parameter_vector().clone()
    rows = sample_samples(binary_small, count=10, seed=0).node_ids
    req = LabelRequest(rows, 1 - binary_small.y[rows])
    u.unlearn(req)
    ref = TabularRetrain(lam=1e-2).fit(req.apply(binary_small)).parameter_vector()
    assert _dist(u.parameter_vector(), ref) < factor * _dist(original, ref)


def test_feature_request_second_order(binary_small):
    u = FeatureLabel(lam=1e-2).fit(binary_small)
    original = u.parameter_vector().clone()
    rows = sample_samples(binary_small, count=10, seed=2).node_ids
    req = FeatureRequest(rows, [0, 1, 2])
    u.unlearn(req)
    ref = TabularRetrain(lam=1e-2).fit(req.apply(binary_small)).parameter_vector()
    assert _dist(u.parameter_vector(), ref) < 0.1 * _dist(original, ref)


def test_label_request_validation_and_roundtrip(binary_small):
    with pytest.raises(ValueError, match="labels"):
        LabelRequest([0, 1], [1])
    with pytest.raises(ValueError, match="labels out of range"):
        LabelRequest([0], [5]).validate(binary_small)
    req = LabelRequest([0, 1], [1, 0])
    assert request_from_dict(req.to_dict()) == req
    out = req.apply(binary_small)
    assert out.y[:2].tolist() == [1, 0] and torch.equal(out.y[2:], binary_small.y[2:])
