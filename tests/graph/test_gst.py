import math

import pytest
import torch
from torch_geometric.data import Data

from graphforget.certified.gst import GST, lazy_random_walk, scattering_dimension, scattering_embeddings
from graphforget.graph import (
    GraphNodeRequest,
    GraphRequest,
    sample_graph_features,
    sample_graph_nodes,
    sample_graphs,
    synthetic_graphs,
)
from graphforget.testing import check_unlearner

from ..conftest import has_dataset

SMALL = dict(J=3, Q=2, L=2, lam=0.2)


@pytest.fixture(scope="module")
def graphs():
    return synthetic_graphs(num_graphs=40, seed=0)


def _sequence(data, n=4):
    out = []
    samplers = [sample_graphs, sample_graph_nodes, sample_graph_features]
    for i in range(n):
        out.append(samplers[i % 3](data, count=1, seed=10 + i))
        data = out[-1].apply(data)
    return out


def test_gst_conformance(graphs):
    done = check_unlearner(lambda: GST(sigma=10.0, **SMALL), graphs, requests=_sequence(graphs, 3))
    assert "noise-changes-model" in done["checks"]


def test_walk_matches_the_formula():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # path 0-1-2
    A = torch.zeros(3, 3, dtype=torch.float64)
    A[ei[1], ei[0]] = 1
    D = A.sum(0)
    expected = 0.5 * (torch.eye(3, dtype=torch.float64) + A / D.view(1, -1))
    assert torch.allclose(lazy_random_walk(ei, 3).to_dense(), expected)
    expected_row = 0.5 * (torch.eye(3, dtype=torch.float64) + A / A.sum(1, keepdim=True))
    assert torch.allclose(lazy_random_walk(ei, 3, walk="row").to_dense(), expected_row)


def test_wavelets_on_a_tiny_graph():
    """L=2, Q=1, J=2 written out densely: [x, |(I-P)x|, |(P-P^2)x|], mean-pooled."""
    ei = torch.tensor([[0, 1, 1, 2, 0, 2], [1, 0, 2, 1, 2, 0]])
    x = torch.tensor([[1.0], [0.0], [2.0]])
    P = lazy_random_walk(ei, 3).to_dense()
    xd = x.double()
    expected = torch.cat([xd.mean(0), ((xd - P @ xd).abs()).mean(0), ((P @ xd - P @ P @ xd).abs()).mean(0)])
    got = scattering_embeddings([Data(x=x, edge_index=ei, forgotten_mask=torch.zeros(3, dtype=torch.bool))],
                                J=2, Q=1, L=2)
    assert got.shape == (1, scattering_dimension(1, 2, 2, 1))
    assert torch.allclose(got[0], expected)


def test_embeddings_are_permutation_invariant(graphs):
    g = graphs.graphs[int(graphs.train_index[0])]
    perm = torch.randperm(g.num_nodes, generator=torch.Generator().manual_seed(0))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    permuted = Data(x=g.x[perm], edge_index=inv[g.edge_index], forgotten_mask=g.forgotten_mask[perm])
    a = scattering_embeddings([g], J=3, Q=3, L=3)
    b = scattering_embeddings([permuted], J=3, Q=3, L=3)
    assert torch.allclose(a, b, atol=1e-12)


def test_batched_equals_one_by_one(graphs):
    many = scattering_embeddings(graphs.graphs[:6], J=3, Q=2, L=3, max_nodes_per_chunk=20)
    single = torch.cat([scattering_embeddings([g], J=3, Q=2, L=3) for g in graphs.graphs[:6]])
    assert torch.allclose(many, single, atol=1e-12)


def test_node_removal_changes_only_its_graph_row(graphs):
    u = GST(sigma=10.0, **SMALL).fit(graphs)
    before = u.embeddings_.clone()
    g = int(graphs.train_index[3])
    u.unlearn(GraphNodeRequest([(g, 0)]))
    changed = (u.embeddings_ != before).any(dim=1).nonzero().view(-1)
    assert changed.tolist() == [g]
    fresh = u.embed(u.data_.graphs)
    assert torch.allclose(u.embeddings_, fresh, atol=1e-12)


def test_bound_holds_on_every_request_and_approaches_retraining(graphs):
    u = GST(sigma=10.0, **SMALL).fit(graphs)
    original = u.parameter_vector()
    for req in _sequence(graphs, 6):
        report = u.unlearn(req)
        d = report.diagnostics
        assert not d["retrained"]
        assert d["bound"] > 0
        assert d["residual"] <= d["cumulative_bound"] * (1 + 1e-9) + 1e-12, d
    ref = u.reference().fit(u.data_)
    mine, theirs = u.parameter_vector(), ref.parameter_vector()
    assert (mine - theirs).norm() < 0.1 * (original - theirs).norm()
    assert len(u.ledger_) == 6


def test_first_request_bound_covers_its_own_residual(graphs):
    u = GST(sigma=10.0, **SMALL).fit(graphs)
    start = u.classifier_.residual_norm()
    d = u.unlearn(GraphRequest([int(graphs.train_index[0])])).diagnostics
    assert d["residual"] - start <= d["bound"]


def test_sigma_changes_parameters(graphs):
    a = GST(sigma=0.1, **SMALL).fit(graphs).parameter_vector()
    b = GST(sigma=1.0, **SMALL).fit(graphs).parameter_vector()
    assert not torch.allclose(a, b)


def test_budget_exhaustion_retrains_with_fresh_noise(graphs):
    u = GST(sigma=1e-6, **SMALL).fit(graphs)
    seed0 = u.classifier_.noise_seed_
    d = u.unlearn(GraphRequest([int(graphs.train_index[0])])).diagnostics
    assert d["retrained"] and d["retrains"] == 1
    assert u.classifier_.noise_seed_ != seed0
    assert d["residual"] < 1e-6  # a fresh optimum of the new objective


def test_official_factor_scales_the_bound(graphs):
    req = GraphRequest([int(graphs.train_index[0])])
    plain = GST(sigma=10.0, **SMALL).fit(graphs).unlearn(req).diagnostics["bound"]
    scaled = GST(sigma=10.0, official_factor=True, **SMALL).fit(graphs).unlearn(req).diagnostics["bound"]
    assert scaled == pytest.approx(plain * math.sqrt(SMALL["L"]))


@pytest.mark.slow
@pytest.mark.skipif(not has_dataset("TUDataset/MUTAG"), reason="MUTAG raw files not available")
def test_gst_on_mutag():
    from graphforget.data import load_dataset

    data = load_dataset("mutag", split="0.8/0.2", seed=0)
    u = GST(J=3, Q=2, L=3, lam=1e-3, sigma=0.1).fit(data)
    assert u.score() > 0.7
    report = u.unlearn(sample_graphs(data, count=3, seed=0))
    assert u.score() > 0.7 and report.diagnostics["residual"] <= report.diagnostics["cumulative_bound"] + 1e-12
