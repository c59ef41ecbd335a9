"""SIM physics against independent computations: finite differences, explicit loops, the paper's Kronecker form."""

import dataclasses
import math

import numpy as np
import pytest

from isac_gym.physics import sim

SMALL = sim.SIMParams(n_layers=3, n_rows=4, n_cols=3, n_users=2, grid_theta=8, grid_phi=10,
                      target_cells_theta=(2, 6), target_cells_phi=(3, 8), rate_min=2.0)


def _phases(params, rng, batch=()):
    return rng.uniform(0.0, 2.0 * np.pi, batch + (params.n_layers, params.n_elements))


def _rs_loop(src, dst, area, lam):
    """Eq. (1) written element by element."""
    out = np.zeros((dst.shape[1], src.shape[1]), dtype=complex)
    for i in range(dst.shape[1]):
        for j in range(src.shape[1]):
            d = np.linalg.norm(dst[:, i] - src[:, j])
            cos_chi = (dst[1, i] - src[1, j]) / d
            out[i, j] = area * cos_chi / d * (1 / (2 * math.pi * d) - 1j / lam) * np.exp(2j * math.pi * d / lam)
    return out


def _response_loop(params, phases):
    """G = Phi^L W^L ... Phi^1 W^1 built from explicit matrices."""
    lam = params.wavelength
    area = (params.spacing_wl * lam) ** 2
    layer = params.element_positions
    w1 = _rs_loop(params.feed_positions, layer, area, lam)
    w = _rs_loop(layer, layer + np.array([[0.0], [params.layer_spacing_m], [0.0]]), area, lam)
    g = np.diag(np.exp(1j * phases[0])) @ w1
    for layer_idx in range(1, params.n_layers):
        g = np.diag(np.exp(1j * phases[layer_idx])) @ w @ g
    return g


@pytest.mark.parametrize("params", [SMALL, sim.SIMParams()], ids=["small", "defaults"])
def test_gradients_match_finite_differences(params):
    rng = np.random.default_rng(1)
    scen = sim.draw_scenario(params, rng)
    theta = _phases(params, rng)
    casc = sim.cascade(params, theta)
    _, g_rate = sim.sum_rate_gradient(params, scen.channels, casc)
    _, g_mse = sim.beam_matching_gradient(params, casc)
    h = 1e-6
    picks = [(0, 0), (params.n_layers - 1, params.n_elements - 1)] + [
        (int(rng.integers(params.n_layers)), int(rng.integers(params.n_elements))) for _ in range(4)]
    for layer, m in picks:
        up, down = theta.copy(), theta.copy()
        up[layer, m] += h
        down[layer, m] -= h

        def rate(t):
            return sim.sum_rate(params, scen.channels, sim.response(params, t))

        def mse(t):
            return sim.beam_matching_error(params, sim.beam_pattern(params, sim.response(params, t)))

        fd_rate = (rate(up) - rate(down)) / (2 * h)
        fd_mse = (mse(up) - mse(down)) / (2 * h)
        scale_r, scale_m = np.abs(g_rate).max(), np.abs(g_mse).max()
        assert abs(g_rate[layer, m] - fd_rate) <= 1e-6 * scale_r, (layer, m)
        assert abs(g_mse[layer, m] - fd_mse) <= 1e-6 * scale_m, (layer, m)


def test_batched_gradients_equal_one_by_one():
    rng = np.random.default_rng(2)
    scen = sim.draw_scenario(SMALL, rng)
    theta = _phases(SMALL, rng, (3,))
    r_b, g_b = sim.sum_rate_gradient(SMALL, scen.channels, sim.cascade(SMALL, theta))
    m_b, s_b = sim.beam_matching_gradient(SMALL, sim.cascade(SMALL, theta))
    for i in range(3):
        r, g = sim.sum_rate_gradient(SMALL, scen.channels, sim.cascade(SMALL, theta[i]))
        m, s = sim.beam_matching_gradient(SMALL, sim.cascade(SMALL, theta[i]))
        np.testing.assert_allclose([r_b[i], m_b[i]], [r, m], rtol=1e-12)
        np.testing.assert_allclose(g_b[i], g, rtol=1e-9, atol=1e-12 * np.abs(g).max())
        np.testing.assert_allclose(s_b[i], s, rtol=1e-9, atol=1e-12 * np.abs(s).max())


def test_single_layer_response_is_the_direct_formula():
    params = sim.SIMParams(n_layers=1, n_rows=3, n_cols=4, n_users=2)
    theta = _phases(params, np.random.default_rng(3))
    np.testing.assert_allclose(sim.response(params, theta), _response_loop(params, theta), rtol=1e-12)


def test_cascade_equals_explicit_products_and_reciprocity():
    theta = _phases(SMALL, np.random.default_rng(4))
    np.testing.assert_allclose(sim.response(SMALL, theta), _response_loop(SMALL, theta), rtol=1e-11)
    inter = SMALL.propagation.inter
    np.testing.assert_allclose(inter, inter.T, rtol=1e-13)  # equal layer geometry: W^l symmetric


def test_sinr_and_rate_of_a_hand_built_response():
    rng = np.random.default_rng(5)
    scen = sim.draw_scenario(SMALL, rng)
    g = _response_loop(SMALL, np.zeros((SMALL.n_layers, SMALL.n_elements)))
    p, noise = SMALL.stream_power_w, SMALL.noise_w
    expected = []
    for k in range(SMALL.n_users):
        z = [np.vdot(scen.channels[k], g[:, n]) for n in range(SMALL.n_streams)]
        interference = sum(abs(z[n]) ** 2 for n in range(SMALL.n_streams) if n != k)
        expected.append(p * abs(z[k]) ** 2 / (p * interference + noise))
    got = sim.sinr(SMALL, scen.channels, sim.response(SMALL, np.zeros((SMALL.n_layers, SMALL.n_elements))))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    np.testing.assert_allclose(sim.sum_rate(SMALL, scen.channels, g), sum(math.log2(1 + s) for s in expected),
                               rtol=1e-12)


def test_steering_vector_is_the_papers_kronecker_form():
    params = sim.SIMParams(n_rows=4, n_cols=3)
    theta, phi = 0.7, 2.1
    d = params.spacing_wl * params.wavelength
    lam = params.wavelength
    row = np.exp(-2j * np.pi * np.arange(params.n_rows) * np.sin(theta) * np.cos(phi) * d / lam)
    col = np.exp(-2j * np.pi * np.arange(params.n_cols) * np.sin(theta) * np.sin(phi) * d / lam)
    paper = np.kron(row, col)  # index r Mc + c
    ours = sim.steering(params, theta, phi)  # index r + Mr c, phase centre at the layer centre
    reordered = ours.reshape(params.n_cols, params.n_rows).T.reshape(-1)
    ratio = reordered / paper
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)  # one common phase factor


@pytest.mark.parametrize("params", [SMALL, dataclasses.replace(SMALL, grid_phi=9, n_rows=5)],
                         ids=["even J (mirrored half grid)", "odd J"])
def test_pattern_normalisation_and_error_by_direct_sums(params):
    theta = _phases(params, np.random.default_rng(6))
    g = sim.response(params, theta)
    th, ph = params.grid_angles
    pattern = np.array([[params.stream_power_w * np.sum(np.abs(g.conj().T @ sim.steering(params, a, b)) ** 2)
                         for b in ph] for a in th])
    np.testing.assert_allclose(sim.beam_pattern(params, g).reshape(pattern.shape), pattern, rtol=1e-11)
    desired = np.zeros_like(pattern)
    for i, j in zip(params.target_cells_theta, params.target_cells_phi, strict=True):
        desired[i - 1, j - 1] = 1.0
    expected = np.mean((pattern / pattern.max() - desired) ** 2)
    np.testing.assert_allclose(sim.beam_matching_error(params, sim.beam_pattern(params, g)), expected, rtol=1e-11)
    batch = sim.response(params, _phases(params, np.random.default_rng(7), (2, 3)))
    one_by_one = [[sim.beam_pattern(params, batch[i, j]) for j in range(3)] for i in range(2)]
    np.testing.assert_allclose(sim.beam_pattern(params, batch), one_by_one, rtol=1e-12)


def test_channel_power_follows_the_path_model():
    params = sim.SIMParams(n_rows=4, n_cols=4)
    rng = np.random.default_rng(7)
    ratios = []
    for _ in range(600):
        scen = sim.draw_scenario(params, rng)
        ratios.append(np.mean(np.abs(scen.channels) ** 2, axis=-1) / scen.path_loss)
    expected = 1.0 + (params.n_paths - 1) * 10 ** (params.nlos_power_db / 10)
    assert np.mean(ratios) == pytest.approx(expected, rel=0.06)


@pytest.mark.parametrize("kwargs, name", [
    ({"target_cells_theta": (9, 40)}, "target_cells_theta"),
    ({"target_cells_phi": (9,)}, "target_cells_theta"),
    ({"target_cells_theta": (9, 9), "target_cells_phi": (9, 9)}, "target_cells_theta"),
    ({"n_layers": 0}, "n_layers"),
    ({"rate_min": -1.0}, "rate_min"),
    ({"user_region_m": (5.0, -5.0)}, "user_region_m"),
])
def test_bad_parameters_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sim.SIMParams(**kwargs)


def test_target_cells_may_be_lists():
    params = sim.SIMParams(target_cells_theta=[3, 5, 7], target_cells_phi=[1, 2, 3])
    assert params.target_cells_theta == (3, 5, 7) and params.n_targets == 3 and params.n_streams == 7
    assert params.desired_pattern.sum() == 3
