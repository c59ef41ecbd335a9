"""ISAC-MFRIS-v0 specifics: action mapping per protocol and surface, encode, amplifier scaling, reward terms."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym.envs.mfris import SCORE_SPAN_DB
from isac_gym.physics import mfris
from tests.envs import saturated

VARIANTS = [{}, {"protocol": "MS"}, {"protocol": "TS"}, {"surface": "active"}, {"surface": "passive"},
            {"surface": "star"}]


@pytest.mark.parametrize("variant", VARIANTS, ids=["ES", "MS", "TS", "active", "passive", "star"])
def test_actions_decode_into_the_amplitude_set_and_encode_inverts_them(variant):
    env = gym.make("ISAC-MFRIS-v0", action_mode="direct", **variant)
    env.reset(seed=0)
    p = env.unwrapped.system.params
    for a in (env.action_space.sample(), np.ones(env.action_space.shape, np.float32),
              -np.ones(env.action_space.shape, np.float32)):
        *_, info = env.step(a)
        cfg = env.unwrapped.system.as_config(info["config"])
        assert info["violation"]["amplitude"] <= 1e-12 and info["violation"]["bs_power"] <= 1e-12  # rounding only
        assert np.sum(np.abs(cfg.beams) ** 2) <= p.p_bs_w * (1 + 1e-12)
        again = env.unwrapped.system.decode(env.unwrapped.encode(cfg)[None].astype(float), None, None).config
        np.testing.assert_allclose(np.abs(again.coefficients[0]) ** 2, np.abs(cfg.coefficients) ** 2, rtol=1e-5,
                                   atol=1e-5 * p.beta_max)
        np.testing.assert_allclose(again.beams[0], cfg.beams, rtol=1e-5, atol=1e-6)


def test_es_split_and_phases_follow_the_documented_mapping():
    env = gym.make("ISAC-MFRIS-v0", action_mode="direct")
    env.reset(seed=0)
    sysm = env.unwrapped.system
    p = sysm.params
    m = p.n_elements
    a = np.zeros(env.action_space.shape, np.float32)
    rest = np.zeros((4, m), np.float32)
    rest[0] = 0.5  # t = 0.75
    rest[1] = -0.5  # rho = 0.25
    rest[2] = 0.25  # theta_r = 1.25 pi
    rest[3] = -1.0  # theta_t = 0
    a[sysm.n_beam:] = rest.ravel()
    *_, info = env.step(a)
    coef = info["config"]["coefficients"]
    np.testing.assert_allclose(np.abs(coef[0]) ** 2, 0.75 * 0.25 * p.beta_max, rtol=1e-6)
    np.testing.assert_allclose(np.abs(coef[1]) ** 2, 0.75 * 0.75 * p.beta_max, rtol=1e-6)
    np.testing.assert_allclose(np.angle(coef[0]), np.angle(np.exp(1.25j * np.pi)), atol=1e-6)
    np.testing.assert_allclose(np.angle(coef[1]), 0.0, atol=1e-6)


def test_amplifier_excess_is_scaled_and_reported_and_evaluate_reproduces_it():
    env = gym.make("ISAC-MFRIS-v0", ris_power_share=1e-6, w_power=2.0, action_mode="direct")
    env.reset(seed=0)
    a = np.ones(env.action_space.shape, np.float32)
    *_, reward, _, _, info = env.step(a)
    p = env.unwrapped.system.params
    assert info["ris_requested"] > p.p_ris_w and info["ris_power"] == pytest.approx(p.p_ris_w, rel=1e-9)
    assert info["violation"]["ris_power"] == pytest.approx(info["ris_requested"] / p.p_ris_w - 1)
    assert info["reward_terms"]["ris_power"] == pytest.approx(-2.0 * saturated(info["violation"]["ris_power"]))
    # the coefficients in use are the request scaled onto the amplifier budget
    requested = np.asarray(info["config"]["coefficients"])
    np.testing.assert_allclose(info["coefficients_applied"], requested * np.sqrt(info["ris_scale"])[:, None])
    assert not info["feasible"]
    again = env.unwrapped.evaluate(info["config"])
    assert again["reward"] == reward and again["violation"] == info["violation"]


def test_reward_terms_and_score_anchors():
    env = gym.make("ISAC-MFRIS-v0", w_qos=3.0, action_mode="direct")
    _, info0 = env.reset(seed=2)
    assert info0["objective_score"] == pytest.approx(0.0, abs=1e-12)  # the episode starts at the anchor
    *_, reward, _, _, info = env.step(env.action_space.sample())
    p = env.unwrapped.system.params
    shortfall = np.maximum(0.0, 1.0 - np.asarray(info["rate"]) / p.rate_min).sum()
    assert info["violation"]["qos"] == pytest.approx(shortfall)
    assert reward == pytest.approx(info["objective_score"] - 3.0 * saturated(shortfall))
    refs = env.unwrapped.current_references
    assert refs.objective_target / refs.objective_worst == pytest.approx(10 ** (SCORE_SPAN_DB / 10))
    assert info["objective"] == pytest.approx(np.sum(info["echo_sinr"]))


def test_ts_weights_rates_and_echo_by_the_slot_fractions():
    env = gym.make("ISAC-MFRIS-v0", protocol="TS", ts_fraction=0.25)
    env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    p = env.unwrapped.system.params
    lam = np.array([0.25, 0.75])
    assert info["objective"] == pytest.approx(np.sum(lam * info["echo_sinr"]))
    np.testing.assert_allclose(info["rate"], lam[p.user_side] * np.log2(1 + np.asarray(info["sinr"])))


def test_observation_holds_the_normalised_channels():
    env = gym.make("ISAC-MFRIS-v0")
    obs, _ = env.reset(seed=0)
    scen = env.unwrapped.current_scenario
    p = env.unwrapped.system.params
    g = scen.g / np.sqrt(scen.pl_bs_ris)
    np.testing.assert_allclose(obs[: g.size], g.real.ravel(), rtol=1e-5, atol=1e-6)
    assert np.abs(obs[: 2 * g.size]).max() < 10
    assert obs.shape == (2 * p.n_elements * p.n_tx + 2 * p.n_users * p.n_elements + 4 * p.n_targets + p.n_users + 4
                         + env.action_space.shape[0],)
    assert mfris.SIDES == ("reflection", "refraction")
