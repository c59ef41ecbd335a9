"""Training callbacks: every reward term and physical metric to TensorBoard, rotating checkpoints, clean stops."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from isac_gym.physics.units import linear_to_db

from .lagrangian import PIDLagrangian, state_path
from .runs import checkpoint_steps

if TYPE_CHECKING:
    from isac_gym.bench import Summary

#: info keys that are not metrics (or are logged under their own tags).
_SKIP = {"objective", "objective_score", "sinr", "rate", "power", "feasible", "violation", "reward_terms", "config",
         "TimeLimit.truncated", "terminal_observation", "episode", "cost", "costs", "objective_reward"}


def scalar_metrics(info: dict, objective_name: str) -> dict[str, float]:
    """Flatten one env's ``info`` into TensorBoard scalars (``isac/<metric>``, ``reward/<term>``, ``cost/<constraint>``
    and ``cost/total``, ``layer/<entry>``).

    A minimum SINR of 0 (e.g. a RIS-SLP symbol outside its constructive region: "-inf dB") is
    skipped, not logged as a floor value. Further metrics of the system (``info`` entries beyond
    the contract) are logged too: scalars as they are, vectors as their mean (``<name>_mean``).
    """
    out: dict[str, float] = {}
    sinr = np.atleast_1d(info["sinr"])
    out[f"isac/{objective_name}"] = float(info["objective"])
    out["isac/objective_score"] = float(info["objective_score"])
    if np.min(sinr) > 0:
        out["isac/sinr_min_db"] = float(np.min(linear_to_db(sinr)))
    out["isac/rate_sum"] = float(np.sum(info["rate"]))
    out["isac/power_w"] = float(info["power"])
    out["isac/feasible"] = float(info["feasible"])
    for name, value in info["violation"].items():
        out[f"isac/violation_{name}"] = float(value)
    for name, value in info["reward_terms"].items():
        out[f"reward/{name}"] = float(value)
    for name, value in info["costs"].items():
        out[f"cost/{name}"] = float(value)
    out["cost/total"] = float(info["cost"])
    for name, value in info.get("layer", {}).items():  # what a structured mode's layer did
        out[f"layer/{name}"] = float(value)
    for key, value in info.items():
        if key in _SKIP or key == objective_name or isinstance(value, dict):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind in "fiub" and arr.size:
            out[f"isac/{key}" if arr.size == 1 else f"isac/{key}_mean"] = float(np.mean(arr))
    return out


class ISACMetricsCallback(BaseCallback):
    """Averages every metric of every sub-env's ``info`` over the steps between two SB3 log dumps."""

    def __init__(self, objective_name: str):
        super().__init__()
        self.objective_name = objective_name

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "reward_terms" not in info:
                continue
            for key, value in scalar_metrics(info, self.objective_name).items():
                self.logger.record_mean(key, value)
        return True


def _atomic(path: Path, write) -> None:
    """``write(temporary path)`` beside ``path`` (same suffix: SB3 appends one where it is missing), then rename it
    onto ``path``."""
    tmp = path.with_name(f".partial_{path.name}")
    write(tmp)
    os.replace(tmp, path)


class RotatingCheckpoint(BaseCallback):
    """Each time the step count passes a multiple of ``save_steps``, saves ``model_<N>_steps.zip`` (and, for
    off-policy agents with ``save_replay_buffer``, ``model_replay_buffer_<N>_steps.pkl``, SB3's names) and
    deletes all but the newest ``keep`` checkpoints, so long runs do not fill the disk. The multiples are
    of the run's own step count, so a resumed run checkpoints at the same steps as an uninterrupted one."""

    def __init__(self, save_steps: int, save_path: Path, keep: int = 2, save_replay_buffer: bool = True,
                 lagrangian: PIDLagrangian | None = None):
        super().__init__()
        self.lagrangian = lagrangian  # its multipliers are saved beside each checkpoint
        self.save_steps = max(1, int(save_steps))
        self.save_path = Path(save_path)
        self.keep = max(1, int(keep))
        self.save_replay_buffer = save_replay_buffer
        self._block = 0

    def _on_training_start(self) -> None:
        self._block = self.num_timesteps // self.save_steps

    def _on_step(self) -> bool:
        block = self.num_timesteps // self.save_steps
        if block > self._block:
            self._block = block
            self.save()
        return True

    def save(self) -> Path:
        """Write the checkpoint's files, each complete or not at all (written aside, then renamed), the model last:
        a kill during a save leaves the previous checkpoint the newest, with its buffer and multipliers whole."""
        self.save_path.mkdir(parents=True, exist_ok=True)
        steps = self.num_timesteps
        model_path = self.save_path / f"model_{steps}_steps.zip"
        if self.save_replay_buffer and getattr(self.model, "replay_buffer", None) is not None:
            _atomic(self.save_path / f"model_replay_buffer_{steps}_steps.pkl", self.model.save_replay_buffer)
        if self.lagrangian is not None:
            _atomic(state_path(model_path), self.lagrangian.save)
        _atomic(model_path, self.model.save)
        self._rotate()
        return model_path

    def _rotate(self) -> None:
        models = sorted(self.save_path.glob("model_*_steps.zip"), key=checkpoint_steps)
        for old in models[: -self.keep]:
            old.unlink(missing_ok=True)
            (self.save_path / f"model_replay_buffer_{checkpoint_steps(old)}_steps.pkl").unlink(missing_ok=True)
            state_path(old).unlink(missing_ok=True)


class StopOnSignal(BaseCallback):
    """Turns SIGTERM and SIGINT (Ctrl-C) into a clean stop at the next step: training returns and the caller
    saves the model and the replay buffer. A second SIGINT raises ``KeyboardInterrupt`` at once.

    The handlers are installed explicitly, so a run started in the background (where a shell leaves SIGINT
    ignored) still stops cleanly on it.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        super().__init__()
        self.stop_requested = False
        #: The signal that asked for the stop (the script exits with 128 + it, as shells report such a job).
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _on_training_start(self) -> None:
        def handler(signum, frame):
            if self.stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop_requested = True
            self.signum = signum

        try:
            self._previous = {s: signal.signal(s, handler) for s in self.SIGNALS}
        except ValueError:  # not in the main thread (e.g. a joblib worker's thread)
            self._previous = {}

    def _on_step(self) -> bool:
        return not self.stop_requested

    def _on_training_end(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}


class BenchEvaluation(BaseCallback):
    """Every ``every`` steps, the deterministic policy acts one episode on each of the first ``episodes``
    ISAC-Bench evaluation scenarios (:data:`isac_gym.bench.EVAL_SEEDS`; one, when the env holds a fixed scenario)
    and its final configurations are scored as the benchmark scores them. Logged: ``eval/score`` (mean normalised
    score: 0 random, 1 oracle, infeasible = 0), ``eval/feasible`` (rate), ``eval/gap_to_oracle`` (1 - score) and
    ``eval/ratio`` (the same normalisation with feasibility ignored: progress on the objective alone).
    The anchors are computed once, at the start (one oracle solve per scenario), and cached in
    ``bench_references.json`` in the run directory, so a resumed run does not solve them again."""

    def __init__(self, env_cfg: dict, every: int, episodes: int, run_dir: Path):
        super().__init__()
        self.env_cfg, self.every, self.episodes, self.run_dir = env_cfg, max(1, int(every)), int(episodes), run_dir
        self._block = 0

    def _on_training_start(self) -> None:
        import gymnasium as gym

        from isac_gym.bench import EVAL_SEEDS, ReferenceStore

        kwargs = dict(self.env_cfg.get("kwargs") or {})
        self.env = gym.make(self.env_cfg["id"], max_episode_steps=self.env_cfg.get("max_episode_steps"), **kwargs)
        n = 1 if kwargs.get("scenario") == "fixed" else self.episodes
        store = ReferenceStore(self.env_cfg["id"], kwargs, self.run_dir / "bench_references.json")
        self.refs = store.get(EVAL_SEEDS[:n])
        self._block = self.num_timesteps // self.every

    def evaluate(self) -> Summary:
        """The :class:`~isac_gym.bench.Summary` of the current deterministic policy."""
        from isac_gym.bench import protocol

        eps = protocol.evaluate_policy(self.env, self.model, list(self.refs), solve=False)
        return protocol.summarise(eps, self.refs)

    def _on_step(self) -> bool:
        block = self.num_timesteps // self.every
        if block > self._block:
            self._block = block
            s = self.evaluate()
            self.logger.record("eval/score", s.score)
            self.logger.record("eval/feasible", s.feasible)
            self.logger.record("eval/gap_to_oracle", 1.0 - s.score)
            self.logger.record("eval/ratio", s.ratio)
        return True

    def _on_training_end(self) -> None:
        self.env.close()


class HParams(BaseCallback):
    """Logs the run's hyper-parameters to TensorBoard's HParams tab at the start of training, against the metrics
    ``metrics`` (tags the run logs, e.g. ``eval/score``)."""

    def __init__(self, hparams: dict, metrics: tuple[str, ...]):
        super().__init__()
        self.hparams = hparams  # scalars only (TensorBoard's HParams take nothing else)
        self.metrics = metrics

    def _on_training_start(self) -> None:
        from stable_baselines3.common.logger import HParam

        self.logger.record("hparams", HParam(self.hparams, {m: 0.0 for m in self.metrics}),
                           exclude=("stdout", "log", "json", "csv"))

    def _on_step(self) -> bool:
        return True


class LagrangianLog(BaseCallback):
    """Logs the Lagrange multipliers (``lagrange/<constraint>``) and the mean cost per step of the episodes that
    ended last (``cost/episode_<constraint>``) of a :class:`~agents.lagrangian.LagrangianVecEnv`."""

    def __init__(self, vec_env):
        super().__init__()
        self.vec_env = vec_env

    def _on_step(self) -> bool:
        lagrangian = self.vec_env.lagrangian
        for name, value in zip(lagrangian.constraints, lagrangian.multipliers, strict=True):
            self.logger.record(f"lagrange/{name}", float(value))
        if self.vec_env.last_episode_costs is not None:
            for name, value in zip(lagrangian.constraints, self.vec_env.last_episode_costs, strict=True):
                self.logger.record(f"cost/episode_{name}", float(value))
        return True
