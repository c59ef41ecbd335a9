"""Hydra structured-config schemas (typed defaults; the YAML files under conf/ fill them in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class EnvConfig:
    """Which env and how to make it: ``gym.make(id, max_episode_steps=..., **kwargs)``."""

    id: str = MISSING
    max_episode_steps: int = 200
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    env: EnvConfig = MISSING
    agent: dict[str, Any] = MISSING
    seed: int = 0
    total_timesteps: int = 3000
    n_envs: int = 1
    checkpoint_freq: int = 10_000
    log_interval: int = 1
    progress_bar: bool = True
    resume: str | None = None
    eval_episodes: int = 3
    eval_steps: int | None = None
    eval_policies: list[str] = field(default_factory=lambda: ["checkpoint", "oracle", "rigid", "random"])


@dataclass
class EvaluateConfig:
    env: EnvConfig = MISSING
    policy: str = "all"
    checkpoint: str | None = None
    episodes: int = 5
    seed: int = 1000
    steps: int | None = None
    progress_bar: bool = True


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    cs.store(group="env", name="env_schema", node=EnvConfig)
