"""Oracles of ISAC-ET-v0: the dual SDP solver against cvxpy, the Fisher functionals against the physics, every
constraint of the returned beams checked independently, the SDR against the paper's baselines, SCA's monotonicity."""

import cvxpy as cp
import gymnasium as gym
import numpy as np
import pytest

import isac_gym  # noqa: F401
from isac_gym import oracles
from isac_gym.oracles import extended_target as et_oracles
from isac_gym.oracles.beam_sdp import BeamSDP, solve_beam_sdp, span_basis
from isac_gym.physics import extended_target as et

SMALL = {"n_tx_y": 4, "n_tx_z": 4, "n_rx_y": 4, "n_rx_z": 4, "n_users": 2, "n_patches_azimuth": 8,
         "n_patches_elevation": 4}


def test_dual_solver_matches_cvxpy_on_a_random_problem():
    """max a^H R a s.t. (1 + 1/g) h_k^H Y_k h_k - h_k^H R h_k >= s, tr R <= 1, written as a BeamSDP with an
    auxiliary t, against the primal solved by cvxpy."""
    rng = np.random.default_rng(0)
    r, k, gam, sig = 5, 3, 2.0, 0.3
    h = rng.standard_normal((k, r)) + 1j * rng.standard_normal((k, r))
    a = rng.standard_normal(r) + 1j * rng.standard_normal(r)
    hh = np.einsum("ki,kj->kij", h, h.conj())
    rows_r = np.array(list(-hh) + [-np.eye(r), np.outer(a, a.conj())])
    rows_u = np.array(list((1 + 1 / gam) * hh) + [np.zeros((r, r))] * 2)
    rows_y = np.zeros((k + 2, 1))
    rows_y[-1, 0] = -1.0
    prob = BeamSDP(k, np.zeros((k, r, r), complex), np.array([-1.0]), rows_r, rows_u,
                   np.array(list(range(k)) + [-1, -1]), rows_y, np.array([sig] * k + [-1.0, 0.0]))
    res = solve_beam_sdp(prob)
    assert res.status == "optimal"
    ys = [cp.Variable((r, r), hermitian=True) for _ in range(k)]
    big_r = sum(ys)
    cons = [y >> 0 for y in ys] + [cp.real(cp.trace(big_r)) <= 1] + [
        cp.real((1 + 1 / gam) * cp.quad_form(h[i], ys[i]) - cp.quad_form(h[i], big_r)) >= sig for i in range(k)]
    ref = cp.Problem(cp.Maximize(cp.real(cp.quad_form(a, big_r))), cons)
    ref.solve(solver="SCS", eps=1e-9, max_iters=100000)
    cov = res.blocks.sum(axis=0)
    assert np.real(a.conj() @ cov @ a) == pytest.approx(ref.value, rel=1e-5)
    assert np.all(np.linalg.eigvalsh(res.blocks) > -1e-8)


def _setup(seed, **kwargs):
    env = gym.make("ISAC-ET-v0", **kwargs)
    env.reset(seed=seed)
    scenario = env.unwrapped.current_scenario
    params = env.unwrapped.system.params
    return env, scenario, params


def test_fisher_functionals_equal_the_physics():
    env, scenario, params = _setup(1)
    geom = et.geometry(params, et_oracles.batching.stack([scenario]))
    red = et_oracles.reduce(params, scenario, geom)
    m = et_oracles.fim_functionals(params, red)
    rng = np.random.default_rng(0)
    r = red.basis.shape[1]
    y = rng.standard_normal((r, r)) + 1j * rng.standard_normal((r, r))
    y = y @ y.conj().T
    via = np.real(np.einsum("ijab,ba->ij", m, y))
    cov = red.power * red.basis @ y @ red.basis.conj().T
    sets = et.steering_sets(params, red.geometry)
    direct = et.normalised_fim(params, red.geometry, np.conj(sets) @ cov @ np.swapaxes(sets, -1, -2))[0]
    assert np.allclose(via, direct, rtol=1e-10, atol=1e-12 * np.abs(direct).max())


def test_span_basis_keeps_weak_channels():
    strong = np.eye(6)[:, :3] * 1e5
    weak = np.eye(6)[:, 3:4] * 1e-6
    assert span_basis(np.concatenate([strong, weak], axis=1)).shape[1] == 4


def _independent_check(params, scenario, beams):
    """Every constraint of eq. (27), computed here from the beams: SINR, power, coverage over the visible patches."""
    h = scenario.channels
    gains = np.abs(np.conj(h) @ beams) ** 2
    sinr = np.diag(gains) / (gains.sum(axis=1) - np.diag(gains) + params.noise_user_w)
    kappa = et.spherical(scenario.positions[scenario.visible])
    a = et.steering_set(params.tx_positions, et.azimuth_elevation_cosines(kappa[:, 1], kappa[:, 2]),
                        params.wavelength)[:, 0]
    energy = np.sum(np.abs(np.conj(a) @ beams) ** 2, axis=1)
    return bool(np.all(sinr >= params.sinr_min * (1 - 1e-6))
                and np.sum(np.abs(beams) ** 2) <= params.p_max_w * (1 + 1e-9)
                and energy.max() <= params.coverage_eps * energy.min() * (1 + 1e-6))


@pytest.mark.parametrize("seed", [0, 2, 7])
def test_sdr_is_feasible_and_beats_the_baselines(seed):
    """At the defaults (ET 8-15 m away): the SDR meets every constraint and its tr(CRB) is below each baseline's
    wherever that baseline is feasible (they ignore the coverage constraint, and `pt_centric` often breaks it)."""
    env, scenario, params = _setup(seed)
    sdr = oracles.make(env, "oracle").solve(scenario)
    assert sdr.feasible and sdr.status == "optimal"
    assert _independent_check(params, scenario, sdr.config.beams)
    assert np.min(sdr.info["sinr_db"]) == pytest.approx(params.sinr_min_db, abs=1e-3)  # SINRs met with equality
    for name in ("pt_centric", "avg_coverage"):
        base = oracles.make(env, name).solve(scenario)
        assert base.feasible == _independent_check(params, scenario, base.config.beams)
        assert min(base.info["sinr_db"]) >= params.sinr_min_db - 1e-4
        if base.feasible:  # the baselines ignore coverage: compare where they meet it
            assert sdr.info["crb_trace"] < base.info["crb_trace"], name
        else:
            assert base.info["violation"]["coverage"] > 0 and base.info["violation"]["qos"] == 0


@pytest.mark.parametrize("name", ["oracle", "sdr", "pt_centric", "avg_coverage", "random"])
def test_feasibility_flag_is_the_independent_check_on_hard_scenarios(name):
    """An unreachable SINR threshold: every policy's ``feasible`` equals the independent check (never assumed)."""
    env, scenario, params = _setup(3, sinr_min_db=45.0, **SMALL)
    sol = oracles.make(env, name, seed=0).solve(scenario)
    assert sol.feasible == _independent_check(params, scenario, np.asarray(sol.config.beams))
    assert np.sum(np.abs(sol.config.beams) ** 2) <= params.p_max_w * (1 + 1e-9)
    if name == "oracle":
        assert not sol.feasible and sol.status in ("failed", "infeasible")


def test_sca_is_monotone_and_beats_the_crb_designs_on_the_wim_objective():
    env, scenario, params = _setup(1, problem="wim")
    sca = oracles.make(env, "oracle")
    sol = sca.solve(scenario)
    assert isinstance(sca, et_oracles.SCAOracle) and sol.feasible
    assert np.all(np.diff(sca.history) <= 0) and len(sca.history) >= 2
    for other in (et_oracles.SDROracle(env), oracles.make(env, "pt_centric")):
        assert sol.info["wim"] < other.solve(scenario).info["wim"], other.name


@pytest.mark.parametrize("problem, listed, absent", [("crb", "sdr", "sca"), ("wim", "sca", "sdr")])
def test_only_the_solver_of_the_envs_problem_is_offered(problem, listed, absent):
    """Regression: SCA (the WIM solver) was offered under the CRB-min problem and showed 0 % feasible there."""
    env = gym.make("ISAC-ET-v0", problem=problem)
    names = oracles.names(env)
    assert listed in names and absent not in names
    with pytest.raises(ValueError, match=absent):
        oracles.make(env, absent)
