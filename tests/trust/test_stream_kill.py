"""``graphforget stream`` SIGKILLed at random points, then replayed and resumed."""

import json
import os
import random
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


def _replay(capsys, folder):
    from graphforget.bench.cli import main

    capsys.readouterr()
    assert main(["replay", "--ledger", str(folder)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
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
