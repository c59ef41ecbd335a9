"""Semidefinite-programming helpers shared by the oracles (FIM's SDP; the SDR oracles build on them).

* :func:`hermitian_psd` / :func:`psd_part`: PSD variables and the PSD part of a numerical solution.
* :func:`crb_epigraph`: the Schur-complement LMI that bounds ``Tr((F_aa - F_ab F_bb^-1 F_ab^T)^-1)``
  by ``sum(t)``, linear in a Fisher matrix that is itself linear in the transmit covariance.
* :func:`extract_user_beams`: rank-one user beams ``w_k = R_k h_k / sqrt(h_k^H R_k h_k)`` that keep every
  user's SINR of the relaxed solution, the remainder as extra (sensing) streams.
* :func:`solve_counted`: solve a cvxpy problem, counting the solver warnings instead of silencing them.
* :class:`ProgramCache`: a bounded cache of canonicalised (DPP) problems.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .base import solver_library

cp = solver_library("cvxpy")


def hermitian_psd(n: int, count: int = 1) -> list[cp.Variable]:
    """``count`` Hermitian ``n x n`` variables (add ``v >> 0`` constraints for each)."""
    return [cp.Variable((n, n), hermitian=True) for _ in range(count)]


def psd_part(m: np.ndarray) -> np.ndarray:
    """The nearest PSD matrix (negative eigenvalues of the Hermitian part set to 0), ``[..., n, n]``."""
    m = 0.5 * (m + np.conj(np.swapaxes(m, -1, -2)))
    w, v = np.linalg.eigh(m)
    return (v * np.maximum(w, 0.0)[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def crb_epigraph(f_interest: Any, f_cross: Any, f_nuisance: Any, n: int) -> tuple[cp.Variable, list]:
    """Variables ``t`` (n) and LMIs with ``Tr(J^-1) <= sum(t)``, ``J = F_aa - F_ab F_bb^-1 F_ab^T``.

    ``[[F_aa - Z, F_ab], [F_ab^T, F_bb]] >= 0`` gives ``Z <= J`` (Schur complement) and
    ``[[Z, e_i], [e_i^T, t_i]] >= 0`` gives ``t_i >= (Z^-1)_ii``; together ``sum(t) >= Tr(Z^-1) >= Tr(J^-1)``.
    The blocks are cvxpy expressions (``n x n``, ``n x m``, ``m x m``), affine in the design variables.
    """
    z = cp.Variable((n, n), symmetric=True)
    t = cp.Variable(n)
    big = cp.bmat([[f_interest - z, f_cross], [f_cross.T, f_nuisance]])
    cons = [0.5 * (big + big.T) >> 0]
    eye = np.eye(n)
    for i in range(n):
        cons.append(cp.bmat([[z, eye[:, i:i + 1]], [eye[i:i + 1, :], cp.reshape(t[i], (1, 1), order="F")]]) >> 0)
    return t, cons


def extract_user_beams(channels: np.ndarray, user_covariances: np.ndarray, total: np.ndarray,
                       n_extra: int) -> np.ndarray:
    """Beams of a relaxed solution that preserve every user's SINR.

    ``w_k = R_k h_k / sqrt(h_k^H R_k h_k)`` gives ``|h_k^H w_k|^2 = h_k^H R_k h_k`` (the relaxed signal
    power) and ``w_k w_k^H <= R_k``; the remainder ``R - sum_k w_k w_k^H`` (PSD) is split into its
    ``n_extra`` strongest eigen-directions, so every interference term is at most the relaxed one
    (equal when the relaxation is tight).

    Args:
        channels: ``[K, N]`` rows ``h_k``; user_covariances: ``[K, N, N]``; total: ``[N, N]`` covariance.

    Returns:
        ``[N, K + n_extra]`` complex beamformer (sqrt(W)).
    """
    k_users, n = channels.shape
    beams = np.zeros((n, k_users + n_extra), complex)
    rh = user_covariances @ channels[..., None]  # [K, N, 1]
    gains = np.real(np.conj(channels)[:, None, :] @ rh)[:, 0, 0]
    ok = gains > 0
    beams[:, :k_users][:, ok] = (rh[ok, :, 0] / np.sqrt(gains[ok])[:, None]).T
    rest = psd_part(total - beams[:, :k_users] @ np.conj(beams[:, :k_users].T))
    w, v = np.linalg.eigh(rest)
    order = np.argsort(w)[::-1][:n_extra]
    beams[:, k_users: k_users + len(order)] = v[:, order] * np.sqrt(np.maximum(w[order], 0.0))
    return beams


def solve_counted(problem: cp.Problem, **kwargs: Any) -> tuple[str, int]:
    """Solve ``problem``; returns ``(status, warnings raised by the solver)`` (``"solver_error"`` on failure)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            problem.solve(**kwargs)
            status = str(problem.status)
        except cp.SolverError:
            status = "solver_error"
    return status, len(caught)


class ProgramCache:
    """At most ``maxsize`` canonicalised problems, least recently used evicted first (no unbounded growth)."""

    def __init__(self, build: Callable[..., Any], maxsize: int = 8):
        self.build = build
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()

    def get(self, *key: Any) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self.build(*key)
        self._items[key] = value
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)
