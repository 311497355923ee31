import pytest
import torch

from graphforget.errors import InvalidRequestError
from graphforget.graph import (
    GraphDataset,
    GraphFeatureRequest,
    GraphNodeRequest,
    GraphRequest,
    GraphRetrain,
    sample_graph_features,
    sample_graph_nodes,
    sample_graphs,
    synthetic_graphs,
)
from graphforget.requests import NodeRequest, request_from_dict
from graphforget.testing import check_unlearner

from ..conftest import has_dataset


@pytest.fixture(scope="module")
def graphs():
    return synthetic_graphs(num_graphs=24, seed=0)


def _requests(data):
    """One request of each kind, each sampled from the data left by the previous ones."""
    out = []
    for sampler, seed in ((sample_graphs, 1), (sample_graph_nodes, 2), (sample_graph_features, 3)):
        out.append(sampler(data, count=2, seed=seed))
        data = out[-1].apply(data)
    return out


def test_graph_request_empties_the_graph(graphs):
    g = int(graphs.train_index[0])
    out = GraphRequest([g]).apply(graphs)
    assert out.graphs[g].x.size(0) == 0 and out.graphs[g].edge_index.numel() == 0
    assert bool(out.forgotten_mask[g]) and not bool(out.train_mask[g])
    assert graphs.graphs[g].x.size(0) > 0 and not bool(graphs.forgotten_mask[g])  # input untouched
    with pytest.raises(InvalidRequestError, match="already forgotten"):
        GraphRequest([g]).validate(out)


def test_node_request_zeroes_drops_and_flags(graphs):
    g = int(graphs.train_index[1])
    out = GraphNodeRequest({g: [0, 2]}).apply(graphs)
    graph = out.graphs[g]
    assert bool((graph.x[[0, 2]] == 0).all()) and graph.forgotten_mask[[0, 2]].all()
    assert not torch.isin(graph.edge_index, torch.tensor([0, 2])).any()
    others = [i for i in range(len(graphs)) if i != g]
    assert all(out.graphs[i] is graphs.graphs[i] for i in others)  # other graphs shared, untouched
    with pytest.raises(InvalidRequestError, match="already forgotten"):
        GraphNodeRequest([(g, 0)]).validate(out)


def test_feature_request_keeps_structure(graphs):
    g = int(graphs.train_index[2])
    out = GraphFeatureRequest([[g], [1]], feature_ids=[0, 1]).apply(graphs)
    assert bool((out.graphs[g].x[1, :2] == 0).all())
    assert torch.equal(out.graphs[g].edge_index, graphs.graphs[g].edge_index)


@pytest.mark.parametrize("make, match", [
    (lambda d: GraphRequest([len(d)]), "out of range"),
    (lambda d: GraphRequest([-1]), "out of range"),
    (lambda d: GraphRequest([int(d.train_index[0])] * 2), "duplicates"),
    (lambda d: GraphRequest([int(d.test_mask.nonzero()[0])]), "only training graphs"),
    (lambda d: GraphNodeRequest([(int(d.train_index[0]), 99)]), "out of range of their graph"),
    (lambda d: GraphNodeRequest([(int(d.train_index[0]), 0)] * 2), "duplicates"),
    (lambda d: GraphFeatureRequest([(int(d.train_index[0]), 0)], [99]), "feature ids out of range"),
])
def test_bad_requests_name_the_problem(graphs, make, match):
    with pytest.raises(InvalidRequestError, match=match):
        make(graphs).validate(graphs)


def test_bad_ids_types_and_state_untouched(graphs):
    with pytest.raises(TypeError):
        GraphRequest([0.5])
    u = GraphRetrain(epochs=3).fit(graphs)
    before = u.fingerprint()
    for req in (GraphRequest([len(graphs)]), GraphNodeRequest([(0, 999)])):
        with pytest.raises(InvalidRequestError):
            u.unlearn(req)
    with pytest.raises(ValueError, match="cannot serve node requests"):
        u.unlearn(NodeRequest([0]))
    assert u.fingerprint() == before


def test_requests_roundtrip_through_dicts(graphs):
    for req in _requests(graphs):
        assert request_from_dict(req.to_dict()) == req


def test_state_roundtrip(graphs):
    out = _requests(graphs)[1].apply(graphs)
    back = GraphDataset.from_state(out.to_state())
    assert torch.equal(back.x, out.x) and torch.equal(back.edge_index, out.edge_index)
    assert torch.equal(back.train_mask, out.train_mask)
    assert all(torch.equal(a.forgotten_mask, b.forgotten_mask) for a, b in zip(back.graphs, out.graphs, strict=False))


def test_graph_retrain_conformance(graphs):
    done = check_unlearner(lambda: GraphRetrain(epochs=5, hidden_channels=16), graphs,
                           requests=_requests(graphs))
    assert "exact-equals-reference" in done["checks"]


def test_pooling_ignores_forgotten_nodes_like_deletion(graphs):
    """A forgotten node changes the GIN output exactly as deleting it would."""
    from torch_geometric.data import Data
    from torch_geometric.utils import subgraph

    u = GraphRetrain(epochs=2, hidden_channels=8, pooling="mean").fit(graphs)
    g = int(graphs.train_index[0])
    after = GraphNodeRequest([(g, 0)]).apply(graphs)
    keep = torch.arange(1, graphs.graphs[g].num_nodes)
    ei, _ = subgraph(keep, graphs.graphs[g].edge_index, relabel_nodes=True)
    deleted = GraphDataset([Data(x=graphs.graphs[g].x[1:], edge_index=ei)], y=graphs.y[g:g + 1], num_classes=2)
    logits_a = u.model_(*after.collate([g]), 1)
    logits_b = u.model_(*deleted.collate(), 1)
    assert torch.allclose(logits_a, logits_b, atol=1e-5)


@pytest.mark.skipif(not has_dataset("TUDataset/MUTAG"), reason="MUTAG raw files not available")
def test_mutag_loads_with_pan_split():
    from graphforget.data import load_dataset

    data = load_dataset("mutag", seed=0)
    assert isinstance(data, GraphDataset) and data.num_graphs == 188 and data.num_features == 7
    assert (int(data.train_mask.sum()), int(data.val_mask.sum()), int(data.test_mask.sum())) == (19, 19, 150)
    assert not (data.train_mask & data.test_mask).any()
