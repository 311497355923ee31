"""``graphforget stream`` SIGKILLed at random points, then replayed and resumed."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

REQUESTS = 10
STREAM = ["--method", "retrain", "--dataset", "synthetic:nodes=80,features=6,classes=3",
          "--split", "0.6/0.2/0.2", "--model", "gcn", "--seed", "4", "--param", "epochs=4",
          "--param", "hidden_channels=8", "--requests", str(REQUESTS)]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _cli(*args):
    return [sys.executable, "-m", "graphforget", *args]


def _main(capsys, *args):
    """Runs the CLI in this process (no interpreter start-up) and returns its last JSON line."""
    from graphforget.bench.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out.strip().splitlines()[-1])


def _run(capsys, *args):
    """Runs the CLI in this process; returns (exit code, stdout lines, stderr lines)."""
    from graphforget.bench.cli import main

    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out.strip().splitlines(), out.err.strip().splitlines()


def _replay(capsys, folder):
    code, lines, err = _run(capsys, "replay", "--ledger", str(folder))
    assert code == 0 and not err, err
    assert len(lines) == 1, lines
    return json.loads(lines[0])


@pytest.mark.slow
def test_killed_stream_replays_and_resumes_to_the_same_fingerprint(tmp_path, capsys):
    whole = tmp_path / "whole"
    expected = _main(capsys, "stream", *STREAM, "--ledger", str(whole), "--quiet")
    assert expected["applied"] == REQUESTS
    assert _replay(capsys, whole)["fingerprint"] == expected["fingerprint"]

    rng = random.Random(20260)
    folder = tmp_path / "killed"
    kills, acknowledged = 0, 0
    for _ in range(3):
        proc = subprocess.Popen(_cli("stream", *STREAM, "--ledger", str(folder)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env())
        # Kill after a random number of acknowledged requests of this run, plus a random
        # delay so that the kill lands anywhere inside the next request's writes.
        target = rng.randint(0, 3)
        seen = 0
        while seen < target:
            line = proc.stdout.readline()
            if not line:
                break
            event = json.loads(line)
            if "request" in event:
                seen += 1
                acknowledged = max(acknowledged, event["request"])
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
        if (folder / "CURRENT").exists():
            state = _replay(capsys, folder)  # loadable and consistent after every kill
            assert state["applied"] >= acknowledged, "an acknowledged request was lost"
            assert state["verified"] and state["mismatches"] == []
    assert kills >= 2
    final = _main(capsys, "stream", *STREAM, "--ledger", str(folder), "--quiet")
    assert final["applied"] == REQUESTS and final["resumed_at"] <= REQUESTS
    assert final["fingerprint"] == expected["fingerprint"]
    replayed = _replay(capsys, folder)
    assert replayed["applied"] == REQUESTS and replayed["fingerprint"] == expected["fingerprint"]


def test_stream_and_replay_errors_are_one_line_exit_2(tmp_path, capsys):
    from graphforget.bench.cli import main

    assert main(["replay", "--ledger", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "not a ledger" in err

    assert main(["stream", *STREAM[:-1], "100000", "--ledger", str(tmp_path / "l")]) == 2
    assert "exceeds the" in capsys.readouterr().err
    assert not (tmp_path / "l" / "CURRENT").exists()  # rejected before any fit
    assert main(["stream", "--method", "nope", "--dataset", "karate", "--requests", "1",
                 "--ledger", str(tmp_path / "m")]) == 2


def _tree(folder):
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_replay_and_verify_outcome_lines_and_exit_codes(tmp_path, capsys):
    """The issue's torn-tail case at the CLI: one outcome line, a matching exit code,
    --no-persist writes nothing, nothing acknowledged is deleted."""
    whole = tmp_path / "whole"
    summary = _main(capsys, "stream", *STREAM[:-1], "3", "--ledger", str(whole), "--quiet",
                    "--checkpoint-every", "1")
    assert summary["applied"] == 3 and summary["served"] == 3 and summary["disk_bytes"] > 0
    assert {"retrains", "mean_unlearn_seconds", "mean_ledger_seconds"} <= set(summary)
    copy = tmp_path / "copy"
    shutil.copytree(whole, copy)
    journal = (copy / "journal.jsonl").read_bytes()
    (copy / "journal.jsonl").write_bytes(journal[:-40])
    before = _tree(copy)
    code, lines, err = _run(capsys, "verify", "--ledger", str(copy))
    assert code == 1 and len(lines) == 1 and not err
    assert json.loads(lines[0])["outcome"] == "needs-repair"
    code, lines, err = _run(capsys, "replay", "--ledger", str(copy), "--no-persist")
    assert code == 1 and len(lines) == 1 and not err
    line = json.loads(lines[0])
    assert line["outcome"] == "needs-repair" and line["applied"] == 3
    assert line["fingerprint"] == summary["fingerprint"] and "restore record 3" in line["repairs"][0]
    assert _tree(copy) == before  # nothing written, not even a lock file
    code, lines, err = _run(capsys, "replay", "--ledger", str(copy))
    assert code == 0 and len(lines) == 1 and not err
    assert json.loads(lines[0])["outcome"] == "repaired"
    assert (copy / "journal.jsonl").read_bytes() == journal
    code, lines, err = _run(capsys, "verify", "--ledger", str(copy))
    assert code == 0 and json.loads(lines[0])["outcome"] == "ok"
    # damage: one line on stderr, nothing on stdout, exit 2; verify: a "damaged" line, exit 2
    (copy / "journal.jsonl").write_bytes(journal.replace(b'"outcome":"applied"', b'"outcome":"applieD"', 1))
    code, lines, err = _run(capsys, "replay", "--ledger", str(copy))
    assert code == 2 and not lines and len(err) == 1 and "verification" in err[0]
    code, lines, err = _run(capsys, "verify", "--ledger", str(copy))
    assert code == 2 and len(lines) == 1 and json.loads(lines[0])["outcome"] == "damaged"


@pytest.mark.slow
def test_a_stream_killed_while_loading_is_an_empty_ledger(tmp_path, capsys):
    folder = tmp_path / "l"
    slow_fit = [a if a != "epochs=4" else "epochs=3000" for a in STREAM]
    proc = subprocess.Popen(_cli("stream", *slow_fit, "--ledger", str(folder)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())
    deadline = time.time() + 60
    while not (folder / "lock").exists() and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (folder / "CURRENT").exists(), "the kill landed after the first commit"
    before = _tree(folder)
    for command in (["replay", "--ledger", str(folder), "--no-persist"], ["verify", "--ledger", str(folder)],
                    ["replay", "--ledger", str(folder)]):
        code, lines, err = _run(capsys, *command)
        assert code == 0 and len(lines) == 1 and not err, (command, err)
        line = json.loads(lines[0])
        assert line["outcome"] == "empty" and line["applied"] == 0 and line["records"] == 0
        if "replay" not in command or "--no-persist" in command:  # readers write nothing at all
            assert _tree(folder) == before
    assert sorted(_tree(folder)) == ["lock"]  # a writer's replay only took the lock
    resumed = _main(capsys, "stream", *STREAM[:-1], "2", "--ledger", str(folder), "--quiet")
    assert resumed["applied"] == 2 and resumed["resumed_at"] == 0


@pytest.mark.slow
def test_two_processes_streaming_into_one_ledger(tmp_path, capsys):
    """The second writer fails at once with a clear error; the first finishes; the
    ledger verifies and resumes without repeating or skipping a request."""
    folder = tmp_path / "l"
    many = [a if a != "epochs=4" else "epochs=300" for a in STREAM[:-1]] + ["20"]
    first = subprocess.Popen(_cli("stream", *many, "--ledger", str(folder)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=_env())
    line = first.stdout.readline()  # the first acknowledged request: the lock is held
    assert "request" in json.loads(line)
    second = subprocess.run(_cli("stream", *many, "--ledger", str(folder)), capture_output=True, text=True,
                            env=_env(), timeout=120)
    assert second.returncode == 2 and second.stdout == ""
    assert "is in use by another process" in second.stderr and second.stderr.count("\n") == 1
    assert first.poll() is None  # it did not wait for the lock: the first is still streaming
    first.communicate(timeout=300)
    assert first.returncode == 0
    result = json.loads(subprocess.run(_cli("verify", "--ledger", str(folder)), capture_output=True, text=True,
                                       env=_env(), timeout=120).stdout)
    assert result["outcome"] == "ok" and result["applied"] == 20 and result["records"] == 21
    nodes = [r["request"]["node_ids"][0] for r in (json.loads(x) for x in open(folder / "journal.jsonl"))
             if r["type"] == "request"]
    assert len(nodes) == len(set(nodes)) == 20  # no request repeated or skipped
