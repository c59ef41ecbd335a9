"""isac-gym: Gymnasium environments for integrated sensing and communication with metasurfaces.

Importing the package registers every environment id (``gym.make("ISAC-FIM-v0")``); the
``isac_gym:`` prefix (``gym.make("isac_gym:ISAC-FIM-v0")``) imports it on demand. Each id is declared once, in its
env module (:class:`~isac_gym.registration.Registration`); :data:`ENVIRONMENTS` collects them.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from .registration import Registration, discover

__version__ = "0.1.0"

#: Registered ids -> their :class:`~isac_gym.registration.Registration`, sorted by id.
ENVIRONMENTS: dict[str, Registration] = discover()

for _reg in ENVIRONMENTS.values():
    if _reg.env_id not in registry:
        register(id=_reg.env_id, entry_point=_reg.env_class, vector_entry_point=_reg.vector_class,
                 max_episode_steps=_reg.max_episode_steps, kwargs=dict(_reg.kwargs))
