"""Beamforming SDRs in a reduced span basis, solved exactly through their Lagrangian dual with CVXOPT.

Many ISAC beamforming SDRs see the user covariances ``X_k`` (``R = sum_k X_k``) only through quadratic forms in a
few vectors (steering vectors, their derivatives, user channels). With an orthonormal basis ``U`` of their span
(:func:`span_basis`), ``X_k = U Y_k U^H`` is an exact reformulation with ``r x r`` blocks instead of ``N x N``.
:class:`BeamSDP` states such a problem in the basis,

    minimise    sum_k tr(C_k Y_k) + c^T y
    subject to  tr(A_l R) + [u_l = k] tr(B_l Y_k) + g_l^T y >= b_l     (rows l, R = sum_k Y_k)
                sum_j tr(M_j R) E_j + sum_i y_i F_i - D  >= 0        (one small LMI, optional)
                Y_k >= 0,

and :func:`solve_beam_sdp` solves its dual (a few dozen variables: one per row and per entry of the small LMI,
with one ``2r x 2r`` real LMI per user) with ``cvxopt.solvers.sdp``; the ``Y_k`` are the multipliers of those
LMIs. Rows are scaled to unit norm first. This is the fast exact form of docs/extended_target.md ("Oracle").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .base import solver_library

#: CVXOPT interior-point tolerances, tried in turn until a run ends with a certificate: CVXOPT's defaults
#: (abstol 1e-7, reltol 1e-6, feastol 1e-7 on rows scaled to unit norm; the solvers keep relative margins of 1e-4
#: inside every constraint), then looser ones when the first run breaks down numerically (a few scenarios in a
#: hundred). Tighter tolerances break down more often and cost more iterations without changing the designs.
SOLVER_OPTIONS = ({"show_progress": False, "abstol": 1e-7, "reltol": 1e-6, "feastol": 1e-7, "maxiters": 100},
                  {"show_progress": False, "abstol": 1e-6, "reltol": 1e-5, "feastol": 1e-6, "maxiters": 100})
#: CVXOPT KKT factorisations tried in turn: Cholesky (about 1.5-1.7 times faster here, same optimum), then QR
#: (CVXOPT's default for semidefinite cones), which also handles a rank-deficient system.
KKT_SOLVERS = ("chol", "qr")


def span_basis(vectors: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Orthonormal basis ``[N, r]`` of the span of the columns of ``vectors [N, m]``.

    The columns are normalised first (weak user channels would otherwise fall below the tolerance), then the
    left singular vectors with singular values above ``tol`` times the largest are kept.
    """
    v = np.asarray(vectors, complex)
    norms = np.linalg.norm(v, axis=0)
    v = v[:, norms > 0] / norms[norms > 0]
    u, s, _ = np.linalg.svd(v, full_matrices=False)
    return u[:, s > tol * s[0]]


def real_form(m: np.ndarray) -> np.ndarray:
    """``[[Re M, -Im M], [Im M, Re M]]`` of Hermitian ``M [..., r, r]``: PSD exactly when M is."""
    re, im = m.real, m.imag
    top = np.concatenate([re, -im], axis=-1)
    bottom = np.concatenate([im, re], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def symmetric_units(s: int, offset: int = 0, size: int | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Symmetric unit matrices ``E_ij + E_ji`` (``E_ii`` on the diagonal), ``[n, s, s]``, for the upper triangle of
    the ``size x size`` block at ``(offset, offset)`` of an ``s x s`` matrix (the whole matrix by default), and
    the block's index pairs ``(i, j)``, ``i <= j``."""
    size = s - offset if size is None else size
    rows, cols = np.triu_indices(size)
    out = np.zeros((rows.size, s, s))
    out[np.arange(rows.size), offset + rows, offset + cols] = 1.0
    out[np.arange(rows.size), offset + cols, offset + rows] = 1.0
    return out, list(zip(rows.tolist(), cols.tolist(), strict=True))


@dataclass(frozen=True)
class BeamSDP:
    """A beamforming SDP in a basis of size r (see the module docstring); complex Hermitian data.

    Attributes:
        n_users: K.
        cost: ``[K, r, r]`` the ``C_k`` (zeros for none).
        c: ``[ny]`` cost of the small variables y.
        rows_r: ``[L, r, r]`` the ``A_l`` (on R); rows_user: ``[L, r, r]`` the ``B_l`` on ``Y_{u_l}``;
        row_user: ``[L]`` int, ``u_l`` (-1 for none); rows_y: ``[L, ny]``; rows_b: ``[L]``.
        lmi_r: ``[J, r, r]`` the ``M_j``; lmi_basis: ``[J, s, s]`` the ``E_j``; lmi_y: ``[ny, s, s]`` the ``F_i``;
        lmi_const: ``[s, s]`` the ``D``. ``J = 0`` for no LMI.
    """

    n_users: int
    cost: np.ndarray
    c: np.ndarray
    rows_r: np.ndarray
    rows_user: np.ndarray
    row_user: np.ndarray
    rows_y: np.ndarray
    rows_b: np.ndarray
    lmi_r: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1), complex))
    lmi_basis: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    lmi_y: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    lmi_const: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


@dataclass(frozen=True)
class BeamSDPResult:
    """``blocks [K, r, r]`` (the ``Y_k``), solver ``status`` ('optimal' or CVXOPT's), dual objective (the optimum
    of the primal at optimality), iterations and wall seconds."""

    blocks: np.ndarray
    status: str
    value: float
    iterations: int
    seconds: float


def solve_beam_sdp(problem: BeamSDP, options: tuple[dict, ...] = SOLVER_OPTIONS) -> BeamSDPResult:
    """Solve ``problem`` through its Lagrangian dual with ``cvxopt.solvers.sdp``.

    Dual variables ``z >= 0`` (rows) and ``Lambda >= 0`` (the LMI): maximise ``b^T z + tr(Lambda D)`` subject to
    ``c = G^T z + [tr(Lambda F_i)]_i`` (stationarity in y) and, per user,
    ``C_k - sum_l z_l (A_l + [u_l = k] B_l) - sum_j tr(Lambda E_j) M_j >= 0`` (stationarity in ``Y_k >= 0``);
    its multiplier is ``Y_k`` (read from the real form). ``options``: CVXOPT option sets tried in turn, each with
    every factorisation of :data:`KKT_SOLVERS`.
    """
    cvxopt = solver_library("cvxopt")

    t0 = time.perf_counter()
    k_users = problem.n_users
    r = problem.cost.shape[-1]
    n_rows = problem.rows_b.size
    scale = np.sqrt(np.sum(np.abs(problem.rows_r) ** 2, axis=(-2, -1)) + np.sum(np.abs(problem.rows_user) ** 2,
                                                                                axis=(-2, -1))
                    + np.sum(problem.rows_y**2, axis=-1))
    scale = np.where(scale > 0, scale, 1.0)
    a_r = problem.rows_r / scale[:, None, None]
    a_u = problem.rows_user / scale[:, None, None]
    g = problem.rows_y / scale[:, None]
    b = problem.rows_b / scale
    s = problem.lmi_const.shape[0]
    n_lmi = problem.lmi_r.shape[0]
    if n_lmi:
        sbasis, _ = symmetric_units(s)
        # tr(Lambda E_j) and tr(Lambda F_i) as linear maps of Lambda's upper-triangle entries (Lambda = sum_n l_n S_n)
        coupling = np.einsum("nab,jab->jn", sbasis, problem.lmi_basis)
        coupling_y = np.einsum("nab,iab->in", sbasis, problem.lmi_y)
        n_lam = sbasis.shape[0]
    else:
        n_lam = 0
        coupling = np.zeros((0, 0))
        coupling_y = np.zeros((problem.c.size, 0))
    n_var = n_rows + n_lam
    # objective: minimise -b^T z - tr(Lambda D)
    obj = np.zeros(n_var)
    obj[:n_rows] = -b
    if n_lam:
        obj[n_rows:] = -np.einsum("nab,ab->n", sbasis, problem.lmi_const)
    gl = np.zeros((n_rows, n_var))
    gl[:, :n_rows] = -np.eye(n_rows)
    gs, hs = [], []
    if n_lam:
        g0 = np.zeros((s * s, n_var))
        g0[:, n_rows:] = -sbasis.transpose(2, 1, 0).reshape(s * s, n_lam)  # column-major vec of -Lambda
        gs.append(cvxopt.matrix(g0))
        hs.append(cvxopt.matrix(np.zeros((s, s))))
    for k in range(k_users):
        mats = a_r + np.where(problem.row_user == k, 1.0, 0.0)[:, None, None] * a_u  # [L, r, r]
        cols = [real_form(mats)]
        if n_lam:
            cols.append(real_form(np.einsum("jn,jab->nab", coupling, problem.lmi_r)))
        block = np.concatenate(cols, axis=0)  # [n_var, 2r, 2r]
        gs.append(cvxopt.matrix(block.transpose(2, 1, 0).reshape(4 * r * r, n_var)))
        hs.append(cvxopt.matrix(real_form(problem.cost[k])))
    kwargs = {}
    if problem.c.size:
        a_eq = np.concatenate([g.T, coupling_y], axis=1)
        kwargs = {"A": cvxopt.matrix(a_eq), "b": cvxopt.matrix(problem.c.astype(float))}
    blocks = np.zeros((k_users, r, r), complex)
    sol, status, iterations = None, "solver_error", 0
    attempts = [(opts, kkt) for opts in options for kkt in KKT_SOLVERS]
    for opts, kkt in attempts:
        try:
            sol = cvxopt.solvers.sdp(cvxopt.matrix(obj), Gl=cvxopt.matrix(gl), hl=cvxopt.matrix(np.zeros(n_rows)),
                                     Gs=gs, hs=hs, kktsolver=kkt, options=opts, **kwargs)
        except (ArithmeticError, ValueError) as exc:  # a numerical breakdown of the interior-point method
            sol, status = None, f"solver_error: {exc}"
            continue
        status = str(sol["status"])
        iterations += int(sol.get("iterations", 0) or 0)
        if status in ("optimal", "dual infeasible", "primal infeasible"):  # certified: no retry changes it
            break
    if sol is None:
        return BeamSDPResult(blocks, status, float("nan"), iterations, time.perf_counter() - t0)
    offset = 1 if n_lam else 0
    if sol["zs"] is not None and sol["zs"][0] is not None:
        for k in range(k_users):
            z = np.array(sol["zs"][offset + k])
            blocks[k] = (z[:r, :r] + z[r:, r:]) + 1j * (z[r:, :r] - z[:r, r:])
            blocks[k] = 0.5 * (blocks[k] + blocks[k].conj().T)
    value = -float(sol["primal objective"]) if sol["primal objective"] is not None else float("nan")
    return BeamSDPResult(blocks, status, value, iterations, time.perf_counter() - t0)
