import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphforget.errors import InvalidRequestError
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    NodeRequest,
    SampleRequest,
    request_from_dict,
    sample_edges,
    sample_features,
    sample_high_degree_nodes,
    sample_nodes,
)


def path_graph(n=5):
    src = torch.arange(n - 1)
    ei = torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])
    x = torch.arange(n * 2, dtype=torch.float).view(n, 2) + 1
    mask = torch.ones(n, dtype=torch.bool)
    return Data(x=x, edge_index=ei, y=torch.zeros(n, dtype=torch.long), train_mask=mask,
                test_mask=torch.zeros(n, dtype=torch.bool), edge_weight=torch.arange(2 * (n - 1)).float())


def test_node_request_removes_features_edges_and_masks():
    data = path_graph()
    out = NodeRequest([2]).apply(data)
    assert torch.equal(out.x[2], torch.zeros(2))
    assert not torch.isin(out.edge_index, torch.tensor([2])).any()
    assert out.edge_index.size(1) == 4 and out.edge_weight.numel() == 4
    assert not out.train_mask[2] and out.forgotten_mask[2] and out.forgotten_mask.sum() == 1
    # input untouched
    assert data.edge_index.size(1) == 8 and data.x[2].abs().sum() > 0 and data.train_mask[2]
    assert getattr(data, "forgotten_mask", None) is None


def test_node_and_edge_requests_share_no_tensor_with_their_input():
    # edge tensors are not cloned before filtering (they are replaced), but the output must
    # still own every tensor: writing to it leaves the input as it was
    for request in (NodeRequest([2]), EdgeRequest([[1], [2]]), EdgeRequest(torch.empty(2, 0, dtype=torch.long))):
        data = path_graph()
        before = {k: v.clone() for k, v in data.items() if isinstance(v, torch.Tensor)}
        out = request.apply(data)
        for key, value in out.items():
            if isinstance(value, torch.Tensor) and key in before:
                assert value.data_ptr() != data[key].data_ptr() or value.numel() == 0, key
                value.zero_() if value.dtype != torch.bool else value.fill_(True)
        for key, value in before.items():
            assert torch.equal(data[key], value), key


def test_node_request_errors_name_the_bad_ids():
    data = path_graph()
    with pytest.raises(InvalidRequestError, match=r"out of range \[0, 5\): \[7"):
        NodeRequest([1, 7]).validate(data)
    with pytest.raises(InvalidRequestError, match="duplicates: \\[1\\]"):
        NodeRequest([1, 1]).validate(data)
    with pytest.raises(InvalidRequestError, match="out of range"):
        NodeRequest([-1]).validate(data)
    with pytest.raises(TypeError, match="integer"):
        NodeRequest([1.5])
    with pytest.raises(TypeError, match="integer dtype"):
        NodeRequest(torch.tensor([1.0]))
    with pytest.raises(InvalidRequestError, match="one-dimensional"):
        NodeRequest([[1, 2]])
    once = NodeRequest([1]).apply(data)
    with pytest.raises(InvalidRequestError, match="already forgotten: \\[1\\]"):
        NodeRequest([1]).validate(once)


def test_edge_request_removes_both_directions_and_validates():
    data = path_graph()
    out = EdgeRequest([(1, 2)]).apply(data)
    pairs = set(map(tuple, out.edge_index.t().tolist()))
    assert (1, 2) not in pairs and (2, 1) not in pairs and len(pairs) == 6
    assert out.edge_weight.numel() == 6
    with pytest.raises(InvalidRequestError, match="do not exist"):
        EdgeRequest([(0, 3)]).validate(data)
    with pytest.raises(InvalidRequestError, match="duplicates"):
        EdgeRequest([(1, 2), (2, 1)]).validate(data)
    with pytest.raises(InvalidRequestError, match="do not exist"):
        EdgeRequest([(1, 2)]).validate(out)  # already forgotten
    with pytest.raises(InvalidRequestError, match=r"shape \[2, k\]"):
        EdgeRequest(torch.zeros(3, 2, dtype=torch.long))


def test_directed_edge_request_removes_one_direction():
    data = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3)
    out = EdgeRequest([(0, 1)]).apply(data)
    assert out.edge_index.tolist() == [[1], [2]]


def test_feature_request_zeroes_selected_entries():
    data = path_graph()
    out = FeatureRequest([0, 3], [1]).apply(data)
    assert out.x[0, 1] == 0 and out.x[3, 1] == 0 and out.x[0, 0] != 0
    assert out.edge_index.size(1) == data.edge_index.size(1)
    with pytest.raises(InvalidRequestError, match="feature ids out of range"):
        FeatureRequest([0], [5]).validate(data)
    whole = FeatureRequest([4]).apply(data)
    assert whole.x[4].abs().sum() == 0


def test_samplers_are_seeded_and_respect_pools(graph):
    a = sample_nodes(graph, ratio=0.1, seed=3)
    b = sample_nodes(graph, ratio=0.1, seed=3)
    c = sample_nodes(graph, ratio=0.1, seed=4)
    assert torch.equal(a.node_ids, b.node_ids) and not torch.equal(a.node_ids, c.node_ids)
    assert graph.train_mask[a.node_ids].all()
    assert len(a) == round(0.1 * int(graph.train_mask.sum()))
    e = sample_edges(graph, count=5, seed=0)
    e.validate(graph)
    hd = sample_high_degree_nodes(graph, count=3)
    assert len(hd) == 3
    f = sample_features(graph, count=2, seed=0, feature_ratio=0.5)
    assert f.feature_ids.numel() == 4
    with pytest.raises(InvalidRequestError, match=r"ratio must lie in \(0, 1\)"):
        sample_nodes(graph, ratio=1.5)
    with pytest.raises(InvalidRequestError, match="ratio must lie"):
        sample_nodes(graph, ratio=0.0)


def test_roundtrip_and_hash():
    for req in (NodeRequest([1, 2]), EdgeRequest([(0, 1)]), EdgeRequest([(18, 3), (14, 5)]),
                EdgeRequest(torch.empty(2, 0, dtype=torch.long)), FeatureRequest([1], [0]),
                SampleRequest(np.array([3, 4]))):
        again = request_from_dict(req.to_dict())
        assert again == req and again.content_hash() == req.content_hash()
    assert NodeRequest([1]).content_hash() != NodeRequest([2]).content_hash()
    assert NodeRequest([]).is_empty and len(EdgeRequest(torch.empty(2, 0, dtype=torch.long))) == 0
