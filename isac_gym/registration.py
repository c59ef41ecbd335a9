"""Where the ids come from: each env module declares its own (``REGISTRATIONS``), and :func:`discover` collects them.

A system's env module is the one place that names its ids. Everything that lists the ids (the Gymnasium registry,
``isac_gym.ENVIRONMENTS``, the Hydra schemas, ISAC-Bench's tables, the benchmarks, the tests) iterates
:data:`isac_gym.ENVIRONMENTS`, so a new id is one :class:`Registration` in its env module, and a new system one
module in ``isac_gym/envs/`` (docs/conventions.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Registration:
    """One registered id, as its env module declares it.

    ``kwargs``: the keyword arguments the id fixes (``gym.make`` passes them before the caller's);
    ``config_name``: its Hydra env config, ``conf/env/<config_name>.yaml`` (``python train.py env=<config_name>``);
    ``small``: keyword arguments of a small instance of the id, on which every oracle and baseline solves within a
    few seconds (the tests and quick examples use it); ``learning_steps``: the TD3 budget of the learnability
    benchmark (``python -m benchmarks learn``) on this id.
    """

    env_id: str
    env_class: type
    vector_class: type
    max_episode_steps: int
    config_name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    small: Mapping[str, Any] = field(default_factory=dict)
    learning_steps: int = 8000

    @property
    def system_class(self) -> type:
        """The :class:`~isac_gym.envs.base.System` behind the id."""
        return self.env_class.system_class

    @property
    def cost_limit(self) -> float:
        """The suggested per-episode limit of each constraint's cost (Safety-Gymnasium's unit: the cost summed over
        an episode of ``max_episode_steps``): :data:`~isac_gym.envs.base.COST_LIMIT_PER_STEP` per step."""
        from .envs.base import COST_LIMIT_PER_STEP

        return COST_LIMIT_PER_STEP * self.max_episode_steps


def discover() -> dict[str, Registration]:
    """Every id declared by a module of :mod:`isac_gym.envs` (its ``REGISTRATIONS``), sorted by id. Two modules
    declaring one id is an error, not a silent override."""
    from . import envs

    found: dict[str, Registration] = {}
    for module in pkgutil.iter_modules(envs.__path__):
        for reg in getattr(importlib.import_module(f"{envs.__name__}.{module.name}"), "REGISTRATIONS", ()):
            if reg.env_id in found:
                raise ValueError(f"{reg.env_id} is declared twice ({module.name} and an earlier module)")
            found[reg.env_id] = reg
    return dict(sorted(found.items()))
