"""SB3 algorithms built from a typed Hydra agent config: DDPG and TD3 (the papers' agents, with separate
actor and critic learning rates), SAC and PPO (SB3's own, the suite's extra baselines).

The FIM paper trains the critic at 3e-4 and the actor at 3e-5 (Sec. IV of [FIM]); SB3 uses one
rate for both, so :class:`DDPG` and :class:`TD3` here take ``actor_learning_rate`` beside
``learning_rate`` (the critic's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import stable_baselines3 as sb3
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.utils import update_learning_rate

from .lagrangian import LagrangianReplayBuffer, PIDLagrangian, attach

#: Agent-config keys that are not SB3 constructor arguments.
SPECIAL_KEYS = ("algo", "net_arch", "noise", "actor_learning_rate", "lagrangian")


class _SplitLearningRate:
    """Mixin: the actor optimiser follows ``actor_learning_rate``, the critic ``learning_rate``."""

    actor_learning_rate: float | None = None

    def _update_learning_rate(self, optimizers) -> None:
        super()._update_learning_rate(optimizers)
        if self.actor_learning_rate is not None and hasattr(self, "actor"):
            update_learning_rate(self.actor.optimizer, self.actor_learning_rate)
            self.logger.record("train/actor_learning_rate", self.actor_learning_rate)


class DDPG(_SplitLearningRate, sb3.DDPG):
    """SB3 DDPG with a separate actor learning rate."""


class TD3(_SplitLearningRate, sb3.TD3):
    """SB3 TD3 with a separate actor learning rate."""


ALGORITHMS = {"ddpg": DDPG, "td3": TD3, "sac": sb3.SAC, "ppo": sb3.PPO}
#: Off-policy algorithms (replay buffer, ``learning_starts``).
OFF_POLICY = ("ddpg", "td3", "sac")


def make_noise(spec: dict[str, Any] | None, action_dim: int):
    """Exploration noise from ``{type: normal|ou|none, sigma, theta}``."""
    if not spec or spec.get("type", "none") in ("none", None):
        return None
    kind, sigma = spec["type"], float(spec.get("sigma", 0.1))
    mean, std = np.zeros(action_dim), sigma * np.ones(action_dim)
    if kind == "normal":
        return NormalActionNoise(mean, std)
    if kind == "ou":
        return OrnsteinUhlenbeckActionNoise(mean, std, theta=float(spec.get("theta", 0.15)))
    raise ValueError(f"agent.noise.type must be one of ('normal', 'ou', 'none'), got {kind!r}")


def build_model(agent_cfg: dict[str, Any], env, seed: int, tensorboard_log: str | None,
                lagrangian: PIDLagrangian | None = None):
    """Construct the SB3 model of ``agent_cfg`` (``algo`` picks the algorithm; other keys go to SB3). With
    ``lagrangian``, an off-policy model keeps its transitions in a :class:`LagrangianReplayBuffer` priced with it."""
    algo = agent_cfg.get("algo")
    if algo not in ALGORITHMS:
        raise ValueError(f"agent.algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    kwargs = {k: v for k, v in agent_cfg.items() if k not in SPECIAL_KEYS}
    if lagrangian is not None and algo in OFF_POLICY:
        kwargs["replay_buffer_class"] = LagrangianReplayBuffer
    if algo not in ("ddpg", "td3"):
        model = ALGORITHMS[algo](env=env, seed=seed, tensorboard_log=tensorboard_log,
                                 policy_kwargs={"net_arch": list(agent_cfg["net_arch"])}, **kwargs)
        if lagrangian is not None:
            attach(model, lagrangian)
        return model
    policy_kwargs = dict(kwargs.pop("policy_kwargs", None) or {})
    if agent_cfg.get("net_arch") is not None:
        policy_kwargs["net_arch"] = list(agent_cfg["net_arch"])
    action_dim = env.action_space.shape[-1]
    model = ALGORITHMS[algo](
        env=env, seed=seed, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
        action_noise=make_noise(agent_cfg.get("noise"), action_dim), **kwargs)
    model.actor_learning_rate = agent_cfg.get("actor_learning_rate")
    if model.actor_learning_rate is not None:
        update_learning_rate(model.actor.optimizer, model.actor_learning_rate)
    if lagrangian is not None:
        attach(model, lagrangian)
    return model


def load_model(path: str, env=None, algo: str | None = None):
    """Load a saved model; without ``algo`` the policy family is detected (DDPG and TD3 share TD3's networks)."""
    if algo is not None:
        return ALGORITHMS[algo].load(path, env=env, device="cpu")
    last: Exception | None = None
    for cls in (TD3, sb3.SAC, sb3.PPO):
        try:
            return cls.load(path, env=env, device="cpu")
        except Exception as exc:  # a model of another family: try the next
            last = exc
    raise ValueError(f"not a DDPG, TD3, SAC or PPO model: {path}") from last
