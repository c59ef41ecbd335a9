"""Slow: a TD3 agent learns ISAC-FIM-v0 on a fixed scenario (run with ``python -m pytest -m slow``)."""

import gymnasium as gym
import pytest
from stable_baselines3.common.env_util import make_vec_env

import isac_gym  # noqa: F401
from agents.algorithms import build_model

AGENT = {"algo": "td3", "policy": "MlpPolicy", "net_arch": [256, 256], "learning_rate": 3e-4,
         "actor_learning_rate": 3e-4, "gamma": 0.9, "tau": 0.005, "buffer_size": 50_000, "batch_size": 128,
         "learning_starts": 1000, "noise": {"type": "normal", "sigma": 0.2}, "device": "cpu", "verbose": 0}


def _make():
    return gym.make("ISAC-FIM-v0", scenario="fixed", scenario_seed=3, max_episode_steps=100)


def _greedy_last_step(model, steps=100) -> dict:
    """The info of the last step of a greedy episode."""
    env = _make()
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, _, _, info = env.step(action)
    return info


@pytest.mark.slow
def test_td3_improves_the_crb_on_a_fixed_scenario():
    """In the default (structured) mode every action is feasible, so learning shows in the paper's objective: the
    greedy agent's CRB after 8000 steps is at least 20 % below the untrained one's, and still feasible."""
    model = build_model(AGENT, make_vec_env(_make, n_envs=1, seed=0), seed=0, tensorboard_log=None)
    before = _greedy_last_step(model)
    model.learn(8000)
    after = _greedy_last_step(model)
    assert after["feasible"] and before["feasible"]
    assert after["objective"] < 0.8 * before["objective"], (before["objective"], after["objective"])


@pytest.mark.slow
def test_the_main_job_shows_learning(tmp_path):
    """``python train.py`` (the README's main job, defaults only): on the evaluation scenarios the trained agent's
    CRB (the paper's objective) is below that of ``random`` actions and of the paper's rigid-array baseline, and
    it is feasible on every one."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "train.py"), "progress_bar=false", f"hydra.run.dir={tmp_path}"],
                         cwd=root, check=True, capture_output=True, text=True, timeout=1800).stdout
    rows = {r["policy"]: r for r in json.loads((tmp_path / "evaluation.json").read_text())["summary"]}
    agent = rows["checkpoint"]
    assert agent["feasible_rate"] == 1.0
    assert agent["objective_mean"] < rows["random"]["objective_mean"]
    assert agent["objective_mean"] < rows["rigid"]["objective_mean"]
    beats = next(line for line in out.splitlines() if line.startswith("It beats"))  # and it says so in words
    assert "random (" in beats and "rigid (" in beats and "feasible on 100% of the scenarios" in out
