"""Helpers shared by the env tests."""

import numpy as np


def saturated(v):
    """The documented saturating map of the reward's violation terms, written out: u / (1 + u), u = log(1 + v)."""
    u = np.log1p(v)
    return u / (1 + u)
