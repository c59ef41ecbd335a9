"""ISAC-RIS-SLP-v0 / ISAC-RIS-SLP-DoA-v0: RIS-aided symbol-level precoding ([RIS-SLP], docs/ris_slp.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics import batching, ris_slp
from ..physics.arrays import cis, squared_norm, ula
from ..physics.ris_slp import RISSLPConfiguration
from ..physics.validation import param
from ..registration import Registration
from ..render import pattern_db
from .base import (
    CONSTRAINT_WEIGHT,
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
    document,
)

TASKS = ("detection", "doa")
#: Largest phase residual of the structured mode around the matched design (fraction of pi).
PHASE_RESIDUAL = 0.25
#: Seed of the fixed "uninformed" configuration (random waveform, random RIS) anchoring the score at 0.
ANCHOR_SEED = 20250120


class StructuredMode(ActionMode):
    """Phase residuals around the scenario's matched radar design (:func:`~isac_gym.physics.ris_slp.matched_design`:
    ``x = x_m exp(j r pi a_x)``, ``phi = phi_m exp(j r pi a_phi)``, ``r = PHASE_RESIDUAL``) with a
    constructive-interference layer: the waveform is moved by :func:`~isac_gym.physics.ris_slp.ci_layer` (damped
    Gauss-Newton steps on its phases, then the ZF start where the agent's waveform cannot be brought in) until every
    received symbol lies in its constructive region, so the QoS holds by construction wherever the layer reaches it
    (``info["layer"]["inside"]``); the RIS phases are the agent's."""

    name = "structured"
    doc = ("phase residuals around the matched radar design, with the waveform moved into every constructive region "
           "by a CI layer (info['layer'])")
    memoryless = True

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        system = self.system
        residual = system.decode(PHASE_RESIDUAL * action, scenario, refs).config
        x = residual.x * (refs.matched.x / system.params.amplitude)
        phi = residual.phi * refs.matched.phi
        x, layer = ris_slp.ci_layer(system.params, scenario, x, phi)
        return Decoded(RISSLPConfiguration(x, phi), code=action, layer=layer)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        """The phases of ``config`` relative to the matched design: a waveform already inside every region passes
        the layer unchanged."""
        m = refs.matched
        relative = self.system.encode(RISSLPConfiguration(
            np.asarray(config.x) * np.conj(m.x / self.system.params.amplitude), np.asarray(config.phi) * np.conj(m.phi)))
        return np.clip(relative / PHASE_RESIDUAL, -1.0, 1.0)


@dataclass(frozen=True)
class RISSLPOptions(SharedOptions):
    """Env options of the RIS-SLP ids."""

    action_mode: str = action_mode_field(StructuredMode, default=StructuredMode.name)

    task: str = param("detection", "'detection' (radar output SINR, ISAC-RIS-SLP-v0) or 'doa' (DoA CRB, "
                      "ISAC-RIS-SLP-DoA-v0)", kind="choice", choices=TASKS, problem=True)
    w_qos: float = param(CONSTRAINT_WEIGHT, "weight of the CI QoS violation mean_{k,l} max(0, g_kl)/(gamma + |y_kl|)",
                         kind="nonneg")


@dataclass(frozen=True)
class RISSLPReferences:
    """Per-scenario constants: score anchors (``worst`` scores 0, ``target`` 1: the matched radar design ``matched``,
    the structured mode's centre) and the static observation."""

    worst: np.ndarray
    target: np.ndarray
    scale: LogScale  # the score anchors, precomputed
    static_obs: np.ndarray
    matched: RISSLPConfiguration


@dataclass(frozen=True)
class RISSLPState:
    """Intermediates of one assessment: effective user channels ``[B, K, M]``, CI margins ``[B, K, L]`` and
    received symbol amplitudes ``|y_kl|`` ``[B, K, L]`` (sqrt(W))."""

    heff: np.ndarray
    margins: np.ndarray
    amplitudes: np.ndarray


def _normalised_rows(h: np.ndarray) -> np.ndarray:
    """Rows of ``[B, K, M]`` divided by their RMS (a zero row stays zero), flattened as ``[Re..., Im...]``."""
    rms = np.sqrt(np.maximum(squared_norm(h) / h.shape[-1], 1e-300))[..., None]
    scaled = h / rms
    return np.concatenate([scaled.real.reshape(h.shape[0], -1), scaled.imag.reshape(h.shape[0], -1)], axis=-1)


def _signed_log(v: np.ndarray) -> np.ndarray:
    return np.copysign(np.log1p(np.abs(v)), v)


class RISSLPSystem(System):
    """Batched adapter of the RIS-SLP system; see :class:`RISSLPEnv` for the manual."""

    params_class = ris_slp.RISSLPParams
    options_class = RISSLPOptions
    config_class = RISSLPConfiguration
    violation_names = ("qos",)
    draw_scenario = staticmethod(ris_slp.draw_scenario)
    oracle_module = "isac_gym.oracles.ris_slp"

    def __init__(self, params: ris_slp.RISSLPParams, options: RISSLPOptions):
        super().__init__(params, options)
        self.task = options.task
        self.objective_name = "radar_sinr" if self.task == "detection" else "crb"
        self.maximise = self.task == "detection"
        self.weights = {"qos": options.w_qos}
        p = params
        self.n_x = p.n_slots * p.n_tx
        self.direct_dim = self.n_x + p.n_elements
        q1 = p.n_clutter + 1
        self.obs_layout = (
            ObsPart("symbols", "symbols", p.n_users * p.n_slots, "PSK index / Omega", "K L"),
            ObsPart("direct_user_channels", "direct user channels h_k^H (Re, Im)", 2 * p.n_users * p.n_tx,
                    "/ RMS of the row", "2 K M"),
            ObsPart("target_and_clutter_geometry", "target and clutter geometry", 2 * q1,
                    "sin of the BS and RIS angles", "2 (Q+1)"),
            ObsPart("effective_channels", "effective channels h_k^H + h_rk^H Phi G (Re, Im)", 2 * p.n_users * p.n_tx,
                    "/ RMS of the row", "2 K M"),
            self.memory_part("M L + N"),
            ObsPart("worst_ci_margin_per_user", "worst CI margin per user", p.n_users,
                    "signed log1p of max_l g_kl / gamma", "K"),
            ObsPart("objective_score", "objective score", 1, "log-normalised (see reward)"),
        )
        self._static_parts = self.obs_layout[:3]
        pts = ris_slp.sensing_points(p)
        self._geometry_obs = np.r_[np.sin(ris_slp.bs_angle(pts)), np.sin(ris_slp.ris_angle(p, pts))]
        anchor = np.random.default_rng(ANCHOR_SEED).uniform(-1.0, 1.0, self.direct_dim)
        #: The fixed random configuration that scores 0 in every scenario (unbatched).
        self.anchor_config = batching.take(self._from_action(anchor[None, :]), 0)

    # -- scenarios --------------------------------------------------------------------
    def objective(self, config: RISSLPConfiguration, scenario) -> np.ndarray:
        """The task's metric: radar output SINR (eq. (21a), linear) or DoA CRB (eq. (41), rad^2)."""
        if self.task == "detection":
            return ris_slp.radar_sinr(self.params, scenario, config.x, config.phi)
        return ris_slp.doa_crb(self.params, scenario, config.x, config.phi)

    def references(self, scenario) -> RISSLPReferences:
        """Score anchors: the fixed random configuration (0) and the matched radar design (1)."""
        x, phi = ris_slp.matched_design(self.params, scenario)
        batch = scenario.symbols.shape[0]
        anchor = RISSLPConfiguration(np.broadcast_to(self.anchor_config.x, (batch,) + self.anchor_config.x.shape),
                                     np.broadcast_to(self.anchor_config.phi, (batch,) + self.anchor_config.phi.shape))
        static = np.concatenate([scenario.symbols.reshape(batch, -1) / self.params.psk_order,
                                 _normalised_rows(np.conj(scenario.h_user)),
                                 np.broadcast_to(self._geometry_obs, (batch, self._geometry_obs.size))], axis=-1)
        matched = RISSLPConfiguration(x, phi)
        worst, target = self.objective(anchor, scenario), self.objective(matched, scenario)
        return RISSLPReferences(worst, target, LogScale.of(worst, target, self.maximise), static, matched)

    def initial_config(self, scenario, refs) -> RISSLPConfiguration:
        """The configuration of the all-zero action: equal phases on every antenna and element."""
        return self._from_action(np.zeros((scenario.symbols.shape[0], self.direct_dim)))

    # -- actions ----------------------------------------------------------------------
    def _from_action(self, action: np.ndarray) -> RISSLPConfiguration:
        """``x = sqrt(P/M) exp(j pi a_x)``, ``phi = exp(j pi a_phi)``: the modulus constraints hold by construction."""
        p = self.params
        phases = cis(np.pi * action)
        x = (p.amplitude * phases[:, : self.n_x]).reshape(-1, p.n_slots, p.n_tx)
        return RISSLPConfiguration(x, phases[:, self.n_x:])

    def decode(self, action, scenario, refs) -> Decoded:
        return Decoded(self._from_action(action))

    def periodic_entries(self) -> np.ndarray:
        """Every entry is a phase (divided by pi)."""
        return np.ones(self.direct_dim, dtype=bool)

    def encode(self, config: RISSLPConfiguration) -> np.ndarray:
        """Phases of ``x`` and ``phi`` divided by pi (an absent RIS, ``phi = 0``, encodes as phase 0)."""
        ax = np.angle(np.asarray(config.x)).reshape(*np.shape(config.x)[:-2], -1) / np.pi
        return np.concatenate([ax, np.angle(np.asarray(config.phi)) / np.pi], axis=-1)

    # -- metrics, reward, observation ---------------------------------------------------
    def measure(self, config, scenario, refs, cache=None) -> tuple[Metrics, RISSLPState]:
        p = self.params
        obj = self.objective(config, scenario)
        heff = ris_slp.effective_user_channels(scenario, config.phi)
        frame = ris_slp.symbol_frame(p, scenario, config.x, config.phi, heff)
        margins = ris_slp.ci_margins(p, scenario, config.x, config.phi, frame)
        worst = margins.max(axis=-1)
        sinr = ris_slp.ci_snr(p, worst)  # the CI SNR falls as the margin grows: min_l SNR = SNR(max_l g)
        power = squared_norm(config.x, (-2, -1)) / p.n_slots
        extra = {"ci_margin_worst": worst / p.qos_threshold}
        return Metrics(obj, sinr, np.log2(1.0 + sinr), power, extra), RISSLPState(heff, margins, np.abs(frame))

    def violations(self, metrics, state: RISSLPState, config) -> dict[str, np.ndarray]:
        """The relative CI shortfall ``mean_{k,l} max(0, g_kl) / (gamma + |y_kl|)``, in [0, 1 + 1/sqrt(2)).

        Dividing by the received amplitude as well as by gamma measures how far each symbol lies outside its
        decision sector, not how strong it is (``g/gamma`` alone grows with the signal, into the flat part of the
        saturating map)."""
        g = np.maximum(state.margins, 0.0) / (self.params.qos_threshold + state.amplitudes)
        return {"qos": g.mean(axis=(-2, -1))}

    def observe(self, assessment, config, scenario, refs: RISSLPReferences, prev_action) -> dict[str, np.ndarray]:
        static = refs.static_obs
        out = {}
        start = 0
        for part in self._static_parts:  # symbols, direct channels, geometry (see references())
            out[part.key] = static[:, start: start + part.size]
            start += part.size
        out["effective_channels"] = _normalised_rows(assessment.state.heff)
        out["worst_ci_margin_per_user"] = _signed_log(assessment.metrics.extra["ci_margin_worst"])
        out["objective_score"] = assessment.score
        return out

    def render_panels(self, info, scenario, refs) -> list[Panel]:
        """Waveform beam pattern over the BS angle (target, clutters, RIS and the users' disc marked),
        the RIS phases and the CI margins of every user and slot."""
        p = self.params
        cfg = self.as_config(info["config"])
        grid = np.linspace(-np.pi / 2, np.pi / 2, 361)
        power = np.mean(np.abs(np.conj(ula(p.n_tx, grid)) @ cfg.x.T) ** 2, axis=-1)
        pts = ris_slp.sensing_points(p)
        margins = ris_slp.ci_margins(p, scenario, cfg.x, cfg.phi) / p.qos_threshold

        def beam(ax):
            ax.plot(np.degrees(grid), pattern_db(power), lw=1.2)
            ax.axvline(np.degrees(ris_slp.bs_angle(pts[0])), color="tab:red", lw=1.2, label="target")
            for q in range(1, len(pts)):
                ax.axvline(np.degrees(ris_slp.bs_angle(pts[q])), color="tab:gray", lw=0.8, ls="--")
            ax.axvline(np.degrees(ris_slp.bs_angle(np.asarray(p.ris_position_m))), color="tab:purple", lw=0.8,
                       label="RIS")
            ax.axvline(np.degrees(ris_slp.bs_angle(np.asarray(p.user_center_m))), color="tab:green", lw=0.8,
                       label="users")
            ax.set_xlabel("angle from the BS (deg); grey: clutter", fontsize=9)
            ax.set_ylabel("dB", fontsize=9)
            ax.legend(fontsize=8, loc="lower right")

        def phases(ax):
            ax.plot(np.degrees(np.angle(cfg.phi)), ".", ms=3)
            ax.set_xlabel("RIS element", fontsize=9)
            ax.set_ylabel("phase (deg)", fontsize=9)

        def ci(ax):
            lim = max(1.0, float(np.max(np.abs(margins))))
            im = ax.imshow(margins, cmap="RdYlGn_r", vmin=-lim, vmax=lim, aspect="auto")
            ax.figure.colorbar(im, ax=ax, fraction=0.046, label="g / gamma (<= 0 holds)")
            ax.set_xlabel("slot", fontsize=9)
            ax.set_ylabel("user", fontsize=9)

        return [Panel("waveform beam pattern", beam), Panel("RIS phases", phases), Panel("CI margins", ci)]


class RISSLPEnv(ISACEnv):
    """RIS-aided symbol-level precoding for ISAC: design the waveform and the RIS phases.

    **Description.** An M = 6 antenna BS (half-wavelength ULA) serves K = 3 single-antenna users
    with QPSK symbols over L = 20 slots through direct links and an N = 64 element RIS, and
    senses a target at 0 deg among Q = 3 clutters (range bins 0, 1, 2 at -60, -20, 45 deg). The
    agent chooses the constant-modulus waveform ``x`` (ML phases) and the RIS phases ``phi``
    (N phases). ``task="detection"`` (``ISAC-RIS-SLP-v0``) maximises the MVDR radar output SINR
    (eq. (21a) of [RIS-SLP]); ``task="doa"`` (``ISAC-RIS-SLP-DoA-v0``) minimises the CRB of the
    target's DoA seen from the BS and the RIS (eq. (41)). Every received symbol must lie in its
    constructive-interference region with SNR ``Gamma`` (eqs. (2), (19)). Physics:
    :mod:`isac_gym.physics.ris_slp`; docs/ris_slp.md.

    **Action space** ``Box(-1, 1, float32)`` of dimension ``M L + N`` (184):
    ``x = sqrt(P/M) exp(j pi a[:ML])`` (slot-major, ``[L, M]``) and ``phi = exp(j pi a[ML:])``;
    the modulus constraints hold by construction. This is the ``direct`` mode;
    ``env.unwrapped.encode(config)`` inverts it. ``action_mode="incremental"``: see below.
    ``action_mode="structured"`` (the default): the same entries as phase residuals of at most ``PHASE_RESIDUAL pi``
    (``pi / 4``) around the scenario's matched radar design (the reward's anchor 1, below), then a
    constructive-interference layer moves the waveform into every constructive region (:class:`StructuredMode`:
    damped Gauss-Newton steps on its phases, then the constant-modulus ZF start where needed; docs/ris_slp.md), the
    RIS phases staying the agent's; ``info["layer"]`` says what it did and whether every symbol is inside.

    **Observation** ``Box(-100, 100, float32)``, in this order (sizes at the defaults):

    {observation_table}

    **Reward** ``f(metric) - w_qos s(mean_{k,l} max(0, g_kl) / (gamma + |y_kl|))`` (``s`` below). ``f`` is the log of the
    metric normalised per scenario between a fixed random configuration (0) and a closed-form
    radar reference (1): the RIS phase-aligned to the strongest BS-RIS mode and the waveform
    matched to the resulting target response (the radar-only optimum would be the natural upper
    anchor, but solving it at every reset would cost seconds, so this cheap design stands in:
    optimised designs score above 1). The CI margins ``g_kl`` are in sqrt(W).

    **Episode.** A scenario (channels and a block of K x L symbols) is drawn at reset; no
    terminal states; truncated after ``max_episode_steps`` (100).

    **Info.** ``objective`` (radar SINR linear, or CRB rad^2) also under ``radar_sinr`` / ``crb``;
    ``sinr`` per user: the SNR the worst slot's symbol guarantees under the CI criterion
    (``ci_snr``; 0 outside the constructive region), ``rate`` = ``log2(1 + sinr)``, ``power``
    (W per slot, always P), ``ci_margin_worst``, ``violation``, ``feasible``, ``reward_terms``,
    ``config`` (``x``, ``phi``).

    {common}

    **Arguments** (defaults from :class:`~isac_gym.physics.ris_slp.RISSLPParams` and :class:`RISSLPOptions`;
    the DoA id registers ``task="doa", p_max_dbm=40``, the power of the paper's DoA figures):

    {arguments}

    **Rendering** (``render_mode="rgb_array"``): the transmit beam pattern of the waveform over the
    BS angle with the target, clutters and users marked, the RIS phases, and the CI margins of
    every user and slot.

    **Paper.** RIS-aided symbol-level precoding for ISAC by model-driven learning ([RIS-SLP], docs/ris_slp.md).
    Geometry, channel models (Rician 10 dB BS-RIS) and the user disc follow docs/ris_slp.md.
    """

    system_class = RISSLPSystem


class RISSLPVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`RISSLPEnv` s in one batched call."""

    system_class = RISSLPSystem


document(RISSLPEnv, RISSLPSystem)

REGISTRATIONS = (
    Registration("ISAC-RIS-SLP-v0", RISSLPEnv, RISSLPVectorEnv, max_episode_steps=100, config_name="ris_slp",
                 kwargs={"task": "detection"}, small={"n_elements": 16}),
    Registration("ISAC-RIS-SLP-DoA-v0", RISSLPEnv, RISSLPVectorEnv, max_episode_steps=100, config_name="ris_slp_doa",
                 kwargs={"task": "doa", "p_max_dbm": 40.0}, small={"n_elements": 8, "n_slots": 6},
                 learning_steps=16000),
)

__all__ = ["REGISTRATIONS", "RISSLPEnv", "RISSLPVectorEnv", "RISSLPSystem", "RISSLPOptions", "RISSLPConfiguration"]
