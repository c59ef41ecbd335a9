"""Train an SB3 agent on an isac-gym env: ``python train.py env=fim agent=td3``.

The run directory (``outputs/train/<time>_<env>_<agent>/``) receives the resolved config
(``.hydra/config.yaml``), the TensorBoard event files (``tb/``), rotating checkpoints
(``checkpoints/model_<N>_steps.zip`` with SB3's ``model_replay_buffer_<N>_steps.pkl``; the newest
``keep_checkpoints`` are kept), the final ``model.zip``, ``metrics.json`` (the run's final figures, which
a sweep gathers into one ``summary.csv``) and, unless ``eval_episodes=0``, the comparison of the
trained agent with the env's oracles and baselines (``evaluation.csv`` / ``.json``).
``outputs/latest`` points at the newest run.

Ctrl-C (SIGINT) or SIGTERM stops training at the next step and saves the model and replay buffer (a
second Ctrl-C aborts at once); the script then exits with 130 (SIGINT) or 143 (SIGTERM), as shells report a job
ended by a signal, so schedulers can tell a stopped run from a finished one. ``resume=PATH`` continues a run *in
its own directory* (same TensorBoard
run, same checkpoints, same step count) with the env and agent of its saved config; ``PATH`` is a model
``.zip`` or the run directory itself, whose newest model is taken (the final or interrupted
``model.zip``, or after a hard kill the newest periodic checkpoint, with a message saying how many logged
steps it lost). A bad value or argument ends the run before training with one line on stderr (exit 2)
and no run directory left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from agents.cli import precheck
from agents.config import register

register()
if __name__ == "__main__":
    precheck("config")  # a bad command line fails in one line, before the heavy imports below

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from agents.training import RunError, run  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return run(cfg, run_dir)
    except RunError as exc:  # configuration and constructor errors, before anything is trained
        if not (run_dir / "model.zip").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        if cfg.resume and run_dir.is_dir() and not (run_dir / "model.zip").exists():
            shutil.rmtree(run_dir, ignore_errors=True)  # the resumed run's own directory holds everything


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    main()
