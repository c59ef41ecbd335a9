"""Array geometry and steering vectors, with their angle derivatives.

Shared by every system: half-wavelength ULAs (:func:`ula`, RIS-SLP's BS and RIS), UPAs in any
coordinate plane (:func:`upa_positions`: x-z for the FIM surfaces, y-z for the extended-target
BS), and steering sets ``[..., 3, N]`` holding a steering vector and its two angle derivatives
(:func:`steering_set`) for either angle convention (:func:`direction_cosines`, polar angle
from z as in [FIM]; :func:`azimuth_elevation_cosines`, elevation from the x-y plane).

Polar convention ([FIM]): elevation ``theta`` from the z axis,
azimuth ``phi`` in the x-y plane, ``nu = sin(theta) cos(phi)``,
``kappa = sin(theta) sin(phi)``; element n at ``(x_n, y_n, z_n)`` has phase
``delta (x_n nu + y_n kappa + z_n cos(theta))`` with ``delta = 2 pi / lambda``
(eqs. (3)-(5) of [FIM]).

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


def squared_norm(v: np.ndarray, axis: int | tuple[int, int] = -1) -> np.ndarray:
    """``sum |v|^2`` over ``axis`` (-1, -2, or ``(-2, -1)`` for the Frobenius norm), real, without the axis.

    One conjugate dot product (``vecdot``) per vector: it reads ``v`` once, with no ``[..., n]`` temporaries.
    """
    v = np.asarray(v)
    if axis == (-2, -1):
        v = v.reshape(v.shape[:-2] + (-1,))
        axis = -1
    elif axis not in (-1, -2):
        raise ValueError(f"axis must be -1, -2 or (-2, -1), got {axis!r}")
    return np.vecdot(v, v, axis=axis).real


def upa_xz_positions(n_x: int, n_z: int, dx: float, dz: float, x_offset: float = 0.0) -> np.ndarray:
    """x and z coordinates of a UPA in the x-z plane, eqs. (1)-(2) of [FIM].

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
    """Steering vector ``exp(j (base + slope y))`` of eq. (3) of [FIM].

    Args:
        base: ``[..., N]`` rad; slope: ``[...]`` rad/m; y: ``[..., N]`` element y positions in m.

    Returns:
        ``[..., N]`` complex, unit modulus.
    """
    return cis(base + slope[..., None] * y)


def steering_set_from_split(base: np.ndarray, slope: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Steering vector and its phi / theta derivatives from a 3-row split (``u``, ``du/dphi``, ``du/dtheta``).

    ``d a_n / d phi = j delta <p_n, du/dphi> a_n`` (likewise theta): the ``A_phi``, ``A_theta``
    ingredients of eqs. (11)-(12) of [FIM].

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
    """Flexible-UPA steering vector ``a(y, phi, theta)`` of eq. (3) of [FIM].

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


def ula(n: int, angle: np.ndarray, spacing_wl: float = 0.5) -> np.ndarray:
    """ULA steering vector ``exp(j 2 pi d m sin(angle))``, ``m = 0..n-1``, spacing ``d`` in wavelengths.

    Args:
        angle: ``[...]`` rad from the array broadside.

    Returns:
        ``[..., n]`` complex, unit modulus.
    """
    return cis(2.0 * np.pi * spacing_wl * np.arange(n) * np.sin(np.asarray(angle, float))[..., None])


def ula_derivative(n: int, angle: np.ndarray, spacing_wl: float = 0.5) -> np.ndarray:
    """``d ula(n, angle) / d angle = j 2 pi d m cos(angle) ula``, ``[..., n]`` in 1/rad."""
    angle = np.asarray(angle, float)
    return 1j * 2.0 * np.pi * spacing_wl * np.arange(n) * np.cos(angle)[..., None] * ula(n, angle, spacing_wl)


def upa_positions(n_a: int, n_b: int, d_a: float, d_b: float, plane: str = "xz",
                  offset: tuple[float, float, float] = (0.0, 0.0, 0.0), centred: bool = False) -> np.ndarray:
    """Element positions of a UPA in a coordinate plane, ``[3, n_a n_b]`` (rows x, y, z) in m.

    Element ``n`` sits at ``d_a mod(n, n_a)`` along the plane's first axis and ``d_b floor(n / n_a)``
    along its second (``plane="xz"``: x then z, eqs. (1)-(2) of [FIM]; ``"yz"``: y then z;
    ``"xy"``: x then y), plus ``offset``. ``centred=True`` puts the phase centre at the array centre.
    """
    axes = {"xz": (0, 2), "yz": (1, 2), "xy": (0, 1)}
    if plane not in axes:
        raise ValueError(f"plane must be one of {tuple(axes)}, got {plane!r}")
    n = np.arange(n_a * n_b)
    pos = np.zeros((3, n.size))
    ia, ib = axes[plane]
    pos[ia] = d_a * (n % n_a)
    pos[ib] = d_b * (n // n_a)
    if centred:
        pos -= pos.mean(axis=1, keepdims=True)
    return pos + np.asarray(offset, float)[:, None]


def azimuth_elevation_cosines(azimuth: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    """Unit direction ``u = (cos el cos az, cos el sin az, sin el)`` and its derivatives (elevation
    from the x-y plane, azimuth from +x), ``[..., 3, 3]`` laid out as :func:`direction_cosines`."""
    az, el = np.broadcast_arrays(np.asarray(azimuth, float), np.asarray(elevation, float))
    sa, ca, se, ce = np.sin(az), np.cos(az), np.sin(el), np.cos(el)
    out = np.empty(az.shape + (3, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = ce * ca, ce * sa, se
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = -ce * sa, ce * ca, 0.0
    out[..., 2, 0], out[..., 2, 1], out[..., 2, 2] = -se * ca, -se * sa, ce
    return out


def steering_set(positions: np.ndarray, directions: np.ndarray, wavelength_m: float) -> np.ndarray:
    """Steering vector ``exp(j 2 pi <p_n, u> / lambda)`` and its two angle derivatives.

    Args:
        positions: ``[3, N]`` element positions in m (any plane, see :func:`upa_positions`).
        directions: ``[..., 3, 3]`` from :func:`direction_cosines` or :func:`azimuth_elevation_cosines`.

    Returns:
        ``[..., 3, N]`` complex rows ``a``, ``da/d(angle 1)``, ``da/d(angle 2)`` (1/rad).
    """
    proj = (2.0 * np.pi / wavelength_m) * (directions @ positions)  # [..., 3, N]
    a = cis(proj[..., 0, :])
    out = np.empty(proj.shape, dtype=complex)
    out[..., 0, :] = a
    out[..., 1:, :] = 1j * proj[..., 1:, :] * a[..., None, :]
    return out
