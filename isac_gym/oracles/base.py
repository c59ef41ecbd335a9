"""What every oracle and baseline returns (:class:`Solution`) and the SB3-style policy protocol."""

from __future__ import annotations

import dataclasses
import importlib
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import batching

#: How to install what a solver needs.
ORACLES_EXTRA = "pip install 'isac-gym[oracles]'"


class MissingModule:
    """Stands for a solver library of the ``[oracles]`` extra that is not installed: the oracle modules import,
    ``oracles.names`` lists every policy and the policies that need no solver (``random``, closed-form baselines)
    work; the first use of the library raises one ``ModuleNotFoundError`` naming it and the extra."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise ModuleNotFoundError(f"this solver needs {self._name}, which is not installed: {ORACLES_EXTRA}")


def solver_library(name: str) -> Any:
    """``import name`` (cvxpy, cvxopt), or a :class:`MissingModule` where the ``[oracles]`` extra is not installed."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return MissingModule(name)

#: Statuses of a :class:`Solution`, each with one meaning:
#:
#: * ``optimal``: a convex solver certified the design optimal for the problem the policy solves;
#: * ``converged``: a local method (alternation, gradient, SCA, relax-and-randomise) ran to its end;
#: * ``baseline``: a comparison design (random, heuristic or one of the paper's benchmarks), not an optimiser
#:   of the env's problem;
#: * ``repaired``: a check after the main solve failed, and a repair or fall-back produced the result;
#: * ``infeasible``: the result misses a constraint (by the env's own ``evaluate``);
#: * ``failed``: the solver failed; the configuration is a fall-back.
STATUSES = ("optimal", "converged", "baseline", "repaired", "infeasible", "failed")
#: What a :class:`Design` says when its method ran as designed; :meth:`Policy.solve` reports the policy's
#: :attr:`Policy.success_status` instead.
DONE = "done"


@dataclass(frozen=True)
class Design:
    """What a solver hands to :meth:`Policy.solve`: its configuration and how it got there.

    ``status``: ``"done"`` (the method ran as designed; reported as the policy's ``success_status``),
    ``"repaired"``, ``"infeasible"`` or ``"failed"`` (see :data:`STATUSES`).
    """

    config: Any
    status: str = DONE
    iterations: int = 1
    solver_warnings: int = 0


@dataclass(frozen=True)
class Solution:
    """A solver's answer for one scenario.

    Attributes:
        config: the configuration (the env's configuration dataclass, unbatched).
        feasible: whether it meets every constraint, by the env's own ``evaluate`` (never assumed).
        status: one of :data:`STATUSES` (``optimal`` only where a convex solver certified the design).
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

    Solver policies act in every action mode: ``predict`` solves the env's current scenario once per
    episode and returns the action that leads to the solution from the env's current configuration
    (:meth:`~isac_gym.envs.base.System.action_towards`: its direct encoding, or in the incremental mode the
    moves towards it). Subclasses implement :meth:`design`; :meth:`solve` times it and checks the result with
    the env's ``evaluate``. Randomised solvers draw from a generator seeded by the policy's ``seed`` and the
    scenario itself, so solving a scenario twice gives the same design.
    """

    name = "policy"
    #: The status of a design whose method ran as designed (see :data:`STATUSES`).
    success_status = "baseline"
    #: Whether a solve takes more than about ten seconds per scenario at the paper's sizes: train.py leaves such
    #: policies out of its post-training comparison unless ``eval_policies`` names them.
    slow = False

    def __init__(self, env: Any, seed: int | None = None):
        self.env = env
        self.unwrapped = getattr(env, "unwrapped", env)
        self.seed = 0 if seed is None else int(seed)
        self.rng = np.random.default_rng(seed)
        self._cache_key: int | None = None  # the env's episode_index of the cached solution
        self._cache_config: Any = None

    @property
    def system(self):
        return self.unwrapped.system

    def design(self, scenario: Any) -> Design:
        """The configuration designed for an (unbatched) scenario."""
        raise NotImplementedError

    def solve(self, scenario: Any) -> Solution:
        """Design a configuration for ``scenario`` and check it with the env's own ``evaluate``."""
        self.rng = scenario_rng(scenario, self.seed)
        t0 = time.perf_counter()
        d = self.design(scenario)
        seconds = time.perf_counter() - t0
        info = self.unwrapped.evaluate(d.config, scenario)
        feasible = bool(info["feasible"])
        status = self.success_status if d.status == DONE else d.status
        if not feasible and status != "failed":
            status = "infeasible"
        elif feasible and status in ("infeasible", "failed"):
            status = "repaired"
        return Solution(d.config, feasible, status, seconds, d.iterations, d.solver_warnings,
                        float(info["objective"]), info)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        env = self.unwrapped
        key = env.episode_index
        if key != self._cache_key:
            self._cache_config = batching.stack([self.solve(env.current_scenario).config])
            self._cache_key = key
        action = self.system.action_towards(self._cache_config, env.config, env.code, env.scenario, env.refs)[0]
        return action.astype(np.float32), state


def scenario_rng(scenario: Any, seed: int = 0) -> np.random.Generator:
    """A generator seeded by ``seed`` and the scenario's contents (a CRC of every array of the dataclass)."""
    crc = 0
    for f in dataclasses.fields(scenario):
        crc = zlib.crc32(np.ascontiguousarray(getattr(scenario, f.name)).tobytes(), crc)
    return np.random.default_rng([seed, crc])


class RandomPolicy(Policy):
    """The ``random`` baseline: ``predict`` draws uniformly random actions in the env's own action mode (an agent that
    knows nothing); ``solve`` draws a uniformly random *direct encoding* (:meth:`~isac_gym.envs.base.System.decode`)
    in every mode, so a random configuration is one thing per scenario whatever the mode (ISAC-Bench's 0)."""

    name = "random"

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        space = self.unwrapped.action_space
        return self.rng.uniform(space.low, space.high).astype(space.dtype), state

    def design(self, scenario: Any) -> Design:
        system = self.system
        code = self.rng.uniform(-1.0, 1.0, size=(1, system.direct_dim))
        scen = batching.stack([scenario])
        return Design(batching.take(system.decode(code, scen, system.references(scen)).config, 0))
