"""Communication metrics: per-user SINR and achievable rate."""

from __future__ import annotations

import numpy as np


def user_sinr(channels: np.ndarray, beams: np.ndarray, noise_w: np.ndarray | float) -> np.ndarray:
    """Per-user SINR with every other stream as interference, eq. (20c) of [FIM].

    ``SINR_k = |h_k^H w_k|^2 / (sum_{i != k} |h_k^H w_i|^2 + sigma_k^2)`` where the
    first K columns of ``beams`` are the user beams and any further columns
    (sensing streams) only interfere.

    Args:
        channels: ``[..., K, N]`` complex, row k is ``h_k``.
        beams: ``[..., N, S]`` complex beamformer, ``S >= K`` columns, amplitudes in sqrt(W).
        noise_w: noise power ``sigma_k^2`` in W, scalar or ``[..., K]``.

    Returns:
        ``[..., K]`` linear SINR (0 for a zero-power beam, never NaN).
    """
    k = channels.shape[-2]
    gains = np.abs(np.conj(channels) @ beams) ** 2  # [..., K, S]
    signal = gains[..., :k].diagonal(axis1=-2, axis2=-1)
    interference = gains.sum(axis=-1) - signal
    return signal / (interference + noise_w)


def rate(sinr: np.ndarray) -> np.ndarray:
    """Achievable rate ``log2(1 + SINR)`` in bit/s/Hz."""
    return np.log2(1.0 + sinr)
