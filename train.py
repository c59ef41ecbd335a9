"""Train an SB3 agent on an isac-gym env: ``python train.py env=fim agent=td3``.

The run directory (``outputs/train/<time>_<env>_<agent>/``) receives the resolved config
(``.hydra/config.yaml``), the TensorBoard event files (``tb/``), rotating checkpoints
(``checkpoints/model_<N>_steps.zip`` with SB3's ``model_replay_buffer_<N>_steps.pkl``; the newest
``keep_checkpoints`` are kept), the final ``model.zip`` and, unless ``eval_episodes=0``, the comparison
of the trained agent with the env's oracles and baselines (``evaluation.csv`` / ``.json``).
``outputs/latest`` points at the newest run. Ctrl-C or SIGTERM stops training cleanly and saves the
model and replay buffer; ``resume=PATH`` continues a run with the env and agent of its saved config.
A bad value or argument ends the run before training with one line on stderr (exit 2) and no run
directory left behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecMonitor

import isac_gym  # noqa: F401  (registers the ids)
from agents.algorithms import ALGORITHMS, OFF_POLICY, build_model
from agents.callbacks import ISACMetricsCallback, RotatingCheckpoint, StopOnSignal
from agents.config import register
from agents.evaluation import evaluate_policies, make_env
from isac_gym import oracles
from isac_gym.wrappers import SB3VecEnv

register()


class RunError(ValueError):
    """A problem with the run's configuration, reported as one line before anything is trained."""


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


def make_training_env(env_cfg: dict, n_envs: int, vectorization: str, seed: int):
    """``n_envs`` sub-envs as an SB3 VecEnv: one batched :class:`~isac_gym.wrappers.SB3VecEnv` (``native``)
    or SB3's ``DummyVecEnv`` of scalar envs (``dummy``)."""
    kwargs = dict(env_cfg.get("kwargs") or {})
    if vectorization == "native":
        venv = VecMonitor(SB3VecEnv(gym.make_vec(env_cfg["id"], num_envs=n_envs, vectorization_mode="vector_entry_point",
                                                 max_episode_steps=env_cfg["max_episode_steps"], **kwargs)))
        venv.seed(seed)
        return venv
    if vectorization == "dummy":
        return make_vec_env(lambda: gym.make(env_cfg["id"], max_episode_steps=env_cfg["max_episode_steps"], **kwargs),
                            n_envs=n_envs, seed=seed)
    raise RunError(f"vectorization must be one of ('native', 'dummy'), got {vectorization!r}")


def saved_run(resume: Path) -> tuple[Path, dict]:
    """The run directory of a saved model (``model.zip`` or ``checkpoints/model_<N>_steps.zip``) and its config."""
    run_dir = resume.parent.parent if resume.parent.name == "checkpoints" else resume.parent
    cfg_path = run_dir / ".hydra" / "config.yaml"
    if not cfg_path.is_file():
        raise RunError(f"resume: no saved run config at {cfg_path} (resume a model written by train.py)")
    return run_dir, OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=False)


def replay_buffer_of(resume: Path, run_dir: Path) -> Path | None:
    """The replay buffer saved with a model: SB3's ``model_replay_buffer_<N>_steps.pkl`` beside a periodic
    checkpoint, ``replay_buffer.pkl`` beside a final or interrupted model."""
    stem = resume.stem
    candidates = []
    if stem.startswith("model_") and stem.endswith("_steps"):
        candidates.append(resume.with_name(stem.replace("model_", "model_replay_buffer_", 1) + ".pkl"))
    candidates += [resume.with_name("replay_buffer.pkl"), run_dir / "replay_buffer.pkl"]
    return next((c for c in candidates if c.is_file()), None)


def _explicit_choice(group: str) -> str | None:
    for item in HydraConfig.get().overrides.task:
        if item.startswith(f"{group}="):
            return item.split("=", 1)[1]
    return None


def prepare(cfg: DictConfig) -> tuple[dict, dict, Path | None, dict]:
    """Resolve env and agent (from the saved run when resuming), check every name before training."""
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    agent_cfg = OmegaConf.to_container(cfg.agent, resolve=True)
    resume = None
    if cfg.resume:
        resume = Path(hydra.utils.to_absolute_path(cfg.resume))
        if not resume.is_file():
            raise RunError(f"resume checkpoint not found: {resume}")
        _, saved = saved_run(resume)
        choices = HydraConfig.get().runtime.choices
        for group, saved_cfg, current in (("env", saved["env"], env_cfg), ("agent", saved["agent"], agent_cfg)):
            key = "id" if group == "env" else "algo"
            explicit = _explicit_choice(group)
            if explicit is not None and current[key] != saved_cfg[key]:
                raise RunError(f"resume: the checkpoint was trained with {group} {saved_cfg[key]!r}, "
                               f"not {current[key]!r} ({group}={choices.get(group)}); drop {group}= to resume")
        env_cfg, agent_cfg = saved["env"], saved["agent"]
    if cfg.n_envs < 1:
        raise RunError(f"n_envs must be >= 1, got {cfg.n_envs}")
    if cfg.total_timesteps < 0:
        raise RunError(f"total_timesteps must be >= 0, got {cfg.total_timesteps}")
    if agent_cfg.get("algo") not in ALGORITHMS:
        raise RunError(f"agent.algo must be one of {sorted(ALGORITHMS)}, got {agent_cfg.get('algo')!r}")
    probe = make_env(env_cfg)  # constructor errors surface here, as one line
    available = oracles.names(probe)
    objective = probe.unwrapped.system.objective_name
    probe.close()
    policies = list(cfg.eval_policies) if cfg.eval_policies is not None else ["checkpoint"] + available
    unknown = [p for p in policies if p not in available + ["checkpoint"]]
    if unknown:
        raise RunError(f"eval_policies: unknown {unknown} for {env_cfg['id']}; available: {['checkpoint'] + available}")
    if agent_cfg["algo"] in OFF_POLICY and cfg.total_timesteps <= agent_cfg.get("learning_starts", 0) and not resume:
        warnings.warn(f"total_timesteps={cfg.total_timesteps} <= agent.learning_starts="
                      f"{agent_cfg['learning_starts']}: the agent collects data but never trains", stacklevel=1)
    return env_cfg, agent_cfg, resume, {"policies": policies, "objective": objective}


def setup(cfg: DictConfig, run_dir: Path):
    """Everything before training; any bad value or argument becomes a :class:`RunError` (one line)."""
    try:
        env_cfg, agent_cfg, resume, extra = prepare(cfg)
        vec_env = make_training_env(env_cfg, cfg.n_envs, cfg.vectorization, cfg.seed)
        model = _model(cfg, run_dir, env_cfg, agent_cfg, resume, vec_env)
    except RunError:
        raise
    except (ValueError, TypeError) as exc:
        raise RunError(str(exc).splitlines()[0]) from exc
    return env_cfg, agent_cfg, resume, extra, vec_env, model


def _model(cfg, run_dir, env_cfg, agent_cfg, resume, vec_env):
    tb_dir = str(run_dir / "tb")
    if resume is not None:
        saved_dir, _ = saved_run(resume)
        model = ALGORITHMS[agent_cfg["algo"]].load(resume, env=vec_env, tensorboard_log=tb_dir, device="cpu")
        if agent_cfg["algo"] in OFF_POLICY:
            buffer = replay_buffer_of(resume, saved_dir)
            if buffer is None:
                print(f"resume: no replay buffer found beside {resume.name}; continuing with an empty buffer")
            else:
                model.load_replay_buffer(buffer)
                print(f"resume: replay buffer restored from {buffer} ({model.replay_buffer.size()} transitions)")
    else:
        model = build_model(agent_cfg, vec_env, cfg.seed, tb_dir)
    return model


def run(cfg: DictConfig, run_dir: Path) -> float | None:
    env_cfg, agent_cfg, resume, extra, vec_env, model = setup(cfg, run_dir)
    off_policy = agent_cfg["algo"] in OFF_POLICY
    stopper = StopOnSignal()
    checkpoints = RotatingCheckpoint(max(1, cfg.checkpoint_freq // cfg.n_envs), run_dir / "checkpoints",
                                     keep=cfg.keep_checkpoints, save_replay_buffer=cfg.save_replay_buffer)
    callbacks = CallbackList([ISACMetricsCallback(extra["objective"]), checkpoints, stopper])
    remaining = max(0, int(cfg.total_timesteps) - int(model.num_timesteps))
    interrupted = False
    try:
        model.learn(total_timesteps=remaining, callback=callbacks, log_interval=cfg.log_interval,
                    tb_log_name="run", reset_num_timesteps=resume is None, progress_bar=cfg.progress_bar)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        model.save(run_dir / "model.zip")
        if (interrupted or stopper.stop_requested) and off_policy and cfg.save_replay_buffer:
            model.save_replay_buffer(run_dir / "replay_buffer.pkl")  # so that the interrupted run resumes whole
        vec_env.close()
        _link_latest(run_dir)
    print(f"model saved to {run_dir / 'model.zip'} after {model.num_timesteps} steps")
    if interrupted or stopper.stop_requested:
        print("training stopped early by a signal; continue with resume=" + str(run_dir / "model.zip"))
        return None
    if cfg.eval_episodes > 0:
        rows, table = evaluate_policies(extra["policies"], env_cfg, cfg.eval_episodes, seed=1000,
                                        out_dir=run_dir, steps=cfg.eval_steps,
                                        checkpoint=str(run_dir / "model.zip"), show_progress=cfg.progress_bar)
        print(f"\n{env_cfg['id']}: trained {agent_cfg['algo']} vs oracles and baselines "
              f"({cfg.eval_episodes} seeded scenarios)\n{table}\n")
        return float(rows[0]["objective_mean"])
    return None


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


if __name__ == "__main__":
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    main()
