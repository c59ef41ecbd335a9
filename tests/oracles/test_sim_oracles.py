"""D3 and its baselines on fixed seeds: the paper's trends, honest solutions, monotone kept objective."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym import oracles
from isac_gym.physics import sim
from isac_gym.physics.sim import d3


@pytest.fixture(scope="module")
def solutions():
    env = gym.make("ISAC-SIM-v0")
    out = []
    for seed in (0, 1):
        env.reset(seed=seed)
        scen = env.unwrapped.current_scenario
        out.append({name: oracles.make(env, name, seed=seed).solve(scen) for name in oracles.names(env)})
    return env, out


def test_names():
    assert oracles.names(gym.make("ISAC-SIM-v0")) == ["comm_only", "oracle", "random", "sensing_only"]


def test_trends_on_fixed_seeds(solutions):
    env, runs = solutions
    r_min = env.unwrapped.system.params.rate_min
    for sol in runs:
        rate = {k: v.info["sum_rate"] for k, v in sol.items()}
        mse = {k: v.info["mse"] for k, v in sol.items()}
        assert max(rate, key=rate.get) == "comm_only"
        assert min(mse, key=mse.get) == "sensing_only"
        assert sol["oracle"].feasible and rate["oracle"] >= r_min
        assert 10 * np.log10(mse["comm_only"] / mse["oracle"]) > 5.0  # far below comm-only's error
        assert rate["sensing_only"] < r_min  # sensing-only violates R_min (spec calibration)
        assert rate["comm_only"] > rate["random"] and mse["sensing_only"] < mse["random"]
        assert sol["oracle"].info["reward"] > max(sol["random"].info["reward"], sol["comm_only"].info["reward"])


def test_solutions_are_checked_by_the_env(solutions):
    env, runs = solutions
    for sol in runs:
        for name, s in sol.items():
            independent = s.info["sum_rate"] >= env.unwrapped.system.params.rate_min * (1 - 1e-6)
            assert s.feasible == independent
            success = "converged" if name == "oracle" else "baseline"  # D3 is a local method
            assert s.status == (success if s.feasible else "infeasible")


def test_unreachable_rate_is_reported_infeasible():
    env = gym.make("ISAC-SIM-v0", n_rows=5, n_cols=5, rate_min=500.0)
    env.reset(seed=0)
    s = oracles.make(env, "oracle", seed=0).solve(env.unwrapped.current_scenario)
    assert not s.feasible and s.status == "infeasible"
    assert s.info["violation"]["qos"] > 0


def test_d3_keeps_a_non_increasing_objective_and_returns_it():
    params = sim.SIMParams(n_rows=6, n_cols=6)
    scen = sim.draw_scenario(params, np.random.default_rng(3))
    for ws, wc in [(1.0, 0.0), (0.3, 0.7), (0.5, 0.5)]:
        res = d3(params, scen.channels, ws, wc, np.random.default_rng(0))
        hist = res.history[0]
        assert np.all(np.diff(hist) <= 0.0)
        rate = sim.sum_rate(params, scen.channels, sim.response(params, res.phases[0]))
        mse = sim.beam_matching_error(params, sim.beam_pattern(params, sim.response(params, res.phases[0])))
        assert rate == pytest.approx(res.sum_rate[0]) and mse == pytest.approx(res.mse[0])
        if ws > wc:
            assert hist[-1] == pytest.approx(mse) and hist[-1] < 0.5 * hist[0]
        elif ws < wc:
            assert hist[-1] == pytest.approx(-rate) and -hist[-1] > 2.0 * -hist[0]
        assert res.iterations <= 60


def test_weights_trade_rate_for_beam_matching():
    """Figs. 4-5 of [SIM]: the error falls as omega_s grows, the rate rises with omega_c."""
    params = sim.SIMParams(n_rows=6, n_cols=6)
    scen = sim.draw_scenario(params, np.random.default_rng(4))
    wc = np.array([0.0, 0.5, 1.0])
    res = d3(params, scen.channels, 1.0 - wc, wc, np.random.default_rng(0), constrained=False)
    assert res.sum_rate[0] < res.sum_rate[2]
    assert res.mse[0] < res.mse[2]


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="weights"):
        oracles.make(gym.make("ISAC-SIM-v0"), "oracle", weights=(1.0, -0.5))


def test_the_oracle_of_the_weighted_problem_uses_the_envs_weights():
    """``problem="weighted"``: the oracle solves the env's own trade-off, so moving weight from the rate to the
    beam pattern lowers the error and the rate of its answer (Fig. 5 of [SIM]); the constrained oracle does not
    depend on the weights."""
    answers = {}
    for problem in ("weighted", "constrained"):
        for w in (0.1, 0.9):
            env = gym.make("ISAC-SIM-v0", n_rows=6, n_cols=6, problem=problem, w_sense=w, w_comm=1.0 - w)
            env.reset(seed=3)
            answers[problem, w] = oracles.make(env, "oracle").solve(env.unwrapped.current_scenario).info
    low, high = answers["weighted", 0.1], answers["weighted", 0.9]
    assert high["mse"] < low["mse"] and high["sum_rate"] < low["sum_rate"]
    assert answers["constrained", 0.1]["mse"] == answers["constrained", 0.9]["mse"]
