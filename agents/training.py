"""The body of ``train.py``: one training run from a resolved config to its run directory.

It lives in an importable module so that Hydra's process launchers (joblib, submitit) pickle the task by
reference: a function defined in ``__main__`` is pickled by value together with every module it reaches.
"""

from __future__ import annotations

import json
import pickle
import signal
import sys
import time
import warnings
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.callbacks import CallbackList

import isac_gym  # noqa: F401  (registers the ids)
from agents.algorithms import ALGORITHMS, OFF_POLICY, build_model
from agents.callbacks import (
    BenchEvaluation,
    HParams,
    ISACMetricsCallback,
    LagrangianLog,
    RotatingCheckpoint,
    StopOnSignal,
)
from agents.config import TrainConfig, check_values, resolve_gamma
from agents.evaluation import evaluate_policies, make_env, make_training_env, scenarios_phrase, verdict
from agents.lagrangian import LagrangianVecEnv, attach, enabled, for_env, objective_env, state_path
from agents.runs import open_run
from agents.sweep import last_logged_step
from isac_gym import oracles
from isac_gym.bench.protocol import reference_path


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


def resume_path(cfg: DictConfig) -> Path | None:
    """The model a ``resume=`` run continues from (a run directory gives its newest model), or None."""
    if not cfg.resume:
        return None
    try:
        return open_run(hydra.utils.to_absolute_path(cfg.resume)).model
    except ValueError as exc:
        raise RunError(f"resume: {exc}") from exc


def continued_config(cfg: DictConfig, saved: dict) -> DictConfig:
    """The config a resumed run continues with: the saved run's (env, agent and every training field), with
    the fields given on this command line on top. An explicit ``env=`` / ``agent=`` that differs is refused."""
    choices = HydraConfig.get().runtime.choices
    for group, key in (("env", "id"), ("agent", "algo")):
        explicit = _explicit_choice(group)
        if explicit is not None and cfg[group][key] != saved[group][key]:
            raise RunError(f"resume: the checkpoint was trained with {group} {saved[group][key]!r}, "
                           f"not {cfg[group][key]!r} ({group}={choices.get(group)}); drop {group}= to resume")
    given = {item.split("=", 1)[0].lstrip("+~") for item in HydraConfig.get().overrides.task}
    merged = OmegaConf.create(saved)
    for key in cfg:
        if key not in ("env", "agent") and (key in given or key not in merged):
            merged[key] = cfg[key]
    return merged


def prepare(cfg: DictConfig) -> tuple[dict, dict, dict]:
    """Resolve env and agent, check every name and value before training."""
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    agent_cfg = OmegaConf.to_container(cfg.agent, resolve=True)
    try:
        check_values(cfg, TrainConfig, with_env=False)  # the env is built below
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    if agent_cfg.get("algo") not in ALGORITHMS:
        raise RunError(f"agent.algo must be one of {sorted(ALGORITHMS)}, got {agent_cfg.get('algo')!r}")
    if enabled(agent_cfg):
        env_cfg = objective_env(env_cfg)
    probe = make_env(env_cfg)  # constructor errors surface here, as one line
    agent_cfg = resolve_gamma(agent_cfg, env_cfg)
    available = oracles.names(probe)
    slow = oracles.slow_names(probe)
    objective = probe.unwrapped.system.objective_name
    maximise = probe.unwrapped.system.maximise
    lagrangian = for_env(agent_cfg, probe) if enabled(agent_cfg) else None
    probe.close()
    if cfg.eval_policies is not None:
        policies = list(cfg.eval_policies)
    else:  # slow solvers stay one flag away: eval_policies=[checkpoint,...,sdr]
        policies = ["checkpoint"] + [p for p in available if p not in slow]
        if slow and cfg.eval_episodes > 0:
            print(f"the comparison after training leaves out {', '.join(slow)} (slow: over ten seconds per "
                  f"scenario); eval_policies=[{','.join(['checkpoint'] + available)}] includes it")
    unknown = [p for p in policies if p not in available + ["checkpoint"]]
    if unknown:
        raise RunError(f"eval_policies: unknown {unknown} for {env_cfg['id']}; available: {['checkpoint'] + available}")
    if agent_cfg["algo"] in OFF_POLICY and cfg.total_timesteps <= agent_cfg.get("learning_starts", 0) and not cfg.resume:
        warnings.warn(f"total_timesteps={cfg.total_timesteps} <= agent.learning_starts="
                      f"{agent_cfg['learning_starts']}: the agent collects data but never trains", stacklevel=1)
    if "n_steps" in agent_cfg:
        agent_cfg["n_steps"] = rollout_steps(int(agent_cfg["n_steps"]), int(cfg.n_envs), int(cfg.total_timesteps))
    extra = {"policies": policies, "objective": objective, "maximise": maximise, "lagrangian": lagrangian}
    return env_cfg, agent_cfg, extra


def rollout_steps(n_steps: int, n_envs: int, total: int) -> int:
    """On-policy rollouts hold ``n_steps * n_envs`` steps and SB3 runs whole rollouts only: a rollout larger than
    the budget is shrunk to it (``n_steps = ceil(total / n_envs)``), and a budget that is no multiple of the rollout
    is announced with the number of steps that will run."""
    if n_steps * n_envs > total:
        fitted = max(1, -(-total // n_envs))
        print(f"agent.n_steps={n_steps} with n_envs={n_envs} collects {n_steps * n_envs} steps per rollout, more "
              f"than total_timesteps={total}: n_steps set to {fitted}")
        n_steps = fitted
    rollout = n_steps * n_envs
    if total % rollout:
        runs = -(-total // rollout) * rollout
        warnings.warn(f"total_timesteps={total} is not a multiple of the rollout (n_steps * n_envs = {rollout}): "
                      f"SB3 runs whole rollouts, {runs} steps in all", stacklevel=1)
    return n_steps


def setup(cfg: DictConfig, run_dir: Path, resume: Path | None):
    """Everything before training; any bad value or argument becomes a :class:`RunError` (one line)."""
    try:
        env_cfg, agent_cfg, extra = prepare(cfg)
        vec_env = make_training_env(env_cfg, cfg.n_envs, cfg.vectorization, cfg.seed)
        if extra["lagrangian"] is not None:
            vec_env = LagrangianVecEnv(vec_env, extra["lagrangian"])
        model = _model(cfg, run_dir, env_cfg, agent_cfg, resume, vec_env, extra["lagrangian"])
    except RunError:
        raise
    except (ValueError, TypeError) as exc:
        raise RunError(str(exc).splitlines()[0]) from exc
    return env_cfg, agent_cfg, extra, vec_env, model


def _model(cfg, run_dir, env_cfg, agent_cfg, resume, vec_env, lagrangian):
    tb_dir = str(run_dir / "tb")
    if resume is None:
        return build_model(agent_cfg, vec_env, cfg.seed, tb_dir, lagrangian)
    try:
        model = ALGORITHMS[agent_cfg["algo"]].load(resume, env=vec_env, tensorboard_log=tb_dir, device="cpu")
    except Exception as exc:  # a corrupt archive, another algorithm's model or another env's spaces
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunError(f"resume: {resume} is not a {agent_cfg['algo']} model of {env_cfg['id']} ({reason})") from exc
    logged = last_logged_step(run_dir / "tb")
    if logged is not None and logged > model.num_timesteps:
        print(f"resume: {resume.name} holds step {model.num_timesteps} but the run had logged up to step {logged}: "
              f"{logged - model.num_timesteps} steps were lost (no clean save) and are trained again")
    if agent_cfg["algo"] in OFF_POLICY:
        buffer = replay_buffer_of(resume, run_dir)
        if buffer is None:
            print(f"resume: no replay buffer found beside {resume.name}; continuing with an empty buffer")
        else:
            try:
                model.load_replay_buffer(buffer)
                print(f"resume: replay buffer restored from {buffer} ({model.replay_buffer.size()} transitions)")
            except (EOFError, pickle.UnpicklingError) as exc:  # cut short by a kill while it was written
                print(f"resume: the replay buffer {buffer.name} is unreadable ({exc}); continuing with an empty buffer")
    if lagrangian is not None:
        saved = state_path(resume)
        if saved.is_file():
            lagrangian.load(saved)
            values = ", ".join(f"{c} {m:.3g}" for c, m in zip(lagrangian.constraints, lagrangian.multipliers,
                                                                strict=True))
            print(f"resume: Lagrange multipliers restored from {saved.name} ({values})")
        else:
            print(f"resume: no multipliers found beside {resume.name}; starting them at lambda_init")
        attach(model, lagrangian)
    return model


def write_metrics(run_dir: Path, env_cfg: dict, agent_cfg: dict, cfg: DictConfig, model, status: str,
                  seconds: float, rows: list[dict] | None, lagrangian=None) -> None:
    """``metrics.json``: the run's final figures (a sweep's ``summary.csv`` has one row of them per job)."""
    episodes = [ep["r"] for ep in (getattr(model, "ep_info_buffer", None) or [])]
    out = {"env": env_cfg["id"], "agent": agent_cfg["algo"], "seed": int(cfg.seed), "status": status,
           "steps": int(model.num_timesteps), "wall_s": round(seconds, 2),
           "ep_reward_mean": float(sum(episodes) / len(episodes)) if episodes else None}
    if lagrangian is not None:
        out["lagrange"] = dict(zip(lagrangian.constraints, lagrangian.multipliers.tolist(), strict=True))
    for row in rows or []:
        if row["policy"] == "checkpoint":
            out.update({f"eval_{k}": v for k, v in row.items() if k != "policy" and isinstance(v, (int, float))})
    (run_dir / "metrics.json").write_text(json.dumps(out, indent=1))


def hparams(env_cfg: dict, agent_cfg: dict, cfg: DictConfig) -> dict:
    """The run's hyper-parameters for TensorBoard's HParams tab: the env id and kwargs, the agent's settings, the
    seed and budget (anything but a scalar, e.g. ``net_arch`` or ``None``, as text)."""
    out = {"env": env_cfg["id"], "seed": cfg.seed, "total_timesteps": cfg.total_timesteps, "n_envs": cfg.n_envs}
    out.update({f"env.{k}": v for k, v in (env_cfg.get("kwargs") or {}).items()})
    out.update({f"agent.{k}": v for k, v in agent_cfg.items()})
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in out.items()}


def run(cfg: DictConfig, run_dir: Path) -> float | None:
    start = time.perf_counter()
    resume = resume_path(cfg)
    if resume is not None:  # the run continues in its own directory: same TensorBoard run, checkpoints and model
        saved = open_run(resume)
        run_dir = saved.run_dir
        cfg = continued_config(cfg, saved.config)
        print(f"resume: continuing the run in {run_dir} from {resume.name}")
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    if cfg.torch_threads > 0:
        torch.set_num_threads(cfg.torch_threads)
    env_cfg, agent_cfg, extra, vec_env, model = setup(cfg, run_dir, resume)
    lagrangian = extra["lagrangian"]
    if lagrangian is not None and resume is None:  # the saved config says how the env was made
        cfg.env.kwargs.reward_mode = "objective"
        OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    off_policy = agent_cfg["algo"] in OFF_POLICY
    stopper = StopOnSignal()
    checkpoints = RotatingCheckpoint(cfg.checkpoint_freq, run_dir / "checkpoints", keep=cfg.keep_checkpoints,
                                     save_replay_buffer=cfg.save_replay_buffer, lagrangian=lagrangian)
    parts = [ISACMetricsCallback(extra["objective"]), checkpoints, stopper]
    if lagrangian is not None:
        parts.append(LagrangianLog(vec_env))
    metrics = ("isac/objective_score", "isac/feasible")
    if cfg.bench_every > 0:
        parts.append(BenchEvaluation(env_cfg, cfg.bench_every, cfg.bench_episodes, run_dir))
        metrics = ("eval/score", "eval/feasible") + metrics
    if resume is None:  # logged once per run (a resumed run continues the same TensorBoard run)
        parts.append(HParams(hparams(env_cfg, agent_cfg, cfg), metrics))
    callbacks = CallbackList(parts)
    remaining = max(0, int(cfg.total_timesteps) - int(model.num_timesteps))
    interrupted = False
    try:
        model.learn(total_timesteps=remaining, callback=callbacks, log_interval=cfg.log_interval,
                    tb_log_name="run", reset_num_timesteps=resume is None, progress_bar=cfg.progress_bar)
    except KeyboardInterrupt:  # a second Ctrl-C: abort now, still saving what there is
        interrupted = True
    finally:
        model.save(run_dir / "model.zip")
        if lagrangian is not None:
            lagrangian.save(state_path(run_dir / "model.zip"))
        if (interrupted or stopper.stop_requested) and off_policy and cfg.save_replay_buffer:
            model.save_replay_buffer(run_dir / "replay_buffer.pkl")  # so that the interrupted run resumes whole
        else:  # a finished run keeps no buffer (one from an earlier interruption would be stale)
            (run_dir / "replay_buffer.pkl").unlink(missing_ok=True)
        vec_env.close()
        _link_latest(run_dir)
    print(f"model saved to {run_dir / 'model.zip'} after {model.num_timesteps} steps")
    if interrupted or stopper.stop_requested:
        write_metrics(run_dir, env_cfg, agent_cfg, cfg, model, "stopped", time.perf_counter() - start, None,
                      lagrangian)
        print("training stopped early by a signal; continue with resume=" + str(run_dir))
        signum = stopper.signum if stopper.signum is not None else signal.SIGINT
        sys.exit(128 + int(signum))  # as shells report a job ended by a signal: 130 (Ctrl-C), 143 (SIGTERM)
    rows = None
    if cfg.eval_episodes > 0:
        # the score's anchors (an oracle solve per scenario) are shared with evaluate.py and later runs
        references = reference_path(Path(hydra.utils.get_original_cwd()) / "outputs", env_cfg["id"],
                                    env_cfg.get("kwargs") or {})
        rows, table = evaluate_policies(extra["policies"], env_cfg, cfg.eval_episodes, seed=1000,
                                        out_dir=run_dir, steps=cfg.eval_steps, references=references,
                                        checkpoint=str(run_dir / "model.zip"), show_progress=cfg.progress_bar)
        print(f"\n{env_cfg['id']}: trained {agent_cfg['algo']} vs oracles and baselines on "
              f"{scenarios_phrase(cfg.eval_episodes, 1000)}\n{table}\n")
        print(verdict(rows, extra["objective"], extra["maximise"]) + "\n")
    write_metrics(run_dir, env_cfg, agent_cfg, cfg, model, "completed", time.perf_counter() - start, rows,
                  lagrangian)
    return float(rows[0]["objective_mean"]) if rows else None
