"""The incremental action mode, the bounded reward terms and policies acting in every action mode."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym
from isac_gym import oracles
from isac_gym.envs.base import ACTION_STEP, CONFIG_PART, saturate
from isac_gym.physics import batching

IDS = sorted(isac_gym.ENVIRONMENTS)
#: Small sizes, so that oracles solve in a fraction of a second.
SMALL = {"ISAC-FIM-v0": {}, "ISAC-SIM-v0": {"n_rows": 4, "n_cols": 4, "n_layers": 2},
         "ISAC-RIS-SLP-v0": {}, "ISAC-RIS-SLP-DoA-v0": {}, "ISAC-MFRIS-v0": {"n_elements_x": 4, "n_elements_z": 2},
         "ISAC-ET-v0": {"n_tx_y": 4, "n_tx_z": 4, "n_rx_y": 4, "n_rx_z": 4}}


def test_saturate_is_zero_at_zero_linear_near_it_below_one_and_increasing():
    v = np.r_[0.0, 1e-9, 1e-3, 0.5, 1.0, 10.0, 1e3, 1e300]
    s = saturate(v)
    assert s[0] == 0.0 and np.all(np.diff(s) > 0) and np.all(s < 1.0)
    np.testing.assert_allclose(s[1:3], v[1:3], rtol=2e-3)
    # large violations stay apart (a v / (1 + v) map would put 10 and 1000 within 0.1 of each other)
    assert s[6] - s[5] > 0.1


@pytest.mark.parametrize("env_id", IDS)
def test_incremental_zero_action_stays_and_moves_follow_the_definition(env_id):
    env = gym.make(env_id, action_mode="incremental").unwrapped
    system = env.system
    _, info0 = env.reset(seed=3)
    start = env.encode(info0["config"])
    _, r, *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    np.testing.assert_allclose(env.encode(info["config"]), start, atol=1e-6)
    assert r == pytest.approx(sum(info0["reward_terms"].values()), abs=1e-9)
    rng = np.random.default_rng(0)
    names = [p.key for p in system.obs_layout]
    offset = sum(p.size for p in system.obs_layout[: names.index(CONFIG_PART)])
    for _ in range(5):
        before = system.encode(batching.stack([system.as_config(info["config"])]))[0]
        a = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, r, *_, info = env.step(a)
        # the direct encoding moves by action_step * a: phases wrap around, other entries stop at +-1
        target = before + ACTION_STEP * a.astype(float)
        target = np.where(system.periodic_entries(), (target + 1.0) % 2.0 - 1.0, np.clip(target, -1.0, 1.0))
        expected = env.evaluate(batching.take(system.decode(target[None], env.scenario, env.refs, env.config).config, 0))
        assert info["objective"] == pytest.approx(expected["objective"], rel=1e-9)
        # the observation carries the configuration the agent stands at
        after = env.encode(info["config"])
        np.testing.assert_allclose(obs[offset: offset + after.size], after, atol=1e-5)
        if system.periodic_entries().all():  # pure phase systems: every phase moves by at most action_step pi
            move = np.abs(after - before)
            assert np.minimum(move, 2.0 - move).max() <= ACTION_STEP + 1e-6


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
    env = gym.make(env_id, action_mode=mode, **SMALL[env_id])
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
