"""Beamformers shared by the systems: the action encoding of a BS beamformer, MRT and regularised ZF.

Beamformer encoding (the suite's convention wherever an action carries a beamformer W,
``[..., Nt, S]`` complex in sqrt(W)): a power fraction and a direction,

    W = sqrt(s P) A / ||A||_F,   s = (a_0 + 1) / 2,   A = C + (Re + j Im) of the remaining entries,

where ``C`` is the system's fixed *centre* (entries of modulus at most 1/2; zero by default). Every W with
``||W||_F^2 <= P`` is reachable (any direction, scaled to modulus 1/2, lies within the box around C) and none
exceeds the budget; the zero action is ``C`` at half the budget, so a system whose centre is a sensible beam
(:func:`antenna_centre`) starts the agent from a sensible configuration. :func:`encode_beamformer` inverts it,
scaling the direction so that its largest entry has modulus 1/2 before subtracting C.
"""

from __future__ import annotations

import numpy as np

from .arrays import squared_norm

#: Largest modulus of an entry of a centre and of an encoded direction (so that their difference fits the box).
CENTRE_MODULUS = 0.5


def beamformer_action_size(n_tx: int, n_streams: int) -> int:
    """Number of action entries of an ``n_tx x n_streams`` beamformer: ``1 + 2 n_tx n_streams``."""
    return 1 + 2 * n_tx * n_streams


def antenna_centre(n_tx: int, antennas: np.ndarray) -> np.ndarray:
    """A centre ``[n_tx, S]`` whose stream j sits on antenna ``antennas[j]`` with modulus 1/2 (one stream per
    antenna radiates isotropically: a neutral start, no direction favoured)."""
    antennas = np.asarray(antennas, dtype=int)
    centre = np.zeros((n_tx, antennas.size), complex)
    centre[antennas, np.arange(antennas.size)] = CENTRE_MODULUS
    return centre


def spread_antennas(n_tx: int, n_streams: int) -> np.ndarray:
    """``n_streams`` antenna indices spread evenly over ``n_tx`` antennas (``round(linspace(0, n_tx - 1, S))``)."""
    return np.round(np.linspace(0, n_tx - 1, n_streams)).astype(int)


def _check_centre(centre: np.ndarray | None, n_tx: int, n_streams: int) -> np.ndarray:
    if centre is None:
        return np.zeros((n_tx, n_streams), complex)
    c = np.asarray(centre, complex)
    if c.shape != (n_tx, n_streams) or np.abs(c.real).max() > CENTRE_MODULUS or np.abs(c.imag).max() > CENTRE_MODULUS:
        raise ValueError(f"centre must be [{n_tx}, {n_streams}] with real and imaginary parts in [-1/2, 1/2]")
    return c


def decode_beamformer(action: np.ndarray, n_tx: int, n_streams: int, p_max_w: float,
                      centre: np.ndarray | None = None) -> np.ndarray:
    """``W = sqrt(s P) A / ||A||_F``, ``A = C + entries``, from ``action [..., 1 + 2 n_tx n_streams]`` in [-1, 1].

    Layout: ``a_0``, then Re of the entries (row-major ``[n_tx, n_streams]``), then Im. ``centre``: C
    (``[n_tx, n_streams]``, see the module docstring; zero when None). An all-zero A gives W = 0. Returns
    ``[..., n_tx, n_streams]`` complex (sqrt(W)), ``||W||_F^2 = s P <= P``.
    """
    a = np.asarray(action, float)
    c = _check_centre(centre, n_tx, n_streams)
    half = n_tx * n_streams
    entries = a[..., 1:].reshape(a.shape[:-1] + (2, n_tx, n_streams))
    mat = (entries[..., 0, :, :] + c.real) + 1j * (entries[..., 1, :, :] + c.imag)
    norm = np.sqrt(squared_norm(mat.reshape(a.shape[:-1] + (half,))))
    scale = np.sqrt((a[..., 0] + 1.0) * (0.5 * p_max_w)) / (norm + (norm <= 0.0))
    return mat * scale[..., None, None]


def encode_beamformer(beams: np.ndarray, p_max_w: float, centre: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`decode_beamformer`: ``a_0 = 2 ||W||_F^2 / P - 1`` (clipped to [-1, 1]) and the entries
    ``W / (2 max|W_ij|) - C``. Returns ``[..., 1 + 2 n_tx n_streams]``."""
    w = np.asarray(beams)
    c = _check_centre(centre, *w.shape[-2:])
    power = squared_norm(w, (-2, -1))
    peak = np.max(np.abs(w), axis=(-2, -1))
    mat = w * (CENTRE_MODULUS / np.where(peak > 0, peak, 1.0))[..., None, None] - c
    a0 = np.clip(2.0 * power / p_max_w - 1.0, -1.0, 1.0)
    flat = np.stack([mat.real, mat.imag], axis=-3).reshape(w.shape[:-2] + (-1,))
    return np.concatenate([a0[..., None], flat], axis=-1)


def mrt_directions(channels: np.ndarray) -> np.ndarray:
    """Maximum-ratio transmission directions: column k is ``h_k`` (user k receives ``h_k^H x``).

    Args:
        channels: ``[..., K, Nt]`` complex, row k is ``h_k``.

    Returns:
        ``[..., Nt, K]`` un-normalised beams ``w_k = h_k``.
    """
    return channels.mT


def zf_inverse(channels: np.ndarray, ridge: np.ndarray | float = 0.0, gram: np.ndarray | None = None) -> np.ndarray:
    """``(H^H H + ridge)^-1`` in column form (``H = [h_1 .. h_K]``), ``[..., K, K]``.

    The regularised ZF beams are ``mrt_directions(channels) @ zf_inverse(channels, ridge)``;
    ``ridge`` (scalar or ``[..., K, K]``) keeps the inverse finite for nearly dependent channels;
    ``gram`` may pass ``H^H H`` when it is already known.
    """
    if gram is None:
        gram = np.conj(channels) @ channels.mT
    k = gram.shape[-1]
    reg = ridge * np.eye(k) if np.ndim(ridge) == 0 else ridge
    return np.linalg.inv(gram + reg)


def zf_directions(channels: np.ndarray, ridge: np.ndarray | float = 0.0) -> np.ndarray:
    """Regularised zero-forcing directions ``H (H^H H + ridge)^-1``, ``[..., Nt, K]`` (un-normalised):
    with ``ridge = 0`` and independent channels, ``h_i^H w_k = delta_ik``."""
    return mrt_directions(channels) @ zf_inverse(channels, ridge)


def unit_columns(beams: np.ndarray) -> np.ndarray:
    """Columns scaled to unit norm (zero columns stay zero), ``[..., Nt, S]``."""
    n = np.sqrt(squared_norm(beams, -2))[..., None, :]
    return beams / np.where(n > 0, n, 1.0)


def scale_onto_budget(beams: np.ndarray, p_max_w: float) -> np.ndarray:
    """``W`` scaled down (never up) so that ``||W||_F^2 <= P``: the fall-back of every solver."""
    power = squared_norm(beams, (-2, -1))
    factor = np.sqrt(np.minimum(1.0, p_max_w / np.where(power > 0, power, 1.0)))
    return beams * factor[..., None, None]


def min_power_sinr(gains: np.ndarray, extra: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min-power SINR balancing with fixed directions (Yates, JSAC 1995; Schubert & Boche, IEEE TVT 2004).

    The least powers ``p >= 0`` with ``p_k G_kk / (sum_{j != k} p_j G_kj + e_k) >= t_k`` for every user k:
    ``p = (I - D F)^-1 D e`` with ``D = diag(t_k / G_kk)`` and ``F`` the gains off the diagonal. The targets are
    reachable iff the spectral radius of ``D F`` is below 1, which is when that solution is positive (``I - D F`` is
    then a nonsingular M-matrix); every SINR is then met with equality.

    Args:
        gains: ``[..., K, K]`` ``G_kj = |h_k^H u_j|^2``, the gain of user j's unit direction at user k.
        extra: ``[..., K]`` or ``[..., K, R]`` what else user k receives besides the users' beams (noise plus fixed
            interference, W); several right-hand sides solve at once (the solution is linear in ``e``).
        targets: ``[..., K]`` SINR targets (linear).

    Returns:
        The powers (the shape of ``extra``, W) and ``[...]`` whether the targets are reachable.
    """
    g = np.asarray(gains, float)
    k = g.shape[-1]
    diag = np.diagonal(g, axis1=-2, axis2=-1)
    d = np.where(diag > 0.0, np.asarray(targets, float) / np.where(diag > 0.0, diag, 1.0), 0.0)  # 0: no signal
    a = np.eye(k) - d[..., :, None] * (g * (1.0 - np.eye(k)))
    e = np.asarray(extra, float)
    rhs = d[..., :, None] * (e if e.ndim == g.ndim else e[..., None])
    try:
        p = np.linalg.solve(a, rhs)
    except np.linalg.LinAlgError:  # a singular system in some row: solve row by row, marking those unreachable
        p = np.stack([_solve_or_nan(ai, bi) for ai, bi in zip(a.reshape(-1, k, k), rhs.reshape(-1, k, rhs.shape[-1]),
                                                               strict=True)]).reshape(rhs.shape)
    ok = np.all(np.isfinite(p) & (p > 0.0), axis=(-2, -1)) & np.all(diag > 0.0, axis=-1)
    p = np.where(np.isfinite(p), p, 0.0)
    return (p if e.ndim == g.ndim else p[..., 0]), ok


def _solve_or_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.full(b.shape, np.nan)


def balanced_split(gains: np.ndarray, noise: np.ndarray, leak: np.ndarray, targets: np.ndarray, budget_w: float,
                   split: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The users' powers and their share of a budget ``P`` shared with other streams (sensing, radar) that get what the
    users leave: min-power SINR balancing (:func:`min_power_sinr`) on the users' unit directions.

    The other streams, at total power ``(1 - g') P``, reach user k with ``(1 - g') P leak_k``. The balancing is
    linear in what each user receives besides the users' beams, so the least powers are
    ``p = p_noise + (1 - g') P p_leak``, which fit in ``g' P`` for
    ``g' >= g_min = (sum p_noise + P sum p_leak) / (P (1 + sum p_leak))``. The share is ``g' = max(split, g_min)``
    and the users' powers are scaled up to ``g' P`` (a common scale-up only raises every SINR).

    Args:
        gains: ``[B, K, K]`` gains of the users' unit directions; noise: ``[B, K]`` (W); leak: ``[B, K]`` gain of the
            other streams at unit total power; targets: ``[B, K]`` SINR targets; budget_w: ``P`` (W);
            split: ``[B]`` the share asked for the users.

    Returns:
        The powers ``[B, K]`` (W), the share ``g' [B]`` and ``[B]`` whether the targets are reachable within ``P``.
    """
    least, ok = min_power_sinr(gains, np.stack([noise, leak], axis=-1), targets)
    noise_sum, leak_sum = least[..., 0].sum(axis=-1), least[..., 1].sum(axis=-1)
    g_min = (noise_sum + budget_w * leak_sum) / (budget_w * (1.0 + leak_sum))
    share = np.clip(np.maximum(split, g_min), 0.0, 1.0)
    power = least[..., 0] + ((1.0 - share) * budget_w)[:, None] * least[..., 1]
    power = power * (share * budget_w / np.maximum(power.sum(axis=-1), 1e-300))[:, None]
    return power, share, ok & (g_min <= 1.0)
