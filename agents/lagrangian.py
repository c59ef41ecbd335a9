"""Lagrangian agents: a PID Lagrange multiplier per constraint, adapted from the episodes' costs.

Every id is a constrained MDP (``info["costs"]``: one cost per constraint, 0 exactly where it holds; docs/
constrained.md). With ``agent.lagrangian.enabled=true`` the env's reward is its objective alone
(``reward_mode="objective"``) and the agent trains on

    r_t = score_t - sum_c lambda_c cost_{c,t},

where each multiplier follows the PID Lagrangian of Stooke, Achiam and Abbeel ("Responsive safety in reinforcement
learning by PID Lagrangian methods", ICML 2020, Algorithm 2), updated each time episodes end, from ``J_c``: constraint
``c``'s mean cost per step over the episodes that ended (their mean), against the limit ``d``:

    delta = J_c - d,    I_c <- max(0, I_c + delta),    D = max(0, J_c - J_c_previous),
    lambda_c = max(0, K_P delta + K_I I_c + K_D D).

``I_c`` starts at ``lambda_init / K_I``, so the multipliers start at ``lambda_init``. The limit is on the mean cost per
step, so the gains mean the same on every id whatever its episode length (Safety-Gymnasium's per-episode limit is
``d`` times the episode's steps).

Off-policy agents re-price their replay buffer whenever the multipliers change (:class:`LagrangianReplayBuffer`), so
every sampled transition carries today's multipliers, not those of the step that collected it; on-policy agents
learn from rollouts priced with the multipliers of the step that collected them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecEnvWrapper

#: The info key under which :class:`LagrangianVecEnv` keeps the env's own (objective) reward of a step.
OBJECTIVE_REWARD = "objective_reward"


@dataclass
class PIDLagrangian:
    """The multipliers of ``constraints`` and the PID state that moves them (see the module docstring)."""

    constraints: tuple[str, ...]
    cost_limit: float
    kp: float
    ki: float
    kd: float
    lambda_init: float
    multipliers: np.ndarray = field(init=False)
    integral: np.ndarray = field(init=False)
    previous: np.ndarray = field(init=False)
    #: Counts the updates, so holders of the multipliers (the replay buffer) know when to re-price.
    version: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        for name in ("cost_limit", "kp", "ki", "kd", "lambda_init"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"agent.lagrangian.{name} must be a finite number >= 0, got {value}")
        n = len(self.constraints)
        self.constraints = tuple(self.constraints)
        self.multipliers = np.full(n, float(self.lambda_init))
        self.integral = np.full(n, float(self.lambda_init) / self.ki if self.ki > 0 else 0.0)
        self.previous = np.zeros(n)

    def update(self, episode_costs: np.ndarray) -> np.ndarray:
        """One PID step from ``episode_costs`` ``[C]`` (each constraint's mean cost per step over the episodes that
        ended); returns the new multipliers."""
        j = np.asarray(episode_costs, dtype=float)
        delta = j - self.cost_limit
        self.integral = np.maximum(0.0, self.integral + delta)
        derivative = np.maximum(0.0, j - self.previous)
        self.previous = j
        self.multipliers = np.maximum(0.0, self.kp * delta + self.ki * self.integral + self.kd * derivative)
        self.version += 1
        return self.multipliers

    def penalty(self, costs: np.ndarray) -> np.ndarray:
        """``sum_c lambda_c cost_c`` of costs ``[..., C]``."""
        return np.asarray(costs, dtype=float) @ self.multipliers

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (JSON-ready)."""
        return {"constraints": list(self.constraints), "multipliers": self.multipliers.tolist(),
                "integral": self.integral.tolist(), "previous": self.previous.tolist(), "version": self.version}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` of a run on the same constraints."""
        if tuple(state["constraints"]) != self.constraints:
            raise ValueError(f"lagrangian: the saved multipliers are of constraints {tuple(state['constraints'])}, "
                             f"the env's are {self.constraints}")
        self.multipliers = np.asarray(state["multipliers"], dtype=float)
        self.integral = np.asarray(state["integral"], dtype=float)
        self.previous = np.asarray(state["previous"], dtype=float)
        self.version = int(state["version"])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.state(), indent=1))

    def load(self, path: Path) -> None:
        self.restore(json.loads(Path(path).read_text()))


def state_path(model_path: Path) -> Path:
    """Where the multipliers of a saved model lie: ``lagrangian.json`` beside a final or interrupted ``model.zip``,
    ``model_<N>_steps.lagrangian.json`` beside a periodic checkpoint."""
    model_path = Path(model_path)
    if model_path.stem.startswith("model_") and model_path.stem.endswith("_steps"):
        return model_path.with_name(model_path.stem + ".lagrangian.json")
    return model_path.with_name("lagrangian.json")


def costs_of(infos: list[dict[str, Any]], constraints: tuple[str, ...]) -> np.ndarray:
    """The costs ``[n_envs, C]`` of one step's per-env infos."""
    return np.array([[float(info["costs"][c]) for c in constraints] for info in infos], dtype=float)


class LagrangianVecEnv(VecEnvWrapper):
    """Trains on ``reward - sum_c lambda_c cost_c`` and moves the multipliers as episodes end.

    The env's own reward (its objective, in ``reward_mode="objective"``) stays in ``info["objective_reward"]``. The
    mean cost per step of the episodes that ended last is kept in :attr:`last_episode_costs` (logged as
    ``cost/episode_<c>``)."""

    def __init__(self, venv: Any, lagrangian: PIDLagrangian):
        super().__init__(venv)
        self.lagrangian = lagrangian
        n, c = self.num_envs, len(lagrangian.constraints)
        self._sums = np.zeros((n, c))
        self._steps = np.zeros(n)
        self.last_episode_costs: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self._sums[:] = 0.0
        self._steps[:] = 0
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        costs = costs_of(infos, self.lagrangian.constraints)
        for info, reward in zip(infos, rewards, strict=True):
            info[OBJECTIVE_REWARD] = float(reward)
        shaped = (rewards - self.lagrangian.penalty(costs)).astype(np.float32)
        self._sums += costs
        self._steps += 1
        if np.any(dones):
            ended = np.flatnonzero(dones)
            self.last_episode_costs = (self._sums[ended] / self._steps[ended, None]).mean(axis=0)
            self.lagrangian.update(self.last_episode_costs)
            self._sums[ended] = 0.0
            self._steps[ended] = 0
        return obs, shaped, dones, infos


class LagrangianReplayBuffer(ReplayBuffer):
    """A replay buffer that keeps each transition's objective reward and costs, and prices every reward with the
    current multipliers (re-priced in one pass whenever they have changed since the last sample).

    ``lagrangian`` is attached after construction (:func:`attach`), as SB3 builds the buffer itself."""

    lagrangian: PIDLagrangian | None = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.objective_rewards = np.zeros((self.buffer_size, self.n_envs), dtype=np.float32)
        self.costs: np.ndarray | None = None  # [buffer, n_envs, C], allocated on the first add
        self._priced = -1

    def add(self, obs, next_obs, action, reward, done, infos) -> None:
        constraints = self.lagrangian.constraints
        if self.costs is None:
            self.costs = np.zeros((self.buffer_size, self.n_envs, len(constraints)), dtype=np.float32)
        self.objective_rewards[self.pos] = [info[OBJECTIVE_REWARD] for info in infos]
        self.costs[self.pos] = costs_of(infos, constraints)
        super().add(obs, next_obs, action, reward, done, infos)
        self.rewards[(self.pos - 1) % self.buffer_size] = self._price(((self.pos - 1) % self.buffer_size,))

    def _price(self, rows: Any) -> np.ndarray:
        return self.objective_rewards[rows] - self.costs[rows] @ self.lagrangian.multipliers.astype(np.float32)

    def sample(self, batch_size: int, env: Any = None):
        if self.lagrangian.version != self._priced and self.costs is not None:
            n = self.buffer_size if self.full else self.pos
            self.rewards[:n] = self._price(slice(0, n))
            self._priced = self.lagrangian.version
        return super().sample(batch_size, env)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("lagrangian", None)  # saved on its own (lagrangian.json); re-attached on load
        return state


def from_config(cfg: dict[str, Any], constraints: tuple[str, ...]) -> PIDLagrangian:
    """The multipliers of ``constraints`` from an ``agent.lagrangian`` block (:class:`agents.config.LagrangianConfig`)."""
    return PIDLagrangian(tuple(constraints), float(cfg["cost_limit"]), float(cfg["kp"]), float(cfg["ki"]),
                         float(cfg["kd"]), float(cfg["lambda_init"]))


def enabled(agent_cfg: dict[str, Any]) -> bool:
    """Whether an agent config asks for a Lagrangian (``agent.lagrangian.enabled``)."""
    return bool((agent_cfg.get("lagrangian") or {}).get("enabled", False))


def objective_env(env_cfg: dict[str, Any]) -> dict[str, Any]:
    """The env config a Lagrangian agent trains on: the same, with ``reward_mode="objective"`` (the constraints
    enter through the multipliers, not a penalty)."""
    return {**env_cfg, "kwargs": {**(env_cfg.get("kwargs") or {}), "reward_mode": "objective"}}


def for_env(agent_cfg: dict[str, Any], env: Any) -> PIDLagrangian:
    """The multipliers of ``env``'s constraints (the keys of its ``info["costs"]``) from ``agent.lagrangian``."""
    constraints = tuple(env.reset(seed=0)[1]["costs"])
    return from_config(agent_cfg["lagrangian"], constraints)


def attach(model: Any, lagrangian: PIDLagrangian) -> None:
    """Give an off-policy model's :class:`LagrangianReplayBuffer` the multipliers it prices with."""
    buffer = getattr(model, "replay_buffer", None)
    if isinstance(buffer, LagrangianReplayBuffer):
        buffer.lagrangian = lagrangian
