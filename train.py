"""Train an SB3 agent on an isac-gym env: ``python train.py env=fim agent=ddpg``.

The run directory (``outputs/train/<time>_<env>_<agent>/``) receives the resolved config
(``.hydra/config.yaml``), the TensorBoard event files (``tb/``), periodic checkpoints with the
replay buffer (``checkpoints/``), the final ``model.zip`` and ``replay_buffer.pkl``, and, unless
``eval_episodes=0``, the comparison of the trained agent with the oracle and baselines
(``evaluation.csv``/``.json``). ``outputs/latest`` points at the newest run. Ctrl-C or SIGTERM
stops training cleanly and saves the model; ``resume=PATH/model.zip`` continues it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gymnasium as gym
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
from stable_baselines3.common.env_util import make_vec_env

import isac_gym  # noqa: F401  (registers the ids)
from agents.algorithms import ALGORITHMS, build_model
from agents.callbacks import ISACMetricsCallback, StopOnSignal
from agents.config import register
from agents.evaluation import evaluate_policies

register()


def _link_latest(run_dir: Path) -> None:
    """Point ``outputs/latest`` at this run (best effort: not on filesystems without symlinks)."""
    root = Path(hydra.utils.get_original_cwd()) / "outputs"
    link = root / "latest"
    try:
        root.mkdir(exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(run_dir.resolve(), target_is_directory=True)
    except OSError:
        pass


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    agent_cfg = OmegaConf.to_container(cfg.agent, resolve=True)
    env_kwargs = dict(env_cfg.get("kwargs") or {})
    vec_env = make_vec_env(
        lambda: gym.make(env_cfg["id"], max_episode_steps=env_cfg["max_episode_steps"], **env_kwargs),
        n_envs=cfg.n_envs, seed=cfg.seed)
    tb_dir = str(run_dir / "tb")
    if cfg.resume:
        resume = Path(hydra.utils.to_absolute_path(cfg.resume))
        if not resume.is_file():
            print(f"error: resume checkpoint not found: {resume}", file=sys.stderr)
            sys.exit(2)
        model = ALGORITHMS[agent_cfg["algo"]].load(resume, env=vec_env, tensorboard_log=tb_dir, device="cpu")
        buffer = resume.with_name(resume.stem.replace("model", "replay_buffer") + ".pkl")
        if buffer.is_file():
            model.load_replay_buffer(buffer)
    else:
        model = build_model(agent_cfg, vec_env, cfg.seed, tb_dir)
    objective = vec_env.envs[0].unwrapped.system.objective_name
    stopper = StopOnSignal()
    callbacks = CallbackList([
        ISACMetricsCallback(objective),
        CheckpointCallback(save_freq=max(1, cfg.checkpoint_freq // cfg.n_envs), save_path=str(run_dir / "checkpoints"),
                           name_prefix="model", save_replay_buffer=True),
        stopper,
    ])
    remaining = max(0, int(cfg.total_timesteps) - int(model.num_timesteps))
    try:
        model.learn(total_timesteps=remaining, callback=callbacks, log_interval=cfg.log_interval,
                    tb_log_name="run", reset_num_timesteps=not cfg.resume, progress_bar=cfg.progress_bar)
    except KeyboardInterrupt:
        stopper.stop_requested = True
    finally:
        model.save(run_dir / "model.zip")
        model.save_replay_buffer(run_dir / "replay_buffer.pkl")
        vec_env.close()
        _link_latest(run_dir)
    print(f"model saved to {run_dir / 'model.zip'} after {model.num_timesteps} steps")
    if stopper.stop_requested:
        print("training stopped early by a signal; continue with resume=" + str(run_dir / "model.zip"))
        return None
    if cfg.eval_episodes > 0:
        rows, table = evaluate_policies(list(cfg.eval_policies), env_cfg, cfg.eval_episodes, seed=1000,
                                        out_dir=run_dir, steps=cfg.eval_steps,
                                        checkpoint=str(run_dir / "model.zip"), show_progress=cfg.progress_bar)
        print(f"\n{env_cfg['id']}: trained {agent_cfg['algo']} vs oracle and baselines "
              f"({cfg.eval_episodes} seeded scenarios)\n{table}\n")
        return float(rows[0]["objective_mean"])
    return None


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    main()
