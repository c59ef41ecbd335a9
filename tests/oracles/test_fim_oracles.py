"""FIM oracle: every constraint of problem (20) holds; it beats the baselines; the paper's trends."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym import oracles
from isac_gym.oracles import fim as fim_oracles
from isac_gym.physics import fim

SEEDS = [0, 2]


@pytest.fixture(scope="module")
def solved():
    env = gym.make("ISAC-FIM-v0", action_mode="direct")
    out = {}
    for seed in SEEDS:
        env.reset(seed=seed)
        scen = env.unwrapped.current_scenario
        out[seed] = {name: env.unwrapped.evaluate(oracles.make(env, name, seed=seed).solve(scen).config)
                     for name in ("oracle", "rigid", "random")}
    return env, out


def _check_constraints(info, params):
    assert info["power"] <= params.p_max_w * (1 + 1e-9)
    assert np.all(info["sinr"] >= params.gamma * (1 - 1e-6))
    y = np.r_[info["config"]["y_tx"], info["config"]["y_rx"]]
    assert np.all(np.abs(y) <= params.y_max_wl * params.wavelength * (1 + 1e-12))
    levels = y / params.step_m
    assert np.allclose(levels, np.round(levels))
    assert info["feasible"]


def test_oracle_and_rigid_meet_every_constraint(solved):
    env, out = solved
    params = env.unwrapped.system.params
    for seed in SEEDS:
        _check_constraints(out[seed]["oracle"], params)
        _check_constraints(out[seed]["rigid"], params)
        assert np.allclose(out[seed]["rigid"]["config"]["y_tx"], 0) and np.allclose(out[seed]["rigid"]["config"]["y_rx"], 0)


def test_oracle_beats_rigid_and_far_beats_random(solved):
    _, out = solved
    for seed in SEEDS:
        crb = {k: v["crb"] for k, v in out[seed].items()}
        assert crb["oracle"] < 0.8 * crb["rigid"]
        assert crb["oracle"] < 0.1 * crb["random"]


def test_rigid_predict_reproduces_its_solution_in_direct_mode(solved):
    env, out = solved
    env.reset(seed=SEEDS[0])
    pol = oracles.make(env, "rigid")
    obs, _ = env.reset(seed=SEEDS[0])
    action, _ = pol.predict(obs)
    assert env.action_space.contains(action)
    *_, info = env.step(action)
    assert info["crb"] == pytest.approx(out[SEEDS[0]]["rigid"]["crb"], rel=1e-4)


def test_unknown_policy_name():
    with pytest.raises(ValueError, match="name"):
        oracles.make(gym.make("ISAC-FIM-v0"), "genius")


def test_sdp_matches_its_relaxation_after_extraction():
    """Rank-one extraction keeps the SDP's covariance: the extracted W reaches the SINR targets exactly."""
    params = fim.FIMParams()
    scen = fim.draw_scenario(params, np.random.default_rng(1))
    z_tx, z_rx = np.zeros(params.n_tx), np.zeros(params.n_rx)
    res = fim_oracles.sdp_beamforming(params, scen, z_tx, z_rx)
    m = fim.evaluate(params, fim.geometry(params, scen), fim.FIMConfiguration(res.beams, z_tx, z_rx))
    assert res.status.startswith("optimal")
    assert np.allclose(m["sinr"], params.gamma * (1 + fim_oracles.SINR_MARGIN), rtol=1e-3)
    assert m["power"] == pytest.approx(params.p_max_w, rel=1e-4)


def test_zf_fallback_is_feasible():
    params = fim.FIMParams()
    scen = fim.draw_scenario(params, np.random.default_rng(3))
    z_tx, z_rx = np.zeros(params.n_tx), np.zeros(params.n_rx)
    beams = fim_oracles.zf_fallback(params, scen, z_tx, z_rx)
    m = fim.evaluate(params, fim.geometry(params, scen), fim.FIMConfiguration(beams, z_tx, z_rx))
    assert np.all(m["sinr"] >= params.gamma) and m["power"] <= params.p_max_w * (1 + 1e-9)


def _rigid_crb(**overrides):
    params = dataclasses.replace(fim.FIMParams(), **overrides)
    scen = fim.draw_scenario(params, np.random.default_rng(0))
    return fim_oracles.feasible_beamforming(params, scen, np.zeros(params.n_tx), np.zeros(params.n_rx)).crb


def test_paper_trends_crb_falls_with_power_and_rises_with_gamma():
    """Figs. 5 and 6 of the FIM paper on the rigid-array SDP (the same solver the oracle alternates)."""
    assert _rigid_crb(p_max_dbm=30.0) < _rigid_crb(p_max_dbm=20.0) < _rigid_crb(p_max_dbm=10.0)
    assert _rigid_crb(gamma=1.0) <= _rigid_crb(gamma=7.0) * (1 + 1e-3)
    assert _rigid_crb(gamma=7.0) < _rigid_crb(gamma=2.0**12 - 1)
