"""Trained agents in ISAC-Bench: what the bench needs of them, and where it gets it.

The protocol scores any policy with ``predict``; it never loads a model itself. A trained model comes as a
:class:`TrainedModel`: the env it was trained on (:class:`SavedEnv`: id, every keyword argument,
``max_episode_steps``) and a function that loads it as a policy for an env. Learning curves come as
:class:`Curve` s. Whoever calls the bench supplies the functions that make them (:class:`TrainingTools`); the
command line finds them as the ``isac_gym.bench`` entry point named ``training`` (``agents.bench_tools`` in this
repository, installed with ``pip install -e ".[train]"``), so ``isac_gym`` itself imports no learning library.

:func:`agent_env` is the one rule for where a trained model acts: in the env it was trained on, with what the
caller asks for on top, and refusing what would make its actions mean something else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

#: Keyword arguments that define what an action means: a model is never evaluated under other values.
INTERFACE_KWARGS = ("action_mode", "action_step")
#: The entry-point group and name under which the training tools are found.
ENTRY_POINT_GROUP, ENTRY_POINT_NAME = "isac_gym.bench", "training"


@dataclass(frozen=True)
class SavedEnv:
    """The env a model was trained on, as its run saved it: ``gym.make(env_id, max_episode_steps=..., **kwargs)``."""

    env_id: str
    kwargs: dict[str, Any]
    max_episode_steps: int | None


@dataclass(frozen=True)
class TrainedModel:
    """A trained model: where it is, its algorithm, the env it was trained on and ``load(env) -> policy`` (a policy
    with SB3's ``predict``; ``ValueError`` when the env's spaces are not the model's)."""

    path: str
    algo: str
    env: SavedEnv
    load: Callable[[Any], Any]


@dataclass(frozen=True)
class Curve:
    """One run's ISAC-Bench scores during training: ``(step, value)`` points of ``eval/score``, ``eval/feasible``
    and ``eval/ratio`` (empty where the run did not log it), and its training wall time."""

    env_id: str
    algo: str
    wall_s: float
    score: list[tuple[int, float]]
    feasible: list[tuple[int, float]]
    ratio: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainingTools:
    """What the bench's command line needs from the training side: ``open_model(path) -> TrainedModel`` (a run
    directory or a model file) and ``read_curves(sweep_dir) -> [Curve]`` (every run of a sweep that logged
    ``eval/score``)."""

    open_model: Callable[[str], TrainedModel]
    read_curves: Callable[[Path], list[Curve]]


def load_tools() -> TrainingTools | None:
    """The installed :class:`TrainingTools` (the ``isac_gym.bench`` entry point named ``training``), or None when
    none is installed or it cannot be imported (the training extra is missing)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == ENTRY_POINT_NAME:
            try:
                return ep.load()
            except ImportError:
                return None
    return None


def agent_env(model: TrainedModel, env_id: str | None = None, kwargs: dict[str, Any] | None = None,
              max_episode_steps: int | None = None) -> SavedEnv:
    """Where ``model`` acts: the env it was trained on, with the caller's ``kwargs`` and ``max_episode_steps`` on
    top (evaluating it under other physics or scenarios is the caller's choice). ``ValueError`` in one line when the
    caller asks for another id, or for another value of what defines the meaning of an action
    (:data:`INTERFACE_KWARGS`): same shapes, other semantics, which no shape check can catch."""
    saved = model.env
    if env_id is not None and env_id != saved.env_id:
        raise ValueError(f"{model.path} was trained on {saved.env_id}, not {env_id}")
    kwargs = dict(kwargs or {})
    for key in INTERFACE_KWARGS:
        if key in kwargs and key in saved.kwargs and kwargs[key] != saved.kwargs[key]:
            raise ValueError(f"{model.path} was trained with {key}={saved.kwargs[key]!r}, not {kwargs[key]!r}")
    steps = saved.max_episode_steps if max_episode_steps is None else max_episode_steps
    return SavedEnv(saved.env_id, {**saved.kwargs, **kwargs}, steps)
