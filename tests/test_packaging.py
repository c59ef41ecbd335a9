"""The package's layers: the envs need numpy, scipy and gymnasium only."""

import subprocess
import sys

import pytest


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
