"""ISAC-SIM-v0 specifics: action mapping, the two reward forms, score anchors."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym.envs.sim import SCORE_SPAN_DB
from isac_gym.physics import sim
from tests.envs import saturated


def test_action_maps_to_phases_and_encode_inverts_it():
    env = gym.make("ISAC-SIM-v0", action_mode="direct")
    env.reset(seed=0)
    a = env.action_space.sample()
    *_, info = env.step(a)
    p = env.unwrapped.system.params
    phases = info["config"]["phases"]
    assert phases.shape == (p.n_layers, p.n_elements)
    np.testing.assert_allclose(phases, np.pi * (a.astype(float).reshape(phases.shape) + 1.0))
    config = env.unwrapped.system.as_config(info["config"])
    np.testing.assert_allclose(env.unwrapped.encode(config), a, atol=1e-6)


@pytest.mark.parametrize("problem", ["constrained", "weighted"])
def test_reward_forms(problem):
    env = gym.make("ISAC-SIM-v0", problem=problem, w_qos=2.0, w_comm=0.3, w_sense=0.7)
    env.reset(seed=1)
    *_, reward, _, _, info = env.step(env.action_space.sample())
    p = env.unwrapped.system.params
    shortfall = max(0.0, 1.0 - info["sum_rate"] / p.rate_min)
    assert info["violation"]["qos"] == pytest.approx(shortfall)
    if problem == "weighted":
        expected = 0.3 * info["sum_rate"] / p.rate_min + 0.7 * info["objective_score"]
    else:
        expected = info["objective_score"] - 2.0 * saturated(shortfall)
    assert reward == pytest.approx(expected)
    assert info["feasible"] == (shortfall <= 1e-6)


def test_score_anchors():
    env = gym.make("ISAC-SIM-v0")
    env.reset(seed=2)
    refs = env.unwrapped.current_references
    worst, target = float(np.ravel(refs.mse_worst)[0]), float(np.ravel(refs.mse_target)[0])
    assert 10 * np.log10(worst / target) == pytest.approx(SCORE_SPAN_DB)
    # the anchor is a fixed random configuration: random phases score about 0
    p = env.unwrapped.system.params
    rng = np.random.default_rng(0)
    mse = sim.beam_matching_error(p, sim.beam_pattern(p, sim.response(p, rng.uniform(0, 2 * np.pi, (20, p.n_layers,
                                                                                                    p.n_elements)))))
    score = np.log(worst / mse) / np.log(worst / target)
    assert abs(np.median(score)) < 0.15
