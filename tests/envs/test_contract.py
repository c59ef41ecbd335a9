"""The conventions every registered id follows (spec README): checkers, seeding, vector == scalar, no NaN."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import isac_gym

CASES = [("ISAC-FIM-v0", {"action_mode": "paper"}), ("ISAC-FIM-v0", {"action_mode": "direct"}),
         ("ISAC-RIS-SLP-v0", {}), ("ISAC-RIS-SLP-DoA-v0", {})]
IDS = [f"{i}-{k.get('action_mode', 'direct')}" for i, k in CASES]


def test_every_id_is_covered():
    assert {c[0] for c in CASES} == set(isac_gym.ENVIRONMENTS)


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_checkers_pass_without_warnings(env_id, kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(gym.make(env_id, **kwargs).unwrapped)
        sb3_check_env(gym.make(env_id, **kwargs))
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_info_contract(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    _, info = env.reset(seed=3)
    _, reward, term, trunc, info = env.step(env.action_space.sample())
    for key in ("objective", "sinr", "rate", "power", "violation", "feasible", "reward_terms", "config"):
        assert key in info, key
    assert not term and not trunc
    assert sum(info["reward_terms"].values()) == pytest.approx(reward, rel=1e-12, abs=1e-12)
    assert info["feasible"] == all(v <= 1e-6 for v in info["violation"].values())
    again = env.unwrapped.evaluate(_config(env, info))
    assert again["objective"] == pytest.approx(info["objective"], rel=1e-10)
    assert again["reward"] == pytest.approx(reward, rel=1e-10, abs=1e-12)


def _config(env, info):
    cls = type(env.unwrapped.config)
    return cls(**{k: np.asarray(v) for k, v in info["config"].items()})


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_same_seed_same_rollout(env_id, kwargs):
    def rollout():
        env = gym.make(env_id, **kwargs)
        out = [env.reset(seed=11)[0]]
        rng = np.random.default_rng(0)
        for _ in range(4):
            obs, r, *_, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            out += [obs, np.array([r, info["objective"]])]
        return out

    for a, b in zip(rollout(), rollout(), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_vector_env_equals_scalar_envs(env_id, kwargs):
    n, seed, horizon = 3, 7, 3
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=horizon,
                       **kwargs)
    assert isinstance(vec, isac_gym.envs.base.ISACVectorEnv)
    singles = [gym.make(env_id, max_episode_steps=horizon, **kwargs) for _ in range(n)]
    vobs, _ = vec.reset(seed=seed)
    assert np.allclose(vobs, np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)]),
                       rtol=1e-6, atol=1e-6)
    rng = np.random.default_rng(1)
    pending = [False] * n
    for _ in range(2 * horizon + 2):  # crosses truncation and the next-step autoreset
        acts = rng.uniform(-1, 1, (n, vec.single_action_space.shape[0])).astype(np.float32)
        vobs, vrew, vterm, vtrunc, vinfo = vec.step(acts)
        for i, e in enumerate(singles):
            if pending[i]:
                pending[i] = False
                assert vrew[i] == 0.0 and not vtrunc[i]
                assert np.allclose(vobs[i], e.reset()[0], rtol=1e-6, atol=1e-6)
                continue
            o, r, term, trunc, info = e.step(acts[i])
            assert np.allclose(vobs[i], o, rtol=1e-6, atol=1e-6)
            assert vrew[i] == pytest.approx(r, rel=1e-9, abs=1e-12)
            assert vinfo["objective"][i] == pytest.approx(info["objective"], rel=1e-9)
            assert np.allclose(vinfo["sinr"][i], info["sinr"], rtol=1e-9, atol=1e-300)
            assert vtrunc[i] == trunc and vterm[i] == term
            pending[i] = trunc


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_nan_action_raises(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    env.reset(seed=0)
    a = np.zeros(env.action_space.shape, np.float32)
    a[-1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        env.step(a)


@pytest.mark.parametrize("env_id", sorted(isac_gym.ENVIRONMENTS))
def test_unknown_kwarg_is_named(env_id):
    with pytest.raises(ValueError, match="bogus"):
        gym.make(env_id, bogus=1)


_ENVS = {}


def _env(case):
    if case not in _ENVS:
        env_id, kwargs = CASES[case]
        _ENVS[case] = gym.make(env_id, **kwargs).unwrapped
        _ENVS[case].reset(seed=0)
    return _ENVS[case]


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_random_and_corner_actions_never_give_nan(case, data):
    env = _env(case)
    dim = env.action_space.shape[0]
    if data.draw(st.booleans()):
        a = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=dim, max_size=dim)), np.float32)
    else:
        a = np.array(data.draw(st.lists(st.floats(-1, 1, width=32), min_size=dim, max_size=dim)), np.float32)
    obs, r, *_, info = env.step(a)
    assert np.all(np.isfinite(obs)) and np.isfinite(r)
    assert env.observation_space.contains(obs)
    for key in ("objective", "score", "power"):
        assert np.isfinite(info[key])
    assert np.all(np.isfinite(info["sinr"])) and np.all(np.isfinite(info["rate"]))
    assert all(np.isfinite(v) for v in info["reward_terms"].values())
