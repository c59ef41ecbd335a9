"""The ISAC-Bench protocol: fixed evaluation scenarios, per-scenario anchors and the normalised score.

Every id is evaluated on the scenarios its env draws at ``reset(seed=s)`` for ``s`` in :data:`EVAL_SEEDS`
(1000-1099). Training never draws them: ``train.py`` seeds its sub-envs from :func:`training_seed`, a stream that
starts at 2**32. On each scenario a policy's final configuration is scored on the paper's objective ``x`` against
two anchors computed on that same scenario:

    score = (v(x) - v(x_random)) / (v(x_oracle) - v(x_random))      if the configuration is feasible,
    score = 0                                                        otherwise (an infeasible answer is no
                                                                     better than a random one),

where ``v`` is the objective's scale (:attr:`~isac_gym.envs.base.System.objective_scale`): ``v = log x`` for the
positive metrics (CRB, MSE, SINR; the ratio of logarithms is the ratio of dB gaps, so it reads the same whether
the objective is minimised or maximised), ``v = asinh x`` for a signed one (ET's weighted WIM objective
``rho zeta tr(CRB) - (1 - rho) R_sum``, whose logarithm does not exist): asinh is the signed counterpart of the
logarithm (``asinh x = sign(x) log(2 |x|)`` to within ``1 / (4 x^2)`` for large ``|x|``, ``x`` near 0), so a few
very bad random configurations (WIM 140-5500 on seed 1000, the oracle -5.7) do not make every typical one look good,
as they would on the objective itself. ``v(x_random)`` is the mean of ``v`` over
:data:`RANDOM_DRAWS` uniformly random configurations (the direct encoding drawn uniformly, in every action mode:
:meth:`~isac_gym.oracles.RandomPolicy.solve`, seeds 0..4), ``x_oracle`` the objective of the id's oracle (policy
seed 0; every solver draws from a generator seeded by the scenario, so the oracle's own entry scores exactly 1
where its answer is feasible, and 0 on the scenarios where it is not). 0 is random, 1 is the oracle, above 1
beats it. A score is the D4RL normalised score divided by 100.

The anchors depend on the problem only: the physics parameters, the options that change the problem (a task, an
objective's weights) and the scenario kwargs (:func:`problem_kwargs`), never on the action mode or the reward's
penalty weights. They are the expensive part (one oracle solve per scenario): :class:`ReferenceStore` keeps them in
a JSON file per setting and computes only the seeds it lacks, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import isac_gym
from isac_gym.physics.validation import problem_fields

#: The ids of the suite, in the order tables and figures list them (every registered id).
IDS: tuple[str, ...] = tuple(isac_gym.ENVIRONMENTS)
#: Evaluation scenarios of every id: ``reset(seed=s)`` for these seeds.
EVAL_SEEDS: tuple[int, ...] = tuple(range(1000, 1100))
#: Uniformly random configurations whose mean objective (on the scale) anchors score 0.
RANDOM_DRAWS = 5
#: First seed of the training stream: training scenarios are drawn from seeds at or above it, far from
#: :data:`EVAL_SEEDS`.
TRAINING_SEED_START = 2**32
#: Sub-envs of one run that the training stream keeps apart from the next run seed's.
MAX_SUB_ENVS = 2**16
#: Version of the anchors' file; files of another version are recomputed (anchors are a cache).
REFERENCES_VERSION = "isac-bench-references/2"
#: Least improvement of the oracle over random, on the scale, that the ratio normalises by.
MIN_SPAN = 1e-12
#: Keyword arguments that pick the scenarios rather than the system.
SCENARIO_KWARGS = ("scenario", "scenario_seed")


def training_seed(seed: int) -> int:
    """The seed ``train.py`` gives its vector env for run seed ``seed``: sub-env ``i`` resets with
    ``training_seed(seed) + i``, at least 2**32 and so never one of :data:`EVAL_SEEDS`; runs with different seeds
    draw disjoint seeds while ``n_envs <= MAX_SUB_ENVS``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return TRAINING_SEED_START + int(seed) * MAX_SUB_ENVS


@dataclass(frozen=True)
class Reference:
    """The two anchors of one scenario (the mean of ``v`` over random configurations and ``v`` of the oracle's, on
    the id's ``scale``: ``"log"`` or ``"asinh"``) and how the oracle fared on it. ``maximise``: the direction in
    which the objective improves."""

    seed: int
    random: float
    oracle: float
    oracle_feasible: bool
    oracle_status: str
    oracle_seconds: float
    scale: str = "log"
    maximise: bool = False

    def value(self, objective: float) -> float:
        """``v(objective)`` on the reference's scale; ``ValueError`` for a non-positive objective on the log scale."""
        if self.scale == "asinh":
            return math.asinh(objective)
        if not objective > 0.0:
            raise ValueError(f"objective must be > 0 on a metric compared in dB, got {objective!r}")
        return math.log(objective)

    def ratio(self, objective: float) -> float:
        """``(v(x) - v(x_random)) / (v(x_oracle) - v(x_random))``, feasible or not; 0 where the oracle is no better
        than random (its improvement over random, in the objective's direction, at most :data:`MIN_SPAN`): nothing
        to normalise by."""
        span = self.oracle - self.random
        if (span if self.maximise else -span) <= MIN_SPAN:
            return 0.0
        return float((self.value(objective) - self.random) / span)

    def score(self, objective: float, feasible: bool) -> float:
        """The normalised score of a final configuration (see the module docstring): the ratio, or 0 when the
        configuration is infeasible."""
        return self.ratio(objective) if feasible else 0.0


@dataclass(frozen=True)
class Episode:
    """One policy's answer on one evaluation scenario.

    ``objective``: the paper's objective of the final configuration (natural units); ``feasible``: the env's own
    verdict; ``decision_s``: wall seconds the policy spent deciding (a solver's solve, or the sum of an agent's
    ``predict`` calls over the episode); ``status``: a solver's status, ``"acted"`` for an acting policy; ``cost``:
    the final configuration's ``info["cost"]`` (the constraints' summed cost, 0 exactly when it is feasible; None
    where a results file does not give it).
    """

    seed: int
    objective: float
    feasible: bool
    decision_s: float
    status: str = "acted"
    cost: float | None = None


@dataclass(frozen=True)
class Answer:
    """A policy's final configuration on one scenario, as the env reports it: the env's ``info`` of it (the info
    contract), the seconds the policy spent deciding and its status (``"acted"`` for an acting policy)."""

    info: dict
    seconds: float
    status: str = "acted"

    def episode(self, seed: int) -> Episode:
        return Episode(seed, float(self.info["objective"]), bool(self.info["feasible"]), float(self.seconds),
                       self.status, float(self.info["cost"]))


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))  # tuples and arrays as lists, as JSON stores them


def _defaults(env_id: str) -> dict[str, Any]:
    reg = isac_gym.ENVIRONMENTS[env_id]
    defaults = {name: default for name, default, _ in reg.system_class.argument_docs()}
    defaults.update({"scenario": "random", "scenario_seed": None})
    defaults.update(reg.kwargs)
    return defaults


def canonical_kwargs(env_id: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` without the entries that equal the id's defaults (its registered kwargs, then the system's
    parameter and option defaults, ``scenario="random"``): two spellings of one setting are one setting.
    ``ValueError`` for an unknown id or a kwarg the id does not take."""
    if env_id not in isac_gym.ENVIRONMENTS:
        raise ValueError(f"env id must be one of {list(isac_gym.ENVIRONMENTS)}, got {env_id!r}")
    defaults = _defaults(env_id)
    out = {}
    for key, value in (env_kwargs or {}).items():
        if key not in defaults:
            raise ValueError(f"env kwarg {key!r} is not an argument of {env_id}")
        if _plain(value) != _plain(defaults[key]):
            out[key] = _plain(value)
    return out


def problem_kwargs(env_id: str, env_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The part of ``env_kwargs`` that the anchors depend on (:func:`canonical_kwargs` of the physics parameters,
    the options that change the problem and the scenario kwargs): changing an action mode, a step size or a penalty
    weight keeps the anchors."""
    kwargs = canonical_kwargs(env_id, env_kwargs)
    system_class = isac_gym.ENVIRONMENTS[env_id].system_class
    keep = set(problem_fields(system_class.params_class, system_class.options_class)) | set(SCENARIO_KWARGS)
    return {k: v for k, v in kwargs.items() if k in keep}


def objective_scale(env_id: str, env_kwargs: dict[str, Any] | None) -> str:
    """``"log"`` or ``"asinh"``: how the bench compares the objective of ``env_id`` with ``env_kwargs``."""
    from isac_gym.envs.base import SHELL_KWARGS, build_system

    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k not in SHELL_KWARGS}
    reg = isac_gym.ENVIRONMENTS[env_id]
    return build_system(reg.system_class, {**reg.kwargs, **kwargs}).objective_scale


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON through a temporary file and a rename: an interrupted write never leaves a truncated
    file (every cache of the bench is saved so, after each new entry)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None, max_episode_steps: int | None = None) -> gym.Env:
    """The id's env with ``env_kwargs`` (random scenarios unless they say otherwise)."""
    return gym.make(env_id, max_episode_steps=max_episode_steps, **(env_kwargs or {}))


def compute_reference(env: gym.Env, seed: int) -> Reference:
    """Anchors of the scenario ``env.reset(seed=seed)`` draws (solves the oracle once)."""
    from isac_gym import oracles
    from isac_gym.oracles import RandomPolicy

    env.reset(seed=seed)
    scenario = env.unwrapped.current_scenario
    system = env.unwrapped.system
    ref = Reference(seed, 0.0, 0.0, False, "", 0.0, system.objective_scale, bool(system.maximise))
    randoms = [ref.value(RandomPolicy(env, seed=i).solve(scenario).objective) for i in range(RANDOM_DRAWS)]
    sol = oracles.make(env, "oracle").solve(scenario)  # the same solve as the bench's own oracle entry
    return Reference(seed, float(np.mean(randoms)), ref.value(sol.objective), bool(sol.feasible), sol.status,
                     float(sol.seconds), ref.scale, ref.maximise)


def setting_tag(env_id: str, env_kwargs: dict[str, Any]) -> str:
    """The id, and a short hash of the problem kwargs (:func:`problem_kwargs`) when there are any: the name of a
    setting's files."""
    problem = problem_kwargs(env_id, env_kwargs)
    if not problem:
        return env_id
    return f"{env_id}-{hashlib.sha1(json.dumps(problem, sort_keys=True).encode()).hexdigest()[:8]}"


def reference_path(out: Path, env_id: str, env_kwargs: dict[str, Any]) -> Path:
    """Where the anchors of a setting are cached under a folder ``out`` (``out/references/<setting>.json``)."""
    return Path(out) / "references" / f"{setting_tag(env_id, env_kwargs)}.json"


class ReferenceStore:
    """Anchors of one id and problem (:func:`problem_kwargs` of ``env_kwargs``) on the evaluation seeds, cached in
    a JSON file.

    ``path=None`` keeps them in memory only. The file records the id and the problem kwargs; a file made for
    another setting is refused rather than silently mixed, and a file of an earlier protocol version is recomputed.
    """

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None, path: str | Path | None = None):
        self.env_id, self.env_kwargs = env_id, problem_kwargs(env_id, env_kwargs)
        self.path = Path(path) if path is not None else None
        self._refs: dict[int, Reference] = {}
        if self.path is not None and self.path.is_file():
            data = json.loads(self.path.read_text())
            if data.get("version") != REFERENCES_VERSION:
                return  # anchors of an earlier protocol: recomputed, and the file rewritten
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
            write_json(self.path, {"version": REFERENCES_VERSION, "env_id": self.env_id, "env_kwargs": self.env_kwargs,
                                   "references": refs})


def policy_for(env: gym.Env, name: str) -> tuple[Any, str]:
    """The oracle or baseline ``name`` of ``env`` and how the bench runs it: ``"solver"`` (solved once per
    scenario) or ``"agent"`` (acts for an episode). ``random`` acts, in the env's own action mode, like any agent
    (in a structured mode it shows that structure's floor; its *configurations* anchor the score at 0)."""
    from isac_gym import oracles

    if name == "random":
        return oracles.make(env, "random", seed=0), "agent"
    return oracles.make(env, name), "solver"


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


def answer(env: gym.Env, policy: Any, seed: int, solve: bool) -> Answer:
    """``policy``'s answer on the scenario of ``seed``: solved once (``solve``: a policy with ``solve(scenario) ->
    Solution``), or the last configuration of one episode of ``policy.predict(obs, deterministic=True)``."""
    if solve:
        env.reset(seed=seed)
        sol = policy.solve(env.unwrapped.current_scenario)
        return Answer(sol.info, float(sol.seconds), sol.status)
    info, spent = run_episode(env, lambda o: policy.predict(o, deterministic=True)[0], seed)
    return Answer(info, spent)


def evaluate_policy(env: gym.Env, policy: Any, seeds: Iterable[int], solve: bool | None = None,
                    done: dict[int, Episode] | None = None,
                    progress: Callable[[Episode], None] | None = None) -> list[Episode]:
    """Episodes of ``policy`` on ``seeds`` (:func:`answer`): solved when it is a solver (it has ``solve`` and
    ``solve`` is not False), acted otherwise. ``done``: episodes already run (kept, not recomputed)."""
    solve = hasattr(policy, "solve") if solve is None else solve
    out = []
    for s in seeds:
        if done and s in done:
            out.append(done[s])
            continue
        ep = answer(env, policy, s, solve).episode(s)
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
    answer no better than random from a good but infeasible one (both score 0); ``cost``: the mean cost of the final
    configurations (None where an episode does not give it)."""

    score: float
    score_sem: float
    feasible: float
    decision_s: float
    episodes: int
    ratio: float
    cost: float | None = None


def summarise(episodes: list[Episode], refs: dict[int, Reference]) -> Summary:
    s = scores(episodes, refs)
    sem = float(s.std(ddof=1) / math.sqrt(s.size)) if s.size > 1 else 0.0
    ratio = float(np.mean([refs[e.seed].ratio(e.objective) for e in episodes]))
    costs = [e.cost for e in episodes]
    cost = None if any(c is None for c in costs) else float(np.mean(costs))
    return Summary(float(s.mean()), sem, float(np.mean([e.feasible for e in episodes])),
                   float(np.mean([e.decision_s for e in episodes])), len(episodes), ratio, cost)
