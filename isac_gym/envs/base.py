"""The contract every isac-gym system follows, and the env shells built on it.

A system is a :class:`System` subclass: batched adapter logic between actions and one paper's
physics. It declares, once:

* ``params_class`` (physics parameters, a frozen dataclass that validates itself) and
  ``options_class`` (action mode, reward weights, ...): together their fields are the env's
  keyword arguments, the Hydra env config and the docstring's argument list;
* ``config_class`` (what the agent controls) and ``obs_layout`` (named observation parts);
* the hooks ``draw``, ``references``, ``initial_config``, ``decode``, ``encode``, ``measure``,
  ``violations``, ``score``, ``observe`` (and optionally ``reward_terms``, ``render_panels``).

What flows between the hooks is typed: :class:`Decoded` (a configuration plus the system's
intermediates worth reusing), :class:`Metrics` (the physical metrics of the info contract),
:class:`Assessment` (metrics, violations, score, reward terms, reward, feasibility and the
system's typed state). :class:`ISACEnv` (one env) and :class:`ISACVectorEnv` (``n`` envs in one
batched call) are thin shells around the same System, so the scalar env, the vector env and the
oracles share one implementation of every equation.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import math
import textwrap
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ..physics import batching
from ..physics.validation import Validated, check_value, field_docs, param

#: A violation at most this large counts as satisfied (``info["feasible"]``).
FEASIBILITY_TOL = 1e-6
#: Observations are clipped to this box, so they always lie in the observation space.
OBS_BOUND = 100.0
#: Smallest log-ratio between the two score anchors (a factor 2), so the score keeps its orientation and
#: scale in a scenario where the reference happens to be no better than the uninformed configuration.
MIN_SCORE_SPAN = math.log(2.0)
#: Floor of a metric before its logarithm (a zero metric scores like a tiny one, never -inf).
LOG_FLOOR = 1e-300
#: Keyword arguments every env takes besides its system's parameters and options.
SHELL_KWARGS = ("scenario", "scenario_seed", "render_mode")
#: Default size of an incremental move, in direct-action units (a phase moves by at most 0.1 pi = 18 deg).
ACTION_STEP = 0.1
#: Default weight of a constraint's saturated violation in the reward. It exceeds the range of every id's score
#: (-1 to about 3), so giving up a constraint never pays: at 1, a FIM agent learned to starve every user and put
#: all power on the target (score 1.02 of the oracle's, 0 % feasible; at 4: 0.77 and 100 % feasible).
CONSTRAINT_WEIGHT = 4.0


def saturate(violation: np.ndarray) -> np.ndarray:
    """The one saturating map of a violation in the reward: ``u / (1 + u)`` with ``u = log(1 + v)``.

    0 exactly when the constraint holds, ``v`` to first order for small violations, below 1 always, so a
    reward term ``-w_c saturate(v_c)`` lies in ``(-w_c, 0]`` and a weight means the same in every id. The
    logarithm keeps large violations apart (1, 10 and 100 map to 0.41, 0.71 and 0.82, where ``v / (1 + v)``
    gives 0.5, 0.91 and 0.99), so an agent far from feasibility still sees its progress.
    ``info["violation"]`` keeps the raw ``v``.
    """
    u = np.log1p(violation)
    return u / (1.0 + u)


#: The suggested limit of a constraint's mean cost per step over an episode: a cost is about the relative violation
#: where it is small, so 0.01 allows about a 1 % shortfall on average (or a larger one on a few steps).
COST_LIMIT_PER_STEP = 0.01
#: What the reward holds besides the objective: ``"penalty"`` subtracts each constraint's weighted cost,
#: ``"objective"`` leaves the constraints to the cost signal alone (constrained RL).
REWARD_MODES = ("penalty", "objective")


def constraint_cost(violation: np.ndarray) -> np.ndarray:
    """A constraint's cost ``[B]`` from its raw violation: :func:`saturate` where the constraint is broken (the
    violation above :data:`FEASIBILITY_TOL`), exactly 0 where it holds. Bounded in ``[0, 1)``, so costs compare
    across constraints and ids; the reward's penalty terms are ``-w_c`` times the same map."""
    v = np.asarray(violation, dtype=float)
    return np.where(v > FEASIBILITY_TOL, saturate(np.maximum(v, 0.0)), 0.0)


@dataclass(frozen=True)
class LogScale:
    """The anchors of :func:`log_score` for a batch of scenarios, precomputed.

    A system's references hold one (built once per scenario; the batching helpers stack and slice it
    like any field), so a step's score costs one logarithm and three element-wise operations instead
    of the anchors' logarithms again at every step.
    """

    log_worst: np.ndarray  # [B] log of the anchor that scores 0
    gain: np.ndarray  # [B] 1 / span for maximised metrics, -1 / span for minimised ones

    @classmethod
    def of(cls, worst: np.ndarray, target: np.ndarray, maximise: bool = False) -> LogScale:
        """Anchors ``worst`` (score 0) and ``target`` (score 1), ``[B]``; see :func:`log_score`."""
        log_worst = np.log(np.maximum(worst, LOG_FLOOR))
        log_target = np.log(np.maximum(target, LOG_FLOOR))
        span = log_target - log_worst if maximise else log_worst - log_target
        return cls(log_worst, (1.0 if maximise else -1.0) / np.maximum(span, MIN_SCORE_SPAN))

    def score(self, value: np.ndarray, floor: float = -1.0) -> np.ndarray:
        """The score of ``value`` ``[B]``, clipped below at ``floor`` only."""
        return np.maximum((np.log(np.maximum(value, LOG_FLOOR)) - self.log_worst) * self.gain, floor)


def log_score(value: np.ndarray, worst: np.ndarray, target: np.ndarray, maximise: bool = False,
              floor: float = -1.0) -> np.ndarray:
    """Log-normalised score of a metric: 0 at ``worst``, 1 at ``target``, clipped below at ``floor`` only.

    Minimised metrics (``maximise=False``): ``(log worst - log value) / max(log worst - log target, log 2)``;
    maximised ones use the same with every logarithm negated. A better value always scores higher,
    even in a scenario where ``target`` is not better than ``worst`` by a factor 2. Systems keep the
    anchors as a :class:`LogScale` in their references, which computes the same.
    """
    return LogScale.of(worst, target, maximise).score(value, floor)


def db_feature(db: np.ndarray) -> np.ndarray:
    """A figure in dB as an observation entry: ``dB / 10`` clipped to [-10, 10] (-100 dB .. +100 dB)."""
    return np.minimum(np.maximum(db * 0.1, -10.0), 10.0)


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view (no copy): the shells never write into a configuration they have handed out."""
    view = np.asarray(a).view()
    view.flags.writeable = False
    return view


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


# ---------------------------------------------------------------------------------------- typed hand-offs
@dataclass(frozen=True)
class ObsPart:
    """One part of the observation: ``key`` (what :meth:`System.observe` returns it under), ``label`` (the manual's
    name for it), ``size`` entries, how they are scaled, the size's formula."""

    key: str
    label: str
    size: int
    scaling: str
    symbol: str = ""


@dataclass(frozen=True)
class Metrics:
    """Physical metrics of a batch of configurations (the info contract; leading axis B).

    ``extra`` holds the system's further public metrics (e.g. ``user_power``), all of which go to
    ``info`` and TensorBoard.
    """

    objective: np.ndarray  # [B], the paper's metric in natural units
    sinr: np.ndarray  # [B, K] linear
    rate: np.ndarray  # [B, K] bit/s/Hz
    power: np.ndarray  # [B] W
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Decoded:
    """What an action mode returns: the configurations, the system's typed intermediates (e.g. the channels at the
    new surface shapes) that :meth:`System.measure` may reuse, and the mode's bookkeeping."""

    config: Any
    cache: Any = None
    clipped: np.ndarray | None = None  # [B] fraction of incremental moves stopped at a bound (incremental mode)
    #: [B, direct_dim] the direct encoding the configuration was reached at (the incremental mode's state); None
    #: means ``System.encode(config)``.
    code: np.ndarray | None = None
    #: What a structured mode's layer did, name -> [B] (its steps, fall-backs, the segment fraction, margins shrunk):
    #: ``info["layer"]``, never silent. None for modes without a layer.
    layer: dict[str, np.ndarray] | None = None


# ---------------------------------------------------------------------------------------- action modes
#: Key of the observation part that holds the current configuration's code (modes that observe it).
CONFIG_PART = "current_configuration"
#: Key of the observation part that holds the previous action (the other modes).
ACTION_PART = "previous_action"


class ActionMode:
    """How an action becomes a configuration: one subclass per value of ``action_mode``.

    Every system has a *direct encoding* (:meth:`System.decode` / :meth:`System.encode`, ``direct_dim`` entries in
    ``[-1, 1]``): :class:`DirectMode` uses it as it is and :class:`IncrementalMode` moves it. A system adds a mode of
    its own by subclassing this and listing the class in its options' ``action_mode`` field
    (:func:`action_mode_field`); nothing else names it.
    """

    #: The value of ``action_mode`` that selects the mode.
    name: ClassVar[str]
    #: One line for the argument list and the manual.
    doc: ClassVar[str]
    #: True when a step's configuration, and so its reward, depends on its action alone (the action is the whole
    #: configuration): the return worth learning is then the step's reward, and train.py's agents use gamma 0.
    memoryless: ClassVar[bool] = False
    #: True when the observation holds the current configuration's code (:data:`CONFIG_PART`) instead of the
    #: previous action (:data:`ACTION_PART`).
    observes_code: ClassVar[bool] = False

    def __init__(self, system: System):
        self.system = system

    @property
    def dim(self) -> int:
        """Size of the action."""
        return self.system.direct_dim

    def act(self, action: np.ndarray, scenario: Any, refs: Any, previous: Any, code: np.ndarray) -> Decoded:
        """The configurations clipped actions ``[B, dim]`` lead to from ``previous`` (whose code is ``code``)."""
        raise NotImplementedError

    def towards(self, config: Any, current: Any, code: np.ndarray, scenario: Any, refs: Any) -> np.ndarray:
        """The action ``[B, dim]`` that takes the env from ``current`` (code ``code``) towards ``config``, reaching
        it in as few steps as the mode allows (the oracles act through this)."""
        raise NotImplementedError


class DirectMode(ActionMode):
    """The action is the direct encoding of the whole configuration."""

    name = "direct"
    doc = "the action is the whole configuration in the direct encoding (env.unwrapped.encode inverts it)"
    memoryless = True

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        return dataclasses.replace(self.system.decode(action, scenario, refs), code=action)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        return self.system.encode(config)


class IncrementalMode(ActionMode):
    """The direct encoding of the current configuration moves by ``action_step * a``: phase entries wrap around,
    the others stop at +-1 (a legal configuration; the fraction of entries stopped goes to
    ``info["clipped_actions"]``, never to the reward). The encoding is the mode's state, kept unrounded, so moves
    smaller than a quantisation step of the configuration (FIM's position levels) accumulate instead of being lost
    to a fresh encoding of the configuration at every step."""

    name = "incremental"
    doc = "moves of at most action_step per entry of the direct encoding, from the current configuration"
    observes_code = True

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        system = self.system
        target = system.wrap_phases(code + system.options.action_step * action)
        stopped = np.mean(np.abs(target) > 1.0, axis=-1)
        target = np.clip(target, -1.0, 1.0)
        return dataclasses.replace(system.decode(target, scenario, refs), clipped=stopped, code=target)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        """The move towards ``config``'s direct encoding (reached within ``2 / action_step`` steps)."""
        delta = self.system.wrap_phases(self.system.encode(config) - code)
        return np.clip(delta / self.system.options.action_step, -1.0, 1.0)


class ScenarioMemo:
    """Per-scenario results of a costly design (a structured mode's anchor), solved once per scenario.

    A fixed scenario reset at every episode, the evaluation scenarios met again and ``evaluate(config, scenario)``
    reuse the design instead of solving it again. Keyed on the scenario's arrays (a digest of their bytes); the
    newest ``size`` are kept."""

    def __init__(self, size: int = 256):
        self.size = size
        self._store: dict[bytes, Any] = {}

    @staticmethod
    def _key(row: Any) -> bytes:
        digest = hashlib.blake2b(digest_size=16)

        def feed(fields: dict[str, Any]) -> None:
            for name, value in sorted(fields.items()):
                digest.update(name.encode())
                if isinstance(value, dict):
                    feed(value)
                else:
                    digest.update(str((value.dtype, value.shape)).encode() + np.ascontiguousarray(value).tobytes())

        feed(batching.as_dict(row))
        return digest.digest()

    def rows(self, scenario: Any, batch: int, solve: Any) -> list[Any]:
        """``solve(i)`` for each row ``i`` of a batched ``scenario`` (``batch`` rows), from memory where the same
        scenario was solved before."""
        out = []
        for i in range(batch):
            key = self._key(batching.take(scenario, i))
            if key not in self._store:
                if len(self._store) >= self.size:
                    self._store.pop(next(iter(self._store)))
                self._store[key] = solve(i)
            out.append(self._store[key])
        return out


#: Bisection steps of :func:`furthest_feasible` (the point is found to within 2^-6 of the segment).
SEGMENT_STEPS = 6


def furthest_feasible(system: System, blend: Any, scenario: Any, refs: Any, batch: int,
                      steps: int = SEGMENT_STEPS) -> tuple[Any, np.ndarray]:
    """The segment layer: the furthest point from a feasible anchor towards a proposal that meets every constraint.

    ``blend(t)`` gives the configurations ``[B]`` at fractions ``t [B]`` of the segments (``t = 0``: the anchors,
    which must be feasible; ``t = 1``: the proposals). The proposal is kept where it is feasible; elsewhere
    ``steps`` bisections on the env's own feasibility verdict (:meth:`System.assess`) keep the largest fraction
    found feasible, so the result is feasible wherever the anchor is (replacing an unsafe action by a safe one on
    the way to it; Krasowski et al., TMLR 2023). ``batch``: B. Returns the configurations and the fractions ``[B]``.
    """
    ok = np.zeros(batch)
    bad = np.ones(batch)
    done = system.assess(blend(bad), scenario, refs).feasible
    ok[done] = 1.0
    for _ in range(steps if not done.all() else 0):
        mid = np.where(done, ok, 0.5 * (ok + bad))
        feasible = system.assess(blend(mid), scenario, refs).feasible
        ok = np.where(~done & feasible, mid, ok)
        bad = np.where(~done & ~feasible, mid, bad)
    return blend(ok), ok


#: The modes of every system.
BASE_MODES: tuple[type[ActionMode], ...] = (DirectMode, IncrementalMode)


def action_mode_field(*extra: type[ActionMode], default: str = DirectMode.name) -> Any:
    """The ``action_mode`` option: the base modes and a system's own ``extra`` ones, each documented by its class.
    The base options declare it with the base modes; a system with modes of its own redeclares it with them."""
    modes = {m.name: m for m in (*BASE_MODES, *extra)}
    doc = "; ".join(f"'{name}': {mode.doc}" for name, mode in modes.items())
    return param(default, doc, kind="choice", choices=tuple(modes), extra={"modes": modes})


def _mode_field(options_class: type) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(options_class) if f.name == "action_mode")


def action_modes(options_class: type) -> dict[str, type[ActionMode]]:
    """The modes a system's options offer (``{name: class}``)."""
    return _mode_field(options_class).metadata["modes"]


def default_action_mode(options_class: type) -> str:
    """The name of a system's default action mode."""
    return _mode_field(options_class).default


@dataclass(frozen=True)
class SharedOptions(Validated):
    """The options every system shares: the action mode, the size of an incremental move and the reward mode."""

    action_step: float = param(ACTION_STEP, "largest move per step in action_mode='incremental', in direct-action "
                               "units (entries in [-1, 1]; phases wrap around)", kind="positive", high=2.0)
    action_mode: str = action_mode_field()
    reward_mode: str = param("penalty", "'penalty': the objective's score minus each constraint's weighted cost; "
                             "'objective': the score only, the constraints left to info['costs'] (constrained RL)",
                             kind="choice", choices=REWARD_MODES)


@dataclass(frozen=True)
class Assessment:
    """Everything the env reports about a batch of configurations."""

    metrics: Metrics
    violation: dict[str, np.ndarray]  # name -> [B], >= 0, 0 exactly when the constraint holds
    score: np.ndarray  # [B] log-normalised objective
    reward_terms: dict[str, np.ndarray]  # name -> [B], summing to the reward
    reward: np.ndarray  # [B]
    feasible: np.ndarray  # [B] bool
    costs: dict[str, np.ndarray]  # name -> [B]: constraint_cost of each violation
    cost: np.ndarray  # [B] their sum
    state: Any  # the system's typed intermediates (observation and rendering reuse them)


@dataclass(frozen=True)
class Panel:
    """One panel of a rendered frame: a title, a function drawing on a matplotlib ``Axes`` and its width (in
    panels: the main plot of a system may take more room than its state maps)."""

    title: str
    draw: Any
    width: float = 1.0


# ---------------------------------------------------------------------------------------- the system contract
class System(ABC):
    """Batched adapter of one paper's system; subclasses declare the class attributes and implement the hooks.

    Every hook takes and returns arrays (or dataclasses of arrays) with a leading batch axis ``B``.
    """

    params_class: ClassVar[type]
    options_class: ClassVar[type]
    config_class: ClassVar[type]
    #: Name of the paper's objective in ``info`` and TensorBoard (e.g. ``"crb"``).
    objective_name: ClassVar[str] = "objective"
    #: True when the objective is maximised (SINR), False when minimised (CRB).
    maximise: ClassVar[bool] = False
    #: Names of the violations; each has a reward weight in :attr:`weights` and its own reward term (dropped
    #: in ``reward_mode='objective'``).
    violation_names: ClassVar[tuple[str, ...]] = ()
    #: Module that lists the system's oracles and baselines (``policies(system) -> {name: class}``).
    oracle_module: ClassVar[str] = ""
    #: The physics' scenario draw, ``draw_scenario(params, rng)`` (a ``staticmethod``); :meth:`draw` calls it.
    draw_scenario: ClassVar[Any] = None

    #: How ISAC-Bench compares objectives: ``"log"`` (a positive metric, compared in dB: CRB, MSE, SINR) or
    #: ``"asinh"`` (a signed one, ET's weighted WIM objective: asinh is the logarithm's signed counterpart).
    objective_scale: ClassVar[str] = "log"

    #: Size of the direct encoding (:meth:`decode` / :meth:`encode`); the action's size is the mode's.
    direct_dim: int
    obs_layout: tuple[ObsPart, ...]
    weights: dict[str, float]

    def __init__(self, params: Any, options: Any):
        self.params = params
        self.options = options
        #: The action mode (:class:`ActionMode`) named by ``options.action_mode``.
        self.mode: ActionMode = action_modes(type(options))[options.action_mode](self)

    @property
    def action_dim(self) -> int:
        """Size of the action in the system's action mode."""
        return self.mode.dim

    @functools.cached_property
    def obs_dim(self) -> int:
        return sum(part.size for part in self.obs_layout)

    @property
    def reward_floor(self) -> float:
        """The least reward any action can get: the score's floor -1 and each violation term at most its weight
        (:func:`saturate`), ``-(1 + sum_c w_c)``; -1 in ``reward_mode='objective'``."""
        if self.options.reward_mode == "objective":
            return -1.0
        return -(1.0 + sum(self.weights.values()))

    def periodic_entries(self) -> np.ndarray:
        """Bool mask ``[direct_dim]`` of the direct-encoding entries that are phases (period 2 in action units);
        an incremental move wraps them around instead of clipping them. No entry is a phase by default."""
        return np.zeros(self.direct_dim, dtype=bool)

    def wrap_phases(self, code: np.ndarray) -> np.ndarray:
        """Phase entries of direct encodings ``[B, direct_dim]`` wrapped into [-1, 1) (period 2)."""
        return np.where(self.periodic_entries(), np.mod(code + 1.0, 2.0) - 1.0, code)

    def memory_part(self, symbol: str) -> ObsPart:
        """The observation part that tells the agent where it stands: the previous action, or in modes that
        observe it (the incremental mode) the current configuration's code."""
        if self.mode.observes_code:
            return ObsPart(CONFIG_PART, "current configuration", self.direct_dim,
                           "its direct encoding, as the incremental moves reached it", symbol)
        return ObsPart(ACTION_PART, "previous action", self.action_dim, "raw (zeros after reset)", symbol)

    # -- hooks ----------------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> Any:
        """Draw one (unbatched) scenario from ``rng``. Default: the physics' :attr:`draw_scenario`."""
        return type(self).draw_scenario(self.params, rng)

    @abstractmethod
    def references(self, scenario: Any) -> Any:
        """Per-scenario constants (score anchors, precomputed geometry): a typed dataclass, batched."""

    @abstractmethod
    def initial_config(self, scenario: Any, refs: Any) -> Any:
        """The configuration an episode starts from (batched)."""

    @abstractmethod
    def decode(self, action: np.ndarray, scenario: Any, refs: Any) -> Decoded:
        """The direct encoding: clipped codes ``[B, direct_dim]`` to configurations (everything a reward term
        depends on, e.g. positions requested before clipping, is part of the configuration)."""

    @abstractmethod
    def encode(self, config: Any) -> np.ndarray:
        """The direct encoding ``[B, direct_dim]`` that decodes to ``config`` (inverse of :meth:`decode`)."""

    @abstractmethod
    def measure(self, config: Any, scenario: Any, refs: Any, cache: Any = None) -> tuple[Metrics, Any]:
        """Physical metrics of ``config`` and the system's typed intermediates (``cache`` from decode)."""

    @abstractmethod
    def violations(self, metrics: Metrics, state: Any, config: Any) -> dict[str, np.ndarray]:
        """Dimensionless violations ``>= 0`` of the configuration (0 exactly when the constraint holds)."""

    def score(self, metrics: Metrics, refs: Any) -> np.ndarray:
        """Log-normalised objective score ``[B]`` (0 uninformed, 1 reference, finite). Default: the objective on
        the anchors the references hold as ``refs.scale`` (a :class:`LogScale`)."""
        return refs.scale.score(metrics.objective)

    @abstractmethod
    def observe(self, assessment: Assessment, config: Any, scenario: Any, refs: Any,
                prev_action: np.ndarray) -> dict[str, np.ndarray]:
        """Observation parts by key (``[B, size]``, or ``[B]`` for size 1), unclipped, in any order (the memory part,
        :data:`ACTION_PART` or :data:`CONFIG_PART`, is the base's)."""

    def reward_terms(self, score: np.ndarray, violation: dict[str, np.ndarray], metrics: Metrics,
                     config: Any) -> dict[str, np.ndarray]:
        """Named reward terms in ``reward_mode='penalty'`` (they sum to the reward). Default: ``score`` (the
        objective score), and ``-w_c constraint_cost(violation_c)`` per constraint, each named as its violation
        (the terms ``reward_mode='objective'`` drops). Objectives of another form override this hook."""
        terms = {"objective_score": score}
        for name in self.violation_names:
            terms[name] = -self.weights[name] * constraint_cost(violation[name])
        return terms

    def render_panels(self, info: dict[str, Any], scenario: Any, refs: Any) -> list[Panel]:
        """Panels of the rendered frame for one (unbatched) scenario and its ``info``."""
        return []

    # -- shared logic ---------------------------------------------------------------------
    def act(self, action: np.ndarray, scenario: Any, refs: Any, previous: Any, code: np.ndarray) -> Decoded:
        """The configurations that clipped actions ``[B, action_dim]`` lead to, in the system's action mode
        (``code``: the direct encoding ``previous`` was reached at); see :class:`ActionMode`."""
        return self.mode.act(action, scenario, refs, previous, code)

    def action_towards(self, config: Any, current: Any, code: np.ndarray, scenario: Any, refs: Any) -> np.ndarray:
        """The action ``[B, action_dim]`` that takes the env from ``current`` (code ``code``) towards ``config`` in
        the system's action mode (:meth:`ActionMode.towards`)."""
        return self.mode.towards(config, current, code, scenario, refs)

    def assess(self, config: Any, scenario: Any, refs: Any, cache: Any = None) -> Assessment:
        """Metrics, violations, score and reward terms of ``config`` (batched): the info contract."""
        metrics, state = self.measure(config, scenario, refs, cache)
        violation = self.violations(metrics, state, config)
        score = self.score(metrics, refs)
        terms = self.reward_terms(score, violation, metrics, config)
        if self.options.reward_mode == "objective":
            terms = {name: term for name, term in terms.items() if name not in self.violation_names}
        reward = np.asarray(sum(terms.values()), dtype=float)
        costs = {name: constraint_cost(value) for name, value in violation.items()}
        cost = np.asarray(sum(costs.values()), dtype=float) if costs else np.zeros(np.shape(score))
        feasible = None
        for value in violation.values():
            ok = value <= FEASIBILITY_TOL
            feasible = ok if feasible is None else feasible & ok
        if feasible is None:
            feasible = np.ones(np.shape(score), dtype=bool)
        return Assessment(metrics, violation, score, terms, reward, feasible, costs, cost, state)

    def observation(self, assessment: Assessment, config: Any, scenario: Any, refs: Any,
                    prev_action: np.ndarray, code: np.ndarray) -> np.ndarray:
        """The observation ``[B, obs_dim]`` (float32, clipped to the observation box) in layout order."""
        parts = self.observe(assessment, config, scenario, refs, prev_action)
        b = prev_action.shape[0]
        if self.mode.observes_code:
            parts[CONFIG_PART] = code
        else:
            parts[ACTION_PART] = prev_action
        out = np.concatenate([parts[part.key].reshape(b, part.size) for part in self.obs_layout], axis=1)
        return np.clip(out, -OBS_BOUND, OBS_BOUND).astype(np.float32)

    def as_config(self, config: Any) -> Any:
        """A configuration given as the dataclass or as ``info["config"]`` (a dict of arrays)."""
        if isinstance(config, self.config_class):
            return config
        if isinstance(config, Mapping):
            names = [f.name for f in dataclasses.fields(self.config_class)]
            unknown = sorted(set(config) - set(names))
            if unknown:
                raise ValueError(f"config has unknown field(s) {unknown}; accepted: {names}")
            try:
                return self.config_class(**{k: np.asarray(v) for k, v in config.items()})
            except TypeError as exc:  # a required field is missing
                raise ValueError(f"config is missing a field ({exc}); accepted: {names}") from exc
        raise ValueError(f"config must be a {self.config_class.__name__} or a dict like info['config'], "
                         f"got {type(config).__name__}")

    def info(self, assessment: Assessment, config: Any, row: int | None = None) -> dict[str, Any]:
        """``info`` following the contract: batched arrays (``row=None``) or the entries of one row.

        ``info["config"]`` holds read-only views of the configuration rather than copies (the shells never
        write into a configuration they have handed out; copy an entry to modify it)."""
        if row is None:
            def pick(v):
                return np.array(v)
        else:
            def pick(v):  # a Python scalar from a [B] array, a view of the row otherwise
                return v.item(row) if v.ndim == 1 else v[row]

        m = assessment.metrics
        objective = pick(m.objective)
        info = {
            "objective": objective,
            self.objective_name: objective,
            "objective_score": pick(assessment.score),
            "sinr": pick(m.sinr),
            "rate": pick(m.rate),
            "power": pick(m.power),
            "violation": {k: pick(v) for k, v in assessment.violation.items()},
            "feasible": bool(assessment.feasible[row]) if row is not None else assessment.feasible.copy(),
            "reward_terms": {k: pick(v) for k, v in assessment.reward_terms.items()},
            "costs": {k: pick(v) for k, v in assessment.costs.items()},
            "cost": pick(assessment.cost),
            "reward_mode": self.options.reward_mode,
            "config": {name: _read_only(getattr(config, name) if row is None else getattr(config, name)[row])
                       for name in _field_names(type(config))},
        }
        for key, value in m.extra.items():
            info.setdefault(key, pick(value))
        return info

    # -- documentation --------------------------------------------------------------------
    @classmethod
    def argument_docs(cls) -> list[tuple[str, Any, str]]:
        """``(name, default, doc)`` of every keyword argument (parameters, then options)."""
        return field_docs(cls.params_class) + field_docs(cls.options_class)


def observation_table(system: System) -> str:
    """The observation table (Gymnasium's "Num" column: index ranges) generated from ``obs_layout``."""
    rows = []
    start = 0
    for part in system.obs_layout:
        num = f"{start}" if part.size == 1 else f"{start}-{start + part.size - 1}"
        size = f"{part.size}" + (f" ({part.symbol})" if part.symbol else "")
        rows.append((num, part.label, size, part.scaling))
        start += part.size
    head = ("Num", "entry", "size", "scaling")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    rule = "  ".join("=" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [rule, fmt.format(*head).rstrip(), rule] + [fmt.format(*r).rstrip() for r in rows] + [rule]
    return "\n".join(lines)


def argument_list(system_class: type[System]) -> str:
    """The docstring's argument list, generated from the parameter and option dataclasses."""
    lines = [f"* ``{name}`` ({default!r}): {doc}" for name, default, doc in system_class.argument_docs()]
    lines.append("* ``scenario`` ('random'): 'random' draws a scenario at every reset, 'fixed' holds one.")
    lines.append("* ``scenario_seed`` (None): seed of the fixed scenario (0 when None).")
    lines.append("* ``render_mode`` (None): None or 'rgb_array'.")
    return "\n".join(lines)


def common_manual(system: System) -> str:
    """The part of every env's manual that the base defines: action modes, clipping, the reward's bounds."""
    parts = ["**Every id.**"]
    if hasattr(system, "centre"):
        parts.append("A beamformer in a direct action is encoded around a neutral centre "
                     "(``env.unwrapped.system.centre``: each stream on its own antenna), so the zero action is that "
                     "beam at half the budget.")
    modes = "; ".join(f"``'{name}'``: {mode.doc}" for name, mode in action_modes(system.options_class).items())
    parts += [
        f"Action modes ({modes}). ``action_mode='incremental'`` moves the direct encoding of the current "
        f"configuration by at most ``action_step`` ({ACTION_STEP}) per entry (phases wrap around, other entries stop "
        "at +-1) and keeps that encoding, unrounded, as its state: its observation holds it where the other modes "
        "hold the previous action.",
        "Actions outside the box are clipped, and ``info['clipped_actions']`` gives the fraction of entries "
        "clipped or stopped.",
        "Each violation ``v`` enters the reward as ``s(v) = u / (1 + u)``, ``u = log(1 + v)`` (below 1, ``v`` to "
        f"first order), so no reward is below ``-(1 + sum of the weights)`` ({system.reward_floor:g} at the "
        "defaults); ``info['violation']`` keeps the raw ``v``.",
        f"Constrained MDP: ``info['costs']`` holds one cost per constraint "
        f"({', '.join(f'``{n}``' for n in system.violation_names)}): ``s(v)`` where the constraint is broken, 0 "
        "exactly where it holds; ``info['cost']`` is their sum. ``reward_mode='objective'`` drops the penalty "
        "terms from the reward and leaves the constraints to the cost (``isac_gym.wrappers.SafetyStep`` gives "
        "Safety-Gymnasium's six-tuple step; docs/constrained.md).",
        "Oracles act in every mode (``isac_gym.oracles``).",
    ]
    return " ".join(parts)


def document(env_class: type, system_class: type[System]) -> None:
    """Fill the ``{observation_table}``, ``{arguments}`` and ``{common}`` placeholders of an env docstring."""
    doc = env_class.__doc__ or ""
    system = build_system(system_class, {})
    indent = "    "
    table = ("\n" + indent).join(observation_table(system).splitlines())
    args = ("\n" + indent).join(argument_list(system_class).splitlines())
    common = ("\n" + indent).join(textwrap.wrap(common_manual(system), 110))
    env_class.__doc__ = (doc.replace("{observation_table}", table).replace("{arguments}", args)
                         .replace("{common}", common))


# ---------------------------------------------------------------------------------------- construction
def build_system(system_class: type[System], kwargs: dict[str, Any]) -> System:
    """Instantiate ``system_class`` from env kwargs; unknown or invalid arguments raise ``ValueError`` naming them."""
    p_names = [f.name for f in dataclasses.fields(system_class.params_class)]
    o_names = [f.name for f in dataclasses.fields(system_class.options_class)]
    unknown = sorted(set(kwargs) - set(p_names) - set(o_names))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}; accepted: {sorted(p_names + o_names)} "
                         f"and {', '.join(SHELL_KWARGS)}")
    pk = {k: v for k, v in kwargs.items() if k in p_names}
    ok = {k: v for k, v in kwargs.items() if k in o_names}
    params = system_class.params_class(**pk)
    options = system_class.options_class(**ok)
    return system_class(params, options)


def policies_of(system: System) -> dict[str, type]:
    """The oracles and baselines a system declares (``{name: policy class}``)."""
    if not system.oracle_module:
        return {}
    return importlib.import_module(system.oracle_module).policies(system)


def sanitize_action(action: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Validate and clip actions to ``[-1, 1]``: the shape must match exactly, NaN/inf raise ``ValueError``.

    Returns the clipped actions ``[B, dim]`` float64 and the fraction of entries that were out of range ``[B]``
    (the shells report it as ``info["clipped_actions"]``: clipping is never silent).
    """
    a = np.asarray(action, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"action must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("action contains NaN or infinite entries")
    a = a.reshape(-1, shape[-1])
    return np.clip(a, -1.0, 1.0), np.mean(np.abs(a) > 1.0, axis=-1)


def clipped_fraction(box: np.ndarray, decoded: Decoded) -> np.ndarray:
    """Fraction of action entries clipped ``[B]``: out of the box, or (incremental mode) stopped at a bound."""
    return box if decoded.clipped is None else np.maximum(box, decoded.clipped)


class _ScenarioSource:
    """Draws scenarios per the ``scenario`` / ``scenario_seed`` kwargs."""

    def __init__(self, system: System, scenario: str, scenario_seed: int | None):
        check_value("scenario", scenario, "choice", ("random", "fixed"))
        check_value("scenario_seed", scenario_seed, "seed")
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


# ---------------------------------------------------------------------------------------- single env
class ISACEnv(gym.Env):
    """Single-environment shell around a :class:`System` (a batch of one).

    Subclasses set ``system_class``; every keyword argument other than ``scenario``,
    ``scenario_seed`` and ``render_mode`` is a field of the system's parameters or options.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    system_class: type[System]

    def __init__(self, scenario: str = "random", scenario_seed: int | None = None,
                 render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None:
            check_value("render_mode", render_mode, "choice", tuple(self.metadata["render_modes"]))
        system = build_system(self.system_class, kwargs)
        self.system = system
        self.render_mode = render_mode
        self._source = _ScenarioSource(system, scenario, scenario_seed)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (system.action_dim,), np.float32)
        self.observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (system.obs_dim,), np.float32)
        self._shape = (system.action_dim,)
        self.scenario = None
        self.refs = None
        self.config = None
        #: The direct encoding the current configuration was reached at (the incremental mode's state), [1, dim].
        self.code = None
        self._prev_action = np.zeros((1, system.action_dim))
        self._info: dict | None = None
        #: Counts resets, so policies can cache per-episode work (a scenario's id() can be reused).
        self.episode_index = 0

    # -- public helpers -------------------------------------------------------------
    def evaluate(self, config: Any, scenario: Any = None) -> dict[str, Any]:
        """Metrics, violations, reward terms and ``reward`` of ``config`` without stepping (the ``info``
        contract). ``config`` is the configuration dataclass or ``info["config"]``; ``scenario``
        defaults to the current one (pass another, unbatched, to assess it there)."""
        if scenario is None:
            if self.scenario is None:
                raise ValueError("scenario must be given before the first reset()")
            scen, refs = self.scenario, self.refs
        else:
            scen = batching.stack([scenario])
            refs = self.system.references(scen)
        cfg = batching.stack([self.system.as_config(config)])
        assessed = self.system.assess(cfg, scen, refs)
        info = self.system.info(assessed, cfg, 0)
        info["reward"] = float(assessed.reward[0])
        return info

    def encode(self, config: Any) -> np.ndarray:
        """Direct-mode action (float32) that reproduces ``config``."""
        return self.system.encode(batching.stack([self.system.as_config(config)]))[0].astype(np.float32)

    @property
    def current_scenario(self) -> Any:
        """The scenario of the running episode (unbatched)."""
        return None if self.scenario is None else batching.take(self.scenario, 0)

    @property
    def current_references(self) -> Any:
        """The references of the running episode (unbatched)."""
        return None if self.refs is None else batching.take(self.refs, 0)

    # -- Gymnasium API --------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.episode_index += 1
        self.scenario = batching.stack([self._source.draw(self.np_random)])
        self.refs = self.system.references(self.scenario)
        self.config = self.system.initial_config(self.scenario, self.refs)
        self.code = self.system.encode(self.config)
        self._prev_action = np.zeros((1, self.system.action_dim))
        obs, info, _ = self._outcome(self.system.assess(self.config, self.scenario, self.refs), 0.0)
        return obs, info

    def step(self, action):
        if self.scenario is None:
            raise gym.error.ResetNeeded("Call reset() before step()")
        a, box = sanitize_action(action, self._shape)
        decoded = self.system.act(a, self.scenario, self.refs, self.config, self.code)
        self.config = decoded.config
        self.code = self.system.encode(self.config) if decoded.code is None else decoded.code
        self._prev_action = a
        assessed = self.system.assess(self.config, self.scenario, self.refs, decoded.cache)
        obs, info, reward = self._outcome(assessed, clipped_fraction(box, decoded).item(0))
        if decoded.layer is not None:
            info["layer"] = {k: np.asarray(v).item(0) for k, v in decoded.layer.items()}
        return obs, reward, False, False, info

    def _outcome(self, assessed: Assessment, clipped: float):
        sysm = self.system
        obs = sysm.observation(assessed, self.config, self.scenario, self.refs, self._prev_action, self.code)[0]
        info = sysm.info(assessed, self.config, 0)
        info["clipped_actions"] = clipped
        self._info = info
        return obs, info, float(assessed.reward[0])

    def render(self):
        if self.render_mode != "rgb_array" or self._info is None:
            return None
        from ..render import render_frame

        return render_frame(self.system, self._info, self.current_scenario, self.current_references)


# ---------------------------------------------------------------------------------------- vector env
class ISACVectorEnv(VectorEnv):
    """``num_envs`` copies of a :class:`System` stepped in one batched call (no loop over sub-envs in ``step``).

    Sub-env ``i`` reset with seed ``s`` draws exactly the scenarios of a single env reset with
    seed ``s + i`` (or with ``seed[i]`` for a list of seeds), so rollouts match :class:`ISACEnv`
    step for step. Episodes are truncated after ``max_episode_steps`` and reset on the following
    step (``AutoresetMode.NEXT_STEP``); ``reset(options={"reset_mask": mask})`` resets only the
    sub-envs in ``mask`` (Gymnasium's partial reset). Scenario draws on reset use each sub-env's
    own generator (one small draw per finished episode).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    system_class: type[System]

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None, scenario: str = "random",
                 scenario_seed: int | None = None, render_mode: str | None = None, **kwargs: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode must be None for the vector env, got {render_mode!r}")
        check_value("num_envs", num_envs, "int")
        system = build_system(self.system_class, kwargs)
        if max_episode_steps is not None:
            check_value("max_episode_steps", max_episode_steps, "int")
        self.system = system
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self._source = _ScenarioSource(system, scenario, scenario_seed)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (system.action_dim,), np.float32)
        self.single_observation_space = gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (system.obs_dim,), np.float32)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._shape = (self.num_envs, system.action_dim)
        self._rngs = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._prev_action = np.zeros((self.num_envs, system.action_dim))
        self.scenario = self.refs = self.config = self.code = None

    def _reset_rows(self, rows: np.ndarray) -> None:
        scen = batching.stack([self._source.draw(self._rngs[i]) for i in rows])
        refs = self.system.references(scen)
        cfg = self.system.initial_config(scen, refs)
        code = self.system.encode(cfg)
        if self.scenario is None or len(rows) == self.num_envs:
            self.scenario, self.refs, self.config, self.code = scen, refs, cfg, code
        else:
            batching.assign(self.scenario, rows, scen)
            batching.assign(self.refs, rows, refs)
            # a new configuration, not an in-place write: earlier infos hold views of the current one
            self.config = batching.with_rows(self.config, rows, cfg)
            self.code = self.code.copy()
            self.code[rows] = code
        self._elapsed[rows] = 0
        self._prev_action[rows] = 0.0
        self._needs_reset[rows] = False

    def _seeds(self, seed: Any) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be an int or a list of {self.num_envs} ints, got {seed!r}")
        return seeds

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        seeds = self._seeds(seed)
        super().reset(seed=seeds[0])
        mask = None if options is None else options.get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                                 f"got {mask.dtype} {mask.shape}")
            if self.scenario is None:
                raise gym.error.ResetNeeded("a partial reset needs a full reset() first")
            rows = np.flatnonzero(mask)
        else:
            rows = np.arange(self.num_envs)
        for i in rows:
            if seeds[i] is not None:
                self._rngs[i] = seeding.np_random(int(seeds[i]))[0]
        self._reset_rows(rows)
        assessed = self.system.assess(self.config, self.scenario, self.refs)
        info = self.system.info(assessed, self.config)
        info["clipped_actions"] = np.zeros(self.num_envs)
        return self._obs(assessed), info

    def step(self, actions):
        if self.scenario is None:
            raise gym.error.ResetNeeded("Call reset() before step()")
        a, box = sanitize_action(actions, self._shape)
        restart = np.flatnonzero(self._needs_reset)
        decoded = self.system.act(a, self.scenario, self.refs, self.config, self.code)
        clipped = clipped_fraction(box, decoded)
        clipped[restart] = 0.0
        self.config = decoded.config
        self.code = self.system.encode(self.config) if decoded.code is None else decoded.code
        self._prev_action = a
        cache = decoded.cache
        if restart.size:
            self._reset_rows(restart)
            cache = None  # rows just reset changed their configuration
        assessed = self.system.assess(self.config, self.scenario, self.refs, cache)
        self._elapsed += 1
        self._elapsed[restart] = 0
        reward = assessed.reward.copy()
        reward[restart] = 0.0
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = self._elapsed >= self.max_episode_steps
        self._needs_reset = truncated.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)
        info = self.system.info(assessed, self.config)
        info["clipped_actions"] = clipped
        if decoded.layer is not None:  # rows just reset report the layer's work on the discarded action
            info["layer"] = {k: np.array(v) for k, v in decoded.layer.items()}
        return self._obs(assessed), reward, terminated, truncated, info

    def _obs(self, assessed: Assessment) -> np.ndarray:
        return self.system.observation(assessed, self.config, self.scenario, self.refs, self._prev_action, self.code)

    def evaluate(self, config: Any, scenario: Any = None) -> dict[str, Any]:
        """Batched metrics of ``config`` (leading axis ``num_envs``) on the current or given scenarios."""
        scen = self.scenario if scenario is None else scenario
        refs = self.refs if scenario is None else self.system.references(scen)
        config = self.system.as_config(config)
        assessed = self.system.assess(config, scen, refs)
        info = self.system.info(assessed, config)
        info["reward"] = assessed.reward
        return info
