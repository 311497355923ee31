"""``check_unlearner``: the conformance suite (scikit-learn's ``check_estimator`` for unlearners).

Every method runs it in its tests::

    from graphforget.testing import check_unlearner, small_graph
    check_unlearner(lambda: MyMethod(epochs=20), small_graph())

Checks, in order (each raises ``AssertionError`` naming what failed):

1. an empty request is the identity (state byte-identical, report ``noop``);
2. an unsupported request raises :class:`UnsupportedRequestError` and leaves the state
   byte-identical; a non-request raises ``TypeError``;
3. invalid requests (id out of range, duplicated id, negative id, float ids, an edge
   that does not exist, a node forgotten twice) raise ``ValueError``/``TypeError`` and
   leave the state byte-identical;
4. fit and unlearn are deterministic under the method's seed;
5. ``save``/``load`` round-trips the state and the predictions;
6. forgotten nodes and edges are absent from the graph used for prediction;
7. an exact method equals its reference (``Retrain``) fitted on the retained data;
8. a certified method's noise knob changes the model;
9. an approximate method moves toward retraining (:func:`check_moves_toward_retrain`): on
   a fixture where retraining changes the predictions noticeably, the unlearned model's
   output distance (mean Jensen–Shannon divergence, bits) to the retrained model is below
   the original model's. A method that returns the model unchanged fails it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch_geometric.data import Data

from graphforget.data import apply_split, csbm
from graphforget.errors import UnsupportedRequestError
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    ForgetRequest,
    NodeRequest,
    SampleRequest,
    sample_edges,
    sample_features,
    sample_nodes,
)
from graphforget.unlearner import Guarantee, Unlearner


def small_graph(num_nodes: int = 120, num_classes: int = 3, num_features: int = 8,
                seed: int = 0) -> Data:
    """A seeded CSBM graph with a 0.6/0.2/0.2 split, small enough for unit tests."""
    data = csbm(num_nodes=num_nodes, num_classes=num_classes, num_features=num_features,
                avg_degree=6, homophily=0.8, signal=1.0, seed=seed)
    out = apply_split(data, "0.6/0.2/0.2", seed)
    out.num_classes = num_classes
    return out


def _default_requests(data: Data) -> dict[str, ForgetRequest]:
    out: dict[str, ForgetRequest] = {"node": sample_nodes(data, count=3, seed=11)}
    if data.edge_index is not None and data.edge_index.numel():  # edge-less tabular data has none
        out["edge"] = sample_edges(data, count=3, seed=12)
    out["feature"] = sample_features(data, count=3, seed=13)
    out["sample"] = SampleRequest(sample_nodes(data, count=3, seed=14).node_ids)
    return out


def _fresh(factory: Callable[[], Unlearner] | Unlearner) -> Unlearner:
    return factory.clone() if isinstance(factory, Unlearner) else factory()


def _assert_unchanged(u: Unlearner, before: str, what: str) -> None:
    after = u.fingerprint()
    assert after == before, f"{type(u).__name__}: state changed after {what}"


def _inference_ok(u: Unlearner, request: ForgetRequest) -> None:
    graph = u.inference_data()
    if isinstance(request, NodeRequest):
        ids = request.node_ids
        assert bool(graph.forgotten_mask[ids].all()), "forgotten nodes not flagged"
        if graph.edge_index is not None and graph.edge_index.numel():
            hit = torch.isin(graph.edge_index, ids).any()
            assert not bool(hit), "an edge of a forgotten node is still in the inference graph"
        if graph.x is not None:
            assert bool((graph.x[ids] == 0).all()), "features of a forgotten node remain"
    elif isinstance(request, EdgeRequest):
        n = graph.num_nodes
        keys = graph.edge_index[0] * n + graph.edge_index[1]
        fwd = request.edge_index[0] * n + request.edge_index[1]
        bwd = request.edge_index[1] * n + request.edge_index[0]
        assert not bool(torch.isin(fwd, keys).any()), "a forgotten edge is still used for inference"
        assert not bool(torch.isin(bwd, keys).any()), "a forgotten edge's reverse is still used"
    elif isinstance(request, FeatureRequest):
        rows = graph.x[request.node_ids]
        if request.feature_ids is not None:
            rows = rows[:, request.feature_ids]
        assert bool((rows == 0).all()), "forgotten features are still used for inference"


def _params_close(a: torch.Tensor | None, b: torch.Tensor | None, atol: float) -> bool:
    if a is None or b is None or a.shape != b.shape:
        return False
    return bool(torch.allclose(a, b, atol=atol, rtol=0))


def _user_code(u: Unlearner) -> dict[str, Any]:
    """The user's model/callables an unlearner holds (what ``load`` needs passed back)."""
    params = u.get_params()
    return {k: params[k] for k in ("model", "train_fn", "forward_fn", "loss_fn")
            if k in params and params[k] is not None and not isinstance(params[k], str)}


def check_unlearner(factory: Callable[[], Unlearner] | Unlearner, data: Data | None = None,
                    requests: Sequence[ForgetRequest] | None = None,
                    exact_atol: float = 0.0, check_determinism: bool = True,
                    attach: Callable[[Data], torch.nn.Module] | None = None,
                    check_fidelity: bool = True) -> dict[str, Any]:
    """Runs the conformance suite; returns a summary dict of what was checked.

    Args:
        factory: returns a fresh unfitted unlearner (or an unfitted instance to clone).
        data: training data (default: :func:`small_graph`).
        requests: requests to exercise (default: one per supported kind, sampled).
        exact_atol: tolerance of the exact-equals-reference check (``0`` = bitwise).
        check_determinism: run the determinism check (two extra fits).
        attach: ``attach(data) -> trained module``: the unlearner adopts a freshly
            user-trained module with :meth:`~graphforget.Unlearner.attach` instead of
            fitting (the determinism check trains a second one). An unlearner around a
            user model is reloaded with its model/callables passed back to ``load``.
        check_fidelity: run check 9 on approximate node-classification methods (three
            extra fits); turn it off only for a method that by design keeps the original
            parameters (e.g. UtU, which only unlinks edges).
    """
    data = small_graph() if data is None else data
    if attach is not None:
        unfitted = factory
        factory = lambda: _fresh(unfitted).attach(attach(data), data)  # noqa: E731
        proto = _fresh(unfitted)
        fit = lambda v: v  # noqa: E731 - already attached
    else:
        fit = lambda v: v.fit(data)  # noqa: E731
    if attach is None:
        proto = _fresh(factory)
    cls = type(proto)
    done: dict[str, Any] = {"method": cls.__name__, "checks": []}

    u = fit(_fresh(factory))
    assert u.is_fitted, "fit() did not leave the unlearner fitted"
    if requests is None:  # the kinds the fitted unlearner serves (on the task it was fitted for)
        requests = [r for r in _default_requests(data).values() if u.supports(r)]
        # SampleRequest is a NodeRequest: only exercise it separately when it is distinct
        if any(type(r) is NodeRequest for r in requests):
            requests = [r for r in requests if type(r) is not SampleRequest]
    assert requests, f"{cls.__name__} supports none of the default request kinds; pass requests="

    # 1. empty request is the identity
    before = u.fingerprint()
    first = requests[0]
    empty = (EdgeRequest(torch.empty(2, 0, dtype=torch.long)) if isinstance(first, EdgeRequest)
             else type(first)([]))
    if empty.is_empty:
        report = u.unlearn(empty)
        assert report.noop, "an empty request must report noop=True"
        _assert_unchanged(u, before, "an empty request")
        done["checks"].append("empty-is-identity")

    # 2. unsupported requests raise and leave the state untouched
    for candidate in _default_requests(data).values():
        if not u.supports(candidate):
            try:
                u.unlearn(candidate)
            except UnsupportedRequestError:
                pass
            else:
                raise AssertionError(f"{cls.__name__} accepted an unsupported {candidate.kind} request")
            _assert_unchanged(u, before, f"an unsupported {candidate.kind} request")
            done["checks"].append(f"unsupported-{candidate.kind}-raises")
    try:
        u.unlearn([1, 2, 3])  # type: ignore[arg-type]
    except TypeError:
        pass
    else:
        raise AssertionError("unlearn() accepted a plain list instead of a request")
    _assert_unchanged(u, before, "a non-request argument")

    # 3. invalid requests raise ValueError/TypeError and leave the state untouched
    n = data.num_nodes
    train = data.train_mask.nonzero().view(-1)
    bad: list[Callable[[], ForgetRequest]] = []
    if u.supports(NodeRequest):
        bad += [lambda: NodeRequest([n]), lambda: NodeRequest([-1]),
                lambda: NodeRequest([int(train[0]), int(train[0])]),
                lambda: NodeRequest(torch.tensor([0.5])), lambda: NodeRequest([[0, 1]])]
    if u.supports(EdgeRequest):
        adj = set(map(tuple, data.edge_index.t().tolist()))
        missing = next((i, j) for i in range(n) for j in range(i + 1, n) if (i, j) not in adj)
        bad += [lambda: EdgeRequest([missing]), lambda: EdgeRequest([[0, n]]),
                lambda: EdgeRequest(torch.zeros(3, 2, dtype=torch.long))]
    if u.supports(FeatureRequest):
        d = data.x.size(1)
        bad += [lambda: FeatureRequest([int(train[0])], [d]), lambda: FeatureRequest([n])]
    for make in bad:
        try:
            req = make()
            u.unlearn(req)
        except (ValueError, TypeError):
            pass
        else:
            raise AssertionError(f"{cls.__name__} accepted an invalid request {req!r}")
        _assert_unchanged(u, before, "an invalid request")
    done["checks"].append(f"invalid-requests-raise ({len(bad)} cases)")

    # serve the requests one after another
    reports = []
    for req in requests:
        reports.append(u.unlearn(req))
        _inference_ok(u, req)
        assert reports[-1].seconds >= 0 and not reports[-1].noop
    done["checks"].append("forgotten-items-absent-from-inference")

    # a node forgotten twice is rejected
    node_reqs = [r for r in requests if isinstance(r, NodeRequest)]
    if node_reqs:
        state = u.fingerprint()
        try:
            u.unlearn(type(node_reqs[0])(node_reqs[0].node_ids[:1]))
        except ValueError:
            pass
        else:
            raise AssertionError("a node forgotten twice was accepted")
        _assert_unchanged(u, state, "forgetting a node twice")
        done["checks"].append("forget-twice-raises")

    # 4. determinism
    if check_determinism:
        v = fit(_fresh(factory))
        for req in requests:
            v.unlearn(req)
        assert v.fingerprint() == u.fingerprint(), \
            f"{cls.__name__} is not deterministic under its seed"
        done["checks"].append("deterministic")

    # 5. save/load round trip
    with tempfile.TemporaryDirectory() as tmp:
        u.save(tmp)
        w = Unlearner.load(tmp, data=u.data_, **_user_code(u))
        assert type(w) is cls, f"load() returned {type(w).__name__}"
        assert w.fingerprint() == u.fingerprint(), "save/load changed the state"
        assert torch.equal(w.predict(), u.predict()), "save/load changed the predictions"
    done["checks"].append("save-load-roundtrip")

    # 7. exact methods equal their reference on the retained data
    if u.guarantee == Guarantee.EXACT:  # the instance: some methods are exact only in one mode
        retained = data
        for req in requests:
            retained = req.apply(retained)
        ref = u.reference().fit(retained)
        pu, pr = u.parameter_vector(), ref.parameter_vector()
        if pu is not None and pr is not None:
            assert _params_close(pu, pr, exact_atol), \
                f"{cls.__name__} is declared exact but differs from its reference after unlearning"
        lu, lr = u.predict_logits(), ref.predict_logits()
        assert torch.allclose(lu, lr, atol=max(exact_atol, 1e-6) * 10, rtol=0), \
            f"{cls.__name__} is declared exact but its outputs differ from the reference"
        done["checks"].append("exact-equals-reference")

    # 8. certified methods: the noise knob changes the model
    if cls.guarantee == Guarantee.CERTIFIED and cls.noise_parameter:
        base = _fresh(unfitted if attach is not None else factory)
        value = getattr(base, cls.noise_parameter)
        other = base.clone(**{cls.noise_parameter: (value or 1.0) * 10})
        a, b = base.fit(data).parameter_vector(), other.fit(data).parameter_vector()
        assert a is not None and b is not None and not torch.equal(a, b), \
            f"changing {cls.noise_parameter} did not change the certified model"
        done["checks"].append("noise-changes-model")

    # 9. approximate methods move toward the retrained model
    if check_fidelity and cls.guarantee == Guarantee.APPROXIMATE:
        result = check_moves_toward_retrain(factory, data)
        if result is not None:
            done["checks"].append("moves-toward-retrain")
            done["fidelity"] = result
    done["reports"] = [r.to_dict() for r in reports]
    return done


def _flipped_fixture(data: Data, fraction: float, seed: int) -> tuple[Data, NodeRequest] | None:
    """``data`` with the labels of ``fraction`` of its training nodes set to one class,
    and the request that forgets exactly those nodes (retraining then undoes the bias)."""
    y = getattr(data, "y", None)
    train = getattr(data, "train_mask", None)
    if y is None or train is None or y.dim() != 1 or getattr(data, "test_pos", None) is not None:
        return None
    ids = train.nonzero().view(-1)
    g = torch.Generator().manual_seed(int(seed))
    count = max(2, int(round(fraction * ids.numel())))
    if ids.numel() < 2 * count:
        return None
    chosen = ids[torch.randperm(ids.numel(), generator=g)[:count]].sort().values
    out = data.clone()
    out.y = y.clone()
    out.y[chosen] = 0
    return out, NodeRequest(chosen)


def check_moves_toward_retrain(factory: Callable[[], Unlearner] | Unlearner, data: Data | None = None,
                               fraction: float = 0.25, seed: int = 0,
                               min_distance: float = 1e-3) -> dict[str, float] | None:
    """Check 9: an approximate update moves the model toward the retrained one.

    The fixture sets the labels of ``fraction`` of the training nodes (or rows) of ``data``
    to class 0 and forgets exactly those nodes, so retraining changes the predictions
    noticeably (the check insists on ``original_to_retrain >= min_distance`` bits, else it
    raises: the fixture would prove nothing). All three models are queried on the retained
    data; distances are :func:`~graphforget.metrics.js_divergence` means over the test rows.

    Returns ``{"unlearned_to_retrain", "original_to_retrain", "fidelity_ratio"}``, or
    ``None`` when the method does not serve node classification or node requests, or
    ``data`` is not node classification (link-prediction data, graph datasets).

    Raises:
        AssertionError: the unlearned model is not closer to the retrained model than the
            original model is.
    """
    import copy

    from graphforget.metrics import js_divergence
    from graphforget.unlearner import Task

    data = small_graph() if data is None else data
    cls = type(_fresh(factory))
    if not isinstance(data, Data) or Task.NODE not in getattr(cls, "tasks", ()):
        return None
    fixture = _flipped_fixture(data, fraction, seed)
    if fixture is None:
        return None
    flipped, request = fixture
    if not cls.supports(request, task="node"):
        sample = SampleRequest(request.node_ids)
        if not cls.supports(sample, task="node"):
            return None
        request = sample
    u = _fresh(factory).fit(flipped)
    original = copy.deepcopy(u)
    u.unlearn(request)
    retained = request.apply(flipped)
    ref = u.reference().fit(retained)
    mask = retained.test_mask
    ref_logits = ref.predict_logits()
    d_u = js_divergence(u.predict_logits()[mask], ref_logits[mask])
    d_o = js_divergence(original.predict_logits(retained)[mask], ref_logits[mask])
    if not d_o >= min_distance:
        raise AssertionError(
            f"the fixture did not change {cls.__name__}'s predictions (original-to-retrain "
            f"{d_o:.2e} bits < {min_distance:g}): pass data on which forgetting matters")
    if not d_u < d_o:
        raise AssertionError(
            f"{cls.__name__} is declared approximate but does not move toward the retrained model: "
            f"output distance unlearned-to-retrain {d_u:.4g} bits >= original-to-retrain {d_o:.4g} bits")
    return {"unlearned_to_retrain": d_u, "original_to_retrain": d_o, "fidelity_ratio": d_u / d_o}
