"""Stacking and slicing of the frozen dataclasses that hold scenarios and configurations."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def stack(items: Sequence[T]) -> T:
    """Stack dataclass instances field by field along a new leading batch axis."""
    first = items[0]
    return type(first)(**{f.name: np.stack([getattr(i, f.name) for i in items]) for f in dataclasses.fields(first)})


def take(batch: T, index) -> T:
    """Select ``index`` (int, slice, mask or index array) along the leading axis of every field."""
    return type(batch)(**{f.name: getattr(batch, f.name)[index] for f in dataclasses.fields(batch)})


def assign(batch: T, index, values: T) -> None:
    """Write ``values`` into rows ``index`` of every field of ``batch`` (in place)."""
    for f in dataclasses.fields(batch):
        getattr(batch, f.name)[index] = getattr(values, f.name)


def as_dict(item) -> dict[str, np.ndarray]:
    """Fields of a dataclass as a plain dict of arrays (copies)."""
    return {f.name: np.array(getattr(item, f.name)) for f in dataclasses.fields(item)}
