"""Policy protocol shared by every oracle and baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..physics import batching


class Policy:
    """SB3-style policy bound to an env: ``predict`` acts, ``solve`` designs a configuration.

    Solver policies act in the env's ``direct`` action mode: ``predict`` solves the env's current
    scenario (cached per episode) and returns ``env.unwrapped.encode(solution)``.
    """

    name = "policy"

    def __init__(self, env: Any, seed: int | None = None):
        self.env = env
        self.unwrapped = getattr(env, "unwrapped", env)
        self.rng = np.random.default_rng(seed)
        self._cache_key: int | None = None  # the env's episode_index of the cached solution
        self._cache_action: np.ndarray | None = None

    def solve(self, scenario: Any) -> Any:
        """Configuration designed for an (unbatched) scenario."""
        raise NotImplementedError

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        if getattr(self.unwrapped.system, "action_mode", "direct") != "direct":
            raise ValueError(f"the {self.name!r} policy acts in the direct action mode; "
                             "make the env with action_mode='direct'")
        key = self.unwrapped.episode_index
        if key != self._cache_key:
            self._cache_action = self.unwrapped.encode(self.solve(self.unwrapped.current_scenario))
            self._cache_key = key
        return self._cache_action.copy(), state


class RandomPolicy(Policy):
    """Uniformly random actions in the env's own action mode (the ``random`` baseline)."""

    name = "random"

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        space = self.unwrapped.action_space
        return self.rng.uniform(space.low, space.high).astype(space.dtype), state

    def solve(self, scenario: Any) -> Any:
        system = self.unwrapped.system
        a = self.rng.uniform(-1.0, 1.0, size=(1, system.action_dim))
        scen = batching.stack([scenario])
        refs = system.references(scen)
        config, _ = system.decode(a, scen, refs, system.initial_config(scen, refs))
        return batching.take(config, 0)
