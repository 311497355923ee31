"""Command-line manners from issue #28: usage, help texts, output paths checked before the
work, the demo's output, start-up without torch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphforget.bench import cli

REPO = Path(__file__).resolve().parents[1]


def test_bare_command_prints_usage(capsys):
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: graphforget") and "demo" in err and "reproduce" in err


def test_help_describes_every_command(capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser(None).parse_args(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "bench", "list", "reproduce", "stream", "replay"):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name))
        nxt = out.splitlines()[out.splitlines().index(line) + 1]
        assert len(line.split()) > 1 or nxt.strip() and not nxt.strip().startswith(
            ("demo", "bench", "list", "stream", "replay")), f"no help for {name}"


@pytest.mark.parametrize("command", ["stream", "replay", "reproduce"])
def test_lazy_commands_keep_their_options(command, capsys):
    assert cli.main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: graphforget {command}") and "--" in out


def test_demo_bad_dataset_fails_before_the_header(capsys):
    rc = cli.main(["demo", "--dataset", "nope"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "unknown dataset 'nope'" in err


def _bench(out_flag, path):
    return ["bench", "--method", "retrain", "--dataset", "synthetic:nodes=60", "--param", "epochs=1",
            out_flag, str(path)]


@pytest.mark.parametrize("flag", ["--json", "--markdown"])
def test_output_paths_checked_before_the_work(flag, tmp_path, capsys, monkeypatch):
    import graphforget.bench.runner as runner

    def no_work(*a, **k):
        raise AssertionError("the run started before the output path was checked")

    monkeypatch.setattr(runner, "run_bench", no_work)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    afile = tmp_path / "file"
    afile.write_text("x")
    cases = [tmp_path, tmp_path / "missing" / "out.json", afile / "out.json", readonly / "out.json"]
    try:
        for path in cases:
            rc = cli.main(_bench(flag, path))
            err = capsys.readouterr().err
            assert rc == 2, path
            assert err.count("\n") == 1 and err.startswith(f"graphforget: error: {flag}"), err
    finally:
        readonly.chmod(0o755)


def test_outputs_written_atomically(tmp_path, capsys):
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    args = _bench("--json", out)[:-2] + ["--json", str(out), "--markdown", str(md)]
    assert cli.main(args) == 0, capsys.readouterr().err
    assert json.loads(out.read_text())[0]["method"] == "retrain" and md.read_text().strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.md"]  # no temp files left


def test_stream_ledger_checked_before_the_work(tmp_path, capsys):
    afile = tmp_path / "f"
    afile.write_text("x")
    rc = cli.main(["stream", "--method", "retrain", "--dataset", "karate", "--requests", "1",
                   "--ledger", str(afile)])
    assert rc == 2 and "--ledger" in capsys.readouterr().err


def test_demo_output_fits_80_columns_with_legend_and_progress(capsys):
    rc = cli.main(["demo", "--method", "cgu"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "micro-F1" in out and "KL =" in out and "differs between rows" in out
    assert "*" in out and "one timing" in out  # single-timing speed-ups marked
    assert "cell 1/2 done (cgu, edge)" in err and "cell 2/2 done" in err


def test_help_and_list_start_without_torch(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), GRAPHFORGET_CACHE=str(tmp_path))
    code = ("import sys; from graphforget.bench.cli import main; main(sys.argv[1:]); "
            "print('torch' in sys.modules, 'torch_geometric' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                         env=env, check=True)
    assert res.stdout.strip().endswith("False False"), res.stdout[-200:]
    first = subprocess.run([sys.executable, "-c", code, "list"], capture_output=True, text=True, env=env)
    second = subprocess.run([sys.executable, "-c", code, "list"], capture_output=True, text=True, env=env)
    assert second.stdout.strip().endswith("False False")  # served from the listing cache
    assert first.stdout.splitlines()[:-1] == second.stdout.splitlines()[:-1]
    assert "grapheraser" in second.stdout


def test_reproduce_out_checked_before_the_work(tmp_path, capsys, monkeypatch):
    import graphforget.reproduce._runner as runner

    def no_work(*a, **k):
        raise AssertionError("the table ran before --out was checked")

    monkeypatch.setattr(runner, "run_table", no_work)
    afile = tmp_path / "f"
    afile.write_text("x")
    tables = sorted((REPO / "benchmarks" / "tables").glob("*.yaml"))
    rc = cli.main(["reproduce", tables[0].stem, "--quick", "--out", str(afile / "sub")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("graphforget: error: --out"), err
