import json

import pytest

from graphforget._registry import resolve_method
from graphforget.bench.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name,request_kind,params", [
    ("ceu", "edge", ["sigma=2.0", "weight_decay=0.05", "epochs=20"]),
    ("idea", "node", ["sigma=2.0", "weight_decay=0.05", "epochs=20"]),
    ("scalegun", "node", ["sigma=1.0"]),
    ("projector", "feature", []),
])
def test_registered_names_run_from_the_bench_cli(tmp_path, capsys, name, request_kind, params):
    assert resolve_method(name).method_name == name
    path = tmp_path / "out.json"
    argv = ["bench", "--method", name, "--request", request_kind, "--dataset", "synthetic:nodes=300",
            "--ratio", "0.02", "--json", str(path)]
    for p in params:
        argv += ["--param", p]
    code = main(argv)
    assert code == 0, capsys.readouterr().out
    (record,) = json.loads(path.read_text())
    assert record["method"] == name and record["request"] == request_kind
    assert record["unlearn_seconds"] > 0 and 0.0 <= record["utility_unlearned"] <= 1.0
