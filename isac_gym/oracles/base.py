"""What every oracle and baseline returns (:class:`Solution`) and the SB3-style policy protocol."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import batching

#: Statuses of a :class:`Solution`.
STATUSES = ("optimal", "repaired", "infeasible", "failed")


@dataclass(frozen=True)
class Design:
    """What a solver hands to :meth:`Policy.solve`: its configuration and how it got there.

    ``status``: ``"optimal"`` (the method ran as designed), ``"repaired"`` (a check after the main
    solve failed and a repair or fall-back produced the result), ``"infeasible"`` (the solver certified
    that the problem has no feasible point; ``config`` is a fall-back) or ``"failed"`` (nothing usable;
    ``config`` is the best available, possibly infeasible).
    """

    config: Any
    status: str = "optimal"
    iterations: int = 1
    solver_warnings: int = 0


@dataclass(frozen=True)
class Solution:
    """A solver's answer for one scenario.

    Attributes:
        config: the configuration (the env's configuration dataclass, unbatched).
        feasible: whether it meets every constraint, by the env's own ``evaluate`` (never assumed).
        status: ``"optimal"``, ``"repaired"``, ``"infeasible"`` (the method ended outside a constraint)
            or ``"failed"`` (the solver failed; the configuration is a fall-back).
        seconds: wall time of the solve.
        iterations: outer iterations (alternations, augmented-Lagrangian rounds, ...).
        solver_warnings: warnings the numerical solvers raised (counted, not silenced).
        objective: the paper's objective of ``config`` (natural units).
        info: the env's ``evaluate`` of ``config`` (the info contract).
    """

    config: Any
    feasible: bool
    status: str
    seconds: float
    iterations: int
    solver_warnings: int
    objective: float
    info: dict


class Policy:
    """SB3-style policy bound to an env: ``predict`` acts, ``solve`` designs a configuration.

    Solver policies act in the env's ``direct`` action mode: ``predict`` solves the env's current
    scenario (cached per episode) and returns ``env.unwrapped.encode(solution.config)``. Subclasses
    implement :meth:`design`; :meth:`solve` times it and checks the result with the env's ``evaluate``.
    """

    name = "policy"

    def __init__(self, env: Any, seed: int | None = None):
        self.env = env
        self.unwrapped = getattr(env, "unwrapped", env)
        self.rng = np.random.default_rng(seed)
        self._cache_key: int | None = None  # the env's episode_index of the cached solution
        self._cache_action: np.ndarray | None = None

    @property
    def system(self):
        return self.unwrapped.system

    def design(self, scenario: Any) -> Design:
        """The configuration designed for an (unbatched) scenario."""
        raise NotImplementedError

    def solve(self, scenario: Any) -> Solution:
        """Design a configuration for ``scenario`` and check it with the env's own ``evaluate``."""
        t0 = time.perf_counter()
        d = self.design(scenario)
        seconds = time.perf_counter() - t0
        info = self.unwrapped.evaluate(d.config, scenario)
        feasible = bool(info["feasible"])
        status = d.status
        if not feasible and status != "failed":
            status = "infeasible"
        elif feasible and status not in ("optimal", "repaired"):
            status = "repaired"
        return Solution(d.config, feasible, status, seconds, d.iterations, d.solver_warnings,
                        float(info["objective"]), info)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        if getattr(self.system, "action_mode", "direct") != "direct":
            raise ValueError(f"the {self.name!r} policy acts in the direct action mode; "
                             "make the env with action_mode='direct'")
        key = self.unwrapped.episode_index
        if key != self._cache_key:
            self._cache_action = self.unwrapped.encode(self.solve(self.unwrapped.current_scenario).config)
            self._cache_key = key
        return self._cache_action.copy(), state


class RandomPolicy(Policy):
    """Uniformly random actions in the env's own action mode (the ``random`` baseline)."""

    name = "random"

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        space = self.unwrapped.action_space
        return self.rng.uniform(space.low, space.high).astype(space.dtype), state

    def design(self, scenario: Any) -> Design:
        system = self.system
        a = self.rng.uniform(-1.0, 1.0, size=(1, system.action_dim))
        scen = batching.stack([scenario])
        refs = system.references(scen)
        decoded = system.decode(a, scen, refs, system.initial_config(scen, refs))
        return Design(batching.take(decoded.config, 0))
