"""Regenerate docs/results.md from benchmarks/results/ (same as `graphforget reproduce --page`).

Usage: python benchmarks/make_results_page.py
"""

from __future__ import annotations

from pathlib import Path

from graphforget.reproduce import make_results_page
from graphforget.reproduce._page import SITE_RESULTS

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    make_results_page(ROOT / "benchmarks" / "results", ROOT / "docs" / "results.md", link_base=SITE_RESULTS)
    print(f"wrote {ROOT / 'docs' / 'results.md'}")
