"""Unit conversions: dB and dBm appear only at the edges, through these helpers."""

from __future__ import annotations

import numpy as np

SPEED_OF_LIGHT = 299_792_458.0  # m/s


def db_to_linear(db):
    """Power ratio in dB -> linear ratio ``10 ** (db / 10)``."""
    return np.power(10.0, np.divide(db, 10.0))


def linear_to_db(x, floor: float = 1e-30):
    """Linear power ratio -> dB; ``x`` is floored at ``floor`` so that zero stays finite."""
    return 10.0 * np.log10(np.maximum(x, floor))


def dbm_to_watt(dbm):
    """Power in dBm -> W."""
    return db_to_linear(np.subtract(dbm, 30.0))


def watt_to_dbm(watt, floor: float = 1e-30):
    """Power in W -> dBm (floored at ``floor`` W)."""
    return linear_to_db(watt, floor) + 30.0


def wavelength(carrier_hz: float) -> float:
    """Free-space wavelength (m) of a carrier frequency (Hz)."""
    return SPEED_OF_LIGHT / carrier_hz


def path_loss(distance_m, c0_db: float, exponent: float, d0_m: float = 1.0):
    """Large-scale power gain ``C0 (d / d0) ** -exponent`` (linear); ``C0`` in dB, distances in m."""
    return db_to_linear(c0_db) * np.power(np.divide(distance_m, d0_m), -exponent)


def radar_gain(distance_m, wavelength_m: float, rcs_m2: float = 1.0):
    """Round-trip power gain ``|alpha|^2 = lambda^2 sigma_rcs / ((4 pi)^3 d^4)`` (radar equation, unit element gains)."""
    return wavelength_m**2 * rcs_m2 / ((4.0 * np.pi) ** 3 * np.power(distance_m, 4.0))
