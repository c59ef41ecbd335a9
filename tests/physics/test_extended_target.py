"""Physics of ISAC-ET-v0 against independent computations: finite differences of the echo model, the point-target
Fisher matrix of the FIM paper's formulas, finite-difference Jacobians and the paper's trends."""

import numpy as np
import pytest

from isac_gym.physics import batching, units
from isac_gym.physics import extended_target as et
from isac_gym.physics.arrays import azimuth_elevation_cosines, steering_set
from isac_gym.physics.crb import CRB_WORST, beam_gram, fisher_matrix, trace_products

SMALL = et.ETParams(n_tx_y=4, n_tx_z=4, n_rx_y=4, n_rx_z=3, n_users=3)


def _scenario(params, eta, local, weights):
    """A hand-built scenario with the given kinematics and local patches (all visible)."""
    eta = np.asarray(eta, float)
    local = np.asarray(local, float)
    pos, _ = et.patch_geometry(eta, local)
    k = params.n_users
    return et.ETScenario(eta, local, pos, np.asarray(weights, float), np.ones(len(local), bool),
                         np.ones((k, params.n_tx), complex), np.zeros((k, 2)), np.ones(k), np.ones(k))


def _efim(params, scenario, beams):
    geom = et.geometry(params, batching.stack([scenario]))
    gram = beam_gram(et.steering_sets(params, geom), beams[None, None])
    return et.efim(et.normalised_fim(params, geom, gram))[0] * geom.snr_factor[0]


def _brute_fisher(params, scenario, beams, n_freq=8, h=1e-6):
    """Fisher matrix of (eta, Re alpha, Im alpha) from central differences of each visible patch's echo mean
    ``alpha sqrt(sigma_q A_q) b a^H W s e^{-j 2 pi f tau_q}`` over a flat symmetric spectrum (resolvable patches)."""
    f = np.linspace(-1.0, 1.0, n_freq)
    f = f / np.sqrt(np.mean(f**2)) * params.rms_bandwidth_hz
    alpha = np.sqrt(params.radar_gain(scenario.kinematics[0])) * np.exp(0.7j)
    vis = scenario.visible
    local, w = scenario.local[vis], scenario.weights[vis]

    def mean(xi):
        pos, _ = et.patch_geometry(xi[:4], local)
        kap = et.spherical(pos)
        dirs = azimuth_elevation_cosines(kap[:, 1], kap[:, 2])
        a = steering_set(params.tx_positions, dirs, params.wavelength)[:, 0]
        b = steering_set(params.rx_positions, dirs, params.wavelength)[:, 0]
        tau = 2.0 * kap[:, 0] / units.SPEED_OF_LIGHT
        phase = np.exp(-2j * np.pi * f[None, :] * tau[:, None])
        mu = (xi[4] + 1j * xi[5]) * np.sqrt(w)[:, None, None, None] * b[:, None, :, None] * (
            np.conj(a) @ beams)[:, None, None, :] * phase[:, :, None, None]
        return mu * np.sqrt(params.n_samples / n_freq)

    xi0 = np.concatenate([scenario.kinematics, [alpha.real, alpha.imag]])
    ders = []
    for i in range(6):
        step = h * (max(1.0, abs(xi0[i])) if i < 4 else abs(alpha))
        e = np.zeros(6)
        e[i] = step
        ders.append((mean(xi0 + e) - mean(xi0 - e)) / (2 * step))
    return np.array([[2.0 / params.noise_radar_w * np.real(np.sum(np.conj(a) * b)) for b in ders] for a in ders])


def _random_beams(params, rng, k=3):
    return 0.1 * (rng.standard_normal((params.n_tx, k)) + 1j * rng.standard_normal((params.n_tx, k)))


@pytest.mark.parametrize("seed", [1, 2])
def test_efim_equals_fisher_from_finite_differences_of_the_echo(seed):
    rng = np.random.default_rng(seed)
    scenario = et.draw_scenario(SMALL, rng)
    beams = _random_beams(SMALL, rng)
    full = _brute_fisher(SMALL, scenario, beams)
    brute = full[:4, :4] - full[:4, 4:] @ np.linalg.solve(full[4:, 4:], full[4:, :4])
    closed = _efim(SMALL, scenario, beams)
    assert np.allclose(closed, brute, rtol=1e-4, atol=1e-4 * np.abs(brute).max())


@pytest.mark.parametrize("elevation", [0.0, -0.2])
def test_single_patch_at_the_centre_reduces_to_the_point_target(elevation):
    """One patch at the centre: the (d, theta, phi) block is the point-target EFIM built from the FIM paper's trace
    products (eqs. (14)-(18) of [FIM]) plus the delay information; the orientation is unobservable."""
    rng = np.random.default_rng(3)
    scenario = _scenario(SMALL, [9.0, 0.4, elevation, 1.0], [[0.0, 0.0, 0.0]], [1.7])
    beams = _random_beams(SMALL, rng)
    j_e = _efim(SMALL, scenario, beams)
    dirs = azimuth_elevation_cosines(0.4, elevation)
    tx = steering_set(SMALL.tx_positions, dirs, SMALL.wavelength)
    rx = steering_set(SMALL.rx_positions, dirs, SMALL.wavelength)
    gain = SMALL.radar_gain(9.0) * 1.7
    t = trace_products(rx, beam_gram(tx, beams))
    f = fisher_matrix(t, np.sqrt(gain), SMALL.n_samples, SMALL.noise_radar_w)  # [az, el, Re a, Im a]
    angles = f[:2, :2] - f[:2, 2:] @ np.linalg.solve(f[2:, 2:], f[2:, :2])
    e = np.real(np.conj(tx[0]) @ beams @ np.conj(beams.T) @ tx[0])
    delay = (2 * SMALL.n_samples * gain / SMALL.noise_radar_w) * (4 / units.SPEED_OF_LIGHT**2) * (
        2 * np.pi * SMALL.rms_bandwidth_hz) ** 2 * SMALL.n_rx * e
    point = np.zeros((3, 3))
    point[0, 0] = delay
    point[1:, 1:] = angles
    assert np.allclose(j_e[:3, :3], point, rtol=1e-10, atol=1e-10 * np.abs(point).max())
    assert np.allclose(j_e[3], 0.0) and np.allclose(j_e[:, 3], 0.0)
    crb = et.crb_diagonal(j_e[None])[0]
    assert np.allclose(crb[:3], np.diag(np.linalg.inv(point)), rtol=1e-8)
    assert crb[3] == CRB_WORST


def test_orientation_is_unobservable_for_a_single_patch():
    rng = np.random.default_rng(4)
    scenario = _scenario(SMALL, [10.0, -0.3, -0.1, 2.0], [[1.5, 0.4, 0.2]], [1.0])
    j_e = _efim(SMALL, scenario, _random_beams(SMALL, rng))
    w = np.linalg.eigvalsh(j_e / np.sqrt(np.outer(np.diag(j_e), np.diag(j_e))))
    assert w[0] < 1e-9 * w[-1]  # four parameters, three observables per patch
    crb = et.crb_diagonal(j_e[None])[0]
    assert np.all(np.isfinite(crb)) and crb[3] == CRB_WORST
    zero = et.crb_diagonal(np.zeros((1, 4, 4)))[0]
    assert np.all(zero == CRB_WORST)


def test_jacobian_matches_finite_differences():
    rng = np.random.default_rng(5)
    eta = np.array([11.0, 0.5, -0.15, 2.5])
    local = rng.uniform(-2, 2, (6, 3))
    _, jac = et.patch_geometry(eta, local)
    h = 1e-6
    fd = np.stack([(et.spherical(et.patch_geometry(eta + h * e, local)[0])
                    - et.spherical(et.patch_geometry(eta - h * e, local)[0])) / (2 * h) for e in np.eye(4)], axis=-1)
    assert np.allclose(jac, fd, rtol=1e-6, atol=1e-9)


def test_tfs_vehicle_fit_and_patches():
    params = et.ETParams()
    grid = np.meshgrid(np.linspace(0, 2 * np.pi, 181), np.linspace(0, np.pi, 91))
    pts = et.surface_points(params.shape_coefficients, *grid).reshape(-1, 3)
    extent = pts.max(axis=0) - pts.min(axis=0)
    # the second-order fit rounds the 4.8 x 1.8 x 1.5 m box (docs: about 3.6-3.9 x 2.4 x 1.8 m)
    assert 3.4 < extent[0] < 4.8 and 1.8 < extent[1] < 2.6 and 1.5 < extent[2] < 2.0
    patches = et.surface_patches(params)
    assert patches.centres.shape == (128, 3) and np.all(patches.areas > 0)
    assert np.all(np.sum(patches.normals * patches.centres, axis=-1) > 0)  # outward
    drone = et.ETParams(shape="drone")
    d = et.surface_points(drone.shape_coefficients, *grid).reshape(-1, 3)
    assert np.ptp(d[:, 2]) < 0.5 * np.ptp(d[:, 0])  # flat


def test_visibility_masks_and_pads():
    params = et.ETParams()
    rng = np.random.default_rng(6)
    for _ in range(5):
        s = et.draw_scenario(params, rng)
        n = int(s.visible.sum())
        assert 0.2 * params.n_patches < n < 0.8 * params.n_patches
        assert np.all(s.visible[:n]) and not np.any(s.visible[n:]) and np.all(s.weights[n:] == 0)
        normals = et.surface_patches(params).normals
        # every visible patch faces the BS: its outward normal points toward the origin
        rot = et.rotation_z(s.kinematics[3])
        idx = [np.flatnonzero(np.all(np.isclose(et.surface_patches(params).centres, c), axis=1))[0]
               for c in s.local[:n]]
        assert np.all(np.sum((normals[idx] @ rot.T) * s.positions[:n], axis=-1) < 0)


def test_coverage_ratio_and_isotropic_transmission():
    params = et.ETParams()
    s = et.draw_scenario(params, np.random.default_rng(7))
    geom = et.geometry(params, batching.stack([s]))
    iso = (params.p_max_w / params.n_tx) * np.eye(params.n_tx)
    sets = et.steering_sets(params, geom)
    gram = np.conj(sets) @ iso @ np.swapaxes(sets, -1, -2)
    assert np.allclose(et.coverage_ratio(et.patch_energy(geom, gram), geom.visible), 1.0)
    assert et.coverage_ratio(np.array([[0.0, 1.0]]), np.array([[True, True]]))[0] == et.COVERAGE_RATIO_MAX


def test_orientation_crb_is_orders_above_the_direction_crbs():
    """Fig. 4 of [ET]: the orientation is much harder to estimate than the directions (here by well over 10x)."""
    params = et.ETParams()
    rng = np.random.default_rng(8)
    for _ in range(3):
        s = et.draw_scenario(params, rng)
        geom = et.geometry(params, batching.stack([s]))
        a = steering_set(params.tx_positions, azimuth_elevation_cosines(s.kinematics[1], s.kinematics[2]),
                         params.wavelength)[0]
        cov = params.p_max_w * np.outer(a, np.conj(a)) / params.n_tx
        sets = et.steering_sets(params, geom)
        crb, _ = et.measure_covariance(params, geom, np.conj(sets) @ cov @ np.swapaxes(sets, -1, -2))
        assert crb[0, 3] > 10 * max(crb[0, 1], crb[0, 2])


def test_et_crbs_converge_to_the_point_target_far_away():
    """Fig. 4 of [ET]: at a fixed radar SNR (areas normalised to 1) the point-target CRBs do not depend on the
    distance, while the ET's range and azimuth CRBs fall with it and converge to the point target's."""
    params = et.ETParams()
    patches = et.surface_patches(params)

    def crb(d, point=False):
        eta = np.array([d, 0.3, 0.0, 0.5])
        if point:
            local, w = np.zeros((1, 3)), np.ones(1)
        else:
            pos, _ = et.patch_geometry(eta, patches.centres)
            seen = et.visible(pos, patches.normals @ et.rotation_z(eta[3]).T)
            local, w = patches.centres[seen], patches.areas[seen] / patches.areas[seen].sum()
        geom = et.geometry(params, batching.stack([_scenario(params, eta, local, w)]))
        a = steering_set(params.tx_positions, azimuth_elevation_cosines(eta[1], eta[2]), params.wavelength)[0]
        sets = et.steering_sets(params, geom)
        gram = np.conj(sets) @ np.outer(a, np.conj(a)) @ np.swapaxes(sets, -1, -2) / params.n_tx
        return et.crb_diagonal(et.efim(et.normalised_fim(params, geom, gram)))[0] / 1e3  # fixed SNR factor

    pt = [crb(d, point=True) for d in (10, 300)]
    assert np.allclose(pt[0][:3], pt[1][:3], rtol=1e-9)
    series = np.array([crb(d) for d in (5, 10, 20, 50, 300)])
    assert np.all(np.diff(series[:, 0]) < 0) and np.all(np.diff(series[:, 1]) < 0)
    assert np.allclose(series[-1, :2], pt[0][:2], rtol=0.01)


def test_transmit_gram_equals_the_dense_steering_sets():
    """The per-step form (steering vectors only, derivatives through diag(p) W) equals S^H W W^H S."""
    params = et.ETParams()
    rng = np.random.default_rng(9)
    scen = batching.stack([et.draw_scenario(params, rng) for _ in range(3)])
    geom = et.geometry(params, scen)
    beams = rng.standard_normal((3, params.n_tx, 4)) + 1j * rng.standard_normal((3, params.n_tx, 4))
    dense = beam_gram(et.steering_sets(params, geom), beams[:, None])
    ref = steering_set(params.tx_positions, azimuth_elevation_cosines(*np.moveaxis(et.spherical(scen.positions)[..., 1:],
                                                                                   -1, 0)), params.wavelength)
    assert np.allclose(et.steering_sets(params, geom), ref)
    assert np.allclose(et.transmit_gram(params, geom, beams), dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
