"""ISAC-SIM-v0: stacked intelligent metasurface phases for sum rate and beam matching ([SIM], docs/sim.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics import sim, units
from ..physics.sim import SIMConfiguration
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
    ScenarioMemo,
    SharedOptions,
    System,
    action_mode_field,
    constraint_cost,
    db_feature,
    document,
    furthest_feasible,
)

OBJECTIVES = ("constrained", "weighted")
#: Seed of the fixed random phases whose beam-matching error anchors the score at 0.
ANCHOR_SEED = 20240905
#: The score reaches 1 this many dB below the anchor's beam-matching error (about the sensing-only optimum).
SCORE_SPAN_DB = 15.0


#: Largest phase residual of the structured mode around its anchor (rad).
RESIDUAL = 0.5 * np.pi
#: Seed of the starts of the structured mode's anchor (D3, communication only): the same scenario, the same anchor.
STRUCTURED_SEED = 20261207


class StructuredMode(ActionMode):
    """A phase residual around a communication-first design, with a segment layer for the sum rate.

    At reset each scenario gets its anchor: D3 with the communication weight only (the ``comm_only`` baseline,
    sum rate far above ``R_min`` at the defaults), cached in the references. An action ``a`` proposes the phases
    ``theta_anchor + (pi / 2) a``; the segment layer (:func:`~isac_gym.envs.base.furthest_feasible`) keeps the
    furthest point towards it that meets ``R >= R_min``. The zero action is the anchor: feasible, and well below the
    oracle on the beam-matching error, so the mode measures what an agent learns. ``info["layer"]["segment"]`` is
    the fraction of the residual kept (1: the proposal itself)."""

    name = "structured"
    doc = ("a phase residual (up to pi/2) around a communication-first D3 design solved at reset, kept as far as the "
           "sum rate allows (info['layer'])")
    memoryless = True

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        system = self.system
        residual = RESIDUAL * action.reshape(refs.anchor.shape)

        def blend(t):
            return SIMConfiguration(refs.anchor + t[:, None, None] * residual)

        config, t = furthest_feasible(system, blend, scenario, refs, action.shape[0])
        return Decoded(config, code=action, layer={"segment": t, "anchor_feasible": refs.anchor_feasible})

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        """The residual towards ``config``'s phases (wrapped to [-pi, pi)), clipped to the box: the mode reaches
        phases within pi/2 of the anchor only, so the oracle acting in it is a fit, not its solution."""
        delta = np.mod(np.asarray(config.phases) - refs.anchor + np.pi, 2.0 * np.pi) - np.pi
        return np.clip(delta / RESIDUAL, -1.0, 1.0).reshape(delta.shape[0], -1)


@dataclass(frozen=True)
class SIMOptions(SharedOptions):
    """Env options of ISAC-SIM-v0 (reward form and weights)."""

    action_mode: str = action_mode_field(StructuredMode, default=StructuredMode.name)

    problem: str = param("constrained", "'constrained': f(MSE) - w_qos max(0, 1 - R/R_min); 'weighted': "
                           "w_comm R/R_min + w_sense f(MSE) (the paper's trade-off)", kind="choice",
                           choices=OBJECTIVES, problem=True)
    w_qos: float = param(CONSTRAINT_WEIGHT, "weight of the sum-rate shortfall max(0, 1 - R/R_min) (constrained)",
                         kind="nonneg")
    w_comm: float = param(0.5, "weight omega_c of R/R_min (weighted)", kind="nonneg", problem=True)
    w_sense: float = param(0.5, "weight omega_s of the beam-matching score f(MSE) (weighted)", kind="nonneg",
                           problem=True)


@dataclass(frozen=True)
class SIMReferences:
    """Per-scenario constants: score anchors (linear MSE; ``worst`` scores 0, ``target`` 1) and the
    channels as observed (``[B, 2 K M]``, divided by ``sqrt(PL_k)``)."""

    mse_worst: np.ndarray
    mse_target: np.ndarray
    scale: LogScale  # the score anchors, precomputed
    channel_obs: np.ndarray
    anchor: np.ndarray  # [B, L, M] the structured mode's anchor phases ([B, 0, 0] in the other modes)
    anchor_feasible: np.ndarray  # [B] whether it meets R_min


@dataclass(frozen=True)
class SIMState:
    """Intermediates of one assessment: the response ``G [B, M, N]`` and the beam pattern ``[B, I J]`` (W)."""

    response: np.ndarray
    pattern: np.ndarray


class SIMSystem(System):
    """Batched adapter of the SIM system; see :class:`SIMEnv` for the manual."""

    params_class = sim.SIMParams
    options_class = SIMOptions
    config_class = SIMConfiguration
    objective_name = "mse"
    violation_names = ("qos",)
    draw_scenario = staticmethod(sim.draw_scenario)
    oracle_module = "isac_gym.oracles.sim"

    def __init__(self, params: sim.SIMParams, options: SIMOptions):
        super().__init__(params, options)
        self.problem = options.problem
        self.weights = {"qos": options.w_qos}
        p = params
        k, m, t = p.n_users, p.n_elements, p.n_targets
        self.direct_dim = p.n_layers * m
        self._anchors = ScenarioMemo()
        anchor = np.random.default_rng(ANCHOR_SEED).uniform(0.0, 2.0 * np.pi, (p.n_layers, m))
        self.mse_anchor = float(sim.beam_matching_error(p, sim.beam_pattern(p, sim.response(p, anchor))))
        theta, phi = p.grid_angles
        ti, tj = np.asarray(p.target_cells_theta) - 1, np.asarray(p.target_cells_phi) - 1
        self._target_obs = np.stack([theta[ti] / (0.5 * np.pi), np.cos(phi[tj]), np.sin(phi[tj])], axis=-1).ravel()
        self.obs_layout = (
            ObsPart("user_channels_re", "user channels Re", k * m, "/ sqrt(PL_k)", "K M"),
            ObsPart("user_channels_im", "user channels Im", k * m, "/ sqrt(PL_k)", "K M"),
            ObsPart("target_cells", "target cells", 3 * t, "theta / 90 deg, cos phi, sin phi of each cell centre", "3 T"),
            ObsPart("user_sinr", "user SINR", k, "dB / 10, clipped to [-10, 10]", "K"),
            ObsPart("sum_rate", "sum rate", 1, "/ R_min"),
            ObsPart("beam_matching_error", "beam-matching error", 1, "dB / 10"),
            self.memory_part("L M"),
        )

    # -- scenarios --------------------------------------------------------------------
    def references(self, scenario: sim.SIMScenario) -> SIMReferences:
        """Score anchors: the error of fixed random phases (0) and ``SCORE_SPAN_DB`` below it (1). The beam
        pattern does not depend on the channels, so the anchors are the same for every scenario."""
        h = scenario.channels / np.sqrt(scenario.path_loss)[..., None]
        b = h.shape[0]
        worst = np.full(b, self.mse_anchor)
        target = worst * units.db_to_linear(-SCORE_SPAN_DB)
        p = self.params
        if isinstance(self.mode, StructuredMode):  # the mode's anchor: D3, communication only, per scenario
            anchor = np.stack(self._anchors.rows(scenario, b, lambda i: sim.d3(
                p, scenario.channels[i], 0.0, 1.0, np.random.default_rng(STRUCTURED_SEED)).phases[0]))
            anchor_feasible = sim.sum_rate(p, scenario.channels, sim.response(p, anchor)) >= p.rate_min
        else:
            anchor, anchor_feasible = np.zeros((b, 0, 0)), np.zeros(b, dtype=bool)
        return SIMReferences(worst, target, LogScale.of(worst, target),
                             np.concatenate([h.real.reshape(b, -1), h.imag.reshape(b, -1)], axis=-1), anchor,
                             anchor_feasible)

    def initial_config(self, scenario, refs) -> SIMConfiguration:
        """The configuration of the all-zero action: every phase pi."""
        b = refs.mse_worst.shape[0]
        return SIMConfiguration(np.full((b, self.params.n_layers, self.params.n_elements), np.pi))

    # -- actions ----------------------------------------------------------------------
    def decode(self, action, scenario, refs) -> Decoded:
        """``theta = pi (a + 1)`` in [0, 2 pi] for every meta-atom, layer by layer."""
        p = self.params
        return Decoded(SIMConfiguration((np.pi * (action + 1.0)).reshape(-1, p.n_layers, p.n_elements)))

    def periodic_entries(self) -> np.ndarray:
        """Every entry is a phase (``theta / pi - 1``)."""
        return np.ones(self.direct_dim, dtype=bool)

    def encode(self, config: SIMConfiguration) -> np.ndarray:
        """``a = (theta mod 2 pi) / pi - 1`` in [-1, 1)."""
        phases = np.asarray(config.phases)
        return (np.mod(phases, 2.0 * np.pi) / np.pi - 1.0).reshape(*phases.shape[:-2], -1)

    # -- metrics, reward, observation ---------------------------------------------------
    def response(self, phases: np.ndarray) -> np.ndarray:
        """``G`` of the phases (eq. (3), :func:`~isac_gym.physics.sim.response`)."""
        return sim.response(self.params, phases)

    def measure(self, config, scenario, refs, cache=None) -> tuple[Metrics, SIMState]:
        p = self.params
        g = self.response(config.phases)
        sinr = sim.sinr(p, scenario.channels, g)
        rates = np.log2(1.0 + sinr)
        pattern = sim.beam_pattern(p, g)
        normalised = sim.normalised_pattern(pattern)
        mse = sim.beam_matching_error(p, pattern, normalised)
        b = mse.shape[0]
        power = np.full(b, p.stream_power_w * p.n_streams)
        sum_rate = rates.sum(axis=-1)
        extra = {"mse_db": units.linear_to_db(mse), "sum_rate": sum_rate,
                 "target_gain": sim.target_gain(p, normalised)}
        return Metrics(mse, sinr, rates, power, extra), SIMState(g, pattern)

    def violations(self, metrics, state, config) -> dict[str, np.ndarray]:
        """The sum-rate requirement ``R >= R_min`` as the shortfall ``max(0, 1 - R/R_min)``."""
        return {"qos": np.maximum(0.0, 1.0 - metrics.extra["sum_rate"] / self.params.rate_min)}

    @property
    def reward_floor(self) -> float:
        """Constrained: ``-(1 + w_qos)``; weighted: ``-w_sense`` (the rate term is never negative)."""
        return -self.options.w_sense if self.problem == "weighted" else super().reward_floor

    def reward_terms(self, score, violation, metrics, config) -> dict[str, np.ndarray]:
        """Constrained: ``f(MSE) - w_qos shortfall``; weighted: ``w_comm R/R_min + w_sense f(MSE)``."""
        o = self.options
        if self.problem == "weighted":
            return {"rate": o.w_comm * metrics.extra["sum_rate"] / self.params.rate_min,
                    "sensing": o.w_sense * score}
        return {"objective_score": score, "qos": -o.w_qos * constraint_cost(violation["qos"])}

    def observe(self, assessment, config, scenario, refs: SIMReferences, prev_action) -> dict[str, np.ndarray]:
        p = self.params
        m = assessment.metrics
        b = prev_action.shape[0]
        half = refs.channel_obs.shape[-1] // 2
        return {
            "user_channels_re": refs.channel_obs[:, :half],
            "user_channels_im": refs.channel_obs[:, half:],
            "target_cells": np.broadcast_to(self._target_obs, (b, self._target_obs.size)),
            "user_sinr": db_feature(units.linear_to_db(m.sinr)),
            "sum_rate": m.extra["sum_rate"] / p.rate_min,
            "beam_matching_error": m.extra["mse_db"] / 10.0,
        }

    def render_panels(self, info, scenario: sim.SIMScenario, refs) -> list[Panel]:
        """The normalised beam pattern over the angle grid (targets and users marked) and each layer's phases."""
        p = self.params
        cfg = self.as_config(info["config"])
        pattern = sim.beam_pattern(p, self.response(cfg.phases)).reshape(p.grid_theta, p.grid_phi)

        def beam(ax):
            extent = (0.0, 360.0, 0.0, 90.0)
            im = ax.imshow(pattern_db(pattern), origin="lower", aspect="auto", extent=extent, cmap="viridis")
            ax.figure.colorbar(im, ax=ax, fraction=0.046, label="dB")
            theta, phi = p.grid_angles
            ti, tj = np.asarray(p.target_cells_theta) - 1, np.asarray(p.target_cells_phi) - 1
            ax.plot(np.degrees(phi[tj]), np.degrees(theta[ti]), "rs", mfc="none", ms=7, label="targets")
            ax.plot(np.degrees(scenario.user_phi), np.degrees(scenario.user_theta), "w^", ms=5, label="users")
            ax.set_xlabel("azimuth (deg)", fontsize=9)
            ax.set_ylabel("elevation from normal (deg)", fontsize=9)
            ax.legend(fontsize=8, loc="upper right")

        def layer(idx):
            def draw(ax):
                im = ax.imshow(np.reshape(np.mod(cfg.phases[idx], 2 * np.pi), (p.n_cols, p.n_rows)), vmin=0.0,
                               vmax=2 * np.pi, cmap="twilight", origin="lower")
                ax.figure.colorbar(im, ax=ax, fraction=0.046, label="rad")
                ax.set_xlabel("x index", fontsize=9)
                ax.set_ylabel("z index", fontsize=9)
            return draw

        return [Panel("normalised beam pattern", beam, width=2.0)] + [
            Panel(f"layer {i + 1} phases", layer(i)) for i in range(p.n_layers)]


class SIMEnv(ISACEnv):
    """Stacked intelligent metasurface (SIM) ISAC: phases of every meta-atom for sum rate and beam matching.

    **Description.** A BS feeds an L-layer SIM (``L = 4`` layers of ``M = 10 x 10`` meta-atoms, total
    thickness ``5 lambda``, at 28 GHz) through ``N = K + T`` antennas, one stream each at equal power
    ``P_T / N``: K = 4 user streams and T = 2 sensing streams. The waves pass the layers in the wave
    domain (Rayleigh-Sommerfeld diffraction between layers); the agent sets the ``L M`` phases. Users
    see ``Z = H^H G`` (Saleh-Valenzuela channels, other streams interfere); the transmit beam pattern
    on a ``36 x 36`` grid of directions is matched to a desired pattern that is 1 on the target cells.
    The paper's problem (eq. (11) of [SIM]) maximises the sum rate and minimises the beam-matching
    error; the env minimises the error subject to ``R >= R_min`` (the paper's constrained selection),
    or rewards the paper's weighted trade-off (``problem="weighted"``). Every equation lives in
    :mod:`isac_gym.physics.sim`; docs/sim.md gives the model and what is reconstructed.

    **Action space** ``Box(-1, 1, (L M,), float32)`` (400 at the defaults), ``action_mode="direct"``:
    ``theta = pi (a + 1)`` for every meta-atom, layer 1 (next to the feed) first, x fastest within a
    layer. ``env.unwrapped.encode(config)`` inverts it. Steps, ``evaluate`` and the oracles share the float64
    physics of :mod:`isac_gym.physics.sim`. ``action_mode="incremental"`` moves every phase by at most
    ``action_step pi`` from the current configuration (see below). ``action_mode="structured"`` (the default): the
    action is a phase residual (up to pi/2) around a communication-first D3 design solved at reset (the
    ``comm_only`` baseline's method), and a segment layer keeps the furthest point towards it that meets
    ``R >= R_min`` (:class:`StructuredMode`, docs/sim.md): every configuration is feasible, ``info["layer"]`` holds
    the fraction kept, and the zero action is the anchor.

    **Observation** ``Box(-100, 100, float32)``, in this order (sizes at the defaults). The channels are
    observed in full (divided by ``sqrt(PL_k)``: entries of order one), since the sum rate depends on
    them through every layer; the pattern does not depend on the channels.

    {observation_table}

    **Reward.** ``problem="constrained"`` (default): ``f(MSE) - w_qos s(max(0, 1 - R/R_min))`` (``s`` below);
    ``problem="weighted"``: ``w_comm R/R_min + w_sense f(MSE)``. ``f(MSE) = (log MSE_0 - log MSE) /
    (log MSE_0 - log MSE_1)`` clipped below at -1, with ``MSE_0`` the error of fixed random phases
    (about -9.5 dB: ``f = 0``) and ``MSE_1`` 15 dB below it (about the sensing-only optimum: ``f = 1``).
    ``info["reward_terms"]`` holds the terms.

    **Episode.** One channel realisation is drawn at ``reset``; episodes start from the all-pi phases
    (the zero action), never terminate, and are truncated after ``max_episode_steps`` (100).

    **Info.** ``objective`` and ``mse`` (beam-matching error, linear), ``mse_db``, ``sum_rate``
    (bit/s/Hz), ``target_gain`` (mean normalised pattern on the target cells), ``score``, ``sinr``
    (linear, K), ``rate`` (bit/s/Hz, K), ``power`` (``P_T``, W), ``violation`` (``qos``), ``feasible``,
    ``reward_terms``, ``config`` (``phases [L, M]`` in rad).

    {common}

    **Arguments** (defaults from :class:`~isac_gym.physics.sim.SIMParams` and :class:`SIMOptions`):

    {arguments}

    **Rendering** (``render_mode="rgb_array"``): the normalised beam pattern in dB over the angle grid
    with the target cells and the users' LoS directions marked, and the phases of each layer.

    **Paper.** Transmit beamforming design for ISAC with stacked intelligent metasurfaces ([SIM]);
    the oracle is its D3 algorithm (``isac_gym.oracles.make(env, "oracle")``).
    """

    system_class = SIMSystem


class SIMVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`SIMEnv` s in one batched call; same arguments plus ``num_envs``, ``max_episode_steps``."""

    system_class = SIMSystem


document(SIMEnv, SIMSystem)

REGISTRATIONS = (
    Registration("ISAC-SIM-v0", SIMEnv, SIMVectorEnv, max_episode_steps=100, config_name="sim",
                 small={"n_rows": 6, "n_cols": 6, "grid_theta": 12, "grid_phi": 12, "target_cells_theta": (3, 9),
                        "target_cells_phi": (3, 9), "rate_min": 4.0}),
)

__all__ = ["REGISTRATIONS", "SIMEnv", "SIMVectorEnv", "SIMSystem", "SIMOptions", "SIMReferences", "SIMState"]
