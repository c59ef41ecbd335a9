"""Oracle and baselines of ISAC-FIM-v0 (docs/fim.md, "Oracle and baselines").

``oracle``: alternating optimisation. For fixed shapes the CRB-minimising beamforming under the
SINR and power constraints of problem (20) of [FIM] is a semidefinite program in the
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

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import fim
from ..physics.arrays import steering_with_derivatives
from ..physics.beamforming import scale_onto_budget, unit_columns, zf_directions
from .base import DONE, Design, Policy, RandomPolicy, solver_library
from .sdp import ProgramCache, crb_epigraph, extract_user_beams, hermitian_psd, psd_part, solve_counted

cp = solver_library("cvxpy")

#: SINR targets are solved for with this relative margin so rank-one extraction stays feasible.
SINR_MARGIN = 1e-3


@dataclass(frozen=True)
class SDPResult:
    """One SDP solve: the extracted beamformer ``[Nt, K + Nr]``, its CRB (inf when the solve failed),
    the solver's status and the warnings it raised."""

    beams: np.ndarray
    crb: float
    status: str
    solver_warnings: int = 0


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
        self.r_users = hermitian_psd(nt, k_users)
        self.r_sense = hermitian_psd(nt)[0]
        r_total = sum(self.r_users) + self.r_sense
        t = {ij: cp.sum(cp.multiply(r_total, self.psi[ij])) for ij in self.PAIRS}
        t00 = cp.real(t[0, 0])
        f_thth = cp.bmat([[cp.real(t[1, 1]), cp.real(t[1, 2])], [cp.real(t[1, 2]), cp.real(t[2, 2])]])
        f_tha = cp.bmat([[cp.real(t[0, 1]), -cp.imag(t[0, 1])], [cp.real(t[0, 2]), -cp.imag(t[0, 2])]])
        tvar, cons = crb_epigraph(f_thth, f_tha, cp.bmat([[t00, 0], [0, t00]]), 2)  # CRB <= t_1 + t_2
        cons += [r >> 0 for r in self.r_users] + [self.r_sense >> 0, cp.real(cp.trace(r_total)) <= 1.0]
        for k in range(k_users):
            sig = cp.real(cp.sum(cp.multiply(self.r_users[k], self.hh[k])))
            interf = cp.real(cp.sum(cp.multiply(r_total - self.r_users[k], self.hh[k])))
            cons.append(sig >= gamma * interf + gamma * self.noise[k])
        self.problem = cp.Problem(cp.Minimize(cp.sum(tvar)), cons)


#: Canonicalised programs by (Nt, K, gamma): bounded, so sweeps over many gammas do not grow memory.
PROGRAMS = ProgramCache(_CRBProgram, maxsize=8)


def _trace_operators(tx: np.ndarray, rx: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """``Psi_ij = (A_j^H A_i)^T`` so that ``Tr(A_i R A_j^H) = sum(R o Psi_ij)``; ``A_0 = b a^H``,
    ``A_i = b_i a^H + b a_i^H`` (eqs. (11)-(12) of [FIM])."""
    mats = [np.outer(rx[0], np.conj(tx[0]))]
    for i in (1, 2):
        mats.append(np.outer(rx[i], np.conj(tx[0])) + np.outer(rx[0], np.conj(tx[i])))
    return {(i, j): (mats[j].conj().T @ mats[i]).T for i, j in _CRBProgram.PAIRS}


def sdp_beamforming(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray, y_rx: np.ndarray,
                    margin: float = SINR_MARGIN, solver: str = "CLARABEL") -> SDPResult:
    """CRB-minimising beamformer for fixed shapes (SDP relaxation + rank-one user beams).

    Returns the beamformer ``W = [w_1..w_K, W_R]`` with ``w_k = R_k h_k / sqrt(h_k^H R_k h_k)`` and
    ``W_R`` a square root of ``R - sum_k w_k w_k^H`` (kept to its ``Nr`` strongest directions),
    which reproduces the SDP's SINRs and covariance when the relaxation is tight.
    """
    nt, k_users = params.n_tx, params.n_users
    geom = fim.geometry(params, scenario)
    kin = fim.kinematics(geom, y_tx, y_rx)
    h = kin.channels  # [K, Nt]
    tx, rx = centred_steering(params, scenario, y_tx, y_rx)
    program = PROGRAMS.get(nt, k_users, round(params.gamma * (1.0 + margin), 12))
    scale = 1.0 / (nt * params.n_rx)
    for ij, op in _trace_operators(tx, rx).items():
        program.psi[ij].value = scale * op
    hn2 = np.sum(np.abs(h) ** 2, axis=-1)
    for k in range(k_users):
        program.hh[k].value = np.outer(h[k], np.conj(h[k])).T / hn2[k]  # h^H R h = sum(R o (h h^H)^T)
    program.noise.value = params.noise_user_w / (params.p_max_w * hn2)
    status, n_warn = solve_counted(program.problem, solver=solver)
    if status not in ("optimal", "optimal_inaccurate") or program.r_sense.value is None:
        return SDPResult(np.zeros((nt, params.n_streams), complex), float("inf"), status, n_warn)
    p = params.p_max_w
    rk = np.stack([p * psd_part(r.value) for r in program.r_users])
    rs = p * psd_part(program.r_sense.value)
    beams = scale_onto_budget(extract_user_beams(h, rk, rs + rk.sum(axis=0), params.n_rx), p)
    crb = float(fim.evaluate(params, geom, fim.FIMConfiguration(beams, y_tx, y_rx))["crb"])
    return SDPResult(beams, crb, status, n_warn)


def zf_fallback(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray, y_rx: np.ndarray) -> np.ndarray:
    """A beamformer that meets every constraint whenever ZF can: ZF user beams at the SINR target
    (times 1.01), the remaining power on the target direction projected orthogonally to the users.
    When the ZF powers exceed the budget the beams are scaled onto it (then the QoS is missed and the
    caller reports it): the budget is never exceeded."""
    geom = fim.geometry(params, scenario)
    kin = fim.kinematics(geom, y_tx, y_rx)
    h = kin.channels
    zf = unit_columns(zf_directions(h, 1e-12 * np.mean(np.sum(np.abs(h) ** 2, axis=-1))))
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
    return scale_onto_budget(beams, params.p_max_w)


def check_constraints(params: fim.FIMParams, geom: fim.FIMGeometry, cfg: fim.FIMConfiguration) -> tuple[bool, float]:
    """``(every SINR >= gamma and ||W||^2 <= P_max, CRB)``: the checks after extraction (the final verdict
    of a :class:`~isac_gym.oracles.base.Solution` is the env's own ``evaluate``)."""
    m = fim.evaluate(params, geom, cfg)
    ok = bool(np.all(m["sinr"] >= params.gamma * (1 - 1e-7)) and m["power"] <= params.p_max_w * (1 + 1e-9))
    return ok, float(m["crb"])


@dataclass(frozen=True)
class BeamResult:
    """Beamforming for fixed shapes: ``W``, its CRB, whether it passed the checks, how it was obtained."""

    beams: np.ndarray
    crb: float
    feasible: bool
    status: str  # "done" (first solve), "repaired" (a re-solve or the ZF fall-back), "failed"
    solver_warnings: int


def feasible_beamforming(params: fim.FIMParams, scenario: fim.FIMScenario, y_tx: np.ndarray,
                         y_rx: np.ndarray) -> BeamResult:
    """SDP beamforming, checked after extraction and repaired: re-solve with a larger margin, then with
    SCS, then fall back to :func:`zf_fallback`. The first candidate that passes every check wins; when
    none does, the ZF fall-back (on the budget) is returned with ``feasible=False``."""
    geom = fim.geometry(params, scenario)
    warn = 0
    for attempt, (margin, solver) in enumerate(((SINR_MARGIN, "CLARABEL"), (1e-2, "CLARABEL"), (1e-2, "SCS"))):
        res = sdp_beamforming(params, scenario, y_tx, y_rx, margin=margin, solver=solver)
        warn += res.solver_warnings
        if np.isfinite(res.crb):
            ok, crb = check_constraints(params, geom, fim.FIMConfiguration(res.beams, y_tx, y_rx))
            if ok:
                return BeamResult(res.beams, crb, True, DONE if attempt == 0 else "repaired", warn)
    beams = zf_fallback(params, scenario, y_tx, y_rx)
    ok, crb = check_constraints(params, geom, fim.FIMConfiguration(beams, y_tx, y_rx))
    return BeamResult(beams, crb, ok, "repaired" if ok else "failed", warn)


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
                tol: float = 1e-3, max_rounds: int = 8, start: fim.FIMConfiguration | None = None) -> Design:
    """Alternate SDP beamforming and coordinate shape search until the CRB improves by < ``tol``.

    Starts from flat arrays, or from the shapes of ``start``. Every accepted round keeps a beamformer
    that passed the checks, so the status is that of the first beamforming unless a later one needed repair.
    """
    if start is None:
        y_tx, y_rx = np.zeros(params.n_tx), np.zeros(params.n_rx)
    else:
        y_tx, y_rx = np.array(start.y_tx, float), np.array(start.y_rx, float)
    best = feasible_beamforming(params, scenario, y_tx, y_rx)
    warn, rounds, status = best.solver_warnings, 0, best.status
    for _ in range(max_rounds):
        if not (move_tx or move_rx) or not best.feasible:
            break
        rounds += 1
        # (a) moves that keep the current W feasible, then re-solve the beams for the new shapes
        new_tx, new_rx, crb_shape = shape_search(params, scenario, best.beams, y_tx, y_rx, move_tx, move_rx)
        cand = feasible_beamforming(params, scenario, new_tx, new_rx)
        warn += cand.solver_warnings
        if not cand.feasible or cand.crb > crb_shape:  # keep the searched shapes with the old (still feasible) beams
            cand = BeamResult(best.beams, crb_shape, True, best.status, 0)
        if move_tx:
            # (b) transmit moves change the user channels, so QoS-tight beams block most of them:
            # search them ignoring QoS and let the SDP restore it, keeping whichever is better
            rel_tx, rel_rx, _ = shape_search(params, scenario, best.beams, y_tx, y_rx, True, move_rx, keep_qos=False)
            rel = feasible_beamforming(params, scenario, rel_tx, rel_rx)
            warn += rel.solver_warnings
            if rel.feasible and rel.crb < cand.crb:
                new_tx, new_rx, cand = rel_tx, rel_rx, rel
        if cand.crb >= best.crb:
            break
        improvement = (best.crb - cand.crb) / best.crb
        y_tx, y_rx, best = new_tx, new_rx, cand
        if best.status == "repaired":
            status = "repaired"
        if improvement < tol:
            break
    return Design(fim.FIMConfiguration(best.beams, y_tx, y_rx), status, rounds, warn)


class _FIMSolver(Policy):
    move_tx = True
    move_rx = True

    def __init__(self, env: Any, seed: int | None = None, tol: float = 1e-3, max_rounds: int = 8):
        super().__init__(env, seed)
        self.tol, self.max_rounds = tol, max_rounds

    def design(self, scenario: fim.FIMScenario) -> Design:
        return alternating(self.system.params, scenario, self.move_tx, self.move_rx, self.tol, self.max_rounds)


class OraclePolicy(_FIMSolver):
    """Joint transmit/receive shaping + SDP beamforming (the classical reference).

    The search is local, so it runs from two starts and keeps the lower CRB among the designs that
    passed every check: flat arrays (where receive moves dominate) and the transmit-only solution
    (transmit moves are the ones QoS constraints block, so shaping that side first can reach
    another basin).
    """

    name = "oracle"
    success_status = "converged"

    def design(self, scenario: fim.FIMScenario) -> Design:
        params = self.system.params
        geom = fim.geometry(params, scenario)
        tx_first = alternating(params, scenario, True, False, self.tol, self.max_rounds)
        candidates = [alternating(params, scenario, True, True, self.tol, self.max_rounds),
                      alternating(params, scenario, True, True, self.tol, self.max_rounds, start=tx_first.config)]

        def rank(design: Design) -> tuple[bool, float]:  # designs that pass every check first, then the CRB
            ok, crb = check_constraints(params, geom, design.config)
            return not ok, crb

        best = min(candidates, key=rank)
        warn = sum(c.solver_warnings for c in candidates) + tx_first.solver_warnings
        iters = sum(c.iterations for c in candidates) + tx_first.iterations
        return Design(best.config, best.status, iters, warn)


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


def policies(system: Any) -> dict[str, type[Policy]]:
    """The oracle and baselines of ISAC-FIM-v0."""
    return {"oracle": OraclePolicy, "rigid": RigidPolicy, "tx_only": TxOnlyPolicy, "rx_only": RxOnlyPolicy,
            "random": RandomPolicy}
