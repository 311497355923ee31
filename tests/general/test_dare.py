import numpy as np
import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.exact.dare import DaRE
from graphforget.requests import SampleRequest, sample_samples
from graphforget.testing import check_unlearner


def test_conformance(multi_small):
    check_unlearner(lambda: DaRE(n_estimators=4, max_depth=5, topd=1, k=5), multi_small)


@pytest.mark.parametrize("topd", [0, 2])
def test_deletions_equal_retraining_same_seed(topd, cancer):
    u = DaRE(n_estimators=5, max_depth=6, topd=topd, k=4, max_features=None, seed=3).fit(cancer)
    retained = cancer
    retrained = 0
    for seed in range(6):  # sequential deletions, some in batches
        req = sample_samples(u.data_, count=1 + 7 * (seed % 2), seed=seed)
        rep = u.unlearn(req)
        retrained += rep.diagnostics["retrained_subtrees"]
        retained = req.apply(retained)
    ref = DaRE(n_estimators=5, max_depth=6, topd=topd, k=4, max_features=None, seed=3).fit(retained)
    assert u.forest_digest() == ref.forest_digest()  # node for node, count for count
    assert torch.equal(u.predict_proba(), ref.predict_proba())
    assert retrained > 0  # the sequence exercised subtree retraining


def test_small_leaves_force_rebuilds():
    # tiny data: every deletion changes decisions near the root
    rng = np.random.default_rng(0)
    from graphforget.data.tabular import tabular_data
    data = tabular_data(rng.normal(size=(40, 3)).round(1), rng.integers(0, 2, 40), "0.8/0.2")
    u = DaRE(n_estimators=3, max_depth=8, k=3, max_features=2).fit(data)
    retained = data
    for i in data.train_mask.nonzero().view(-1)[:20].tolist():
        u.unlearn(SampleRequest([i]))
        retained = SampleRequest([i]).apply(retained)
        ref = DaRE(n_estimators=3, max_depth=8, k=3, max_features=2).fit(retained)
        assert u.forest_digest() == ref.forest_digest()


def test_accuracy_and_seed_matters(cancer):
    a = DaRE(n_estimators=10, max_depth=6, seed=0).fit(cancer)
    b = DaRE(n_estimators=10, max_depth=6, seed=1).fit(cancer)
    assert a.score() > 0.9 and a.forest_digest() != b.forest_digest()


def test_bad_params(cancer):
    with pytest.raises(GraphForgetError, match="max_features"):
        DaRE(max_features="log3").fit(cancer)
    with pytest.raises(GraphForgetError, match="topd"):
        DaRE(topd=-1).fit(cancer)
