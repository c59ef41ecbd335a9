"""Steering vectors against the element-by-element formula and derivatives against finite differences."""

import numpy as np
import pytest

from isac_gym.physics.arrays import steering_vector, steering_with_derivatives, upa_xz_positions

LAM = 0.01


@pytest.fixture
def array():
    rng = np.random.default_rng(0)
    xz = upa_xz_positions(4, 3, LAM / 2, LAM / 2, x_offset=6 * LAM)
    y = rng.uniform(-LAM, LAM, size=(5, 12))
    phi = rng.uniform(0.3, 2.5, size=5)
    theta = rng.uniform(0.3, 2.5, size=5)
    return xz, y, phi, theta


def test_positions_follow_eqs_1_2():
    xz = upa_xz_positions(4, 3, 0.5, 0.25, x_offset=3.0)
    for n in range(12):  # n is the paper's n-1
        assert xz[0, n] == pytest.approx(0.5 * (n % 4) + 3.0)
        assert xz[1, n] == pytest.approx(0.25 * (n // 4))


def test_steering_matches_elementwise_formula(array):
    xz, y, phi, theta = array
    a = steering_vector(xz, y, phi, theta, LAM)
    delta = 2 * np.pi / LAM
    for b in range(y.shape[0]):
        for n in range(12):
            nu = np.sin(theta[b]) * np.cos(phi[b])
            kappa = np.sin(theta[b]) * np.sin(phi[b])
            ref = np.exp(1j * delta * (xz[0, n] * nu + y[b, n] * kappa + xz[1, n] * np.cos(theta[b])))
            assert a[b, n] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_derivatives_match_finite_differences(array):
    xz, y, phi, theta = array
    s = steering_with_derivatives(xz, y, phi, theta, LAM)
    h = 1e-6
    d_phi = (steering_vector(xz, y, phi + h, theta, LAM) - steering_vector(xz, y, phi - h, theta, LAM)) / (2 * h)
    d_theta = (steering_vector(xz, y, phi, theta + h, LAM) - steering_vector(xz, y, phi, theta - h, LAM)) / (2 * h)
    assert np.allclose(s[:, 0], steering_vector(xz, y, phi, theta, LAM), rtol=0, atol=1e-12)
    scale = np.max(np.abs(s[:, 1:]))
    assert np.max(np.abs(s[:, 1] - d_phi)) < 1e-6 * scale
    assert np.max(np.abs(s[:, 2] - d_theta)) < 1e-6 * scale
