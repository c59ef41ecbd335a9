"""Array geometry and steering vectors, with their angle derivatives.

Angles follow the FIM paper (seeds/000): elevation ``theta`` from the z axis,
azimuth ``phi`` in the x-y plane, ``nu = sin(theta) cos(phi)``,
``kappa = sin(theta) sin(phi)``; element n at ``(x_n, y_n, z_n)`` has phase
``delta (x_n nu + y_n kappa + z_n cos(theta))`` with ``delta = 2 pi / lambda``
(eqs. (3)-(5) of seeds/000).

Flexible arrays move only along y, so every phase is split into a part fixed by
the scenario, ``delta (x_n nu + z_n cos theta)`` (the *base*), and a slope
``delta kappa`` that multiplies the current ``y_n``: the base is computed once per
scenario and each step costs one multiply-add and one ``exp``.
"""

from __future__ import annotations

import numpy as np


def cis(theta: np.ndarray) -> np.ndarray:
    """``exp(j theta)`` for real ``theta`` (rad), computed as ``cos + j sin`` (faster than a complex exp)."""
    theta = np.asarray(theta, dtype=float)
    out = np.empty(theta.shape, dtype=complex)
    out.real = np.cos(theta)
    out.imag = np.sin(theta)
    return out


def upa_xz_positions(n_x: int, n_z: int, dx: float, dz: float, x_offset: float = 0.0) -> np.ndarray:
    """x and z coordinates of a UPA in the x-z plane, eqs. (1)-(2) of seeds/000.

    Element ``n = 1..n_x n_z`` sits at ``x = dx mod(n-1, n_x) + x_offset``,
    ``z = dz floor((n-1)/n_x)``.

    Returns:
        ``[2, n_x n_z]`` array (rows x, z) in m.
    """
    n = np.arange(n_x * n_z)
    return np.stack([dx * (n % n_x) + x_offset, dz * (n // n_x)]).astype(float)


def direction_cosines(phi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Unit direction ``u = (nu, kappa, cos theta)`` and its angle derivatives.

    Args:
        phi, theta: azimuth and elevation in rad, broadcastable shapes ``[...]``.

    Returns:
        ``[..., 3, 3]``: ``[..., d, c]`` is component c (x, y, z) of ``u`` (d=0),
        ``du/dphi`` (d=1) and ``du/dtheta`` (d=2).
    """
    phi, theta = np.broadcast_arrays(np.asarray(phi, float), np.asarray(theta, float))
    sp, cp, st, ct = np.sin(phi), np.cos(phi), np.sin(theta), np.cos(theta)
    out = np.empty(phi.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = st * cp, st * sp, ct
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = -st * sp, st * cp, 0.0
    out[..., 2, 0], out[..., 2, 1], out[..., 2, 2] = ct * cp, ct * sp, -st
    return out


def phase_split(xz: np.ndarray, directions: np.ndarray, wavelength_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Split the phases ``delta <p_n, d>`` into a y-independent base and a y slope.

    Args:
        xz: ``[2, N]`` fixed x, z element coordinates in m.
        directions: ``[..., 3]`` direction vectors (or derivatives), components x, y, z.

    Returns:
        ``(base [..., N], slope [...])`` with phase ``= base + slope * y_n`` in rad (slope in rad/m).
    """
    delta = 2.0 * np.pi / wavelength_m
    base = delta * (directions[..., 0:1] * xz[0] + directions[..., 2:3] * xz[1])
    return base, delta * directions[..., 1]


def steering_from_split(base: np.ndarray, slope: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Steering vector ``exp(j (base + slope y))`` of eq. (3) of seeds/000.

    Args:
        base: ``[..., N]`` rad; slope: ``[...]`` rad/m; y: ``[..., N]`` element y positions in m.

    Returns:
        ``[..., N]`` complex, unit modulus.
    """
    return cis(base + slope[..., None] * y)


def steering_set_from_split(base: np.ndarray, slope: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Steering vector and its phi / theta derivatives from a 3-row split (``u``, ``du/dphi``, ``du/dtheta``).

    ``d a_n / d phi = j delta <p_n, du/dphi> a_n`` (likewise theta): the ``A_phi``, ``A_theta``
    ingredients of eqs. (11)-(12) of seeds/000.

    Args:
        base: ``[..., 3, N]``; slope: ``[..., 3]``; y: ``[..., N]`` in m.

    Returns:
        ``[..., 3, N]`` complex rows ``a``, ``da/dphi`` (1/rad), ``da/dtheta`` (1/rad).
    """
    proj = base + slope[..., None] * y[..., None, :]
    factor = 1j * proj
    factor[..., 0, :] = 1.0
    return factor * cis(proj[..., :1, :])


def steering_vector(xz: np.ndarray, y: np.ndarray, phi: np.ndarray, theta: np.ndarray,
                    wavelength_m: float) -> np.ndarray:
    """Flexible-UPA steering vector ``a(y, phi, theta)`` of eq. (3) of seeds/000.

    Args:
        xz: ``[2, N]`` in m; y: ``[..., N]`` in m; phi, theta: ``[...]`` in rad.

    Returns:
        ``[..., N]`` complex.
    """
    base, slope = phase_split(xz, direction_cosines(phi, theta)[..., 0, :], wavelength_m)
    return steering_from_split(base, slope, y)


def steering_with_derivatives(xz: np.ndarray, y: np.ndarray, phi: np.ndarray, theta: np.ndarray,
                              wavelength_m: float) -> np.ndarray:
    """Steering vector and its angle derivatives, ``[..., 3, N]`` (see :func:`steering_set_from_split`)."""
    base, slope = phase_split(xz, direction_cosines(phi, theta), wavelength_m)
    return steering_set_from_split(base, slope, y)
