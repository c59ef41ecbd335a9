"""ISAC-RIS-SLP-v0 / -DoA-v0 specifics: action mapping, encoding, defaults, bad input."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym.physics.ris_slp import RISSLPConfiguration


@pytest.mark.parametrize("env_id, objective", [("ISAC-RIS-SLP-v0", "radar_sinr"), ("ISAC-RIS-SLP-DoA-v0", "crb")])
def test_spaces_defaults_and_modulus(env_id, objective):
    env = gym.make(env_id)
    system = env.unwrapped.system
    p = system.params
    assert env.action_space.shape == (p.n_tx * p.n_slots + p.n_elements,) == (184,)
    assert env.spec.max_episode_steps == 100
    assert system.objective_name == objective
    assert p.p_max_dbm == (50.0 if objective == "radar_sinr" else 40.0)
    env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    assert np.allclose(np.abs(info["config"]["x"]), p.amplitude)
    assert np.allclose(np.abs(info["config"]["phi"]), 1.0)
    assert info["power"] == pytest.approx(10 ** ((p.p_max_dbm - 30) / 10))
    assert info[objective] == info["objective"]


def test_encode_inverts_the_action_map():
    env = gym.make("ISAC-RIS-SLP-v0", action_mode="direct")
    env.reset(seed=1)
    a = env.action_space.sample()
    *_, info = env.step(a)
    cfg = RISSLPConfiguration(**info["config"])
    again = env.unwrapped.encode(cfg)
    *_, info2 = env.step(again)
    assert info2["objective"] == pytest.approx(info["objective"], rel=1e-5)


def test_qos_violation_is_zero_exactly_when_every_symbol_is_constructive():
    env = gym.make("ISAC-RIS-SLP-v0", action_mode="direct")  # random waveforms: some symbols outside
    env.reset(seed=2)
    for _ in range(5):
        *_, info = env.step(env.action_space.sample())
        assert (info["violation"]["qos"] == 0.0) == bool(np.all(info["sinr"] >= 10.0 ** (10.0 / 10)))


def test_qos_violation_is_the_relative_ci_shortfall_of_the_received_symbols():
    """Eqs. (1), (2): each received symbol ``y = (h_k^H + h_rk^H Phi G) x_l`` rotated by its PSK symbol must lie
    in the sector ``Re y' sin(Theta) - |Im y'| cos(Theta) >= gamma``; the violation is the shortfall over
    ``gamma + |y|``, averaged over users and slots (computed here loop by loop from the scenario)."""
    env = gym.make("ISAC-RIS-SLP-v0", action_mode="direct")  # a random waveform: some symbols outside
    env.reset(seed=4)
    *_, info = env.step(env.action_space.sample())
    p, sc = env.unwrapped.system.params, env.unwrapped.current_scenario
    x, phi = np.asarray(info["config"]["x"]), np.asarray(info["config"]["phi"])
    theta = np.pi / p.psk_order
    gamma = np.sqrt(p.noise_w * 10 ** (p.qos_db / 10)) * np.sin(theta)
    total = []
    for k in range(p.n_users):
        row = np.conj(sc.h_user[k]) + (np.conj(sc.h_ris_user[k]) * phi) @ sc.g
        for slot in range(p.n_slots):
            s = np.exp(1j * np.pi * (2 * sc.symbols[k, slot] + 1) / p.psk_order)
            y = row @ x[slot]
            rotated = y * np.conj(s)
            g = gamma - rotated.real * np.sin(theta) + abs(rotated.imag) * np.cos(theta)
            total.append(max(g, 0.0) / (gamma + abs(y)))
    assert info["violation"]["qos"] == pytest.approx(np.mean(total), rel=1e-9)
    assert 0.0 < info["violation"]["qos"] < 1.0 + 1.0 / np.sqrt(2.0)


def test_score_anchors():
    """The matched radar reference scores 1; the fixed random anchor 0."""
    env = gym.make("ISAC-RIS-SLP-v0")
    env.reset(seed=3)
    u = env.unwrapped
    from isac_gym.physics import ris_slp

    x, phi = ris_slp.matched_design(u.system.params, u.current_scenario)
    assert u.evaluate(RISSLPConfiguration(x, phi))["objective_score"] == pytest.approx(1.0)
    assert u.evaluate(u.system.anchor_config)["objective_score"] == pytest.approx(0.0, abs=1e-9)


def test_doa_score_decreases_with_crb_on_every_scenario():
    """The score keeps its orientation even where the matched reference is not better than the anchor."""
    env = gym.make("ISAC-RIS-SLP-DoA-v0")
    rng = np.random.default_rng(0)
    for seed in range(1000, 1012):
        env.reset(seed=seed)
        infos = [env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))[-1] for _ in range(4)]
        order = np.argsort([i["crb"] for i in infos])
        scores = np.array([i["objective_score"] for i in infos])[order]
        assert np.all(np.diff(scores) <= 1e-12)


def test_zero_ris_configuration_is_finite():
    env = gym.make("ISAC-RIS-SLP-DoA-v0")
    _, info = env.reset(seed=0)
    cfg = RISSLPConfiguration(**info["config"])
    info = env.unwrapped.evaluate(type(cfg)(cfg.x, np.zeros_like(cfg.phi)))
    assert np.isfinite(info["objective"]) and np.isfinite(info["reward"])
