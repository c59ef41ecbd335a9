"""The structured action modes: their zero action is feasible on seeded scenarios, their layer's guarantee holds on
any action (hypothesis), what the layer did is in ``info["layer"]``, and the oracle acts through them."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import isac_gym
from isac_gym import oracles
from isac_gym.envs import ris_slp as ris_slp_env
from isac_gym.envs.base import action_modes
from isac_gym.physics import ris_slp, sim

#: The ids with a structured mode so far.
IDS = [i for i, reg in isac_gym.ENVIRONMENTS.items() if "structured" in action_modes(reg.system_class.options_class)]
SEEDS = (0, 1, 2, 3, 4, 1000, 1001, 1002)


def test_the_structured_ids():
    assert set(IDS) == set(isac_gym.ENVIRONMENTS)


@pytest.mark.parametrize("env_id", IDS)
def test_the_zero_action_is_feasible_on_seeded_scenarios(env_id):
    """Every constraint, on every id."""
    env = gym.make(env_id, action_mode="structured")
    for seed in SEEDS:
        env.reset(seed=seed)
        *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert info["feasible"], (seed, info["violation"], info["layer"])
        assert info["layer"] and all(np.isfinite(v) for v in info["layer"].values())


@pytest.mark.parametrize("env_id", IDS)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_the_layer_says_whether_it_holds_the_constraints(env_id, data):
    """SIM and ET: the segment keeps the configuration feasible whenever its anchor is (always, at the defaults); RIS-SLP:
    the CI layer's ``inside`` is exactly the QoS holding; FIM: every user at gamma or above and the budget met
    exactly unless the layer fell back; MF-RIS: the budgets and amplitudes always, every rate unless it fell back.
    Corners and random actions alike."""
    env = gym.make(env_id, action_mode="structured").unwrapped
    env.reset(seed=data.draw(st.integers(0, 2**16)))
    dim = env.action_space.shape[0]
    if data.draw(st.booleans()):
        a = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=dim, max_size=dim)), np.float32)
    else:
        a = np.random.default_rng(data.draw(st.integers(0, 2**16))).uniform(-1, 1, dim).astype(np.float32)
    *_, info = env.step(a)
    layer = info["layer"]
    if env_id == "ISAC-SIM-v0":
        assert layer["anchor_feasible"] and info["feasible"] and 0.0 <= layer["segment"] <= 1.0
    elif env_id == "ISAC-ET-v0":  # the segment from the coverage anchor: every constraint whenever the anchor holds
        assert info["power"] <= env.system.params.p_max_w * (1 + 1e-9) and 0.0 <= layer["segment"] <= 1.0
        if layer["anchor_feasible"]:
            assert info["feasible"]
        else:  # no feasible anchor (e.g. the users' ZF beams alone exceed the budget): the proposal, said so
            assert layer["segment"] == 1.0
    elif env_id == "ISAC-MFRIS-v0":  # the budgets and the amplitude set always; the rates where the layer says so
        assert all(info["violation"][v] <= 1e-6 for v in ("bs_power", "ris_power", "amplitude"))
        assert bool(layer["inside"]) == (info["violation"]["qos"] <= 1e-6) == info["feasible"]
        if not layer["fallback"]:
            assert layer["inside"]
    elif env_id == "ISAC-FIM-v0":
        p = env.system.params
        assert info["power"] == pytest.approx(p.p_max_w, rel=1e-9)
        if not layer["fallback"]:
            assert np.all(info["sinr"] >= p.gamma * (1 - 1e-9)) and info["feasible"]
            assert 0.0 <= layer["split"] <= 1.0
    else:
        assert bool(layer["inside"]) == (info["violation"]["qos"] == 0.0)
        assert info["feasible"] == bool(layer["inside"])
    again = env.evaluate(info["config"])  # the configuration is the physical one: evaluate reproduces the step
    # to rounding: the terms are summed in another order than the reward
    assert again["reward"] == pytest.approx(info["reward_terms"]["objective_score"] + sum(
        v for k, v in info["reward_terms"].items() if k != "objective_score"), rel=1e-12, abs=1e-12)


def test_the_sim_segment_keeps_the_proposal_when_it_is_feasible_and_the_anchor_at_zero():
    env = gym.make("ISAC-SIM-v0", action_mode="structured").unwrapped
    env.reset(seed=3)
    anchor = env.refs.anchor[0]
    *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    np.testing.assert_allclose(info["config"]["phases"], anchor)
    assert info["layer"]["segment"] == 1.0
    small = np.full(env.action_space.shape, 0.01, np.float32)
    *_, info = env.step(small)
    np.testing.assert_allclose(info["config"]["phases"], anchor + 0.01 * np.pi / 2 * np.ones_like(anchor), rtol=1e-6)
    # the anchor is D3 with the communication weight only, as the comm_only baseline solves it (its own seed)
    p = env.system.params
    rate = sim.sum_rate(p, env.scenario.channels, sim.response(p, env.refs.anchor))
    assert rate[0] > 2 * p.rate_min


def test_the_ci_layer_leaves_a_constructive_waveform_alone_and_repairs_others():
    env = gym.make("ISAC-RIS-SLP-v0", action_mode="structured").unwrapped
    env.reset(seed=5)
    p = env.system.params
    sol = oracles.make(env, "oracle").solve(env.current_scenario)  # inside every region with a margin
    kept, layer = ris_slp.ci_layer(p, env.scenario, sol.config.x[None], sol.config.phi[None])
    assert layer["ci_steps"][0] == 0 and layer["fallback"][0] == 0 and layer["inside"][0] == 1
    np.testing.assert_array_equal(kept[0], sol.config.x)
    scen = env.scenario
    rng = np.random.default_rng(0)
    x = p.amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, (8,) + sol.config.x.shape))
    phi = np.exp(1j * rng.uniform(0, 2 * np.pi, (8, p.n_elements)))
    from isac_gym.physics import batching

    scen8 = batching.stack([env.current_scenario] * 8)
    assert np.any(ris_slp.ci_margins(p, scen8, x, phi) > 0)
    fixed, layer = ris_slp.ci_layer(p, scen8, x, phi)
    np.testing.assert_allclose(np.abs(fixed), p.amplitude)  # the modulus constraint holds by construction
    inside = np.all(ris_slp.ci_margins(p, scen8, fixed, phi) <= 0, axis=(-2, -1))
    np.testing.assert_array_equal(inside, layer["inside"] == 1.0)
    assert inside.all() and scen.symbols.shape[0] == 1


@pytest.mark.parametrize("env_id", IDS)
def test_the_oracle_acts_in_the_structured_mode(env_id):
    """RIS-SLP: the RIS phases of the oracle's design, relative to the matched design and clipped to the mode's
    reach; MF-RIS: its surface is reproduced exactly; SIM: the mode reaches
    phases within pi/2 of its anchor only, so the oracle's action is a clipped fit, feasible by the segment; FIM: the
    paper mode's fit (shapes one level a step), feasible by the SINR layer."""
    env = gym.make(env_id, action_mode="structured", **isac_gym.ENVIRONMENTS[env_id].small)
    obs, _ = env.reset(seed=1)
    policy = oracles.make(env, "oracle")
    sol = policy.solve(env.unwrapped.current_scenario)
    *_, info = env.step(policy.predict(obs)[0])
    assert info["feasible"]
    if env_id.startswith("ISAC-RIS-SLP"):  # the fit: the oracle's phases relative to the matched design, clipped
        m = env.unwrapped.refs.matched
        rel = np.angle(np.r_[(sol.config.x * np.conj(m.x[0])).ravel(), sol.config.phi * np.conj(m.phi[0])]) / np.pi
        got = np.angle(np.r_[(info["config"]["x"] * np.conj(m.x[0])).ravel(),
                             info["config"]["phi"] * np.conj(m.phi[0])]) / np.pi
        phi_entries = slice(sol.config.x.size, None)
        expected = np.clip(rel, -ris_slp_env.PHASE_RESIDUAL, ris_slp_env.PHASE_RESIDUAL)
        np.testing.assert_allclose(got[phi_entries], expected[phi_entries], atol=1e-5)  # the layer keeps phi
    if env_id == "ISAC-MFRIS-v0":  # the surface exactly (phases relative to the focusing phases), in float32
        coef = sol.config.coefficients
        np.testing.assert_allclose(info["config"]["coefficients"], coef, atol=1e-5 * np.abs(coef).max())


def test_the_et_anchor_covers_the_target_inside_every_constraint_and_below_the_oracle():
    """The covering design it starts from meets every constraint with the margins it promises (coverage ratio well
    under eps, every SINR at 1 dB over Gamma, the whole budget), and the anchor leaves room to learn: its CRB is
    above the oracle's on every scenario tried."""
    from isac_gym.physics import extended_target as et
    from isac_gym.physics import units

    env = gym.make("ISAC-ET-v0", action_mode="structured").unwrapped
    p = env.system.params
    for seed in (0, 3, 8, 1000):
        env.reset(seed=seed)
        geom = env.refs.geometry
        target = p.sinr_min * units.db_to_linear(1.0)
        cover = et.covering_beams(p, env.scenario.channels[0], geom.steering[0, geom.visible[0]], target)
        info = env.evaluate(et.ETConfiguration(cover.beams))
        assert info["feasible"] and info["coverage_ratio"] < 0.75 * p.coverage_eps, (seed, info["coverage_ratio"])
        np.testing.assert_allclose(info["sinr"], target, rtol=1e-6)  # the sensing parts reach no user
        assert info["power"] == pytest.approx(p.p_max_w, rel=1e-9)
        assert np.linalg.norm(cover.sensing) == pytest.approx(1.0)
        np.testing.assert_allclose(np.conj(env.scenario.channels[0]) @ cover.sensing, 0.0, atol=1e-9)
        anchor = env.evaluate(et.ETConfiguration(env.refs.anchor[0]))
        assert anchor["feasible"] and env.refs.anchor_feasible[0]
        assert anchor["objective"] > oracles.make(env, "oracle").solve(env.current_scenario).objective


def test_a_scenario_s_anchor_is_solved_once_and_reused():
    """ScenarioMemo: the same scenario (a fixed one reset again, a vector env's rows, evaluate on another scenario)
    is solved once; another scenario is solved anew; the memory is bounded."""
    from isac_gym.envs.base import ScenarioMemo
    from isac_gym.physics import batching

    env = gym.make("ISAC-ET-v0").unwrapped
    env.reset(seed=0)
    first = env.scenario
    env.reset(seed=1)
    both = batching.stack([batching.take(first, 0), env.current_scenario, batching.take(first, 0)])
    calls = []
    memo = ScenarioMemo(size=2)
    out = memo.rows(both, 3, lambda i: calls.append(i) or i)
    assert calls == [0, 1] and out == [0, 1, 0]  # row 2 is row 0's scenario
    assert memo.rows(first, 1, lambda i: calls.append("again")) == [0] and calls == [0, 1]
    env.reset(seed=2)
    memo.rows(env.scenario, 1, lambda i: "new")
    assert memo.rows(first, 1, lambda i: "solved again") == ["solved again"]  # pushed out by the bound
    fixed = gym.make("ISAC-SIM-v0", scenario="fixed").unwrapped
    fixed.reset(seed=0)
    anchor = fixed.refs.anchor.copy()
    fixed.reset(seed=5)  # the same fixed scenario: the same anchor
    np.testing.assert_array_equal(fixed.refs.anchor, anchor)
