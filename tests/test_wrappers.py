"""SB3VecEnv equals SB3's DummyVecEnv over scalar envs step for step, across episode ends."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

import isac_gym  # noqa: F401
from isac_gym.wrappers import SB3VecEnv


@pytest.mark.parametrize("env_id, kwargs", [("ISAC-FIM-v0", {}), ("ISAC-FIM-v0", {"action_mode": "direct"}),
                                            ("ISAC-RIS-SLP-v0", {}), ("ISAC-RIS-SLP-DoA-v0", {"n_elements": 16}),
                                            ("ISAC-MFRIS-v0", {"protocol": "TS"}), ("ISAC-ET-v0", {})])
def test_sb3_vec_env_equals_dummy_vec_env(env_id, kwargs):
    n, horizon = 3, 3
    native = SB3VecEnv(gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point",
                                    max_episode_steps=horizon, **kwargs))
    dummy = DummyVecEnv([lambda: gym.make(env_id, max_episode_steps=horizon, **kwargs) for _ in range(n)])
    native.seed(9)
    dummy.seed(9)
    assert np.allclose(native.reset(), dummy.reset(), atol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(2 * horizon + 1):
        acts = rng.uniform(-1, 1, (n,) + native.action_space.shape).astype(np.float32)
        o1, r1, d1, i1 = native.step(acts)
        o2, r2, d2, i2 = dummy.step(acts)
        assert np.allclose(o1, o2, atol=1e-6) and np.allclose(r1, r2, rtol=1e-6) and np.array_equal(d1, d2)
        for a, b in zip(i1, i2, strict=True):
            assert a["TimeLimit.truncated"] == b["TimeLimit.truncated"]
            assert a["objective"] == pytest.approx(b["objective"], rel=1e-9)
            assert set(b) <= set(a) and a["violation"].keys() == b["violation"].keys()
            assert type(a["feasible"]) is type(b["feasible"]) is bool and a["feasible"] == b["feasible"]
            assert isinstance(a["objective_score"], float) and np.allclose(a["sinr"], b["sinr"], rtol=1e-9)
            assert ("terminal_observation" in a) == ("terminal_observation" in b)
            if "terminal_observation" in a:
                assert np.allclose(a["terminal_observation"], b["terminal_observation"], atol=1e-6)


def test_sb3_vec_env_refuses_other_envs():
    with pytest.raises(ValueError, match="vector_env"):
        SB3VecEnv(gym.make_vec("ISAC-FIM-v0", num_envs=2, vectorization_mode="sync"))
