"""Sweeps and run bookkeeping: the last step a run logged, and the summary of a Hydra multirun.

``python train.py -m ...`` (any launcher: ``basic``, ``joblib``, ``slurm`` / ``submitit_*``) writes
``summary.csv`` at the sweep root when every job has ended: one row per job with its ``metrics.json``
(env, agent, seed, status, steps, wall time, mean episode reward and the trained agent's evaluation).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


def _summary_events(tb_dir: Path):
    """Every summary event of the TensorBoard event files under ``tb_dir``; a file cut short by a hard kill is
    read up to its last complete record."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    for path in sorted(Path(tb_dir).rglob("events.out.tfevents.*")):
        try:
            for event in EventFileLoader(str(path)).Load():
                if event.HasField("summary"):
                    yield event
        except Exception:  # a truncated record at the end of a killed run's file
            continue


def last_logged_step(tb_dir: Path) -> int | None:
    """The largest step of any scalar in the TensorBoard event files under ``tb_dir`` (None if there is none)."""
    return max((int(e.step) for e in _summary_events(tb_dir)), default=None)


def scalars(tb_dir: Path, tags: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """The ``(step, value)`` points of each scalar tag in ``tags`` logged under ``tb_dir``, in step order."""
    out: dict[str, list[tuple[int, float]]] = {t: [] for t in tags}
    for event in _summary_events(tb_dir):
        for value in event.summary.value:
            if value.tag in out:
                x = value.simple_value if value.HasField("simple_value") else value.tensor.float_val[0]
                out[value.tag].append((int(event.step), float(x)))
    return {t: sorted(v) for t, v in out.items()}


def gather(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job of a sweep: its subdirectory and the fields of its ``metrics.json``."""
    rows = []
    for path in sorted(Path(sweep_dir).rglob("metrics.json")):
        rows.append({"job": str(path.parent.relative_to(sweep_dir)), **json.loads(path.read_text())})
    return rows


def write_summary(sweep_dir: Path) -> Path:
    """``summary.csv`` at the sweep root (columns: the union of the jobs' fields, in first-seen order)."""
    rows = gather(sweep_dir)
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = Path(sweep_dir) / "summary.csv"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns or ["job"])
        writer.writeheader()
        writer.writerows(rows)
    return out


class SweepSummary(Callback):
    """Hydra callback (``conf/config.yaml``): writes the sweep's ``summary.csv`` when the multirun ends."""

    def on_multirun_end(self, config, **kwargs: Any) -> None:
        out = write_summary(Path(config.hydra.sweep.dir))
        print(f"sweep summary: {out}")
