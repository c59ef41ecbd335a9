"""ISAC-FIM-v0: flexible intelligent metasurfaces, CRB minimisation under QoS (seeds/000, spec fim.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..physics import fim, units
from .base import ISACEnv, ISACVectorEnv, System, check_choice, check_finite, check_positive, log_score

ACTION_MODES = ("paper", "direct")
#: Paper-mode position actions below -1/3 move down one step, above +1/3 up one step.
MOVE_THRESHOLD = 1.0 / 3.0
#: Relative excess of ||W||^2 over P_max treated as float round-off, not as a violation.
POWER_ROUNDOFF = 1e-9
#: Floor of the per-user power shares, so that an all -1 share action stays well defined.
SHARE_FLOOR = 1e-6


class FIMSystem(System):
    """Batched adapter of the FIM system; see :class:`FIMEnv` for the manual."""

    objective_name = "crb"
    violation_names = ("power", "qos", "position")

    def __init__(self, n_tx_x: int = 3, n_tx_z: int = 3, n_rx_x: int = 4, n_rx_z: int = 3, n_users: int = 4,
                 n_paths: int = 3, p_max_dbm: float = 20.0, gamma: float = 7.0, noise_user_dbm: float = -100.0,
                 noise_radar_dbm: float = -95.0, snapshots: int = 256, carrier_hz: float = 28e9,
                 y_max_wl: float = 1.0, step_wl: float = 0.125, target_distance_m: float = 30.0,
                 action_mode: str = "paper", w_qos: float = 1.0, w_pos: float = 0.5, w_pow: float = 1.0):
        for name, value in (("n_tx_x", n_tx_x), ("n_tx_z", n_tx_z), ("n_rx_x", n_rx_x), ("n_rx_z", n_rx_z),
                            ("n_users", n_users), ("n_paths", n_paths), ("snapshots", snapshots)):
            check_positive(name, value, integer=True)
        for name, value in (("gamma", gamma), ("carrier_hz", carrier_hz), ("y_max_wl", y_max_wl),
                            ("step_wl", step_wl), ("target_distance_m", target_distance_m)):
            check_positive(name, value)
        for name, value in (("p_max_dbm", p_max_dbm), ("noise_user_dbm", noise_user_dbm),
                            ("noise_radar_dbm", noise_radar_dbm)):
            check_finite(name, value)
        for name, value in (("w_qos", w_qos), ("w_pos", w_pos), ("w_pow", w_pow)):
            check_positive(name, value, allow_zero=True)
        check_choice("action_mode", action_mode, ACTION_MODES)
        ratio = y_max_wl / step_wl
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"y_max_wl must be a whole number of step_wl, got y_max_wl={y_max_wl}, step_wl={step_wl}")
        self.params = fim.FIMParams(
            n_tx_x=int(n_tx_x), n_tx_z=int(n_tx_z), n_rx_x=int(n_rx_x), n_rx_z=int(n_rx_z), n_users=int(n_users),
            n_paths=int(n_paths), p_max_dbm=float(p_max_dbm), gamma=float(gamma),
            noise_user_dbm=float(noise_user_dbm), noise_radar_dbm=float(noise_radar_dbm), snapshots=int(snapshots),
            carrier_hz=float(carrier_hz), y_max_wl=float(y_max_wl), step_wl=float(step_wl),
            target_distance_m=float(target_distance_m))
        self.action_mode = action_mode
        self.weights = {"power": float(w_pow), "qos": float(w_qos), "position": float(w_pos)}
        p = self.params
        nt, nr, k = p.n_tx, p.n_rx, p.n_users
        self.n_elements = nt + nr
        if action_mode == "paper":
            self.action_dim = 2 + 2 * k + nt + nr
        else:
            self.action_dim = 1 + 2 * nt * p.n_streams + nt + nr
        # power, positions, SINR, score, user powers, 3 violations, previous action, channels, target angles
        self.obs_dim = 1 + nt + nr + k + 1 + k + 3 + self.action_dim + 2 * k * nt + 4

    # -- scenarios --------------------------------------------------------------------
    def draw(self, rng: np.random.Generator) -> fim.FIMScenario:
        return fim.draw_scenario(self.params, rng)

    def references(self, scenario: fim.FIMScenario) -> dict[str, Any]:
        geom = fim.geometry(self.params, scenario)
        worst, target = fim.reference_crbs(self.params, geom)
        # ZF ridge: 1e-9 of the mean channel energy Nt beta_k
        ridge = 1e-9 * self.params.n_tx * np.mean(scenario.beta, axis=-1)[:, None, None] * np.eye(self.params.n_users)
        return {"geometry": geom, "crb_worst": worst, "crb_target": target, "ridge": ridge}

    def initial_config(self, scenario, refs) -> fim.FIMConfiguration:
        """Flat surfaces and the paper-mode beamformer of the all-zero action (equal shares, even splits)."""
        b = np.shape(scenario.target_phi)[0]
        p = self.params
        y_tx, y_rx = np.zeros((b, p.n_tx)), np.zeros((b, p.n_rx))
        zero = np.zeros((b, 2 + 2 * p.n_users))
        kin = fim.kinematics(refs["geometry"], y_tx, y_rx)
        return fim.FIMConfiguration(self._paper_beams(zero, kin, refs["ridge"]), y_tx, y_rx)

    # -- actions ----------------------------------------------------------------------
    def decode(self, action, scenario, refs, previous):
        p = self.params
        b = action.shape[0]
        pos_a = action[:, -self.n_elements:]
        if self.action_mode == "direct":
            levels = np.rint(pos_a * p.max_level)
            clipped = np.zeros(b)
            beams = self._direct_beams(action[:, : -self.n_elements])
        else:
            prev_levels = np.concatenate([previous.y_tx, previous.y_rx], axis=-1) / p.step_m
            moves = (pos_a > MOVE_THRESHOLD).astype(float) - (pos_a < -MOVE_THRESHOLD)
            wanted = np.rint(prev_levels) + moves
            levels = np.clip(wanted, -p.max_level, p.max_level)
            clipped = np.count_nonzero(levels != wanted, axis=-1) / self.n_elements
            beams = None
        y = levels * p.step_m
        y_tx, y_rx = y[:, : p.n_tx], y[:, p.n_tx:]
        kin = fim.kinematics(refs["geometry"], y_tx, y_rx)
        if beams is None:
            beams = self._paper_beams(action[:, : 2 + 2 * p.n_users], kin, refs["ridge"])
        return fim.FIMConfiguration(beams, y_tx, y_rx), {"position": clipped, "kinematics": kin}

    def _direct_beams(self, a: np.ndarray) -> np.ndarray:
        """``W = sqrt(s P) A / ||A||_F``, ``s = (a_0 + 1)/2`` (spec README, beamformer encoding)."""
        p = self.params
        s = (a[:, 0] + 1.0) / 2.0
        m = a[:, 1:].reshape(-1, 2, p.n_tx, p.n_streams)
        mat = m[:, 0] + 1j * m[:, 1]
        norm = np.sqrt(np.sum(mat.real**2 + mat.imag**2, axis=(-2, -1)))
        scale = np.sqrt(s * p.p_max_w) / np.where(norm > 0, norm, 1.0)
        return mat * scale[:, None, None]

    def _paper_beams(self, a: np.ndarray, kin: fim.FIMKinematics, ridge: np.ndarray) -> np.ndarray:
        """Structured beamformer of the paper's action (Sec. III-B of seeds/000, spec fim.md).

        ``a = [shares (K), mrt/zf mixes (K), comm/sensing split, sensing mix]``. User k gets power
        ``g P share_k`` on the normalised mix of its MRT and ZF directions; the sensing stream gets
        ``(1 - g) P`` on the mix of the target steering vector and its projection orthogonal to
        the user channels. ``||W||_F^2 = P_max`` exactly. ``ridge`` (``[B, K, K]``, from the
        references) regularises the ZF inverse for nearly dependent channels.
        """
        p = self.params
        k, nt = p.n_users, p.n_tx
        f = (a + 1.0) * 0.5
        shares = f[:, :k] + SHARE_FLOOR
        mix = f[:, k: 2 * k]
        g, c_s = f[:, 2 * k], f[:, 2 * k + 1, None]
        h = kin.channels  # [B, K, Nt]
        hc = h.conj()
        mrt = h.swapaxes(-1, -2)  # [B, Nt, K], column k = h_k
        gram = hc @ mrt  # G = H^H H in column form, [B, K, K]
        ginv = np.linalg.inv(gram + ridge)  # ZF beams are mrt @ ginv, with ||zf_k||^2 ~ ginv_kk
        diag = np.arange(k)
        g_kk, ginv_kk = gram[:, diag, diag].real, ginv[:, diag, diag].real
        # user beam directions mrt @ M with M = diag((1-m)/||h_k||) + ginv diag(m/||zf_k||): one K x K mix
        mat = ginv * (mix / np.sqrt(ginv_kk))[:, None, :]
        mat[:, diag, diag] += (1.0 - mix) / np.sqrt(g_kk)
        norm2 = np.sum((mat.conj() * (gram @ mat)).real, axis=-2)  # ||mrt @ M_k||^2 = M_k^H G M_k
        power = (g * p.p_max_w / shares.sum(axis=-1))[:, None] * shares  # g P share_k
        user_beams = mrt @ (mat * np.sqrt(power / norm2)[:, None, :])
        tgt = kin.tx_set[:, 0, :]  # [B, Nt], unit-modulus entries: norm sqrt(Nt)
        tgt_u = tgt * (1.0 / np.sqrt(nt))
        orth = tgt - (mrt @ (ginv @ (hc @ tgt[..., None])))[..., 0]
        n2 = np.sum(orth.real**2 + orth.imag**2, axis=-1, keepdims=True)
        # with K >= Nt nothing is orthogonal to the users: fall back to the target direction
        orth_u = np.where(n2 > 1e-20 * nt, orth / np.sqrt(np.maximum(n2, 1e-300)), tgt_u)
        sense = (1.0 - c_s) * tgt_u + c_s * orth_u  # the projection has Re<tgt, orth> >= 0: norm >= 1/sqrt 2
        sense *= np.sqrt((1.0 - g) * p.p_max_w / np.sum(sense.real**2 + sense.imag**2, axis=-1))[:, None]
        beams = np.zeros((a.shape[0], nt, p.n_streams), dtype=complex)
        beams[:, :, :k] = user_beams
        beams[:, :, k] = sense
        return beams

    def encode(self, config: fim.FIMConfiguration) -> np.ndarray:
        """Direct-mode action of a configuration: ``a_0 = 2 ||W||^2/P - 1``, A scaled to max modulus 1."""
        p = self.params
        w = np.asarray(config.beams)
        power = np.sum(np.abs(w) ** 2, axis=(-2, -1))
        peak = np.max(np.abs(w), axis=(-2, -1))
        mat = w / np.where(peak > 0, peak, 1.0)[..., None, None]
        a0 = np.clip(2.0 * power / p.p_max_w - 1.0, -1.0, 1.0)
        levels = np.concatenate([config.y_tx, config.y_rx], axis=-1) / p.step_m / p.max_level
        flat = np.stack([mat.real, mat.imag], axis=-3).reshape(*w.shape[:-2], -1)
        return np.concatenate([a0[..., None], flat, np.clip(levels, -1.0, 1.0)], axis=-1)

    # -- metrics, reward, observation ---------------------------------------------------
    def metrics(self, config, scenario, refs, aux=None) -> dict[str, np.ndarray]:
        kin = None if aux is None else aux.get("kinematics")
        if kin is None:
            kin = fim.kinematics(refs["geometry"], config.y_tx, config.y_rx)
        m = fim.evaluate(self.params, refs["geometry"], config, kin)
        m["objective"] = m["crb"]
        m["_channels"] = kin.channels
        return m

    def violations(self, metrics, aux) -> dict[str, np.ndarray]:
        p = self.params
        ratio = metrics["power"] / p.p_max_w
        power = np.where(ratio <= 1.0 + POWER_ROUNDOFF, 0.0, ratio - 1.0)
        qos = np.sum(np.maximum(0.0, 1.0 - metrics["sinr"] / p.gamma), axis=-1)
        position = aux.get("position", np.zeros_like(power))
        return {"power": power, "qos": qos, "position": position}

    def score(self, metrics, refs) -> np.ndarray:
        """``f(c) = (log c_worst - log c) / (log c_worst - log c_target)``, clipped below at -1 (eq. (21))."""
        return log_score(metrics["crb"], refs["crb_worst"], refs["crb_target"])

    def observe(self, metrics, violations, score, config, scenario, refs, prev_action) -> np.ndarray:
        p = self.params
        lam = p.wavelength
        h = metrics["_channels"] / np.sqrt(scenario.beta)[..., None]
        sinr_db = units.linear_to_db(metrics["sinr"]) / 10.0
        angles = np.stack([np.cos(scenario.target_phi), np.sin(scenario.target_phi),
                           np.cos(scenario.target_theta), np.sin(scenario.target_theta)], axis=-1)
        parts = [
            (metrics["power"] / p.p_max_w)[:, None],
            config.y_tx / lam, config.y_rx / lam,
            np.clip(sinr_db, -10.0, 10.0),
            score[:, None],
            metrics["user_power"] / p.p_max_w,
            violations["power"][:, None], violations["qos"][:, None], violations["position"][:, None],
            prev_action,
            h.real.reshape(h.shape[0], -1), h.imag.reshape(h.shape[0], -1),
            angles,
        ]
        return np.concatenate(parts, axis=-1)

    def config_dict(self, config) -> dict[str, np.ndarray]:
        return {"beams": config.beams, "y_tx": config.y_tx, "y_rx": config.y_rx}


class FIMEnv(ISACEnv):
    """Flexible intelligent metasurface (FIM) ISAC: minimise the angle CRB of a point target under QoS.

    **Description.** A base station with a transmit FIM (``Nt = 3 x 3``) and a receive FIM
    (``Nr = 4 x 3``), both flexible UPAs in the x-z plane whose elements morph along y within
    ``[-lambda, lambda]`` in steps of ``lambda/8`` (17 levels), serves K = 4 single-antenna
    multipath users and senses a point target. The agent designs ``W = [W_C W_R]`` and both
    surface shapes to minimise the CRB of the target's (azimuth, elevation) with every user at
    ``SINR >= gamma`` and ``||W||_F^2 <= P_max`` (problem (20) of seeds/000; spec ``fim.md``).
    Every equation lives in :mod:`isac_gym.physics.fim`.

    **Action space** ``Box(-1, 1, float32)``:

    * ``action_mode="paper"`` (default), dimension ``2 + 2K + Nt + Nr`` (31): K power shares,
      K MRT/ZF mixing factors, the communication/sensing power split, the sensing-direction mix
      (target steering vector vs its projection orthogonal to the users), then Nt + Nr position
      moves: below -1/3 one step down, above +1/3 one step up, otherwise stay. The beamformer
      meets the power budget exactly; a move past ``y_max`` is clipped and counts as a violation.
    * ``action_mode="direct"``, dimension ``1 + 2 Nt (K+Nr) + Nt + Nr`` (310):
      ``W = sqrt(s P_max) A / ||A||_F`` with ``s = (a_0+1)/2`` and A from Re/Im entries, then
      absolute positions ``round(8 a) lambda/8``. ``env.unwrapped.encode(config)`` inverts it.

    **Observation** ``Box(-100, 100, float32)``, in this order:

    ============================  ======================  ===========================
    entry                         size                    scaling
    ============================  ======================  ===========================
    transmit power                1                       / P_max
    element positions (tx, rx)    Nt + Nr                 / lambda
    user SINR                     K                       dB / 10, clipped to [-10, 10]
    CRB score f(CRB)              1                       log-normalised (see reward)
    per-user beam power           K                       / P_max
    violations power, QoS, pos.   3                       as in the reward
    previous action               action dim              raw (zeros after reset)
    user channels Re, Im          2 K Nt                  / sqrt(beta_k)
    target direction              4                       cos/sin of phi_t, theta_t
    ============================  ======================  ===========================

    **Reward** (eq. (21), constraint-aware): ``f(CRB) - w_qos sum_k max(0, 1 - SINR_k/gamma)
    - w_pos (clipped moves)/(Nt+Nr) - w_pow max(0, P/P_max - 1)`` with
    ``f(c) = (log c_worst - log c)/(log c_worst - log c_target)`` clipped below at -1 only;
    ``c_worst`` is the CRB of isotropic transmission and ``c_target`` of all power on the
    target direction, both with flat arrays, per scenario. Good policies score 2-3 (shaping
    beats the flat target beam). ``info["reward_terms"]`` holds the four terms.

    **Episode.** One scenario (channels, target) is drawn at ``reset``; episodes start from flat
    surfaces and the zero-action beamformer, never terminate, and are truncated after
    ``max_episode_steps`` (200; the paper's 800 in the Hydra ``fim_paper`` preset).

    **Info.** ``objective`` and ``crb`` (rad^2), ``score``, ``sinr`` (linear, K), ``rate``
    (bit/s/Hz), ``power`` (W), ``user_power`` (W), ``violation``, ``feasible``,
    ``reward_terms``, ``config`` (``beams``, ``y_tx``, ``y_rx`` in m).

    **Arguments.** ``n_tx_x, n_tx_z, n_rx_x, n_rx_z`` (3, 3, 4, 3), ``n_users`` (4),
    ``n_paths`` (3), ``p_max_dbm`` (20), ``gamma`` (7 = 2^3 - 1), ``noise_user_dbm`` (-100),
    ``noise_radar_dbm`` (-95), ``snapshots`` T (256), ``carrier_hz`` (28e9), ``y_max_wl`` (1),
    ``step_wl`` (1/8), ``target_distance_m`` (30), ``action_mode`` ("paper" | "direct"),
    ``w_qos`` (1), ``w_pos`` (0.5), ``w_pow`` (1), ``scenario`` ("random" | "fixed"),
    ``scenario_seed``, ``render_mode`` (None | "ansi").

    **Paper.** FIM-enabled ISAC: CRB minimisation with QoS constraints by DDPG (seeds/000).
    Choices the paper leaves open (carrier, paths, path loss, target, T, reward weights) follow
    spec ``fim.md``.
    """

    system_class = FIMSystem


class FIMVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`FIMEnv` s in one batched call; same arguments plus ``num_envs``, ``max_episode_steps``."""

    system_class = FIMSystem


def config_from_dict(d: dict[str, Any]) -> fim.FIMConfiguration:
    """Build a :class:`~isac_gym.physics.fim.FIMConfiguration` from ``info["config"]``."""
    return fim.FIMConfiguration(np.asarray(d["beams"], complex), np.asarray(d["y_tx"], float),
                                np.asarray(d["y_rx"], float))


__all__ = ["FIMEnv", "FIMVectorEnv", "FIMSystem", "config_from_dict"]
