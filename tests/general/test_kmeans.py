import numpy as np
import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.exact.dc_kmeans import DCKMeans
from graphforget.exact.kmeans import kmeanspp_race
from graphforget.exact.q_kmeans import QKMeans
from graphforget.requests import SampleRequest, sample_samples
from graphforget.testing import check_unlearner


@pytest.mark.parametrize("cls", [QKMeans, DCKMeans])
def test_conformance(cls, multi_small):
    check_unlearner(lambda: cls(n_clusters=3), multi_small)


def _sequence(u, data, steps=6):
    retained = data
    for seed in range(steps):
        req = sample_samples(u.data_, count=1 + 5 * (seed % 2), seed=seed)
        u.unlearn(req)
        retained = req.apply(retained)
    return retained


def test_q_kmeans_equals_retraining(digits):
    u = QKMeans(n_clusters=10, epsilon=0.05, seed=1).fit(digits)
    retained = _sequence(u, digits)
    ref = QKMeans(n_clusters=10, epsilon=0.05, seed=1).fit(retained)
    assert torch.equal(u.parameter_vector(), ref.parameter_vector())
    assert len(u.trajectory_) == len(ref.trajectory_)
    for a, b in zip(u.trajectory_, ref.trajectory_, strict=False):
        assert np.array_equal(a, b)
    # deleting a seed restarts and still equals retraining
    seed_row = int(u.seeds_[0])
    u.unlearn(SampleRequest([seed_row]))
    ref = QKMeans(n_clusters=10, epsilon=0.05, seed=1).fit(SampleRequest([seed_row]).apply(retained))
    assert torch.equal(u.parameter_vector(), ref.parameter_vector())


def test_q_kmeans_fine_lattice_forces_replay(digits):
    u = QKMeans(n_clusters=10, epsilon=1e-6, seed=0).fit(digits)
    restarts = []
    retained = digits
    for seed in range(3):
        req = sample_samples(u.data_, count=2, seed=seed)
        restarts.append(u.unlearn(req).diagnostics["restart"])
        retained = req.apply(retained)
    assert any(r is not None for r in restarts)  # a fine lattice cannot absorb deletions
    ref = QKMeans(n_clusters=10, epsilon=1e-6, seed=0).fit(retained)
    assert torch.equal(u.parameter_vector(), ref.parameter_vector())


@pytest.mark.parametrize("height", [1, 2])
def test_dc_kmeans_equals_retraining_node_for_node(height, digits):
    u = DCKMeans(n_clusters=10, branching=4, height=height, seed=2).fit(digits)
    retained = _sequence(u, digits)
    ref = DCKMeans(n_clusters=10, branching=4, height=height, seed=2).fit(retained)
    for lu, lr in zip(u.levels_, ref.levels_, strict=False):
        for (cu, wu), (cr, wr) in zip(lu, lr, strict=False):
            assert np.array_equal(cu, cr) and np.array_equal(wu, wr)
    assert u.score() > 0.5 and abs(u.loss() - ref.loss()) == 0


def test_race_samples_d2_distribution():
    # two far clusters: after seeding in one, the second seed lands in the other
    X = np.r_[np.zeros((50, 2)), np.full((50, 2), 10.0)]
    hits = sum(int(kmeanspp_race(X + 1e-3 * np.arange(100)[:, None], np.arange(100), 2, s)[1] >= 50)
               != int(kmeanspp_race(X + 1e-3 * np.arange(100)[:, None], np.arange(100), 2, s)[0] >= 50)
               for s in range(30))
    assert hits == 30


def test_bad_params(digits):
    with pytest.raises(GraphForgetError, match="n_clusters"):
        QKMeans(n_clusters=0).fit(digits)
    with pytest.raises(GraphForgetError, match="epsilon"):
        QKMeans(epsilon=0).fit(digits)
