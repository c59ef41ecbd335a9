"""MF-RIS oracles: monotone AO, every constraint by the env's own check, the paper's orderings on fixed channels."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym import oracles
from isac_gym.oracles import mfris as om

SMALL = dict(n_tx=4, n_elements_x=3, n_elements_z=2, n_sensing_vertical=2, n_sensing_horizontal=2, n_users=2,
             n_users_reflection=1, n_targets=2, n_targets_reflection=1)


def _solve(kwargs, seed, name="oracle", **policy_kwargs):
    env = gym.make("ISAC-MFRIS-v0", **kwargs)
    env.reset(seed=seed)
    return oracles.make(env, name, seed=0, **policy_kwargs).solve(env.unwrapped.current_scenario), env


def test_names():
    assert oracles.names(gym.make("ISAC-MFRIS-v0")) == ["oracle", "random", "random_coefficients", "sdr"]


def test_ao_objective_never_decreases_and_improves_on_its_start():
    env = gym.make("ISAC-MFRIS-v0")
    env.reset(seed=0)
    p = env.unwrapped.system.params
    res = om.alternating_optimisation(p, env.unwrapped.current_scenario, np.random.default_rng(0))
    assert res.feasible and res.iterations >= 2
    assert np.all(np.diff(res.history) >= 0)
    assert res.history[-1] > 100 * res.history[0]


@pytest.mark.parametrize("variant", [{}, {"protocol": "MS"}, {"protocol": "TS"}, {"surface": "active"},
                                     {"surface": "passive"}, {"surface": "star"}],
                         ids=["ES", "MS", "TS", "active", "passive", "star"])
def test_oracle_meets_every_constraint_by_the_envs_check(variant):
    sol, env = _solve(variant, seed=1, starts=1)
    assert sol.feasible and sol.status == "converged"  # a local method: never "optimal"
    assert all(v <= 1e-6 for v in sol.info["violation"].values())
    p = env.unwrapped.system.params
    assert np.all(sol.info["rate"] >= p.rate_min) and sol.info["bs_power"] <= p.p_bs_w
    again = env.unwrapped.evaluate(sol.config)
    assert again["reward"] == sol.info["reward"]


@pytest.mark.parametrize("seed", [0, 1])
def test_protocols_and_surfaces_order_as_the_paper_on_the_same_channels(seed):
    """ES >= MS >= TS and MF-RIS (ES) > active > STAR > passive at the same total power (docs/mfris.md)."""
    val = {}
    for name, kw in [("ES", {}), ("MS", {"protocol": "MS"}), ("TS", {"protocol": "TS"}), ("active", {"surface": "active"}),
                     ("star", {"surface": "star"}), ("passive", {"surface": "passive"})]:
        sol, _ = _solve(kw, seed, starts=1)
        assert sol.feasible, name
        val[name] = sol.objective
    assert val["ES"] >= val["MS"] >= val["TS"]
    assert val["ES"] > val["active"] > val["star"] > val["passive"]


def test_ao_beats_sdr_and_random_coefficients():
    """The paper's ordering: AO above its SDR benchmark (on average; on a small surface SDR's randomisation can land
    within a quarter of a dB of AO on one scenario) and well above random coefficients on every scenario."""
    gaps = []
    for seed in range(4):
        ao, _ = _solve(SMALL, seed)
        sdr, _ = _solve(SMALL, seed, "sdr")
        rnd, _ = _solve(SMALL, seed, "random_coefficients")
        assert ao.feasible and sdr.feasible and rnd.feasible
        assert ao.objective > 2 * rnd.objective
        gaps.append(10 * np.log10(ao.objective / sdr.objective))
    assert min(gaps) > -0.25 and np.mean(gaps) > 0.3, gaps


def test_infeasible_rates_are_reported_not_hidden():
    sol, _ = _solve({**SMALL, "rate_min": 40.0}, 0, starts=1)
    assert not sol.feasible and sol.status == "infeasible"
    assert sol.info["violation"]["qos"] > 0 and sol.info["violation"]["bs_power"] <= 1e-6


def test_random_baseline_acts_in_the_action_space():
    env = gym.make("ISAC-MFRIS-v0")
    obs, _ = env.reset(seed=0)
    action, _ = oracles.make(env, "random", seed=0).predict(obs)
    assert env.action_space.contains(action)


def test_bad_starts_are_refused():
    env = gym.make("ISAC-MFRIS-v0")
    with pytest.raises(ValueError, match="starts"):
        oracles.make(env, "oracle", starts=0)
