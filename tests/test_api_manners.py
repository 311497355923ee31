"""API manners from issue #28: empty edge requests, scikit-learn's parameter protocol,
an unsupported backbone named as such."""

import warnings

import pytest
import sklearn.base
import torch
from sklearn.utils import estimator_checks

from graphforget import EdgeRequest, GraphForgetError, make_method, method_names, resolve_method
from graphforget.errors import UnsupportedModelError, UnsupportedRequestError
from graphforget.testing import small_graph


@pytest.mark.parametrize("empty", [[], [[], []], (), torch.empty(2, 0, dtype=torch.long)],
                         ids=["list", "two-empty-rows", "tuple", "tensor"])
def test_empty_edge_request_is_the_identity(empty):
    request = EdgeRequest(empty)
    assert request.is_empty and len(request) == 0
    assert request.edge_index.dtype == torch.long and tuple(request.edge_index.shape) == (2, 0)
    u = make_method("retrain", epochs=2, hidden_channels=8).fit(small_graph())
    before = u.fingerprint()
    report = u.unlearn(request)
    assert report.noop and u.fingerprint() == before and u.history_ == []


def test_sklearn_clone_and_deep_params():
    u = make_method("gif", epochs=3, model_kwargs={"heads": 2}, model="gat")
    c = sklearn.base.clone(u)
    assert type(c) is type(u) and c is not u
    assert c.get_params(deep=False) == u.get_params(deep=False)
    assert c.model_kwargs is not u.model_kwargs  # clone copies non-estimator parameters
    assert u.get_params(deep=True) == u.get_params()
    assert not c.is_fitted


def test_sklearn_clone_of_a_fitted_unlearner_is_unfitted():
    u = make_method("retrain", epochs=2, hidden_channels=8).fit(small_graph())
    assert not sklearn.base.clone(u).is_fitted


def test_nested_params_follow_sklearn():
    outer = make_method("retrain", epochs=2)
    outer.model_kwargs = make_method("gif", epochs=5)  # any parameter with get_params nests
    deep = outer.get_params(deep=True)
    assert deep["model_kwargs__epochs"] == 5 and "model_kwargs__epochs" not in outer.get_params(deep=False)
    outer.set_params(model_kwargs__epochs=7, epochs=3)
    assert outer.model_kwargs.epochs == 7 and outer.epochs == 3
    with pytest.raises(GraphForgetError, match="no parameter 'nope'"):
        outer.set_params(nope__x=1)
    with pytest.raises(GraphForgetError, match="no nested parameters"):
        outer.set_params(epochs__x=1)
    assert outer.epochs == 3


@pytest.mark.parametrize("check", [
    estimator_checks.check_get_params_invariance,
    estimator_checks.check_set_params,
    estimator_checks.check_parameters_default_constructible,
    estimator_checks.check_no_attributes_set_in_init,
], ids=lambda c: c.__name__)
def test_sklearn_param_checks_on_every_method(check):
    for name in method_names():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check(name, resolve_method(name)())
            sklearn.base.clone(resolve_method(name)())


def test_unsupported_model_names_the_supported_ones():
    with pytest.raises(UnsupportedModelError, match=r"does not support model 'gcn'; supported models: sgc, gpr"):
        make_method("cgu", model="gcn")
    with pytest.raises(UnsupportedModelError, match="supported models: gcn"):
        make_method("gnndelete", model="mlp").fit(small_graph())
    assert not issubclass(UnsupportedModelError, UnsupportedRequestError)
    assert issubclass(UnsupportedModelError, GraphForgetError)
