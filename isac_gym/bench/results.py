"""The results file of ISAC-Bench: one policy on one id, episode by episode (JSON).

Anyone can score an agent the same way: run it on the evaluation scenarios (``env.reset(seed=s)``, ``s`` in
:data:`~isac_gym.bench.protocol.EVAL_SEEDS`), record the final configuration's objective and feasibility per
scenario, write this file and run ``python -m isac_gym.bench score FILE``. Schema (``"schema": "isac-bench/1"``)::

    {
      "schema": "isac-bench/1",
      "env_id": "ISAC-FIM-v0",               # a registered id
      "env_kwargs": {},                      # gym.make kwargs (the anchors are computed with the same ones)
      "policy": "td3-seed0",                 # free text, one name per policy
      "kind": "agent",                       # "agent" (acts step by step) or "solver" (one solve per scenario)
      "episodes": [                          # one per scenario, seeds unique
        {"seed": 1000, "objective": 1.7e-4, "feasible": true, "decision_s": 0.02, "status": "acted", "cost": 0.0}
      ],
      "meta": {}                             # optional: anything (training steps, commit, hardware)
    }

``objective`` is the paper's objective of the final configuration in natural units (``info["objective"]``: finite,
and > 0 for every metric compared in dB, i.e. all but ET's signed WIM objective), ``feasible`` the env's verdict
(``info["feasible"]``), ``decision_s`` the seconds the policy spent deciding (>= 0), ``cost`` (optional; null or
absent where unknown) the final configuration's ``info["cost"]``: >= 0, and 0 exactly when it is feasible.
:func:`validate` checks all of it and names the first bad field.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .protocol import Episode, canonical_kwargs, objective_scale, write_json

SCHEMA = "isac-bench/1"
KINDS = ("agent", "solver")


@dataclass(frozen=True)
class Results:
    """A validated results file (see the module docstring)."""

    env_id: str
    policy: str
    kind: str
    episodes: tuple[Episode, ...]
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "env_id": self.env_id, "env_kwargs": self.env_kwargs, "policy": self.policy,
                "kind": self.kind, "episodes": [asdict(e) for e in self.episodes], "meta": self.meta}


def _fail(where: str, what: str, got: Any) -> None:
    raise ValueError(f"{where} must be {what}, got {got!r}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate(data: Any) -> Results:
    """A :class:`Results` from parsed JSON, or ``ValueError`` naming the first field that breaks the schema."""
    import gymnasium as gym

    import isac_gym  # noqa: F401  (registers the ids)

    if not isinstance(data, dict):
        _fail("results", "a JSON object", type(data).__name__)
    if data.get("schema") != SCHEMA:
        _fail("results.schema", repr(SCHEMA), data.get("schema"))
    for key in ("env_id", "policy", "kind", "episodes"):
        if key not in data:
            raise ValueError(f"results.{key} is missing")
    unknown = set(data) - {"schema", "env_id", "env_kwargs", "policy", "kind", "episodes", "meta"}
    if unknown:
        raise ValueError(f"results has unknown keys {sorted(unknown)}")
    if data["env_id"] not in gym.registry or not str(data["env_id"]).startswith("ISAC-"):
        _fail("results.env_id", "a registered ISAC id", data["env_id"])
    if not isinstance(data["policy"], str) or not data["policy"]:
        _fail("results.policy", "a non-empty string", data["policy"])
    if data["kind"] not in KINDS:
        _fail("results.kind", f"one of {KINDS}", data["kind"])
    for key in ("env_kwargs", "meta"):
        if not isinstance(data.get(key, {}), dict):
            _fail(f"results.{key}", "an object", data[key])
    try:
        canonical_kwargs(data["env_id"], data.get("env_kwargs"))
        scale = objective_scale(data["env_id"], data.get("env_kwargs"))
    except ValueError as exc:
        raise ValueError(f"results.env_kwargs: {exc}") from exc
    if not isinstance(data["episodes"], list) or not data["episodes"]:
        _fail("results.episodes", "a non-empty list", data["episodes"])
    episodes, seen = [], set()
    for i, ep in enumerate(data["episodes"]):
        where = f"results.episodes[{i}]"
        if not isinstance(ep, dict):
            _fail(where, "an object", ep)
        missing = {"seed", "objective", "feasible", "decision_s"} - set(ep)
        if missing:
            raise ValueError(f"{where} lacks {sorted(missing)}")
        extra = set(ep) - {"seed", "objective", "feasible", "decision_s", "status", "cost"}
        if extra:
            raise ValueError(f"{where} has unknown keys {sorted(extra)}")
        if not isinstance(ep["seed"], int) or isinstance(ep["seed"], bool) or ep["seed"] < 0:
            _fail(f"{where}.seed", "an integer >= 0", ep["seed"])
        if ep["seed"] in seen:
            _fail(f"{where}.seed", "unique (one episode per scenario)", ep["seed"])
        seen.add(ep["seed"])
        if not _number(ep["objective"]):
            _fail(f"{where}.objective", "a finite number (the paper's objective in natural units)", ep["objective"])
        if scale == "log" and ep["objective"] <= 0:
            _fail(f"{where}.objective", f"a finite number > 0 ({data['env_id']}'s objective is compared in dB)",
                  ep["objective"])
        if not isinstance(ep["feasible"], bool):
            _fail(f"{where}.feasible", "true or false", ep["feasible"])
        if not _number(ep["decision_s"]) or ep["decision_s"] < 0:
            _fail(f"{where}.decision_s", "a finite number >= 0", ep["decision_s"])
        if not isinstance(ep.get("status", "acted"), str):
            _fail(f"{where}.status", "a string", ep["status"])
        cost = ep.get("cost")
        if cost is not None:
            if not _number(cost) or cost < 0:
                _fail(f"{where}.cost", "a finite number >= 0 or null", cost)
            if (cost == 0) != ep["feasible"]:
                _fail(f"{where}.cost", f"0 exactly when the episode is feasible (feasible: {ep['feasible']})", cost)
        episodes.append(Episode(ep["seed"], float(ep["objective"]), ep["feasible"], float(ep["decision_s"]),
                                ep.get("status", "acted"), None if cost is None else float(cost)))
    return Results(data["env_id"], data["policy"], data["kind"], tuple(episodes), dict(data.get("env_kwargs", {})),
                   dict(data.get("meta", {})))


def load(path: str | Path) -> Results:
    """Read and validate a results file (``ValueError`` names the file and the bad field)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    try:
        return validate(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def save(results: Results, path: str | Path) -> None:
    write_json(path, results.to_json())
