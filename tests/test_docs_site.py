"""The documentation site (issue #28): `mkdocs build --strict` passes, the results page
links inside the site, every page is in the nav, and CI runs the strict build."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _nav_pages(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _nav_pages(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _nav_pages(value)


def _config():
    text = (REPO / "mkdocs.yml").read_text()
    return yaml.load(text, Loader=yaml.BaseLoader)  # !!python tags are not resolved


def test_every_page_is_in_the_nav():
    nav = set(_nav_pages(_config()["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - nav == set(), "add these pages to mkdocs.yml's nav"
    assert nav - pages == set(), "the nav names pages that do not exist"


def test_results_page_links_stay_inside_the_site():
    text = (DOCS / "results.md").read_text()
    outside = re.findall(r"\]\((\.\./[^)]*)\)", text)
    assert outside == []
    for target in re.findall(r"\]\((results/[^)#]+)\)", text):
        assert (REPO / "benchmarks" / target).is_file(), target  # served by the hook


def test_ci_runs_the_strict_build():
    run = (REPO / ".ci" / "run").read_text()
    assert "mkdocs build --strict" in run and "mkdocs-material" in run
    assert run.index("mkdocs build --strict") < run.index("pytest")


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs and mkdocs-material are installed by .ci/run")
def test_mkdocs_build_strict(tmp_path):
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=REPO, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                                        "PATH": "/usr/bin:/bin"} | {
                             k: v for k, v in __import__("os").environ.items() if k in ("PYTHONPATH", "HOME")})
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "site" / "results" / "plots").is_dir()
