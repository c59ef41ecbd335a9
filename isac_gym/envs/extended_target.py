"""ISAC-ET-v0: BS beams for multi-user communication and sensing of a 3D extended target ([ET], docs/extended_target.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..physics import batching, units
from ..physics import extended_target as et
from ..physics.arrays import squared_norm
from ..physics.batching import masked_max, masked_min, masked_sum
from ..physics.beamforming import (
    antenna_centre,
    beamformer_action_size,
    decode_beamformer,
    encode_beamformer,
    min_power_sinr,
    spread_antennas,
    unit_columns,
    zf_directions,
)
from ..physics.metrics import user_sinr
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
    ScenarioMemo,
    SharedOptions,
    System,
    action_mode_field,
    constraint_cost,
    db_feature,
    document,
    furthest_feasible,
)

#: The CRB score reaches 1 this many dB below the isotropic transmission's tr(CRB).
SCORE_SPAN_DB = 15.0


#: Largest SINR margin above Gamma of the structured mode (dB).
MARGIN_DB = 6.0
#: The structured mode's largest mix of a user's direction towards the target (the zero action's is half of it):
#: measured on 8 scenarios, the zero action's CRB score went from 0.15 (pure ZF) to 0.60 at a mix of 0.3.
TARGET_MIX = 0.6
#: Where the structured mode's coverage anchor sits on the segment from the covering design
#: (:func:`~isac_gym.physics.extended_target.covering_beams`) towards the zero action's proposal: this fraction of
#: the furthest feasible point, so the anchor is inside every constraint with room to move, and below the oracle.
ANCHOR_HEADROOM = 0.9
#: SINR margins above Gamma of the covering design the anchor starts from (dB), the first that gives a feasible
#: design: room inside the QoS constraint (1 dB left no power to cover the target on 1 of 100 scenarios, 0.5 dB did).
ANCHOR_SINR_DB = (1.0, 0.5, 0.1)
#: Size of the structured mode's reshaping of the sensing parts: an action entry of 1 moves a coefficient by
#: ``SENSING_RESIDUAL / (K sqrt 2)`` (a corner of the box moves them all by ``sqrt 2 SENSING_RESIDUAL``, against the
#: covering design's coefficients of unit norm).
SENSING_RESIDUAL = 1.0
#: Largest share of the spare power (what min-power SINR balancing leaves of the budget) that the structured mode
#: gives to the covering design's sensing parts (the zero action's is half of it).
SENSING_SHARE = 1.0


class StructuredMode(ActionMode):
    """SINR margins and mixes of the users' ZF directions with a SINR layer, a sensing share and shape, and a segment
    layer for coverage (:meth:`ETSystem.decode_structured`, :meth:`ETSystem.references`): every user meets Gamma and
    the beams cover the target's visible patches wherever the scenario's coverage anchor is feasible
    (``info["layer"]``)."""

    name = "structured"
    doc = ("SINR margins, mixes of each user's ZF direction with the target's, a sensing share and shape; min-power "
           "SINR balancing meets Gamma, the spare power goes to sensing parts that reach no user and to the users' "
           "beams, and a segment from a coverage anchor solved at reset keeps the beams covering the target "
           "(info['layer'])")
    memoryless = True

    @property
    def dim(self) -> int:
        p = self.system.params
        return 2 * p.n_users + 1 + 4 * p.n_users**2

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        system = self.system
        b = action.shape[0]
        proposal = system.decode_structured(action, scenario, refs)
        beams = np.asarray(proposal.config.beams)
        anchor = np.where(refs.anchor_feasible[:, None, None], refs.anchor, beams)
        config, t = furthest_feasible(system, beam_segment(anchor, beams), scenario, refs, b)
        layer = {**proposal.layer, "segment": np.where(refs.anchor_feasible, t, 1.0),
                 "anchor_feasible": refs.anchor_feasible.astype(float)}
        return Decoded(config, layer=layer)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        return self.system.structured_action(config, scenario, refs)


def beam_segment(start: np.ndarray, end: np.ndarray):
    """``t [B] -> ETConfiguration(start + t (end' - start))``, the segments between beamformers ``[B, Nt, K]``
    with each column of ``end`` turned to the phase of ``start``'s (which changes none of its SINRs, its power or its
    covariance ``W W^H``), so that the way between two designs does not pass through beams that cancel."""
    align = np.sum(np.conj(end) * start, axis=-2, keepdims=True)
    delta = end * np.exp(1j * np.angle(align)) - start

    def blend(t: np.ndarray) -> et.ETConfiguration:
        return et.ETConfiguration(start + t[:, None, None] * delta)

    return blend


@dataclass(frozen=True)
class ETOptions(SharedOptions):
    """Env options of ISAC-ET-v0 (action mode and reward weights)."""

    action_mode: str = action_mode_field(StructuredMode, default=StructuredMode.name)

    w_qos: float = param(CONSTRAINT_WEIGHT, "weight of the SINR shortfall sum_k max(0, 1 - gamma_k/Gamma) (problem 'crb')",
                         kind="nonneg")
    w_cov: float = param(CONSTRAINT_WEIGHT, "weight of the coverage violation max(0, ratio/eps - 1)", kind="nonneg")


@dataclass(frozen=True)
class ETReferences:
    """Per-scenario constants: the EFIM geometry, the CRBs of isotropic transmission at full power (``crb_worst``,
    ``[B, 4]``, score 0) and ``SCORE_SPAN_DB`` below them (``crb_target``, score 1) and the scenario-fixed
    observation parts."""

    geometry: et.ETGeometry
    crb_worst: np.ndarray
    crb_target: np.ndarray
    scale: LogScale  # the score anchors of each parameter's CRB ([B, 4]), precomputed
    channel_obs: np.ndarray
    target_obs: np.ndarray
    target_direction: np.ndarray  # [B, Nt] the unit direction of most energy on the visible patches
    sensing: np.ndarray  # [B, Nt, K] the covering design's unit sensing parts ([B, 0, 0] outside the structured mode)
    subspace: np.ndarray  # [B, Nt, 2K] orthonormal, where the structured mode reshapes them (no user hears it)
    anchor: np.ndarray  # [B, Nt, K] the structured mode's coverage anchor ([B, 0, 0] in the other modes)
    anchor_feasible: np.ndarray  # [B] whether it meets every constraint


class ETSystem(System):
    """Batched adapter of the extended-target system; see :class:`ETEnv` for the manual."""

    params_class = et.ETParams
    options_class = ETOptions
    config_class = et.ETConfiguration
    maximise = False
    draw_scenario = staticmethod(et.draw_scenario)
    oracle_module = "isac_gym.oracles.extended_target"

    def __init__(self, params: et.ETParams, options: ETOptions):
        super().__init__(params, options)
        self.objective_name = "crb" if params.problem == "crb" else "wim"
        # the WIM objective rho zeta tr(CRB) - (1 - rho) R_sum is signed: ISAC-Bench compares its asinh
        self.objective_scale = "log" if params.problem == "crb" else "asinh"
        self.violation_names = ("qos", "coverage") if params.problem == "crb" else ("coverage",)
        self.weights = {"qos": options.w_qos, "coverage": options.w_cov}
        p = params
        nt, k = p.n_tx, p.n_users
        self.direct_dim = beamformer_action_size(nt, k)
        #: Rate at which every user sits exactly at Gamma: the WIM rate term is R_sum over it.
        self.rate_reference = k * float(np.log2(1.0 + p.sinr_min))
        #: Centre of the beamformer encoding: each user's stream on its own antenna (isotropic beam energy).
        self.centre = antenna_centre(nt, spread_antennas(nt, k))
        self._start = self.centre * (2.0 * np.sqrt(p.p_max_w / k))
        self._anchors = ScenarioMemo()
        self.obs_layout = (
            ObsPart("user_channels_re", "user channels Re", k * nt, "/ sqrt(PL_k)", "K Nt"),
            ObsPart("user_channels_im", "user channels Im", k * nt, "/ sqrt(PL_k)", "K Nt"),
            ObsPart("target_centre", "target centre", 7, "d_o / largest d_o; cos, sin of theta_o, phi_o, psi"),
            ObsPart("visible_patches", "visible patches", 8, "azimuth min, max, mean; elevation min, max, mean "
                    "(rad); visible fraction; range extent / 5 m"),
            ObsPart("user_sinr", "user SINR", k, "dB / 10, clipped to [-10, 10]", "K"),
            ObsPart("crb", "CRB", 4, "log10 of the range, azimuth, elevation, orientation CRBs / 10"),
            ObsPart("coverage_ratio", "coverage ratio", 1, "dB / 10"),
            ObsPart("power_use", "power use", 1, "||W||_F^2 / P_T"),
            self.memory_part("A"),
        )

    # -- scenarios --------------------------------------------------------------------
    def references(self, scenario: et.ETScenario) -> ETReferences:
        """EFIM geometry; score anchors: ``tr(CRB)`` of isotropic transmission ``R_x = P_T I / Nt`` scores 0,
        ``SCORE_SPAN_DB`` below it scores 1."""
        p = self.params
        geom = et.geometry(p, scenario)
        sets = et.steering_sets(p, geom)
        iso_gram = (p.p_max_w / p.n_tx) * (np.conj(sets) @ sets.mT)
        worst, _ = et.measure_covariance(p, geom, iso_gram)
        b = worst.shape[0]
        h = scenario.channels / np.sqrt(scenario.user_path_loss)[..., None]
        channels = np.concatenate([h.real.reshape(b, -1), h.imag.reshape(b, -1)], axis=-1)
        eta = scenario.kinematics
        centre = np.stack([eta[:, 0] / p.target_distance_m[1], np.cos(eta[:, 1]), np.sin(eta[:, 1]),
                           np.cos(eta[:, 2]), np.sin(eta[:, 2]), np.cos(eta[:, 3]), np.sin(eta[:, 3])], axis=-1)
        kappa = et.spherical(scenario.positions)
        mask = scenario.visible
        angles = []
        for i in (1, 2):
            v = kappa[..., i]
            angles += [masked_min(v, mask), masked_max(v, mask), masked_sum(v, mask) / mask.sum(axis=-1)]
        extent = masked_max(kappa[..., 0], mask) - masked_min(kappa[..., 0], mask)
        patches = np.stack(angles + [mask.mean(axis=-1), extent / 5.0], axis=-1)
        target = worst * units.db_to_linear(-SCORE_SPAN_DB)
        visible = geom.steering * geom.visible[..., None]  # [B, Q, Nt]
        # the unit w maximising sum_q |a_q^H w|^2 over the visible patches: the top eigenvector of sum_q a_q a_q^H
        energy = np.einsum("bqn,bqm->bnm", visible, np.conj(visible))
        direction = np.linalg.eigh(energy)[1][..., -1]
        none = np.zeros((b, 0, 0), complex)
        refs = ETReferences(geom, worst, target, LogScale.of(worst, target), channels,
                            np.concatenate([centre, patches], axis=-1), direction, none, none, none,
                            np.zeros(b, dtype=bool))
        if not isinstance(self.mode, StructuredMode):
            return refs
        rows = self._anchors.rows(scenario, b, lambda i: self._coverage_anchor(batching.take(scenario, slice(i, i + 1)),
                                                                            batching.take(refs, slice(i, i + 1))))
        return dataclasses.replace(refs, sensing=np.stack([r[0].sensing for r in rows]),
                                   subspace=np.stack([r[0].subspace for r in rows]),
                                   anchor=np.stack([r[1] for r in rows]), anchor_feasible=np.array([r[2] for r in rows]))

    def _coverage_anchor(self, scenario, refs: ETReferences) -> tuple[et.CoveringDesign, np.ndarray, bool]:
        """The structured mode's per-scenario constants (a batch of one): the covering design
        (:func:`~isac_gym.physics.extended_target.covering_beams`, every user at the first margin of
        ``ANCHOR_SINR_DB`` above Gamma that gives a feasible design) and the anchor, ``ANCHOR_HEADROOM`` of the way
        from it to the furthest point towards the zero action's proposal that meets every constraint. Returns the
        design, the anchor's beams ``[Nt, K]`` and whether the anchor meets every constraint."""
        p = self.params
        visible = refs.geometry.visible[0]
        for margin in ANCHOR_SINR_DB:  # the first whose users' parts leave room to cover the target
            cover = et.covering_beams(p, scenario.channels[0], refs.geometry.steering[0, visible],
                                      p.sinr_min * units.db_to_linear(margin))
            if self.assess(et.ETConfiguration(cover.beams[None]), scenario, refs).feasible[0]:
                break
        refs = dataclasses.replace(refs, sensing=cover.sensing[None], subspace=cover.subspace[None])
        zero = np.asarray(self.decode_structured(np.zeros((1, self.mode.dim)), scenario, refs).config.beams)
        blend = beam_segment(cover.beams[None], zero)
        if self.assess(blend(np.zeros(1)), scenario, refs).feasible[0]:
            t = furthest_feasible(self, blend, scenario, refs, 1)[1]
            anchor = blend(ANCHOR_HEADROOM * t)
        else:
            anchor = blend(np.zeros(1))
        return cover, np.asarray(anchor.beams)[0], bool(self.assess(anchor, scenario, refs).feasible[0])

    def initial_config(self, scenario, refs: ETReferences) -> et.ETConfiguration:
        """Each user's beam on its own antenna (spread over the array) at ``P_T / K``: isotropic beam energy,
        score about 0."""
        b = refs.crb_worst.shape[0]
        return et.ETConfiguration(np.broadcast_to(self._start, (b,) + self._start.shape).copy())

    # -- actions ----------------------------------------------------------------------
    def decode(self, action, scenario, refs) -> Decoded:
        """``W`` in the beamformer encoding with budget ``P_T``."""
        p = self.params
        return Decoded(et.ETConfiguration(decode_beamformer(action, p.n_tx, p.n_users, p.p_max_w, self.centre)))

    def _zf(self, scenario) -> np.ndarray:
        """The users' unit ZF directions ``[B, Nt, K]`` (ridge 1e-9 of the mean channel energy)."""
        h = scenario.channels
        ridge = (1e-9 * squared_norm(h).mean(axis=-1) + 1e-30)[:, None, None] * np.eye(self.params.n_users)
        return unit_columns(zf_directions(h, ridge))

    def _directions(self, mix: np.ndarray, scenario, refs: ETReferences) -> np.ndarray:
        """Unit directions ``[B, Nt, K]``: each user's unit ZF direction mixed with the target's (``mix [B, K]``)."""
        t = refs.target_direction[..., None]
        zf = self._zf(scenario)
        align = np.sum(np.conj(t) * zf, axis=-2, keepdims=True)  # phase-align the target's with each ZF direction
        t = t * np.exp(1j * np.angle(align))
        return unit_columns((1.0 - mix[:, None, :]) * zf + mix[:, None, :] * t)

    def _sensing(self, residual: np.ndarray, refs: ETReferences) -> np.ndarray:
        """Unit sensing parts ``[B, Nt, K]``: the covering design's coefficients in its subspace ``U`` plus
        ``residual [B, 2K, K]``, ``S = U C / ||C||_F`` with ``C = U^H S_0 + residual`` (no user hears any of them)."""
        coefs = np.conj(refs.subspace.mT) @ refs.sensing + residual
        s = refs.subspace @ coefs
        norm = np.sqrt(squared_norm(s, (-2, -1)))
        return s / np.where(norm > 0.0, norm, 1.0)[:, None, None]

    def decode_structured(self, action: np.ndarray, scenario, refs: ETReferences) -> Decoded:
        """The structured mode's proposal (:class:`StructuredMode` keeps the furthest feasible point towards it from
        the coverage anchor): ``a = [margins (K), mixes (K), sensing share (1), sensing shape (4 K^2)]``.

        User k's direction is its unit ZF direction mixed (``c_k = TARGET_MIX (a + 1) / 2``) with the unit direction of
        most energy on the target's visible patches (the top eigenvector of ``sum_q a_q a_q^H``, kept in the
        references), normalised. Min-power SINR balancing (:func:`~isac_gym.physics.beamforming.min_power_sinr`)
        gives the least powers meeting ``Gamma m_k`` (``m_k`` from 0 to ``MARGIN_DB`` dB); per row, the first
        reachable of: the agent's margins, Gamma itself (``margins_shrunk``), Gamma on the ZF directions (``zf``), else
        equal powers on the agent's directions (``fallback``, no sensing part). Of the spare power ``P_T - sum p_k``,
        the share ``SENSING_SHARE (a + 1) / 2`` goes to the sensing parts (:meth:`_sensing`: the covering design's,
        reshaped by the shape entries; they reach no user, so they change no SINR) and the rest scales every user's
        beam up (which only raises every SINR); the sensing parts' amplitude ``c`` fills the budget exactly, the root
        of ``||V + c S||_F^2 = P_T``. The SINR constraints (problem 'crb') hold wherever the layer reaches them
        (``inside``: the env's QoS verdict of the proposal); coverage is the segment's. Under ``problem='wim'`` the
        targets shape the beams the same way (the rate term rewards them), with nothing to guarantee.
        """
        p = self.params
        k = p.n_users
        b = action.shape[0]
        margins = units.db_to_linear(MARGIN_DB * 0.5 * (action[:, :k] + 1.0))
        mix = TARGET_MIX * 0.5 * (action[:, k: 2 * k] + 1.0)
        share = SENSING_SHARE * 0.5 * (action[:, 2 * k] + 1.0)
        shape = action[:, 2 * k + 1:].reshape(b, 2, 2 * k, k) * (SENSING_RESIDUAL / (k * np.sqrt(2)))
        sensing = self._sensing(shape[:, 0] + 1j * shape[:, 1], refs)
        mine = self._directions(mix, scenario, refs)
        zf = self._zf(scenario)
        h = scenario.channels
        noise = np.full((b, k), p.noise_user_w)
        tries = [(mine, p.sinr_min * margins), (mine, np.full((b, k), p.sinr_min)), (zf, np.full((b, k), p.sinr_min))]
        chosen = np.full(b, len(tries))
        dirs, power = mine, np.full((b, k), p.p_max_w / k)
        for n, (u, targets) in enumerate(tries):
            least, ok = min_power_sinr(np.abs(np.conj(h) @ u) ** 2, noise, targets)
            total = least.sum(axis=-1)
            take = (chosen == len(tries)) & ok & (total <= p.p_max_w)
            chosen = np.where(take, n, chosen)
            dirs = np.where(take[:, None, None], u, dirs)
            # the spare power: a share to the sensing parts, the rest scales every user's beam up
            up = np.where(take, (total + (1.0 - share) * (p.p_max_w - total)) / np.maximum(total, 1e-300), 0.0)
            power = np.where(take[:, None], np.where(take[:, None], least, 0.0) * up[:, None], power)
        users = dirs * np.sqrt(power)[:, None, :]
        # the sensing parts reach no user; c fills the budget exactly: c^2 + 2 c Re<V, S> + ||V||^2 = P_T
        cross = np.real(np.sum(np.conj(users) * sensing, axis=(-2, -1)))
        left = np.maximum(p.p_max_w - squared_norm(users, (-2, -1)), 0.0)
        c = np.where(chosen < len(tries), -cross + np.sqrt(cross**2 + left), 0.0)
        config = et.ETConfiguration(users + c[:, None, None] * sensing)
        sinr = user_sinr(h, config.beams, p.noise_user_w)
        inside = np.maximum(0.0, 1.0 - sinr / p.sinr_min).sum(axis=-1) <= FEASIBILITY_TOL
        layer = {"margins_shrunk": (chosen >= 1).astype(float), "zf": (chosen == 2).astype(float),
                 "fallback": (chosen == len(tries)).astype(float), "inside": inside.astype(float)}
        return Decoded(config, layer=layer)

    def structured_action(self, config: et.ETConfiguration, scenario, refs: ETReferences) -> np.ndarray:
        """A fit of ``config`` in the structured mode: each margin from the user's SINR over Gamma, the mixes at the
        zero action's, and the sensing parts from the configuration's component in their subspace ``U``
        (``C = U^H W``, each column turned to the phase of the covering design's): the shape from its direction
        against the covering design's coefficients, the share from its energy ``||C||_F^2`` over ``P_T``; clipped to
        the box."""
        p = self.params
        k = p.n_users
        w = np.asarray(config.beams)
        b = w.shape[0]
        sinr = user_sinr(scenario.channels, w, p.noise_user_w)
        margins = 2.0 * units.linear_to_db(np.maximum(sinr / p.sinr_min, 1e-300)) / MARGIN_DB - 1.0
        start = np.conj(refs.subspace.mT) @ refs.sensing
        coefs = np.conj(refs.subspace.mT) @ w
        coefs = coefs * np.exp(1j * np.angle(np.sum(np.conj(coefs) * start, axis=-2, keepdims=True)))
        energy = squared_norm(coefs, (-2, -1))
        share = 2.0 * (energy / p.p_max_w) / SENSING_SHARE - 1.0
        shape = (coefs / np.sqrt(np.maximum(energy, 1e-300))[:, None, None] - start) * (k * np.sqrt(2) / SENSING_RESIDUAL)
        return np.clip(np.concatenate([margins, np.zeros((b, k)), share[:, None], shape.real.reshape(b, -1),
                                       shape.imag.reshape(b, -1)], axis=-1), -1.0, 1.0)

    def encode(self, config: et.ETConfiguration) -> np.ndarray:
        return encode_beamformer(np.asarray(config.beams), self.params.p_max_w, self.centre)

    # -- metrics, reward, observation ---------------------------------------------------
    def measure(self, config, scenario, refs: ETReferences, cache=None) -> tuple[Metrics, et.ETMeasurement]:
        p = self.params
        out = et.measure(p, scenario, refs.geometry, config)
        sum_rate = out.rate.sum(axis=-1)
        # each parameter scored on its own (m^2 and rad^2 differ by orders of magnitude in the trace)
        crb_score = np.mean(refs.scale.score(out.crb), axis=-1)
        extra = {
            "crb_trace": out.crb_trace,
            "crb_range": out.crb[:, 0],
            "crb_azimuth": out.crb[:, 1],
            "crb_elevation": out.crb[:, 2],
            "crb_orientation": out.crb[:, 3],
            "crb_score": crb_score,
            "sum_rate": sum_rate,
            "rate_score": sum_rate / self.rate_reference,
            "sinr_db": units.linear_to_db(out.sinr),
            "coverage_ratio": out.coverage_ratio,
            "coverage_db": units.linear_to_db(out.coverage_ratio),
            "wim": out.wim,
        }
        objective = out.crb_trace if p.problem == "crb" else out.wim
        return Metrics(objective, out.sinr, out.rate, out.power, extra), out

    def violations(self, metrics, state: et.ETMeasurement, config) -> dict[str, np.ndarray]:
        """SINR shortfall ``sum_k max(0, 1 - gamma_k/Gamma)`` (eq. (11); problem 'crb' only) and the coverage
        excess ``max(0, ratio/eps - 1)`` (eq. (15)). The power budget holds by construction."""
        p = self.params
        out = {"coverage": np.maximum(0.0, state.coverage_ratio / p.coverage_eps - 1.0)}
        if p.problem == "crb":
            out["qos"] = np.maximum(0.0, 1.0 - state.sinr / p.sinr_min).sum(axis=-1)
        return out

    def score(self, metrics, refs: ETReferences) -> np.ndarray:
        """'crb': ``f(tr CRB)``, 0 at isotropic transmission and 1 ``SCORE_SPAN_DB`` below it (>= -1). 'wim':
        ``rho f(tr CRB) + (1 - rho) R_sum / (K log2(1 + Gamma))``."""
        p = self.params
        if p.problem == "crb":
            return metrics.extra["crb_score"]
        return p.wim_rho * metrics.extra["crb_score"] + (1.0 - p.wim_rho) * metrics.extra["rate_score"]

    def reward_terms(self, score, violation, metrics, config) -> dict[str, np.ndarray]:
        """'crb': ``score`` and ``-w_c violation_c``; 'wim': ``crb = rho f(tr CRB)``,
        ``rate = (1 - rho) R_sum / (K log2(1 + Gamma))`` and ``-w_cov coverage``."""
        if self.params.problem == "crb":
            return super().reward_terms(score, violation, metrics, config)
        rho = self.params.wim_rho
        return {"crb": rho * metrics.extra["crb_score"], "rate": (1.0 - rho) * metrics.extra["rate_score"],
                "coverage": -self.weights["coverage"] * constraint_cost(violation["coverage"])}

    def observe(self, assessment, config, scenario, refs: ETReferences, prev_action) -> dict[str, np.ndarray]:
        p = self.params
        state: et.ETMeasurement = assessment.state
        half = refs.channel_obs.shape[-1] // 2
        return {
            "user_channels_re": refs.channel_obs[:, :half],
            "user_channels_im": refs.channel_obs[:, half:],
            "target_centre": refs.target_obs[:, :7],
            "visible_patches": refs.target_obs[:, 7:],
            "user_sinr": db_feature(assessment.metrics.extra["sinr_db"]),
            "crb": np.log10(np.maximum(state.crb, 1e-300)) / 10.0,
            "coverage_ratio": assessment.metrics.extra["coverage_db"] / 10.0,
            "power_use": state.power / p.p_max_w,
        }

    def render_panels(self, info, scenario: et.ETScenario, refs: ETReferences) -> list[Panel]:
        """The transmit beam pattern over azimuth / elevation with the users and the visible patches marked, and the
        ET seen from above with its visible patches coloured by their beam energy ``E_q``."""
        p = self.params
        beams = np.asarray(self.as_config(info["config"]).beams)
        az = np.deg2rad(np.linspace(-90.0, 90.0, 121))
        el = np.deg2rad(np.linspace(-45.0, 45.0, 61))
        grid_el, grid_az = np.meshgrid(el, az, indexing="ij")
        db = pattern_db(et.transmit_pattern(p, beams, grid_az, grid_el))
        mask = scenario.visible
        kappa = np.rad2deg(et.spherical(scenario.positions[mask]))
        users = np.rad2deg(scenario.user_angles)
        energy = np.sum(np.abs(np.conj(refs.geometry.steering[mask]) @ beams) ** 2, axis=-1)

        def beam(ax):
            im = ax.imshow(db, origin="lower", extent=(-90, 90, -45, 45), aspect="auto", cmap="viridis")
            ax.figure.colorbar(im, ax=ax, fraction=0.046, label="dB")
            ax.plot(kappa[:, 1], kappa[:, 2], "r.", ms=3, label="visible patches")
            ax.plot(users[:, 0], users[:, 1], "w^", ms=6, label="users")
            ax.set_xlabel("azimuth (deg)", fontsize=9)
            ax.set_ylabel("elevation (deg)", fontsize=9)
            ax.legend(fontsize=8, loc="upper right")

        def surface(ax):
            hidden = scenario.positions[~mask]
            seen = scenario.positions[mask]
            ax.scatter(hidden[:, 1], hidden[:, 0], c="0.55", s=8, label="hidden patches")
            sc = ax.scatter(seen[:, 1], seen[:, 0], c=10 * np.log10(np.maximum(energy, 1e-30)), s=14, cmap="magma",
                            label="visible patches")
            ax.figure.colorbar(sc, ax=ax, fraction=0.046, label="E_q (dBW)")
            ax.legend(fontsize=8, loc="upper right")
            ax.set_aspect("equal", adjustable="datalim")
            ax.set_xlabel("y (m)", fontsize=9)
            ax.set_ylabel("x (m), BS at 0", fontsize=9)

        return [Panel(f"beam pattern (coverage {info['coverage_db']:.1f} dB)", beam),
                Panel(f"ET from above ({int(mask.sum())} visible patches)", surface)]


class ETEnv(ISACEnv):
    """Extended-target ISAC: BS beamforming for K users and the CRB of a 3D extended target's kinematics.

    **Description.** A BS at the origin with ``8 x 8`` transmit and receive UPAs in the y-z plane (full duplex) serves
    ``K = 4`` users (Saleh-Valenzuela channels) and senses one extended target (ET) with the same signal
    (``x = W s``, no radar streams). The ET's surface is a second-order truncated Fourier series (a vehicle
    fitted to a 4.8 x 1.8 x 1.5 m cuboid, or a drone); its centre lies 8-15 m away at azimuth -45..45 deg and
    elevation -15..0 deg, with a random orientation. The surface facing the BS is divided into patches that
    return delay-resolvable echoes; the CRBs of the centre range, azimuth, elevation and the orientation follow
    from the EFIM (path-loss coefficient as nuisance, eqs. (16)-(26) of [ET]), which is linear in ``R_x = W W^H``
    through the beam energies toward the patches. ``problem="crb"`` (default) is the CRB-min problem (eq. (27)):
    minimise ``tr(CRB)`` subject to every user's SINR ``gamma_k >= Gamma``, the power budget and the beam-coverage
    constraint ``max_q E_q <= eps min_q E_q`` (eq. (15)); ``problem="wim"`` is the weighted problem (eq. (30)):
    minimise ``rho zeta tr(CRB) - (1 - rho) R_sum`` subject to power and coverage. Every equation lives in
    :mod:`isac_gym.physics.extended_target`; docs/extended_target.md gives the model and what is reconstructed.

    **Action space** ``Box(-1, 1, float32)``. ``action_mode="direct"`` (``1 + 2 Nt K``, 513 at the defaults): the
    beamformer ``W`` (``Nt x K``) in the suite's beamformer encoding with budget ``P_T`` (power fraction, then the
    real and imaginary parts of the direction). ``env.unwrapped.encode(config)`` inverts it.
    ``action_mode="structured"`` (the default), dimension ``2K + 1 + 4K^2`` (73): SINR margins, mixes of each
    user's ZF direction with the target's, a sensing share and the sensing parts' shape; min-power SINR
    balancing meets Gamma, the spare power goes in that share to a covering design's sensing parts (reshaped in a
    subspace no user hears) and to scaling the users' beams up, and a segment layer from a coverage anchor solved at
    reset (a covering design, :func:`~isac_gym.physics.extended_target.covering_beams`) keeps the furthest point
    towards those beams that meets every constraint (:class:`StructuredMode`, docs/extended_target.md): the zero
    action and every action are feasible wherever the anchor is (``info["layer"]["anchor_feasible"]``).

    **Observation** ``Box(-100, 100, float32)``, in this order (sizes at the defaults):

    {observation_table}

    **Reward.** ``problem="crb"``: ``f(CRB) - w_qos s(sum_k max(0, 1 - gamma_k/Gamma)) - w_cov s(max(0,
    ratio/eps - 1))`` (``s`` below), with ``f`` the mean over the four parameters (range, azimuth, elevation,
    orientation) of each CRB's log-normalised score: 0 at isotropic transmission at full power, 1 at 15 dB below
    it, clipped below at -1 (scored per parameter, since the trace adds m^2 to rad^2 and its range and orientation
    terms would drown the angles; ``objective`` and ``crb_trace`` stay the paper's trace).
    ``problem="wim"``: ``rho f(CRB) + (1 - rho) R_sum / (K log2(1 + Gamma)) - w_cov s(max(0, ratio/eps - 1))``
    (the rate term is 1 - rho when every user sits exactly at Gamma). ``coverage_ratio`` is capped at 1e6 (60 dB),
    so that a patch left without energy gives a finite metric (the true ratio is infinite there).
    ``info["reward_terms"]`` holds the terms.

    **Episode.** One scenario (ET position, orientation and shape; user positions and channels) is drawn at
    ``reset``; episodes start from each user's beam on its own antenna at ``P_T / K`` (isotropic beam energy,
    score about 0), never terminate, and are truncated after ``max_episode_steps`` (100).

    **Info.** ``objective`` (``crb``: ``tr(CRB)`` in m^2 + rad^2; ``wim``: the WIM objective), ``crb_trace``,
    ``crb_range`` (m^2), ``crb_azimuth``, ``crb_elevation``, ``crb_orientation`` (rad^2), ``crb_score``,
    ``sum_rate``, ``rate_score``, ``sinr`` (linear), ``sinr_db``, ``rate`` (per user), ``power`` (W),
    ``coverage_ratio`` (linear), ``coverage_db``, ``wim``, ``violation``, ``feasible``, ``reward_terms``, ``config``
    (``beams [Nt, K]``).

    {common}

    **Arguments** (defaults from :class:`~isac_gym.physics.extended_target.ETParams` and :class:`ETOptions`):

    {arguments}

    **Rendering** (``render_mode="rgb_array"``): the transmit beam pattern in azimuth / elevation with the users and
    the visible patches marked, and the ET from above with its visible patches coloured by beam energy.

    **Paper.** 3D extended target sensing in ISAC: CRB analysis and beamforming design ([ET]); the oracle is its SDR
    of the CRB-min problem (``isac_gym.oracles.make(env, "oracle")``; SCA for ``problem="wim"``).
    """

    system_class = ETSystem


class ETVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`ETEnv` s in one batched call; same arguments plus ``num_envs``, ``max_episode_steps``."""

    system_class = ETSystem


document(ETEnv, ETSystem)

REGISTRATIONS = (
    Registration("ISAC-ET-v0", ETEnv, ETVectorEnv, max_episode_steps=100, config_name="et",
                 small={"n_tx_y": 6, "n_tx_z": 4, "n_rx_y": 4, "n_rx_z": 4, "n_users": 2, "n_patches_azimuth": 8,
                        "n_patches_elevation": 4}),
)

__all__ = ["REGISTRATIONS", "ETEnv", "ETVectorEnv", "ETSystem", "ETOptions", "ETReferences"]
