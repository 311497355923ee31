"""Vision core: models, VisionRetrain exactness, conformance and forgetting of every method."""

import pytest
import torch

from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.requests import NodeRequest, SampleRequest, sample_samples
from graphforget.testing import check_unlearner
from graphforget.vision import (
    SCRUB,
    BoundaryExpand,
    BoundaryShrink,
    FineTune,
    FisherForgetting,
    L1Sparse,
    NegGradPlus,
    RandomLabel,
    SalUn,
    VisionGradientAscent,
    VisionRetrain,
    build_vision_model,
    load_vision,
    sample_class_request,
)

METHODS = [FineTune, VisionGradientAscent, NegGradPlus, RandomLabel, L1Sparse, SalUn, SCRUB,
           FisherForgetting, BoundaryShrink, BoundaryExpand]


@pytest.fixture(scope="module")
def digits():
    return load_vision("digits")


@pytest.fixture(scope="module")
def small_digits(digits):
    # 400 rows keep the conformance suite (several fits per method) fast
    return digits.subgraph(torch.arange(400))


def _accuracy(unlearner, data, mask):
    logits = unlearner.logits_on(data.x)
    return float((logits[mask].argmax(-1) == data.y[mask]).float().mean())


@pytest.mark.parametrize("name,shape", [("mlp", (1, 8, 8)), ("cnn", (1, 8, 8)), ("cnn", (1, 28, 28)),
                                        ("resnet18", (3, 16, 16))])
def test_models_shapes(name, shape):
    model = build_vision_model(name, shape, 10, hidden_channels=8 if name == "resnet18" else None)
    x = torch.randn(3, *shape)
    assert model(x).shape == (3, 10)
    assert model(x.flatten(1)).shape == (3, 10)  # flat rows are reshaped
    assert model.features(x).shape[1] == model.classifier.in_features


def test_resnet18_path_trains_and_unlearns(small_digits):
    # device="auto" takes CUDA when present and the CPU here; 65 training rows leave a
    # last batch of one, which BatchNorm could not train on
    data = small_digits.subgraph(torch.arange(80))
    pool = data.train_mask.nonzero().view(-1)
    u = SalUn(model="resnet18", hidden_channels=4, epochs=1, batch_size=int(pool.numel()) - 1,
              unlearn_epochs=1, device="auto").fit(data)
    before = u.parameter_vector().clone()
    report = u.unlearn(SampleRequest(pool[:3]))
    after = u.parameter_vector()
    assert u.predict().shape == (80,) and torch.isfinite(after).all()
    assert report.affected["samples"] == 3 and not torch.equal(before, after)  # the update ran
    assert not bool(u.data_.train_mask[pool[:3]].any())  # forgotten rows left the training set


def test_images_view(digits):
    assert digits.x.shape == (1797, 1, 8, 8) and digits.edge_index.shape == (2, 0)
    assert int(digits.train_mask.sum()) + int(digits.test_mask.sum()) == 1797
    req = sample_class_request(digits, label=3)
    assert bool((digits.y[req.indices] == 3).all())
    assert int(req.indices.numel()) == int((digits.train_mask & (digits.y == 3)).sum())


def test_retrain_is_exact_and_deterministic(small_digits):
    req = sample_samples(small_digits, ratio=0.1, seed=1)
    a = VisionRetrain(epochs=3).fit(small_digits)
    before = a.parameter_vector().clone()
    a.unlearn(req)
    b = VisionRetrain(epochs=3).fit(req.apply(small_digits))
    assert torch.equal(a.parameter_vector(), b.parameter_vector())  # bitwise on CPU
    assert not torch.equal(before, b.parameter_vector())


@pytest.mark.parametrize("cls", [VisionRetrain] + METHODS, ids=lambda c: c.__name__)
def test_conformance(cls, small_digits):
    pool = small_digits.train_mask.nonzero().view(-1)
    requests = [SampleRequest(pool[:6]), SampleRequest(pool[10:13])]
    done = check_unlearner(lambda: cls(epochs=3, hidden_channels=32), small_digits, requests=requests)
    assert "save-load-roundtrip" in done["checks"] and "deterministic" in done["checks"]
    if cls is VisionRetrain:
        assert "exact-equals-reference" in done["checks"]
    u = cls(epochs=1, hidden_channels=16).fit(small_digits)
    with pytest.raises(UnsupportedRequestError):
        u.unlearn(NodeRequest([int(pool[0])]))
    ref = u.reference()
    assert isinstance(ref, VisionRetrain) and ref.get_params() == VisionRetrain(
        epochs=1, hidden_channels=16).get_params()


@pytest.fixture(scope="module")
def class_scenario(digits):
    request = sample_class_request(digits, label=3)
    forget = torch.zeros(digits.num_nodes, dtype=torch.bool)
    forget[request.indices] = True
    test = digits.test_mask & (digits.y != 3)
    original = VisionRetrain().fit(digits)
    return request, forget, test, _accuracy(original, digits, forget), _accuracy(original, digits, test)


# Tolerances (digits, default MLP, one class forgotten): forget accuracy must drop by at
# least 0.3 from the original's (~0.99; retraining gives 0), and test accuracy on the
# other classes must stay within 0.06 of the original's (~0.98).
@pytest.mark.parametrize("cls", METHODS, ids=lambda c: c.__name__)
def test_class_forgetting(cls, digits, class_scenario):
    request, forget, test, fa_original, ta_original = class_scenario
    u = cls().fit(digits)
    u.unlearn(request)
    fa, ta = _accuracy(u, digits, forget), _accuracy(u, digits, test)
    assert fa_original > 0.95
    assert fa <= fa_original - 0.3, f"{cls.__name__}: forget accuracy {fa:.3f} vs original {fa_original:.3f}"
    assert ta >= ta_original - 0.06, f"{cls.__name__}: test accuracy {ta:.3f} vs original {ta_original:.3f}"


def test_bad_hyper_parameters_raise(small_digits):
    with pytest.raises(GraphForgetError, match="vision model"):
        FineTune(model="vgg").fit(small_digits)
    with pytest.raises(GraphForgetError, match="beta"):
        NegGradPlus(beta=1.5).fit(small_digits)
    with pytest.raises(GraphForgetError, match="saliency_ratio"):
        SalUn(saliency_ratio=0.0).fit(small_digits)
    u = FineTune(epochs=1).fit(small_digits)
    before = u.fingerprint()
    u.unlearn_lr = -1.0
    with pytest.raises(GraphForgetError, match="unlearn_lr"):
        u.unlearn(SampleRequest([int(small_digits.train_mask.nonzero()[0])]))
    assert u.fingerprint() == before
    flat = small_digits.clone()
    flat.x = torch.randn(flat.num_nodes, 10)
    with pytest.raises(GraphForgetError, match="image shape"):
        FineTune().fit(flat)


def test_salun_mask_and_fisher_noise_knobs(small_digits):
    pool = small_digits.train_mask.nonzero().view(-1)
    req = SampleRequest(pool[:20])
    u = SalUn(epochs=2, saliency_ratio=0.2).fit(small_digits)
    masks = u.saliency_masks(u._copy_model(), small_digits.x[req.indices], small_digits.y[req.indices])
    kept = sum(float(m.sum()) for m in masks) / sum(m.numel() for m in masks)
    assert abs(kept - 0.2) < 0.02
    quiet = FisherForgetting(epochs=2, sigma=0.0).fit(small_digits)
    noisy = FisherForgetting(epochs=2, sigma=0.05).fit(small_digits)
    p0 = quiet.parameter_vector().clone()
    quiet.unlearn(req)
    noisy.unlearn(req)
    assert torch.equal(quiet.parameter_vector(), p0)  # sigma = 0, no class removed: identity
    assert not torch.equal(noisy.parameter_vector(), p0)
