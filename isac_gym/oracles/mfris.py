"""The AO algorithm of [MF-RIS] (Algorithm 3), its SDR benchmark and the random baselines (docs/mfris.md).

Every AO iteration (reconstruction 2.c):

1. **Filter** (Lemma 1): each side's receive filter is the principal generalised eigenvector of
   ``(A_s, N_s)`` (:func:`isac_gym.physics.mfris.echo_filter`).
2. **Beams** (Algorithm 1): with the filters and coefficients fixed, the echo SINR of side s is
   ``||W^H a_s||^2 / (||W^H d_s||^2 + c_s)``; the quadratic transform (eqs. (27)-(30)) with
   ``y_s = W^H a_s / (||W^H d_s||^2 + c_s)`` makes it concave in W, the users' SINR constraints are
   linearised at the current beams (SCA, eq. (37)), and each step is the SOCP (38): BS budget, linearised
   rates, amplifier budget (36). A few transform/solve rounds per AO iteration.
3. **Coefficients** (Algorithm 2): the same transform in ``v_s = diag(Theta_s)`` (eqs. (40)-(42)), the users'
   SINR linearised in v (eqs. (46)-(48)), the amplifier budget and the protocol's amplitude set (eq. (49)):
   an SOCP in both sides' coefficients.

Every sub-step is accepted only when the exact objective (with the optimal filter) does not decrease and the
design stays feasible, so the objective history is non-decreasing (Prop. 1 of [MF-RIS]); the AO stops when the
relative gain falls below ``tol`` (1e-3) or after ``max_iterations`` (30). The ``oracle`` keeps the best of 4
random initialisations (:func:`best_of_starts`).

How each variant fits the convex steps: MS is solved as its ES relaxation, then the elements are ranked by their
reflection share and as many as the users need go to each side (:func:`round_modes`), and the AO continues with
the modes fixed (relax and round); TS weights the echo SINR and
the rates by the slot fractions and budgets each slot's amplifier output; the passive surfaces' equality sets
(unit gains, ``beta^r + beta^t = 1``) are relaxed to their convex hulls and each coefficient step is projected
back onto them. The comparison surfaces' echo passes the surface twice (quadratic in v); their coefficient step
keeps the return hop at the current coefficients (the acceptance test keeps it monotone).

Initialisation (Algorithm 3, step 1): random phases with the anchor amplitudes (evenly split full gains), then
the least-power beams meeting every rate (an exact SOCP), and the remaining BS power as radar streams in the
users' null space; when no random draw (nor :func:`aligned_coefficients`) meets the rates within the budget, a
phase I (the same SOCPs with slacks on the linearised rates, their sum minimised) finds a feasible start, and
only when that fails too is the design reported infeasible.

``sdr``: the same AO with both steps solved as semidefinite relaxations (the W step is tight; the coefficients
are drawn by Gaussian randomisation and projected onto the amplitude set). ``random_coefficients`` (the paper's
random baseline): random coefficients, the beams by Algorithm 1 with the filter alternation. ``random``: uniform
random actions, as in every id (ISAC-Bench's score-0 anchor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..physics import batching, mfris
from ..physics.beamforming import scale_onto_budget
from ..physics.mfris import MFRISConfiguration, MFRISParams, MFRISScenario
from .base import DONE, Design, Policy, RandomPolicy, solver_library
from .sdp import ProgramCache, extract_user_beams, solve_counted

cp = solver_library("cvxpy")

#: Relative margin on the SINR targets and budgets handed to the solvers, so results pass the env's check.
MARGIN = 1e-4
#: Feasibility tolerance of an accepted step (the env's own tolerance is 1e-6).
TOL = 1e-7


@dataclass(frozen=True)
class AOResult:
    """Outcome of :func:`alternating_optimisation` for one scenario.

    Attributes:
        config: the design (coefficients within the amplifier budget, so requested = effective).
        history: ``[iterations + 1]`` objective ``sum_s lambda_s gamma_s`` after each iteration (non-decreasing).
        iterations: AO iterations run; feasible: whether every rate and budget holds (physics check).
        solver_warnings: warnings raised by the convex solvers.
    """

    config: MFRISConfiguration
    history: np.ndarray
    iterations: int
    feasible: bool
    solver_warnings: int


# ---------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class _Point:
    config: MFRISConfiguration
    objective: float
    feasible: bool
    shortfall: float  # sum_k max(0, 1 - R_k / R_min)


def _assess(params: MFRISParams, scen: MFRISScenario, beams: np.ndarray, coef: np.ndarray) -> _Point:
    cfg = MFRISConfiguration(beams, coef)
    out = mfris.measure(params, scen, cfg)
    ok = bool(np.all(out.rate >= params.rate_min * (1.0 - TOL)))
    ok &= bool(out.bs_power <= params.p_bs_w * (1.0 + TOL))
    if params.amplified:
        ok &= bool(out.ris_requested <= params.p_ris_w * (1.0 + TOL))
    ok &= bool(mfris.amplitude_violation(params, coef) <= TOL)
    shortfall = float(np.maximum(0.0, 1.0 - out.rate / params.rate_min).sum())
    return _Point(cfg, float(out.objective), ok, shortfall)


def _better(new: _Point, old: _Point, feasibility: bool = False) -> bool:
    """Whether ``new`` improves on ``old``: feasibility first, then the objective (or, in phase I, the shortfall)."""
    if feasibility:
        return new.shortfall < old.shortfall * (1.0 - 1e-9)
    if new.feasible != old.feasible:
        return new.feasible
    return new.objective > old.objective


# ---------------------------------------------------------------------------------------- shared quantities
def _receive_operators(params: MFRISParams, scen: MFRISScenario, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signal receive operator ``R_s [2, Nrx, M]`` (``C_s = R_s Theta_s G W``) and noise operator ``[2, Nrx, M]``
    (amplification noise ``sigma_R^2 R'_s Theta_s Theta_s^H R'_s^H``). For the comparison surfaces the return
    hop is held at ``coef``."""
    if params.surface == "mf":
        return scen.sensing, scen.sensing
    gt = np.swapaxes(scen.g, -1, -2)  # [Nt, M]
    return gt[None] @ (coef[:, :, None] * scen.roundtrip), np.broadcast_to(gt, (2,) + gt.shape)


def _filters(params: MFRISParams, scen: MFRISScenario, beams: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Lemma 1: each side's optimal unit receive filter, ``[2, Nrx]``."""
    return mfris.echo_filter(*mfris.echo_operators(params, scen, coef, beams))


def _required_sinr(params: MFRISParams) -> np.ndarray:
    return params.sinr_min * (1.0 + MARGIN)


def _budget_factor() -> float:
    return 1.0 - MARGIN


# ---------------------------------------------------------------------------------------- beams (Algorithm 1)
def _beam_program(params: MFRISParams, feasibility: bool = False) -> dict[str, Any]:
    """SOCP (38); ``feasibility=True``: phase I, the linearised rates get slacks whose sum is minimised."""
    nt, s, k, m = params.n_tx, params.n_streams, params.n_users, params.n_elements
    w = cp.Variable((nt, s), complex=True)
    obj = cp.Parameter((nt, s), complex=True)
    dpen = cp.Parameter((2, nt), complex=True)
    hb = cp.Parameter((k, nt), complex=True)
    lin = cp.Parameter((k, nt), complex=True)
    const = cp.Parameter(k)
    gam = _required_sinr(params)
    slack = cp.Variable(k, nonneg=True) if feasibility else np.zeros(k)
    cons = [cp.sum_squares(w) <= params.p_bs_w * _budget_factor()]
    for i in range(k):
        mask = np.ones(s)
        mask[i] = 0.0
        interference = cp.sum_squares(cp.multiply(hb[i] @ w, mask))
        cons.append(2 * cp.real(lin[i] @ w[:, i]) - const[i] + slack[i] >= gam[i] * (interference + 1.0))
    amp = None
    if params.amplified:
        amp = [cp.Parameter((m, nt), complex=True) for _ in range(2)]
        rhs = cp.Parameter(2)
        if params.protocol == "TS":
            cons += [cp.sum_squares(amp[j] @ w) <= rhs[j] for j in range(2)]
        else:
            cons.append(cp.sum_squares(amp[0] @ w) + cp.sum_squares(amp[1] @ w) <= rhs[0])
        amp = (amp, rhs)
    objective = cp.Maximize(2 * cp.real(cp.sum(cp.multiply(obj, w))) - cp.sum_squares(dpen @ w))
    if feasibility:
        objective = cp.Minimize(cp.sum(slack))
    return {"w": w, "obj": obj, "dpen": dpen, "hb": hb, "lin": lin, "const": const, "amp": amp,
            "problem": cp.Problem(objective, cons)}


def _power_min_program(params: MFRISParams) -> dict[str, Any]:
    """Least-power user beams meeting every SINR (exact SOCP: the phase of ``h_k^H w_k`` is free)."""
    nt, k = params.n_tx, params.n_users
    wc = cp.Variable((nt, k), complex=True)
    hb = cp.Parameter((k, nt), complex=True)
    gam = np.sqrt(_required_sinr(params))
    cons = []
    for i in range(k):
        mask = np.ones(k)
        mask[i] = 0.0
        sig = hb[i] @ wc[:, i]
        cons += [cp.imag(sig) == 0,
                 cp.real(sig) >= gam[i] * cp.norm(cp.hstack([cp.multiply(hb[i] @ wc, mask), np.ones(1)]))]
    return {"w": wc, "hb": hb, "problem": cp.Problem(cp.Minimize(cp.sum_squares(wc)), cons)}


_BEAMS = ProgramCache(_beam_program)
_POWER_MIN = ProgramCache(_power_min_program)


def _user_rows(params: MFRISParams, scen: MFRISScenario, coef: np.ndarray) -> np.ndarray:
    """Rows ``h_bar_k / sqrt(nu_k)`` (``[K, Nt]``): user k's received amplitude per unit noise is ``h_bar_k w``."""
    c, nu = mfris.user_effective_channels(params, scen, coef)
    return np.conj(c) / np.sqrt(nu)[:, None]


def _null_space_radar(params: MFRISParams, rows: np.ndarray, power: float) -> np.ndarray:
    """Radar streams ``[Nt, Nt]`` of total power ``power`` that no user receives (the users' null space)."""
    nt = params.n_tx
    proj = np.eye(nt) - np.linalg.pinv(rows) @ rows
    norm = np.linalg.norm(proj)
    return np.zeros((nt, nt), complex) if norm < 1e-12 else np.sqrt(max(power, 0.0)) * proj / norm


def least_power_beams(params: MFRISParams, scen: MFRISScenario, coef: np.ndarray) -> tuple[np.ndarray | None, int]:
    """The least-power user beams ``W_c [Nt, K]`` meeting every rate with the coefficients ``coef`` (whatever their
    power), or None when no beams meet them."""
    prog = _POWER_MIN.get(params)
    prog["hb"].value = _user_rows(params, scen, coef)
    status, warned = solve_counted(prog["problem"], solver="CLARABEL")
    if status not in ("optimal", "optimal_inaccurate") or prog["w"].value is None:
        return None, warned
    return prog["w"].value, warned


def restore_beams(params: MFRISParams, scen: MFRISScenario, coef: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Beams meeting every rate with the coefficients ``coef``: the least-power user beams (SOCP), the rest of
    ``P_BS`` as null-space radar streams. ``None`` when the rates cannot be met within the budget."""
    wc, warned = least_power_beams(params, scen, coef)
    if wc is None:
        return None, warned
    rows = _user_rows(params, scen, coef)
    used = float(np.sum(np.abs(wc) ** 2))
    budget = params.p_bs_w * _budget_factor()
    if used > budget:
        return None, warned
    beams = np.concatenate([wc, _null_space_radar(params, rows, budget - used)], axis=1)
    # the amplifier output grows with the beams: scale the radar streams down if the budget would break
    if params.amplified:
        for _ in range(30):
            if _assess(params, scen, beams, coef).feasible:
                break
            beams[:, params.n_users:] *= 0.5
    return beams, warned


def _echo_terms(params: MFRISParams, scen: MFRISScenario, coef: np.ndarray, u: np.ndarray, beams: np.ndarray):
    """For fixed filters: ``a_s [2, Nt]``, ``d_s [2, Nt]`` and ``c_s [2]`` normalised so that
    ``gamma_s = ||W^H a_s||^2 / (||W^H d_s||^2 + 1)``."""
    p = params
    zero = np.zeros_like(beams)
    _, noise0 = mfris.echo_operators(p, scen, coef, zero)
    c = np.real(np.einsum("sn,snm,sm->s", np.conj(u), noise0, u))
    recv, _ = _receive_operators(p, scen, coef)
    # u^H R_s Theta_s G: a_s^H
    a_h = np.einsum("sn,snm,sm,mt->st", np.conj(u), recv, coef, scen.g)
    d_h = np.einsum("sn,snt->st", np.conj(u), scen.bs_sensor) if (p.surface == "mf" and p.bs_sensor_link) else \
        np.zeros((2, p.n_tx), complex)
    scale = 1.0 / np.sqrt(c)[:, None]
    return np.conj(a_h) * scale, np.conj(d_h) * scale


def beam_step(params: MFRISParams, scen: MFRISScenario, point: _Point, rounds: int = 3,
              feasibility: bool = False) -> tuple[_Point, int]:
    """Algorithm 1: quadratic transform + SCA SOCPs for W with the filters and coefficients fixed (``feasibility``:
    phase I, the rate shortfall is reduced instead)."""
    p = params
    prog = _BEAMS.get(p, feasibility)
    lam = p.slot_weights
    coef = point.config.coefficients
    u = _filters(p, scen, point.config.beams, coef)
    a, d = _echo_terms(p, scen, coef, u, point.config.beams)
    rows = _user_rows(p, scen, coef)
    prog["hb"].value = rows
    if prog["amp"] is not None:
        amp, rhs = prog["amp"]
        beta = np.abs(coef) ** 2
        for j in range(2):
            amp[j].value = np.sqrt(beta[j] / p.p_ris_w)[:, None] * scen.g
        per_slot = _budget_factor() - p.noise_ris_w * beta.sum(axis=-1) / p.p_ris_w
        shared = _budget_factor() - p.noise_ris_w * beta.sum() / p.p_ris_w
        rhs.value = per_slot if p.protocol == "TS" else np.array([shared, 0.0])  # ES/MS read the first entry
    best, warned = point, 0
    beams = point.config.beams
    for _ in range(rounds):
        wa = np.conj(beams).T @ a.T  # [S, 2]: W^H a_s
        den = np.sum(np.abs(np.conj(beams).T @ d.T) ** 2, axis=0) + 1.0
        y = wa / den  # [S, 2]
        prog["obj"].value = (np.conj(a).T * lam) @ y.T  # sum_s lam_s conj(a_s) y_s^T
        prog["dpen"].value = (np.sqrt(lam) * np.linalg.norm(y, axis=0))[:, None] * np.conj(d)
        sig = np.einsum("kt,tk->k", rows, beams[:, : p.n_users])
        prog["lin"].value = np.conj(sig)[:, None] * rows
        prog["const"].value = np.abs(sig) ** 2
        status, w_warn = solve_counted(prog["problem"], solver="CLARABEL")
        warned += w_warn
        if status not in ("optimal", "optimal_inaccurate") or prog["w"].value is None:
            break
        cand = _assess(p, scen, prog["w"].value, coef)
        if not _better(cand, best, feasibility):
            break
        best, beams = cand, cand.config.beams
        if feasibility and best.feasible:
            break
    return best, warned


# ---------------------------------------------------------------------------------------- coefficients (Algorithm 2)
def _coefficient_program(params: MFRISParams, shape: str, feasibility: bool = False) -> dict[str, Any]:
    """SOCP (49) over both sides' coefficients; ``feasibility=True``: phase I (slacks on the linearised rates)."""
    p = params
    m, s, k = p.n_elements, p.n_streams, p.n_users
    v = cp.Variable((2, m), complex=True)
    tv = cp.Parameter((2, m), complex=True)
    psi = cp.Parameter((2, m), nonneg=True)
    phis = [cp.Parameter((m, s), complex=True) for _ in range(k)]
    dk = cp.Parameter((k, m), nonneg=True)
    lin = cp.Parameter((k, m), complex=True)
    const = cp.Parameter(k)
    gam = _required_sinr(p)
    slack = cp.Variable(k, nonneg=True) if feasibility else np.zeros(k)
    cons = []
    for i in range(k):
        side = int(p.user_side[i])
        mask = np.ones(s)
        mask[i] = 0.0
        noise = cp.sum_squares(cp.multiply(v[side] @ phis[i], mask)) + cp.sum_squares(cp.multiply(dk[i], v[side]))
        cons.append(2 * cp.real(lin[i] @ v[side]) - const[i] + slack[i] >= gam[i] * (noise + 1.0))
    xi = None
    if p.amplified:
        xi = cp.Parameter(m, nonneg=True)
        loads = [cp.sum_squares(cp.multiply(xi, v[j])) for j in range(2)]
        if p.protocol == "TS":
            cons += [load <= _budget_factor() for load in loads]
        else:
            cons.append(loads[0] + loads[1] <= _budget_factor())
    ub = None
    if shape == "pair":  # ES and STAR: beta^r + beta^t <= bound per element
        bound = p.beta_max * (1.0 - MARGIN) if p.amplified else 1.0
        cons.append(cp.norm(v, 2, axis=0) <= np.sqrt(bound))
    else:  # per-side bounds (TS, fixed MS modes, split surfaces; 0 forces an unused side off)
        ub = cp.Parameter((2, m), nonneg=True)
        cons.append(cp.abs(v) <= ub)
    objective = cp.Maximize(2 * cp.real(cp.sum(cp.multiply(tv, v))) - cp.sum_squares(cp.multiply(psi, v)))
    if feasibility:
        objective = cp.Minimize(cp.sum(slack))
    return {"v": v, "tv": tv, "psi": psi, "phis": phis, "dk": dk, "lin": lin, "const": const, "xi": xi, "ub": ub,
            "problem": cp.Problem(objective, cons)}


_COEFFICIENTS = ProgramCache(_coefficient_program)


def _project(params: MFRISParams, coef: np.ndarray, modes: np.ndarray | None) -> np.ndarray:
    """Onto the amplitude set: passive unit gains, STAR ``beta^r + beta^t = 1``, MS modes; others unchanged."""
    p = params
    if p.surface == "passive":
        unit = np.where(np.abs(coef) > 1e-12, coef / np.maximum(np.abs(coef), 1e-300), 1.0)
        return unit * p.element_mask
    if p.surface == "star":
        total = np.sqrt((np.abs(coef) ** 2).sum(axis=0, keepdims=True))
        return np.where(total > 1e-12, coef / np.maximum(total, 1e-300), np.sqrt(0.5))
    if modes is not None:
        return coef * modes
    return coef


def _coefficient_terms(params: MFRISParams, scen: MFRISScenario, beams: np.ndarray, coef: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """With the Lemma-1 filters at ``(beams, coef)``: ``u^H R_s [2, M]`` (so ``u^H C_s = v_s^T (u^H R_s (.) G W)``),
    ``|u^H R'_s|^2 [2, M]`` (the amplification noise per unit gain) and the part ``e_s [2]`` of ``u^H N_s u`` that does
    not depend on the coefficients."""
    p = params
    u = _filters(p, scen, beams, coef)
    recv, recv_noise = _receive_operators(p, scen, coef)
    _, noise = mfris.echo_operators(p, scen, coef, beams)
    r_u = np.einsum("sn,snm->sm", np.conj(u), recv)
    rn = np.abs(np.einsum("sn,snm->sm", np.conj(u), recv_noise)) ** 2
    den = np.real(np.einsum("sn,snm,sm->s", np.conj(u), noise, u))
    return r_u, rn, den - p.noise_ris_w * (rn * np.abs(coef) ** 2).sum(axis=-1)


def _upper_bounds(params: MFRISParams, modes: np.ndarray | None) -> np.ndarray:
    p = params
    level = np.sqrt(p.beta_max * (1.0 - MARGIN)) if p.amplified else 1.0
    mask = p.element_mask if modes is None else modes
    return level * mask


def _shape(params: MFRISParams, modes: np.ndarray | None) -> str:
    if params.surface == "star" or (params.surface == "mf" and params.protocol in ("ES", "MS") and modes is None):
        return "pair"
    return "each"


def coefficient_step(params: MFRISParams, scen: MFRISScenario, point: _Point, modes: np.ndarray | None = None,
                     rounds: int = 3, feasibility: bool = False) -> tuple[_Point, int]:
    """Algorithm 2: quadratic transform + SCA SOCPs for both sides' coefficients (beams and filters fixed).

    ``modes [2, M]`` (0/1) fixes each element's side (MS after rounding); None leaves the protocol's set.
    """
    p = params
    shape = _shape(p, modes)
    prog = _COEFFICIENTS.get(p, shape, feasibility)
    lam = p.slot_weights
    beams = point.config.beams
    gw, xi = mfris.amplifier_load(p, scen.g, beams)  # [M, S], [M]
    sig_k = p.noise_user_w
    phis = np.conj(scen.h)[:, :, None] * gw[None] / np.sqrt(sig_k)  # [K, M, S]
    for i in range(p.n_users):
        prog["phis"][i].value = phis[i]
    own = phis[np.arange(p.n_users), :, np.arange(p.n_users)]  # [K, M]: user k's own stream
    prog["dk"].value = np.sqrt(p.noise_ris_w / sig_k) * np.abs(scen.h)
    if prog["xi"] is not None:
        prog["xi"].value = np.sqrt(xi / p.p_ris_w)
    if prog["ub"] is not None:
        prog["ub"].value = _upper_bounds(p, modes)
    best, warned = point, 0
    coef = point.config.coefficients
    for _ in range(rounds):
        beta = np.abs(coef) ** 2
        r_u, rn, e = _coefficient_terms(p, scen, beams, coef)
        q = r_u[:, :, None] * gw[None] / np.sqrt(e)[:, None, None]  # [2, M, S]: v^T q_i / sqrt(e)
        psi_n = p.noise_ris_w * rn / e[:, None]
        y = np.einsum("sm,smi->si", coef, q) / ((psi_n * beta).sum(axis=-1) + 1.0)[:, None]  # [2, S], eq. (29)
        prog["tv"].value = lam[:, None] * np.einsum("smi,si->sm", q, np.conj(y))
        prog["psi"].value = np.sqrt(lam[:, None] * psi_n) * np.linalg.norm(y, axis=-1)[:, None]
        diag = np.einsum("km,km->k", coef[p.user_side], own)
        prog["lin"].value = np.conj(diag)[:, None] * own
        prog["const"].value = np.abs(diag) ** 2
        status, w_warn = solve_counted(prog["problem"], solver="CLARABEL")
        warned += w_warn
        if status not in ("optimal", "optimal_inaccurate") or prog["v"].value is None:
            break
        new = _project(p, prog["v"].value, modes)
        cand = _assess(p, scen, beams, new)
        if not _better(cand, best, feasibility) and p.surface != "mf":
            cand = _assess(p, scen, beams, _project(p, 0.5 * (coef + new), modes))
        if not _better(cand, best, feasibility):
            break
        best, coef = cand, cand.config.coefficients
        if feasibility and best.feasible:
            break
    return best, warned


# ---------------------------------------------------------------------------------------- SDR steps
def sdr_beam_step(params: MFRISParams, scen: MFRISScenario, point: _Point) -> tuple[_Point, int]:
    """The W step as a semidefinite relaxation (user covariances ``R_k`` and a radar covariance ``R_0``), beams by
    :func:`~isac_gym.oracles.sdp.extract_user_beams` (every SINR kept; tight here since ``R_0`` has full rank)."""
    p = params
    nt, k = p.n_tx, p.n_users
    coef = point.config.coefficients
    u = _filters(p, scen, point.config.beams, coef)
    a, d = _echo_terms(p, scen, coef, u, point.config.beams)
    rows = _user_rows(p, scen, coef)
    out = mfris.measure(p, scen, point.config)
    tau = out.echo_sinr
    covs = [cp.Variable((nt, nt), hermitian=True) for _ in range(k + 1)]
    total = sum(covs)
    gam = _required_sinr(p)
    cons = [c >> 0 for c in covs] + [cp.real(cp.trace(total)) <= p.p_bs_w * _budget_factor()]
    for i in range(k):
        h = rows[i][:, None]  # received amplitude h_bar w = rows[i] @ w
        quad = [cp.real(cp.trace(np.conj(h) @ h.T @ c)) for c in covs]
        cons.append(quad[i] >= gam[i] * (sum(quad) - quad[i] + 1.0))
    if p.amplified:
        beta = np.abs(coef) ** 2
        loads = [cp.real(cp.trace((np.conj(scen.g).T * (beta[j] / p.p_ris_w)) @ scen.g @ total)) for j in range(2)]
        spare = _budget_factor() - p.noise_ris_w * beta.sum(axis=-1) / p.p_ris_w
        if p.protocol == "TS":
            cons += [loads[j] <= spare[j] for j in range(2)]
        else:
            cons.append(loads[0] + loads[1] <= _budget_factor() - p.noise_ris_w * beta.sum() / p.p_ris_w)
    lam = p.slot_weights
    obj = sum(lam[j] * (cp.real(cp.trace(np.outer(a[j], np.conj(a[j])) @ total))
                        - tau[j] * cp.real(cp.trace(np.outer(d[j], np.conj(d[j])) @ total))) for j in range(2))
    prob = cp.Problem(cp.Maximize(obj), cons)
    status, warned = solve_counted(prob, solver="CLARABEL")
    if status not in ("optimal", "optimal_inaccurate") or covs[0].value is None:
        return point, warned
    user_covs = np.stack([c.value for c in covs[:k]])
    beams = extract_user_beams(np.conj(rows), user_covs, sum(c.value for c in covs), nt)
    cand = _assess(p, scen, beams, coef)
    return (cand if _better(cand, point) else point), warned


def _clip_to_set(params: MFRISParams, coef: np.ndarray, modes: np.ndarray | None) -> np.ndarray:
    """Per-element amplitudes pulled into the amplitude set (randomised SDR candidates), ``[..., 2, M]``."""
    p = params
    if p.surface in ("passive", "star"):
        return _project(p, coef, None)
    if p.surface == "mf" and p.protocol in ("ES", "MS"):
        if p.protocol == "MS":
            refl = np.abs(coef[..., 0, :]) >= np.abs(coef[..., 1, :])
            coef = coef * np.stack([refl, ~refl], axis=-2)
        total = (np.abs(coef) ** 2).sum(axis=-2, keepdims=True)
        return coef * np.sqrt(np.minimum(1.0, p.beta_max * (1.0 - MARGIN) / np.maximum(total, 1e-300)))
    ub = _upper_bounds(p, modes)
    mag = np.abs(coef)
    return coef * np.minimum(1.0, ub / np.maximum(mag, 1e-300))


def sdr_coefficient_step(params: MFRISParams, scen: MFRISScenario, point: _Point, rng: np.random.Generator,
                         draws: int = 100) -> tuple[_Point, int]:
    """The coefficient step as a semidefinite relaxation in ``X_s = v_s v_s^H`` (Dinkelbach form of the
    echo SINR at the current values, rates exact in X), then Gaussian randomisation: ``draws`` candidates from
    ``CN(0, X)`` pulled into the amplitude set and onto the amplifier budget, the best feasible one kept."""
    p = params
    m = p.n_elements
    beams = point.config.beams
    coef = point.config.coefficients
    gw, xi = mfris.amplifier_load(p, scen.g, beams)
    r_u, rn, e = _coefficient_terms(p, scen, beams, coef)
    tau = mfris.measure(p, scen, point.config).echo_sinr
    # only the diagonal blocks X_r, X_t enter the problem, so two m x m PSD blocks relax it exactly as one 2m x 2m
    unit = [cp.Variable((m, m), hermitian=True) for _ in range(2)]  # X_s / beta_max: entries of order one
    cons = [x >> 0 for x in unit]
    xs = [p.beta_max * x for x in unit]
    lam = p.slot_weights
    obj = 0
    for j in range(2):
        q = r_u[j][:, None] * gw  # [M, S]: u^H C = v^T q_i
        big = np.conj(q) @ q.T / e[j] - tau[j] * np.diag(p.noise_ris_w * rn[j] / e[j])
        obj = obj + lam[j] * cp.real(cp.trace(big @ xs[j]))
    gam = _required_sinr(p)
    for i in range(p.n_users):
        j = int(p.user_side[i])
        phi = np.conj(scen.h[i])[:, None] * gw / np.sqrt(p.noise_user_w)  # [M, S]
        others = np.delete(phi, i, axis=1)
        interference = np.conj(others) @ others.T + np.diag(p.noise_ris_w * np.abs(scen.h[i]) ** 2 / p.noise_user_w)
        signal = np.outer(np.conj(phi[:, i]), phi[:, i])
        cons.append(cp.real(cp.trace((signal - gam[i] * interference) @ xs[j])) >= gam[i])
    dg = [cp.real(cp.diag(x)) for x in xs]
    if p.amplified:
        loads = [(xi / p.p_ris_w) @ dg[j] for j in range(2)]
        if p.protocol == "TS":
            cons += [load <= _budget_factor() for load in loads]
        else:
            cons.append(loads[0] + loads[1] <= _budget_factor())
    if p.surface == "star":
        cons.append(dg[0] + dg[1] == 1.0)
    elif p.surface == "passive":
        cons += [dg[j] == p.element_mask[j] for j in range(2)]
    elif p.surface == "mf" and p.protocol in ("ES", "MS"):
        cons.append(dg[0] + dg[1] <= p.beta_max * (1.0 - MARGIN))
    else:
        ub = _upper_bounds(p, None) ** 2
        cons += [dg[j] <= ub[j] for j in range(2)]
    status, warned = solve_counted(cp.Problem(cp.Maximize(obj), cons), solver="SCS")
    if status not in ("optimal", "optimal_inaccurate") or unit[0].value is None:
        return point, warned
    z = (rng.standard_normal((draws, 2, m)) + 1j * rng.standard_normal((draws, 2, m))) / np.sqrt(2.0)
    roots = []
    for x in unit:
        w, vecs = np.linalg.eigh(0.5 * p.beta_max * (x.value + np.conj(x.value).T))
        roots.append(vecs * np.sqrt(np.maximum(w, 0.0)))
    cands = _clip_to_set(p, np.einsum("smn,dsn->dsm", np.stack(roots), z), None)
    if p.amplified:  # onto the amplifier budget
        side = (np.abs(cands) ** 2 * xi).sum(axis=-1)
        factor, _ = mfris.amplifier_scale(p, side)
        cands = cands * np.sqrt(factor * (1.0 - MARGIN))[..., None]
    best = point
    batch = batching.broadcast(scen, draws)
    out = mfris.measure(p, batch, MFRISConfiguration(np.broadcast_to(beams, (draws,) + beams.shape), cands))
    ok = np.all(out.rate >= p.rate_min * (1.0 - TOL), axis=-1)
    order = np.argsort(np.where(ok, -out.objective, np.inf))
    for idx in order[:3]:
        if not ok[idx]:
            break
        cand = _assess(p, scen, beams, cands[idx])
        if _better(cand, best):
            best = cand
            break
    return best, warned


# ---------------------------------------------------------------------------------------- Algorithm 3
def initial_coefficients(params: MFRISParams, rng: np.random.Generator) -> np.ndarray:
    """Random phases with the anchor gains (:func:`~isac_gym.physics.mfris.anchor_gains`), ``[2, M]``."""
    beta = mfris.anchor_gains(params) * ((1.0 - MARGIN) if params.amplified else 1.0)
    return np.sqrt(beta) * np.exp(1j * rng.uniform(0.0, 2.0 * np.pi, beta.shape))


def round_modes(params: MFRISParams, scen: MFRISScenario, point: _Point) -> tuple[_Point, np.ndarray, int]:
    """MS rounding of an ES design: elements ranked by their reflection share ``beta^r / (beta^r + beta^t)``, the top
    ``M_r`` reflect and the rest refract at their ES gain. ``M_r`` is the plain rounding's count when its design
    meets every rate (beams restored if needed), else the nearest count that does: summing the echo SINR
    tends to hand every element to one side, and the other side's users still need elements."""
    coef = point.config.coefficients
    beta = np.abs(coef) ** 2
    share = beta[0] / np.maximum(beta.sum(axis=0), 1e-300)
    order = np.argsort(-share, kind="stable")
    natural = int(np.sum(share >= 0.5))
    m = params.n_elements
    counts = sorted(range(m + 1), key=lambda n: (abs(n - natural), n))
    warned = 0
    fallback = None
    for n in counts:
        refl = np.zeros(m, dtype=bool)
        refl[order[:n]] = True
        modes = np.stack([refl, ~refl]).astype(float)
        # an element keeps its total gain on the side it serves
        mag = np.sqrt(beta.sum(axis=0))
        phase = np.where(refl, np.angle(coef[0]), np.angle(coef[1]))
        new = modes * (mag * np.exp(1j * phase))
        cand = _assess(params, scen, point.config.beams, new)
        if not cand.feasible:
            beams, w = restore_beams(params, scen, new)
            warned += w
            if beams is not None:
                cand = _assess(params, scen, beams, new)
        if cand.feasible:
            return cand, modes, warned
        fallback = fallback or (cand, modes)
    return fallback[0], fallback[1], warned


def _relaxed(params: MFRISParams) -> MFRISParams:
    """MS solved first as its ES relaxation."""
    return replace(params, protocol="ES") if params.surface == "mf" and params.protocol == "MS" else params


def aligned_coefficients(params: MFRISParams, scen: MFRISScenario) -> np.ndarray:
    """The anchor gains with phases that make each user's cascaded channel coherent along its own transmit direction:
    a side's elements are dealt round-robin to its users, and an element of user k takes the phase
    ``angle(h_{k,m}) - angle((G b_k)_m)`` with ``b_k`` the k-th right singular vector of G. Users then see nearly
    orthogonal channels (G's line-of-sight part is rank one, so aligning every user along it makes their channels
    collinear and the rates costly). ``[2, M]``."""
    p = params
    _, _, vh = np.linalg.svd(scen.g)
    gb = scen.g @ np.conj(vh[np.arange(p.n_users) % vh.shape[0]]).T  # [M, K]: (G b_k)_m
    owner = np.zeros((2, p.n_elements), dtype=np.intp)
    for side in range(2):
        users = np.flatnonzero(p.user_side == side)
        if users.size:
            owner[side] = users[np.arange(p.n_elements) % users.size]
    m = np.arange(p.n_elements)
    phase = np.angle(scen.h[owner, m]) - np.angle(gb[m, owner])
    beta = mfris.anchor_gains(p) * ((1.0 - MARGIN) if p.amplified else 1.0)
    return np.sqrt(beta) * np.exp(1j * phase)


def _start(params: MFRISParams, scen: MFRISScenario, rng: np.random.Generator, tries: int,
           phase_one: int = 20) -> tuple[_Point, int]:
    """Algorithm 3's start: random phases (then the aligned phases) until the least-power beams meet every rate
    within ``P_BS``. When none does, phase I: from the start with the smallest rate shortfall (its least-power
    beams scaled onto the budget), beam and coefficient SOCPs with slacks on the linearised rates reduce the
    shortfall until it vanishes (at most ``phase_one`` rounds)."""
    p = params
    warned = 0
    best = None
    for attempt in range(tries + 1):
        coef = initial_coefficients(p, rng) if attempt < tries else aligned_coefficients(p, scen)
        wc, w = least_power_beams(p, scen, coef)
        warned += w
        if wc is not None and np.sum(np.abs(wc) ** 2) <= p.p_bs_w * _budget_factor():
            beams, w = restore_beams(p, scen, coef)
            warned += w
            if beams is not None:
                point = _assess(p, scen, beams, coef)
                if point.feasible:
                    return point, warned
        budget = p.p_bs_w * _budget_factor()
        if wc is not None:
            beams = np.zeros((p.n_tx, p.n_streams), complex)
            beams[:, : p.n_users] = wc
            beams = scale_onto_budget(beams, budget)
        else:
            beams = mfris.isotropic_radar(p, budget)
        cand = _assess(p, scen, beams, coef)
        best = cand if best is None or _better(cand, best, feasibility=True) else best
    point = best
    for _ in range(phase_one):
        before = point.shortfall
        point, w = beam_step(p, scen, point, feasibility=True)
        warned += w
        if not point.feasible:
            point, w = coefficient_step(p, scen, point, feasibility=True)
            warned += w
        if point.feasible or point.shortfall >= before * (1.0 - 1e-6):
            break
    if point.feasible:  # the least-power beams and null-space radar streams for the coefficients found
        beams, w = restore_beams(p, scen, point.config.coefficients)
        warned += w
        if beams is not None:
            cand = _assess(p, scen, beams, point.config.coefficients)
            point = cand if cand.feasible else point
    return point, warned


def _iterate(params, scen, point, steps, max_iterations, tol) -> tuple[_Point, list[float], int, int]:
    history = [point.objective]
    warned = 0
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        before = point.objective
        for step in steps:
            point, w = step(point)
            warned += w
        history.append(point.objective)
        if point.objective - before <= tol * max(abs(before), 1e-300):
            break
    return point, history, iterations, warned


def alternating_optimisation(params: MFRISParams, scen: MFRISScenario, rng: np.random.Generator,
                             max_iterations: int = 30, tol: float = 1e-3, method: str = "socp",
                             optimise_coefficients: bool = True, tries: int = 3) -> AOResult:
    """Algorithm 3 of [MF-RIS] on one (unbatched) scenario (``method="socp"``, or ``"sdr"`` for the benchmark).

    Returns the final design with its objective history (non-decreasing).
    """
    p = params
    relaxed = _relaxed(p)
    point, warned = _start(relaxed, scen, rng, tries)
    if not point.feasible:
        final = _assess(p, scen, point.config.beams, _clip_to_set(p, point.config.coefficients, None))
        return AOResult(final.config, np.array([final.objective]), 0, False, warned)

    def steps_for(prm, modes=None):
        if method == "sdr":
            out = [lambda pt: sdr_beam_step(prm, scen, pt)]
            if optimise_coefficients:
                out.append(lambda pt: sdr_coefficient_step(prm, scen, pt, rng))
            return out
        out = [lambda pt: beam_step(prm, scen, pt)]
        if optimise_coefficients:
            out.append(lambda pt: coefficient_step(prm, scen, pt, modes))
        return out

    point, history, iterations, w = _iterate(relaxed, scen, point, steps_for(relaxed), max_iterations, tol)
    warned += w
    if relaxed is not p:  # MS: round each element to one side, then the AO with the modes fixed
        point, modes, w = round_modes(p, scen, point)
        warned += w
        history = [point.objective]
        if point.feasible:
            point, history, it2, w = _iterate(p, scen, point, steps_for(p, modes), max_iterations, tol)
            iterations += it2
            warned += w
    return AOResult(point.config, np.asarray(history), iterations, point.feasible, warned)


def best_of_starts(params: MFRISParams, scen: MFRISScenario, rng: np.random.Generator, starts: int,
                   **kwargs: Any) -> AOResult:
    """:func:`alternating_optimisation` from ``starts`` random initialisations; the feasible result with the largest
    objective is kept (its own history is returned; iterations and warnings are summed over the starts)."""
    results = [alternating_optimisation(params, scen, rng, **kwargs) for _ in range(starts)]
    best = max(results, key=lambda r: (r.feasible, r.history[-1]))
    return replace(best, iterations=sum(r.iterations for r in results),
                   solver_warnings=sum(r.solver_warnings for r in results))


# ---------------------------------------------------------------------------------------- policies
class AOPolicy(Policy):
    """The AO of [MF-RIS] (``oracle``): Lemma-1 filters, SOCP beam and coefficient steps, best of ``starts`` random
    initialisations (the AO converges to a local optimum; 4 starts cost about 4 times one)."""

    name = "oracle"
    success_status = "converged"
    method = "socp"
    optimise_coefficients = True
    default_starts = 4

    def __init__(self, env: Any, seed: int | None = None, max_iterations: int = 30, tol: float = 1e-3,
                 starts: int | None = None):
        super().__init__(env, seed)
        self.max_iterations = max_iterations
        self.tol = tol
        self.starts = self.default_starts if starts is None else int(starts)
        if self.starts < 1:
            raise ValueError(f"starts must be an integer >= 1, got {starts!r}")
        self.last: AOResult | None = None

    def design(self, scenario: MFRISScenario) -> Design:
        res = best_of_starts(self.system.params, scenario, self.rng, self.starts, max_iterations=self.max_iterations,
                             tol=self.tol, method=self.method, optimise_coefficients=self.optimise_coefficients)
        self.last = res
        return Design(res.config, DONE if res.feasible else "infeasible", max(res.iterations, 1),
                      res.solver_warnings)


class SDRPolicy(AOPolicy):
    """The paper's SDR benchmark: the same AO with both steps as semidefinite relaxations (at most 5 iterations:
    each coefficient SDP takes seconds at the defaults)."""

    name = "sdr"
    success_status = "baseline"
    slow = True  # 11-76 s per scenario at the defaults (docs/performance.md)
    method = "sdr"
    default_starts = 1

    def __init__(self, env: Any, seed: int | None = None, max_iterations: int = 5, tol: float = 1e-3,
                 starts: int | None = None):
        super().__init__(env, seed, max_iterations, tol, starts)


class RandomCoefficientsPolicy(AOPolicy):
    """Random coefficients (random phases, full gains evenly split), beams by Algorithm 1 with the filters."""

    name = "random_coefficients"
    success_status = "baseline"
    optimise_coefficients = False
    default_starts = 1


def policies(system: Any) -> dict[str, type[Policy]]:
    """The AO oracle, the SDR benchmark, the paper's random coefficients and uniformly random actions."""
    return {"oracle": AOPolicy, "sdr": SDRPolicy, "random_coefficients": RandomCoefficientsPolicy,
            "random": RandomPolicy}
