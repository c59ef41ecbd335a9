"""Batch axes of the frozen dataclasses that hold scenarios, references and configurations.

Every function recurses into nested dataclasses, so a container such as a references object
holding a geometry dataclass stacks, slices and assigns like a flat one.

Sets whose size varies per scenario (e.g. the visible patches of an extended target) follow the
pad-and-mask convention: :func:`pad_stack` pads them to the largest size along their leading
axis and returns a boolean mask ``[B, Q_max]``; masked reductions (:func:`masked_sum`,
:func:`masked_max`, :func:`masked_min`) ignore the padding, so batch-first code stays loop-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def _fields(item: Any):
    return dataclasses.fields(item)


def stack(items: Sequence[T]) -> T:
    """Stack dataclass instances field by field along a new leading batch axis."""
    first = items[0]
    if dataclasses.is_dataclass(first):
        return type(first)(**{f.name: stack([getattr(i, f.name) for i in items]) for f in _fields(first)})
    return np.stack([np.asarray(i) for i in items])


def take(batch: T, index: Any) -> T:
    """Select ``index`` (int, slice, mask or index array) along the leading axis of every field."""
    if dataclasses.is_dataclass(batch):
        return type(batch)(**{f.name: take(getattr(batch, f.name), index) for f in _fields(batch)})
    return batch[index]


def assign(batch: Any, index: Any, values: Any) -> None:
    """Write ``values`` into rows ``index`` of every field of ``batch`` (in place)."""
    for f in _fields(batch):
        dst, src = getattr(batch, f.name), getattr(values, f.name)
        if dataclasses.is_dataclass(dst):
            assign(dst, index, src)
        else:
            dst[index] = src


def with_rows(batch: T, index: Any, values: T) -> T:
    """A copy of ``batch`` with rows ``index`` replaced by ``values``; ``batch`` itself is left unchanged."""
    if dataclasses.is_dataclass(batch):
        return type(batch)(**{f.name: with_rows(getattr(batch, f.name), index, getattr(values, f.name))
                              for f in _fields(batch)})
    out = np.array(batch)
    out[index] = values
    return out


def broadcast(item: T, batch: int) -> T:
    """An unbatched dataclass repeated along a new leading axis of size ``batch`` (read-only views)."""
    if dataclasses.is_dataclass(item):
        return type(item)(**{f.name: broadcast(getattr(item, f.name), batch) for f in _fields(item)})
    arr = np.asarray(item)
    return np.broadcast_to(arr, (batch,) + arr.shape)


def as_dict(item: Any) -> dict[str, Any]:
    """Fields of a dataclass as a plain (nested) dict of arrays (copies)."""
    return {f.name: as_dict(v) if dataclasses.is_dataclass(v := getattr(item, f.name)) else np.array(v)
            for f in _fields(item)}


def pad_stack(items: Sequence[np.ndarray], fill: Any = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stack arrays whose leading sizes differ: ``(padded [B, Q_max, ...], mask [B, Q_max])``.

    Row ``b`` holds ``items[b]`` in its first ``len(items[b])`` entries and ``fill`` after them;
    ``mask[b, q]`` is True for real entries.
    """
    arrays = [np.asarray(a) for a in items]
    q_max = max((a.shape[0] for a in arrays), default=0)
    tail = arrays[0].shape[1:] if arrays else ()
    dtype = np.result_type(*arrays) if arrays else float
    out = np.full((len(arrays), q_max) + tail, fill, dtype=dtype)
    mask = np.zeros((len(arrays), q_max), dtype=bool)
    for b, a in enumerate(arrays):  # building the padded batch, once per scenario draw
        out[b, : a.shape[0]] = a
        mask[b, : a.shape[0]] = True
    return out, mask


def _expand(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim))


def masked_sum(values: np.ndarray, mask: np.ndarray, axis: int = -1) -> np.ndarray:
    """Sum of ``values`` over the padded axis (the last axis of ``mask``), padding ignored."""
    return np.sum(np.where(_expand(mask, values), values, 0), axis=axis)


def masked_max(values: np.ndarray, mask: np.ndarray, axis: int = -1, empty: float = -np.inf) -> np.ndarray:
    """Maximum over the padded axis, padding ignored (``empty`` where a row has no entry)."""
    return np.max(np.where(_expand(mask, values), values, empty), axis=axis, initial=empty)


def masked_min(values: np.ndarray, mask: np.ndarray, axis: int = -1, empty: float = np.inf) -> np.ndarray:
    """Minimum over the padded axis, padding ignored (``empty`` where a row has no entry)."""
    return np.min(np.where(_expand(mask, values), values, empty), axis=axis, initial=empty)


def shared_matmul(matrix: np.ndarray, batch: np.ndarray) -> np.ndarray:
    """``matrix @ batch`` for one shared ``[P, Q]`` matrix and a batch ``[..., Q, N]``, as one wide product.

    The batch axes are folded into the columns (``[Q, B N]``), so BLAS sees a single ``P x Q x B N``
    product instead of B narrow ones. Returns ``[..., P, N]``.
    """
    q, n = batch.shape[-2:]
    lead = batch.shape[:-2]
    cols = np.moveaxis(batch, -2, 0).reshape(q, -1)
    return np.moveaxis((matrix @ cols).reshape((matrix.shape[0],) + lead + (n,)), 0, -2)
