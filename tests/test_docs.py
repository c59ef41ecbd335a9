"""The README is a user's page: short, its links resolve, and the tools' help points to pages that exist."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_stays_a_short_users_page():
    assert len(README.split()) < 2700  # it was 5,400-6,500 words of measurements and their history
    for history in ("previous round", "this round", "(old ", "before, it"):
        assert history not in README


def test_every_page_the_readme_names_exists():
    pages = set(re.findall(r"docs/[\w/.-]+\.md", README))
    assert {"docs/environments.md", "docs/oracles.md", "docs/training.md", "docs/learnability.md",
            "docs/constrained.md", "docs/benchmark.md", "docs/results.md"} <= pages
    for page in pages:
        assert (ROOT / page).is_file(), page


def test_the_tools_help_points_to_pages_that_exist():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "docs/performance.md" in out and "README" not in out
    bench = subprocess.run([sys.executable, "-m", "isac_gym.bench", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    assert "figures" in bench


def test_figures_write_outside_the_tracked_docs_by_default():
    from isac_gym.bench.__main__ import build_parser

    assert not build_parser().parse_args(["figures"]).out.startswith("docs")
