"""Hydra structured configs: typed schemas, so a bad value is refused when the config is composed.

* ``schema/agent/{ddpg,td3,sac,ppo}``: one dataclass per algorithm (the YAML files in ``conf/agent/``
  extend them); ``agent.batch_size=abc`` fails at start with one line.
* ``schema/env/<env id>``: generated from each system's parameter and option dataclasses (the one
  source of every default), plus the registered kwargs of the id; ``conf/env/*.yaml`` extend them.
* ``train_schema`` / ``evaluate_schema``: the scripts' own fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple  # noqa: UP035  (OmegaConf reads typing annotations)

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class NoiseConfig:
    """Exploration noise of DDPG / TD3: ``normal`` (Gaussian), ``ou`` (Ornstein-Uhlenbeck) or ``none``."""

    type: str = "normal"
    sigma: float = 0.1
    theta: float = 0.15


@dataclass
class AgentConfig:
    """Fields every SB3 algorithm takes (``algo`` picks it; the rest are SB3 constructor arguments)."""

    algo: str = MISSING
    policy: str = "MlpPolicy"
    net_arch: List[int] = field(default_factory=lambda: [256, 256])  # noqa: UP006
    learning_rate: float = 3e-4
    gamma: float = 0.99
    device: str = "cpu"
    verbose: int = 0


@dataclass
class OffPolicyConfig(AgentConfig):
    buffer_size: int = 100_000
    batch_size: int = 128
    learning_starts: int = 500
    tau: float = 0.005
    train_freq: int = 1
    gradient_steps: int = 1


@dataclass
class DDPGConfig(OffPolicyConfig):
    """DDPG with the FIM paper's hyper-parameters (Sec. IV of [FIM]): 256x256, tau 0.002, batch 128,
    critic 3e-4, actor 3e-5."""

    algo: str = "ddpg"
    tau: float = 0.002
    actor_learning_rate: Optional[float] = 3e-5  # noqa: UP045
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass
class TD3Config(DDPGConfig):
    algo: str = "td3"
    policy_delay: int = 2
    target_policy_noise: float = 0.2
    target_noise_clip: float = 0.5


@dataclass
class SACConfig(OffPolicyConfig):
    """SB3's SAC, an extra baseline (entropy-regularised, stochastic actor)."""

    algo: str = "sac"
    ent_coef: str = "auto"


@dataclass
class PPOConfig(AgentConfig):
    """SB3's PPO, the on-policy baseline; ``n_envs=64`` with the native vector env is its fast path."""

    algo: str = "ppo"
    net_arch: List[int] = field(default_factory=lambda: [64, 64])  # noqa: UP006
    n_steps: int = 256
    batch_size: int = 64
    n_epochs: int = 10
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0


AGENT_SCHEMAS = {"ddpg": DDPGConfig, "td3": TD3Config, "sac": SACConfig, "ppo": PPOConfig}


@dataclass
class EnvConfig:
    """Which env and how to make it: ``gym.make(id, max_episode_steps=..., **kwargs)``."""

    id: str = MISSING
    max_episode_steps: int = 200
    kwargs: Any = field(default_factory=dict)


@dataclass
class TrainConfig:
    env: EnvConfig = MISSING
    agent: Any = MISSING
    seed: int = 0
    total_timesteps: int = 6000
    n_envs: int = 1
    vectorization: str = "native"  # native: one batched SB3VecEnv; dummy: SB3's DummyVecEnv of scalar envs
    checkpoint_freq: int = 10_000
    keep_checkpoints: int = 2
    save_replay_buffer: bool = True
    log_interval: int = 1
    progress_bar: bool = True
    deterministic: bool = True  # torch.use_deterministic_algorithms: same seed, same trained policy on CPU
    torch_threads: int = 1  # torch's intra-op threads (0: torch's own default, one per core)
    resume: Optional[str] = None  # noqa: UP045
    eval_episodes: int = 5
    eval_steps: Optional[int] = None  # noqa: UP045
    eval_policies: Optional[List[str]] = None  # noqa: UP006, UP045
    bench_every: int = 0
    bench_episodes: int = 5


@dataclass
class EvaluateConfig:
    env: EnvConfig = MISSING
    policy: str = "all"
    checkpoint: Optional[str] = None  # noqa: UP045
    episodes: int = 5
    seed: int = 1000
    steps: Optional[int] = None  # noqa: UP045
    render: bool = False
    progress_bar: bool = True


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple[float, float]": Tuple[float, float],  # noqa: UP006
          "tuple[float, ...]": List[float], "tuple[int, ...]": List[int]}  # noqa: UP006


def env_kwargs_schema(env_id: str) -> type:
    """A dataclass of every keyword argument of ``env_id`` with its type and default (parameters, options,
    the registered kwargs of the id, then ``scenario`` and ``scenario_seed``)."""
    import gymnasium as gym

    import isac_gym  # noqa: F401

    spec = gym.spec(env_id)
    module, name = spec.entry_point.split(":")
    system_class = getattr(__import__(module, fromlist=[name]), name).system_class
    registered = dict(spec.kwargs)
    fields = []
    for cls in (system_class.params_class, system_class.options_class):
        for f in dataclasses.fields(cls):
            default = registered.get(f.name, f.default)
            typ = _TYPES.get(str(f.type), Any)
            if isinstance(default, tuple):
                fields.append((f.name, typ, field(default_factory=lambda d=default: list(d))))
            else:
                fields.append((f.name, typ, field(default=default)))
    fields += [("scenario", str, field(default="random")), ("scenario_seed", Optional[int], field(default=None))]  # noqa: UP045
    return dataclasses.make_dataclass(env_id.replace("-", "_") + "_kwargs", fields)


def env_schema(env_id: str, max_episode_steps: int) -> type:
    """The env schema of ``env_id``: :class:`EnvConfig` with typed kwargs."""
    kwargs_type = env_kwargs_schema(env_id)
    return dataclasses.make_dataclass(
        env_id.replace("-", "_") + "_env",
        [("id", str, field(default=env_id)), ("max_episode_steps", int, field(default=max_episode_steps)),
         ("kwargs", kwargs_type, field(default_factory=kwargs_type))], bases=(EnvConfig,))


#: Lower bounds of the scripts' integer fields (``None`` is accepted where the schema allows it).
LOWER_BOUNDS = {"n_envs": 1, "total_timesteps": 0, "checkpoint_freq": 1, "keep_checkpoints": 1, "eval_episodes": 0,
                "log_interval": 1, "eval_steps": 1, "episodes": 1, "steps": 1, "bench_every": 0,
                "bench_episodes": 1, "torch_threads": 0}
VECTORIZATIONS = ("native", "dummy")


def check_values(cfg: Any, with_env: bool = True) -> None:
    """Refuse out-of-range values of a composed train or evaluate config (``ValueError`` naming the field); with
    ``with_env``, also the env's keyword arguments (the env is built once: its parameters validate themselves)."""
    for name, low in LOWER_BOUNDS.items():
        value = cfg.get(name)
        if value is not None and value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if cfg.get("vectorization", "native") not in VECTORIZATIONS:
        raise ValueError(f"vectorization must be one of {VECTORIZATIONS}, got {cfg.get('vectorization')!r}")
    if with_env:
        import gymnasium as gym
        from omegaconf import OmegaConf

        import isac_gym  # noqa: F401

        env = OmegaConf.to_container(cfg.env, resolve=True)
        gym.make(env["id"], max_episode_steps=env["max_episode_steps"], **(env.get("kwargs") or {})).close()


def register() -> None:
    """Store the schemas in Hydra's ConfigStore (``conf/`` refers to them through defaults lists)."""
    import isac_gym

    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    for name, node in AGENT_SCHEMAS.items():
        cs.store(group="schema/agent", name=name, node=node)
    for env_id, (_, _, steps, _) in isac_gym.ENVIRONMENTS.items():
        cs.store(group="schema/env", name=env_id, node=env_schema(env_id, steps))
