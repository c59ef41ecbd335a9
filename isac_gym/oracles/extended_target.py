"""Oracles of ISAC-ET-v0: the SDR of the CRB-min problem, SCA for the WIM problem and the paper's baselines ([ET]).

Every problem is stated in an orthonormal basis of the span of the vectors its data see (patch steering vectors
and their derivatives, user channels; :func:`~isac_gym.oracles.beam_sdp.span_basis`) and solved exactly through
its Lagrangian dual with CVXOPT (:mod:`isac_gym.oracles.beam_sdp`). The Fisher matrix enters as linear functionals
of the covariance, built from the one physics implementation (:func:`fim_functionals`).

* ``sdr`` (the ``oracle`` for ``problem="crb"``): eq. (29), the Schur-complement LMI ``[[U, I, 0], [I, J_eta,
  J_eta,alpha], [0, ., J_alpha]] >= 0`` minimising ``tr(U)``, SINR and power rows, the coverage rows (15) added by
  constraint generation (``m <= E_q <= eps m``, exact at termination); rank-one beams
  ``w_k = W_k h_k / sqrt(h_k^H W_k h_k)`` keep every SINR.
* ``sca`` (the ``oracle`` for ``problem="wim"``): Algorithm 1, the DC split of the sum rate (eqs. (31)-(37)) with
  the interference terms linearised; the concave ``log2`` of each user's received power is kept exact through
  tangent cuts (a polyhedral outer model refined at every iterate); a step is accepted only if the exact WIM
  objective decreases, so the history is monotone.
* ``pt_centric``: maximise ``a_o^H R_x a_o`` toward the ET centre under the SINR and power constraints.
* ``avg_coverage``: maximise ``min_q a_q^H R_x a_q`` over the visible patch directions under the same constraints.
* ``random``: uniformly random actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..physics import batching
from ..physics import extended_target as et
from ..physics.beamforming import scale_onto_budget
from ..physics.extended_target import ETConfiguration
from .base import DONE, Design, Policy, RandomPolicy
from .beam_sdp import BeamSDP, solve_beam_sdp, span_basis, symmetric_units
from .sdp import extract_user_beams

#: Relative margins the solvers keep inside the SINR, coverage and power constraints (interior-point accuracy).
SINR_MARGIN = 1e-4
COVERAGE_MARGIN = 1e-3
POWER_MARGIN = 1e-7
#: Most constraint-generation rounds for the coverage rows, and the patches added per round at each extreme.
MAX_COVERAGE_ROUNDS = 20
COVERAGE_ROWS_PER_ROUND = 2
#: Singular values of the normalised steering sets and channels kept in the span basis, relative to the largest.
#: The beams are restricted to that subspace and every quadratic form is exact for them; dropping the directions
#: below 1e-4 (39 -> about 27 of the 64 dimensions at the defaults) makes each SDP about 2.5 times faster and
#: moved tr(CRB) and the WIM objective by under 1e-5 relative on the seeds tried (against 1e-6).
SPAN_TOL = 1e-4


# ---------------------------------------------------------------------------------------- problem data
@dataclass(frozen=True)
class ReducedScenario:
    """One scenario's data in a span basis ``U [Nt, r]``: visible-patch Grams, channels, the FIM functionals."""

    basis: np.ndarray  # [Nt, r]
    geometry: et.ETGeometry  # the visible patches only (B = 1)
    transforms: np.ndarray  # [Q, 3, r]: S_q^H U (rows a, da/dtheta, da/dphi)
    channels: np.ndarray  # [K, r]: U^H h_k
    channels_full: np.ndarray  # [K, Nt]
    power: float


def reduce(params: et.ETParams, scenario: et.ETScenario, geom: et.ETGeometry, extra: np.ndarray | None = None,
           tol: float = SPAN_TOL) -> ReducedScenario:
    """The span basis of the visible patches' steering sets and the user channels (``extra`` columns replace the
    patch sets, e.g. the centre's steering vector) at relative tolerance ``tol`` (:data:`SPAN_TOL`), and the data
    expressed in it."""
    mask = scenario.visible
    sub = et.select_patches(geom, mask)
    sets = et.steering_sets(params, sub)[0]  # [Q, 3, Nt]
    columns = sets.reshape(-1, sets.shape[-1]).T if extra is None else extra
    u = span_basis(np.concatenate([columns, scenario.channels.T], axis=1), tol)
    transforms = np.conj(sets) @ u
    return ReducedScenario(u, sub, transforms, scenario.channels.conj() @ u, scenario.channels, params.p_max_w)


def fim_functionals(params: et.ETParams, red: ReducedScenario) -> np.ndarray:
    """Hermitian ``M [6, 6, r, r]`` with ``Phi_ij(R_x) = tr(M_ij Y)`` for ``R_x = P U Y U^H``, where ``Phi`` is the
    normalised full Fisher matrix of :func:`~isac_gym.physics.extended_target.normalised_fim` (evaluated on a
    Hermitian basis of ``Y``: the physics function itself, no second copy of the equations)."""
    t = red.transforms  # [Q, 3, r]
    r = t.shape[-1]
    # gram of R = P U E_ab U^H: G_ij = P t_ia conj(t_jb)
    gab = red.power * np.einsum("qia,qjb->abqij", t, np.conj(t))
    iu, ju = np.triu_indices(r, 1)
    grams = np.concatenate([gab[np.arange(r), np.arange(r)], gab[iu, ju] + gab[ju, iu],
                            1j * (gab[iu, ju] - gab[ju, iu])], axis=0)
    phi = et.normalised_fim(params, red.geometry, grams)  # [r^2, 6, 6]
    m = np.zeros((6, 6, r, r), complex)
    diag = phi[:r]
    m[..., np.arange(r), np.arange(r)] = np.moveaxis(diag, 0, -1)
    off = 0.5 * (phi[r: r + iu.size] + 1j * phi[r + iu.size:])
    m[..., iu, ju] = np.moveaxis(off, 0, -1)
    m[..., ju, iu] = np.conj(np.moveaxis(off, 0, -1))
    return m


@dataclass(frozen=True)
class CRBLMI:
    """The Schur-complement LMI of eq. (28) in scaled units: ``lmi_r``, ``lmi_basis``, ``lmi_y`` (the 10 entries of
    ``U``), ``lmi_const`` and ``weights`` ``omega_i`` with ``tr(CRB) <= sum_i omega_i U_ii``."""

    lmi_r: np.ndarray
    lmi_basis: np.ndarray
    lmi_y: np.ndarray
    lmi_const: np.ndarray
    u_pairs: list
    weights: np.ndarray

    def trace_cost(self, scale: float) -> np.ndarray:
        """Cost of the entries of ``U`` for ``scale * sum_i omega_i U_ii`` (``scale * tr(CRB)`` at optimality)."""
        return np.array([scale * self.weights[i] if i == j else 0.0 for i, j in self.u_pairs])


def crb_lmi(params: et.ETParams, red: ReducedScenario) -> CRBLMI:
    """``[[U, I4, 0], [I4, Phi_eta, Phi_eta,alpha], [0, ., Phi_alpha]] >= 0`` with ``Phi`` Jacobi-scaled at the
    isotropic covariance, so every entry is of order one; ``U >= (scaled EFIM)^-1``."""
    m = fim_functionals(params, red)
    r = m.shape[-1]
    iso = np.real(np.trace(m, axis1=-2, axis2=-1)) / r
    d = np.sqrt(np.where(np.diag(iso) > 0, np.diag(iso), 1.0))
    m = m / (d[:, None, None, None] * d[None, :, None, None])
    basis, pairs = symmetric_units(10, 4, 6)
    lmi_r = np.stack([m[i, j] for i, j in pairs])
    lmi_y, u_pairs = symmetric_units(10, 0, 4)
    const = np.zeros((10, 10))
    const[:4, 4:8] = const[4:8, :4] = -np.eye(4)  # the constant I blocks sit on the left: F + sum y F_i - D >= 0
    omega = 1.0 / (red.geometry.snr_factor[0] * d[:4] ** 2)
    return CRBLMI(lmi_r, basis, lmi_y, const, u_pairs, omega)


class _Rows:
    """Rows ``tr(A R) + [u = k] tr(B Y_k) + g^T y >= b`` collected for a :class:`BeamSDP`."""

    def __init__(self, r: int, n_y: int):
        self.r, self.n_y = r, n_y
        self.a, self.bu, self.u, self.g, self.b = [], [], [], [], []

    def add(self, a: np.ndarray, b: float, user: int = -1, bu: np.ndarray | None = None,
            g: np.ndarray | None = None) -> None:
        self.a.append(a)
        self.bu.append(np.zeros((self.r, self.r), complex) if bu is None else bu)
        self.u.append(user)
        self.g.append(np.zeros(self.n_y) if g is None else g)
        self.b.append(b)

    def problem(self, k_users: int, cost: np.ndarray, c: np.ndarray, lmi: CRBLMI | None = None) -> BeamSDP:
        extra = {}
        if lmi is not None:
            n_y = c.size
            lmi_y = np.zeros((n_y,) + lmi.lmi_y.shape[1:])
            lmi_y[: lmi.lmi_y.shape[0]] = lmi.lmi_y
            extra = {"lmi_r": lmi.lmi_r, "lmi_basis": lmi.lmi_basis, "lmi_y": lmi_y, "lmi_const": lmi.lmi_const}
        return BeamSDP(k_users, cost, c, np.array(self.a, complex), np.array(self.bu, complex),
                       np.array(self.u), np.array(self.g, float).reshape(len(self.b), self.n_y),
                       np.array(self.b, float), **extra)


def _outer(v: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...j->...ij", v, np.conj(v))


def _add_sinr_and_power(rows: _Rows, params: et.ETParams, red: ReducedScenario) -> None:
    """``(1 + 1/Gamma) h_k^H W_k h_k >= h_k^H R h_k + sigma^2`` (eq. (28a)) and ``tr(R) <= P_T``, with R = P U Y U^H.

    ``h_k^H X h_k = tr(X h_k h_k^H)``; in the basis ``h_k`` becomes ``U^H h_k``.
    """
    power = red.power
    gamma = params.sinr_min * (1.0 + SINR_MARGIN)
    hh = _outer(np.conj(red.channels))  # U^H h h^H U (rows of red.channels are h^H U)
    for k in range(params.n_users):
        rows.add(-power * hh[k], params.noise_user_w, user=k, bu=(1.0 + 1.0 / gamma) * power * hh[k])
    rows.add(-np.eye(rows.r, dtype=complex), -(1.0 - POWER_MARGIN))


def _beams_from_blocks(red: ReducedScenario, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """User covariances ``W_k = P U Y_k U^H`` ``[K, Nt, Nt]`` and the rank-one beams that keep their SINRs."""
    u = red.basis
    covs = red.power * (u @ blocks @ np.conj(u.T))
    beams = extract_user_beams(red.channels_full, covs, covs.sum(axis=0), 0)
    return covs, scale_onto_budget(beams, red.power)


def _coverage_violation(params: et.ETParams, red: ReducedScenario, cov: np.ndarray) -> tuple[float, list[int]]:
    """Coverage ratio of a covariance over the visible patches, and the patches to add as rows: the
    ``COVERAGE_ROWS_PER_ROUND`` most and least illuminated ones."""
    a = red.geometry.steering[0]
    energy = np.real(np.einsum("qn,nm,qm->q", np.conj(a), cov, a))
    order = np.argsort(energy)
    n = COVERAGE_ROWS_PER_ROUND
    return float(energy.max() / max(energy.min(), 1e-300)), [int(q) for q in np.concatenate([order[-n:], order[:n]])]


def _energy_unit(params: et.ETParams, red: ReducedScenario) -> float:
    """``P_T Nt``, the largest beam energy: auxiliary energy variables are measured in it (order one for the
    interior-point solver)."""
    return red.power * params.n_tx


def _add_coverage(rows: _Rows, params: et.ETParams, red: ReducedScenario, patches: list[int], n_y: int) -> None:
    """Coverage rows of eq. (15) for the generated patches: ``m <= E_q <= eps m`` with the last y entry ``m``."""
    eps = params.coverage_eps * (1.0 - COVERAGE_MARGIN)
    unit = _energy_unit(params, red)
    for q in patches:
        a = red.power * _outer(np.conj(red.transforms[q, 0]))  # U^H a_q a_q^H U
        g_low, g_up = np.zeros(n_y), np.zeros(n_y)
        g_low[-1], g_up[-1] = -unit, eps * unit
        rows.add(a, 0.0, g=g_low)
        rows.add(-a, 0.0, g=g_up)


# ---------------------------------------------------------------------------------------- policies
class _ETSolver(Policy):
    """Shared set-up: the scenario batched, its geometry, and the fall-back."""

    def _prepare(self, scenario: et.ETScenario) -> tuple[et.ETParams, et.ETScenario, et.ETGeometry]:
        params = self.system.params
        scen = batching.stack([scenario])
        return params, scenario, et.geometry(params, scen)

    def _fallback(self, scenario: et.ETScenario, iterations: int, solver_status: str = "") -> Design:
        """MRT beams at equal power (inside the budget), reported as ``infeasible`` when the solver certified that
        the problem has no feasible point (CVXOPT's dual of it is unbounded), else as ``failed``."""
        params = self.system.params
        h = scenario.channels
        beams = (h / np.linalg.norm(h, axis=-1, keepdims=True)).T * math.sqrt(params.p_max_w / params.n_users)
        status = "infeasible" if solver_status == "dual infeasible" else "failed"
        return Design(ETConfiguration(beams), status=status, iterations=iterations)


class SDROracle(_ETSolver):
    """SDR of the CRB-min problem (eq. (29)) with rank-one extraction; coverage rows by constraint generation."""

    name = "sdr"
    success_status = "optimal"

    def design(self, scenario: et.ETScenario) -> Design:
        params, scen, geom = self._prepare(scenario)
        red = reduce(params, scen, geom)
        lmi = crb_lmi(params, red)
        r = red.basis.shape[1]
        n_u = len(lmi.u_pairs)
        generated: list[int] = []
        result = None
        for round_ in range(1, MAX_COVERAGE_ROUNDS + 1):
            n_y = n_u + (1 if generated else 0)
            rows = _Rows(r, n_y)
            _add_sinr_and_power(rows, params, red)
            _add_coverage(rows, params, red, generated, n_y)
            c = np.zeros(n_y)
            c[:n_u] = lmi.trace_cost(1.0 / lmi.weights.max())
            result = solve_beam_sdp(rows.problem(params.n_users, np.zeros((params.n_users, r, r), complex), c, lmi))
            if result.status != "optimal":
                return self._fallback(scenario, round_, result.status)
            covs, beams = _beams_from_blocks(red, result.blocks)
            ratio, extremes = _coverage_violation(params, red, covs.sum(axis=0))
            if ratio <= params.coverage_eps or round_ == MAX_COVERAGE_ROUNDS:
                break
            generated += [q for q in extremes if q not in generated]
        return Design(ETConfiguration(beams), iterations=round_)


class _EnergyBaseline(_ETSolver):
    """Maximise ``min_q tr(A_q R)`` over a set of directions under the SINR and power constraints (no coverage)."""

    def directions(self, params: et.ETParams, scenario: et.ETScenario, geom: et.ETGeometry) -> np.ndarray:
        raise NotImplementedError

    def design(self, scenario: et.ETScenario) -> Design:
        params, scen, geom = self._prepare(scenario)
        vectors = self.directions(params, scen, geom)  # [D, Nt]
        red = reduce(params, scen, geom, extra=vectors.T)
        r = red.basis.shape[1]
        rows = _Rows(r, 1)
        _add_sinr_and_power(rows, params, red)
        tilde = np.conj(vectors) @ red.basis  # a^H U
        for v in tilde:
            rows.add(red.power * _outer(np.conj(v)), 0.0, g=np.array([-_energy_unit(params, red)]))
        result = solve_beam_sdp(rows.problem(params.n_users, np.zeros((params.n_users, r, r), complex),
                                             np.array([-1.0])))
        if result.status != "optimal":
            return self._fallback(scenario, 1, result.status)
        _, beams = _beams_from_blocks(red, result.blocks)
        return Design(ETConfiguration(beams), iterations=1)


class PointCentric(_EnergyBaseline):
    """``pt_centric``: maximise the beam energy ``a_o^H R_x a_o`` toward the ET centre (the paper's PT-centric)."""

    name = "pt_centric"

    def directions(self, params, scenario, geom):
        eta = scenario.kinematics
        dirs = et.azimuth_elevation_cosines(eta[1], eta[2])
        return et.steering_set(params.tx_positions, dirs, params.wavelength)[:1]


class AverageCoverage(_EnergyBaseline):
    """``avg_coverage``: maximise the least beam energy over the visible patch directions (the paper's baseline [21],
    the ET's shape ignored beyond its directions)."""

    name = "avg_coverage"

    def directions(self, params, scenario, geom):
        return geom.steering[0, scenario.visible]


class SCAOracle(_ETSolver):
    """Algorithm 1 of [ET] for the WIM problem (eq. (30)): SCA on the DC form of the sum rate, rank-one extraction.

    ``history`` holds the exact WIM objective of the relaxed iterates of the last solve (non-increasing).
    """

    name = "sca"
    success_status = "converged"
    max_iterations = 15
    tolerance = 1e-3
    n_cuts = 8

    def design(self, scenario: et.ETScenario) -> Design:
        params, scen, geom = self._prepare(scenario)
        red = reduce(params, scen, geom)
        lmi = crb_lmi(params, red)
        r = red.basis.shape[1]
        k_users = params.n_users
        n_u = len(lmi.u_pairs)
        p, sigma = red.power, params.noise_user_w
        hh = _outer(np.conj(red.channels))  # [K, r, r]
        gains = np.real(np.einsum("kaa->k", hh)) * p
        cuts = [list(sigma * (1.0 + gains[k] / sigma) ** np.linspace(0.0, 1.0, self.n_cuts)) for k in range(k_users)]
        # start: MRT directions at equal power, in the basis
        unit = np.conj(red.channels) / np.linalg.norm(red.channels, axis=-1, keepdims=True)
        blocks = _outer(unit) / k_users
        best = self._wim(params, red, geom, blocks)
        self.history = [best]
        generated: list[int] = []
        iterations = 0
        status = DONE
        rho, ln2 = params.wim_rho, math.log(2.0)
        for step in range(1, self.max_iterations + 1):
            iterations = step
            rx = np.real(np.einsum("kab,iba->ki", hh, blocks)) * p  # [K (user), K (block)] h_k^H W_i h_k
            interference = rx.sum(axis=1) - np.diag(rx)
            # gradient of the linearised g_k (eqs. (35)-(36)): user i's block pays for the interference it causes
            terms = ((1.0 - rho) * p / (ln2 * (interference + sigma)))[:, None, None] * hh  # [K, r, r]
            cost = terms.sum(axis=0)[None] - terms
            n_y = n_u + k_users + (1 if generated else 0)
            rows = _Rows(r, n_y)
            rows.add(-np.eye(r, dtype=complex), -(1.0 - POWER_MARGIN))
            for k in range(k_users):
                for x in cuts[k]:
                    g = np.zeros(n_y)
                    g[n_u + k] = -1.0
                    rows.add(p * hh[k] / (x * ln2), -math.log2(x) - sigma / (x * ln2) + 1.0 / ln2, g=g)
            _add_coverage(rows, params, red, generated, n_y)
            c = np.zeros(n_y)
            c[:n_u] = lmi.trace_cost(rho * params.wim_zeta)
            c[n_u: n_u + k_users] = -(1.0 - rho)
            result = solve_beam_sdp(rows.problem(k_users, cost, c, lmi))
            if result.status != "optimal":
                status = "repaired" if np.isfinite(best) else "failed"
                break
            covs = p * (red.basis @ result.blocks @ np.conj(red.basis.T))
            ratio, extremes = _coverage_violation(params, red, covs.sum(axis=0))
            if ratio > params.coverage_eps:
                generated += [q for q in extremes if q not in generated]
                continue
            value = self._wim(params, red, geom, result.blocks)
            s_new = np.real(np.einsum("kab,ba->k", hh, result.blocks.sum(axis=0))) * p + sigma
            for k in range(k_users):
                cuts[k].append(float(s_new[k]))
            if value < best - self.tolerance * abs(best):
                best, blocks = value, result.blocks
                self.history.append(best)
            else:
                break
        _, beams = _beams_from_blocks(red, blocks)
        return Design(ETConfiguration(beams), status=status, iterations=iterations)

    @staticmethod
    def _wim(params: et.ETParams, red: ReducedScenario, geom: et.ETGeometry, blocks: np.ndarray) -> float:
        """Exact WIM objective of relaxed user covariances (``P U Y_k U^H``)."""
        p, sigma = red.power, params.noise_user_w
        hh = _outer(np.conj(red.channels))
        rx = np.real(np.einsum("kab,iba->ki", hh, blocks)) * p
        signal = np.diag(rx)
        sinr = signal / (rx.sum(axis=1) - signal + sigma)
        cov = p * (red.basis @ blocks.sum(axis=0) @ np.conj(red.basis.T))
        sets = et.steering_sets(params, geom)
        gram = np.conj(sets) @ cov @ np.swapaxes(sets, -1, -2)
        _, trace = et.measure_covariance(params, geom, gram)
        return float(et.wim_objective(params, trace[0], np.log2(1.0 + sinr).sum()))


def policies(system: Any) -> dict[str, type]:
    """The ET system's policies: ``oracle`` (the paper's solver of the env's problem: ``sdr`` for
    ``problem="crb"``, ``sca`` for ``"wim"``, also listed by that name), ``pt_centric``, ``avg_coverage`` and
    ``random``. Each solver is offered only for the problem it solves (SCA's WIM design ignores the SINR
    constraints of the CRB-min problem; SDR's ignores the WIM rate term)."""
    solver = {"sdr": SDROracle} if system.params.problem == "crb" else {"sca": SCAOracle}
    return {"oracle": next(iter(solver.values())), **solver, "pt_centric": PointCentric,
            "avg_coverage": AverageCoverage, "random": RandomPolicy}
