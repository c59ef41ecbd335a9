"""Slow: a TD3 agent learns ISAC-FIM-v0 on a fixed scenario (run with ``python -m pytest -m slow``)."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

import isac_gym  # noqa: F401
from agents.algorithms import build_model

AGENT = {"algo": "td3", "policy": "MlpPolicy", "net_arch": [256, 256], "learning_rate": 3e-4,
         "actor_learning_rate": 3e-4, "gamma": 0.9, "tau": 0.005, "buffer_size": 50_000, "batch_size": 128,
         "learning_starts": 1000, "noise": {"type": "normal", "sigma": 0.2}, "device": "cpu", "verbose": 0}


def _make():
    return gym.make("ISAC-FIM-v0", scenario="fixed", scenario_seed=3, max_episode_steps=100)


def _greedy_reward(model, steps=100):
    env = _make()
    obs, _ = env.reset(seed=0)
    rewards = []
    for _ in range(steps):
        action, _ = model.predict(obs, deterministic=True)
        obs, reward, *_ = env.step(action)
        rewards.append(reward)
    return float(np.mean(rewards[-20:]))


@pytest.mark.slow
def test_td3_improves_the_reward_on_a_fixed_scenario():
    model = build_model(AGENT, make_vec_env(_make, n_envs=1, seed=0), seed=0, tensorboard_log=None)
    before = _greedy_reward(model)
    model.learn(8000)
    after = _greedy_reward(model)
    assert after > before + 0.5, (before, after)


@pytest.mark.slow
def test_the_main_job_shows_learning(tmp_path):
    """``python train.py`` (the README's main job, defaults only): the trained agent beats ``random`` in mean
    reward and feasibility rate on the evaluation scenarios."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, str(root / "train.py"), "progress_bar=false", f"hydra.run.dir={tmp_path}"],
                   cwd=root, check=True, capture_output=True, timeout=1800)
    rows = {r["policy"]: r for r in json.loads((tmp_path / "evaluation.json").read_text())["summary"]}
    assert rows["checkpoint"]["reward_mean"] > rows["random"]["reward_mean"]
    assert rows["checkpoint"]["feasible_rate"] > rows["random"]["feasible_rate"]
