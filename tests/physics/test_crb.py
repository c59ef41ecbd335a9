"""Closed-form Fisher information and CRB (eqs. (10)-(19) of [FIM]) against finite differences."""

import numpy as np
import pytest

from isac_gym.physics import fim
from isac_gym.physics.arrays import steering_vector
from isac_gym.physics.crb import CRB_WORST, angle_crb, beam_gram, fisher_matrix, trace_products


def _setup(seed=0):
    params = fim.FIMParams()
    rng = np.random.default_rng(seed)
    scen = fim.draw_scenario(params, rng)
    lam = params.wavelength
    y_tx = rng.integers(-8, 9, params.n_tx) * params.step_m
    y_rx = rng.integers(-8, 9, params.n_rx) * params.step_m
    beams = rng.standard_normal((params.n_tx, params.n_streams)) + 1j * rng.standard_normal((params.n_tx, params.n_streams))
    beams *= np.sqrt(params.p_max_w) / np.linalg.norm(beams)
    return params, scen, lam, y_tx, y_rx, beams


def _echo(params, scen, lam, y_tx, y_rx, beams, xi, snapshots_matrix):
    """Noise-free echo vec(alpha b a^H W S) as a function of xi = [phi, theta, Re alpha, Im alpha] (eq. (9))."""
    phi, theta, re, im = xi
    a = steering_vector(params.tx_xz, y_tx, phi, theta, lam)
    b = steering_vector(params.rx_xz, y_rx, phi, theta, lam)
    g = (re + 1j * im) * np.outer(b, np.conj(a))
    return (g @ beams @ snapshots_matrix).ravel(order="F")


def _numerical_fisher(params, scen, lam, y_tx, y_rx, beams):
    t = params.snapshots
    dft = np.exp(-2j * np.pi * np.outer(np.arange(t), np.arange(t)) / t) / np.sqrt(t)
    s = np.sqrt(t) * dft[: params.n_streams]  # S S^H = T I
    xi0 = np.array([scen.target_phi, scen.target_theta, scen.alpha.real, scen.alpha.imag], dtype=float)
    steps = np.array([1e-6, 1e-6, 1e-6 * abs(scen.alpha), 1e-6 * abs(scen.alpha)])
    cols = []
    for i in range(4):
        e = np.zeros(4)
        e[i] = steps[i]
        plus = _echo(params, scen, lam, y_tx, y_rx, beams, xi0 + e, s)
        minus = _echo(params, scen, lam, y_tx, y_rx, beams, xi0 - e, s)
        cols.append((plus - minus) / (2 * steps[i]))
    jac = np.stack(cols, axis=1)
    return 2.0 / params.noise_radar_w * np.real(jac.conj().T @ jac)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fisher_matches_finite_differences_of_echo(seed):
    params, scen, lam, y_tx, y_rx, beams = _setup(seed)
    kin = fim.kinematics(fim.geometry(params, scen), y_tx, y_rx)
    t = trace_products(kin.rx_set, beam_gram(kin.tx_set, beams))
    closed = fisher_matrix(t, scen.alpha, params.snapshots, params.noise_radar_w)
    numeric = _numerical_fisher(params, scen, lam, y_tx, y_rx, beams)
    d = np.sqrt(np.diag(numeric))
    rel = np.abs(closed - numeric) / np.outer(d, d)
    assert np.max(rel) < 1e-5
    assert np.allclose(closed, closed.T)


@pytest.mark.parametrize("seed", [0, 3])
def test_schur_crb_equals_inverse_of_full_fisher(seed):
    params, scen, lam, y_tx, y_rx, beams = _setup(seed)
    numeric = _numerical_fisher(params, scen, lam, y_tx, y_rx, beams)
    crb_full = np.trace(np.linalg.inv(numeric)[:2, :2])
    cfg = fim.FIMConfiguration(beams, y_tx, y_rx)
    assert fim.evaluate(params, fim.geometry(params, scen), cfg)["crb"] == pytest.approx(crb_full, rel=1e-5)


def test_crb_is_invariant_to_the_phase_reference():
    """A common phase exp(j psi(angles)) on a or b is absorbed by alpha: same angle CRB."""
    params, scen, lam, y_tx, y_rx, beams = _setup(4)
    from isac_gym.oracles.fim import centred_steering

    kin = fim.kinematics(fim.geometry(params, scen), y_tx, y_rx)
    tx_c, rx_c = centred_steering(params, scen, y_tx, y_rx)
    crb = angle_crb(trace_products(kin.rx_set, beam_gram(kin.tx_set, beams)), abs(scen.alpha) ** 2,
                    params.snapshots, params.noise_radar_w)
    crb_c = angle_crb(trace_products(rx_c, beam_gram(tx_c, beams)), abs(scen.alpha) ** 2,
                      params.snapshots, params.noise_radar_w)
    assert crb_c == pytest.approx(crb, rel=1e-8)


def test_zero_power_gives_finite_worst_case():
    params, scen, lam, y_tx, y_rx, beams = _setup(5)
    cfg = fim.FIMConfiguration(np.zeros_like(beams), y_tx, y_rx)
    m = fim.evaluate(params, fim.geometry(params, scen), cfg)
    assert m["crb"] == CRB_WORST
    assert np.all(m["sinr"] == 0) and np.all(np.isfinite(m["rate"]))


def test_crb_scales_inversely_with_power_and_snapshots():
    params, scen, lam, y_tx, y_rx, beams = _setup(6)
    geom = fim.geometry(params, scen)
    c1 = fim.evaluate(params, geom, fim.FIMConfiguration(beams, y_tx, y_rx))["crb"]
    c2 = fim.evaluate(params, geom, fim.FIMConfiguration(np.sqrt(2) * beams, y_tx, y_rx))["crb"]
    assert c2 == pytest.approx(c1 / 2, rel=1e-10)


def test_reference_crbs_ordered():
    """All power on the target beats isotropic transmission (the score's two anchors)."""
    params = fim.FIMParams()
    for seed in range(5):
        scen = fim.draw_scenario(params, np.random.default_rng(seed))
        worst, target = fim.reference_crbs(params, fim.geometry(params, scen))
        assert 0 < target < worst < CRB_WORST


def test_schur_crb_two_by_two_equals_the_explicit_inverse():
    """The 2 + 2 closed form against ``tr(inv(F)[:2, :2])`` (the nuisance block removed by inversion),
    and singular Fisher matrices (an unobservable angle, no energy) give CRB_WORST."""
    from isac_gym.physics.crb import schur_crb

    rng = np.random.default_rng(3)
    a = rng.normal(size=(50, 4, 6)) * rng.uniform(0.1, 10.0, size=(50, 4, 1))
    fisher = a @ np.swapaxes(a, -1, -2)
    expected = np.trace(np.linalg.inv(fisher)[:, :2, :2], axis1=-2, axis2=-1)
    np.testing.assert_allclose(schur_crb(fisher, 2), expected, rtol=1e-8)
    np.testing.assert_allclose(schur_crb(fisher[:, :3, :3], 2), np.trace(np.linalg.inv(fisher[:, :3, :3])[:, :2, :2],
                                                                           axis1=-2, axis2=-1), rtol=1e-8)
    singular = fisher.copy()
    singular[:, 1, :] = singular[:, :, 1] = 0.0  # the second angle carries no information
    assert np.all(schur_crb(singular, 2) == CRB_WORST)
    assert np.all(schur_crb(np.zeros((3, 4, 4)), 2) == CRB_WORST)
