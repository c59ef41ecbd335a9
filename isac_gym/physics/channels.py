"""Channel models shared by the systems."""

from __future__ import annotations

import numpy as np

from .arrays import cis, direction_cosines, phase_split


def multipath_split(xz: np.ndarray, gains: np.ndarray, phi: np.ndarray, theta: np.ndarray,
                    wavelength_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Scenario-fixed part of the multipath channel of eq. (6) of [FIM] for a y-morphable array.

    Args:
        xz: ``[2, N]`` element x, z in m.
        gains: ``[..., K, L]`` complex path gains ``alpha_{k,l}`` (sqrt of power gain).
        phi, theta: ``[..., K, L]`` departure azimuth / elevation of each path in rad.

    Returns:
        ``(weighted_base [..., K, L, N] complex, slope [..., K, L] rad/m)`` for :func:`multipath_from_split`.
    """
    base, slope = phase_split(xz, direction_cosines(phi, theta)[..., 0, :], wavelength_m)
    return gains[..., None] * cis(base), slope


def multipath_from_split(weighted_base: np.ndarray, slope: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``h_k(y) = sum_l alpha_{k,l} a(y, phi_l, theta_l)`` (eq. (6) of [FIM]).

    Args:
        weighted_base: ``[..., K, L, N]``; slope: ``[..., K, L]``; y: ``[..., N]`` in m.

    Returns:
        ``[..., K, N]`` complex; row k is ``h_k`` (user k receives ``h_k^H x``).
    """
    phase = slope[..., None] * y[..., None, None, :]
    return (weighted_base * cis(phase)).sum(axis=-2)


def rayleigh_gains(rng: np.random.Generator, shape: tuple[int, ...], power: np.ndarray) -> np.ndarray:
    """Circularly-symmetric complex Gaussian draws ``CN(0, power)`` of the given shape."""
    return np.sqrt(np.asarray(power) / 2.0) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
