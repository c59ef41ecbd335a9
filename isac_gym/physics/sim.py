"""System model of the SIM-enabled ISAC system ([SIM], docs/sim.md).

A base station feeds a stacked intelligent metasurface (SIM: L transmissive layers of
``M = Mr x Mc`` meta-atoms, parallel to the x-z plane, outermost layer centred at the origin)
through a ULA of ``N = K + T`` antennas, one stream per antenna at equal power ``p = P_T / N``
(K user streams, T sensing streams). The phases of the L M meta-atoms shape both the users'
channels and the transmit beam pattern on an ``I x J`` grid of directions.

Much of the paper's model is rebuilt in docs/sim.md (R-numbered equations there). Each docstring
tags its equation: [FOUND] (the authors' public SIM model or the surviving text fixes it),
[RECON] (rebuilt from the text and standard theory; structure very likely, notation may differ).
Equation numbers with [RECON] are those of the rebuild, not citations of the paper's: (1) Rayleigh-Sommerfeld inter-layer
coefficients, (3) the cascaded response G, (4) Saleh-Valenzuela channels, (6)-(7) SINR and sum
rate, (8)-(10) beam pattern, normalised pattern and beam-matching error, (12)-(19) the phase
gradients, (26) the desired pattern.

Every function is batch-first: phases, channels and responses carry leading batch axes; the
geometry (inter-layer matrices, grid steering matrix) is precomputed once per parameter set.
Directions: elevation ``theta`` from the SIM normal (+y), azimuth ``phi = atan2(z, x)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import batching, units
from .arrays import cis, squared_norm, upa_positions
from .channels import rayleigh_gains
from .metrics import rate, user_sinr
from .validation import Validated, check_value, param

LN2 = math.log(2.0)


@dataclass(frozen=True)
class SIMParams(Validated):
    """Physical parameters of the SIM system: the one source of every default (docs/sim.md, "Defaults";
    most are reconstructed, see the tags there). Validates itself: a bad value raises ``ValueError``
    naming the field."""

    n_layers: int = param(4, "metasurface layers L", kind="int", high=64)
    n_rows: int = param(10, "meta-atoms per layer along x (Mr)", kind="int", high=64)
    n_cols: int = param(10, "meta-atoms per layer along z (Mc)", kind="int", high=64)
    n_users: int = param(4, "single-antenna users K (one stream each)", kind="int", high=64)
    target_cells_theta: tuple[int, ...] = param((9, 27), "1-based elevation cell i of each target (eq. (26)); "
                                                "one entry per target T", kind="any")
    target_cells_phi: tuple[int, ...] = param((9, 27), "1-based azimuth cell j of each target (eq. (26))", kind="any")
    carrier_hz: float = param(28e9, "carrier frequency (Hz)", kind="positive")
    thickness_wl: float = param(5.0, "SIM thickness T_SIM (wavelengths); layer spacing T_SIM / L", kind="positive")
    spacing_wl: float = param(0.5, "meta-atom and feed-antenna spacing (wavelengths)", kind="positive")
    p_max_dbm: float = param(20.0, "total transmit power P_T (dBm), split evenly over the N = K + T streams",
                             kind="finite", low=-100.0, high=100.0)
    bs_gain_dbi: float = param(5.0, "BS antenna gain (dBi)", kind="finite", low=-50.0, high=50.0)
    user_gain_dbi: float = param(0.0, "user antenna gain (dBi)", kind="finite", low=-50.0, high=50.0)
    noise_dbm: float = param(-104.0, "user noise power sigma^2 (dBm)", kind="finite", low=-250.0, high=100.0)
    path_loss_exponent: float = param(3.5, "path-loss exponent alpha; PL = (lambda / 4 pi)^2 d^-alpha",
                                      kind="positive")
    n_paths: int = param(3, "resolvable paths P per user (1 LoS + P-1 NLoS)", kind="int", high=64)
    nlos_power_db: float = param(-5.0, "power of each NLoS path relative to the LoS path (dB)", kind="finite",
                                 low=-100.0, high=0.0)
    angular_spread_deg: float = param(10.0, "NLoS angles drawn within +- this of the LoS angles (deg)", kind="nonneg",
                                      high=90.0)
    user_distance_m: float = param(20.0, "distance of the users' plane y = const in front of the SIM (m)",
                                   kind="positive")
    user_region_m: tuple[float, float] = param((-15.0, 15.0), "range of the users' x and z on that plane (m)",
                                               kind="pair")
    grid_theta: int = param(36, "elevation cells I over [0, 90) deg", kind="int", high=1024)
    grid_phi: int = param(36, "azimuth cells J over [0, 360) deg", kind="int", high=1024)
    rate_min: float = param(10.0, "minimum sum rate R_min (bit/s/Hz)", kind="positive")

    def check(self) -> None:
        for name in ("target_cells_theta", "target_cells_phi"):
            cells = getattr(self, name)
            if not isinstance(cells, tuple) or len(cells) == 0:
                raise ValueError(f"{name} must be a non-empty list of 1-based cell indices, got {cells!r}")
        if len(self.target_cells_theta) != len(self.target_cells_phi):
            raise ValueError(f"target_cells_theta and target_cells_phi must have the same length (one entry per "
                             f"target), got {len(self.target_cells_theta)} and {len(self.target_cells_phi)}")
        for i in self.target_cells_theta:
            check_value("target_cells_theta", i, "int", high=self.grid_theta)
        for j in self.target_cells_phi:
            check_value("target_cells_phi", j, "int", high=self.grid_phi)
        if len(set(zip(self.target_cells_theta, self.target_cells_phi, strict=True))) != len(self.target_cells_theta):
            raise ValueError("target_cells_theta/target_cells_phi must name distinct cells, got "
                             f"{list(zip(self.target_cells_theta, self.target_cells_phi, strict=True))}")

    # -- derived quantities (SI) --------------------------------------------------------
    @cached_property
    def wavelength(self) -> float:
        return units.wavelength(self.carrier_hz)

    @property
    def n_elements(self) -> int:
        """Meta-atoms per layer, ``M = Mr Mc``."""
        return self.n_rows * self.n_cols

    @property
    def n_targets(self) -> int:
        return len(self.target_cells_theta)

    @property
    def n_streams(self) -> int:
        """Feed antennas = streams, ``N = K + T``."""
        return self.n_users + self.n_targets

    @cached_property
    def stream_power_w(self) -> float:
        """Power of each stream, ``p = P_T / N`` (W)."""
        return float(units.dbm_to_watt(self.p_max_dbm)) / self.n_streams

    @cached_property
    def noise_w(self) -> float:
        return float(units.dbm_to_watt(self.noise_dbm))

    @cached_property
    def layer_spacing_m(self) -> float:
        return self.thickness_wl * self.wavelength / self.n_layers

    @cached_property
    def element_positions(self) -> np.ndarray:
        """``[3, M]`` meta-atom positions of a layer (m), centred, in the x-z plane; m runs along x first."""
        d = self.spacing_wl * self.wavelength
        return upa_positions(self.n_rows, self.n_cols, d, d, plane="xz", centred=True)

    @cached_property
    def feed_positions(self) -> np.ndarray:
        """``[3, N]`` feed antennas (m): a centred ULA along x, one layer spacing behind layer 1."""
        d = self.spacing_wl * self.wavelength
        pos = np.zeros((3, self.n_streams))
        pos[0] = d * (np.arange(self.n_streams) - (self.n_streams - 1) / 2.0)
        pos[1] = -self.layer_spacing_m
        return pos

    @cached_property
    def propagation(self) -> SIMPropagation:
        """The inter-layer matrices of eq. (1), computed once (read-only)."""
        return propagation_matrices(self)

    @cached_property
    def grid_angles(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre angles ``(theta [I], phi [J])`` in rad: theta over [0, 90) deg, phi over [0, 360) deg."""
        theta = (np.arange(self.grid_theta) + 0.5) * (0.5 * np.pi / self.grid_theta)
        phi = (np.arange(self.grid_phi) + 0.5) * (2.0 * np.pi / self.grid_phi)
        return theta, phi

    @cached_property
    def grid_steering_conj(self) -> np.ndarray:
        """``[I J, M]`` rows ``alpha(theta_i, phi_j)^H`` (cell ``(i, j)`` at row ``i J + j``), read-only."""
        theta, phi = self.grid_angles
        a = steering(self, theta[:, None], phi[None, :]).reshape(-1, self.n_elements)
        out = np.ascontiguousarray(np.conj(a))
        out.flags.writeable = False
        return out

    @cached_property
    def grid_steering_t(self) -> np.ndarray:
        """``[M, I J]`` columns ``alpha(theta_i, phi_j)`` (the transpose of the conjugate of
        :attr:`grid_steering_conj`; used by the gradient of the beam-matching error), read-only."""
        out = np.ascontiguousarray(np.conj(self.grid_steering_conj).T)
        out.flags.writeable = False
        return out

    @cached_property
    def desired_pattern(self) -> np.ndarray:
        """``[I J]`` desired normalised pattern of eq. (26): 1 on the target cells, 0 elsewhere (read-only)."""
        out = np.zeros((self.grid_theta, self.grid_phi))
        out[np.asarray(self.target_cells_theta) - 1, np.asarray(self.target_cells_phi) - 1] = 1.0
        out = out.reshape(-1)
        out.flags.writeable = False
        return out

    @cached_property
    def pattern_lags(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(dc, dr mod 2 Mr)`` into :attr:`pattern_dft`'s autocorrelation of the zero lag, then the
        half set of element-offset lags (``dc > 0``, or ``dc = 0`` and ``dr > 0``) used by :func:`beam_pattern`."""
        mr, mc = self.n_rows, self.n_cols
        dc, dr = np.meshgrid(np.arange(-(mc - 1), mc), np.arange(-(mr - 1), mr), indexing="ij")
        keep = (dc > 0) | ((dc == 0) & (dr > 0))
        return np.r_[0, dc[keep]], np.r_[0, np.mod(dr[keep], 2 * mr)]

    @cached_property
    def pattern_dft(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """DFT matrices of :func:`beam_pattern`: the zero-padded forward transform of a layer,
        ``F_c [2 Mc, Mc]`` and ``F_r [Mr, 2 Mr]`` (``spec = F_c X F_r``), and the inverse, ``F_c^-1 [Mc, 2 Mc]``
        (rows ``dc = 0 .. Mc - 1`` only) and ``F_r^-1 [2 Mr, 2 Mr]`` (read-only). As products, a few
        times cheaper than FFT calls on a ``2 Mc x 2 Mr`` grid."""
        mr, mc = self.n_rows, self.n_cols
        kc, kr = np.arange(2 * mc), np.arange(2 * mr)
        out = (np.exp(-1j * np.pi * np.outer(kc, np.arange(mc)) / mc),
               np.exp(-1j * np.pi * np.outer(np.arange(mr), kr) / mr),
               np.exp(1j * np.pi * np.outer(np.arange(mc), kc) / mc) / (2 * mc),
               np.exp(1j * np.pi * np.outer(kr, kr) / mr) / (2 * mr))
        for m in out:
            m.flags.writeable = False
        return out

    @cached_property
    def pattern_basis_t(self) -> tuple[np.ndarray, np.ndarray]:
        """``([1 + H, I J'], [1 + H, I J'])`` real bases of :func:`beam_pattern`, times the stream power ``p``:
        rows ``1``, ``2 cos(psi)`` and ``0``, ``-2 sin(psi)`` with ``psi = k d (dr u + dc v)`` for the zero lag
        and each half lag, over the cells ``J' = J / 2`` of each elevation ring for an even ``J`` (the cell
        ``phi + pi`` has ``psi -> -psi``: same cosine part, opposite sine part) or all ``J`` cells (read-only)."""
        mr = self.n_rows
        rows, cols = self.pattern_lags
        dc = rows
        dr = np.where(cols > mr - 1, cols - 2 * mr, cols)
        theta, phi = self.grid_angles
        if self.grid_phi % 2 == 0:
            phi = phi[: self.grid_phi // 2]
        u = (np.sin(theta)[:, None] * np.cos(phi)[None, :]).reshape(-1)
        v = (np.sin(theta)[:, None] * np.sin(phi)[None, :]).reshape(-1)
        kd = 2.0 * np.pi * self.spacing_wl
        psi = kd * (dr[:, None] * u + dc[:, None] * v)  # [1 + H, I J']
        weight = np.where(np.arange(rows.size) == 0, 1.0, 2.0)[:, None] * self.stream_power_w
        out = (np.ascontiguousarray(weight * np.cos(psi)), np.ascontiguousarray(-weight * np.sin(psi)))
        for m in out:
            m.flags.writeable = False
        return out

    @cached_property
    def target_cell_rows(self) -> np.ndarray:
        """``[T]`` rows of the target cells in the flattened grid."""
        return (np.asarray(self.target_cells_theta) - 1) * self.grid_phi + np.asarray(self.target_cells_phi) - 1


@dataclass(frozen=True)
class SIMPropagation:
    """Rayleigh-Sommerfeld matrices of eq. (1): feed -> layer 1 ``[M, N]`` and layer l-1 -> l ``[M, M]``
    (the same for every l >= 2: equal spacing)."""

    feed: np.ndarray
    inter: np.ndarray


@dataclass(frozen=True)
class SIMScenario:
    """One channel realisation (leading batch axes allowed).

    Attributes:
        channels: ``[..., K, M]`` complex, row k is ``h_k`` of eq. (4) (sqrt of linear power gain).
        path_loss: ``[..., K]`` linear large-scale gain ``PL_k`` including the antenna gains.
        user_theta, user_phi: ``[..., K]`` LoS elevation and azimuth of each user (rad).
    """

    channels: np.ndarray
    path_loss: np.ndarray
    user_theta: np.ndarray
    user_phi: np.ndarray


@dataclass(frozen=True)
class SIMConfiguration:
    """What the agent controls: ``phases [..., L, M]`` of every meta-atom in rad (eq. (2))."""

    phases: np.ndarray


@dataclass(frozen=True)
class SIMCascade:
    """The cascaded response and the per-layer inputs the gradients reuse.

    Attributes:
        response: ``[..., M, N]`` G of eq. (3).
        inputs: ``[..., L, M, N]`` ``V^l = W^l Phi^{l-1} ... Phi^1 W^1`` (the field reaching layer l
            before its phases; eq. (16)), so that ``G = U^l Phi^l V^l``; None when not kept.
        phasors: ``[..., L, M]`` ``exp(j theta)``.
    """

    response: np.ndarray
    inputs: np.ndarray | None
    phasors: np.ndarray


# ---------------------------------------------------------------------------------------- geometry
def rayleigh_sommerfeld(source: np.ndarray, destination: np.ndarray, area_m2: float, wavelength_m: float) -> np.ndarray:
    """Transmission coefficients of eq. (1) of [SIM] [FOUND] between parallel planes normal to y.

    ``w = (A cos(chi) / d) (1 / (2 pi d) - j / lambda) exp(j 2 pi d / lambda)`` with ``cos(chi) = dy / d``.

    Args:
        source: ``[3, S]`` positions (m); destination: ``[3, D]`` positions (m), all at larger y.
        area_m2: meta-atom area ``A_t``; wavelength_m: lambda.

    Returns:
        ``[D, S]`` complex coefficients (dimensionless field ratios).
    """
    diff = destination[:, :, None] - source[:, None, :]  # [3, D, S]
    dist = np.sqrt(np.sum(diff**2, axis=0))
    cos_chi = diff[1] / dist
    return (area_m2 * cos_chi / dist) * (1.0 / (2.0 * np.pi * dist) - 1j / wavelength_m) * cis(
        2.0 * np.pi * dist / wavelength_m)


def propagation_matrices(params: SIMParams) -> SIMPropagation:
    """``W^1`` (feed -> layer 1, ``[M, N]``) and ``W^l`` (``[M, M]``, l >= 2) of eq. (1), ``A_t = (d_e)^2``."""
    lam = params.wavelength
    area = (params.spacing_wl * lam) ** 2
    layer = params.element_positions
    ahead = layer + np.array([[0.0], [params.layer_spacing_m], [0.0]])
    feed = rayleigh_sommerfeld(params.feed_positions, layer, area, lam)
    inter = rayleigh_sommerfeld(layer, ahead, area, lam)
    for m in (feed, inter):
        m.flags.writeable = False
    return SIMPropagation(feed, inter)


def steering(params: SIMParams, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """SIM steering vector of [SIM] (the Kronecker form after eq. (4), [FOUND] in the text), ``[..., M]``.

    ``alpha_m = exp(-j 2 pi / lambda (x_m sin(theta) cos(phi) + z_m sin(theta) sin(phi)))`` for meta-atom
    ``m`` at ``(x_m, z_m)`` of the (centred) layer; theta from the normal, phi = atan2(z, x), in rad.
    """
    theta, phi = np.broadcast_arrays(np.asarray(theta, float), np.asarray(phi, float))
    pos = params.element_positions
    u = np.sin(theta) * np.cos(phi)
    v = np.sin(theta) * np.sin(phi)
    k = 2.0 * np.pi / params.wavelength
    return cis(-k * (u[..., None] * pos[0] + v[..., None] * pos[2]))


# ---------------------------------------------------------------------------------------- scenarios
def draw_scenario(params: SIMParams, rng: np.random.Generator) -> SIMScenario:
    """Users uniform on the plane ``y = user_distance_m`` (x, z in ``user_region_m``) with Saleh-Valenzuela
    channels, eq. (4) [RECON; structure in the text, powers and spread reconstructed]:
    ``h_k = sum_p beta_{k,p} alpha(theta_{k,p}, phi_{k,p})``, ``beta_{k,1} ~ CN(0, PL_k)``,
    ``beta_{k,p>1} ~ CN(0, 10^(nlos_power_db/10) PL_k)``, NLoS angles within ``+-Delta`` of the LoS ones,
    ``PL_k = (lambda / 4 pi)^2 d_k^-alpha G_BS G_UE``."""
    k, n_p = params.n_users, params.n_paths
    lo, hi = params.user_region_m
    xz = rng.uniform(lo, hi, size=(k, 2))
    y = params.user_distance_m
    dist = np.sqrt(xz[:, 0] ** 2 + y**2 + xz[:, 1] ** 2)
    theta = np.arccos(y / dist)
    phi = np.mod(np.arctan2(xz[:, 1], xz[:, 0]), 2.0 * np.pi)
    spread = np.deg2rad(params.angular_spread_deg)
    offsets = rng.uniform(-spread, spread, size=(2, k, n_p))
    offsets[:, :, 0] = 0.0
    path_theta = theta[:, None] + offsets[0]
    path_phi = phi[:, None] + offsets[1]
    c0 = (params.wavelength / (4.0 * np.pi)) ** 2
    gains = units.db_to_linear(params.bs_gain_dbi + params.user_gain_dbi)
    pl = c0 * dist ** (-params.path_loss_exponent) * gains
    rel = np.full(n_p, units.db_to_linear(params.nlos_power_db))
    rel[0] = 1.0
    beta = rayleigh_gains(rng, (k, n_p), pl[:, None] * rel)
    channels = np.einsum("kp,kpm->km", beta, steering(params, path_theta, path_phi))
    return SIMScenario(channels, pl, theta, phi)


# ---------------------------------------------------------------------------------------- responses
def cascade(params: SIMParams, phases: np.ndarray, keep_inputs: bool = True,
            phasors: np.ndarray | None = None) -> SIMCascade:
    """The cascaded response ``G = Phi^L W^L ... Phi^2 W^2 Phi^1 W^1`` of eq. (3) [RECON] and the layer inputs.

    Args:
        phases: ``[..., L, M]`` meta-atom phases (rad).
        keep_inputs: store every layer's input (the gradients need them); ``False`` leaves ``inputs`` None.
        phasors: ``exp(j phases)`` when already known; computed when None.

    Returns:
        :class:`SIMCascade` with ``response [..., M, N]`` (one product per layer, no loop over elements).
    """
    prop = params.propagation
    if phasors is None:
        phasors = cis(phases)
    lead = phasors.shape[:-2]
    n_layers, m, n = params.n_layers, params.n_elements, params.n_streams
    b = math.prod(lead)
    # every scenario's N columns side by side (field [M, B, N]): each layer is one wide product with W^l
    # instead of B narrow ones, and the phases scale rows
    per_layer = phasors.reshape(b, n_layers, m).transpose(1, 2, 0)  # [L, M, B]
    inputs = np.empty(lead + (n_layers, m, n), complex) if keep_inputs else None
    if inputs is not None:
        inputs[..., 0, :, :] = prop.feed
    field = per_layer[0][:, :, None] * prop.feed[:, None, :]
    for layer in range(1, n_layers):  # L layers (a handful), each one product for the whole batch
        field = (prop.inter @ field.reshape(m, b * n)).reshape(m, b, n)
        if inputs is not None:
            inputs[..., layer, :, :] = field.transpose(1, 0, 2).reshape(lead + (m, n))
        field *= per_layer[layer][:, :, None]
    response = np.ascontiguousarray(field.transpose(1, 0, 2)).reshape(lead + (m, n))  # no copy when B = 1
    return SIMCascade(response, inputs, phasors)


def response(params: SIMParams, phases: np.ndarray, phasors: np.ndarray | None = None) -> np.ndarray:
    """``G [..., M, N]`` of eq. (3) for phases ``[..., L, M]`` (rad); ``phasors`` as in :func:`cascade`."""
    return cascade(params, phases, keep_inputs=False, phasors=phasors).response


def sinr(params: SIMParams, channels: np.ndarray, g: np.ndarray) -> np.ndarray:
    """User SINR of eq. (6) [FOUND in the text: sensing streams interfere], ``[..., K]`` linear: ``Z = H^H G`` and
    ``gamma_k = p |Z_kk|^2 / (p sum_{n != k} |Z_kn|^2 + sigma^2)`` (other users' and the T sensing
    streams interfere). ``channels [..., K, M]`` (rows ``h_k``), ``g [..., M, N]``."""
    return user_sinr(channels, math.sqrt(params.stream_power_w) * g, params.noise_w)


def sum_rate(params: SIMParams, channels: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Sum rate of eq. (7), ``R = sum_k log2(1 + gamma_k)`` in bit/s/Hz, ``[...]``."""
    return rate(sinr(params, channels, g)).sum(axis=-1)


def grid_fields(params: SIMParams, g: np.ndarray) -> np.ndarray:
    """``E = [alpha_i^H g_n]``, ``[..., I J, N]``: the field of every stream toward every grid cell.

    One wide product with the precomputed steering matrix for the whole batch.
    """
    return batching.shared_matmul(params.grid_steering_conj, g)


def beam_pattern(params: SIMParams, g: np.ndarray) -> np.ndarray:
    """Beam-pattern gain of eq. (8) [RECON], ``P(theta_i, phi_j) = p ||G^H alpha(theta_i, phi_j)||^2``, ``[..., I J]``
    (cell ``(i, j)`` at ``i J + j``; W per unit steering norm).

    Computed exactly through the aperture autocorrelation: ``P = p sum_D R(D) exp(j k <D, w>)`` over the
    element-offset lags ``D`` of the uniform layer, with ``R(D) = sum_n sum_{m - m' = D} g_mn g_m'n^*``
    (zero-padded DFTs as small products, :attr:`SIMParams.pattern_dft`) and ``R(-D) = R(D)^*``, so the grid
    costs two real products with precomputed cosine and sine bases (:attr:`SIMParams.pattern_basis_t`), over
    half the azimuth cells when ``J`` is even (``P(phi + pi)`` uses the same products with the sine part's sign
    flipped): about 12 times fewer operations than forming ``G^H alpha`` for every cell (:func:`grid_fields`,
    which the gradients use).
    """
    mr, mc = params.n_rows, params.n_cols
    fc, fr, ifc, ifr = params.pattern_dft
    grid = g.mT.reshape(g.shape[:-2] + (g.shape[-1], mc, mr))  # [..., N, Mc, Mr]
    # small per-stream products keep the [2 Mc, 2 Mr] spectra in cache (wide ones over the batch write them out)
    spec = np.abs(fc @ grid @ fr)
    corr = ifc @ (spec * spec).sum(axis=-3) @ ifr  # R at lags (dc >= 0, dr mod 2 Mr)
    rows, cols = params.pattern_lags
    lags = corr[..., rows, cols]
    cos_t, sin_t = params.pattern_basis_t
    # contiguous real and imaginary parts: BLAS products, not numpy's loop over strided views
    c, s = np.ascontiguousarray(lags.real) @ cos_t, np.ascontiguousarray(lags.imag) @ sin_t
    if params.grid_phi % 2:
        return np.maximum(c + s, 0.0)
    ring = c.shape[:-1] + (params.grid_theta, params.grid_phi // 2)
    c, s = c.reshape(ring), s.reshape(ring)
    return np.maximum(np.concatenate([c + s, c - s], axis=-1), 0.0).reshape(c.shape[:-2] + (-1,))


def normalised_pattern(pattern: np.ndarray) -> np.ndarray:
    """Eq. (9) [RECON]: ``P / max P`` over the grid, ``[..., I J]`` in [0, 1] (0 everywhere for a zero pattern)."""
    peak = pattern.max(axis=-1, keepdims=True)
    return pattern / (peak + (peak <= 0.0))


def beam_matching_error(params: SIMParams, pattern: np.ndarray, normalised: np.ndarray | None = None) -> np.ndarray:
    """Eq. (10) [RECON]: ``MSE = (1 / I J) sum_ij (P_bar_ij - P_d,ij)^2`` (linear, in [0, 1]), ``[...]``;
    ``P_d`` is the desired pattern of eq. (26) [RECON; the cell indices are in the text].
    ``normalised`` may pass :func:`normalised_pattern` of ``pattern`` when it is already known.
    In dB: ``units.linear_to_db(MSE)``."""
    diff = (normalised_pattern(pattern) if normalised is None else normalised) - params.desired_pattern
    return (diff * diff).sum(axis=-1) / diff.shape[-1]


def target_gain(params: SIMParams, normalised: np.ndarray) -> np.ndarray:
    """Mean of the normalised pattern (eq. (9), from :func:`normalised_pattern`) over the target cells,
    ``[...]`` in [0, 1] (1: every target cell at the peak)."""
    return normalised[..., params.target_cell_rows].sum(axis=-1) / params.n_targets


# ---------------------------------------------------------------------------------------- gradients
def phase_gradient(params: SIMParams, casc: SIMCascade, d_response: np.ndarray) -> np.ndarray:
    """Chain rule from the response to every phase (the auxiliary matrices of eqs. (15)-(16)).

    For a real ``f(G)`` with Wirtinger gradient ``D = df/dG^*`` (``df = 2 Re sum conj(D) dG``), and
    ``G = U^l Phi^l V^l``: ``df/dtheta_m^l = -2 Im{ e^{j theta_m^l} sum_n (D^H U^l)_nm V^l_mn }``. The rows
    ``B^l = D^H U^l`` are propagated backwards, ``B^{l-1} = B^l Phi^l W^l``, so nothing of size
    ``M x M`` per layer is ever formed beyond ``W``.

    Args:
        casc: from :func:`cascade`; d_response: ``[..., M, N]`` ``df/dG^*``.

    Returns:
        ``[..., L, M]`` real gradient (units of f per rad).
    """
    prop = params.propagation
    back = np.conj(d_response.mT)  # [..., N, M], B^L = D^H
    out = np.empty(casc.phasors.shape)
    for layer in range(params.n_layers - 1, -1, -1):
        inp = casc.inputs[..., layer, :, :]  # [..., M, N]
        phasor = casc.phasors[..., layer, :]
        out[..., layer, :] = -2.0 * (phasor * np.sum(back * inp.mT, axis=-2)).imag
        if layer:
            back = (back * phasor[..., None, :]) @ prop.inter
    return out


def sum_rate_gradient(params: SIMParams, channels: np.ndarray, casc: SIMCascade) -> tuple[np.ndarray, np.ndarray]:
    """Sum rate and its gradient over every phase, eqs. (17)-(18) [FOUND: the authors' SIM gradient]:
    ``(R [...], dR/dtheta [..., L, M])``.

    With ``T_k = p sum_n |Z_kn|^2 + sigma^2`` and ``I_k = T_k - p |Z_kk|^2``:
    ``dR/dZ*_kn = (p / ln 2) (1 / T_k - [n != k] / I_k) Z_kn`` and ``dR/dG* = H (dR/dZ*)``.
    """
    p = params.stream_power_w
    z = np.conj(channels) @ casc.response  # [..., K, N]
    power = z.real**2 + z.imag**2
    k = z.shape[-2]
    total = p * power.sum(axis=-1) + params.noise_w  # T_k
    own = p * power[..., np.arange(k), np.arange(k)]
    interference = total - own  # I_k
    rate_value = (np.log2(total) - np.log2(interference)).sum(axis=-1)
    coef = (p / LN2) * (1.0 / total[..., None] - (1.0 - np.eye(k, z.shape[-1])) / interference[..., None])
    d_response = channels.mT @ (coef * z)  # [..., M, N]
    return rate_value, phase_gradient(params, casc, d_response)


def beam_matching_gradient(params: SIMParams, casc: SIMCascade) -> tuple[np.ndarray, np.ndarray]:
    """Beam-matching error and its gradient over every phase, eqs. (12)-(14) [RECON, derived exactly]:
    ``(MSE [...], [..., L, M])``.

    ``dP_i/dE*_in = p E_in`` with ``E = [alpha_i^H g_n]``; through eq. (9) with the peak cell ``i*``
    frozen (as in eq. (13)): ``dMSE/dE*_in = (2 p / I J) E_in (e_i / P* - [i = i*] sum_i' e_i' P_i' / P*^2)``,
    ``e = P_bar - P_d``; then ``dMSE/dG* = A^T dMSE/dE*`` with ``A`` the grid steering rows.
    """
    p = params.stream_power_w
    e_field = grid_fields(params, casc.response)  # [..., Q, N]
    pattern = p * squared_norm(e_field)  # [..., Q]
    q = pattern.shape[-1]
    peak_row = pattern.argmax(axis=-1)
    peak = np.take_along_axis(pattern, peak_row[..., None], axis=-1)[..., 0]
    peak_safe = np.where(peak > 0.0, peak, 1.0)
    err = pattern / peak_safe[..., None] - params.desired_pattern
    mse = (err * err).mean(axis=-1)
    weight = err / peak_safe[..., None]  # [..., Q]
    correction = (err * pattern).sum(axis=-1) / peak_safe**2
    np.put_along_axis(weight, peak_row[..., None],
                      np.take_along_axis(weight, peak_row[..., None], axis=-1) - correction[..., None], axis=-1)
    c = (2.0 * p / q) * weight[..., None] * e_field  # [..., Q, N]
    # E = conj(A) G with A the rows alpha^T, so dMSE/dG* = A^T C
    d_response = batching.shared_matmul(params.grid_steering_t, c)
    return mse, phase_gradient(params, casc, d_response)


# ---------------------------------------------------------------------------------------- D3 (Sec. III of [SIM])
#: Relative margin on R_min so that a selected solution is feasible with room for round-off.
RATE_MARGIN = 1e-6


@dataclass(frozen=True)
class D3Result:
    """Outcome of :func:`d3` for a batch of weight pairs (leading axis W).

    Attributes:
        phases: ``[W, L, M]`` selected phases (rad).
        mse, sum_rate: ``[W]`` their beam-matching error (linear) and sum rate (bit/s/Hz).
        history: ``[W, iterations + 1]`` the kept objective of the selected run at every iteration
            (the error for error-led weights, minus the sum rate for rate-led ones, the constrained
            key otherwise), non-increasing.
        iterations: iterations run (at most ``max_iterations``).
    """

    phases: np.ndarray
    mse: np.ndarray
    sum_rate: np.ndarray
    history: np.ndarray
    iterations: int


def _key(mse: np.ndarray, rate: np.ndarray, rule: np.ndarray, rate_min: float) -> np.ndarray:
    """Selection key (smaller is better) under each weight pair's rule: 0 error, 1 rate, 2 constrained.

    The constrained key ranks every candidate meeting R_min (key = error, in [0, 1]) before every other
    (key = 2 + (1 - R / R_min), at least 2).
    """
    meets = rate >= rate_min * (1.0 + RATE_MARGIN)
    constrained = np.where(meets, mse, 2.0 + np.maximum(0.0, 1.0 - rate / rate_min))
    return np.where(rule == 0, mse, np.where(rule == 1, -rate, constrained))


def d3(params: SIMParams, channels: np.ndarray, omega_s: np.ndarray, omega_c: np.ndarray,
       rng: np.random.Generator, runs: int = 5, max_iterations: int = 60, mu0: float = 1.0, rho: float = 0.9,
       tol: float = 1e-4, eps: float = 1e-8, constrained: bool = False) -> D3Result:
    """D3, the dual-normalised differential gradient descent of [SIM] (eqs. (R20)-(R25), docs/sim.md), for each
    weight pair ``(omega_s[w], omega_c[w])`` on one scenario's ``channels [K, M]``: analytic gradients of the
    beam-matching error and the sum rate, each normalised by its largest entry, their weighted difference scaled so
    its largest entry is pi, steps ``mu_t = mu_0 rho^t``, ``runs`` random starts, at most ``max_iterations``.

    ``constrained=True`` selects every pair by the constrained rule (used by the weight search).
    """
    omega_s = np.atleast_1d(np.asarray(omega_s, float))
    omega_c = np.atleast_1d(np.asarray(omega_c, float))
    n_w = omega_s.size
    rule = np.where(omega_s > omega_c, 0, np.where(omega_s < omega_c, 1, 2))
    if constrained:
        rule = np.full(n_w, 2)
    rule_runs = np.repeat(rule, runs)
    ws = np.repeat(omega_s, runs)[:, None, None]
    wc = np.repeat(omega_c, runs)[:, None, None]
    theta = rng.uniform(0.0, 2.0 * np.pi, size=(n_w * runs, params.n_layers, params.n_elements))
    best_theta = theta.copy()
    best_key = np.full(n_w * runs, np.inf)
    best_mse = np.zeros(n_w * runs)
    best_rate = np.zeros(n_w * runs)
    keys = []
    prev_mse = prev_rate = None
    active = np.ones(n_w * runs, dtype=bool)
    mu = mu0
    iterations = 0
    for t in range(max_iterations + 1):
        casc = cascade(params, theta)
        rate, grad_c = sum_rate_gradient(params, channels, casc)
        mse, grad_s = beam_matching_gradient(params, casc)
        key = _key(mse, rate, rule_runs, params.rate_min)
        better = key < best_key
        best_key = np.where(better, key, best_key)
        best_theta[better] = theta[better]
        best_mse = np.where(better, mse, best_mse)
        best_rate = np.where(better, rate, best_rate)
        keys.append(best_key.copy())
        if prev_mse is not None:
            change = np.maximum(np.abs(mse - prev_mse) / np.maximum(prev_mse, 1e-300),
                                np.abs(rate - prev_rate) / np.maximum(np.abs(prev_rate), 1e-300))
            active &= change >= tol
        if t == max_iterations or not active.any():
            break
        prev_mse, prev_rate = mse, rate
        # eqs. (20)-(23): scale normalisation, weighted difference, global pi/max normalisation
        n_s = grad_s / (np.abs(grad_s).max(axis=(-2, -1), keepdims=True) + eps)
        n_c = grad_c / (np.abs(grad_c).max(axis=(-2, -1), keepdims=True) + eps)
        diff = ws * n_s - wc * n_c
        peak = np.abs(diff).max(axis=(-2, -1), keepdims=True)
        step = np.pi * diff / np.where(peak > 0.0, peak, 1.0)
        theta = np.where(active[:, None, None], np.mod(theta - mu * step, 2.0 * np.pi), theta)  # eq. (24)
        mu *= rho  # eq. (25)
        iterations = t + 1
    # selection across the runs of each weight pair
    best_key = best_key.reshape(n_w, runs)
    pick = best_key.argmin(axis=1)
    flat = np.arange(n_w) * runs + pick
    history = np.stack(keys, axis=-1)[flat]
    return D3Result(best_theta[flat], best_mse[flat], best_rate[flat], history, iterations)


