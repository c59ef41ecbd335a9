"""ISAC-ET-v0's adapter: the action mapping, the reward terms of both objectives, the observation and rendering."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym.physics import extended_target as et
from tests.envs import saturated


def test_encode_inverts_decode_and_the_budget_holds():
    env = gym.make("ISAC-ET-v0", action_mode="direct")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    p = env.unwrapped.system.params
    for _ in range(5):
        a = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        *_, info = env.step(a)
        beams = info["config"]["beams"]
        assert np.sum(np.abs(beams) ** 2) <= p.p_max_w * (1 + 1e-9)
        again = env.unwrapped.evaluate({"beams": beams})
        back = env.unwrapped.encode({"beams": beams})
        *_, info2 = env.step(back)
        assert np.allclose(info2["config"]["beams"], beams, atol=1e-6 * np.abs(beams).max())
        assert again["objective"] == info["objective"]


def test_crb_reward_terms_follow_the_documented_formula():
    env = gym.make("ISAC-ET-v0", w_qos=0.7, w_cov=0.3, action_mode="direct")
    _, info0 = env.reset(seed=1)
    assert abs(info0["objective_score"]) < 0.05  # the start (isotropic beam energy) scores about 0
    p = env.unwrapped.system.params
    *_, reward, _, _, info = env.step(env.action_space.sample())
    qos = np.maximum(0, 1 - np.asarray(info["sinr"]) / p.sinr_min).sum()
    cov = max(0.0, info["coverage_ratio"] / p.coverage_eps - 1)
    assert info["violation"]["qos"] == pytest.approx(qos) and info["violation"]["coverage"] == pytest.approx(cov)
    assert reward == pytest.approx(info["crb_score"] - 0.7 * saturated(qos) - 0.3 * saturated(cov))
    # each parameter scored on its own: 0 at isotropic transmission, 1 at 15 dB below it, floored at -1
    worst = env.unwrapped.current_references.crb_worst
    crb = np.array([info[f"crb_{n}"] for n in ("range", "azimuth", "elevation", "orientation")])
    per = np.maximum(np.log10(worst / crb) / 1.5, -1.0)
    assert info["crb_score"] == pytest.approx(per.mean())
    assert info["objective"] == info["crb_trace"] == pytest.approx(
        info["crb_range"] + info["crb_azimuth"] + info["crb_elevation"] + info["crb_orientation"])


def test_wim_reward_terms_and_objective():
    env = gym.make("ISAC-ET-v0", problem="wim")
    env.reset(seed=2)
    p = env.unwrapped.system.params
    *_, reward, _, _, info = env.step(env.action_space.sample())
    assert set(info["violation"]) == {"coverage"}
    rate_ref = p.n_users * np.log2(1 + p.sinr_min)
    assert info["reward_terms"]["rate"] == pytest.approx((1 - p.wim_rho) * info["sum_rate"] / rate_ref)
    assert info["reward_terms"]["crb"] == pytest.approx(p.wim_rho * info["crb_score"])
    assert info["objective"] == pytest.approx(p.wim_rho * p.wim_zeta * info["crb_trace"]
                                              - (1 - p.wim_rho) * info["sum_rate"])
    assert reward == pytest.approx(sum(info["reward_terms"].values()))


def test_observation_parts_and_render():
    env = gym.make("ISAC-ET-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    s = env.unwrapped.current_scenario
    k, nt = 4, 64
    h = s.channels / np.sqrt(s.user_path_loss)[:, None]
    assert np.allclose(obs[: k * nt], h.real.ravel(), atol=1e-6)
    centre = obs[2 * k * nt: 2 * k * nt + 7]
    assert centre[0] == pytest.approx(s.kinematics[0] / 15.0, rel=1e-6)
    assert np.all(np.isfinite(obs)) and env.observation_space.contains(obs)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0


def test_zero_beams_give_finite_worst_values():
    env = gym.make("ISAC-ET-v0")
    env.reset(seed=4)
    info = env.unwrapped.evaluate({"beams": np.zeros((64, 4), complex)})
    assert info["crb_trace"] == pytest.approx(4 * et.CRB_WORST)
    assert np.isfinite(info["reward"]) and info["violation"]["coverage"] > 0 and not info["feasible"]
