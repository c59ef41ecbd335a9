"""Conventions shared by every isac-gym environment (spec README, "Conventions every env follows").

A :class:`System` holds one paper's adapter logic in batched form: it draws
scenarios, maps actions to configurations, computes metrics through the
physics package, and builds observations. :class:`ISACEnv` (one env) and
:class:`ISACVectorEnv` (``n`` envs in one batched call) are thin shells around
the same System, so the scalar env, the vector env and the oracles share a
single implementation of every equation.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..physics import batching

#: A violation at most this large counts as satisfied (``info["feasible"]``).
FEASIBILITY_TOL = 1e-6
#: Observations are clipped to this box, so they always lie in the observation space.
OBS_BOUND = 100.0


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite (integer) number > 0 (or >= 0)."""
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "an integer" if integer else "a finite number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {kind} {bound}, got {value!r}")


def check_finite(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


#: Smallest log-ratio between the two score anchors (a factor 2), so the score keeps its orientation and
#: scale in a scenario where the reference happens to be no better than the uninformed configuration.
MIN_SCORE_SPAN = math.log(2.0)


def log_score(value: np.ndarray, worst: np.ndarray, target: np.ndarray, floor: float = -1.0) -> np.ndarray:
    """Log-normalised score of a minimised metric: 0 at ``worst``, 1 at ``target``, clipped below at ``floor`` only.

    ``(log worst - log value) / max(log worst - log target, log 2)``: lower values always score
    higher, even in a scenario where ``target`` is not better than ``worst`` by a factor 2.
    (Maximised metrics pass their inverses.)
    """
    tiny = 1e-300
    log_worst = np.log(np.maximum(worst, tiny))
    span = np.maximum(log_worst - np.log(np.maximum(target, tiny)), MIN_SCORE_SPAN)
    score = (log_worst - np.log(np.maximum(value, tiny))) / span
    return np.maximum(score, floor)


class System(ABC):
    """Batched adapter of one paper's system; subclasses implement the abstract hooks.

    Every hook takes and returns arrays (or dataclasses of arrays) with a leading
    batch axis ``B``.
    """

    #: Name of the paper's objective in ``info`` and TensorBoard (e.g. ``"crb"``).
    objective_name: str = "objective"
    #: Names of the violations, in observation order; each has a reward weight ``w_<name>``.
    violation_names: tuple[str, ...] = ()
    action_dim: int
    obs_dim: int
    weights: dict[str, float]

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> Any:
        """Draw one (unbatched) scenario from ``rng``."""

    @abstractmethod
    def references(self, scenario: Any) -> dict[str, np.ndarray]:
        """Per-scenario constants of the score (batched)."""

    @abstractmethod
    def initial_config(self, scenario: Any, refs: dict[str, np.ndarray]) -> Any:
        """The configuration an episode starts from (batched)."""

    @abstractmethod
    def decode(self, action: np.ndarray, scenario: Any, refs: dict, previous: Any) -> tuple[Any, dict[str, np.ndarray]]:
        """Map clipped actions ``[B, action_dim]`` to configurations; return them and an ``aux`` dict
        (action-side violations keyed by violation name, and any intermediates for :meth:`metrics`)."""

    @abstractmethod
    def encode(self, config: Any) -> np.ndarray:
        """Direct-mode action(s) that decode to ``config`` (inverse of the direct mapping)."""

    @abstractmethod
    def metrics(self, config: Any, scenario: Any, refs: dict, aux: dict | None = None) -> dict[str, np.ndarray]:
        """Physical metrics; must contain ``objective``, ``sinr``, ``rate``, ``power``.

        ``aux`` is what :meth:`decode` returned beside the configuration (it may carry
        intermediates worth reusing). Keys starting with ``_`` are internal and stay out of ``info``.
        """

    @abstractmethod
    def violations(self, metrics: dict, aux: dict) -> dict[str, np.ndarray]:
        """Dimensionless violations ``>= 0`` (0 exactly when the constraint holds), keyed by ``violation_names``."""

    @abstractmethod
    def score(self, metrics: dict, refs: dict) -> np.ndarray:
        """Log-normalised objective score ``[B]`` (0 uninformed, 1 reference, finite)."""

    @abstractmethod
    def observe(self, metrics: dict, violations: dict, score: np.ndarray, config: Any, scenario: Any,
                refs: dict, prev_action: np.ndarray) -> np.ndarray:
        """Observation ``[B, obs_dim]`` (unclipped, float64)."""

    # ------------------------------------------------------------------ shared logic
    def assess(self, config: Any, scenario: Any, refs: dict, aux: dict | None = None) -> dict:
        """Metrics, violations, score and reward terms of ``config`` (batched), the ``info`` contract."""
        aux = {} if aux is None else aux
        m = self.metrics(config, scenario, refs, aux)
        v = self.violations(m, aux)
        s = self.score(m, refs)
        terms = {"objective": s}
        reward = s.copy()
        for name in self.violation_names:
            term = -self.weights[name] * v[name]
            terms[name] = term
            reward = reward + term
        feasible = np.ones(s.shape, dtype=bool)
        for name in self.violation_names:
            feasible &= v[name] <= FEASIBILITY_TOL
        return {"metrics": m, "violation": v, "score": s, "reward_terms": terms, "reward": reward,
                "feasible": feasible}

    def config_dict(self, config: Any) -> dict[str, np.ndarray]:
        """Configuration as a dict of arrays for ``info["config"]``."""
        return batching.as_dict(config)

    def build_info(self, assessed: dict, config: Any) -> dict[str, Any]:
        """``info`` (batched arrays) following the spec's contract."""
        m = assessed["metrics"]
        info = {
            "objective": m["objective"],
            self.objective_name: m["objective"],
            "score": assessed["score"],
            "sinr": m["sinr"],
            "rate": m["rate"],
            "power": m["power"],
            "violation": assessed["violation"],
            "feasible": assessed["feasible"],
            "reward_terms": assessed["reward_terms"],
            "config": self.config_dict(config),
        }
        for key, value in m.items():
            if not key.startswith("_"):
                info.setdefault(key, value)
        return info


def _row(tree: Any, i: int) -> Any:
    """Row ``i`` of every array in a nested dict (scalars become Python/NumPy scalars)."""
    if isinstance(tree, dict):
        return {k: _row(v, i) for k, v in tree.items()}
    item = tree[i]
    if isinstance(item, np.ndarray):
        return item
    return item.item() if isinstance(item, np.generic) else item


def sanitize_action(action: Any, dim: int) -> np.ndarray:
    """Validate and clip actions to ``[-1, 1]``; NaN/inf raise ``ValueError``. Returns ``[B, dim]`` float64."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape[-1:] != (dim,):
        raise ValueError(f"action must have trailing dimension {dim}, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("action contains NaN or infinite entries")
    return np.clip(a.reshape(-1, dim), -1.0, 1.0)


class _ScenarioSource:
    """Draws scenarios per the ``scenario`` / ``scenario_seed`` kwargs."""

    def __init__(self, system: System, scenario: str, scenario_seed: int | None):
        check_choice("scenario", scenario, ("random", "fixed"))
        if scenario_seed is not None and (isinstance(scenario_seed, bool) or not isinstance(scenario_seed, (int, np.integer))
                                          or scenario_seed < 0):
            raise ValueError(f"scenario_seed must be a non-negative integer or None, got {scenario_seed!r}")
        self.system = system
        self.mode = scenario
        self.seed = 0 if scenario_seed is None else int(scenario_seed)
        self._fixed = None

    def draw(self, rng: np.random.Generator):
        if self.mode == "fixed":
            if self._fixed is None:
                self._fixed = self.system.draw(np.random.default_rng(self.seed))
            return self._fixed
        return self.system.draw(rng)


def build_system(system_class: type[System], kwargs: dict[str, Any]) -> System:
    """Instantiate ``system_class`` from env kwargs, naming any unknown argument in a ``ValueError``."""
    accepted = tuple(inspect.signature(system_class.__init__).parameters)[1:]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}; accepted: {sorted(accepted)} "
                         "and scenario, scenario_seed, render_mode")
    return system_class(**kwargs)


class ISACEnv(gym.Env):
    """Single-environment shell around a :class:`System` (batch of one).

    Subclasses set ``system_class``; every keyword argument other than ``scenario``,
    ``scenario_seed`` and ``render_mode`` goes to it.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    system_class: type[System]

    def __init__(self, scenario: str = "random", scenario_seed: int | None = None,
                 render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None:
            check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        system = build_system(self.system_class, kwargs)
        self.system = system
        self.render_mode = render_mode
        self._source = _ScenarioSource(system, scenario, scenario_seed)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (system.action_dim,), np.float32)
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (system.obs_dim,), np.float32)
        self.scenario = None
        self.refs = None
        self.config = None
        self._prev_action = np.zeros((1, system.action_dim))
        self._last_info: dict | None = None
        #: Counts resets, so policies can cache per-episode work (a scenario's id() can be reused).
        self.episode_index = 0

    # -- public helpers -------------------------------------------------------------
    def evaluate(self, config: Any, scenario: Any = None) -> dict[str, Any]:
        """Metrics, violations and reward terms of ``config`` without stepping (the ``info`` contract).

        ``scenario`` defaults to the current one; pass another (unbatched) scenario to assess it there.
        """
        if scenario is None:
            if self.scenario is None:
                raise ValueError("scenario must be given before the first reset()")
            scen, refs = self.scenario, self.refs
        else:
            scen = batching.stack([scenario])
            refs = self.system.references(scen)
        cfg = batching.stack([config])
        assessed = self.system.assess(cfg, scen, refs)
        info = _row(self.system.build_info(assessed, cfg), 0)
        info["reward"] = float(assessed["reward"][0])
        return info

    def encode(self, config: Any) -> np.ndarray:
        """Direct-mode action (float32) that reproduces ``config``."""
        return self.system.encode(batching.stack([config]))[0].astype(np.float32)

    @property
    def current_scenario(self) -> Any:
        """The scenario of the running episode (unbatched)."""
        return None if self.scenario is None else batching.take(self.scenario, 0)

    # -- Gymnasium API --------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.episode_index += 1
        self.scenario = batching.stack([self._source.draw(self.np_random)])
        self.refs = self.system.references(self.scenario)
        self.config = self.system.initial_config(self.scenario, self.refs)
        self._prev_action = np.zeros((1, self.system.action_dim))
        obs, info, _ = self._outcome(self.system.assess(self.config, self.scenario, self.refs))
        return obs, info

    def step(self, action):
        if self.scenario is None:
            raise gym.error.ResetNeeded("Call reset() before step()")
        a = sanitize_action(action, self.system.action_dim)
        self.config, extra = self.system.decode(a, self.scenario, self.refs, self.config)
        self._prev_action = a
        obs, info, reward = self._outcome(self.system.assess(self.config, self.scenario, self.refs, extra))
        return obs, reward, False, False, info

    def _outcome(self, assessed: dict):
        sysm = self.system
        obs = sysm.observe(assessed["metrics"], assessed["violation"], assessed["score"], self.config,
                           self.scenario, self.refs, self._prev_action)
        obs = np.clip(obs[0], -OBS_BOUND, OBS_BOUND).astype(np.float32)
        info = _row(sysm.build_info(assessed, self.config), 0)
        self._last_info = info
        return obs, info, float(assessed["reward"][0])

    def render(self):
        if self.render_mode != "ansi" or self._last_info is None:
            return None
        i = self._last_info
        sinr_db = 10 * np.log10(np.maximum(i["sinr"], 1e-30))
        return (f"{self.system.objective_name}={i['objective']:.4g} score={i['score']:.3f} "
                f"power={i['power']:.4g} W sinr_dB={np.array2string(sinr_db, precision=1)} "
                f"feasible={i['feasible']}")


class ISACVectorEnv(VectorEnv):
    """``num_envs`` copies of a :class:`System` stepped in one batched call (no loop over sub-envs in ``step``).

    Sub-env ``i`` reset with seed ``s`` draws exactly the scenarios of a single env reset with
    seed ``s + i``, so rollouts match :class:`ISACEnv` step for step. Episodes are truncated after
    ``max_episode_steps`` and reset on the following step (``AutoresetMode.NEXT_STEP``). Scenario
    draws on reset use each sub-env's own generator (one small draw per finished episode).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    system_class: type[System]

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, scenario: str = "random",
                 scenario_seed: int | None = None, render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode must be None for the vector env, got {render_mode!r}")
        check_positive("num_envs", num_envs, integer=True)
        system = build_system(self.system_class, kwargs)
        if max_episode_steps is not None:
            check_positive("max_episode_steps", max_episode_steps, integer=True)
        self.system = system
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self._source = _ScenarioSource(system, scenario, scenario_seed)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (system.action_dim,), np.float32)
        self.single_observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (system.obs_dim,), np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._rngs = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._prev_action = np.zeros((self.num_envs, system.action_dim))
        self.scenario = self.refs = self.config = None

    def _reset_rows(self, rows: np.ndarray) -> None:
        scen = batching.stack([self._source.draw(self._rngs[i]) for i in rows])
        refs = self.system.references(scen)
        cfg = self.system.initial_config(scen, refs)
        if self.scenario is None or len(rows) == self.num_envs:
            self.scenario, self.refs, self.config = scen, refs, cfg
        else:
            batching.assign(self.scenario, rows, scen)
            for k, v in refs.items():
                if dataclasses.is_dataclass(v):
                    batching.assign(self.refs[k], rows, v)
                else:
                    self.refs[k][rows] = v
            batching.assign(self.config, rows, cfg)
        self._elapsed[rows] = 0
        self._prev_action[rows] = 0.0

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, (int, np.integer)) else list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed must be an int or a list of {self.num_envs} ints, got {seed!r}")
            self._rngs = [seeding.np_random(s)[0] for s in seeds]
        self._reset_rows(np.arange(self.num_envs))
        self._needs_reset[:] = False
        assessed = self.system.assess(self.config, self.scenario, self.refs)
        return self._obs(assessed), self._info(assessed)

    def step(self, actions):
        if self.scenario is None:
            raise gym.error.ResetNeeded("Call reset() before step()")
        a = sanitize_action(actions, self.system.action_dim)
        if a.shape[0] != self.num_envs:
            raise ValueError(f"actions must have shape ({self.num_envs}, {self.system.action_dim}), got {np.shape(actions)}")
        restart = np.flatnonzero(self._needs_reset)
        self.config, extra = self.system.decode(a, self.scenario, self.refs, self.config)
        self._prev_action = a
        if restart.size:
            self._reset_rows(restart)
        assessed = self.system.assess(self.config, self.scenario, self.refs, extra)
        if restart.size:  # rows just reset report their initial state, as a fresh reset() would
            fresh = self.system.assess(self.config, self.scenario, self.refs)
            _overwrite_rows(assessed, fresh, restart)
        self._elapsed += 1
        self._elapsed[restart] = 0
        reward = assessed["reward"].copy()
        reward[restart] = 0.0
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = self._elapsed >= self.max_episode_steps
        self._needs_reset = truncated.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)
        return self._obs(assessed), reward, terminated, truncated, self._info(assessed)

    def _obs(self, assessed: dict) -> np.ndarray:
        obs = self.system.observe(assessed["metrics"], assessed["violation"], assessed["score"], self.config,
                                  self.scenario, self.refs, self._prev_action)
        return np.clip(obs, -OBS_BOUND, OBS_BOUND).astype(np.float32)

    def _info(self, assessed: dict) -> dict:
        return self.system.build_info(assessed, self.config)

    def evaluate(self, config: Any, scenario: Any = None) -> dict[str, Any]:
        """Batched metrics of ``config`` (leading axis ``num_envs``) on the current or given scenarios."""
        scen = self.scenario if scenario is None else scenario
        refs = self.refs if scenario is None else self.system.references(scen)
        assessed = self.system.assess(config, scen, refs)
        info = self.system.build_info(assessed, config)
        info["reward"] = assessed["reward"]
        return info


def _overwrite_rows(dst: Any, src: Any, rows: np.ndarray) -> None:
    if isinstance(dst, dict):
        for k in dst:
            _overwrite_rows(dst[k], src[k], rows)
    else:
        dst[rows] = src[rows]
