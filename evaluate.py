"""Compare policies on the same seeded scenarios: ``python evaluate.py env=fim policy=oracle``.

``policy`` is one name (the env's oracles and baselines, e.g. ``oracle``, ``rigid``, ``random``
for ``fim``; ``oracle``, ``no_ris``, ``random_ris``, ``radar_only`` for ``ris_slp``; or
``checkpoint``) or ``all`` (every oracle and baseline, plus ``checkpoint`` when one is given).
Prints the comparison table (objective, score, reward, feasibility rate, each violation's mean, the
solvers' status counts) and writes ``evaluation.csv`` and ``evaluation.json`` to the run dir;
``render=true`` also saves one PNG per policy and scenario under ``frames/``.
A missing or incompatible checkpoint exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.cli import precheck
from agents.config import check_values, register

register()
if __name__ == "__main__":
    precheck("evaluate")  # a bad command line fails in one line, before the heavy imports below

import gymnasium as gym  # noqa: E402
import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

import isac_gym  # noqa: E402, F401
from agents.evaluation import CheckpointError, CheckpointPolicy, evaluate_policies, make_env  # noqa: E402
from isac_gym import oracles  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    try:
        probe: gym.Env = make_env(env_cfg)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    available = oracles.names(probe)
    checkpoint = hydra.utils.to_absolute_path(cfg.checkpoint) if cfg.checkpoint else None
    if cfg.policy == "all":
        policies = (["oracle"] + [n for n in available if n not in ("oracle", "random")]
                    + ["random"] + (["checkpoint"] if checkpoint else []))
    elif cfg.policy in available or cfg.policy == "checkpoint":
        policies = [cfg.policy]
    else:
        print(f"error: policy must be one of {available + ['checkpoint', 'all']}, got {cfg.policy!r}", file=sys.stderr)
        sys.exit(2)
    if "checkpoint" in policies:
        if not checkpoint:
            print("error: policy=checkpoint needs checkpoint=PATH", file=sys.stderr)
            sys.exit(2)
        try:
            CheckpointPolicy(checkpoint, probe)
        except CheckpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
    probe.close()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_values(cfg, with_env=False)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    rows, table = evaluate_policies(policies, env_cfg, cfg.episodes, cfg.seed, run_dir, steps=cfg.steps,
                                    checkpoint=checkpoint, show_progress=cfg.progress_bar, render=cfg.render)
    print(f"\n{env_cfg['id']}: {cfg.episodes} seeded scenarios (seeds {cfg.seed}..{cfg.seed + cfg.episodes - 1})")
    print(table)
    print(f"\nwritten: {run_dir / 'evaluation.csv'}, {run_dir / 'evaluation.json'}"
          + (f", {run_dir / 'frames'}/*.png" if cfg.render else ""))


if __name__ == "__main__":
    main()
