import json

import pytest

from graphforget.bench.cli import main
from graphforget.bench.runner import RECORD_FIELDS

from .conftest import needs_cora


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_writes_every_field(tmp_path, capsys):
    path = tmp_path / "out.json"
    md = tmp_path / "out.md"
    code, out, _ = run(capsys, "bench", "--method", "retrain", "--dataset", "synthetic:nodes=200",
                       "--model", "sgc", "--request", "node", "--ratio", "0.1", "--seeds", "2",
                       "--first-seed", "3", "--json", str(path), "--markdown", str(md),
                       "--param", "epochs=20")
    assert code == 0, out
    records = json.loads(path.read_text())
    assert [r["seed"] for r in records] == [3, 4]
    for r in records:
        assert set(RECORD_FIELDS) <= set(r)
        assert r["distance_to_retrain"] == 0.0
        # an exact method is its own reference: same utility, and both timings were taken
        assert r["utility_unlearned"] == r["utility_retrain"]
        assert r["unlearn_seconds"] > 0 and r["retrain_seconds"] > 0 and r["speedup"] > 0
    assert "| retrain |" in md.read_text() and "Command: `graphforget" in md.read_text()


def test_bench_defaults_to_the_methods_model(tmp_path, capsys):
    # cgu serves sgc/gpr only: without --model it runs sgc instead of failing on gcn
    path = tmp_path / "out.json"
    code, out, err = run(capsys, "bench", "--method", "cgu", "--dataset", "synthetic:nodes=200",
                         "--ratio", "0.05", "--profile", "--json", str(path))
    assert code == 0, err
    (record,) = json.loads(path.read_text())
    assert record["model"] == "sgc"
    assert set(record["peak_memory_mb"]) == {"fit", "unlearn", "retrain"}
    assert set(record["cpu_seconds"]) == {"fit", "unlearn", "retrain"}
    code, _, err = run(capsys, "bench", "--method", "cgu", "--model", "gcn", "--dataset",
                       "synthetic:nodes=200")
    assert code == 2 and "works with models sgc, gpr, not 'gcn'" in err


@pytest.mark.parametrize("argv, needle", [
    (["bench", "--method", "nope"], "unknown method 'nope'"),
    (["bench", "--method", "retrain", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["bench", "--method", "retrain", "--ratio", "1.5"], "ratio must lie in (0, 1)"),
    (["bench", "--method", "retrain", "--ratio", "0"], "ratio must lie in (0, 1)"),
    (["bench", "--method", "retrain", "--model", "nope"], "unknown model 'nope'"),
    (["bench", "--method", "retrain", "--request", "nope"], "unknown request 'nope'"),
    (["bench", "--method", "retrain", "--param", "nope=1"], "no parameter(s) ['nope']"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_without_traceback(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_demo_runs_and_prints_the_table(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "original " in out and "original = no unlearning" in out and "retrain" in out


def test_list(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "retrain" in out and "cora" in out


@needs_cora
@pytest.mark.integration
def test_bench_retrain_on_cora_sgc(tmp_path, capsys):
    path = tmp_path / "out.json"
    code, out, err = run(capsys, "bench", "--method", "retrain", "--dataset", "cora", "--model", "sgc",
                         "--request", "node", "--ratio", "0.1", "--seeds", "2", "--json", str(path))
    assert code == 0, err
    records = json.loads(path.read_text())
    assert len(records) == 2 and all(r["distance_to_retrain"] == 0 for r in records)
    assert all(r["utility_retrain"] > 0.7 for r in records)


def test_bench_link_pool_is_chosen_and_recorded(tmp_path, capsys):
    from graphforget.link import deletion_pool, load_link_dataset, sample_link_edges

    path = tmp_path / "out.json"
    code, out, err = run(capsys, "bench", "--method", "link-retrain", "--task", "link",
                         "--dataset", "synthetic:nodes=1000,avg-degree=2", "--request", "edge", "--ratio", "0.02",
                         "--pool", "in", "--param", "epochs=5", "--json", str(path))
    assert code == 0, err
    (record,) = json.loads(path.read_text())
    assert record["pool"] == "in"
    data = load_link_dataset("synthetic:nodes=1000,avg-degree=2", None, None, 0)
    inside = {tuple(e) for e in deletion_pool(data, "in").t().tolist()}
    # the served request is the one drawn from the "in" pool (the report keeps only its hash)
    request = sample_link_edges(data, ratio=0.02, seed=0, pool="in")
    assert record["report"]["request"]["hash"] == request.content_hash()
    assert all((min(u, v), max(u, v)) in inside for u, v in request.edge_index.t().tolist())
    assert request.content_hash() != sample_link_edges(data, ratio=0.02, seed=0).content_hash()
    code, out, err = run(capsys, "bench", "--method", "retrain", "--request", "node", "--pool", "in")
    assert code == 2 and "--pool applies to edge requests of the link task" in err
