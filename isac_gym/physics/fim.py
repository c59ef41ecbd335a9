"""System model of the FIM-enabled ISAC system ([FIM], docs/fim.md).

A transmit FIM (``Nt = Ntx x Ntz``) and a receive FIM (``Nr = Nrx x Nrz``),
flexible UPAs in the x-z plane whose elements move along y on a grid of
``2 y_max / step + 1`` levels; K single-antenna multipath users; a point target.
All functions are batch-first: scenario fields and configurations carry any
number of leading batch axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import units
from .arrays import direction_cosines, phase_split, squared_norm, steering_set_from_split, upa_xz_positions
from .channels import multipath_from_split, multipath_split, rayleigh_gains
from .crb import angle_crb, beam_gram, covariance_gram, trace_products
from .metrics import rate, user_sinr
from .validation import Validated, param


@dataclass(frozen=True)
class FIMParams(Validated):
    """Physical parameters of the FIM system: the one source of every default (the paper's values where it
    gives them, docs/fim.md otherwise). Validates itself: a bad value raises ``ValueError`` naming the field."""

    n_tx_x: int = param(3, "transmit FIM elements along x (Ntx)", kind="int")
    n_tx_z: int = param(3, "transmit FIM elements along z (Ntz)", kind="int")
    n_rx_x: int = param(4, "receive FIM elements along x (Nrx)", kind="int")
    n_rx_z: int = param(3, "receive FIM elements along z (Nrz)", kind="int")
    n_users: int = param(4, "single-antenna users K", kind="int")
    n_paths: int = param(3, "paths per user L (eq. (6))", kind="int")
    carrier_hz: float = param(28e9, "carrier frequency (Hz)", kind="positive")
    spacing_wl: float = param(0.5, "element spacing dx = dz (wavelengths)", kind="positive")
    y_max_wl: float = param(1.0, "largest element displacement |y| (wavelengths)", kind="positive")
    step_wl: float = param(0.125, "deformation step (wavelengths); y_max_wl must be a multiple", kind="positive")
    p_max_dbm: float = param(20.0, "transmit power budget P_max (dBm)", kind="finite", low=-100.0, high=100.0)
    gamma: float = param(7.0, "users' SINR threshold (linear, 2^3 - 1)", kind="positive")
    noise_user_dbm: float = param(-100.0, "user noise power sigma_k^2 (dBm)", kind="finite", low=-250.0, high=100.0)
    noise_radar_dbm: float = param(-95.0, "radar receive noise power sigma_r^2 (dBm)", kind="finite", low=-250.0,
                                   high=100.0)
    snapshots: int = param(256, "radar snapshots T", kind="int")
    c0_db: float = param(-30.0, "path loss at 1 m, C0 (dB)", kind="finite")
    path_loss_exponent: float = param(2.8, "user path-loss exponent", kind="positive")
    user_distance_m: tuple[float, float] = param((20.0, 60.0), "user distance range (m)", kind="pair", low=1e-3)
    angle_range: tuple[float, float] = param((math.pi / 6, 5 * math.pi / 6), "range of the path and target angles (rad)",
                                             kind="pair")
    target_distance_m: float = param(30.0, "target distance (m)", kind="positive")
    rcs_m2: float = param(1.0, "target radar cross-section (m^2)", kind="positive")
    tx_x_offset_wl: float = param(6.0, "x offset of the transmit FIM (wavelengths, eq. (1))", kind="finite")

    def check(self) -> None:
        ratio = self.y_max_wl / self.step_wl
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"y_max_wl must be a whole number of step_wl, got y_max_wl={self.y_max_wl}, "
                             f"step_wl={self.step_wl}")

    @cached_property
    def wavelength(self) -> float:
        return units.wavelength(self.carrier_hz)

    @property
    def n_tx(self) -> int:
        return self.n_tx_x * self.n_tx_z

    @property
    def n_rx(self) -> int:
        return self.n_rx_x * self.n_rx_z

    @property
    def n_streams(self) -> int:
        """Columns of W: K user streams plus Nr sensing streams (eq. (8) context of [FIM])."""
        return self.n_users + self.n_rx

    @property
    def max_level(self) -> int:
        """Largest |level|; positions are ``level * step``, levels in ``[-max_level, max_level]``."""
        return int(round(self.y_max_wl / self.step_wl))

    @cached_property
    def step_m(self) -> float:
        return self.step_wl * self.wavelength

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
    def tx_xz(self) -> np.ndarray:
        """``[2, Nt]`` x, z of the transmit elements (m): eqs. (1)-(2) with the 6 lambda x offset."""
        d = self.spacing_wl * self.wavelength
        return upa_xz_positions(self.n_tx_x, self.n_tx_z, d, d, self.tx_x_offset_wl * self.wavelength)

    @cached_property
    def rx_xz(self) -> np.ndarray:
        """``[2, Nr]`` x, z of the receive elements (m), eqs. (1)-(2) of [FIM]."""
        d = self.spacing_wl * self.wavelength
        return upa_xz_positions(self.n_rx_x, self.n_rx_z, d, d)


@dataclass(frozen=True)
class FIMScenario:
    """One channel realisation (fields may carry leading batch axes).

    Attributes:
        path_gain: ``[K, L]`` complex path gains ``alpha_{k,l}`` (eq. (6)).
        path_phi, path_theta: ``[K, L]`` departure angles of the user paths (rad).
        beta: ``[K]`` path loss ``sum_l rho_{k,l}^2`` (linear).
        target_phi, target_theta: ``[]`` target direction (rad).
        alpha: ``[]`` complex target reflection coefficient ``alpha_r`` (eq. (8)).
    """

    path_gain: np.ndarray
    path_phi: np.ndarray
    path_theta: np.ndarray
    beta: np.ndarray
    target_phi: np.ndarray
    target_theta: np.ndarray
    alpha: np.ndarray


@dataclass(frozen=True)
class FIMConfiguration:
    """What the BS controls (fields may carry leading batch axes).

    Attributes:
        beams: ``[Nt, K + Nr]`` complex beamformer ``W = [W_C W_R]`` (sqrt(W)).
        y_tx: ``[Nt]`` transmit element y positions (m).
        y_rx: ``[Nr]`` receive element y positions (m).
        y_tx_requested, y_rx_requested: the positions the action asked for before clipping to
            ``[y_min, y_max]`` (m); equal to ``y_tx``, ``y_rx`` when omitted. The reward's position
            penalty counts the elements where they differ, so it is a function of the configuration.
    """

    beams: np.ndarray
    y_tx: np.ndarray
    y_rx: np.ndarray
    y_tx_requested: np.ndarray | None = None
    y_rx_requested: np.ndarray | None = None

    def __post_init__(self):
        if self.y_tx_requested is None:
            object.__setattr__(self, "y_tx_requested", np.array(self.y_tx, dtype=float))
        if self.y_rx_requested is None:
            object.__setattr__(self, "y_rx_requested", np.array(self.y_rx, dtype=float))


def draw_scenario(params: FIMParams, rng: np.random.Generator) -> FIMScenario:
    """Draw one scenario: Rayleigh path gains with equal path powers ``beta_k / L``,
    ``beta_k = C0 d_k^-2.8`` with ``d_k ~ U[20, 60]`` m, uniform angles, and a
    target whose ``|alpha_r|^2`` follows the radar equation with a uniform phase."""
    k, l = params.n_users, params.n_paths
    lo, hi = params.angle_range
    dist = rng.uniform(*params.user_distance_m, size=k)
    beta = units.path_loss(dist, params.c0_db, params.path_loss_exponent)
    gains = rayleigh_gains(rng, (k, l), beta[:, None] / l)
    path_phi = rng.uniform(lo, hi, size=(k, l))
    path_theta = rng.uniform(lo, hi, size=(k, l))
    target_phi, target_theta = rng.uniform(lo, hi, size=2)
    amp = math.sqrt(units.radar_gain(params.target_distance_m, params.wavelength, params.rcs_m2))
    alpha = amp * np.exp(1j * rng.uniform(0.0, 2 * math.pi))
    return FIMScenario(gains, path_phi, path_theta, beta, np.asarray(target_phi), np.asarray(target_theta),
                       np.asarray(alpha))


@dataclass(frozen=True)
class FIMGeometry:
    """Scenario constants of every steering phase (fields carry the scenario's batch axes).

    Attributes:
        user_base, user_slope: multipath split of eq. (6), ``[..., K, L, Nt]`` / ``[..., K, L]``.
        tx_base, tx_slope: target split for the transmit FIM, ``[..., 3, Nt]`` / ``[..., 3]``.
        rx_base, rx_slope: target split for the receive FIM, ``[..., 3, Nr]`` / ``[..., 3]``.
        alpha_power: ``[...]`` ``|alpha_r|^2``.
    """

    user_base: np.ndarray
    user_slope: np.ndarray
    tx_base: np.ndarray
    tx_slope: np.ndarray
    rx_base: np.ndarray
    rx_slope: np.ndarray
    alpha_power: np.ndarray


@dataclass(frozen=True)
class FIMKinematics:
    """Everything that depends on the surface shapes: user channels and target steering sets."""

    channels: np.ndarray  # [..., K, Nt]
    tx_set: np.ndarray  # [..., 3, Nt]: a, da/dphi, da/dtheta
    rx_set: np.ndarray  # [..., 3, Nr]: b, db/dphi, db/dtheta


def geometry(params: FIMParams, scenario: FIMScenario) -> FIMGeometry:
    """Precompute the y-independent phase terms of eqs. (3)-(6) of [FIM] for a scenario."""
    lam = params.wavelength
    user_base, user_slope = multipath_split(params.tx_xz, scenario.path_gain, scenario.path_phi,
                                            scenario.path_theta, lam)
    dirs = direction_cosines(scenario.target_phi, scenario.target_theta)
    tx_base, tx_slope = phase_split(params.tx_xz, dirs, lam)
    rx_base, rx_slope = phase_split(params.rx_xz, dirs, lam)
    return FIMGeometry(user_base, user_slope, tx_base, tx_slope, rx_base, rx_slope, np.abs(scenario.alpha) ** 2)


def kinematics(geom: FIMGeometry, y_tx: np.ndarray, y_rx: np.ndarray) -> FIMKinematics:
    """User channels ``h_k(y_t)`` (eq. (6)) and steering sets ``a(y_t)``, ``b(y_r)`` with derivatives
    (eqs. (3)-(5), (11)-(12)) for surface shapes ``y_tx [..., Nt]``, ``y_rx [..., Nr]`` in m."""
    return FIMKinematics(
        multipath_from_split(geom.user_base, geom.user_slope, y_tx),
        steering_set_from_split(geom.tx_base, geom.tx_slope, y_tx),
        steering_set_from_split(geom.rx_base, geom.rx_slope, y_rx),
    )


def crb_from_gram(params: FIMParams, alpha_power: np.ndarray, rx_set: np.ndarray, tx_gram: np.ndarray) -> np.ndarray:
    """Angle CRB of eq. (19) from the receive steering set and the Gram ``a_q^H R a_s``; ``[...]`` rad^2."""
    t = trace_products(rx_set, tx_gram)
    return angle_crb(t, alpha_power, params.snapshots, params.noise_radar_w)


def evaluate(params: FIMParams, geom: FIMGeometry, config: FIMConfiguration,
             kin: FIMKinematics | None = None) -> dict[str, np.ndarray]:
    """Every metric of a configuration (batched).

    Returns a dict with ``crb`` (eq. (19), rad^2), ``sinr`` (eq. (20c), linear, ``[..., K]``),
    ``rate`` (bit/s/Hz), ``power`` (``||W||_F^2``, W) and ``user_power`` (``||w_k||^2``, W).
    ``kin`` may pass the kinematics of ``config``'s shapes when they are already known.
    """
    if kin is None:
        kin = kinematics(geom, config.y_tx, config.y_rx)
    sinr = user_sinr(kin.channels, config.beams, params.noise_user_w)
    col_power = squared_norm(config.beams, -2)
    return {
        "crb": crb_from_gram(params, geom.alpha_power, kin.rx_set, beam_gram(kin.tx_set, config.beams)),
        "sinr": sinr,
        "rate": rate(sinr),
        "power": col_power.sum(axis=-1),
        "user_power": col_power[..., : params.n_users],
    }


def reference_crbs(params: FIMParams, geom: FIMGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Per-scenario reference CRBs of the reward's score (docs/fim.md, Reward), flat arrays (y = 0):

    * worst: isotropic transmission ``R = (P_max / Nt) I``;
    * target: all power on the target direction, ``R = P_max a a^H / Nt``.
    """
    batch = geom.alpha_power.shape
    kin = kinematics(geom, np.zeros(batch + (params.n_tx,)), np.zeros(batch + (params.n_rx,)))
    p = params.p_max_w
    iso = (p / params.n_tx) * np.eye(params.n_tx)
    a = kin.tx_set[..., 0, :]
    focused = (p / params.n_tx) * a[..., :, None] * np.conj(a[..., None, :])
    worst = crb_from_gram(params, geom.alpha_power, kin.rx_set, covariance_gram(kin.tx_set, iso))
    target = crb_from_gram(params, geom.alpha_power, kin.rx_set, covariance_gram(kin.tx_set, focused))
    return worst, target


def clipped_moves(params: FIMParams, config: FIMConfiguration) -> np.ndarray:
    """Fraction of elements whose requested position was clipped (``y != y_requested``), ``[...]``."""
    tol = 1e-9 * params.step_m
    moved = np.concatenate([np.abs(config.y_tx - config.y_tx_requested),
                            np.abs(config.y_rx - config.y_rx_requested)], axis=-1)
    return (moved > tol).sum(axis=-1) * (1.0 / moved.shape[-1])


def position_excess(params: FIMParams, config: FIMConfiguration) -> np.ndarray:
    """Fraction of elements outside ``[y_min, y_max]`` (the shape constraint of problem (20)), ``[...]``."""
    limit = params.y_max_wl * params.wavelength * (1.0 + 1e-9)
    y = np.concatenate([config.y_tx, config.y_rx], axis=-1)
    return (np.abs(y) > limit).sum(axis=-1) * (1.0 / y.shape[-1])
