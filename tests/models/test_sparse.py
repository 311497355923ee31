"""The cached sparse propagation path of the GCN and GraphSAGE backbones."""

import pytest
import torch

from graphforget.errors import GraphForgetError
from graphforget.models import build_model
from graphforget.models._sparse import (
    SPARSE_FEATURES_MAX_DENSITY,
    SPARSE_MIN_EDGES,
    SPARSE_MIN_NODES,
    ScalableGCNConv,
    clear_propagation_cache,
    propagation_matrix,
    sparse_features,
    uses_sparse_propagation,
)
from graphforget.testing import small_graph


def _run(name, policy, monkeypatch, edge_index=None, double=False):
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", policy)
    clear_propagation_cache()
    data = small_graph(num_nodes=120, seed=1)
    ei = data.edge_index if edge_index is None else edge_index
    torch.manual_seed(0)
    model = build_model(name, data.x.size(1), 3)
    model.eval()
    x = data.x.clone().requires_grad_()
    out = model(x, ei)
    params = list(model.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), params + [x], create_graph=double)
    flat = torch.cat([g.reshape(-1) for g in grads[:-1]])
    result = [out.detach(), flat.detach(), grads[-1].detach()]
    if double:  # a Hessian-vector product through the propagation (GIF/IF need it)
        hv = torch.autograd.grad(flat.sum(), params)
        result.append(torch.cat([h.reshape(-1) for h in hv]))
    return result


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_sparse_path_matches_pyg(name, monkeypatch):
    dense = _run(name, "never", monkeypatch, double=True)
    sparse = _run(name, "always", monkeypatch, double=True)
    for a, b in zip(dense, sparse, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max())), float((a - b).abs().max())


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_directed_graph_uses_the_transpose(name, monkeypatch):
    data = small_graph(num_nodes=120, seed=1)
    ei = data.edge_index[:, data.edge_index[0] < data.edge_index[1]]  # one direction only
    dense = _run(name, "never", monkeypatch, edge_index=ei)
    sparse = _run(name, "always", monkeypatch, edge_index=ei)
    for a, b in zip(dense, sparse, strict=True):
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
    adj, adj_t = propagation_matrix(ei, data.num_nodes, kind="mean")
    assert adj is not adj_t
    assert torch.equal(adj.to_dense().t(), adj_t.to_dense())


def test_policy_threshold_and_errors(monkeypatch):
    small = torch.zeros(2, 10, dtype=torch.long)
    big = torch.zeros(2, SPARSE_MIN_EDGES, dtype=torch.long)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", "auto")
    assert not uses_sparse_propagation(small) and uses_sparse_propagation(big)
    assert uses_sparse_propagation(small, num_nodes=SPARSE_MIN_NODES)
    assert not uses_sparse_propagation(small, num_nodes=34_493)  # Coauthor-Physics
    assert not uses_sparse_propagation(big, torch.ones(SPARSE_MIN_EDGES, requires_grad=True))
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", "always")
    assert uses_sparse_propagation(small)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", "never")
    assert not uses_sparse_propagation(big)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", "sometimes")
    with pytest.raises(GraphForgetError, match="sometimes"):
        uses_sparse_propagation(small)


def test_cache_follows_the_graph(monkeypatch):
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", "always")
    clear_propagation_cache()
    data = small_graph(num_nodes=60, seed=2)
    ei = data.edge_index.clone()
    first = propagation_matrix(ei, data.num_nodes)
    assert propagation_matrix(ei, data.num_nodes)[0] is first[0]  # cached
    assert first[0] is first[1]  # undirected: symmetric, no separate transpose
    ei[:, 0] = ei[:, 1]  # an in-place change invalidates the entry
    assert propagation_matrix(ei, data.num_nodes)[0] is not first[0]
    conv = ScalableGCNConv(data.x.size(1), 4)
    out = conv(data.x, data.edge_index)
    assert out.shape == (data.num_nodes, 4)


def test_state_dict_keys_unchanged():
    from torch_geometric.nn.models import GCN, GraphSAGE

    for name, cls in (("gcn", GCN), ("sage", GraphSAGE)):
        torch.manual_seed(0)
        ours = build_model(name, 8, 3)
        torch.manual_seed(0)
        theirs = cls(8, 64, 2, 3, dropout=0.5)
        a, b = ours.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)  # same initialisation


def test_lightgcn_sparse_path_matches_pyg(monkeypatch):
    # LightGCN's LGConv normalisation D^-1/2 A D^-1/2 (no self-loops), values and gradients
    from graphforget.recommendation._models import LightGCNRecommender, bipartite_graph

    g = torch.Generator().manual_seed(0)
    pairs = torch.stack([torch.randint(0, 30, (200,), generator=g), torch.randint(0, 40, (200,), generator=g)])
    graph = bipartite_graph(torch.unique(pairs, dim=1), 30)
    results = []
    for policy in ("never", "always"):
        monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", policy)
        clear_propagation_cache()
        torch.manual_seed(0)
        model = LightGCNRecommender(30, 40, 8, num_layers=3)
        users, items = model.embeddings(graph)
        grad = torch.autograd.grad((users[:5] @ items[:7].T).sum(), model.gcn.embedding.weight)[0]
        results.append((users.detach(), items.detach(), grad))
        from graphforget.models._sparse import _CACHE

        assert any(key[5] == "sym" for key in _CACHE) == (policy == "always")  # the path taken
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, atol=1e-6), float((a - b).abs().max())
    assert results[0][2].abs().sum() > 0


# -- sparse input features (the first layer on bag-of-words features) -------------------

def _bag_of_words(num_nodes, width=300, density=0.03, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(num_nodes, width, generator=g) < density).float()


def _fit_steps(name, features_policy, propagation_policy, monkeypatch, steps=5):
    """A few Adam steps, then the logits, the parameters' gradient and a Hessian-vector
    product, all with features that do not require a gradient."""
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", features_policy)
    monkeypatch.setenv("GRAPHFORGET_SPARSE_PROPAGATION", propagation_policy)
    clear_propagation_cache()
    data = small_graph(num_nodes=120, seed=1)
    x = _bag_of_words(data.num_nodes)
    torch.manual_seed(0)
    model = build_model(name, x.size(1), 3, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        model(x, data.edge_index).pow(2).mean().backward()
        opt.step()
    out = model(x, data.edge_index)
    params = list(model.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), params, create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    hv = torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat.sum(), params)])
    return [out.detach(), flat.detach(), hv], x


@pytest.mark.parametrize("propagation", ["never", "always"])
@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_sparse_features_match_dense(name, propagation, monkeypatch):
    dense, _ = _fit_steps(name, "never", propagation, monkeypatch)
    sparse, x = _fit_steps(name, "auto", propagation, monkeypatch)
    assert sparse_features(x) is not None  # auto took the sparse path for these features
    for a, b in zip(dense, sparse, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max())), float((a - b).abs().max())


def test_sparse_features_policy(monkeypatch):
    monkeypatch.delenv("GRAPHFORGET_SPARSE_FEATURES", raising=False)
    clear_propagation_cache()
    bow = _bag_of_words(50)
    pair = sparse_features(bow)
    assert pair is not None and sparse_features(bow) is pair  # cached per tensor
    assert torch.equal(pair[0].to_dense(), bow) and torch.equal(pair[1].to_dense(), bow.t())
    bow[0, 0] = 1.0 - bow[0, 0]  # modified in place: counted and converted again
    assert torch.equal(sparse_features(bow)[0].to_dense(), bow)
    dense = torch.randn(50, 300)
    assert sparse_features(dense) is None  # above SPARSE_FEATURES_MAX_DENSITY
    assert sparse_features(bow.clone().requires_grad_()) is None  # gradients to the features
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "always")
    assert sparse_features(dense) is not None
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "never")
    assert sparse_features(bow) is None
    monkeypatch.setenv("GRAPHFORGET_SPARSE_FEATURES", "sometimes")
    with pytest.raises(GraphForgetError, match="GRAPHFORGET_SPARSE_FEATURES"):
        sparse_features(bow)
    assert SPARSE_FEATURES_MAX_DENSITY == 0.1


@pytest.mark.parametrize("name", ["gcn", "sage"])
def test_only_the_first_layer_reads_sparse_features(name):
    model = build_model(name, 300, 3, num_layers=3)
    assert [getattr(c, "_model_input", False) for c in model.convs] == [True, False, False]
