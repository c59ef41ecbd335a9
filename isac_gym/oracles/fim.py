"""Oracle and baselines of ISAC-FIM-v0 (spec fim.md, "Oracle and baselines").

``oracle``: alternating optimisation. For fixed shapes the CRB-minimising beamforming under the
SINR and power constraints of problem (20) of seeds/000 is a semidefinite program in the
covariances ``R_k`` (users) and ``R_s`` (sensing): the Fisher matrix is linear in ``R``, the CRB
is bounded through Schur complements, and each SINR constraint is linear. For a fixed W the
element positions are improved by coordinate search over the ``2 y_max/step + 1`` levels. The
alternation stops when the CRB improves by less than ``tol`` (relative).

The SDP is a DPP-parametrised cvxpy problem (:class:`_CRBProgram`): canonicalised once per
(Nt, K, gamma) and re-solved with new parameter values, which cuts each solve ~3x.

Numerics: the SDP is solved in scaled units (R in units of P_max, SINR rows divided by
``||h_k||^2 P_max / sigma_k^2``, the nuisance alpha in units of ``|alpha|``, the Fisher matrix in
units of ``2T|alpha|^2 P_max Nt Nr / sigma_r^2``) and with steering phases referred to the array
centroids, which leaves the angle CRB unchanged (a common phase is absorbed by alpha) and
removes the large common phase slope of the 6-lambda transmit offset.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from ..physics import fim
from ..physics.arrays import steering_with_derivatives
from .base import Policy, RandomPolicy

#: SINR targets are solved for with this relative margin so rank-one extraction stays feasible.
SINR_MARGIN = 1e-3


@dataclass
class SDPResult:
    beams: np.ndarray  # [Nt, K + Nr]
    crb: float
    status: str


def centred_steering(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray,
                     y_rx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steering sets with phases referred to each array's centroid (same angle CRB, better conditioned)."""
    def centred(xz, y):
        return xz - xz.mean(axis=1, keepdims=True), y - y.mean()

    lam = params.wavelength
    tx = steering_with_derivatives(*centred(params.tx_xz, y_tx), scenario.target_phi, scenario.target_theta, lam)
    rx = steering_with_derivatives(*centred(params.rx_xz, y_rx), scenario.target_phi, scenario.target_theta, lam)
    return tx, rx


class _CRBProgram:
    """The beamforming SDP as a DPP-parametrised cvxpy problem, canonicalised once and re-solved.

    Parameters carry everything that depends on the scenario and the shapes: the matrices
    ``Psi_ij = (A_j^H A_i)^T / (Nt Nr)`` with ``Tr(A_i R A_j^H) = sum(R o Psi_ij)`` (A, A_phi, A_theta
    in centroid-referred phases), the users' normalised ``(h_k h_k^H)^T / ||h_k||^2`` and the
    noise terms ``sigma_k^2 / (P_max ||h_k||^2)``. R is in units of P_max.
    """

    PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))

    def __init__(self, nt: int, k_users: int, gamma: float):
        self.psi = {ij: cp.Parameter((nt, nt), complex=True) for ij in self.PAIRS}
        self.hh = [cp.Parameter((nt, nt), complex=True) for _ in range(k_users)]
        self.noise = cp.Parameter(k_users, nonneg=True)
        self.r_users = [cp.Variable((nt, nt), hermitian=True) for _ in range(k_users)]
        self.r_sense = cp.Variable((nt, nt), hermitian=True)
        r_total = sum(self.r_users) + self.r_sense
        t = {ij: cp.sum(cp.multiply(r_total, self.psi[ij])) for ij in self.PAIRS}
        t00 = cp.real(t[0, 0])
        f_thth = cp.bmat([[cp.real(t[1, 1]), cp.real(t[1, 2])], [cp.real(t[1, 2]), cp.real(t[2, 2])]])
        f_tha = cp.bmat([[cp.real(t[0, 1]), -cp.imag(t[0, 1])], [cp.real(t[0, 2]), -cp.imag(t[0, 2])]])
        z = cp.Variable((2, 2), symmetric=True)
        tvar = cp.Variable(2)
        big = cp.bmat([[f_thth - z, f_tha], [f_tha.T, cp.bmat([[t00, 0], [0, t00]])]])
        cons = [0.5 * (big + big.T) >> 0]  # Z <= Schur complement of F_aa: CRB <= Tr(Z^-1) <= t_1 + t_2
        eye = np.eye(2)
        for i in range(2):
            cons.append(cp.bmat([[z, eye[:, i:i + 1]], [eye[i:i + 1, :], cp.reshape(tvar[i], (1, 1), order="F")]]) >> 0)
        cons += [r >> 0 for r in self.r_users] + [self.r_sense >> 0, cp.real(cp.trace(r_total)) <= 1.0]
        for k in range(k_users):
            sig = cp.real(cp.sum(cp.multiply(self.r_users[k], self.hh[k])))
            interf = cp.real(cp.sum(cp.multiply(r_total - self.r_users[k], self.hh[k])))
            cons.append(sig >= gamma * interf + gamma * self.noise[k])
        self.problem = cp.Problem(cp.Minimize(cp.sum(tvar)), cons)

    _cache: dict[tuple, _CRBProgram] = {}

    @classmethod
    def get(cls, nt: int, k_users: int, gamma: float) -> _CRBProgram:
        key = (nt, k_users, round(gamma, 12))
        if key not in cls._cache:
            cls._cache[key] = cls(nt, k_users, gamma)
        return cls._cache[key]


def _trace_operators(tx: np.ndarray, rx: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """``Psi_ij = (A_j^H A_i)^T`` so that ``Tr(A_i R A_j^H) = sum(R o Psi_ij)``; ``A_0 = b a^H``,
    ``A_i = b_i a^H + b a_i^H`` (eqs. (11)-(12) of seeds/000)."""
    mats = [np.outer(rx[0], np.conj(tx[0]))]
    for i in (1, 2):
        mats.append(np.outer(rx[i], np.conj(tx[0])) + np.outer(rx[0], np.conj(tx[i])))
    return {(i, j): (mats[j].conj().T @ mats[i]).T for i, j in _CRBProgram.PAIRS}


def sdp_beamforming(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray, y_rx: np.ndarray,
                    margin: float = SINR_MARGIN, solver: str = "CLARABEL") -> SDPResult:
    """CRB-minimising beamformer for fixed shapes (SDP relaxation + rank-one user beams).

    Returns the beamformer ``W = [w_1..w_K, W_R]`` with ``w_k = R_k h_k / sqrt(h_k^H R_k h_k)`` and
    ``W_R`` a square root of ``R - sum_k w_k w_k^H`` (kept to its ``Nr`` strongest directions),
    which reproduces the SDP's SINRs and covariance exactly.
    """
    nt, k_users = params.n_tx, params.n_users
    geom = fim.geometry(params, scenario)
    kin = fim.kinematics(geom, y_tx, y_rx)
    h = kin.channels  # [K, Nt]
    tx, rx = centred_steering(params, scenario, y_tx, y_rx)
    program = _CRBProgram.get(nt, k_users, params.gamma * (1.0 + margin))
    scale = 1.0 / (nt * params.n_rx)
    for ij, op in _trace_operators(tx, rx).items():
        program.psi[ij].value = scale * op
    hn2 = np.sum(np.abs(h) ** 2, axis=-1)
    for k in range(k_users):
        program.hh[k].value = np.outer(h[k], np.conj(h[k])).T / hn2[k]  # h^H R h = sum(R o (h h^H)^T)
    program.noise.value = params.noise_user_w / (params.p_max_w * hn2)
    prob = program.problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prob.solve(solver=solver)
        except cp.SolverError:
            return SDPResult(np.zeros((nt, params.n_streams), complex), float("inf"), "solver_error")
    if prob.status not in ("optimal", "optimal_inaccurate") or program.r_sense.value is None:
        return SDPResult(np.zeros((nt, params.n_streams), complex), float("inf"), str(prob.status))
    p = params.p_max_w
    rk = [p * _psd(r.value) for r in program.r_users]
    rs = p * _psd(program.r_sense.value)
    beams = _extract_beams(params, h, rk, rs)
    cfg = fim.FIMConfiguration(beams, y_tx, y_rx)
    crb = float(fim.evaluate(params, geom, cfg)["crb"])
    return SDPResult(beams, crb, str(prob.status))


def _psd(m: np.ndarray) -> np.ndarray:
    m = 0.5 * (m + m.conj().T)
    w, v = np.linalg.eigh(m)
    return (v * np.maximum(w, 0.0)) @ v.conj().T


def _extract_beams(params: fim.FIMParams, h: np.ndarray, rk: list[np.ndarray], rs: np.ndarray) -> np.ndarray:
    nt, k_users = params.n_tx, params.n_users
    beams = np.zeros((nt, params.n_streams), complex)
    total = rs + sum(rk)
    for k in range(k_users):
        g = float(np.real(np.conj(h[k]) @ rk[k] @ h[k]))
        if g > 0:
            beams[:, k] = rk[k] @ h[k] / np.sqrt(g)
    rest = _psd(total - beams[:, :k_users] @ beams[:, :k_users].conj().T)
    w, v = np.linalg.eigh(rest)
    order = np.argsort(w)[::-1][: params.n_rx]
    beams[:, k_users: k_users + len(order)] = v[:, order] * np.sqrt(np.maximum(w[order], 0.0))
    power = np.sum(np.abs(beams) ** 2)
    if power > params.p_max_w:
        beams *= np.sqrt(params.p_max_w / power)
    return beams


def zf_fallback(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray, y_rx: np.ndarray) -> np.ndarray:
    """A feasible beamformer whenever one with ZF exists: ZF user beams at the SINR target (times 1.01),
    the remaining power on the target direction projected orthogonally to the users (no interference)."""
    geom = fim.geometry(params, scenario)
    kin = fim.kinematics(geom, y_tx, y_rx)
    h = kin.channels
    hm = h.T  # [Nt, K]
    zf = hm @ np.linalg.pinv(np.conj(h) @ hm)
    zf = zf / np.linalg.norm(zf, axis=0, keepdims=True)
    gains = np.abs(np.sum(np.conj(h.T) * zf, axis=0)) ** 2
    powers = 1.01 * params.gamma * params.noise_user_w / np.maximum(gains, 1e-300)
    beams = np.zeros((params.n_tx, params.n_streams), complex)
    beams[:, : params.n_users] = zf * np.sqrt(powers)
    rest = params.p_max_w - powers.sum()
    if rest > 0:
        a = kin.tx_set[0]
        orth = a - zf @ np.linalg.lstsq(zf, a, rcond=None)[0]
        n = np.linalg.norm(orth)
        if n > 1e-9:
            beams[:, params.n_users] = orth / n * np.sqrt(rest)
    return beams


def _feasible(params, geom, cfg) -> tuple[bool, float]:
    m = fim.evaluate(params, geom, cfg)
    ok = bool(np.all(m["sinr"] >= params.gamma * (1 - 1e-7)) and m["power"] <= params.p_max_w * (1 + 1e-9))
    return ok, float(m["crb"])


def feasible_beamforming(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray,
                         y_rx: np.ndarray) -> tuple[np.ndarray, float]:
    """SDP beamforming, checked after extraction and repaired: re-solve with a larger margin, then with
    SCS, then fall back to :func:`zf_fallback`. Returns ``(W, CRB)`` of the best feasible candidate."""
    geom = fim.geometry(params, scenario)
    for margin, solver in ((SINR_MARGIN, "CLARABEL"), (1e-2, "CLARABEL"), (1e-2, "SCS")):
        res = sdp_beamforming(params, scenario, y_tx, y_rx, margin=margin, solver=solver)
        if np.isfinite(res.crb):
            ok, crb = _feasible(params, geom, fim.FIMConfiguration(res.beams, y_tx, y_rx))
            if ok:
                return res.beams, crb
    beams = zf_fallback(params, scenario, y_tx, y_rx)
    return beams, _feasible(params, geom, fim.FIMConfiguration(beams, y_tx, y_rx))[1]


def shape_search(params: fim.FIMParams, scenario: fim.FIMScenario, beams: np.ndarray, y_tx: np.ndarray,
                 y_rx: np.ndarray, move_tx: bool, move_rx: bool, max_moves: int = 200, keep_qos: bool = True):
    """Coordinate search over element levels for a fixed W (best single move at a time).

    Every candidate (one element at one level) is evaluated in one batched call; a move is taken
    when it lowers the CRB and (with ``keep_qos``) keeps every SINR at or above gamma.
    Returns ``(y_tx, y_rx, crb)``.
    """
    geom = fim.geometry(params, scenario)
    levels = np.arange(-params.max_level, params.max_level + 1) * params.step_m
    nt, nr = params.n_tx, params.n_rx
    movable = np.r_[np.full(nt, move_tx), np.full(nr, move_rx)]
    elems = np.flatnonzero(movable)
    y = np.r_[y_tx, y_rx]
    crb = float(fim.evaluate(params, geom, fim.FIMConfiguration(beams, y_tx, y_rx))["crb"])
    if elems.size == 0:
        return y_tx, y_rx, crb
    for _ in range(max_moves):
        cand = np.repeat(y[None, :], elems.size * levels.size, axis=0)
        rows = np.arange(cand.shape[0])
        cand[rows, np.repeat(elems, levels.size)] = np.tile(levels, elems.size)
        m = fim.evaluate(params, geom, fim.FIMConfiguration(beams, cand[:, :nt], cand[:, nt:]))
        ok = np.all(m["sinr"] >= params.gamma * (1 + 1e-6), axis=-1) if keep_qos else np.ones(len(cand), bool)
        score = np.where(ok, m["crb"], np.inf)
        best = int(np.argmin(score))
        if not score[best] < crb * (1 - 1e-9):
            break
        y, crb = cand[best], float(score[best])
    return y[:nt].copy(), y[nt:].copy(), crb


def alternating(params: fim.FIMParams, scenario: fim.FIMScenario, move_tx: bool = True, move_rx: bool = True,
                tol: float = 1e-3, max_rounds: int = 8,
                start: fim.FIMConfiguration | None = None) -> fim.FIMConfiguration:
    """Alternate SDP beamforming and coordinate shape search until the CRB improves by < ``tol``.

    Starts from flat arrays, or from the shapes of ``start``.
    """
    if start is None:
        y_tx, y_rx = np.zeros(params.n_tx), np.zeros(params.n_rx)
    else:
        y_tx, y_rx = np.array(start.y_tx, float), np.array(start.y_rx, float)
    beams, crb = feasible_beamforming(params, scenario, y_tx, y_rx)
    for _ in range(max_rounds):
        if not (move_tx or move_rx):
            break
        # (a) moves that keep the current W feasible, then re-solve the beams for the new shapes
        new_tx, new_rx, crb_shape = shape_search(params, scenario, beams, y_tx, y_rx, move_tx, move_rx)
        new_beams, crb_new = feasible_beamforming(params, scenario, new_tx, new_rx)
        if crb_new > crb_shape:  # keep the searched shapes with the old (still feasible) beams
            new_beams, crb_new = beams, crb_shape
        if move_tx:
            # (b) transmit moves change the user channels, so QoS-tight beams block most of them:
            # search them ignoring QoS and let the SDP restore it, keeping whichever is better
            rel_tx, rel_rx, _ = shape_search(params, scenario, beams, y_tx, y_rx, True, move_rx, keep_qos=False)
            rel_beams, rel_crb = feasible_beamforming(params, scenario, rel_tx, rel_rx)
            if rel_crb < crb_new:
                new_tx, new_rx, new_beams, crb_new = rel_tx, rel_rx, rel_beams, rel_crb
        if crb_new >= crb:
            break
        improvement = (crb - crb_new) / crb
        y_tx, y_rx, beams, crb = new_tx, new_rx, new_beams, crb_new
        if improvement < tol:
            break
    return fim.FIMConfiguration(beams, y_tx, y_rx)


class _FIMSolver(Policy):
    move_tx = True
    move_rx = True

    def __init__(self, env: Any, seed: int | None = None, tol: float = 1e-3, max_rounds: int = 8):
        super().__init__(env, seed)
        self.tol, self.max_rounds = tol, max_rounds

    def solve(self, scenario: fim.FIMScenario) -> fim.FIMConfiguration:
        return alternating(self.unwrapped.system.params, scenario, self.move_tx, self.move_rx, self.tol,
                           self.max_rounds)


class OraclePolicy(_FIMSolver):
    """Joint transmit/receive shaping + SDP beamforming (the classical reference).

    The search is local, so it runs from two starts and keeps the lower CRB: flat arrays (where
    receive moves dominate) and the transmit-only solution (transmit moves are the ones QoS
    constraints block, so shaping that side first can reach a different basin).
    """

    name = "oracle"

    def solve(self, scenario: fim.FIMScenario) -> fim.FIMConfiguration:
        params = self.unwrapped.system.params
        geom = fim.geometry(params, scenario)
        tx_first = alternating(params, scenario, True, False, self.tol, self.max_rounds)
        candidates = [alternating(params, scenario, True, True, self.tol, self.max_rounds),
                      alternating(params, scenario, True, True, self.tol, self.max_rounds, start=tx_first)]
        crbs = [float(fim.evaluate(params, geom, c)["crb"]) for c in candidates]
        return candidates[int(np.argmin(crbs))]


class RigidPolicy(_FIMSolver):
    """SDP beamforming with flat (rigid) arrays, the paper's RA baseline."""

    name = "rigid"
    move_tx = move_rx = False


class TxOnlyPolicy(_FIMSolver):
    """Only the transmit FIM morphs."""

    name = "tx_only"
    move_rx = False


class RxOnlyPolicy(_FIMSolver):
    """Only the receive FIM morphs."""

    name = "rx_only"
    move_tx = False


POLICIES = {"oracle": OraclePolicy, "rigid": RigidPolicy, "tx_only": TxOnlyPolicy, "rx_only": RxOnlyPolicy,
            "random": RandomPolicy}
