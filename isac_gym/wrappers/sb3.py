"""Stable-Baselines3 on the native vector envs: :class:`SB3VecEnv`.

``SB3VecEnv(gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point"))`` exposes an
isac-gym vector env as an SB3 ``VecEnv``: ``n`` sub-envs cost one batched call per step. It follows
SB3's conventions exactly (as ``DummyVecEnv`` does over scalar envs): a list of per-env info dicts,
``TimeLimit.truncated``, and sub-envs that finish are reset within the same step, their last
observation kept in ``info["terminal_observation"]``. Seeds set with ``seed(s)`` reset sub-env ``i``
with ``s + i``, so a run equals ``DummyVecEnv`` over scalar envs step for step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from ..envs.base import ISACVectorEnv


def _columns(value: Any, n: int) -> Any:
    """Each batched entry as a Python list over the ``n`` sub-envs: scalars become Python numbers (``tolist``),
    higher ranks row views, an entry shared by every sub-env (e.g. ``reward_mode``) is repeated; nested dicts
    recurse."""
    if isinstance(value, dict):
        return {k: _columns(v, n) for k, v in value.items()}
    arr = np.asarray(value)
    if arr.ndim == 0:
        return [value] * n
    return arr.tolist() if arr.ndim == 1 else list(arr)


def _row(columns: dict[str, Any], i: int) -> dict[str, Any]:
    return {k: _row(v, i) if isinstance(v, dict) else v[i] for k, v in columns.items()}


def info_rows(info: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A batched Gymnasium info dict as ``n`` per-env dicts (SB3's layout)."""
    columns = _columns(info, n)
    return [_row(columns, i) for i in range(n)]


class SB3VecEnv(VecEnv):
    """An isac-gym native vector env as a Stable-Baselines3 ``VecEnv`` (see the module docstring)."""

    def __init__(self, vector_env: Any):
        venv = getattr(vector_env, "unwrapped", vector_env)
        if not isinstance(venv, ISACVectorEnv):
            raise ValueError(f"vector_env must be an isac-gym native vector env (make_vec with "
                             f"vectorization_mode='vector_entry_point'), got {type(vector_env).__name__}")
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    @property
    def system(self):
        """The batched system behind the sub-envs."""
        return self.venv.system

    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        obs, info = self.venv.reset(seed=seeds)
        self.reset_infos = info_rows(info, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos = info_rows(info, self.num_envs)
        for i in range(self.num_envs):
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        if np.any(dones):
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = obs[i].copy()
            fresh, reset_info = self.venv.reset(options={"reset_mask": dones})
            obs = obs.copy()
            obs[dones] = fresh[dones]
            rows = info_rows(reset_info, self.num_envs)
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = rows[i]
        return obs, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def _indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            value = None
        else:
            value = getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError("the sub-envs of a native vector env share one object; set attributes on it directly")

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise AttributeError("the sub-envs of a native vector env have no methods of their own; call the vector env")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]
