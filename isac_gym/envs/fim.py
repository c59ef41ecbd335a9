"""ISAC-FIM-v0: flexible intelligent metasurfaces, CRB minimisation under QoS ([FIM], docs/fim.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..physics import fim, units
from ..physics.arrays import squared_norm, steering_vector
from ..physics.beamforming import (
    CENTRE_MODULUS,
    antenna_centre,
    balanced_split,
    beamformer_action_size,
    decode_beamformer,
    encode_beamformer,
    mrt_directions,
    spread_antennas,
    unit_columns,
    zf_inverse,
)
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
    constraint_cost,
    db_feature,
    document,
)

#: Paper-mode position actions below -1/3 move down one step, above +1/3 up one step.
MOVE_THRESHOLD = 1.0 / 3.0
#: Relative excess of ||W||^2 over P_max treated as float round-off, not as a violation.
POWER_ROUNDOFF = 1e-9
#: Floor of the per-user power shares, so that an all -1 share action stays well defined.
SHARE_FLOOR = 1e-6
#: Grid of mixing factors over which a configuration's beams are fitted to the paper-mode structure.
FIT_GRID = 21
#: Largest SINR margin above gamma of the structured mode (dB): its zero action asks for half of it.
MARGIN_DB = 6.0


class PaperMode(ActionMode):
    """The paper's structured action (Sec. III-B of [FIM]): K power shares, K MRT/ZF mixes, the communication/sensing
    split and the sensing-direction mix, then one move per element (down, stay, up). The beams meet the budget
    exactly; the shapes move one level a step."""

    name = "paper"
    doc = ("the paper's structured action: power shares, MRT/ZF mixes, the comm/sensing split and the sensing mix, "
           "then one move (down, stay, up) per element")

    @property
    def dim(self) -> int:
        p = self.system.params
        return 2 + 2 * p.n_users + p.n_tx + p.n_rx

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        return self.system.decode_paper(action, refs, previous)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        return self.system.paper_action_towards(config, current, refs)


class StructuredMode(PaperMode):
    """The paper's action with the users' powers from a SINR layer: K SINR margins (0 to ``MARGIN_DB`` dB above
    gamma) replace the K power shares, and min-power SINR balancing on the paper's directions meets them, taking power
    from the sensing stream where the split leaves too little (:meth:`FIMSystem._structured_beams`). Every user's
    SINR is at least gamma wherever the directions allow it (``info["layer"]`` says where they did not)."""

    name = "structured"
    doc = ("the paper's action with SINR margins instead of power shares: min-power SINR balancing on its directions "
           "meets every user's QoS (info['layer'])")

    def act(self, action, scenario, refs, previous, code) -> Decoded:
        return self.system.decode_paper(action, refs, previous, balanced=True)

    def towards(self, config, current, code, scenario, refs) -> np.ndarray:
        """The paper mode's fit, with each margin from ``config``'s SINR over gamma (clipped to the mode's range)."""
        action = self.system.paper_action_towards(config, current, refs)
        system = self.system
        p = system.params
        y_next = (np.rint(np.concatenate([current.y_tx, current.y_rx], axis=-1) / p.step_m)
                  + action[:, -system.n_elements:]) * p.step_m
        kin = fim.kinematics(refs.geometry, y_next[:, : p.n_tx], y_next[:, p.n_tx:])
        sinr = fim.evaluate(p, refs.geometry, dataclasses.replace(config, y_tx=y_next[:, : p.n_tx],
                                                                   y_rx=y_next[:, p.n_tx:]), kin)["sinr"]
        margin_db = units.linear_to_db(np.maximum(sinr / p.gamma, 1e-300))
        action[:, : p.n_users] = np.clip(2.0 * margin_db / MARGIN_DB - 1.0, -1.0, 1.0)
        return action


@dataclass(frozen=True)
class FIMOptions(SharedOptions):
    """Env options of ISAC-FIM-v0 (action mapping and reward weights)."""

    action_mode: str = action_mode_field(PaperMode, StructuredMode, default=StructuredMode.name)
    w_qos: float = param(CONSTRAINT_WEIGHT, "weight of the QoS violation sum_k max(0, 1 - SINR_k/gamma)", kind="nonneg")
    w_pos: float = param(0.5, "weight of the position penalty (clipped moves + elements out of limits)",
                         kind="nonneg")
    w_pow: float = param(CONSTRAINT_WEIGHT, "weight of the power violation max(0, P/P_max - 1)", kind="nonneg")


@dataclass(frozen=True)
class FIMReferences:
    """Per-scenario constants: steering geometry, score anchors (rad^2), the ZF ridge ``[K, K]``."""

    geometry: fim.FIMGeometry
    crb_worst: np.ndarray
    crb_target: np.ndarray
    scale: LogScale  # the score anchors, precomputed
    ridge: np.ndarray
    channel_scale: np.ndarray  # [B, K, 1] 1 / sqrt(beta_k), the observation's channel scaling
    target_obs: np.ndarray  # [B, 4] cos, sin of the target angles


class FIMSystem(System):
    """Batched adapter of the FIM system; see :class:`FIMEnv` for the manual."""

    params_class = fim.FIMParams
    options_class = FIMOptions
    config_class = fim.FIMConfiguration
    objective_name = "crb"
    violation_names = ("power", "qos", "position")
    draw_scenario = staticmethod(fim.draw_scenario)
    oracle_module = "isac_gym.oracles.fim"

    def __init__(self, params: fim.FIMParams, options: FIMOptions):
        super().__init__(params, options)
        self.weights = {"power": options.w_pow, "qos": options.w_qos, "position": options.w_pos}
        p = params
        nt, nr, k = p.n_tx, p.n_rx, p.n_users
        self.n_elements = nt + nr
        #: Centre of the direct beamformer encoding: user streams spread over the antennas, the sensing stream
        #: broadside (equal phases on every antenna).
        self.centre = np.concatenate([antenna_centre(nt, spread_antennas(nt, k)),
                                      np.full((nt, p.n_streams - k), CENTRE_MODULUS, complex)], axis=1)
        self.direct_dim = beamformer_action_size(nt, p.n_streams) + nt + nr
        self.obs_layout = (
            ObsPart("transmit_power", "transmit power", 1, "/ P_max"),
            ObsPart("transmit_element_positions", "transmit element positions", nt, "/ lambda", "Nt"),
            ObsPart("receive_element_positions", "receive element positions", nr, "/ lambda", "Nr"),
            ObsPart("user_sinr", "user SINR", k, "dB / 10, clipped to [-10, 10]", "K"),
            ObsPart("crb_score", "CRB score f(CRB)", 1, "log-normalised (see reward)"),
            ObsPart("per_user_beam_power", "per-user beam power", k, "/ P_max", "K"),
            ObsPart("violation_power", "violation: power", 1, "its cost s(v), as in the reward"),
            ObsPart("violation_qos", "violation: QoS", 1, "its cost s(v), as in the reward"),
            ObsPart("clipped_moves", "clipped moves", 1, "fraction of elements (paper mode)"),
            self.memory_part("action dim"),
            ObsPart("user_channels_re", "user channels Re", k * nt, "/ sqrt(beta_k)", "K Nt"),
            ObsPart("user_channels_im", "user channels Im", k * nt, "/ sqrt(beta_k)", "K Nt"),
            ObsPart("target_direction", "target direction", 4, "cos, sin of phi_t, theta_t"),
        )

    # -- scenarios --------------------------------------------------------------------
    def references(self, scenario: fim.FIMScenario) -> FIMReferences:
        geom = fim.geometry(self.params, scenario)
        worst, target = fim.reference_crbs(self.params, geom)
        # ZF ridge: 1e-9 of the mean channel energy Nt beta_k
        ridge = 1e-9 * self.params.n_tx * np.mean(scenario.beta, axis=-1)[:, None, None] * np.eye(self.params.n_users)
        target_obs = np.stack([np.cos(scenario.target_phi), np.sin(scenario.target_phi),
                               np.cos(scenario.target_theta), np.sin(scenario.target_theta)], axis=-1)
        return FIMReferences(geom, worst, target, LogScale.of(worst, target), ridge,
                             1.0 / np.sqrt(scenario.beta)[..., None], target_obs)

    def initial_config(self, scenario, refs: FIMReferences) -> fim.FIMConfiguration:
        """Flat surfaces and the paper-mode beamformer of the all-zero action (equal shares, even splits)."""
        b = np.shape(scenario.target_phi)[0]
        p = self.params
        y_tx, y_rx = np.zeros((b, p.n_tx)), np.zeros((b, p.n_rx))
        zero = np.zeros((b, 2 + 2 * p.n_users))
        kin = fim.kinematics(refs.geometry, y_tx, y_rx)
        return fim.FIMConfiguration(self._paper_beams(zero, kin, refs.ridge), y_tx, y_rx)

    # -- actions ----------------------------------------------------------------------
    def decode(self, action, scenario, refs: FIMReferences) -> Decoded:
        """The direct encoding: ``W`` in the beamformer encoding, then absolute positions ``round(y_max a / step)``
        levels."""
        p = self.params
        levels = np.rint(action[:, -self.n_elements:] * p.max_level)
        beams = decode_beamformer(action[:, : -self.n_elements], p.n_tx, p.n_streams, p.p_max_w, self.centre)
        return self._at_levels(beams, levels, levels, refs)

    def decode_paper(self, action, refs: FIMReferences, previous: fim.FIMConfiguration,
                     balanced: bool = False) -> Decoded:
        """The paper's structured action (:class:`PaperMode`): each position entry below -1/3 moves its element one
        level down, above +1/3 one level up; a move past ``y_max`` is clipped (and requested). ``balanced``: the
        beams' powers from the SINR layer (:class:`StructuredMode`, :meth:`_structured_beams`)."""
        p = self.params
        pos_a = action[:, -self.n_elements:]
        prev_levels = np.concatenate([previous.y_tx, previous.y_rx], axis=-1) / p.step_m
        moves = (pos_a > MOVE_THRESHOLD).astype(float) - (pos_a < -MOVE_THRESHOLD)
        wanted = np.rint(prev_levels) + moves
        levels = np.minimum(np.maximum(wanted, -p.max_level), p.max_level)
        return self._at_levels(None, levels, wanted, refs, action[:, : 2 + 2 * p.n_users], balanced)

    def _at_levels(self, beams, levels, wanted, refs: FIMReferences, paper_action=None, balanced=False) -> Decoded:
        """The configuration at position ``levels`` (``wanted``: those requested), with ``beams`` or the paper's
        structured beams of ``paper_action`` at the new shapes (SINR-balanced powers with ``balanced``)."""
        p = self.params
        y = levels * p.step_m
        y_req = wanted * p.step_m
        y_tx, y_rx = y[:, : p.n_tx], y[:, p.n_tx:]
        kin = fim.kinematics(refs.geometry, y_tx, y_rx)
        layer = None
        if beams is None and balanced:
            beams, layer = self._structured_beams(paper_action, kin, refs.ridge)
        elif beams is None:
            beams = self._paper_beams(paper_action, kin, refs.ridge)
        config = fim.FIMConfiguration(beams, y_tx, y_rx, y_req[:, : p.n_tx], y_req[:, p.n_tx:])
        return Decoded(config, kin, layer=layer)

    def _paper_directions(self, mix: np.ndarray, c_s: np.ndarray, kin: fim.FIMKinematics,
                          ridge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The paper's beam directions (Sec. III-B of [FIM], docs/fim.md), unit norm: user k's is the normalised mix
        ``mix_k`` of its MRT and ZF directions ``[B, Nt, K]``; the sensing stream's the mix ``c_s`` of the target
        steering vector and its projection orthogonal to the user channels ``[B, Nt]``. ``ridge`` (``[B, K, K]``,
        from the references) regularises the ZF inverse for nearly dependent channels."""
        p = self.params
        k, nt = p.n_users, p.n_tx
        h = kin.channels  # [B, K, Nt]
        hc = h.conj()
        mrt = mrt_directions(h)  # [B, Nt, K], column k = h_k
        gram = hc @ mrt  # G = H^H H in column form, [B, K, K]
        ginv = zf_inverse(h, ridge, gram)  # ZF beams are mrt @ ginv, with ||zf_k||^2 ~ ginv_kk
        g_kk = np.diagonal(gram, axis1=-2, axis2=-1).real
        ginv_kk = np.diagonal(ginv, axis1=-2, axis2=-1).real
        # user beam directions mrt @ M with M = diag((1-m)/||h_k||) + ginv diag(m/||zf_k||): one K x K mix
        mat = ginv * (mix / np.sqrt(ginv_kk))[:, None, :] + np.eye(k) * ((1.0 - mix) / np.sqrt(g_kk))[:, None, :]
        user_dirs = mrt @ mat
        tgt = kin.tx_set[:, 0, :]  # [B, Nt], unit-modulus entries: norm sqrt(Nt)
        tgt_u = tgt * (1.0 / np.sqrt(nt))
        orth = tgt - (mrt @ (ginv @ (hc @ tgt[..., None])))[..., 0]
        n2 = squared_norm(orth)[:, None]
        # with K >= Nt nothing is orthogonal to the users: fall back to the target direction
        orth_u = np.where(n2 > 1e-20 * nt, orth / np.sqrt(n2 + (n2 <= 0.0)), tgt_u)
        sense = (1.0 - c_s) * tgt_u + c_s * orth_u  # the projection has Re<tgt, orth> >= 0: norm >= 1/sqrt 2
        return unit_columns(user_dirs), sense / np.sqrt(squared_norm(sense))[:, None]

    def _assemble(self, user_dirs: np.ndarray, user_power: np.ndarray, sense: np.ndarray,
                  sense_power: np.ndarray) -> np.ndarray:
        """``W = [u_k sqrt(p_k) ..., u_s sqrt(p_s)]`` from unit directions and powers (W)."""
        beams = np.zeros((user_dirs.shape[0], self.params.n_tx, self.params.n_streams), dtype=complex)
        beams[:, :, : self.params.n_users] = user_dirs * np.sqrt(user_power)[:, None, :]
        beams[:, :, self.params.n_users] = sense * np.sqrt(sense_power)[:, None]
        return beams

    def _paper_beams(self, a: np.ndarray, kin: fim.FIMKinematics, ridge: np.ndarray) -> np.ndarray:
        """Structured beamformer of the paper's action (Sec. III-B of [FIM], docs/fim.md).

        ``a = [shares (K), mrt/zf mixes (K), comm/sensing split, sensing mix]``. User k gets power
        ``g P share_k`` on :meth:`_paper_directions`' user direction; the sensing stream gets ``(1 - g) P`` on the
        sensing direction. ``||W||_F^2 = P_max`` exactly.
        """
        p = self.params
        k = p.n_users
        f = (a + 1.0) * 0.5
        shares = f[:, :k] + SHARE_FLOOR
        g = f[:, 2 * k]
        user_dirs, sense = self._paper_directions(f[:, k: 2 * k], f[:, 2 * k + 1, None], kin, ridge)
        power = (g * p.p_max_w / shares.sum(axis=-1))[:, None] * shares  # g P share_k
        return self._assemble(user_dirs, power, sense, (1.0 - g) * p.p_max_w)

    def _structured_beams(self, a: np.ndarray, kin: fim.FIMKinematics,
                          ridge: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The structured mode's beams: the paper's directions, and powers from min-power SINR balancing
        (:func:`~isac_gym.physics.beamforming.balanced_split`) instead of the paper's shares.

        ``a = [margins (K), mrt/zf mixes (K), comm/sensing split, sensing mix]``: user k's SINR target is
        ``gamma m_k`` with ``m_k`` from 0 to ``MARGIN_DB`` dB; the sensing stream gets what the users leave of
        ``P_max``, the split ``g' = max(g, g_min)`` raised where the users need more. ``||W||_F^2 = P_max``. Per
        row, the first reachable of: the agent's margins; gamma itself (``margins_shrunk``); gamma on the ZF
        directions (``zf``: they null the users' mutual interference); else the paper's beams with equal shares
        (``fallback``: the QoS is then not met, and the verdict says so). Returns the beams and that record, with
        ``split`` (``g'``).
        """
        p = self.params
        k = p.n_users
        f = (a + 1.0) * 0.5
        b = a.shape[0]
        h = kin.channels
        margins = units.db_to_linear(MARGIN_DB * f[:, :k])
        tries = [(f[:, k: 2 * k], margins), (f[:, k: 2 * k], np.ones_like(margins)),
                 (np.ones((b, k)), np.ones_like(margins))]
        chosen = np.full(b, len(tries))  # the first reachable try of each row; len(tries): none
        out = None
        for n, (mix, m) in enumerate(tries):
            user_dirs, sense = self._paper_directions(mix, f[:, 2 * k + 1, None], kin, ridge)
            gains = np.abs(np.conj(h) @ user_dirs) ** 2  # [B, K, K]
            leak = np.abs(np.conj(h) @ sense[..., None])[..., 0] ** 2  # [B, K] the unit sensing stream at each user
            power, g, ok = balanced_split(gains, np.full_like(leak, p.noise_user_w), leak, p.gamma * m, p.p_max_w,
                                          f[:, 2 * k])
            take = (chosen == len(tries)) & ok
            chosen = np.where(take, n, chosen)
            if out is None:  # the paper's beams with equal shares: the fall-back where nothing is reachable
                g0 = f[:, 2 * k]
                out = [user_dirs, np.full((b, k), 1.0 / k) * (g0 * p.p_max_w)[:, None], sense, g0]
            sel = take[:, None]
            out = [np.where(sel[..., None], user_dirs, out[0]), np.where(sel, power, out[1]),
                   np.where(sel, sense, out[2]), np.where(take, g, out[3])]
        beams = self._assemble(out[0], out[1], out[2], (1.0 - out[3]) * p.p_max_w)
        return beams, {"margins_shrunk": (chosen >= 1).astype(float), "zf": (chosen == 2).astype(float),
                       "fallback": (chosen == len(tries)).astype(float), "split": out[3]}

    def paper_action_towards(self, config: fim.FIMConfiguration, current: fim.FIMConfiguration,
                             refs: FIMReferences) -> np.ndarray:
        """The paper-mode action towards ``config``: each element moves one level towards ``config``'s (so the
        shapes are reached within ``2 y_max / step`` steps), and the structured beam parameters are those whose
        beams at the next shapes come closest to ``config.beams``: power shares and split from the columns' powers,
        each MRT/ZF mix and the sensing mix by the largest normalised correlation on a grid of :data:`FIT_GRID`
        values (the paper's structure cannot express every beamformer)."""
        p = self.params
        k = p.n_users
        now = np.rint(np.concatenate([current.y_tx, current.y_rx], axis=-1) / p.step_m)
        goal = np.rint(np.concatenate([config.y_tx, config.y_rx], axis=-1) / p.step_m)
        moves = np.sign(goal - now)
        nxt = (now + moves) * p.step_m
        kin = fim.kinematics(refs.geometry, nxt[:, : p.n_tx], nxt[:, p.n_tx:])
        w = np.asarray(config.beams)
        col_power = squared_norm(w, -2)  # [B, K + 1]
        total = np.maximum(col_power.sum(axis=-1), 1e-300)
        split = col_power[:, :k].sum(axis=-1) / total
        shares = col_power[:, :k] / np.maximum(col_power[:, :k].max(axis=-1, keepdims=True), 1e-300)
        grid = np.linspace(0.0, 1.0, FIT_GRID)
        # candidate beams of every grid value: the paper's beams with that mix in every slot, equal shares
        rows = [np.r_[np.zeros(k), np.full(k, 2 * m - 1), 0.0, 2 * m - 1] for m in grid]
        cand = np.stack([self._paper_beams(np.tile(row, (w.shape[0], 1)), kin, refs.ridge) for row in rows],
                        axis=1)  # [B, G, Nt, K + 1]
        corr = np.abs(np.einsum("bgns,bns->bgs", np.conj(cand), w)) ** 2 / np.maximum(
            squared_norm(cand, -2) * col_power[:, None, :], 1e-300)
        mix = grid[np.argmax(corr, axis=1)]  # [B, K + 1]
        beam_a = np.concatenate([2 * shares - 1, 2 * mix[:, :k] - 1, (2 * split - 1)[:, None],
                                 (2 * mix[:, k] - 1)[:, None]], axis=-1)
        return np.concatenate([beam_a, moves], axis=-1)

    def encode(self, config: fim.FIMConfiguration) -> np.ndarray:
        """Direct-mode action of a configuration: the beamformer encoding, then positions / y_max."""
        p = self.params
        levels = np.concatenate([config.y_tx, config.y_rx], axis=-1) / p.step_m / p.max_level
        return np.concatenate([encode_beamformer(config.beams, p.p_max_w, self.centre), np.clip(levels, -1.0, 1.0)], axis=-1)

    # -- metrics, reward, observation ---------------------------------------------------
    def measure(self, config, scenario, refs: FIMReferences, cache=None) -> tuple[Metrics, fim.FIMKinematics]:
        kin = cache if cache is not None else fim.kinematics(refs.geometry, config.y_tx, config.y_rx)
        m = fim.evaluate(self.params, refs.geometry, config, kin)
        extra = {"user_power": m["user_power"], "clipped_moves": fim.clipped_moves(self.params, config)}
        return Metrics(m["crb"], m["sinr"], m["rate"], m["power"], extra), kin

    def violations(self, metrics, state, config) -> dict[str, np.ndarray]:
        """Power, QoS and positions of the configuration (never the action: a clipped move is legal)."""
        p = self.params
        ratio = metrics.power / p.p_max_w
        power = (ratio - 1.0) * (ratio > 1.0 + POWER_ROUNDOFF)
        qos = np.maximum(0.0, 1.0 - metrics.sinr / p.gamma).sum(axis=-1)
        return {"power": power, "qos": qos, "position": fim.position_excess(p, config)}

    def reward_terms(self, score, violation, metrics, config) -> dict[str, np.ndarray]:
        """Eq. (21): the score minus the power and QoS violations and the position penalty, which
        counts clipped moves (an action that pushes past a limit) beside elements out of limits."""
        w = self.weights
        return {"objective_score": score, "power": -w["power"] * constraint_cost(violation["power"]),
                "qos": -w["qos"] * constraint_cost(violation["qos"]),
                "position": -w["position"] * constraint_cost(metrics.extra["clipped_moves"] + violation["position"])}

    def observe(self, assessment, config, scenario, refs, prev_action) -> dict[str, np.ndarray]:
        p = self.params
        lam = p.wavelength
        m = assessment.metrics
        h = assessment.state.channels * refs.channel_scale
        b = h.shape[0]
        return {
            "transmit_power": m.power / p.p_max_w,
            "transmit_element_positions": config.y_tx / lam,
            "receive_element_positions": config.y_rx / lam,
            "user_sinr": db_feature(units.linear_to_db(m.sinr)),
            "crb_score": assessment.score,
            "per_user_beam_power": m.extra["user_power"] / p.p_max_w,
            "violation_power": assessment.costs["power"],
            "violation_qos": assessment.costs["qos"],
            "clipped_moves": m.extra["clipped_moves"],
            "user_channels_re": h.real.reshape(b, -1),
            "user_channels_im": h.imag.reshape(b, -1),
            "target_direction": refs.target_obs,
        }

    def render_panels(self, info, scenario: fim.FIMScenario, refs) -> list[Panel]:
        """Beam pattern over azimuth at the target's elevation (users' paths and the target marked), and
        the heights of both surfaces."""
        p = self.params
        cfg = self.as_config(info["config"])
        phi = np.linspace(0.0, np.pi, 361)
        a = steering_vector(p.tx_xz, cfg.y_tx, phi, np.full_like(phi, float(scenario.target_theta)), p.wavelength)
        power = np.sum(np.abs(np.conj(a) @ cfg.beams) ** 2, axis=-1)

        def beam(ax):
            ax.plot(np.degrees(phi), pattern_db(power), lw=1.2)
            for ang in np.ravel(scenario.path_phi):
                ax.axvline(np.degrees(ang), color="tab:green", lw=0.6, ls=":")
            ax.axvline(np.degrees(float(scenario.target_phi)), color="tab:red", lw=1.2, label="target")
            ax.set_xlabel("azimuth (deg); green: user paths", fontsize=9)
            ax.set_ylabel("dB", fontsize=9)
            ax.legend(fontsize=8, loc="lower right")

        def heights(y, nx, nz):
            def draw(ax):
                im = ax.imshow(np.reshape(y / p.wavelength, (nz, nx)), vmin=-p.y_max_wl, vmax=p.y_max_wl,
                               cmap="coolwarm", origin="lower")
                ax.figure.colorbar(im, ax=ax, fraction=0.046, label="y / lambda")
                ax.set_xlabel("x index", fontsize=9)
                ax.set_ylabel("z index", fontsize=9)
            return draw

        return [Panel("transmit beam pattern", beam),
                Panel("transmit FIM heights", heights(cfg.y_tx, p.n_tx_x, p.n_tx_z)),
                Panel("receive FIM heights", heights(cfg.y_rx, p.n_rx_x, p.n_rx_z))]


class FIMEnv(ISACEnv):
    """Flexible intelligent metasurface (FIM) ISAC: minimise the angle CRB of a point target under QoS.

    **Description.** A base station with a transmit FIM (``Nt = 3 x 3``) and a receive FIM
    (``Nr = 4 x 3``), both flexible UPAs in the x-z plane whose elements morph along y within
    ``[-lambda, lambda]`` in steps of ``lambda/8`` (17 levels), serves K = 4 single-antenna
    multipath users and senses a point target. The agent designs ``W = [W_C W_R]`` and both
    surface shapes to minimise the CRB of the target's (azimuth, elevation) with every user at
    ``SINR >= gamma`` and ``||W||_F^2 <= P_max`` (problem (20) of [FIM]; docs/fim.md).
    Every equation lives in :mod:`isac_gym.physics.fim`.

    **Action space** ``Box(-1, 1, float32)``:

    * ``action_mode="paper"``, dimension ``2 + 2K + Nt + Nr`` (31): K power shares,
      K MRT/ZF mixing factors, the communication/sensing power split, the sensing-direction mix
      (target steering vector vs its projection orthogonal to the users), then Nt + Nr position
      moves: below -1/3 one step down, above +1/3 one step up, otherwise stay. The beamformer
      meets the power budget exactly; a move past ``y_max`` is clipped and penalised in the reward
      (term ``position``) but the clipped configuration is legal: ``feasible`` judges the
      configuration (power, QoS, positions within limits), never the action.
    * ``action_mode="structured"`` (default), the same size: the paper's action with K SINR margins (0 to 6 dB
      above gamma) in place of the shares; min-power SINR balancing on the paper's directions sets the users'
      powers, taking power from the sensing stream where needed, so every user meets gamma wherever the directions
      allow (:class:`StructuredMode`; ``info["layer"]`` records the margins shrunk, the ZF fall-back and the split).
    * ``action_mode="direct"``, dimension ``1 + 2 Nt (K+Nr) + Nt + Nr`` (310):
      ``W = sqrt(s P_max) A / ||A||_F`` with ``s = (a_0+1)/2`` and A from Re/Im entries, then
      absolute positions ``round(8 a) lambda/8``. ``env.unwrapped.encode(config)`` inverts it.

    **Observation** ``Box(-100, 100, float32)``, in this order (sizes at the defaults):

    {observation_table}

    **Reward** (eq. (21), constraint-aware): ``f(CRB) - w_qos s(sum_k max(0, 1 - SINR_k/gamma))
    - w_pos s((clipped moves)/(Nt+Nr) + elements out of limits) - w_pow s(max(0, P/P_max - 1))`` with ``s`` the
    saturating map below and
    ``f(c) = (log c_worst - log c)/(log c_worst - log c_target)`` clipped below at -1 only;
    ``c_worst`` is the CRB of isotropic transmission and ``c_target`` of all power on the
    target direction, both with flat arrays, per scenario. Good policies score 2-3 (shaping
    beats the flat target beam). ``info["reward_terms"]`` holds the four terms.

    **Episode.** One scenario (channels, target) is drawn at ``reset``; episodes start from flat
    surfaces and the zero-action beamformer, never terminate, and are truncated after
    ``max_episode_steps`` (200; the paper's 800 in the Hydra ``fim_paper`` preset).

    **Info.** ``objective`` and ``crb`` (rad^2), ``score``, ``sinr`` (linear, K), ``rate``
    (bit/s/Hz), ``power`` (W), ``user_power`` (W), ``violation``, ``feasible``,
    ``clipped_moves`` (fraction), ``reward_terms``, ``config`` (``beams``, ``y_tx``, ``y_rx`` in m, and
    ``y_tx_requested``, ``y_rx_requested``: the positions asked for before clipping, so that
    ``env.unwrapped.evaluate(info["config"])`` reproduces the step's reward exactly).

    {common}

    **Arguments** (defaults from :class:`~isac_gym.physics.fim.FIMParams` and :class:`FIMOptions`):

    {arguments}

    **Rendering** (``render_mode="rgb_array"``): the transmit beam pattern over azimuth at the
    target's elevation with the users' path directions and the target marked, and the surface
    heights of both FIMs.

    **Paper.** FIM-enabled ISAC: CRB minimisation with QoS constraints by DDPG ([FIM]).
    Choices the paper leaves open (carrier, paths, path loss, target, T, reward weights) follow
    docs/fim.md.
    """

    system_class = FIMSystem


class FIMVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`FIMEnv` s in one batched call; same arguments plus ``num_envs``, ``max_episode_steps``."""

    system_class = FIMSystem


document(FIMEnv, FIMSystem)

REGISTRATIONS = (
    Registration("ISAC-FIM-v0", FIMEnv, FIMVectorEnv, max_episode_steps=200, config_name="fim",
                 small={"n_tx_x": 2, "n_tx_z": 2, "n_rx_x": 2, "n_rx_z": 2, "n_users": 2}, learning_steps=15000),
)

__all__ = ["REGISTRATIONS", "FIMEnv", "FIMVectorEnv", "FIMSystem", "FIMOptions", "FIMReferences"]
