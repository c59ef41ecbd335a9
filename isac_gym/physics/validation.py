"""Validation of parameters: every bad value raises ``ValueError`` naming the field and the accepted range.

Parameter and option dataclasses derive from :class:`Validated`, whose ``__post_init__`` calls
:func:`validate_fields`; the accepted range of each field is declared once, in its ``metadata``
(see :func:`param`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def param(default: Any, doc: str, *, kind: str = "finite", choices: tuple | None = None,
          low: float | None = None, high: float | None = None, symbol: str = "", problem: bool = False,
          extra: dict[str, Any] | None = None) -> Any:
    """A dataclass field with its documentation and accepted range.

    ``kind``: ``"int"`` (integer > 0 unless ``low`` says otherwise), ``"positive"`` (finite > 0),
    ``"nonneg"`` (finite >= 0), ``"finite"`` (finite real), ``"choice"`` (one of ``choices``),
    ``"seed"`` (non-negative integer or None), ``"pair"`` (two finite reals, increasing) or
    ``"any"`` (checked by the class itself). ``problem``: an option that changes the problem an oracle solves
    (its objective or constraints), not only how the agent acts or is rewarded; every physics parameter does
    (:func:`problem_fields`). ``extra``: further metadata of the field.
    """
    meta = {"doc": doc, "kind": kind, "choices": choices, "low": low, "high": high, "symbol": symbol,
            "problem": problem, **(extra or {})}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default=tuple(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_value(name: str, value: Any, kind: str, choices: tuple | None = None, low: float | None = None,
                high: float | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is acceptable for ``kind`` (see :func:`param`)."""
    if kind == "any":
        return
    if kind == "choice":
        if value not in choices:
            raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
        return
    if kind == "seed":
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        return
    if kind == "pair":
        ok = (isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_real(v) and math.isfinite(v)
                                                                           for v in value))
        if not ok or value[0] > value[1]:
            raise ValueError(f"{name} must be a pair (low, high) of finite numbers with low <= high, got {value!r}")
        if low is not None and value[0] < low:
            raise ValueError(f"{name} must lie in [{low}, ...), got {value!r}")
        return
    if kind == "int":
        lo = 1 if low is None else low
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (
                high is not None and value > high):
            accepted = f">= {lo:g}" if high is None else f"in [{lo:g}, {high:g}]"
            raise ValueError(f"{name} must be an integer {accepted}, got {value!r}")
        return
    if not _is_real(value) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if kind == "positive" and value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if kind == "nonneg" and value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value!r}")


def validate_fields(instance: Any) -> None:
    """Check every field of a dataclass declared with :func:`param` (call from ``__post_init__``)."""
    for f in dataclasses.fields(instance):
        meta = f.metadata
        if "kind" in meta:
            check_value(f.name, getattr(instance, f.name), meta["kind"], meta["choices"], meta["low"], meta["high"])


class Validated:
    """Base of the parameter and option dataclasses: after construction list values become tuples (so
    instances stay hashable), every field declared with :func:`param` is checked, then :meth:`check`
    (rules that involve several fields)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # lists (config files, keyword arguments) are stored as tuples
            value = getattr(self, f.name)
            if isinstance(value, list):
                object.__setattr__(self, f.name, tuple(value))
        validate_fields(self)
        self.check()

    def check(self) -> None:
        """Cross-field rules; raise ``ValueError`` naming the fields. None by default."""


def problem_fields(params_class: type, options_class: type) -> tuple[str, ...]:
    """Names of the fields that define the problem: every physics parameter, and the options declared with
    ``param(..., problem=True)`` (an objective's weights, a task). Oracles and score anchors depend on these
    alone, never on the action mode or the reward's penalty weights."""
    names = [f.name for f in dataclasses.fields(params_class)]
    return tuple(names + [f.name for f in dataclasses.fields(options_class) if f.metadata.get("problem")])


def field_docs(cls: type) -> list[tuple[str, Any, str]]:
    """``(name, default, doc)`` of every documented field of a dataclass, in declaration order."""
    return [(f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(cls) if "doc" in f.metadata]
