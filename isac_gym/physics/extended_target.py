"""System model of ISAC with a 3D extended target (ET) ([ET], docs/extended_target.md).

A monostatic full-duplex BS at the origin carries a UPA in the y-z plane (boresight +x) with
``Nt = Ny Nz`` transmit and ``Nr`` receive antennas, phase centre at the array centre. It serves K
single-antenna users with ``x = W s`` (no dedicated radar streams, ``R_x = W W^H``, ``tr R_x <= P_T``)
and senses one ET whose surface is a second-order truncated Fourier series (TFS). The visible surface
is divided into patches that are resolvable in delay; the Fisher information of the kinematic
parameters ``eta = [d_o, theta_o, phi_o, psi]`` (centre range, azimuth, elevation, orientation) with
the complex path-loss coefficient as nuisance is linear in ``R_x`` through the beam energies toward
the patches. Much of the paper's model is rebuilt; equation numbers and tags follow docs/extended_target.md (R-numbered
there, not citations of the paper's): [FOUND-TEXT] stated in the paper's words, [RECON] rebuilt.

Angles: azimuth ``theta`` from +x in the x-y plane, elevation ``phi`` from the x-y plane, direction
``u = [cos phi cos theta, cos phi sin theta, sin phi]`` (eq. (2)). Batch-first: every function takes
leading batch axes. The patch set is padded to the full TFS grid and masked (``visible``), so the
number of visible patches may differ per scenario without loops (``physics.batching`` convention).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from . import units
from .arrays import azimuth_elevation_cosines, cis, squared_norm, steering_set, upa_positions
from .batching import masked_max, masked_min
from .beamforming import scale_onto_budget, unit_columns, zf_directions
from .crb import CRB_WORST
from .metrics import rate, user_sinr
from .validation import Validated, param

SHAPES = ("vehicle", "drone")
OBJECTIVES = ("crb", "wim")
#: Kinematic parameters, in the order of every ``[..., 4]`` CRB array.
PARAMETERS = ("range", "azimuth", "elevation", "orientation")
#: Coverage ratios are capped here (60 dB), so a patch left without energy gives a finite violation.
COVERAGE_RATIO_MAX = 1.0e6
#: Eigenvalues of the Jacobi-scaled EFIM below this fraction of the largest are treated as zero (unobservable).
SINGULAR_TOL = 1.0e-10

# Second-order TFS basis (eq. (1)): (m, n, kind) with kind 0 = cc, 1 = cs, 2 = sc, 3 = ss; the 25 terms that
# are not identically zero (sin(0 .) = 0). The lambda_mn weights of the Staib convention are absorbed by the fit.
_ORDER = 2
TFS_TERMS = tuple((m, n, k) for m in range(_ORDER + 1) for n in range(_ORDER + 1) for k in range(4)
                  if not ((k in (2, 3) and m == 0) or (k in (1, 3) and n == 0)))


@dataclass(frozen=True)
class ETParams(Validated):
    """Physical parameters of the extended-target system: the one source of every default (docs/extended_target.md,
    "Defaults"; most are reconstructed). Validates itself: a bad value raises ``ValueError`` naming the field."""

    problem: str = param("crb", "'crb': minimise tr(CRB) s.t. SINR, power and coverage (eq. (27)); 'wim': minimise "
                           "rho zeta tr(CRB) - (1 - rho) R_sum s.t. power and coverage (eq. (30))", kind="choice",
                           choices=OBJECTIVES)
    shape: str = param("vehicle", "ET shape preset: 'vehicle' (TFS fit of a cuboid of vehicle_size_m) or 'drone' "
                       "(TFS fit of a flat cylinder: radius drone_arm_m, height drone_height_m)", kind="choice",
                       choices=SHAPES)
    n_tx_y: int = param(8, "BS transmit antennas along y (Nt = n_tx_y n_tx_z)", kind="int", high=64)
    n_tx_z: int = param(8, "BS transmit antennas along z", kind="int", high=64)
    n_rx_y: int = param(8, "BS receive antennas along y (Nr = n_rx_y n_rx_z)", kind="int", high=64)
    n_rx_z: int = param(8, "BS receive antennas along z", kind="int", high=64)
    n_users: int = param(4, "single-antenna users K", kind="int", high=64)
    carrier_hz: float = param(28e9, "carrier frequency (Hz)", kind="positive")
    bandwidth_mhz: float = param(100.0, "signal bandwidth B of a flat spectrum (MHz); the delay information uses "
                                 "its RMS bandwidth B / sqrt(12)", kind="positive")
    n_samples: int = param(1000, "samples per observation T", kind="int")
    p_max_dbm: float = param(30.0, "transmit budget P_T (dBm)", kind="finite", low=-100.0, high=100.0)
    noise_user_dbm: float = param(-80.0, "user noise sigma_c^2 (dBm)", kind="finite", low=-250.0, high=100.0)
    noise_radar_dbm: float = param(-80.0, "radar receiver noise sigma_s^2 per antenna (dBm)", kind="finite",
                                   low=-250.0, high=100.0)
    sinr_min_db: float = param(10.0, "SINR threshold Gamma of every user (dB; problem 'crb')", kind="finite",
                               low=-50.0, high=60.0)
    coverage_eps: float = param(2.0, "beam-coverage factor eps (linear, 2 = 3 dB): max_q E_q <= eps min_q E_q "
                                "over the visible patches (eq. (15))", kind="finite", low=1.0, high=1e6)
    wim_rho: float = param(0.5, "WIM trade-off rho between the CRB and the sum rate (eq. (30))", kind="finite",
                           low=0.0, high=1.0)
    wim_zeta: float = param(1.0e8, "WIM balance zeta putting tr(CRB) (m^2 + rad^2) on the sum rate's scale",
                            kind="positive")
    vehicle_size_m: tuple[float, float, float] = param((4.8, 1.8, 1.5), "vehicle cuboid length, width, height "
                                                       "(m) before the TFS fit", kind="any")
    drone_arm_m: float = param(0.5, "drone arm (radius of the cylinder fitted, m)", kind="positive")
    drone_height_m: float = param(0.2, "drone height (m)", kind="positive")
    rcs: float = param(1.0, "radar cross-section per unit area sigma_q of every patch (m^2 / m^2)", kind="positive")
    n_patches_azimuth: int = param(16, "surface patches along the local azimuth before the visibility test",
                                   kind="int", low=4, high=128)
    n_patches_elevation: int = param(8, "surface patches along the local elevation before the visibility test",
                                     kind="int", low=2, high=64)
    target_distance_m: tuple[float, float] = param((8.0, 15.0), "range of the ET centre distance d_o (m)",
                                                   kind="pair", low=2.0)
    target_azimuth_deg: tuple[float, float] = param((-45.0, 45.0), "range of the ET centre azimuth theta_o (deg)",
                                                    kind="pair", low=-89.0)
    target_elevation_deg: tuple[float, float] = param((-15.0, 0.0), "range of the ET centre elevation phi_o "
                                                      "(deg)", kind="pair", low=-89.0)
    user_distance_m: tuple[float, float] = param((10.0, 30.0), "range of the users' distances (m)", kind="pair",
                                                 low=1.0)
    user_azimuth_deg: tuple[float, float] = param((-60.0, 60.0), "range of the users' azimuths (deg)", kind="pair",
                                                  low=-89.0)
    user_elevation_deg: tuple[float, float] = param((-15.0, 0.0), "range of the users' elevations (deg)",
                                                    kind="pair", low=-89.0)
    n_paths: int = param(3, "Saleh-Valenzuela paths per user (a LoS path and n_paths - 1 scattered ones)",
                         kind="int", high=32)
    nlos_power_db: float = param(-10.0, "power of each scattered path relative to the LoS path (dB)", kind="finite",
                                 low=-100.0, high=20.0)
    angular_spread_deg: float = param(10.0, "scattered paths lie within this angle of the LoS direction (deg)",
                                      kind="nonneg", high=90.0)

    def check(self) -> None:
        size = self.vehicle_size_m
        if not (isinstance(size, (tuple, list)) and len(size) == 3
                and all(not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
                        and math.isfinite(v) and v > 0 for v in size)):
            raise ValueError(f"vehicle_size_m must be three finite lengths > 0 (m), got {size!r}")
        for name in ("target_azimuth_deg", "target_elevation_deg", "user_azimuth_deg", "user_elevation_deg"):
            if getattr(self, name)[1] > 89.0:
                raise ValueError(f"{name} must lie in [-89, 89], got {getattr(self, name)!r}")

    # -- derived quantities (SI) --------------------------------------------------------
    @property
    def n_tx(self) -> int:
        return self.n_tx_y * self.n_tx_z

    @property
    def n_rx(self) -> int:
        return self.n_rx_y * self.n_rx_z

    @cached_property
    def wavelength(self) -> float:
        return units.wavelength(self.carrier_hz)

    @cached_property
    def p_max_w(self) -> float:
        return float(units.dbm_to_watt(self.p_max_dbm))

    @cached_property
    def noise_user_w(self) -> float:
        return float(units.dbm_to_watt(self.noise_user_dbm))

    @cached_property
    def noise_radar_w(self) -> float:
        return float(units.dbm_to_watt(self.noise_radar_dbm))

    @cached_property
    def sinr_min(self) -> float:
        return float(units.db_to_linear(self.sinr_min_db))

    @cached_property
    def rms_bandwidth_hz(self) -> float:
        """RMS bandwidth ``B / sqrt(12)`` of a flat spectrum of width B (Hz), eq. (70)."""
        return self.bandwidth_mhz * 1e6 / math.sqrt(12.0)

    @property
    def n_patches(self) -> int:
        """Patches of the TFS grid before the visibility test (the padded size ``Q_max``)."""
        return self.n_patches_azimuth * self.n_patches_elevation

    def _upa(self, n_y: int, n_z: int) -> np.ndarray:
        lam = self.wavelength
        out = upa_positions(n_y, n_z, lam / 2, lam / 2, plane="yz", centred=True)
        out.setflags(write=False)
        return out

    @cached_property
    def tx_positions(self) -> np.ndarray:
        """``[3, Nt]`` centred half-wavelength y-z UPA (m), eq. (67) (read-only, computed once)."""
        return self._upa(self.n_tx_y, self.n_tx_z)

    @cached_property
    def rx_positions(self) -> np.ndarray:
        """``[3, Nr]`` the receive array, likewise."""
        return self._upa(self.n_rx_y, self.n_rx_z)

    @property
    def shape_coefficients(self) -> np.ndarray:
        """``[3, 25]`` TFS coefficients of the preset shape (least-squares fit, cached per size)."""
        if self.shape == "vehicle":
            return fit_shape("cuboid", tuple(float(v) for v in self.vehicle_size_m))
        return fit_shape("cylinder", (2.0 * self.drone_arm_m, 2.0 * self.drone_arm_m, self.drone_height_m))

    def radar_gain(self, distance_m: np.ndarray) -> np.ndarray:
        """``|alpha|^2 = beta_0 / d_o^4`` with ``beta_0 = lambda^2 / (4 pi)^3`` (radar equation, unit RCS; the patch
        RCS and area multiply it), eq. (14)."""
        return units.radar_gain(distance_m, self.wavelength, 1.0)

    def user_path_loss(self, distance_m: np.ndarray) -> np.ndarray:
        """Power gain of ``32.4 + 20 log10 f_GHz + 30 log10 d`` dB of loss (the reconstruction's Table 3.e)."""
        return units.db_to_linear(-(32.4 + 20.0 * math.log10(self.carrier_hz * 1e-9) + 30.0 * np.log10(distance_m)))


# ---------------------------------------------------------------------------------------- the TFS surface
def tfs_basis(alpha: np.ndarray, beta: np.ndarray, derivative: int = 0) -> np.ndarray:
    """The 25 second-order TFS basis functions of eq. (1) (cc, cs, sc, ss products) or their derivatives.

    Args:
        alpha: local azimuth in [0, 2 pi), beta: local elevation (polar angle) in [0, pi], rad, broadcastable.
        derivative: 0 the functions, 1 their d/d alpha, 2 their d/d beta.

    Returns:
        ``[..., 25]`` in the order of :data:`TFS_TERMS`.
    """
    alpha, beta = np.broadcast_arrays(np.asarray(alpha, float), np.asarray(beta, float))
    out = np.empty(alpha.shape + (len(TFS_TERMS),))
    for i, (m, n, k) in enumerate(TFS_TERMS):
        fa = np.sin(m * alpha) if k in (2, 3) else np.cos(m * alpha)
        fb = np.sin(n * beta) if k in (1, 3) else np.cos(n * beta)
        if derivative == 1:
            fa = m * np.cos(m * alpha) if k in (2, 3) else -m * np.sin(m * alpha)
        elif derivative == 2:
            fb = n * np.cos(n * beta) if k in (1, 3) else -n * np.sin(n * beta)
        out[..., i] = fa * fb
    return out


def _ray_distance(kind: str, size: tuple[float, float, float], u: np.ndarray) -> np.ndarray:
    """Distance from the centre to the surface of a centred box (``cuboid``) or z-axis cylinder along ``u``."""
    half = np.asarray(size) / 2.0
    if kind == "cuboid":
        return 1.0 / np.max(np.abs(u) / half, axis=-1)
    radial = np.hypot(u[..., 0], u[..., 1]) / half[0]
    return 1.0 / np.maximum(radial, np.abs(u[..., 2]) / half[2])


@functools.cache
def fit_shape(kind: str, size: tuple[float, float, float]) -> np.ndarray:
    """Least-squares second-order TFS fit of a centred cuboid or cylinder ([RECON] procedure of reconstruction 3.a).

    Samples a 72 x 36 grid of local directions, intersects each ray with the shape and fits x, y and z of the
    surface points on the TFS basis. Returns ``[3, 25]`` coefficients (m). Cached per shape.
    """
    alpha = (np.arange(72) + 0.5) * (2.0 * np.pi / 72)
    beta = (np.arange(36) + 0.5) * (np.pi / 36)
    a, b = np.meshgrid(alpha, beta, indexing="ij")
    u = np.stack([np.sin(b) * np.cos(a), np.sin(b) * np.sin(a), np.cos(b)], axis=-1)
    points = _ray_distance(kind, size, u)[..., None] * u
    basis = tfs_basis(a, b).reshape(-1, len(TFS_TERMS))
    coef, *_ = np.linalg.lstsq(basis, points.reshape(-1, 3), rcond=None)
    out = coef.T.copy()
    out.setflags(write=False)
    return out


def surface_points(coefficients: np.ndarray, alpha: np.ndarray, beta: np.ndarray, derivative: int = 0) -> np.ndarray:
    """Local surface point ``p_l(alpha, beta)`` of eq. (1) (or its alpha / beta derivative), ``[..., 3]`` in m."""
    return tfs_basis(alpha, beta, derivative) @ coefficients.T


@dataclass(frozen=True)
class SurfacePatches:
    """The TFS surface divided into a grid of patches (local frame, unbatched): centres, outward unit normals, areas."""

    centres: np.ndarray  # [Q, 3] m
    normals: np.ndarray  # [Q, 3] unit, outward
    areas: np.ndarray  # [Q] m^2


@functools.cache
def surface_patches(params: ETParams) -> SurfacePatches:
    """Patch centres at the grid cells' mid-points, ``A_q = |p_alpha x p_beta| d_alpha d_beta`` and outward normals
    (eq. (13): the surface divided into non-overlapping patches). Cached per parameter set."""
    na, nb = params.n_patches_azimuth, params.n_patches_elevation
    da, db = 2.0 * np.pi / na, np.pi / nb
    a, b = np.meshgrid((np.arange(na) + 0.5) * da, (np.arange(nb) + 0.5) * db, indexing="ij")
    coef = params.shape_coefficients
    centre = surface_points(coef, a, b).reshape(-1, 3)
    cross = np.cross(surface_points(coef, a, b, 1), surface_points(coef, a, b, 2)).reshape(-1, 3)
    length = np.linalg.norm(cross, axis=-1)
    normal = cross / np.maximum(length, 1e-300)[:, None]
    normal *= np.where(np.sum(normal * centre, axis=-1) < 0.0, -1.0, 1.0)[:, None]  # star-shaped: outward = away
    out = SurfacePatches(centre, normal, length * da * db)
    for arr in (out.centres, out.normals, out.areas):
        arr.setflags(write=False)
    return out


def rotation_z(psi: np.ndarray, derivative: bool = False) -> np.ndarray:
    """``R_z(psi)`` of eq. (4) (or ``dR_z/dpsi``), ``[..., 3, 3]``."""
    psi = np.asarray(psi, float)
    c, s = np.cos(psi), np.sin(psi)
    z, o = np.zeros_like(c), np.ones_like(c)
    if derivative:
        rows = [[-s, -c, z], [c, -s, z], [z, z, z]]
    else:
        rows = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def centre_position(kinematics: np.ndarray) -> np.ndarray:
    """``p_o = d_o [cos phi cos theta, cos phi sin theta, sin phi]`` of eq. (2), ``[..., 3]`` (m).

    Args:
        kinematics: ``[..., 4]`` ``eta = (d_o m, theta_o rad, phi_o rad, psi rad)``.
    """
    u = azimuth_elevation_cosines(kinematics[..., 1], kinematics[..., 2])[..., 0, :]
    return kinematics[..., 0:1] * u


def spherical(points: np.ndarray) -> np.ndarray:
    """Range, azimuth and elevation ``kappa = (d, theta, phi)`` of points ``[..., 3]`` seen from the BS, ``[..., 3]``."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    rho = np.hypot(x, y)
    return np.stack([np.sqrt(rho**2 + z**2), np.arctan2(y, x), np.arctan2(z, rho)], axis=-1)


def patch_geometry(kinematics: np.ndarray, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global patch positions (eq. (3)) and the exact Jacobian ``D_q = d kappa_q / d eta`` (Appendix B, (55)-(57)).

    Args:
        kinematics: ``[..., 4]`` ``eta``; local: ``[..., Q, 3]`` local patch positions ``p_l`` (m).

    Returns:
        ``(positions [..., Q, 3] m, jacobian [..., Q, 3, 4])``: rows (d, theta, phi), columns (d_o, theta_o, phi_o,
        psi) in m/m, m/rad, rad/m, rad/rad.
    """
    eta = np.asarray(kinematics, float)
    d, th, ph = eta[..., 0], eta[..., 1], eta[..., 2]
    dirs = azimuth_elevation_cosines(th, ph)  # rows u, du/dtheta, du/dphi
    p_o = d[..., None] * dirs[..., 0, :]
    rot = rotation_z(eta[..., 3])
    rot_d = rotation_z(eta[..., 3], derivative=True)
    points = p_o[..., None, :] + local @ rot.mT
    # dp/deta as [..., Q, 3 (xyz), 4]
    dp = np.empty(points.shape + (4,))
    dp[..., 0] = dirs[..., None, 0, :]
    dp[..., 1] = d[..., None, None] * dirs[..., None, 1, :]
    dp[..., 2] = d[..., None, None] * dirs[..., None, 2, :]
    dp[..., 3] = local @ rot_d.mT
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    rho2 = x**2 + y**2
    r2 = rho2 + z**2
    r, rho = np.sqrt(r2), np.sqrt(rho2)
    dk = np.empty(points.shape[:-1] + (3, 3))  # d kappa / d points
    dk[..., 0, :] = points / r[..., None]
    dk[..., 1, 0], dk[..., 1, 1], dk[..., 1, 2] = -y / rho2, x / rho2, 0.0
    dk[..., 2, 0] = -x * z / (r2 * rho)
    dk[..., 2, 1] = -y * z / (r2 * rho)
    dk[..., 2, 2] = rho2 / (r2 * rho)
    return points, dk @ dp


def visible(positions: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Patches whose outward normal faces the BS, ``n^T (0 - p) > 0`` (eq. (13)), ``[..., Q]`` bool."""
    return np.sum(normals * positions, axis=-1) < 0.0


# ---------------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class ETScenario:
    """One draw: the ET's kinematics and visible patches (padded to the TFS grid, visible first) and the users.

    Patch arrays have ``Q_max = n_patches`` rows; ``visible`` masks the padding (its rows repeat a visible patch
    with zero weight, so every array stays finite).
    """

    kinematics: np.ndarray  # [4] (d_o m, theta_o, phi_o, psi rad)
    local: np.ndarray  # [Q, 3] local patch positions (m)
    positions: np.ndarray  # [Q, 3] global patch positions (m)
    weights: np.ndarray  # [Q] sigma_q A_q (m^2), 0 on padding
    visible: np.ndarray  # [Q] bool
    channels: np.ndarray  # [K, Nt] rows h_k (user k receives h_k^H x)
    user_angles: np.ndarray  # [K, 2] LoS azimuth, elevation (rad)
    user_distance: np.ndarray  # [K] m
    user_path_loss: np.ndarray  # [K] linear power gain


def user_channels(params: ETParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Saleh-Valenzuela channels (eq. (8) [FOUND-TEXT model; RECON powers]): a LoS path of gain ``sqrt(PL_k)`` with a
    random phase plus ``n_paths - 1`` scattered paths ``CN(0, 10^(nlos/10) PL_k)`` within ``angular_spread_deg`` of
    it, ``h_k = sum_p beta_{k,p} a(theta_{k,p}, phi_{k,p})``.

    Returns ``(channels [K, Nt], angles [K, 2] rad, distances [K] m, path loss [K])``.
    """
    k, n_p = params.n_users, params.n_paths
    az = np.deg2rad(rng.uniform(*params.user_azimuth_deg, size=k))
    el = np.deg2rad(rng.uniform(*params.user_elevation_deg, size=k))
    dist = rng.uniform(*params.user_distance_m, size=k)
    pl = params.user_path_loss(dist)
    spread = np.deg2rad(params.angular_spread_deg)
    offsets = rng.uniform(-spread, spread, size=(2, k, n_p))
    offsets[:, :, 0] = 0.0
    scattered = np.sqrt(units.db_to_linear(params.nlos_power_db) / 2.0) * (
        rng.standard_normal((k, n_p)) + 1j * rng.standard_normal((k, n_p)))
    gains = np.sqrt(pl)[:, None] * np.where(np.arange(n_p) == 0, cis(rng.uniform(0.0, 2.0 * np.pi, (k, 1))),
                                            scattered)
    dirs = azimuth_elevation_cosines(az[:, None] + offsets[0], el[:, None] + offsets[1])
    steer = steering_set(params.tx_positions, dirs, params.wavelength)[..., 0, :]  # [K, P, Nt]
    return np.einsum("kp,kpn->kn", gains, steer), np.stack([az, el], axis=-1), dist, pl


def draw_scenario(params: ETParams, rng: np.random.Generator) -> ETScenario:
    """ET centre uniform in the distance / azimuth / elevation boxes, orientation uniform in [0, 2 pi) (eqs. (2)-(4)),
    then the users (:func:`user_channels`)."""
    eta = np.array([rng.uniform(*params.target_distance_m),
                    np.deg2rad(rng.uniform(*params.target_azimuth_deg)),
                    np.deg2rad(rng.uniform(*params.target_elevation_deg)),
                    rng.uniform(0.0, 2.0 * np.pi)])
    patches = surface_patches(params)
    positions, _ = patch_geometry(eta, patches.centres)
    normals = patches.normals @ rotation_z(eta[3]).T
    seen = visible(positions, normals)
    order = np.concatenate([np.flatnonzero(seen), np.flatnonzero(~seen)])
    n_seen = int(seen.sum())
    mask = np.arange(params.n_patches) < n_seen
    order = np.where(mask, order, order[0])  # padding repeats the first visible patch, with weight 0
    weights = np.where(mask, params.rcs * patches.areas[order], 0.0)
    channels, angles, dist, pl = user_channels(params, rng)
    return ETScenario(eta, patches.centres[order], positions[order], weights, mask, channels, angles, dist, pl)


# ---------------------------------------------------------------------------------------- Fisher information
@dataclass(frozen=True)
class ETGeometry:
    """Per-scenario constants of the EFIM (batched): what the beams are assessed against at every step."""

    steering: np.ndarray  # [B, Q, Nt] a_q toward each patch
    tx_slopes: np.ndarray  # [B, Q, 2, 3] (2 pi / lambda) du/dtheta, du/dphi: da/d. = j (slope . p_n) a_n
    jacobian: np.ndarray  # [B, Q, 3, 4] D_q
    weights: np.ndarray  # [B, Q] sigma_q A_q (0 on padding)
    rx_gram: np.ndarray  # [B, Q, 2, 2] db_i^H db_j (i, j in theta, phi), real
    visible: np.ndarray  # [B, Q] bool
    snr_factor: np.ndarray  # [B] c = 2 T |alpha|^2 / sigma_s^2 (1 / W)
    gram_map: np.ndarray  # [B, Q, 3, 3] conj(M_q), where S_q^H W = M_q [a^H W; a^H D_y W; a^H D_z W] (transmit_gram)


def geometry(params: ETParams, scenario: ETScenario) -> ETGeometry:
    """Steering sets (eqs. (67)-(69): centred y-z UPA, ``a^H da = 0``), Jacobians and receive terms of every patch."""
    kappa = spherical(scenario.positions)
    dirs = azimuth_elevation_cosines(kappa[..., 1], kappa[..., 2])
    k = 2.0 * np.pi / params.wavelength
    steering = cis(k * (dirs[..., 0, :] @ params.tx_positions))
    _, jac = patch_geometry(scenario.kinematics, scenario.local)
    pos = params.rx_positions
    moments = pos @ pos.T  # sum_n p_n p_n^T: db_i^H db_j = k^2 du_i^T M du_j (|b_n| = 1)
    deriv = dirs[..., 1:, :]
    rx = k**2 * deriv @ moments @ deriv.mT
    snr = 2.0 * params.n_samples * params.radar_gain(scenario.kinematics[..., 0]) / params.noise_radar_w
    slopes = k * deriv  # [B, Q, 2, 3]; the x column multiplies p_x = 0
    gram_map = np.zeros(slopes.shape[:-2] + (3, 3), complex)
    gram_map[..., 0, 0] = 1.0
    gram_map[..., 1:, 1:] = 1j * slopes[..., 1:]  # conj of da_i^H = -j a^H (s_iy D_y + s_iz D_z)
    return ETGeometry(steering, slopes, jac, scenario.weights, rx, scenario.visible, snr, gram_map)


def steering_sets(params: ETParams, geom: ETGeometry) -> np.ndarray:
    """``S_q = [a, da/dtheta, da/dphi]`` toward every patch, ``[B, Q, 3, Nt]`` (eqs. (67)-(69))."""
    a = geom.steering
    slope = geom.tx_slopes @ params.tx_positions  # [B, Q, 2, Nt] rad
    return np.concatenate([a[..., None, :], 1j * slope * a[..., None, :]], axis=-2)


def normalised_fim(params: ETParams, geom: ETGeometry, tx_gram: np.ndarray) -> np.ndarray:
    """The full Fisher matrix of ``xi = (eta, Re alpha, Im alpha)`` divided by ``c = 2 T |alpha|^2 / sigma_s^2``.

    Per patch (eqs. (51), (70)-(71); patches resolvable in delay), with ``G = S_q^H R_x S_q`` the transmit Gram of
    ``S_q = [a, da/dtheta, da/dphi]`` (``E = G_00``, ``E^theta = G_01``, ``G^{theta phi} = G_12``):

    ``K_dd = (4/c^2)(2 pi B_rms)^2 Nr E``, ``K_ij = |db_i|^.|db_j| E + Nr Re G_ij`` (i, j angles), ``K_d. = 0``;
    ``J_eta = sum_q w_q D_q^T K_q D_q`` (chain rule (52)-(54)), the nuisance cross terms ``[Re v, -Im v]`` with
    ``v = sum_q w_q Nr D_q^T [0, E^theta, E^phi]`` and ``J_alpha = sum_q w_q Nr E_q I_2`` (alpha taken real, its
    phase cancels in the EFIM). Real-linear in ``tx_gram`` (the SDR oracle relies on it).

    Args:
        tx_gram: ``[..., Q, 3, 3]`` complex ``S_q^H R_x S_q`` (W), broadcast against ``geom``.

    Returns:
        ``[..., 6, 6]`` real symmetric (units m^-2, rad^-2 and mixed, per W of ``c``).
    """
    nr = params.n_rx
    w = geom.weights
    energy = tx_gram[..., 0, 0].real
    rng = (4.0 / units.SPEED_OF_LIGHT**2) * (2.0 * np.pi * params.rms_bandwidth_hz) ** 2
    rx = geom.rx_gram
    k_dd = rng * nr * energy
    k_tt = rx[..., 0, 0] * energy + nr * tx_gram[..., 1, 1].real
    k_pp = rx[..., 1, 1] * energy + nr * tx_gram[..., 2, 2].real
    k_tp = rx[..., 0, 1] * energy + nr * tx_gram[..., 1, 2].real
    jac = geom.jacobian
    d0, d1, d2 = jac[..., 0, :], jac[..., 1, :], jac[..., 2, :]  # [..., Q, 4] rows of D_q
    wd1, wd2 = w[..., None] * d1, w[..., None] * d2
    out = np.zeros(energy.shape[:-1] + (6, 6))
    # sum_q w D^T K D with K = [[k_dd, 0, 0], [0, k_tt, k_tp], [0, k_tp, k_pp]], as products over the patch axis
    cross = (k_tp[..., None] * wd1).mT @ d2
    out[..., :4, :4] = (((w * k_dd)[..., None] * d0).mT @ d0
                        + (k_tt[..., None] * wd1).mT @ d1
                        + (k_pp[..., None] * wd2).mT @ d2 + cross + cross.mT)
    v = nr * (wd1.mT @ tx_gram[..., 0, 1, None] + wd2.mT @ tx_gram[..., 0, 2, None]
              )[..., 0]
    out[..., :4, 4] = v.real
    out[..., :4, 5] = -v.imag
    out[..., 4, :4] = v.real
    out[..., 5, :4] = -v.imag
    out[..., 4, 4] = out[..., 5, 5] = nr * (w * energy).sum(axis=-1)
    return out


def efim(fim: np.ndarray) -> np.ndarray:
    """EFIM ``J_e = J_eta - J_eta,alpha J_alpha^-1 J_alpha,eta`` (eq. (16)) of a ``[..., 6, 6]`` Fisher matrix,
    ``[..., 4, 4]`` (zero where no energy reaches the target)."""
    a0 = fim[..., 4, 4]
    cross = fim[..., :4, 4:]
    safe = np.where(a0 > 0.0, a0, 1.0)
    return fim[..., :4, :4] - (cross @ cross.mT) / safe[..., None, None]


def crb_diagonal(j_e: np.ndarray) -> np.ndarray:
    """CRB of each kinematic parameter, ``diag(J_e^-1)``, ``[..., 4]`` (m^2, rad^2, rad^2, rad^2).

    The EFIM is Jacobi-scaled before its eigendecomposition; a parameter with a component along an eigenvalue
    below :data:`SINGULAR_TOL` of the largest (unobservable, e.g. the orientation of a single patch) gets the
    finite worst case :data:`~isac_gym.physics.crb.CRB_WORST`, and every bound is capped there.
    """
    diag = np.diagonal(j_e, axis1=-2, axis2=-1)
    ok_diag = diag > 0.0
    d = np.sqrt(np.where(ok_diag, diag, 1.0))
    scaled = j_e / (d[..., :, None] * d[..., None, :])
    scaled = np.where(ok_diag[..., :, None] & ok_diag[..., None, :], scaled, 0.0)
    w, v = np.linalg.eigh(0.5 * (scaled + scaled.mT))
    top = np.max(np.abs(w), axis=-1, keepdims=True)
    good = (w > SINGULAR_TOL * top) & np.isfinite(w)
    v2 = v * v
    inv = (v2 @ np.where(good, 1.0 / np.where(good, w, 1.0), 0.0)[..., None])[..., 0]
    lost = (v2 @ np.where(good, 0.0, 1.0)[..., None])[..., 0] > 1e-9
    crb = inv / d**2
    bad = lost | ~ok_diag | ~np.isfinite(crb)
    return np.minimum(np.where(bad, CRB_WORST, crb), CRB_WORST)


def patch_energy(geom: ETGeometry, tx_gram: np.ndarray) -> np.ndarray:
    """Beam energy ``E_q = a_q^H R_x a_q`` toward every patch (W), ``[..., Q]``."""
    return tx_gram[..., 0, 0].real


def transmit_gram(params: ETParams, geom: ETGeometry, beams: np.ndarray) -> np.ndarray:
    """``S_q^H W W^H S_q`` for every patch, ``[B, Q, 3, 3]`` (W).

    Only the steering vectors are read (the large operand; reading it once per step is what the throughput
    depends on): ``da_i = j (s_iy diag(p_y) + s_iz diag(p_z)) a`` for the y-z array, so one product of ``a^H`` with
    ``[W, diag(p_y) W, diag(p_z) W]`` gives ``U_q = [a^H W; a^H D_y W; a^H D_z W]``, and ``S_q^H W = M_q U_q`` with
    the per-patch ``M_q = [[1, 0, 0], [0, -j s_ty, -j s_tz], [0, -j s_py, -j s_pz]]`` (``geom.gram_map`` holds its
    conjugate, built once per scenario).
    """
    pos = params.tx_positions
    b, q, _ = geom.steering.shape
    stacked = np.concatenate([beams, pos[1][:, None] * beams, pos[2][:, None] * beams], axis=-1)
    u = (geom.steering @ np.conj(stacked)).reshape(b, q, 3, -1)  # conj(U_q)
    v = geom.gram_map @ u  # conj(S_q^H W)
    return np.conj(v) @ v.mT


def select_patches(geom: ETGeometry, index) -> ETGeometry:
    """The geometry of the patches ``index`` (slice, mask or indices along the patch axis) in every row."""
    return ETGeometry(geom.steering[:, index], geom.tx_slopes[:, index], geom.jacobian[:, index],
                      geom.weights[:, index], geom.rx_gram[:, index], geom.visible[:, index], geom.snr_factor,
                      geom.gram_map[:, index])


def active(geom: ETGeometry) -> ETGeometry:
    """The geometry cut to the largest number of visible patches in the batch (the rest is padding in every row)."""
    n = int(np.max(np.sum(geom.visible, axis=-1)))
    return geom if n == geom.visible.shape[-1] else select_patches(geom, slice(0, n))


def coverage_ratio(energy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``max_q E_q / min_q E_q`` over the visible patches (eq. (15)), capped at :data:`COVERAGE_RATIO_MAX`, ``[...]``."""
    hi = np.maximum(masked_max(energy, mask), 0.0)  # -inf (no visible patch) -> 0
    lo = np.minimum(masked_min(energy, mask), hi)
    ratio = hi / np.maximum(lo, hi / COVERAGE_RATIO_MAX + 1e-300)
    return np.minimum(np.where(hi > 0.0, ratio, COVERAGE_RATIO_MAX), COVERAGE_RATIO_MAX)


# ---------------------------------------------------------------------------------------- a covering design
#: L-BFGS iterations of :func:`covering_beams`, and the temperature of its smooth max and min of the log energies
#: (measured on 60 scenarios, seeds 0-39 and 1000-1019: every design feasible, coverage ratios 1.0-1.1, 0.12 s each).
COVERING_ITERATIONS = 300
COVERING_TEMPERATURE = 0.05


@dataclass(frozen=True)
class CoveringDesign:
    """What :func:`covering_beams` designs: the beams, their sensing parts and a subspace around them."""

    beams: np.ndarray  # [Nt, K], ||W||_F^2 = P_T
    sensing: np.ndarray  # [Nt, K] the sensing parts at unit Frobenius norm, in every user's null space (0 if none fit)
    subspace: np.ndarray  # [Nt, 2K] orthonormal: the sensing parts' span and the K directions of most patch energy
    # that no user hears (0 if no sensing part fits)


def covering_beams(params: ETParams, channels: np.ndarray, steering: np.ndarray, sinr_target: float) -> CoveringDesign:
    """Beams that spread their energy evenly over the target's visible patches and meet every user's SINR target.

    A design of this suite for feasible starting points (the structured mode's coverage anchor), not one of [ET]'s.
    Column ``k`` is ``w_k = v_k + c s_k``: ``v_k`` user k's ZF direction at the least power that meets
    ``sinr_target`` (ZF directions lie in the span of the channels), and ``s_k`` a sensing part in the null space
    of every user's channel, so that no user hears any sensing part and every SINR is exactly the target, and the
    power splits exactly, ``||W||_F^2 = ||V||_F^2 + c^2`` with ``||S||_F = 1``; ``c`` spends the rest of the budget.
    The sensing parts minimise a smooth version (log-sum-exp at :data:`COVERING_TEMPERATURE`) of
    ``log max_q E_q - log min_q E_q``, the log of the coverage ratio of eq. (15) with the users' parts included, by
    L-BFGS from the K directions of most patch energy that no user hears. Where the users' parts alone exceed the budget,
    W is scaled onto it (and the SINRs fall short: the caller checks the design).

    Args:
        params: the system (``p_max_w``, ``noise_user_w``).
        channels: ``[K, Nt]`` user channels (row k is ``h_k``), one scenario.
        steering: ``[Q, Nt]`` the visible patches' steering vectors ``a_q``.
        sinr_target: linear SINR each user is given.

    Returns:
        The beams ``[Nt, K]`` (``||W||_F^2 = P_T``), the unit sensing parts ``S`` and an orthonormal basis
        ``[Nt, 2K]`` of the span of ``S`` and of the K directions of most patch energy that no user hears (a space
        in which to reshape the sensing parts).
    """
    k, nt = channels.shape
    _, _, vh = np.linalg.svd(np.conj(channels), full_matrices=True)
    basis = np.conj(vh[k:]).T  # [Nt, d]: conj(h_k) . s = 0 for every k, orthonormal columns
    d = basis.shape[-1]
    seen = np.conj(steering) @ basis  # a_q^H N
    zf = unit_columns(zf_directions(channels))
    gain_zf = np.abs(np.sum(np.conj(channels.T) * zf, axis=0))  # |h_k^H u_k|
    comm = zf * (np.sqrt(sinr_target * params.noise_user_w) / gain_zf)
    left = params.p_max_w - squared_norm(comm, (-2, -1))
    if left <= 0.0:
        return CoveringDesign(scale_onto_budget(comm, params.p_max_w), np.zeros_like(comm),
                              np.zeros((nt, 2 * k), complex))
    offset = (np.conj(steering) @ comm) / math.sqrt(left)  # a_q^H v_k / c

    def unpack(z: np.ndarray) -> np.ndarray:
        return (z[: d * k] + 1j * z[d * k:]).reshape(d, k)

    def smooth_log_ratio(z: np.ndarray) -> tuple[float, np.ndarray]:
        norm = np.linalg.norm(z)
        y = seen @ unpack(z / norm) + offset  # a_q^H w_k / c
        energy = np.maximum(np.sum(np.abs(y) ** 2, axis=-1), 1e-300)
        v = np.log(energy) / COVERING_TEMPERATURE  # a smooth max of log E minus a smooth min of it (log-sum-exp)
        value = COVERING_TEMPERATURE * (logsumexp(v) + logsumexp(-v))
        slope = softmax(v) - softmax(-v)  # d value / d log E_q
        grad = np.conj(seen).T @ ((slope / energy)[:, None] * y)  # d/d conj(x) (Wirtinger) at x = z / ||z||
        g = 2.0 * np.concatenate([grad.real.ravel(), grad.imag.ravel()])
        return value, (g - np.dot(g, z) * z / norm**2) / norm  # through the normalisation z / ||z||

    start = np.linalg.eigh(np.conj(seen).T @ seen)[1][:, -k:]  # the top eigenvectors of the patch energy
    found = minimize(smooth_log_ratio, np.concatenate([start.real.ravel(), start.imag.ravel()]), jac=True,
                     method="L-BFGS-B", options={"maxiter": COVERING_ITERATIONS})
    x = unpack(found.x)
    sensing = (basis @ x) / np.linalg.norm(x)
    subspace = basis @ np.linalg.qr(np.concatenate([x, start], axis=1))[0]
    return CoveringDesign(scale_onto_budget(comm + math.sqrt(left) * sensing, params.p_max_w), sensing, subspace)


# ---------------------------------------------------------------------------------------- one assessment
@dataclass(frozen=True)
class ETConfiguration:
    """What the agent controls: the BS beamformer ``W = [w_1 .. w_K]`` (sqrt(W))."""

    beams: np.ndarray  # [Nt, K] complex


@dataclass(frozen=True)
class ETMeasurement:
    """Metrics of a batch of beamformers (leading axis B)."""

    sinr: np.ndarray  # [B, K] linear
    rate: np.ndarray  # [B, K] bit/s/Hz
    power: np.ndarray  # [B] W
    crb: np.ndarray  # [B, 4] m^2, rad^2, rad^2, rad^2
    crb_trace: np.ndarray  # [B] tr(J_e^-1), eq. (27)
    energy: np.ndarray  # [B, Q'] E_q (W) of the first Q' patches (the batch's largest visible count)
    coverage_ratio: np.ndarray  # [B] eq. (15)
    wim: np.ndarray  # [B] rho zeta tr(CRB) - (1 - rho) R_sum, eq. (30)


def wim_objective(params: ETParams, crb_trace: np.ndarray, sum_rate: np.ndarray) -> np.ndarray:
    """``rho zeta tr(J_e^-1) - (1 - rho) R_sum`` of eq. (30)."""
    return params.wim_rho * params.wim_zeta * crb_trace - (1.0 - params.wim_rho) * sum_rate


def measure_covariance(params: ETParams, geom: ETGeometry, tx_gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CRBs ``[B, 4]`` and their trace ``[B]`` from the transmit Grams ``[B, Q, 3, 3]`` of the patches."""
    j_e = efim(normalised_fim(params, geom, tx_gram)) * geom.snr_factor[..., None, None]
    crb = crb_diagonal(j_e)
    return crb, crb.sum(axis=-1)


def measure(params: ETParams, scenario: ETScenario, geom: ETGeometry, config: ETConfiguration) -> ETMeasurement:
    """SINR (eq. (9)), rates (eq. (10)), power, CRBs (eqs. (16)-(26)), coverage (eq. (15)) and the WIM objective."""
    beams = np.asarray(config.beams)
    sinr = user_sinr(scenario.channels, beams, params.noise_user_w)
    r = rate(sinr)
    power = squared_norm(beams, (-2, -1))
    geom = active(geom)
    gram = transmit_gram(params, geom, beams)
    crb, trace = measure_covariance(params, geom, gram)
    energy = patch_energy(geom, gram)
    ratio = coverage_ratio(energy, geom.visible)
    return ETMeasurement(sinr, r, power, crb, trace, energy, ratio, wim_objective(params, trace, r.sum(axis=-1)))


def transmit_pattern(params: ETParams, beams: np.ndarray, azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Transmit beam pattern ``a(theta, phi)^H R_x a(theta, phi)`` (W) on a grid of directions, ``[...]``."""
    a = steering_set(params.tx_positions, azimuth_elevation_cosines(azimuth, elevation), params.wavelength)
    v = np.conj(a[..., 0, :]) @ beams
    return squared_norm(v)
