"""The incremental action mode, the bounded reward terms and policies acting in every action mode."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym
from isac_gym import oracles
from isac_gym.envs.base import ACTION_STEP, CONFIG_PART, saturate
from isac_gym.physics import batching

IDS = list(isac_gym.ENVIRONMENTS)


def test_saturate_is_zero_at_zero_linear_near_it_below_one_and_increasing():
    v = np.r_[0.0, 1e-9, 1e-3, 0.5, 1.0, 10.0, 1e3, 1e300]
    s = saturate(v)
    assert s[0] == 0.0 and np.all(np.diff(s) > 0) and np.all(s < 1.0)
    np.testing.assert_allclose(s[1:3], v[1:3], rtol=2e-3)
    # large violations stay apart (a v / (1 + v) map would put 10 and 1000 within 0.1 of each other)
    assert s[6] - s[5] > 0.1


@pytest.mark.parametrize("env_id", IDS)
def test_incremental_zero_action_stays_and_moves_follow_the_definition(env_id):
    """The code (the direct encoding the agent stands at) starts at the initial configuration's encoding and moves by
    ``action_step * a`` each step, phases wrapping around and other entries stopping at +-1; the configuration is the
    direct decode of that code, and the observation holds the code."""
    env = gym.make(env_id, action_mode="incremental").unwrapped
    system = env.system
    obs, info0 = env.reset(seed=3)
    names = [p.key for p in system.obs_layout]
    offset = sum(p.size for p in system.obs_layout[: names.index(CONFIG_PART)])
    code = system.encode(batching.stack([system.as_config(info0["config"])]))[0]  # float64, as the env keeps it
    np.testing.assert_allclose(obs[offset: offset + code.size], code, atol=1e-6)
    _, r, *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    np.testing.assert_allclose(env.encode(info["config"]), code, atol=1e-6)
    assert r == pytest.approx(sum(info0["reward_terms"].values()), abs=1e-9)
    rng = np.random.default_rng(0)
    phases = system.periodic_entries()
    for _ in range(5):
        a = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, r, *_, info = env.step(a)
        code = code + ACTION_STEP * a.astype(float)
        code = np.where(phases, (code + 1.0) % 2.0 - 1.0, np.clip(code, -1.0, 1.0))
        np.testing.assert_allclose(obs[offset: offset + code.size], code, atol=1e-5)
        expected = env.evaluate(batching.take(system.decode(code[None], env.scenario, env.refs).config, 0))
        assert info["objective"] == pytest.approx(expected["objective"], rel=1e-9)
        assert r == pytest.approx(expected["reward"], rel=1e-9, abs=1e-12)


def test_fim_incremental_moves_smaller_than_a_level_accumulate():
    """Regression: the code was re-encoded from the rounded position levels every step, so a position entry below
    0.625 in magnitude never moved (0.6 held for 50 steps moved nothing). Held at 0.6, an element moves one level
    at a time and reaches the limit; held at -0.3, it moves down, more slowly."""
    env = gym.make("ISAC-FIM-v0", action_mode="incremental").unwrapped
    _, info = env.reset(seed=0)
    p = env.system.params
    n = p.n_tx + p.n_rx
    a = np.zeros(env.action_space.shape, np.float32)
    a[-n:] = 0.6
    a[-1] = -0.3
    levels = [np.concatenate([info["config"]["y_tx"], info["config"]["y_rx"]]) / p.step_m]
    for _ in range(50):
        *_, info = env.step(a)
        levels.append(np.concatenate([info["config"]["y_tx"], info["config"]["y_rx"]]) / p.step_m)
    levels = np.array(levels)
    assert np.abs(np.diff(levels, axis=0)).max() <= 1.0 + 1e-9  # at most one level a step
    np.testing.assert_allclose(levels[-1, :-1], p.max_level)  # 0.6 x 0.1 a step: the top in 14 steps
    # -0.3 x 0.1 a step is 0.24 of a level: the first move comes on the third step, the limit after 34
    assert levels[2, -1] == 0.0 and levels[3, -1] == -1.0 and levels[-1, -1] == -p.max_level


@pytest.mark.parametrize("env_id", IDS)
def test_clipped_actions_are_counted(env_id):
    env = gym.make(env_id, action_mode="direct")
    env.reset(seed=0)
    a = np.zeros(env.action_space.shape, np.float32)
    _, _, _, _, info = env.step(a)
    assert info["clipped_actions"] == 0.0
    a[: a.size // 2] = 3.0
    _, _, _, _, info = env.step(a)
    assert info["clipped_actions"] == pytest.approx((a.size // 2) / a.size)


@pytest.mark.parametrize("env_id", ["ISAC-SIM-v0", "ISAC-ET-v0", "ISAC-RIS-SLP-v0", "ISAC-FIM-v0"])
@pytest.mark.parametrize("mode", ["direct", "incremental"])
def test_oracle_acts_in_every_action_mode_and_reaches_its_solution(env_id, mode):
    """Regression: ``predict`` raised outside the direct mode. In the incremental mode the oracle walks to its
    configuration within 2 / action_step steps, then stays."""
    env = gym.make(env_id, action_mode=mode, **isac_gym.ENVIRONMENTS[env_id].small)
    obs, _ = env.reset(seed=1)
    policy = oracles.make(env, "oracle", seed=0)
    sol = policy.solve(env.unwrapped.current_scenario)
    for _ in range(int(np.ceil(2.0 / ACTION_STEP)) + 2):
        action, _ = policy.predict(obs)
        assert env.action_space.contains(action)
        obs, reward, *_, info = env.step(action)
    assert info["objective"] == pytest.approx(sol.objective, rel=1e-5)
    assert info["feasible"] == sol.feasible


def test_fim_oracle_acts_in_the_paper_mode():
    """The paper's structured action cannot express every beamformer: the oracle moves the shapes to its own and
    fits the structure's beams; the result is better than the flat zero-action start."""
    env = gym.make("ISAC-FIM-v0", action_mode="paper")
    obs, info0 = env.reset(seed=0)
    policy = oracles.make(env, "oracle")
    sol = policy.solve(env.unwrapped.current_scenario)
    for _ in range(20):
        obs, _, *_, info = env.step(policy.predict(obs)[0])
    levels = np.concatenate([info["config"]["y_tx"], info["config"]["y_rx"]])
    goal = np.concatenate([sol.config.y_tx, sol.config.y_rx])
    np.testing.assert_allclose(levels, goal, atol=1e-12)
    assert info["crb"] < info0["crb"]


@pytest.mark.parametrize("env_id", IDS)
def test_zero_action_of_the_default_mode_is_a_sensible_start(env_id):
    """Regression: the zero action gave zero beams (ET: the coverage cap, reward -5e5; MF-RIS: every user in
    outage). Now it is a neutral configuration: at least as good as the mean of uniformly random actions."""
    env = gym.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    random = [env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[1] for _ in range(20)]
    _, zero, *_ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert zero >= np.mean(random) - 0.05
