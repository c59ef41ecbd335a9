"""The run directories ``train.py`` writes, read back: the newest model of a run and the env it was trained on.

A run directory holds ``.hydra/config.yaml`` (the resolved config), ``model.zip`` (the final or interrupted model)
and ``checkpoints/model_<N>_steps.zip``. :func:`open_run` takes a run directory or any model file inside one, and
is the one reader of a run's saved env block: ``evaluate.py``, ``train.py resume=`` and ISAC-Bench
(``--checkpoint``, ``--agent``, through :mod:`agents.bench_tools`) all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isac_gym.bench.trained import SavedEnv


class RunError(ValueError):
    """A run directory or model that cannot be used (reported as one line)."""


def checkpoint_steps(path: Path) -> int:
    """The step count in a periodic checkpoint's name (``model_<N>_steps.zip``)."""
    return int(Path(path).stem.split("_")[-2])


def newest_model(run_dir: Path) -> Path:
    """The newest model of a run directory: ``model.zip`` (a finished or interrupted run) or, when a periodic
    checkpoint is newer (a run killed without a clean save), that checkpoint."""
    candidates = [run_dir / "model.zip"] if (run_dir / "model.zip").is_file() else []
    candidates += sorted((run_dir / "checkpoints").glob("model_*_steps.zip"), key=checkpoint_steps)[-1:]
    if not candidates:
        raise RunError(f"no model.zip and no checkpoint in {run_dir}")
    return max(candidates, key=lambda p: p.stat().st_mtime)


@dataclass(frozen=True)
class SavedRun:
    """A run of ``train.py``: its directory, the model chosen (the newest, or the file given), its saved config (a
    plain dict) and the env block of that config."""

    run_dir: Path
    model: Path
    config: dict[str, Any]
    env: SavedEnv

    @property
    def algo(self) -> str:
        return str(self.config["agent"]["algo"])


def open_run(path: str | Path) -> SavedRun:
    """The run of ``path``: a run directory (its newest model, :func:`newest_model`; a link such as
    ``outputs/latest`` is followed) or a model file in one (``model.zip`` or ``checkpoints/model_<N>_steps.zip``).
    :class:`RunError` when there is no such file or no saved config beside it."""
    from omegaconf import OmegaConf

    path = Path(path).resolve()
    if path.is_dir():
        run_dir, model = path, newest_model(path)
    elif path.is_file():
        model = path
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    else:
        raise RunError(f"checkpoint not found: {path}")
    cfg_path = run_dir / ".hydra" / "config.yaml"
    if not cfg_path.is_file():
        raise RunError(f"no saved run config at {cfg_path} (a run directory or model written by train.py)")
    config = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)
    env = config.get("env") or {}
    if "id" not in env:
        raise RunError(f"{cfg_path} has no env block")
    return SavedRun(run_dir, model, config,
                    SavedEnv(env["id"], dict(env.get("kwargs") or {}), env.get("max_episode_steps")))
