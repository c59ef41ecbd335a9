"""Classical solvers ("oracles") and the papers' baselines, as SB3-style policies.

``isac_gym.oracles.make(env, name="oracle")`` returns a policy with
``predict(observation, state=None, episode_start=None, deterministic=True)`` and
``solve(scenario) -> configuration``; ``names(env)`` lists what an env offers.
"""

from __future__ import annotations

from typing import Any

from .base import Policy, RandomPolicy

__all__ = ["Policy", "RandomPolicy", "make", "names"]


def _table(env: Any) -> dict[str, Any]:
    from ..envs.fim import FIMSystem
    from ..envs.ris_slp import RISSLPSystem
    from . import fim, ris_slp

    system = getattr(env, "unwrapped", env).system
    if isinstance(system, FIMSystem):
        return fim.POLICIES
    if isinstance(system, RISSLPSystem):
        if system.task == "doa":  # without a RIS theta_RIS is unidentifiable: the DoA bound is infinite
            return {k: v for k, v in ris_slp.POLICIES.items() if k != "no_ris"}
        return ris_slp.POLICIES
    raise ValueError(f"env has no oracles registered (system {type(system).__name__})")


def names(env: Any) -> list[str]:
    """Policy names available for ``env`` (the oracle, the paper's baselines and ``random``)."""
    return sorted(_table(env))


def make(env: Any, name: str = "oracle", **kwargs: Any) -> Policy:
    """Build the policy ``name`` for ``env`` (a Gymnasium env made with ``gym.make``, or its ``unwrapped``)."""
    table = _table(env)
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}, got {name!r}")
    return table[name](env, **kwargs)
