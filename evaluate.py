"""Compare policies on the same seeded scenarios: ``python evaluate.py env=fim policy=oracle``.

``policy`` is one name (the env's oracles and baselines, e.g. ``oracle``, ``rigid``, ``random``
for ``fim``; ``oracle``, ``no_ris``, ``random_ris``, ``radar_only`` for ``ris_slp``; or
``checkpoint``) or ``all`` (every oracle and baseline, plus ``checkpoint`` when one is given).
``checkpoint`` is a ``train.py`` run directory (its newest model; ``outputs/latest`` works) or a model file in one.
The trained model acts in the env its run saved (id, every kwarg, ``max_episode_steps``), and every policy is
compared on that env: ``env=`` may be left out; given, another id is refused, and so is an
``env.kwargs.action_mode`` (or ``action_step``) other than the run's, while other ``env.kwargs`` evaluate the model
under other physics.
Prints the comparison table (objective; ISAC-Bench's score, 0 random configurations, 1 the oracle, 0 where infeasible,
with its anchors cached in ``outputs/references/``, and the objective ratio beside it; reward, feasibility rate,
cost, each violation's mean, the solvers' status counts) and writes ``evaluation.csv`` and ``evaluation.json`` to the
run dir; ``render=true`` also saves one PNG per policy and scenario under ``frames/``.
A bad policy name or a missing or incompatible checkpoint exits with status 2 and one line on stderr, leaving no run
directory behind.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from agents.cli import precheck
from agents.config import EvaluateConfig, check_values, register

register()
if __name__ == "__main__":
    precheck("evaluate")  # a bad command line fails in one line, before the heavy imports below

import gymnasium as gym  # noqa: E402
import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

import isac_gym  # noqa: E402, F401
from agents.bench_tools import open_model  # noqa: E402
from agents.evaluation import CheckpointPolicy, evaluate_policies, make_env, scenarios_phrase  # noqa: E402
from isac_gym import oracles  # noqa: E402
from isac_gym.bench.protocol import reference_path  # noqa: E402
from isac_gym.bench.trained import agent_env  # noqa: E402


def _asked(cfg: DictConfig) -> tuple[str | None, dict, int | None]:
    """What the command line asked of the env explicitly: the id (``env=``), ``env.kwargs.<k>=`` values and
    ``env.max_episode_steps=``."""
    overrides = [item.lstrip("+~") for item in HydraConfig.get().overrides.task]
    env_id = cfg.env.id if any(item.startswith("env=") for item in overrides) else None
    given = OmegaConf.to_container(cfg.env.kwargs, resolve=True)
    kwargs = {}
    for item in overrides:
        key = item.split("=", 1)[0]
        if key.startswith("env.kwargs."):
            kwargs[key[len("env.kwargs."):]] = given[key[len("env.kwargs."):]]
    steps = cfg.env.max_episode_steps if any(item.startswith("env.max_episode_steps=") for item in overrides) else None
    return env_id, kwargs, steps


def plan(cfg: DictConfig) -> tuple[dict, list[str], str | None]:
    """The env block, the policies and the model file of this evaluation; ``ValueError`` (one line) for anything
    that cannot run."""
    check_values(cfg, EvaluateConfig, with_env=False)
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    checkpoint = None
    if cfg.checkpoint:
        model = open_model(hydra.utils.to_absolute_path(cfg.checkpoint))
        saved = agent_env(model, *_asked(cfg))
        env_cfg = {"id": saved.env_id, "max_episode_steps": saved.max_episode_steps, "kwargs": saved.kwargs}
        checkpoint = model.path
    probe: gym.Env = make_env(env_cfg)
    available = oracles.names(probe)
    if cfg.policy == "all":
        policies = (["oracle"] + [n for n in available if n not in ("oracle", "random")]
                    + ["random"] + (["checkpoint"] if checkpoint else []))
    elif cfg.policy in available or cfg.policy == "checkpoint":
        policies = [cfg.policy]
    else:
        raise ValueError(f"policy must be one of {available + ['checkpoint', 'all']}, got {cfg.policy!r}")
    if "checkpoint" in policies:
        if not checkpoint:
            raise ValueError("policy=checkpoint needs checkpoint=PATH (a run directory or a model file)")
        CheckpointPolicy(checkpoint, probe)  # a model of other spaces is refused here
    probe.close()
    return env_cfg, policies, checkpoint


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        env_cfg, policies, checkpoint = plan(cfg)
    except ValueError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)  # a refused call leaves nothing behind
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    # the anchors of the score (an oracle solve per scenario) are cached across evaluations, keyed by the problem
    references = reference_path(Path(hydra.utils.get_original_cwd()) / "outputs", env_cfg["id"],
                                env_cfg.get("kwargs") or {})
    rows, table = evaluate_policies(policies, env_cfg, cfg.episodes, cfg.seed, run_dir, steps=cfg.steps,
                                    checkpoint=checkpoint, show_progress=cfg.progress_bar, render=cfg.render,
                                    references=references)
    print(f"\n{env_cfg['id']}: {scenarios_phrase(cfg.episodes, cfg.seed)}"
          + (f", trained model {checkpoint}" if checkpoint else ""))
    print(table)
    print(f"\nwritten: {run_dir / 'evaluation.csv'}, {run_dir / 'evaluation.json'}"
          + (f", {run_dir / 'frames'}/*.png" if cfg.render else ""))


if __name__ == "__main__":
    main()
