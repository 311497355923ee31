"""FedLU: KG splits, filtered ranking, learning and unlearning on a small synthetic KG."""

import pytest
import torch

from graphforget.errors import InvalidRequestError, UnsupportedRequestError
from graphforget.federated import (
    FederatedRetrain,
    FedLU,
    KGEScorer,
    TripleRequest,
    filter_index,
    filtered_ranks,
    relation_cooccurrence,
    sample_triples,
    spectral_relation_split,
    synthetic_kg,
)
from graphforget.requests import NodeRequest, request_from_dict
from graphforget.testing import check_unlearner

FAST = dict(dim=8, rounds=2, local_epochs=2, batch_size=64, negatives=8, eval_every=1, lr=0.01,
            interference_epochs=2, decay_epochs=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


@pytest.fixture(scope="module")
def kg():
    return synthetic_kg(entities_per_group=24, seed=0)


def test_spectral_split_hand_built_cooccurrence():
    # relations 0-2 share entities 0..3, relations 3-5 share entities 10..13; one weak bridge
    triples = [(0, 0, 1), (1, 1, 2), (2, 2, 3), (0, 1, 3), (3, 0, 2), (1, 2, 0),
               (10, 3, 11), (11, 4, 12), (12, 5, 13), (10, 4, 13), (13, 3, 12), (11, 5, 10),
               (3, 5, 10)]
    t = torch.tensor(triples)
    co = relation_cooccurrence(t[:, [0, 2]].t(), t[:, 1], 14, 6)
    assert co[0, 1] == 4 and co[3, 4] == 4 and co[0, 3] == 0 and co[2, 5] == 1
    assert torch.equal(co, co.t()) and bool((co.diagonal() == 0).all())
    labels = spectral_relation_split(co, 2, seed=0)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_client_split_keeps_entities_and_relations_seen(kg):
    assert kg.relation_client.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # blocks recovered
    for c in range(3):
        mine = kg.triple_client == c
        train = mine & (kg.triple_split == 0)
        held = mine & (kg.triple_split != 0)
        seen_e = set(kg.edge_index[:, train].reshape(-1).tolist())
        seen_r = set(kg.edge_type[train].tolist())
        assert set(kg.edge_index[:, held].reshape(-1).tolist()) <= seen_e
        assert set(kg.edge_type[held].tolist()) <= seen_r
        frac = train.sum().item() / mine.sum().item()
        assert 0.7 < frac < 0.85


def _naive_rank(scorer, ent, rel, triple, known, mode):
    h, r, t = triple
    cands = []
    for e in range(ent.size(0)):
        cand = (h, r, e) if mode == "tail" else (e, r, t)
        q = scorer.query(ent[[cand[0] if mode == "tail" else cand[2]]], rel[[r]], mode)
        other = cand[2] if mode == "tail" else cand[0]
        cands.append(float(scorer.match(q, ent[[other]].unsqueeze(0))[0, 0]))
    target = t if mode == "tail" else h
    s = cands[target]
    better = ties = 0
    for e, v in enumerate(cands):
        cand = (h, r, e) if mode == "tail" else (e, r, t)
        if e == target or cand in known:
            continue
        better += v > s
        ties += v == s
    return 1 + better + ties / 2


@pytest.mark.parametrize("model", ["transe", "distmult", "complex", "rotate"])
def test_filtered_ranking_equals_naive_loop(model):
    g = torch.Generator().manual_seed(0)
    scorer = KGEScorer(model, 4)
    ent = scorer.init_table(7, scorer.entity_width, g)
    ent[5] = ent[4]  # a tie
    rel = scorer.init_table(2, scorer.relation_width, g)
    known = {(0, 0, 1), (0, 0, 2), (3, 1, 2), (4, 1, 2), (0, 1, 6), (5, 0, 1)}
    queries = torch.tensor([(0, 0, 1), (3, 1, 2), (0, 1, 6), (5, 0, 1)])
    kt = torch.tensor(sorted(known))
    for mode, a, b in (("tail", 0, 2), ("head", 2, 0)):
        indptr, filt = filter_index(queries[:, a] * 2 + queries[:, 1], kt[:, a] * 2 + kt[:, 1], kt[:, b])
        q = scorer.query(ent[queries[:, a]], rel[queries[:, 1]], mode)
        ranks = filtered_ranks(scorer.match_all(q, ent), queries[:, b], indptr, filt)
        naive = [_naive_rank(scorer, ent, rel, tuple(x), known, mode) for x in queries.tolist()]
        assert ranks.tolist() == pytest.approx(naive)


def test_scores_agree_with_pyg():
    from torch_geometric.nn.kge import ComplEx, DistMult

    h, r, t = torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([2, 3])
    pyg = DistMult(4, 2, 6)
    ours = KGEScorer("distmult", 6)
    e, rr = pyg.node_emb.weight.detach(), pyg.rel_emb.weight.detach()
    s = ours.match(ours.query(e[h], rr[r], "tail"), e[t].unsqueeze(1)).squeeze(1)
    assert torch.allclose(s, pyg(h, r, t).detach(), atol=1e-5)
    pyg = ComplEx(4, 2, 6)
    ours = KGEScorer("complex", 6)
    e = torch.cat([pyg.node_emb.weight, pyg.node_emb_im.weight], 1).detach()
    rr = torch.cat([pyg.rel_emb.weight, pyg.rel_emb_im.weight], 1).detach()
    for mode, a, b in (("tail", h, t), ("head", t, h)):
        s = ours.match(ours.query(e[a], rr[r], mode), e[b].unsqueeze(1)).squeeze(1)
        assert torch.allclose(s, pyg(h, r, t).detach(), atol=1e-5)


@pytest.mark.parametrize("model", ["rotate", "transe"])
def test_distance_backward_equals_autograd(model):
    """The hand-written backward of the TransE/RotatE distance gives autograd's gradient of
    the plain expression, also with broadcast candidates and a second backward."""
    torch.manual_seed(0)
    scorer = KGEScorer(model, 4)
    for shape in ((5, 7, 8), (1, 7, 8)):
        q = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
        c = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        w = torch.randn(5, 7, dtype=torch.float64)
        diff = q.unsqueeze(1) - c
        if model == "transe":
            plain = scorer.gamma - diff.abs().sum(-1)
        else:
            re, im = diff.chunk(2, dim=-1)
            plain = scorer.gamma - torch.sqrt(re * re + im * im).sum(-1)
        expected = torch.autograd.grad((plain * w).sum(), (q, c))
        out = scorer.match(q, c)
        assert torch.allclose(out, plain.detach())
        loss = (out * w).sum()
        first = torch.autograd.grad(loss, (q, c), retain_graph=True)
        again = torch.autograd.grad(loss, (q, c))
        for got in (first, again):
            for g, e in zip(got, expected, strict=True):
                assert torch.allclose(g, e, atol=1e-12)
    q = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    c = torch.randn(3, 4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(scorer.match, (q, c))


def test_triple_request_validation(kg):
    train = (kg.triple_split == 0).nonzero().view(-1)
    test = (kg.triple_split == 2).nonzero().view(-1)
    n = kg.edge_type.numel()
    for bad in ([n], [-1], [int(train[0])] * 2, [int(test[0])]):
        with pytest.raises(InvalidRequestError):
            TripleRequest(bad).validate(kg)
    with pytest.raises(TypeError):
        TripleRequest([0.5])
    with pytest.raises(InvalidRequestError):
        TripleRequest(triples=[[0, 0]])
    with pytest.raises(InvalidRequestError, match="not in the knowledge graph"):
        TripleRequest(triples=[[0, 0, 0]]).validate(kg)
    i = int(train[3])
    row = [int(kg.edge_index[0, i]), int(kg.edge_type[i]), int(kg.edge_index[1, i])]
    by_row = TripleRequest(triples=[row])
    assert by_row.resolve(kg).tolist() == [i]
    assert request_from_dict(by_row.to_dict()) == by_row
    retained = by_row.apply(kg)
    assert bool(retained.forgotten_triple_mask[i]) and not bool(kg.forgotten_triple_mask[i])
    with pytest.raises(InvalidRequestError, match="already forgotten"):
        TripleRequest([i]).validate(retained)
    req = sample_triples(kg, ratio=0.05, seed=0)
    assert set(torch.unique(kg.triple_client[req.triple_ids]).tolist()) == {0, 1, 2}
    assert bool(req.apply(kg).train_mask.equal(kg.train_mask))  # every entity still seen


def test_fedlu_conformance(kg):
    requests = [sample_triples(kg, count=2, seed=1), TripleRequest(triples=[
        [int(kg.edge_index[0, i]), int(kg.edge_type[i]), int(kg.edge_index[1, i])]
        for i in sample_triples(kg, count=1, seed=5, clients=[1]).triple_ids.tolist()])]
    summary = check_unlearner(lambda: FedLU(**FAST), kg, requests=requests)
    assert "save-load-roundtrip" in summary["checks"]
    u = FedLU(**FAST).fit(kg)
    with pytest.raises(UnsupportedRequestError):
        u.unlearn(NodeRequest([0]))


def test_federated_retrain_is_exact(kg):
    summary = check_unlearner(lambda: FederatedRetrain(**FAST), kg,
                              requests=[sample_triples(kg, count=2, seed=2)])
    assert "exact-equals-reference" in summary["checks"]


def test_fedlu_forgets_toward_retrain_and_keeps_utility():
    kg = synthetic_kg(entities_per_group=30, heads_per_relation=0.9, seed=0)
    params = dict(dim=16, rounds=6, local_epochs=8, batch_size=32, negatives=16, eval_every=3, lr=0.01,
                  seed=0)
    u = FedLU(**params).fit(kg)
    request = sample_triples(kg, ratio=0.15, seed=3)
    ids = request.resolve(kg)
    forget_before = u.evaluate(ids)["mrr"]
    test_before = u.evaluate("test")["mrr"]
    report = u.unlearn(request)
    forget_after = u.evaluate(ids)["mrr"]
    test_after = u.evaluate("test")["mrr"]
    ref = u.reference().fit(request.apply(kg))
    forget_ref = ref.evaluate(ids)["mrr"]
    # memorised before, forgotten after: at least 80% of the gap to the reference closed
    assert forget_before > forget_ref + 0.2
    assert forget_after - forget_ref < 0.2 * (forget_before - forget_ref)
    # retained test MRR within 0.05 (absolute) of before unlearning
    assert abs(test_after - test_before) < 0.05
    assert report.diagnostics["decay_epochs"] and report.breakdown["interference"] > 0


def test_valid_queries_subsamples_validation(kg):
    from graphforget.errors import GraphForgetError
    from graphforget.federated._kg import VALID

    u = FedLU(valid_queries=3, **FAST).fit(kg)
    for c in range(int(kg.num_clients)):
        ids = u._valid_ids(kg, c)
        full = u._select(kg, c, VALID)
        assert ids.numel() == min(3, full.numel())
        assert torch.isin(ids, full).all()
        assert torch.equal(ids, u._valid_ids(kg, c))  # seeded: the same subsample every time
    # a subsample that covers every validation triple selects the same model as no subsample
    big = max(int(((kg.triple_client == c) & (kg.triple_split == VALID)).sum()) for c in range(kg.num_clients))
    a = FedLU(valid_queries=big, **FAST).fit(kg).parameter_vector()
    b = FedLU(**FAST).fit(kg).parameter_vector()
    assert torch.equal(a, b)
    with pytest.raises(GraphForgetError, match="valid_queries"):
        FedLU(valid_queries=0, **FAST).fit(kg)


def test_named_split_rankings_are_memoised_per_model_state(kg):
    u = FedLU(**FAST).fit(kg)
    calls = []
    real = u._evaluate
    u._evaluate = lambda *a, **k: calls.append(a[2]) or real(*a, **k)
    first = u.evaluate("test")
    first["mrr"] = -1.0  # the caller's copy: the memo is not written through
    again = u.evaluate("test")
    assert calls == ["test"] and again["mrr"] >= 0
    assert again == u._evaluate(u._state_dict(), u.data_, "test")  # the same numbers as a fresh ranking
    calls.clear()
    u.evaluate("test", path="global")
    u.evaluate(u._select(u.data_, 0, 2))  # ids are ranked every time
    assert len(calls) == 2
    calls.clear()
    u.unlearn(sample_triples(kg, count=2, seed=1))  # a new model state: ranked again
    u.evaluate("test")
    assert calls == ["test"]
