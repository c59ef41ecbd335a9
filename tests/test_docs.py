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


def test_the_constrained_mdp_page_lists_every_ids_costs_and_limit():
    import gymnasium as gym

    import isac_gym

    page = (ROOT / "docs" / "constrained.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| ISAC-")}
    assert set(rows) == set(isac_gym.ENVIRONMENTS)
    for env_id, reg in isac_gym.ENVIRONMENTS.items():
        costs = gym.make(env_id).reset(seed=0)[1]["costs"]
        for name in costs:
            assert f"`{name}`" in rows[env_id], (env_id, name)
        assert f"{reg.cost_limit:.1f} ({reg.max_episode_steps} steps)" in rows[env_id]
