"""ISAC-MFRIS-v0: a multi-functional RIS's coefficients and the BS beams for echo SINR ([MF-RIS], docs/mfris.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics import mfris, units
from ..physics.arrays import cis, squared_norm
from ..physics.beamforming import (
    antenna_centre,
    balanced_split,
    beamformer_action_size,
    decode_beamformer,
    encode_beamformer,
    spread_antennas,
    unit_columns,
    zf_directions,
)
from ..physics.mfris import MFRISConfiguration
from ..physics.validation import param
from ..registration import Registration
from ..render import pattern_db
from .base import (
    CONSTRAINT_WEIGHT,
    FEASIBILITY_TOL,
    ActionMode,
    Decoded,
    ISACEnv,
    ISACVectorEnv,
    LogScale,
    Metrics,
    ObsPart,
    Panel,
    SharedOptions,
    System,
    action_mode_field,
    db_feature,
    document,
)

#: The score reaches 1 this many dB above the anchor configuration's summed echo SINR.
SCORE_SPAN_DB = 20.0


#: Largest SINR margin above each user's target of the structured mode (dB).
MARGIN_DB = 6.0
#: Scale of the structured mode's residual on each user's unit ZF direction.
USER_RESIDUAL = 0.5
#: Passes of the structured mode's amplifier check (the users' beams are rebalanced on coefficients scaled onto
#: ``P_RIS``); at the defaults the amplifiers use a few mW of their 5 W and one pass suffices.
AMPLIFIER_PASSES = 3


class StructuredMode(ActionMode):
    """SINR margins, the users' direction residuals, the radar streams and the surface, with a SINR layer for the users'
    rates (:meth:`MFRISSystem.decode_structured`)."""

    name = "structured"
    doc = ("SINR margins, user-direction residuals around ZF on the surface's effective channels, radar streams and "
           "the surface's coefficients (phases around the focusing phases); min-power SINR balancing meets every "
           "user's rate (info['layer'])")
    memoryless = True

    @property
    def dim(self) -> int:
        p = self.system.params
        return p.n_users + 1 + 2 * p.n_tx * p.n_users + 2 * p.n_tx * p.n_tx + 4 * p.n_elements

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        return self.system.decode_structured(action, scenario, refs)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        return self.system.structured_action(config, scenario, refs)


@dataclass(frozen=True)
class MFRISOptions(SharedOptions):
    """Env options of ISAC-MFRIS-v0 (action mode and reward weights)."""

    action_mode: str = action_mode_field(StructuredMode, default=StructuredMode.name)

    w_qos: float = param(CONSTRAINT_WEIGHT, "weight of the users' rate shortfall sum_k max(0, 1 - R_k/R_min)",
                         kind="nonneg")
    w_power: float = param(CONSTRAINT_WEIGHT, "weight of the power and amplitude violations (relative excess over "
                           "each budget)", kind="nonneg")


@dataclass(frozen=True)
class MFRISReferences:
    """Per-scenario constants: score anchors (summed echo SINR, linear; ``worst`` scores 0, ``target`` 1), the
    scenario-fixed observation parts (channels divided by the square root of their path loss; target geometry) and
    the structured mode's centre, the focusing phases ``[B, 2, M]`` (:func:`~isac_gym.physics.mfris.focusing_phases`)."""

    objective_worst: np.ndarray
    objective_target: np.ndarray
    scale: LogScale  # the score anchors, precomputed
    channel_obs: np.ndarray
    target_obs: np.ndarray
    focus: np.ndarray


class MFRISSystem(System):
    """Batched adapter of the MF-RIS system; see :class:`MFRISEnv` for the manual."""

    params_class = mfris.MFRISParams
    options_class = MFRISOptions
    config_class = MFRISConfiguration
    objective_name = "echo_sinr_sum"
    maximise = True
    violation_names = ("qos", "bs_power", "ris_power", "amplitude")
    draw_scenario = staticmethod(mfris.draw_scenario)
    oracle_module = "isac_gym.oracles.mfris"

    def __init__(self, params: mfris.MFRISParams, options: MFRISOptions):
        super().__init__(params, options)
        self.weights = {"qos": options.w_qos, "bs_power": options.w_power, "ris_power": options.w_power,
                        "amplitude": options.w_power}
        p = params
        nt, s, m, k, j = p.n_tx, p.n_streams, p.n_elements, p.n_users, p.n_targets
        self.n_beam = beamformer_action_size(nt, s)
        #: Centre of the beamformer encoding: user streams spread over the antennas, one radar stream per antenna.
        self.centre = antenna_centre(nt, np.r_[spread_antennas(nt, k), np.arange(nt)])
        self.direct_dim = self.n_beam + 4 * m
        self._anchor = (mfris.isotropic_radar(p, p.p_bs_w), np.sqrt(mfris.anchor_gains(p)).astype(complex))
        self.obs_layout = (
            ObsPart("bs_surface_channel_re", "BS-surface channel Re", m * nt, "/ sqrt(PL_BR)", "M Nt"),
            ObsPart("bs_surface_channel_im", "BS-surface channel Im", m * nt, "/ sqrt(PL_BR)", "M Nt"),
            ObsPart("user_channels_re", "user channels Re", k * m, "/ sqrt(PL_k)", "K M"),
            ObsPart("user_channels_im", "user channels Im", k * m, "/ sqrt(PL_k)", "K M"),
            ObsPart("target_directions", "target directions", 3 * j, "unit vectors (x, y, z) from the surface", "3 J"),
            ObsPart("target_distances", "target distances", j, "/ largest target distance", "J"),
            ObsPart("user_sinr", "user SINR", k, "dB / 10, clipped to [-10, 10]", "K"),
            ObsPart("echo_sinr", "echo SINR", 2, "dB / 10 per side (r, t), clipped to [-10, 10]"),
            ObsPart("power_use", "power use", 2,
                    "||W||^2 / P_BS, requested amplifier output / P_RIS (0 without amplifiers)"),
            self.memory_part("A"),
        )

    # -- scenarios --------------------------------------------------------------------
    def _anchor_config(self, b: int) -> MFRISConfiguration:
        beams, coef = self._anchor
        return MFRISConfiguration(np.broadcast_to(beams, (b,) + beams.shape).copy(),
                                  np.broadcast_to(coef, (b,) + coef.shape).copy())

    def references(self, scenario: mfris.MFRISScenario) -> MFRISReferences:
        """Score anchors: the summed echo SINR of the anchor configuration (isotropic radar streams at full
        BS power, full amplitudes evenly split, zero phases) scores 0, ``SCORE_SPAN_DB`` above it scores 1."""
        p = self.params
        b = scenario.g.shape[0]
        worst = np.maximum(mfris.measure(p, scenario, self._anchor_config(b)).objective, 1e-30)
        g = scenario.g / np.sqrt(scenario.pl_bs_ris)[:, None, None]
        h = scenario.h / np.sqrt(scenario.pl_user)[..., None]
        channels = np.concatenate([g.real.reshape(b, -1), g.imag.reshape(b, -1), h.real.reshape(b, -1),
                                   h.imag.reshape(b, -1)], axis=-1)
        targets = np.concatenate([scenario.target_dir.reshape(b, -1),
                                  scenario.target_dist / p.target_distance_m[1]], axis=-1)
        target = worst * units.db_to_linear(SCORE_SPAN_DB)
        return MFRISReferences(worst, target, LogScale.of(worst, target, maximise=True), channels, targets,
                               mfris.focusing_phases(p, scenario))

    def initial_config(self, scenario, refs: MFRISReferences) -> MFRISConfiguration:
        """The anchor configuration (score 0): isotropic radar streams, no user beams, even full amplitudes."""
        return self._anchor_config(refs.objective_worst.shape[0])

    # -- actions ----------------------------------------------------------------------
    def decode(self, action, scenario, refs) -> Decoded:
        """``W`` in the beamformer encoding (budget ``P_BS``); per element ``t = (a+1)/2``, ``rho = (a+1)/2`` mapped
        into the protocol's amplitude set (:func:`~isac_gym.physics.mfris.amplitudes_from_fractions`) and the
        phases ``theta_s = pi (a + 1)``."""
        p = self.params
        beams = decode_beamformer(action[:, : self.n_beam], p.n_tx, p.n_streams, p.p_bs_w, self.centre)
        return Decoded(MFRISConfiguration(beams, self._coefficients(action[:, self.n_beam:])))

    def _coefficients(self, rest: np.ndarray, centre: np.ndarray | float = np.pi) -> np.ndarray:
        """Per element ``t = (a+1)/2``, ``rho = (a+1)/2`` in the protocol's amplitude set and the phases
        ``theta_s = centre + pi a`` (the direct mode's centre is pi, so ``theta_s = pi (a + 1)``): ``rest [B, 4 M]``
        to the coefficients ``[B, 2, M]``."""
        p = self.params
        rest = rest.reshape(-1, 4, p.n_elements)
        beta = mfris.amplitudes_from_fractions(p, 0.5 * (rest[:, 0] + 1.0), 0.5 * (rest[:, 1] + 1.0))
        return np.sqrt(beta) * cis(centre + np.pi * rest[:, 2:])

    def _structured_parts(self, action: np.ndarray) -> tuple[np.ndarray, ...]:
        """The structured action's parts: margins ``[B, K]``, split ``[B]``, user residuals ``[B, Nt, K]``, radar
        directions ``[B, Nt, Nt]`` (unit Frobenius norm) and the per-element entries ``[B, 4 M]``."""
        p = self.params
        k, nt = p.n_users, p.n_tx
        cut = np.cumsum([k, 1, 2 * nt * k, 2 * nt * nt])
        margin, split, user, radar, rest = np.split(action, cut, axis=-1)
        user = user.reshape(-1, 2, nt, k)
        radar = radar.reshape(-1, 2, nt, nt)
        r = (radar[:, 0] + 1j * radar[:, 1]) + self.centre[:, k:]
        r = r / np.sqrt(np.maximum(squared_norm(r, (-2, -1)), 1e-300))[:, None, None]
        return (units.db_to_linear(MARGIN_DB * 0.5 * (margin + 1.0)), 0.5 * (split[:, 0] + 1.0),
                USER_RESIDUAL * (user[:, 0] + 1j * user[:, 1]), r, rest)

    def decode_structured(self, action: np.ndarray, scenario, refs: MFRISReferences) -> Decoded:
        """The structured mode (:class:`StructuredMode`): ``a = [margins (K), split, user residuals (2 Nt K),
        radar directions (2 Nt^2), per element (t, rho, theta_r, theta_t) (4 M)]``.

        The surface's amplitudes are the direct mode's (in the amplitude set by construction), its phases
        ``theta_s = theta_s^focus + pi a`` around the focusing phases ``refs.focus``. User k's direction is
        its unit ZF direction on the effective channels ``c_k`` of eq. (9) plus ``USER_RESIDUAL`` times a residual,
        normalised; the radar streams ``W_0`` are the centre (one stream per antenna) plus their entries, at unit
        Frobenius norm, and get what the users leave of ``P_BS``. The users' powers come from min-power SINR
        balancing (:func:`~isac_gym.physics.beamforming.balanced_split`) with targets ``gamma_k m_k``
        (``gamma_k = 2^(R_min / lambda_s) - 1``, eq. (17c); ``m_k`` from 0 to ``MARGIN_DB`` dB), the radar streams'
        leak and the amplification noise counted; the first reachable of the agent's margins, the targets themselves
        (``margins_shrunk``) and the targets on the ZF directions (``zf``), else equal powers on the agent's
        directions (``fallback``). Where the amplifiers' requested output exceeds ``P_RIS``, the coefficients are
        scaled onto it and the users rebalanced (``AMPLIFIER_PASSES``; ``ris_scale``), so the BS budget, the amplitude
        set and, wherever the layer reached the targets, every rate hold: ``info["layer"]["inside"]`` is the env's
        own QoS verdict.
        """
        p = self.params
        k = p.n_users
        margins, split, residual, radar, rest = self._structured_parts(action)
        coef = self._coefficients(rest, refs.focus)
        b = action.shape[0]
        scale_total = np.ones(b)
        for _ in range(AMPLIFIER_PASSES):
            c, nu = mfris.user_effective_channels(p, scenario, coef)
            # the ridge keeps the inverse finite when the surface passes nothing (every gain 0 at a corner action)
            ridge = (1e-9 * squared_norm(c).mean(axis=-1) + 1e-30)[:, None, None] * np.eye(k)
            zf = unit_columns(zf_directions(c, ridge))
            mine = unit_columns(zf + residual)
            leak = (np.abs(np.conj(c) @ radar) ** 2).sum(axis=-1)  # [B, K] the radar streams at unit power
            tries = [(mine, p.sinr_min * margins), (mine, p.sinr_min * np.ones_like(margins)),
                     (zf, p.sinr_min * np.ones_like(margins))]
            chosen = np.full(b, len(tries))
            dirs, power, share = mine, np.full((b, k), 1.0 / k) * (split * p.p_bs_w)[:, None], split
            for n, (u, targets) in enumerate(tries):
                gains = np.abs(np.conj(c) @ u) ** 2
                pw, g, ok = balanced_split(gains, nu, leak, targets, p.p_bs_w, split)
                take = (chosen == len(tries)) & ok
                chosen = np.where(take, n, chosen)
                dirs = np.where(take[:, None, None], u, dirs)
                power = np.where(take[:, None], pw, power)
                share = np.where(take, g, share)
            beams = np.concatenate([dirs * np.sqrt(power)[:, None, :],
                                    radar * np.sqrt((1.0 - share) * p.p_bs_w)[:, None, None]], axis=-1)
            _, xi = mfris.amplifier_load(p, scenario.g, beams)
            side = ((coef.real**2 + coef.imag**2) * xi[:, None, :]).sum(axis=-1)
            scale, _ = mfris.amplifier_scale(p, side)
            if np.all(scale >= 1.0):
                break
            coef = coef * np.sqrt(np.minimum(scale, 1.0 - 1e-12))[..., None]  # onto P_RIS, a hair inside
            scale_total = scale_total * scale.min(axis=-1)
        config = MFRISConfiguration(beams, coef)
        rates = p.slot_weights[p.user_side] * np.log2(1.0 + mfris.measure(p, scenario, config).sinr)
        inside = np.maximum(0.0, 1.0 - rates / p.rate_min).sum(axis=-1) <= FEASIBILITY_TOL  # the env's QoS verdict
        layer = {"margins_shrunk": (chosen >= 1).astype(float), "zf": (chosen == 2).astype(float),
                 "fallback": (chosen == len(tries)).astype(float), "split": share, "ris_scale": scale_total,
                 "inside": inside.astype(float)}
        return Decoded(config, layer=layer)

    def structured_action(self, config: MFRISConfiguration, scenario, refs: MFRISReferences) -> np.ndarray:
        """A fit of ``config`` in the structured mode: its coefficients exactly (the direct encoding's amplitude
        entries, the phases relative to the focusing phases), the margins from its users' SINRs over their targets,
        the split from the user beams' power, the radar streams' directions (their encoding) and no user residual
        (the layer's ZF directions)."""
        p = self.params
        k = p.n_users
        w = np.asarray(config.beams)
        sinr = mfris.measure(p, scenario, config).sinr
        margin_db = units.linear_to_db(np.maximum(sinr / p.sinr_min, 1e-300))
        margins = np.clip(2.0 * margin_db / MARGIN_DB - 1.0, -1.0, 1.0)
        col = squared_norm(w, -2)
        split = 2.0 * col[:, :k].sum(axis=-1) / p.p_bs_w - 1.0
        radar = w[:, :, k:]
        peak = np.max(np.abs(radar), axis=(-2, -1), keepdims=True)
        r = radar * (0.5 / np.where(peak > 0, peak, 1.0)) - self.centre[:, k:]
        b = w.shape[0]
        surface = self.encode(config)[:, self.n_beam:].reshape(b, 4, -1)
        # the phases relative to the focusing phases, wrapped into [-1, 1)
        offset = np.angle(config.coefficients) - refs.focus
        surface[:, 2:] = np.mod(offset / np.pi + 1.0, 2.0) - 1.0
        return np.clip(np.concatenate([margins, split[:, None], np.zeros((b, 2 * p.n_tx * k)),
                                       r.real.reshape(b, -1), r.imag.reshape(b, -1), surface.reshape(b, -1)],
                                      axis=-1), -1.0, 1.0)

    def periodic_entries(self) -> np.ndarray:
        """The two phase rows of the per-element entries."""
        m = self.params.n_elements
        return np.r_[np.zeros(self.n_beam + 2 * m, dtype=bool), np.ones(2 * m, dtype=bool)]

    def encode(self, config: MFRISConfiguration) -> np.ndarray:
        """Direct-mode action of a configuration (inverse of :meth:`decode`; zero-gain elements get phase 0)."""
        p = self.params
        coef = np.asarray(config.coefficients)
        total, split = mfris.fractions_from_amplitudes(p, np.abs(coef) ** 2)
        phase = np.mod(np.angle(coef), 2.0 * np.pi) / np.pi - 1.0
        per_element = np.concatenate([2.0 * total[..., None, :] - 1.0, 2.0 * split[..., None, :] - 1.0, phase],
                                     axis=-2)
        return np.concatenate([encode_beamformer(np.asarray(config.beams), p.p_bs_w, self.centre),
                               per_element.reshape(*coef.shape[:-2], -1)], axis=-1)

    # -- metrics, reward, observation ---------------------------------------------------
    def measure(self, config, scenario, refs, cache=None) -> tuple[Metrics, mfris.MFRISMeasurement]:
        p = self.params
        out = mfris.measure(p, scenario, config)
        echo_db = units.linear_to_db(out.echo_sinr)
        extra = {
            "echo_sinr": out.echo_sinr,
            "echo_sinr_db": echo_db,
            "echo_sinr_reflection_db": echo_db[:, 0],
            "echo_sinr_refraction_db": echo_db[:, 1],
            "objective_db": units.linear_to_db(out.objective),
            "sum_rate": out.rate.sum(axis=-1),
            "bs_power": out.bs_power,
            "ris_power": out.ris_power.sum(axis=-1),
            "ris_requested": out.ris_requested,
            "ris_scale": out.scale,
            "coefficients_applied": out.effective,
        }
        power = out.bs_power + extra["ris_power"]
        return Metrics(out.objective, out.sinr, out.rate, power, extra), out

    def violations(self, metrics, state: mfris.MFRISMeasurement, config) -> dict[str, np.ndarray]:
        """Rate shortfall ``sum_k max(0, 1 - R_k/R_min)`` (eq. (17c)); relative excess of ``||W||^2`` over ``P_BS``
        (17b) and of the requested amplifier output over ``P_RIS`` (17e, before scaling); the amplitude set (17d)."""
        p = self.params
        qos = np.maximum(0.0, 1.0 - metrics.rate / p.rate_min).sum(axis=-1)
        bs = np.maximum(0.0, state.bs_power / p.p_bs_w - 1.0)
        if p.amplified:
            ris = np.maximum(0.0, state.ris_requested / p.p_ris_w - 1.0)
        else:
            ris = np.zeros_like(bs)
        return {"qos": qos, "bs_power": bs, "ris_power": ris,
                "amplitude": mfris.amplitude_violation(p, config.coefficients)}

    def observe(self, assessment, config, scenario, refs: MFRISReferences, prev_action) -> dict[str, np.ndarray]:
        p = self.params
        m, nt, k = p.n_elements, p.n_tx, p.n_users
        met = assessment.metrics
        state: mfris.MFRISMeasurement = assessment.state
        ch = refs.channel_obs
        a, b = m * nt, k * m
        budget = p.p_ris_w if p.amplified else np.inf
        return {
            "bs_surface_channel_re": ch[:, :a],
            "bs_surface_channel_im": ch[:, a: 2 * a],
            "user_channels_re": ch[:, 2 * a: 2 * a + b],
            "user_channels_im": ch[:, 2 * a + b:],
            "target_directions": refs.target_obs[:, : 3 * p.n_targets],
            "target_distances": refs.target_obs[:, 3 * p.n_targets:],
            "user_sinr": db_feature(units.linear_to_db(met.sinr)),
            "echo_sinr": db_feature(met.extra["echo_sinr_db"]),
            "power_use": np.stack([state.bs_power / p.p_bs_w, state.ris_requested / budget], axis=-1),
        }

    def render_panels(self, info, scenario: mfris.MFRISScenario, refs) -> list[Panel]:
        """Per side: the surface's transmit beam pattern over the direction cosines (u_x, u_z) with that side's users
        and targets marked; then each side's element gains ``beta^s / beta_max``."""
        p = self.params
        cfg = self.as_config(info["config"])
        n = 61
        ux, uz = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
        inside = ux**2 + uz**2 <= 1.0
        dirs = np.stack([ux, np.sqrt(np.maximum(0.0, 1.0 - ux**2 - uz**2)), uz], axis=-1).reshape(-1, 3)
        # the coefficients in use: a request over the amplifier budget is scaled onto it
        applied = mfris.MFRISConfiguration(cfg.beams, np.asarray(info["coefficients_applied"]))
        pattern = mfris.transmit_pattern(p, scenario, applied, dirs).reshape(2, n, n)
        db = np.where(inside, pattern_db(pattern), np.nan)
        beta = np.abs(applied.coefficients) ** 2 / p.beta_max

        def beam(side):
            def draw(ax):
                im = ax.imshow(db[side], origin="lower", extent=(-1, 1, -1, 1), cmap="viridis")
                ax.figure.colorbar(im, ax=ax, fraction=0.046, label="dB")
                users = scenario.user_dir[p.user_side == side]
                targets = scenario.target_dir[p.target_side == side]
                ax.plot(users[:, 0], users[:, 2], "w^", ms=6, label="users")
                ax.plot(targets[:, 0], targets[:, 2], "rs", mfc="none", ms=7, label="targets")
                ax.set_xlabel("u_x", fontsize=9)
                ax.set_ylabel("u_z", fontsize=9)
                ax.legend(fontsize=8, loc="upper right")
            return draw

        def gains(side):
            def draw(ax):
                im = ax.imshow(beta[side].reshape(p.n_elements_z, p.n_elements_x), vmin=0.0, vmax=1.0,
                               cmap="magma", origin="lower")
                ax.figure.colorbar(im, ax=ax, fraction=0.046, label="beta / beta_max")
                ax.set_xlabel("x index", fontsize=9)
                ax.set_ylabel("z index", fontsize=9)
            return draw

        echo = info["echo_sinr_db"]
        return [Panel(f"{mfris.SIDES[s]} beam (echo {echo[s]:.1f} dB)", beam(s)) for s in range(2)] + [
            Panel(f"{mfris.SIDES[s]} gains", gains(s)) for s in range(2)]


class MFRISEnv(ISACEnv):
    """Multi-functional RIS (MF-RIS) ISAC: BS beams and the surface's per-side amplitudes and phases for echo SINR.

    **Description.** A BS with ``Nt = 8`` antennas serves ``K = 4`` users and illuminates ``J = 4`` targets, half
    on each side of a multi-functional RIS of ``M = 6 x 5`` elements: the BS's side (reflection, r) and the other
    side (refraction, t). Each element reflects and refracts with its own power gain (up to ``beta_max``, an
    amplifier) and phase per side; on each side an L-shaped array of ``Nv + Nh = 8`` sensing elements receives
    that side's echoes and applies the optimal filter (Lemma 1 of [MF-RIS]), so each side's echo SINR is
    ``lambda_max(N_s^-1 A_s)``. The problem (eq. (17) of [MF-RIS]) maximises the summed echo SINR subject to the
    BS budget, every user's rate ``R_k >= R_min``, the protocol's amplitude set and the amplifier budget.
    ``protocol``: ``ES`` (energy splitting), ``MS`` (each element one mode), ``TS`` (reflect for a fraction
    ``ts_fraction`` of the frame, then refract; rates and echo SINR are weighted by the fractions).
    ``surface``: ``mf`` or the paper's comparison surfaces ``active``, ``passive``, ``star`` (echo received by the
    BS through the surface), at the same total power ``P_tot = P_BS + P_RIS``. Every equation lives in
    :mod:`isac_gym.physics.mfris`; docs/mfris.md gives the model and what is reconstructed.

    **Action space** ``Box(-1, 1, float32)``. ``action_mode="direct"`` (``1 + 2 Nt (K + Nt) + 4 M``, 313 at the
    defaults): the BS beamformer ``W = [W_c W_0]`` (``Nt x (K + Nt)``) in the suite's beamformer
    encoding (budget ``P_BS``); then per element (M entries each) a total amplitude fraction ``t = (a + 1)/2``, a
    split ``rho = (a + 1)/2`` and the two phases ``theta_s = pi (a + 1)`` (r, then t). ``(t, rho)`` map into the
    protocol's amplitude set (ES: ``beta^r = t rho beta_max``, ``beta^t = t (1 - rho) beta_max``; MS: reflect
    when ``rho >= 1/2``, else refract, at ``t beta_max``; TS: ``beta^r = t min(1, 2 rho) beta_max``,
    ``beta^t = t min(1, 2 (1 - rho)) beta_max``; active/passive: the element's own side at ``t beta_max`` / 1;
    STAR: ``rho``, ``1 - rho``), so that set always holds and every point of it is reachable. The amplifier
    budget is enforced by scaling the gains down onto ``P_RIS``; what was requested beyond it is the
    ``ris_power`` violation. ``env.unwrapped.encode(config)`` inverts the mapping.
    ``action_mode="structured"`` (the default; ``K + 1 + 2 Nt K + 2 Nt^2 + 4 M``, 317): SINR margins, the users' share of
    ``P_BS``, residuals around the users' ZF directions on the surface's effective channels, the radar streams and
    the per-element entries, the phases as residuals ``theta_s = theta_s^focus + pi a`` around the scenario's focusing
    phases (:func:`~isac_gym.physics.mfris.focusing_phases`: every element co-phased from the BS to its side's
    targets); min-power SINR balancing sets the users' powers so that every rate meets
    ``R_min`` wherever the directions allow, the BS budget and the amplitude set hold by construction, and the
    coefficients are scaled onto ``P_RIS`` where needed (:class:`StructuredMode`, docs/mfris.md;
    ``info["layer"]``).

    **Observation** ``Box(-100, 100, float32)``, in this order (sizes at the defaults). The two factors of the
    cascaded channels are observed in full (their product is the cascade; the targets' responses depend on G
    alone):

    {observation_table}

    **Reward.** ``f(sum_s lambda_s gamma_s) - w_qos s(sum_k max(0, 1 - R_k/R_min)) - w_power (s(bs_power) +
    s(ris_power) + s(amplitude))`` (``s`` below), with ``f`` the log-normalised summed echo SINR: 0 at the anchor
    configuration (isotropic radar streams at full BS power, full amplitudes evenly split, zero phases), 1 at 20 dB
    above it, clipped below at -1. ``info["reward_terms"]`` holds the terms. Maximising the sum concentrates sensing
    on the stronger side; ``info`` reports both sides.

    **Episode.** One channel realisation (user and target positions, Rician fading, target phases) is drawn at
    ``reset``; episodes start from the anchor configuration, never terminate, and are truncated after
    ``max_episode_steps`` (100).

    **Info.** ``objective`` and ``echo_sinr_sum`` (``sum_s lambda_s gamma_s``, linear), ``objective_db``,
    ``echo_sinr`` (per side, linear), ``echo_sinr_db``, ``echo_sinr_reflection_db``, ``echo_sinr_refraction_db``,
    ``sum_rate``, ``sinr`` and ``rate`` (per user), ``power`` (BS plus amplifier output, W), ``bs_power``,
    ``ris_power`` (amplifier output after scaling, W; 0 for ``surface="passive"`` and ``"star"``, whose surface
    only passes on the BS's power), ``ris_requested`` (before scaling), ``ris_scale`` (factor on each side's
    gains), ``coefficients_applied`` (``[2, M]``, the coefficients in use: a request whose amplifier output exceeds
    ``P_RIS`` is scaled onto it, and the excess is the ``ris_power`` violation), ``violation``, ``feasible``,
    ``reward_terms``, ``config`` (``beams [Nt, K + Nt]``, ``coefficients [2, M]`` as requested, which the
    violation needs; frames are rendered from the applied ones).

    {common}

    **Arguments** (defaults from :class:`~isac_gym.physics.mfris.MFRISParams` and :class:`MFRISOptions`):

    {arguments}

    **Rendering** (``render_mode="rgb_array"``): each side's transmit beam pattern over the direction cosines with
    its users and targets marked, and each side's element gains.

    **Paper.** Multi-functional RIS integrated sensing and communications for 6G networks ([MF-RIS]); the oracle
    is its AO algorithm (``isac_gym.oracles.make(env, "oracle")``).
    """

    system_class = MFRISSystem


class MFRISVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`MFRISEnv` s in one batched call; same arguments plus ``num_envs``, ``max_episode_steps``."""

    system_class = MFRISSystem


document(MFRISEnv, MFRISSystem)

REGISTRATIONS = (
    Registration("ISAC-MFRIS-v0", MFRISEnv, MFRISVectorEnv, max_episode_steps=100, config_name="mfris",
                 small={"n_tx": 4, "n_elements_x": 3, "n_elements_z": 2, "n_users": 2, "n_users_reflection": 1}),
)

__all__ = ["REGISTRATIONS", "MFRISEnv", "MFRISVectorEnv", "MFRISSystem", "MFRISOptions", "MFRISReferences"]
