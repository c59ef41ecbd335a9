"""Fisher information and CRB of the angles of a point target (eqs. (10)-(19) of [FIM]).

The echo is ``Y = alpha b a^H W S + N`` with ``S S^H = T I``. Write ``A = b a^H`` and
its angle derivatives ``A_i = b_i a^H + b a_i^H`` (``i`` = phi, theta; ``a_i``,
``b_i`` the steering-vector derivatives). Every Fisher entry is a multiple of
``T_ij = Tr(A_i R A_j^H)`` with ``R = W W^H`` (index 0 is ``A`` itself), and

``Tr(b_p a_q^H R a_s b_r^H) = (b_r^H b_p) (a_q^H R a_s)``

so only the two 3x3 Gram matrices ``a_q^H R a_s`` and ``b_r^H b_p`` are needed.
"""

from __future__ import annotations

import numpy as np

#: Selector so that ``A_i = sum_{p,q} SELECT[i, p, q] b_p a_q^H`` (0: the vector, 1: d/dphi, 2: d/dtheta).
_SELECT = np.zeros((3, 3, 3))
_SELECT[0, 0, 0] = 1.0
_SELECT[1, 1, 0] = _SELECT[1, 0, 1] = 1.0
_SELECT[2, 2, 0] = _SELECT[2, 0, 2] = 1.0
_SELECT_FLAT = _SELECT.reshape(3, 9)

#: CRB reported for a singular Fisher matrix (no echo energy, or ambiguous angles), in rad^2.
CRB_WORST = 1.0e6


def trace_products(rx_set: np.ndarray, tx_gram: np.ndarray) -> np.ndarray:
    """``T_ij = Tr(A_i R A_j^H)`` for ``i, j`` in (A, A_phi, A_theta).

    Args:
        rx_set: ``[..., 3, Nr]`` receive steering vector and derivatives.
        tx_gram: ``[..., 3, 3]`` with entries ``a_q^H R a_s`` (see :func:`covariance_gram`).

    Returns:
        ``[..., 3, 3]`` complex Hermitian matrix ``T``.
    """
    rx_gram_t = (rx_set.conj() @ rx_set.mT).mT  # [p, r] = b_r^H b_p
    kron = (rx_gram_t[..., :, None, :, None] * tx_gram[..., None, :, None, :]).reshape(*tx_gram.shape[:-2], 9, 9)
    return _SELECT_FLAT @ kron @ _SELECT_FLAT.T


def beam_gram(tx_set: np.ndarray, beams: np.ndarray) -> np.ndarray:
    """``a_q^H W W^H a_s`` for the transmit steering set, ``[..., 3, 3]``.

    Args:
        tx_set: ``[..., 3, Nt]`` transmit steering vector and derivatives.
        beams: ``[..., Nt, S]`` beamformer W (sqrt(W)).
    """
    v = np.conj(tx_set) @ beams  # [..., 3, S], row q = a_q^H W
    return v @ v.mT.conj()


def covariance_gram(tx_set: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """``a_q^H R a_s`` for a transmit covariance ``R`` (``[..., Nt, Nt]``, W), ``[..., 3, 3]``."""
    return tx_set.conj() @ covariance @ tx_set.mT


def fisher_matrix(t: np.ndarray, alpha: np.ndarray, snapshots: float, noise_w: float) -> np.ndarray:
    """Full 4x4 Fisher matrix of ``xi = [phi, theta, Re alpha, Im alpha]``, eqs. (14)-(18) of [FIM].

    ``F_{i,j} = (2T|alpha|^2/sigma^2) Re T_ij``,
    ``F_{i,alpha} = (2T/sigma^2) Re{alpha^* T_0i [1, j]}``,
    ``F_{alpha,alpha} = (2T/sigma^2) T_00 I_2``.

    Args:
        t: ``[..., 3, 3]`` trace products from :func:`trace_products`.
        alpha: ``[...]`` complex reflection coefficient (sqrt of round-trip power gain).
        snapshots: T; noise_w: receive noise power ``sigma_r^2`` in W.

    Returns:
        ``[..., 4, 4]`` real symmetric Fisher matrix (units: 1/rad^2, 1/(rad*gain), 1/gain^2).
    """
    c = 2.0 * snapshots / noise_w
    alpha = np.asarray(alpha)
    f = np.zeros(t.shape[:-2] + (4, 4))
    f[..., :2, :2] = c * np.abs(alpha)[..., None, None] ** 2 * t[..., 1:, 1:].real
    u = np.conj(alpha)[..., None] * t[..., 0, 1:]  # alpha^* Tr(A R A_i^H)
    f[..., :2, 2] = c * u.real
    f[..., :2, 3] = c * (1j * u).real
    f[..., 2:, :2] = f[..., :2, 2:].mT
    f[..., 2, 2] = f[..., 3, 3] = c * t[..., 0, 0].real
    return f


def angle_crb(t: np.ndarray, alpha_power: np.ndarray, snapshots: float, noise_w: float) -> np.ndarray:
    """``CRB = Tr((F_thth - F_tha F_aa^-1 F_tha^T)^-1)`` of eq. (19) of [FIM], in rad^2.

    The Schur complement has the closed form
    ``J_ij = (2T|alpha|^2/sigma^2) (Re T_ij - Re(T_0i conj(T_0j)) / T_00)``
    (the phase of alpha cancels). A singular ``J`` (no echo energy, or an angle
    the echo does not depend on) gives the finite worst case :data:`CRB_WORST`.

    Args:
        t: ``[..., 3, 3]`` trace products; alpha_power: ``[...]`` ``|alpha|^2``.

    Returns:
        ``[...]`` CRB of (phi, theta) in rad^2, in ``(0, CRB_WORST]``.
    """
    t00 = t[..., 0, 0].real
    safe00 = t00 + (t00 <= 0.0)  # 1 where T_00 = 0 (no echo energy)
    t0 = t[..., 0, 1:]
    schur = t[..., 1:, 1:].real - (t0[..., :, None] * np.conj(t0[..., None, :])).real / safe00[..., None, None]
    j = (2.0 * snapshots / noise_w) * np.asarray(alpha_power)[..., None, None] * schur
    det = j[..., 0, 0] * j[..., 1, 1] - j[..., 0, 1] * j[..., 1, 0]
    trace = j[..., 0, 0] + j[..., 1, 1]
    # det is tiny relative to trace^2 when one direction carries no information
    ok = (t00 > 0.0) & (det > 1e-12 * trace**2) & (trace > 0.0)
    crb = np.where(ok, trace / np.where(ok, det, 1.0), CRB_WORST)
    return np.minimum(crb, CRB_WORST)


def schur_crb(fisher: np.ndarray, n_interest: int) -> np.ndarray:
    """``Tr((F_aa - F_ab F_bb^-1 F_ab^T)^-1)`` for the first ``n_interest`` parameters (nuisance: the rest).

    Singular when the smallest eigenvalue of the Schur complement is below 1e-12 of the largest.

    Args:
        fisher: ``[..., P, P]`` real symmetric Fisher matrix.

    Returns:
        ``[...]`` CRB sum, :data:`CRB_WORST` where a block is singular or the bound is not finite.
    """
    f_aa = fisher[..., :n_interest, :n_interest]
    f_ab = fisher[..., :n_interest, n_interest:]
    f_bb = fisher[..., n_interest:, n_interest:]
    eye_b = np.eye(f_bb.shape[-1])
    scale_b = np.maximum(np.abs(np.trace(f_bb, axis1=-2, axis2=-1)), 1e-300)[..., None, None]
    j = f_aa - f_ab @ np.linalg.solve(f_bb + 1e-14 * scale_b * eye_b, f_ab.mT)
    j = 0.5 * (j + j.mT)
    w = np.linalg.eigvalsh(j)
    top = np.max(np.abs(w), axis=-1)
    ok = np.all(w > 1e-12 * np.maximum(top, 1e-300)[..., None], axis=-1) & np.all(np.isfinite(w), axis=-1)
    crb = np.sum(1.0 / np.where(ok[..., None], w, 1.0), axis=-1)
    return np.minimum(np.where(ok, crb, CRB_WORST), CRB_WORST)
