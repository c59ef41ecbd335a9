"""The package's layers: the envs need numpy, scipy and gymnasium only."""

import subprocess
import sys

import pytest

import isac_gym


def test_making_and_stepping_every_env_imports_no_training_or_solver_library():
    code = (
        "import sys, gymnasium as gym, isac_gym\n"
        "for env_id in sorted(isac_gym.ENVIRONMENTS):\n"
        "    env = gym.make(env_id); env.reset(seed=0); env.step(env.action_space.sample())\n"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'cvxpy', 'cvxopt', 'hydra', 'matplotlib') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_core_dependencies_are_numpy_scipy_and_gymnasium():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("=")[0] for d in project["dependencies"]) == ["gymnasium", "numpy", "scipy"]
    extras = project["optional-dependencies"]
    assert {"oracles", "render", "train", "dev"} <= set(extras)
    assert any(d.startswith("stable-baselines3") for d in extras["train"])
    assert any(d.startswith("cvxpy") for d in extras["oracles"])


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)


def test_the_bench_imports_without_the_agents_package_and_says_what_checkpoints_need(tmp_path):
    """Regression: isac_gym.bench imported the repository's agents package (and a cycle through it), so it failed
    outside the repository root. With agents unimportable, every bench module imports, and --checkpoint, --agent and
    --runs are refused in one line naming the training tools."""
    code = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['agents'] = None  # not importable\n"
        "import isac_gym.bench\n"
        "for m in pkgutil.iter_modules(isac_gym.bench.__path__):\n"
        "    importlib.import_module('isac_gym.bench.' + m.name)\n"
        "from isac_gym.bench.__main__ import main\n"
        "codes = [main(['run', '--ids', 'ISAC-FIM-v0', '--checkpoint', 'x=somewhere', '--out', 'o']),\n"
        "         main(['figures', '--agent', 'somewhere', '--out', 'o']), main(['figures', '--runs', 'r', '--out', 'o'])]\n"
        "print(codes, [k for k in sys.modules if k.split('.')[0] == 'agents' and sys.modules[k] is not None])\n"
    )
    proc = _python(code, tmp_path)
    assert proc.stdout.strip() == "[2, 2, 2] []", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: --") and "training tools" in line for line in lines)


def test_the_installed_training_tools_are_found_from_any_directory(tmp_path):
    """The bench finds the training tools through the installed entry point, not through the current directory."""
    proc = _python("from isac_gym.bench.trained import load_tools; print(type(load_tools()).__name__)", tmp_path)
    assert proc.stdout.strip() == "TrainingTools", proc.stderr


def test_without_the_solver_extra_the_solver_free_policies_work_and_the_others_name_the_extra(tmp_path):
    """A bare ``pip install isac-gym``: ``oracles.names`` lists every policy, ``random`` (and every policy that needs
    no solver) solves, and a solver's policy fails with one ModuleNotFoundError naming the extra."""
    code = (
        "import sys\n"
        "sys.modules['cvxpy'] = None\n"
        "sys.modules['cvxopt'] = None\n"
        "import gymnasium as gym, isac_gym\n"
        "from isac_gym import oracles\n"
        "out = {}\n"
        "for env_id, reg in isac_gym.ENVIRONMENTS.items():\n"
        "    env = gym.make(env_id, **reg.small)\n"
        "    env.reset(seed=0)\n"
        "    for name in oracles.names(env):\n"
        "        try:\n"
        "            oracles.make(env, name).solve(env.unwrapped.current_scenario)\n"
        "            out[env_id, name] = 'ok'\n"
        "        except ModuleNotFoundError as exc:\n"
        "            out[env_id, name] = str(exc)\n"
        "print(repr(out))\n"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = eval(proc.stdout)  # noqa: S307  (our own repr)
    assert {env_id for env_id, _ in out} == set(isac_gym.ENVIRONMENTS)
    for (env_id, name), result in out.items():
        if name == "random":
            assert result == "ok", (env_id, result)
        elif result != "ok":
            assert "pip install 'isac-gym[oracles]'" in result and ("cvxpy" in result or "cvxopt" in result)
    assert out["ISAC-FIM-v0", "oracle"] != "ok" and out["ISAC-SIM-v0", "oracle"] == "ok"
