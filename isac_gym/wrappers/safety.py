"""Safety-Gymnasium's step on the isac-gym envs: ``(obs, reward, cost, terminated, truncated, info)``.

Every id is a constrained MDP: ``info["costs"]`` holds one cost per constraint (0 exactly where it holds) and
``info["cost"]`` their sum. Constrained-RL code written for Safety-Gymnasium (OmniSafe, SafePO) reads the cost from
a six-tuple step instead; these wrappers return it there. Make the env with ``reward_mode="objective"`` so that the
reward holds the objective alone and the constraints are counted once, in the cost::

    env = SafetyStep(gym.make("ISAC-FIM-v0", reward_mode="objective"))
    obs, info = env.reset(seed=0)
    obs, reward, cost, terminated, truncated, info = env.step(env.action_space.sample())
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class SafetyStep(gym.Wrapper):
    """A scalar env whose ``step`` returns ``(obs, reward, cost, terminated, truncated, info)``; ``cost`` is
    ``info["cost"]`` (a float), ``reset`` is unchanged."""

    def __init__(self, env: gym.Env):
        super().__init__(env)

    def step(self, action: Any) -> tuple[Any, float, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, float(info["cost"]), terminated, truncated, info


class SafetyVectorStep(gym.vector.VectorWrapper):
    """A vector env whose ``step`` returns ``(obs, rewards, costs, terminations, truncations, infos)``; ``costs`` is
    ``infos["cost"]`` (float array ``[num_envs]``), ``reset`` is unchanged."""

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        return obs, rewards, np.asarray(infos["cost"], dtype=float), terminations, truncations, infos
