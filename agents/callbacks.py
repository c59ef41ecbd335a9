"""Training callbacks: every reward term and physical metric to TensorBoard, and graceful stops."""

from __future__ import annotations

import signal

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from isac_gym.physics.units import linear_to_db


def scalar_metrics(info: dict, objective_name: str) -> dict[str, float]:
    """Flatten one env's ``info`` into TensorBoard scalars (``isac/<metric>``, ``reward/<term>``)."""
    out: dict[str, float] = {}
    sinr = np.atleast_1d(info["sinr"])
    out[f"isac/{objective_name}"] = float(info["objective"])
    out["isac/score"] = float(info["score"])
    out["isac/sinr_min_db"] = float(np.min(linear_to_db(sinr)))
    out["isac/rate_sum"] = float(np.sum(info["rate"]))
    out["isac/power_w"] = float(info["power"])
    out["isac/feasible"] = float(info["feasible"])
    for name, value in info["violation"].items():
        out[f"isac/violation_{name}"] = float(value)
    for name, value in info["reward_terms"].items():
        out[f"reward/{name}"] = float(value)
    return out


class ISACMetricsCallback(BaseCallback):
    """Averages every metric of ``info`` over the steps between two SB3 log dumps."""

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


class StopOnSignal(BaseCallback):
    """Turns SIGTERM into a clean stop: training returns and the caller saves the model."""

    def __init__(self):
        super().__init__()
        self.stop_requested = False
        self._previous = None

    def _on_training_start(self) -> None:
        def handler(signum, frame):
            self.stop_requested = True

        try:
            self._previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not in the main thread (e.g. a joblib worker)
            self._previous = None

    def _on_step(self) -> bool:
        return not self.stop_requested

    def _on_training_end(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
