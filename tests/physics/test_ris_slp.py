"""RIS-SLP physics ([RIS-SLP]) against dense and finite-difference references."""

import math

import numpy as np
import pytest

from isac_gym.physics import ris_slp as rs

P = rs.RISSLPParams()


def _random_design(seed, params=P):
    rng = np.random.default_rng(seed)
    x = params.amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, (params.n_slots, params.n_tx)))
    phi = np.exp(1j * rng.uniform(0, 2 * np.pi, params.n_elements))
    return x, phi


def _stacked(c, r, x, delay, params=P):
    """H~ x = [(I_L kron c r) J_d] x built densely (eqs. (8)-(9))."""
    m, n_slots = params.n_tx, params.n_slots
    big = np.kron(np.eye(n_slots), np.outer(c, r))
    shift = np.eye(m * n_slots, k=-m * delay)
    return big @ shift @ x.reshape(-1)


def _dense_covariance(scen, x, phi, params=P):
    c, r = rs.cascaded(scen, phi)
    cov = params.noise_w * np.eye(params.n_tx * params.n_slots, dtype=complex)
    for q, d in enumerate(params.clutter_bins):
        u = _stacked(c[q + 1], r[q + 1], x, d, params)
        cov += params.clutter_rcs * np.outer(u, u.conj())
    return cov, c, r


@pytest.mark.parametrize("seed", [0, 1])
def test_woodbury_sinr_equals_dense_formula(seed):
    scen = rs.draw_scenario(P, np.random.default_rng(seed))
    x, phi = _random_design(seed + 10)
    cov, c, r = _dense_covariance(scen, x, phi)
    s = _stacked(c[0], r[0], x, 0)
    dense = P.target_rcs * np.real(s.conj() @ np.linalg.solve(cov, s))
    assert rs.radar_sinr(P, scen, x, phi) == pytest.approx(dense, rel=1e-9)


def test_sinr_is_batched():
    scen = rs.draw_scenario(P, np.random.default_rng(2))
    designs = [_random_design(s) for s in range(4)]
    xs, phis = np.stack([d[0] for d in designs]), np.stack([d[1] for d in designs])
    batched = rs.radar_sinr(P, scen, xs, phis)
    assert np.allclose(batched, [rs.radar_sinr(P, scen, *d) for d in designs], rtol=1e-12)


def test_sinr_gradient_matches_finite_differences():
    scen = rs.draw_scenario(P, np.random.default_rng(3))
    x, phi = _random_design(4)
    _, gx, gphi = rs.radar_sinr_gradient(P, scen, x, phi)
    h = 1e-7 * P.amplitude
    for idx in [(0, 0), (7, 3), (19, 5)]:
        e = np.zeros_like(x)
        e[idx] = h
        num = (rs.radar_sinr(P, scen, x + e, phi) - rs.radar_sinr(P, scen, x - e, phi)
               + 1j * (rs.radar_sinr(P, scen, x + 1j * e, phi) - rs.radar_sinr(P, scen, x - 1j * e, phi))) / (2 * h)
        assert num == pytest.approx(2 * gx[idx], rel=1e-5)
    for n in (0, 31, 63):
        e = np.zeros_like(phi)
        e[n] = 1e-7
        num = (rs.radar_sinr(P, scen, x, phi + e) - rs.radar_sinr(P, scen, x, phi - e)
               + 1j * (rs.radar_sinr(P, scen, x, phi + 1j * e) - rs.radar_sinr(P, scen, x, phi - 1j * e))) / 2e-7
        assert num == pytest.approx(2 * gphi[n], rel=1e-5)


@pytest.mark.parametrize("seed", [0, 5])
def test_doa_fisher_matches_finite_differences_of_mean_echo(seed):
    scen = rs.draw_scenario(P, np.random.default_rng(seed))
    x, phi = _random_design(seed + 1)
    cov, _, _ = _dense_covariance(scen, x, phi)
    target = rs.sensing_points(P)[0]
    amp_b, amp_r = abs(scen.h_b[0, 0]), abs(scen.h_r[0, 0])

    def mean_echo(eps):
        """mu = alpha_0 H~_0(phi) x (eq. (39)) as a function of [theta_0, theta_RIS, Re a, Im a]."""
        th0, thr, re, im = eps
        hb, hr = amp_b * rs.ula(P.n_tx, th0), amp_r * rs.ula(P.n_elements, thr)
        c0 = hb + scen.g.conj().T @ (phi * hr)
        r0 = hb.conj() + (hr.conj() * phi) @ scen.g
        return (re + 1j * im) * _stacked(c0, r0, x, 0)

    eps0 = np.array([rs.bs_angle(target), rs.ris_angle(P, target), math.sqrt(P.target_rcs), 0.0])
    cols = []
    for i in range(4):
        e = np.zeros(4)
        e[i] = 1e-6
        cols.append((mean_echo(eps0 + e) - mean_echo(eps0 - e)) / 2e-6)
    jac = np.stack(cols, axis=1)
    numeric = 2 * np.real(jac.conj().T @ np.linalg.solve(cov, jac))
    closed = rs.doa_fisher(P, scen, x, phi)
    d = np.sqrt(np.diag(numeric))
    assert np.max(np.abs(closed - numeric) / np.outer(d, d)) < 1e-5
    crb = np.trace(np.linalg.inv(numeric)[:2, :2])
    assert rs.doa_crb(P, scen, x, phi) == pytest.approx(crb, rel=1e-5)


def test_ci_margin_matches_geometric_check_for_qpsk():
    """g <= 0 exactly when the noise-free symbol lies in the constructive sector of Fig. 2:
    within +-pi/4 of the symbol's phase and at least sigma sqrt(Gamma) beyond both decision edges."""
    params = rs.RISSLPParams(qos_db=10.0)
    scen = rs.draw_scenario(params, np.random.default_rng(7))
    x, phi = _random_design(8)
    g = rs.ci_margins(params, scen, x, phi)
    y = rs.user_responses(scen, x, phi)
    s = rs.psk(params, scen.symbols)
    rel = np.angle(y * np.conj(s))
    mag = np.abs(y)
    # distance from y to each edge line of the decision region (rays at +-pi/4 around the symbol)
    dist_edges = mag * np.sin(np.pi / 4 - np.abs(rel))
    inside = (np.abs(rel) < np.pi / 4) & (dist_edges >= math.sqrt(params.noise_w * 10.0) * math.sin(np.pi / 4) ** 2
                                          / math.sin(np.pi / 4))
    # eq. (2) with Theta = pi/4 reads: Re sin - |Im| cos >= gamma  <=>  |y| sin(Theta - |rel|) >= gamma
    expected = mag * np.sin(np.pi / 4 - np.abs(rel)) >= params.qos_threshold
    assert np.array_equal(g <= 0, expected)
    assert np.array_equal(g <= 0, inside)
    assert 0 < np.mean(g <= 0) < 1  # both cases occur


def test_halfplanes_intersect_to_the_ci_margin():
    scen = rs.draw_scenario(P, np.random.default_rng(12))
    x, phi = _random_design(13)
    halves = rs.ci_halfplanes(P, scen, x, phi)
    y = rs.symbol_frame(P, scen, x, phi)
    th = P.half_angle
    direct = P.qos_threshold - y.real * math.sin(th) + np.abs(y.imag) * math.cos(th)  # eq. (19) as printed
    assert np.allclose(np.max(halves, axis=0), direct, rtol=1e-12, atol=1e-18)
    assert np.allclose(rs.ci_margins(P, scen, x, phi), direct, rtol=1e-12, atol=1e-18)


def test_ci_gradient_matches_finite_differences():
    scen = rs.draw_scenario(P, np.random.default_rng(9))
    x, phi = _random_design(10)
    w = np.random.default_rng(11).uniform(size=(2, P.n_users, P.n_slots))
    gx, gphi = rs.ci_halfplanes_gradient(P, scen, x, phi, w)

    def f(xx, pp):
        return float(np.sum(w * rs.ci_halfplanes(P, scen, xx, pp)))

    e = np.zeros_like(x)
    e[4, 1] = 1e-9
    num = (f(x + e, phi) - f(x - e, phi) + 1j * (f(x + 1j * e, phi) - f(x - 1j * e, phi))) / 2e-9
    assert num == pytest.approx(2 * gx[4, 1], rel=1e-4)
    e = np.zeros_like(phi)
    e[12] = 1e-8
    num = (f(x, phi + e) - f(x, phi - e) + 1j * (f(x, phi + 1j * e) - f(x, phi - 1j * e))) / 2e-8
    assert num == pytest.approx(2 * gphi[12], rel=1e-4)


def test_matched_design_gains_over_no_ris_and_random():
    for seed in range(3):
        scen = rs.draw_scenario(P, np.random.default_rng(seed))
        x, phi = rs.matched_design(P, scen)
        xr, phr = _random_design(seed + 20)
        with_ris = rs.radar_sinr(P, scen, x, phi)
        assert with_ris > 1.5 * rs.radar_sinr(P, scen, x, np.zeros_like(phi))  # RIS helps by > 1.8 dB
        assert with_ris > 5 * rs.radar_sinr(P, scen, xr, phr)
        assert np.allclose(np.abs(x), P.amplitude) and np.allclose(np.abs(phi), 1.0)


def test_sinr_grows_with_power():
    scen = rs.draw_scenario(P, np.random.default_rng(1))
    x, phi = rs.matched_design(P, scen)
    low = rs.RISSLPParams(p_max_dbm=40.0)
    x_low, _ = rs.matched_design(low, scen)
    assert rs.radar_sinr(P, scen, x, phi) > rs.radar_sinr(low, scen, x_low, phi)


def test_slot_responses_equal_the_delay_shift_of_each_range_bin():
    """``t_j[l] = r_j x[l - d_j]`` (zero before the echo arrives) for repeated, unordered and too-late bins."""
    rng = np.random.default_rng(5)
    n_slots, m, delays = 6, 3, (0, 0, 2, 2, 1, 0, 9)
    x = rng.standard_normal((2, n_slots, m)) + 1j * rng.standard_normal((2, n_slots, m))
    rows = rng.standard_normal((2, len(delays), m)) + 1j * rng.standard_normal((2, len(delays), m))
    got = rs.slot_responses(rows, x, delays)
    for j, d in enumerate(delays):
        shift = np.eye(n_slots, k=-d)  # (J_d x)[l] = x[l - d]
        np.testing.assert_allclose(got[..., j], np.einsum("lk,bkm,bm->bl", shift, x, rows[:, j]), atol=1e-12)
