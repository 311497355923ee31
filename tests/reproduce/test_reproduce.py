"""graphforget reproduce: configs, validation, cache resume, verdicts, end to end."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from graphforget.bench.cli import main
from graphforget.errors import GraphForgetError
from graphforget.reproduce import (
    _runner,
    load_all,
    load_table,
    make_results_page,
    plan,
    run_table,
    validate,
    verdict,
)
from graphforget.reproduce._report import compare, direction

DATASET = "synthetic:nodes=120,homophily=0.8,signal=0.8"


def tiny_config(name: str = "tiny", **overrides) -> dict:
    cfg = {
        "name": name,
        "title": "Tiny synthetic table",
        "citation": {"paper": "Nobody et al., A Made-Up Paper", "table": "Table 1", "column": "F1"},
        "protocol": {"task": "node", "datasets": [DATASET], "split": "0.6/0.2/0.2", "model": "sgc",
                     "request": "node", "ratio": 0.1, "seeds": 2, "params": {"epochs": 15},
                     "scale": 100, "methods": ["retrain", "gif"]},
        "reference": [{"method": "gif", "dataset": DATASET, "mean": 50.0, "std": 60.0},
                      {"method": "retrain", "dataset": DATASET, "metric": "speedup", "mean": 1.0,
                       "tolerance": 100.0, "source": "abstract"}],
        "quick": {"description": "one seed", "seeds": 1},
        "estimated_minutes": {"full": 0.2, "quick": 0.1},
    }
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / f"{cfg['name']}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- configs -----------------------------------------------------------------------------
def test_repository_tables_all_validate():
    configs = load_all()
    names = {c.name for c in configs}
    assert {"opengu-table4", "opengu-table5", "opengu-table6"} <= names
    for c in configs:
        assert c.quick["description"] and c.estimated_minutes["quick"] <= c.estimated_minutes["full"]
        assert c.effective(quick=True).protocol["seeds"] <= c.protocol["seeds"]


@pytest.mark.parametrize("quick", [False, True])
def test_repository_tables_all_plan(quick):
    # every cell of every shipped table passes the runner's checks before any training,
    # so a full run cannot die on a name (as sisa-speedups did on ``model: logreg``)
    for c in load_all():
        jobs = plan(c.effective(quick=quick))
        assert jobs, c.name
    sisa = plan(load_table("sisa-speedups").effective(quick=True))
    assert {j.spec["model"] for j in sisa} == {"mlp"}
    table4 = load_table("opengu-table4")
    gif_cora = table4.reference_for("gif", "cora")[0]
    assert (gif_cora.mean, gif_cora.std) == (81.75, 1.09)
    assert gif_cora.citation["table"] == "Table 4"


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.update(colour="red"), "unknown key 'colour'"),
    (lambda c: c["protocol"].update(ratoi=0.1), "unknown key 'ratoi'"),
    (lambda c: c["protocol"].update(ratio=1.5), "ratio: must lie in (0, 1)"),
    (lambda c: c["protocol"].update(seeds=0), "seeds: expected an integer >= 1"),
    (lambda c: c["protocol"].pop("datasets"), "missing required key 'datasets'"),
    (lambda c: c["reference"][0].update(source="rumour"), "source: expected one of"),
    (lambda c: c["reference"][0].update(method="nope"), "'nope' is not a method label"),
    (lambda c: c["reference"][0].update(mean="high"), "mean: expected a number"),
    (lambda c: c["quick"].pop("description"), "needs 'description'"),
    (lambda c: c.update(name="other"), "'name' must equal the file name stem"),
    (lambda c: c["estimated_minutes"].pop("quick"), "missing 'quick'"),
    (lambda c: c["quick"].update(methods=["sisa"]), "'sisa' is not a method label"),
])
def test_validation_errors_are_one_line(mutate, message):
    cfg = tiny_config()
    mutate(cfg)
    with pytest.raises(GraphForgetError) as info:
        validate(cfg, "tiny.yaml")
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("tiny.yaml")


def test_invalid_yaml_and_unknown_table(tmp_path):
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    with pytest.raises(GraphForgetError, match="not valid YAML"):
        load_table("broken", tmp_path)
    with pytest.raises(GraphForgetError, match="unknown table 'missing'; known tables: broken"):
        load_table("missing", tmp_path)


def test_unregistered_method_fails_before_running(tmp_path):
    cfg = tiny_config()
    cfg["protocol"]["methods"] = ["retrain", "no-such-method"]
    cfg["reference"] = []
    config = load_table(str(write(tmp_path, cfg)))
    with pytest.raises(GraphForgetError, match="needs method 'no-such-method', which is not registered"):
        plan(config)
    assert main(["reproduce", str(tmp_path / "tiny.yaml"), "--cache", str(tmp_path / "c"),
                 "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_unknown_method_parameter_is_named(tmp_path):
    cfg = tiny_config()
    cfg["protocol"]["methods"] = [{"method": "gif", "params": {"colour": 1}}]
    cfg["reference"] = []
    with pytest.raises(GraphForgetError, match="has no parameter 'colour'"):
        plan(load_table(str(write(tmp_path, cfg))))


# -- verdicts ------------------------------------------------------------------------------
def test_verdict_logic():
    assert verdict(81.0, 81.75, 1.09) == "within"
    assert verdict(82.84, 81.75, 1.09) == "within"  # on the band's edge
    assert verdict(83.0, 81.75, 1.09) == "better"
    assert verdict(80.0, 81.75, 1.09) == "worse"
    # lower is better (seconds): above the band is worse
    assert verdict(3.0, 1.0, 0.5, higher_is_better=False) == "worse"
    assert verdict(0.2, 1.0, 0.5, higher_is_better=False) == "better"
    # no std: the tolerance is the band; without it a zero-width band
    assert verdict(10.0, 10.38, None, tolerance=0.5) == "within"
    assert verdict(10.0, 10.38) == "worse"
    assert verdict(10.38, 10.38) == "within"
    assert verdict(5.0, None) == "no reference"
    assert verdict(float("nan"), 3.0, 1.0) == "not run"


def test_direction_from_metric_registry():
    assert direction("utility_unlearned", "micro_f1") is True
    assert direction("unlearn_seconds") is False
    assert direction("speedup") is True
    assert direction("df_auc_unlearned") is True
    assert direction("recall@20") is True
    assert direction("utility_gap") is True
    with pytest.raises(GraphForgetError, match="no direction known for metric 'wobble'"):
        direction("wobble")
    assert direction("test_hits@10_original") is True and direction("forget_mrr_unlearned") is True


def test_compare_relative_and_scaled():
    from graphforget.reproduce._config import validate as v

    cfg = tiny_config()
    cfg["reference"] = [
        {"method": "gif", "dataset": DATASET, "mean": 80.0, "std": 5.0},
        {"method": "gif", "dataset": DATASET, "metric": "unlearn_seconds", "mean": 2.0, "std": 0.1,
         "relative_to": {"method": "retrain", "metric": "retrain_seconds", "op": "speedup"}},
    ]
    config = v(cfg, "tiny.yaml")
    job = lambda label, seed: _runner.Job("cell", label, DATASET, seed, {})  # noqa: E731
    rec = lambda u, un, re: {"utility_unlearned": u, "unlearn_seconds": un, "retrain_seconds": re,  # noqa: E731
                             "utility_metric": "micro_f1"}
    results = [(job("gif", 0), rec(0.80, 1.0, 9.0)), (job("gif", 1), rec(0.84, 1.0, 9.0)),
               (job("retrain", 0), rec(0.85, 2.0, 2.0)), (job("retrain", 1), rec(0.85, 2.0, 6.0))]
    rows = compare(config, results)
    f1 = rows[0]
    assert f1["mean"] == pytest.approx(82.0) and f1["verdict"] == "within"
    speed = rows[1]
    assert speed["mean"] == pytest.approx(4.0)  # retrain's retrain_seconds / gif's unlearn_seconds
    assert speed["verdict"] == "better"
    assert rows[2]["method"] == "retrain" and rows[2]["verdict"] == "no reference"


# -- cache resume --------------------------------------------------------------------------
def test_killed_run_resumes_from_cache(tmp_path, monkeypatch):
    config = load_table(str(write(tmp_path, tiny_config()))).effective(False)
    jobs = plan(config)
    assert len(jobs) == 4
    calls: list[str] = []
    real = _runner._run_job

    def dying(kind, spec, root):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed while the third cell runs
        calls.append(_runner.cell_key(kind, spec))
        return real(kind, spec, root)

    monkeypatch.setattr(_runner, "_run_job", dying)
    with pytest.raises(KeyboardInterrupt):
        run_table(config, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    first = list(calls)
    calls.clear()
    monkeypatch.setattr(_runner, "_run_job", lambda k, s, r: calls.append(_runner.cell_key(k, s)) or real(k, s, r))
    results = run_table(config, tmp_path / "cache")
    assert len(calls) == 2 and not set(calls) & set(first)  # only the two unfinished cells ran
    assert [j.key for j, _ in results] == [j.key for j in jobs]
    calls.clear()
    again = run_table(config, tmp_path / "cache")
    assert calls == [] and [r for _, r in again] == [r for _, r in results]
    # a half-written cache file is recomputed, not trusted
    victim = tmp_path / "cache" / f"{jobs[0].key}.json"
    victim.write_text("{\"key\": ")
    run_table(config, tmp_path / "cache")
    assert calls == [jobs[0].key]


def test_process_executor_matches_serial(tmp_path):
    write(tmp_path, tiny_config())
    config = load_table("tiny", str(tmp_path))
    serial = run_table(config, tmp_path / "serial")
    pooled = run_table(config, tmp_path / "pooled", executor="process")
    assert [j.key for j, _ in pooled] == [j.key for j, _ in serial]  # plan order, whatever finished first
    for (_, a), (_, b) in zip(serial, pooled, strict=True):
        assert a["utility_unlearned"] == b["utility_unlearned"] and a["utility_retrain"] == b["utility_retrain"]
    assert len(list((tmp_path / "pooled").glob("*.json"))) == len(serial)


def test_ray_executor_trains_shards_on_ray_with_the_same_cache_keys(tmp_path, ray_cluster, monkeypatch):
    from graphforget.executor import RayExecutor

    cfg = tiny_config(reference=[])
    cfg["protocol"].update(methods=["grapheraser"], seeds=1, params={"epochs": 5, "shards": 2})
    write(tmp_path, cfg)
    config = load_table("tiny", str(tmp_path))
    serial = run_table(config, tmp_path / "serial")
    calls = []
    real = RayExecutor.map
    monkeypatch.setattr(RayExecutor, "map", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    on_ray = run_table(config, tmp_path / "ray", executor="ray", executor_kwargs={"address": "auto"})
    assert calls  # the shards went through Ray
    assert [j.key for j, _ in on_ray] == [j.key for j, _ in serial]
    for (_, a), (_, b) in zip(serial, on_ray, strict=True):
        assert b["shard_executor"] == "ray" and "shard_executor" not in a
        assert (a["utility_unlearned"], a["utility_retrain"], a["distance_to_retrain"]) == \
            (b["utility_unlearned"], b["utility_retrain"], b["distance_to_retrain"])


def test_dataset_seeds_override_per_dataset(tmp_path):
    cfg = tiny_config()
    cfg["protocol"].update(datasets=[DATASET, "karate"], seeds=3, dataset_seeds={"karate": 1})
    write(tmp_path, cfg)
    config = load_table("tiny", str(tmp_path))
    jobs = [j for j in plan(config) if j.kind == "cell"]
    per = {d: sorted({j.seed for j in jobs if j.dataset == d}) for d in (DATASET, "karate")}
    assert per == {DATASET: [0, 1, 2], "karate": [0]}
    # the quick protocol's seed count holds on every dataset
    cfg["quick"]["seeds"] = 2
    write(tmp_path, cfg)
    quick = load_table("tiny", str(tmp_path)).effective(True)
    assert "dataset_seeds" not in quick.protocol
    cfg["protocol"]["dataset_seeds"] = {"cs": 2}
    write(tmp_path, cfg)
    with pytest.raises(GraphForgetError, match="'cs' is not one of the protocol's datasets"):
        load_table("tiny", str(tmp_path))


def test_cache_key_tracks_the_spec():
    spec = {"method": "gif", "seed": 0, "params": {"epochs": 10}}
    assert _runner.cell_key("cell", spec) == _runner.cell_key("cell", dict(reversed(list(spec.items()))))
    assert _runner.cell_key("cell", spec) != _runner.cell_key("cell", {**spec, "seed": 1})
    assert _runner.cell_key("cell", spec) != _runner.cell_key("sequential", spec)


def test_cache_key_tracks_the_methods_defaults(monkeypatch):
    # a cell cached before a method's default changed is not reused after the change
    from graphforget._registry import resolve_method

    spec = {"method": "gif", "seed": 0, "params": {"epochs": 10}}
    before = _runner.cell_key("cell", spec)
    cls = resolve_method("gif")
    real = cls.__init__
    sig = inspect.signature(real)

    def changed(self, *args, **kwargs):
        real(self, *args, **kwargs)

    # the same signature but for one default (GIF's damping, "auto" -> 1e-2)
    changed.__signature__ = sig.replace(parameters=[
        p.replace(default=1e-2) if p.name == "damping" else p for p in sig.parameters.values()])
    monkeypatch.setattr(cls, "__init__", changed)
    assert _runner.cell_key("cell", spec) != before
    monkeypatch.undo()
    assert _runner.cell_key("cell", spec) == before
    # jobs that name no registered method keep a key from their spec alone
    assert _runner.cell_key("partition", {"dataset": "cora"}) == _runner.cell_key("partition", {"dataset": "cora"})


# -- end to end ----------------------------------------------------------------------------
def test_end_to_end_cli(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    cfg = tiny_config(partition_study={"partitioners": ["random", "blpa"], "shards": 3})
    write(tmp_path, cfg)
    args = ["reproduce", "tiny", "--tables", str(tmp_path), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache")]
    assert main(args) == 0
    md = (tmp_path / "out" / "tiny.md").read_text()
    assert md.startswith("<!-- graphforget reproduce: tiny -->")
    assert "| method | dataset | metric | ours (mean ± std) | n | paper | verdict | reference |" in md
    gif_row = next(ln for ln in md.splitlines() if ln.startswith("| gif |"))
    assert "50.00 ± 60.00" in gif_row and "| within |" in gif_row and "Table 1" in gif_row
    assert "(source: abstract)" in md  # the speed-up number came from an abstract
    assert "Machine:" in md and "torch " in md and "## Partition statistics" in md
    assert "0 of 6 cells came from the cache" in md
    timing = next(ln for ln in md.splitlines() if ln.startswith("Cells finished between"))
    assert "the 6 cells whose wall time the cache records took" in timing
    # rendered again from the cache, the page keeps when and how long the cells ran
    assert main(args) == 0
    again = (tmp_path / "out" / "tiny.md").read_text()
    assert "6 of 6 cells came from the cache" in again and timing in again.splitlines()
    for stem in ("tiny_time", "tiny_tradeoff", "tiny_partitions"):
        for ext in ("png", "svg"):
            assert (tmp_path / "out" / "plots" / f"{stem}.{ext}").stat().st_size > 0
    records = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert len(records) == 6 and {r["kind"] for r in records} == {"cell", "partition"}
    # --quick writes its own file, from its own cache
    assert main(args + ["--quick", "--no-plots"]) == 0
    quick = (tmp_path / "out" / "tiny_quick.md").read_text()
    assert "**Quick protocol**" in quick and "| gif |" in quick
    # the results page collects both, with the commands and plot links rewritten
    page = make_results_page(tmp_path / "out", tmp_path / "docs" / "results.md")
    assert "graphforget reproduce tiny --quick" in page
    assert "](../out/plots/tiny_time.png)" in page


def test_sequential_removal_curve(tmp_path):
    pytest.importorskip("matplotlib")
    cfg = tiny_config(kind="sequential")
    cfg["protocol"].update(methods=[{"method": "cgu", "params": {"sigma": 0.01, "epsilon": 0.01}}],
                           removals=4, every=2, seeds=1)
    cfg["protocol"].pop("ratio")
    cfg["reference"] = [{"method": "cgu", "dataset": DATASET, "metric": "utility_gap", "mean": -0.1,
                         "tolerance": 100.0}]
    write(tmp_path, cfg)
    from graphforget.reproduce import reproduce

    out = reproduce("tiny", tables=str(tmp_path), out=tmp_path / "out", cache=tmp_path / "cache")
    (job, record), = out["results"]
    assert job.kind == "sequential" and record["requests"] == 4
    assert [p["step"] for p in record["curve"]] == [0, 1, 2, 3, 4]
    assert record["curve"][2]["utility_retrain"] is not None and "cumulative" in record["curve"][1]
    # the tiny budget (epsilon=0.01) forces retrains, which the ledger reports
    assert record["retrains"] == len(record["retrain_events"]) >= 1
    assert any(p.endswith("tiny_removal_curve.png") for p in out["plots"])


def test_list_output(tmp_path, capsys):
    write(tmp_path, tiny_config())
    write(tmp_path, tiny_config(name="second", title="Second table"))
    assert main(["reproduce", "--list", "--tables", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "second" in out and "tiny" in out and "full ~0.2 min, --quick ~0.1 min" in out
    assert main(["reproduce", "--list"]) == 0
    assert "opengu-table4" in capsys.readouterr().out


def test_missing_table_argument_is_an_error(capsys):
    assert main(["reproduce"]) == 2
    assert "reproduce needs TABLE" in capsys.readouterr().err


# -- grids, cell options, columns, partition-only tables ----------------------------------
def test_grid_expands_methods_and_quick_selects_by_group(tmp_path):
    cfg = tiny_config()
    cfg["protocol"]["methods"] = [
        "retrain",
        {"name": "gif", "method": "gif", "params": {"damping": 0.01},
         "grid": {"request": ["node", "edge"], "iterations": [3, 5]}},
        {"name": "if", "method": "if", "grid": [{"request": ["node"]}, {"request": ["feature"], "ratio": [0.2]}]},
    ]
    cfg["quick"].update(methods=["gif"], method_params={"gif": {"iterations": 7}, "gif-edge-5": {"damping": 0.1}})
    cfg["reference"][0]["method"] = "gif"  # references name expanded labels, not the group
    with pytest.raises(GraphForgetError, match="'gif' is not a method label"):
        validate(cfg, "tiny.yaml")
    cfg["reference"][0]["method"] = "gif-node-3"
    config = validate(cfg, "tiny.yaml")
    labels = [m.name for m in config.methods]
    assert labels == ["retrain", "gif-node-3", "gif-node-5", "gif-edge-3", "gif-edge-5", "if-node",
                      "if-feature-0.2"]
    edge5 = next(m for m in config.methods if m.name == "gif-edge-5")
    assert (edge5.request, edge5.params, edge5.group) == ("edge", {"damping": 0.01, "iterations": 5}, "gif")
    feature = next(m for m in config.methods if m.name == "if-feature-0.2")
    assert (feature.request, feature.ratio, feature.params) == ("feature", 0.2, {})
    jobs = [j for j in plan(config) if j.kind == "cell"]
    assert {(j.label, j.spec["request"], j.spec["ratio"]) for j in jobs if j.seed == 0} >= {
        ("gif-edge-3", "edge", 0.1), ("if-feature-0.2", "feature", 0.2)}
    quick = config.effective(quick=True)  # a quick block may name the grid's group
    assert [m.name for m in quick.methods] == ["gif-node-3", "gif-node-5", "gif-edge-3", "gif-edge-5"]
    assert {m.name: m.params for m in quick.methods}["gif-edge-5"] == {"damping": 0.1, "iterations": 7}
    assert config.methods[4].params["iterations"] == 5  # the full protocol is untouched


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["protocol"]["methods"].append({"method": "gif", "grid": {"iterations": []}}),
     "grid.iterations: expected a non-empty list"),
    (lambda c: c["protocol"]["methods"].append({"method": "gif", "grid": ["node"]}),
     "grid[0]: expected a mapping"),
    (lambda c: c["protocol"]["methods"].extend([{"name": "r", "method": "retrain", "grid": {"request": ["node"]}},
                                                {"name": "r-node", "method": "retrain"}]),
     "'r-node' is used twice"),
    (lambda c: c["protocol"].update(mia="guess"), "protocol.mia: expected one of loss, posterior, shadow"),
    (lambda c: c["protocol"].update(profile="yes"), "protocol.profile: expected true or false"),
    (lambda c: c["protocol"]["methods"].append({"name": "p", "method": "retrain", "poison": "noise"}),
     "poison: expected one of edge, label"),
    (lambda c: c["protocol"].update(poison_ratio=2), "poison_ratio: must lie in (0, 1)"),
    (lambda c: c["protocol"].update(columns=[]), "columns: expected a non-empty list"),
    (lambda c: c.update(partition_study={"partitioners": [{"partitioner": "guide", "colour": 1}],
                                         "shards": 2}), "unknown key 'colour'"),
])
def test_new_keys_are_validated(mutate, message):
    cfg = tiny_config()
    mutate(cfg)
    with pytest.raises(GraphForgetError) as info:
        validate(cfg, "tiny.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_sequential_tables_refuse_cell_options():
    cfg = tiny_config(kind="sequential")
    cfg["protocol"].update(removals=4, every=2, mia="loss")
    cfg["protocol"].pop("ratio")
    with pytest.raises(GraphForgetError, match="mia: applies to cells tables only"):
        validate(cfg, "tiny.yaml")


def test_cell_options_reach_the_spec_and_keep_old_keys():
    plain = validate(tiny_config(), "tiny.yaml")
    cfg = tiny_config()
    cfg["protocol"]["profile"] = True
    cfg["protocol"]["methods"] = ["retrain", {"method": "gif", "mia": "posterior", "profile": False}]
    config = validate(cfg, "tiny.yaml")
    specs = {j.label: j.spec for j in plan(config) if j.seed == 0}
    assert (specs["retrain"]["profile"], specs["retrain"]["mia"]) == (True, None)
    assert (specs["gif"]["profile"], specs["gif"]["mia"]) == (False, "posterior")
    # a table without options plans the same cells, with the same cache keys, as before them
    before = {"method": "gif", "dataset": DATASET, "model": "sgc", "request": "node", "ratio": 0.1, "seed": 0,
              "task": "node", "split": "0.6/0.2/0.2", "params": {"epochs": 15}, "profile": False, "mia": None,
              "poison": None, "poison_ratio": 0.1, "share_reference": False}
    gif = next(j for j in plan(plain) if j.label == "gif" and j.seed == 0)
    assert gif.spec == before and gif.key == _runner.cell_key("cell", before)


def test_columns_mia_and_partition_only_table_end_to_end(tmp_path):
    cfg = tiny_config()
    cfg["protocol"].update(seeds=1, mia="loss", profile=True,
                           columns=["mia_auc", "mia_auc_retrain", "peak_memory_mb.unlearn"],
                           methods=["retrain"])
    cfg["reference"] = []
    write(tmp_path, cfg)
    assert main(["reproduce", "tiny", "--tables", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache"), "--no-plots"]) == 0
    md = (tmp_path / "out" / "tiny.md").read_text()
    record = json.loads((tmp_path / "out" / "tiny.json").read_text())[0]["record"]
    assert 0 <= record["mia_auc"] <= 1 and record["peak_memory_mb"]["unlearn"] > 0
    assert "## Measured fields" in md and "| mia_auc | mia_auc_retrain | peak_memory_mb.unlearn |" in md
    row = next(line for line in md.splitlines() if line.startswith("| retrain | " + DATASET + " | 0."))
    assert f"{record['mia_auc']:.4g}" in row
    assert "cell options `mia: loss`, `profile: True`" in md

    only = tiny_config(name="parts", partition_study={
        "shards": 3, "partitioners": ["random", {"name": "guide-sr", "partitioner": "guide",
                                                 "params": {"method": "sr"}}]})
    only["protocol"].update(methods=[])
    only["protocol"].pop("ratio")
    only["reference"] = []
    write(tmp_path, only)
    config = load_table("parts", str(tmp_path))
    jobs = plan(config)
    assert [(j.kind, j.label) for j in jobs] == [("partition", "random"), ("partition", "guide-sr")]
    assert jobs[1].spec["params"] == {"method": "sr"} and "params" not in jobs[0].spec
    assert main(["reproduce", "parts", "--tables", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--cache", str(tmp_path / "cache2"), "--no-plots"]) == 0
    md = (tmp_path / "out" / "parts.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| guide-sr |"))
    assert line.count("|") == 12 and "n/a" not in line  # memory columns filled
    assert "(partition study only)" in md


def test_not_comparable_reference_draws_no_verdict_and_shows_its_reason(tmp_path):
    from graphforget.reproduce._config import validate as v
    from graphforget.reproduce._report import render_markdown

    cfg = tiny_config()
    cfg["reference"] = [
        {"method": "gif", "dataset": DATASET, "mean": 80.0, "std": 5.0,
         "not_comparable": "the paper's number is for DBLP"},
        {"method": "retrain", "dataset": DATASET, "mean": 85.0, "std": 5.0},
    ]
    config = v(cfg, "tiny.yaml")
    job = lambda label, seed: _runner.Job("cell", label, DATASET, seed, {})  # noqa: E731
    rec = {"utility_unlearned": 0.80, "utility_metric": "micro_f1"}
    results = [(job("gif", 0), rec), (job("retrain", 0), dict(rec, utility_unlearned=0.85))]
    rows = compare(config, results)
    # 80.0 would be "within": the reference is excluded from verdicts all the same
    assert rows[0]["verdict"] == "not comparable" and rows[1]["verdict"] == "within"
    page = render_markdown(config, results, command="graphforget reproduce tiny", quick=False)
    assert "**not comparable:** the paper's number is for DBLP" in page
    assert "not comparable: 1" in page
    for bad in ("", "  ", 3):
        broken = tiny_config()
        broken["reference"][0]["not_comparable"] = bad
        with pytest.raises(GraphForgetError, match="not_comparable"):
            v(broken, "tiny.yaml")


def test_sequential_graph_removals_split_one_graph_per_request():
    from graphforget.graph import GraphRequest, synthetic_graphs

    data = synthetic_graphs(num_graphs=40, seed=0)
    full = _runner._sample_count(None, data, "graph", 6, seed=0)
    parts = _runner._split_request(full, 1)
    assert len(parts) == 6 and all(isinstance(p, GraphRequest) and len(p) == 1 for p in parts)
    assert sorted(int(p.graph_ids) for p in parts) == sorted(full.graph_ids.tolist())


def test_from_results_re_renders_without_recomputing(tmp_path, monkeypatch):
    from graphforget.reproduce import reproduce

    cfg = tiny_config()
    cfg["protocol"]["seeds"] = 1
    write(tmp_path, cfg)
    first = reproduce("tiny", tables=str(tmp_path), out=tmp_path / "out", cache=tmp_path / "cache1",
                      plots=False)
    # a new note and a not-comparable reference, a fresh cache: nothing may be recomputed
    cfg["notes"] = "A note added after the run."
    cfg["reference"][0]["not_comparable"] = "the paper used another split"
    write(tmp_path, cfg)
    monkeypatch.setattr(_runner, "_run_job", lambda *a: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = reproduce("tiny", tables=str(tmp_path), out=tmp_path / "out", cache=tmp_path / "cache2",
                      plots=False, from_results=True)
    page = Path(again["markdown"]).read_text()
    assert "A note added after the run." in page and "not comparable" in page
    assert [r for _, r in again["results"]] == [r for _, r in first["results"]]
    assert "--from-results" in page


def test_cells_sharing_a_reference_run_as_one_unit_and_fit_it_once(tmp_path, monkeypatch):
    from graphforget.bench import runner

    cfg = tiny_config()
    cfg["protocol"].update(share_reference=True, methods=["retrain", "gif", "if"])
    config = validate(cfg, "tiny.yaml")
    jobs = plan(config)  # method-major: retrain s0, retrain s1, gif s0, ...
    units = _runner._groups(jobs)
    assert [[jobs[i].seed for i in unit] for unit in units] == [[0, 0, 0], [1, 1, 1]]
    assert [jobs[i].label for i in units[0]] == ["retrain", "gif", "if"]
    # a table without a shared reference dispatches each job alone
    plain = plan(validate(tiny_config(), "tiny.yaml"))
    assert _runner._groups(plain) == [[i] for i in range(len(plain))]

    from graphforget.exact.retrain import Retrain

    fits = []
    original = Retrain.fit

    def counting_fit(self, data, *args, **kwargs):
        fits.append(type(self).__name__)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(Retrain, "fit", counting_fit)
    runner._REFERENCE_CACHE.clear()
    pairs = _runner.run_table(config, tmp_path / "cache")
    assert len(pairs) == 6 and all(record["retrain_seconds"] > 0 for _, record in pairs)
    # per seed: the retrain method's own fit and the one reference the three cells share
    # (unshared, every cell would fit its own: 2 * (1 + 3))
    assert len(fits) == 2 * 2
    for seed in (0, 1):
        times = {record["retrain_seconds"] for job, record in pairs if job.seed == seed}
        assert len(times) == 1


def test_a_method_entry_may_run_on_some_datasets_only():
    cfg = tiny_config()
    cfg["protocol"]["datasets"] = [DATASET, "synthetic:nodes=80"]
    cfg["protocol"]["methods"] = ["retrain", {"method": "gif", "datasets": [DATASET]}]
    cfg["reference"] = []
    jobs = plan(validate(cfg, "tiny.yaml"))
    assert {(j.label, j.dataset) for j in jobs} == {("retrain", DATASET), ("retrain", "synthetic:nodes=80"),
                                                    ("gif", DATASET)}
    # the keys of the cells it keeps are those of a table without the restriction
    plain = tiny_config()
    plain["protocol"]["methods"] = ["retrain", "gif"]
    assert {j.key for j in plan(validate(plain, "tiny.yaml")) if j.label == "gif"} == \
        {j.key for j in jobs if j.label == "gif"}
    cfg["protocol"]["methods"][1]["datasets"] = ["cora"]
    with pytest.raises(GraphForgetError, match="dataset 'cora' is not one of the protocol's datasets"):
        validate(cfg, "tiny.yaml")
