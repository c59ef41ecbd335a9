"""System model of the MF-RIS-enabled multi-user multi-target ISAC system ([MF-RIS], docs/mfris.md).

A BS with ``Nt`` antennas serves K single-antenna users and illuminates J targets through a
multi-functional RIS (MF-RIS): a UPA of ``M = Mx Mz`` elements at the origin in the x-z plane that
reflects into the BS's half-space (side r, y < 0) and refracts into the other (side t, y > 0),
amplifying and phase-shifting per side, ``Theta_s = diag(v_s)``, ``v_{s,m} = sqrt(beta_m^s) e^{j theta_m^s}``
(eq. (2)). The direct BS-user and BS-target links are blocked. On each side an L-shaped array of
``Ns = Nv + Nh`` sensing elements receives the echoes of that side's targets. Much of the
paper's model is rebuilt (docs/mfris.md); the tags say how sure each piece is: [FOUND-TEXT] (stated in
words in the paper), [RECON] (rebuilt from the text and standard RIS/ISAC theory). An equation number
with [RECON] is that of docs/mfris.md's rebuild (R-numbered there), not a citation of the paper's.

The comparison surfaces of the paper (``surface``): ``active`` (M/2 elements reflect, M/2 refract,
amplitudes up to ``beta_max``), ``passive`` (the same split, unit amplitudes) and ``star`` (every
element reflects and refracts, ``beta^r + beta^t = 1``) have no sensing elements: their echo is
received by the BS through the surface (a second BS-surface hop). Passive surfaces and STAR add no
amplification noise and have no amplifier budget; the total power ``P_tot = P_BS + P_RIS`` is the
same for every surface (``P_RIS = 0`` for passive and STAR).

Geometry: unit direction ``u = (u_x, u_y, u_z)`` from the surface to a point; element ``(i_x, i_z)``
has phase ``pi (i_x u_x + i_z u_z)`` (half-wavelength spacing, eqs. (5), (11)); the sensing array has
``Nv`` elements along z and ``Nh`` along x (eq. (12)). Batch-first: every function takes leading
batch axes; sides are an axis of size 2 (0 = r, 1 = t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np

from . import units
from .arrays import squared_norm
from .channels import rayleigh_gains
from .metrics import user_sinr
from .validation import Validated, param

PROTOCOLS = ("ES", "MS", "TS")
SURFACES = ("mf", "active", "passive", "star")
SIDES = ("reflection", "refraction")


@dataclass(frozen=True)
class MFRISParams(Validated):
    """Physical parameters of the MF-RIS system: the one source of every default (docs/mfris.md, "Defaults";
    most are reconstructed). Validates itself: a bad value raises ``ValueError`` naming the field."""

    protocol: str = param("ES", "MF-RIS operating protocol: 'ES' energy splitting, 'MS' mode switching (one mode per "
                          "element), 'TS' time switching (all reflect, then all refract)", kind="choice",
                          choices=PROTOCOLS)
    surface: str = param("mf", "'mf' (MF-RIS, echo at its sensing elements) or the paper's comparison surfaces "
                         "'active', 'passive', 'star' (echo received by the BS through the surface)",
                         kind="choice", choices=SURFACES)
    ts_fraction: float = param(0.5, "TS: fraction lambda_r of the frame spent reflecting (lambda_t = 1 - lambda_r)",
                               kind="finite", low=0.01, high=0.99)
    n_tx: int = param(8, "BS antennas Nt (half-wavelength ULA facing the surface)", kind="int", high=256)
    n_elements_x: int = param(6, "surface elements along x (Mx)", kind="int", high=128)
    n_elements_z: int = param(5, "surface elements along z (Mz)", kind="int", high=128)
    n_sensing_vertical: int = param(4, "sensing elements per side along z (Nv)", kind="int", high=128)
    n_sensing_horizontal: int = param(4, "sensing elements per side along x (Nh)", kind="int", high=128)
    n_users: int = param(4, "single-antenna users K", kind="int", high=64)
    n_users_reflection: int = param(2, "users on the reflection side K_r (the others refract)", kind="int", low=0,
                                    high=64)
    n_targets: int = param(4, "point targets J", kind="int", high=64)
    n_targets_reflection: int = param(2, "targets on the reflection side J_r (the others on the refraction side)",
                                      kind="int", low=0, high=64)
    p_max_dbm: float = param(40.0, "total power P_tot = P_BS + P_RIS (dBm)", kind="finite", low=-100.0, high=100.0)
    ris_power_share: float = param(0.5, "share of P_tot given to the surface's amplifiers (mf, active; passive and "
                                   "STAR have none)", kind="finite", low=0.0, high=0.99)
    beta_max_db: float = param(20.0, "largest amplifier power gain beta_max (dB)", kind="finite", low=0.0, high=60.0)
    bs_distance_m: float = param(20.0, "distance of the BS from the surface, on its normal at y < 0 (m)",
                                 kind="positive")
    user_distance_m: tuple[float, float] = param((5.0, 20.0), "range of the users' distances from the surface (m)",
                                                 kind="pair", low=0.5)
    target_distance_m: tuple[float, float] = param((4.0, 8.0), "range of the targets' distances from the surface (m)",
                                                   kind="pair", low=0.5)
    max_angle_deg: float = param(60.0, "users and targets lie within this angle of the surface normal (deg)",
                                 kind="finite", low=0.0, high=89.0)
    l0_db: float = param(-30.0, "path loss L0 at 1 m (dB)", kind="finite", low=-100.0, high=0.0)
    exp_bs_ris: float = param(2.8, "path-loss exponent BS-surface", kind="positive")
    exp_ris_user: float = param(3.0, "path-loss exponent surface-user", kind="positive")
    exp_ris_target: float = param(3.0, "path-loss exponent surface-target (each way)", kind="positive")
    rician_db: float = param(0.0, "Rician factor kappa of every channel (dB)", kind="finite", low=-100.0, high=100.0)
    noise_user_dbm: float = param(-80.0, "user noise sigma_k^2 (dBm)", kind="finite", low=-250.0, high=100.0)
    noise_ris_dbm: float = param(-80.0, "amplification noise sigma_R^2 (dBm; mf and active)", kind="finite",
                                 low=-250.0, high=100.0)
    noise_sensing_dbm: float = param(-80.0, "echo receiver noise sigma_s^2 (dBm; sensing elements or the BS)",
                                     kind="finite", low=-250.0, high=100.0)
    rcs_m2: float = param(1.0, "radar cross-section of every target (m^2)", kind="positive")
    rate_min: float = param(1.0, "minimum rate R_min of every user (bit/s/Hz)", kind="positive")
    bs_sensor_link: bool = param(False, "model the BS-to-sensing-element interference F_r W W^H F_r^H (reflection "
                                 "side, which faces the BS; mf only)", kind="choice", choices=(False, True))

    def check(self) -> None:
        if self.n_users_reflection > self.n_users:
            raise ValueError(f"n_users_reflection must lie in [0, n_users={self.n_users}], "
                             f"got {self.n_users_reflection}")
        if self.n_targets_reflection > self.n_targets:
            raise ValueError(f"n_targets_reflection must lie in [0, n_targets={self.n_targets}], "
                             f"got {self.n_targets_reflection}")
        if self.surface != "mf" and self.protocol != "ES":
            raise ValueError(f"protocol must be 'ES' for surface={self.surface!r} (the protocols are the MF-RIS's), "
                             f"got {self.protocol!r}")
        if self.surface in ("active", "passive") and self.n_elements < 2:
            raise ValueError("n_elements_x * n_elements_z must be at least 2 for a split surface")

    # -- derived quantities (SI) --------------------------------------------------------
    @property
    def n_elements(self) -> int:
        """Surface elements ``M = Mx Mz``."""
        return self.n_elements_x * self.n_elements_z

    @property
    def n_sensing(self) -> int:
        """Sensing elements per side ``Ns = Nv + Nh``."""
        return self.n_sensing_vertical + self.n_sensing_horizontal

    @property
    def n_streams(self) -> int:
        """Columns of ``W = [W_c W_0]``: K user streams and Nt radar streams."""
        return self.n_users + self.n_tx

    @property
    def amplified(self) -> bool:
        """Whether the surface amplifies (mf, active): amplification noise and an amplifier budget."""
        return self.surface in ("mf", "active")

    @property
    def n_receive(self) -> int:
        """Echo receiver size: the side's sensing elements (mf) or the BS antennas."""
        return self.n_sensing if self.surface == "mf" else self.n_tx

    @cached_property
    def beta_max(self) -> float:
        """Largest power gain of an element: ``beta_max`` (mf, active), 1 (passive, STAR)."""
        return float(units.db_to_linear(self.beta_max_db)) if self.amplified else 1.0

    @cached_property
    def p_total_w(self) -> float:
        return float(units.dbm_to_watt(self.p_max_dbm))

    @cached_property
    def p_ris_w(self) -> float:
        """Amplifier budget ``P_RIS`` (W): a share of ``P_tot`` for amplifying surfaces, else 0."""
        return self.ris_power_share * self.p_total_w if self.amplified else 0.0

    @cached_property
    def p_bs_w(self) -> float:
        """BS budget ``P_BS = P_tot - P_RIS`` (W), the fairness rule of the paper's comparison."""
        return self.p_total_w - self.p_ris_w

    @cached_property
    def noise_user_w(self) -> float:
        return float(units.dbm_to_watt(self.noise_user_dbm))

    @cached_property
    def noise_ris_w(self) -> float:
        """Amplification noise power (W); 0 for surfaces without amplifiers."""
        return float(units.dbm_to_watt(self.noise_ris_dbm)) if self.amplified else 0.0

    @cached_property
    def noise_sensing_w(self) -> float:
        return float(units.dbm_to_watt(self.noise_sensing_dbm))

    @cached_property
    def user_side(self) -> np.ndarray:
        """``[K]`` side of each user (0 reflection, 1 refraction): the first ``K_r`` users reflect."""
        return (np.arange(self.n_users) >= self.n_users_reflection).astype(np.intp)

    @cached_property
    def target_side(self) -> np.ndarray:
        """``[J]`` side of each target (0 reflection, 1 refraction): the first ``J_r`` targets reflect."""
        return (np.arange(self.n_targets) >= self.n_targets_reflection).astype(np.intp)

    @cached_property
    def slot_weights(self) -> np.ndarray:
        """``[2]`` time fractions ``lambda_s``: ``(ts_fraction, 1 - ts_fraction)`` for TS, ``(1, 1)`` otherwise."""
        if self.surface == "mf" and self.protocol == "TS":
            return np.array([self.ts_fraction, 1.0 - self.ts_fraction])
        return np.ones(2)

    @cached_property
    def sinr_min(self) -> np.ndarray:
        """``[K]`` SINR each user needs for ``lambda_s log2(1 + gamma_k) >= R_min`` (eq. (17c))."""
        return np.exp2(self.rate_min / self.slot_weights[self.user_side]) - 1.0

    @cached_property
    def element_mask(self) -> np.ndarray:
        """``[2, M]`` which elements may serve each side: all for mf and STAR; the first ``ceil(M/2)`` reflect
        and the rest refract for the split surfaces (active, passive)."""
        m = self.n_elements
        if self.surface in ("active", "passive"):
            first = np.arange(m) < (m + 1) // 2
            return np.stack([first, ~first]).astype(float)
        return np.ones((2, m))

    @cached_property
    def element_index(self) -> np.ndarray:
        """``[2, M]`` integer (x, z) index of each surface element, x fastest."""
        m = np.arange(self.n_elements)
        return np.stack([m % self.n_elements_x, m // self.n_elements_x]).astype(float)


@dataclass(frozen=True)
class MFRISScenario:
    """One channel realisation (fields may carry leading batch axes).

    Attributes:
        g: ``[M, Nt]`` BS-surface channel G (sqrt of power gain).
        h: ``[K, M]`` surface-user channels, row k is ``h_k`` (user k receives ``h_k^H Theta_s (G x + n_R)``).
        sensing: ``[2, Ns, M]`` ``H_s = sum_{j in J_s} alpha_j b_j a_j^H`` per side (eq. (14a)).
        roundtrip: ``[2, M, M]`` ``sum_{j in J_s} alpha_j a_j^* a_j^H``: surface-target-surface per side (the
            echo path of the comparison surfaces, whose echo returns through the surface to the BS).
        bs_sensor: ``[2, Ns, Nt]`` ``F_s`` BS-to-sensing-element channels (zero unless ``bs_sensor_link``).
        target_steering: ``[J, M]`` ``a_j``; target_response: ``[J, Ns]`` ``b_j`` (the factors of ``H_s``).
        user_dir: ``[K, 3]`` unit directions of the users from the surface; user_dist: ``[K]`` m.
        target_dir: ``[J, 3]``; target_dist: ``[J]`` m; target_gain: ``[J]`` complex ``alpha_j``.
        pl_bs_ris: ``[]`` path loss of G; pl_user: ``[K]`` path losses of the ``h_k``.
    """

    g: np.ndarray
    h: np.ndarray
    sensing: np.ndarray
    roundtrip: np.ndarray
    bs_sensor: np.ndarray
    target_steering: np.ndarray
    target_response: np.ndarray
    user_dir: np.ndarray
    user_dist: np.ndarray
    target_dir: np.ndarray
    target_dist: np.ndarray
    target_gain: np.ndarray
    pl_bs_ris: np.ndarray
    pl_user: np.ndarray


@dataclass(frozen=True)
class MFRISConfiguration:
    """What the BS and the surface control (fields may carry leading batch axes).

    Attributes:
        beams: ``[Nt, K + Nt]`` complex ``W = [W_c W_0]`` (sqrt(W)): K user beams, then Nt radar streams.
        coefficients: ``[2, M]`` complex ``v_r, v_t`` as requested, ``|v_{s,m}|^2 = beta_m^s``; the surface
            scales them down onto the amplifier budget (:func:`amplifier_scale`), so what the requested
            coefficients ask beyond the budget is known from the configuration alone.
    """

    beams: np.ndarray
    coefficients: np.ndarray


@dataclass(frozen=True)
class MFRISMeasurement:
    """Every metric of a batch of configurations (leading axes ``[...]``).

    Attributes:
        sinr: ``[..., K]`` user SINR (eq. (9)); rate: ``[..., K]`` ``lambda_s log2(1 + sinr)`` (bit/s/Hz).
        echo_sinr: ``[..., 2]`` per-side echo SINR with the Lemma-1 filter (eqs. (16), (23)).
        objective: ``[...]`` ``sum_s lambda_s gamma_s`` (eq. (17a)).
        bs_power: ``[...]`` ``||W||_F^2`` (W); ris_power: ``[..., 2]`` amplifier output per side after scaling (W),
            0 for surfaces without amplifiers (the power a passive surface passes on is the BS's, not its own).
        ris_requested: ``[...]`` amplifier output the requested coefficients ask for, as budgeted (W):
            the sum over sides (ES, MS) or the larger slot (TS).
        scale: ``[..., 2]`` factor applied to each side's power gains (1 within the budget).
        effective: ``[..., 2, M]`` the coefficients in use.
    """

    sinr: np.ndarray
    rate: np.ndarray
    echo_sinr: np.ndarray
    objective: np.ndarray
    bs_power: np.ndarray
    ris_power: np.ndarray
    ris_requested: np.ndarray
    scale: np.ndarray
    effective: np.ndarray


# ---------------------------------------------------------------------------------------- geometry
def surface_steering(params: MFRISParams, directions: np.ndarray) -> np.ndarray:
    """Surface steering vector ``a(u) = a_Mx(pi u_x) (x) a_Mz(pi u_z)`` of eqs. (5), (11) [RECON].

    Args:
        directions: ``[..., 3]`` unit directions from the surface.

    Returns:
        ``[..., M]`` complex, element order x fastest (:attr:`MFRISParams.element_index`).
    """
    ix, iz = params.element_index
    phase = np.pi * (directions[..., 0:1] * ix + directions[..., 2:3] * iz)
    return np.exp(1j * phase)


def sensing_steering(params: MFRISParams, directions: np.ndarray) -> np.ndarray:
    """L-shaped sensing array response ``b(u) = [a_Nv(pi u_z); a_Nh(pi u_x)]`` of eq. (12) [RECON]: the vertical
    sub-array gives the elevation, the horizontal one the azimuth [FOUND-TEXT].

    Returns:
        ``[..., Ns]`` complex.
    """
    v = np.exp(1j * np.pi * directions[..., 2:3] * np.arange(params.n_sensing_vertical))
    h = np.exp(1j * np.pi * directions[..., 0:1] * np.arange(params.n_sensing_horizontal))
    return np.concatenate([v, h], axis=-1)


def bs_steering(params: MFRISParams, sin_angle: np.ndarray) -> np.ndarray:
    """BS ULA response ``a_Nt(pi sin(angle))``, ``[..., Nt]`` (angle from the BS broadside, which faces the surface)."""
    return np.exp(1j * np.pi * np.asarray(sin_angle)[..., None] * np.arange(params.n_tx))


def _cap_directions(rng: np.random.Generator, sides: np.ndarray, max_angle_rad: float) -> np.ndarray:
    """Unit directions uniform over the spherical cap within ``max_angle`` of the normal of each side
    (side 0: -y, side 1: +y), ``[n, 3]``."""
    n = sides.shape[0]
    cos_t = rng.uniform(math.cos(max_angle_rad), 1.0, n)
    az = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t**2)
    normal = np.where(sides == 0, -1.0, 1.0)
    return np.stack([sin_t * np.cos(az), normal * cos_t, sin_t * np.sin(az)], axis=-1)


def _rician(rng: np.random.Generator, los: np.ndarray, kappa: float) -> np.ndarray:
    """``sqrt(kappa/(1+kappa)) LoS + sqrt(1/(1+kappa)) CN(0, 1)`` entries."""
    nlos = rayleigh_gains(rng, los.shape, 1.0)
    return math.sqrt(kappa / (1.0 + kappa)) * los + math.sqrt(1.0 / (1.0 + kappa)) * nlos


@lru_cache(maxsize=16)
def _fixed_links(params: MFRISParams) -> tuple[float, float, float, np.ndarray, np.ndarray]:
    """What every scenario of ``params`` shares (computed once; read-only arrays): the Rician factor, ``L0``,
    ``PL_BR``, and the LoS parts ``a(u_BS) a_Nt(0)^H`` of the BS-surface link and ``b(u_BS) a_Nt(0)^H`` of the
    BS-sensor link (the BS on the surface normal)."""
    kappa = float(units.db_to_linear(params.rician_db))
    l0 = float(units.db_to_linear(params.l0_db))
    pl_br = l0 * params.bs_distance_m ** (-params.exp_bs_ris)
    bs_dir = np.array([0.0, -1.0, 0.0])
    bs_row = np.conj(bs_steering(params, 0.0))
    los_g = np.outer(surface_steering(params, bs_dir), bs_row)
    los_f = np.outer(sensing_steering(params, bs_dir), bs_row)
    for m in (los_g, los_f):
        m.flags.writeable = False
    return kappa, l0, pl_br, los_g, los_f


def draw_scenario(params: MFRISParams, rng: np.random.Generator) -> MFRISScenario:
    """One realisation: Rician channels (eqs. (3)-(6)) and the targets' responses (eqs. (10)-(14)) [RECON].

    ``G = sqrt(PL_BR) (sqrt(k/(1+k)) a(u_BS) a_Nt(0)^H + sqrt(1/(1+k)) G^NLoS)`` with the BS on the surface
    normal at ``bs_distance_m``; ``h_k = sqrt(PL_k) (sqrt(k/(1+k)) a(u_k) + sqrt(1/(1+k)) h^NLoS)``;
    ``PL(d) = L0 d^-alpha``. Users (``user_distance_m``) and targets (``target_distance_m``) are uniform in
    distance and uniform over the cap within ``max_angle_deg`` of their side's normal; each target has
    ``alpha_j = sqrt(RCS) L0 d_j^-alpha_t e^{j psi_j}`` (``|alpha_j|^2 = RCS (L0 d_j^-alpha_t)^2``, uniform phase).
    """
    p = params
    kappa, l0, pl_br, los_g, los_f = _fixed_links(p)
    max_angle = math.radians(p.max_angle_deg)
    g = math.sqrt(pl_br) * _rician(rng, los_g, kappa)
    user_dist = rng.uniform(*p.user_distance_m, p.n_users)
    user_dir = _cap_directions(rng, p.user_side, max_angle)
    pl_user = l0 * user_dist ** (-p.exp_ris_user)
    h = np.sqrt(pl_user)[:, None] * _rician(rng, surface_steering(p, user_dir), kappa)
    target_dist = rng.uniform(*p.target_distance_m, p.n_targets)
    target_dir = _cap_directions(rng, p.target_side, max_angle)
    amp = math.sqrt(p.rcs_m2) * l0 * target_dist ** (-p.exp_ris_target)
    gain = amp * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, p.n_targets))
    a = surface_steering(p, target_dir)  # [J, M]
    b = sensing_steering(p, target_dir)  # [J, Ns]
    # side s sums its targets: sum_j w_sj x_j y_j^T as one product per side, w_sj = alpha_j on target j's side
    weights = (p.target_side == np.arange(2)[:, None]) * gain  # [2, J]
    a_conj = np.conj(a)
    sensing = (weights[:, None, :] * b.T) @ a_conj
    roundtrip = (weights[:, None, :] * a_conj.T) @ a_conj  # reciprocal: symmetric (to rounding)
    bs_sensor = np.zeros((2, p.n_sensing, p.n_tx), complex)
    if p.bs_sensor_link and p.surface == "mf":
        # the reflection side's sensors see the BS along the surface normal, at the BS-surface distance
        bs_sensor[0] = math.sqrt(pl_br) * _rician(rng, los_f, kappa)
    return MFRISScenario(g, h, sensing, roundtrip, bs_sensor, a, b, user_dir, user_dist, target_dir, target_dist, gain,
                         np.asarray(pl_br), pl_user)


# ---------------------------------------------------------------------------------------- amplitudes
def amplitudes_from_fractions(params: MFRISParams, total: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Per-side power gains ``beta [..., 2, M]`` of the protocol's amplitude set from a total fraction and a split.

    ``total, split [..., M]`` in [0, 1]. Every output lies in the protocol's set, and every point of the set
    is reached:

    * ES (eq. (2)): ``beta^r = t rho beta_max``, ``beta^t = t (1 - rho) beta_max`` (``beta^r + beta^t <= beta_max``);
    * MS: the element reflects (``rho >= 1/2``) or refracts, ``beta = t beta_max`` on its side, 0 on the other;
    * TS: ``beta^r = t min(1, 2 rho) beta_max``, ``beta^t = t min(1, 2 (1 - rho)) beta_max`` (each ``<= beta_max``);
    * active / passive: the element's fixed side gets ``t beta_max`` / 1;
    * STAR: ``beta^r = rho``, ``beta^t = 1 - rho`` (``beta^r + beta^t = 1``).
    """
    p = params
    t = np.asarray(total, float)
    rho = np.asarray(split, float)
    if p.surface == "mf":
        if p.protocol == "ES":
            pair = (t * rho, t * (1.0 - rho))
        elif p.protocol == "MS":
            refl = (rho >= 0.5).astype(float)
            pair = (t * refl, t * (1.0 - refl))
        else:
            pair = (t * np.minimum(1.0, 2.0 * rho), t * np.minimum(1.0, 2.0 * (1.0 - rho)))
        return p.beta_max * np.stack(pair, axis=-2)
    if p.surface == "star":
        return np.stack([rho, 1.0 - rho], axis=-2)
    level = t * p.beta_max if p.surface == "active" else np.ones_like(t)
    return level[..., None, :] * p.element_mask


def anchor_gains(params: MFRISParams) -> np.ndarray:
    """The uninformed gains ``[2, M]``: full gains evenly split (ES, STAR), full per side (TS, the split surfaces),
    alternate modes (MS, so both sides are served). The env's score anchor and the AO's start use them."""
    m = params.n_elements
    split = np.full(m, 0.5)
    if params.surface == "mf" and params.protocol == "MS":
        split = (np.arange(m) % 2 == 0).astype(float)
    return amplitudes_from_fractions(params, np.ones(m), split)


def isotropic_radar(params: MFRISParams, power_w: float) -> np.ndarray:
    """``W = [0, sqrt(P / Nt) I]`` (``[Nt, K + Nt]``): no user beams, isotropic radar streams of total power ``P``."""
    beams = np.zeros((params.n_tx, params.n_streams), complex)
    beams[:, params.n_users:] = math.sqrt(power_w / params.n_tx) * np.eye(params.n_tx)
    return beams


def focusing_phases(params: MFRISParams, scenario: MFRISScenario) -> np.ndarray:
    """Per-side phases ``[..., 2, M]`` (rad) that co-phase each element's path from the BS to its side's targets.

    Target j's echo on side s passes ``a_j^H Theta_s G w`` (eq. (20): ``C_s = H_s Theta_s G W``), whose elements add
    in phase when ``theta_{s,m} = arg(a_{j,m}) - arg([G w_1]_m)``, ``w_1`` the right singular vector of G's largest
    singular value (the BS beam that puts the most power on the surface). Side s aims at
    ``sum_{j in J_s} |alpha_j| a_j`` (a side without targets at ``a = 1``), weighting its targets by their
    strength. A standard co-phasing design, not the paper's: the structured mode's zero point.
    """
    p = params
    vh = np.linalg.svd(scenario.g)[2]  # [..., Nt, Nt]
    gw = (scenario.g @ np.conj(vh[..., 0, :, None]))[..., 0]  # [..., M]
    weights = (p.target_side == np.arange(2)[:, None]) * np.abs(scenario.target_gain)[..., None, :]  # [..., 2, J]
    aim = weights.astype(complex) @ scenario.target_steering  # [..., 2, M]
    aim = np.where(np.abs(aim) > 0, aim, 1.0)
    return np.angle(aim) - np.angle(gw)[..., None, :]


def fractions_from_amplitudes(params: MFRISParams, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`amplitudes_from_fractions` (``beta [..., 2, M]`` -> ``(total, split)`` in [0, 1]).

    Where the split does not matter (a zero element, the split surfaces) it is 1/2; values outside the set
    are clipped into it.
    """
    p = params
    br, bt = beta[..., 0, :], beta[..., 1, :]
    half = np.full(br.shape, 0.5)
    if p.surface == "star":
        s = br + bt
        return np.ones_like(br), np.clip(np.divide(br, s, out=half.copy(), where=s > 0), 0.0, 1.0)
    if p.surface in ("active", "passive"):
        level = (beta * p.element_mask).sum(axis=-2)
        total = np.clip(level / p.beta_max, 0.0, 1.0) if p.surface == "active" else np.ones_like(level)
        return total, half
    if p.protocol == "ES":
        s = br + bt
        return np.clip(s / p.beta_max, 0.0, 1.0), np.clip(np.divide(br, s, out=half.copy(), where=s > 0), 0.0, 1.0)
    if p.protocol == "MS":
        refl = br >= bt
        return np.clip(np.where(refl, br, bt) / p.beta_max, 0.0, 1.0), np.where(refl, 1.0, 0.0)
    big = np.maximum(br, bt)
    split = np.where(br >= bt, 1.0 - 0.5 * np.divide(bt, big, out=np.ones_like(big), where=big > 0),
                     0.5 * np.divide(br, big, out=np.ones_like(big), where=big > 0))
    return np.clip(big / p.beta_max, 0.0, 1.0), np.clip(split, 0.0, 1.0)


def amplitude_violation(params: MFRISParams, coefficients: np.ndarray) -> np.ndarray:
    """How far coefficients ``[..., 2, M]`` lie outside the protocol's amplitude set (eq. (17d)), ``[...]``.

    The largest excess over the per-element bound relative to ``beta_max`` (ES and STAR: ``beta^r + beta^t``;
    TS and the split surfaces: each ``beta^s``, with 0 on a side an element does not serve; MS: also the
    smaller gain of an element that serves both sides; passive: ``|beta - 1|``; STAR: ``|beta^r + beta^t - 1|``).
    0 exactly when the coefficients are in the set.
    """
    p = params
    beta = np.abs(coefficients) ** 2
    bmax = p.beta_max
    off_side = (beta * (1.0 - p.element_mask)).max(axis=(-2, -1)) / bmax
    if p.surface == "star":
        return np.abs(beta.sum(axis=-2) - 1.0).max(axis=-1)
    if p.surface == "passive":
        return np.maximum(np.abs((beta * p.element_mask).sum(axis=-2) - 1.0).max(axis=-1), off_side)
    if p.surface == "mf" and p.protocol in ("ES", "MS"):
        excess = np.maximum(0.0, beta.sum(axis=-2) / bmax - 1.0).max(axis=-1)
        if p.protocol == "MS":
            excess = np.maximum(excess, beta.min(axis=-2).max(axis=-1) / bmax)
        return excess
    return np.maximum(np.maximum(0.0, beta / bmax - 1.0).max(axis=(-2, -1)), off_side)


# ---------------------------------------------------------------------------------------- budgets
def amplifier_load(params: MFRISParams, g: np.ndarray, beams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``G W [..., M, S]`` and the per-element load ``xi_m = ||(G W)_m||^2 + sigma_R^2 [..., M]`` (W per unit gain):
    the amplifier output of side s is ``sum_m beta_m^s xi_m = ||Theta_s G W||_F^2 + sigma_R^2 ||Theta_s||_F^2``
    (eq. (17e))."""
    gw = g @ beams
    return gw, squared_norm(gw) + params.noise_ris_w


def amplifier_scale(params: MFRISParams, side_power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factors ``[..., 2]`` on each side's power gains that bring the amplifier output onto ``P_RIS``, and the
    budgeted output ``[...]`` before scaling.

    ES and MS share one amplifier budget for both sides (eq. (17e)): one factor ``min(1, P_RIS / sum_s P_s)``.
    TS amplifies one side at a time, so the budget holds per slot: one factor per side. Surfaces without
    amplifiers are never scaled.
    """
    if not params.amplified:
        return np.ones(side_power.shape), np.zeros(side_power.shape[:-1])
    budget = params.p_ris_w
    if params.surface == "mf" and params.protocol == "TS":
        requested = side_power.max(axis=-1)
        return np.minimum(1.0, budget / np.maximum(side_power, 1e-300)), requested
    requested = side_power.sum(axis=-1)
    factor = np.minimum(1.0, budget / np.maximum(requested, 1e-300))
    return np.repeat(factor[..., None], 2, axis=-1), requested


# ---------------------------------------------------------------------------------------- metrics
def user_effective_channels(params: MFRISParams, scenario: MFRISScenario, coefficients: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``c_k = (h_k^H Theta_s G)^H [..., K, Nt]`` (user k on side s) and the noise ``nu_k [..., K]`` (W) of eq. (9):
    ``nu_k = sigma_R^2 ||Theta_s^H h_k||^2 + sigma_k^2``."""
    v_user = coefficients[..., params.user_side, :]  # [..., K, M]
    weighted = np.conj(scenario.h) * v_user
    c = np.conj(weighted @ scenario.g)
    nu = params.noise_ris_w * squared_norm(weighted) + params.noise_user_w
    return c, nu


def echo_operators(params: MFRISParams, scenario: MFRISScenario, coefficients: np.ndarray, beams: np.ndarray,
                   gw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Echo signal ``C_s [..., 2, Nrx, S]`` and noise covariance ``N_s [..., 2, Nrx, Nrx]`` of each side (eqs.
    (20)-(21)): ``A_s = C_s C_s^H``, ``gamma_s(u) = u^H A_s u / u^H N_s u``.

    MF-RIS (echo at the side's sensing elements): ``C_s = H_s Theta_s G W``,
    ``N_s = F_s W W^H F_s^H + sigma_R^2 H_s Theta_s Theta_s^H H_s^H + sigma_s^2 I``.
    Comparison surfaces (echo at the BS through the surface; the return hop's amplification noise):
    ``C_s = G^T Theta_s (sum_j alpha_j a_j^* a_j^H) Theta_s G W`` (reciprocal return hops),
    ``N_s = sigma_R^2 G^T Theta_s Theta_s^H G^* + sigma_s^2 I``.
    """
    p = params
    if gw is None:
        gw = scenario.g @ beams
    v = coefficients[..., :, :, None]  # [..., 2, M, 1]
    beta = coefficients.real**2 + coefficients.imag**2  # [..., 2, M]
    vgw = v * gw[..., None, :, :]  # [..., 2, M, S]
    eye = np.eye(p.n_receive)
    if p.surface == "mf":
        sig = scenario.sensing @ vgw
        hb = scenario.sensing * beta[..., None, :]
        noise = p.noise_ris_w * (hb @ np.conj(scenario.sensing.mT)) + p.noise_sensing_w * eye
        if p.bs_sensor_link:
            fw = scenario.bs_sensor @ beams[..., None, :, :]
            noise = noise + fw @ np.conj(fw.mT)
        return sig, noise
    gt = scenario.g.mT[..., None, :, :]  # [..., 1, Nt, M]
    sig = gt @ (v * (scenario.roundtrip @ vgw))
    noise = p.noise_ris_w * ((gt * beta[..., None, :]) @ np.conj(gt.mT)) + p.noise_sensing_w * eye
    return sig, noise


def _whitened(signal: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``L^-1 C`` and ``L`` for the Cholesky factor ``N = L L^H`` (noise scaled to order one first)."""
    scale = np.real(np.trace(noise, axis1=-2, axis2=-1))[..., None, None] / noise.shape[-1]
    chol = np.linalg.cholesky(noise / scale)
    return np.linalg.solve(chol, signal / np.sqrt(scale)), chol


def echo_sinr(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Echo SINR with the optimal filter (Lemma 1, eq. (23)): ``lambda_max(N^-1 C C^H)``, ``[...]`` (linear).

    The generalised Rayleigh quotient ``u^H C C^H u / u^H N u`` is largest at the principal generalised
    eigenvector; with ``N = L L^H`` it equals the largest eigenvalue of ``L^-1 C C^H L^-H`` (batched).
    """
    white, _ = _whitened(signal, noise)
    gram = white @ np.conj(white.mT)
    return np.maximum(np.linalg.eigvalsh(gram)[..., -1], 0.0)


def echo_filter(signal: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The optimal unit-norm receive filter of Lemma 1, ``u* = N^-1/2-direction of v_max``, ``[..., Nrx]``:
    ``u* propto L^-H e_max`` with ``e_max`` the principal eigenvector of ``L^-1 C C^H L^-H``."""
    white, chol = _whitened(signal, noise)
    _, vecs = np.linalg.eigh(white @ np.conj(white.mT))
    u = np.linalg.solve(np.conj(chol.mT), vecs[..., -1:])[..., 0]
    return u / np.linalg.norm(u, axis=-1, keepdims=True)


def echo_sinr_target_space(params: MFRISParams, scenario: MFRISScenario, coefficients: np.ndarray,
                           gw: np.ndarray) -> np.ndarray:
    """The MF-RIS echo SINR of Lemma 1 computed in the targets' space, ``[..., 2]`` (equal to
    :func:`echo_sinr` of :func:`echo_operators` without the BS-sensor link; a test checks the two agree).

    With ``H_s = B Lam A^H`` (``J_s`` targets), ``C_s C_s^H = B X B^H`` with ``X = Z Z^H``, ``Z = Lam A^H Theta_s G W``,
    and ``N_s = sigma_s^2 I + B Y B^H`` with ``Y = sigma_R^2 Lam A^H Theta_s Theta_s^H A Lam^H``. By the push-through
    identity ``B^H N_s^-1 B = (sigma_s^2 I + S Y)^-1 S`` (``S = B^H B``), so the nonzero eigenvalues of
    ``N_s^-1 C_s C_s^H`` are those of the ``J_s x J_s`` matrix ``X (sigma_s^2 I + S Y)^-1 S``: no ``Ns x Ns`` matrix
    is formed or factorised.
    """
    p = params
    a, b, alpha = scenario.target_steering, scenario.target_response, scenario.target_gain
    side = p.target_side
    beta = coefficients.real**2 + coefficients.imag**2
    conj_a = np.conj(a)
    # every target at once ([..., J, S] and [..., J, J]); the side blocks are read below
    z = alpha[..., :, None] * ((conj_a * coefficients[..., side, :]) @ gw)
    x_all = z @ np.conj(z.mT)
    y_all = p.noise_ris_w * (alpha[..., :, None] * np.conj(alpha)[..., None, :]) * (
        (conj_a * beta[..., side, :]) @ a.mT)
    gram_all = np.conj(b) @ b.mT  # S = B^H B
    j_r, j_t = p.n_targets_reflection, p.n_targets - p.n_targets_reflection
    blocks = (slice(0, j_r), slice(j_r, p.n_targets))
    if j_r == j_t:  # equal sides (the defaults): both J_s x J_s problems in one batched call
        rows, cols = _side_blocks(j_r)
        return _largest_eigenvalue(x_all[..., rows, cols], y_all[..., rows, cols], gram_all[..., rows, cols],
                                   p.noise_sensing_w)
    out = np.zeros(coefficients.shape[:-2] + (2,))
    for s_idx, blk in enumerate(blocks):
        if blk.stop > blk.start:
            out[..., s_idx] = _largest_eigenvalue(x_all[..., blk, blk], y_all[..., blk, blk], gram_all[..., blk, blk],
                                                  p.noise_sensing_w)
    return out


@cache
def _side_blocks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``[2, n, 1]`` and ``[2, 1, n]`` (read-only) gathering the two ``n x n`` diagonal blocks of a ``2n x 2n``
    matrix."""
    rows = np.arange(2 * n).reshape(2, n, 1)
    rows.flags.writeable = False
    return rows, rows.reshape(2, 1, n)


def _largest_eigenvalue(x: np.ndarray, y: np.ndarray, gram: np.ndarray, noise_w: float) -> np.ndarray:
    """``lambda_max(X (sigma^2 I + S Y)^-1 S)`` of ``J x J`` blocks ``[..., J, J]`` (a scalar for J = 1), ``[...]``."""
    n = x.shape[-1]
    if n == 0:
        return np.zeros(x.shape[:-2])
    m1 = noise_w * np.eye(n) + gram @ y
    if n == 1:
        return np.maximum(np.real(x[..., 0, 0] * gram[..., 0, 0] / m1[..., 0, 0]), 0.0)
    # the eigenvalues of S Y are >= 0, so sigma^2 I + S Y is invertible
    lam = np.real(np.linalg.eigvals(x @ np.linalg.solve(m1, gram))).max(axis=-1)
    return np.maximum(lam, 0.0)


def measure(params: MFRISParams, scenario: MFRISScenario, config: MFRISConfiguration) -> MFRISMeasurement:
    """Every metric of ``config`` (batched): amplifier scaling onto ``P_RIS``, user SINR and rates (eqs. (8)-(9)),
    per-side echo SINR with the Lemma-1 filter (eq. (16)), the objective ``sum_s lambda_s gamma_s`` (eq. (17a))
    and the powers (eqs. (17b), (17e))."""
    p = params
    beams = config.beams
    gw, xi = amplifier_load(p, scenario.g, beams)
    beta_req = config.coefficients.real**2 + config.coefficients.imag**2
    side_power = (beta_req * xi[..., None, :]).sum(axis=-1)
    scale, requested = amplifier_scale(p, side_power)
    effective = config.coefficients * np.sqrt(scale)[..., None]
    c, nu = user_effective_channels(p, scenario, effective)
    sinr = user_sinr(c, beams, nu)
    rates = p.slot_weights[p.user_side] * np.log2(1.0 + sinr)
    if p.surface == "mf" and not p.bs_sensor_link:
        echo = echo_sinr_target_space(p, scenario, effective, gw)
    else:
        echo = echo_sinr(*echo_operators(p, scenario, effective, beams, gw))
    objective = (echo * p.slot_weights).sum(axis=-1)
    bs_power = squared_norm(beams, (-2, -1))
    ris_power = side_power * scale if p.amplified else np.zeros(side_power.shape)
    return MFRISMeasurement(sinr, rates, echo, objective, bs_power, ris_power, requested, scale, effective)


def transmit_pattern(params: MFRISParams, scenario: MFRISScenario, config: MFRISConfiguration,
                     directions: np.ndarray) -> np.ndarray:
    """Power radiated by the surface toward ``directions [D, 3]`` on each side, ``[..., 2, D]`` (W per unit
    path gain): ``||a(u)^T Theta_s G W||^2`` with the coefficients as requested."""
    gw = scenario.g @ config.beams
    field = np.conj(surface_steering(params, directions)) @ (config.coefficients[..., :, :, None] * gw[..., None, :, :])
    return squared_norm(field)


__all__ = [
    "PROTOCOLS", "SURFACES", "SIDES", "MFRISParams", "MFRISScenario", "MFRISConfiguration", "MFRISMeasurement",
    "surface_steering", "sensing_steering", "bs_steering", "draw_scenario", "amplitudes_from_fractions",
    "fractions_from_amplitudes", "anchor_gains", "isotropic_radar", "amplitude_violation", "amplifier_load",
    "amplifier_scale",
    "user_effective_channels", "echo_operators", "echo_sinr", "echo_sinr_target_space", "echo_filter", "measure",
    "transmit_pattern",
]
