"""Output-space fidelity: the JS distance, the record fields on every task, the noise floor,
the diagnostics and the CLI surface (issue #22)."""

import json
import math

import pytest
import torch

from graphforget.bench.cli import main
from graphforget.bench.runner import FIDELITY_FIELDS, CellSpec, _diagnostic_fields, run_cell
from graphforget.errors import GraphForgetError
from graphforget.metrics import fidelity_ratio, js_divergence
from graphforget.unlearner import UnlearnReport

pytestmark = pytest.mark.usefixtures("one_thread")

NODE = dict(dataset="synthetic:nodes=200", ratio=0.1, seed=0, params={"epochs": 20})


def test_js_divergence_in_bits_on_hand_built_distributions():
    same = torch.tensor([[1.0, 2.0, 3.0]])
    assert js_divergence(same, same) == pytest.approx(0.0, abs=1e-12)
    # disjoint supports: exactly one bit
    far = torch.tensor([[100.0, -100.0]])
    assert js_divergence(far, -far) == pytest.approx(1.0, abs=1e-9)
    # p = (1/2, 1/2), q = (1, 0): JS = 1 - 3/4 log2(3) + 1/2 ... computed by hand
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])
    m = (p + q) / 2

    def kl(a, b):
        return sum(float(x) * math.log2(float(x) / float(y)) for x, y in zip(a, b, strict=True) if x > 0)

    expected = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    got = js_divergence(torch.log(p).unsqueeze(0), torch.tensor([[0.0, -1e4]]))
    assert got == pytest.approx(expected, abs=1e-6)
    # symmetric, per-unit output and masking
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    assert js_divergence(a, b) == pytest.approx(js_divergence(b, a))
    rows = js_divergence(a, b, reduction="none")
    assert rows.shape == (5,) and bool(((rows >= 0) & (rows <= 1)).all())
    assert js_divergence(a, b, mask=torch.tensor([0, 2])) == pytest.approx(float(rows[[0, 2]].mean()))
    with pytest.raises(GraphForgetError, match="output shapes differ"):
        js_divergence(a, b[:, :3])
    with pytest.raises(GraphForgetError, match="reduction"):
        js_divergence(a, b, reduction="sum")


def test_fidelity_ratio_direction_and_missing_values():
    assert fidelity_ratio(0.5, 2.0) == 0.25
    assert fidelity_ratio(1.0, 0.0) is None and fidelity_ratio(None, 1.0) is None
    assert fidelity_ratio(float("nan"), 1.0) is None


@pytest.mark.parametrize("request_kind", ["node", "edge", "feature"])
def test_node_records_carry_every_fidelity_field(request_kind):
    rec = run_cell(CellSpec(method="gif", model="sgc", request=request_kind, noise_floor=True, **NODE))
    assert set(FIDELITY_FIELDS) <= set(rec)
    assert rec["output_distance_unit"].startswith("test node")
    for key in ("output_distance_to_retrain", "output_distance_original_to_retrain",
                "output_distance_retrain_to_retrain", "output_distance_forget_to_retrain"):
        assert 0 <= rec[key] <= 1, key
    assert rec["fidelity_ratio"] == pytest.approx(
        rec["output_distance_to_retrain"] / rec["output_distance_original_to_retrain"])
    assert 0 < rec["step_scale"] <= 1


def test_retrain_is_at_distance_zero_and_the_noise_floor_is_not():
    rec = run_cell(CellSpec(method="retrain", model="gcn", request="node", noise_floor=True, **NODE))
    assert rec["output_distance_to_retrain"] == pytest.approx(0.0, abs=1e-12)
    assert rec["fidelity_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert rec["output_distance_retrain_to_retrain"] > 1e-6  # another seed is another model
    without = run_cell(CellSpec(method="retrain", model="gcn", request="node", **NODE))
    assert without["output_distance_retrain_to_retrain"] is None


def test_link_records_use_bernoulli_pairs():
    rec = run_cell(CellSpec(method="retrain", task="link", dataset="synthetic", model="gcn", request="edge",
                            ratio=0.05, seed=0, params={"epochs": 10}, noise_floor=True))
    assert rec["output_distance_unit"].startswith("test pair")
    assert rec["output_distance_to_retrain"] == pytest.approx(0.0, abs=1e-12)
    assert rec["output_distance_original_to_retrain"] > 0
    assert rec["output_distance_forget_original_to_retrain"] is not None


def test_tabular_records_and_kg_has_a_documented_null():
    rec = run_cell(CellSpec(method="retrain", task="tabular", dataset="digits", model="logreg",
                            request="sample", ratio=0.05, seed=0))
    assert rec["output_distance_unit"].startswith("test row")
    assert rec["output_distance_original_to_retrain"] > 0
    from graphforget.bench.tasks import resolve_task

    kg = resolve_task("kg")
    assert kg.fidelity_unit is None and "not computed" in kg.fidelity_note


def test_diagnostics_surface_step_scale_and_retrained():
    report = UnlearnReport(None, "if", "approximate")
    report.diagnostics.update(step_scale=1 / 64)
    out = _diagnostic_fields(report)
    assert out["step_scale"] == 1 / 64 and "below 1/8" in out["warnings"][0]
    report = UnlearnReport(None, "cgu", "certified")
    report.diagnostics.update(retrained=True)
    out = _diagnostic_fields(report)
    assert out["retrained"] is True and "retrained from scratch" in out["warnings"][0]
    report.diagnostics.update(retrained=False, step_scale=0.5)
    assert "warnings" not in _diagnostic_fields(report)


def test_cli_noise_floor_flag_and_columns(tmp_path, capsys):
    path = tmp_path / "out.json"
    code = main(["bench", "--method", "gif", "--dataset", "synthetic:nodes=200", "--model", "sgc",
                 "--ratio", "0.1", "--param", "epochs=20", "--noise-floor", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "fidelity" in out and "notes" in out
    rec = json.loads(path.read_text())[0]
    assert rec["output_distance_retrain_to_retrain"] is not None


def test_recommendation_units_are_test_users_over_all_items():
    import copy

    from graphforget.bench.runner import output_distances
    from graphforget.bench.tasks import resolve_task
    from graphforget.recommendation import RecommendationRetrain
    from graphforget.recommendation._data import interaction_data, sample_users

    g = torch.Generator().manual_seed(0)
    num_users, num_items = 40, 30
    users = torch.randint(num_users, (600,), generator=g)
    items = (users % 3) * 10 + torch.randint(10, (600,), generator=g)
    keys = torch.unique(users * num_items + items)
    split = torch.zeros(keys.numel(), dtype=torch.long)
    perm = torch.randperm(keys.numel(), generator=g)
    split[perm[:60]] = 2
    split[perm[60:120]] = 1
    data = interaction_data(keys // num_items, keys % num_items, num_users, num_items, split)
    task = resolve_task("recommendation")
    u = RecommendationRetrain(embedding_dim=8, epochs=6, batch_size=128).fit(data)
    original = copy.deepcopy(u)
    request = sample_users(data, count=2, seed=2)
    u.unlearn(request)
    retained = request.apply(data)
    ev, fg = task.fidelity_outputs(u, None, request)
    assert ev.size(1) == num_items and fg.shape == (2, num_items)
    ref = u.reference().fit(retained)
    out = output_distances(task, u, ref, original, retained, request)
    assert out["output_distance_unit"].startswith("test user")
    assert out["output_distance_to_retrain"] == pytest.approx(0.0, abs=1e-12)  # retrain is exact
    assert out["output_distance_original_to_retrain"] > 0
