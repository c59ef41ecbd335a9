"""The conventions every registered id follows (docs/conventions.md): checkers, seeding, vector == scalar, no NaN."""

import dataclasses
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import isac_gym


def _cases() -> list[tuple[str, dict]]:
    """Every registered id at its defaults, then with each other value of each of its choice arguments (action
    modes, problems, protocols, surfaces, shapes, tasks): a new id or a new choice is covered without a word here."""
    out = []
    for env_id, reg in isac_gym.ENVIRONMENTS.items():
        out.append((env_id, {}))
        system_class = reg.system_class
        for cls in (system_class.params_class, system_class.options_class):
            for f in dataclasses.fields(cls):
                if f.metadata.get("kind") != "choice":
                    continue
                default = reg.kwargs.get(f.name, f.default)
                out += [(env_id, {f.name: c}) for c in f.metadata["choices"] if c != default]
    return out


CASES = _cases()
IDS = [env_id + "".join(f"-{v}" for v in kwargs.values()) for env_id, kwargs in CASES]
#: FIM in each action mode: paper (the structured default), direct and incremental.
FIM = [i for i, (env_id, _) in enumerate(CASES) if env_id == "ISAC-FIM-v0"]


def test_every_id_and_every_choice_is_covered():
    assert {c[0] for c in CASES} == set(isac_gym.ENVIRONMENTS)
    assert ("ISAC-FIM-v0", {"action_mode": "direct"}) in CASES and ("ISAC-ET-v0", {"problem": "wim"}) in CASES
    assert ("ISAC-MFRIS-v0", {"protocol": "TS"}) in CASES and ("ISAC-SIM-v0", {"problem": "weighted"}) in CASES


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
    again = env.unwrapped.evaluate(info["config"])  # the dict of info, as it is
    assert again["objective"] == info["objective"] and again["reward"] == reward


def _small(env_id: str, **kwargs) -> dict:
    return {**isac_gym.ENVIRONMENTS[env_id].small, **kwargs}


def _assert_reproduces(env, info, reward):
    """``evaluate(info["config"])`` gives the step's metrics, violations, reward terms and reward exactly."""
    again = env.unwrapped.evaluate(info["config"])
    assert again["reward"] == reward
    for key in info:
        if key in ("config", "clipped_actions", "layer"):  # these describe the action and its mapping
            continue
        a, b = info[key], again[key]
        if isinstance(a, dict):
            assert a == b, key
        else:
            assert np.array_equal(a, b), key


def _reproduction_actions(env):
    dim = env.action_space.shape[0]
    rng = np.random.default_rng(5)
    acts = [rng.uniform(-1, 1, dim) for _ in range(4)] + [np.ones(dim), -np.ones(dim), np.zeros(dim)]
    return [a.astype(np.float32) for a in acts]


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_evaluate_of_info_config_reproduces_the_step(env_id, kwargs):
    """Regression: evaluate() refused info's dict and disagreed with step() on clipped FIM moves."""
    env = gym.make(env_id, **kwargs)
    env.reset(seed=4)
    for a in _reproduction_actions(env) * 2:  # twice: paper-mode moves accumulate past the limits
        *_, reward, _, _, info = env.step(a)
        _assert_reproduces(env, info, reward)


@pytest.mark.parametrize("env_id, kwargs, policy", [
    ("ISAC-FIM-v0", {"action_mode": "direct"}, "rigid"),
    ("ISAC-RIS-SLP-v0", _small("ISAC-RIS-SLP-v0"), "oracle"),
    ("ISAC-RIS-SLP-DoA-v0", _small("ISAC-RIS-SLP-DoA-v0"), "oracle"),
    ("ISAC-SIM-v0", _small("ISAC-SIM-v0"), "oracle"),
    ("ISAC-MFRIS-v0", _small("ISAC-MFRIS-v0"), "oracle"),
    ("ISAC-MFRIS-v0", _small("ISAC-MFRIS-v0", protocol="MS"), "oracle"),
    ("ISAC-ET-v0", _small("ISAC-ET-v0"), "oracle"),
    ("ISAC-ET-v0", _small("ISAC-ET-v0", problem="wim"), "oracle"),
], ids=["fim-rigid", "ris-slp-oracle", "doa-oracle", "sim-oracle", "mfris-oracle", "mfris-ms-oracle", "et-sdr",
        "et-sca"])
def test_evaluate_reproduces_oracle_actions(env_id, kwargs, policy):
    from isac_gym import oracles

    env = gym.make(env_id, **kwargs)
    obs, _ = env.reset(seed=1)
    action, _ = oracles.make(env, policy).predict(obs)
    _, reward, _, _, info = env.step(action)
    _assert_reproduces(env, info, reward)


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


@pytest.mark.parametrize("case", range(len(CASES)), ids=IDS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_and_corner_actions_never_give_nan(case, data):
    env_id, kwargs = CASES[case]
    env = gym.make(env_id, **kwargs).unwrapped  # a fresh env per example, so a failure replays
    env.reset(seed=data.draw(st.integers(0, 2**16)))
    dim = env.action_space.shape[0]
    kind = data.draw(st.sampled_from(["corner", "uniform", "tiny"]))
    if kind == "corner":
        a = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=dim, max_size=dim)), np.float32)
    elif kind == "tiny":
        a = np.array(data.draw(st.lists(st.sampled_from([0.0, 1e-38, -1e-45, 1e-7]), min_size=dim, max_size=dim)),
                     np.float32)
    else:
        a = np.array(data.draw(st.lists(st.floats(-1, 1, width=32), min_size=dim, max_size=dim)), np.float32)
    obs, r, *_, info = env.step(a)
    assert np.all(np.isfinite(obs)) and np.isfinite(r)
    assert r >= env.system.reward_floor - 1e-9  # every violation term is saturated, the score floored
    assert env.observation_space.contains(obs)
    for key, value in _numbers(info):  # every metric, violation, reward term and configuration entry
        assert np.all(np.isfinite(value)), key
    _assert_reproduces(env, info, r)


def _numbers(info, prefix=""):
    """``(key, array)`` of every numeric entry of an info dict, nested dicts included."""
    for key, value in info.items():
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{key}.")
        elif np.asarray(value).dtype.kind in "fciub":
            yield prefix + key, np.asarray(value)


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_action_shape_must_match_exactly(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(env.action_space.sample()[None, :])


def test_vector_reset_takes_a_list_of_seeds():
    """Regression: a list of seeds (Gymnasium's VectorEnv.reset API) raised."""
    vec = gym.make_vec("ISAC-FIM-v0", num_envs=3, vectorization_mode="vector_entry_point")
    obs, _ = vec.reset(seed=[1, 2, 3])
    singles = [gym.make("ISAC-FIM-v0").reset(seed=s)[0] for s in (1, 2, 3)]
    assert np.allclose(obs, np.stack(singles), atol=1e-6)


@pytest.mark.parametrize("env_id, kwargs", [CASES[i] for i in FIM[1:]], ids=[IDS[i] for i in FIM[1:]])
def test_partial_autoreset_matches_scalar_envs(env_id, kwargs):
    """Sub-envs ending at different steps (a partial reset through reset_mask) against scalar envs."""
    n = 3
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=4, **kwargs)
    singles = [gym.make(env_id, max_episode_steps=4, **kwargs) for _ in range(n)]
    vobs, _ = vec.reset(seed=20)
    for i, e in enumerate(singles):
        e.reset(seed=20 + i)
    rng = np.random.default_rng(0)
    pending = [False] * n
    for t in range(9):
        if t == 2:  # sub-env 1 restarts early, with a seed of its own
            mask = np.array([False, True, False])
            vobs, _ = vec.reset(seed=[None, 77, None], options={"reset_mask": mask})
            assert np.allclose(vobs[1], singles[1].reset(seed=77)[0], atol=1e-6)
            pending[1] = False
        acts = rng.uniform(-1, 1, (n, vec.single_action_space.shape[0])).astype(np.float32)
        vobs, vrew, _, vtrunc, _ = vec.step(acts)
        for i, e in enumerate(singles):
            if pending[i]:
                pending[i] = False
                assert np.allclose(vobs[i], e.reset()[0], atol=1e-6) and vrew[i] == 0.0
                continue
            o, r, _, trunc, _ = e.step(acts[i])
            assert np.allclose(vobs[i], o, atol=1e-6) and vrew[i] == pytest.approx(r, rel=1e-9, abs=1e-12)
            assert vtrunc[i] == trunc
            pending[i] = trunc


@pytest.mark.parametrize("env_id, kwargs", [CASES[i] for i in FIM], ids=[IDS[i] for i in FIM])
def test_info_config_is_a_read_only_record_that_resets_do_not_change(env_id, kwargs):
    """``info["config"]`` holds read-only views; a later step, a partial reset or an autoreset leaves it as it was."""
    n = 3
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=2, **kwargs)
    vec.reset(seed=3)
    rng = np.random.default_rng(0)
    _, _, _, _, info = vec.step(rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32))
    kept = {k: v.copy() for k, v in info["config"].items()}
    vec.reset(options={"reset_mask": np.array([True, False, True])})
    for _ in range(3):  # crosses the truncation and the next-step autoreset
        vec.step(rng.uniform(-1, 1, vec.action_space.shape).astype(np.float32))
    for k, v in info["config"].items():
        assert np.array_equal(v, kept[k]), k
        with pytest.raises(ValueError, match="read-only"):
            v[...] = 0
    single = gym.make(env_id, **kwargs)
    _, info = single.reset(seed=3)
    first = next(iter(info["config"].values()))
    with pytest.raises(ValueError, match="read-only"):
        first[...] = 0
    assert single.unwrapped.evaluate({k: v.copy() for k, v in info["config"].items()})["objective"] == info["objective"]


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=IDS)
def test_rgb_array_rendering(env_id, kwargs):
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    assert env.metadata["render_modes"] == ["rgb_array"] and env.metadata["render_fps"] > 0
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[1] > frame.shape[0]
    assert frame.std() > 0


@pytest.mark.parametrize("env_id", sorted(isac_gym.ENVIRONMENTS))
def test_docstring_tables_follow_the_declared_layout_and_defaults(env_id):
    env = gym.make(env_id)
    doc = type(env.unwrapped).__doc__
    system = env.unwrapped.system
    start = 0
    for part in system.obs_layout:
        num = f"{start}" if part.size == 1 else f"{start}-{start + part.size - 1}"
        assert any(line.split()[:1] == [num] and part.label in line for line in doc.splitlines()), part.label
        start += part.size
    assert start == env.observation_space.shape[0]
    for name, default, _ in type(system).argument_docs():
        assert f"``{name}`` ({default!r})" in doc, name


CONF = Path(__file__).resolve().parents[2] / "conf"


def test_every_id_has_its_hydra_env_config():
    assert {reg.config_name for reg in isac_gym.ENVIRONMENTS.values()} <= {p.stem for p in (CONF / "env").glob("*.yaml")}


@pytest.mark.parametrize("yaml_name", sorted(p.stem for p in (CONF / "env").glob("*.yaml")))
def test_hydra_env_configs_agree_with_the_dataclasses(yaml_name):
    """Every default of conf/env/*.yaml equals the parameter/option dataclass (plus the id's registered kwargs), but
    for what a preset (fim_paper) sets itself: it is made with exactly those."""
    import yaml
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from agents.config import register

    register()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("config", overrides=[f"env={yaml_name}"]).env, resolve=True)
    own = yaml.safe_load((CONF / "env" / f"{yaml_name}.yaml").read_text())
    env = gym.make(cfg["id"], **own.get("kwargs", {}))
    system = env.unwrapped.system
    assert cfg["max_episode_steps"] == own.get("max_episode_steps", env.spec.max_episode_steps)
    for obj in (system.params, system.options):
        for f in dataclasses.fields(obj):
            value = cfg["kwargs"][f.name]
            assert (tuple(value) if isinstance(value, list) else value) == getattr(obj, f.name), f.name
    assert set(cfg["kwargs"]) == {f.name for o in (system.params, system.options) for f in dataclasses.fields(o)} | {
        "scenario", "scenario_seed"}


@pytest.mark.parametrize("env_id", sorted(isac_gym.ENVIRONMENTS))
def test_physics_parameters_validate_themselves(env_id):
    system = gym.make(env_id).unwrapped.system
    for f in dataclasses.fields(system.params):
        kind = f.metadata.get("kind")
        low = f.metadata.get("low")
        bad = {"int": 0 if low is None else int(low) - 1, "positive": -1.0, "finite": float("nan"),
               "pair": (3.0, 1.0)}.get(kind)
        if bad is None:
            continue
        with pytest.raises(ValueError, match=f.name):
            dataclasses.replace(system.params, **{f.name: bad})


@pytest.mark.parametrize("env_id", sorted(isac_gym.ENVIRONMENTS))
def test_evaluate_refuses_a_malformed_config(env_id):
    env = gym.make(env_id)
    _, info = env.reset(seed=0)
    first = next(iter(info["config"]))
    missing = {k: v for k, v in info["config"].items() if k != first}
    with pytest.raises(ValueError, match="config is missing"):
        env.unwrapped.evaluate(missing)
    with pytest.raises(ValueError, match="unknown field"):
        env.unwrapped.evaluate({**info["config"], "bogus": 1})
