"""Wrappers of the isac-gym envs.

* :class:`SafetyStep` / :class:`SafetyVectorStep`: Safety-Gymnasium's step, ``(obs, reward, cost, terminated,
  truncated, info)``, for constrained-RL libraries (docs/constrained.md). Gymnasium only.
* :class:`SB3VecEnv`: a native vector env as a Stable-Baselines3 ``VecEnv`` (needs the ``[train]`` extra; imported
  on first use, so ``import isac_gym.wrappers`` never imports SB3 or torch).
"""

from __future__ import annotations

from typing import Any

from .safety import SafetyStep, SafetyVectorStep

__all__ = ["SB3VecEnv", "SafetyStep", "SafetyVectorStep", "info_rows"]


def __getattr__(name: str) -> Any:
    if name in ("SB3VecEnv", "info_rows"):
        from . import sb3

        return getattr(sb3, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
