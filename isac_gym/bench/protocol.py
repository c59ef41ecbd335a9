"""The ISAC-Bench protocol: fixed evaluation scenarios, per-scenario anchors and the normalised score.

Every id is evaluated on the scenarios its env draws at ``reset(seed=s)`` for ``s`` in :data:`EVAL_SEEDS`
(1000-1099, never used for training by ``train.py``, whose sub-envs are seeded from the run seed). On each
scenario a policy's final configuration is scored on the paper's objective ``x`` (CRB, MSE or SINR, all
positive) against two anchors computed on that same scenario:

    score = (log x - log x_random) / (log x_oracle - log x_random)      if the configuration is feasible,
    score = 0                                                          otherwise (an infeasible answer is no
                                                                        better than a random one),

with ``x_random`` the geometric mean of the objective of :data:`RANDOM_DRAWS` uniformly random configurations
(:class:`~isac_gym.oracles.RandomPolicy`, seeds 0..4) and ``x_oracle`` the objective of the id's oracle
(policy seed 0; every solver draws from a generator seeded by the scenario, so the oracle's own entry scores
exactly 1 where its answer is feasible, and 0 on the scenarios where it is not). The ratio of logarithms is
the ratio of dB gaps, so it reads the same whether the objective is minimised (CRB) or maximised (SINR): 0 is
random, 1 is the oracle, above 1 beats it. A score is the D4RL normalised score divided by 100.

The anchors are the expensive part (one oracle solve per scenario): :class:`ReferenceStore` keeps them in a
JSON file per id and computes only the seeds it lacks, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

#: The ids of the suite, in the order tables and figures list them.
IDS = ("ISAC-FIM-v0", "ISAC-SIM-v0", "ISAC-MFRIS-v0", "ISAC-RIS-SLP-v0", "ISAC-RIS-SLP-DoA-v0", "ISAC-ET-v0")
#: Evaluation scenarios of every id: ``reset(seed=s)`` for these seeds.
EVAL_SEEDS: tuple[int, ...] = tuple(range(1000, 1100))
#: Uniformly random configurations whose geometric-mean objective anchors score 0.
RANDOM_DRAWS = 5


@dataclass(frozen=True)
class Reference:
    """The two anchors of one scenario (natural-log objectives) and how the oracle fared on it."""

    seed: int
    log_random: float
    log_oracle: float
    oracle_feasible: bool
    oracle_status: str
    oracle_seconds: float

    def ratio(self, objective: float) -> float:
        """``(log x - log x_random) / (log x_oracle - log x_random)``, feasible or not (0 where the oracle is no
        better than random: nothing to normalise by)."""
        span = self.log_oracle - self.log_random
        if abs(span) < 1e-12:
            return 0.0
        return float((math.log(objective) - self.log_random) / span)

    def score(self, objective: float, feasible: bool) -> float:
        """The normalised score of a final configuration (see the module docstring): the ratio, or 0 when the
        configuration is infeasible."""
        return self.ratio(objective) if feasible else 0.0


@dataclass(frozen=True)
class Episode:
    """One policy's answer on one evaluation scenario.

    ``objective``: the paper's objective of the final configuration (natural units, > 0); ``feasible``: the env's
    own verdict; ``decision_s``: wall seconds the policy spent deciding (a solver's solve, or the sum of an agent's
    ``predict`` calls over the episode); ``status``: a solver's status, ``"acted"`` for an acting policy.
    """

    seed: int
    objective: float
    feasible: bool
    decision_s: float
    status: str = "acted"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))  # tuples and arrays as lists, as JSON stores them


def canonical_kwargs(env_id: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` without the entries that equal the id's defaults (its registered kwargs, then the system's
    parameter and option defaults, ``scenario="random"``): two spellings of one setting share anchors.
    ``ValueError`` for a kwarg the id does not take."""
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(env_id)
    env_class = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    defaults = {name: default for name, default, _ in env_class.system_class.argument_docs()}
    defaults.update({"scenario": "random", "scenario_seed": None})
    defaults.update(spec.kwargs)
    out = {}
    for key, value in (env_kwargs or {}).items():
        if key not in defaults:
            raise ValueError(f"env kwarg {key!r} is not an argument of {env_id}")
        if _plain(value) != _plain(defaults[key]):
            out[key] = _plain(value)
    return out


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON through a temporary file and a rename: an interrupted write never leaves a truncated
    file (every cache of the bench is saved so, after each new entry)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def checkpoint_policy_class() -> type:
    """The loader of trained SB3 models (``agents.evaluation.CheckpointPolicy``, which lives beside ``train.py``:
    a ``ValueError`` says so when the package is not importable)."""
    try:
        from agents.evaluation import CheckpointPolicy
    except ImportError as exc:
        raise ValueError("trained models need the repository's agents package (run from the repository root)") from exc
    return CheckpointPolicy


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """The id's env with ``env_kwargs`` (random scenarios unless they say otherwise)."""
    return gym.make(env_id, **(env_kwargs or {}))


def compute_reference(env: gym.Env, seed: int) -> Reference:
    """Anchors of the scenario ``env.reset(seed=seed)`` draws (solves the oracle once)."""
    from isac_gym import oracles
    from isac_gym.oracles import RandomPolicy

    env.reset(seed=seed)
    scenario = env.unwrapped.current_scenario
    logs = [math.log(RandomPolicy(env, seed=i).solve(scenario).objective) for i in range(RANDOM_DRAWS)]
    sol = oracles.make(env, "oracle").solve(scenario)  # the same solve as the bench's own oracle entry
    return Reference(seed, float(np.mean(logs)), math.log(sol.objective), bool(sol.feasible), sol.status,
                     float(sol.seconds))


class ReferenceStore:
    """Anchors of one id (and env kwargs) on the evaluation seeds, cached in a JSON file.

    ``path=None`` keeps them in memory only. The file records the id and the kwargs that differ from its
    defaults (:func:`canonical_kwargs`); a file made for another setting is refused rather than silently mixed.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, path: str | Path | None = None):
        self.env_id, self.env_kwargs = env_id, canonical_kwargs(env_id, env_kwargs)
        self.path = Path(path) if path is not None else None
        self._refs: dict[int, Reference] = {}
        if self.path is not None and self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("env_id") != env_id or data.get("env_kwargs", {}) != self.env_kwargs:
                raise ValueError(f"references file {self.path} holds {data.get('env_id')} {data.get('env_kwargs')}, "
                                 f"not {env_id} {self.env_kwargs}")
            self._refs = {int(r["seed"]): Reference(**r) for r in data["references"]}

    def get(self, seeds: Iterable[int], progress: Callable[[int], None] | None = None) -> dict[int, Reference]:
        """The anchors of ``seeds``, computing (and saving, one seed at a time) those not stored yet."""
        seeds = list(seeds)
        missing = [s for s in seeds if s not in self._refs]
        if missing:
            env = make_env(self.env_id, self.env_kwargs)
            for s in missing:
                self._refs[s] = compute_reference(env, s)
                self._save()
                if progress is not None:
                    progress(s)
            env.close()
        return {s: self._refs[s] for s in seeds}

    def _save(self) -> None:
        if self.path is not None:
            refs = [asdict(self._refs[s]) for s in sorted(self._refs)]
            write_json(self.path, {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "references": refs})


def solver_episode(env: gym.Env, policy: Any, seed: int) -> Episode:
    """A solver policy (``solve(scenario) -> Solution``) on the scenario of ``seed``."""
    env.reset(seed=seed)
    sol = policy.solve(env.unwrapped.current_scenario)
    return Episode(seed, float(sol.objective), bool(sol.feasible), float(sol.seconds), sol.status)


def run_episode(env: gym.Env, predict: Callable[[np.ndarray], np.ndarray], seed: int) -> tuple[dict, float]:
    """``predict(obs) -> action`` for one episode on the scenario of ``seed``: the last step's info and the
    seconds spent in ``predict``."""
    obs, info = env.reset(seed=seed)
    spent = 0.0
    while True:
        t0 = time.perf_counter()
        action = predict(obs)
        spent += time.perf_counter() - t0
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return info, spent


def acting_episode(env: gym.Env, predict: Callable[[np.ndarray], np.ndarray], seed: int) -> Episode:
    """An acting policy (``predict(obs) -> action``) for one episode on the scenario of ``seed``; its last
    configuration is scored."""
    info, spent = run_episode(env, predict, seed)
    return Episode(seed, float(info["objective"]), bool(info["feasible"]), spent)


def evaluate_policy(env: gym.Env, policy: Any, seeds: Iterable[int], solve: bool | None = None,
                    done: dict[int, Episode] | None = None,
                    progress: Callable[[Episode], None] | None = None) -> list[Episode]:
    """Episodes of ``policy`` on ``seeds``: solved once per scenario when it is a solver (it has ``solve`` and
    ``solve`` is not False), acted for one episode otherwise (``policy.predict(obs, deterministic=True)``).
    ``done``: episodes already run (kept, not recomputed)."""
    solve = hasattr(policy, "solve") if solve is None else solve
    out = []
    for s in seeds:
        if done and s in done:
            out.append(done[s])
            continue
        if solve:
            ep = solver_episode(env, policy, s)
        else:
            ep = acting_episode(env, lambda o: policy.predict(o, deterministic=True)[0], s)
        out.append(ep)
        if progress is not None:
            progress(ep)
    return out


def scores(episodes: Iterable[Episode], refs: dict[int, Reference]) -> np.ndarray:
    """Normalised score of each episode against the anchors of its scenario."""
    return np.array([refs[e.seed].score(e.objective, e.feasible) for e in episodes])


@dataclass(frozen=True)
class Summary:
    """One policy on one id: mean normalised score (and its standard error), feasibility rate, decision time, and
    ``ratio``: the mean normalised objective with feasibility ignored (:meth:`Reference.ratio`), which tells an
    answer no better than random from a good but infeasible one (both score 0)."""

    score: float
    score_sem: float
    feasible: float
    decision_s: float
    episodes: int
    ratio: float


def summarise(episodes: list[Episode], refs: dict[int, Reference]) -> Summary:
    s = scores(episodes, refs)
    sem = float(s.std(ddof=1) / math.sqrt(s.size)) if s.size > 1 else 0.0
    ratio = float(np.mean([refs[e.seed].ratio(e.objective) for e in episodes]))
    return Summary(float(s.mean()), sem, float(np.mean([e.feasible for e in episodes])),
                   float(np.mean([e.decision_s for e in episodes])), len(episodes), ratio)
