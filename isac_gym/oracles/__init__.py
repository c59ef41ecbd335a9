"""Classical solvers ("oracles") and the papers' baselines, as SB3-style policies.

``isac_gym.oracles.make(env, name="oracle")`` returns a policy with
``predict(observation, state=None, episode_start=None, deterministic=True)`` and
``solve(scenario) -> Solution``; ``names(env)`` lists what an env offers. Each system declares its
policies in its oracle module (``policies(system) -> {name: class}``), named by the system's
``oracle_module``.
"""

from __future__ import annotations

from typing import Any

from ..envs.base import policies_of
from .base import Design, Policy, RandomPolicy, Solution

__all__ = ["Design", "Policy", "RandomPolicy", "Solution", "make", "names", "slow_names"]


def _table(env: Any) -> dict[str, Any]:
    system = getattr(env, "unwrapped", env).system
    table = policies_of(system)
    if not table:
        raise ValueError(f"env has no oracles registered (system {type(system).__name__})")
    return table


def names(env: Any) -> list[str]:
    """Policy names available for ``env`` (the oracle, the paper's baselines and ``random``)."""
    return sorted(_table(env))


def slow_names(env: Any) -> list[str]:
    """The policies of ``env`` whose solve takes more than about ten seconds per scenario (``Policy.slow``)."""
    return sorted(name for name, cls in _table(env).items() if getattr(cls, "slow", False))


def make(env: Any, name: str = "oracle", **kwargs: Any) -> Policy:
    """Build the policy ``name`` for ``env`` (a Gymnasium env made with ``gym.make``, or its ``unwrapped``)."""
    table = _table(env)
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}, got {name!r}")
    return table[name](env, **kwargs)
