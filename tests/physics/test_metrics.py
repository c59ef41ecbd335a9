"""SINR and rate against an independent covariance-form reference; channels against eq. (6) directly."""

import numpy as np
import pytest

from isac_gym.physics import fim
from isac_gym.physics.arrays import steering_vector
from isac_gym.physics.metrics import rate, user_sinr


def test_sinr_matches_covariance_form():
    rng = np.random.default_rng(0)
    b, k, n, s = 3, 4, 9, 16
    h = rng.standard_normal((b, k, n)) + 1j * rng.standard_normal((b, k, n))
    w = rng.standard_normal((b, n, s)) + 1j * rng.standard_normal((b, n, s))
    noise = 0.3
    got = user_sinr(h, w, noise)
    r_all = w @ np.conj(np.swapaxes(w, -1, -2))  # W W^H
    for bi in range(b):
        for ki in range(k):
            hk, wk = h[bi, ki], w[bi, :, ki]
            sig = np.real(np.conj(hk) @ np.outer(wk, np.conj(wk)) @ hk)
            interf = np.real(np.conj(hk) @ (r_all[bi] - np.outer(wk, np.conj(wk))) @ hk)
            assert got[bi, ki] == pytest.approx(sig / (interf + noise), rel=1e-12)
    assert np.allclose(rate(got), np.log2(1 + got))


def test_channels_follow_eq_6():
    params = fim.FIMParams()
    rng = np.random.default_rng(1)
    scen = fim.draw_scenario(params, rng)
    y = rng.integers(-8, 9, params.n_tx) * params.step_m
    h = fim.kinematics(fim.geometry(params, scen), y, np.zeros(params.n_rx)).channels
    for k in range(params.n_users):
        ref = sum(scen.path_gain[k, l] * steering_vector(params.tx_xz, y, scen.path_phi[k, l], scen.path_theta[k, l],
                                                         params.wavelength) for l in range(params.n_paths))
        assert np.allclose(h[k], ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_path_powers_sum_to_path_loss_on_average():
    params = fim.FIMParams()
    rng = np.random.default_rng(2)
    ratios = []
    for _ in range(400):
        s = fim.draw_scenario(params, rng)
        ratios.append(np.sum(np.abs(s.path_gain) ** 2, axis=1) / s.beta)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.06)
