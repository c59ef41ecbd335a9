"""Every id as a constrained MDP: ``info["costs"]`` / ``info["cost"]``, ``reward_mode`` and the Safety-Gymnasium step."""

import gymnasium as gym
import numpy as np
import pytest

import isac_gym
from isac_gym.envs.base import FEASIBILITY_TOL
from isac_gym.wrappers import SafetyStep, SafetyVectorStep
from tests.envs import saturated

IDS = sorted(isac_gym.ENVIRONMENTS)
#: The direct mode breaks constraints under random actions, the structured default mostly meets them: together
#: they give both kinds of step on every id.
MODES = ("direct", None)


def _make(env_id: str, **kwargs):
    reg = isac_gym.ENVIRONMENTS[env_id]
    return gym.make(env_id, **{**reg.small, **kwargs})


def _expected_costs(violation: dict) -> dict:
    """The documented cost, written out: the saturated violation where it exceeds the tolerance, else 0."""
    return {k: float(saturated(v)) if v > FEASIBILITY_TOL else 0.0 for k, v in violation.items()}


def _steps(env, n=6, seed=0):
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(n):
        yield env.step(env.action_space.sample())[-1]


@pytest.mark.parametrize("env_id", IDS)
def test_costs_follow_the_violations_and_feasibility_and_evaluate(env_id):
    seen = set()
    for mode in MODES:
        env = _make(env_id, **({} if mode is None else {"action_mode": mode}))
        for info in _steps(env):
            assert set(info["costs"]) == set(info["violation"])
            assert info["costs"] == pytest.approx(_expected_costs(info["violation"]), abs=1e-12)
            assert info["cost"] == pytest.approx(sum(info["costs"].values()), abs=1e-12)
            assert all(c >= 0.0 for c in info["costs"].values())
            assert (info["cost"] == 0.0) == info["feasible"]
            again = env.unwrapped.evaluate(info["config"])
            assert again["cost"] == info["cost"] and again["costs"] == info["costs"]
            seen.add(info["feasible"])
    assert seen == {True, False}, f"{env_id}: the steps should include feasible and infeasible ones"


@pytest.mark.parametrize("env_id", IDS)
def test_the_vector_env_reports_the_scalar_envs_costs(env_id):
    reg = isac_gym.ENVIRONMENTS[env_id]
    venv = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", action_mode="direct",
                        **reg.small)
    venv.reset(seed=[5, 6])
    actions = np.random.default_rng(0).uniform(-1, 1, venv.action_space.shape).astype(np.float32)
    _, _, _, _, infos = venv.step(actions)
    for i, seed in enumerate((5, 6)):
        env = _make(env_id, action_mode="direct")
        env.reset(seed=seed)
        info = env.step(actions[i])[-1]
        assert infos["cost"][i] == pytest.approx(info["cost"], abs=1e-12)
        assert {k: infos["costs"][k][i] for k in info["costs"]} == pytest.approx(info["costs"], abs=1e-12)
        assert infos["cost"][i] == pytest.approx(sum(infos["costs"][k][i] for k in info["costs"]), abs=1e-12)
        assert (infos["cost"][i] == 0.0) == bool(infos["feasible"][i])


@pytest.mark.parametrize("env_id", IDS)
def test_the_objective_reward_leaves_the_constraints_to_the_cost(env_id):
    penalty, objective = _make(env_id, action_mode="direct"), _make(env_id, action_mode="direct",
                                                                   reward_mode="objective")
    names = set(penalty.unwrapped.system.violation_names)
    for a, b in zip(_steps(penalty), _steps(objective), strict=True):
        assert a["reward_mode"] == "penalty" and b["reward_mode"] == "objective"
        assert not names & set(b["reward_terms"])
        assert b["reward_terms"] == {k: v for k, v in a["reward_terms"].items() if k not in names}
        assert b["cost"] == a["cost"] and b["objective"] == a["objective"]
    env = objective.unwrapped
    env.reset(seed=1)
    _, reward, _, _, info = env.step(env.action_space.sample())
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    assert reward >= env.system.reward_floor - 1e-12 and env.system.reward_floor >= -1.0
    assert env.evaluate(info["config"])["reward"] == pytest.approx(reward)


def test_the_penalty_reward_is_the_objective_reward_minus_the_weighted_costs():
    """Where the reward has the base form (every id but FIM's clipped-move term and ET's WIM), the penalty reward is
    the objective reward minus sum_c w_c cost_c."""
    env_id = "ISAC-MFRIS-v0"
    penalty = _make(env_id, action_mode="direct", w_qos=3.0)
    objective = _make(env_id, action_mode="direct", w_qos=3.0, reward_mode="objective")
    weights = penalty.unwrapped.system.weights
    for seed in range(3):
        for env in (penalty, objective):
            env.reset(seed=seed)
        action = penalty.action_space.sample()
        _, r_pen, _, _, info = penalty.step(action)
        _, r_obj, _, _, _ = objective.step(action)
        assert r_pen == pytest.approx(r_obj - sum(weights[k] * c for k, c in info["costs"].items()))


def test_a_bad_reward_mode_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match="reward_mode"):
        gym.make("ISAC-FIM-v0", reward_mode="lagrangian")


def test_the_safety_step_returns_the_six_tuple():
    env = SafetyStep(_make("ISAC-SIM-v0", action_mode="direct", reward_mode="objective"))
    obs, info = env.reset(seed=0)
    out = env.step(env.action_space.sample())
    assert len(out) == 6
    obs, reward, cost, terminated, truncated, info = out
    assert env.observation_space.contains(obs)
    assert isinstance(reward, float) and isinstance(cost, float)
    assert cost == info["cost"] and isinstance(terminated, bool) and isinstance(truncated, bool)


def test_the_safety_vector_step_returns_the_six_tuple():
    reg = isac_gym.ENVIRONMENTS["ISAC-ET-v0"]
    venv = SafetyVectorStep(gym.make_vec("ISAC-ET-v0", num_envs=3, vectorization_mode="vector_entry_point",
                                         reward_mode="objective", **reg.small))
    venv.reset(seed=0)
    obs, rewards, costs, terminations, truncations, infos = venv.step(venv.action_space.sample())
    assert obs.shape[0] == 3 and rewards.shape == costs.shape == terminations.shape == truncations.shape == (3,)
    np.testing.assert_array_equal(costs, infos["cost"])
