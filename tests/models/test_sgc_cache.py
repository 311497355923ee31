"""SGC's propagated features: one cache for every SGC model."""

import copy
import pickle

import torch

from graphforget.models import SGC, propagate


def _graph(n: int = 60, f: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, f, generator=g), torch.randint(0, n, (2, 4 * n), generator=g)


def test_models_share_one_propagation_of_a_graph():
    # the shards of a sharded method all predict on one graph: one propagated matrix, not
    # one per model (on Coauthor CS each copy is 0.5 GB)
    x, ei = _graph()
    models = [SGC(12, 3) for _ in range(10)]
    first = models[0].features(x, ei)
    assert all(m.features(x, ei) is first for m in models)
    assert torch.allclose(first, propagate(x, ei, 2))
    # K is part of the key
    assert not torch.equal(SGC(12, 3, K=1).features(x, ei), first)


def test_copies_and_pickles_carry_no_features():
    x, ei = _graph(n=400, f=64)
    m = SGC(64, 3)
    m.features(x, ei)
    assert len(pickle.dumps(m)) < 8 * 64 * 3 + 4000  # the weights, not a 400 x 64 matrix
    assert copy.deepcopy(m).features(x, ei) is m.features(x, ei)


def test_changed_or_new_tensors_are_propagated_again():
    x, ei = _graph()
    m = SGC(12, 3)
    before = m.features(x, ei)
    x.mul_(2.0)  # in place: the version counter changes
    after = m.features(x, ei)
    assert after is not before and torch.allclose(after, 2 * before, atol=1e-5)
    y = x.clone()  # equal values, another tensor
    assert m.features(y, ei) is not after and torch.allclose(m.features(y, ei), after)
    w = torch.rand(ei.size(1))
    assert not torch.allclose(m.features(x, ei, w), after)


def test_gradient_through_features_is_not_cached():
    x, ei = _graph()
    x.requires_grad_(True)
    m = SGC(12, 3)
    m(x, ei).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_sparse_features_are_projected_before_propagating(monkeypatch):
    # A^K (X W^T) instead of (A^K X) W^T: same logits, gradients and Hessian-vector products
    from torch.autograd import grad

    g = torch.Generator().manual_seed(0)
    x = (torch.rand(300, 200, generator=g) < 0.02).float()
    ei = torch.randint(0, 300, (2, 1200), generator=g)
    y = torch.randint(0, 4, (300,), generator=g)
    m = SGC(200, 4)
    v = torch.randn(4, 200, generator=g)

    def run():
        loss = torch.nn.functional.cross_entropy(m(x, ei), y)
        gw = grad(loss, m.lin.weight, create_graph=True)[0]
        return m(x, ei).detach(), gw.detach(), grad((gw * v).sum(), m.lin.weight)[0]

    sparse = run()
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "never")
    dense = run()
    for a, b in zip(sparse, dense, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
