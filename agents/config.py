"""Hydra structured configs: typed schemas, so a bad value is refused when the config is composed.

* ``schema/agent/{ddpg,td3,sac,ppo}``: one dataclass per algorithm (the YAML files in ``conf/agent/``
  extend them); ``agent.batch_size=abc`` fails at start with one line.
* ``schema/env/<env id>``: generated from each system's parameter and option dataclasses (the one
  source of every default), plus the registered kwargs of the id; ``conf/env/*.yaml`` extend them.
* ``train_schema`` / ``evaluate_schema``: the scripts' own fields, each declared once below with its default, its
  meaning and its accepted range (:func:`setting`); ``conf/config.yaml`` and ``conf/evaluate.yaml`` only compose.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple  # noqa: UP035  (OmegaConf reads typing annotations)

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from isac_gym.envs.base import COST_LIMIT_PER_STEP

#: The discount where ``agent.gamma`` is left at None and the action mode is not memoryless.
DEFAULT_GAMMA = 0.99


def setting(default: Any, doc: str, low: int | None = None, choices: tuple | None = None) -> Any:
    """A field of the scripts' configs with its meaning and accepted range (``low``: least value; ``choices``)."""
    meta = {"doc": doc, "low": low, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NoiseConfig:
    """Exploration noise of DDPG / TD3: ``normal`` (Gaussian), ``ou`` (Ornstein-Uhlenbeck) or ``none``."""

    type: str = "normal"
    sigma: float = 0.1
    theta: float = 0.15


@dataclass
class LagrangianConfig:
    """A PID Lagrangian per constraint (agents/lagrangian.py, docs/constrained.md): the agent trains on the
    objective minus ``sum_c lambda_c cost_c`` (the env is made with ``reward_mode="objective"``) and each multiplier
    follows its constraint's mean cost per step over the episodes that end, against ``cost_limit``."""

    enabled: bool = False
    #: Limit on each constraint's mean cost per step over an episode (a cost is 0 exactly where its constraint
    #: holds and about the relative violation where it is small); the suite's suggestion by default.
    cost_limit: float = COST_LIMIT_PER_STEP
    kp: float = 1.0
    ki: float = 1.0
    kd: float = 0.0
    lambda_init: float = 1.0


@dataclass
class AgentConfig:
    """Fields every SB3 algorithm takes (``algo`` picks it; the rest are SB3 constructor arguments)."""

    algo: str = MISSING
    policy: str = "MlpPolicy"
    net_arch: List[int] = field(default_factory=lambda: [256, 256])  # noqa: UP006
    learning_rate: float = 3e-4
    #: None: 0 where the env's action mode is memoryless (a step's reward depends on its action alone: the direct
    #: mode), DEFAULT_GAMMA otherwise (resolve_gamma); a number overrides the rule.
    gamma: Optional[float] = None  # noqa: UP045
    device: str = "cpu"
    verbose: int = 0
    lagrangian: LagrangianConfig = field(default_factory=LagrangianConfig)


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
    """``python train.py``'s fields (``conf/config.yaml`` composes this schema with an env and an agent)."""

    env: EnvConfig = MISSING
    agent: Any = MISSING
    seed: int = setting(0, "seed of the agent (torch, numpy, exploration) and of the training scenarios", low=0)
    total_timesteps: int = setting(6000, "environment steps in all (the paper's scale: env=fim_paper, 1.6M)", low=0)
    n_envs: int = setting(1, "sub-envs; with vectorization=native they cost one batched call", low=1)
    vectorization: str = setting("native", "native: one batched SB3VecEnv; dummy: SB3's DummyVecEnv of scalar envs",
                                 choices=("native", "dummy"))
    checkpoint_freq: int = setting(10_000, "steps between checkpoints (model and replay buffer)", low=1)
    keep_checkpoints: int = setting(2, "newest checkpoints kept (older ones are deleted)", low=1)
    save_replay_buffer: bool = setting(True, "save the replay buffer with each checkpoint and on an interrupted stop")
    log_interval: int = setting(1, "episodes between TensorBoard dumps", low=1)
    progress_bar: bool = setting(True, "show SB3's progress bar")
    deterministic: bool = setting(True, "torch.use_deterministic_algorithms: the same seed gives the same policy on "
                                        "CPU")
    torch_threads: int = setting(1, "torch's intra-op threads (0: torch's default, one per core); runs that share "
                                    "cores each spinning a pool ran 12x slower", low=0)
    resume: Optional[str] = setting(None, "a run directory or a model .zip of an earlier run to continue")  # noqa: UP045
    eval_episodes: int = setting(5, "seeded scenarios of the post-training comparison (0 to skip)", low=0)
    eval_steps: Optional[int] = setting(None, "steps per evaluation episode (None: max_episode_steps)",  # noqa: UP045
                                        low=1)
    eval_policies: Optional[List[str]] = setting(  # noqa: UP006, UP045
        None, "policies of the post-training comparison (None: the checkpoint and every oracle and baseline but the "
              "slow ones, e.g. MF-RIS's sdr)")
    bench_every: int = setting(0, "steps between ISAC-Bench evaluations during training (0: off)", low=0)
    bench_episodes: int = setting(5, "evaluation scenarios of each (one when the env holds a fixed scenario)", low=1)


@dataclass
class EvaluateConfig:
    """``python evaluate.py``'s fields (``conf/evaluate.yaml`` composes this schema with an env)."""

    env: EnvConfig = MISSING
    policy: str = setting("all", "one policy name, or 'all' (every oracle and baseline, and the checkpoint if given)")
    checkpoint: Optional[str] = setting(None, "a trained model: a run directory (its newest model) or a .zip")  # noqa: UP045
    episodes: int = setting(5, "seeded scenarios", low=1)
    seed: int = setting(1000, "scenario i resets with seed + i (1000: ISAC-Bench's evaluation scenarios)", low=0)
    steps: Optional[int] = setting(None, "steps per episode of an acting policy (None: max_episode_steps)",  # noqa: UP045
                                   low=1)
    render: bool = setting(False, "save one PNG per policy and scenario in the run directory")
    progress_bar: bool = setting(True, "show a progress bar")


_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple[float, float]": Tuple[float, float],  # noqa: UP006
          "tuple[float, ...]": List[float], "tuple[int, ...]": List[int]}  # noqa: UP006


def env_kwargs_schema(env_id: str) -> type:
    """A dataclass of every keyword argument of ``env_id`` with its type and default (parameters, options,
    the registered kwargs of the id, then ``scenario`` and ``scenario_seed``)."""
    import isac_gym

    reg = isac_gym.ENVIRONMENTS[env_id]
    system_class = reg.system_class
    registered = dict(reg.kwargs)
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


SCHEMAS = {"config": TrainConfig, "evaluate": EvaluateConfig}


def check_values(cfg: Any, schema: type, with_env: bool = True) -> None:
    """Refuse out-of-range values of a composed config of ``schema`` (``ValueError`` naming the field): the bounds
    and choices declared with :func:`setting`. With ``with_env``, also the env's keyword arguments (the env is built
    once: its parameters validate themselves)."""
    for f in dataclasses.fields(schema):
        value = cfg.get(f.name)
        low, choices = f.metadata.get("low"), f.metadata.get("choices")
        if value is not None and low is not None and value < low:
            raise ValueError(f"{f.name} must be >= {low}, got {value}")
        if choices is not None and value not in choices:
            raise ValueError(f"{f.name} must be one of {choices}, got {value!r}")
    if with_env:
        import gymnasium as gym
        from omegaconf import OmegaConf

        import isac_gym  # noqa: F401

        env = OmegaConf.to_container(cfg.env, resolve=True)
        gym.make(env["id"], max_episode_steps=env["max_episode_steps"], **(env.get("kwargs") or {})).close()


def resolve_gamma(agent_cfg: dict, env_cfg: dict) -> dict:
    """``agent_cfg`` with ``gamma`` decided where it is None: 0 where the env's action mode is memoryless (a step's
    reward depends on its action alone, so the return worth learning is that reward and bootstrapping adds only
    noise; docs/learnability.md), :data:`DEFAULT_GAMMA` otherwise."""
    if agent_cfg.get("gamma") is not None:
        return agent_cfg
    import isac_gym
    from isac_gym.envs.base import action_modes, default_action_mode

    options = isac_gym.ENVIRONMENTS[env_cfg["id"]].system_class.options_class
    name = (env_cfg.get("kwargs") or {}).get("action_mode") or default_action_mode(options)
    return {**agent_cfg, "gamma": 0.0 if action_modes(options)[name].memoryless else DEFAULT_GAMMA}


def register() -> None:
    """Store the schemas in Hydra's ConfigStore (``conf/`` refers to them through defaults lists)."""
    import isac_gym

    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="evaluate_schema", node=EvaluateConfig)
    for name, node in AGENT_SCHEMAS.items():
        cs.store(group="schema/agent", name=name, node=node)
    for env_id, reg in isac_gym.ENVIRONMENTS.items():
        cs.store(group="schema/env", name=env_id, node=env_schema(env_id, reg.max_episode_steps))
