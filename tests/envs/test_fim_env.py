"""ISAC-FIM-v0: API contract, determinism, vector == scalar, encoding, bad input, no NaN."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym.physics import fim

MODES = ["paper", "direct"]


def test_spaces_and_dimensions():
    p = fim.FIMParams()
    k, nt, nr = p.n_users, p.n_tx, p.n_rx
    env = gym.make("ISAC-FIM-v0")
    assert env.action_space.shape == (2 + 2 * k + nt + nr,)
    assert env.spec.max_episode_steps == 200
    direct = gym.make("ISAC-FIM-v0", action_mode="direct")
    assert direct.action_space.shape == (1 + 2 * nt * (k + nr) + nt + nr,)
    for e in (env, direct):
        assert e.action_space.dtype == np.float32
        assert np.all(e.action_space.low == -1) and np.all(e.action_space.high == 1)


def test_prefixed_make_works_without_import():
    code = "import gymnasium as gym; e = gym.make('isac_gym:ISAC-FIM-v0'); e.reset(seed=0); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_info_contract_and_reward_terms():
    env = gym.make("ISAC-FIM-v0")
    _, info = env.reset(seed=3)
    for key in ("objective", "crb", "sinr", "rate", "power", "violation", "feasible", "reward_terms", "config"):
        assert key in info
    _, reward, term, trunc, info = env.step(env.action_space.sample())
    assert not term and not trunc
    assert sum(info["reward_terms"].values()) == pytest.approx(reward, rel=1e-12, abs=1e-12)
    assert set(info["violation"]) == {"power", "qos", "position"}
    assert info["feasible"] == all(v <= 1e-6 for v in info["violation"].values())
    cfg = info["config"]
    again = env.unwrapped.evaluate(cfg)
    assert again["crb"] == pytest.approx(info["crb"], rel=1e-12)
    assert np.allclose(again["sinr"], info["sinr"], rtol=1e-12)


def test_paper_mode_meets_power_budget_exactly():
    env = gym.make("ISAC-FIM-v0")
    env.reset(seed=0)
    p_max = env.unwrapped.system.params.p_max_w
    for _ in range(20):
        *_, info = env.step(env.action_space.sample())
        assert info["power"] == pytest.approx(p_max, rel=1e-12)
        assert info["violation"]["power"] == 0.0


def test_paper_mode_moves_and_clips_positions():
    env = gym.make("ISAC-FIM-v0")
    env.reset(seed=0)
    n = env.unwrapped.system.n_elements
    step = env.unwrapped.system.params.step_m
    a = np.zeros(env.action_space.shape, np.float32)
    a[-n:] = 1.0
    for i in range(8):
        *_, info = env.step(a)
        assert np.allclose(info["config"]["y_tx"], (i + 1) * step)
        assert info["violation"]["position"] == 0.0
    *_, info = env.step(a)  # ninth move up is past y_max: clipped, every element counted in the penalty
    assert np.allclose(info["config"]["y_rx"], 8 * step)
    assert info["clipped_moves"] == pytest.approx(1.0)
    # every move clipped: the penalty's saturated value at 1, log(2) / (1 + log(2)) of the weight
    assert info["reward_terms"]["position"] == pytest.approx(
        -env.unwrapped.system.weights["position"] * np.log(2) / (1 + np.log(2)))
    # ... but the clipped configuration is legal: feasibility judges the configuration, not the action
    assert info["violation"]["position"] == 0.0
    assert np.allclose(info["config"]["y_rx_requested"], 9 * step)
    a[-n:] = 0.2  # inside the dead zone: no move
    *_, info = env.step(a)
    assert info["clipped_moves"] == 0.0 and np.allclose(info["config"]["y_tx"], 8 * step)
    assert info["reward_terms"]["position"] == 0.0


def test_fixed_scenario_repeats_and_random_differs():
    fixed = gym.make("ISAC-FIM-v0", scenario="fixed", scenario_seed=4)
    o1, _ = fixed.reset(seed=1)
    o2, _ = fixed.reset(seed=2)
    assert np.array_equal(o1, o2)
    rand = gym.make("ISAC-FIM-v0")
    r1, _ = rand.reset(seed=1)
    r2, _ = rand.reset(seed=2)
    assert not np.array_equal(r1, r2)


def test_crb_halves_when_power_doubles_under_same_direct_action():
    base = gym.make("ISAC-FIM-v0", action_mode="direct", p_max_dbm=20.0)
    double = gym.make("ISAC-FIM-v0", action_mode="direct", p_max_dbm=20.0 + 10 * np.log10(2.0))
    base.reset(seed=5)
    double.reset(seed=5)
    a = np.random.default_rng(0).uniform(-1, 1, base.action_space.shape).astype(np.float32)
    *_, i1 = base.step(a)
    *_, i2 = double.step(a)
    assert i2["power"] == pytest.approx(2 * i1["power"], rel=1e-9)
    assert i2["crb"] == pytest.approx(i1["crb"] / 2, rel=1e-9)


def test_encode_inverts_direct_mode():
    env = gym.make("ISAC-FIM-v0", action_mode="direct")
    env.reset(seed=2)
    paper = gym.make("ISAC-FIM-v0")
    paper.reset(seed=2)
    for _ in range(3):
        *_, info = paper.step(paper.action_space.sample())
    cfg = info["config"]
    *_, got = env.step(env.unwrapped.encode(cfg))
    assert np.allclose(got["config"]["beams"], cfg["beams"], rtol=1e-5, atol=1e-6 * np.abs(cfg["beams"]).max())
    assert np.allclose(got["config"]["y_tx"], cfg["y_tx"]) and np.allclose(got["config"]["y_rx"], cfg["y_rx"])
    assert got["crb"] == pytest.approx(info["crb"], rel=1e-4)


def test_direct_mode_zero_power_is_finite_and_flagged():
    env = gym.make("ISAC-FIM-v0", action_mode="direct")
    env.reset(seed=0)
    a = np.zeros(env.action_space.shape, np.float32)
    a[0] = -1.0
    obs, r, *_, info = env.step(a)
    assert np.all(np.isfinite(obs)) and np.isfinite(r)
    assert info["power"] == 0 and not info["feasible"]
    assert info["violation"]["qos"] == pytest.approx(env.unwrapped.system.params.n_users)


def test_nan_action_raises_and_out_of_range_is_clipped():
    env = gym.make("ISAC-FIM-v0").unwrapped
    env.reset(seed=0)
    a = np.zeros(env.action_space.shape, np.float32)
    a[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        env.step(a)
    big = np.full(env.action_space.shape, 5.0, np.float32)
    one = np.ones(env.action_space.shape, np.float32)
    e1, e2 = gym.make("ISAC-FIM-v0").unwrapped, gym.make("ISAC-FIM-v0").unwrapped
    e1.reset(seed=0)
    e2.reset(seed=0)
    assert np.array_equal(e1.step(big)[0][:20], e2.step(one)[0][:20])


def test_out_of_limit_configuration_is_a_position_violation():
    env = gym.make("ISAC-FIM-v0")
    _, info = env.reset(seed=0)
    cfg = dict(info["config"])
    cfg["y_tx"] = cfg["y_tx"].copy()
    cfg["y_tx"][0] = 2.0 * env.unwrapped.system.params.y_max_wl * env.unwrapped.system.params.wavelength
    got = env.unwrapped.evaluate(cfg)
    assert got["violation"]["position"] == pytest.approx(1 / env.unwrapped.system.n_elements)
    assert not got["feasible"]
