import numpy as np
import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.general import CaoYang
from graphforget.requests import SampleRequest, sample_samples
from graphforget.testing import check_unlearner


@pytest.mark.parametrize("model", ["naive-bayes", "ridge"])
def test_conformance(model, multi_small):
    check_unlearner(lambda: CaoYang(learner=model), multi_small, exact_atol=1e-9)


@pytest.mark.parametrize("model", ["naive-bayes", "ridge"])
def test_summations_equal_retraining_over_a_sequence(model, digits):
    u = CaoYang(learner=model).fit(digits)
    retained = digits
    for seed in range(4):
        req = sample_samples(u.data_, count=25, seed=seed)
        u.unlearn(req)
        retained = req.apply(retained)
    ref = CaoYang(learner=model).fit(retained)
    for key in u.sums_:
        np.testing.assert_allclose(u.sums_[key], ref.sums_[key], rtol=1e-12, atol=1e-9)
    assert torch.allclose(u.parameter_vector(), ref.parameter_vector(), rtol=1e-9, atol=1e-9)
    assert torch.equal(u.predict(), ref.predict())
    assert u.score() > 0.75


def test_unknown_model(digits):
    with pytest.raises(GraphForgetError, match="naive-bayes"):
        CaoYang(learner="svm").fit(digits)


def test_cannot_forget_everything(cancer):
    u = CaoYang().fit(cancer)
    before = u.fingerprint()
    with pytest.raises(GraphForgetError, match="every training row"):
        u.unlearn(SampleRequest(cancer.train_mask.nonzero().view(-1)))
    assert u.fingerprint() == before
