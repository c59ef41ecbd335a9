"""isac-gym: Gymnasium environments for integrated sensing and communication with metasurfaces.

Importing the package registers every environment id (``gym.make("ISAC-FIM-v0")``); the
``isac_gym:`` prefix (``gym.make("isac_gym:ISAC-FIM-v0")``) imports it on demand.
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

#: Registered ids -> (entry point, vector entry point, max_episode_steps, default kwargs).
ENVIRONMENTS = {
    "ISAC-FIM-v0": ("isac_gym.envs.fim:FIMEnv", "isac_gym.envs.fim:FIMVectorEnv", 200, {}),
    "ISAC-SIM-v0": ("isac_gym.envs.sim:SIMEnv", "isac_gym.envs.sim:SIMVectorEnv", 100, {}),
    "ISAC-MFRIS-v0": ("isac_gym.envs.mfris:MFRISEnv", "isac_gym.envs.mfris:MFRISVectorEnv", 100, {}),
    "ISAC-RIS-SLP-v0": ("isac_gym.envs.ris_slp:RISSLPEnv", "isac_gym.envs.ris_slp:RISSLPVectorEnv", 100,
                        {"task": "detection"}),
    "ISAC-RIS-SLP-DoA-v0": ("isac_gym.envs.ris_slp:RISSLPEnv", "isac_gym.envs.ris_slp:RISSLPVectorEnv", 100,
                            {"task": "doa", "p_max_dbm": 40.0}),
    "ISAC-ET-v0": ("isac_gym.envs.extended_target:ETEnv", "isac_gym.envs.extended_target:ETVectorEnv", 100, {}),
}

for _env_id, (_entry, _vector_entry, _steps, _kwargs) in ENVIRONMENTS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry, vector_entry_point=_vector_entry, max_episode_steps=_steps,
                 kwargs=_kwargs)
