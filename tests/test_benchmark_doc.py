"""Every ``python -m isac_gym.bench`` command that docs/benchmark.md shows runs as shown (regression: the WIM example
ended with ``error: math domain error``). Each runs on one scenario and one point of each sweep, into a temporary
folder; the paths of the page (a trained run, a sweep, someone's results file) are made for it."""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from isac_gym.bench import load
from isac_gym.bench.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmark.md"
PREFIX = "python -m isac_gym.bench "


def page_commands() -> list[str]:
    """The bench commands of the page: lines of its bash blocks (continuations joined, comments dropped) and inline
    code spans."""
    text = PAGE.read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(PREFIX):
                out.append(" ".join(line.split()))
    out += [c for c in re.findall(r"`([^`\n]+)`", text) if c.startswith(PREFIX)]
    return list(dict.fromkeys(out))


COMMANDS = page_commands()
#: Commands that solve every figure of every paper: minutes even on one scenario and one point.
HEAVY = [c for c in COMMANDS if c.split()[3] == "figures" and "--only" not in c]


def test_the_page_shows_each_subcommand():
    assert {c.split()[3] for c in COMMANDS} == {"run", "score", "validate", "figures"}


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The page's paths, made: a trained FIM run (with ISAC-Bench scores during training) inside a sweep folder, and
    someone's results file (the oracle's own answers under another name)."""
    tmp = tmp_path_factory.mktemp("doc")
    job = tmp / "sweep" / "job"
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "env=fim", "agent=td3", "total_timesteps=200",
                           "agent.learning_starts=50", "agent.buffer_size=500", "agent.batch_size=16",
                           "env.max_episode_steps=10", "bench_every=100", "bench_episodes=1", "eval_episodes=0",
                           "progress_bar=false", f"hydra.run.dir={job}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp / "theirs"
    assert main(["run", "--ids", "ISAC-RIS-SLP-v0", "--policies", "oracle", "--episodes", "1", "--out", str(out)]) == 0
    data = load(out / "results" / "ISAC-RIS-SLP-v0" / "oracle.json").to_json()
    theirs = tmp / "theirs.json"
    theirs.write_text(json.dumps({**data, "policy": "their-agent", "kind": "agent"}))
    return {"outputs/latest": str(job), "bench_results/agents/fixed": str(tmp / "sweep"), "theirs.json": str(theirs),
            "my.json": str(theirs), "_tmp": tmp}


def _small(command: str, tmp: Path) -> list[str]:
    """The command's arguments on one scenario (and one point of each sweep), writing into ``tmp``."""
    argv = shlex.split(command)[3:]
    for flag in ("--episodes", "--seeds", "--points"):
        if flag in argv:
            i = argv.index(flag)
            del argv[i: i + 2]
    sub = argv[0]
    if sub == "run":
        argv += ["--episodes", "1", "--out", str(tmp / "out")]
    elif sub == "score":
        argv += ["--references", str(tmp / "out")]
    elif sub == "figures":
        argv += ["--seeds", "1", "--points", "1", "--out", str(tmp / "fig"), "--work", str(tmp / "work")]
    return argv


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.slow) if c in HEAVY else c for c in COMMANDS])
def test_every_command_of_the_page_runs(command, places, tmp_path, capsys):
    for path, made in places.items():
        if not path.startswith("_"):
            command = command.replace(f" {path}", f" {made}").replace(f"={path}", f"={made}")
    argv = _small(command, tmp_path)
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    if argv[0] in ("run", "score"):
        assert "| ISAC-" in printed and "nan" not in printed
    if argv[0] == "figures":
        assert (tmp_path / "fig" / "figures.md").is_file()
        shutil.rmtree(tmp_path / "fig")
