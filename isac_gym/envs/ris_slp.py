"""ISAC-RIS-SLP-v0 / ISAC-RIS-SLP-DoA-v0: RIS-aided symbol-level precoding (seeds/003, spec ris_slp.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import ris_slp
from ..physics.arrays import cis
from .base import ISACEnv, ISACVectorEnv, System, check_choice, check_finite, check_positive, log_score

TASKS = ("detection", "doa")
#: Seed of the fixed "uninformed" configuration (random waveform, random RIS) anchoring the score at 0.
ANCHOR_SEED = 20250120


@dataclass(frozen=True)
class RISSLPConfiguration:
    """What the BS controls (fields may carry leading batch axes).

    Attributes:
        x: ``[L, M]`` complex waveform, ``|x| = sqrt(P/M)`` (sqrt(W)).
        phi: ``[N]`` complex RIS coefficients, ``|phi| = 1`` (0 entries model an absent RIS).
    """

    x: np.ndarray
    phi: np.ndarray


def _normalised_rows(h: np.ndarray) -> np.ndarray:
    """Rows of ``[B, K, M]`` divided by their RMS, flattened as ``[Re..., Im...]``."""
    rms = np.sqrt(np.mean(h.real**2 + h.imag**2, axis=-1, keepdims=True))
    h = h / np.where(rms > 0, rms, 1.0)
    return np.concatenate([h.real.reshape(h.shape[0], -1), h.imag.reshape(h.shape[0], -1)], axis=-1)


def _signed_log(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log1p(np.abs(v))


class RISSLPSystem(System):
    """Batched adapter of the RIS-SLP system; see :class:`RISSLPEnv` for the manual."""

    violation_names = ("qos",)

    def __init__(self, task: str = "detection", n_tx: int = 6, n_elements: int = 64, n_users: int = 3,
                 n_slots: int = 20, psk_order: int = 4, p_max_dbm: float | None = None, noise_dbm: float = -80.0,
                 qos_db: float = 10.0, action_mode: str = "direct", w_qos: float = 1.0):
        check_choice("task", task, TASKS)
        check_choice("action_mode", action_mode, ("direct",))
        for name, value in (("n_tx", n_tx), ("n_elements", n_elements), ("n_users", n_users), ("n_slots", n_slots)):
            check_positive(name, value, integer=True)
        check_positive("psk_order", psk_order, integer=True)
        if psk_order < 2:
            raise ValueError(f"psk_order must be an integer >= 2, got {psk_order!r}")
        if p_max_dbm is None:
            p_max_dbm = 50.0 if task == "detection" else 40.0
        for name, value in (("p_max_dbm", p_max_dbm), ("noise_dbm", noise_dbm), ("qos_db", qos_db)):
            check_finite(name, value)
        check_positive("w_qos", w_qos, allow_zero=True)
        if n_slots <= max(ris_slp.RISSLPParams().clutter_bins):
            raise ValueError(f"n_slots must exceed the largest clutter range bin (2), got {n_slots}")
        self.task = task
        self.action_mode = action_mode
        self.params = ris_slp.RISSLPParams(
            n_tx=int(n_tx), n_elements=int(n_elements), n_users=int(n_users), n_slots=int(n_slots),
            psk_order=int(psk_order), p_max_dbm=float(p_max_dbm), noise_dbm=float(noise_dbm), qos_db=float(qos_db))
        self.objective_name = "radar_sinr" if task == "detection" else "crb"
        self.weights = {"qos": float(w_qos)}
        p = self.params
        self.n_x = p.n_slots * p.n_tx
        self.action_dim = self.n_x + p.n_elements
        q1 = p.n_clutter + 1
        # symbols, direct and effective user channels, geometry, previous action, CI margins, score
        self.obs_dim = p.n_users * p.n_slots + 4 * p.n_users * p.n_tx + 2 * q1 + self.action_dim + p.n_users + 1
        pts = ris_slp.sensing_points(p)
        self._geometry_obs = np.r_[np.sin(ris_slp.bs_angle(pts)), np.sin(ris_slp.ris_angle(p, pts))]
        anchor = np.random.default_rng(ANCHOR_SEED).uniform(-1.0, 1.0, self.action_dim)
        self._anchor = self.config_from_action(anchor[None, :])

    # -- scenarios --------------------------------------------------------------------
    def draw(self, rng):
        return ris_slp.draw_scenario(self.params, rng)

    def objective(self, config: RISSLPConfiguration, scenario) -> np.ndarray:
        """The task's metric: radar output SINR (eq. (21a), linear) or DoA CRB (eq. (41), rad^2)."""
        if self.task == "detection":
            return ris_slp.radar_sinr(self.params, scenario, config.x, config.phi)
        return ris_slp.doa_crb(self.params, scenario, config.x, config.phi)

    def references(self, scenario) -> dict[str, Any]:
        """Score anchors: a fixed random configuration (0) and the matched radar design (1)."""
        x, phi = ris_slp.matched_design(self.params, scenario)
        batch = scenario.symbols.shape[0]
        anchor = RISSLPConfiguration(np.broadcast_to(self._anchor.x, (batch,) + self._anchor.x.shape[1:]),
                                     np.broadcast_to(self._anchor.phi, (batch,) + self._anchor.phi.shape[1:]))
        static = np.concatenate([scenario.symbols.reshape(batch, -1) / self.params.psk_order,
                                 _normalised_rows(np.conj(scenario.h_user)),
                                 np.broadcast_to(self._geometry_obs, (batch, self._geometry_obs.size))], axis=-1)
        return {"worst": self.objective(anchor, scenario),
                "target": self.objective(RISSLPConfiguration(x, phi), scenario), "static_obs": static}

    def initial_config(self, scenario, refs) -> RISSLPConfiguration:
        """The configuration of the all-zero action: equal phases on every antenna and element."""
        return self.config_from_action(np.zeros((scenario.symbols.shape[0], self.action_dim)))

    # -- actions ----------------------------------------------------------------------
    def config_from_action(self, action: np.ndarray) -> RISSLPConfiguration:
        """``x = sqrt(P/M) exp(j pi a_x)``, ``phi = exp(j pi a_phi)``: the modulus constraints hold by construction."""
        p = self.params
        phases = cis(np.pi * action)
        x = (p.amplitude * phases[:, : self.n_x]).reshape(-1, p.n_slots, p.n_tx)
        return RISSLPConfiguration(x, phases[:, self.n_x:])

    def decode(self, action, scenario, refs, previous):
        return self.config_from_action(action), {}

    def encode(self, config: RISSLPConfiguration) -> np.ndarray:
        """Phases of ``x`` and ``phi`` divided by pi (an absent RIS, ``phi = 0``, encodes as phase 0)."""
        ax = np.angle(np.asarray(config.x)).reshape(*np.shape(config.x)[:-2], -1) / np.pi
        return np.concatenate([ax, np.angle(np.asarray(config.phi)) / np.pi], axis=-1)

    # -- metrics, reward, observation ---------------------------------------------------
    def metrics(self, config, scenario, refs, aux=None) -> dict[str, np.ndarray]:
        p = self.params
        obj = self.objective(config, scenario)
        heff = ris_slp.effective_user_channels(scenario, config.phi)
        margins = ris_slp.ci_margins(p, scenario, config.x, config.phi,
                                     ris_slp.symbol_frame(p, scenario, config.x, config.phi, heff))
        sinr = np.min(ris_slp.ci_snr(p, margins), axis=-1)
        out = {"objective": obj, self.objective_name: obj, "sinr": sinr, "rate": np.log2(1.0 + sinr),
               "power": np.einsum("...lm,...lm->...", config.x, config.x.conj()).real / p.n_slots,
               "ci_margin_worst": np.max(margins, axis=-1) / p.qos_threshold}
        if self.task == "detection":
            out["radar_sinr_db"] = 10.0 * np.log10(np.maximum(obj, 1e-30))
        out["_margins"] = margins
        out["_heff"] = heff
        return out

    def violations(self, metrics, aux) -> dict[str, np.ndarray]:
        g = metrics["_margins"] / self.params.qos_threshold
        return {"qos": np.mean(np.maximum(g, 0.0), axis=(-2, -1))}

    def score(self, metrics, refs) -> np.ndarray:
        """``log``-normalised objective: 0 at the random anchor, 1 at the matched radar design."""
        obj = metrics["objective"]
        if self.task == "detection":  # maximised: score the inverse so log_score's orientation holds
            return log_score(1.0 / np.maximum(obj, 1e-300), 1.0 / np.maximum(refs["worst"], 1e-300),
                             1.0 / np.maximum(refs["target"], 1e-300))
        return log_score(obj, refs["worst"], refs["target"])

    def observe(self, metrics, violations, score, config, scenario, refs, prev_action) -> np.ndarray:
        heff = metrics["_heff"]
        # static part: symbols, direct channels, geometry (see references())
        parts = [refs["static_obs"], _normalised_rows(heff), prev_action, _signed_log(metrics["ci_margin_worst"]),
                 score[:, None]]
        return np.concatenate(parts, axis=-1)

    def config_dict(self, config) -> dict[str, np.ndarray]:
        return {"x": config.x, "phi": config.phi}


class RISSLPEnv(ISACEnv):
    """RIS-aided symbol-level precoding for ISAC: design the waveform and the RIS phases.

    **Description.** An M = 6 antenna BS (half-wavelength ULA) serves K = 3 single-antenna users
    with QPSK symbols over L = 20 slots through direct links and an N = 64 element RIS, and
    senses a target at 0 deg among Q = 3 clutters (range bins 0, 1, 2 at -60, -20, 45 deg). The
    agent chooses the constant-modulus waveform ``x`` (ML phases) and the RIS phases ``phi``
    (N phases). ``task="detection"`` (``ISAC-RIS-SLP-v0``) maximises the MVDR radar output SINR
    (eq. (21a) of seeds/003); ``task="doa"`` (``ISAC-RIS-SLP-DoA-v0``) minimises the CRB of the
    target's DoA seen from the BS and the RIS (eq. (41)). Every received symbol must lie in its
    constructive-interference region with SNR ``Gamma`` (eqs. (2), (19)). Physics:
    :mod:`isac_gym.physics.ris_slp`; spec ``ris_slp.md``.

    **Action space** ``Box(-1, 1, float32)`` of dimension ``M L + N`` (184):
    ``x = sqrt(P/M) exp(j pi a[:ML])`` (slot-major, ``[L, M]``) and ``phi = exp(j pi a[ML:])``;
    the modulus constraints hold by construction. This is the ``direct`` mode (the only one);
    ``env.unwrapped.encode(config)`` inverts it.

    **Observation** ``Box(-100, 100, float32)``, in this order:

    ==================================  ===============  ======================================
    entry                               size             scaling
    ==================================  ===============  ======================================
    symbols                             K L              PSK index / Omega
    direct user channels h_k^H (Re,Im)  2 K M            / RMS of the row
    effective channels at current phi   2 K M            ``h_k^H + h_rk^H Phi G``, / RMS
    target and clutter geometry         2 (Q+1)          sin of the BS and RIS angles
    previous action                     M L + N          raw (zeros after reset)
    worst CI margin per user            K                signed log1p of ``max_l g_kl / gamma``
    objective score                     1                log-normalised (see reward)
    ==================================  ===============  ======================================

    **Reward** ``f(metric) - w_qos mean_{k,l} max(0, g_kl) / gamma_kl``. ``f`` is the log of the
    metric normalised per scenario between a fixed random configuration (0) and a closed-form
    radar reference (1): the RIS phase-aligned to the strongest BS-RIS mode and the waveform
    matched to the resulting target response (the spec asks for the radar-only optimum as
    the upper anchor; solving it at every reset would cost seconds, so this cheap design stands
    in: optimised designs score above 1). The CI margins ``g_kl`` are in sqrt(W).

    **Episode.** A scenario (channels and a block of K x L symbols) is drawn at reset; no
    terminal states; truncated after ``max_episode_steps`` (100).

    **Info.** ``objective`` (radar SINR linear, or CRB rad^2) also under ``radar_sinr`` / ``crb``;
    ``sinr`` per user: the SNR the worst slot's symbol guarantees under the CI criterion
    (``ci_snr``; 0 outside the constructive region), ``rate`` = ``log2(1 + sinr)``, ``power``
    (W per slot, always P), ``ci_margin_worst``, ``violation``, ``feasible``, ``reward_terms``,
    ``config`` (``x``, ``phi``).

    **Arguments.** ``task`` ("detection" | "doa"), ``n_tx`` M (6), ``n_elements`` N (64),
    ``n_users`` K (3), ``n_slots`` L (20), ``psk_order`` Omega (4), ``p_max_dbm`` (50 for
    detection, 40 for DoA: the paper's Figs. 4 and 9), ``noise_dbm`` (-80), ``qos_db`` Gamma
    (10), ``w_qos`` (1), ``action_mode`` ("direct"), ``scenario``, ``scenario_seed``,
    ``render_mode`` (None | "ansi").

    **Paper.** RIS-aided symbol-level precoding for ISAC by model-driven learning (seeds/003).
    Geometry, channel models (Rician 10 dB BS-RIS) and the user disc follow spec ``ris_slp.md``.
    """

    system_class = RISSLPSystem


class RISSLPVectorEnv(ISACVectorEnv):
    """``num_envs`` :class:`RISSLPEnv` s in one batched call."""

    system_class = RISSLPSystem


def config_from_dict(d: dict[str, Any]) -> RISSLPConfiguration:
    """Build a configuration from ``info["config"]``."""
    return RISSLPConfiguration(np.asarray(d["x"], complex), np.asarray(d["phi"], complex))


