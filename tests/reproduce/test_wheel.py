"""A wheel built from this repository ships the table configs: installed into a fresh
virtual environment, ``graphforget reproduce --list`` shows every table and a tiny table
runs from a directory outside the source tree, writing its page there."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_installed_wheel_lists_tables_and_runs_one(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("graphforget-*.whl")
    env_dir = tmp_path / "env"
    # the fresh environment sees torch & co. from this interpreter (no network), but its
    # own graphforget is the wheel's, found before any editable install
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                              "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRAPHFORGET_TABLES")}
    run_env["GRAPHFORGET_CACHE"] = str(tmp_path / "cache")

    def graphforget(*args: str) -> subprocess.CompletedProcess:
        code = "import sys; from graphforget.bench.cli import main; sys.exit(main(sys.argv[1:]))"
        # -I: isolated from PYTHONPATH and the current directory (the Ray test fixture puts
        # the checkout on PYTHONPATH for its workers)
        return subprocess.run([str(python), "-I", "-c", code, *args], capture_output=True, text=True,
                              cwd=work, env=run_env)

    where = subprocess.run([str(python), "-I", "-c", "import graphforget; print(graphforget.__file__)"],
                           capture_output=True, text=True, cwd=work, env=run_env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    listing = graphforget("reproduce", "--list")
    assert listing.returncode == 0, listing.stderr
    shipped = sorted(p.stem for p in (REPO / "benchmarks" / "tables").glob("*.yaml"))
    for name in shipped:
        assert name in listing.stdout
    assert "site-packages" in listing.stdout  # read from the package, not the checkout

    tiny = {
        "name": "tiny-installed", "title": "Tiny table from an installed wheel",
        "citation": {"paper": "Nobody et al., A Made-Up Paper"},
        "protocol": {"task": "node", "datasets": ["synthetic:nodes=120"], "split": "0.6/0.2/0.2",
                     "model": "sgc", "request": "node", "ratio": 0.1, "seeds": 1,
                     "params": {"epochs": 5}, "methods": ["retrain"]},
        "reference": [], "quick": {"description": "the same", "seeds": 1},
        "estimated_minutes": {"full": 0.1, "quick": 0.1},
    }
    (work / "tiny-installed.yaml").write_text(yaml.safe_dump(tiny))
    ran = graphforget("reproduce", str(work / "tiny-installed.yaml"), "--no-plots")
    assert ran.returncode == 0, ran.stderr
    assert (work / "tiny-installed.md").is_file() and (work / "tiny-installed.json").is_file()
    page = graphforget("reproduce", "--page")
    assert page.returncode == 2 and "source checkout" in page.stderr
